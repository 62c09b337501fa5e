/* Settings: defaults from the env registry, then the environment, then the config struct. */
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "algo/table.h"
#include "env_table.h"
#include "internal.h"
#include "shmem_env.h"

/*
 * The one size grammar (Python's nvrar.parse_size is the same; python/tests/test_sizes.py checks the
 * two against each other): spaces, a decimal number (digits, a fraction, or both; no sign, exponent
 * or hex), spaces, an optional binary unit K, M, G or T, then B or iB after a unit, B alone after none,
 * spaces. Rounded up to a whole byte; 2^64 and above refused.
 */
int nvrar_size_from_text(const char *text, size_t *out) {
  if (!text) return -1;
  while (isspace((unsigned char)*text)) text++;
  const char *number = text;
  size_t digits = 0;
  while (isdigit((unsigned char)*text)) text++, digits++;
  if (*text == '.')
    for (text++; isdigit((unsigned char)*text); text++) digits++;
  size_t len = (size_t)(text - number);
  char buf[512];
  if (!digits || len >= sizeof buf) return -1;
  memcpy(buf, number, len);
  buf[len] = 0;
  while (isspace((unsigned char)*text)) text++;
  double scale = 1;
  switch (toupper((unsigned char)*text)) {
    case 'K': scale = 1024.0; break;
    case 'M': scale = 1024.0 * 1024; break;
    case 'G': scale = 1024.0 * 1024 * 1024; break;
    case 'T': scale = 1024.0 * 1024 * 1024 * 1024; break;
    default: break;
  }
  if (scale > 1) {
    text++;
    if (*text == 'i' || *text == 'I') {
      text++;
      if (*text != 'B' && *text != 'b') return -1; /* "Ki" alone is no unit */
    }
  }
  if (*text == 'B' || *text == 'b') text++;
  while (isspace((unsigned char)*text)) text++;
  if (*text) return -1;
  double bytes = ceil(strtod(buf, NULL) * scale); /* buf holds digits and one point only */
  if (!(bytes < 18446744073709551616.0)) return -1;
  *out = (size_t)bytes;
  return 0;
}

static const nvrar_algo_desc_t algo_rows[] = {
#define ROW(id, name, alias, multinode, units, rings, cells, args, launch, fused) \
  {NVRAR_ALGO_##id, name, alias, multinode, NVRAR_UNITS_##units, rings, cells},
    NVRAR_ALGO_TABLE(ROW)
#undef ROW
};
enum { NUM_ROWS = sizeof algo_rows / sizeof algo_rows[0] };
_Static_assert(NUM_ROWS + 1 == NVRAR_NUM_ALGOS, "every nvrar_algo_t but AUTO has one row in src/algo/table.h");

const nvrar_algo_desc_t *nvrar_algo_desc(int algo) {
  for (int i = 0; i < NUM_ROWS; i++)
    if (algo_rows[i].id == algo) return &algo_rows[i];
  return NULL;
}

const char *nvrar_algo_name(nvrar_algo_t algo) {
  const nvrar_algo_desc_t *d = nvrar_algo_desc(algo);
  return algo == NVRAR_ALGO_AUTO ? "auto" : d ? d->name : "unknown";
}

/* Case-insensitive, '_' taken for '-': hier_rd is hier-rd. */
static int same_name(const char *text, const char *name) {
  if (!name) return 0;
  for (; *text && *name; text++, name++) {
    char a = *text == '_' ? '-' : (char)tolower((unsigned char)*text);
    if (a != *name) return 0;
  }
  return !*text && !*name;
}

int nvrar_parse_algo(const char *text, nvrar_algo_t *out) {
  if (!text) return -1;
  if (same_name(text, "auto")) {
    *out = NVRAR_ALGO_AUTO;
    return 0;
  }
  for (int i = 0; i < NUM_ROWS; i++) {
    if (same_name(text, algo_rows[i].name) || same_name(text, algo_rows[i].alias)) {
      *out = (nvrar_algo_t)algo_rows[i].id;
      return 0;
    }
  }
  return -1;
}

nvrar_result_t nvrar_algo_info(nvrar_algo_t algo, const char **name, int *multinode) {
  const nvrar_algo_desc_t *d = nvrar_algo_desc(algo);
  if (!d && algo != NVRAR_ALGO_AUTO)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_algo_info: %d is no algorithm (0-%d)", (int)algo,
                       NVRAR_NUM_ALGOS - 1);
  if (name) *name = nvrar_algo_name(algo);
  if (multinode) *multinode = d ? d->multinode : 0;
  return NVRAR_SUCCESS;
}

