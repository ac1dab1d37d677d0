# Shared by the load benches (scripts/bench-load.sh, scripts/bench-state.sh); sourced, never run.
# Expects: $work (a scratch folder), $BIN (the tollgate binary). Provides process bookkeeping (everything started
# through `serve` or `track` is stopped by `bench_cleanup`), CPU and memory readings from /proc, free ports.

servers=()
TICK=$(getconf CLK_TCK)

# Installs the Debian packages named when their commands are missing (wrk, curl…).
need_tools() {
  local missing=() tool
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing Debian packages: ${missing[*]}"
  local sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# utime+stime in ticks of one process (the fields after the `(comm)`).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }
# The machine's busy ticks (/proc/stat: all but idle and iowait).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# Resident memory now, in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# Warns when the CPUs were busy over the last second: other work skews every figure.
check_idle() {
  local m0 busy
  m0=$(machine_ticks); sleep 1; busy=$((100 * ($(machine_ticks) - m0) / ($(nproc) * TICK)))
  echo "CPU busy before the start: $busy% of $(nproc) cores"
  [ "$busy" -lt 15 ] || echo "WARNING: the machine is busy ($busy%): throughput and latency will be noisy" >&2
}

# Records a background process to stop on exit.
track() { servers+=("$1"); }

# serve NAME PORT CONFIG: starts `tollgate serve` (dev mode when DEV=1) and waits (≤ 3000 polls, ~1 min) for
# /readyz 200; sets $server_pid and $ready_ms (spawn to the first 200, polled every 10 ms).
serve() {
  local name=$1 port=$2 config=$3 started dev=()
  [ "${DEV:-0}" = 1 ] && dev=(--dev)
  mkdir -p "$work/$name"
  started=$(date +%s%N)
  # RUST_LOG as the caller has it: unset means the production default (info).
  "$BIN" serve "${dev[@]}" --config "$config" \
    >"$work/$name/stdout.log" 2>"$work/$name/stderr.log" &
  server_pid=$!
  track "$server_pid"
  for _ in $(seq 3000); do
    if curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
      ready_ms=$((($(date +%s%N) - started) / 1000000))
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.01
  done
  echo "ERROR: $name did not become ready; its log:" >&2
  cat "$work/$name/stderr.log" >&2
  return 1
}

# stop_server PID: TERM, then KILL after 10 s.
stop_server() {
  kill -TERM "$1" 2>/dev/null || true
  timeout 10 tail --pid="$1" -f /dev/null || kill -KILL "$1" 2>/dev/null || true
}

bench_cleanup() {
  local pid
  for pid in "${servers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${servers[@]}"; do timeout 10 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null || true; done
}

# A metric's value summed over the series whose line matches every given pattern: metric URL PATTERN...
metric_sum() {
  local url=$1; shift
  curl -fsS --max-time 5 "$url" | awk -v patterns="$*" '
    BEGIN { n = split(patterns, p, " ") }
    /^#/ { next }
    { for (i = 1; i <= n; i++) if (index($0, p[i]) == 0) next; sum += $NF }
    END { print sum + 0 }'
}
