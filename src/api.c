/*
 * Public API: every argument is validated here, before anything is changed or enqueued; then the
 * communicator layer (comm.c) plans and launches.
 */
#include <stdint.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "comm.h"
#include "setup.h"
#include "shmem.h"
#include "shmem_env.h"

nvrar_result_t nvrar_get_version(int *version) {
  if (!version) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_get_version: version is NULL");
  *version = NVRAR_VERSION;
  return NVRAR_SUCCESS;
}

const char *nvrar_get_last_error(void) { return nvrar_last_error_text(); }

/* ---- unique id: nvrar's stamp, then NVSHMEM's id (whose tail is always zero) ---- */
#define UID_MAGIC 0x4152564eu /* "NVRA" */
typedef struct uid_layout {
  uint32_t magic;
  uint32_t version;
  char shmem[NVRAR_UNIQUE_ID_BYTES - 8];
} uid_layout_t;

nvrar_result_t nvrar_get_unique_id(nvrar_unique_id_t *id) {
  if (!id) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_get_unique_id: id is NULL");
  char shmem_id[NVRAR_UNIQUE_ID_BYTES];
  if (nvrar_shmem_uniqueid_bytes() != NVRAR_UNIQUE_ID_BYTES)
    return nvrar_error(NVRAR_ERR_INTERNAL, "NVSHMEM's unique id is %d bytes, expected %d", nvrar_shmem_uniqueid_bytes(),
                       NVRAR_UNIQUE_ID_BYTES);
  /* NVSHMEM reads its options once per process, at its first nvshmemx_get_uniqueid or init, and keeps
   * them: on the rank that makes the id that is here, so nvrar's NVSHMEM settings go in now, the same
   * as every other rank gets at its init (a rank 0 on NVSHMEM's defaults maps its heap in other steps
   * than its peers, and their init fails or hangs). The heap is sized for the largest world, since
   * the id does not know its size (it is virtual under CUDA VMM, NVSHMEM's default heap). */
  nvrar_settings_t s;
  NVRAR_CHECK(nvrar_settings_resolve(NULL, NULL, &s));
  size_t slot_bytes = 0;
  nvrar_shmem_env_t undo;
  if (nvrar_shmem_env_apply(nvrar_heap_reserve(&s, NVRAR_MAX_RANKS, &slot_bytes), &undo))
    return nvrar_error(NVRAR_ERR_INTERNAL, "nvrar_get_unique_id: setenv failed while setting NVSHMEM's options");
  int status = nvrar_shmem_get_uniqueid(shmem_id);
  nvrar_shmem_env_restore(&undo);
  if (status != 0)
    return nvrar_error(NVRAR_ERR_NVSHMEM, "nvrar_get_unique_id: nvshmemx_get_uniqueid failed (status %d)", status);
  for (int i = NVRAR_UNIQUE_ID_BYTES - 8; i < NVRAR_UNIQUE_ID_BYTES; i++)
    if (shmem_id[i] != 0)
      return nvrar_error(NVRAR_ERR_INTERNAL, "NVSHMEM's unique id uses its last 8 bytes; nvrar cannot stamp it");
  uid_layout_t uid;
  uid.magic = UID_MAGIC;
  uid.version = NVRAR_VERSION;
  memcpy(uid.shmem, shmem_id, sizeof uid.shmem);
  memcpy(id->internal, &uid, sizeof uid);
  return NVRAR_SUCCESS;
}

static nvrar_result_t uid_unpack(const nvrar_unique_id_t *id, char shmem_id[NVRAR_UNIQUE_ID_BYTES]) {
  uid_layout_t uid;
  memcpy(&uid, id->internal, sizeof uid);
  if (uid.magic != UID_MAGIC)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_init: id was not made by nvrar_get_unique_id");
  if (uid.version != NVRAR_VERSION)
    return nvrar_error(NVRAR_ERR_VERSION, "nvrar_comm_init: unique id from nvrar version %u, this library is %d",
                       uid.version, NVRAR_VERSION);
  memset(shmem_id, 0, NVRAR_UNIQUE_ID_BYTES);
  memcpy(shmem_id, uid.shmem, sizeof uid.shmem);
  return NVRAR_SUCCESS;
}

static nvrar_result_t check_healthy(nvrar_comm_t comm, const char *fn);

/* ---- communicator handles ---- */
static nvrar_result_t check_comm(nvrar_comm_t comm, const char *fn) {
  if (!comm) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: comm is NULL", fn);
  if (!nvrar_comm_is_live(comm))
    return nvrar_error(NVRAR_ERR_INVALID_USAGE, "%s: comm %p was destroyed or never created", fn, (void *)comm);
  return NVRAR_SUCCESS;
}