nvrar_result_t nvrar_algo_from_name(const char *name, nvrar_algo_t *algo) {
  if (!algo) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_algo_from_name: algo is NULL");
  if (nvrar_parse_algo(name, algo))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_algo_from_name: \"%s\" is no algorithm",
                       name ? name : "(null)");
  return NVRAR_SUCCESS;
}

const char *nvrar_dtype_name(nvrar_dtype_t dtype) {
  static const char *names[NVRAR_NUM_DTYPES] = {"float", "half", "bfloat16"};
  return (unsigned)dtype < NVRAR_NUM_DTYPES ? names[dtype] : "unknown";
}

const char *nvrar_op_name(nvrar_op_t op) {
  static const char *names[NVRAR_NUM_OPS] = {"sum", "max", "min"};
  return (unsigned)op < NVRAR_NUM_OPS ? names[op] : "unknown";
}

nvrar_result_t nvrar_parse_size(const char *text, size_t *bytes) {
  size_t x = 0;
  if (!bytes) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_parse_size: bytes is NULL");
  if (nvrar_size_from_text(text, &x))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_parse_size: \"%s\" is not a size such as 65536, 64KiB or 1M",
                       text ? text : "(null)");
  *bytes = x;
  return NVRAR_SUCCESS;
}

static int valid_threads(int t) { return t == 0 || (t >= 64 && t <= NVRAR_MAX_THREADS && t % 32 == 0); }

/* ---- the registry (env_table.h) ---- */
typedef enum { ENV_INT, ENV_SIZE, ENV_DOUBLE, ENV_ALGO, ENV_STRING } env_type_t;

typedef struct env_var {
  const char *name, *type_name, *def, *desc;
  env_type_t type;
  long lo, hi, step;
  ptrdiff_t field; /* offset in nvrar_settings_t; -1 for the others */
} env_var_t;

