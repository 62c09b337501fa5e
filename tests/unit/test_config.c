/* Env and config parsing: sizes, algorithm names, precedence default < env < config, bad values. */
#include <string.h>

#include "internal.h"
#include "unit.h"

static const char *fake_env[16][2];

static const char *lookup(const char *name) {
  for (int i = 0; i < 16 && fake_env[i][0]; i++)
    if (!strcmp(fake_env[i][0], name)) return fake_env[i][1];
  return NULL;
}

static void set_env(int i, const char *name, const char *value) {
  fake_env[i][0] = name;
  fake_env[i][1] = value;
  fake_env[i + 1][0] = NULL;
}

int main(void) {
  size_t v = 0;
  CHECK(nvrar_parse_size("4096", &v) == 0 && v == 4096);
  CHECK(nvrar_parse_size("64KiB", &v) == 0 && v == 65536);
  CHECK(nvrar_parse_size("64K", &v) == 0 && v == 65536);
  CHECK(nvrar_parse_size("64kb", &v) == 0 && v == 65536);
  CHECK(nvrar_parse_size("1M", &v) == 0 && v == 1048576);
  CHECK(nvrar_parse_size("1MiB", &v) == 0 && v == 1048576);
  CHECK(nvrar_parse_size("0.5M", &v) == 0 && v == 524288);
  CHECK(nvrar_parse_size("2G", &v) == 0 && v == (size_t)2 << 30);
  CHECK(nvrar_parse_size("12B", &v) == 0 && v == 12);
  CHECK(nvrar_parse_size("", &v) != 0);
  CHECK(nvrar_parse_size("abc", &v) != 0);
  CHECK(nvrar_parse_size("-1", &v) != 0);
  CHECK(nvrar_parse_size("10X", &v) != 0);
  CHECK(nvrar_parse_size("10MM", &v) != 0);
  CHECK(nvrar_parse_size("99999999T", &v) != 0);
  CHECK(nvrar_parse_size(NULL, &v) != 0);
  /* strtod's wider grammar is not a size's: no exponent, hex, inf; "Ki" needs its B */
  CHECK(nvrar_parse_size("1e3", &v) != 0 && nvrar_parse_size("0x10", &v) != 0 && nvrar_parse_size("inf", &v) != 0);
  CHECK(nvrar_parse_size("1Ki", &v) != 0 && nvrar_parse_size("+1", &v) != 0 && nvrar_parse_size(".", &v) != 0);
  CHECK(nvrar_parse_size(" 3 K ", &v) == 0 && v == 3072);
  CHECK(nvrar_parse_size("1.0001K", &v) == 0 && v == 1025); /* rounded up to a whole byte */

  nvrar_algo_t a;
  CHECK(nvrar_parse_algo("oneshot", &a) == 0 && a == NVRAR_ALGO_ONESHOT);
  CHECK(nvrar_parse_algo("TwoShot", &a) == 0 && a == NVRAR_ALGO_TWOSHOT);
  CHECK(nvrar_parse_algo("one-shot", &a) == 0 && a == NVRAR_ALGO_ONESHOT);
  CHECK(nvrar_parse_algo("auto", &a) == 0 && a == NVRAR_ALGO_AUTO);
  CHECK(nvrar_parse_algo("hier-rd", &a) == 0 && a == NVRAR_ALGO_HIER_RD);
  CHECK(nvrar_parse_algo("tree", &a) != 0);
  CHECK(!strcmp(nvrar_algo_name(NVRAR_ALGO_TWOSHOT), "twoshot"));

  /* defaults */
  nvrar_settings_t s;
  set_env(0, NULL, NULL);
  CHECK(nvrar_settings_resolve(NULL, lookup, &s) == NVRAR_SUCCESS);
  CHECK(s.memory_bytes == (size_t)256 << 20);
  CHECK(s.timeout_seconds == 30.0);
  CHECK(s.algo == NVRAR_ALGO_AUTO && s.num_blocks == 0 && s.threads_per_block == 0 && s.device == -1);
  CHECK(s.hier_ll_bytes == 65536 && s.pdl == 0);

  /* environment */
  set_env(0, "NVRAR_ALGO", "twoshot");
  set_env(1, "NVRAR_NUM_BLOCKS", "16");
  set_env(2, "NVRAR_THREADS_PER_BLOCK", "256");
  set_env(3, "NVRAR_MEMORY_BYTES", "128MiB");
  set_env(4, "NVRAR_TIMEOUT", "2.5");
  set_env(5, "NVRAR_ONESHOT_MAX_BYTES", "64K");
  set_env(6, "NVRAR_HIER_LL_BYTES", "0");
  set_env(7, "NVRAR_PDL", "1");
  CHECK(nvrar_settings_resolve(NULL, lookup, &s) == NVRAR_SUCCESS);
  CHECK(s.hier_ll_bytes == 0 && s.pdl == 1);
  CHECK(s.algo == NVRAR_ALGO_TWOSHOT && s.num_blocks == 16 && s.threads_per_block == 256);
  CHECK(s.memory_bytes == (size_t)128 << 20 && s.timeout_seconds == 2.5 && s.oneshot_max_bytes == 65536);

  /* config wins over the environment; initializer values leave the environment's */
  nvrar_config_t c = NVRAR_CONFIG_INITIALIZER;
  c.algo = NVRAR_ALGO_ONESHOT;
  c.timeout_seconds = 7;
  CHECK(nvrar_settings_resolve(&c, lookup, &s) == NVRAR_SUCCESS);
  CHECK(s.algo == NVRAR_ALGO_ONESHOT && s.timeout_seconds == 7 && s.num_blocks == 16);

  /* bad environment values: an error naming the variable, *out untouched */
  const char *bad[][2] = {{"NVRAR_ALGO", "fastest"},          {"NVRAR_NUM_BLOCKS", "129"},
                          {"NVRAR_NUM_BLOCKS", "x"},          {"NVRAR_THREADS_PER_BLOCK", "100"},
                          {"NVRAR_THREADS_PER_BLOCK", "1024"}, {"NVRAR_MEMORY_BYTES", "lots"},
                          {"NVRAR_TIMEOUT", "0"},              {"NVRAR_TIMEOUT", "-3"},
                          {"NVRAR_ONESHOT_MAX_BYTES", "1Q"},   {"NVRAR_MEMORY_BYTES", "1M"},
                          {"NVRAR_HIER_LL_BYTES", "64 KiB!"}, {"NVRAR_PDL", "2"},
                          {"NVRAR_PDL", "on"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    set_env(0, bad[i][0], bad[i][1]);
    nvrar_settings_t before, after;
    memset(&before, 0x5a, sizeof before);
    after = before;
    CHECK(nvrar_settings_resolve(NULL, lookup, &after) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(!memcmp(&before, &after, sizeof before));
    if (strcmp(bad[i][0], "NVRAR_MEMORY_BYTES") || strcmp(bad[i][1], "1M"))
      CHECK(strstr(nvrar_last_error_text(), bad[i][0]) != NULL);
  }

  /* bad config */
  set_env(0, NULL, NULL);
  c = (nvrar_config_t)NVRAR_CONFIG_INITIALIZER;
  c.size = 8;
  CHECK(nvrar_settings_resolve(&c, lookup, &s) == NVRAR_ERR_VERSION);
  c = (nvrar_config_t)NVRAR_CONFIG_INITIALIZER;
  c.version = NVRAR_VERSION_CODE(NVRAR_MAJOR + 1, 0, 0);
  CHECK(nvrar_settings_resolve(&c, lookup, &s) == NVRAR_ERR_VERSION);
  c = (nvrar_config_t)NVRAR_CONFIG_INITIALIZER;
  c.algo = (nvrar_algo_t)9;
  CHECK(nvrar_settings_resolve(&c, lookup, &s) == NVRAR_ERR_INVALID_ARGUMENT);
  c = (nvrar_config_t)NVRAR_CONFIG_INITIALIZER;
  c.num_blocks = 1000;
  CHECK(nvrar_settings_resolve(&c, lookup, &s) == NVRAR_ERR_INVALID_ARGUMENT);
  c = (nvrar_config_t)NVRAR_CONFIG_INITIALIZER;
  c.threads_per_block = 33;
  CHECK(nvrar_settings_resolve(&c, lookup, &s) == NVRAR_ERR_INVALID_ARGUMENT);
  c = (nvrar_config_t)NVRAR_CONFIG_INITIALIZER;
  c.timeout_seconds = -1;
  CHECK(nvrar_settings_resolve(&c, lookup, &s) == NVRAR_ERR_INVALID_ARGUMENT);
  c = (nvrar_config_t)NVRAR_CONFIG_INITIALIZER;
  c.device = -5;
  CHECK(nvrar_settings_resolve(&c, lookup, &s) == NVRAR_ERR_INVALID_ARGUMENT);

  /* Timeouts of any length stay bounded waits of that length or longer, never instant (a 1.85e10 s
   * timeout once became 0 ns through an undefined double -> uint64_t conversion). */
  CHECK(nvrar_timeout_ns(30) == 30000000000ull);
  CHECK(nvrar_timeout_ns(0.5) == 500000000ull);
  CHECK(nvrar_timeout_ns(1.85e10) == NVRAR_MAX_TIMEOUT_NS);
  CHECK(nvrar_timeout_ns(1e300) == NVRAR_MAX_TIMEOUT_NS);
  CHECK(nvrar_timeout_ns(4.6e9) == (uint64_t)(4.6e9 * 1e9)); /* just under the cap: exact */
  set_env(0, "NVRAR_TIMEOUT", "1e30");
  CHECK(nvrar_settings_resolve(NULL, lookup, &s) == NVRAR_SUCCESS && nvrar_timeout_ns(s.timeout_seconds) == NVRAR_MAX_TIMEOUT_NS);
  /* the variables read outside the settings go through the same registry and messages */
  int flag = -1;
  size_t max = 0;
  const char *text = NULL;
  set_env(0, "NVRAR_SHARE_GPUS", "2");
  CHECK(nvrar_env_read("NVRAR_SHARE_GPUS", lookup, &flag) == NVRAR_ERR_INVALID_ARGUMENT &&
        strstr(nvrar_last_error_text(), "NVRAR_SHARE_GPUS=\"2\" is invalid: expected an integer in 0-1"));
  set_env(0, "NVRAR_SHARE_GPUS", "1");
  CHECK(nvrar_env_read("NVRAR_SHARE_GPUS", lookup, &flag) == NVRAR_SUCCESS && flag == 1);
  set_env(0, NULL, NULL);
  CHECK(nvrar_env_read("NVRAR_NCCL_MAX_BYTES", lookup, &max) == NVRAR_SUCCESS && max == (size_t)64 << 20);
  CHECK(nvrar_env_read("NVRAR_DEBUG", lookup, &text) == NVRAR_SUCCESS && !strcmp(text, "WARN"));
  CHECK(nvrar_env_read("NVRAR_NO_SUCH", lookup, &text) == NVRAR_ERR_INVALID_ARGUMENT);
  set_env(0, "NVRAR_THREADS_PER_BLOCK", "100");
  CHECK(nvrar_settings_resolve(NULL, lookup, &s) == NVRAR_ERR_INVALID_ARGUMENT &&
        strstr(nvrar_last_error_text(), "expected 0 or a multiple of 32 in 64-512"));
  return unit_finish("test_config");
}
