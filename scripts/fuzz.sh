#!/usr/bin/env bash
# Bounded cargo-fuzz runs of every target in fuzz/, on the stable toolchain.
#
#   bash scripts/fuzz.sh                        # 60 s per target
#   QUICK=1 bash scripts/fuzz.sh                # 10 s per target: a smoke check
#   SECONDS_PER_TARGET=600 bash scripts/fuzz.sh # longer campaign
#   TARGETS="expiry challenge" bash scripts/fuzz.sh
#
# For each target, in order: copies fuzz/seeds/<target>/* into fuzz/corpus/<target>/, runs
# libFuzzer for SECONDS_PER_TARGET seconds (`-max_total_time`, with a hard `timeout` guard
# around it), and at the end prints one line per target: executions (libFuzzer's final
# `stat::number_of_executed_units`, else its last `#N` status line), corpus files, and crashes
# (files in fuzz/artifacts/<target>/: crash-, leak-, timeout-, oom- inputs, including ones left
# by earlier runs until they are turned into regression tests and deleted). libFuzzer stops a
# target at its first crash. Exits non-zero when any target has a crash artifact, exits
# abnormally, or is stopped by the guard.
#
# Stable toolchain: cargo-fuzz's coverage instrumentation uses stable -C flags
# (`-Cpasses=sancov-module`, `-Cllvm-args=-sanitizer-coverage-…`), but its default sanitizer is
# passed as `-Zsanitizer=address`, which stable rustc refuses ("the option `Z` is only accepted
# on the nightly compiler"). RUSTC_BOOTSTRAP=1 makes the stable compiler accept it (no nightly
# needed; the variable is meant for building the compiler itself, so it is set only inside this
# script). The AddressSanitizer runtime ships with the stable rust-std for
# x86_64-unknown-linux-gnu (lib/rustlib/<host>/lib/librustc-stable_rt.asan.a), so ASan links and
# is the default. When the ASan build fails (a host or toolchain without that runtime) the
# script falls back to `--sanitizer none`, which passes no -Z flag at all and still finds panics
# (every oracle is an assertion), overflows (debug assertions are on) and timeouts, but not
# memory errors in unsafe dependency code. Set SANITIZER to force one (address, leak, none).
#
# Environment: SECONDS_PER_TARGET (60; 10 with QUICK=1), QUICK (unset), TARGETS (all six),
# SANITIZER (address, with fallback to none), UNIT_TIMEOUT (10 s per input), NICE (0),
# GUARD_GRACE (60 s over the budget before the guard kills a run), BUILD_TIMEOUT (1800 s),
# LOG_DIR (fuzz/target/fuzz-logs).
#
# Installs cargo-fuzz from crates.io (`cargo install cargo-fuzz --locked`) when it is missing.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

die() {
    echo "fuzz.sh: $*" >&2
    exit 2
}

ALL_TARGETS="cookie_header open_sealed authorization challenge decode_payload expiry"
TARGETS="${TARGETS:-$ALL_TARGETS}"
if [[ -n "${QUICK:-}" && "${QUICK}" != 0 ]]; then
    SECONDS_PER_TARGET=10
else
    SECONDS_PER_TARGET="${SECONDS_PER_TARGET:-60}"
fi
UNIT_TIMEOUT="${UNIT_TIMEOUT:-10}"
NICE="${NICE:-0}"
GUARD_GRACE="${GUARD_GRACE:-60}"
BUILD_TIMEOUT="${BUILD_TIMEOUT:-1800}"
LOG_DIR="${LOG_DIR:-$ROOT/fuzz/target/fuzz-logs}"

for v in SECONDS_PER_TARGET UNIT_TIMEOUT NICE GUARD_GRACE BUILD_TIMEOUT; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
((SECONDS_PER_TARGET >= 1)) || die "SECONDS_PER_TARGET must be at least 1"
for t in $TARGETS; do
    [[ " $ALL_TARGETS " == *" $t "* ]] || die "unknown target '$t' (targets: $ALL_TARGETS)"
done

# Longest input libFuzzer generates per target (its default is 4,096 bytes, which would stop
# the header and value targets just short of the 4,096-byte limits they enforce).
max_len() {
    case "$1" in
    cookie_header | authorization | open_sealed) echo 8192 ;;
    *) echo 4096 ;;
    esac
}

# --- cargo-fuzz -------------------------------------------------------------------------------
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi
echo "fuzz.sh: $(cargo fuzz --version), $(rustc --version)" >&2

# Lets the stable compiler accept `-Zsanitizer=address` (see the header).
export RUSTC_BOOTSTRAP=1

