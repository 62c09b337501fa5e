#!/usr/bin/env bash
# Lab: one device call of experiments that are not tests (their findings go to docs/design.md and
# bench/results/): where the device module's memory goes, what it grows with, the shared tier's
# one-shot and two-shot suites under CUDA MPS, a deliberately broken one-shot fold against the
# tier, and what a module that calls printf costs. Usage (GPU machine, repository root):
# OUT=dir bash dev/probe.sh [memory] [codesize] [printf] [mps] [broken]
# (compute-sanitizer and nvrar under torch: scripts/gpu_check.sh sanitize and memory)
set -uo pipefail
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/nvrar-probe}; mkdir -p "$OUT"
S=$OUT/summary.txt; : > "$S"
nvshmem=$(python3 -c "import nvidia.nvshmem as m; print(list(m.__path__)[0])")
export LD_LIBRARY_PATH="$nvshmem/lib:$PWD/build/lib:${LD_LIBRARY_PATH:-}"
cuda=$(dirname "$(dirname "$(command -v nvcc)")")
t0=$SECONDS
# memory and mps use the tree's own build (printf uses it when there); codesize and
# broken build what they need
if [[ " $* " =~ \ (memory|mps)\  ]] && [ ! -x build/bin/test_allreduce ]; then
  { cmake -S . -B build -G Ninja && ninja -C build; } > "$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