static const env_var_t env_vars[] = {
#define SETTING(name, type, def, field, lo, hi, step, desc) \
  {#name, #type, def, desc, ENV_##type, lo, hi, step, (ptrdiff_t)offsetof(nvrar_settings_t, field)},
#define OTHER(name, type, def, lo, hi, step, desc) {#name, #type, def, desc, ENV_##type, lo, hi, step, -1},
    NVRAR_ENV_TABLE(SETTING, OTHER)
#undef SETTING
#undef OTHER
};
enum { NUM_ENV_VARS = sizeof env_vars / sizeof env_vars[0] };

static const env_var_t *env_find(const char *name) {
  for (int i = 0; i < NUM_ENV_VARS; i++)
    if (!strcmp(env_vars[i].name, name)) return &env_vars[i];
  return NULL;
}

const char *nvrar_env_default(const char *name) {
  const env_var_t *v = env_find(name);
  return v ? v->def : NULL;
}

/* What a value of v must look like, for the message. */
static void env_expected(const env_var_t *v, char *out, size_t cap) {
  switch (v->type) {
    case ENV_INT:
      if (v->step > 1) snprintf(out, cap, "0 or a multiple of %ld in %ld-%ld", v->step, v->lo, v->hi);
      else snprintf(out, cap, "an integer in %ld-%ld", v->lo, v->hi);
      break;
    case ENV_SIZE:
      if (v->step > 1) snprintf(out, cap, "0 or a multiple of %ld bytes such as 32KiB", v->step);
      else snprintf(out, cap, "a size such as 65536, 64KiB or 1M");
      break;
    case ENV_DOUBLE: snprintf(out, cap, "a positive number"); break;
    case ENV_ALGO: snprintf(out, cap, "auto, oneshot, twoshot, ring, simple-ring, hier-rd or hier-rhd"); break;
    case ENV_STRING: snprintf(out, cap, "text"); break;
  }
}

/*
 * text as a value of v into *out: an int (INT), size_t (SIZE), double (DOUBLE), nvrar_algo_t (ALGO) or
 * const char * (STRING). 0 on success, -1 if it is not one.
 */
static int env_parse(const env_var_t *v, const char *text, void *out) {
  char *end = NULL;
  errno = 0;
  switch (v->type) {
    case ENV_INT: {
      long x = strtol(text, &end, 10);
      if (errno || end == text || *end || (x != 0 && (x < v->lo || x > v->hi || x % v->step))) return -1;
      *(int *)out = (int)x;
      return 0;
    }
    case ENV_SIZE: {
      size_t x = 0;
      if (nvrar_size_from_text(text, &x) || x % (size_t)v->step) return -1;
      *(size_t *)out = x;
      return 0;
    }
    case ENV_DOUBLE: {
      double x = strtod(text, &end);
      if (errno || end == text || *end || !(x > 0) || !isfinite(x)) return -1;
      *(double *)out = x;
      return 0;
    }
    case ENV_ALGO: return nvrar_parse_algo(text, (nvrar_algo_t *)out);
    case ENV_STRING: *(const char **)out = text; return 0;
  }
  return -1;
}

/* v from lookup (unset or empty: its default) into *out; a bad value names the variable. */
static nvrar_result_t env_read(const env_var_t *v, nvrar_env_lookup_fn lookup, void *out) {
  const char *text = lookup(v->name);
  if (!text || !*text) {
    if (env_parse(v, v->def, out))
      return nvrar_error(NVRAR_ERR_INTERNAL, "the registry's default \"%s\" of %s does not parse", v->def, v->name);
    return NVRAR_SUCCESS;
  }
  if (!env_parse(v, text, out)) return NVRAR_SUCCESS;
  char expected[96];
  env_expected(v, expected, sizeof expected);
  return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "environment variable %s=\"%s\" is invalid: expected %s", v->name, text,
                     expected);
}

nvrar_result_t nvrar_env_read(const char *name, nvrar_env_lookup_fn lookup, void *out) {
  if (!name || !out) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_env_read: %s is NULL", !name ? "name" : "out");
  const env_var_t *v = env_find(name);
  if (!v) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_env_read: %s is not one of nvrar's variables", name);
  return env_read(v, lookup ? lookup : nvrar_process_getenv, out);
}

enum {
#define COUNT_SETTING(name, type, def, field, lo, hi, step, desc) +1
#define SKIP_OTHER(name, type, def, lo, hi, step, desc)
  NUM_SETTINGS = 0 NVRAR_ENV_TABLE(COUNT_SETTING, SKIP_OTHER)
#undef COUNT_SETTING
#undef SKIP_OTHER
};
_Static_assert(NUM_SETTINGS <= NVRAR_MAX_SETTINGS, "raise NVRAR_MAX_SETTINGS: the agreement carries every setting");

int nvrar_settings_count(void) { return NUM_SETTINGS; }

static const env_var_t *setting_var(int i) {
  for (int k = 0, seen = 0; k < NUM_ENV_VARS; k++)
    if (env_vars[k].field >= 0 && seen++ == i) return &env_vars[k];
  return NULL;
}

uint64_t nvrar_settings_word(const nvrar_settings_t *s, int i) {
  const env_var_t *v = setting_var(i);
  if (!v) return 0;
  const char *at = (const char *)s + v->field;
  uint64_t word = 0;
  switch (v->type) {
    case ENV_INT: word = (uint64_t)(int64_t)*(const int *)at; break;
    case ENV_SIZE: word = *(const size_t *)at; break;
    case ENV_DOUBLE: memcpy(&word, at, sizeof(double)); break;
    case ENV_ALGO: word = (uint64_t)*(const nvrar_algo_t *)at; break;
    case ENV_STRING: break;
  }
  return word;
}

