/*
 * The CPU reference of nvrar_all_reduce_add_rmsnorm against values computed by hand: exact norms,
 * the rounding of the sum and of the residual add in bfloat16 (ties to even), and the header's
 * order of the row's sum of squares, which a plain running sum would not give.
 */
#include <math.h>
#include <string.h>

#include "rmsnorm_ref.h"
#include "unit.h"

static void put(void *a, int dtype, const float *v, size_t n) {
  for (size_t i = 0; i < n; i++) nvrar_ref_from_float(a, i, dtype, v[i]);
}

int main(void) {
  /* float, 2 ranks: s = 0.25 + 0.25, r = 0.5, mean square 0.25, inv = 2 exactly: out = weight */
  float in0[4] = {0.25f, 0.25f, 0.25f, 0.25f}, in1[4] = {0.25f, 0.25f, 0.25f, 0.25f}, res[4] = {0, 0, 0, 0};
  float w[4] = {1.0f, -2.0f, 0.25f, 3.0f}, out[4];
  const void *ins[2] = {in0, in1};
  CHECK(nvrar_ref_add_rmsnorm(ins, 2, res, w, 0.0f, out, 1, 4, NVRAR_REF_FLOAT32) == 0);
  for (int i = 0; i < 4; i++) CHECK(res[i] == 0.5f && out[i] == w[i]);
  /* eps enters inside the root: mean square 0.25 + eps 0.75 = 1, inv = 1: out = r * weight */
  memset(res, 0, sizeof res);
  CHECK(nvrar_ref_add_rmsnorm(ins, 2, res, w, 0.75f, out, 1, 4, NVRAR_REF_FLOAT32) == 0);
  for (int i = 0; i < 4; i++) CHECK(out[i] == 0.5f * w[i]);

  /* bfloat16 (8 significant bits: steps of 2^-7 above 1), 2 ranks, hidden 8: the rank sum and then the
   * residual add each round to nearest, ties to even: 1 + 2^-8 (half a step) to 1, 1 + 3 x 2^-8 (a
   * step and a half) to 1 + 2^-6, 1 + 5 x 2^-9 (a step and a quarter) to 1 + 2^-7 */
  unsigned short b0[8], b1[8], bres[8], bw[8], bout[8];
  float v0[8] = {1, 1, 1, 1, 1, 1, 1, 1}, v1[8] = {0x1p-8f, 3 * 0x1p-8f, 5 * 0x1p-9f, 0, 0, 0, 0, 0};
  float vr[8] = {0, 0, 0, 0x1p-8f, 3 * 0x1p-8f, 0, 0, 0}, ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  put(b0, NVRAR_REF_BFLOAT16, v0, 8);
  put(b1, NVRAR_REF_BFLOAT16, v1, 8);
  put(bres, NVRAR_REF_BFLOAT16, vr, 8);
  put(bw, NVRAR_REF_BFLOAT16, ones, 8);
  const void *bins[2] = {b0, b1};
  CHECK(nvrar_ref_add_rmsnorm(bins, 2, bres, bw, 0.0f, bout, 1, 8, NVRAR_REF_BFLOAT16) == 0);
  CHECK(nvrar_ref_to_float(bres, 0, NVRAR_REF_BFLOAT16) == 1.0f);          /* the rank sum rounded */
  CHECK(nvrar_ref_to_float(bres, 1, NVRAR_REF_BFLOAT16) == 1.0f + 0x1p-6f);
  CHECK(nvrar_ref_to_float(bres, 2, NVRAR_REF_BFLOAT16) == 1.0f + 0x1p-7f);
  CHECK(nvrar_ref_to_float(bres, 3, NVRAR_REF_BFLOAT16) == 1.0f);          /* the residual add rounded */
  CHECK(nvrar_ref_to_float(bres, 4, NVRAR_REF_BFLOAT16) == 1.0f + 0x1p-6f);
  /* half: 2049 is a tie between 2048 and 2050 (11 significant bits), to even */
  unsigned short h[1];
  nvrar_ref_from_float(h, 0, NVRAR_REF_FLOAT16, 2049.0f);
  CHECK(nvrar_ref_to_float(h, 0, NVRAR_REF_FLOAT16) == 2048.0f);
  nvrar_ref_from_float(h, 0, NVRAR_REF_FLOAT16, 0x1p-20f); /* subnormal: 2^-20 = 16 x 2^-24 */
  CHECK(h[0] == 16);
  nvrar_ref_from_float(h, 0, NVRAR_REF_FLOAT16, 65520.0f); /* past the largest half: infinity */
  CHECK(isinf(nvrar_ref_to_float(h, 0, NVRAR_REF_FLOAT16)));

  /* The sum of squares' order: a float row of 2048 with 4096 first and ones after. Thread 0 holds
   * 2^24 and loses its 7 ones (2^24 + 1 ties to 2^24); the other 255 threads hold 8 each and
   * come in through the butterfly and the warp sums: 2^24 + 255 x 8. A running sum would give 2^24. */
  static float row[2048];
  for (int i = 0; i < 2048; i++) row[i] = 1.0f;
  row[0] = 4096.0f;
  CHECK(nvrar_ref_row_sum_of_squares(row, 2048, 4) == 16777216.0f + 2040.0f);

  /* what the call refuses, the reference refuses too */
  CHECK(nvrar_ref_add_rmsnorm(ins, 2, res, w, 0.0f, out, 1, 6, NVRAR_REF_FLOAT32) == -1);
  CHECK(nvrar_ref_add_rmsnorm(bins, 2, bres, bw, 0.0f, bout, 1, 4, NVRAR_REF_BFLOAT16) == -1);
  return unit_finish("test_rmsnorm_ref");
}
