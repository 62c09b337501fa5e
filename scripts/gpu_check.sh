#!/usr/bin/env bash
# One call on the GPU machine: build if needed, run the GPU tests (ctest -L gpu, the one matrix of
# tests/CMakeLists.txt; the shared tier too in full mode), run nvrar_perf against NCCL in the same
# run, write every log under $LOGS and print a short table last.
#
#   scripts/gpu_check.sh [full|quick|bench|tests|shared|memory|digest|sanitize|sweep|algos|maketest|fused|pdl] [ring]
#          (default: full with 2 GPUs or more, shared with one)
#   shared: the shared tier (ctest -L shared, SHARED_PART=k/m for every m-th run from the k-th,
#          SHARED_REGEX for the runs whose names match: every
#          multi-rank suite at 2-8 ranks and on the virtual
#          layouts, ranks sharing the GPUs there are, NVRAR_SHARE_GPUS=1), then (with the first part
#          only) nvrar_perf at one rank per GPU (real timings: a copy at one rank) and the device
#          memory of init at 1, 2, 4, 8 ranks
#   digest: the fixed digest corpus (tests/mp/digest_corpus.c) at 1-8 ranks and the virtual layouts,
#          ranks sharing the GPUs: digests.txt; BASELINE_SRC=tree also builds that tree's library (and
#          its corpus, 2c8fc83 or later; before, this tree's corpus runs against it) and compares the
#          cases both ran (the proof that a refactor changed no result);
#          DIGEST_SPECS="ranks:gpus_per_node ..." runs part of it (default "1: 2: 3: 4: 5: 8: 4:2 4:1
#          8:4 8:2 6:2"; "4:2 4:1 8:4 8:2 6:2": the virtual layouts alone, for the multi-node kernels)
#   memory: the device memory of init (1-8 ranks, lazy and eager module loading, under torch)
#   pdl:   NVRAR_PDL=0 against 1: bench/rmsnorm_torch.py on one rank, nvrar_perf graphs on 2 and 4 GPUs
#   fused: the fused all-reduce + RMSNorm through torch: bench/rmsnorm_torch.py on one rank (against
#          torch's add + F.rms_norm, eager and compiled), bench/tp_decode.py at 2 and 4 ranks (timed
#          on 2 and 4 GPUs, else ranks sharing the GPU: agreement only)
#   maketest: the README's `make test` on a fresh build folder, in the background across device
#          calls (it outlasts one on one GPU): call it again until it prints the summaries;
#          `maketest stop` ends it (never pkill by a pattern: the device tool's own command line matches)
#   sanitize: compute-sanitizer memcheck, racecheck and synccheck on 2 ranks over every kernel family
#          (one-shot, two-shot, ring, simple ring, hier-rd, hier-rhd, the lamport pair, the fused RMSNorm, exchange; small
#          messages); SANITIZE="tool:suite:algo ..." for part of it
#   sweep: launch-shape variants of each forced algorithm (for src/tune.c), no NCCL;
#          `sweep ring`: the chunked ring at 16-64 MiB over blocks x threads, NCCL once for reference,
#          and again with each library of SWEEP_LIBS="name:libdir:BLOCKSxTHREADS,.. ..." (experiment builds);
#          SWEEP_SHAPES: the shapes of this build (default 64x512,128x256,128x512)
#   python: the Python package: `pip install .` and `pip install -e .` offline (PIP_NO_BUILD_ISOLATION)
#          each checked on 2 GPUs (and the NCCL drop-in the wheel installed, loaded by path as vLLM
#          does), torch_check.py under torchrun on 2 and 4 GPUs, the tuner (both seed
#          command lines) writing a cache the C library then reads, and bench/compare_torch.py
#          against NCCL and torch symmetric memory with nvrar_perf in the same run
#   nccl:  the NCCL drop-in: tests/nccl_dropin.sh (a -lnccl program against NCCL, LD_PRELOAD and
#          LD_LIBRARY_PATH, bitwise) and tests/torch_dropin.sh (torch under LD_PRELOAD, the ctypes load
#          of vLLM/SGLang) on 2 and 4 GPUs, nvrar_comm_destroy's bounded teardown, then
#          torch.distributed.all_reduce with and without the drop-in (bench/dropin_torch.py), table last
#   algos: the put-with-signal algorithms (ring, simple-ring, hier-rd, hier-rhd, exchange) on 2 and 4
#          GPUs and on the virtual layouts 2x2 and 4x1, then their tables against NCCL (also in full);
#          ALGOS_ONE_NODE=0 runs only the virtual layouts (for changes that touch only the multi-node paths)
#
# Env: BUILD (build dir, default build), LOGS (default /tmp/nvrar-gpu-check), OUT (if set, the logs
#      are packed into $LOGS/gpu_check.tgz: the device tool brings back only a few files),
#      NVRAR_TEST_REPLAYS (graph replays in test_graph; full: 100000, quick: 5000).
set -uo pipefail
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1

mode=${1:-}
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LOGS=${LOGS:-/tmp/nvrar-gpu-check}
mkdir -p "$LOGS" && LOGS=$(cd "$LOGS" && pwd)
summary="$LOGS/summary.txt"
: > "$summary"

