#!/usr/bin/env bash
# The demo, end to end, in a real browser: Debian's headless Chromium driven by playwright-core.
#
#   bash scripts/browser-test.sh                      # the browser test (e2e/demo.test.mjs)
#   bash scripts/browser-test.sh --readme-screenshot  # refresh docs/demo-session.png
#
# Installs what it needs (Debian's `chromium` if /usr/bin/chromium is missing; playwright-core
# with `npm ci` in e2e/), builds the demo, starts it on a free 127.0.0.1 port with a fresh data
# directory and a 5 s idle timeout, with OAuth login against the mock OAuth server of the login
# tests (oauth2-mock-server, `npm ci` in tests/oauth/), waits until it answers, runs the test, and
# stops the demo and the mock on exit. Then it calls the demo's API with JWT access tokens the
# mock issues by client credentials (200 with the scope, 403 without, 401 forged or for another
# audience). A failing check leaves screenshots in target/e2e-screenshots/. Exits non-zero on any
# failure. Bounded: every install, build and run step has a timeout; the demo gets 60 tries of
# 0.5 s to come up; the test itself at most 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=test
case "${1:-}" in
  "") ;;
  --readme-screenshot) mode=screenshot ;;
  *) echo "usage: $0 [--readme-screenshot]" >&2; exit 2 ;;
esac
started=$(date +%s)
step() { printf '\n==> %s\n' "$*"; }

step "chromium"
if [ ! -x /usr/bin/chromium ]; then
  command -v apt-get >/dev/null || { echo "no /usr/bin/chromium, and no apt-get to install it" >&2; exit 1; }
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq chromium >/dev/null
fi
# (Debian's wrapper script may print a harmless shell warning on stderr.)
/usr/bin/chromium --version 2>/dev/null

step "playwright-core (npm ci in e2e/)"
command -v node >/dev/null && command -v npm >/dev/null || { echo "Node.js >= 20 and npm are needed" >&2; exit 1; }
node -e 'const [a, b] = process.versions.node.split(".").map(Number); if (a < 20 || (a === 20 && b < 19)) { console.error(`playwright-core and the mock OAuth server need Node.js >= 20.19, found ${process.version}`); process.exit(1) }'
node --version
(cd e2e && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
(cd tests/oauth && timeout 300 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

step "build the demo (with the oauth feature)"
timeout 900 cargo build --quiet -p sealed-session-demo --features oauth
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$(pwd)/$target_dir" ;; esac
bin="$target_dir/debug/sealed-session-demo"

work=$(mktemp -d)
shots="$target_dir/e2e-screenshots"
pid=""
mock_pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
url="http://127.0.0.1:$port"
idle=5s
[ "$mode" = screenshot ] && idle=30m

step "start the mock OAuth server"
timeout 900 node tests/oauth/mock-server.mjs --lifetime 0 >"$work/mock" 2>"$work/mock.log" &
mock_pid=$!
issuer=""
for _ in $(seq 1 60); do
  issuer=$(sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p' "$work/mock" 2>/dev/null | head -n1)
  [ -n "$issuer" ] && break
  kill -0 "$mock_pid" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$issuer" ]; then cat "$work/mock.log"; echo "the mock OAuth server did not come up" >&2; exit 1; fi
echo "mock OAuth server at $issuer"

step "start the demo on $url (idle timeout $idle, data in a fresh temp dir)"
# Its stdout holds the demo passwords and a token: kept out of this script's output.
DEMO_OAUTH_ISSUER="$issuer" \
  "$bin" --port "$port" --data-dir "$work/demo" --idle-timeout "$idle" >"$work/out" 2>"$work/log" &
pid=$!
up=""
for _ in $(seq 1 60); do
  if curl -fsS -m 2 "$url/healthz" >/dev/null 2>&1; then up=yes; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$up" ]; then cat "$work/log"; echo "the demo did not come up" >&2; exit 1; fi

if [ "$mode" = screenshot ]; then
  step "README screenshot"
  DEMO_URL="$url" timeout 120 node e2e/screenshot.mjs docs/demo-session.png
  exit 0
fi

step "browser test"
rm -rf "$shots"
rc=0
DEMO_URL="$url" DEMO_BIN="$bin" DEMO_DATA_DIR="$work/demo" SCREENSHOT_DIR="$shots" \
  timeout 300 node e2e/demo.test.mjs || rc=$?
if [ "$rc" != 0 ]; then
  echo
  echo "the demo's log (tokens and cookie values never appear in it):"
  tail -n 40 "$work/log"
  [ -d "$shots" ] && echo "screenshots: $shots" && ls "$shots"
  echo "browser test FAILED (exit $rc) after $(( $(date +%s) - started )) s"
  exit "$rc"
fi

step "the API with JWT access tokens from the mock provider (client credentials)"
# The mock's client-credentials tokens carry no `sub`; the demo's uid for them is `<issuer>#<sub>`.
curl -fsS -m 5 -H 'content-type: application/json' -d '{"sub":"build-bot"}' "$issuer/__control/access-claims" >/dev/null
# A token by client credentials for the demo's API (its audience: the demo's URL).
jwt() {
  curl -fsS -m 5 -d grant_type=client_credentials --data-urlencode "scope=$1" --data-urlencode "aud=$2" "$issuer/token" \
    | node -e 'let d="";process.stdin.on("data",c=>d+=c).on("end",()=>console.log(JSON.parse(d).access_token))'
}
# The same token with its payload changed after signing (it claims builds:write).
forge() {
  node -e 'const [h,p,s]=process.argv[1].split("."); const c=JSON.parse(Buffer.from(p,"base64url")); c.scope="builds:read builds:write"; console.log([h,Buffer.from(JSON.stringify(c)).toString("base64url"),s].join("."))' "$1"
}
read_token=$(jwt builds:read "$url")
other_scope=$(jwt reports:read "$url")
other_aud=$(jwt builds:read "https://elsewhere.example")
forged=$(forge "$read_token")
api_failed=0
api() {
  local want=$1 what=$2; shift 2
  local got; got=$(curl -sS -m 5 -o "$work/body" -w '%{http_code}' "$@")
  if [ "$got" = "$want" ]; then echo "ok   $want $what"; else echo "FAIL want $want got $got: $what"; api_failed=1; fi
}
api 200 "GET /api/builds, JWT with builds:read" -H "Authorization: Bearer $read_token" "$url/api/builds"
grep -q "#build-bot" "$work/body" || { echo "FAIL the JWT's uid is not <issuer>#build-bot"; api_failed=1; }
api 403 "POST /api/builds, JWT without builds:write" -X POST -H "Authorization: Bearer $read_token" "$url/api/builds"
api 403 "GET /api/builds, JWT without builds:read" -H "Authorization: Bearer $other_scope" "$url/api/builds"
api 401 "GET /api/builds, forged JWT (payload changed after signing)" -H "Authorization: Bearer $forged" "$url/api/builds"
api 401 "GET /api/builds, JWT for another audience" -H "Authorization: Bearer $other_aud" "$url/api/builds"
api 401 "GET /api/builds, no token" "$url/api/builds"
if grep -q -F -e "$read_token" -e "$forged" "$work/log"; then echo "FAIL a JWT reached the demo's log"; api_failed=1; fi
if [ "$api_failed" != 0 ]; then tail -n 40 "$work/log"; echo "JWT API checks FAILED"; exit 1; fi
echo "browser test passed in $(( $(date +%s) - started )) s (install, build and run)"
