#!/usr/bin/env bash
# Load bench of the durable state store on POST /exchange (`make bench-load`): what a single-use role's
# per-exchange write costs, store off vs SQLite vs PostgreSQL, side by side in one run, on this machine.
#
# How. Builds target/release/tollgate and runs, one after the other, three `tollgate serve --dev --config CFG`
# on 127.0.0.1 (each its own free listen and admin ports, watch_policies false, audit to /dev/null), each with one
# token-grant role `deploy` on the GitHub-shaped dev issuer, differing only in the state store:
#   off       single_use: "off": the store (the default SQLite file) is never written on the hot path;
#   sqlite    single_use: per_role, state {backend: sqlite, path: <tmp>/state.db} (WAL, synchronous=FULL);
#   postgres  single_use: per_role, state {backend: postgres, pool_size: 16} on a throw-away PostgreSQL 15 cluster
#             started here (initdb under /tmp, as `nobody` when run as root; 127.0.0.1 only; fsync and
#             synchronous_commit on; role and database `tollgate` with a random password).
# The tokens: every dev instance has its own ephemeral issuer key, so one more dev instance (the "minter",
# idle during the runs) mints them all once through POST /dev/token (scripts/mint-dev-tokens.py), and the three
# instances trust its dev GitHub issuer (discovery + JWKS over HTTP, fetched once at start). Each token has its
# own jti; each configuration has its own store, so each configuration uses each token exactly once.
# Per configuration, two wrk runs (scripts/bench-state.lua), each on its own token set, each token sent once:
#   c64  full load: wrk -t2 -c64, FULL_TOKENS tokens (stops when they are used up, at the latest after 20 s):
#        enough clients that the server's CPU stays saturated even while exchanges wait for their commit, so
#        "tollgate µs" compares like with like (the store's CPU at full load);
#   c16  the peak of issue 11's runs: wrk -t2 -c16, HIGH_TOKENS tokens (≤ 20 s); with a store, exchanges waiting
#        for a commit leave CPU idle, so req/s falls and the per-request overhead of a less busy server rises;
#   half about half of the peak: wrk -t2 -c16 with each connection pausing PACE ms between its requests, PACE
#        = floor(32000 / the store-off c16 req/s) (2 ms when store off is not run), HALF_TOKENS tokens (≤ 20 s):
#        every configuration gets the same pacing; its req/s column shows the rate it really got. The p99 here
#        is the one issue 9's PostgreSQL budget speaks of ("at half of peak throughput");
#   c2   low load:  wrk -t2 -c2, LOW_TOKENS tokens, ≤ 10 s: one request in flight per thread, so little queueing;
#        lower concurrency, not a fixed rate (wrk has none): its rate can come near the peak's (see req/s).
# Any answer other than 200 (a replay refused, a broken setup) or any socket error fails the bench.
#
# The figures, one row per run (table on stdout, JSON lines in target/bench-state.json):
#   requests     exchanges answered 200 in the run (all the run's tokens, unless -d cut it short)
#   req/s        requests / the run's window (first request sent -> last answer received, measured in the Lua
#                script); wrk shares the 2 cores with the server: the machine's rate with the client on it
#   p50, p99     wrk's latency of those requests (request written -> response read), in ms
#   tollgate µs  tollgate's CPU time (utime+stime, /proc/PID/stat, 10 ms ticks) over the run / requests; with
#                SQLite it includes the store (in-process)
#   postgres µs  CPU of the PostgreSQL processes (postmaster and its children) over the run / requests
#   ratio        (tollgate µs + postgres µs) / the same for store off at the same load
#   wrk µs       the client's CPU over the run / requests
#   other µs     the rest of the machine's busy CPU (/proc/stat) over the run / requests: kernel work charged
#                to no process (loopback network, the file system's journal for the fsyncs) and any other work
#                on the machine; far above the store-off row's means something else ran and skewed the figures
#   claims       the store's successful claim_jti calls over the run (admin /metrics): 0 with store off, one per
#                exchange sent otherwise (a check that the store really was on the hot path)
# Bounds: everything on 127.0.0.1; every step is bounded (`timeout`, wrk's -d and a KILL 30 s later); the whole
# run after the build under BENCH_DEADLINE seconds (default 300; it takes ~90 s on an idle 2-core machine);
# everything started here is stopped on exit (trap), its logs kept in /tmp/tollgate-bench-* on failure.
# Knobs (environment): FULL_TOKENS (default 25000), HIGH_TOKENS (20000), HALF_TOKENS (20000), LOW_TOKENS (5000), BENCH_DEADLINE, CARGO;
# BENCH_CONFIGS (the configurations to run, default "off sqlite postgres"); BENCH_PERF=1 records each c64 run with
# `perf record -g`
# into target/perf-NAME.data (for `perf report -i …`; linux-perf must be installed); BENCH_KEEP=1 keeps the
# servers' logs.
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$self")/.."

