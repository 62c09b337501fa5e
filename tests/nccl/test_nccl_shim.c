/*
 * The NCCL drop-in on the CPU, against a stand-in NCCL (fake_nccl.c, loaded through
 * NVRAR_NCCL_LIBRARY): what is forwarded and in what order, what a missing or unloadable NCCL gives,
 * bad settings. The drop-in loads its NCCL once per process, so each scenario is its own run:
 *
 *   test_nccl_shim forward|disabled|bad-env|missing|self|threads
 *
 * Exit 0 pass, 1 fail.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nccl.h>

#include "unit.h"

static const char *(*fake_log)(void);
static void (*fake_clear)(void);

static int open_fake(void) {
  const char *path = getenv("NVRAR_NCCL_LIBRARY");
  void *fake = path ? dlopen(path, RTLD_NOW | RTLD_NOLOAD) : NULL; /* the drop-in has loaded it */
  if (!fake) return 0;
  *(void **)&fake_log = dlsym(fake, "fake_nccl_log");
  *(void **)&fake_clear = dlsym(fake, "fake_nccl_log_clear");
  return fake_log && fake_clear;
}

/* A unique id from the fake, and its log cleared; 0 (after a failed check) when the fake is not loaded. */
static int start(ncclUniqueId *id) {
  CHECK(ncclGetUniqueId(id) == ncclSuccess);
  CHECK(open_fake());
  if (!fake_log) return 0;
  fake_clear();
  return 1;
}

/* 1 if the fake's log is exactly `want` since the last clear. */
static int logged(const char *want) {
  int same = !strcmp(fake_log(), want);
  if (!same) fprintf(stderr, "  fake NCCL saw \"%s\", expected \"%s\"\n", fake_log(), want);
  fake_clear();
  return same;
}

static void forward(void) {
  int version = 0;
  CHECK(ncclGetVersion(&version) == ncclSuccess && version == 99999); /* the real NCCL's, not ours */
  ncclUniqueId id;
  if (!start(&id)) return;
  CHECK(id.internal[5] == 7);
  ncclComm_t comm = NULL;
  CHECK(ncclCommInitRank(&comm, 1, id, 0) == ncclSuccess && comm != NULL);
  /* a one-rank communicator gets no nvrar side: its size, rank and device were asked, nothing else */
  CHECK(logged("ncclCommInitRank ncclCommCount ncclCommUserRank ncclCommCuDevice "));
  float buf[4];
  CHECK(ncclAllReduce(buf, buf, 4, ncclFloat32, ncclSum, comm, NULL) == ncclSuccess);
  CHECK(ncclAllReduce(buf, buf, 4, ncclInt32, ncclProd, comm, NULL) == ncclSuccess);
  CHECK(pncclAllReduce(buf, buf, 4, ncclBfloat16, ncclMax, comm, NULL) == ncclSuccess);
  CHECK(logged("ncclAllReduce ncclAllReduce ncclAllReduce "));
  /* a group is NCCL's: start, its calls and end arrive in order */
  CHECK(ncclGroupStart() == ncclSuccess);
  CHECK(ncclAllReduce(buf, buf, 4, ncclFloat16, ncclMin, comm, NULL) == ncclSuccess);
  CHECK(ncclGroupEnd() == ncclSuccess);
  CHECK(logged("ncclGroupStart ncclAllReduce ncclGroupEnd "));
  /* NCCL's failure comes back as it is, with NCCL's own text */
  CHECK(ncclAllGather(buf, buf, 1, ncclFloat32, comm, NULL) == ncclInvalidArgument);
  CHECK(!strcmp(ncclGetLastError(comm), "fake all-gather failed"));
  CHECK(!strcmp(ncclGetErrorString(ncclSuccess), "fake: no error"));
  /* a function this NCCL lacks: a clear error, nothing forwarded */
  ncclComm_t child = NULL;
  CHECK(ncclCommShrink(comm, NULL, 0, &child, NULL, 0) == ncclInvalidUsage);
  CHECK(strstr(ncclGetLastError(comm), "ncclCommShrink is not in the loaded NCCL 99999") != NULL);
  ncclResult_t async = ncclInternalError;
  CHECK(ncclCommGetAsyncError(comm, &async) == ncclSuccess && async == ncclSuccess);
  CHECK(ncclCommDestroy(comm) == ncclSuccess);
  CHECK(logged("ncclAllGather ncclCommGetAsyncError ncclCommDestroy "));
  /* a communicator created with a config, then aborted */
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  CHECK(ncclCommInitRankConfig(&comm, 1, id, 0, &config) == ncclSuccess);
  CHECK(ncclCommAbort(comm) == ncclSuccess);
  CHECK(logged("ncclCommInitRankConfig ncclCommCount ncclCommUserRank ncclCommCuDevice ncclCommAbort "));
}

