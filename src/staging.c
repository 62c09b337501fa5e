/*
 * How large each staging area of a communicator is, and so how much of the symmetric heap init asks
 * for: pure arithmetic on the settings and the world's shape, kept apart from init's NVSHMEM calls
 * so that tests/unit/test_staging.c checks it on the CPU. setup.c places the areas.
 */
#include <string.h>

#include "staging.h"

/*
 * Part of the budget left outside the symmetric heap for NVSHMEM's own buffers and the device
 * module. Measured on H200 with NVSHMEM 3.4.5 and the settings of shmem_env.c (one rank): NVSHMEM's
 * init 30 MiB; loading the module grows the CUDA driver's module memory by 64 MiB in a process that
 * has loaded no sizeable module before, none under torch after its first kernels (docs/design.md,
 * "Device memory").
 */
#define SHMEM_OVERHEAD_BYTES ((size_t)48 << 20)
#define ONESHOT_MIN_PIECE_BYTES ((size_t)64 << 10)
#define ONESHOT_MAX_PIECE_BYTES ((size_t)1 << 20)
#define TWOSHOT_STAGE_BYTES ((size_t)16 << 20)
#define RING_STAGE_BYTES ((size_t)64 << 20)
#define LAMPORT_TWOSHOT_PIECE_BYTES ((size_t)4 << 20) /* the top of the sizes it is meant for */
#define HEAP_ALIGN ((size_t)2 << 20)

static size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* The ring family's signal words: [NVRAR_MAX_RING_BLOCKS][nranks] (putsig.cuh's signal_word). */
size_t nvrar_signals_bytes(int nranks) {
  return round_up((size_t)NVRAR_MAX_RING_BLOCKS * (size_t)nranks * sizeof(uint64_t), 4096);
}

/*
 * The lamport buffers of n ranks, each of whole 16-byte packs (none where a capacity is 0):
 * lamport's, 2 buffers x n sources x piece, then a header pack per buffer, source and block;
 * lamport-twoshot's, 2 buffers x (n scatter + n gather slots) x slice, then the same headers.
 */
void nvrar_lamport_layout(int n, const nvrar_capacity_t *cap, size_t *oneshot, size_t *twoshot) {
  const size_t headers = 2 * (size_t)n * NVRAR_MAX_BLOCKS;
  *oneshot = cap->lamport_packs ? (2 * (size_t)n * cap->lamport_packs + headers) * NVRAR_PACK_BYTES : 0;
  *twoshot = cap->lamport_slice_packs ? (4 * (size_t)n * cap->lamport_slice_packs + headers) * NVRAR_PACK_BYTES : 0;
}

/*
 * The area of the direct algorithms (one-shot, two-shot, the lamport pair) for n ranks: barrier flags
 * (64-bit: count and call signature), one-shot's cells (2 parities x n sources x piece, each 8 data
 * bytes in a 16-byte cell, then a header cell per parity, source and block), two-shot's scatter and
 * gather slots, and the lamport buffers (nvrar_lamport_layout).
 */
void nvrar_direct_layout(int n, const nvrar_capacity_t *cap, size_t *flags, size_t *cells, size_t *stage,
                         size_t *lamport) {
  *flags = round_up(2 * NVRAR_MAX_BLOCKS * NVRAR_MAX_RANKS * sizeof(uint64_t), 4096);
  *cells = 2 * (size_t)n * (cap->oneshot_packs * 2 + NVRAR_MAX_BLOCKS) * NVRAR_LL_CELL_BYTES;
  *stage = 2 * (size_t)n * cap->slice_packs * NVRAR_PACK_BYTES;
  size_t one, two;
  nvrar_lamport_layout(n, cap, &one, &two);
  *lamport = one + two;
}

/* The part of the memory budget that staging and nvrar_malloc buffers may use: the heap's size. */
size_t nvrar_heap_budget(const nvrar_settings_t *s) {
  size_t avail = s->memory_bytes > SHMEM_OVERHEAD_BYTES + (16u << 20) ? s->memory_bytes - SHMEM_OVERHEAD_BYTES
                                                                     : (16u << 20);
  return round_up(avail, HEAP_ALIGN);
}

/*
 * Staging, sized by what each algorithm takes at its measured best rather than by the budget (the
 * heap is mapped only as far as it is allocated, in NVSHMEM_CUMEM_GRANULARITY steps):
 * - one-shot: a piece as large as the largest message AUTO gives it (src/tune.c's threshold, or
 *   NVRAR_ONESHOT_MAX_BYTES), 64 KiB - 1 MiB; a forced one-shot runs larger messages in pieces;
 * - two-shot: 16 MiB per set of slots, less in a small budget: a 16 MiB piece already runs at the
 *   bandwidth of larger ones (4x H200, 2026-11-22, 32 MiB sets: 82.8 us at 16 MiB, 163.0 at 32 in one
 *   piece, 306.0 at 64 in two), so 32 MiB messages take two pieces for about what one took;
 * - ring family: 64 MiB over 128 blocks, only where it can run (`ring`): across nodes (real or
 *   virtual), or where NVRAR_ALGO / config.algo or a tuned file names a ring-family algorithm at
 *   init. On one node AUTO never takes it.
 * - lamport: pieces as large as one-shot's, lamport-twoshot: 4 MiB pieces, each only where NVRAR_ALGO
 *   / config.algo names it at init (AUTO takes neither yet). *stage_bytes includes their buffers,
 *   after two-shot's.
 * The heap itself stays at the budget, so nvrar_malloc buffers have the rest.
 */
