#!/usr/bin/env bash
# Loopback load test: the `bench_server` example with and without SessionLayer, under wrk.
#
#   bash scripts/load.sh                 # 10 s per mode
#   DURATION=5 bash scripts/load.sh      # 5 s per mode
#   QUICK=1 bash scripts/load.sh         # 2 s per mode: a smoke check
#
# Runs, in this order, each against a fresh server on a free 127.0.0.1 port:
#   bare → cookie → bearer (TokenCache) → bearer-uncached → bare
# and prints a markdown table: requests/s, the ratio to bare (the mean of the first and the
# last bare run, to cancel drift; only the undisturbed one if the other was disturbed, see
# OTHER_MAX), p50 and p99 latency, total requests and non-2xx responses.
# Every request of a bare run carries the same Cookie header as the cookie run (the bare app
# ignores it), so the request bytes are the same.
#
# Bounded: each wrk run lasts DURATION seconds under a hard `timeout`; the number of requests
# is what wrk manages in that time (printed); the whole script is capped by TOTAL_TIMEOUT.
# Exits non-zero when a server fails to start or dies, wrk fails, a sanity request is refused,
# or any request gets a non-2xx response (wrk counts status >= 400 as "Non-2xx or 3xx").
# With STRICT=1 it also exits non-zero when a throughput target is missed, or cannot be judged
# because the run was disturbed by other processes.
#
# Environment (defaults with QUICK=1 in brackets):
#   DURATION (10 s) [2], WARMUP (2 s per mode) [1], THREADS (2), CONNECTIONS (64);
#   TOTAL_TIMEOUT (1800 s, build included), BUILD_TIMEOUT (1200 s);
#   QUIET_BUSY (15 %), QUIET_WAIT (60 s) [10]: before each run, wait at most QUIET_WAIT s for
#     the machine to be at most QUIET_BUSY % busy;
#   OTHER_MAX (10 %), RETRIES (2) [0]: a run during which other processes took more than
#     OTHER_MAX % of the CPU is done again, at most RETRIES times, then kept and marked
#     "disturbed";
#   COOKIE_TARGET (0.85), BEARER_TARGET (0.90), STRICT (unset).
#
# Besides throughput and latency, the table shows the server's CPU time per request (steadier
# than req/s on a shared machine) and the share of the CPU taken by other processes.
#
# Installs wrk from Debian's packages when it is missing (needs root or sudo).

set -euo pipefail

# Cap the whole run. `timeout` puts the script in its own process group and signals all of it.
if [[ -z "${LOAD_SH_CAPPED:-}" ]]; then
    export LOAD_SH_CAPPED=1
    exec timeout --kill-after=15 "${TOTAL_TIMEOUT:-1800}" bash "$0" "$@"
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ -n "${QUICK:-}" && "${QUICK}" != 0 ]]; then
    DURATION="${DURATION_QUICK:-2}"
    WARMUP="${WARMUP:-1}"
    QUIET_WAIT="${QUIET_WAIT:-10}"
    RETRIES="${RETRIES:-0}"
else
    DURATION="${DURATION:-10}"
    WARMUP="${WARMUP:-2}"
fi
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
BUILD_TIMEOUT="${BUILD_TIMEOUT:-1200}"
QUIET_BUSY="${QUIET_BUSY:-15}"
QUIET_WAIT="${QUIET_WAIT:-60}"
OTHER_MAX="${OTHER_MAX:-10}"
RETRIES="${RETRIES:-2}"
COOKIE_TARGET="${COOKIE_TARGET:-0.85}"
BEARER_TARGET="${BEARER_TARGET:-0.90}"

die() {
    echo "load.sh: $*" >&2
    exit 1
}

for v in DURATION WARMUP THREADS CONNECTIONS BUILD_TIMEOUT QUIET_BUSY QUIET_WAIT OTHER_MAX RETRIES; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
((DURATION >= 1 && DURATION <= 50)) ||
    die "DURATION must be 1..50 s (the token cache's TTL is 60 s: longer runs would time it out)"
((WARMUP <= 10)) || die "WARMUP must be at most 10 s"
((QUIET_WAIT <= 600)) || die "QUIET_WAIT must be at most 600 s"
((RETRIES <= 5)) || die "RETRIES must be at most 5"
((THREADS >= 1 && CONNECTIONS >= THREADS)) || die "need THREADS >= 1 and CONNECTIONS >= THREADS"

as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "wrk is missing and installing it needs root: apt-get install wrk"
    fi
}

WORK="$(mktemp -d)"
SERVER_PID=""

# stop_server: SIGTERM (graceful shutdown), SIGKILL after 5 s. Returns the server's exit status.
stop_server() {
    local pid="$SERVER_PID" status=0
    [[ -n "$pid" ]] || return 0
    SERVER_PID=""
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "load.sh: server $pid ignored SIGTERM for 5 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || status=$?
    return "$status"
}

