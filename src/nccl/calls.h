/*
 * Every function of nccl.h that returns ncclResult_t, once: X(name, parameters, arguments, comm).
 * `comm` is the expression naming the call's communicator (NULL for calls without one); the drop-in
 * counts and logs forwarded calls per communicator with it.
 *
 * DROPIN_FORWARDED: forward.c defines each as a pure forward to the real NCCL (and its pnccl alias).
 * DROPIN_INTERCEPTED: dropin.c defines each by hand. Both lists give real.h's table of the real
 * library's entry points. ncclGetErrorString, ncclGetLastError and ncclResetDebugInit, which return
 * something else, are in real.h and dropin.c by hand.
 */
#ifndef NVRAR_NCCL_CALLS_H
#define NVRAR_NCCL_CALLS_H

#include <nccl.h>

#define DROPIN_FORWARDED(X)                                                                                      \
  X(ncclMemAlloc, (void **ptr, size_t size), (ptr, size), NULL)                                                  \
  X(ncclMemFree, (void *ptr), (ptr), NULL)                                                                       \
  X(ncclGetVersion, (int *version), (version), NULL)                                                             \
  X(ncclGetUniqueId, (ncclUniqueId * uniqueId), (uniqueId), NULL)                                                \
  X(ncclCommFinalize, (ncclComm_t comm), (comm), comm)                                                           \
  X(ncclCommCount, (const ncclComm_t comm, int *count), (comm, count), comm)                                     \
  X(ncclCommCuDevice, (const ncclComm_t comm, int *device), (comm, device), comm)                                \
  X(ncclCommUserRank, (const ncclComm_t comm, int *rank), (comm, rank), comm)                                    \
  X(ncclCommRegister, (const ncclComm_t comm, void *buff, size_t size, void **handle), (comm, buff, size, handle), \
    comm)                                                                                                        \
  X(ncclCommDeregister, (const ncclComm_t comm, void *handle), (comm, handle), comm)                             \
  X(ncclCommWindowRegister, (ncclComm_t comm, void *buff, size_t size, ncclWindow_t *win, int winFlags),         \
    (comm, buff, size, win, winFlags), comm)                                                                     \
  X(ncclCommWindowDeregister, (ncclComm_t comm, ncclWindow_t win), (comm, win), comm)                            \
  X(ncclRedOpCreatePreMulSum,                                                                                    \
    (ncclRedOp_t * op, void *scalar, ncclDataType_t datatype, ncclScalarResidence_t residence, ncclComm_t comm), \
    (op, scalar, datatype, residence, comm), comm)                                                               \
  X(ncclRedOpDestroy, (ncclRedOp_t op, ncclComm_t comm), (op, comm), comm)                                       \
  X(ncclReduce,                                                                                                  \
    (const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op, int root,      \
     ncclComm_t comm, cudaStream_t stream),                                                                      \
    (sendbuff, recvbuff, count, datatype, op, root, comm, stream), comm)                                         \
  X(ncclBcast, (void *buff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream), \
    (buff, count, datatype, root, comm, stream), comm)                                                           \
  X(ncclBroadcast,                                                                                               \
    (const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,     \
     cudaStream_t stream),                                                                                       \
    (sendbuff, recvbuff, count, datatype, root, comm, stream), comm)                                             \
  X(ncclReduceScatter,                                                                                           \
    (const void *sendbuff, void *recvbuff, size_t recvcount, ncclDataType_t datatype, ncclRedOp_t op,            \
     ncclComm_t comm, cudaStream_t stream),                                                                      \
    (sendbuff, recvbuff, recvcount, datatype, op, comm, stream), comm)                                           \
  X(ncclAllGather,                                                                                               \
    (const void *sendbuff, void *recvbuff, size_t sendcount, ncclDataType_t datatype, ncclComm_t comm,           \
     cudaStream_t stream),                                                                                       \
    (sendbuff, recvbuff, sendcount, datatype, comm, stream), comm)                                               \
  X(ncclAlltoAll,                                                                                                \
    (const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, ncclComm_t comm,               \
     cudaStream_t stream),                                                                                       \
    (sendbuff, recvbuff, count, datatype, comm, stream), comm)                                                   \
  X(ncclGather,                                                                                                  \
    (const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,     \
     cudaStream_t stream),                                                                                       \
    (sendbuff, recvbuff, count, datatype, root, comm, stream), comm)                                             \
  X(ncclScatter,                                                                                                 \
    (const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,     \
     cudaStream_t stream),                                                                                       \
    (sendbuff, recvbuff, count, datatype, root, comm, stream), comm)                                             \
  X(ncclSend, (const void *sendbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,           \
               cudaStream_t stream),                                                                             \
    (sendbuff, count, datatype, peer, comm, stream), comm)                                                       \
  X(ncclRecv, (void *recvbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,                 \
               cudaStream_t stream),                                                                             \
    (recvbuff, count, datatype, peer, comm, stream), comm)

