#!/bin/sh
# The NCCL drop-in on N GPUs: test_nccl_allreduce (a program linked with -lnccl) against the real
# NCCL, then under LD_PRELOAD=libnvrar_nccl.so (NVRAR_DEBUG=INFO: the log must show nvrar serving),
# then through LD_LIBRARY_PATH=lib/nccl with the real NCCL found by the drop-in's own search; every
# result of the three runs must be bitwise equal. Exit 0 pass, 1 fail, 77 skipped.
#   usage: nccl_dropin.sh N BUILD_DIR [LOG_DIR]
n=$1 build=$(cd "$2" && pwd) logs=${3:-$(mktemp -d)}
mkdir -p "$logs"
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
test=$build/bin/test_nccl_allreduce
# The real NCCL: NVRAR_NCCL_LIBRARY, else python3's nvidia-nccl wheel, else the loader's search.
real=${NVRAR_NCCL_LIBRARY:-$(python3 -c "import nvidia.nccl as m; print(list(m.__path__)[0] + '/lib/libnccl.so.2')" 2>/dev/null)}
[ -n "$real" ] && [ -f "$real" ] && export LD_LIBRARY_PATH="$(dirname "$real"):${LD_LIBRARY_PATH:-}"

status=0
run() { # name, then env assignments and the command
  name=$1
  shift
  env "$@" > "$logs/nccl.$name.log" 2>&1
  rc=$?
  grep -E "^(test_nccl_allreduce|SKIP)" "$logs/nccl.$name.log" | sed "s/^/  $name: /"
  grep -h "host time per" "$logs/nccl.$name.log" | sed "s/^/  $name: /"
  [ $rc -eq 77 ] && { cat "$logs/nccl.$name.log"; exit 77; }
  [ $rc -eq 0 ] || { echo "  $name failed (rc $rc):"; grep -v "^nvrar INFO" "$logs/nccl.$name.log" | tail -20; status=1; }
}
run plain "$test" -g "$n" --digests "$logs/digests.plain"
run preload LD_PRELOAD="$build/lib/libnvrar_nccl.so" NVRAR_DEBUG=INFO "$test" -g "$n" --digests "$logs/digests.preload"
run libpath NVRAR_NCCL_LIBRARY= LD_LIBRARY_PATH="$build/lib/nccl:$LD_LIBRARY_PATH" NVRAR_DEBUG=INFO \
  "$test" -g "$n" --digests "$logs/digests.libpath"

# nvrar served (the log's first-call lines), and which calls went to NCCL
log=$logs/nccl.preload.log
served=$(grep -c "all-reduces served by nvrar" "$log")
echo "  preload log: $served communicators served by nvrar; $(grep -m1 -o 'forwarding to NCCL [0-9]* at [^ ]*' "$log")"
grep -q "served by nvrar (first such call)" "$log" || { echo "  no all-reduce served by nvrar"; status=1; }
grep -q "forwarded to NCCL: the dtype is not" "$log" || { echo "  no all-reduce forwarded for its dtype"; status=1; }
grep -o "every call goes to NCCL: .*" "$log" | sort | uniq -c | sed 's/^/  /'
grep -q "forwarding to NCCL [0-9]* at .*nvidia/nccl" "$logs/nccl.libpath.log" ||
  { echo "  the libpath run did not find the wheel's NCCL by itself"; status=1; }
[ "$served" -ge "$n" ] || { echo "  expected at least $n served communicators"; status=1; }

for r in $(seq 0 $((n - 1))); do
  for mode in preload libpath; do
    if ! cmp -s "$logs/digests.plain.rank$r" "$logs/digests.$mode.rank$r"; then
      echo "  rank $r: $mode results differ from NCCL's:"
      diff "$logs/digests.plain.rank$r" "$logs/digests.$mode.rank$r" | head -10
      status=1
    fi
  done
done
[ $status -eq 0 ] && echo "nccl_dropin: $n ranks: $(wc -l < "$logs/digests.plain.rank0") results per rank bitwise equal to NCCL's under LD_PRELOAD and LD_LIBRARY_PATH"
exit $status
