/*
 * Multi-GPU correctness: every dtype x op x in/out-of-place x count from 0 to 64 MiB (odd counts and
 * pointers off 16-byte alignment too), bitwise against the reference and bitwise equal across
 * ranks, with guard bytes around every output to catch stray writes; back-to-back calls of mixed
 * sizes with no host synchronisation between them; symmetric (nvrar_malloc) buffers; all-one words
 * (NaN, lamport's empty-word sentinel) in one rank's input; bad input that
 * must be refused without changing anything; the communicator's memory and init time.
 *
 * Run: test_allreduce -g 4 (NVRAR_ALGO forces an algorithm, NVRAR_GPUS_PER_NODE splits the GPUs into
 * virtual nodes; NVRAR_SHARE_GPUS=1 lets ranks share GPUs, NVRAR_TEST_MAX_BYTES caps the messages and
 * NVRAR_TEST_QUICK=1 takes the sparser matrix of the shared tier: quick_counts, max/min in float only,
 * one of in/out-of-place per dtype and op but float sum). Exit 0/1/77.
 */
#include <math.h>

#include "mp.h"

#define MAX_BYTES ((size_t)64 << 20)
#define GUARD 256 /* bytes checked on each side of every output */

typedef struct outcome {
  unsigned long long wrong, digest, guard_bad;
} outcome_t;

static const size_t counts[] = {0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 255, 257,
                                1000, 1023, 1025, 4095, 4097, 8191, 12345, 65535, 65537, 131073, 262143, 262145,
                                1048575, 1048577, 4194305, 16777217, 33554432};

/*
 * The shared tier runs every algorithm at 2-8 ranks on one time-sliced GPU, where a call costs
 * milliseconds (a rank's kernel waits for its peers' time slices): it keeps each boundary the kernels
 * have and drops the repeats. Empty, one element, under one 16-byte pack, one pack, one over, odd
 * around 64 and 256, around 1 and 4 Ki elements, an odd size across blocks, over 64 Ki, 1 MiB of
 * floats less one. The unaligned pointers go with every other one.
 */
static const size_t quick_counts[] = {0, 1, 3, 8, 9, 17, 63, 65, 257, 1025, 4097, 12345, 65537, 262143};

