/*
 * Chunk arithmetic (algo/chunk.h): for every rank count, message size, staging capacity and grid,
 * the (piece, slice, block) ranges tile the message exactly once, stay inside a block's own
 * region of the staging slot, and blocks' regions never overlap. The call signature (algo/sig.h):
 * what it promises to tell apart, it tells apart.
 */
#include <stdlib.h>
#include <string.h>

#include "algo/chunk.h"
#include "algo/sig.h"
#include "unit.h"

static void check_geometry(uint64_t packs, int nranks, uint64_t slice_cap, int blocks, unsigned char *seen) {
  nvrar_twoshot_geom_t g = nvrar_twoshot_geom(packs, nranks, slice_cap, blocks);
  memset(seen, 0, packs);
  int ok = g.slice_len >= 1 && g.slice_len <= slice_cap && g.per_block * (uint64_t)blocks >= g.slice_len;
  for (uint64_t piece = 0; piece < g.pieces; piece++) {
    uint64_t begin = nvrar_piece_begin(&g, piece);
    uint64_t len = nvrar_piece_slice_len(&g, piece);
    ok &= len <= g.slice_len && nvrar_piece_packs(&g, piece) > 0;
    for (int q = 0; q < nranks; q++) {
      for (int b = 0; b < blocks; b++) {
        uint64_t lo, hi;
        nvrar_block_range(&g, piece, q, b, &lo, &hi);
        ok &= lo <= hi;
        if (lo == hi) continue;
        /* offset in the slot: this block's fixed region, inside the slot */
        uint64_t slot_lo = lo - (uint64_t)q * len;
        ok &= slot_lo == (uint64_t)b * g.per_block;
        ok &= slot_lo + (hi - lo) <= (uint64_t)(b + 1) * g.per_block;
        ok &= slot_lo + (hi - lo) <= slice_cap;
        for (uint64_t k = lo; k < hi; k++) {
          ok &= begin + k < packs;
          if (begin + k < packs) seen[begin + k]++;
        }
      }
    }
  }
  for (uint64_t i = 0; i < packs; i++) ok &= seen[i] == 1;
  if (!ok) fprintf(stderr, "tiling fails: packs %llu nranks %d cap %llu blocks %d\n", (unsigned long long)packs,
                   nranks, (unsigned long long)slice_cap, blocks);
  CHECK(ok);
}

/* sig.h's promises: counts below 2^32 that differ give other signatures (same dtype, op, hidden); the
 * same count with another dtype, op or hidden (0 or 1-65536: every size nvrar_all_reduce_add_rmsnorm
 * takes) gives another signature. */
static void check_signatures(void) {
  int ok = 1;
  for (int d = 0; d < 3; d++)
    for (int op = 0; op < 3; op++) {
      for (uint64_t c = 0; c < 4096; c++) ok &= nvrar_call_sig(c, d, op, 0) != nvrar_call_sig(c + 1, d, op, 0);
      ok &= nvrar_call_sig(0xfffffffeull, d, op, 0) != nvrar_call_sig(0xffffffffull, d, op, 0);
      for (int d2 = 0; d2 < 3; d2++)
        for (int op2 = 0; op2 < 3; op2++)
          if (d2 != d || op2 != op) ok &= nvrar_call_sig(1000, d, op, 0) != nvrar_call_sig(1000, d2, op2, 0);
      for (uint64_t h = 1; h <= 65536; h++) {
        ok &= nvrar_call_sig(8192, d, op, h) != nvrar_call_sig(8192, d, op, 0);
        ok &= nvrar_call_sig(8192, d, op, h) != nvrar_call_sig(8192, d, op, h - 1 ? h - 1 : 65536);
      }
    }
  /* a pure function: the same call, the same signature */
  ok &= nvrar_call_sig(123456789, 2, 1, 4096) == nvrar_call_sig(123456789, 2, 1, 4096);
  CHECK(ok);
}

int main(void) {
  check_signatures();
  const uint64_t sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 511, 512, 513, 1000, 4095, 4097, 10007, 65536, 100003};
  const uint64_t caps[] = {1, 3, 16, 100, 1024, 65536};
  const int grids[] = {1, 2, 3, 5, 8, 13, 32, 64};
  unsigned char *seen = malloc(100003);
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
    for (int n = 1; n <= 8; n++)
      for (size_t ci = 0; ci < sizeof caps / sizeof caps[0]; ci++)
        for (size_t gi = 0; gi < sizeof grids / sizeof grids[0]; gi++) {
          if (sizes[si] / caps[ci] > 20000) continue; /* keep the piece loop short */
          check_geometry(sizes[si], n, caps[ci], grids[gi], seen);
        }
  free(seen);
  CHECK(nvrar_packs_of(0) == 0 && nvrar_packs_of(1) == 1 && nvrar_packs_of(16) == 1 && nvrar_packs_of(17) == 2);
  return unit_finish("test_chunk");
}
