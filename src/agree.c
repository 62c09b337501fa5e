/*
 * Agreement at init. Each rank reads its own environment, config and tuned files; ranks that
 * resolved different grids, staging sizes or tables would pair waits with the wrong flags and return
 * wrong sums with success (measured: 345-1001 of 1001 outputs wrong on the first call). So every
 * rank's record is gathered before the staging is allocated, and a difference fails init on every
 * rank alike, naming the setting. A rank whose own preparation failed (topology, device memory, a
 * peer it cannot reach) says so in its record, so that all ranks fail together and can still take
 * NVSHMEM's collective teardown instead of one rank tearing down alone and hanging.
 */
#include <stdio.h>
#include <string.h>

#include "agree.h"

static const char *const names[NVRAR_AGREE_SETTINGS] = {
    [NVRAR_AGREE_STATUS] = "status",
    [NVRAR_AGREE_VERSION] = "the nvrar version",
    [NVRAR_AGREE_NRANKS] = "nranks",
    [NVRAR_AGREE_HEAP] = "NVSHMEM_SYMMETRIC_SIZE",
    [NVRAR_AGREE_STAGING] = "the staging size",
    [NVRAR_AGREE_LAYOUT] = "the node layout (nodes x GPUs per node)",
    [NVRAR_AGREE_TUNED + NVRAR_FLOAT32] = "the float32 tuned table (tuned file or nvrar_comm_set_tuned)",
    [NVRAR_AGREE_TUNED + NVRAR_FLOAT16] = "the float16 tuned table (tuned file or nvrar_comm_set_tuned)",
    [NVRAR_AGREE_TUNED + NVRAR_BFLOAT16] = "the bfloat16 tuned table (tuned file or nvrar_comm_set_tuned)",
};

static uint64_t fnv(uint64_t h, const void *data, size_t bytes) {
  const unsigned char *p = data;
  for (size_t i = 0; i < bytes; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

uint64_t nvrar_tuned_hash(const nvrar_tuned_table_t *t) {
  uint64_t h = fnv(14695981039346656037ull, &t->count, sizeof t->count);
  for (int i = 0; i < t->count; i++) {
    const nvrar_tuned_entry_t *e = &t->entries[i];
    uint64_t fields[5] = {e->bytes, (uint64_t)e->algo, (uint64_t)e->num_blocks, (uint64_t)e->threads_per_block,
                          e->chunk_bytes};
    h = fnv(h, fields, sizeof fields);
  }
  return h;
}

void nvrar_agree_fill(nvrar_agree_record_t *rec, nvrar_result_t status, int nranks, const nvrar_settings_t *s,
                      size_t heap_bytes, size_t staging_bytes, const nvrar_topo_t *topo,
                      const nvrar_tuned_table_t tuned[NVRAR_NUM_DTYPES]) {
  uint64_t *w = rec->word;
  memset(rec, 0, sizeof *rec);
  w[NVRAR_AGREE_STATUS] = (uint64_t)status;
  w[NVRAR_AGREE_VERSION] = NVRAR_VERSION;
  w[NVRAR_AGREE_NRANKS] = (uint64_t)nranks;
  w[NVRAR_AGREE_HEAP] = heap_bytes;
  w[NVRAR_AGREE_STAGING] = staging_bytes;
  w[NVRAR_AGREE_LAYOUT] = ((uint64_t)(uint32_t)topo->nodes << 32) | (uint32_t)topo->gpus;
  for (int d = 0; d < NVRAR_NUM_DTYPES; d++) w[NVRAR_AGREE_TUNED + d] = nvrar_tuned_hash(&tuned[d]);
  for (int i = 0; i < nvrar_settings_count(); i++) w[NVRAR_AGREE_SETTINGS + i] = nvrar_settings_word(s, i);
}

/* Word w's value v as text, and what the word is, for the message. */
static const char *describe(int w, uint64_t v, char *out, size_t cap) {
  if (w >= NVRAR_AGREE_SETTINGS) return nvrar_settings_word_text(w - NVRAR_AGREE_SETTINGS, v, out, cap);
  if (w == NVRAR_AGREE_LAYOUT) snprintf(out, cap, "%u x %u", (unsigned)(v >> 32), (unsigned)(uint32_t)v);
  else if (w >= NVRAR_AGREE_TUNED) snprintf(out, cap, "hash %016llx", (unsigned long long)v);
  else snprintf(out, cap, "%llu", (unsigned long long)v);
  return names[w];
}

nvrar_result_t nvrar_agree_check(const nvrar_agree_record_t *all, int nranks, int me) {
  for (int r = 0; r < nranks; r++) {
    nvrar_result_t status = (nvrar_result_t)all[r].word[NVRAR_AGREE_STATUS];
    if (status != NVRAR_SUCCESS) {
      if (r == me) return status; /* its own message stands */
      return nvrar_error(status, "nvrar_comm_init: rank %d could not prepare its part (%s; its log says why), so "
                                 "every rank fails init", r, nvrar_result_string(status));
    }
  }
  for (int r = 1; r < nranks; r++) {
    for (int w = 1; w < NVRAR_AGREE_WORDS; w++) {
      if (all[r].word[w] == all[0].word[w]) continue;
      char a[48], b[48];
      const char *what = describe(w, all[0].word[w], a, sizeof a);
      describe(w, all[r].word[w], b, sizeof b);
      return nvrar_error(NVRAR_ERR_INVALID_USAGE,
                         "nvrar_comm_init: %s%s is %s on rank 0 but %s on rank %d: every rank must resolve the same "
                         "settings (check each rank's environment, config and tuned files)", what,
                         w >= NVRAR_AGREE_SETTINGS ? " (or its config field)" : "", a, b, r);
    }
  }
  return NVRAR_SUCCESS;
}