cleanup() {
    stop_server || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- wrk ---------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    command -v apt-get >/dev/null || die "wrk is missing and apt-get is not available"
    echo "load.sh: installing wrk from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root timeout 300 apt-get install -y -q wrk >&2; then
        as_root timeout 300 apt-get update -q >&2
        as_root timeout 300 apt-get install -y -q wrk >&2
    fi
    command -v wrk >/dev/null || die "wrk did not install"
fi

# --- the server --------------------------------------------------------------------------------
echo "load.sh: building examples/bench_server.rs (release)" >&2
timeout "$BUILD_TIMEOUT" cargo build --release --example bench_server \
    --message-format=json-render-diagnostics >"$WORK/build.json" || die "cargo build failed"
BIN="$(sed -n 's/.*"executable":"\([^"]*bench_server[^"]*\)".*/\1/p' "$WORK/build.json" | tail -n 1)"
[[ -n "$BIN" && -x "$BIN" ]] || die "cannot find the built bench_server binary"

URL="" COOKIE="" TOKEN="" PLAINTEXT="" RUN_NO=0 SERVER_ERR=""

# start_server MODE: starts the server on a free port (the kernel picks it: --port 0) and reads
# its credentials and `ready <url>` line.
start_server() {
    RUN_NO=$((RUN_NO + 1))
    # Fresh files per run: a reused one could still show the previous run's `ready` line.
    local mode="$1" out="$WORK/$RUN_NO-$1.out" err="$WORK/$RUN_NO-$1.err"
    SERVER_ERR="$err"
    URL="" COOKIE="" TOKEN=""
    local plaintext="$PLAINTEXT"
    "$BIN" --mode "$mode" --port 0 >"$out" 2>"$err" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        if grep -q '^ready ' "$out" 2>/dev/null; then
            URL="$(sed -n 's/^ready //p' "$out" | head -n 1)"
            COOKIE="$(sed -n 's/^cookie //p' "$out" | head -n 1)"
            TOKEN="$(sed -n 's/^token //p' "$out" | head -n 1)"
            PLAINTEXT="$(sed -n 's/^plaintext //p' "$out" | head -n 1)"
            PLAINTEXT="${PLAINTEXT:-$plaintext}"
            [[ "$URL" == http://127.0.0.1:* ]] || die "$mode: unexpected address '$URL'"
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            cat "$err" >&2
            SERVER_PID=""
            die "$mode: the server exited before it was ready"
        fi
        sleep 0.1
    done
    cat "$err" >&2
    die "$mode: the server was not ready within 10 s"
}

# to_ms VALUE: wrk's "512.00us", "1.23ms" or "1.01s" in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else { printf "?" }
    }'
}

# cpu_sample: the machine's total and idle CPU ticks so far.
cpu_sample() {
    awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6}' /proc/stat
}

# proc_ticks PID: the user + system CPU ticks the process has used.
proc_ticks() {
    awk '{print $14 + $15}' "/proc/$1/stat"
}

# wait_quiet: waits (at most QUIET_WAIT s) until the machine is at most QUIET_BUSY % busy over
# one second, so that other work (a build, a test run) does not skew the run. Measures anyway,
# with a warning, if it never is.
wait_quiet() {
    local deadline=$((SECONDS + QUIET_WAIT)) t0 i0 t1 i1 busy
    while :; do
        read -r t0 i0 < <(cpu_sample)
        sleep 1
        read -r t1 i1 < <(cpu_sample)
        busy=$((100 * ((t1 - t0) - (i1 - i0)) / (t1 - t0 > 0 ? t1 - t0 : 1)))
        ((busy > QUIET_BUSY)) || return 0
        if ((SECONDS >= deadline)); then
            echo "load.sh: warning: the machine is still ${busy}% busy after ${QUIET_WAIT} s" \
                "of waiting; measuring anyway (see the 'other CPU' column)" >&2
            return 0
        fi
    done
}

declare -a ROW_MODE ROW_RPS ROW_P50 ROW_P99 ROW_REQS ROW_NON2XX ROW_SOCKERR ROW_CPU ROW_WRK ROW_OTHER ROW_CLEAN
FAILED=0

