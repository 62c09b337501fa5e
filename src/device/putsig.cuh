/*
 * What the put-with-signal algorithms share (ring, simple ring, hierarchical, exchange): the NVSHMEM
 * put and the bounded signal wait, the round geometry, the staging slots, and block-wide copies.
 *
 * Signals: rank dst holds one 64-bit word per (block, source rank); only `source` ever writes
 * word [b][source] on dst, and only with NVSHMEM_SIGNAL_SET of a value that grows: round * STAGE_SPAN
 * + step + 1, rounds counted per block in sync->round[b] (equal on all ranks, since every rank
 * launches the same grids in the same order). Nothing is reset between calls or graph replays.
 * A wait is "word >= value", so a sender that has already moved on to a later step is fine.
 *
 * Ordering, same node (send()): the block's NVLink stores, __syncthreads, then one thread's
 * st.release.sys of the signal word, which the reader pairs with ld.acquire.sys.
 * Ordering, between nodes: nvshmemx_putmem_signal_nbi_block delivers the signal after the data; nvshmem_fence
 * after each put orders it before the next put to the same rank, so the signal of step s+1 never
 * overtakes the data of step s (which matters on InfiniBand; over NVLink puts are stores in order).
 * The waiting thread loads the word with ld.acquire.sys, then __syncthreads; the block then reads the
 * slot with ld.global.cg (L2: never a stale L1 line from the round two rounds back).
 *
 * Staging: block b owns region [b][parity] of rstage in every round, parity = round & 1. Each
 * algorithm cuts a region into equal slots, each written at most once per round. A rank can run at
 * most one round ahead of any other on a block: every algorithm here needs, to finish round r on any
 * rank, round r's contribution of every rank (so every rank has finished round r - 1, stream order
 * included). Round r + 2 is therefore never written while round r is still read. Puts to another
 * node read their source from the symmetric heap (a slot), never from a user buffer, as InfiniBand
 * requires; a rank of the same node is written directly.
 */
#ifndef NVRAR_DEVICE_PUTSIG_CUH
#define NVRAR_DEVICE_PUTSIG_CUH

#include <nvshmem.h>
#include <nvshmemx.h>

#include "common.cuh"

