#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target listed in fuzz/Cargo.toml for FUZZ_SECONDS (default 30) each, seeded by
# scripts/fuzz-seeds.py from VECTORS_DIR (argument 1) and the project's own files, then prints one table: execs,
# execs/s, coverage (libFuzzer's cov and ft), corpus size and seconds per target. Stops by itself; exits non-zero
# if any target crashed, leaked, timed out (-timeout, seconds per input) or failed to build. Logs and crash
# inputs stay in fuzz/artifacts/<target>/ (git-ignored).
set -uo pipefail
cd "$(dirname "$0")/.."
vectors=${1:?usage: scripts/fuzz.sh VECTORS_DIR}
seconds=${FUZZ_SECONDS:-30}
per_input=${FUZZ_TIMEOUT:-10}
nightly=(cargo +nightly)

python3 scripts/fuzz-seeds.py "$vectors" fuzz/corpus || exit 1
mapfile -t targets < <(cd fuzz && "${nightly[@]}" fuzz list)
[ ${#targets[@]} -gt 0 ] || { echo "ERROR: cargo fuzz list found no targets" >&2; exit 1; }
(cd fuzz && "${nightly[@]}" fuzz build) || { echo "ERROR: the fuzz targets do not build" >&2; exit 1; }

rows=() failed=()
for target in "${targets[@]}"; do
  mkdir -p "fuzz/artifacts/$target"
  log="fuzz/artifacts/$target/fuzz.log"
  echo "fuzz: $target for ${seconds} s (log: $log)"
  start=$(date +%s)
  (cd fuzz && "${nightly[@]}" fuzz run "$target" -- -max_total_time="$seconds" -timeout="$per_input" \
    -print_final_stats=1) >"$log" 2>&1
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  last=$(grep -E '^#[0-9]+' "$log" | grep -E 'DONE' | tail -n1)
  [ -n "$last" ] || last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n1)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  status=ok
  if [ "$rc" -ne 0 ]; then
    status="FAILED (exit $rc)"
    failed+=("$target")
    grep -E 'ERROR: libFuzzer|panicked at|SUMMARY|Test unit written to' "$log" | head -n 5 | sed 's/^/  /'
  fi
  rows+=("$(printf '%-22s %12s %10s %7s %7s %7s %6s  %s' "$target" "${execs:--}" "${rate:--}" "${cov:--}" \
    "${ft:--}" "${corp:--}" "$elapsed" "$status")")
done

echo
printf '%-22s %12s %10s %7s %7s %7s %6s  %s\n' target execs execs/s cov ft corpus secs status
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "ERROR: fuzzing failed for: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
  exit 1
fi
