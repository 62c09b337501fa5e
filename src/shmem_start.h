/* NVSHMEM's init under a deadline (shmem_start.c). Internal. */
#ifndef NVRAR_SHMEM_START_H
#define NVRAR_SHMEM_START_H

#include "nvrar.h"

/*
 * Starts NVSHMEM (the unique-id bootstrap) for rank of nranks on device, waiting at most seconds.
 * NVRAR_SUCCESS with NVSHMEM's *status (0: up) when its init returned in time; NVRAR_ERR_TIMEOUT with
 * *abandoned = 1 when it did not: its bootstrap still waits on a thread of its own, and NVSHMEM must
 * not be started again in this process.
 */
nvrar_result_t nvrar_shmem_start(int rank, int nranks, const void *uid, int device, double seconds, int *status,
                                 int *abandoned);

#endif
