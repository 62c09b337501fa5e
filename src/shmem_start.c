/*
 * NVSHMEM's init under a deadline. Its unique-id bootstrap (3.4.5) waits for every rank without a
 * bound: a rank that never arrives (its process died, the launcher started fewer ranks than nranks)
 * would hang nvrar_comm_init on the others. The init therefore runs on a helper thread while the
 * caller waits at most NVRAR_INIT_TIMEOUT seconds. A bootstrap cannot be called off, so past the
 * deadline the caller gets NVRAR_ERR_TIMEOUT and the helper is left waiting (detached): the process
 * cannot start another NVSHMEM world, which the caller records.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "internal.h"
#include "shmem.h"
#include "shmem_start.h"

typedef struct start_job {
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  int rank, nranks, device;
  char uid[NVRAR_UNIQUE_ID_BYTES];
  int done, abandoned, status;
} start_job_t;

static void *start_thread(void *arg) {
  start_job_t *job = arg;
  /* NVSHMEM starts on this thread's current device and context: make them the caller's (the device's
   * primary context, which the caller already created; a CUDA device is per thread). */
  int status = cudaSetDevice(job->device) == cudaSuccess && cudaFree(0) == cudaSuccess
                   ? nvrar_shmem_init(job->rank, job->nranks, job->uid)
                   : -1;
  pthread_mutex_lock(&job->lock);
  job->status = status;
  job->done = 1;
  int abandoned = job->abandoned;
  pthread_cond_signal(&job->done_cond);
  pthread_mutex_unlock(&job->lock);
  if (abandoned) free(job); /* nobody waits for it any more; NVSHMEM may be up, unowned */
  return NULL;
}

nvrar_result_t nvrar_shmem_start(int rank, int nranks, const void *uid, int device, double seconds, int *status,
                                 int *abandoned) {
  *abandoned = 0;
  *status = 0;
  start_job_t *job = calloc(1, sizeof *job);
  if (!job) return nvrar_error(NVRAR_ERR_OUT_OF_MEMORY, "nvrar_comm_init: out of host memory");
  pthread_mutex_init(&job->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&job->done_cond, &attr);
  pthread_condattr_destroy(&attr);
  job->rank = rank;
  job->nranks = nranks;
  job->device = device;
  memcpy(job->uid, uid, sizeof job->uid);

  pthread_t thread;
  if (pthread_create(&thread, NULL, start_thread, job)) {
    pthread_cond_destroy(&job->done_cond);
    pthread_mutex_destroy(&job->lock);
    free(job);
    return nvrar_error(NVRAR_ERR_INTERNAL, "nvrar_comm_init: could not start a thread for NVSHMEM's init");
  }
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  double whole = floor(seconds);
  deadline.tv_sec += (time_t)whole;
  deadline.tv_nsec += (long)((seconds - whole) * 1e9);
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&job->lock);
  int waited = 0;
  while (!job->done && waited != ETIMEDOUT) waited = pthread_cond_timedwait(&job->done_cond, &job->lock, &deadline);
  if (!job->done) {
    job->abandoned = 1;
    pthread_mutex_unlock(&job->lock);
    pthread_detach(thread);
    *abandoned = 1;
    return nvrar_error(NVRAR_ERR_TIMEOUT,
                       "nvrar_comm_init: rank %d of %d waited %.0f s (NVRAR_INIT_TIMEOUT) in NVSHMEM's bootstrap for "
                       "ranks that never arrived: did every rank call nvrar_comm_init with the same id and nranks? "
                       "This process cannot start another communicator", rank, nranks, seconds);
  }
  *status = job->status;
  pthread_mutex_unlock(&job->lock);
  pthread_join(thread, NULL);
  pthread_cond_destroy(&job->done_cond);
  pthread_mutex_destroy(&job->lock);
  free(job);
  return NVRAR_SUCCESS;
}