namespace nvrar {

__device__ __forceinline__ uint64_t signal_acquire(const uint64_t *p) {
  uint64_t v;
  asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}

/* Block-collective: `packs` packs from src (local) to dst (symmetric) on rank pe, then SET *sig = value there. */
__device__ __forceinline__ void put_signal(void *dst, const void *src, uint64_t packs, uint64_t *sig, uint64_t value,
                                           int pe) {
  __syncthreads(); /* the block's writes of src are complete */
  if (packs)
    nvshmemx_putmem_signal_nbi_block(dst, src, packs * NVRAR_PACK_BYTES, sig, value, NVSHMEM_SIGNAL_SET, pe);
  else if (threadIdx.x == 0)
    nvshmemx_signal_op(sig, value, NVSHMEM_SIGNAL_SET, pe);
  if (threadIdx.x == 0) nvshmem_fence();
}

/* 1 if rank pe shares this rank's (virtual) node: reachable by NVLink stores through nvshmem_ptr. */
__device__ __forceinline__ bool same_node(const nvrar_kernel_args_t &a, int pe) { return pe / a.gpus == a.rank / a.gpus; }

__device__ __forceinline__ void signal_release(uint64_t *word, uint64_t value) {
  asm volatile("st.release.sys.global.u64 [%0], %1;" ::"l"(word), "l"(value) : "memory");
}

/*
 * Block-collective send(): packs load(k), k < n, land in slot `dst` (symmetric address) of rank pe,
 * also(k, pack) sees each (an output copy on the way), then *sig = value there. Same node: NVLink
 * stores straight from load, __syncthreads, one release store of the signal (one pass over the
 * data, no staging). Another node: into the local slot `stage`, then put-with-signal from it
 * (InfiniBand needs a registered source). load may read stage[k] itself: each thread reads index k
 * before it writes it.
 */
struct NoSideStore {
  __device__ void operator()(uint64_t, uint4) const {}
};

/* Packs k, k + blockDim.x, .. < n of load(k) go to out[k] (and to also(k, v)), SEND_UNROLL loads in
 * flight per thread before their stores: a block moves several packs per NVLink round trip. */
enum { SEND_UNROLL = 4 };
template <typename Load, typename Also>
__device__ __forceinline__ void store_packs(uint4 *out, uint64_t n, Load load, Also also) {
  const uint64_t stride = blockDim.x;
  uint64_t k = threadIdx.x;
  for (; k + (SEND_UNROLL - 1) * stride < n; k += SEND_UNROLL * stride) {
    uint4 v[SEND_UNROLL];
#pragma unroll
    for (int u = 0; u < SEND_UNROLL; u++) v[u] = load(k + u * stride);
#pragma unroll
    for (int u = 0; u < SEND_UNROLL; u++) {
      also(k + u * stride, v[u]);
      out[k + u * stride] = v[u];
    }
  }
  for (; k < n; k += stride) {
    uint4 v = load(k);
    also(k, v);
    out[k] = v;
  }
}

template <typename Load, typename Also = NoSideStore>
__device__ __forceinline__ void send(const nvrar_kernel_args_t &a, int pe, uint4 *dst, uint4 *stage, uint64_t n,
                                     uint64_t *sig, uint64_t value, Load load, Also also = Also()) {
  if (same_node(a, pe)) {
    store_packs(static_cast<uint4 *>(nvshmem_ptr(dst, pe)), n, load, also);
    __syncthreads();
    if (threadIdx.x == 0) signal_release(static_cast<uint64_t *>(nvshmem_ptr(sig, pe)), value);
  } else {
    store_packs(stage, n, load, also);
    put_signal(dst, stage, n, sig, value, pe);
  }
}

/* x op y in fp32, rounded to T: one pack. */
template <typename T, int OP> __device__ __forceinline__ uint4 combine(uint4 x, uint4 y) {
  Pack<T> s;
  fold<T, OP>(s, x, true);
  fold<T, OP>(s, y, false);
  return repack<T>(s);
}

/* One thread: wait until *sig >= value. False if the wait gave up (timeout, abort, dead). */
__device__ __forceinline__ bool wait_signal(const nvrar_kernel_args_t &a, const uint64_t *sig, uint64_t value) {
  Waiter w;
  while (signal_acquire(sig) < value)
    if (w.give_up(a)) return false;
  return true;
}

/* Block-collective: waits for thread 0's word, then every thread may read what it covers. */
__device__ __forceinline__ bool block_wait(const nvrar_kernel_args_t &a, const uint64_t *sig, uint64_t value) {
  bool ok = threadIdx.x != 0 || wait_signal(a, sig, value);
  return __syncthreads_and(ok);
}

/* Block b's word set by `source`: [NVRAR_MAX_RING_BLOCKS][nranks] words (comm.c's signals_bytes). */
__device__ __forceinline__ uint64_t *signal_word(const nvrar_kernel_args_t &a, uint64_t *signals, int source) {
  return signals + (uint64_t)blockIdx.x * (uint64_t)a.nranks + source;
}

__device__ __forceinline__ uint64_t stage_value(uint64_t round, int step) {
  return round * NVRAR_STAGE_SPAN + (uint64_t)step + 1;
}

/*
 * Round geometry: each round, block b handles `units` consecutive chunks of `chunk` packs starting
 * at (round_index * gridDim.x + b) * units * chunk. A chunk fits one of `slots` slots of a region.
 */
struct Rounds {
  uint64_t cap;    /* packs per slot */
  uint64_t chunk;  /* packs per unit */
  uint64_t span;   /* packs per block per round */
  uint64_t count;  /* rounds this call */
};

__device__ __forceinline__ Rounds make_rounds(const nvrar_kernel_args_t &a, int slots, int units) {
  Rounds r;
  r.cap = (a.region_packs - a.cells_packs) / (uint64_t)slots; /* the region's end holds hier-rd's cells */
  uint64_t chunk = nvrar_div_up(a.packs, (uint64_t)gridDim.x * units);
  if (a.chunk_packs && a.chunk_packs < chunk) chunk = a.chunk_packs;
  if (chunk > r.cap) chunk = r.cap;
  /* Chunks stay slot-sized even where the last round is then partly empty: evening the rounds out
   * (chunk = packs / (rounds x units x blocks), 2048 packs at 64 MiB on 4 GPUs) made the ring 25%
   * slower at 32-64 MiB (`gpu_check.sh sweep ring`, 2026-11-22), power-of-two strides between
   * blocks being the likely cause. */
  r.chunk = chunk ? chunk : 1;
  r.span = r.chunk * units;
  r.count = nvrar_div_up(a.packs, r.span * gridDim.x);
  return r;
}

/* Packs [*lo, *hi) of unit u of this block in round j. */
__device__ __forceinline__ void unit_range(const nvrar_kernel_args_t &a, const Rounds &g, uint64_t j, uint64_t u,
                                           uint64_t *lo, uint64_t *hi) {
  uint64_t base = (j * gridDim.x + blockIdx.x) * g.span + u * g.chunk;
  *lo = base < a.packs ? base : a.packs;
  *hi = base + g.chunk < a.packs ? base + g.chunk : a.packs;
}

/* Slot i of this block's region for `round` (local address; the same offset is symmetric). */
__device__ __forceinline__ uint4 *slot(const nvrar_kernel_args_t &a, const Rounds &g, uint64_t round, int i) {
  uint64_t region = ((uint64_t)blockIdx.x * 2 + (round & 1)) * a.region_packs;
  return static_cast<uint4 *>(a.rstage) + region + (uint64_t)i * g.cap;
}

/*
 * Flag-in-data hops between nodes (hier-rd's small shards): each 16-byte pack travels as a cell pair
 * (common.cuh's one cell rule), so the reader polls the data itself and no signal follows the
 * put: one hop costs one put's latency instead of a put, a fence and a signal. The cells have their
 * own area at the end of each (block, parity) region, never written with raw data, and the reader
 * zeroes every cell it has consumed (the area is the same, a.cells_packs, for every call and
 * algorithm, so no other kernel's slots ever cover it): a cell carries a flag only between its write and its read, so
 * no stale cell can ever match (the flag is the low 32 bits of the stage value, never 0 since
 * step + 1 < NVRAR_STAGE_SPAN, which would otherwise repeat after 2^21 rounds). A consumed cell is
 * next written by its sender two rounds later, after it has seen this rank's next round; the
 * __threadfence after the zeroing orders the zeroes before that. Puts copy 16-byte aligned spans
 * with 16-byte stores (NVLink) or RDMA writes (InfiniBand), so each 8-byte half arrives whole, which
 * is all a cell needs; NCCL's LL protocol relies on the same.
 */
__device__ __forceinline__ uint32_t ll_flag(uint64_t stage) { return (uint32_t)stage; }

/* Cell area i (2 * a.ll_packs packs: the same for every call of a communicator) of this block's
 * region for `round`. */
__device__ __forceinline__ uint4 *ll_cells(const nvrar_kernel_args_t &a, uint64_t round, int i) {
  uint64_t region = ((uint64_t)blockIdx.x * 2 + (round & 1)) * a.region_packs;
  return static_cast<uint4 *>(a.rstage) + region + (a.region_packs - a.cells_packs) + (uint64_t)i * 2 * a.ll_packs;
}

/* Block-collective: packs load(k), k < n, as cells into local `enc`, then put to `dst` (symmetric) on pe. */
template <typename Load>
__device__ __forceinline__ void ll_send(uint4 *dst, uint4 *enc, uint64_t n, uint32_t flag, int pe, Load load) {
  for (uint64_t k = threadIdx.x; k < n; k += blockDim.x) {
    uint4 v = load(k);
    enc[2 * k] = cell_make(v.x, v.y, flag);
    enc[2 * k + 1] = cell_make(v.z, v.w, flag);
  }
  __syncthreads();
  if (n) nvshmemx_putmem_nbi_block(dst, enc, n * 2 * NVRAR_PACK_BYTES, pe);
}

/* Block-collective: each thread polls its packs' cells until they carry `flag`, zeroes them and calls
 * use(k, pack); the same thread owns pack k as in ll_send and the block-wide loops. False on every
 * thread if a wait gave up. */
template <typename Use>
__device__ __forceinline__ bool ll_recv(const nvrar_kernel_args_t &a, uint4 *cells, uint64_t n, uint32_t flag,
                                        Use use) {
  bool ok = true;
  for (uint64_t k = threadIdx.x; k < n && ok; k += blockDim.x) {
    uint4 v;
    ok = cell_pair_read(a, cells + 2 * k, flag, &v);
    if (!ok) break;
    cells[2 * k] = make_uint4(0, 0, 0, 0);
    cells[2 * k + 1] = make_uint4(0, 0, 0, 0);
    use(k, v);
  }
  __threadfence();
  return __syncthreads_and(ok);
}

/* ---- block-wide copy from a slot (whole packs) to a user buffer (element-exact at the tail) ---- */
template <typename T>
__device__ __forceinline__ void copy_out(void *dst, const uint4 *src, uint64_t first, uint64_t n,
                                         const nvrar_kernel_args_t &a) {
  for (uint64_t k = threadIdx.x; k < n; k += blockDim.x) store_pack<T>(dst, first + k, a.count, a.aligned, load_cg(src + k));
}

/* acc[k] = acc[k] op x[k] in fp32, rounded to T: acc a slot, x a slot (x_user false) or the user input. */
template <typename T, int OP>
__device__ __forceinline__ void fold_into(uint4 *acc, const void *x, bool x_user, uint64_t first, uint64_t n,
                                          const nvrar_kernel_args_t &a) {
  for (uint64_t k = threadIdx.x; k < n; k += blockDim.x) {
    Pack<T> s;
    fold<T, OP>(s, load_cg(acc + k), true);
    fold<T, OP>(s, x_user ? load_pack<T>(x, first + k, a.count, a.aligned) : load_cg(static_cast<const uint4 *>(x) + k),
                false);
    acc[k] = repack<T>(s);
  }
}

/* The grid and rings every put-with-signal kernel can take (its signal and staging arrays). */
static inline bool ring_family_shape_ok(const nvrar_kernel_args_t *args, int blocks) {
  return blocks >= 1 && blocks <= NVRAR_MAX_RING_BLOCKS && args->rings >= 1 && args->rings <= NVRAR_MAX_RINGS;
}

}  // namespace nvrar

#endif /* NVRAR_DEVICE_PUTSIG_CUH */
