/* libFuzzer: the tuned-file parser (src/tuned.c) on any bytes. A table it accepts must hold what
 * nvrar_tuned_make accepts too, sorted by size without repeats. tests/fuzz/run.sh runs it. */
#include <stdlib.h>
#include <string.h>

#include "tuned.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  static nvrar_tuned_table_t table, again;
  char err[256];
  if (nvrar_tuned_parse((const char *)data, size, &table, err, sizeof err) != 0) {
    if (!memchr(err, '\0', sizeof err) || strncmp(err, "line ", 5)) abort(); /* every refusal says where */
    return 0;
  }
  if (table.count < 0 || table.count > NVRAR_MAX_TUNED_ENTRIES) abort();
  for (int i = 1; i < table.count; i++)
    if (table.entries[i - 1].bytes >= table.entries[i].bytes) abort();
  if (nvrar_tuned_make(table.entries, table.count, &again, err, sizeof err) != 0) abort();
  return 0;
}
