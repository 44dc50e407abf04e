#!/usr/bin/env bash
# Runs one fuzzer for a bounded time over its seed corpus (never writing into the repository):
#   tests/fuzz/run.sh FUZZER_BINARY SEED_DIR [SECONDS]
# SECONDS defaults to $PULLCACHE_FUZZ_SECONDS, else 30. A crash, leak, sanitizer report or
# assertion failure fails the run and leaves the input in the printed crash-* file.
set -euo pipefail
fuzzer=$(realpath "$1")
seeds=$(realpath "$2")
seconds=${3:-${PULLCACHE_FUZZ_SECONDS:-30}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
cd "$work"
if ! "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds" >"$work/log" 2>&1; then
  tail -60 "$work/log"
  keep=${TMPDIR:-/tmp}/pullcache-fuzz-$(basename "$fuzzer")-$$
  cp -r "$work/artifacts" "$keep"
  echo "fuzz: $(basename "$fuzzer") failed; crashing inputs kept in $keep" >&2
  exit 1
fi
grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$work/log" | tail -2
