#!/usr/bin/env bash
# Loopback load test (issue 16): the `bench_server` example in several modes under wrk, the
# server and the load generator each pinned to a core of its own (`taskset`), in several
# interleaved rounds, with the spread reported.
#
#   bash scripts/load.sh                 # 5 rounds, 10 s per run
#   ROUNDS=3 DURATION=5 bash scripts/load.sh
#   QUICK=1 bash scripts/load.sh         # 2 rounds, 2 s per run: a smoke check
#   MODES="bare cookie bearer" bash scripts/load.sh
#
# Modes (examples/bench_server.rs): bare, cookie (read), cookie-write, never-asks, bearer
# (TokenCache hit), extra-read (axum-extra PrivateCookieJar), ts-read (tower-sessions
# MemoryStore), floor-read (the read floor in a bare handler: base64 + AES-256-GCM + serde_json)
# and map-bearer (a `from_fn` HashMap middleware handing out an owned identity): the references
# the targets are judged against; also bearer-uncached. Each round runs every mode once, in a rotating order (round
# r starts r modes further on), each run against a fresh server on a free 127.0.0.1 port. The
# ratio to bare is taken within each round (against that round's bare run), then summarised over
# rounds: the table shows per mode the median and the min–max over rounds, of requests/s and of
# the ratio to bare, and the server's CPU time per request (steadier than req/s on a shared
# machine). Every request of a run that reads a cookie carries a Cookie header of the same size
# (the bare app ignores its cookie), so the request bytes are the same.
#
# Pinning: the server runs on SERVER_CPU (tokio then starts one worker: it sizes its pool from
# the CPUs the process may use), wrk on LOAD_CPU with THREADS threads. With fewer than 2 CPUs
# the script refuses (PIN=0 runs unpinned).
#
# Bounded: each wrk run lasts DURATION seconds under a hard `timeout`; the whole script is capped
# by TOTAL_TIMEOUT. Exits non-zero when a server fails to start or dies, wrk fails, a sanity
# request is refused, or any request gets a non-2xx response. With STRICT=1 it also exits
# non-zero when a target (on the median ratio over rounds) is missed, or cannot be judged because
# a bare run was disturbed by other processes.
#
# Environment (defaults with QUICK=1 in brackets):
#   MODES (bare cookie cookie-write never-asks bearer extra-read ts-read floor-read map-bearer),
#   ROUNDS (5) [2],
#   DURATION (10 s) [2], WARMUP (2 s per run) [1], THREADS (1), CONNECTIONS (32);
#   SERVER_CPU (0), LOAD_CPU (1), PIN (1);
#   TOTAL_TIMEOUT (3600 s, build included), BUILD_TIMEOUT (1200 s);
#   QUIET_BUSY (15 %), QUIET_WAIT (30 s) [3]: before each run, wait at most QUIET_WAIT s for the
#     machine to be at most QUIET_BUSY % busy;
#   OTHER_MAX (10 %): a run during which other processes took more of the CPU is marked
#     disturbed (counted, and shown per run);
#   COOKIE_TARGET (0.85), BEARER_TARGET (0.90), STRICT (unset).
#
# Installs wrk from Debian's packages when it is missing (needs root or sudo).

set -euo pipefail

# Cap the whole run. `timeout` puts the script in its own process group and signals all of it.
if [[ -z "${LOAD_SH_CAPPED:-}" ]]; then
    export LOAD_SH_CAPPED=1
    exec timeout --kill-after=15 "${TOTAL_TIMEOUT:-3600}" bash "$0" "$@"
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ -n "${QUICK:-}" && "${QUICK}" != 0 ]]; then
    ROUNDS="${ROUNDS:-2}"
    DURATION="${DURATION_QUICK:-2}"
    WARMUP="${WARMUP:-1}"
    QUIET_WAIT="${QUIET_WAIT:-3}"
else
    ROUNDS="${ROUNDS:-5}"
    DURATION="${DURATION:-10}"
    WARMUP="${WARMUP:-2}"
