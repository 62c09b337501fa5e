/*
 * Tuned-parameter files (NVRAR's format): one JSON object per (world size, dtype), keys are message
 * sizes in bytes, values the launch parameters the tuner found best for that size:
 *
 *   {"65536":   {"algorithm": "oneshot", "num_blocks": 32, "threads_per_block": 128,
 *                "chunk_bytes": 0, "avg_time_ms": 0.0072},
 *    "1048576": {"algorithm": "twoshot", ...}}
 *
 * A message uses the entry with the largest key not above its size. This is the one parser of these
 * files: the C planner and the Python package (through libnvrar) both use it, so they always agree.
 * A malformed file is rejected whole with a message that says where; nothing half-read is used.
 * Pure: no CUDA, no communicator (tests/unit/test_tuned.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tuned.h"

typedef struct parser {
  const char *text, *at, *end;
  char *err;
  size_t errlen;
} parser_t;

static int fail(parser_t *p, const char *fmt, ...) NVRAR_PRINTF(2, 3);
static int fail(parser_t *p, const char *fmt, ...) {
  if (p->err && p->errlen) {
    int line = 1;
    for (const char *c = p->text; c < p->at && c < p->end; c++) line += *c == '\n';
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "line %d: %s", line, what);
  }
  return -1;
}

static void skip_space(parser_t *p) {
  while (p->at < p->end && isspace((unsigned char)*p->at)) p->at++;
}

static int expect(parser_t *p, char c) {
  skip_space(p);
  if (p->at >= p->end || *p->at != c) return fail(p, "expected '%c'", c);
  p->at++;
  return 0;
}

/* A JSON string without escapes beyond \" and \\ (keys and algorithm names need no more). */
static int parse_string(parser_t *p, char *out, size_t cap) {
  if (expect(p, '"')) return -1;
  size_t n = 0;
  while (p->at < p->end && *p->at != '"') {
    char c = *p->at++;
    if (c == '\\') {
      if (p->at >= p->end || (*p->at != '"' && *p->at != '\\')) return fail(p, "unsupported escape in a string");
      c = *p->at++;
    }
    if ((unsigned char)c < 0x20) return fail(p, "control character in a string");
    if (n + 1 >= cap) return fail(p, "string longer than %zu characters", cap - 1);
    out[n++] = c;
  }
  if (p->at >= p->end) return fail(p, "unterminated string");
  p->at++;
  out[n] = '\0';
  return 0;
}

static int digits(parser_t *p) {
  const char *start = p->at;
  while (p->at < p->end && *p->at >= '0' && *p->at <= '9') p->at++;
  return (int)(p->at - start);
}

/* A JSON number exactly: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? ("+1", ".5", "01", "1." and
 * NUL bytes are not numbers). */
static int parse_number(parser_t *p, double *out) {
  skip_space(p);
  const char *start = p->at;
  if (p->at < p->end && *p->at == '-') p->at++;
  int lead = digits(p);
  if (lead == 0 || (lead > 1 && p->at[-lead] == '0')) return p->at = start, fail(p, "expected a number");
  if (p->at < p->end && *p->at == '.') {
    p->at++;
    if (!digits(p)) return p->at = start, fail(p, "expected a number");
  }
  if (p->at < p->end && (*p->at == 'e' || *p->at == 'E')) {
    p->at++;
    if (p->at < p->end && (*p->at == '+' || *p->at == '-')) p->at++;
    if (!digits(p)) return p->at = start, fail(p, "expected a number");
  }
  char buf[64];
  size_t n = (size_t)(p->at - start);
  if (n >= sizeof buf) return p->at = start, fail(p, "number longer than %zu characters", sizeof buf - 1);
  memcpy(buf, start, n);
  buf[n] = '\0';
  errno = 0;
  double v = strtod(buf, NULL);
  if (errno == ERANGE && (v > 1 || v < -1)) return p->at = start, fail(p, "number %s out of range", buf);
  *out = v;
  return 0;
}

