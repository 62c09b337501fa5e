/*
 * The NCCL drop-in's decisions, as pure functions the CPU tests prove: whether a new communicator
 * gets an nvrar side, and whether an all-reduce on it is served by nvrar or forwarded to NCCL.
 *
 * Every decision depends only on what all ranks of a communicator share (its size, what every member
 * reported when it was created, and the count, dtype and op of a collective call), never on a rank's
 * own buffers or timing: two ranks that decided differently would wait for each other in two
 * different libraries and hang.
 */
#ifndef NVRAR_NCCL_ROUTE_H
#define NVRAR_NCCL_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include <nccl.h>

#include "nvrar.h"

/* Why a communicator has no nvrar side, or why a call on it went to NCCL; SERVED when nvrar took it. */
typedef enum dropin_reason {
  DROPIN_SERVED = 0,
  DROPIN_GROUP_INIT,      /* created inside ncclGroupStart/End: NCCL finishes it only at the group's end */
  DROPIN_NONBLOCKING,     /* config.blocking = 0 (or NCCL_COMM_BLOCKING=0) */
  DROPIN_INIT_ALL,        /* ncclCommInitAll: one process drives several GPUs, NVSHMEM needs one per process */
  DROPIN_ONE_RANK,        /* a communicator of one rank */
  DROPIN_MULTI_NODE,      /* ranks on more than one host (not measured against NCCL over a network yet) */
  DROPIN_TOO_MANY_RANKS,  /* more ranks than nvrar reaches over NVLink in one node */
  DROPIN_SHARED_DEVICE,   /* two ranks on one GPU */
  DROPIN_WORLD_TAKEN,     /* a member process already has its NVSHMEM world (an earlier communicator) */
  DROPIN_SHMEM_STUCK,     /* a member tore an nvrar side down locally: NVSHMEM stays up there until exit */
  DROPIN_NO_SLOT,         /* the members' world has no sub-communicator slot free on all of them */
  DROPIN_PEER_REFUSED,    /* a member could not take part; its own log says why */
  DROPIN_INIT_FAILED,     /* nvrar_comm_init failed on some member */
  DROPIN_SETTINGS_DIFFER, /* the members' NVRAR_NCCL_MAX_BYTES differ: they would route calls differently */
  DROPIN_REGISTRY_FULL,   /* a member process already tracks the most communicators the drop-in holds */
  DROPIN_ABORTED,         /* the nvrar side was aborted or revoked */
  DROPIN_DTYPE,           /* a dtype nvrar does not reduce */
  DROPIN_OP,              /* an op nvrar does not reduce */
  DROPIN_SIZE,            /* above NVRAR_NCCL_MAX_BYTES */
  DROPIN_GROUP_FULL,      /* more all-reduces in one group than the drop-in holds for the group's end */
  DROPIN_NUM_REASONS
} dropin_reason_t;

/* One line saying what the reason means, for the logs. */
const char *dropin_reason_text(dropin_reason_t reason);

/* What each member tells the others when a communicator is created (all-gathered over NCCL). */
typedef struct dropin_member {
  int32_t refused;     /* DROPIN_SERVED, or why this process cannot take part */
  int32_t device;      /* its CUDA device */
  uint64_t host;       /* hash of its host name and boot id */
  uint64_t world;      /* id of its process's NVSHMEM world, 0 if it has none */
  int32_t world_rank;  /* its rank in that world */
  uint32_t free_slots; /* the world's sub-communicator slots free in its process (nvrar_comm_split_slots) */
  uint64_t max_bytes;  /* its NVRAR_NCCL_MAX_BYTES: every member must route every call alike */
} dropin_member_t;

/*
 * Whether the communicator of these nranks members (in rank order) gets an nvrar side: DROPIN_SERVED,
 * or the first reason against it. Served as a new NVSHMEM world (*slot = -1) when no member has a
 * world, or as a sub-communicator of the world they all share in *slot, the lowest slot free on all.
 * Every member computes it from the same gathered array, so all agree. max_ranks: the most ranks
 * nvrar reaches over NVLink.
 */
dropin_reason_t dropin_attach_decide(const dropin_member_t *members, int nranks, int max_ranks, int *slot);

/* The drop-in's settings (env registry: NVRAR_NCCL_DISABLE, NVRAR_NCCL_MAX_BYTES). */
typedef struct dropin_settings {
  int disable;
  size_t max_bytes;
} dropin_settings_t;

/* Reads them through lookup (getenv in the library); NVRAR_ERR_INVALID_ARGUMENT names a bad value. */
nvrar_result_t dropin_settings_read(const char *(*lookup)(const char *), dropin_settings_t *out);

/*
 * Whether an all-reduce on a communicator with an nvrar side is served: DROPIN_SERVED with *dtype
 * and *op set to nvrar's, or the reason it goes to NCCL.
 */
dropin_reason_t dropin_route_all_reduce(ncclDataType_t datatype, ncclRedOp_t op, size_t count, size_t max_bytes,
                                        nvrar_dtype_t *dtype, nvrar_op_t *nvrar_op);

/* NCCL's code for an nvrar result. */
ncclResult_t dropin_nccl_result(nvrar_result_t result);

#endif
