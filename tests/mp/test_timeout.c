/*
 * A peer that never comes: rank 1 skips the all-reduce that rank 0 enqueues. Rank 0's kernel must
 * give up after the configured timeout (1 s here), the error must show in
 * nvrar_comm_get_async_error and the next call must return NVRAR_ERR_TIMEOUT; then both ranks
 * abort without any collective, so nothing hangs, and without waiting on the device: a kernel of
 * "another library" spins on a stream of its own meanwhile and is still running when abort returns.
 *
 * With NVRAR_TEST_MISSING=destroy the peer is missing from nvrar_comm_destroy instead: rank 1
 * never calls it, and rank 0's destroy must return NVRAR_ERR_TIMEOUT after the timeout, torn down
 * locally, instead of hanging in NVSHMEM's collective teardown.
 *
 * NVRAR_TEST_MISSING=late-destroy: the peer reaches destroy after this rank gave up on it (below).
 *
 * Run: NVRAR_ALGO=oneshot|twoshot|.. test_timeout -g 2: each algorithm's waits; NVRAR_TEST_BYTES sets
 * the message (default 256 KiB; a multiple of 4). Exit 0/1/77.
 */
#include <unistd.h>

#include "mp.h"

static int missing_from_destroy(nvrar_job_t *job, nvrar_comm_t comm) {
  int ok = 1;
  if (job->rank == 0) {
    double t0 = mp_now();
    nvrar_result_t r = nvrar_comm_destroy(comm);
    double waited = mp_now() - t0;
    printf("  destroy without the peer: %s after %.2f s (%s)\n", nvrar_result_string(r), waited, nvrar_get_last_error());
    ok = r == NVRAR_ERR_TIMEOUT && waited >= 0.9 && waited < 10 && strstr(nvrar_get_last_error(), "tore down locally");
  }
  MP_EXPECT(nvrar_job_barrier(job) == 0);
  if (job->rank != 0) MP_NVRAR(nvrar_comm_abort(comm));
  ok = (int)mp_sum(job, (unsigned long long)ok) == job->nranks;
  if (job->rank == 0) printf("test_timeout: destroy %s\n", ok ? "ok" : "FAILED");
  nvrar_job_finish(job);
  return ok ? 0 : 1;
}

/*
 * NVRAR_TEST_MISSING=late-destroy: rank 1 reaches destroy 2 s after rank 0 has given up on it (timeout
 * 1 s). Rank 0 tears down locally; rank 1 must not complete the destroy barrier alone from what rank 0
 * left and then hang in NVSHMEM's collective teardown: it times out and tears down locally too.
 */
static int late_to_destroy(nvrar_job_t *job, nvrar_comm_t comm) {
  if (job->rank != 0) {
    struct timespec late = {3, 0};
    nanosleep(&late, NULL);
  }
  double t0 = mp_now();
  nvrar_result_t r = nvrar_comm_destroy(comm);
  double waited = mp_now() - t0;
  printf("  rank %d: destroy %s after %.2f s (%s)\n", job->rank, nvrar_result_string(r), waited, nvrar_get_last_error());
  int ok = r == NVRAR_ERR_TIMEOUT && waited < 10 && strstr(nvrar_get_last_error(), "tore down locally");
  ok = (int)mp_sum(job, (unsigned long long)ok) == job->nranks;
  if (job->rank == 0) printf("test_timeout: late destroy %s\n", ok ? "ok" : "FAILED");
  nvrar_job_finish(job);
  return ok ? 0 : 1;
}

/*
 * NVRAR_TEST_MISSING=vanish: rank 1's process ends right after init (as if killed), rank 0 carries
 * on alone: an eager all-reduce and the replay of a graph captured before must each give up within
 * the bound with NaN output, get_async_error says NVRAR_ERR_TIMEOUT, and abort returns at once.
 * NVRAR_TEST_MISSING=vanish-init: rank 1 ends before nvrar_comm_init; rank 0's init must fail with
 * NVRAR_ERR_TIMEOUT after NVRAR_INIT_TIMEOUT seconds, not hang (NVSHMEM's bootstrap waits for it without
 * a bound), and a second init in that process must refuse at once.
 */