/* Skips any JSON value (for fields this version does not know). */
static int skip_value(parser_t *p, int depth) {
  skip_space(p);
  if (p->at >= p->end) return fail(p, "unexpected end of file");
  if (depth > 16) return fail(p, "nesting too deep");
  char c = *p->at;
  if (c == '"') {
    char tmp[256];
    return parse_string(p, tmp, sizeof tmp);
  }
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    p->at++;
    skip_space(p);
    if (p->at < p->end && *p->at == close) return p->at++, 0;
    for (;;) {
      if (c == '{') {
        char key[256];
        if (parse_string(p, key, sizeof key) || expect(p, ':')) return -1;
      }
      if (skip_value(p, depth + 1)) return -1;
      skip_space(p);
      if (p->at < p->end && *p->at == ',') { p->at++; continue; }
      return expect(p, close);
    }
  }
  for (const char *word = c == 't' ? "true" : c == 'f' ? "false" : c == 'n' ? "null" : NULL; word;) {
    size_t len = strlen(word);
    if ((size_t)(p->end - p->at) < len || strncmp(p->at, word, len)) break;
    p->at += len;
    return 0;
  }
  double ignored;
  return parse_number(p, &ignored);
}

static int whole_in(double v, double lo, double hi) { return v >= lo && v <= hi && v == (double)(long long)v; }

/* What is wrong with an entry's values, into msg (0 if nothing): the rules of a file and of
 * nvrar_comm_set_tuned alike. */
static int entry_problem(const nvrar_tuned_entry_t *e, char *msg, size_t cap) {
  if ((unsigned)e->algo >= NVRAR_NUM_ALGOS) return snprintf(msg, cap, "algorithm %d is unknown", (int)e->algo), 1;
  if (e->num_blocks < 0 || e->num_blocks > NVRAR_MAX_BLOCKS)
    return snprintf(msg, cap, "num_blocks %d outside 0-%d", e->num_blocks, NVRAR_MAX_BLOCKS), 1;
  int t = e->threads_per_block;
  if (t && (t < 64 || t > NVRAR_MAX_THREADS || t % 32))
    return snprintf(msg, cap, "threads_per_block %d is not 0 or a multiple of 32 in 64-%d", t, NVRAR_MAX_THREADS), 1;
  if (e->chunk_bytes % NVRAR_PACK_BYTES)
    return snprintf(msg, cap, "chunk_bytes %zu is not 0 or a multiple of 16 bytes", e->chunk_bytes), 1;
  if (!(e->avg_time_ms >= 0)) return snprintf(msg, cap, "avg_time_ms %g is negative", e->avg_time_ms), 1;
  return 0;
}

static int parse_entry(parser_t *p, nvrar_tuned_entry_t *e) {
  int have_algo = 0;
  e->algo = NVRAR_ALGO_AUTO;
  e->num_blocks = e->threads_per_block = 0;
  e->chunk_bytes = 0;
  e->avg_time_ms = 0;
  if (expect(p, '{')) return -1;
  skip_space(p);
  if (p->at < p->end && *p->at == '}') return p->at++, fail(p, "entry without \"algorithm\"");
  char seen[16][64];
  int nseen = 0;
  for (;;) {
    char key[64];
    if (parse_string(p, key, sizeof key) || expect(p, ':')) return -1;
    for (int i = 0; i < nseen; i++)
      if (!strcmp(seen[i], key)) return fail(p, "key \"%s\" appears twice in one entry", key);
    if (nseen == 16) return fail(p, "more than 16 keys in one entry");
    memcpy(seen[nseen++], key, sizeof key);
    double v;
    if (!strcmp(key, "algorithm")) {
      char name[64];
      if (parse_string(p, name, sizeof name)) return -1;
      if (nvrar_parse_algo(name, &e->algo)) return fail(p, "unknown algorithm \"%s\"", name);
      have_algo = 1;
    } else if (!strcmp(key, "num_blocks") || !strcmp(key, "threads_per_block") || !strcmp(key, "chunk_bytes")) {
      /* whole numbers here; their ranges in entry_problem() */
      if (parse_number(p, &v)) return -1;
      if (!whole_in(v, -1e15, 1e15)) return fail(p, "%s %g is not a whole number", key, v);
      if (v < 0 || v > (key[0] == 'c' ? 1e15 : 1e9)) return fail(p, "%s %g is out of range", key, v);
      if (key[0] == 'n') e->num_blocks = (int)v;
      else if (key[0] == 't') e->threads_per_block = (int)v;
      else e->chunk_bytes = (size_t)v;
    } else if (!strcmp(key, "avg_time_ms")) {
      if (parse_number(p, &v)) return -1;
      e->avg_time_ms = v;
    } else if (skip_value(p, 1)) {
      return -1;
    }
    skip_space(p);
    if (p->at < p->end && *p->at == ',') { p->at++; continue; }
    if (expect(p, '}')) return -1;
    break;
  }
  if (!have_algo) return fail(p, "entry without \"algorithm\"");
  char msg[160];
  if (entry_problem(e, msg, sizeof msg)) return fail(p, "%s", msg);
  return 0;
}

