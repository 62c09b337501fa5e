/*
 * The CPU reference of nvrar_all_reduce_add_rmsnorm: include/nvrar.h's steps, one by one, in fp32
 * with round-to-nearest and no contraction (this file is compiled with -ffp-contract=off; fmaf is
 * the C library's correctly rounded one). Pure C: the GPU tests compare against it bitwise and a CPU
 * test pins it to hand-computed values.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "rmsnorm_ref.h"

float nvrar_ref_to_float(const void *elems, size_t i, int dtype) {
  if (dtype == NVRAR_REF_FLOAT32) {
    float x;
    memcpy(&x, (const char *)elems + 4 * i, 4);
    return x;
  }
  uint16_t h;
  memcpy(&h, (const char *)elems + 2 * i, 2);
  uint32_t bits;
  if (dtype == NVRAR_REF_BFLOAT16) {
    bits = (uint32_t)h << 16;
  } else { /* IEEE half */
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023;
    if (exp == 31) {
      bits = sign | 0x7f800000u | (man << 13);
    } else if (exp) {
      bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (!man) {
      bits = sign;
    } else { /* subnormal: man x 2^-24, exact in float */
      float x = (float)man * 0x1p-24f;
      memcpy(&bits, &x, 4);
      bits |= sign;
    }
  }
  float x;
  memcpy(&x, &bits, 4);
  return x;
}

/* float -> half, round to nearest even, through exact float arithmetic on the scaled value. */
static uint16_t to_half(float x) {
  uint32_t bits;
  memcpy(&bits, &x, 4);
  uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
  float a = fabsf(x);
  if (a != a) return sign | 0x7e00u;
  if (a >= 65520.0f) return sign | 0x7c00u; /* rounds to infinity */
  if (a < 0x1p-14f) return sign | (uint16_t)lrintf(a * 0x1p24f); /* subnormal (or the smallest normal) */
  int e;
  float m = frexpf(a, &e); /* a = m x 2^e, m in [0.5, 1) */
  uint32_t q = (uint32_t)lrintf(m * 2048.0f); /* 11 significant bits, rounded to even */
  if (q == 2048) q = 1024, e++;
  uint32_t exp = (uint32_t)(e + 14);
  if (exp >= 31) return sign | 0x7c00u;
  return sign | (uint16_t)((exp << 10) | (q - 1024));
}

static uint16_t to_bf16(float x) {
  uint32_t bits;
  memcpy(&bits, &x, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40u); /* quiet NaN */
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return (uint16_t)(bits >> 16);
}

void nvrar_ref_from_float(void *elems, size_t i, int dtype, float x) {
  if (dtype == NVRAR_REF_FLOAT32) {
    memcpy((char *)elems + 4 * i, &x, 4);
    return;
  }
  uint16_t h = dtype == NVRAR_REF_BFLOAT16 ? to_bf16(x) : to_half(x);
  memcpy((char *)elems + 2 * i, &h, 2);
}

/* x rounded to dtype and back. */
static float round_to(float x, int dtype) {
  unsigned char e[4];
  nvrar_ref_from_float(e, 0, dtype, x);
  return nvrar_ref_to_float(e, 0, dtype);
}

enum { THREADS = 256, WARP = 32 };

float nvrar_ref_row_sum_of_squares(const float *r, size_t hidden, size_t per_pack) {
  float acc[THREADS];
  const size_t packs = hidden / per_pack;
  for (int t = 0; t < THREADS; t++) {
    acc[t] = 0.0f;
    for (size_t k = (size_t)t; k < packs; k += THREADS)
      for (size_t e = 0; e < per_pack; e++) acc[t] = fmaf(r[k * per_pack + e], r[k * per_pack + e], acc[t]);
  }
  float ss = 0.0f;
  for (int w = 0; w < THREADS / WARP; w++) {
    float *lane = acc + w * WARP, next[WARP];
    for (int m = 16; m >= 1; m >>= 1) {
      for (int i = 0; i < WARP; i++) next[i] = lane[i] + lane[i ^ m];
      memcpy(lane, next, sizeof next);
    }
    ss = w == 0 ? lane[0] : ss + lane[0];
  }
  return ss;
}

int nvrar_ref_add_rmsnorm(const void *const *inputs, int nranks, void *residual, const void *weight, float eps,
                          void *out, size_t rows, size_t hidden, int dtype) {
  const size_t esize = dtype == NVRAR_REF_FLOAT32 ? 4 : 2, per_pack = 16 / esize;
  if (hidden == 0 || hidden > NVRAR_REF_MAX_HIDDEN || hidden % per_pack || nranks < 1) return -1;
  float r[NVRAR_REF_MAX_HIDDEN];
  for (size_t row = 0; row < rows; row++) {
    const size_t base = row * hidden;
    for (size_t i = 0; i < hidden; i++) {
      float s = nvrar_ref_to_float(inputs[0], base + i, dtype);
      for (int q = 1; q < nranks; q++) s = s + nvrar_ref_to_float(inputs[q], base + i, dtype);
      s = round_to(s, dtype);
      r[i] = round_to(s + nvrar_ref_to_float(residual, base + i, dtype), dtype);
      nvrar_ref_from_float(residual, base + i, dtype, r[i]);
    }
    const float ss = nvrar_ref_row_sum_of_squares(r, hidden, per_pack);
    const float inv = 1.0f / sqrtf(ss / (float)hidden + eps);
    for (size_t i = 0; i < hidden; i++)
      nvrar_ref_from_float(out, base + i, dtype, (r[i] * inv) * nvrar_ref_to_float(weight, i, dtype));
  }
  return 0;
}
