/*
 * The public API of libnvrar.so on a machine without a GPU: NULL or unknown communicators, bad
 * unique ids, ranks and configs are refused with their codes before CUDA or NVSHMEM is touched.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nvrar.h"
#include "unit.h"

enum { NVRAR_MAX_WORLD_RANKS = 512 }; /* the public limit of nvrar_comm_init (src/algo/limits.h) */

/* A stand-in environment for nvrar_env_read. */
static const char *fake_env(const char *name) {
  if (!strcmp(name, "NVRAR_NUM_BLOCKS")) return "48";
  if (!strcmp(name, "NVRAR_TIMEOUT")) return "never";
  return NULL;
}

/* What programs built on nvrar use instead of its internals (the drop-in, nvrar_perf): names, sizes,
 * the environment registry, the resolved config and the log, all through libnvrar.so. */
static void test_tools_api(void) {
  CHECK(!strcmp(nvrar_dtype_name(NVRAR_BFLOAT16), "bfloat16") && !strcmp(nvrar_dtype_name(NVRAR_NUM_DTYPES), "unknown"));
  CHECK(!strcmp(nvrar_op_name(NVRAR_MAX), "max") && !strcmp(nvrar_op_name((nvrar_op_t)-1), "unknown"));
  size_t bytes = 7;
  CHECK(nvrar_parse_size("64KiB", &bytes) == NVRAR_SUCCESS && bytes == 65536);
  CHECK(nvrar_parse_size("3.5G", &bytes) == NVRAR_SUCCESS && bytes == (size_t)7 << 29);
  bytes = 7;
  CHECK(nvrar_parse_size("64Q", &bytes) == NVRAR_ERR_INVALID_ARGUMENT && bytes == 7 &&
        strstr(nvrar_get_last_error(), "\"64Q\" is not a size"));
  CHECK(nvrar_parse_size("99999999999T", &bytes) == NVRAR_ERR_INVALID_ARGUMENT && bytes == 7);
  CHECK(nvrar_parse_size(NULL, &bytes) == NVRAR_ERR_INVALID_ARGUMENT && nvrar_parse_size("1", NULL) != NVRAR_SUCCESS);
  int blocks = 0;
  double seconds = 0;
  CHECK(nvrar_env_read("NVRAR_NUM_BLOCKS", fake_env, &blocks) == NVRAR_SUCCESS && blocks == 48);
  CHECK(nvrar_env_read("NVRAR_TIMEOUT", fake_env, &seconds) == NVRAR_ERR_INVALID_ARGUMENT &&
        strstr(nvrar_get_last_error(), "NVRAR_TIMEOUT=\"never\" is invalid"));
  CHECK(nvrar_env_read("NVRAR_RINGS", fake_env, &blocks) == NVRAR_SUCCESS && blocks == 0); /* unset: default */
  CHECK(nvrar_env_read("NVRAR_NO_SUCH", fake_env, &blocks) == NVRAR_ERR_INVALID_ARGUMENT &&
        strstr(nvrar_get_last_error(), "NVRAR_NO_SUCH is not one of nvrar's variables"));
  CHECK(nvrar_env_read(NULL, NULL, &blocks) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_env_read("NVRAR_RINGS", NULL, NULL) == NVRAR_ERR_INVALID_ARGUMENT);
  /* the resolved config: defaults, the environment over them, a set field over the environment */
  unsetenv("NVRAR_NUM_BLOCKS");
  unsetenv("NVRAR_TIMEOUT");
  setenv("NVRAR_RINGS", "2", 1);
  nvrar_config_t config = NVRAR_CONFIG_INITIALIZER, got = NVRAR_CONFIG_INITIALIZER;
  config.timeout_seconds = 7.5;
  CHECK(nvrar_config_resolve(&config, &got) == NVRAR_SUCCESS && got.timeout_seconds == 7.5 && got.rings == 2 &&
        got.memory_bytes > 0 && got.device == -1 && got.size == sizeof got);
  CHECK(nvrar_config_resolve(NULL, &got) == NVRAR_SUCCESS && got.timeout_seconds == 30 && got.rings == 2);
  setenv("NVRAR_RINGS", "99", 1);
  got.rings = -5;
  CHECK(nvrar_config_resolve(NULL, &got) == NVRAR_ERR_INVALID_ARGUMENT && got.rings == -5 &&
        strstr(nvrar_get_last_error(), "NVRAR_RINGS=\"99\""));
  unsetenv("NVRAR_RINGS");
  config.num_blocks = -1;
  CHECK(nvrar_config_resolve(&config, &got) == NVRAR_ERR_INVALID_ARGUMENT && strstr(nvrar_get_last_error(), "num_blocks"));
  /* an older caller's shorter struct (before gpus_per_node) is written only as far as its size */
  struct {
    nvrar_config_t config;
    unsigned char guard[16];
  } old;
  memset(&old, 0xab, sizeof old);
  old.config.size = offsetof(nvrar_config_t, gpus_per_node);
  old.config.version = NVRAR_VERSION;
  CHECK(nvrar_config_resolve(NULL, &old.config) == NVRAR_SUCCESS && old.config.timeout_seconds == 30 &&
        old.config.size == offsetof(nvrar_config_t, gpus_per_node));
  CHECK(((unsigned char *)&old.config)[offsetof(nvrar_config_t, gpus_per_node)] == 0xab);
  got.size = 8;
  CHECK(nvrar_config_resolve(NULL, &got) == NVRAR_ERR_VERSION && nvrar_config_resolve(NULL, NULL) != NVRAR_SUCCESS);
  /* the log: NONE is never printed as a message level below the threshold; INIT | COLL is ALL */
  CHECK(nvrar_log_enabled(NVRAR_LOG_WARN, NVRAR_SUBSYS_ALL) == (nvrar_log_enabled(NVRAR_LOG_WARN, NVRAR_SUBSYS_INIT) ||
                                                                nvrar_log_enabled(NVRAR_LOG_WARN, NVRAR_SUBSYS_COLL)));
  CHECK(!nvrar_log_enabled(NVRAR_LOG_TRACE, 0));
}

