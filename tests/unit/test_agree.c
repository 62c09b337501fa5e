/*
 * Init's agreement (src/agree.c): ranks that resolved different settings, layouts or tuned tables,
 * or one whose own preparation failed, make every rank fail init alike, with a message naming the
 * setting and both values. Once such ranks all succeeded and returned wrong sums.
 */
#include <string.h>

#include "agree.h"
#include "unit.h"

static nvrar_tuned_table_t tuned[NVRAR_NUM_DTYPES];

static void fill(nvrar_agree_record_t *rec, const nvrar_settings_t *s, nvrar_result_t status) {
  nvrar_topo_t topo = {4, 1, 4, NVRAR_NET_NVLINK};
  nvrar_agree_fill(rec, status, 4, s, 208u << 20, 70u << 20, &topo, tuned);
}

static int says(const char *text) {
  int ok = strstr(nvrar_last_error_text(), text) != NULL;
  if (!ok) fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", nvrar_last_error_text(), text);
  return ok;
}

int main(void) {
  nvrar_settings_t s;
  CHECK(nvrar_settings_resolve(NULL, unit_no_env, &s) == NVRAR_SUCCESS);
  nvrar_agree_record_t all[4];
  for (int r = 0; r < 4; r++) fill(&all[r], &s, NVRAR_SUCCESS);
  for (int me = 0; me < 4; me++) CHECK(nvrar_agree_check(all, 4, me) == NVRAR_SUCCESS);

  /* the measured cases: another grid, budget, one-shot bound or algorithm on one rank */
  nvrar_settings_t other = s;
  other.num_blocks = 32;
  fill(&all[1], &other, NVRAR_SUCCESS);
  for (int me = 0; me < 4; me++) {
    CHECK(nvrar_agree_check(all, 4, me) == NVRAR_ERR_INVALID_USAGE);
    CHECK(says("NVRAR_NUM_BLOCKS") && says("is 0 on rank 0 but 32 on rank 1"));
  }
  other = s;
  other.memory_bytes = 512u << 20;
  fill(&all[1], &other, NVRAR_SUCCESS);
  CHECK(nvrar_agree_check(all, 4, 0) == NVRAR_ERR_INVALID_USAGE && says("NVRAR_MEMORY_BYTES"));
  other = s;
  other.oneshot_max_bytes = 1u << 20;
  fill(&all[1], &other, NVRAR_SUCCESS);
  CHECK(nvrar_agree_check(all, 4, 0) == NVRAR_ERR_INVALID_USAGE && says("NVRAR_ONESHOT_MAX_BYTES"));
  other = s;
  other.algo = NVRAR_ALGO_TWOSHOT;
  fill(&all[1], &other, NVRAR_SUCCESS);
  CHECK(nvrar_agree_check(all, 4, 0) == NVRAR_ERR_INVALID_USAGE && says("is auto on rank 0 but twoshot on rank 1"));
  other = s;
  other.timeout_seconds = 5;
  fill(&all[3], &other, NVRAR_SUCCESS);
  fill(&all[1], &s, NVRAR_SUCCESS);
  CHECK(nvrar_agree_check(all, 4, 2) == NVRAR_ERR_INVALID_USAGE && says("NVRAR_TIMEOUT") &&
        says("is 30 on rank 0 but 5 on rank 3"));
  fill(&all[3], &s, NVRAR_SUCCESS);
  /* every setting of the registry is compared, also one no check above names */
  other = s;
  other.hier_ll_bytes = 4096;
  fill(&all[1], &other, NVRAR_SUCCESS);
  CHECK(nvrar_agree_check(all, 4, 0) == NVRAR_ERR_INVALID_USAGE && says("NVRAR_HIER_LL_BYTES"));
  fill(&all[1], &s, NVRAR_SUCCESS);
  CHECK(nvrar_settings_count() >= 10);

  /* a tuned file on one rank only, or another one: its table's hash differs */
  nvrar_tuned_entry_t e = {65536, NVRAR_ALGO_ONESHOT, 32, 128, 0, 0.0072};
  char err[128];
  CHECK(nvrar_tuned_make(&e, 1, &tuned[NVRAR_BFLOAT16], err, sizeof err) == 0);
  fill(&all[2], &s, NVRAR_SUCCESS);
  CHECK(nvrar_agree_check(all, 4, 0) == NVRAR_ERR_INVALID_USAGE && says("bfloat16 tuned table") && says("rank 2"));
  nvrar_tuned_table_t timed = tuned[NVRAR_BFLOAT16];
  timed.entries[0].avg_time_ms = 1; /* timings are informative: not a difference */
  CHECK(nvrar_tuned_hash(&timed) == nvrar_tuned_hash(&tuned[NVRAR_BFLOAT16]));
  timed.entries[0].num_blocks = 16;
  CHECK(nvrar_tuned_hash(&timed) != nvrar_tuned_hash(&tuned[NVRAR_BFLOAT16]));
  tuned[NVRAR_BFLOAT16].count = 0;
  fill(&all[2], &s, NVRAR_SUCCESS);
  CHECK(nvrar_agree_check(all, 4, 0) == NVRAR_SUCCESS);

  /* a rank that could not prepare (topology, device memory, a peer out of reach): all fail */
  fill(&all[2], &s, NVRAR_ERR_UNSUPPORTED);
  nvrar_error(NVRAR_ERR_UNSUPPORTED, "rank 2's own reason");
  CHECK(nvrar_agree_check(all, 4, 2) == NVRAR_ERR_UNSUPPORTED && says("rank 2's own reason"));
  CHECK(nvrar_agree_check(all, 4, 0) == NVRAR_ERR_UNSUPPORTED && says("rank 2 could not prepare"));
  return unit_finish("test_agree");
}
