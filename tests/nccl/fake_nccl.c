/*
 * A stand-in for libnccl.so.2 for the drop-in's CPU tests (test_nccl_shim): each function appends its
 * name to a log that fake_nccl_log() returns, so a test sees what reached "NCCL" and in what order.
 * One-rank communicators only (no GPU). ncclCommShrink is left out on purpose: the drop-in must say
 * that the loaded NCCL lacks it. Thread-safe, for the drop-in's stress scenario.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <nccl.h>

static char log_text[8192];
static char last_error[256] = "";
static int next_comm = 1;
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;

#define LOG(name)                                                             \
  do {                                                                        \
    pthread_mutex_lock(&fake_lock);                                           \
    strncat(log_text, name " ", sizeof log_text - strlen(log_text) - 1);      \
    pthread_mutex_unlock(&fake_lock);                                         \
  } while (0)

static ncclComm_t new_comm(void) {
  pthread_mutex_lock(&fake_lock);
  ncclComm_t comm = (ncclComm_t)(size_t)(0x1000 * next_comm++);
  pthread_mutex_unlock(&fake_lock);
  return comm;
}

const char *fake_nccl_log(void) { return log_text; }
void fake_nccl_log_clear(void) {
  pthread_mutex_lock(&fake_lock);
  log_text[0] = 0;
  pthread_mutex_unlock(&fake_lock);
}

ncclResult_t ncclGetVersion(int *version) {
  LOG("ncclGetVersion");
  *version = 99999;
  return ncclSuccess;
}
ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
  LOG("ncclGetUniqueId");
  memset(id, 7, sizeof *id);
  return ncclSuccess;
}
ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
  LOG("ncclCommInitRank");
  *comm = new_comm();
  return nranks == 1 && rank == 0 ? ncclSuccess : ncclInvalidArgument;
}
ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank, ncclConfig_t *config) {
  LOG("ncclCommInitRankConfig");
  *comm = new_comm();
  return ncclSuccess;
}
ncclResult_t ncclCommCount(const ncclComm_t comm, int *count) {
  LOG("ncclCommCount");
  *count = 1;
  return ncclSuccess;
}
ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank) {
  LOG("ncclCommUserRank");
  *rank = 0;
  return ncclSuccess;
}
ncclResult_t ncclCommCuDevice(const ncclComm_t comm, int *device) {
  LOG("ncclCommCuDevice");
  *device = 0;
  return ncclSuccess;
}
ncclResult_t ncclAllReduce(const void *s, void *r, size_t n, ncclDataType_t t, ncclRedOp_t op, ncclComm_t c,
                           cudaStream_t st) {
  LOG("ncclAllReduce");
  return ncclSuccess;
}
ncclResult_t ncclAllGather(const void *s, void *r, size_t n, ncclDataType_t t, ncclComm_t c, cudaStream_t st) {
  LOG("ncclAllGather");
  snprintf(last_error, sizeof last_error, "fake all-gather failed");
  return ncclInvalidArgument;
}
ncclResult_t ncclGroupStart(void) {
  LOG("ncclGroupStart");
  return ncclSuccess;
}
ncclResult_t ncclGroupEnd(void) {
  LOG("ncclGroupEnd");
  return ncclSuccess;
}
ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *async) {
  LOG("ncclCommGetAsyncError");
  *async = ncclSuccess;
  return ncclSuccess;
}
ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  LOG("ncclCommDestroy");
  return ncclSuccess;
}
ncclResult_t ncclCommAbort(ncclComm_t comm) {
  LOG("ncclCommAbort");
  return ncclSuccess;
}
const char *ncclGetErrorString(ncclResult_t r) { return r == ncclSuccess ? "fake: no error" : "fake: some error"; }
const char *ncclGetLastError(ncclComm_t comm) { return last_error; }
