/*
 * Calls that differ across ranks (include/nvrar.h): rank 1 issues another call than rank 0, and no
 * rank may return numbers. First a matched all-reduce (it must be exact, so a signature that differs
 * on matching calls fails here), then the mismatched one; every rank must then report
 * NVRAR_ERR_MISMATCH from nvrar_comm_get_async_error well before the timeout (20 s), leave only NaN
 * (0xff bytes) in its output, and refuse the next call with NVRAR_ERR_MISMATCH; both abort.
 *
 * NVRAR_TEST_MISMATCH picks what differs on rank 1:
 *   count  (default) 1000 elements more than rank 0's 4096 floats
 *   dtype  bfloat16 instead of float, same count
 *   op     max instead of sum
 *   shape  nvrar_all_reduce_add_rmsnorm with the rows and hidden size swapped (same element count)
 *   plain  nvrar_all_reduce of the same elements where rank 0 calls the fused all-reduce + RMSNorm
 * Run: NVRAR_ALGO=oneshot|twoshot test_mismatch -g 2 (the kernels that carry the signature). Exit 0/1/77.
 */
#include "mp.h"

enum { COUNT = 4096, ROWS = 4, HIDDEN = 1024 };

/* A matched all-reduce of integers: exact, on every rank. */
static int matched_call(nvrar_job_t *job, nvrar_comm_t comm, float *buf, cudaStream_t s) {
  float *host = malloc(COUNT * sizeof(float));
  MP_EXPECT(host != NULL);
  for (int i = 0; i < COUNT; i++) host[i] = (float)((i * 7 + job->rank * 3) % 64);
  MP_CUDA(cudaMemcpy(buf, host, COUNT * sizeof(float), cudaMemcpyHostToDevice));
  MP_NVRAR(nvrar_all_reduce(comm, buf, buf, COUNT, NVRAR_FLOAT32, NVRAR_SUM, s));
  MP_CUDA(cudaStreamSynchronize(s));
  MP_CUDA(cudaMemcpy(host, buf, COUNT * sizeof(float), cudaMemcpyDeviceToHost));
  int ok = 1;
  for (int i = 0; i < COUNT; i++) {
    float want = 0;
    for (int r = 0; r < job->nranks; r++) want += (float)((i * 7 + r * 3) % 64);
    ok &= host[i] == want;
  }
  free(host);
  return ok;
}

int main(int argc, char **argv) {
  nvrar_job_t job;
  int rc = mp_start(argc, argv, &job, 2);
  if (rc >= 0) return rc;
  const char *what = getenv("NVRAR_TEST_MISMATCH");
  if (!what || !*what) what = "count";
  if (strcmp(what, "count") && strcmp(what, "dtype") && strcmp(what, "op") && strcmp(what, "shape") &&
      strcmp(what, "plain")) {
    fprintf(stderr, "test_mismatch: NVRAR_TEST_MISMATCH=%s is none of count, dtype, op, shape, plain\n", what);
    return 1;
  }
  nvrar_config_t config = NVRAR_CONFIG_INITIALIZER;
  config.timeout_seconds = 20.0;
  nvrar_comm_t comm = mp_comm(&job, &config, NULL);
  cudaStream_t s;
  MP_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  const size_t buf_bytes = (COUNT + 1000) * sizeof(float);
  float *buf, *res, *w;
  MP_CUDA(cudaMalloc((void **)&buf, buf_bytes));
  MP_CUDA(cudaMalloc((void **)&res, buf_bytes));
  MP_CUDA(cudaMalloc((void **)&w, HIDDEN * ROWS * sizeof(float)));
  MP_CUDA(cudaMemset(res, 0, buf_bytes));
  MP_CUDA(cudaMemset(w, 0, HIDDEN * ROWS * sizeof(float)));
  int ok = matched_call(&job, comm, buf, s);
  if (!ok) fprintf(stderr, "rank %d: the matched all-reduce before the mismatch was not exact\n", job.rank);

  const int odd = job.rank == 1; /* the rank whose call differs */
  MP_CUDA(cudaMemset(buf, 0, buf_bytes));
  size_t out_bytes = COUNT * sizeof(float);
  double t0 = mp_now();
  nvrar_result_t r;
  if (!strcmp(what, "count")) {
    if (odd) out_bytes += 1000 * sizeof(float);
    r = nvrar_all_reduce(comm, buf, buf, odd ? COUNT + 1000 : COUNT, NVRAR_FLOAT32, NVRAR_SUM, s);
  } else if (!strcmp(what, "dtype")) {
    if (odd) out_bytes = COUNT * 2;
    r = nvrar_all_reduce(comm, buf, buf, COUNT, odd ? NVRAR_BFLOAT16 : NVRAR_FLOAT32, NVRAR_SUM, s);
  } else if (!strcmp(what, "op")) {
    r = nvrar_all_reduce(comm, buf, buf, COUNT, NVRAR_FLOAT32, odd ? NVRAR_MAX : NVRAR_SUM, s);
  } else if (!strcmp(what, "shape")) {
    r = nvrar_all_reduce_add_rmsnorm(comm, buf, res, w, 1e-6f, buf, odd ? HIDDEN : ROWS, odd ? ROWS : HIDDEN,
                                     NVRAR_FLOAT32, s);
  } else if (odd) { /* plain */
    r = nvrar_all_reduce(comm, buf, buf, ROWS * HIDDEN, NVRAR_FLOAT32, NVRAR_SUM, s);
  } else {
    r = nvrar_all_reduce_add_rmsnorm(comm, buf, res, w, 1e-6f, buf, ROWS, HIDDEN, NVRAR_FLOAT32, s);
  }
  MP_CUDA(cudaStreamSynchronize(s));
  const double waited = mp_now() - t0;
  nvrar_result_t async = NVRAR_SUCCESS;
  MP_NVRAR(nvrar_comm_get_async_error(comm, &async));
  const size_t left = mp_bytes_not_nan(buf, out_bytes);
  nvrar_result_t next = nvrar_all_reduce(comm, buf, buf, 16, NVRAR_FLOAT32, NVRAR_SUM, s);
  printf("  rank %d, %s differs, algo %s: enqueue %s, kernel returned after %.2f s, async %s, %zu of %zu output bytes "
         "not NaN, next call %s\n", job.rank, what, getenv("NVRAR_ALGO") ? getenv("NVRAR_ALGO") : "auto",
         nvrar_result_string(r), waited, nvrar_result_string(async), left, out_bytes, nvrar_result_string(next));
  ok = ok && r == NVRAR_SUCCESS && waited < 10 && async == NVRAR_ERR_MISMATCH && left == 0 &&
       next == NVRAR_ERR_MISMATCH && strstr(nvrar_get_last_error(), "did not match") != NULL;
  MP_EXPECT(nvrar_job_barrier(&job) == 0);
  MP_NVRAR(nvrar_comm_abort(comm));
  ok = (int)mp_sum(&job, (unsigned long long)ok) == job.nranks;
  if (job.rank == 0) printf("test_mismatch: %s %s\n", what, ok ? "ok" : "FAILED");
  nvrar_job_finish(&job);
  return ok ? 0 : 1;
}
