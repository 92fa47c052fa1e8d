#!/usr/bin/env bash
# Fuzzes every target (or those named) for SECONDS each (default 600), one at a time, at the
# lowest CPU priority, then minimises its corpus. Logs: fuzz/artifacts/<target>.log.
# Usage: bash fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
seconds=${1:-600}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(plugin_config result_conversion socket_request state_files patch_select)
fi
# cargo-fuzz needs nightly flags; stable accepts them with RUSTC_BOOTSTRAP (no nightly here).
export RUSTC_BOOTSTRAP=1
mkdir -p artifacts
for target in "${targets[@]}"; do
  log=artifacts/$target.log
  echo "== $target: ${seconds}s, log $log"
  # A crash ends the run early; the reproducer is in artifacts/$target/.
  nice -n 19 cargo fuzz run -s none "$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 >"$log" 2>&1 ||
    echo "$target: stopped early (crash?): see $log"
  grep -a -E '^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs|==[0-9]+== ERROR|SUMMARY|thread .* panicked)' "$log" || true
  nice -n 19 cargo fuzz cmin -s none "$target" >>"$log" 2>&1 || echo "$target: cmin failed: see $log"
  echo "$target: corpus $(find "corpus/$target" -type f | wc -l) files, $(du -sh "corpus/$target" | cut -f1)"
done
