/* The NVSHMEM environment nvrar sets before NVSHMEM starts (shmem_env.c). Internal, pure C. */
#ifndef NVRAR_SHMEM_ENV_H
#define NVRAR_SHMEM_ENV_H

#include <stddef.h>

typedef struct nvrar_shmem_setting {
  const char *name, *value, *why;
} nvrar_shmem_setting_t;

/* What nvrar put in the environment, so that it can take it back. */
typedef struct nvrar_shmem_env {
  const char *set[8];
  int count;
} nvrar_shmem_env_t;

/* The fixed settings (NVSHMEM_SYMMETRIC_SIZE, computed per communicator, is not among them). */
const nvrar_shmem_setting_t *nvrar_shmem_settings(int *count);
/* Sets NVSHMEM_SYMMETRIC_SIZE=heap_bytes and the fixed settings, each only where unset, and records
 * which it set in *undo. -1 (and nothing left set) if setenv failed. Not thread-safe: like setenv. */
int nvrar_shmem_env_apply(size_t heap_bytes, nvrar_shmem_env_t *undo);
/* Unsets what nvrar_shmem_env_apply set; once NVSHMEM has read its options (nvshmemx_get_uniqueid or
 * its init). The first call in the process records the NVSHMEM_SYMMETRIC_SIZE NVSHMEM read. */
void nvrar_shmem_env_restore(nvrar_shmem_env_t *undo);
/* NVSHMEM reads its options once per process, at its first nvshmemx_get_uniqueid or init, and keeps
 * them for every later init: the heap size it read then (0 until then; SIZE_MAX if it was not a
 * number). */
size_t nvrar_shmem_env_read_heap(void);
/* The table of these settings, appended to nvrar_perf --env and docs/env.md. */
void nvrar_shmem_env_print_table(void *file /* FILE* */);

#endif
