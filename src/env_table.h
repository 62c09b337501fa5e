/*
 * The one registry of nvrar's environment variables. config.c parses every one of them from it (the
 * settings, their defaults and the messages for bad values), nvrar_perf --env prints it, docs/env.md
 * and the README's table are generated from it. Nothing in the library reads an NVRAR_* variable
 * any other way.
 *
 * SETTING(name, type, default, field, lo, hi, step, description): a field of nvrar_settings_t.
 * OTHER(name, type, default, lo, hi, step, description): read where it is used, through
 * nvrar_env_read (the drop-in, the tuned-file search, logging, the tools).
 * type: INT (0, or a whole number in lo-hi that is a multiple of step), SIZE (bytes, 4096 / 64KiB /
 * 1M, a multiple of step), DOUBLE (a positive finite number), ALGO (an algorithm name), STRING.
 */
#ifndef NVRAR_ENV_TABLE_H
#define NVRAR_ENV_TABLE_H

#define NVRAR_ENV_TABLE(SETTING, OTHER)                                                                              \
  SETTING(NVRAR_ALGO, ALGO, "auto", algo, 0, 0, 1,                                                                    \
          "Force an algorithm: auto, oneshot, twoshot, ring, simple-ring, hier-rd, hier-rhd, lamport, lamport-twoshot") \
  SETTING(NVRAR_NUM_BLOCKS, INT, "0", num_blocks, 0, NVRAR_MAX_BLOCKS, 1,                                             \
          "Blocks per all-reduce kernel, 1-128; 0 lets the planner choose")                                           \
  SETTING(NVRAR_THREADS_PER_BLOCK, INT, "0", threads_per_block, 64, NVRAR_MAX_THREADS, 32,                            \
          "Threads per block, a multiple of 32 in 64-512; 0: planner")                                                \
  SETTING(NVRAR_ONESHOT_MAX_BYTES, SIZE, "0", oneshot_max_bytes, 0, 0, 1,                                             \
          "Largest message one-shot takes under auto; 0: measured table")                                             \
  SETTING(NVRAR_GPUS_PER_NODE, INT, "0", gpus_per_node, 0, NVRAR_MAX_RANKS, 1,                                        \
          "Split the job into virtual nodes of this many GPUs (must divide a host's); 0: hosts")                      \
  SETTING(NVRAR_RINGS, INT, "0", rings, 0, NVRAR_MAX_RINGS, 1,                                                        \
          "Rings of the ring algorithms, 1-8; 0: one per GPU of a node across nodes, else 1")                         \
  SETTING(NVRAR_CHUNK_BYTES, SIZE, "0", chunk_bytes, 0, 0, NVRAR_PACK_BYTES,                                          \
          "Bytes per block per step of the ring family; 0: as many as the staging holds")                             \
  SETTING(NVRAR_HIER_LL_BYTES, SIZE, "64KiB", hier_ll_bytes, 0, 0, 1,                                                 \
          "Largest message hier-rd sends between nodes in flag-in-data cells (no signal); 0: always put-with-signal") \
  SETTING(NVRAR_MEMORY_BYTES, SIZE, "256MiB", memory_bytes, 0, 0, 1,                                                  \
          "GPU memory per rank for nvrar, NVSHMEM heap included")                                                     \
  SETTING(NVRAR_TIMEOUT, DOUBLE, "30", timeout_seconds, 0, 0, 1,                                                      \
          "Seconds a kernel waits for a peer before NVRAR_ERR_TIMEOUT")                                               \
  SETTING(NVRAR_PDL, INT, "0", pdl, 0, 1, 1,                                                                          \
          "1: programmatic dependent launch, a kernel's launch overlapping the end of the one before it (sm_90+)")    \
  OTHER(NVRAR_INIT_TIMEOUT, DOUBLE, "600", 0, 0, 1,                                                                 \
        "Seconds nvrar_comm_init waits in NVSHMEM's bootstrap for every rank to arrive, then NVRAR_ERR_TIMEOUT")     \
  OTHER(NVRAR_CACHE_DIR, STRING, "", 0, 0, 1,                                                                         \
        "Directory of tuned files tuning_{N}gpu_{dtype}.json; unset: $XDG_CACHE_HOME/nvrar or ~/.cache/nvrar "        \
        "(docs/tuning.md)")                                                                                           \
  OTHER(NVSHMEM_ALLREDUCE_CONFIG, STRING, "", 0, 0, 1,                                                                \
        "One tuned file for every world size and dtype, instead of NVRAR_CACHE_DIR's")                                \
  OTHER(NVRAR_SHARE_GPUS, INT, "0", 0, 1, 1,                                                                          \
        "Tools and tests: 1 runs N ranks over fewer GPUs, rank r on GPU r % (GPUs visible); time-sliced, for "        \
        "correctness only (docs/design.md)")                                                                          \
  OTHER(NVRAR_NCCL_DISABLE, INT, "0", 0, 1, 1,                                                                        \
        "NCCL drop-in: 1 forwards every call to NCCL (a pure pass-through); same value on every rank")                \
  OTHER(NVRAR_NCCL_MAX_BYTES, SIZE, "64MiB", 0, 0, 1,                                                                 \
        "NCCL drop-in: largest all-reduce nvrar serves; larger ones go to NCCL")                                      \
  OTHER(NVRAR_NCCL_LIBRARY, STRING, "", 0, 0, 1,                                                                      \
        "The real libnccl.so.2 for the drop-in and nvrar_perf --compare; unset: searched (docs/nccl.md)")             \
  OTHER(NVRAR_TEST_COUNTER_BASE, SIZE, "0", 0, 0, 1,                                                                 \
        "Tests only: a world starts its 32-bit device counters (two-shot barriers, one-shot cell flags) here, "      \
        "e.g. 4294967200, so that their wrap-around runs in a short test; same value on every rank")                 \
  OTHER(NVRAR_DEBUG, STRING, "WARN", 0, 0, 1, "Log level: NONE, WARN, INFO, TRACE")                                   \
  OTHER(NVRAR_DEBUG_SUBSYS, STRING, "ALL", 0, 0, 1, "Comma list of subsystems to log: INIT, COLL, ALL")

#endif
