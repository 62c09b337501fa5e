/*
 * Helpers for the multi-GPU tests: one process per GPU started by tools/launch (-g N, torchrun or
 * mpirun), a communicator over all of them, and checks that end the rank with exit code 1.
 * Exit codes: 0 pass, 1 fail, 77 skipped (not enough GPUs).
 */
#ifndef NVRAR_TEST_MP_H
#define NVRAR_TEST_MP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "check.h"
#include "launch.h"
#include "nvrar.h"

static int mp_rank;

#define MP_CUDA(call)                                                                                          \
  do {                                                                                                         \
    cudaError_t e_ = (cudaError_t)(call);                                                                      \
    if (e_ != cudaSuccess) {                                                                                   \
      fprintf(stderr, "rank %d %s:%d: %s failed: %s\n", mp_rank, __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      exit(1);                                                                                                 \
    }                                                                                                          \
  } while (0)

#define MP_NVRAR(call)                                                                                        \
  do {                                                                                                        \
    nvrar_result_t r_ = (call);                                                                               \
    if (r_ != NVRAR_SUCCESS) {                                                                                \
      fprintf(stderr, "rank %d %s:%d: %s failed: %s: %s\n", mp_rank, __FILE__, __LINE__, #call,              \
              nvrar_result_string(r_), nvrar_get_last_error());                                               \
      exit(1);                                                                                                \
    }                                                                                                         \
  } while (0)

#define MP_EXPECT(cond)                                                                               \
  do {                                                                                                \
    if (!(cond)) {                                                                                    \
      fprintf(stderr, "rank %d %s:%d: expected %s (last error: %s)\n", mp_rank, __FILE__, __LINE__, #cond, \
              nvrar_get_last_error());                                                                \
      exit(1);                                                                                        \
    }                                                                                                 \
  } while (0)

static inline double mp_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Weak: digest_corpus also runs against a baseline library from before the registry was exported
 * (0.4.0 up to 3b96933), which has no nvrar_env_read; the variable is then read here, as strictly. */
__attribute__((weak)) nvrar_result_t nvrar_env_read(const char *name, nvrar_env_lookup_fn lookup, void *out);

/* NVRAR_SHARE_GPUS=1: ranks may share GPUs, rank r on GPU r % (GPUs visible). */
static inline int mp_sharing(void) {
  int share = 0;
  if (!nvrar_env_read) {
    const char *v = getenv("NVRAR_SHARE_GPUS");
    if (v && strcmp(v, "0") && strcmp(v, "1"))
      fprintf(stderr, "NVRAR_SHARE_GPUS=%s is not 0 or 1; the ranks do not share GPUs\n", v);
    return v && !strcmp(v, "1");
  }
  if (nvrar_env_read("NVRAR_SHARE_GPUS", NULL, &share) != NVRAR_SUCCESS)
    fprintf(stderr, "%s; the ranks do not share GPUs\n", nvrar_get_last_error());
  return share;
}

/* Ranks share this run's GPUs (then cudaMemGetInfo sees the other ranks' memory too, and times are
 * time slices). */
static inline int mp_shared(const nvrar_job_t *job) {
  int ndev = 0;
  MP_CUDA(cudaGetDeviceCount(&ndev));
  return job->nranks > ndev;
}

/* NVRAR_TEST_MAX_BYTES: the largest message a test sends (the shared tier keeps runs short); 0: all. */
static inline size_t mp_max_bytes(void) {
  const char *v = getenv("NVRAR_TEST_MAX_BYTES");
  return v ? (size_t)strtoull(v, NULL, 10) : 0;
}

/* -g N from argv (default 2). Returns 77 when fewer GPUs are visible, so ctest reports a skip. */
static inline int mp_start(int argc, char **argv, nvrar_job_t *job, int min_ranks) {
  int nprocs = 0;
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "-g")) nprocs = atoi(argv[i + 1]);
  if (nprocs == 0 && !getenv("WORLD_SIZE") && !getenv("OMPI_COMM_WORLD_SIZE")) nprocs = min_ranks;
  int ndev = nvrar_job_count_gpus(), want = nprocs ? nprocs : min_ranks;
  if (ndev < 1) {
    printf("SKIP: needs a GPU, none visible\n");
    return 77;
  }
  if (ndev < want && !mp_sharing()) {
    printf("SKIP: needs %d GPUs, %d visible (NVRAR_SHARE_GPUS=1 runs the ranks on the GPUs there are)\n", want, ndev);
    return 77;
  }
  if (ndev < want) printf("%d ranks share %d GPU(s) (NVRAR_SHARE_GPUS=1): time-sliced, correctness only\n", want, ndev);
  /* Under the MPS daemon (scripts/mps.sh) ranks on one GPU run at once: each gets an equal share of
   * its SMs, so that every rank's blocks are resident together (docs/design.md). */
  if (ndev < want && getenv("CUDA_MPS_PIPE_DIRECTORY") && !getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE")) {
    char share[16];
    snprintf(share, sizeof share, "%d", 100 / ((want + ndev - 1) / ndev));
    setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", share, 1); /* before any rank creates its context */
    printf("under MPS: %s%% of the SMs for each rank\n", share);
  }
  if (nvrar_job_start(nprocs, job)) return 1;
  if (job->is_parent) return job->exit_code;
  mp_rank = job->rank;
  MP_CUDA(cudaGetDeviceCount(&ndev));
  MP_CUDA(cudaSetDevice(job->local_rank % ndev));
  MP_CUDA(cudaFree(0));
  return -1; /* a rank: carry on */
}

/* Bytes of a device buffer that are not 0xff (NaN in every dtype): what a failed call must leave. */
static inline size_t mp_bytes_not_nan(const void *dev, size_t bytes) {
  unsigned char *host = malloc(bytes);
  MP_EXPECT(host != NULL);
  MP_CUDA(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost));
  size_t bad = 0;
  for (size_t i = 0; i < bytes; i++) bad += host[i] != 0xff;
  free(host);
  return bad;
}

static inline nvrar_comm_t mp_comm(nvrar_job_t *job, nvrar_config_t *config, double *init_s) {
  nvrar_unique_id_t id;
  if (job->rank == 0) MP_NVRAR(nvrar_get_unique_id(&id));
  MP_EXPECT(nvrar_job_bcast(job, &id, sizeof id) == 0);
  nvrar_comm_t comm;
  double t0 = mp_now();
  MP_NVRAR(nvrar_comm_init(&comm, job->nranks, id, job->rank, config));
  if (init_s) *init_s = mp_now() - t0;
  return comm;
}

/* Sum of v over ranks. */
static inline unsigned long long mp_sum(nvrar_job_t *job, unsigned long long v) {
  unsigned long long all[1024];
  MP_EXPECT(nvrar_job_allgather(job, &v, all, sizeof v) == 0);
  unsigned long long s = 0;
  for (int r = 0; r < job->nranks; r++) s += all[r];
  return s;
}

/* 1 if every rank passed the same v. */
static inline int mp_same(nvrar_job_t *job, unsigned long long v) {
  unsigned long long all[1024];
  MP_EXPECT(nvrar_job_allgather(job, &v, all, sizeof v) == 0);
  for (int r = 1; r < job->nranks; r++)
    if (all[r] != all[0]) return 0;
  return 1;
}

#endif
