/*
 * The call path: plan (tune.c, pure) -> copy the algorithm's argument template -> launch one kernel.
 * Arguments arrive validated by api.c; nothing here allocates, synchronises or reads device memory.
 */
#include <cuda_runtime_api.h>

#include "algo/sig.h"
#include "algo/table.h"
#include "comm.h"

/* The first change of stream is logged once: the calls of a communicator must be ordered. A plain
 * compare on the hot path. */
static void note_stream(nvrar_comm_t comm, void *stream) {
  if (stream == comm->last_stream) return;
  if (comm->used_stream && !comm->stream_noted) {
    comm->stream_noted = 1;
    NVRAR_INFO(NVRAR_SUBSYS_COLL, "rank %d: all-reduces on a second stream (%p after %p): they must be ordered with "
               "the earlier ones (include/nvrar.h)", comm->rank, stream, comm->last_stream);
  }
  comm->last_stream = stream;
  comm->used_stream = 1;
}

/* The algorithm's row of src/algo/table.h in this communicator: its argument template, launcher and
 * fused launcher (NULL: none). NULL for a value that is no algorithm. */
static const nvrar_kernel_args_t *algo_row(nvrar_comm_t comm, nvrar_algo_t algo, nvrar_launch_fn *launch,
                                           nvrar_fused_fn *fused) {
  switch (algo) {
#define ROW(id, name, alias, multinode, units, rings, cells, template, launcher, fused_launcher) \
  case NVRAR_ALGO_##id: *launch = launcher; *fused = fused_launcher; return &comm->template;
    NVRAR_ALGO_TABLE(ROW)
#undef ROW
    default: return NULL;
  }
}

/* An argument template with this call's buffers and signature: count elements in packs 16-byte packs;
 * hidden 0 for an all-reduce, the row length for the fused all-reduce + RMSNorm. */
static nvrar_kernel_args_t call_args(const nvrar_kernel_args_t *template_args, const void *sendbuf, void *recvbuf,
                                     size_t count, uint64_t packs, nvrar_dtype_t dtype, nvrar_op_t op, size_t hidden) {
  nvrar_kernel_args_t args = *template_args;
  args.sig = nvrar_call_sig(count, (int)dtype, (int)op, hidden);
  args.send = sendbuf;
  args.recv = recvbuf;
  args.count = count;
  args.packs = packs;
  args.aligned = (((uintptr_t)sendbuf | (uintptr_t)recvbuf) % NVRAR_PACK_BYTES) == 0;
  return args;
}

/* One planned all-reduce of more than one rank: the row's template with this call's buffers, launched. */
static nvrar_result_t launch_planned(nvrar_comm_t comm, const nvrar_plan_t *plan, const void *sendbuf, void *recvbuf,
                                     size_t count, size_t bytes, nvrar_dtype_t dtype, nvrar_op_t op, void *stream) {
  nvrar_launch_fn launch = NULL;
  nvrar_fused_fn fused = NULL;
  const nvrar_kernel_args_t *row = algo_row(comm, plan->algo, &launch, &fused);
  if (!row) return nvrar_error(NVRAR_ERR_INTERNAL, "nvrar_all_reduce: the planner chose algorithm %d", (int)plan->algo);
  nvrar_kernel_args_t args = call_args(row, sendbuf, recvbuf, count, (bytes + NVRAR_PACK_BYTES - 1) / NVRAR_PACK_BYTES,
                                        dtype, op, 0);
  args.rings = plan->rings;
  args.chunk_packs = plan->chunk_packs;
  args.ll_packs = plan->ll_packs;
  int err = launch(&args, dtype, op, plan->blocks, plan->threads, stream);
  if (err != 0)
    return nvrar_error(NVRAR_ERR_CUDA, "nvrar_all_reduce: %s kernel launch (%d blocks x %d threads) failed: %s",
                       nvrar_algo_name(plan->algo), plan->blocks, plan->threads, cudaGetErrorString((cudaError_t)err));
  NVRAR_TRACE(NVRAR_SUBSYS_COLL, "all_reduce %zu x %s %s: %s, %d x %d", count, nvrar_dtype_name(dtype),
              nvrar_op_name(op), nvrar_algo_name(plan->algo), plan->blocks, plan->threads);
  return NVRAR_SUCCESS;
}

nvrar_result_t nvrar_comm_enqueue(nvrar_comm_t comm, const void *sendbuf, void *recvbuf, size_t count, size_t bytes,
                                  nvrar_dtype_t dtype, nvrar_op_t op, void *stream) {
  if (comm->nranks == 1) {
    if (sendbuf == recvbuf) return NVRAR_SUCCESS;
    cudaError_t e = cudaMemcpyAsync(recvbuf, sendbuf, bytes, cudaMemcpyDeviceToDevice, (cudaStream_t)stream);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      return nvrar_error(NVRAR_ERR_CUDA, "nvrar_all_reduce: cudaMemcpyAsync failed: %s", cudaGetErrorString(e));
    }
    return NVRAR_SUCCESS;
  }
  note_stream(comm, stream);
  nvrar_plan_t plan;
  NVRAR_CHECK(nvrar_plan_tuned(&comm->settings, &comm->capacity, &comm->topo, &comm->tuned[dtype], bytes, &plan));
  return launch_planned(comm, &plan, sendbuf, recvbuf, count, bytes, dtype, op, stream);
}

