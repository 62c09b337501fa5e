/*
 * What every rank of a new communicator must have resolved alike, exchanged at init before any
 * staging exists (comm.c): settings, the layout they give, tuned tables, and whether this rank's own
 * preparation succeeded. Pure C (agree.c), so tests/unit/test_agree.c checks it on the CPU.
 */
#ifndef NVRAR_AGREE_H
#define NVRAR_AGREE_H

#include <stdint.h>

#include "internal.h"
#include "tuned.h"

/* One word per thing that must agree: these, then every setting of the env registry (config.c,
 * nvrar_settings_word), so that a setting added there is agreed on without a change here. */
enum {
  NVRAR_AGREE_STATUS,      /* this rank's preparation: an nvrar_result_t */
  NVRAR_AGREE_VERSION,
  NVRAR_AGREE_NRANKS,
  NVRAR_AGREE_HEAP,        /* NVSHMEM_SYMMETRIC_SIZE in force */
  NVRAR_AGREE_STAGING,     /* bytes of the staging allocation */
  NVRAR_AGREE_LAYOUT,      /* nodes x GPUs per node */
  NVRAR_AGREE_TUNED,       /* + dtype: a hash of the tuned table of each dtype */
  NVRAR_AGREE_SETTINGS = NVRAR_AGREE_TUNED + NVRAR_NUM_DTYPES, /* + i: setting i of the registry */
  NVRAR_AGREE_WORDS = NVRAR_AGREE_SETTINGS + NVRAR_MAX_SETTINGS
};

typedef struct nvrar_agree_record {
  uint64_t word[NVRAR_AGREE_WORDS];
} nvrar_agree_record_t;

/* This rank's record. status is its preparation's result; the rest may be partial when it failed. */
void nvrar_agree_fill(nvrar_agree_record_t *rec, nvrar_result_t status, int nranks, const nvrar_settings_t *s,
                      size_t heap_bytes, size_t staging_bytes, const nvrar_topo_t *topo,
                      const nvrar_tuned_table_t tuned[NVRAR_NUM_DTYPES]);
/*
 * Every rank's records (all[r] from rank r): NVRAR_SUCCESS if every rank prepared and all agree with
 * rank 0, else the error every rank returns, with a message naming the first rank that failed or
 * the first setting that differs (and the two values). `me` is this rank, for the message.
 */
nvrar_result_t nvrar_agree_check(const nvrar_agree_record_t *all, int nranks, int me);
/* FNV-1a over what the planner reads of a tuned table (sizes, algorithms, shapes; not the timings). */
uint64_t nvrar_tuned_hash(const nvrar_tuned_table_t *table);

#endif