static unsigned long long guard_errors(const unsigned char *base, size_t lo, size_t hi, size_t cap, unsigned char pat) {
  unsigned char host[GUARD];
  unsigned long long bad = 0;
  size_t before = lo < GUARD ? lo : GUARD;
  MP_CUDA(cudaMemcpy(host, base + lo - before, before, cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < before; i++) bad += host[i] != pat;
  size_t after = cap - hi < GUARD ? cap - hi : GUARD;
  MP_CUDA(cudaMemcpy(host, base + hi, after, cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < after; i++) bad += host[i] != pat;
  return bad;
}

/* One checked all-reduce; returns this rank's outcome. */
static outcome_t run_case(nvrar_comm_t comm, cudaStream_t s, unsigned char *send, unsigned char *recv, size_t cap,
                          size_t count, int dtype, int op, int inplace, size_t soff, size_t roff, int nranks,
                          uint32_t seed, unsigned long long *dev) {
  size_t esize = nvrar_dtype_size((nvrar_dtype_t)dtype), bytes = count * esize;
  unsigned char *in = send + soff * esize;
  unsigned char *out = inplace ? in : recv + roff * esize;
  MP_CUDA(cudaMemsetAsync(send, 0xee, cap, s));
  if (!inplace) MP_CUDA(cudaMemsetAsync(recv, 0xff, cap, s)); /* poison: NaN in every dtype */
  MP_CUDA(nvrar_check_fill(in, count, dtype, mp_rank, seed, s));
  MP_CUDA(cudaMemsetAsync(dev, 0, 2 * sizeof *dev, s));
  MP_NVRAR(nvrar_all_reduce(comm, in, out, count, (nvrar_dtype_t)dtype, (nvrar_op_t)op, s));
  MP_CUDA(nvrar_check_count_wrong(out, count, dtype, op, nranks, seed, dev, s));
  MP_CUDA(nvrar_check_digest(out, bytes, dev + 1, s));
  outcome_t o;
  unsigned long long host[2];
  MP_CUDA(cudaMemcpyAsync(host, dev, sizeof host, cudaMemcpyDeviceToHost, s));
  MP_CUDA(cudaStreamSynchronize(s));
  o.wrong = host[0];
  o.digest = host[1];
  unsigned char *base = inplace ? send : recv;
  o.guard_bad = guard_errors(base, (size_t)(out - base), (size_t)(out - base) + bytes, cap, inplace ? 0xee : 0xff);
  return o;
}

static void bad_input(nvrar_comm_t comm, cudaStream_t s, unsigned char *send, unsigned char *recv, int ndev, int dev) {
  /* Each refused call must leave recv as it was: poison it and look after each. */
  MP_CUDA(cudaMemset(recv, 0xab, 4096));
  float host_buf[64];
  MP_EXPECT(nvrar_all_reduce(comm, host_buf, recv, 64, NVRAR_FLOAT32, NVRAR_SUM, s) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_EXPECT(strstr(nvrar_get_last_error(), "host memory") || strstr(nvrar_get_last_error(), "not CUDA memory"));
  MP_EXPECT(nvrar_all_reduce(comm, send, NULL, 64, NVRAR_FLOAT32, NVRAR_SUM, s) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_EXPECT(nvrar_all_reduce(comm, send, recv, 64, (nvrar_dtype_t)5, NVRAR_SUM, s) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_EXPECT(nvrar_all_reduce(comm, send, recv, 64, NVRAR_FLOAT32, (nvrar_op_t)4, s) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_EXPECT(nvrar_all_reduce(comm, send + 1, recv, 64, NVRAR_FLOAT32, NVRAR_SUM, s) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_EXPECT(nvrar_all_reduce(comm, send, send + 8, 64, NVRAR_FLOAT32, NVRAR_SUM, s) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_EXPECT(nvrar_all_reduce(comm, send, recv, SIZE_MAX / 2, NVRAR_FLOAT32, NVRAR_SUM, s) == NVRAR_ERR_INVALID_ARGUMENT);
  if (ndev > 1) {
    void *other = NULL;
    MP_CUDA(cudaSetDevice((dev + 1) % ndev));
    MP_CUDA(cudaMalloc(&other, 4096));
    MP_CUDA(cudaSetDevice(dev));
    MP_EXPECT(nvrar_all_reduce(comm, other, recv, 64, NVRAR_FLOAT32, NVRAR_SUM, s) == NVRAR_ERR_INVALID_ARGUMENT);
    MP_EXPECT(strstr(nvrar_get_last_error(), "on device") != NULL);
    MP_CUDA(cudaFree(other));
  }
  unsigned char host[4096];
  MP_CUDA(cudaMemcpy(host, recv, sizeof host, cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < sizeof host; i++) MP_EXPECT(host[i] == 0xab);
}

int main(int argc, char **argv) {
  nvrar_job_t job;
  int rc = mp_start(argc, argv, &job, 2);
  if (rc >= 0) return rc;
  int n = job.nranks, dev = 0, ndev = 0;
  MP_CUDA(cudaGetDevice(&dev));
  MP_CUDA(cudaGetDeviceCount(&ndev));
  size_t free_before, free_after, total;
  MP_EXPECT(nvrar_job_barrier(&job) == 0); /* every rank's CUDA context exists: not counted below */
  MP_CUDA(cudaMemGetInfo(&free_before, &total));
  MP_EXPECT(nvrar_job_barrier(&job) == 0);
  nvrar_config_t config = NVRAR_CONFIG_INITIALIZER;
  double init_s = 0;
  nvrar_comm_t comm = mp_comm(&job, &config, &init_s);
  MP_EXPECT(nvrar_job_barrier(&job) == 0); /* every rank's init is done */
  MP_CUDA(cudaMemGetInfo(&free_after, &total));
  size_t taken = free_before - free_after;
  if (mp_shared(&job) && job.rank == 0) { /* cudaMemGetInfo sees the whole GPU: all its ranks together */
    int ndev_here = 0;
    MP_CUDA(cudaGetDeviceCount(&ndev_here));
    int on_gpu = n / ndev_here + (dev < n % ndev_here);
    printf("test_allreduce: init of the %d ranks on GPU %d took %zu MiB of device memory, %zu MiB per rank\n", on_gpu,
           dev, taken >> 20, (taken / (size_t)on_gpu) >> 20);
  }
  int q;
  MP_NVRAR(nvrar_comm_size(comm, &q));
  MP_EXPECT(q == n);
  MP_NVRAR(nvrar_comm_rank(comm, &q));
  MP_EXPECT(q == job.rank);
  MP_NVRAR(nvrar_comm_device(comm, &q));
  MP_EXPECT(q == dev);
  MP_NVRAR(nvrar_comm_local_size(comm, &q));
  const char *virt = getenv("NVRAR_GPUS_PER_NODE"); /* one host here: all ranks, or the virtual node size */
  MP_EXPECT(q == (virt && atoi(virt) ? atoi(virt) : n));
  if (job.rank == 0)
    printf("test_allreduce: %d ranks (nodes of %d), algo %s, init %.2f s, device memory taken by init %zu MiB (budget 256 MiB)\n", n, q,
           getenv("NVRAR_ALGO") ? getenv("NVRAR_ALGO") : "auto", init_s, taken >> 20);
  unsigned long long failures = 0, cases = 1;
  const int shared = mp_shared(&job);
  const size_t max_bytes = mp_max_bytes() && mp_max_bytes() < MAX_BYTES ? mp_max_bytes() : MAX_BYTES;
  if (shared) {
    cases = 0; /* cudaMemGetInfo counts every rank on the GPU: the budget is checked one rank per GPU */
    if (job.rank == 0) printf("  ranks share GPUs: the memory budget is not checked here; messages up to %zu bytes\n", max_bytes);
  } else if (taken > ((size_t)256 << 20)) {
    fprintf(stderr, "FAIL rank %d: init took %zu MiB of device memory, over the 256 MiB budget\n", job.rank, taken >> 20);
    failures++;
  }

  cudaStream_t s;
  MP_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  size_t cap = MAX_BYTES + 1024;
  unsigned char *send, *recv;
  unsigned long long *devc;
  MP_CUDA(cudaMalloc((void **)&send, cap));
  MP_CUDA(cudaMalloc((void **)&recv, cap));
  MP_CUDA(cudaMalloc((void **)&devc, 4 * sizeof *devc));

  const size_t offsets[2][2] = {{0, 0}, {1, 3}}; /* elements: 16-byte aligned, then not */
  uint32_t seed = 1000;
  double t0 = mp_now();
  /* NVRAR_TEST_QUICK=1 (the shared tier): sum in every dtype, max and min in float only; float sum
   * in and out of place, each other pair one of the two */
  const int quick = getenv("NVRAR_TEST_QUICK") && !strcmp(getenv("NVRAR_TEST_QUICK"), "1");
  const size_t *list = quick ? quick_counts : counts;
  const size_t list_len = quick ? sizeof quick_counts / sizeof quick_counts[0] : sizeof counts / sizeof counts[0];
  for (int dtype = 0; dtype < NVRAR_NUM_DTYPES; dtype++) {
    for (int op = 0; op < NVRAR_NUM_OPS; op++) {
      if (quick && op != NVRAR_SUM && dtype != NVRAR_FLOAT32) continue;
      for (int inplace = 0; inplace < 2; inplace++) {
        if (quick && !(op == NVRAR_SUM && dtype == NVRAR_FLOAT32) && (dtype + op + inplace) % 2) continue;
        unsigned long long bad_here = 0;
        for (size_t ci = 0; ci < list_len; ci++) {
          for (int v = 0; v < 2; v++) {
            size_t esize = nvrar_dtype_size((nvrar_dtype_t)dtype), count = list[ci];
            if (count * esize > max_bytes) continue;
            if (v == 1 && count > 1048577) continue; /* unaligned: the scalar path, kept to 4 MiB */
            if (v == 1 && quick && ci % 2) continue;
            outcome_t o = run_case(comm, s, send, recv, cap, count, dtype, op, inplace, offsets[v][0], offsets[v][1],
                                   n, seed++, devc);
            unsigned long long wrong = mp_sum(&job, o.wrong), guard = mp_sum(&job, o.guard_bad);
            int same = mp_same(&job, o.digest);
            cases++;
            if (wrong || guard || !same) {
              bad_here++;
              if (job.rank == 0)
                fprintf(stderr, "FAIL %s %s %s count %zu offsets %zu/%zu: #wrong %llu, guard bytes hit %llu, %s\n",
                        dtype == 0 ? "float" : dtype == 1 ? "half" : "bfloat16", op == 0 ? "sum" : op == 1 ? "max" : "min",
                        inplace ? "in-place" : "out-of-place", count, offsets[v][0], offsets[v][1], wrong, guard,
                        same ? "ranks agree" : "ranks DIFFER");
            }
          }
        }
        failures += bad_here;
        if (job.rank == 0)
          printf("  %-8s %-3s %-12s %s\n", dtype == 0 ? "float" : dtype == 1 ? "half" : "bfloat16",
                 op == 0 ? "sum" : op == 1 ? "max" : "min", inplace ? "in-place" : "out-of-place",
                 bad_here ? "FAILED" : "ok");
      }
    }
  }

  /* Back-to-back calls of mixed sizes (and so algorithms under auto), no host sync between them. */
  {
    const size_t mix[] = {1000, 3 << 20, 17, 262145, 1000, 5 << 20, 65536, 3};
    size_t off = 0;
    MP_CUDA(cudaMemsetAsync(recv, 0xff, cap, s));
    for (int i = 0; i < 8; i++) {
      MP_CUDA(nvrar_check_fill(send + off * 2, mix[i], NVRAR_BFLOAT16, job.rank, 7000 + i, s));
      off += mix[i] + 64;
    }
    MP_CUDA(cudaStreamSynchronize(s));
    MP_EXPECT(nvrar_job_barrier(&job) == 0);
    off = 0;
    for (int i = 0; i < 8; i++) {
      MP_NVRAR(nvrar_all_reduce(comm, send + off * 2, recv + off * 2, mix[i], NVRAR_BFLOAT16, NVRAR_SUM, s));
      off += mix[i] + 64;
    }
    MP_CUDA(cudaMemsetAsync(devc, 0, sizeof *devc, s));
    off = 0;
    for (int i = 0; i < 8; i++) {
      MP_CUDA(nvrar_check_count_wrong(recv + off * 2, mix[i], NVRAR_BFLOAT16, NVRAR_SUM, n, 7000 + i, devc, s));
      off += mix[i] + 64;
    }
    unsigned long long wrong = 0;
    MP_CUDA(cudaMemcpyAsync(&wrong, devc, sizeof wrong, cudaMemcpyDeviceToHost, s));
    MP_CUDA(cudaStreamSynchronize(s));
    wrong = mp_sum(&job, wrong);
    cases++;
    if (wrong) failures++;
    if (job.rank == 0) printf("  back-to-back mixed sizes: %s (#wrong %llu)\n", wrong ? "FAILED" : "ok", wrong);
  }

  /* Symmetric buffers from nvrar_malloc, in and out of place. */
  {
    void *sym_in = NULL, *sym_out = NULL;
    size_t count = 3 << 20;
    MP_NVRAR(nvrar_malloc(comm, count * 2, &sym_in));
    MP_NVRAR(nvrar_malloc(comm, count * 2, &sym_out));
    unsigned long long wrong = 0;
    for (int inplace = 0; inplace < 2; inplace++) {
      for (size_t c = 1000; c <= count; c *= 3) {
        void *out = inplace ? sym_in : sym_out;
        MP_CUDA(nvrar_check_fill(sym_in, c, NVRAR_BFLOAT16, job.rank, 9000 + (uint32_t)c, s));
        MP_CUDA(cudaMemsetAsync(devc, 0, sizeof *devc, s));
        MP_NVRAR(nvrar_all_reduce(comm, sym_in, out, c, NVRAR_BFLOAT16, NVRAR_SUM, s));
        MP_CUDA(nvrar_check_count_wrong(out, c, NVRAR_BFLOAT16, NVRAR_SUM, n, 9000 + (uint32_t)c, devc, s));
        unsigned long long w = 0;
        MP_CUDA(cudaMemcpyAsync(&w, devc, sizeof w, cudaMemcpyDeviceToHost, s));
        MP_CUDA(cudaStreamSynchronize(s));
        wrong += w;
      }
    }
    void *too_big = NULL;
    MP_EXPECT(nvrar_malloc(comm, (size_t)1 << 40, &too_big) == NVRAR_ERR_OUT_OF_MEMORY && too_big == NULL);
    MP_NVRAR(nvrar_free(comm, sym_out));
    MP_NVRAR(nvrar_free(comm, sym_in));
    MP_EXPECT(nvrar_free(comm, send) == NVRAR_ERR_INVALID_ARGUMENT);
    wrong = mp_sum(&job, wrong);
    cases++;
    if (wrong) failures++;
    if (job.rank == 0) printf("  nvrar_malloc buffers: %s (#wrong %llu)\n", wrong ? "FAILED" : "ok", wrong);
  }

  /* Words of all-one bits (a NaN in every dtype, and lamport's empty word) in the last rank's input:
   * the sum is NaN exactly there and exact elsewhere, bitwise the same on every rank, and no wait
   * mistakes such a word for one that has not arrived. */
  {
    const size_t count = 4099;
    float *host = malloc(count * sizeof(float)), *got = malloc(count * sizeof(float));
    MP_EXPECT(host && got);
    for (size_t i = 0; i < count; i++) host[i] = (float)((i * 5 + (size_t)job.rank) % 32);
    if (job.rank == n - 1)
      for (size_t i = 0; i < count; i += 7) memset(&host[i], 0xff, sizeof(float));
    MP_CUDA(cudaMemcpy(send, host, count * sizeof(float), cudaMemcpyHostToDevice));
    MP_CUDA(cudaMemset(recv, 0, count * sizeof(float)));
    MP_NVRAR(nvrar_all_reduce(comm, send, recv, count, NVRAR_FLOAT32, NVRAR_SUM, s));
    MP_CUDA(cudaStreamSynchronize(s));
    MP_CUDA(cudaMemcpy(got, recv, count * sizeof(float), cudaMemcpyDeviceToHost));
    unsigned long long wrong = 0, digest = 1469598103934665603ull;
    for (size_t i = 0; i < count; i++) {
      float want = 0;
      for (int r = 0; r < n; r++) want += (float)((i * 5 + (size_t)r) % 32);
      if (i % 7 == 0 ? !isnan(got[i]) : got[i] != want) wrong++;
      uint32_t bits;
      memcpy(&bits, &got[i], sizeof bits);
      digest = (digest ^ bits) * 1099511628211ull;
    }
    free(host);
    free(got);
    wrong = mp_sum(&job, wrong);
    const int same = mp_same(&job, digest);
    cases++;
    if (wrong || !same) failures++;
    if (job.rank == 0)
      printf("  all-one words (NaN) in one rank's input: %s (#wrong %llu, %s)\n", wrong || !same ? "FAILED" : "ok", wrong,
             same ? "ranks agree" : "ranks DIFFER");
  }

  bad_input(comm, s, send, recv, ndev, dev);
  /* Refused calls enqueued nothing, so the ranks are still in step: one more good call. */
  outcome_t o = run_case(comm, s, send, recv, cap, 4097, NVRAR_FLOAT32, NVRAR_SUM, 0, 0, 0, n, 1, devc);
  MP_EXPECT(mp_sum(&job, o.wrong) == 0);
  if (job.rank == 0) printf("  bad input refused, nothing changed: ok\n");

  nvrar_result_t async = NVRAR_ERR_INTERNAL;
  MP_NVRAR(nvrar_comm_get_async_error(comm, &async));
  MP_EXPECT(async == NVRAR_SUCCESS);
  MP_NVRAR(nvrar_comm_destroy(comm));
  MP_EXPECT(nvrar_all_reduce(comm, send, recv, 16, NVRAR_FLOAT32, NVRAR_SUM, s) == NVRAR_ERR_INVALID_USAGE);
  MP_EXPECT(nvrar_comm_destroy(comm) == NVRAR_ERR_INVALID_USAGE);
  /* A stale handle stays stale when a new communicator exists: it never gets the old address. */
  nvrar_comm_t again = mp_comm(&job, &config, NULL);
  MP_EXPECT(again != comm);
  MP_EXPECT(nvrar_all_reduce(comm, send, recv, 16, NVRAR_FLOAT32, NVRAR_SUM, s) == NVRAR_ERR_INVALID_USAGE);
  o = run_case(again, s, send, recv, cap, 1001, NVRAR_FLOAT32, NVRAR_SUM, 0, 0, 0, n, 2, devc);
  MP_EXPECT(mp_sum(&job, o.wrong) == 0);
  MP_NVRAR(nvrar_comm_destroy(again));
  if (job.rank == 0) printf("  stale handle refused beside a new communicator: ok\n");
  MP_CUDA(cudaFree(send));
  MP_CUDA(cudaFree(recv));
  MP_CUDA(cudaFree(devc));
  if (job.rank == 0)
    printf("test_allreduce: %llu cases on %d ranks in %.1f s: %llu passed, %llu failed\n", cases, n, mp_now() - t0,
           cases - failures, failures);
  nvrar_job_finish(&job);
  return failures ? 1 : 0;
}
