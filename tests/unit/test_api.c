/*
 * The public API of libnvrar.so on a machine without a GPU: NULL or unknown communicators, bad
 * unique ids, ranks and configs are refused with their codes before CUDA or NVSHMEM is touched.
 */
#include <stdint.h>
#include <string.h>

#include "nvrar.h"
#include "unit.h"

int main(void) {
  char buf[64] __attribute__((aligned(16))) = {0};
  void *a = buf, *b = buf + 32;
  /* public API through libnvrar.so, no GPU needed */
  int version = 0;
  CHECK(nvrar_get_version(&version) == NVRAR_SUCCESS && version == NVRAR_VERSION);
  CHECK(nvrar_get_version(NULL) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_all_reduce(NULL, a, b, 4, NVRAR_FLOAT32, NVRAR_SUM, NULL) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_get_last_error(), "comm is NULL") != NULL);
  nvrar_comm_t bogus = (nvrar_comm_t)(void *)buf;
  CHECK(nvrar_all_reduce(bogus, a, b, 4, NVRAR_FLOAT32, NVRAR_SUM, NULL) == NVRAR_ERR_INVALID_USAGE);
  CHECK(strstr(nvrar_get_last_error(), "destroyed or never created") != NULL);
  CHECK(nvrar_comm_destroy(bogus) == NVRAR_ERR_INVALID_USAGE);
  CHECK(nvrar_comm_abort(NULL) == NVRAR_ERR_INVALID_ARGUMENT);
  int out;
  CHECK(nvrar_comm_rank(bogus, &out) == NVRAR_ERR_INVALID_USAGE);
  nvrar_result_t async;
  CHECK(nvrar_comm_get_async_error(NULL, &async) == NVRAR_ERR_INVALID_ARGUMENT);
  void *p;
  CHECK(nvrar_malloc(bogus, 64, &p) == NVRAR_ERR_INVALID_USAGE);
  CHECK(nvrar_get_unique_id(NULL) == NVRAR_ERR_INVALID_ARGUMENT);

  nvrar_comm_t comm;
  nvrar_unique_id_t id;
  memset(&id, 0, sizeof id);
  nvrar_config_t config = NVRAR_CONFIG_INITIALIZER;
  CHECK(nvrar_comm_init(NULL, 2, id, 0, &config) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_comm_init(&comm, 0, id, 0, &config) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_comm_init(&comm, 9, id, 0, &config) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_comm_init(&comm, 2, id, 2, &config) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_comm_init(&comm, 2, id, -1, &config) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_comm_init(&comm, 2, id, 0, &config) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_get_last_error(), "nvrar_get_unique_id") != NULL);
  /* an id stamped by another nvrar version */
  uint32_t stamp[2] = {0x4152564eu, NVRAR_VERSION + 1};
  memcpy(id.internal, stamp, sizeof stamp);
  CHECK(nvrar_comm_init(&comm, 2, id, 0, &config) == NVRAR_ERR_VERSION);
  stamp[1] = NVRAR_VERSION;
  memcpy(id.internal, stamp, sizeof stamp);
  config.size = 4;
  CHECK(nvrar_comm_init(&comm, 2, id, 0, &config) == NVRAR_ERR_VERSION);
  return unit_finish("test_api");
}
