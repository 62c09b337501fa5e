/*
 * NVSHMEM already started in the process by another library (as torch's symmetric memory or DeepEP
 * would): nvrar_comm_init must refuse it with NVRAR_ERR_UNSUPPORTED and a message, change nothing,
 * and work once that world is finalized. One GPU, one process; the NVSHMEM world here is a 1-PE
 * world of this test's own (its own unique id), so joining it would be a silent wrong world.
 * Exit codes: 0 pass, 1 fail, 77 skipped (no GPU).
 */
#include <nvshmem.h>
#include <nvshmemx.h>
#include <stdio.h>
#include <string.h>

#include "nvrar.h"

#define EXPECT(cond)                                                                                   \
  do {                                                                                                 \
    if (!(cond)) {                                                                                     \
      fprintf(stderr, "%s:%d: expected %s (nvrar: %s)\n", __FILE__, __LINE__, #cond, nvrar_get_last_error()); \
      return 1;                                                                                        \
    }                                                                                                  \
  } while (0)

int main(void) {
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev < 1) {
    printf("test_shmem_foreign: no GPU, skipped\n");
    return 77;
  }
  EXPECT(cudaSetDevice(0) == cudaSuccess);

  /* The other library's world. */
  nvshmemx_uniqueid_t uid = NVSHMEMX_UNIQUEID_INITIALIZER;
  EXPECT(nvshmemx_get_uniqueid(&uid) == 0);
  nvshmemx_init_attr_t attr = NVSHMEMX_INIT_ATTR_INITIALIZER;
  EXPECT(nvshmemx_set_attr_uniqueid_args(0, 1, &uid, &attr) == 0);
  EXPECT(nvshmemx_init_attr(NVSHMEMX_INIT_WITH_UNIQUEID, &attr) == 0);
  EXPECT(nvshmemx_init_status() != NVSHMEM_STATUS_NOT_INITIALIZED);

  nvrar_unique_id_t id;
  EXPECT(nvrar_get_unique_id(&id) == NVRAR_SUCCESS);
  nvrar_config_t config = NVRAR_CONFIG_INITIALIZER;
  nvrar_comm_t comm = NULL;
  EXPECT(nvrar_comm_init(&comm, 1, id, 0, &config) == NVRAR_ERR_UNSUPPORTED);
  EXPECT(comm == NULL);
  EXPECT(strstr(nvrar_get_last_error(), "already initialised"));
  EXPECT(nvshmemx_init_status() != NVSHMEM_STATUS_NOT_INITIALIZED); /* the other world is untouched */
  nvshmem_finalize();

  /* Once it is gone, nvrar starts its own. */
  EXPECT(nvrar_get_unique_id(&id) == NVRAR_SUCCESS);
  EXPECT(nvrar_comm_init(&comm, 1, id, 0, &config) == NVRAR_SUCCESS);
  EXPECT(nvrar_comm_destroy(comm) == NVRAR_SUCCESS);
  printf("test_shmem_foreign: refused another library's NVSHMEM world, then ran its own: ok\n");
  return 0;
}
