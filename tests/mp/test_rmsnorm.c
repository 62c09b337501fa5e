/*
 * nvrar_all_reduce_add_rmsnorm on the GPU: for every dtype, row shapes on every path (the fused
 * one-shot and two-shot, the all-reduce then add + norm under NVRAR_ALGO=ring or across virtual
 * nodes, the add + norm alone on one rank), in and out of place, and
 * once from a CUDA graph: out and residual bitwise equal to the CPU reference (tools/rmsnorm_ref.c)
 * and the same on every rank, on non-integer data with subnormals, signed zeros and exact
 * cancellations at the start of the first row; bad shapes and a weight in host memory refused
 * with nothing written.
 *
 * Run: test_rmsnorm -g N (NVRAR_SHARE_GPUS=1 for more ranks than GPUs). Exit 0/1/77.
 */
#include "mp.h"
#include "rmsnorm_ref.h"

typedef struct shape {
  size_t rows, hidden;
} shape_t;

static unsigned long long fnv(const unsigned char *p, size_t n, unsigned long long h) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

/* The all-reduce folds the ranks in order (one-shot, two-shot, the lamport pair: one node, no ring forced), so s is
 * the reference's own fold; else s is whatever nvrar_all_reduce gives (the header's definition). */
static int folds_in_rank_order(nvrar_comm_t comm, int nranks) {
  const char *algo = getenv("NVRAR_ALGO");
  int local = 0;
  MP_NVRAR(nvrar_comm_local_size(comm, &local));
  return local == nranks && (!algo || !*algo || !strcmp(algo, "auto") || !strcmp(algo, "oneshot") ||
                             !strcmp(algo, "twoshot") || !strcmp(algo, "lamport") ||
                             !strcmp(algo, "lamport-twoshot"));
}

/* The first 64 elements of the input and residual (the start of the first row) made edge cases of
 * the add: on rank 0 input i is +-(i + 1) subnormal steps (the other ranks add +0, so s is that
 * exactly), and residual i is, by i % 4, -s (r is +0), a subnormal, -0, or the smallest normals
 * plus a few steps. The packed add of half and bf16 must round these as the fp32 add does. */
static int plant_edges(unsigned char *d_in, unsigned char *d_res, size_t n, int dtype, int rank) {
  const size_t esize = nvrar_dtype_size((nvrar_dtype_t)dtype), k = n < 64 ? n : 64;
  const uint32_t sign = dtype == NVRAR_FLOAT32 ? 0x80000000u : 0x8000u;
  const uint32_t min_normal = dtype == NVRAR_FLOAT32 ? 0x00800000u : dtype == NVRAR_FLOAT16 ? 0x0400u : 0x0080u;
  unsigned char in[64 * 4], res[64 * 4];
  for (size_t i = 0; i < k; i++) {
    const uint32_t s = (i % 2 ? sign : 0) | (uint32_t)(i + 1);
    const uint32_t x = rank == 0 ? s : 0;
    const uint32_t r = i % 4 == 0 ? s ^ sign : i % 4 == 1 ? (uint32_t)(i + 3) : i % 4 == 2 ? sign : min_normal + (uint32_t)i;
    memcpy(in + i * esize, &x, esize); /* little-endian: the low bytes hold the element */
    memcpy(res + i * esize, &r, esize);
  }
  MP_CUDA(cudaMemcpy(d_in, in, k * esize, cudaMemcpyHostToDevice));
  MP_CUDA(cudaMemcpy(d_res, res, k * esize, cudaMemcpyHostToDevice));
  return 0;
}

/* One checked call; returns the number of elements of out and residual that differ from the reference:
 * the reference over s = nvrar_all_reduce(input) of this communicator, and over the ranks' inputs
 * themselves where the all-reduce folds in rank order. */
