/*
 * Planner: which algorithm and launch shape a message gets. Pure: no CUDA, no communicator, so
 * tests/unit/test_plan.c checks it on the CPU.
 */
#include <string.h>

#include "algo/chunk.h"
#include "algo/recursive.h"
#include "algo/table.h"
#include "internal.h"
#include "tuned.h"

/*
 * Every number below was measured on 4x H200 (NVSwitch, NV18), bf16, CUDA graph, 20 x 20 replays,
 * with `scripts/gpu_check.sh sweep` on 2026-11-22 (nvrar_perf -A oneshot|twoshot under
 * NVRAR_THREADS_PER_BLOCK / NVRAR_NUM_BLOCKS variants); the tables are in
 * bench/results/h200x4-2026-11-22.md ("Launch-shape sweeps behind src/tune.c") and its sweep.*.json.
 *
 * Largest message (bytes) for which AUTO takes one-shot. One-shot moves (n-1)*S per rank in
 * flag-in-data cells (half data) with no barrier; two-shot moves 2(n-1)/n*S with two barriers.
 *   2 ranks: one-shot 6.10 us at 256 KiB vs two-shot 7.83; 8.55 vs 8.56 at 512 KiB; two-shot ahead after.
 *     A later run (`gpu_check.sh full`, 2026-11-22, bench/results/h200x4-algos-2026-11-22/core/) measured
 *     7.30 vs 8.23 at 512 KiB and 10.87 vs 10.01 at 1 MiB: the crossover is above 512 KiB.
 *   4 ranks: one-shot 7.24 us at 64 KiB vs two-shot 8.36; 9.49 vs 8.52 at 128 KiB.
 *   5-8 ranks: not measured (8-GPU machines were not lent); one-shot's traffic grows with n, so the
 *   4-rank crossover halved.
 */
size_t nvrar_oneshot_threshold(int nranks) {
  if (nranks <= 2) return 512u << 10;
  if (nranks <= 4) return 64u << 10;
  return 32u << 10;
}

/*
 * Launch shapes. One-shot: 128 threads up to 64 KiB (4 ranks: 7.24 us at 64 KiB vs 7.62 with 512;
 * 1 KiB 4.28 vs 4.60), 512 above (2 ranks, 256 KiB: 6.10 vs 6.48). Two-shot: 64 blocks for large
 * slices (4 ranks, 64 MiB: 325 us with 64 blocks, 366 with 32, 534 with 16); 256 threads while a
 * slice is at most 256 KiB (4 ranks, 256 KiB: 8.90 us vs 9.13 with 512).
 */
enum { ONESHOT_SMALL_THREADS = 128, ONESHOT_SMALL_BYTES = 64 << 10, LARGE_THREADS = 512,
       TWOSHOT_SMALL_THREADS = 256, TWOSHOT_SMALL_SLICE_PACKS = 16384 };

static int clamp_blocks(uint64_t want) {
  if (want < 1) return 1;
  return want > NVRAR_MAX_BLOCKS ? NVRAR_MAX_BLOCKS : (int)want;
}

int nvrar_algo_multinode(nvrar_algo_t algo) {
  const nvrar_algo_desc_t *d = nvrar_algo_desc(algo);
  return d && d->multinode;
}

int nvrar_capacity_holds(const nvrar_capacity_t *capacity, nvrar_algo_t algo) {
  if (nvrar_algo_multinode(algo)) return capacity->region_packs != 0;
  if (algo == NVRAR_ALGO_LAMPORT) return capacity->lamport_packs != 0;
  if (algo == NVRAR_ALGO_LAMPORT_TWOSHOT) return capacity->lamport_slice_packs != 0;
  return 1;
}

/*
 * Ring family launch shape: a block per UNIT_PACKS packs (4 KiB) of each of its units (ring: n
 * chunks, simple ring: 1, hierarchical: G shards), up to NVRAR_MAX_RING_BLOCKS (128); 512 threads
 * once a unit fills them. Measured on 4x H200, bf16, graph, ring at 64 MiB (`scripts/gpu_check.sh
 * sweep ring`, bench/results/h200x4-ring-sweep-2026-11-22.txt): 506 / 396 / 359 us with 32 / 64 /
 * 128 blocks of 512 threads (128 x 256: 377; NCCL 319): every step of a block pays a signal
 * latency, so more blocks in flight hide it, even with half the staging each.
 */