int main(void) {
  char buf[64] __attribute__((aligned(16))) = {0};
  void *a = buf, *b = buf + 32;
  /* public API through libnvrar.so, no GPU needed */
  int version = 0;
  CHECK(nvrar_get_version(&version) == NVRAR_SUCCESS && version == NVRAR_VERSION);
  CHECK(nvrar_get_version(NULL) == NVRAR_ERR_INVALID_ARGUMENT);
  /* the table of algorithms, as tools and bindings read it: a name each, round trip, one-node first */
  const char *name = NULL;
  int multinode = -1;
  CHECK(nvrar_algo_info(NVRAR_ALGO_AUTO, &name, &multinode) == NVRAR_SUCCESS && !strcmp(name, "auto") && !multinode);
  for (int algo = 0; algo < NVRAR_NUM_ALGOS; algo++) {
    nvrar_algo_t back = NVRAR_NUM_ALGOS;
    CHECK(nvrar_algo_info((nvrar_algo_t)algo, &name, &multinode) == NVRAR_SUCCESS);
    CHECK(nvrar_algo_from_name(name, &back) == NVRAR_SUCCESS && back == (nvrar_algo_t)algo);
    /* what include/nvrar.h says of each: the ring family and the hierarchical ones span nodes */
    CHECK(multinode == (algo == NVRAR_ALGO_RING || algo == NVRAR_ALGO_SIMPLE_RING || algo == NVRAR_ALGO_HIER_RD ||
                        algo == NVRAR_ALGO_HIER_RHD));
  }
  CHECK(nvrar_algo_info(NVRAR_NUM_ALGOS, &name, NULL) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_algo_info((nvrar_algo_t)-1, NULL, NULL) == NVRAR_ERR_INVALID_ARGUMENT);
  nvrar_algo_t algo = NVRAR_ALGO_RING;
  CHECK(nvrar_algo_from_name("Two_Shot", &algo) == NVRAR_SUCCESS && algo == NVRAR_ALGO_TWOSHOT);
  CHECK(nvrar_algo_from_name("HIER_RHD", &algo) == NVRAR_SUCCESS && algo == NVRAR_ALGO_HIER_RHD);
  algo = NVRAR_ALGO_RING;
  CHECK(nvrar_algo_from_name("threeshot", &algo) == NVRAR_ERR_INVALID_ARGUMENT && algo == NVRAR_ALGO_RING);
  CHECK(nvrar_algo_from_name("ring-", &algo) == NVRAR_ERR_INVALID_ARGUMENT && algo == NVRAR_ALGO_RING);
  CHECK(nvrar_algo_from_name(NULL, &algo) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_algo_from_name("ring", NULL) == NVRAR_ERR_INVALID_ARGUMENT);
  test_tools_api();
  CHECK(nvrar_all_reduce(NULL, a, b, 4, NVRAR_FLOAT32, NVRAR_SUM, NULL) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_get_last_error(), "comm is NULL") != NULL);
  nvrar_comm_t bogus = (nvrar_comm_t)(void *)buf;
  CHECK(nvrar_all_reduce(bogus, a, b, 4, NVRAR_FLOAT32, NVRAR_SUM, NULL) == NVRAR_ERR_INVALID_USAGE);
  CHECK(strstr(nvrar_get_last_error(), "destroyed or never created") != NULL);
  CHECK(nvrar_comm_destroy(bogus) == NVRAR_ERR_INVALID_USAGE);
  CHECK(nvrar_comm_abort(NULL) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_all_reduce_add_rmsnorm(NULL, a, b, a, 1e-6f, a, 1, 8, NVRAR_BFLOAT16, NULL) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_all_reduce_add_rmsnorm(bogus, a, b, a, 1e-6f, a, 1, 8, NVRAR_BFLOAT16, NULL) == NVRAR_ERR_INVALID_USAGE);
  int out;
  CHECK(nvrar_comm_rank(bogus, &out) == NVRAR_ERR_INVALID_USAGE);
  nvrar_result_t async;
  CHECK(nvrar_comm_get_async_error(NULL, &async) == NVRAR_ERR_INVALID_ARGUMENT);
  void *p;
  CHECK(nvrar_malloc(bogus, 64, &p) == NVRAR_ERR_INVALID_USAGE);
  int ranks[2] = {0, 1};
  nvrar_comm_t child;
  unsigned slots;
  CHECK(nvrar_comm_split(NULL, 2, ranks, 0, &child) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_comm_split(bogus, 2, ranks, 0, &child) == NVRAR_ERR_INVALID_USAGE);
  CHECK(strstr(nvrar_get_last_error(), "nvrar_comm_split") != NULL);
  CHECK(nvrar_comm_split_slots(bogus, &slots) == NVRAR_ERR_INVALID_USAGE);
  CHECK(nvrar_get_unique_id(NULL) == NVRAR_ERR_INVALID_ARGUMENT);

  nvrar_comm_t comm;
  nvrar_unique_id_t id;
  memset(&id, 0, sizeof id);
  nvrar_config_t config = NVRAR_CONFIG_INITIALIZER;
  CHECK(nvrar_comm_init(NULL, 2, id, 0, &config) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_comm_init(&comm, 0, id, 0, &config) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_comm_init(&comm, NVRAR_MAX_WORLD_RANKS + 1, id, 0, &config) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_get_last_error(), "nranks 513 is outside 1-512") != NULL); /* not the bad id */
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

  /* tuned files through the public API: the path nvrar reads, and nvrar's parser */
  char path[512], dir[] = "/tmp/nvrar_test_api_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  setenv("NVRAR_CACHE_DIR", dir, 1);
  unsetenv("NVSHMEM_ALLREDUCE_CONFIG");
  CHECK(nvrar_tuned_file(4, NVRAR_BFLOAT16, path, sizeof path) == NVRAR_SUCCESS);
  char want[512];
  snprintf(want, sizeof want, "%s/tuning_4gpu_bfloat16.json", dir);
  CHECK(!strcmp(path, want));
  CHECK(nvrar_tuned_file(4, NVRAR_BFLOAT16, path, 8) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_tuned_file(0, NVRAR_BFLOAT16, path, sizeof path) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_tuned_file(4, (nvrar_dtype_t)7, path, sizeof path) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_tuned_file(4, NVRAR_FLOAT32, NULL, 16) == NVRAR_ERR_INVALID_ARGUMENT);
  setenv("NVSHMEM_ALLREDUCE_CONFIG", "/elsewhere/mine.json", 1);
  CHECK(nvrar_tuned_file(2, NVRAR_FLOAT32, path, sizeof path) == NVRAR_SUCCESS && !strcmp(path, "/elsewhere/mine.json"));
  unsetenv("NVSHMEM_ALLREDUCE_CONFIG");
  nvrar_tuned_entry_t entries[4];
  int count = -1;
  CHECK(nvrar_tuned_read(want, entries, 4, &count) == NVRAR_SUCCESS && count == 0); /* no file: built-in planner */
  FILE *f = fopen(want, "w");
  CHECK(f != NULL);
  fputs("{\"1MiB\": {\"algorithm\": \"twoshot\", \"num_blocks\": 64}, \"1024\": {\"algorithm\": \"oneshot\"}}", f);
  fclose(f);
  CHECK(nvrar_tuned_read(want, entries, 4, &count) == NVRAR_SUCCESS && count == 2);
  CHECK(entries[0].bytes == 1024 && entries[0].algo == NVRAR_ALGO_ONESHOT && entries[1].bytes == 1 << 20 &&
        entries[1].algo == NVRAR_ALGO_TWOSHOT && entries[1].num_blocks == 64);
  CHECK(nvrar_tuned_read(want, entries, 1, &count) == NVRAR_ERR_INVALID_ARGUMENT);
  f = fopen(want, "w");
  fputs("{\"1024\": {\"algorithm\": \"tree\"}}", f);
  fclose(f);
  nvrar_tuned_entry_t before = entries[0];
  CHECK(nvrar_tuned_read(want, entries, 4, &count) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_get_last_error(), want) != NULL && strstr(nvrar_get_last_error(), "unknown algorithm") != NULL);
  CHECK(!memcmp(&before, &entries[0], sizeof before));
  CHECK(nvrar_tuned_read(NULL, entries, 4, &count) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_comm_set_tuned(NULL, NVRAR_FLOAT32, entries, 0) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(nvrar_comm_set_tuned(bogus, NVRAR_FLOAT32, entries, 0) == NVRAR_ERR_INVALID_USAGE);
  remove(want);
  rmdir(dir);
  return unit_finish("test_api");
}