nvrar_result_t nvrar_comm_init(nvrar_comm_t *comm, int nranks, nvrar_unique_id_t id, int rank,
                               const nvrar_config_t *config) {
  if (!comm) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_init: comm is NULL");
  if (nranks < 1 || nranks > NVRAR_MAX_WORLD)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_init: nranks %d is outside 1-%d", nranks,
                       NVRAR_MAX_WORLD);
  if (rank < 0 || rank >= nranks)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_init: rank %d is outside 0-%d", rank, nranks - 1);
  char shmem_id[NVRAR_UNIQUE_ID_BYTES];
  NVRAR_CHECK(uid_unpack(&id, shmem_id));
  nvrar_settings_t settings;
  NVRAR_CHECK(nvrar_settings_resolve(config, NULL, &settings));
  return nvrar_comm_create(comm, nranks, shmem_id, rank, &settings);
}

nvrar_result_t nvrar_comm_split(nvrar_comm_t world, int nranks, const int *world_ranks, int slot,
                                nvrar_comm_t *comm) {
  NVRAR_CHECK(check_comm(world, "nvrar_comm_split"));
  if (!world_ranks || !comm)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_split: %s is NULL", !comm ? "comm" : "world_ranks");
  NVRAR_CHECK(check_healthy(world, "nvrar_comm_split"));
  return nvrar_comm_split_impl(world, nranks, world_ranks, slot, comm);
}

nvrar_result_t nvrar_comm_split_slots(nvrar_comm_t world, unsigned *free_slots) {
  NVRAR_CHECK(check_comm(world, "nvrar_comm_split_slots"));
  if (!free_slots) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_split_slots: free_slots is NULL");
  *free_slots = nvrar_comm_free_slots(world);
  return NVRAR_SUCCESS;
}

nvrar_result_t nvrar_comm_destroy(nvrar_comm_t comm) {
  NVRAR_CHECK(check_comm(comm, "nvrar_comm_destroy"));
  return nvrar_comm_destroy_impl(comm);
}

nvrar_result_t nvrar_comm_abort(nvrar_comm_t comm) {
  NVRAR_CHECK(check_comm(comm, "nvrar_comm_abort"));
  return nvrar_comm_abort_impl(comm);
}

nvrar_result_t nvrar_comm_get_async_error(nvrar_comm_t comm, nvrar_result_t *async_error) {
  NVRAR_CHECK(check_comm(comm, "nvrar_comm_get_async_error"));
  if (!async_error) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_get_async_error: async_error is NULL");
  *async_error = nvrar_comm_async_error(comm);
  return NVRAR_SUCCESS;
}

#define COMM_QUERY(fn, field)                                                                 \
  nvrar_result_t fn(nvrar_comm_t comm, int *out) {                                            \
    NVRAR_CHECK(check_comm(comm, #fn));                                                       \
    if (!out) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: output pointer is NULL", #fn); \
    *out = comm->field;                                                                       \
    return NVRAR_SUCCESS;                                                                     \
  }
COMM_QUERY(nvrar_comm_rank, rank)
COMM_QUERY(nvrar_comm_size, nranks)
COMM_QUERY(nvrar_comm_device, device)
COMM_QUERY(nvrar_comm_local_size, local_size)

nvrar_result_t nvrar_malloc(nvrar_comm_t comm, size_t bytes, void **ptr) {
  NVRAR_CHECK(check_comm(comm, "nvrar_malloc"));
  if (!ptr) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_malloc: ptr is NULL");
  if (!bytes) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_malloc: bytes is 0");
  return nvrar_comm_malloc(comm, bytes, ptr);
}

nvrar_result_t nvrar_free(nvrar_comm_t comm, void *ptr) {
  NVRAR_CHECK(check_comm(comm, "nvrar_free"));
  if (!ptr) return NVRAR_SUCCESS;
  return nvrar_comm_free(comm, ptr);
}

/* ---- all-reduce ---- */

static nvrar_result_t check_device_buffer(const void *ptr, int device, const char *name, const char *fn) {
  struct cudaPointerAttributes attr;
  cudaError_t e = cudaPointerGetAttributes(&attr, ptr);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: %s %p is not CUDA memory (%s)", fn, name, ptr,
                       cudaGetErrorString(e));
  }
  if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "%s: %s %p is host memory, not device memory", fn, name, ptr);
  if (attr.device != device)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT,
                       "%s: %s %p is on device %d but the communicator is on device %d", fn, name, ptr,
                       attr.device, device);
  return NVRAR_SUCCESS;
}