#define DROPIN_INTERCEPTED(X)                                                                                     \
  X(ncclCommInitRank, (ncclComm_t * comm, int nranks, ncclUniqueId commId, int rank), (comm, nranks, commId, rank), \
    NULL)                                                                                                         \
  X(ncclCommInitRankConfig, (ncclComm_t * comm, int nranks, ncclUniqueId commId, int rank, ncclConfig_t *config),  \
    (comm, nranks, commId, rank, config), NULL)                                                                   \
  X(ncclCommInitRankScalable,                                                                                     \
    (ncclComm_t * newcomm, int nranks, int myrank, int nId, ncclUniqueId *commIds, ncclConfig_t *config),         \
    (newcomm, nranks, myrank, nId, commIds, config), NULL)                                                        \
  X(ncclCommInitAll, (ncclComm_t * comm, int ndev, const int *devlist), (comm, ndev, devlist), NULL)              \
  X(ncclCommSplit, (ncclComm_t comm, int color, int key, ncclComm_t *newcomm, ncclConfig_t *config),              \
    (comm, color, key, newcomm, config), comm)                                                                    \
  X(ncclCommShrink,                                                                                               \
    (ncclComm_t comm, int *excludeRanksList, int excludeRanksCount, ncclComm_t *newcomm, ncclConfig_t *config,    \
     int shrinkFlags),                                                                                            \
    (comm, excludeRanksList, excludeRanksCount, newcomm, config, shrinkFlags), comm)                              \
  X(ncclCommDestroy, (ncclComm_t comm), (comm), comm)                                                             \
  X(ncclCommAbort, (ncclComm_t comm), (comm), comm)                                                               \
  X(ncclCommRevoke, (ncclComm_t comm, int revokeFlags), (comm, revokeFlags), comm)                                \
  X(ncclCommGetAsyncError, (ncclComm_t comm, ncclResult_t * asyncError), (comm, asyncError), comm)                \
  X(ncclGroupStart, (void), (), NULL)                                                                             \
  X(ncclGroupEnd, (void), (), NULL)                                                                               \
  X(ncclGroupSimulateEnd, (ncclSimInfo_t * simInfo), (simInfo), NULL)                                             \
  X(ncclAllReduce,                                                                                                \
    (const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op,                 \
     ncclComm_t comm, cudaStream_t stream),                                                                       \
    (sendbuff, recvbuff, count, datatype, op, comm, stream), comm)

/* An index per forwarded call, for the per-communicator counts. */
typedef enum dropin_call {
#define DROPIN_CALL_INDEX(name, params, args, comm) DROPIN_CALL_##name,
  DROPIN_FORWARDED(DROPIN_CALL_INDEX)
#undef DROPIN_CALL_INDEX
  DROPIN_NUM_CALLS
} dropin_call_t;

#endif