enum { UNIT_PACKS = 256, RING_BLOCKS = NVRAR_MAX_RING_BLOCKS };

static void plan_ring_family(const nvrar_settings_t *settings, const nvrar_capacity_t *capacity,
                             const nvrar_topo_t *topo, uint64_t packs, nvrar_plan_t *plan) {
  const nvrar_algo_desc_t *d = nvrar_algo_desc(plan->algo);
  int units = d->units == NVRAR_UNITS_RANKS ? topo->nranks : d->units == NVRAR_UNITS_GPUS ? topo->gpus : 1;
  int blocks = clamp_blocks(nvrar_div_up(packs, (uint64_t)units * UNIT_PACKS));
  if (blocks > RING_BLOCKS) blocks = RING_BLOCKS;
  int rings = settings->rings ? settings->rings : topo->nodes > 1 ? topo->gpus : 1;
  if (rings > NVRAR_MAX_RINGS) rings = NVRAR_MAX_RINGS;
  if (settings->num_blocks) blocks = settings->num_blocks;
  if (blocks > NVRAR_MAX_RING_BLOCKS) blocks = NVRAR_MAX_RING_BLOCKS;
  if (blocks < rings && d->rings) blocks = rings;
  uint64_t unit = nvrar_div_up(packs, (uint64_t)blocks * units);
  plan->blocks = blocks;
  plan->threads = settings->threads_per_block ? settings->threads_per_block : unit >= 512 ? LARGE_THREADS : 256;
  plan->rings = rings;
  plan->chunk_packs = settings->chunk_bytes / NVRAR_PACK_BYTES;
  /* hier-rd between nodes: flag-in-data cells up to NVRAR_HIER_LL_BYTES, blocks enough that a
   * block's shard fits a cell area (the kernel still signals when it does not, e.g. under a forced
   * small grid); ll_packs is what an area holds, the same for every call of this communicator */
  if (d->cells && topo->nodes > 1 && capacity->cells_packs &&
      packs * NVRAR_PACK_BYTES <= settings->hier_ll_bytes) {
    plan->ll_packs = capacity->cells_packs / (2 * (uint64_t)nvrar_hier_cell_areas(topo->nodes));
    if (!settings->num_blocks)
      plan->blocks = clamp_blocks(nvrar_min_u64(nvrar_div_up(packs, (uint64_t)units * plan->ll_packs), RING_BLOCKS));
  }
}