# --- build (all targets, once) ----------------------------------------------------------------
mkdir -p "$LOG_DIR"
build() {
    timeout --kill-after=15 "$BUILD_TIMEOUT" \
        nice -n "$NICE" cargo fuzz build --sanitizer "$1" \
        >"$LOG_DIR/build-$1.log" 2>&1
}
# `cargo fuzz build` without a target builds all six in one cargo invocation.

if [[ -n "${SANITIZER:-}" ]]; then
    build "$SANITIZER" || { tail -30 "$LOG_DIR/build-$SANITIZER.log" >&2; die "build with --sanitizer $SANITIZER failed"; }
else
    SANITIZER=address
    if ! build address; then
        echo "fuzz.sh: the AddressSanitizer build failed (last lines below); falling back to --sanitizer none" >&2
        tail -15 "$LOG_DIR/build-address.log" >&2
        SANITIZER=none
        build none || { tail -30 "$LOG_DIR/build-none.log" >&2; die "build with --sanitizer none failed"; }
    fi
fi
echo "fuzz.sh: built with --sanitizer $SANITIZER; ${SECONDS_PER_TARGET} s per target" >&2

# --- run --------------------------------------------------------------------------------------
count_files() {
    if [[ -d "$1" ]]; then find "$1" -maxdepth 1 -type f | wc -l; else echo 0; fi
}

declare -A EXECS CORPUS CRASHES NEW STATUS
failed=0
for t in $TARGETS; do
    corpus="fuzz/corpus/$t"
    artifacts="fuzz/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    if [[ -d "fuzz/seeds/$t" ]]; then
        cp -f fuzz/seeds/"$t"/* "$corpus"/
    fi
    before=$(count_files "$artifacts")
    log="$LOG_DIR/$t.log"
    echo "fuzz.sh: fuzzing $t for ${SECONDS_PER_TARGET} s (log: ${log#"$ROOT"/})" >&2

    # The guard: GNU timeout signals its whole process group, so the fuzzer that cargo-fuzz
    # spawns is stopped too.
    rc=0
    timeout --kill-after=15 $((SECONDS_PER_TARGET + GUARD_GRACE)) \
        nice -n "$NICE" cargo fuzz run --sanitizer "$SANITIZER" "$t" "$corpus" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout="$UNIT_TIMEOUT" \
        -max_len="$(max_len "$t")" -print_final_stats=1 \
        >"$log" 2>&1 || rc=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
    if [[ -z "$execs" ]]; then
        execs=$(sed -n 's/^#\([0-9][0-9]*\)[[:space:]].*/\1/p' "$log" | tail -1)
    fi
    EXECS[$t]="${execs:-?}"
    CORPUS[$t]=$(count_files "$corpus")
    CRASHES[$t]=$(count_files "$artifacts")
    NEW[$t]=$((CRASHES[$t] - before))
    if ((rc == 124 || rc == 137)); then
        STATUS[$t]="stopped by the guard"
        failed=1
    elif ((rc != 0)); then
        STATUS[$t]="exit $rc"
        failed=1
    else
        STATUS[$t]="ok"
    fi
    if ((CRASHES[$t] > 0)); then
        failed=1
        # The panic message and the input, for the report.
        grep -m1 -A1 "panicked at" "$log" >&2 || true
        grep -m1 "Test unit written to" "$log" >&2 || true
    fi
done

# --- summary ----------------------------------------------------------------------------------
echo
echo "sanitizer: $SANITIZER, ${SECONDS_PER_TARGET} s per target, $(nproc) CPUs"
printf '| %-14s | %12s | %8s | %8s | %-22s |\n' target executions corpus crashes status
printf '|%s|%s|%s|%s|%s|\n' ---------------- -------------: ---------: ---------: ------------------------
for t in $TARGETS; do
    crashes="${CRASHES[$t]}"
    if ((NEW[$t] > 0 && NEW[$t] != CRASHES[$t])); then crashes="$crashes (${NEW[$t]} new)"; fi
    printf '| %-14s | %12s | %8s | %8s | %-22s |\n' \
        "$t" "${EXECS[$t]}" "${CORPUS[$t]}" "$crashes" "${STATUS[$t]}"
done
if ((failed)); then
    echo "fuzz.sh: FAILED: crash artifacts in fuzz/artifacts/<target>/ or an abnormal exit (logs in ${LOG_DIR#"$ROOT"/})" >&2
    echo "fuzz.sh: reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $SANITIZER <target> fuzz/artifacts/<target>/<file>" >&2
    exit 1
fi