DEADLINE=${BENCH_DEADLINE:-300}
export BENCH_STATE_STARTED=${BENCH_STATE_STARTED:-$(date +%s)}
if [ -z "${BENCH_STATE_BOUNDED:-}" ]; then
  # One-time setup first (not counted in the deadline): wrk and curl, and the release build.
  source scripts/bench-lib.sh
  need_tools wrk curl
  [ -x /usr/lib/postgresql/15/bin/initdb ] || { echo "ERROR: PostgreSQL 15 is missing: run scripts/test-deps.sh" >&2; exit 1; }
  ${CARGO:-cargo} build --release --bin tollgate
  # The rest runs under timeout: TERM to this script (its trap stops what it started) after DEADLINE, KILL 60 s
  # later. --foreground keeps it in the terminal's process group, so Ctrl-C reaches it.
  BENCH_STATE_BOUNDED=1 exec timeout --foreground --kill-after=60 "$DEADLINE" "$self" "$@"
fi

FULL_TOKENS=${FULL_TOKENS:-25000} HIGH_TOKENS=${HIGH_TOKENS:-20000} HALF_TOKENS=${HALF_TOKENS:-20000}
LOW_TOKENS=${LOW_TOKENS:-5000} PACE_MS=2
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/tollgate PG_BIN=/usr/lib/postgresql/15/bin
OUT_JSON=$TARGET/bench-state.json
work=$(mktemp -d /tmp/tollgate-bench-XXXXXX)
chmod 755 "$work" # PostgreSQL runs as nobody below it
servers=() pg_data="" run_as=() wrk_pid=""

cleanup() {
  local status=$?
  [ -z "$wrk_pid" ] || kill -KILL "$wrk_pid" 2>/dev/null || true
  for pid in "${servers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${servers[@]}"; do timeout 10 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null || true; done
  if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
    timeout 30 "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$pg_data" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
  fi
  [ "$status" -eq 0 ] || { echo "bench failed (exit $status); logs kept in $work" >&2; return; }
  [ -z "${BENCH_KEEP:-}" ] || { echo "logs kept in $work (BENCH_KEEP)"; return; }
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

source scripts/bench-lib.sh # free_port, cpu_ticks, machine_ticks, check_idle, serve (sets $server_pid)
# utime+stime in ticks of a process and its children (PostgreSQL's backends).
cpu_ticks_tree() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | sed -E 's/^([0-9]+) \(.*\) /\1 /' \
    | awk -v root="$1" '$1 == root || $3 == root { sum += $13 + $14 } END { print sum + 0 }'
}
claims() {
  curl -fsS --max-time 5 "http://$1/metrics" \
    | awk '/^tollgate_store_operations_total\{/ && /op="claim_jti"/ && /result="ok"/ { sum += $NF } END { print sum + 0 }'
}