# measure MODE LABEL: one measured run against a fresh server; sets the R_* results.
measure() {
    local mode="$1" label="$2" header out
    start_server "$mode"
    out="$WORK/$RUN_NO-$mode.wrk"
    case "$mode" in
        bare | cookie) header="Cookie: $COOKIE" ;;
        bearer | bearer-uncached) header="Authorization: Bearer $TOKEN" ;;
    esac
    [[ "$header" != *": " ]] || die "$mode: the server printed no credential"

    # Sanity: one request, which must be a 200 with the uid.
    local body status
    body="$(curl -sS --max-time 5 -H "$header" -w '\n%{http_code}' "$URL/me")" ||
        die "$mode: the sanity request failed"
    status="${body##*$'\n'}"
    body="${body%$'\n'*}"
    [[ "$status" == 200 && "$body" == bench ]] ||
        die "$mode: the sanity request got $status '$body', not 200 'bench'"

    if ((WARMUP > 0)); then
        timeout --kill-after=5 $((WARMUP + 20)) \
            wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -H "$header" "$URL/me" >/dev/null ||
            die "$mode: wrk (warm-up) failed"
    fi
    wait_quiet
    echo "load.sh: $label: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s" >&2
    # CPU accounting for the run: the whole machine, the server, and wrk (through `time`).
    local t0 i0 t1 i1 s0 s1 times="$WORK/$RUN_NO-$mode.time" TIMEFORMAT='%U %S'
    read -r t0 i0 < <(cpu_sample)
    s0="$(proc_ticks "$SERVER_PID")"
    if ! { time timeout --kill-after=5 $((DURATION + 30)) \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 2s --latency \
        -H "$header" "$URL/me" >"$out"; } 2>"$times"; then
        cat "$out" "$times" >&2
        die "$mode: wrk failed or timed out"
    fi
    read -r t1 i1 < <(cpu_sample)
    kill -0 "$SERVER_PID" 2>/dev/null || {
        cat "$SERVER_ERR" >&2
        SERVER_PID=""
        die "$mode: the server died during the run"
    }
    s1="$(proc_ticks "$SERVER_PID")"
    local exit_status=0
    stop_server || exit_status=$?
    if ((exit_status != 0)); then
        echo "load.sh: FAIL: $label: the server exited with status $exit_status" >&2
        FAILED=1
    fi
    [[ ! -s "$SERVER_ERR" ]] || {
        echo "load.sh: $mode: the server wrote to stderr:" >&2
        sed 's/^/  /' "$SERVER_ERR" >&2
    }

    local rps p50 p99 reqs non2xx sockerr
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    reqs="$(awk '/ requests in / {print $1}' "$out")"
    p50="$(awk '$1 == "50%" {print $2}' "$out")"
    p99="$(awk '$1 == "99%" {print $2}' "$out")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    sockerr="$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")"
    [[ -n "$rps" && -n "$reqs" && -n "$p50" && -n "$p99" ]] || {
        cat "$out" >&2
        die "$mode: cannot parse wrk's output"
    }
    non2xx="${non2xx:-0}"
    sockerr="${sockerr:-0}"
    if ((non2xx > 0)); then
        echo "load.sh: FAIL: $label: $non2xx responses were not 2xx" >&2
        FAILED=1
    fi
    if ((sockerr > 0)); then
        echo "load.sh: warning: $label: $sockerr socket errors (connect/read/write/timeout)" >&2
    fi
    # Server CPU per request, and the share of the machine used by neither the server nor wrk.
    local hz wrk_s
    hz="$(getconf CLK_TCK)"
    wrk_s="$(tail -n 1 "$times" | awk '{print $1 + $2}')"
    R_RPS="$rps"
    R_P50="$(to_ms "$p50")"
    R_P99="$(to_ms "$p99")"
    R_REQS="$reqs"
    R_NON2XX="$non2xx"
    R_SOCKERR="$sockerr"
    R_CPU="$(awk -v s=$((s1 - s0)) -v hz="$hz" -v r="$reqs" 'BEGIN {printf "%.1f", s / hz * 1e6 / r}')"
    R_WRK="$(awk -v w="$wrk_s" -v r="$reqs" 'BEGIN {printf "%.1f", w * 1e6 / r}')"
    R_OTHER="$(awk -v busy=$(((t1 - t0) - (i1 - i0))) -v total=$((t1 - t0)) -v s=$((s1 - s0)) \
        -v w="$wrk_s" -v hz="$hz" \
        'BEGIN {o = (busy - s - w * hz) / (total > 0 ? total : 1) * 100; printf "%.0f", (o < 0 ? 0 : o)}')"
}

DISTURBED=0

# run MODE LABEL: measures MODE, again (at most RETRIES times) while other processes took more
# than OTHER_MAX % of the CPU during the run, and adds the last measurement to the table.
run() {
    local mode="$1" label="$2" attempt clean=1
    for ((attempt = 0; ; attempt++)); do
        measure "$mode" "$label"
        ((R_OTHER > OTHER_MAX)) || break
        if ((attempt >= RETRIES)); then
            echo "load.sh: warning: $label: other processes took ${R_OTHER}% of the CPU;" \
                "keeping the run, marked disturbed" >&2
            label="$label (disturbed)"
            DISTURBED=1
            clean=0
            break
        fi
        echo "load.sh: $label: other processes took ${R_OTHER}% of the CPU; measuring again" >&2
    done
    ROW_MODE+=("$label")
    ROW_RPS+=("$R_RPS")
    ROW_P50+=("$R_P50")
    ROW_P99+=("$R_P99")
    ROW_REQS+=("$R_REQS")
    ROW_NON2XX+=("$R_NON2XX")
    ROW_SOCKERR+=("$R_SOCKERR")
    ROW_CPU+=("$R_CPU")
    ROW_WRK+=("$R_WRK")
    ROW_OTHER+=("$R_OTHER%")
    ROW_CLEAN+=("$clean")
}

