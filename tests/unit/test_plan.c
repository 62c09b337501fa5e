/* The planner: AUTO thresholds, forced algorithms, launch-shape bounds and overrides, multi-node choices. */
#include <string.h>

#include "algo/chunk.h"
#include "internal.h"
#include "tuned.h"
#include "unit.h"

int main(void) {
  nvrar_settings_t s;
  CHECK(nvrar_settings_resolve(NULL, unit_no_env, &s) == NVRAR_SUCCESS);
  s.algo = NVRAR_ALGO_AUTO;
  s.num_blocks = s.threads_per_block = 0;
  s.oneshot_max_bytes = 0;
  nvrar_capacity_t cap = {.oneshot_packs = 65536, .slice_packs = 524288, .region_packs = 16384, .cells_packs = 768};
  nvrar_plan_t p;
#define ONE(n) (&(nvrar_topo_t){.nranks = (n), .nodes = 1, .gpus = (n), .network = NVRAR_NET_NVLINK})

  for (int n = 2; n <= NVRAR_MAX_RANKS; n++) {
    size_t limit = nvrar_oneshot_threshold(n);
    CHECK(limit > 0 && limit <= cap.oneshot_packs * 16);
    CHECK(nvrar_plan_make(&s, &cap, ONE(n), limit, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_ONESHOT);
    CHECK(nvrar_plan_make(&s, &cap, ONE(n), limit + 2, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_TWOSHOT);
    CHECK(nvrar_plan_make(&s, &cap, ONE(n), 2, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_ONESHOT);
    /* thresholds never grow with the rank count: one-shot's traffic grows with n */
    if (n > 2) CHECK(limit <= nvrar_oneshot_threshold(n - 1));
  }
  /* every size gets a sane shape */
  for (size_t bytes = 1; bytes <= ((size_t)1 << 31); bytes = bytes * 3 + 1) {
    for (int n = 2; n <= 8; n++) {
      CHECK(nvrar_plan_make(&s, &cap, ONE(n), bytes, &p) == NVRAR_SUCCESS);
      CHECK(p.blocks >= 1 && p.blocks <= NVRAR_MAX_BLOCKS);
      CHECK(p.threads >= 64 && p.threads <= NVRAR_MAX_THREADS && p.threads % 32 == 0);
    }
  }
  /* the oneshot_max_bytes override, and AUTO never takes one-shot past its cell buffer */
  s.oneshot_max_bytes = 4096;
  CHECK(nvrar_plan_make(&s, &cap, ONE(4), 8192, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_TWOSHOT);
  s.oneshot_max_bytes = (size_t)1 << 30;
  CHECK(nvrar_plan_make(&s, &cap, ONE(4), cap.oneshot_packs * 16 + 16, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_TWOSHOT);
  s.oneshot_max_bytes = 0;
  /* forced algorithms take every size; overrides of the shape are obeyed */
  s.algo = NVRAR_ALGO_ONESHOT;
  CHECK(nvrar_plan_make(&s, &cap, ONE(4), (size_t)64 << 20, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_ONESHOT);
  s.algo = NVRAR_ALGO_TWOSHOT;
  CHECK(nvrar_plan_make(&s, &cap, ONE(4), 16, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_TWOSHOT);
  /* lamport: refused without its staging (not forced at init, a sub-communicator), else one-shot's
   * shapes over its own piece; AUTO never takes it */
  s.algo = NVRAR_ALGO_LAMPORT;
  CHECK(nvrar_plan_make(&s, &cap, ONE(4), 1024, &p) == NVRAR_ERR_UNSUPPORTED);
  nvrar_capacity_t lcap = cap;
  lcap.lamport_packs = 4096;
  nvrar_plan_t q;
  s.algo = NVRAR_ALGO_ONESHOT;
  CHECK(nvrar_plan_make(&s, &lcap, ONE(4), 32768, &q) == NVRAR_SUCCESS);
  s.algo = NVRAR_ALGO_LAMPORT;
  CHECK(nvrar_plan_make(&s, &lcap, ONE(4), 32768, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_LAMPORT &&
        p.blocks == q.blocks && p.threads == q.threads);
  CHECK(nvrar_plan_make(&s, &lcap, ONE(4), (size_t)64 << 20, &p) == NVRAR_SUCCESS && p.blocks == 8); /* 4096-pack pieces, 512 threads */
  /* which staging each algorithm needs */
  nvrar_capacity_t bare = {.oneshot_packs = 4096, .slice_packs = 4096};
  CHECK(nvrar_capacity_holds(&bare, NVRAR_ALGO_AUTO) && nvrar_capacity_holds(&bare, NVRAR_ALGO_ONESHOT) &&
        nvrar_capacity_holds(&bare, NVRAR_ALGO_TWOSHOT));
  CHECK(!nvrar_capacity_holds(&bare, NVRAR_ALGO_RING) && !nvrar_capacity_holds(&bare, NVRAR_ALGO_HIER_RHD) &&
        !nvrar_capacity_holds(&bare, NVRAR_ALGO_LAMPORT) && !nvrar_capacity_holds(&bare, NVRAR_ALGO_LAMPORT_TWOSHOT));
  CHECK(nvrar_capacity_holds(&cap, NVRAR_ALGO_RING) && nvrar_capacity_holds(&lcap, NVRAR_ALGO_LAMPORT) &&
        !nvrar_capacity_holds(&lcap, NVRAR_ALGO_LAMPORT_TWOSHOT));
  /* lamport-twoshot: the same, with two-shot's shapes over its own slices */
  s.algo = NVRAR_ALGO_LAMPORT_TWOSHOT;
  CHECK(nvrar_plan_make(&s, &lcap, ONE(4), 1 << 20, &p) == NVRAR_ERR_UNSUPPORTED);
  lcap.lamport_slice_packs = 65536;
  s.algo = NVRAR_ALGO_TWOSHOT;
  CHECK(nvrar_plan_make(&s, &lcap, ONE(4), 1 << 20, &q) == NVRAR_SUCCESS);
  s.algo = NVRAR_ALGO_LAMPORT_TWOSHOT;
  CHECK(nvrar_plan_make(&s, &lcap, ONE(4), 1 << 20, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_LAMPORT_TWOSHOT &&
        p.blocks == q.blocks && p.threads == q.threads);
  s.algo = NVRAR_ALGO_AUTO;
  for (size_t bytes = 1; bytes <= ((size_t)1 << 26); bytes *= 4)
    CHECK(nvrar_plan_make(&s, &lcap, ONE(4), bytes, &p) == NVRAR_SUCCESS && p.algo != NVRAR_ALGO_LAMPORT &&
          p.algo != NVRAR_ALGO_LAMPORT_TWOSHOT);
  s.algo = NVRAR_ALGO_TWOSHOT;
  s.num_blocks = 7;
  s.threads_per_block = 128;
  CHECK(nvrar_plan_make(&s, &cap, ONE(4), 1 << 20, &p) == NVRAR_SUCCESS && p.blocks == 7 && p.threads == 128);
  /* internal misuse is reported, not crashed on */
  CHECK(nvrar_plan_make(&s, &cap, ONE(9), 1024, &p) == NVRAR_ERR_INTERNAL);
  nvrar_capacity_t empty = {0, 0, 0, 0, 0, 0};
  CHECK(nvrar_plan_make(&s, &empty, ONE(4), 1024, &p) == NVRAR_ERR_INTERNAL);
  CHECK(nvrar_plan_make(&s, &cap, &(nvrar_topo_t){.nranks = 8, .nodes = 2, .gpus = 3}, 1024, &p) == NVRAR_ERR_INTERNAL);

  /* across nodes: one-shot and two-shot are refused, AUTO takes the model's pick, shapes stay in bounds */
  s.num_blocks = s.threads_per_block = 0;
  nvrar_topo_t two = {.nranks = 4, .nodes = 2, .gpus = 2, .network = NVRAR_NET_NVLINK};
  s.algo = NVRAR_ALGO_TWOSHOT;
  CHECK(nvrar_plan_make(&s, &cap, &two, 1024, &p) == NVRAR_ERR_UNSUPPORTED);
  s.algo = NVRAR_ALGO_ONESHOT;
  CHECK(nvrar_plan_make(&s, &cap, &two, 1024, &p) == NVRAR_ERR_UNSUPPORTED);
  s.algo = NVRAR_ALGO_AUTO;
  for (int net = 0; net < NVRAR_NUM_NETS; net++) {
    for (int nodes = 2; nodes <= 64; nodes *= 2) {
      for (int gpus = 1; gpus <= 8; gpus *= 2) {
        nvrar_topo_t t = {.nranks = nodes * gpus, .nodes = nodes, .gpus = gpus, .network = (nvrar_network_t)net};
        if (t.nranks > NVRAR_MAX_WORLD) continue;
        for (size_t bytes = 16; bytes <= ((size_t)1 << 30); bytes *= 8) {
          CHECK(nvrar_plan_make(&s, &cap, &t, bytes, &p) == NVRAR_SUCCESS);
          CHECK(nvrar_algo_multinode(p.algo));
          CHECK(p.algo == nvrar_model_pick(nodes, gpus, (double)bytes, (nvrar_network_t)net));
          CHECK(p.blocks >= 1 && p.blocks <= NVRAR_MAX_RING_BLOCKS && p.rings >= 1 && p.rings <= NVRAR_MAX_RINGS);
          CHECK(p.threads >= gpus && p.threads <= NVRAR_MAX_THREADS);
          if (p.algo == NVRAR_ALGO_RING) CHECK(p.blocks >= p.rings);
        }
      }
    }
  }
  /* every multi-node algorithm can be forced, on one node too */
  for (int a = 1; a < NVRAR_NUM_ALGOS; a++) {
    if (!nvrar_algo_multinode((nvrar_algo_t)a)) continue;
    s.algo = (nvrar_algo_t)a;
    CHECK(nvrar_plan_make(&s, &cap, &two, 12345, &p) == NVRAR_SUCCESS && p.algo == (nvrar_algo_t)a);
    CHECK(nvrar_plan_make(&s, &cap, ONE(4), 12345, &p) == NVRAR_SUCCESS && p.algo == (nvrar_algo_t)a);
  }
  s.rings = 3;
  s.chunk_bytes = 4096;
  s.algo = NVRAR_ALGO_RING;
  CHECK(nvrar_plan_make(&s, &cap, &two, 1 << 20, &p) == NVRAR_SUCCESS && p.rings == 3 && p.chunk_packs == 256);
  CHECK(p.ll_packs == 0);
  /* hier-rd between nodes takes flag-in-data cells up to NVRAR_HIER_LL_BYTES, if the staging kept them */
  s.rings = 0;
  s.chunk_bytes = 0;
  s.algo = NVRAR_ALGO_HIER_RD;
  CHECK(s.hier_ll_bytes == 65536);
  CHECK(nvrar_plan_make(&s, &cap, &two, 65536, &p) == NVRAR_SUCCESS && p.ll_packs == 768 / 12);
  CHECK(p.blocks == 65536 / 16 / (2 * 64)); /* a shard of 64 packs per block: one cell area */
  CHECK(nvrar_plan_make(&s, &cap, &two, 65537, &p) == NVRAR_SUCCESS && p.ll_packs == 0);
  CHECK(nvrar_plan_make(&s, &cap, ONE(4), 1024, &p) == NVRAR_SUCCESS && p.ll_packs == 0);
  s.algo = NVRAR_ALGO_HIER_RHD;
  CHECK(nvrar_plan_make(&s, &cap, &two, 1024, &p) == NVRAR_SUCCESS && p.ll_packs == 0);
  s.algo = NVRAR_ALGO_HIER_RD;
  s.hier_ll_bytes = 0;
  CHECK(nvrar_plan_make(&s, &cap, &two, 1024, &p) == NVRAR_SUCCESS && p.ll_packs == 0);
  s.hier_ll_bytes = 65536;
  nvrar_capacity_t no_cells = cap;
  no_cells.cells_packs = 0;
  CHECK(nvrar_plan_make(&s, &no_cells, &two, 1024, &p) == NVRAR_SUCCESS && p.ll_packs == 0);

  /* tuned tables: an entry stands in for what the settings leave to the planner; forced settings win */
  {
    nvrar_settings_t t;
    CHECK(nvrar_settings_resolve(NULL, unit_no_env, &t) == NVRAR_SUCCESS);
    nvrar_tuned_table_t table = {.count = 2,
                                 .entries = {{.bytes = 1024, .algo = NVRAR_ALGO_TWOSHOT, .num_blocks = 3, .threads_per_block = 64},
                                             {.bytes = 1 << 20, .algo = NVRAR_ALGO_RING, .chunk_bytes = 4096}}};
    CHECK(nvrar_plan_tuned(&t, &cap, ONE(4), &table, 512, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_ONESHOT);
    CHECK(nvrar_plan_tuned(&t, &cap, ONE(4), &table, 2048, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_TWOSHOT &&
          p.blocks == 3 && p.threads == 64);
    CHECK(nvrar_plan_tuned(&t, &cap, ONE(4), &table, 4 << 20, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_RING &&
          p.chunk_packs == 256);
    CHECK(nvrar_plan_tuned(&t, &cap, ONE(4), NULL, 2048, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_ONESHOT);
    t.algo = NVRAR_ALGO_ONESHOT; /* forced: the file's algorithm gives way, its shape fills the rest */
    t.num_blocks = 5;
    CHECK(nvrar_plan_tuned(&t, &cap, ONE(4), &table, 2048, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_ONESHOT &&
          p.blocks == 5 && p.threads == 64);
    t.algo = NVRAR_ALGO_AUTO;
    t.num_blocks = 0;
    /* across nodes a one-node entry is skipped: the planner (the model) decides */
    CHECK(nvrar_plan_tuned(&t, &cap, &two, &table, 2048, &p) == NVRAR_SUCCESS && nvrar_algo_multinode(p.algo));
    CHECK(nvrar_plan_tuned(&t, &cap, &two, &table, 4 << 20, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_RING);
    /* a sub-communicator (no put-with-signal staging): the file's ring entry is skipped, a forced ring refused */
    nvrar_capacity_t sub = {.oneshot_packs = 16384, .slice_packs = 65536};
    CHECK(nvrar_plan_tuned(&t, &sub, ONE(4), &table, 4 << 20, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_TWOSHOT);
    CHECK(nvrar_plan_tuned(&t, &sub, ONE(4), &table, 2048, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_TWOSHOT &&
          p.blocks == 3);
    for (size_t bytes = 1; bytes <= ((size_t)1 << 30); bytes = bytes * 5 + 3)
      CHECK(nvrar_plan_make(&t, &sub, ONE(2), bytes, &p) == NVRAR_SUCCESS && !nvrar_algo_multinode(p.algo));
    t.algo = NVRAR_ALGO_RING;
    CHECK(nvrar_plan_make(&t, &sub, ONE(4), 4096, &p) == NVRAR_ERR_UNSUPPORTED);
    CHECK(strstr(nvrar_last_error_text(), "sub-communicator") != NULL);
    t.algo = NVRAR_ALGO_AUTO;
  }
  return unit_finish("test_plan");
}