void nvrar_plan_staging(const nvrar_settings_t *s, const nvrar_topo_t *topo, int ring, nvrar_capacity_t *cap,
                        size_t *flags_bytes, size_t *cells_bytes, size_t *stage_bytes, size_t *ring_bytes) {
  const int nranks = topo->nranks;
  memset(cap, 0, sizeof *cap);
  *flags_bytes = *cells_bytes = *stage_bytes = *ring_bytes = 0;
  if (nranks == 1) return; /* an all-reduce over one rank is a copy (nvrar_comm_enqueue): no staging */
  size_t avail = nvrar_heap_budget(s);
  size_t want = s->oneshot_max_bytes ? s->oneshot_max_bytes : nvrar_oneshot_threshold(nranks);
  size_t piece = ONESHOT_MIN_PIECE_BYTES;
  while (piece < want && piece < ONESHOT_MAX_PIECE_BYTES) piece *= 2;
  while (piece > 4096 && 2 * (size_t)nranks * 2 * piece > avail / 4) piece /= 2;
  size_t stage = TWOSHOT_STAGE_BYTES; /* per set of slots; two sets */
  while (stage > 65536 && 2 * stage > avail / 2) stage /= 2;
  if (ring) {
    size_t bytes = RING_STAGE_BYTES; /* 2 parities x NVRAR_MAX_RING_BLOCKS regions */
    while (bytes > ((size_t)1 << 20) && bytes + 2 * nvrar_signals_bytes(nranks) > avail / 3) bytes /= 2;
    cap->region_packs = bytes / NVRAR_PACK_BYTES / (2 * NVRAR_MAX_RING_BLOCKS);
    *ring_bytes = 2 * NVRAR_MAX_RING_BLOCKS * cap->region_packs * NVRAR_PACK_BYTES;
  }
  cap->oneshot_packs = piece / NVRAR_PACK_BYTES;
  cap->slice_packs = stage / NVRAR_PACK_BYTES / (size_t)nranks;
  const int one_node = topo->nodes == 1;
  cap->lamport_packs = one_node && s->algo == NVRAR_ALGO_LAMPORT ? cap->oneshot_packs : 0;
  cap->lamport_slice_packs =
      one_node && s->algo == NVRAR_ALGO_LAMPORT_TWOSHOT ? LAMPORT_TWOSHOT_PIECE_BYTES / NVRAR_PACK_BYTES / nranks : 0;
  size_t lamport_bytes;
  nvrar_direct_layout(nranks, cap, flags_bytes, cells_bytes, stage_bytes, &lamport_bytes);
  *stage_bytes += lamport_bytes;
}

/*
 * Sub-communicators (nvrar_comm_split) take no NVSHMEM call, so their staging is reserved in the
 * world's allocation: NVRAR_SUB_SLOTS slots after it, each a [flags][cells][staging] area for up to
 * the world's ranks per node, in addition to the memory budget. Smaller than the world's own (larger
 * messages go in pieces): 4 MiB of two-shot staging per set, and a one-shot piece as large as the
 * largest message AUTO gives one-shot at that rank count (src/tune.c), within 64-256 KiB: 256 KiB at 2
 * ranks, 64 KiB at 3-8, so no AUTO call runs in pieces.
 */
#define SUB_ONESHOT_MAX_PIECE_BYTES ((size_t)256 << 10)
#define SUB_TWOSHOT_STAGE_BYTES ((size_t)4 << 20)

void nvrar_sub_capacity(int nranks, nvrar_capacity_t *cap) {
  memset(cap, 0, sizeof *cap); /* region_packs, lamport_packs 0: one-shot and two-shot only */
  size_t piece = ONESHOT_MIN_PIECE_BYTES;
  while (piece < nvrar_oneshot_threshold(nranks) && piece < SUB_ONESHOT_MAX_PIECE_BYTES) piece *= 2;
  cap->oneshot_packs = piece / NVRAR_PACK_BYTES;
  cap->slice_packs = SUB_TWOSHOT_STAGE_BYTES / NVRAR_PACK_BYTES / (size_t)nranks;
}

/* A slot holds the layout of any sub-communicator of 2 to world_ranks ranks (at most a node's). */
static size_t sub_slot_bytes(int world_ranks) {
  int n = world_ranks < NVRAR_MAX_RANKS ? world_ranks : NVRAR_MAX_RANKS;
  size_t most = 0; /* a world of one rank: its only sub-communicator has one rank, copies, no staging */
  for (int k = 2; k <= n; k++) {
    nvrar_capacity_t cap;
    size_t flags, cells, stage, lamport;
    nvrar_sub_capacity(k, &cap);
    nvrar_direct_layout(k, &cap, &flags, &cells, &stage, &lamport);
    size_t bytes = round_up(flags + cells + stage + lamport, 4096);
    if (bytes > most) most = bytes;
  }
  return most;
}

size_t nvrar_heap_reserve(const nvrar_settings_t *s, int nranks, size_t *slot_bytes) {
  *slot_bytes = sub_slot_bytes(nranks);
  return nvrar_heap_budget(s) + round_up(NVRAR_SUB_SLOTS * *slot_bytes, HEAP_ALIGN);
}
