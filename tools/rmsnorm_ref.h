/* The CPU reference of nvrar_all_reduce_add_rmsnorm (rmsnorm_ref.c). Pure C. */
#ifndef NVRAR_TOOLS_RMSNORM_REF_H
#define NVRAR_TOOLS_RMSNORM_REF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* nvrar_dtype_t values (include/nvrar.h), restated so that this file needs no other header. */
enum { NVRAR_REF_FLOAT32 = 0, NVRAR_REF_FLOAT16 = 1, NVRAR_REF_BFLOAT16 = 2, NVRAR_REF_MAX_HIDDEN = 65536 };

/* Element i of an array of dtype, as float; and x rounded to nearest even into element i. */
float nvrar_ref_to_float(const void *elems, size_t i, int dtype);
void nvrar_ref_from_float(void *elems, size_t i, int dtype, float x);
/* The header's sum of squares of one row r of hidden floats, packs of per_pack elements. */
float nvrar_ref_row_sum_of_squares(const float *r, size_t hidden, size_t per_pack);
/*
 * residual <- sum of inputs[0..nranks-1] (folded in rank order in fp32, rounded to dtype) + residual;
 * out <- rmsnorm(residual) * weight, as include/nvrar.h defines it. 0, or -1 for a hidden size the
 * call refuses.
 */
int nvrar_ref_add_rmsnorm(const void *const *inputs, int nranks, void *residual, const void *weight, float eps,
                          void *out, size_t rows, size_t hidden, int dtype);

#ifdef __cplusplus
}
#endif
#endif
