/*
 * Tuned-parameter files: parsing, "largest key not above the size" lookup, where the file is looked
 * for, and malformed files rejected whole with a message that says where (also every truncation and
 * many single-byte corruptions of a good file: rejected or parsed, never a crash; CI runs this
 * under AddressSanitizer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tuned.h"
#include "unit.h"

static const char *good =
    "{\n"
    "  \"1048576\": {\"algorithm\": \"twoshot\", \"num_blocks\": 64, \"threads_per_block\": 256,\n"
    "                \"chunk_bytes\": 131072, \"avg_time_ms\": 0.0123},\n"
    "  \"1024\":    {\"algorithm\": \"oneshot\", \"num_blocks\": 1, \"threads_per_block\": 128,\n"
    "                \"chunk_bytes\": 0, \"avg_time_ms\": 0.0042, \"note\": {\"by\": [\"tuner\", 1, true, null]}},\n"
    "  \"64KiB\":   {\"algorithm\": \"oneshot\", \"num_blocks\": 32, \"threads_per_block\": 128, \"avg_time_ms\": 7e-3}\n"
    "}\n";

static const char *env[8][2];
static const char *lookup(const char *name) {
  for (int i = 0; i < 8 && env[i][0]; i++)
    if (!strcmp(env[i][0], name)) return env[i][1];
  return NULL;
}

static int rejects(const char *text, const char *needle) {
  nvrar_tuned_table_t t;
  t.count = -7;
  char err[256] = "";
  int rc = nvrar_tuned_parse(text, strlen(text), &t, err, sizeof err);
  int ok = rc == -1 && t.count == -7 && strstr(err, "line ") && (!needle || strstr(err, needle));
  if (!ok) fprintf(stderr, "not rejected as expected (%s): %s -> rc %d, \"%s\"\n", needle ? needle : "", text, rc, err);
  return ok;
}

int main(void) {
  nvrar_tuned_table_t t;
  char err[256];
  CHECK(nvrar_tuned_parse(good, strlen(good), &t, err, sizeof err) == 0);
  CHECK(t.count == 3);
  CHECK(t.entries[0].bytes == 1024 && t.entries[1].bytes == 65536 && t.entries[2].bytes == 1048576);
  CHECK(t.entries[2].algo == NVRAR_ALGO_TWOSHOT && t.entries[2].num_blocks == 64 &&
        t.entries[2].threads_per_block == 256 && t.entries[2].chunk_bytes == 131072 && t.entries[2].avg_time_ms == 0.0123);
  CHECK(t.entries[1].algo == NVRAR_ALGO_ONESHOT && t.entries[1].chunk_bytes == 0);
  CHECK(nvrar_tuned_lookup(&t, 1023) == NULL);
  CHECK(nvrar_tuned_lookup(&t, 1024) == &t.entries[0]);
  CHECK(nvrar_tuned_lookup(&t, 65535) == &t.entries[0]);
  CHECK(nvrar_tuned_lookup(&t, 65536) == &t.entries[1]);
  CHECK(nvrar_tuned_lookup(&t, (size_t)1 << 40) == &t.entries[2]);
  CHECK(nvrar_tuned_parse(" { } ", 5, &t, err, sizeof err) == 0 && t.count == 0 && nvrar_tuned_lookup(&t, 5) == NULL);

  /* malformed files: rejected whole, with the line and what was wrong */
  static const char *const bad[][2] = {
      {"", "expected '{'"},
      {"[]", "expected '{'"},
      {"{\"1024\": {\"algorithm\": \"tree\"}}", "unknown algorithm"},
      {"{\"1024\": {\"num_blocks\": 4}}", "without \"algorithm\""},
      {"{\"1024\": {}}", "without \"algorithm\""},
      {"{\"abc\": {\"algorithm\": \"oneshot\"}}", "not a message size"},
      {"{\"1K\": {\"algorithm\": \"oneshot\"}, \"1024\": {\"algorithm\": \"twoshot\"}}", "twice"},
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"num_blocks\": 500}}", "num_blocks"},
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"num_blocks\": 2.5}}", "num_blocks"},
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"threads_per_block\": 100}}", "threads_per_block"},
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"chunk_bytes\": -1}}", "chunk_bytes"},
      {"{\"1024\": {\"algorithm\": \"ring\", \"chunk_bytes\": 1000}}", "multiple of 16"},
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"avg_time_ms\": \"fast\"}}", "expected a number"},
      {"{\"1024\": {\"algorithm\": \"oneshot\"}", "expected '}'"},
      {"{\"1024\": {\"algorithm\": \"oneshot\"},}", NULL},
      {"{\"1024\": {\"algorithm\": \"oneshot\"}} x", "after the closing"},
      {"{\"1024: {}}", NULL},
      {"{\"10\\n24\": {}}", "escape"},
      {"{\n\n\"1024\": {\"algorithm\": \"oneshot\", \"num_blocks\": tru}}", "line 3"},
      /* not JSON numbers, and keys twice in one entry: once accepted */
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"num_blocks\": +012.}}", "expected a number"},
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"avg_time_ms\": .5}}", "expected a number"},
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"num_blocks\": 012}}", "expected a number"},
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"num_blocks\": 4.}}", "expected a number"},
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"avg_time_ms\": 1e}}", "expected a number"},
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"avg_time_ms\": 1e999}}", "out of range"},
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"algorithm\": \"twoshot\"}}", "twice"},
      {"{\"1024\": {\"algorithm\": \"oneshot\", \"num_blocks\": 4, \"num_blocks\": 8}}", "twice"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(rejects(bad[i][0], bad[i][1]));
  {
    const char nul[] = "{\"1024\": {\"algorithm\": \"oneshot\", \"num_blocks\": \0}}";
    CHECK(nvrar_tuned_parse(nul, sizeof nul - 1, &t, err, sizeof err) == -1 && strstr(err, "expected a number"));
    const char *ok = "{\"1024\": {\"algorithm\": \"oneshot\", \"num_blocks\": 0, \"avg_time_ms\": -0.0e+0},"
                     " \"2048\": {\"algorithm\": \"twoshot\", \"avg_time_ms\": 1.25E-3}}";
    CHECK(nvrar_tuned_parse(ok, strlen(ok), &t, err, sizeof err) == 0 && t.count == 2 && t.entries[1].avg_time_ms == 1.25e-3);
  }
  {
    char big[8192] = "{";
    for (int i = 0; i <= NVRAR_MAX_TUNED_ENTRIES; i++)
      snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"%d\": {\"algorithm\": \"oneshot\"}", i ? "," : "", i + 1);
    strcat(big, "}");
    CHECK(rejects(big, "more than"));
  }

  /* every truncation and single-byte corruption: a clean verdict, never a crash */
  size_t len = strlen(good);
  char *copy = malloc(len);
  int survived = 1;
  for (size_t cut = 0; cut < len; cut++) {
    memcpy(copy, good, cut);
    int rc = nvrar_tuned_parse(copy, cut, &t, err, sizeof err);
    survived &= rc == -1 || (rc == 0 && cut >= len - 2);
  }
  const char junk[] = "{}[]\":,0x \\\n-e.";
  for (size_t i = 0; i < len; i++)
    for (size_t j = 0; j < sizeof junk - 1; j++) {
      memcpy(copy, good, len);
      copy[i] = junk[j];
      int rc = nvrar_tuned_parse(copy, len, &t, err, sizeof err);
      survived &= rc == 0 || rc == -1;
    }
  free(copy);
  CHECK(survived);

  /* where the file is */
  char path[512];
  env[0][0] = "HOME";
  env[0][1] = "/home/u";
  env[1][0] = NULL;
  CHECK(nvrar_tuned_path(4, NVRAR_BFLOAT16, lookup, path, sizeof path) == 0 &&
        !strcmp(path, "/home/u/.cache/nvrar/tuning_4gpu_bfloat16.json"));
  env[1][0] = "XDG_CACHE_HOME";
  env[1][1] = "/xdg";
  env[2][0] = NULL;
  CHECK(nvrar_tuned_path(2, NVRAR_FLOAT32, lookup, path, sizeof path) == 0 && !strcmp(path, "/xdg/nvrar/tuning_2gpu_float32.json"));
  env[2][0] = "NVRAR_CACHE_DIR";
  env[2][1] = "/cache";
  env[3][0] = NULL;
  CHECK(nvrar_tuned_path(8, NVRAR_FLOAT16, lookup, path, sizeof path) == 0 && !strcmp(path, "/cache/tuning_8gpu_float16.json"));
  env[3][0] = "NVSHMEM_ALLREDUCE_CONFIG";
  env[3][1] = "/etc/best.json";
  env[4][0] = NULL;
  CHECK(nvrar_tuned_path(8, NVRAR_FLOAT16, lookup, path, sizeof path) == 0 && !strcmp(path, "/etc/best.json"));
  env[0][0] = NULL;
  CHECK(nvrar_tuned_path(4, NVRAR_FLOAT32, lookup, path, sizeof path) == -1);
  CHECK(nvrar_tuned_path(4, (nvrar_dtype_t)9, lookup, path, sizeof path) == -1);
  env[0][0] = "NVRAR_CACHE_DIR";
  env[0][1] = "/a/very/long/cache/directory/name";
  env[1][0] = NULL;
  CHECK(nvrar_tuned_path(4, NVRAR_FLOAT32, lookup, path, 16) == -1); /* does not fit: refused, not cut */

  /* loading from disk: absent, good, malformed */
  char file[] = "/tmp/nvrar_tuned_XXXXXX";
  int fd = mkstemp(file);
  CHECK(fd >= 0);
  CHECK(write(fd, good, len) == (ssize_t)len);
  close(fd);
  CHECK(nvrar_tuned_load(file, &t, err, sizeof err) == 0 && t.count == 3);
  FILE *f = fopen(file, "w");
  fputs("{\"1024\": oops}", f);
  fclose(f);
  CHECK(nvrar_tuned_load(file, &t, err, sizeof err) == -1 && strstr(err, "line 1"));
  unlink(file);
  CHECK(nvrar_tuned_load(file, &t, err, sizeof err) == 1);

  /* tables from memory (nvrar_comm_set_tuned): the same checks as a file's, sorted, nothing half-made */
  {
    nvrar_tuned_entry_t e[3] = {{.bytes = 1 << 20, .algo = NVRAR_ALGO_TWOSHOT, .num_blocks = 64},
                                {.bytes = 1024, .algo = NVRAR_ALGO_ONESHOT, .threads_per_block = 128},
                                {.bytes = 8 << 20, .algo = NVRAR_ALGO_RING, .chunk_bytes = 4096}};
    nvrar_tuned_table_t m;
    CHECK(nvrar_tuned_make(e, 3, &m, err, sizeof err) == 0 && m.count == 3 && m.entries[0].bytes == 1024 &&
          m.entries[2].algo == NVRAR_ALGO_RING && nvrar_tuned_lookup(&m, 2 << 20)->algo == NVRAR_ALGO_TWOSHOT);
    CHECK(nvrar_tuned_make(NULL, 0, &m, err, sizeof err) == 0 && m.count == 0);
    nvrar_tuned_table_t before = m;
    e[1].threads_per_block = 100;
    CHECK(nvrar_tuned_make(e, 3, &m, err, sizeof err) == -1 && strstr(err, "threads_per_block") && !memcmp(&before, &m, sizeof m));
    e[1].threads_per_block = 128;
    e[2].bytes = 1024;
    CHECK(nvrar_tuned_make(e, 3, &m, err, sizeof err) == -1 && strstr(err, "twice"));
    e[2].bytes = 8 << 20;
    e[0].algo = (nvrar_algo_t)42;
    CHECK(nvrar_tuned_make(e, 3, &m, err, sizeof err) == -1 && strstr(err, "algorithm"));
    e[0].algo = NVRAR_ALGO_TWOSHOT;
    e[2].chunk_bytes = 4097;
    CHECK(nvrar_tuned_make(e, 3, &m, err, sizeof err) == -1 && strstr(err, "chunk_bytes"));
    CHECK(nvrar_tuned_make(e, 65, &m, err, sizeof err) == -1 && nvrar_tuned_make(e, -1, &m, err, sizeof err) == -1);
  }
  return unit_finish("test_tuned");
}
