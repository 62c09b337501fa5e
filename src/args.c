/* Argument checks and names that need no GPU: shared by the library and the CPU tests. */
#include <stdint.h>

#include "internal.h"

const char *nvrar_result_string(nvrar_result_t result) {
  static const char *names[NVRAR_NUM_RESULTS] = {
      "success",
      "invalid argument",
      "invalid usage",
      "CUDA error",
      "NVSHMEM error",
      "out of memory",
      "timeout waiting for a peer",
      "unsupported",
      "version mismatch",
      "communicator aborted",
      "internal error",
      "calls differ across ranks",
  };
  return (unsigned)result < NVRAR_NUM_RESULTS ? names[result] : "unknown result";
}

size_t nvrar_dtype_size(nvrar_dtype_t dtype) {
  switch (dtype) {
    case NVRAR_FLOAT32: return 4;
    case NVRAR_FLOAT16: return 2;
    case NVRAR_BFLOAT16: return 2;
    default: return 0;
  }
}

int nvrar_bytes_for(size_t count, nvrar_dtype_t dtype, size_t *bytes) {
  size_t size = nvrar_dtype_size(dtype);
  if (!size) return -1;
  /* Kernels index 16-byte packs with 64-bit counters; keep a margin so count * size + 15 cannot wrap. */
  if (count > (SIZE_MAX - 64) / size) return -1;
  *bytes = count * size;
  return 0;
}

/* Everything about the arguments that needs no GPU; tests/unit/test_validate.c runs it on the CPU. */
nvrar_result_t nvrar_validate_all_reduce(const void *sendbuf, void *recvbuf, size_t count, nvrar_dtype_t dtype,
                                         nvrar_op_t op, size_t *bytes) {
  if ((unsigned)dtype >= NVRAR_NUM_DTYPES)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_all_reduce: dtype %d is not an nvrar_dtype_t", (int)dtype);
  if ((unsigned)op >= NVRAR_NUM_OPS)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_all_reduce: op %d is not an nvrar_op_t", (int)op);
  if (nvrar_bytes_for(count, dtype, bytes))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_all_reduce: count %zu of %s overflows the byte count", count,
                       nvrar_dtype_name(dtype));
  if (count == 0) return NVRAR_SUCCESS;
  if (!sendbuf || !recvbuf)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_all_reduce: %s is NULL with count %zu > 0",
                       !sendbuf ? "sendbuf" : "recvbuf", count);
  size_t esize = nvrar_dtype_size(dtype);
  uintptr_t s = (uintptr_t)sendbuf, r = (uintptr_t)recvbuf;
  if (s % esize || r % esize)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_all_reduce: %s %p is not aligned to its %zu-byte %s elements",
                       s % esize ? "sendbuf" : "recvbuf", s % esize ? sendbuf : (const void *)recvbuf, esize,
                       nvrar_dtype_name(dtype));
  if (s > UINTPTR_MAX - *bytes || r > UINTPTR_MAX - *bytes)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_all_reduce: buffer of %zu bytes wraps the address space", *bytes);
  if (s != r && s < r + *bytes && r < s + *bytes)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT,
                       "nvrar_all_reduce: sendbuf %p and recvbuf %p overlap without being equal (in place needs "
                       "sendbuf == recvbuf)", sendbuf, (const void *)recvbuf);
  return NVRAR_SUCCESS;
}

/* 1 if [a, a + an) and [b, b + bn) share a byte. */
static int overlap(const void *a, size_t an, const void *b, size_t bn) {
  uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return an && bn && x < y + bn && y < x + an;
}

nvrar_result_t nvrar_validate_rmsnorm(const void *input, const void *residual, const void *weight, float eps,
                                      const void *out, size_t rows, size_t hidden, nvrar_dtype_t dtype, size_t *bytes) {
  static const char fn[] = "nvrar_all_reduce_add_rmsnorm";
  if ((unsigned)dtype >= NVRAR_NUM_DTYPES)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: dtype %d is not an nvrar_dtype_t", fn, (int)dtype);
  const size_t esize = nvrar_dtype_size(dtype);
  if (hidden == 0 || hidden > NVRAR_RMSNORM_MAX_HIDDEN || (hidden * esize) % 16)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT,
                       "%s: hidden %zu of %s must be 1-%d elements filling whole 16-byte packs (a multiple of %zu)", fn,
                       hidden, nvrar_dtype_name(dtype), NVRAR_RMSNORM_MAX_HIDDEN, 16 / esize);
  if (!(eps >= 0.0f) || eps > 3.4e38f)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: eps %g must be finite and >= 0", fn, (double)eps);
  const size_t row_bytes = hidden * esize;
  if (rows > SIZE_MAX / hidden || nvrar_bytes_for(rows * hidden, dtype, bytes))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: %zu rows of %zu elements overflow the byte count", fn, rows,
                       hidden);
  if (rows == 0) return NVRAR_SUCCESS;
  const void *ptrs[4] = {input, residual, weight, out};
  static const char *names[4] = {"input", "residual", "weight", "out"};
  for (int i = 0; i < 4; i++) {
    if (!ptrs[i]) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: %s is NULL with %zu rows", fn, names[i], rows);
    if ((uintptr_t)ptrs[i] % 16)
      return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: %s %p is not 16-byte aligned", fn, names[i], ptrs[i]);
    if ((uintptr_t)ptrs[i] > UINTPTR_MAX - (i == 2 ? row_bytes : *bytes))
      return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: %s wraps the address space", fn, names[i]);
  }
  if (overlap(residual, *bytes, input, *bytes) || overlap(residual, *bytes, out, *bytes) ||
      overlap(residual, *bytes, weight, row_bytes))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: residual %p overlaps input, out or weight", fn, residual);
  if (out != input && overlap(out, *bytes, input, *bytes))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: out %p and input %p overlap without being equal (in place "
                       "needs out == input)", fn, out, input);
  if (overlap(out, *bytes, weight, row_bytes))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: out %p overlaps weight %p", fn, out, weight);
  return NVRAR_SUCCESS;
}