/* A kernel's timeout or mismatch, or an abort, recorded on the communicator fails every later collective call. */
static nvrar_result_t check_healthy(nvrar_comm_t comm, const char *fn) {
  nvrar_result_t async = nvrar_comm_async_error(comm);
  if (async == NVRAR_ERR_TIMEOUT)
    return nvrar_error(NVRAR_ERR_TIMEOUT, "%s: an earlier call on rank %d timed out waiting for a peer; abort the "
                                          "communicator", fn, comm->rank);
  if (async == NVRAR_ERR_MISMATCH)
    return nvrar_error(NVRAR_ERR_MISMATCH, "%s: an earlier call on rank %d did not match a peer's (count, dtype, op "
                                           "or shape differ across the ranks); abort the communicator", fn, comm->rank);
  if (async != NVRAR_SUCCESS)
    return nvrar_error(async, "%s: the communicator is in error (%s)", fn, nvrar_result_string(async));
  return NVRAR_SUCCESS;
}

nvrar_result_t nvrar_all_reduce(nvrar_comm_t comm, const void *sendbuf, void *recvbuf, size_t count,
                                nvrar_dtype_t dtype, nvrar_op_t op, nvrar_stream_t stream) {
  NVRAR_CHECK(check_comm(comm, "nvrar_all_reduce"));
  size_t bytes = 0;
  NVRAR_CHECK(nvrar_validate_all_reduce(sendbuf, recvbuf, count, dtype, op, &bytes));
  NVRAR_CHECK(check_healthy(comm, "nvrar_all_reduce"));
  if (count == 0) return NVRAR_SUCCESS;
  NVRAR_CHECK(check_device_buffer(sendbuf, comm->device, "sendbuf", "nvrar_all_reduce"));
  if (recvbuf != sendbuf) NVRAR_CHECK(check_device_buffer(recvbuf, comm->device, "recvbuf", "nvrar_all_reduce"));
  return nvrar_comm_enqueue(comm, sendbuf, recvbuf, count, bytes, dtype, op, stream);
}

nvrar_result_t nvrar_all_reduce_add_rmsnorm(nvrar_comm_t comm, const void *input, void *residual, const void *weight,
                                           float eps, void *out, size_t rows, size_t hidden, nvrar_dtype_t dtype,
                                           nvrar_stream_t stream) {
  static const char fn[] = "nvrar_all_reduce_add_rmsnorm";
  NVRAR_CHECK(check_comm(comm, fn));
  size_t bytes = 0;
  NVRAR_CHECK(nvrar_validate_rmsnorm(input, residual, weight, eps, out, rows, hidden, dtype, &bytes));
  NVRAR_CHECK(check_healthy(comm, fn));
  if (rows == 0) return NVRAR_SUCCESS;
  NVRAR_CHECK(check_device_buffer(input, comm->device, "input", fn));
  NVRAR_CHECK(check_device_buffer(residual, comm->device, "residual", fn));
  NVRAR_CHECK(check_device_buffer(weight, comm->device, "weight", fn));
  if (out != input) NVRAR_CHECK(check_device_buffer(out, comm->device, "out", fn));
  return nvrar_comm_add_rmsnorm(comm, input, residual, weight, eps, out, rows, hidden, bytes, dtype, stream);
}

nvrar_result_t nvrar_exchange(nvrar_comm_t comm, const void *sendbuf, void *recvbuf, size_t bytes, int peer,
                              nvrar_stream_t stream) {
  NVRAR_CHECK(check_comm(comm, "nvrar_exchange"));
  if (!sendbuf || !recvbuf) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_exchange: a buffer is NULL");
  NVRAR_CHECK(check_healthy(comm, "nvrar_exchange"));
  if (bytes == 0) return NVRAR_SUCCESS;
  return nvrar_comm_exchange(comm, sendbuf, recvbuf, bytes, peer, stream);
}

nvrar_result_t nvrar_comm_set_tuned(nvrar_comm_t comm, nvrar_dtype_t dtype, const nvrar_tuned_entry_t *entries,
                                    int count) {
  NVRAR_CHECK(check_comm(comm, "nvrar_comm_set_tuned"));
  if ((unsigned)dtype >= NVRAR_NUM_DTYPES)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_set_tuned: dtype %d is not a nvrar_dtype_t", (int)dtype);
  nvrar_tuned_table_t table;
  char err[256];
  if (nvrar_tuned_make(entries, count, &table, err, sizeof err))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_set_tuned: %s", err);
  comm->tuned[dtype] = table;
  return NVRAR_SUCCESS;
}