fi
MODES="${MODES:-bare cookie cookie-write never-asks bearer extra-read ts-read floor-read map-bearer}"
THREADS="${THREADS:-1}"
CONNECTIONS="${CONNECTIONS:-32}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
PIN="${PIN:-1}"
BUILD_TIMEOUT="${BUILD_TIMEOUT:-1200}"
QUIET_BUSY="${QUIET_BUSY:-15}"
QUIET_WAIT="${QUIET_WAIT:-30}"
OTHER_MAX="${OTHER_MAX:-10}"
COOKIE_TARGET="${COOKIE_TARGET:-0.85}"
BEARER_TARGET="${BEARER_TARGET:-0.90}"

die() {
    echo "load.sh: $*" >&2
    exit 1
}

for v in ROUNDS DURATION WARMUP THREADS CONNECTIONS SERVER_CPU LOAD_CPU BUILD_TIMEOUT QUIET_BUSY \
    QUIET_WAIT OTHER_MAX; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
((ROUNDS >= 1 && ROUNDS <= 20)) || die "ROUNDS must be 1..20"
((DURATION >= 1 && DURATION <= 50)) ||
    die "DURATION must be 1..50 s (the token cache's TTL is 60 s: longer runs would time it out)"
((WARMUP <= 10)) || die "WARMUP must be at most 10 s"
((QUIET_WAIT <= 600)) || die "QUIET_WAIT must be at most 600 s"
((THREADS >= 1 && CONNECTIONS >= THREADS)) || die "need THREADS >= 1 and CONNECTIONS >= THREADS"
read -r -a MODE_LIST <<<"$MODES"
((${#MODE_LIST[@]} >= 1)) || die "MODES is empty"
[[ " $MODES " == *" bare "* ]] || die "MODES must include bare (the ratios are to it)"
for m in "${MODE_LIST[@]}"; do
    case "$m" in
        bare | cookie | cookie-write | never-asks | bearer | bearer-uncached | extra-read | ts-read | floor-read | map-bearer) ;;
        *) die "unknown mode '$m'" ;;
    esac
done

# --- pinning -----------------------------------------------------------------------------------
SERVER_PIN=() LOAD_PIN=()
if [[ "$PIN" != 0 ]]; then
    command -v taskset >/dev/null || die "taskset is missing (Debian: util-linux); PIN=0 runs unpinned"
    (($(nproc) >= 2)) || die "pinning needs 2 CPUs, this machine has $(nproc); PIN=0 runs unpinned"
    ((SERVER_CPU != LOAD_CPU)) || die "SERVER_CPU and LOAD_CPU must differ"
    SERVER_PIN=(taskset -c "$SERVER_CPU")
    LOAD_PIN=(taskset -c "$LOAD_CPU")
fi

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

# start_server MODE: starts the (pinned) server on a free port (the kernel picks it: --port 0)
# and reads its credentials and `ready <url>` line.
start_server() {
    RUN_NO=$((RUN_NO + 1))
    # Fresh files per run: a reused one could still show the previous run's `ready` line.
    local mode="$1" out="$WORK/$RUN_NO-$1.out" err="$WORK/$RUN_NO-$1.err"
    SERVER_ERR="$err"
    URL="" COOKIE="" TOKEN=""
    "${SERVER_PIN[@]}" "$BIN" --mode "$mode" --port 0 >"$out" 2>"$err" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        if grep -q '^ready ' "$out" 2>/dev/null; then
            URL="$(sed -n 's/^ready //p' "$out" | head -n 1)"
            COOKIE="$(sed -n 's/^cookie //p' "$out" | head -n 1)"
            TOKEN="$(sed -n 's/^token //p' "$out" | head -n 1)"
            local plaintext
            plaintext="$(sed -n 's/^plaintext //p' "$out" | head -n 1)"
            PLAINTEXT="${plaintext:-$PLAINTEXT}"
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
    ((QUIET_WAIT > 0)) || return 0
    local deadline=$((SECONDS + QUIET_WAIT)) t0 i0 t1 i1 busy
    while :; do
        read -r t0 i0 < <(cpu_sample)
        sleep 1
        read -r t1 i1 < <(cpu_sample)
        busy=$((100 * ((t1 - t0) - (i1 - i0)) / (t1 - t0 > 0 ? t1 - t0 : 1)))
        ((busy > QUIET_BUSY)) || return 0
        if ((SECONDS >= deadline)); then
            echo "load.sh: warning: the machine is still ${busy}% busy after ${QUIET_WAIT} s" \
                "of waiting; measuring anyway (see 'other CPU')" >&2
            return 0
        fi
    done
}

# Results, keyed "mode,round".
declare -A RPS P50 P99 CPU OTHER
FAILED=0
DISTURBED=0

# measure MODE ROUND: one measured run against a fresh server.
measure() {
    local mode="$1" round="$2" header out
    start_server "$mode"
    out="$WORK/$RUN_NO-$mode.wrk"
    case "$mode" in
        bearer | bearer-uncached | map-bearer) header="Authorization: Bearer $TOKEN" ;;
        *) header="Cookie: $COOKIE" ;;
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
        timeout --kill-after=5 $((WARMUP + 20)) "${LOAD_PIN[@]}" \
            wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -H "$header" "$URL/me" >/dev/null ||
            die "$mode: wrk (warm-up) failed"
    fi
    wait_quiet
    echo "load.sh: round $((round + 1))/$ROUNDS: $mode" >&2
    local t0 i0 t1 i1 s0 s1 times="$WORK/$RUN_NO-$mode.time" TIMEFORMAT='%U %S'
    read -r t0 i0 < <(cpu_sample)
    s0="$(proc_ticks "$SERVER_PID")"
    if ! { time timeout --kill-after=5 $((DURATION + 30)) "${LOAD_PIN[@]}" \
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
        echo "load.sh: FAIL: $mode: the server exited with status $exit_status" >&2
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
    if ((${non2xx:-0} > 0)); then
        echo "load.sh: FAIL: $mode: ${non2xx} responses were not 2xx" >&2
        FAILED=1
    fi
    if ((${sockerr:-0} > 0)); then
        echo "load.sh: warning: $mode: $sockerr socket errors (connect/read/write/timeout)" >&2
    fi
    local hz wrk_s other key="$mode,$round"
    hz="$(getconf CLK_TCK)"
    wrk_s="$(tail -n 1 "$times" | awk '{print $1 + $2}')"
    RPS[$key]="$rps"
    P50[$key]="$(to_ms "$p50")"
    P99[$key]="$(to_ms "$p99")"
    CPU[$key]="$(awk -v s=$((s1 - s0)) -v hz="$hz" -v r="$reqs" 'BEGIN {printf "%.1f", s / hz * 1e6 / r}')"
    other="$(awk -v busy=$(((t1 - t0) - (i1 - i0))) -v total=$((t1 - t0)) -v s=$((s1 - s0)) \
        -v w="$wrk_s" -v hz="$hz" \
        'BEGIN {o = (busy - s - w * hz) / (total > 0 ? total : 1) * 100; printf "%.0f", (o < 0 ? 0 : o)}')"
    OTHER[$key]="$other"
    if ((other > OTHER_MAX)); then
        echo "load.sh: warning: $mode (round $((round + 1))): other processes took ${other}% of" \
            "the CPU" >&2
        DISTURBED=$((DISTURBED + 1))
    fi
}