nvrar_result_t nvrar_plan_make(const nvrar_settings_t *settings, const nvrar_capacity_t *capacity,
                               const nvrar_topo_t *topo, size_t bytes, nvrar_plan_t *plan) {
  const int nranks = topo->nranks;
  if (nranks < 1 || nranks > NVRAR_MAX_WORLD || topo->gpus < 1 || topo->gpus > NVRAR_MAX_RANKS ||
      topo->nodes * topo->gpus != nranks)
    return nvrar_error(NVRAR_ERR_INTERNAL, "planner: layout %d x %d for %d ranks is not supported", topo->nodes,
                       topo->gpus, nranks);
  if (!capacity->oneshot_packs || !capacity->slice_packs)
    return nvrar_error(NVRAR_ERR_INTERNAL, "planner: staging capacity is zero");
  uint64_t packs = nvrar_packs_of(bytes);
  nvrar_algo_t algo = settings->algo;
  memset(plan, 0, sizeof *plan);
  if (algo != NVRAR_ALGO_AUTO && !nvrar_algo_multinode(algo) && topo->nodes > 1)
    return nvrar_error(NVRAR_ERR_UNSUPPORTED,
                       "nvrar_all_reduce: %s reaches peers through NVLink pointers and runs within one node, but this "
                       "communicator spans %d nodes of %d; use ring, simple-ring, hier-rd or hier-rhd",
                       nvrar_algo_name(algo), topo->nodes, topo->gpus);
  if (algo == NVRAR_ALGO_AUTO && topo->nodes > 1) algo = nvrar_model_pick(topo->nodes, topo->gpus, (double)bytes,
                                                                          topo->network);
  if (algo == NVRAR_ALGO_AUTO) {
    size_t limit = settings->oneshot_max_bytes ? settings->oneshot_max_bytes : nvrar_oneshot_threshold(nranks);
    /* One-shot beyond its cell buffer would go in pieces, each a full latency: never under AUTO. */
    if (packs > capacity->oneshot_packs) limit = 0;
    algo = bytes <= limit ? NVRAR_ALGO_ONESHOT : NVRAR_ALGO_TWOSHOT;
  }
  plan->algo = algo;
  /* Ring-family staging is reserved across nodes, or at init when NVRAR_ALGO forces that family; the
   * lamport pair's when it forces one of them (staging.c) */
  if (!nvrar_capacity_holds(capacity, algo))
    return nvrar_error(NVRAR_ERR_UNSUPPORTED, "nvrar_all_reduce: %s needs %s staging, which this communicator did "
                       "not reserve (a sub-communicator never does; on one node set NVRAR_ALGO=%s or config.algo "
                       "before nvrar_comm_init)", nvrar_algo_name(algo),
                       nvrar_algo_multinode(algo) ? "put-with-signal" : "its own", nvrar_algo_name(algo));
  if (nvrar_algo_multinode(algo)) {
    plan_ring_family(settings, capacity, topo, packs, plan);
    return NVRAR_SUCCESS;
  }
  int threads, blocks;
  if (algo == NVRAR_ALGO_ONESHOT || algo == NVRAR_ALGO_LAMPORT) {
    /* One pack per thread per piece: the pushes of a piece all go out at once. Lamport takes
     * one-shot's shapes until it has measured ones of its own. */
    uint64_t cap = algo == NVRAR_ALGO_LAMPORT ? capacity->lamport_packs : capacity->oneshot_packs;
    uint64_t piece = nvrar_min_u64(packs, cap);
    threads = bytes <= ONESHOT_SMALL_BYTES ? ONESHOT_SMALL_THREADS : LARGE_THREADS;
    if (settings->threads_per_block) threads = settings->threads_per_block;
    blocks = clamp_blocks(nvrar_div_up(piece, (uint64_t)threads));
  } else { /* two-shot, and lamport-twoshot with its shapes until it has measured ones of its own */
    uint64_t cap = algo == NVRAR_ALGO_LAMPORT_TWOSHOT ? capacity->lamport_slice_packs : capacity->slice_packs;
    uint64_t slice = nvrar_min_u64(nvrar_div_up(packs, (uint64_t)nranks), cap);
    threads = slice <= TWOSHOT_SMALL_SLICE_PACKS ? TWOSHOT_SMALL_THREADS : LARGE_THREADS;
    if (settings->threads_per_block) threads = settings->threads_per_block;
    blocks = clamp_blocks(nvrar_div_up(slice, (uint64_t)threads));
  }
  if (settings->num_blocks) blocks = settings->num_blocks;
  plan->blocks = blocks;
  plan->threads = threads;
  plan->rings = 1;
  return NVRAR_SUCCESS;
}

nvrar_result_t nvrar_plan_tuned(const nvrar_settings_t *settings, const nvrar_capacity_t *capacity,
                                const nvrar_topo_t *topo, const nvrar_tuned_table_t *tuned, size_t bytes,
                                nvrar_plan_t *plan) {
  const nvrar_tuned_entry_t *e = tuned ? nvrar_tuned_lookup(tuned, bytes) : NULL;
  if (!e || (topo->nodes > 1 && e->algo != NVRAR_ALGO_AUTO && !nvrar_algo_multinode(e->algo)) ||
      !nvrar_capacity_holds(capacity, e->algo))
    return nvrar_plan_make(settings, capacity, topo, bytes, plan);
  nvrar_settings_t s = *settings;
  if (s.algo == NVRAR_ALGO_AUTO) s.algo = e->algo;
  if (!s.num_blocks) s.num_blocks = e->num_blocks;
  if (!s.threads_per_block) s.threads_per_block = e->threads_per_block;
  if (!s.chunk_bytes) s.chunk_bytes = e->chunk_bytes;
  return nvrar_plan_make(&s, capacity, topo, bytes, plan);
}
