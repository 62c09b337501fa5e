#!/usr/bin/env bash
# Builds the libFuzzer harnesses of the pure host parsers with clang (ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 30), starting from the corpus beside it; a crash, a sanitizer report or a
# failed invariant fails the run and leaves the input under $OUT_DIR. `make fuzz` calls it, CI with
# a short bound. Needs clang and its fuzzer runtime (Debian: clang, libclang-rt-dev).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-30}
out=${OUT_DIR:-build/fuzz}
cc=${FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null; then
  echo "fuzz: $cc not found (apt-get install clang libclang-rt-dev); skipped"
  exit 0
fi
mkdir -p "$out"
core="src/agree.c src/args.c src/config.c src/log.c src/model.c src/shmem_env.c src/tune.c src/tuned.c"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Isrc -lm"
status=0
for harness in tuned config; do
  bin="$out/fuzz_$harness"
  "$cc" $flags "tests/fuzz/fuzz_$harness.c" $core -o "$bin"
  corpus="$out/corpus_$harness"
  mkdir -p "$corpus"
  cp tests/fuzz/corpus_$harness/* "$corpus"/ 2>/dev/null || true
  echo "fuzz_$harness: ${seconds} s"
  if ! "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -artifact_prefix="$out/crash_${harness}_" \
      -print_final_stats=1 "$corpus" >"$out/fuzz_$harness.log" 2>&1; then
    tail -40 "$out/fuzz_$harness.log"
    status=1
  fi
  grep -E "stat::number_of_executed_units" "$out/fuzz_$harness.log" | sed "s/^/  fuzz_$harness /" || true
done
[ $status -eq 0 ] && echo "fuzz: no crash, no sanitizer report, every invariant held"
exit $status
