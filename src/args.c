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

