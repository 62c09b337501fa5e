#!/bin/sh
# The NCCL drop-in exports every function nccl.h declares (and its pnccl profiling name), and nothing
# but NCCL's names.   usage: check_nccl_exports.sh NCCL_H LIBNVRAR_NCCL
set -eu
header=$(mktemp) exported=$(mktemp)
trap 'rm -f "$header" "$exported"' EXIT
grep -oE '^[[:space:]]*(ncclResult_t|const char[[:space:]]*\*|void)[[:space:]]+p?nccl[A-Za-z]+\(' "$1" |
  grep -oE 'p?nccl[A-Za-z]+\($' | tr -d '(' | sort -u > "$header"
nm -D --defined-only "$2" | awk '$2 == "T" || $2 == "W" || $2 == "i" { print $3 }' | sort -u > "$exported"
[ "$(wc -l < "$header")" -gt 60 ] || { echo "only $(wc -l < "$header") functions found in $1"; exit 1; }
missing=$(comm -23 "$header" "$exported")
extra=$(comm -13 "$header" "$exported")
[ -z "$missing" ] || { echo "nccl.h functions the drop-in does not export:"; echo "$missing"; exit 1; }
[ -z "$extra" ] || { echo "the drop-in exports names nccl.h does not declare:"; echo "$extra"; exit 1; }
echo "nccl exports: all $(wc -l < "$header") functions of $1 exported, nothing else"
