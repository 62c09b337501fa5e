/*
 * GPU-side data for exact checking, shared by nvrar_perf and the multi-GPU tests. Inputs are
 * k/4 with |k| <= 255, exact in float, half and bfloat16, so the fp32 fold of up to 8 ranks is exact
 * and the expected result is that fold rounded once to the element type: bitwise, for every rank.
 */
#ifndef NVRAR_TOOLS_CHECK_H
#define NVRAR_TOOLS_CHECK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* All return a cudaError_t (0 = success). dtype and op are nvrar_dtype_t / nvrar_op_t values. */
int nvrar_check_fill(void *buf, size_t count, int dtype, int rank, uint32_t seed, void *stream);
/* Non-integer inputs (uniform in [-1, 1), full mantissa, rounded to dtype) for the digest corpus:
 * an output digest then changes with the order of the sum, not only with a wrong result. */
int nvrar_check_fill_random(void *buf, size_t count, int dtype, int rank, uint32_t seed, void *stream);
/* Adds to *dev_wrong the elements of out that differ bitwise from the expected all-reduce. */
int nvrar_check_count_wrong(const void *out, size_t count, int dtype, int op, int nranks, uint32_t seed,
                            unsigned long long *dev_wrong, void *stream);
/* A kernel that spins until *host_flag (host-mapped memory) is non-zero: another library's kernel stuck
 * on a lost peer, for the tests that nvrar's abort does not wait on the device. */
int nvrar_check_spin(const volatile int *dev_flag, void *stream);
/* Adds an order-sensitive digest of bytes of buf to *dev_digest (compare across ranks). */
int nvrar_check_digest(const void *buf, size_t bytes, unsigned long long *dev_digest, void *stream);

#ifdef __cplusplus
}
#endif
#endif