# NVSHMEM and NCCL from the python3 wheels when present (binaries carried from another machine
# carry that machine's rpath).
wheel_dir() { python3 -c "import nvidia.$1 as m; print(list(m.__path__)[0])" 2>/dev/null; }
nvshmem_dir=$(wheel_dir nvshmem) && export LD_LIBRARY_PATH="$nvshmem_dir/lib:${LD_LIBRARY_PATH:-}"
nccl_dir=$(wheel_dir nccl) && export NVRAR_NCCL_LIBRARY="${NVRAR_NCCL_LIBRARY:-$nccl_dir/lib/libnccl.so.2}"

if [ "$mode" != maketest ] && { [ ! -x "$BUILD/bin/nvrar_perf" ] || [ ! -x "$BUILD/bin/test_allreduce" ]; }; then
  echo "== building in $BUILD"
  { cmake -S . -B "$BUILD" -G Ninja && ninja -C "$BUILD"; } > "$LOGS/build.log" 2>&1 || { tail -30 "$LOGS/build.log"; exit 1; }
fi
bin="$BUILD/bin"
[ -d "$BUILD/lib" ] && export LD_LIBRARY_PATH="$(cd "$BUILD/lib" && pwd):${LD_LIBRARY_PATH:-}"
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c GPU || true)
[ -n "$mode" ] || { [ "${ngpu:-0}" -ge 2 ] && mode=full || mode=shared; }
echo "== $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1), $ngpu GPUs, mode $mode"

# run NAME TIMEOUT CMD...: logs to $LOGS/NAME.log, records pass/fail/skip and seconds.
run() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" > "$LOGS/$name.log" 2>&1
  local rc=$?
  local verdict=PASS
  [ $rc -eq 77 ] && verdict=SKIP
  [ $rc -eq 124 ] && verdict="TIMEOUT(${limit}s)"
  [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ $rc -ne 124 ] && verdict="FAIL(rc=$rc)"
  printf '%-34s %-14s %4ds  %s\n' "$name" "$verdict" $((SECONDS - t0)) "$(grep -E '^(test_|torch_check|nccl_dropin|nccl_ctypes_check|torch_dropin|tp_decode|rows |batch |  algo|SKIP)' "$LOGS/$name.log" | tail -1 | cut -c1-110)" | tee -a "$summary"
  [ "$verdict" = PASS ] || [ "$verdict" = SKIP ] || tail -15 "$LOGS/$name.log"
  if [ "$mode" = quick ] && [ "${verdict#TIMEOUT}" != "$verdict" ]; then
    finish  # quick mode spends no more device time after a hang
  fi
}

finish() {
  echo
  echo "== summary (logs in $LOGS)"
  cat "$summary"
  [ -n "${OUT:-}" ] && tar czf "$OUT/gpu_check.$mode.tgz" --exclude='./venv.*' -C "$LOGS" .
  ! grep -qE 'FAIL|TIMEOUT' "$summary"
  exit $?
}
export NVRAR_TIMEOUT=${NVRAR_TIMEOUT:-10} # a stuck kernel fails in 10 s, not 30

# ctest_tier NAME ARGS...: a part of the one GPU test matrix of tests/CMakeLists.txt (ctest ARGS), its
# log in $LOGS/NAME.log, one summary line with the count, the failed tests listed.
ctest_tier() {
  local name=$1 t0=$SECONDS
  shift
  (cd "$BUILD" && ctest --output-on-failure "$@") > "$LOGS/$name.log" 2>&1
  local rc=$?
  printf '%-34s %-14s %4ds  %s\n' "$name" "$([ $rc -eq 0 ] && echo PASS || echo "FAIL(rc=$rc)")" $((SECONDS - t0)) \
    "$(grep -E 'tests passed' "$LOGS/$name.log" | tail -1)" | tee -a "$summary"
  [ $rc -eq 0 ] || grep -E '^\s+[0-9]+ - ' "$LOGS/$name.log" | head -30
}