/* NVRAR_NCCL_DISABLE=1: a pure pass-through, not even the size of a communicator is asked */
static void disabled(void) {
  ncclUniqueId id;
  if (!start(&id)) return;
  ncclComm_t comm = NULL;
  CHECK(ncclCommInitRank(&comm, 1, id, 0) == ncclSuccess);
  float buf[4];
  CHECK(ncclAllReduce(buf, buf, 4, ncclFloat32, ncclSum, comm, NULL) == ncclSuccess);
  CHECK(ncclCommDestroy(comm) == ncclSuccess);
  CHECK(logged("ncclCommInitRank ncclAllReduce ncclCommDestroy "));
}

/* a malformed setting: communicator creation fails with a message naming it, NCCL is not asked */
static void bad_env(void) {
  ncclUniqueId id;
  if (!start(&id)) return;
  ncclComm_t comm = NULL;
  CHECK(ncclCommInitRank(&comm, 1, id, 0) == ncclInvalidArgument && comm == NULL);
  CHECK(strstr(ncclGetLastError(NULL), "NVRAR_NCCL_DISABLE=\"yes\" is invalid") != NULL);
  CHECK(logged(""));
}

/* no NCCL to forward to (none there, or the drop-in itself): every call fails, none recurses */
static void unloadable(const char *why) {
  int version = 0;
  CHECK(ncclGetVersion(&version) == ncclSystemError && version == 0);
  CHECK(strstr(ncclGetLastError(NULL), "the real NCCL could not be loaded") != NULL);
  CHECK(ncclGetErrorString(ncclSystemError) != NULL);
  ncclComm_t comm = NULL;
  ncclUniqueId id;
  memset(&id, 0, sizeof id);
  CHECK(ncclCommInitRank(&comm, 1, id, 0) == ncclSystemError && comm == NULL);
  CHECK(ncclGroupStart() == ncclSystemError);
  printf("  %s: ncclGetVersion gave %s\n", why, ncclGetErrorString(ncclSystemError));
}

/*
 * PyTorch's watchdog: a thread polls ncclCommGetAsyncError (and here also calls ncclAllReduce) on a
 * communicator while the main thread destroys it. The drop-in's record must outlive every call that
 * found it; before references it was freed under the poller (ASan: heap-use-after-free; TSan: race).
 */
typedef struct poller {
  ncclComm_t comm;
  int stop;
  long polls;
} poller_t;

static void *poll_comm(void *arg) {
  poller_t *p = arg;
  float buf[4] = {0};
  while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(p->comm, &async); /* after destroy: a stale handle NCCL's stand-in ignores */
    ncclAllReduce(buf, buf, 4, ncclFloat32, ncclSum, p->comm, NULL);
    p->polls++;
  }
  return NULL;
}

static void threads(void) {
  ncclUniqueId id;
  if (!start(&id)) return;
  enum { ROUNDS = 300, POLLERS = 3 };
  long polls = 0;
  for (int round = 0; round < ROUNDS; round++) {
    ncclComm_t comm = NULL;
    CHECK(ncclCommInitRank(&comm, 1, id, 0) == ncclSuccess && comm != NULL);
    poller_t p[POLLERS];
    pthread_t t[POLLERS];
    for (int k = 0; k < POLLERS; k++) {
      p[k] = (poller_t){comm, 0, 0};
      CHECK(pthread_create(&t[k], NULL, poll_comm, &p[k]) == 0);
    }
    for (int spin = 0; spin < 1000 * (round % 7); spin++) __atomic_thread_fence(__ATOMIC_SEQ_CST);
    CHECK((round & 1 ? ncclCommAbort(comm) : ncclCommDestroy(comm)) == ncclSuccess);
    for (int k = 0; k < POLLERS; k++) {
      __atomic_store_n(&p[k].stop, 1, __ATOMIC_RELEASE);
      pthread_join(t[k], NULL);
      polls += p[k].polls;
    }
    fake_clear();
  }
  printf("  %d create/destroy rounds with %d polling threads, %ld polls\n", ROUNDS, POLLERS, polls);
}

int main(int argc, char **argv) {
  const char *scenario = argc > 1 ? argv[1] : "";
  if (!strcmp(scenario, "forward")) forward();
  else if (!strcmp(scenario, "disabled")) disabled();
  else if (!strcmp(scenario, "bad-env")) bad_env();
  else if (!strcmp(scenario, "missing") || !strcmp(scenario, "self")) unloadable(scenario);
  else if (!strcmp(scenario, "threads")) threads();
  else {
    fprintf(stderr, "usage: test_nccl_shim forward|disabled|bad-env|missing|self|threads\n");
    return 1;
  }
  char name[64];
  snprintf(name, sizeof name, "test_nccl_shim %s", scenario);
  return unit_finish(name);
}