static unsigned long long run_case(nvrar_job_t *job, nvrar_comm_t comm, cudaStream_t s, int dtype, shape_t sh,
                                   int inplace, int graph, uint32_t seed, unsigned long long *digest) {
  const size_t esize = nvrar_dtype_size((nvrar_dtype_t)dtype), bytes = sh.rows * sh.hidden * esize;
  const size_t wbytes = sh.hidden * esize;
  unsigned char *d_in, *d_res, *d_w, *d_out;
  MP_CUDA(cudaMalloc((void **)&d_in, bytes));
  MP_CUDA(cudaMalloc((void **)&d_res, bytes));
  MP_CUDA(cudaMalloc((void **)&d_w, wbytes));
  MP_CUDA(cudaMalloc((void **)&d_out, bytes));
  unsigned char *out = inplace ? d_in : d_out;
  MP_CUDA(nvrar_check_fill_random(d_in, sh.rows * sh.hidden, dtype, job->rank, seed, s));
  MP_CUDA(nvrar_check_fill_random(d_res, sh.rows * sh.hidden, dtype, 0, seed + 1, s)); /* the same on every rank */
  MP_CUDA(nvrar_check_fill_random(d_w, sh.hidden, dtype, 0, seed + 2, s));
  MP_CUDA(cudaStreamSynchronize(s));
  MP_EXPECT(plant_edges(d_in, d_res, sh.rows * sh.hidden, dtype, job->rank) == 0);
  if (!inplace) MP_CUDA(cudaMemsetAsync(d_out, 0xff, bytes, s));
  unsigned char *all_in = malloc(bytes * (size_t)job->nranks), *res = malloc(bytes), *w = malloc(wbytes);
  unsigned char *got_out = malloc(bytes), *got_res = malloc(bytes), *ref_out = malloc(bytes);
  MP_EXPECT(all_in && res && w && got_out && got_res && ref_out);
  MP_CUDA(cudaStreamSynchronize(s));
  MP_CUDA(cudaMemcpy(got_out, d_in, bytes, cudaMemcpyDeviceToHost));
  MP_CUDA(cudaMemcpy(res, d_res, bytes, cudaMemcpyDeviceToHost));
  MP_CUDA(cudaMemcpy(w, d_w, wbytes, cudaMemcpyDeviceToHost));
  MP_EXPECT(nvrar_job_allgather(job, got_out, all_in, bytes) == 0);
  unsigned char *d_s, *sum = malloc(bytes);
  MP_EXPECT(sum != NULL);
  MP_CUDA(cudaMalloc((void **)&d_s, bytes));
  MP_NVRAR(nvrar_all_reduce(comm, d_in, d_s, sh.rows * sh.hidden, (nvrar_dtype_t)dtype, NVRAR_SUM, s));
  MP_CUDA(cudaStreamSynchronize(s));
  MP_CUDA(cudaMemcpy(sum, d_s, bytes, cudaMemcpyDeviceToHost));
  MP_CUDA(cudaFree(d_s));

  if (graph) {
    cudaGraph_t g;
    cudaGraphExec_t exec;
    MP_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    MP_NVRAR(nvrar_all_reduce_add_rmsnorm(comm, d_in, d_res, d_w, 1e-6f, out, sh.rows, sh.hidden, (nvrar_dtype_t)dtype, s));
    MP_CUDA(cudaStreamEndCapture(s, &g));
    MP_CUDA(cudaGraphInstantiate(&exec, g, 0));
    MP_CUDA(cudaGraphLaunch(exec, s));
    MP_CUDA(cudaStreamSynchronize(s));
    MP_CUDA(cudaGraphExecDestroy(exec));
    MP_CUDA(cudaGraphDestroy(g));
  } else {
    MP_NVRAR(nvrar_all_reduce_add_rmsnorm(comm, d_in, d_res, d_w, 1e-6f, out, sh.rows, sh.hidden, (nvrar_dtype_t)dtype, s));
  }
  MP_CUDA(cudaStreamSynchronize(s));
  MP_CUDA(cudaMemcpy(got_out, out, bytes, cudaMemcpyDeviceToHost));
  MP_CUDA(cudaMemcpy(got_res, d_res, bytes, cudaMemcpyDeviceToHost));

  unsigned long long wrong = 0;
  unsigned char *res_copy = malloc(bytes), *ref_out2 = malloc(bytes);
  MP_EXPECT(res_copy && ref_out2);
  memcpy(res_copy, res, bytes);
  const void *one[1] = {sum};
  MP_EXPECT(nvrar_ref_add_rmsnorm(one, 1, res, w, 1e-6f, ref_out, sh.rows, sh.hidden, dtype) == 0);
  for (size_t i = 0; i < sh.rows * sh.hidden; i++) {
    wrong += memcmp(got_out + i * esize, ref_out + i * esize, esize) != 0;
    wrong += memcmp(got_res + i * esize, res + i * esize, esize) != 0;
  }
  if (folds_in_rank_order(comm, job->nranks)) { /* the same bits from the ranks' inputs themselves */
    const void *ins[64];
    for (int r = 0; r < job->nranks && r < 64; r++) ins[r] = all_in + (size_t)r * bytes;
    MP_EXPECT(nvrar_ref_add_rmsnorm(ins, job->nranks, res_copy, w, 1e-6f, ref_out2, sh.rows, sh.hidden, dtype) == 0);
    wrong += memcmp(ref_out2, ref_out, bytes) != 0;
    wrong += memcmp(res_copy, res, bytes) != 0;
  }
  free(res_copy), free(ref_out2), free(sum);
  *digest = fnv(got_res, bytes, fnv(got_out, bytes, 14695981039346656037ull));
  free(all_in), free(res), free(w), free(got_out), free(got_res), free(ref_out);
  MP_CUDA(cudaFree(d_in));
  MP_CUDA(cudaFree(d_res));
  MP_CUDA(cudaFree(d_w));
  MP_CUDA(cudaFree(d_out));
  return wrong;
}