# The device memory of nvrar_comm_init: per rank at 1, 2, 4, 8 ranks (sharing the GPUs there are),
# lazy and eager module loading at 1 rank, and under torch before and after torch's own kernels.
memory_table() {
  echo "== device memory taken by nvrar_comm_init (defaults; ranks sharing the GPUs there are)" | tee -a "$summary"
  for n in 1 2 4 8; do
    NVRAR_SHARE_GPUS=1 NVRAR_TEST_MAX_BYTES=4096 NVRAR_TEST_QUICK=1 NVRAR_DEBUG=INFO timeout 300 \
      "$bin/test_allreduce" -g "$n" > "$LOGS/memory.n$n.log" 2>&1
    printf '%d ranks: %s\n' "$n" "$(grep -hE 'MiB per rank|device memory taken by init' "$LOGS/memory.n$n.log" | head -1)" |
      tee -a "$summary"
  done
  # where the device module's memory goes: the stack limit after its load, lazy and eager loading
  for loading in LAZY EAGER; do
    CUDA_MODULE_LOADING=$loading NVRAR_TEST_MAX_BYTES=4096 NVRAR_TEST_QUICK=1 NVRAR_DEBUG=INFO timeout 120 \
      "$bin/test_allreduce" -g 1 > "$LOGS/memory.$loading.log" 2>&1
    printf '1 rank, %s: %s; %s\n' "$loading" "$(grep -ohE 'device module load took.*' "$LOGS/memory.$loading.log" | head -1)" \
      "$(grep -ohE 'NVSHMEM init took [0-9]+ MiB' "$LOGS/memory.$loading.log" | head -1)" | tee -a "$summary"
  done
  for w in cold warm; do
    NVRAR_DEBUG=INFO NVRAR_DEBUG_SUBSYS=INIT PYTHONPATH=python NVRAR_LIBRARY="$BUILD/lib/libnvrar.so" timeout 120 \
      python3 bench/init_memory_torch.py $w > "$LOGS/memory.torch.$w.log" 2>&1
    printf 'torch %s: %s; %s; %s\n' "$w" "$(grep -ohE 'device module load took [0-9]+ MiB' "$LOGS/memory.torch.$w.log" | head -1)" \
      "$(grep -ohE 'NVSHMEM init took [0-9]+ MiB' "$LOGS/memory.torch.$w.log" | head -1)" \
      "$(grep -ohE 'Communicator.. took [0-9]+ MiB.*|Error.*' "$LOGS/memory.torch.$w.log" | head -1)" | tee -a "$summary"
    # and at 2, 4, 8 ranks sharing the GPUs there are (per rank: the GPU's loss over its ranks)
    for n in 2 4 8; do
      NVRAR_SHARE_GPUS=1 PYTHONPATH=python NVRAR_LIBRARY="$BUILD/lib/libnvrar.so" timeout 180 \
        torchrun --nproc_per_node=$n bench/init_memory_torch.py $w > "$LOGS/memory.torch.$w.n$n.log" 2>&1
      printf 'torch %s, %d ranks: %s\n' "$w" "$n" \
        "$(grep -ohE 'Communicator.. took [0-9]+ MiB.*|Error.*' "$LOGS/memory.torch.$w.n$n.log" | head -1)" | tee -a "$summary"
    done
  done
}

if [ "$mode" = memory ]; then
  memory_table
  finish
fi

if [ "$mode" = maketest ]; then
  # The README's `make test` on a fresh build, which outlasts one 10-minute device call on one GPU
  # (the shared tier alone takes about 15 minutes): the first call starts it in the background in its own
  # session (MAKE_BUILD, default build-maketest: a fresh folder), every call waits up to WAIT_S
  # (default 540) printing where it is, and the call that sees it end prints ctest's summaries.
  # `maketest stop` ends a run that cannot finish (its whole process group, tests included). The run
  # lives on the machine: one given back between two calls (idle past its release time) loses it.
  dir=$LOGS/maketest
  mkdir -p "$dir"
  counts() { # how far it got: runs done, and those that failed
    echo "$(grep -cE '^ *[0-9]+/[0-9]+ Test +#' "$dir/make_test.log") tests done, $(grep -cE '^ *[0-9]+/[0-9]+ Test +#.*(Failed|Timeout|Exception)' "$dir/make_test.log") failed"
  }
  if [ "${2:-}" = stop ]; then
    [ -f "$dir/pid" ] && kill -TERM -- "-$(cat "$dir/pid")" 2> /dev/null && sleep 2 && kill -KILL -- "-$(cat "$dir/pid")" 2> /dev/null
    echo "make test stopped: $(counts)" | tee -a "$summary"
    cp "$dir/make_test.log" "$LOGS/"
    finish
  fi
  if [ ! -f "$dir/started" ]; then
    date +%s > "$dir/started"
    # bash's own pid is the new session's and process group's (setsid, nohup and env exec into it)
    setsid nohup env -u NVRAR_TIMEOUT bash -c "echo \$\$ > '$dir/pid'; make test BUILD=${MAKE_BUILD:-build-maketest} > '$dir/make_test.log' 2>&1; echo \$? > '$dir/rc'" \
      > /dev/null 2>&1 < /dev/null &
  fi
  t0=$SECONDS
  while [ ! -f "$dir/rc" ] && [ $((SECONDS - t0)) -lt "${WAIT_S:-540}" ]; do
    sleep 30
    echo "make test: $(( $(date +%s) - $(cat "$dir/started") )) s, $(counts); $(tail -1 "$dir/make_test.log" | cut -c1-100)"
  done
  if [ ! -f "$dir/rc" ]; then echo "make test still running: call again"; exit 0; fi
  echo "make test: rc $(cat "$dir/rc") after $(( $(stat -c %Y "$dir/rc") - $(cat "$dir/started") )) s" | tee -a "$summary"
  grep -E 'tests passed|Total Test time|passed in|skipped|FAILED|Failed' "$dir/make_test.log" | tee -a "$summary"
  cp "$dir/make_test.log" "$LOGS/"
  # every test's full output (ctest keeps it): init's device memory per test, from test_allreduce's line
  last=${MAKE_BUILD:-build-maketest}/Testing/Temporary/LastTest.log
  [ -f "$last" ] || last=$last.tmp
  [ -f "$last" ] && cp "$last" "$LOGS/" && awk '/^[0-9]+\/[0-9]+ Testing: /{t=$3} /device memory taken by init/{
      sub(/.*device memory taken by init/, "init"); print t ": " $0}' "$last" | grep -E 'allreduce\.auto|rmsnorm' | tee -a "$summary"
  [ "$(cat "$dir/rc")" = 0 ] || echo "FAIL(make test)" >> "$summary"
  finish
