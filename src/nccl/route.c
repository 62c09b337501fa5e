/* The drop-in's decisions (route.h): pure, no CUDA, no NCCL library; tests/unit/test_dropin.c proves them. */
#include <string.h>

#include "nccl/route.h"

const char *dropin_reason_text(dropin_reason_t reason) {
  static const char *text[DROPIN_NUM_REASONS] = {
      "served by nvrar",
      "created inside ncclGroupStart/ncclGroupEnd, which NCCL completes only at the group's end",
      "a non-blocking communicator (config.blocking = 0 or NCCL_COMM_BLOCKING=0)",
      "ncclCommInitAll: one process drives several GPUs, and NVSHMEM takes one process per GPU",
      "a communicator of one rank",
      "its ranks span more than one host (nvrar across nodes is not yet measured against NCCL there)",
      "more ranks than nvrar reaches over NVLink in one node",
      "two of its ranks share a GPU",
      "its members' processes do not all share one NVSHMEM world (a process has one, from its first communicator)",
      "a member process tore an earlier nvrar communicator down locally (an abort or a late peer), which leaves "
      "NVSHMEM up there until it exits",
      "its members' NVSHMEM world has no sub-communicator slot free on all of them (4 at a time)",
      "a member refused to take part (its log says why)",
      "nvrar_comm_init failed on a member (its log says why)",
      "its members' NVRAR_NCCL_MAX_BYTES differ, so they would send one all-reduce to different libraries",
      "a member process already tracks the most live communicators the drop-in holds",
      "its nvrar side was aborted or revoked",
      "the dtype is not float, half or bfloat16",
      "the op is not sum, max or min",
      "the message is above NVRAR_NCCL_MAX_BYTES",
      "more all-reduces in one group than the drop-in holds for the group's end",
  };
  return (unsigned)reason < DROPIN_NUM_REASONS ? text[reason] : "unknown reason";
}

dropin_reason_t dropin_attach_decide(const dropin_member_t *members, int nranks, int max_ranks, int *slot) {
  *slot = -1;
  if (nranks < 2) return DROPIN_ONE_RANK;
  for (int r = 0; r < nranks; r++)
    if (members[r].refused != DROPIN_SERVED)
      return members[r].refused > 0 && members[r].refused < DROPIN_NUM_REASONS ? (dropin_reason_t)members[r].refused
                                                                                : DROPIN_PEER_REFUSED;
  for (int r = 1; r < nranks; r++)
    if (members[r].max_bytes != members[0].max_bytes) return DROPIN_SETTINGS_DIFFER;
  for (int r = 1; r < nranks; r++)
    if (members[r].host != members[0].host) return DROPIN_MULTI_NODE;
  if (nranks > max_ranks) return DROPIN_TOO_MANY_RANKS;
  for (int r = 0; r < nranks; r++)
    for (int s = r + 1; s < nranks; s++)
      if (members[r].device == members[s].device) return DROPIN_SHARED_DEVICE;
  uint32_t common = ~0u;
  for (int r = 0; r < nranks; r++) {
    if (members[r].world != members[0].world) return DROPIN_WORLD_TAKEN;
    common &= members[r].free_slots;
  }
  if (members[0].world == 0) return DROPIN_SERVED; /* a new world */
  for (int r = 0; r < nranks; r++)
    for (int s = r + 1; s < nranks; s++)
      if (members[r].world_rank == members[s].world_rank) return DROPIN_WORLD_TAKEN; /* not the same world after all */
  if (!common) return DROPIN_NO_SLOT;
  for (*slot = 0; !(common & 1u << *slot); ++*slot) continue;
  return DROPIN_SERVED;
}

nvrar_result_t dropin_settings_read(const char *(*lookup)(const char *), dropin_settings_t *out) {
  dropin_settings_t s = {0, 0};
  nvrar_result_t res = nvrar_env_read("NVRAR_NCCL_DISABLE", lookup, &s.disable);
  if (res == NVRAR_SUCCESS) res = nvrar_env_read("NVRAR_NCCL_MAX_BYTES", lookup, &s.max_bytes);
  if (res == NVRAR_SUCCESS) *out = s;
  return res;
}

dropin_reason_t dropin_route_all_reduce(ncclDataType_t datatype, ncclRedOp_t op, size_t count, size_t max_bytes,
                                        nvrar_dtype_t *dtype, nvrar_op_t *nvrar_op) {
  switch (datatype) {
    case ncclFloat32: *dtype = NVRAR_FLOAT32; break;
    case ncclFloat16: *dtype = NVRAR_FLOAT16; break;
    case ncclBfloat16: *dtype = NVRAR_BFLOAT16; break;
    default: return DROPIN_DTYPE;
  }
  switch (op) {
    case ncclSum: *nvrar_op = NVRAR_SUM; break;
    case ncclMax: *nvrar_op = NVRAR_MAX; break;
    case ncclMin: *nvrar_op = NVRAR_MIN; break;
    default: return DROPIN_OP; /* prod, avg and the ops of ncclRedOpCreatePreMulSum */
  }
  if (count > max_bytes / nvrar_dtype_size(*dtype)) return DROPIN_SIZE;
  return DROPIN_SERVED;
}

ncclResult_t dropin_nccl_result(nvrar_result_t result) {
  switch (result) {
    case NVRAR_SUCCESS: return ncclSuccess;
    case NVRAR_ERR_INVALID_ARGUMENT: return ncclInvalidArgument;
    case NVRAR_ERR_INVALID_USAGE:
    case NVRAR_ERR_UNSUPPORTED:
    case NVRAR_ERR_VERSION:
    case NVRAR_ERR_ABORTED:
    case NVRAR_ERR_MISMATCH: return ncclInvalidUsage;
    case NVRAR_ERR_CUDA: return ncclUnhandledCudaError;
    case NVRAR_ERR_TIMEOUT: return ncclRemoteError; /* a peer did not come */
    case NVRAR_ERR_NVSHMEM:
    case NVRAR_ERR_OUT_OF_MEMORY: return ncclSystemError;
    default: return ncclInternalError;
  }
}