M=${#MODE_LIST[@]}
declare -a ORDERS
for ((r = 0; r < ROUNDS; r++)); do
    order=()
    for ((k = 0; k < M; k++)); do
        order+=("${MODE_LIST[(k + r) % M]}")
    done
    ORDERS+=("${order[*]}")
    for mode in "${order[@]}"; do
        measure "$mode" "$r"
    done
done

# --- report ------------------------------------------------------------------------------------
# stats VALUES...: "median min max" of the numbers given.
stats() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
        if (NR == 0) { print "? ? ?"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        print m, v[1], v[NR]
    }'
}

ratio_of() { awk -v x="$1" -v b="$2" 'BEGIN {printf "%.3f", x / b}'; }

echo
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT+changes"
if [[ "$PIN" != 0 ]]; then
    PINNING="server on CPU $SERVER_CPU, wrk on CPU $LOAD_CPU (taskset)"
else
    PINNING="unpinned"
fi
echo "Loopback load test: $(nproc) CPUs, $PINNING, $ROUNDS rounds, wrk -t$THREADS" \
    "-c$CONNECTIONS -d${DURATION}s per run (after a ${WARMUP} s warm-up), GET /me," \
    "${PLAINTEXT:-?}-byte session plaintext, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $COMMIT"
echo
echo "| mode | req/s (median) | req/s min–max | ratio to bare (median) | ratio min–max |" \
    "server CPU µs/req (median) | p50 ms (median) | p99 ms (median) | disturbed runs |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