fi

if [ "$mode" = shared ]; then
  # SHARED_PART=k/m: every m-th run of the tier from the k-th (a device call has 10 minutes; the
  # tier may take more on one GPU: run it as 1/2 and 2/2 in two calls); SHARED_REGEX: only the runs
  # whose names match (ctest -R), e.g. 'lamport|pdl' after a change to those, and no timings after
  part=${SHARED_PART:-1/1}
  if [ -n "${SHARED_REGEX:-}" ]; then
    ctest_tier "shared tier, runs matching ${SHARED_REGEX}" -L shared -R "$SHARED_REGEX"
    finish
  fi
  ctest_tier "shared tier ${part%/*} of ${part#*/}" -L shared -I "${part%/*},,${part#*/}"
  [ "${part%/*}" = 1 ] || finish # the timings and memory once, with the first part
  run perf.graph.g1 240 "$bin/nvrar_perf" -g 1 -d bfloat16 -n 20 -w 5 -c 1 -G 20 -b 1K -e 64M -J "$LOGS/perf.graph.g1.json"
  memory_table
  finish
fi

if [ "$mode" = digest ]; then
  # the fixed digest corpus at 1-8 ranks and on the virtual layouts: $LOGS/digests.txt. With
  # BASELINE_SRC (the source tree of an earlier commit, e.g. a git worktree carried along) its
  # library and corpus are built too and run the same way: digests.base.txt, and the cases both ran
  # compared digest by digest.
  corpus() { # label, corpus program, then extra environment
    local label=$1 prog=$2 spec n gpn
    shift 2
    : > "$LOGS/digests$label.txt"
    for spec in ${DIGEST_SPECS:-1: 2: 3: 4: 5: 8: 4:2 4:1 8:4 8:2 6:2}; do
      n=${spec%%:*} gpn=${spec#*:}
      run "digest$label.n$n.${gpn:-all}" 600 env "$@" NVRAR_SHARE_GPUS=1 NVRAR_GPUS_PER_NODE=$gpn "$prog" -g "$n"
      # whole digest lines only: an older tree's ranks may write log lines into the same file
      grep -E '^[0-9]+ [0-9]+x[0-9]+ [^ ]+ [^ ]+ [^ ]+ [0-9]+ [a-z]+ [0-9a-f]{16}$' \
        "$LOGS/digest$label.n$n.${gpn:-all}.log" >> "$LOGS/digests$label.txt"
    done
    echo "digests$label: $(wc -l < "$LOGS/digests$label.txt") lines, sha256 $(sha256sum < "$LOGS/digests$label.txt" | cut -c1-16)" |
      tee -a "$summary"
    [ -s "$LOGS/digests$label.txt" ] || echo "digests$label: FAIL, the corpus wrote no digest" | tee -a "$summary"
  }
  corpus "" "$bin/digest_corpus"
  # the lamport pair must give one-shot's and two-shot's bits: their lines, named as those, against theirs
  for pair in lamport:oneshot lamport-twoshot:twoshot; do
    l=${pair%%:*} o=${pair#*:}
    grep -q " $l " "$LOGS/digests.txt" || continue
    grep " $l " "$LOGS/digests.txt" | sed "s/ $l / $o /" | sort > "$LOGS/$l.as.$o.txt"
    grep " $o " "$LOGS/digests.txt" | sort > "$LOGS/$o.lines.txt"
    odd=$(comm -23 "$LOGS/$l.as.$o.txt" "$LOGS/$o.lines.txt" | wc -l)
    echo "$l against $o: $(wc -l < "$LOGS/$l.as.$o.txt") lines, $odd differ" | tee -a "$summary"
    [ "$odd" = 0 ] || { echo "FAIL($l differs from $o)" >> "$summary"; comm -23 "$LOGS/$l.as.$o.txt" "$LOGS/$o.lines.txt" | head -5; }
  done
  if [ -n "${BASELINE_SRC:-}" ]; then
    # the older tree's own corpus program and library (the program may call functions only the newer
    # library has); a tree from before the corpus (2c8fc83) gets this tree's program against its library
    # (the corpus asks the table of algorithms only where the library has one: nvrar_algo_info is weak)
    targets="nvrar digest_corpus" prog="$BASELINE_SRC/build/bin/digest_corpus"
    if [ ! -f "$BASELINE_SRC/tests/mp/digest_corpus.c" ]; then
      targets=nvrar prog="$bin/digest_corpus"
      echo "digests.base: $BASELINE_SRC has no corpus; this tree's corpus against its library" | tee -a "$summary"
    fi
    { cmake -S "$BASELINE_SRC" -B "$BASELINE_SRC/build" -G Ninja && ninja -C "$BASELINE_SRC/build" $targets; } \
      > "$LOGS/baseline_build.log" 2>&1 || { tail -20 "$LOGS/baseline_build.log"; finish; }
    corpus .base "$prog" LD_LIBRARY_PATH="$(cd "$BASELINE_SRC/build/lib" && pwd):$LD_LIBRARY_PATH"
    # algorithms the baseline does not have (the lamport pair) are left out of the comparison
    grep -vE ' lamport(-twoshot)? ' "$LOGS/digests.txt" > "$LOGS/digests.common.txt"
    # a case is its line less the digest; cases one corpus has and the other lacks (the corpus grows)
    # are counted apart from the cases both ran whose digests differ
    compared=$(awk 'NR == FNR { d = $NF; $NF = ""; digest[$0] = d; next }
         { d = $NF; $NF = ""; if (!($0 in digest)) only++; else { both++; if (digest[$0] != d) { differ++; print "differs: " $0 } } }
         END { printf "digests against '"$BASELINE_SRC"': %d of %d common cases differ; %d cases only in this tree'"'"'s corpus\n",
               differ, both, only }' "$LOGS/digests.base.txt" "$LOGS/digests.common.txt")
    echo "$compared" | tail -21 | tee -a "$summary"
    echo "$compared" | grep -q '^differs: ' && echo "FAIL(digests differ from $BASELINE_SRC)" >> "$summary"
  fi
  [ -n "${OUT:-}" ] && cp "$LOGS"/digests*.txt "$OUT/"
  finish
fi

if [ "$mode" = sanitize ]; then
  # compute-sanitizer over every kernel family: 2 ranks (sharing the GPU when there is one), messages
  # to 4 KiB, a 60 s kernel timeout (the tools slow the spinning waits); SANITIZE="tool:suite:algo ..."
  # runs part of it. Suites: allreduce (test_allreduce), rmsnorm (the fused kernels), exchange.
  all=""
  for tool in memcheck racecheck synccheck; do
    for t in allreduce:oneshot allreduce:twoshot allreduce:ring allreduce:simple-ring allreduce:hier-rd \
             allreduce:hier-rhd allreduce:lamport allreduce:lamport-twoshot rmsnorm:auto exchange:auto; do
      all="$all $tool:$t"
    done
  done
  for entry in ${SANITIZE:-$all}; do
    IFS=: read -r tool suite algo <<< "$entry"
    gpn=""; case $algo:$suite in hier-*|*:exchange) gpn="NVRAR_GPUS_PER_NODE=1";; esac
    run "sanitize.$tool.$suite.$algo" 200 env NVRAR_SHARE_GPUS=1 NVRAR_TEST_MAX_BYTES=4096 NVRAR_TEST_QUICK=1 \
      NVRAR_TIMEOUT=60 NVRAR_ALGO=$algo $gpn compute-sanitizer --tool "$tool" --target-processes all --error-exitcode 9 \
      "$bin/test_$suite" -g 2
    grep -hE "(ERROR|RACECHECK) SUMMARY" "$LOGS/sanitize.$tool.$suite.$algo.log" | sort | uniq -c | sed 's/^/    /' | tee -a "$summary"
  done
  finish
fi

if [ "$mode" = sweep ]; then
  sweep() { # name ranks "ENV=..." args...
    local name=$1 n=$2 vars=$3
    shift 3
    env $vars timeout 120 "$bin/nvrar_perf" -g "$n" -d bfloat16 -n 20 -w 5 -c 1 -G 20 \
      -J "$LOGS/sweep.$name.json" "$@" > "$LOGS/sweep.$name.log" 2>&1 || echo "sweep $name failed: $(tail -3 "$LOGS/sweep.$name.log")"
  }
  if [ "${2:-}" = ring ]; then
    sweep "g4.ring.nccl" 4 "X=1" -A ring -b 16M -e 64M --compare nccl
    for entry in "base:$BUILD/lib:${SWEEP_SHAPES:-64x512,128x256,128x512}" ${SWEEP_LIBS:-}; do # name:libdir:BLOCKSxTHREADS,..
      IFS=: read -r name dir shapes <<< "$entry"
      dir=$(cd "$dir" && pwd)
      for shape in ${shapes//,/ }; do
        sweep "g4.ring.$name.b${shape%x*}.t${shape#*x}" 4 \
          "LD_LIBRARY_PATH=$dir:$LD_LIBRARY_PATH NVRAR_NUM_BLOCKS=${shape%x*} NVRAR_THREADS_PER_BLOCK=${shape#*x}" \
          -A ring -b 16M -e 64M
      done
    done
    python3 scripts/perf_table.py sweep "$LOGS"
    finish
  fi
  for t in 128 256 512; do sweep "g4.oneshot.t$t" 4 "NVRAR_THREADS_PER_BLOCK=$t" -A oneshot -b 1K -e 1M; done
  for b in 8 16 32 64; do sweep "g4.twoshot.b$b" 4 "NVRAR_NUM_BLOCKS=$b" -A twoshot -b 64K -e 64M; done
  sweep "g4.twoshot.t256" 4 "NVRAR_THREADS_PER_BLOCK=256" -A twoshot -b 64K -e 64M
  for t in 128 512; do sweep "g2.oneshot.t$t" 2 "NVRAR_THREADS_PER_BLOCK=$t" -A oneshot -b 1K -e 2M; done
  sweep "g2.twoshot.auto" 2 "X=1" -A twoshot -b 64K -e 64M
  python3 scripts/perf_table.py sweep "$LOGS"
  finish
fi

# pip_venv DIR: a fresh venv whose interpreter also sees this python3's packages (a venv made from a
# venv does not, even with --system-site-packages).
pip_venv() {
  rm -rf "$1" && python3 -m venv "$1" || return 1
  local site
  site=$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  python3 -c 'import sys; print("\n".join(p for p in sys.path if p.endswith("-packages")))' > "$site/image-packages.pth"
}

if [ "$mode" = fused ]; then
  # the fused all-reduce + residual add + RMSNorm through torch: on one rank against torch's add then
  # F.rms_norm, eager and compiled (bench/rmsnorm_torch.py: a real timing, one process on the GPU),
  # then bench/tp_decode.py at 2 and 4 ranks: timed on that many GPUs where there are, else with the
  # ranks sharing the GPU (none, nvrar and nvrar fused; agreement only, small shapes)
  export PYTHONPATH="$PWD/python" NVRAR_LIBRARY="$PWD/$BUILD/lib/libnvrar.so"
  run rmsnorm_torch.g1 300 torchrun --nproc_per_node=1 bench/rmsnorm_torch.py --out "$LOGS"
  cat "$LOGS/rmsnorm_torch.md" 2> /dev/null | tee -a "$summary"
  for n in 2 4; do
    if [ "$ngpu" -ge $n ]; then
      run "tp_decode.g$n" 500 torchrun --nproc_per_node=$n bench/tp_decode.py --out "$LOGS"
    else
      NVRAR_SHARE_GPUS=1 run "tp_decode.shared.n$n" 300 torchrun --nproc_per_node=$n bench/tp_decode.py \
        --modes none,nvrar,nvrar_fused --layers 2 --batches 1,8,32 --ctx 256 --out "$LOGS"
    fi
    cat "$LOGS/tp_decode_w$n.md" 2> /dev/null | tee -a "$summary"
  done
  finish
fi

if [ "$mode" = pdl ]; then
  # NVRAR_PDL=0 against 1 in the same run: the fused call on one rank (bench/rmsnorm_torch.py, 20 calls
  # back to back in a graph: one kernel after another), then nvrar_perf in graphs on 2 and 4 GPUs
  export PYTHONPATH="$PWD/python" NVRAR_LIBRARY="$PWD/$BUILD/lib/libnvrar.so"
  for p in 0 1; do
    NVRAR_PDL=$p run "rmsnorm_torch.pdl$p" 300 torchrun --nproc_per_node=1 bench/rmsnorm_torch.py --out "$LOGS/pdl$p"
    for n in 2 4; do
      [ "$ngpu" -ge $n ] && NVRAR_PDL=$p run "perf.graph.g$n.pdl$p" 240 "$bin/nvrar_perf" -g $n -d bfloat16 -n 20 -w 5 \
        -c 1 -G 20 -b 1K -e 64M -J "$LOGS/perf.graph.g$n.pdl$p.json"
    done
  done
  python3 - "$LOGS" << 'PY' | tee -a "$summary"
import json, os, sys
d = sys.argv[1]
def load(path):
    return json.load(open(path)) if os.path.exists(path) else None
a, b = load(f"{d}/pdl0/rmsnorm_torch.json"), load(f"{d}/pdl1/rmsnorm_torch.json")
if a and b:
    print("| rows | fused us, NVRAR_PDL=0 | NVRAR_PDL=1 |\n| ---: | ---: | ---: |")
    for r0, r1 in zip(a["rows"], b["rows"]):
        print(f"| {r0['rows']} | {r0['fused_us']:.2f} | {r1['fused_us']:.2f} |")
PY
  finish
fi

if [ "$mode" = python ]; then
  # pip offline with the image's scikit-build-core, cmake and ninja, into venvs that see the image's
  # packages (torch, the NVSHMEM wheel) through a .pth: `pip install --no-build-isolation .` and the
  # editable install with PIP_NO_BUILD_ISOLATION=0 (pip's env var is inverted: =0 turns isolation
  # off), each then checked on 2 GPUs from outside the source tree (torch_check names its library).
  for kind in wheel editable; do
    venv="$LOGS/venv.$kind"
    pip_venv "$venv"
    if [ $kind = wheel ]; then
      CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=90" run "pip.$kind" 420 "$venv/bin/pip" install --no-index --no-build-isolation -v .
    else
      PIP_NO_BUILD_ISOLATION=0 CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=90" run "pip.$kind" 420 "$venv/bin/pip" install --no-index -v -e .
    fi
    [ "$ngpu" -ge 2 ] && (cd "$LOGS" && run "torch.g2.pip.$kind" 240 "$venv/bin/python" -m torch.distributed.run \
      --nproc_per_node=2 "$OLDPWD/python/tests/gpu/torch_check.py")
  done
  grep -h "^torch_check: 2 ranks, " "$LOGS"/torch.g2.pip.*.log
  # the NCCL drop-in the wheel installed, loaded by path as vLLM and SGLang do
  dropin=$("$LOGS/venv.wheel/bin/python" -c "import nvrar; print(nvrar.nccl_library_path() or '')" 2>/dev/null)
  echo "installed drop-in: ${dropin:-none}"
  [ -n "$dropin" ] && [ "$ngpu" -ge 2 ] && NVRAR_DEBUG=INFO run "nccl.ctypes.pip.wheel" 240 "$LOGS/venv.wheel/bin/python" \
    -m torch.distributed.run --nproc_per_node=2 python/tests/gpu/nccl_ctypes_check.py "$dropin"
  export PYTHONPATH="$PWD/python" NVRAR_LIBRARY="$PWD/$BUILD/lib/libnvrar.so"
  for n in 2 4; do
    [ "$ngpu" -ge $n ] && run "torch.g$n" 240 torchrun --nproc_per_node=$n python/tests/gpu/torch_check.py
  done
  cache="$LOGS/cache"
  rm -rf "$cache"
  [ "$ngpu" -ge 4 ] && NVRAR_CACHE_DIR="$cache" run "tune.size" 240 torchrun --nproc_per_node=4 \
    tuning/benchmark_tune_allreduce_preallocated.py --size 1048576 --dtype float32 --num-blocks 4,8,16,32 \
    --threads-per-block 128,256,512 --chunk-bytes 16384,32768,65536,131072,262144 --iterations 50 --warmup 10 --topk 10
  [ "$ngpu" -ge 4 ] && NVRAR_CACHE_DIR="$cache" run "tune.sizes" 240 torchrun --nproc_per_node=4 -m nvrar.tune \
    --sizes 64KiB,1MiB,8MiB --dtype float32 --num-blocks 8,32,64 --threads-per-block 256,512 \
    --output "$LOGS/tune_results.json"
  # the C library reads the tuned file the tuner wrote (its INFO line names it) and runs with it
  [ "$ngpu" -ge 4 ] && NVRAR_CACHE_DIR="$cache" NVRAR_DEBUG=INFO run "tune.read_by_c" 120 "$bin/test_allreduce" -g 4
  [ "$ngpu" -ge 4 ] && grep -m1 "tuned file" "$LOGS/tune.read_by_c.log"
  if [ "$ngpu" -ge 4 ]; then
    run "perf.graph.g4.python_ref" 240 "$bin/nvrar_perf" -g 4 -d bfloat16 -n 20 -w 5 -c 1 -G 20 -b 1K -e 64M \
      -J "$LOGS/perf.graph.g4.python_ref.json"
    run "compare_torch.g4" 300 torchrun --nproc_per_node=4 bench/compare_torch.py --out "$LOGS" \
      --nvrar-perf "$LOGS/perf.graph.g4.python_ref.json"
    tail -30 "$LOGS/compare_torch.g4.log" | grep -E "^\||^Host|^bf16"
  fi
  # the decode step of Llama-shaped layers with each all-reduce (bench/tp_decode.py), on 2 and 4 GPUs
  for n in 2 4; do
    [ "$ngpu" -ge $n ] || continue
    run "tp_decode.g$n" 500 torchrun --nproc_per_node=$n bench/tp_decode.py --out "$LOGS"
    cat "$LOGS/tp_decode_w$n.md" 2>/dev/null
  done
  finish
fi

nccl_suite() { # the NCCL drop-in: correctness on 2 and 4 GPUs, then torch's all-reduce with and without it
  local n
  for n in 2 4; do
    [ "$ngpu" -ge $n ] || continue
    run "nccl.g$n" 300 sh tests/nccl_dropin.sh $n "$BUILD" "$LOGS/nccl.g$n"
    run "nccl.torch.g$n" 400 sh tests/torch_dropin.sh $n . "$BUILD" "$LOGS/nccl.torch.g$n"
  done
  n=$([ "$ngpu" -ge 4 ] && echo 4 || echo 2)
  run "bench.nccl.g$n" 300 torchrun --nproc_per_node=$n bench/dropin_torch.py --label nccl --out "$LOGS"
  LD_PRELOAD="$PWD/$BUILD/lib/libnvrar_nccl.so" run "bench.dropin.g$n" 300 torchrun --nproc_per_node=$n \
    bench/dropin_torch.py --label dropin --out "$LOGS"
  python3 bench/dropin_torch.py --table "$LOGS/dropin_torch_nccl_w$n.json" "$LOGS/dropin_torch_dropin_w$n.json" |
    tee "$LOGS/dropin_torch_w$n.md"
}

if [ "$mode" = nccl ]; then
  NVRAR_TEST_MISSING=destroy run "timeout.destroy.g2" 60 "$bin/test_timeout" -g 2
  nccl_suite
  finish
fi

ring_algos="ring simple-ring hier-rd hier-rhd"
algos_suite() { # tests and tables of the put-with-signal algorithms (ALGOS_ONE_NODE=0: virtual layouts only)
  local n layout algo ns="2 4"
  [ "${ALGOS_ONE_NODE:-1}" = 0 ] && ns=""
  # their tests, from the one matrix of tests/CMakeLists.txt: on the GPUs, or only the virtual layouts
  local only='\.(ring|simple-ring|hier-rd|hier-rhd)\.g[24]$|exchange|timeout\.(ring|hier-rd)'
  [ -n "$ns" ] || only='\.v[12]$'
  NVRAR_TEST_REPLAYS=${NVRAR_TEST_REPLAYS:-20000} ctest_tier "tests.algos" -L gpu -R "$only|\.v[12]$"
  [ "$ngpu" -ge 4 ] || return 0
  NVRAR_GPUS_PER_NODE=2 NVRAR_MEMORY_BYTES=512MiB run "perf.exchange.v2" 240 "$bin/nvrar_perf" -g 4 -o exchange -b 8 -e 64M -n 20 -w 5
  [ -n "$ns" ] && for algo in $ring_algos; do
    run "perf.graph.g4.$algo" 240 "$bin/nvrar_perf" -g 4 -d bfloat16 -n 20 -w 5 -c 1 --compare nccl -G 20 -b 1K -e 64M \
      -A $algo -J "$LOGS/perf.graph.g4.$algo.json"
  done
  for layout in 2 1; do
    for algo in auto $ring_algos; do
      NVRAR_GPUS_PER_NODE=$layout run "perf.graph.v$layout.$algo" 240 "$bin/nvrar_perf" -g 4 -d bfloat16 -n 20 -w 5 -c 1 \
        --compare nccl -G 20 -b 1K -e 64M -A $algo -J "$LOGS/perf.graph.v$layout.$algo.json"
    done
    # hier-rd without its flag-in-data cells between nodes: what the cells are worth
    NVRAR_GPUS_PER_NODE=$layout NVRAR_HIER_LL_BYTES=0 run "perf.graph.v$layout.hier-rd-signals" 240 "$bin/nvrar_perf" -g 4 \
      -d bfloat16 -n 20 -w 5 -c 1 --compare nccl -G 20 -b 1K -e 1M -A hier-rd -J "$LOGS/perf.graph.v$layout.hier-rd-signals.json"
  done
}

if [ "$mode" = algos ]; then
  algos_suite
  echo
  echo "== forced algorithms on 4 GPUs and the 2x2 and 4x1 virtual layouts vs NCCL, bf16, graph, us per call"
  python3 scripts/perf_table.py algos "$LOGS"
  finish
fi

if [ "$mode" != bench ]; then
  # every GPU test of tests/CMakeLists.txt (the one matrix; those that need more GPUs skip), then the
  # shared tier where it adds ranks beyond the GPUs
  replays=${NVRAR_TEST_REPLAYS:-100000}
  [ "$mode" = quick ] && replays=${NVRAR_TEST_REPLAYS:-5000}
  NVRAR_TEST_REPLAYS=$replays ctest_tier "tests.gpu" -L gpu
  [ "$mode" = full ] && ctest_tier "shared tier" -L shared
fi

if [ "$mode" != tests ]; then
  perf() { # name ranks args...
    local name=$1 n=$2
    shift 2
    [ "$ngpu" -ge "$n" ] || return 0
    run "perf.$name" 240 "$bin/nvrar_perf" -g "$n" -d bfloat16 -n 20 -w 5 -c 1 --compare nccl -J "$LOGS/perf.$name.json" "$@"
  }
  perf graph.g4 4 -b 1K -e 64M -G 20
  perf eager.g4 4 -b 1K -e 64M
  perf graph.g2 2 -b 1K -e 64M -G 20
  perf eager.g2 2 -b 1K -e 64M
  if [ "$mode" = full ] || [ "$mode" = bench ]; then
    perf graph.g4.oneshot 4 -b 1K -e 4M -G 20 -A oneshot
    perf graph.g4.twoshot 4 -b 1K -e 4M -G 20 -A twoshot
    perf graph.g2.oneshot 2 -b 1K -e 4M -G 20 -A oneshot
    perf graph.g2.twoshot 2 -b 1K -e 4M -G 20 -A twoshot
    perf graph.g4.lamport 4 -b 1K -e 4M -G 20 -A lamport  # against one-shot, rows above: decides AUTO's use
    perf graph.g2.lamport 2 -b 1K -e 4M -G 20 -A lamport
    perf graph.g4.lamport-twoshot 4 -b 1K -e 4M -G 20 -A lamport-twoshot  # against two-shot
    perf graph.g2.lamport-twoshot 2 -b 1K -e 4M -G 20 -A lamport-twoshot
  fi
  echo
  echo "== nvrar vs NCCL, bf16, out-of-place, us per call (nvrar / nccl / speed-up)"
  python3 scripts/perf_table.py compare "$LOGS"
fi
if [ "$mode" = full ]; then
  nccl_suite
  algos_suite
  echo
  echo "== forced algorithms on 4 GPUs and the 2x2 and 4x1 virtual layouts vs NCCL, bf16, graph, us per call"
  python3 scripts/perf_table.py algos "$LOGS"
fi
finish
