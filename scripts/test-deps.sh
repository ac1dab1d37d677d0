#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine: curl and jq (Debian packages) for the README test, and a
# project-local virtualenv (.venv) with the Python test peers. Idempotent; fails loudly if anything is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in curl jq; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

if ! .venv/bin/python -c 'import jwt, cryptography' >/dev/null 2>&1; then
  echo "Creating .venv with the Python test peers"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/peers/requirements.txt
fi
.venv/bin/python -c 'import jwt; print("test peers ready: PyJWT", jwt.__version__)'
