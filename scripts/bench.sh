#!/usr/bin/env bash
# The main job: nvrar_perf on every local GPU against NCCL, bf16, 1 KiB - 64 MiB, CUDA graph and
# eager, results checked bitwise. Writes bench/out/perf.{graph,eager}.json and, with matplotlib,
# bench/out/latency.png. Run through `make bench` (which builds first).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
out=bench/out
# Multicast stays off unless the user decided otherwise (the shared GPU machines require it).
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0} NVSHMEM_DISABLE_NVLS=${NVSHMEM_DISABLE_NVLS:-1}
export TORCH_SYMM_MEM_DISABLE_MULTICAST=${TORCH_SYMM_MEM_DISABLE_MULTICAST:-1}

ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ "${ngpu:-0}" -eq 0 ]; then
  echo "nvrar bench: no NVIDIA GPU is visible on this machine, so there is nothing to measure."
  echo "The library and tools are built in $BUILD; 'make test' runs the CPU tests here."
  exit 0
fi
if [ "$ngpu" -eq 1 ]; then
  echo "nvrar bench: one GPU only; an all-reduce over one rank is a copy. Measuring it anyway."
fi
# NCCL for --compare: NVRAR_NCCL_LIBRARY, else python3's nvidia-nccl wheel, else the build's default.
if [ -z "${NVRAR_NCCL_LIBRARY:-}" ]; then
  nccl_dir=$(python3 -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null) &&
    [ -f "$nccl_dir/lib/libnccl.so.2" ] && export NVRAR_NCCL_LIBRARY="$nccl_dir/lib/libnccl.so.2"
fi
mkdir -p "$out"
status=0
for mode in graph eager; do
  graph_flag=""
  [ $mode = graph ] && graph_flag="-G 20"
  echo "== nvrar_perf on $ngpu GPUs, $mode mode, against NCCL"
  "$BUILD/bin/nvrar_perf" -g "$ngpu" -d bfloat16 -b 1K -e 64M -n 20 -w 5 -c 1 $graph_flag --compare nccl \
    -J "$out/perf.$mode.json" | tee "$out/perf.$mode.log" || status=1
done
if python3 -c 'import matplotlib' 2>/dev/null; then
  python3 bench/plot.py -o "$out/latency.png" "$out/perf.graph.json" "$out/perf.eager.json"
else
  echo "(pip install matplotlib for the plot: python3 bench/plot.py -o $out/latency.png $out/perf.*.json)"
fi
exit $status
