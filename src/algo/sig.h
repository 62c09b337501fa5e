/*
 * The call signature: 32 bits of what a collective call is (element count, dtype, op, and for the
 * fused all-reduce + RMSNorm its hidden size), which every rank's kernel hands its peers with its
 * data, so that calls that do not match across ranks fail with NVRAR_ERR_MISMATCH instead of mixing
 * (include/nvrar.h). Carried by the one-node kernels: two-shot in the high half of its 64-bit barrier
 * flags, one-shot in a header cell per block (src/device/common.cuh).
 *
 * sig = fold(count) + shape(dtype, op, hidden) (mod 2^32): two calls of the same dtype, op and
 * hidden whose counts differ, both below 2^32, always differ; two calls of the same count and
 * another dtype, op or hidden differ unless shape() collides (tests/unit/test_chunk.c checks it does
 * not over every dtype and op and the hidden sizes a model has). Other differences are caught unless
 * 32 bits of hash collide. A pure function, compiled by gcc and nvcc.
 */
#ifndef NVRAR_ALGO_SIG_H
#define NVRAR_ALGO_SIG_H

#include <stdint.h>

#include "chunk.h"

/* A 64 -> 32 bit mix (the finaliser of splitmix64, then the high half). */
NVRAR_HD uint32_t nvrar_sig_mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return (uint32_t)(x >> 32);
}

/* hidden: 0 for nvrar_all_reduce, the row length for nvrar_all_reduce_add_rmsnorm. */
NVRAR_HD uint32_t nvrar_call_sig(uint64_t count, int dtype, int op, uint64_t hidden) {
  const uint32_t fold = (uint32_t)count ^ (uint32_t)(count >> 32) * 0x9e3779b9u;
  return fold + nvrar_sig_mix(((uint64_t)hidden << 8) ^ ((uint64_t)(uint8_t)dtype << 4) ^ (uint64_t)(uint8_t)op ^
                              0x6e76726172ull /* "nvrar" */);
}

#endif
