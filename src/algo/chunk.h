/*
 * Chunk arithmetic: how a message of `packs` 16-byte packs is cut into pieces, rank slices and
 * block ranges. Pure functions compiled by gcc (CPU tests) and nvcc (kernels), so the CPU tests
 * prove the tiling the kernels use.
 *
 * Two-shot geometry. The staging on every rank has `nranks` slots of `slice_cap` packs. A piece
 * covers up to nranks * slice_cap packs of the message; rank q owns slice q of each piece. Inside a
 * slice, block b owns packs [b * per_block, (b + 1) * per_block). per_block is fixed for the whole
 * call, so a block touches the same staging addresses in every piece: a block's barrier then
 * protects exactly the staging it reuses, and the last, shorter piece never overlaps another
 * block's region of the piece before.
 *
 * One-shot uses the same geometry with nranks = 1: pieces of up to slice_cap packs (its cell
 * buffer), each split among the blocks with the same fixed per_block.
 */
#ifndef NVRAR_ALGO_CHUNK_H
#define NVRAR_ALGO_CHUNK_H

#include <stdint.h>

#if defined(__CUDACC__)
#define NVRAR_HD __host__ __device__ __forceinline__
#else
#define NVRAR_HD static inline
#endif

NVRAR_HD uint64_t nvrar_div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

NVRAR_HD uint64_t nvrar_min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Packs (16-byte units) covering `bytes`. */
NVRAR_HD uint64_t nvrar_packs_of(uint64_t bytes) { return nvrar_div_up(bytes, 16); }

typedef struct nvrar_twoshot_geom {
  uint64_t packs;      /* whole message */
  uint64_t slice_len;  /* packs per slice in every full piece (<= slice_cap) */
  uint64_t pieces;
  uint64_t per_block;  /* packs per block inside one slice, fixed for the call */
  int nranks;
} nvrar_twoshot_geom_t;

/* Requires packs > 0, nranks >= 1, slice_cap >= 1, blocks >= 1. */
NVRAR_HD nvrar_twoshot_geom_t nvrar_twoshot_geom(uint64_t packs, int nranks, uint64_t slice_cap,
                                                int blocks) {
  nvrar_twoshot_geom_t g;
  g.packs = packs;
  g.nranks = nranks;
  g.slice_len = nvrar_min_u64(slice_cap, nvrar_div_up(packs, (uint64_t)nranks));
  g.pieces = nvrar_div_up(packs, g.slice_len * (uint64_t)nranks);
  g.per_block = nvrar_div_up(g.slice_len, (uint64_t)blocks);
  return g;
}

/* First pack of piece `piece` in the message, and how many packs the piece holds. */
NVRAR_HD uint64_t nvrar_piece_begin(const nvrar_twoshot_geom_t *g, uint64_t piece) {
  return piece * g->slice_len * (uint64_t)g->nranks;
}

NVRAR_HD uint64_t nvrar_piece_packs(const nvrar_twoshot_geom_t *g, uint64_t piece) {
  uint64_t begin = nvrar_piece_begin(g, piece);
  return nvrar_min_u64(g->packs - begin, g->slice_len * (uint64_t)g->nranks);
}

/* Slice length inside a piece: full pieces use slice_len; the last divides what is left. */
NVRAR_HD uint64_t nvrar_piece_slice_len(const nvrar_twoshot_geom_t *g, uint64_t piece) {
  return nvrar_div_up(nvrar_piece_packs(g, piece), (uint64_t)g->nranks);
}

/*
 * Range [*lo, *hi) inside piece `piece` (relative to the piece start) that block `block` handles
 * in the slice of rank `slice`. Empty ranges come back with lo == hi.
 */
NVRAR_HD void nvrar_block_range(const nvrar_twoshot_geom_t *g, uint64_t piece, int slice, int block,
                                uint64_t *lo, uint64_t *hi) {
  uint64_t piece_packs = nvrar_piece_packs(g, piece);
  uint64_t slice_len = nvrar_piece_slice_len(g, piece);
  uint64_t slice_lo = (uint64_t)slice * slice_len;
  uint64_t slice_hi = nvrar_min_u64(slice_lo + slice_len, piece_packs);
  uint64_t a = slice_lo + (uint64_t)block * g->per_block;
  uint64_t b = a + g->per_block;
  if (b > slice_hi) b = slice_hi;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

#endif /* NVRAR_ALGO_CHUNK_H */
