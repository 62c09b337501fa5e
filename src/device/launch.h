/*
 * The boundary between host C and the kernels: one plain struct of kernel arguments and one
 * extern "C" launcher per algorithm. Included by comm.c (C11) and the .cu files.
 */
#ifndef NVRAR_DEVICE_LAUNCH_H
#define NVRAR_DEVICE_LAUNCH_H

#include <stdint.h>

#include "../algo/limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Device-side state of a communicator, in plain device memory (not symmetric). Kernels advance it
 * themselves, so CUDA graph replays stay in step with eager calls and no flag is ever reset.
 */
typedef struct nvrar_device_sync {
  uint64_t ll_count;                 /* one-shot pieces completed; cell flags and parity derive from it */
  uint32_t arrived;                  /* blocks of the running one-shot (or lamport) kernel that are done */
  uint32_t dead;                     /* set by a timed-out or aborted wait: every later wait gives up */
  uint32_t seq[NVRAR_MAX_BLOCKS];    /* two-shot barrier count of block b; equal on all ranks */
  uint64_t round[NVRAR_MAX_RING_BLOCKS]; /* ring-family rounds run by block b; equal on all ranks */
  uint64_t xround[NVRAR_MAX_RING_BLOCKS][NVRAR_MAX_WORLD]; /* exchanges block b ran with each peer */
  float barrier[4];                  /* destroy's one-element all-reduce (a barrier whose waits time out) */
  uint64_t lp_count;                 /* lamport pieces completed; the buffer of a piece derives from it */
  uint64_t lp2_count;                /* lamport-twoshot pieces completed, the same way */
} nvrar_device_sync_t;

typedef struct nvrar_kernel_args {
  const void *send;
  void *recv;
  uint64_t count;          /* elements */
  uint64_t packs;          /* 16-byte packs covering count elements */
  int rank;
  int nranks;
  int aligned;             /* send and recv both 16-byte aligned: vector path for full packs */
  uint32_t sig;            /* this call's signature (algo/sig.h), handed to the peers with the data */
  uint64_t slice_cap;      /* staging packs per rank slot (two-shot) / per parity and source (one-shot) */
  void *stage[NVRAR_MAX_RANKS];     /* staging of each rank, through nvshmem_ptr (NVLink) */
  uint64_t *flags[NVRAR_MAX_RANKS]; /* barrier flags of each rank: [2 phases][MAX_BLOCKS][MAX_RANKS], each
                                     * the barrier count (low half) and the call's sig (high half) */
  nvrar_device_sync_t *sync;
  int *error;              /* host-mapped: first error a kernel saw (NVRAR_ERR_TIMEOUT, _MISMATCH), else 0 */
  const int *abort_flag;   /* host-mapped: set by nvrar_comm_abort; waits give up at once */
  uint64_t timeout_ns;
  /* Put-with-signal algorithms (ring family, exchange). Layout: rank = node * gpus + local. */
  int nodes;
  int gpus;
  int rings;               /* ring k is run by blocks b with b % rings == k */
  int peer;                /* exchange: the other rank */
  int ring_pos[NVRAR_MAX_RINGS];  /* this rank's position in ring k (algo/ring.h order) */
  int ring_prev[NVRAR_MAX_RINGS]; /* rank before it in ring k */
  int ring_next[NVRAR_MAX_RINGS]; /* rank after it in ring k */
  uint64_t region_packs;   /* ring-family staging packs per (block, parity) */
  uint64_t chunk_packs;    /* packs per block per step wanted by the planner; 0: as many as fit */
  uint64_t cells_packs;    /* ring family: packs at the end of every region kept for hier-rd's cells, never raw data */
  uint64_t ll_packs;       /* hier-rd, this call: data packs a cell area holds (cells between nodes); 0: signals */
  void *rstage;            /* symmetric: [NVRAR_MAX_RING_BLOCKS][2][region_packs] packs; none on one node */
  uint64_t *signals;       /* symmetric: [NVRAR_MAX_RING_BLOCKS][nranks], set by rank src */
  uint64_t *xsignals;      /* symmetric: the same for nvrar_exchange */
  int pdl;                 /* launched as a programmatic dependent launch (NVRAR_PDL): the kernel waits first */
} nvrar_kernel_args_t;

/* The add + RMSNorm of nvrar_all_reduce_add_rmsnorm, beside the all-reduce's arguments. */
typedef struct nvrar_norm_args {
  void *residual, *out;
  const void *weight;
  float eps;
  uint64_t rows, hidden, row_packs; /* row_packs: 16-byte packs per row */
  int pdl;                          /* host side: as nvrar_kernel_args_t's */
} nvrar_norm_args_t;

/* Launchers, one per row of src/algo/table.h: 0 on success, else the cudaError_t of the launch. dtype/op
 * are nvrar_dtype_t/nvrar_op_t. */
typedef int (*nvrar_launch_fn)(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads, void *stream);
int nvrar_launch_oneshot(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads, void *stream);
int nvrar_launch_twoshot(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads, void *stream);
int nvrar_launch_ring(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads, void *stream);
int nvrar_launch_simple_ring(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads, void *stream);
int nvrar_launch_hier_rd(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads, void *stream);
int nvrar_launch_hier_rhd(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads, void *stream);
int nvrar_launch_lamport(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads, void *stream);
int nvrar_launch_lamport_twoshot(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads,
                                 void *stream);
/* Add + norm over the all-reduce result `sums` (rows x hidden of dtype; input itself on one rank). */
int nvrar_launch_add_rmsnorm(const nvrar_norm_args_t *n, const void *sums, int dtype, void *stream);
/* Fused launchers (the `fused` column of src/algo/table.h): NVRAR_FUSED_NO_FIT, nothing launched, when
 * the rows do not fit the algorithm's staging; else 0 or the cudaError_t of the launch. */
enum { NVRAR_FUSED_NO_FIT = -1 };
typedef int (*nvrar_fused_fn)(const nvrar_kernel_args_t *args, const nvrar_norm_args_t *n, int dtype, void *stream);
/* The fused one-shot: args as the one-shot all-reduce's (send = input), rows x row packs in one piece. */
int nvrar_launch_oneshot_rmsnorm(const nvrar_kernel_args_t *args, const nvrar_norm_args_t *n, int dtype, void *stream);
/* The fused two-shot: args as the two-shot all-reduce's; rows owned cyclically by the ranks, their out and
 * residual in each gather slot (2 x owned rows x row packs <= slice_cap). */
int nvrar_launch_twoshot_rmsnorm(const nvrar_kernel_args_t *args, const nvrar_norm_args_t *n, int dtype, void *stream);
/* args->send/recv/packs/peer describe the exchange. */
int nvrar_launch_exchange(const nvrar_kernel_args_t *args, int blocks, int threads, void *stream);

#ifdef __cplusplus
}
#endif
#endif
