/* Internal declarations shared by the host C files. Not installed. */
#ifndef NVRAR_INTERNAL_H
#define NVRAR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "nvrar.h"
#include "algo/limits.h"
#include "log.h"

/* ---- errors (log.c) ---- */
/* Records the calling thread's last-error text (printf format), logs it at INFO, returns code. */
nvrar_result_t nvrar_error(nvrar_result_t code, const char *fmt, ...) NVRAR_PRINTF(2, 3);
/* This library's copy of the calling thread's last-error text (api.c's nvrar_get_last_error returns it). */
const char *nvrar_last_error_text(void);

#define NVRAR_CHECK(call)                         \
  do {                                            \
    nvrar_result_t nvrar_check_ = (call);         \
    if (nvrar_check_ != NVRAR_SUCCESS) return nvrar_check_; \
  } while (0)

/* Jumps to label with res set; for functions that own resources (one fail: label). */
#define NVRAR_CHECK_GOTO(call, res, label) \
  do {                                     \
    (res) = (call);                        \
    if ((res) != NVRAR_SUCCESS) goto label; \
  } while (0)

/* ---- settings: config struct + environment (config.c) ---- */
typedef struct nvrar_settings {
  int device;                /* -1: current */
  size_t memory_bytes;       /* GPU memory budget per rank, heap included */
  nvrar_algo_t algo;         /* AUTO or forced */
  int num_blocks;            /* 0: planner */
  int threads_per_block;     /* 0: planner */
  size_t oneshot_max_bytes;  /* 0: measured table */
  double timeout_seconds;
  int gpus_per_node;         /* 0: from the hosts; k: virtual nodes of k GPUs */
  int rings;                 /* 0: planner */
  size_t chunk_bytes;        /* 0: planner */
  size_t hier_ll_bytes;      /* hier-rd: flag-in-data cells between nodes up to this message size; 0: never */
  int pdl;                   /* 1: kernels launched as programmatic dependent launches */
} nvrar_settings_t;

/* The lookup of the real process environment (getenv). */
const char *nvrar_process_getenv(const char *name);
/* The registry's default text of an environment variable (env_table.h), NULL for an unknown name. */
const char *nvrar_env_default(const char *name);
/* nvrar_env_read (nvrar.h) reads a registry variable (env_table.h); nvrar_env_lookup_fn is its lookup. */
/* The settings of the registry (its SETTING rows), for comparing them between ranks: how many,
 * setting i of s as one word, and such a word as text (returns the variable's name). */
#define NVRAR_MAX_SETTINGS 16
int nvrar_settings_count(void);
uint64_t nvrar_settings_word(const nvrar_settings_t *s, int i);
const char *nvrar_settings_word_text(int i, uint64_t word, char *text, size_t cap);

/* Defaults, overridden by the environment, overridden by non-default config fields. */
nvrar_result_t nvrar_settings_resolve(const nvrar_config_t *config, nvrar_env_lookup_fn lookup,
                                      nvrar_settings_t *out);
/* A wait's bound in nanoseconds; values past NVRAR_MAX_TIMEOUT_NS (2^62 ns, 146 years) saturate there,
 * so a very long timeout stays very long (the device adds it to a %globaltimer reading). */
#define NVRAR_MAX_TIMEOUT_NS ((uint64_t)1 << 62)
uint64_t nvrar_timeout_ns(double seconds);
/* "64KiB", "1M", "3.5G", "4096" -> bytes. Returns 0 on success, -1 on a malformed or overflowing value
 * (the public nvrar_parse_size says why in the last error). */
int nvrar_size_from_text(const char *text, size_t *out);
int nvrar_parse_algo(const char *text, nvrar_algo_t *out);
const char *nvrar_algo_name(nvrar_algo_t algo);

/* ---- planner (tune.c) ---- */
typedef struct nvrar_plan {
  nvrar_algo_t algo;    /* never AUTO */
  int blocks;
  int threads;
  int rings;            /* ring algorithms: rings in use (blocks are spread over them) */
  uint64_t chunk_packs; /* ring family: packs per block per step; 0: as many as the staging holds */
  uint64_t ll_packs;    /* hier-rd: data packs per cell area (flag-in-data between nodes); 0: put-with-signal */
} nvrar_plan_t;

/* Capacities of the communicator's staging, which bound what each algorithm takes per piece. */
typedef struct nvrar_capacity {
  uint64_t oneshot_packs;  /* one-shot's largest message, in 16-byte packs */
  uint64_t slice_packs;    /* two-shot's staging per rank slot, in packs */
  uint64_t region_packs;   /* ring family: staging per (block, parity), in packs */
  uint64_t cells_packs;    /* of which kept at the end for hier-rd's cells; 0: no cells (one node, small budget) */
  uint64_t lamport_packs;  /* lamport's largest piece, in packs; 0: no lamport staging (not forced at init) */
  uint64_t lamport_slice_packs; /* lamport-twoshot's packs per rank slice of a piece; 0: none (not forced) */
} nvrar_capacity_t;



