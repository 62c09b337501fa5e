/* libFuzzer: the settings resolver (src/config.c) with every registry variable set from the input
 * (NUL-separated values, in the registry's order), and the size parser on each value. Whatever it
 * accepts must be within the ranges the rest of nvrar relies on. tests/fuzz/run.sh runs it. */
#include <stdlib.h>
#include <string.h>

#include "env_table.h"
#include "internal.h"

static const char *names[] = {
#define SETTING(name, type, def, field, lo, hi, step, desc) #name,
#define OTHER(name, type, def, lo, hi, step, desc) #name,
    NVRAR_ENV_TABLE(SETTING, OTHER)
#undef SETTING
#undef OTHER
};
enum { NVARS = sizeof names / sizeof names[0] };
static char text[4096];
static const char *values[NVARS];

static const char *lookup(const char *name) {
  for (int i = 0; i < NVARS; i++)
    if (!strcmp(names[i], name)) return values[i];
  return NULL;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (size >= sizeof text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  char *at = text;
  for (int i = 0; i < NVARS; i++) {
    values[i] = at < text + size ? at : NULL;
    if (at < text + size) at += strlen(at) + 1;
  }
  for (int i = 0; i < NVARS; i++) {
    size_t bytes;
    if (values[i] && nvrar_size_from_text(values[i], &bytes) == 0 && bytes == (size_t)-1) abort();
  }
  for (int i = 0; i < NVARS; i++) { /* every variable reads through the registry, or is refused */
    union { int i; size_t z; double d; nvrar_algo_t a; const char *s; } out;
    nvrar_result_t r = nvrar_env_read(names[i], lookup, &out);
    if (r != NVRAR_SUCCESS && r != NVRAR_ERR_INVALID_ARGUMENT) abort();
  }
  nvrar_settings_t s;
  if (nvrar_settings_resolve(NULL, lookup, &s) != NVRAR_SUCCESS) return 0;
  if ((unsigned)s.algo >= NVRAR_NUM_ALGOS || s.num_blocks < 0 || s.num_blocks > NVRAR_MAX_BLOCKS) abort();
  if (s.threads_per_block && (s.threads_per_block < 64 || s.threads_per_block > NVRAR_MAX_THREADS ||
                              s.threads_per_block % 32)) abort();
  if (s.memory_bytes < NVRAR_MIN_MEMORY_BYTES || !(s.timeout_seconds > 0) || s.chunk_bytes % NVRAR_PACK_BYTES) abort();
  if (s.gpus_per_node < 0 || s.gpus_per_node > NVRAR_MAX_RANKS || s.rings < 0 || s.rings > NVRAR_MAX_RINGS) abort();
  uint64_t ns = nvrar_timeout_ns(s.timeout_seconds);
  if (ns == 0 && s.timeout_seconds >= 1e-9) abort(); /* a timeout never becomes instant */
  if (ns > NVRAR_MAX_TIMEOUT_NS) abort();
  return 0;
}
