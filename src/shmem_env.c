/*
 * The NVSHMEM settings nvrar makes before NVSHMEM starts, each only where the user has not set it,
 * and takes back once NVSHMEM has read them, so that a later communicator in the process (or a
 * library that starts NVSHMEM after nvrar's world is gone) never mistakes nvrar's value for the
 * user's. Measured on H200 with NVSHMEM 3.4.5 (one rank): its init took 2978 MiB with its defaults
 * and 30 MiB with the settings below.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "shmem_env.h"

/*
 * NVSHMEM_MAX_TEAMS: NVSHMEM makes its 6 predefined teams (world, shared, node, same-PE-on-node,
 * same-GPU, GPU leaders: NVSHMEM_TEAMS_MIN in its nvshmem_common.cuh) and clamps any smaller value
 * to 6. nvrar creates no team: it reads the world and node teams at init and sub-communicators take
 * no NVSHMEM call at all. So 6 is both the floor and what every path needs (1-8 ranks, virtual and
 * real multi-node layouts, sub-communicators); each team above it costs its psync arrays
 * (REDUCE_SCRATCH_SIZE plus the barrier, broadcast and collect areas) in the symmetric heap.
 */
static const nvrar_shmem_setting_t settings[] = {
    {"NVSHMEM_DISABLE_NVLS", "1", "NVLink SHARP multicast objects; nvrar's kernels use none, and on shared machines "
                                  "they must not be created"},
    {"NVSHMEM_DISABLE_NCCL", "1", "NVSHMEM's own NCCL communicator (2.4 GiB of device memory on one H200) for its "
                                  "host and on-stream collectives; nvrar calls only nvshmem_barrier_all at init"},
    {"NVSHMEM_CUMEM_GRANULARITY", "2097152", "the 512 MiB steps in which NVSHMEM maps its heap; nvrar's staging is "
                                             "mapped in 2 MiB steps instead"},
    {"NVSHMEM_MAX_TEAMS", "6", "team slots beyond NVSHMEM's 6 predefined teams (each with its psync arrays in the "
                               "heap); nvrar creates no team"},
    {"NVSHMEM_REDUCE_SCRATCH_SIZE", "4096", "512 KiB per team of scratch for NVSHMEM's reduce and reduce-scatter "
                                            "collectives; nvrar calls neither"},
};

const nvrar_shmem_setting_t *nvrar_shmem_settings(int *count) {
  *count = (int)(sizeof settings / sizeof settings[0]);
  return settings;
}

static int set_one(nvrar_shmem_env_t *undo, const char *name, const char *value) {
  if (nvrar_process_getenv(name)) return 0; /* the user's choice always wins */
  if (setenv(name, value, 0)) return -1;
  undo->set[undo->count++] = name;
  NVRAR_INFO(NVRAR_SUBSYS_INIT, "set %s=%s", name, value);
  return 0;
}

static void unset_all(nvrar_shmem_env_t *undo) {
  for (int i = 0; i < undo->count; i++) unsetenv(undo->set[i]);
  undo->count = 0;
}

int nvrar_shmem_env_apply(size_t heap_bytes, nvrar_shmem_env_t *undo) {
  char heap_text[32]; /* setenv copies it */
  undo->count = 0;
  snprintf(heap_text, sizeof heap_text, "%zu", heap_bytes);
  if (set_one(undo, "NVSHMEM_SYMMETRIC_SIZE", heap_text)) goto fail;
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
    if (set_one(undo, settings[i].name, settings[i].value)) goto fail;
  return 0;
fail:
  unset_all(undo);
  return -1;
}

static size_t read_heap;

void nvrar_shmem_env_restore(nvrar_shmem_env_t *undo) {
  if (!read_heap) {
    const char *heap = nvrar_process_getenv("NVSHMEM_SYMMETRIC_SIZE");
    size_t bytes = SIZE_MAX;
    if (heap && nvrar_size_from_text(heap, &bytes)) bytes = SIZE_MAX;
    read_heap = bytes ? bytes : SIZE_MAX;
  }
  unset_all(undo);
}

size_t nvrar_shmem_env_read_heap(void) { return read_heap; }

void nvrar_shmem_env_print_table(void *file) {
  FILE *f = (FILE *)file;
  fprintf(f, "\n| NVSHMEM variable | set by nvrar to | what it turns off, and why nvrar needs none of it |\n"
             "| --- | --- | --- |\n");
  fprintf(f, "| `NVSHMEM_SYMMETRIC_SIZE` | nvrar's staging | the 1 GiB default heap; nvrar's is sized by its "
             "staging (docs/design.md) |\n");
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
    fprintf(f, "| `%s` | `%s` | %s |\n", settings[i].name, settings[i].value, settings[i].why);
}