/* Bad input is refused and writes nothing. */
static int refusals(nvrar_comm_t comm, cudaStream_t s) {
  unsigned char *d, host[64];
  MP_CUDA(cudaMalloc((void **)&d, 4096));
  MP_CUDA(cudaMemset(d, 0x5a, 4096));
  int ok = 1;
  /* hidden 12 bf16 is not whole packs; a weight in host memory; residual overlapping out */
  ok &= nvrar_all_reduce_add_rmsnorm(comm, d, d + 1024, d + 2048, 1e-6f, d + 3072, 2, 12, NVRAR_BFLOAT16, s) ==
        NVRAR_ERR_INVALID_ARGUMENT;
  static unsigned char host_w[64] __attribute__((aligned(16)));
  ok &= nvrar_all_reduce_add_rmsnorm(comm, d, d + 1024, host_w, 1e-6f, d + 3072, 2, 16, NVRAR_BFLOAT16, s) ==
        NVRAR_ERR_INVALID_ARGUMENT;
  ok &= nvrar_all_reduce_add_rmsnorm(comm, d, d + 1024, d + 2048, 1e-6f, d + 1024, 2, 16, NVRAR_BFLOAT16, s) ==
        NVRAR_ERR_INVALID_ARGUMENT;
  MP_CUDA(cudaStreamSynchronize(s));
  for (int off = 0; off < 4096; off += 64) {
    MP_CUDA(cudaMemcpy(host, d + off, sizeof host, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < sizeof host; i++) ok &= host[i] == 0x5a;
  }
  MP_CUDA(cudaFree(d));
  return ok;
}

int main(int argc, char **argv) {
  nvrar_job_t job;
  int rc = mp_start(argc, argv, &job, 1);
  if (rc >= 0) return rc;
  MP_EXPECT(job.nranks <= 64);
  nvrar_config_t config = NVRAR_CONFIG_INITIALIZER;
  nvrar_comm_t comm = mp_comm(&job, &config, NULL);
  cudaStream_t s;
  MP_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  /* the fused one-shot up to one-shot's sizes (64 KiB at 3-8 ranks, 512 KiB at 2), past them the
   * all-reduce then add + norm; odd row counts; hidden sizes that are and are not 256 packs */
  /* 1100 and 1030 rows: more than the add + norm's 1024 blocks and the fused kernels' grids, so
   * blocks take several rows in turn; out of place only (the shared tier's time is spent elsewhere) */
  const shape_t half_shapes[] = {{1, 8}, {3, 1016}, {5, 4096}, {1, 8192}, {24, 8192}, {1, 65536}, {1100, 136}};
  const shape_t float_shapes[] = {{1, 4}, {3, 1020}, {5, 4096}, {12, 8192}, {1030, 68}};
  unsigned long long failures = 0, cases = 0;
  uint32_t seed = 500;
  for (int dtype = 0; dtype < NVRAR_NUM_DTYPES; dtype++) {
    const shape_t *shapes = dtype == NVRAR_FLOAT32 ? float_shapes : half_shapes;
    const size_t count = dtype == NVRAR_FLOAT32 ? sizeof float_shapes / sizeof float_shapes[0]
                                                : sizeof half_shapes / sizeof half_shapes[0];
    for (size_t i = 0; i < count; i++) {
      const int variants = shapes[i].rows > 1024 ? 1 : 3; /* out of place, in place, in place from a graph */
      for (int variant = 0; variant < variants; variant++) {
        unsigned long long digest = 0;
        unsigned long long wrong = mp_sum(&job, run_case(&job, comm, s, dtype, shapes[i], variant > 0, variant == 2,
                                                          seed, &digest));
        seed += 3;
        int same = mp_same(&job, digest);
        cases++;
        if (wrong || !same) failures++;
        if (job.rank == 0 && (wrong || !same))
          fprintf(stderr, "FAIL %s %zu x %zu %s: #wrong %llu, %s\n",
                  dtype == 0 ? "float" : dtype == 1 ? "half" : "bfloat16", shapes[i].rows, shapes[i].hidden,
                  variant == 0 ? "out of place" : variant == 1 ? "in place" : "graph", wrong,
                  same ? "ranks agree" : "ranks DIFFER");
      }
    }
  }
  int refused = refusals(comm, s);
  failures += !refused;
  cases++;
  if (job.rank == 0)
    printf("test_rmsnorm: %llu cases on %d ranks: %llu failed%s\n", cases, job.nranks, failures,
           refused ? "" : " (bad input was not refused cleanly)");
  MP_CUDA(cudaStreamDestroy(s));
  MP_NVRAR(nvrar_comm_destroy(comm));
  return failures ? 1 : 0;
}
