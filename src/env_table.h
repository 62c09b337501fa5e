/*
 * The one registry of nvrar's environment variables: name, type, default, description.
 * config.c parses from it, nvrar_perf --env prints it, docs/env.md is generated from it.
 * X(name, type, default, description); type is SIZE, INT, DOUBLE, ALGO or STRING.
 */
#ifndef NVRAR_ENV_TABLE_H
#define NVRAR_ENV_TABLE_H

#define NVRAR_ENV_TABLE(X)                                                                          \
  X(NVRAR_ALGO, ALGO, "auto", "Force an algorithm: auto, oneshot, twoshot, ring, simple-ring, hier-rd, hier-rhd")                         \
  X(NVRAR_NUM_BLOCKS, INT, "0", "Blocks per all-reduce kernel, 1-128; 0 lets the planner choose")   \
  X(NVRAR_THREADS_PER_BLOCK, INT, "0", "Threads per block, a multiple of 32 in 64-512; 0: planner") \
  X(NVRAR_ONESHOT_MAX_BYTES, SIZE, "0", "Largest message one-shot takes under auto; 0: measured table") \
  X(NVRAR_GPUS_PER_NODE, INT, "0", "Split the job into virtual nodes of this many GPUs (must divide a host's); 0: hosts") \
  X(NVRAR_RINGS, INT, "0", "Rings of the ring algorithms, 1-8; 0: one per GPU of a node across nodes, else 1") \
  X(NVRAR_CHUNK_BYTES, SIZE, "0", "Bytes per block per step of the ring family; 0: as many as the staging holds") \
  X(NVRAR_HIER_LL_BYTES, SIZE, "64KiB", "Largest message hier-rd sends between nodes in flag-in-data cells (no signal); 0: always put-with-signal") \
  X(NVRAR_MEMORY_BYTES, SIZE, "256MiB", "GPU memory per rank for nvrar, NVSHMEM heap included")     \
  X(NVRAR_TIMEOUT, DOUBLE, "30", "Seconds a kernel waits for a peer before NVRAR_ERR_TIMEOUT")       \
  X(NVRAR_CACHE_DIR, STRING, "", "Directory of tuned files tuning_{N}gpu_{dtype}.json; unset: $XDG_CACHE_HOME/nvrar or ~/.cache/nvrar (docs/tuning.md)") \
  X(NVSHMEM_ALLREDUCE_CONFIG, STRING, "", "One tuned file for every world size and dtype, instead of NVRAR_CACHE_DIR's") \
  X(NVRAR_SHARE_GPUS, INT, "0", "Tools and tests: 1 runs N ranks over fewer GPUs, rank r on GPU r % (GPUs visible); time-sliced, for correctness only (docs/design.md)") \
  X(NVRAR_NCCL_DISABLE, INT, "0", "NCCL drop-in: 1 forwards every call to NCCL (a pure pass-through); same value on every rank") \
  X(NVRAR_NCCL_MAX_BYTES, SIZE, "64MiB", "NCCL drop-in: largest all-reduce nvrar serves; larger ones go to NCCL") \
  X(NVRAR_NCCL_LIBRARY, STRING, "", "The real libnccl.so.2 for the drop-in and nvrar_perf --compare; unset: searched (docs/nccl.md)") \
  X(NVRAR_DEBUG, STRING, "WARN", "Log level: NONE, WARN, INFO, TRACE")                               \
  X(NVRAR_DEBUG_SUBSYS, STRING, "ALL", "Comma list of subsystems to log: INIT, COLL, ALL")

#endif
