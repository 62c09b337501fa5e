/*
 * Two-shot all-reduce: reduce-scatter then all-gather over NVLink, for medium and large messages.
 *
 * Steps, per piece (algo/chunk.h cuts the message into pieces of nranks slices of <= slice_cap packs;
 * rank q owns slice q; block b owns the same packs of every slice in every piece):
 *   1. scatter: rank r stores its input's slice q into scatter slot [r] of rank q (NVLink stores);
 *   barrier A (this block index, all ranks);
 *   2. reduce: rank q folds slice q over ranks 0..n-1 in order in fp32 (its own input read locally,
 *      the others from its scatter slots), writes the result to its output and stores it into
 *      gather slot [q] of every other rank (NVLink stores);
 *   barrier B;
 *   3. gather: rank r copies every gather slot [q] (local reads) into its output.
 * Both crossings are stores: a remote load costs a round trip, a store only the way there.
 * Moves 2(n-1)/n*S per rank, the bandwidth-optimal direct schedule on an NVSwitch; 2 barriers/piece.
 *
 * Reuse of staging without resets: barrier A of a piece is passed only when every rank has finished
 * step 3 of the piece before (same block) or its whole previous kernel (stream order), so no slot
 * is written while its owner still reads it; barrier B orders the gather stores before the copies.
 * Barrier values come from sync->seq[block], equal on all ranks because all ranks launch the same
 * grids; each flag also carries the call's signature, so a call that does not match a peer's fails
 * at barrier A with NVRAR_ERR_MISMATCH instead of folding the wrong data (common.cuh: block_barrier).
 *
 * Constraints: 2-8 ranks on one node, grid <= NVRAR_MAX_BLOCKS. Staging per rank: 2 x nranks x
 * slice_cap packs (scatter slots, then gather slots).
 * Test: tests/mp/test_allreduce (NVRAR_ALGO=twoshot forces it), via scripts/gpu_check.sh.
 */
#include "common.cuh"

namespace nvrar {

template <typename T, int OP, int NRANKS>
__global__ void __launch_bounds__(NVRAR_MAX_THREADS) twoshot_kernel(nvrar_kernel_args_t a) {
  grid_dependency_sync(a.pdl);
  const nvrar_twoshot_geom_t g = nvrar_twoshot_geom(a.packs, NRANKS, a.slice_cap, gridDim.x);
  uint32_t seq = a.sync->seq[blockIdx.x];
  uint4 *mine = static_cast<uint4 *>(a.stage[a.rank]);
  const uint64_t slot_off = (uint64_t)blockIdx.x * g.per_block; /* this block's packs in any slot */
  const uint64_t gather = (uint64_t)NRANKS * a.slice_cap;          /* gather slots follow the scatter slots */
  bool ok = block_alive(a);

  for (uint64_t piece = 0; piece < g.pieces && ok; piece++) {
    const uint64_t begin = nvrar_piece_begin(&g, piece);
    uint64_t lo, hi;

    /* 1. scatter my slice q to rank q, starting with my right neighbour to spread the links */
#pragma unroll
    for (int i = 1; i < NRANKS; i++) {
      const int q = (a.rank + i) % NRANKS;
      nvrar_block_range(&g, piece, q, blockIdx.x, &lo, &hi);
      uint4 *dst = static_cast<uint4 *>(a.stage[q]) + (uint64_t)a.rank * a.slice_cap + slot_off;
      for (uint64_t k = threadIdx.x; lo + k < hi; k += blockDim.x)
        dst[k] = load_pack<T>(a.send, begin + lo + k, a.count, a.aligned);
    }
    if (!(ok = block_barrier<NRANKS>(a, 0, ++seq))) break;

    /* 2. reduce my slice, ranks in order, and hand the result to every other rank */
    nvrar_block_range(&g, piece, a.rank, blockIdx.x, &lo, &hi);
    for (uint64_t k = threadIdx.x; lo + k < hi; k += blockDim.x) {
      uint4 raw[NRANKS];
#pragma unroll
      for (int r = 0; r < NRANKS; r++)
        raw[r] = r == a.rank ? load_pack<T>(a.send, begin + lo + k, a.count, a.aligned)
                             : load_cg(mine + (uint64_t)r * a.slice_cap + slot_off + k);
      Pack<T> acc;
#pragma unroll
      for (int r = 0; r < NRANKS; r++) fold<T, OP>(acc, raw[r], r == 0);
      uint4 out = repack<T>(acc);
      store_pack<T>(a.recv, begin + lo + k, a.count, a.aligned, out);
#pragma unroll
      for (int i = 1; i < NRANKS; i++) {
        const int q = (a.rank + i) % NRANKS;
        static_cast<uint4 *>(a.stage[q])[gather + (uint64_t)a.rank * a.slice_cap + slot_off + k] = out;
      }
    }
    if (!(ok = block_barrier<NRANKS>(a, 1, ++seq))) break;

    /* 3. copy every other rank's reduced slice from my gather slots */
#pragma unroll
    for (int i = 1; i < NRANKS; i++) {
      const int q = (a.rank + i) % NRANKS;
      nvrar_block_range(&g, piece, q, blockIdx.x, &lo, &hi);
      const uint4 *src = mine + gather + (uint64_t)q * a.slice_cap + slot_off;
      for (uint64_t k = threadIdx.x; lo + k < hi; k += blockDim.x)
        store_pack<T>(a.recv, begin + lo + k, a.count, a.aligned, load_cg(src + k));
    }
  }
  poison_if_failed<T>(a, ok);
  if (threadIdx.x == 0) a.sync->seq[blockIdx.x] = seq;
}

}  // namespace nvrar

NVRAR_DEFINE_NODE_LAUNCHER(nvrar_launch_twoshot, twoshot_kernel)