const char *nvrar_settings_word_text(int i, uint64_t word, char *text, size_t cap) {
  const env_var_t *v = setting_var(i);
  if (!v) return snprintf(text, cap, "?"), "?";
  double d;
  switch (v->type) {
    case ENV_INT: snprintf(text, cap, "%lld", (long long)(int64_t)word); break;
    case ENV_SIZE: snprintf(text, cap, "%llu", (unsigned long long)word); break;
    case ENV_DOUBLE: memcpy(&d, &word, sizeof d); snprintf(text, cap, "%g", d); break;
    case ENV_ALGO: snprintf(text, cap, "%s", nvrar_algo_name((nvrar_algo_t)word)); break;
    case ENV_STRING: snprintf(text, cap, "?"); break;
  }
  return v->name;
}

/* Every setting from the environment, or its default. */
static nvrar_result_t settings_from_env(nvrar_env_lookup_fn lookup, nvrar_settings_t *s) {
  memset(s, 0, sizeof *s);
  s->device = -1;
  for (int i = 0; i < NUM_ENV_VARS; i++)
    if (env_vars[i].field >= 0) NVRAR_CHECK(env_read(&env_vars[i], lookup, (char *)s + env_vars[i].field));
  return NVRAR_SUCCESS;
}

/* Fields the caller set (non-initializer values) win over the environment. */
static nvrar_result_t settings_from_config(const nvrar_config_t *c, nvrar_settings_t *s) {
  if (c->size < offsetof(nvrar_config_t, timeout_seconds) + sizeof(double) || c->size > 4096)
    return nvrar_error(NVRAR_ERR_VERSION,
                       "config.size is %zu but this nvrar expects %zu: initialise it with NVRAR_CONFIG_INITIALIZER",
                       c->size, sizeof(nvrar_config_t));
  if (c->version / 100000 != NVRAR_MAJOR)
    return nvrar_error(NVRAR_ERR_VERSION, "config.version %u is from nvrar major version %u, this library is %d.%d.%d",
                       c->version, c->version / 100000, NVRAR_MAJOR, NVRAR_MINOR, NVRAR_PATCH);
  if (c->device < -1) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "config.device %d is negative", c->device);
  if ((unsigned)c->algo >= NVRAR_NUM_ALGOS)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "config.algo %d is not an nvrar_algo_t", (int)c->algo);
  if (c->num_blocks < 0 || c->num_blocks > NVRAR_MAX_BLOCKS)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "config.num_blocks %d is outside 0-%d", c->num_blocks,
                       NVRAR_MAX_BLOCKS);
  if (!valid_threads(c->threads_per_block))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "config.threads_per_block %d is not 0 or a multiple of 32 in 64-512",
                       c->threads_per_block);
  if (c->timeout_seconds < 0 || !isfinite(c->timeout_seconds))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "config.timeout_seconds %g is negative or not finite",
                       c->timeout_seconds);
  /* Fields after timeout_seconds exist only in callers built against nvrar >= 0.2 headers. */
  int gpus_per_node = 0, rings = 0;
  size_t chunk_bytes = 0;
  if (c->size >= offsetof(nvrar_config_t, chunk_bytes) + sizeof(size_t)) {
    gpus_per_node = c->gpus_per_node;
    rings = c->rings;
    chunk_bytes = c->chunk_bytes;
  }
  if (gpus_per_node < 0 || gpus_per_node > NVRAR_MAX_RANKS)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "config.gpus_per_node %d is outside 0-%d", gpus_per_node,
                       NVRAR_MAX_RANKS);
  if (rings < 0 || rings > NVRAR_MAX_RINGS)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "config.rings %d is outside 0-%d", rings, NVRAR_MAX_RINGS);
  if (chunk_bytes % NVRAR_PACK_BYTES)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "config.chunk_bytes %zu is not a multiple of 16", chunk_bytes);
  if (gpus_per_node) s->gpus_per_node = gpus_per_node;
  if (rings) s->rings = rings;
  if (chunk_bytes) s->chunk_bytes = chunk_bytes;
  if (c->device >= 0) s->device = c->device;
  if (c->memory_bytes) s->memory_bytes = c->memory_bytes;
  if (c->algo != NVRAR_ALGO_AUTO) s->algo = c->algo;
  if (c->num_blocks) s->num_blocks = c->num_blocks;
  if (c->threads_per_block) s->threads_per_block = c->threads_per_block;
  if (c->oneshot_max_bytes) s->oneshot_max_bytes = c->oneshot_max_bytes;
  if (c->timeout_seconds > 0) s->timeout_seconds = c->timeout_seconds;
  return NVRAR_SUCCESS;
}

