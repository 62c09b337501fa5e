/*
 * Lamport two-shot: two-shot's reduce-scatter and all-gather with no barrier, each arrival its own
 * signal; forced only (NVRAR_ALGO=lamport-twoshot at init) until it is measured against two-shot on 2
 * and 4 GPUs (128 KiB - 4 MiB is what it is for).
 *
 * Steps, per piece of n slices of at most slice_cap packs (rank q owns slice q):
 *   1. scatter: every rank writes its packs of slice p, whole (common.cuh's lamport packs), into
 *      scatter slot [buffer][own rank] of rank p, for every peer p, after a header pack per block
 *      with the call's signature;
 *   2. reduce: the owner takes each peer's pack from its scatter slots as it arrives, folds ranks
 *      0..n-1 in order in fp32 (its own input read locally), stores the pack and writes it into
 *      gather slot [buffer][own rank] of every peer;
 *   3. gather: every rank takes each owner's packs from its gather slots as they arrive and stores
 *      them.
 * Who talks to whom: all to all twice, two NVLink crossings, no barrier: every wait is for data. Moves
 * 2(n-1)/n * S bytes per rank, as two-shot does. A header whose signature differs fails the call with
 * NVRAR_ERR_MISMATCH.
 *
 * Results: the owner stores the reduced pack as it travels (lamport_pack), so every rank holds the
 * same bits; a fold of two or more ranks never yields the all-one word, so they are two-shot's.
 *
 * Reuse: piece number c (sync->lp2_count) goes into buffer c & 1. A rank writes scatter packs of piece
 * c into an owner's buffer only after it took every owner's gather packs of piece c-1, which that
 * owner sent after taking (and resetting) its scatter packs of c-1, after those of c-2 (program order
 * in the block); it takes gather packs of piece c-2 before it sends any of piece c-1, and the owner
 * writes gather packs of c only after taking this rank's scatter packs of c. So a slot is empty when
 * written, and a word that is not the sentinel holds the current piece. Block b handles the same
 * offsets of every slice in all three steps, the same on every rank (algo/chunk.h), and a shorter
 * last piece only a subset of them; across calls, stream order (or PDL's wait) orders one kernel's
 * resets before the next kernel's writes. A wait that gives up leaves words set: the communicator is
 * dead then.
 *
 * Constraints: 2-8 ranks on one node; slice_cap packs per (buffer, rank) slot; the buffers all sentinel
 * at init (comm.c).
 * Test: tests/mp/test_allreduce (NVRAR_ALGO=lamport-twoshot), on the shared tier and via gpu_check.sh.
 */
#include "common.cuh"

namespace nvrar {

/* Layout: [2 buffers][n scatter slots], then [2 buffers][n gather slots] of slice_cap packs, then the
 * header packs. */
__device__ __forceinline__ uint64_t scatter_index(const nvrar_kernel_args_t &a, int buf, int source, uint64_t off) {
  return ((uint64_t)buf * a.nranks + source) * a.slice_cap + off;
}

__device__ __forceinline__ uint64_t gather_index(const nvrar_kernel_args_t &a, int buf, int owner, uint64_t off) {
  return ((uint64_t)(2 + buf) * a.nranks + owner) * a.slice_cap + off;
}


template <typename T, int OP, int NRANKS>
__global__ void __launch_bounds__(NVRAR_MAX_THREADS) lamport_twoshot_kernel(nvrar_kernel_args_t a) {
  grid_dependency_sync(a.pdl);
  volatile nvrar_device_sync_t *sync = a.sync;
  const uint64_t base = sync->lp2_count;
  const nvrar_twoshot_geom_t g = nvrar_twoshot_geom(a.packs, NRANKS, a.slice_cap, gridDim.x);
  uint4 *mine = static_cast<uint4 *>(a.stage[a.rank]);
  const uint64_t headers = 4 * (uint64_t)a.nranks * a.slice_cap;
  bool ok = block_alive(a);

  for (uint64_t piece = 0; piece < g.pieces && ok; piece++) {
    const int buf = (int)((base + piece) & 1);
    const uint64_t begin = nvrar_piece_begin(&g, piece), slice_len = nvrar_piece_slice_len(&g, piece);
    uint64_t lo, hi;

    /* 1. scatter */
    lamport_header_push<NRANKS>(a, headers, buf);
#pragma unroll
    for (int i = 1; i < NRANKS; i++) {
      const int p = (a.rank + i) % NRANKS;
      nvrar_block_range(&g, piece, p, blockIdx.x, &lo, &hi);
      uint4 *slots = static_cast<uint4 *>(a.stage[p]);
      const uint64_t p_lo = (uint64_t)p * slice_len;
      for (uint64_t off = lo + threadIdx.x; off < hi; off += blockDim.x)
        store_volatile(slots + scatter_index(a, buf, a.rank, off - p_lo),
                       lamport_pack(load_pack<T>(a.send, begin + off, a.count, a.aligned)));
    }
    if (!lamport_header_check<NRANKS>(a, headers, buf)) ok = false; /* the peers' calls match this one */

    /* 2. reduce this rank's slice, send it to every peer */
    nvrar_block_range(&g, piece, a.rank, blockIdx.x, &lo, &hi);
    const uint64_t own_lo = (uint64_t)a.rank * slice_len;
    for (uint64_t off = lo + threadIdx.x; off < hi && ok; off += blockDim.x) {
      Pack<T> acc;
      ok = fold_ranks<T, OP, NRANKS>(a, begin + off, [&](int r, uint4 *v) {
        return lamport_take(a, mine + scatter_index(a, buf, r, off - own_lo), v);
      }, acc);
      if (!ok) break;
      const uint4 sum = lamport_pack(repack<T>(acc));
      store_pack<T>(a.recv, begin + off, a.count, a.aligned, sum);
#pragma unroll
      for (int i = 1; i < NRANKS; i++)
        store_volatile(static_cast<uint4 *>(a.stage[(a.rank + i) % NRANKS]) + gather_index(a, buf, a.rank, off - own_lo),
                       sum);
    }

    /* 3. gather the other slices */
#pragma unroll
    for (int i = 1; i < NRANKS; i++) {
      const int o = (a.rank + i) % NRANKS;
      nvrar_block_range(&g, piece, o, blockIdx.x, &lo, &hi);
      const uint64_t o_lo = (uint64_t)o * slice_len;
      for (uint64_t off = lo + threadIdx.x; off < hi && ok; off += blockDim.x) {
        uint4 v;
        if (lamport_take(a, mine + gather_index(a, buf, o, off - o_lo), &v))
          store_pack<T>(a.recv, begin + off, a.count, a.aligned, v);
        else
          ok = false;
      }
    }
    /* This block's resets are written before any of its sends of the next piece. */
    if (piece + 1 < g.pieces) __threadfence_system();
    ok = __syncthreads_and(ok);
  }
  poison_if_failed<T>(a, ok);
  last_block_publishes(a, &sync->lp2_count, base + g.pieces);
}

}  // namespace nvrar

NVRAR_DEFINE_NODE_LAUNCHER(nvrar_launch_lamport_twoshot, lamport_twoshot_kernel)
