/* The planner: AUTO thresholds, forced algorithms, launch-shape bounds and overrides. */
#include "algo/chunk.h"
#include "internal.h"
#include "unit.h"

int main(void) {
  nvrar_settings_t s;
  CHECK(nvrar_settings_resolve(NULL, NULL, &s) == NVRAR_SUCCESS);
  s.algo = NVRAR_ALGO_AUTO;
  s.num_blocks = s.threads_per_block = 0;
  s.oneshot_max_bytes = 0;
  nvrar_capacity_t cap = {.oneshot_packs = 65536, .slice_packs = 524288};
  nvrar_plan_t p;

  for (int n = 2; n <= NVRAR_MAX_RANKS; n++) {
    size_t limit = nvrar_oneshot_threshold(n);
    CHECK(limit > 0 && limit <= cap.oneshot_packs * 16);
    CHECK(nvrar_plan_make(&s, &cap, n, limit, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_ONESHOT);
    CHECK(nvrar_plan_make(&s, &cap, n, limit + 2, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_TWOSHOT);
    CHECK(nvrar_plan_make(&s, &cap, n, 2, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_ONESHOT);
    /* thresholds never grow with the rank count: one-shot's traffic grows with n */
    if (n > 2) CHECK(limit <= nvrar_oneshot_threshold(n - 1));
  }
  /* every size gets a sane shape */
  for (size_t bytes = 1; bytes <= ((size_t)1 << 31); bytes = bytes * 3 + 1) {
    for (int n = 2; n <= 8; n++) {
      CHECK(nvrar_plan_make(&s, &cap, n, bytes, &p) == NVRAR_SUCCESS);
      CHECK(p.blocks >= 1 && p.blocks <= NVRAR_MAX_BLOCKS);
      CHECK(p.threads >= 64 && p.threads <= NVRAR_MAX_THREADS && p.threads % 32 == 0);
    }
  }
  /* the oneshot_max_bytes override, and AUTO never takes one-shot past its cell buffer */
  s.oneshot_max_bytes = 4096;
  CHECK(nvrar_plan_make(&s, &cap, 4, 8192, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_TWOSHOT);
  s.oneshot_max_bytes = (size_t)1 << 30;
  CHECK(nvrar_plan_make(&s, &cap, 4, cap.oneshot_packs * 16 + 16, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_TWOSHOT);
  s.oneshot_max_bytes = 0;
  /* forced algorithms take every size; overrides of the shape are obeyed */
  s.algo = NVRAR_ALGO_ONESHOT;
  CHECK(nvrar_plan_make(&s, &cap, 4, (size_t)64 << 20, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_ONESHOT);
  s.algo = NVRAR_ALGO_TWOSHOT;
  CHECK(nvrar_plan_make(&s, &cap, 4, 16, &p) == NVRAR_SUCCESS && p.algo == NVRAR_ALGO_TWOSHOT);
  s.num_blocks = 7;
  s.threads_per_block = 128;
  CHECK(nvrar_plan_make(&s, &cap, 4, 1 << 20, &p) == NVRAR_SUCCESS && p.blocks == 7 && p.threads == 128);
  /* internal misuse is reported, not crashed on */
  CHECK(nvrar_plan_make(&s, &cap, 9, 1024, &p) == NVRAR_ERR_INTERNAL);
  nvrar_capacity_t empty = {0, 0};
  CHECK(nvrar_plan_make(&s, &empty, 4, 1024, &p) == NVRAR_ERR_INTERNAL);
  return unit_finish("test_plan");
}
