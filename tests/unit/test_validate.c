/*
 * Argument validation without a GPU: every bad input to an all-reduce gets its result code and a
 * message naming the problem; result strings are distinct.
 */
#include <stdint.h>
#include <math.h>
#include <string.h>

#include "internal.h"
#include "unit.h"

int main(void) {
  size_t bytes = 0;
  char buf[64] __attribute__((aligned(16))) = {0};
  void *a = buf, *b = buf + 32;

  CHECK(nvrar_validate_all_reduce(a, b, 4, NVRAR_FLOAT32, NVRAR_SUM, &bytes) == NVRAR_SUCCESS && bytes == 16);
  CHECK(nvrar_validate_all_reduce(a, a, 8, NVRAR_BFLOAT16, NVRAR_MAX, &bytes) == NVRAR_SUCCESS && bytes == 16);
  CHECK(nvrar_validate_all_reduce(NULL, NULL, 0, NVRAR_FLOAT16, NVRAR_MIN, &bytes) == NVRAR_SUCCESS);
  CHECK(nvrar_validate_all_reduce(NULL, b, 1, NVRAR_FLOAT32, NVRAR_SUM, &bytes) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_last_error_text(), "sendbuf is NULL") != NULL);
  CHECK(nvrar_validate_all_reduce(a, NULL, 1, NVRAR_FLOAT32, NVRAR_SUM, &bytes) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_last_error_text(), "recvbuf is NULL") != NULL);
  CHECK(nvrar_validate_all_reduce(a, b, 1, (nvrar_dtype_t)3, NVRAR_SUM, &bytes) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_last_error_text(), "dtype 3") != NULL);
  CHECK(nvrar_validate_all_reduce(a, b, 1, (nvrar_dtype_t)-1, NVRAR_SUM, &bytes) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_validate_all_reduce(a, b, 1, NVRAR_FLOAT32, (nvrar_op_t)3, &bytes) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_last_error_text(), "op 3") != NULL);
  CHECK(nvrar_validate_all_reduce(a, b, SIZE_MAX / 2, NVRAR_FLOAT32, NVRAR_SUM, &bytes) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_last_error_text(), "overflows") != NULL);
  CHECK(nvrar_validate_all_reduce(buf + 1, b, 1, NVRAR_FLOAT32, NVRAR_SUM, &bytes) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_last_error_text(), "not aligned") != NULL);
  CHECK(nvrar_validate_all_reduce(buf + 2, buf + 6, 2, NVRAR_FLOAT16, NVRAR_SUM, &bytes) == NVRAR_SUCCESS);
  CHECK(nvrar_validate_all_reduce(a, buf + 8, 4, NVRAR_FLOAT32, NVRAR_SUM, &bytes) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_last_error_text(), "overlap") != NULL);
  CHECK(nvrar_validate_all_reduce((void *)(UINTPTR_MAX - 15), b, 8, NVRAR_FLOAT32, NVRAR_SUM, &bytes) ==
        NVRAR_ERR_INVALID_ARGUMENT);

  /* nvrar_all_reduce_add_rmsnorm: shapes, alignment, overlap; 4 rows x 16 bf16 = 128 bytes each */
  {
    static char m[4096] __attribute__((aligned(16)));
    char *in = m, *res = m + 256, *w = m + 512, *out = m + 768;
    size_t rb = 0;
    const nvrar_dtype_t bf = NVRAR_BFLOAT16;
    CHECK(nvrar_validate_rmsnorm(in, res, w, 1e-6f, out, 4, 16, bf, &rb) == NVRAR_SUCCESS && rb == 128);
    CHECK(nvrar_validate_rmsnorm(in, res, w, 1e-6f, in, 4, 16, bf, &rb) == NVRAR_SUCCESS); /* out == input */
    CHECK(nvrar_validate_rmsnorm(NULL, NULL, NULL, 1e-6f, NULL, 0, 16, bf, &rb) == NVRAR_SUCCESS); /* no rows */
    CHECK(nvrar_validate_rmsnorm(in, res, w, 1e-6f, out, 4, 12, bf, &rb) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nvrar_last_error_text(), "16-byte packs") != NULL);
    CHECK(nvrar_validate_rmsnorm(in, res, w, 1e-6f, out, 4, 0, bf, &rb) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(nvrar_validate_rmsnorm(in, res, w, 1e-6f, out, 1, NVRAR_RMSNORM_MAX_HIDDEN + 8, bf, &rb) ==
          NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(nvrar_validate_rmsnorm(in, res, w, 1e-6f, out, 1, 12, NVRAR_FLOAT32, &rb) == NVRAR_SUCCESS);
    CHECK(nvrar_validate_rmsnorm(in, res, w, -1.0f, out, 4, 16, bf, &rb) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nvrar_last_error_text(), "eps") != NULL);
    CHECK(nvrar_validate_rmsnorm(in, res, w, NAN, out, 4, 16, bf, &rb) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(nvrar_validate_rmsnorm(in, res, w, INFINITY, out, 4, 16, bf, &rb) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(nvrar_validate_rmsnorm(in, res, w, 1e-6f, out, 4, 16, (nvrar_dtype_t)3, &rb) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(nvrar_validate_rmsnorm(in + 2, res, w, 1e-6f, out, 4, 16, bf, &rb) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nvrar_last_error_text(), "16-byte aligned") != NULL);
    CHECK(nvrar_validate_rmsnorm(in, NULL, w, 1e-6f, out, 4, 16, bf, &rb) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nvrar_last_error_text(), "residual is NULL") != NULL);
    CHECK(nvrar_validate_rmsnorm(in, in + 64, w, 1e-6f, out, 4, 16, bf, &rb) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nvrar_last_error_text(), "residual") != NULL);
    CHECK(nvrar_validate_rmsnorm(in, res, w, 1e-6f, in + 16, 4, 16, bf, &rb) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nvrar_last_error_text(), "without being equal") != NULL);
    CHECK(nvrar_validate_rmsnorm(in, res, out + 32, 1e-6f, out, 4, 16, bf, &rb) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nvrar_last_error_text(), "weight") != NULL);
    CHECK(nvrar_validate_rmsnorm(in, res, in, 1e-6f, out, 4, 16, bf, &rb) == NVRAR_SUCCESS); /* weight may alias input */
    CHECK(nvrar_validate_rmsnorm(in, res, w, 1e-6f, out, SIZE_MAX / 8, 16, bf, &rb) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nvrar_last_error_text(), "overflow") != NULL);
  }

  /* result strings: every code has its own, unknown codes a fallback */
  for (int r = 0; r < NVRAR_NUM_RESULTS; r++) {
    CHECK(nvrar_result_string((nvrar_result_t)r) != NULL);
    for (int k = 0; k < r; k++) CHECK(strcmp(nvrar_result_string((nvrar_result_t)r), nvrar_result_string((nvrar_result_t)k)));
  }
  CHECK(!strcmp(nvrar_result_string((nvrar_result_t)99), "unknown result"));
  CHECK(nvrar_dtype_size(NVRAR_BFLOAT16) == 2 && nvrar_dtype_size(NVRAR_FLOAT32) == 4 && nvrar_dtype_size((nvrar_dtype_t)7) == 0);

  return unit_finish("test_validate");
}
