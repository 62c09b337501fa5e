/*
 * The NVSHMEM settings nvrar makes before its init: set only where the user has not, taken back
 * afterwards, so that a second communicator (or another library) sees the user's environment alone.
 */
#include <stdlib.h>
#include <string.h>

#include "shmem_env.h"
#include "unit.h"

static int is(const char *name, const char *value) {
  const char *v = getenv(name);
  return value ? v && !strcmp(v, value) : v == NULL;
}

int main(void) {
  int n = 0;
  const nvrar_shmem_setting_t *s = nvrar_shmem_settings(&n);
  CHECK(n >= 5);
  for (int i = 0; i < n; i++) unsetenv(s[i].name);
  unsetenv("NVSHMEM_SYMMETRIC_SIZE");

  /* Nothing set by the user: nvrar sets all, then takes every one back. */
  nvrar_shmem_env_t undo;
  CHECK(nvrar_shmem_env_read_heap() == 0);
  CHECK(nvrar_shmem_env_apply(48u << 20, &undo) == 0);
  CHECK(undo.count == n + 1);
  CHECK(is("NVSHMEM_SYMMETRIC_SIZE", "50331648"));
  CHECK(is("NVSHMEM_DISABLE_NCCL", "1"));
  CHECK(is("NVSHMEM_MAX_TEAMS", "6"));
  CHECK(is("NVSHMEM_CUMEM_GRANULARITY", "2097152"));
  CHECK(is("NVSHMEM_DISABLE_NVLS", "1"));
  nvrar_shmem_env_restore(&undo);
  CHECK(undo.count == 0);
  CHECK(is("NVSHMEM_SYMMETRIC_SIZE", NULL));
  for (int i = 0; i < n; i++) CHECK(is(s[i].name, NULL));
  /* NVSHMEM read its options at that first use (rank 0's nvshmemx_get_uniqueid) and keeps them. */
  CHECK(nvrar_shmem_env_read_heap() == (size_t)48 << 20);

  /* The user's values win and stay after the restore; a second communicator with another heap size
   * gets its own size, not the first one's. */
  setenv("NVSHMEM_MAX_TEAMS", "32", 1);
  setenv("NVSHMEM_DISABLE_NCCL", "0", 1);
  CHECK(nvrar_shmem_env_apply(64u << 20, &undo) == 0);
  CHECK(undo.count == n - 1);
  CHECK(is("NVSHMEM_MAX_TEAMS", "32"));
  CHECK(is("NVSHMEM_DISABLE_NCCL", "0"));
  CHECK(is("NVSHMEM_SYMMETRIC_SIZE", "67108864"));
  nvrar_shmem_env_restore(&undo);
  CHECK(is("NVSHMEM_MAX_TEAMS", "32"));
  CHECK(is("NVSHMEM_DISABLE_NCCL", "0"));
  CHECK(is("NVSHMEM_SYMMETRIC_SIZE", NULL));
  CHECK(nvrar_shmem_env_apply(2u << 20, &undo) == 0);
  CHECK(is("NVSHMEM_SYMMETRIC_SIZE", "2097152"));
  nvrar_shmem_env_restore(&undo);
  CHECK(nvrar_shmem_env_read_heap() == (size_t)48 << 20); /* what NVSHMEM read first, not the latest */

  /* Every setting says why nvrar needs none of what it turns off (the docs table is made from it). */
  for (int i = 0; i < n; i++) CHECK(s[i].why && strlen(s[i].why) > 20 && !strncmp(s[i].name, "NVSHMEM_", 8));
  return unit_finish("test_shmem_env");
}