static int by_bytes(const void *a, const void *b) {
  size_t x = ((const nvrar_tuned_entry_t *)a)->bytes, y = ((const nvrar_tuned_entry_t *)b)->bytes;
  return x < y ? -1 : x > y;
}

int nvrar_tuned_parse(const char *text, size_t len, nvrar_tuned_table_t *out, char *err, size_t errlen) {
  parser_t p = {text, text, text + len, err, errlen};
  nvrar_tuned_table_t t;
  t.count = 0;
  if (expect(&p, '{')) return -1;
  skip_space(&p);
  if (p.at < p.end && *p.at == '}') {
    p.at++;
  } else {
    for (;;) {
      char key[64];
      if (parse_string(&p, key, sizeof key) || expect(&p, ':')) return -1;
      if (t.count == NVRAR_MAX_TUNED_ENTRIES) return fail(&p, "more than %d sizes", NVRAR_MAX_TUNED_ENTRIES);
      nvrar_tuned_entry_t *e = &t.entries[t.count];
      if (nvrar_size_from_text(key, &e->bytes)) return fail(&p, "key \"%s\" is not a message size", key);
      for (int i = 0; i < t.count; i++)
        if (t.entries[i].bytes == e->bytes) return fail(&p, "size %zu appears twice", e->bytes);
      if (parse_entry(&p, e)) return -1;
      t.count++;
      skip_space(&p);
      if (p.at < p.end && *p.at == ',') { p.at++; continue; }
      if (expect(&p, '}')) return -1;
      break;
    }
  }
  skip_space(&p);
  if (p.at != p.end) return fail(&p, "text after the closing '}'");
  qsort(t.entries, (size_t)t.count, sizeof t.entries[0], by_bytes);
  *out = t;
  return 0;
}

int nvrar_tuned_make(const nvrar_tuned_entry_t *entries, int count, nvrar_tuned_table_t *out, char *err, size_t errlen) {
  if (count < 0 || count > NVRAR_MAX_TUNED_ENTRIES || (count && !entries)) {
    snprintf(err, errlen, "%d entries: expected 0-%d and a non-NULL array", count, NVRAR_MAX_TUNED_ENTRIES);
    return -1;
  }
  nvrar_tuned_table_t t;
  t.count = count;
  for (int i = 0; i < count; i++) {
    char msg[160];
    if (entry_problem(&entries[i], msg, sizeof msg)) {
      snprintf(err, errlen, "entry %d (%zu bytes): %s", i, entries[i].bytes, msg);
      return -1;
    }
    for (int k = 0; k < i; k++) {
      if (entries[k].bytes == entries[i].bytes) {
        snprintf(err, errlen, "size %zu appears twice", entries[i].bytes);
        return -1;
      }
    }
    t.entries[i] = entries[i];
  }
  qsort(t.entries, (size_t)t.count, sizeof t.entries[0], by_bytes);
  *out = t;
  return 0;
}

const nvrar_tuned_entry_t *nvrar_tuned_lookup(const nvrar_tuned_table_t *table, size_t bytes) {
  const nvrar_tuned_entry_t *best = NULL;
  for (int i = 0; i < table->count && table->entries[i].bytes <= bytes; i++) best = &table->entries[i];
  return best;
}

static const char *file_dtype(nvrar_dtype_t dtype) {
  switch (dtype) {
    case NVRAR_FLOAT32: return "float32";
    case NVRAR_FLOAT16: return "float16";
    case NVRAR_BFLOAT16: return "bfloat16";
    default: return NULL;
  }
}