fi
echo "build: $((SECONDS - t0)) s" >> "$S"
# $OUT/mm: dev/module_memory.c
build_mm() { cc -O2 dev/module_memory.c -I"$cuda/include" -L"$cuda/lib64/stubs" -lcuda -o "$OUT/mm"; }
# $OUT/NAME.cubin: the device code of BUILD_DIR/lib/libnvrar.so
nvrar_cubin() { (cd "$OUT" && cuobjdump -xelf all "$OLDPWD/$1/lib/libnvrar.so" > /dev/null && mv libnvrar*.cubin "$2.cubin"); }
# build-probe/codeV.cubin unless carried: V is N (N small kernels, dev/code_size.py), Np (beside one
# that calls printf) or Ns (that, linked with dev/vprintf_stub.ptx: no vprintf import left)
code_cubin() {
  local v=$1 n=${1%[ps]} c=build-probe/code$1.cubin
  [ -f "$c" ] && return 0
  mkdir -p build-probe && python3 dev/code_size.py "$n" $([ "$n" != "$v" ] && echo --printf) > "$OUT/c$v.cu" || return 1
  if [ "${v: -1}" = s ]; then
    nvcc -arch=sm_90 -rdc=true -c "$OUT/c$v.cu" -o "$OUT/c$v.o" && nvcc -arch=sm_90 -rdc=true -c dev/vprintf_stub.ptx -o "$OUT/stub.o" &&
      nvcc -arch=sm_90 -dlink -cubin "$OUT/c$v.o" "$OUT/stub.o" -o "$c"
  else
    nvcc -cubin -arch=sm_90 "$OUT/c$v.cu" -o "$c"
  fi
}
for what in "$@"; do
  t=$SECONDS
  case $what in
  memory)
    build_mm && nvcc -cubin -arch=sm_90 dev/lmem_kernels.cu -o "$OUT/k.cubin" && nvrar_cubin build nvrar
    K=$OUT/k.cubin N=$OUT/nvrar.cubin
    anchor=_Z19nvrar_module_anchorv ring=_ZN5nvrar11ring_kernelIfLi0EEEv17nvrar_kernel_args
    {
      echo "== A: small kernels, lazy"; "$OUT/mm" load:$K launch:k_none launch:k_local128 launch:k_local352 launch:k_local1024 launch:k_local4096
      echo "== D: small kernels, function loaded, not launched"; "$OUT/mm" load:$K fn:k_local4096 launch:k_none
      echo "== B: libnvrar's cubin, lazy"; "$OUT/mm" load:$N fn:$anchor fn:$ring load:$K launch:k_local352 launch:k_local1024
      echo "== C: libnvrar's cubin, eager"; CUDA_MODULE_LOADING=EAGER "$OUT/mm" load:$N fn:$anchor load:$K launch:k_none launch:k_local352
      echo "== E: stack limit 0 first"; "$OUT/mm" limit:0 load:$N fn:$anchor fn:$ring load:$K launch:k_none
      echo "== F: small kernels' local memory first"; "$OUT/mm" load:$K launch:k_local1024 load:$N fn:$anchor fn:$ring
    } > "$OUT/memory.log" 2>&1
    cat "$OUT/memory.log" >> "$S";;
  codesize)
    # cubins of 25-1600 small kernels, and 100 of them beside one kernel that calls printf
    # (dev/code_size.py; build-probe/code*.cubin when carried, else built here), each loaded eagerly in
    # a fresh context (lazily, cuModuleLoad loads no code: the first probe, 2026-12-07, read 0 MiB for
    # all): what the driver's module memory grows with. Eager, 1x H100, 2026-12-07: 0 / 2 / 4 / 18 MiB
    # for 0.25 / 1.0 / 3.9 / 15.6 MB of code.
    for v in 25 100 400 1600 100p; do code_cubin $v; done
    build_mm
    for c in $(ls build-probe/code*.cubin | sort -V); do
      echo "$(basename "$c") $(stat -c %s "$c") B, eager: $(CUDA_MODULE_LOADING=EAGER "$OUT/mm" load:$c | awk '/^load:/{print $2}') MiB" >> "$S"
    done;;
  printf)
    # A module that imports vprintf costs the driver 64 MiB, once per context (codesize: 66.0 against
    # 2.0 MiB). Lowering the printf FIFO or the malloc heap limit first changed nothing, and the same
    # kernels linked with a vprintf that prints nothing (vprintf_stub.ptx) took 4 MiB (1x H100,
    # 2026-12-07 #3). libnvrar linked with such a stub loaded in 26 MiB instead of 88, yet init took the
    # same at 1-8 ranks: NVSHMEM's host library holds a module of its own that imports vprintf too.
    # Here: each cubin alone, then NVSHMEM's and libnvrar's in one context, in both orders.
    code_cubin 100p; code_cubin 100s  # the second: the first linked with the stub
    build_mm
    cubins="build-probe/code100p.cubin build-probe/code100s.cubin"
    [ -f build/lib/libnvrar.so ] && nvrar_cubin build nvrar && cubins="$cubins $OUT/nvrar.cubin"
    (cd "$OUT" && cuobjdump -xelf all "$(ls "$nvshmem"/lib/libnvshmem_host.so* | head -1)" > /dev/null) &&
      mv "$(ls "$OUT"/libnvshmem_host*sm_90*.cubin | head -1)" "$OUT/nvshmem_host.cubin" && rm -f "$OUT"/libnvshmem_host*.cubin &&
      cubins="$cubins $OUT/nvshmem_host.cubin"
    for c in $cubins; do
      echo "== $(basename "$c"), eager: $(CUDA_MODULE_LOADING=EAGER "$OUT/mm" load:$c | awk '/^load:/{print $2}') MiB" >> "$S"
    done
    if [ -f "$OUT/nvrar.cubin" ] && [ -f "$OUT/nvshmem_host.cubin" ]; then
      echo "== NVSHMEM's module, then libnvrar's (eager)" >> "$S"
      CUDA_MODULE_LOADING=EAGER "$OUT/mm" load:$OUT/nvshmem_host.cubin load:$OUT/nvrar.cubin >> "$S" 2>&1
      echo "== libnvrar's, then NVSHMEM's (eager)" >> "$S"
      CUDA_MODULE_LOADING=EAGER "$OUT/mm" load:$OUT/nvrar.cubin load:$OUT/nvshmem_host.cubin >> "$S" 2>&1
    fi;;
  mps)
    export CUDA_MPS_PIPE_DIRECTORY=/tmp/nvrar-mps/pipe CUDA_MPS_LOG_DIRECTORY=/tmp/nvrar-mps/log
    mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY
    nvidia-cuda-mps-control -d && echo "mps daemon started" >> "$S"
    for n in 2 4 8; do
      CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=$((100 / n)) timeout 200 ctest --test-dir build -L shared \
        -R "^shared\.allreduce\.(oneshot|twoshot)\.n$n\$" --timeout 90 > "$OUT/mps.n$n.log" 2>&1
      echo "MPS, $n ranks at $((100 / n))% each: $(grep -E 'Passed|Failed|Timeout|tests passed' "$OUT/mps.n$n.log" | sed 's/  */ /g' | tr '\n' ';')" >> "$S"
    done
    echo quit | nvidia-cuda-mps-control; sleep 2
    pgrep -f nvidia-cuda-mps >/dev/null && echo "MPS still running" >> "$S" || echo "mps daemon stopped" >> "$S"
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY;;
  broken)
    rm -rf /tmp/broken && mkdir /tmp/broken && tar -c --exclude=./build --exclude='./build-*' --exclude=./.baseline . | tar -x -C /tmp/broken
    sed -i 's/^        fold<T, OP>(acc, v, r == 0);/        if (NRANKS < 5 || r != NRANKS - 1) fold<T, OP>(acc, v, r == 0);/' \
      /tmp/broken/src/device/ar_oneshot.cu
    diff -u src/device/ar_oneshot.cu /tmp/broken/src/device/ar_oneshot.cu > "$OUT/broken.diff"
    { cmake -S /tmp/broken -B /tmp/broken/build -G Ninja && ninja -C /tmp/broken/build test_allreduce; } > "$OUT/broken.build.log" 2>&1
    LD_LIBRARY_PATH="$nvshmem/lib:/tmp/broken/build/lib" timeout 240 ctest --test-dir /tmp/broken/build -L shared \
      -R '^shared\.allreduce\.oneshot\.n[2-8]$' > "$OUT/broken.log" 2>&1
    echo "broken one-shot (last rank not folded at 5-8 ranks), $(grep -c '^+ ' "$OUT/broken.diff") changed line(s):" >> "$S"
    grep -E 'Passed|Failed|tests passed' "$OUT/broken.log" | sed 's/  */ /g' >> "$S";;
  esac
  echo "($what: $((SECONDS - t)) s)" >> "$S"
done
cat "$S"
