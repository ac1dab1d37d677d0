#!/usr/bin/env bash
# Runs the README's quickstart shell lines, exactly as written, against `tollgate serve --dev` (what `make run`
# starts), with real bash, curl and jq, and checks what they print. The AWS lines run with moto (from .venv) as the
# upstream STS and the real aws CLI, as the README describes. No fixed port: Tollgate (public and admin listeners)
# and moto get free loopback ports, and the README's 127.0.0.1:8080 and 127.0.0.1:5000 are rewritten to them (the
# only change made to its lines), so a `make run` or a Prometheus on the usual ports does not get in the way.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bin="${CARGO_TARGET_DIR:-target}/debug/tollgate"
[ -x "$bin" ] || cargo build --quiet --bin tollgate
# Three free loopback ports, chosen by the kernel (bound together, then released).
read -r port admin_port moto_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
[ -x .venv/bin/moto_server ] && [ -x .venv/bin/aws ] || { echo "readme-test: .venv lacks moto/aws: run scripts/test-deps.sh" >&2; exit 1; }

work=$(mktemp -d)
log="$work/server.log"
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
moto=$!
TOLLGATE_AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" TOLLGATE_LISTEN="127.0.0.1:$port" \
  TOLLGATE_ADMIN_LISTEN="127.0.0.1:$admin_port" "$bin" serve --dev >"$log" 2>&1 &
server=$!
trap 'kill $server $moto 2>/dev/null; wait $server $moto 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$moto_port/moto-api/" && break
  sleep 0.1
done

for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break
  sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || { echo "readme-test: server never became ready"; cat "$log"; exit 1; }

# The quickstart blocks sit between these markers in README.md; only their ports are rewritten.
block() {
  sed -n "/<!-- $1:begin -->/,/<!-- $1:end -->/p" README.md | sed '/^```/d; /^<!--/d' \
    | sed "s/127\.0\.0\.1:8080/127.0.0.1:$port/g; s/127\.0\.0\.1:5000/127.0.0.1:$moto_port/g"
}
block quickstart >"$work/quickstart.sh"
[ -s "$work/quickstart.sh" ] || { echo "readme-test: no quickstart block in README.md"; exit 1; }
block aws-quickstart >"$work/aws.sh"
[ -s "$work/aws.sh" ] || { echo "readme-test: no aws-quickstart block in README.md"; exit 1; }
(cd "$work" && bash -euo pipefail quickstart.sh) >"$work/out.txt" 2>&1 || { cat "$work/out.txt"; cat "$log"; exit 1; }
(cd "$work" && PATH="$root/.venv/bin:$PATH" bash -euo pipefail aws.sh) >"$work/aws.txt" 2>&1 || { cat "$work/aws.txt"; cat "$log"; exit 1; }

passed=0 failed=0
expect() {
  if grep -q -- "$1" "$work/out.txt"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "readme-test: missing $1"; fi
}
expect '"token_type": "Bearer"'
expect '"issued_token_type": "urn:ietf:params:oauth:token-type:jwt"'
expect '"role": "deploy-web"'
expect '"sub": "acme/web@refs/heads/main"'
expect '"aud": "deploy-api"'
expect '"error": "access_denied"'
expect 'StringLike on \\"sub\\" did not match'
expect 'TOLLGATE_TOKEN for "artifact-store" expires at 20'
if [ "$(grep -c '^arn:aws:sts::123456789012:assumed-role/deploy-web/gh-acme-web-1$' "$work/aws.txt")" -eq 2 ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "readme-test: the AWS lines did not both print the assumed role"; cat "$work/aws.txt"
fi
if grep -q 'eyJ[A-Za-z0-9_-]*\.eyJ' "$log"; then
  failed=$((failed + 1)); echo "readme-test: a token appears in the server log"
else
  passed=$((passed + 1))
fi
[ "$failed" -eq 0 ] || { echo "--- quickstart output"; cat "$work/out.txt"; }
echo "readme: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
