/* Internal interface of the NCCL drop-in (libnvrar_nccl.so) between dropin.c and forward.c. */
#ifndef NVRAR_NCCL_DROPIN_H
#define NVRAR_NCCL_DROPIN_H

#include <nccl.h>

#include "nccl/calls.h"
#include "nccl/real.h"

/* ncclSystemError when the real NCCL could not be loaded, with ncclGetLastError saying so. */
ncclResult_t dropin_unloaded(void);
/* ncclInvalidUsage for a function the loaded NCCL lacks, with ncclGetLastError saying which. */
ncclResult_t dropin_missing(const char *name);

/* Loads the real NCCL and checks it has fn, else returns the error from the calling wrapper. */
#define DROPIN_READY(fn)                                   \
  do {                                                     \
    if (!dropin_real_load()) return dropin_unloaded();     \
    if (!dropin_real.fn) return dropin_missing(#fn);       \
  } while (0)

/* Counts a forwarded call on comm (NULL: none) and logs the first of its kind per communicator. */
void dropin_note_call(ncclComm_t comm, dropin_call_t call, const char *name);
/* Passes a forwarded call's result through; a failure's text is then NCCL's (ncclGetLastError). */
ncclResult_t dropin_forwarded_result(ncclResult_t result);

#endif
