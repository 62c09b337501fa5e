#!/bin/sh
# ctest wrapper of python/tests/gpu/torch_check.py: torchrun on N GPUs, or skip (77) with the reason
# when torch or N GPUs are missing (with NVRAR_SHARE_GPUS=1: any GPU).   usage: torch_gpu.sh N SOURCE_DIR LIBNVRAR
n=$1 src=$2 lib=$3
python3 -c "import torch" 2>/dev/null || { echo "SKIP: torch is not installed"; exit 77; }
have=$(python3 -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
if [ "${NVRAR_SHARE_GPUS:-0}" = 1 ]; then  # ranks share the GPUs there are; the reference runs over gloo
  [ "$have" -ge 1 ] || { echo "SKIP: needs a GPU, none visible"; exit 77; }
else
  [ "$have" -ge "$n" ] || { echo "SKIP: needs $n GPUs, $have visible (NVRAR_SHARE_GPUS=1 shares them)"; exit 77; }
fi
PYTHONPATH="$src/python" NVRAR_LIBRARY="$lib" exec torchrun --nproc_per_node="$n" "$src/python/tests/gpu/torch_check.py"
