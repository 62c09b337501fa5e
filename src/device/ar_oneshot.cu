/*
 * One-shot all-reduce with flag-in-data cells: the latency path for small messages.
 *
 * Steps, per piece of at most slice_cap packs (one piece for every message AUTO sends here):
 *   1. push: every rank writes each 16-byte pack of its input, as two cells {data, flag, data, flag},
 *      into slot [parity][own rank] of every peer's cell buffer, over NVLink (nvshmem_ptr stores);
 *   2. reduce: every rank polls its own cell buffer until each peer's cells carry this piece's flag,
 *      then folds ranks 0..n-1 in order in fp32 (its own input read locally) and stores the pack.
 * Who talks to whom: all to all, one NVLink crossing, no barrier; moves 2(n-1)*S bytes per rank
 * (cells are half data). Before its data, each block also writes a header cell with the call's
 * signature to every peer, and checks theirs before folding (common.cuh: header_push, header_check):
 * a call that does not match the peers' fails with NVRAR_ERR_MISMATCH instead of mixing.
 *
 * Flags never repeat and are never reset: piece number c (device counter sync->ll_count, advanced
 * by the last block to finish) gives flag (c mod 2^32-1) + 1 and parity c & 1. A rank writes piece c
 * into parity c & 1 only after reading everyone's piece c-1, which every rank pushed after it had
 * finished reading piece c-2 from that parity (same block: __syncthreads; earlier kernel: stream
 * order), so a slot is never overwritten while someone still reads it.
 *
 * Constraints: 2-8 ranks on one node; slice_cap packs per (parity, source) slot; per_block fixed per
 * call (algo/chunk.h) so each block reuses only its own cells.
 * Test: tests/mp/test_allreduce (NVRAR_ALGO=oneshot forces it), via scripts/gpu_check.sh.
 */
#include "common.cuh"

namespace nvrar {

template <typename T, int OP, int NRANKS>
__global__ void __launch_bounds__(NVRAR_MAX_THREADS) oneshot_kernel(nvrar_kernel_args_t a) {
  grid_dependency_sync(a.pdl);
  volatile nvrar_device_sync_t *sync = a.sync;
  const uint64_t base = sync->ll_count;
  const nvrar_twoshot_geom_t g = nvrar_twoshot_geom(a.packs, 1, a.slice_cap, gridDim.x);
  uint4 *cells = static_cast<uint4 *>(a.stage[a.rank]);
  bool ok = block_alive(a);

  for (uint64_t piece = 0; piece < g.pieces && ok; piece++) {
    const uint64_t counter = base + 1 + piece;
    const uint32_t flag = cell_flag(counter);
    const int parity = (int)(counter & 1);
    const uint64_t begin = nvrar_piece_begin(&g, piece);
    uint64_t lo, hi;
    nvrar_block_range(&g, piece, 0, blockIdx.x, &lo, &hi);

    header_push<NRANKS>(a, parity, flag); /* this call's signature first, then the data */
    for (uint64_t off = lo + threadIdx.x; off < hi; off += blockDim.x) {
      uint4 v = load_pack<T>(a.send, begin + off, a.count, a.aligned);
      const uint64_t idx = cell_index(a, parity, a.rank, off);
#pragma unroll
      for (int i = 1; i < NRANKS; i++) {
        const int peer = (a.rank + i) % NRANKS;
        uint4 *dst = static_cast<uint4 *>(a.stage[peer]) + idx;
        cell_store(dst, v.x, v.y, flag);
        cell_store(dst + 1, v.z, v.w, flag);
      }
    }

    if (!header_check<NRANKS>(a, parity, flag)) ok = false; /* the peers' calls match this one */
    for (uint64_t off = lo + threadIdx.x; off < hi && ok; off += blockDim.x) {
      Pack<T> acc;
#pragma unroll
      for (int r = 0; r < NRANKS; r++) {
        uint4 v;
        if (r == a.rank) {
          v = load_pack<T>(a.send, begin + off, a.count, a.aligned);
        } else {
          if (!cell_pair_read(a, cells + cell_index(a, parity, r, off), flag, &v)) ok = false;
        }
        fold<T, OP>(acc, v, r == 0);
      }
      if (ok) store_pack<T>(a.recv, begin + off, a.count, a.aligned, repack<T>(acc));
    }
    /* This block's reads of the piece are done before any of its pushes of the next piece. */
    ok = __syncthreads_and(ok);
  }
  poison_if_failed<T>(a, ok);

  last_block_publishes(a, &sync->ll_count, base + g.pieces);
}

}  // namespace nvrar

NVRAR_DEFINE_NODE_LAUNCHER(nvrar_launch_oneshot, oneshot_kernel)