# A config and a policy folder: write_config NAME PORT ADMIN_PORT SINGLE_USE STATE_YAML_OR_EMPTY
write_config() {
  local dir=$work/$1
  mkdir -p "$dir/policies"
  cat >"$dir/policies/deploy.yaml" <<EOF
role: deploy
description: Bench role of scripts/bench-state.sh.
issuer: github
audience: tollgate
single_use: "$4"
statements:
  - effect: allow
    condition:
      StringEquals:
        repository_owner_id: "1000"
      StringLike:
        sub: "repo:acme/web:ref:refs/heads/main"
grant:
  type: token
  audience: deploy-api
  ttl: 15m
  subject: "\${repository}@\${ref}"
EOF
  cat >"$dir/tollgate.yaml" <<EOF
listen: 127.0.0.1:$2
issuer_url: http://127.0.0.1:$2
policies: policies
watch_policies: false
shutdown_grace_seconds: 2
audit: {path: /dev/null}
admin: {listen: "127.0.0.1:$3"}
$5
trusted_issuers:
  - name: github
    profile: github
    issuer: http://127.0.0.1:${minter_port:-$2}/dev/issuer/github
    audiences: [tollgate]
EOF
}

start_postgres() {
  local pg=$work/pg port password
  mkdir -p "$pg"
  if [ "$(id -u)" -eq 0 ]; then
    chown nobody: "$pg"
    run_as=(setpriv "--reuid=$(id -u nobody)" "--regid=$(id -g nobody)" --clear-groups --)
  fi
  pg_data=$pg/data
  timeout 60 "${run_as[@]}" "$PG_BIN/initdb" -D "$pg_data" -U postgres --auth-local=trust --auth-host=reject \
    -E UTF8 --locale=C --no-sync --no-instructions >"$pg/initdb.log" 2>&1 || { cat "$pg/initdb.log" >&2; return 1; }
  port=$(free_port)
  password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  printf 'local all postgres trust\nhost tollgate tollgate 127.0.0.1/32 scram-sha-256\n' \
    | "${run_as[@]}" tee "$pg_data/pg_hba.conf" >/dev/null
  printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = on\nsynchronous_commit = on\nfull_page_writes = on\npassword_encryption = 'scram-sha-256'\n" \
    "$port" "$pg" | "${run_as[@]}" tee -a "$pg_data/postgresql.conf" >/dev/null
  timeout 60 "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$pg_data" -l "$pg/postgres.log" -w -t 30 start >/dev/null \
    || { cat "$pg/postgres.log" >&2; return 1; }
  local psql=(timeout 30 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$pg" -p "$port" -U postgres -d postgres)
  "${psql[@]}" -c "CREATE ROLE tollgate LOGIN PASSWORD '$password'"
  "${psql[@]}" -c "CREATE DATABASE tollgate OWNER tollgate"
  pg_url="postgres://tollgate:$password@127.0.0.1:$port/tollgate"
  pg_pid=$(head -n1 "$pg_data/postmaster.pid")
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (pid $pg_pid)"
}

# run_load NAME LOAD CONNECTIONS SECONDS TOKENS_PREFIX PORT ADMIN_PORT [PACE_MS]: one wrk run; appends a row.
run_load() {
  local name=$1 load=$2 port=$6 admin=$7 cpu0 cpu1 db0=0 db1=0 claims0 claims1 m0 m1 w=0 result
  claims0=$(claims "127.0.0.1:$admin")
  m0=$(machine_ticks) cpu0=$(cpu_ticks "$server_pid")
  [ "$name" != postgres ] || db0=$(cpu_ticks_tree "$pg_pid")
  rm -f "$work/$name/done-$load".*
  wrk -t2 -c"$3" -d"$4"s --timeout 5s --latency -s scripts/bench-state.lua \
    "http://127.0.0.1:$port" -- "$5" "$work/$name/done-$load" "${8:-0}" >"$work/$name/wrk-$load.txt" 2>&1 &
  wrk_pid=$!
  local perf_pid=""
  if [ -n "${BENCH_PERF:-}" ] && [ "$load" = c64 ]; then
    perf record -q -F 2999 -g -p "$server_pid" -o "$TARGET/perf-$name.data" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  # wrk waits out -d even when every thread is done: end it (SIGINT) once both threads said so. Its CPU is
  # sampled as it goes (the last sample is at most 50 ms old). Bounded: -d, then KILL 30 s later.
  local until=$((SECONDS + $4 + 30))
  while kill -0 "$wrk_pid" 2>/dev/null; do
    w=$(cpu_ticks "$wrk_pid" || echo "$w")
    if [ -e "$work/$name/done-$load.0" ] && [ -e "$work/$name/done-$load.1" ]; then
      kill -INT "$wrk_pid" 2>/dev/null || true
      break
    fi
    [ "$SECONDS" -lt "$until" ] || kill -KILL "$wrk_pid"
    sleep 0.05
  done
  if ! wait "$wrk_pid"; then
    echo "ERROR: wrk failed on $name $load:" >&2
    cat "$work/$name/wrk-$load.txt" >&2
    exit 1
  fi
  wrk_pid=""
  [ -z "$perf_pid" ] || { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
  m1=$(machine_ticks) cpu1=$(cpu_ticks "$server_pid")
  [ "$name" != postgres ] || db1=$(cpu_ticks_tree "$pg_pid")
  result=$(grep '^RESULT ' "$work/$name/wrk-$load.txt")
  claims1=$(claims "127.0.0.1:$admin")
  local ok bad fillers sent window_us p50_us p99_us timeouts socket_errors first_bad
  eval "$(echo "${result#RESULT }" | tr ' ' '\n' | grep -E '^[a-z_0-9]+=[0-9]+$')"
  first_bad=${result##*first_bad=}
  echo "  $name $load: $ok ok, $bad not 200, $sent sent, $fillers fillers, $timeouts timeouts, $socket_errors socket errors"
  if [ "$bad" -ne 0 ] || [ "$socket_errors" -ne 0 ] || [ "$ok" -eq 0 ]; then
    echo "ERROR: $name $load: $bad answers not 200 (first: $first_bad), $socket_errors socket errors" >&2
    cat "$work/$name/wrk-$load.txt" >&2
    exit 1
  fi
  local other=$(((m1 - m0) - (cpu1 - cpu0) - (db1 - db0) - w))
  rows+=("$name $load $ok $window_us $p50_us $p99_us $((cpu1 - cpu0)) $((db1 - db0)) $((claims1 - claims0)) $sent $w $other")
}

# --- the minter, the token sets, then the three configurations ---------------------------------------------
check_idle
minter_port=$(free_port) minter_admin=$(free_port)
write_config minter "$minter_port" "$minter_admin" off ""
DEV=1 RUST_LOG=warn serve minter "$minter_port" "$work/minter/tollgate.yaml"
for set in full:"$FULL_TOKENS" high:"$HIGH_TOKENS" half:"$HALF_TOKENS" low:"$LOW_TOKENS"; do
  timeout 120 python3 scripts/mint-dev-tokens.py --url "http://127.0.0.1:$minter_port" --count "${set#*:}" \
    --out "$work/tokens-${set%%:*}.txt"
  # wrk thread i reads tokens-SET.txt.i: the list dealt round-robin to 2 threads.
  awk -v out="$work/tokens-${set%%:*}.txt" '{ print > (out "." ((NR - 1) % 2)) }' "$work/tokens-${set%%:*}.txt"
done
case " ${BENCH_CONFIGS:-postgres} " in *" postgres "*) start_postgres ;; esac

rows=()
for name in ${BENCH_CONFIGS:-off sqlite postgres}; do
  port=$(free_port) admin=$(free_port)
  case $name in
    off) write_config off "$port" "$admin" off "" ;;
    sqlite) write_config sqlite "$port" "$admin" per_role "state: {backend: sqlite, path: $work/sqlite/state.db}" ;;
    postgres) write_config postgres "$port" "$admin" per_role "state: {backend: postgres, url: \"$pg_url\", pool_size: 16}" ;;
  esac
  DEV=1 RUST_LOG=warn serve "$name" "$port" "$work/$name/tollgate.yaml"
  echo "$name: serving on 127.0.0.1:$port (pid $server_pid)"
  run_load "$name" c64 64 20 "$work/tokens-full.txt" "$port" "$admin"
  run_load "$name" c16 16 20 "$work/tokens-high.txt" "$port" "$admin"
  if [ "$name" = off ]; then
    PACE_MS=$(echo "${rows[-1]}" | awk '{ rate = $3 / ($4 / 1e6); pace = int(32000 / rate); print (pace < 1 ? 1 : pace) }')
    echo "  pacing the half load at $PACE_MS ms per connection"
  fi
  run_load "$name" half 16 20 "$work/tokens-half.txt" "$port" "$admin" "$PACE_MS"
  run_load "$name" c2 2 10 "$work/tokens-low.txt" "$port" "$admin"
  kill -TERM "$server_pid"
  timeout 10 tail --pid="$server_pid" -f /dev/null
