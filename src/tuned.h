/* Tuned-parameter files: parser, lookup and where the file lives (tuned.c). Pure host C. */
#ifndef NVRAR_TUNED_H
#define NVRAR_TUNED_H

#include "internal.h"

#define NVRAR_MAX_TUNED_ENTRIES 64
#define NVRAR_MAX_TUNED_FILE_BYTES (1 << 20)

/* nvrar_tuned_entry_t: include/nvrar.h. */
typedef struct nvrar_tuned_table {
  int count;
  nvrar_tuned_entry_t entries[NVRAR_MAX_TUNED_ENTRIES]; /* sorted by bytes */
} nvrar_tuned_table_t;

/* 0 and *out filled, or -1 with "line N: what" in err and *out untouched. */
int nvrar_tuned_parse(const char *text, size_t len, nvrar_tuned_table_t *out, char *err, size_t errlen);
/* The entry with the largest size not above bytes, or NULL when every entry is larger. */
const nvrar_tuned_entry_t *nvrar_tuned_lookup(const nvrar_tuned_table_t *table, size_t bytes);
/*
 * The file for (nranks, dtype): NVSHMEM_ALLREDUCE_CONFIG if set, else
 * $NVRAR_CACHE_DIR/tuning_{nranks}gpu_{float32|float16|bfloat16}.json, else the same name under
 * $XDG_CACHE_HOME/nvrar or ~/.cache/nvrar. 0, or -1 if no path can be formed.
 */
int nvrar_tuned_path(int nranks, nvrar_dtype_t dtype, nvrar_env_lookup_fn lookup, char *path, size_t cap);
/* 0 and *out = entries[0..count) sorted, or -1 with what is wrong in err (the checks of a file). */
int nvrar_tuned_make(const nvrar_tuned_entry_t *entries, int count, nvrar_tuned_table_t *out, char *err, size_t errlen);
/* 0 parsed, 1 no such file (the built-in table applies), -1 malformed (err says why). */
int nvrar_tuned_load(const char *path, nvrar_tuned_table_t *out, char *err, size_t errlen);

#endif
