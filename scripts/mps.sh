#!/usr/bin/env bash
# Runs a command under a private CUDA MPS daemon, always stopped afterwards:
#   scripts/mps.sh ctest --test-dir build -L shared
# The daemon's pipe and log folders are a fresh folder under ${TMPDIR:-/tmp}, so it touches no
# system-wide MPS and changes no GPU setting (compute mode stays as it is). Ranks of the test
# launcher that share a GPU then run at once, each with an equal share of its SMs
# (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE, set by tests/mp unless already set), instead of time-slicing.
set -uo pipefail
[ $# -gt 0 ] || { sed -n '2,7p' "$0"; exit 2; }
command -v nvidia-cuda-mps-control > /dev/null || { echo "mps.sh: nvidia-cuda-mps-control not found" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/nvrar-mps.XXXXXX") || exit 1
export CUDA_MPS_PIPE_DIRECTORY=$dir/pipe CUDA_MPS_LOG_DIRECTORY=$dir/log
mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
running() { echo get_server_list | nvidia-cuda-mps-control > /dev/null 2>&1; } # this folder's daemon answers
stop() {
  echo quit | nvidia-cuda-mps-control > /dev/null 2>&1
  for _ in $(seq 50); do # the daemon exits once its clients have; 10 s at most
    running || break
    sleep 0.2
  done
  if running; then
    echo "mps.sh: the MPS daemon did not stop; its folder is $dir" >&2
  else
    rm -rf "$dir"
  fi
}
nvidia-cuda-mps-control -d || { echo "mps.sh: the MPS daemon did not start" >&2; rm -rf "$dir"; exit 1; }
trap stop EXIT
trap 'exit 130' INT TERM
"$@"