nvrar_result_t nvrar_comm_add_rmsnorm(nvrar_comm_t comm, const void *input, void *residual, const void *weight,
                                      float eps, void *out, size_t rows, size_t hidden, size_t bytes,
                                      nvrar_dtype_t dtype, void *stream) {
  const size_t count = rows * hidden;
  nvrar_norm_args_t n = {residual, out, weight, eps, rows, hidden, hidden * nvrar_dtype_size(dtype) / NVRAR_PACK_BYTES,
                         comm->settings.pdl};
  const uint64_t packs = bytes / NVRAR_PACK_BYTES; /* whole packs: the checks made rows whole packs */
  int err = 0;
  const char *path = "add + norm";  /* for the log: the fused algorithm, or the two-kernel path */
  if (comm->nranks == 1) {
    err = nvrar_launch_add_rmsnorm(&n, input, dtype, stream); /* s is the input itself */
  } else {
    note_stream(comm, stream);
    nvrar_plan_t plan;
    NVRAR_CHECK(nvrar_plan_tuned(&comm->settings, &comm->capacity, &comm->topo, &comm->tuned[dtype], bytes, &plan));
    nvrar_launch_fn launch = NULL;
    nvrar_fused_fn fused = NULL;
    const nvrar_kernel_args_t *row = algo_row(comm, plan.algo, &launch, &fused);
    err = NVRAR_FUSED_NO_FIT;
    if (row && fused) {
      nvrar_kernel_args_t args = call_args(row, input, out, count, packs, dtype, NVRAR_SUM, hidden); /* aligned: checked */
      path = nvrar_algo_name(plan.algo);
      err = fused(&args, &n, dtype, stream);
    }
    if (err == NVRAR_FUSED_NO_FIT) { /* no fused form, or the rows do not fit its staging: the same plan */
      path = "all-reduce, then add + norm";
      NVRAR_CHECK(launch_planned(comm, &plan, input, out, count, bytes, dtype, NVRAR_SUM, stream));
      err = nvrar_launch_add_rmsnorm(&n, out, dtype, stream);
    }
  }
  if (err != 0)
    return nvrar_error(NVRAR_ERR_CUDA, "nvrar_all_reduce_add_rmsnorm: %s kernel launch failed: %s", path,
                       cudaGetErrorString((cudaError_t)err));
  NVRAR_TRACE(NVRAR_SUBSYS_COLL, "all_reduce_add_rmsnorm %zu x %zu %s: %s", rows, hidden, nvrar_dtype_name(dtype), path);
  return NVRAR_SUCCESS;
}

/* 1 if [ptr, ptr + bytes) lies inside one nvrar_malloc buffer of comm. */
static int in_user_buffer(nvrar_comm_t comm, const void *ptr, size_t bytes) {
  for (int i = 0; i < NVRAR_MAX_USER_BUFFERS; i++) {
    const char *b = comm->user_buffers[i];
    if (b && (const char *)ptr >= b && bytes <= comm->user_bytes[i] &&
        (size_t)((const char *)ptr - b) <= comm->user_bytes[i] - bytes)
      return 1;
  }
  return 0;
}

/* Exchange grid: a block per 256 KiB up to the ring-family bound (NVRAR_NUM_BLOCKS overrides). */
enum { EXCHANGE_BLOCK_BYTES = 256 << 10, EXCHANGE_THREADS = 512 };

nvrar_result_t nvrar_comm_exchange(nvrar_comm_t comm, const void *sendbuf, void *recvbuf, size_t bytes, int peer,
                                   void *stream) {
  if (comm->parent)
    return nvrar_error(NVRAR_ERR_UNSUPPORTED, "nvrar_exchange: a sub-communicator has no put-with-signal staging; use "
                                              "its world");
  if (peer < 0 || peer >= comm->nranks || peer == comm->rank)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_exchange: peer %d is not another rank of 0-%d", peer,
                       comm->nranks - 1);
  if (!in_user_buffer(comm, sendbuf, bytes) || !in_user_buffer(comm, recvbuf, bytes))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT,
                       "nvrar_exchange: sendbuf %p and recvbuf %p must each hold %zu bytes inside an nvrar_malloc buffer",
                       sendbuf, recvbuf, bytes);
  nvrar_kernel_args_t args = comm->ring_args;
  args.send = sendbuf;
  args.recv = recvbuf;
  args.count = bytes;
  args.packs = (bytes + NVRAR_PACK_BYTES - 1) / NVRAR_PACK_BYTES;
  args.peer = peer;
  uint64_t blocks = (bytes + EXCHANGE_BLOCK_BYTES - 1) / EXCHANGE_BLOCK_BYTES;
  if (comm->settings.num_blocks) blocks = (uint64_t)comm->settings.num_blocks;
  if (blocks < 1) blocks = 1;
  if (blocks > NVRAR_MAX_RING_BLOCKS) blocks = NVRAR_MAX_RING_BLOCKS;
  int err = nvrar_launch_exchange(&args, (int)blocks, EXCHANGE_THREADS, stream);
  if (err != 0)
    return nvrar_error(NVRAR_ERR_CUDA, "nvrar_exchange: kernel launch failed: %s", cudaGetErrorString((cudaError_t)err));
  return NVRAR_SUCCESS;
}
