/* The real NCCL behind the drop-in (and nvrar_perf --compare nccl): found, loaded with dlopen, its entry points
 * resolved (real.c). */
#ifndef NVRAR_NCCL_REAL_H
#define NVRAR_NCCL_REAL_H

#include <stddef.h>

#include "nccl/calls.h"

typedef struct dropin_real {
#define DROPIN_REAL_POINTER(name, params, args, comm) ncclResult_t(*name) params;
  DROPIN_FORWARDED(DROPIN_REAL_POINTER)
  DROPIN_INTERCEPTED(DROPIN_REAL_POINTER)
#undef DROPIN_REAL_POINTER
  const char *(*ncclGetErrorString)(ncclResult_t result);
  const char *(*ncclGetLastError)(ncclComm_t comm);
  void (*ncclResetDebugInit)(void);
  char path[4096]; /* the file loaded */
  int version;     /* its ncclGetVersion */
} dropin_real_t;

/* Filled by dropin_real_load; NULL entries are functions the loaded NCCL lacks (an older version). */
extern dropin_real_t dropin_real;

/*
 * Loads the real NCCL once per process (later calls return at once): 1 when it is loaded, 0 when
 * none could be (a warning names every path tried; each call then fails with ncclSystemError).
 * Search order: NVRAR_NCCL_LIBRARY (only it, when set); a libnccl.so* already loaded in the process
 * that is not this library (PyTorch's, under LD_PRELOAD or a framework's ctypes load); the one found
 * at build time; libnccl.so.2 of an nvidia-* wheel whose libraries are loaded (nvidia/nccl/lib);
 * $CUDA_HOME/lib64 and /usr/local/cuda/lib64; the loader's search for libnccl.so.2.
 */
int dropin_real_load(void);

/*
 * 1 if `path` names this library's own file (the drop-in, also through a libnccl.so.2 link to it);
 * the search skips those.
 */
int dropin_real_is_self(const char *path);

#endif
