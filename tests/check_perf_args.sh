#!/bin/sh
# nvrar_perf refuses bad flags with exit 2 and a message, before looking for GPUs.
# usage: check_perf_args.sh NVRAR_PERF
set -u
perf=$1
fail=0
expect_2() {
  msg=$("$perf" "$@" 2>&1)
  rc=$?
  if [ $rc -ne 2 ] || [ -z "$msg" ]; then echo "nvrar_perf $*: exit $rc, expected 2 with a message"; fail=1; fi
}
expect_2 -b 2X
expect_2 -e lots
expect_2 -b 1M -e 1K
expect_2 -d int8
expect_2 -o prod
expect_2 -A tree
expect_2 -o exchange2
expect_2 --compare mpi
expect_2 -n 0
expect_2 -n 5x
expect_2 -w abc
expect_2 -w -1
expect_2 -c 2
expect_2 -G -3
expect_2 -g 0
expect_2 -g two
expect_2 -a 7
expect_2 -f 1
expect_2 -f fast
"$perf" -b 1M -e 1K 2>&1 | grep -q "below -b" || { echo "nvrar_perf -b 1M -e 1K does not say why"; fail=1; }
expect_2 stray
"$perf" --help | grep -q -- "--compare nccl" || { echo "nvrar_perf --help lacks --compare"; fail=1; }
"$perf" --model | grep -q "hier-rd" || { echo "nvrar_perf --model lacks the model table"; fail=1; }
[ $fail -eq 0 ] && echo "nvrar_perf argument errors: ok"
exit $fail
