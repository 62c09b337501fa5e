/*
 * Planner: which algorithm and launch shape a message gets. Pure: no CUDA, no communicator, so
 * tests/unit/test_plan.c checks it on the CPU.
 */
#include "algo/chunk.h"
#include "internal.h"

/*
 * Largest message (bytes) for which AUTO takes one-shot, by rank count. One-shot moves (n-1)*S per
 * rank with no barrier; two-shot moves 2(n-1)/n*S with two barriers. The crossover measured on
 * 4x H200 (NVSwitch, NV18), bf16, CUDA graph, with `nvrar_perf -G 20 --sweep-algos`
 * (bench/results/h200x4-2026-11-22.md): see the table there for each point.
 */
size_t nvrar_oneshot_threshold(int nranks) {
  if (nranks <= 2) return 512u << 10;  /* 2 ranks: one-shot moves only S; wins up to 512 KiB */
  if (nranks <= 4) return 256u << 10;  /* 4 ranks: crossover near 256 KiB */
  return 128u << 10;                   /* 5-8 ranks: more copies per rank; not measured yet (8-GPU issue) */
}

enum { DEFAULT_THREADS = 512, ONESHOT_MAX_BLOCKS = 32, TWOSHOT_MAX_BLOCKS = 32 };

static int clamp_blocks(uint64_t want, int max_blocks) {
  if (want < 1) return 1;
  return want > (uint64_t)max_blocks ? max_blocks : (int)want;
}

nvrar_result_t nvrar_plan_make(const nvrar_settings_t *settings, const nvrar_capacity_t *capacity,
                               int nranks, size_t bytes, nvrar_plan_t *plan) {
  if (nranks < 1 || nranks > NVRAR_MAX_RANKS)
    return nvrar_error(NVRAR_ERR_INTERNAL, "planner: nranks %d outside 1-%d", nranks, NVRAR_MAX_RANKS);
  if (!capacity->oneshot_packs || !capacity->slice_packs)
    return nvrar_error(NVRAR_ERR_INTERNAL, "planner: staging capacity is zero");
  uint64_t packs = nvrar_packs_of(bytes);
  nvrar_algo_t algo = settings->algo;
  if (algo == NVRAR_ALGO_AUTO) {
    size_t limit = settings->oneshot_max_bytes ? settings->oneshot_max_bytes : nvrar_oneshot_threshold(nranks);
    /* One-shot beyond its cell buffer would go in pieces, each a full latency: never under AUTO. */
    if (packs > capacity->oneshot_packs) limit = 0;
    algo = bytes <= limit ? NVRAR_ALGO_ONESHOT : NVRAR_ALGO_TWOSHOT;
  }
  int threads = settings->threads_per_block ? settings->threads_per_block : DEFAULT_THREADS;
  int blocks;
  if (algo == NVRAR_ALGO_ONESHOT) {
    /* One pack per thread per piece: the pushes of a piece all go out at once. */
    uint64_t piece = nvrar_min_u64(packs, capacity->oneshot_packs);
    blocks = clamp_blocks(nvrar_div_up(piece, (uint64_t)threads), ONESHOT_MAX_BLOCKS);
  } else {
    uint64_t slice = nvrar_min_u64(nvrar_div_up(packs, (uint64_t)nranks), capacity->slice_packs);
    blocks = clamp_blocks(nvrar_div_up(slice, (uint64_t)threads), TWOSHOT_MAX_BLOCKS);
  }
  if (settings->num_blocks) blocks = settings->num_blocks;
  plan->algo = algo;
  plan->blocks = blocks;
  plan->threads = threads;
  return NVRAR_SUCCESS;
}