const char *nvrar_process_getenv(const char *name) { return getenv(name); }

uint64_t nvrar_timeout_ns(double seconds) {
  /* (uint64_t)(t * 1e9) is undefined beyond 2^64 (at -O2 it gave 0: "very long" became "instant"). */
  const double cap = (double)NVRAR_MAX_TIMEOUT_NS;
  double ns = seconds * 1e9;
  if (!(ns > 0)) return 0;
  return ns >= cap ? NVRAR_MAX_TIMEOUT_NS : (uint64_t)ns;
}

nvrar_result_t nvrar_settings_resolve(const nvrar_config_t *config, nvrar_env_lookup_fn lookup,
                                      nvrar_settings_t *out) {
  nvrar_settings_t s;
  NVRAR_CHECK(settings_from_env(lookup ? lookup : nvrar_process_getenv, &s));
  if (config) NVRAR_CHECK(settings_from_config(config, &s));
  if (s.memory_bytes < NVRAR_MIN_MEMORY_BYTES)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "memory budget %zu bytes is below the minimum of %d MiB",
                       s.memory_bytes, NVRAR_MIN_MEMORY_BYTES >> 20);
  *out = s;
  return NVRAR_SUCCESS;
}

nvrar_result_t nvrar_config_resolve(const nvrar_config_t *config, nvrar_config_t *resolved) {
  if (!resolved) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_config_resolve: resolved is NULL");
  if (resolved->size < offsetof(nvrar_config_t, timeout_seconds) + sizeof(double) || resolved->size > 4096)
    return nvrar_error(NVRAR_ERR_VERSION, "nvrar_config_resolve: resolved->size is %zu: initialise it with "
                                          "NVRAR_CONFIG_INITIALIZER", resolved->size);
  nvrar_settings_t s;
  NVRAR_CHECK(nvrar_settings_resolve(config, NULL, &s));
  nvrar_config_t r = NVRAR_CONFIG_INITIALIZER;
  r.device = s.device;
  r.memory_bytes = s.memory_bytes;
  r.algo = s.algo;
  r.num_blocks = s.num_blocks;
  r.threads_per_block = s.threads_per_block;
  r.oneshot_max_bytes = s.oneshot_max_bytes;
  r.timeout_seconds = s.timeout_seconds;
  r.gpus_per_node = s.gpus_per_node;
  r.rings = s.rings;
  r.chunk_bytes = s.chunk_bytes;
  size_t size = resolved->size < sizeof r ? resolved->size : sizeof r; /* a caller's older, shorter struct */
  r.size = size;
  r.version = resolved->version;
  memcpy(resolved, &r, size);
  return NVRAR_SUCCESS;
}

void nvrar_env_print_table(void *file) {
  FILE *f = (FILE *)file;
  fprintf(f, "| variable | type | default | description |\n| --- | --- | --- | --- |\n");
  for (int i = 0; i < NUM_ENV_VARS; i++) {
    if (*env_vars[i].def)
      fprintf(f, "| `%s` | %s | `%s` | %s |\n", env_vars[i].name, env_vars[i].type_name, env_vars[i].def, env_vars[i].desc);
    else
      fprintf(f, "| `%s` | %s | unset | %s |\n", env_vars[i].name, env_vars[i].type_name, env_vars[i].desc);
  }
  nvrar_shmem_env_print_table(f);
}