int nvrar_tuned_path(int nranks, nvrar_dtype_t dtype, nvrar_env_lookup_fn lookup, char *path, size_t cap) {
  const char *name = file_dtype(dtype);
  if (!name || nranks < 1) return -1;
  const char *file = lookup("NVSHMEM_ALLREDUCE_CONFIG");
  if (file && *file) return snprintf(path, cap, "%s", file) < (int)cap ? 0 : -1;
  const char *dir = lookup("NVRAR_CACHE_DIR");
  int n;
  if (dir && *dir) {
    n = snprintf(path, cap, "%s/tuning_%dgpu_%s.json", dir, nranks, name);
  } else {
    const char *xdg = lookup("XDG_CACHE_HOME"), *home = lookup("HOME");
    if (xdg && *xdg) n = snprintf(path, cap, "%s/nvrar/tuning_%dgpu_%s.json", xdg, nranks, name);
    else if (home && *home) n = snprintf(path, cap, "%s/.cache/nvrar/tuning_%dgpu_%s.json", home, nranks, name);
    else return -1;
  }
  return n > 0 && n < (int)cap ? 0 : -1;
}

int nvrar_tuned_load(const char *path, nvrar_tuned_table_t *out, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot open: %s", strerror(errno));
    return 1; /* absent: not an error, the built-in table applies */
  }
  char *text = malloc(NVRAR_MAX_TUNED_FILE_BYTES + 1);
  size_t len = text ? fread(text, 1, NVRAR_MAX_TUNED_FILE_BYTES + 1, f) : 0;
  int too_big = len > NVRAR_MAX_TUNED_FILE_BYTES;
  fclose(f);
  int rc;
  if (!text) rc = (snprintf(err, errlen, "out of host memory"), -1);
  else if (too_big) rc = (snprintf(err, errlen, "larger than %d bytes", NVRAR_MAX_TUNED_FILE_BYTES), -1);
  else rc = nvrar_tuned_parse(text, len, out, err, errlen);
  free(text);
  return rc;
}

/* ---- public API (include/nvrar.h) ---- */
nvrar_result_t nvrar_tuned_file(int nranks, nvrar_dtype_t dtype, char *path, size_t cap) {
  if (!path || cap == 0) return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_tuned_file: path is NULL or cap is 0");
  if (nranks < 1 || !file_dtype(dtype))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_tuned_file: nranks %d or dtype %d is invalid", nranks,
                       (int)dtype);
  char buf[4096];
  if (nvrar_tuned_path(nranks, dtype, nvrar_process_getenv, buf, sizeof buf))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT,
                       "nvrar_tuned_file: no path: NVSHMEM_ALLREDUCE_CONFIG, NVRAR_CACHE_DIR, XDG_CACHE_HOME and "
                       "HOME are all unset or too long");
  if (strlen(buf) >= cap)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_tuned_file: the path needs %zu bytes, cap is %zu",
                       strlen(buf) + 1, cap);
  memcpy(path, buf, strlen(buf) + 1);
  return NVRAR_SUCCESS;
}

nvrar_result_t nvrar_tuned_read(const char *path, nvrar_tuned_entry_t *entries, int cap, int *count) {
  if (!path || !count || cap < 0 || (cap > 0 && !entries))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_tuned_read: path, entries or count is NULL, or cap < 0");
  nvrar_tuned_table_t *table = malloc(sizeof *table);
  if (!table) return nvrar_error(NVRAR_ERR_OUT_OF_MEMORY, "nvrar_tuned_read: out of host memory");
  char err[256];
  int rc = nvrar_tuned_load(path, table, err, sizeof err);
  nvrar_result_t res = NVRAR_SUCCESS;
  if (rc < 0) {
    res = nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "tuned file %s is malformed: %s", path, err);
  } else if (rc == 0 && table->count > cap) {
    res = nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_tuned_read: %s has %d entries, cap is %d", path,
                      table->count, cap);
  } else {
    int n = rc == 0 ? table->count : 0;
    if (n) memcpy(entries, table->entries, (size_t)n * sizeof *entries);
    *count = n;
  }
  free(table);
  return res;
}
