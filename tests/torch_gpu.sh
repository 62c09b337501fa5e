#!/bin/sh
# ctest wrapper of python/tests/gpu/torch_check.py: torchrun on N GPUs, or skip (77) with the reason
# when torch or N GPUs are missing.   usage: torch_gpu.sh N SOURCE_DIR LIBNVRAR
n=$1 src=$2 lib=$3
python3 -c "import torch" 2>/dev/null || { echo "SKIP: torch is not installed"; exit 77; }
have=$(python3 -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
[ "$have" -ge "$n" ] || { echo "SKIP: needs $n GPUs, $have visible"; exit 77; }
PYTHONPATH="$src/python" NVRAR_LIBRARY="$lib" exec torchrun --nproc_per_node="$n" "$src/python/tests/gpu/torch_check.py"
