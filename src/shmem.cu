/*
 * The only file that includes NVSHMEM's host API (its headers are not C). comm.c reaches NVSHMEM
 * through these extern "C" wrappers. It lives in libnvrar.so next to the kernels, so nvshmem_init
 * runs in the library whose device link holds libnvshmem_device.a, as NVSHMEM requires.
 */
#include <nvshmem.h>
#include <nvshmemx.h>
#include <string.h>

#include "shmem.h"

/* Never launched: its attributes make CUDA load this library's device module. */
__global__ void nvrar_module_anchor() {}

/* Init's agreement: out[pe] = pe's `bytes` at `area`, over NVLink or the network alike. */
__global__ void nvrar_gather_kernel(const char *area, char *out, size_t bytes, int npes) {
  for (int pe = threadIdx.x; pe < npes; pe += blockDim.x) nvshmem_getmem(out + (size_t)pe * bytes, area, bytes, pe);
  nvshmem_quiet();
}

extern "C" {

int nvrar_shmem_load_module(void) {
  cudaFuncAttributes attr;
  return (int)cudaFuncGetAttributes(&attr, nvrar_module_anchor);
}

int nvrar_shmem_uniqueid_bytes(void) { return (int)sizeof(nvshmemx_uniqueid_t); }

int nvrar_shmem_get_uniqueid(void *out) {
  nvshmemx_uniqueid_t id = NVSHMEMX_UNIQUEID_INITIALIZER;
  int status = nvshmemx_get_uniqueid(&id);
  if (status == 0) memcpy(out, &id, sizeof id);
  return status;
}

int nvrar_shmem_init(int rank, int nranks, const void *uid) {
  nvshmemx_uniqueid_t id;
  memcpy(&id, uid, sizeof id);
  nvshmemx_init_attr_t attr = NVSHMEMX_INIT_ATTR_INITIALIZER;
  int status = nvshmemx_set_attr_uniqueid_args(rank, nranks, &id, &attr);
  if (status != 0) return status;
  return nvshmemx_init_attr(NVSHMEMX_INIT_WITH_UNIQUEID, &attr);
}

int nvrar_shmem_init_status(void) { return nvshmemx_init_status(); }

int nvrar_shmem_gpu_shared(void) {
  int status = nvshmemx_init_status();
  return status == NVSHMEM_STATUS_LIMITED_MPG ? 1 : status == NVSHMEM_STATUS_FULL_MPG ? 2 : 0;
}

int nvrar_shmem_gather(const void *area, void *out, size_t bytes, int npes) {
  nvrar_gather_kernel<<<1, 128>>>(static_cast<const char *>(area), static_cast<char *>(out), bytes, npes);
  cudaError_t e = cudaGetLastError();
  return (int)(e != cudaSuccess ? e : cudaDeviceSynchronize());
}

void nvrar_shmem_finalize(void) { nvshmem_finalize(); }

int nvrar_shmem_my_pe(void) { return nvshmem_my_pe(); }

int nvrar_shmem_n_pes(void) { return nvshmem_n_pes(); }

int nvrar_shmem_node_size(void) { return nvshmem_team_n_pes(NVSHMEMX_TEAM_NODE); }

/* NVSHMEM's node team comes from the host ids its bootstrap gathered at init. */
int nvrar_shmem_same_node(int pe) { return nvshmem_team_translate_pe(NVSHMEM_TEAM_WORLD, pe, NVSHMEMX_TEAM_NODE) >= 0; }

void *nvrar_shmem_calloc(size_t bytes) { return nvshmem_calloc(1, bytes); }

void *nvrar_shmem_malloc(size_t bytes) { return nvshmem_malloc(bytes); }

void nvrar_shmem_free(void *ptr) { nvshmem_free(ptr); }

void *nvrar_shmem_ptr(void *ptr, int pe) { return nvshmem_ptr(ptr, pe); }

void nvrar_shmem_barrier_all(void) { nvshmem_barrier_all(); }

}  // extern "C"