static int vanished_peer(nvrar_job_t *job, nvrar_comm_t comm) {
  if (job->rank != 0) _exit(0); /* code 0: the launcher does not stop rank 0 because of it */
  cudaStream_t s;
  MP_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  void *buf;
  MP_CUDA(cudaMalloc(&buf, 4096));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  MP_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  MP_NVRAR(nvrar_all_reduce(comm, buf, buf, 1024, NVRAR_FLOAT32, NVRAR_SUM, s));
  MP_CUDA(cudaStreamEndCapture(s, &graph));
  MP_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  double t0 = mp_now();
  MP_CUDA(cudaMemset(buf, 0, 4096));
  MP_NVRAR(nvrar_all_reduce(comm, buf, buf, 1024, NVRAR_FLOAT32, NVRAR_SUM, s));
  MP_CUDA(cudaStreamSynchronize(s));
  double eager_s = mp_now() - t0;
  size_t eager_stale = mp_bytes_not_nan(buf, 4096);
  MP_CUDA(cudaMemset(buf, 0, 4096));
  t0 = mp_now();
  MP_CUDA(cudaGraphLaunch(exec, s));
  MP_CUDA(cudaStreamSynchronize(s));
  double replay_s = mp_now() - t0;
  size_t replay_stale = mp_bytes_not_nan(buf, 4096);
  nvrar_result_t async = NVRAR_SUCCESS;
  MP_NVRAR(nvrar_comm_get_async_error(comm, &async));
  t0 = mp_now();
  MP_NVRAR(nvrar_comm_abort(comm));
  double abort_s = mp_now() - t0;
  int ok = eager_s < 10 && replay_s < 10 && abort_s < 1 && eager_stale == 0 && replay_stale == 0 &&
           async == NVRAR_ERR_TIMEOUT;
  printf("  peer gone: eager call gave up after %.2f s (%zu bytes not NaN), replay after %.2f s (%zu), async %s, "
         "abort %.3f s\n", eager_s, eager_stale, replay_s, replay_stale, nvrar_result_string(async), abort_s);
  printf("test_timeout: vanished peer %s\n", ok ? "ok" : "FAILED");
  MP_CUDA(cudaGraphExecDestroy(exec));
  MP_CUDA(cudaGraphDestroy(graph));
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  nvrar_job_t job;
  int rc = mp_start(argc, argv, &job, 2);
  if (rc >= 0) return rc;
  nvrar_config_t config = NVRAR_CONFIG_INITIALIZER;
  config.timeout_seconds = 1.0;
  const char *missing = getenv("NVRAR_TEST_MISSING");
  if (missing && !strcmp(missing, "vanish-init")) {
    nvrar_unique_id_t id;
    if (job.rank == 0) MP_NVRAR(nvrar_get_unique_id(&id));
    MP_EXPECT(nvrar_job_bcast(&job, &id, sizeof id) == 0);
    if (job.rank != 0) _exit(0);
    nvrar_comm_t comm = NULL;
    double t0 = mp_now();
    nvrar_result_t r = nvrar_comm_init(&comm, job.nranks, id, job.rank, &config);
    double waited = mp_now() - t0;
    printf("  init without the peer: %s after %.2f s (%s)\n", nvrar_result_string(r), waited, nvrar_get_last_error());
    /* NVSHMEM's bootstrap still waits on its own thread: a second init must refuse at once */
    t0 = mp_now();
    nvrar_result_t again = nvrar_comm_init(&comm, job.nranks, id, job.rank, &config);
    double again_s = mp_now() - t0;
    printf("  a second init in that process: %s after %.2f s (%s)\n", nvrar_result_string(again), again_s,
           nvrar_get_last_error());
    const char *limit = getenv("NVRAR_INIT_TIMEOUT");
    double bound = (limit ? atof(limit) : 600) + 10;
    int ok = r == NVRAR_ERR_TIMEOUT && waited < bound && again == NVRAR_ERR_UNSUPPORTED && again_s < 1;
    printf("test_timeout: vanished before init %s\n", ok ? "ok" : "FAILED");
    _exit(ok ? 0 : 1); /* not through exit(): NVSHMEM's bootstrap thread is still blocked */
  }
  nvrar_comm_t comm = mp_comm(&job, &config, NULL);
  if (missing && !strcmp(missing, "vanish")) return vanished_peer(&job, comm);
  if (missing && !strcmp(missing, "destroy")) return missing_from_destroy(&job, comm);
  if (missing && !strcmp(missing, "late-destroy")) return late_to_destroy(&job, comm);
  cudaStream_t s;
  MP_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  size_t count = 1 << 16; /* 256 KiB of floats */
  const char *bytes = getenv("NVRAR_TEST_BYTES");
  if (bytes && atol(bytes) >= 4) count = (size_t)atol(bytes) / 4;
  void *buf;
  MP_CUDA(cudaMalloc(&buf, count * 4));
  MP_CUDA(cudaMemset(buf, 0, count * 4));
  int ok = 1;
  /* A graph captured before the timeout and replayed after it: the kernel finds the communicator dead
   * and must leave NaNs (0xff bytes), never the stale contents of its output. */
  void *gbuf;
  MP_CUDA(cudaMalloc(&gbuf, 4096));
  cudaGraphExec_t exec = NULL;
  if (job.rank == 0) {
    cudaGraph_t graph;
    MP_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    MP_NVRAR(nvrar_all_reduce(comm, gbuf, gbuf, 1024, NVRAR_FLOAT32, NVRAR_SUM, s));
    MP_CUDA(cudaStreamEndCapture(s, &graph));
    MP_CUDA(cudaGraphInstantiate(&exec, graph, 0));
    MP_CUDA(cudaGraphDestroy(graph));
  }
  if (job.rank == 0) {
    double t0 = mp_now();
    nvrar_result_t r = nvrar_all_reduce(comm, buf, buf, count, NVRAR_FLOAT32, NVRAR_SUM, s);
    MP_CUDA(cudaStreamSynchronize(s));
    double waited = mp_now() - t0;
    nvrar_result_t async = NVRAR_SUCCESS;
    MP_NVRAR(nvrar_comm_get_async_error(comm, &async));
    nvrar_result_t next = nvrar_all_reduce(comm, buf, buf, 16, NVRAR_FLOAT32, NVRAR_SUM, s);
    printf("  algo %s: enqueue %s, kernel returned after %.2f s, async error: %s, next call: %s (%s)\n",
           getenv("NVRAR_ALGO") ? getenv("NVRAR_ALGO") : "auto", nvrar_result_string(r), waited,
           nvrar_result_string(async), nvrar_result_string(next), nvrar_get_last_error());
    ok = r == NVRAR_SUCCESS && waited >= 0.9 && waited < 10 && async == NVRAR_ERR_TIMEOUT &&
         next == NVRAR_ERR_TIMEOUT && strstr(nvrar_get_last_error(), "timed out") != NULL;
    size_t stale = mp_bytes_not_nan(buf, count * 4);
    MP_CUDA(cudaMemset(gbuf, 0, 4096));
    MP_CUDA(cudaGraphLaunch(exec, s));
    MP_CUDA(cudaStreamSynchronize(s));
    size_t replay_stale = mp_bytes_not_nan(gbuf, 4096);
    printf("  output of the timed-out call: %zu of %zu bytes not 0xff; graph replay after it: %zu of 4096\n", stale,
           count * 4, replay_stale);
    ok = ok && stale == 0 && replay_stale == 0;
    MP_CUDA(cudaGraphExecDestroy(exec));
  }
  MP_CUDA(cudaFree(gbuf));
  MP_EXPECT(nvrar_job_barrier(&job) == 0);
  /* Another library's kernel, stuck on the same lost peer: abort must return while it still runs. */
  int *stuck = NULL, *dev_stuck = NULL;
  cudaStream_t other;
  MP_CUDA(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking));
  MP_CUDA(cudaHostAlloc((void **)&stuck, sizeof *stuck, cudaHostAllocMapped));
  *(volatile int *)stuck = 0;
  MP_CUDA(cudaHostGetDevicePointer((void **)&dev_stuck, stuck, 0));
  MP_CUDA(nvrar_check_spin(dev_stuck, other));
  double t0 = mp_now();
  MP_NVRAR(nvrar_comm_abort(comm));
  double abort_s = mp_now() - t0;
  int spinning = cudaStreamQuery(other) == cudaErrorNotReady;
  *(volatile int *)stuck = 1;
  MP_CUDA(cudaStreamSynchronize(other));
  if (!spinning || abort_s > 1.0) {
    fprintf(stderr, "rank %d: abort took %.3f s and the other kernel was %s: abort waited on the device\n", job.rank,
            abort_s, spinning ? "still running" : "done");
    ok = 0;
  }
  MP_EXPECT(nvrar_all_reduce(comm, buf, buf, 16, NVRAR_FLOAT32, NVRAR_SUM, s) == NVRAR_ERR_INVALID_USAGE);
  ok = (int)mp_sum(&job, (unsigned long long)ok) == job.nranks;
  if (job.rank == 0) printf("test_timeout: %s (abort took %.3f s)\n", ok ? "ok" : "FAILED", abort_s);
  nvrar_job_finish(&job);
  return ok ? 0 : 1;
}
