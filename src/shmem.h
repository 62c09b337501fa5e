/* C view of the NVSHMEM host calls nvrar makes (shmem.cu). Return codes are NVSHMEM's (0 = ok). */
#ifndef NVRAR_SHMEM_H
#define NVRAR_SHMEM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Loads the library's device module (kernels + NVSHMEM device code); a cudaError_t. */
int nvrar_shmem_load_module(void);
int nvrar_shmem_uniqueid_bytes(void);
int nvrar_shmem_get_uniqueid(void *out);
int nvrar_shmem_init(int rank, int nranks, const void *uid);
/* nvshmemx_init_status(): 0 while NVSHMEM is not initialised in this process. */
int nvrar_shmem_init_status(void);
/* After init: 0 if this PE has its GPU to itself, 1 if PEs share it in NVSHMEM's limited MPG mode
 * (no MPS: peers map each other's memory, processes time-slice), 2 in full MPG (under MPS). */
int nvrar_shmem_gpu_shared(void);
void nvrar_shmem_finalize(void);
int nvrar_shmem_my_pe(void);
int nvrar_shmem_n_pes(void);
int nvrar_shmem_node_size(void);
/* 1 if world pe shares this process's host. */
int nvrar_shmem_same_node(int pe);
void *nvrar_shmem_calloc(size_t bytes);
void *nvrar_shmem_malloc(size_t bytes);
void nvrar_shmem_free(void *ptr);
void *nvrar_shmem_ptr(void *ptr, int pe);
void nvrar_shmem_barrier_all(void);
/* Collective helper: out (symmetric) gets every pe's `bytes` at the symmetric `area`, in pe order; a
 * cudaError_t. */
int nvrar_shmem_gather(const void *area, void *out, size_t bytes, int npes);

#ifdef __cplusplus
}
#endif
#endif
