#!/bin/sh
# The NCCL drop-in under PyTorch on N GPUs: torch_dropin_check.py with and without
# LD_PRELOAD=libnvrar_nccl.so (results bitwise equal, the log showing nvrar serving), then
# nccl_ctypes_check.py loading the drop-in by path as vLLM and SGLang do. Exit 0, 1, or 77 (skipped).
#   usage: torch_dropin.sh N SOURCE_DIR BUILD_DIR [LOG_DIR]
n=$1 src=$(cd "$2" && pwd) build=$(cd "$3" && pwd) logs=${4:-$(mktemp -d)}
mkdir -p "$logs"
python3 -c "import torch" 2>/dev/null || { echo "SKIP: torch is not installed"; exit 77; }
have=$(python3 -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
[ "$have" -ge "$n" ] || { echo "SKIP: needs $n GPUs, $have visible"; exit 77; }
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 PYTHONUNBUFFERED=1
lib=$build/lib/libnvrar_nccl.so
status=0
run() { # name, then env assignments and the command; the log is $logs/NAME.log
  name=$1
  shift
  env "$@" > "$logs/$name.log" 2>&1 || { echo "  $name failed:"; grep -v "^nvrar INFO" "$logs/$name.log" | tail -20; status=1; }
  grep -E "^(torch_dropin_check|nccl_ctypes_check):" "$logs/$name.log" | sed "s/^/  $name: /"
}
check="$src/python/tests/gpu/torch_dropin_check.py"
run torch.plain torchrun --nproc_per_node="$n" "$check" --digests "$logs/torch.plain"
run torch.preload LD_PRELOAD="$lib" NVRAR_DEBUG=INFO torchrun --nproc_per_node="$n" "$check" --digests "$logs/torch.preload"
for r in $(seq 0 $((n - 1))); do
  cmp -s "$logs/torch.plain.rank$r" "$logs/torch.preload.rank$r" ||
    { echo "  rank $r: results under LD_PRELOAD differ from NCCL's:"; diff "$logs/torch.plain.rank$r" "$logs/torch.preload.rank$r" | head; status=1; }
done
log=$logs/torch.preload.log
echo "  under LD_PRELOAD: $(grep -c 'all-reduces served by nvrar' "$log") communicator(s) served by nvrar, created by" \
  "$(grep -o '^nvrar INFO.* \(ncclComm[A-Za-z]*\): comm' "$log" | grep -o 'ncclComm[A-Za-z]*' | sort | uniq -c | tr -s ' \n' ' ')"
grep -o "every call goes to NCCL: .*" "$log" | sort | uniq -c | sed 's/^/  /'
grep -o "ncclAllReduce of [0-9]* x [a-z0-9]* [a-z]* served by nvrar" "$log" | head -1 | sed 's/^/  first served: /'
grep -o "[a-zA-Z]* forwarded to NCCL (nvrar serves all-reduce only" "$log" | sort -u | sed 's/ (.*//; s/^/  also forwarded: /'
grep -q "served by nvrar (first such call)" "$log" || { echo "  no all-reduce was served by nvrar under LD_PRELOAD"; status=1; }
[ $status -eq 0 ] && echo "torch_dropin: $n ranks: $(wc -l < "$logs/torch.plain.rank0") results per rank bitwise equal with and without LD_PRELOAD"

run ctypes NVRAR_DEBUG=INFO torchrun --nproc_per_node="$n" "$src/python/tests/gpu/nccl_ctypes_check.py" "$lib"
grep -q "served by nvrar (first such call)" "$logs/ctypes.log" || { echo "  ctypes: nvrar served nothing"; status=1; }
exit $status