run bare "bare (first)"
run cookie cookie
run bearer "bearer (TokenCache)"
run bearer-uncached "bearer-uncached"
run bare "bare (last)"

# --- report ------------------------------------------------------------------------------------
n=${#ROW_MODE[@]}
first=0 last=$((n - 1))
# The reference: the mean of the two bare runs; if only one of them was undisturbed, that one.
if ((ROW_CLEAN[first] == ROW_CLEAN[last])); then
    BARE="$(awk -v a="${ROW_RPS[first]}" -v b="${ROW_RPS[last]}" 'BEGIN {printf "%.2f", (a + b) / 2}')"
    BARE_NOTE="mean of the first and last run"
elif ((ROW_CLEAN[first])); then
    BARE="${ROW_RPS[first]}"
    BARE_NOTE="the first run only (the last was disturbed)"
else
    BARE="${ROW_RPS[last]}"
    BARE_NOTE="the last run only (the first was disturbed)"
fi
DRIFT="$(awk -v a="${ROW_RPS[first]}" -v b="${ROW_RPS[last]}" \
    'BEGIN {d = (b - a) / ((a + b) / 2) * 100; printf "%+.1f", d}')"
ratio() { awk -v x="$1" -v b="$BARE" 'BEGIN {printf "%.3f", x / b}'; }

echo
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT+changes"
echo "Loopback load test: $(nproc) CPUs, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s" \
    "(after a ${WARMUP} s warm-up), GET /me, ${PLAINTEXT:-?}-byte cookie plaintext," \
    "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $COMMIT"
echo
echo "| mode | req/s | ratio to bare | p50 (ms) | p99 (ms) | requests | non-2xx | socket errors" \
    "| server CPU µs/req | wrk CPU µs/req | other CPU |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for ((i = 0; i < n; i++)); do
    printf '| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${ROW_MODE[i]}" \
        "${ROW_RPS[i]}" "$(ratio "${ROW_RPS[i]}")" "${ROW_P50[i]}" "${ROW_P99[i]}" "${ROW_REQS[i]}" \
        "${ROW_NON2XX[i]}" "${ROW_SOCKERR[i]}" "${ROW_CPU[i]}" "${ROW_WRK[i]}" "${ROW_OTHER[i]}"
done
echo
echo "Bare reference: $(printf '%.0f' "$BARE") req/s, $BARE_NOTE; the two bare runs differ by ${DRIFT}%."
echo "Server CPU µs/req: the server process's CPU time (user + system, the kernel's TCP work" \
    "included) per request; wrk's likewise. Other CPU: the share of the machine used by neither" \
    "the server nor wrk during the run (other processes); above ${OTHER_MAX}%, the run is disturbed."

BARE_CLEAN=$((ROW_CLEAN[first] || ROW_CLEAN[last]))

# verdict NAME ROW TARGET: whether the row's ratio meets the target. A disturbed row (or a
# reference made only of disturbed bare runs) gives no verdict; STRICT=1 counts it as a failure.
verdict() {
    local name="$1" row="$2" target="$3" r
    r="$(ratio "${ROW_RPS[row]}")"
    if ((!ROW_CLEAN[row] || !BARE_CLEAN)); then
        echo "- $name: ${r}× bare, target ≥ ${target}×: no verdict (disturbed run)"
        [[ -z "${STRICT:-}" || "${STRICT}" == 0 ]] || FAILED=1
    elif awk -v r="$r" -v t="$target" 'BEGIN {exit !(r >= t)}'; then
        echo "- $name: ${r}× bare, target ≥ ${target}×: met"
    else
        echo "- $name: ${r}× bare, target ≥ ${target}×: MISSED"
        [[ -z "${STRICT:-}" || "${STRICT}" == 0 ]] || FAILED=1
    fi
}
if ((DISTURBED)); then
    echo "- Some runs were disturbed by other processes (marked): their ratios are not reliable."
fi
verdict "cookie (valid session, no renewal)" 1 "$COOKIE_TARGET"
verdict "bearer (TokenCache)" 2 "$BEARER_TARGET"

if ((FAILED)); then
    echo
    echo "FAILED: see the messages above (non-2xx responses, a server failure, or with STRICT=1 a"
    echo "missed or unjudged target)."
    exit 1
fi