/* ---- cost model (model.c): alpha-beta predictions, pure ---- */
typedef enum nvrar_network {
  NVRAR_NET_NVLINK = 0,    /* virtual nodes: NVSHMEM put-with-signal over NVLink (measured here) */
  NVRAR_NET_IB_NDR = 1,    /* InfiniBand NDR 400 Gb/s per NIC, NVSHMEM's CPU proxy */
  NVRAR_NET_IB_NDR_IBGDA = 2, /* the same with IBGDA: GPU-initiated */
  NVRAR_NET_SLINGSHOT = 3, /* HPE Slingshot-11, 200 Gb/s per NIC, libfabric proxy */
  NVRAR_NUM_NETS = 4
} nvrar_network_t;

/* Who shares a node: nodes x gpus ranks, node-major (rank = node * gpus + local). */
typedef struct nvrar_topo {
  int nranks;
  int nodes;
  int gpus;
  nvrar_network_t network; /* between nodes; NVLINK for virtual nodes */
} nvrar_topo_t;

/* Model rows beyond nvrar's algorithms: NCCL's ring and tree, for comparison. */
enum { NVRAR_MODEL_NCCL_RING = NVRAR_NUM_ALGOS, NVRAR_MODEL_NCCL_TREE, NVRAR_MODEL_ROWS };

const char *nvrar_network_name(nvrar_network_t net);
/* Predicted microseconds of an all-reduce of `bytes` on nodes x gpus; < 0 where the row does not apply. */
double nvrar_model_us(int row, int nodes, int gpus, double bytes, nvrar_network_t net);
/* The network this process's NVSHMEM will use between nodes (environment), for a real multi-node job. */
nvrar_network_t nvrar_network_from_env(nvrar_env_lookup_fn lookup);
/* The cheapest multi-node algorithm by the model. */
nvrar_algo_t nvrar_model_pick(int nodes, int gpus, double bytes, nvrar_network_t net);
/* nvrar_model_print (nvrar.h, nvrar_perf --model) prints it for 2-64 nodes of 4 and 8 GPUs. */

nvrar_result_t nvrar_plan_make(const nvrar_settings_t *settings, const nvrar_capacity_t *capacity,
                               const nvrar_topo_t *topo, size_t bytes, nvrar_plan_t *plan);
/* The same, with a tuned table (tuned.h; NULL: none): the entry for `bytes` stands in for what the
 * settings leave to the planner (algorithm under AUTO, blocks, threads, chunk); forced settings win.
 * An entry naming a one-node algorithm on a communicator of several nodes is skipped. */
struct nvrar_tuned_table;
nvrar_result_t nvrar_plan_tuned(const nvrar_settings_t *settings, const nvrar_capacity_t *capacity,
                                const nvrar_topo_t *topo, const struct nvrar_tuned_table *tuned, size_t bytes,
                                nvrar_plan_t *plan);
/* 1 for the algorithms that run between nodes (put-with-signal), 0 for one-shot and two-shot. */
int nvrar_algo_multinode(nvrar_algo_t algo);
/* 1 if a communicator of these capacities has the staging algo needs (the ring family's, lamport's and
 * lamport-twoshot's exist only where init reserved them; AUTO and the rest always). */
int nvrar_capacity_holds(const nvrar_capacity_t *capacity, nvrar_algo_t algo);
/* The built-in threshold below which AUTO takes one-shot, for nranks ranks. */
size_t nvrar_oneshot_threshold(int nranks);

/* ---- argument checks (args.c): pure, so the CPU tests run them ---- */
/* count * element size without overflow; -1 for an unknown dtype or an overflow. */
int nvrar_bytes_for(size_t count, nvrar_dtype_t dtype, size_t *bytes);
/* All checks of nvrar_all_reduce's arguments that need no GPU; sets *bytes. */
nvrar_result_t nvrar_validate_all_reduce(const void *sendbuf, void *recvbuf, size_t count, nvrar_dtype_t dtype,
                                         nvrar_op_t op, size_t *bytes);
/* All checks of nvrar_all_reduce_add_rmsnorm's arguments that need no GPU; sets *bytes (of input). */
nvrar_result_t nvrar_validate_rmsnorm(const void *input, const void *residual, const void *weight, float eps,
                                      const void *out, size_t rows, size_t hidden, nvrar_dtype_t dtype, size_t *bytes);

#endif /* NVRAR_INTERNAL_H */
