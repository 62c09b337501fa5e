#!/bin/sh
# The environment table of docs/env.md and README.md is generated from src/env_table.h by
# `nvrar_perf --env`; fail when either has drifted from it.   usage: check_env_doc.sh NVRAR_PERF SOURCE_DIR
set -eu
table=$(mktemp)
trap 'rm -f "$table"' EXIT
"$1" --env > "$table"
diff -u "$2/docs/env.md" "$table"
while IFS= read -r line; do
  grep -qxF -- "$line" "$2/README.md" || { echo "README.md lacks the env table line: $line"; exit 1; }
done < "$table"
echo "env table: docs/env.md and README.md match the registry"
