/*
 * The NCCL calls the drop-in never serves (calls.h, DROPIN_FORWARDED): each goes straight to the real
 * NCCL, counted per communicator so that NVRAR_DEBUG=INFO can say what was forwarded. Each also
 * answers to its profiling name (pncclX), as NCCL's own do.
 */
#include "nccl/dropin.h"

#define DROPIN_FORWARD(name, params, args, comm)                       \
  ncclResult_t name params {                                           \
    DROPIN_READY(name);                                                \
    dropin_note_call(comm, DROPIN_CALL_##name, #name);                 \
    return dropin_forwarded_result(dropin_real.name args);             \
  }                                                                    \
  ncclResult_t p##name params __attribute__((alias(#name)));

DROPIN_FORWARDED(DROPIN_FORWARD)