declare -A RATIO_MEDIAN
for mode in "${MODE_LIST[@]}"; do
    rps=() ratios=() cpus=() p50s=() p99s=() disturbed=0
    for ((r = 0; r < ROUNDS; r++)); do
        key="$mode,$r"
        rps+=("${RPS[$key]}")
        ratios+=("$(ratio_of "${RPS[$key]}" "${RPS[bare,$r]}")")
        cpus+=("${CPU[$key]}")
        p50s+=("${P50[$key]}")
        p99s+=("${P99[$key]}")
        ((${OTHER[$key]} <= OTHER_MAX)) || disturbed=$((disturbed + 1))
    done
    read -r rps_m rps_lo rps_hi < <(stats "${rps[@]}")
    read -r ratio_m ratio_lo ratio_hi < <(stats "${ratios[@]}")
    read -r cpu_m _ _ < <(stats "${cpus[@]}")
    read -r p50_m _ _ < <(stats "${p50s[@]}")
    read -r p99_m _ _ < <(stats "${p99s[@]}")
    RATIO_MEDIAN[$mode]="$(printf '%.3f' "$ratio_m")"
    printf '| %s | %.0f | %.0f–%.0f | %.3f | %.3f–%.3f | %.1f | %.3f | %.3f | %d/%d |\n' "$mode" \
        "$rps_m" "$rps_lo" "$rps_hi" "$ratio_m" "$ratio_lo" "$ratio_hi" "$cpu_m" "$p50_m" \
        "$p99_m" "$disturbed" "$ROUNDS"
done
echo
echo "Per round (req/s; order as run):"
echo
for ((r = 0; r < ROUNDS; r++)); do
    line="- round $((r + 1)):"
    for mode in ${ORDERS[r]}; do
        line+=" $mode $(printf '%.0f' "${RPS[$mode,$r]}") (other ${OTHER[$mode,$r]}%);"
    done
    echo "${line%;}"
done
echo
echo "Ratio to bare: each run's req/s over the bare run of the same round, then the median (and" \
    "min–max) over rounds. Server CPU µs/req: the server process's CPU time (user + system, the" \
    "kernel's TCP work included) per request. Other: the share of the machine used by neither" \
    "the server nor wrk during the run; above ${OTHER_MAX}% the run counts as disturbed."

BARE_DISTURBED=0
for ((r = 0; r < ROUNDS; r++)); do
    ((${OTHER[bare,$r]} <= OTHER_MAX)) || BARE_DISTURBED=1
done

# verdict MODE NAME TARGET: whether the median ratio over rounds meets the target.
verdict() {
    local mode="$1" name="$2" target="$3" r
    [[ -n "${RATIO_MEDIAN[$mode]:-}" ]] || return 0
    r="${RATIO_MEDIAN[$mode]}"
    if ((BARE_DISTURBED)); then
        echo "- $name: ${r}× bare (median over rounds), target ≥ ${target}×: no verdict (a bare run was disturbed)"
        [[ -z "${STRICT:-}" || "${STRICT}" == 0 ]] || FAILED=1
    elif awk -v r="$r" -v t="$target" 'BEGIN {exit !(r >= t)}'; then
        echo "- $name: ${r}× bare (median over rounds), target ≥ ${target}×: met"
    else
        echo "- $name: ${r}× bare (median over rounds), target ≥ ${target}×: MISSED"
        [[ -z "${STRICT:-}" || "${STRICT}" == 0 ]] || FAILED=1
    fi
}
echo
echo "Targets (issue 16):"
if ((DISTURBED)); then
    echo "- $DISTURBED run(s) were disturbed by other processes: their ratios are not reliable."
fi
verdict cookie "cookie read" "$COOKIE_TARGET"
verdict bearer "cached bearer (TokenCache)" "$BEARER_TARGET"

if ((FAILED)); then
    echo
    echo "FAILED: see the messages above (non-2xx responses, a server failure, or with STRICT=1 a"
    echo "missed or unjudged target)."
    exit 1
fi
