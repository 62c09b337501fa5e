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
/* Unsets what nvrar_shmem_env_apply set; once NVSHMEM's init has read its options. */
void nvrar_shmem_env_restore(nvrar_shmem_env_t *undo);
/* The table of these settings, appended to nvrar_perf --env and docs/env.md. */
void nvrar_shmem_env_print_table(void *file /* FILE* */);

#endif
