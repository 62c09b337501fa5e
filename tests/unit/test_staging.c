/*
 * Staging sizes (src/staging.c): what init asks of the symmetric heap with default settings, area by
 * area, against the footprint nvrar promises (docs/design.md, "Device memory"), and the
 * sub-communicator slots against every sub-communicator they must hold.
 */
#include "staging.h"
#include "unit.h"

#define MiB ((size_t)1 << 20)
#define ONE(n) (&(nvrar_topo_t){.nranks = (n), .nodes = 1, .gpus = (n), .network = NVRAR_NET_NVLINK})

static size_t area_bytes(int n, const nvrar_capacity_t *cap) {
  size_t flags, cells, stage, lamport;
  nvrar_direct_layout(n, cap, &flags, &cells, &stage, &lamport);
  return flags + cells + stage + lamport;
}

/* A two-shot set of n slices holds `bytes`, less what n slices of whole packs cannot. */
static int set_is(const nvrar_capacity_t *cap, int n, size_t bytes) {
  size_t set = cap->slice_packs * NVRAR_PACK_BYTES * (size_t)n;
  return set <= bytes && set + (size_t)n * NVRAR_PACK_BYTES > bytes;
}

int main(void) {
  nvrar_settings_t s;
  CHECK(nvrar_settings_resolve(NULL, unit_no_env, &s) == NVRAR_SUCCESS);
  for (int n = 1; n <= NVRAR_MAX_RANKS; n++) {
    nvrar_capacity_t cap;
    size_t flags, cells, stage, ring, slot;
    nvrar_plan_staging(&s, ONE(n), 0, &cap, &flags, &cells, &stage, &ring);
    size_t reserve = nvrar_heap_reserve(&s, n, &slot);
    size_t staging = flags + cells + stage + NVRAR_SUB_SLOTS * slot;
    printf("%d ranks: flags %zu KiB, one-shot cells %.1f MiB, two-shot %.1f MiB, %d sub slots of %.1f MiB: "
           "%.1f MiB of staging, heap %zu MiB\n",
           n, flags >> 10, (double)cells / MiB, (double)stage / MiB, NVRAR_SUB_SLOTS, (double)slot / MiB,
           (double)staging / MiB, reserve / MiB);
    CHECK(ring == 0 && cap.region_packs == 0 && cap.lamport_packs == 0); /* AUTO: no ring or lamport staging */
    if (n == 1) {
      CHECK(staging == 0); /* one rank's all-reduce is a copy */
      continue;
    }
    /* AUTO's one-shot sizes fit one piece; two-shot's 16 MiB sets */
    CHECK(cap.oneshot_packs * NVRAR_PACK_BYTES >= nvrar_oneshot_threshold(n));
    CHECK(set_is(&cap, n, 16 * MiB));
    /* The footprint: staging and slots within 80 MiB at every world of one node (init in all, with
     * NVSHMEM's ~26-30 MiB, under 128 MiB where the driver's module memory exists already). */
    CHECK(staging <= 80 * MiB);
    CHECK(reserve >= nvrar_heap_budget(&s) + NVRAR_SUB_SLOTS * slot);
    /* every sub-communicator of 2..n ranks fits a slot, and AUTO never runs it in one-shot pieces */
    for (int k = 2; k <= n; k++) {
      nvrar_capacity_t sub;
      nvrar_sub_capacity(k, &sub);
      CHECK(area_bytes(k, &sub) <= slot && sub.lamport_packs == 0);
      size_t piece = sub.oneshot_packs * NVRAR_PACK_BYTES;
      CHECK(piece >= 64u << 10 && piece <= 256u << 10);
      CHECK(piece >= nvrar_oneshot_threshold(k) || piece == 256u << 10);
      CHECK(set_is(&sub, k, 4 * MiB));
    }
  }
  /* a small budget shrinks the world's areas to fit it instead of failing */
  s.memory_bytes = 64 * MiB;
  nvrar_capacity_t cap;
  size_t flags, cells, stage, ring;
  nvrar_plan_staging(&s, ONE(8), 1, &cap, &flags, &cells, &stage, &ring);
  CHECK(flags + cells + stage + ring <= nvrar_heap_budget(&s));
  CHECK(cap.oneshot_packs > 0 && cap.slice_packs > 0 && cap.region_packs > 0);

  /* a lamport algorithm forced at init: its buffers after two-shot's, counted in *stage_bytes (lamport:
   * 2 buffers x n sources x one-shot's piece; lamport-twoshot: 2 x 2n slices of a 4 MiB piece; then
   * a header per buffer, source and block); the other's none, and none across nodes */
  s.memory_bytes = 256 * MiB;
  const size_t headers = 2 * NVRAR_MAX_BLOCKS * NVRAR_PACK_BYTES;
  for (int n = 2; n <= NVRAR_MAX_RANKS; n++) {
    size_t stage_alone, f, c, st, lamport, one, two;
    s.algo = NVRAR_ALGO_AUTO;
    nvrar_plan_staging(&s, ONE(n), 0, &cap, &flags, &cells, &stage_alone, &ring);
    s.algo = NVRAR_ALGO_LAMPORT;
    nvrar_plan_staging(&s, ONE(n), 0, &cap, &flags, &cells, &stage, &ring);
    CHECK(cap.lamport_packs == cap.oneshot_packs && cap.lamport_slice_packs == 0);
    CHECK(stage - stage_alone == 2 * (size_t)n * cap.lamport_packs * NVRAR_PACK_BYTES + (size_t)n * headers);
    nvrar_direct_layout(n, &cap, &f, &c, &st, &lamport);
    nvrar_lamport_layout(n, &cap, &one, &two);
    CHECK(f == flags && c == cells && st == stage_alone && st + lamport == stage && lamport == one && two == 0);
    s.algo = NVRAR_ALGO_LAMPORT_TWOSHOT;
    nvrar_plan_staging(&s, ONE(n), 0, &cap, &flags, &cells, &stage, &ring);
    CHECK(cap.lamport_packs == 0 && cap.lamport_slice_packs * NVRAR_PACK_BYTES * (size_t)n <= 4 * MiB &&
          (cap.lamport_slice_packs + 1) * NVRAR_PACK_BYTES * (size_t)n > 4 * MiB);
    nvrar_lamport_layout(n, &cap, &one, &two);
    CHECK(one == 0 && two == 4 * (size_t)n * cap.lamport_slice_packs * NVRAR_PACK_BYTES + (size_t)n * headers);
    CHECK(stage - stage_alone == two);
  }
  nvrar_topo_t across = {.nranks = 4, .nodes = 2, .gpus = 2, .network = NVRAR_NET_NVLINK};
  s.algo = NVRAR_ALGO_LAMPORT;
  nvrar_plan_staging(&s, &across, 1, &cap, &flags, &cells, &stage, &ring);
  CHECK(cap.lamport_packs == 0 && cap.lamport_slice_packs == 0);
  return unit_finish("test_staging");
}