done

# --- the table and the JSON lines ----------------------------------------------------------------------------
mkdir -p "$TARGET"
printf '%s\n' "${rows[@]}" | awk -v tick="$TICK" -v json="$OUT_JSON" '
  function us(ticks) { return ticks * 1e6 / tick / $3 }
  { name[NR] = $1; load[NR] = $2; ok[NR] = $3; rps[NR] = $3 / ($4 / 1e6); p50[NR] = $5 / 1000; p99[NR] = $6 / 1000
    cpu[NR] = us($7); db[NR] = us($8); claims[NR] = $9; sent[NR] = $10; wrk[NR] = us($11); other[NR] = us($12)
    if ($1 == "off") base[$2] = cpu[NR] + db[NR] }
  END {
    format = "%-8s %-4s %8s %7s %7s %7s %11s %11s %5s %6s %8s %6s\n"
    printf "\n" format, "config", "load", "requests", "req/s", "p50 ms", "p99 ms", "tollgate µs", "postgres µs", \
      "ratio", "wrk µs", "other µs", "claims"
    printf "" > json
    for (i = 1; i <= NR; i++) {
      ratio = base[load[i]] > 0 ? (cpu[i] + db[i]) / base[load[i]] : 0
      printf "%-8s %-4s %8d %7.0f %7.2f %7.2f %11.1f %11.1f %5.2f %6.1f %8.1f %6d\n", name[i], load[i], ok[i], \
        rps[i], p50[i], p99[i], cpu[i], db[i], ratio, wrk[i], other[i], claims[i]
      printf "{\"config\":\"%s\",\"load\":\"%s\",\"requests\":%d,\"sent\":%d,\"req_per_s\":%.1f,\"p50_ms\":%.3f," \
        "\"p99_ms\":%.3f,\"tollgate_cpu_us\":%.2f,\"postgres_cpu_us\":%.2f,\"cpu_ratio_vs_off\":%.3f," \
        "\"wrk_cpu_us\":%.2f,\"other_cpu_us\":%.2f,\"store_claims\":%d}\n", name[i], load[i], ok[i], sent[i], \
        rps[i], p50[i], p99[i], cpu[i], db[i], ratio, wrk[i], other[i], claims[i] >> json
    }
  }'
echo "JSON lines: $OUT_JSON; wall time $(($(date +%s) - BENCH_STATE_STARTED)) s (build included)"
# The store check: no claims with store off, one per answered exchange otherwise (sent ones may add a few).
printf '%s\n' "${rows[@]}" | awk '($1 == "off" && $9 != 0) || ($1 != "off" && ($9 < $3 || $9 > $10)) {
  print "ERROR: " $1 " " $2 ": " $9 " store claims for " $3 " exchanges" > "/dev/stderr"; bad = 1 } END { exit bad }'
