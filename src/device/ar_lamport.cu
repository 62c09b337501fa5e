/*
 * Lamport one-shot: the one-shot all-reduce with full-width cells, forced only (NVRAR_ALGO=lamport
 * at init) until it is measured against one-shot on 2 and 4 GPUs.
 *
 * Steps, per piece of at most slice_cap packs:
 *   1. push: every rank writes each 16-byte pack of its input, whole, into slot [buffer][own rank] of
 *      every peer's buffer, over NVLink (nvshmem_ptr stores), after a header pack per block with the
 *      call's signature;
 *   2. reduce: every rank polls its own buffer until no word of a peer's pack is the sentinel
 *      0xffffffff, folds ranks 0..n-1 in order in fp32 (its own input read locally), stores the pack,
 *      and writes the sentinel back over what it took.
 * Who talks to whom: all to all, one NVLink crossing, no barrier; moves (n-1)*S bytes per rank, half
 * of one-shot's, whose cells carry a flag in every other word. A header whose signature differs fails
 * the call with NVRAR_ERR_MISMATCH, as one-shot's does.
 *
 * The sentinel: no input word is sent as 0xffffffff (a NaN with a payload in fp32, two NaNs in fp16 and
 * bf16); such a word goes as 0x7fffffff, a NaN (two) as well. A fold of two or more ranks never keeps a
 * NaN's payload (arithmetic and fmaxf/fminf give the canonical NaN or the other operand), so the
 * results are bitwise one-shot's.
 *
 * Reuse: piece number c (device counter sync->lp_count, advanced by the last block to finish) goes
 * into buffer c & 1. A rank writes piece c into a peer's buffer c & 1 only after reading everyone's
 * piece c-1, which every rank pushed after it had taken piece c-2 out of that buffer and written the
 * sentinel back (same block: a fence and __syncthreads; earlier kernel: stream order). Every word
 * written in a piece is taken in it, by the block covering it on the reader (blocks cover the same
 * ranges on every rank), so a buffer is all sentinel again when its piece ends, whatever the next
 * call's geometry: a word that is not the sentinel holds the current piece. Nothing is cleared
 * ahead of a piece and no flag is compared. A wait that gives up (timeout, abort, mismatch) leaves
 * words set: the communicator is dead then, and stays so.
 *
 * Constraints: 2-8 ranks on one node; slice_cap packs per (buffer, source) slot; per_block fixed per
 * call (algo/chunk.h); the buffers all sentinel at init (comm.c).
 * Test: tests/mp/test_allreduce (NVRAR_ALGO=lamport), on the shared tier and via scripts/gpu_check.sh.
 */
#include "common.cuh"

namespace nvrar {

/* Pack `off` from `source` in buffer `buf`; the header packs follow the 2 x n slots. */
__device__ __forceinline__ uint64_t lamport_index(const nvrar_kernel_args_t &a, int buf, int source, uint64_t off) {
  return ((uint64_t)buf * a.nranks + source) * a.slice_cap + off;
}

template <typename T, int OP, int NRANKS>
__global__ void __launch_bounds__(NVRAR_MAX_THREADS) lamport_kernel(nvrar_kernel_args_t a) {
  grid_dependency_sync(a.pdl);
  volatile nvrar_device_sync_t *sync = a.sync;
  const uint64_t base = sync->lp_count;
  const nvrar_twoshot_geom_t g = nvrar_twoshot_geom(a.packs, 1, a.slice_cap, gridDim.x);
  uint4 *mine = static_cast<uint4 *>(a.stage[a.rank]);
  const uint64_t headers = 2 * (uint64_t)a.nranks * a.slice_cap;
  bool ok = block_alive(a);

  for (uint64_t piece = 0; piece < g.pieces && ok; piece++) {
    const int buf = (int)((base + piece) & 1);
    const uint64_t begin = nvrar_piece_begin(&g, piece);
    uint64_t lo, hi;
    nvrar_block_range(&g, piece, 0, blockIdx.x, &lo, &hi);

    lamport_header_push<NRANKS>(a, headers, buf); /* this call's signature first, then the data */
    for (uint64_t off = lo + threadIdx.x; off < hi; off += blockDim.x) {
      const uint4 v = lamport_pack(load_pack<T>(a.send, begin + off, a.count, a.aligned));
      const uint64_t idx = lamport_index(a, buf, a.rank, off);
#pragma unroll
      for (int i = 1; i < NRANKS; i++) store_volatile(static_cast<uint4 *>(a.stage[(a.rank + i) % NRANKS]) + idx, v);
    }

    if (!lamport_header_check<NRANKS>(a, headers, buf)) ok = false; /* the peers' calls match this one */
    for (uint64_t off = lo + threadIdx.x; off < hi && ok; off += blockDim.x) {
      Pack<T> acc;
      ok = fold_ranks<T, OP, NRANKS>(a, begin + off, [&](int r, uint4 *v) {
        return lamport_take(a, mine + lamport_index(a, buf, r, off), v);
      }, acc);
      if (ok) store_pack<T>(a.recv, begin + off, a.count, a.aligned, repack<T>(acc));
    }
    /* This block's sentinels are written before any of its pushes of the next piece (the kernel's
     * end orders them before the next call's). */
    if (piece + 1 < g.pieces) __threadfence_system();
    ok = __syncthreads_and(ok);
  }
  poison_if_failed<T>(a, ok);

  last_block_publishes(a, &sync->lp_count, base + g.pieces);
}

}  // namespace nvrar

NVRAR_DEFINE_NODE_LAUNCHER(nvrar_launch_lamport, lamport_kernel)
