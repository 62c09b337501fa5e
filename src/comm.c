/*
 * Communicator lifecycle: NVSHMEM init from a unique id, the symmetric staging and flags, the peer
 * pointer table, device-side epochs and the host-mapped error words; and the launch of a planned
 * all-reduce. Arguments arrive here already validated by api.c.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "agree.h"
#include "algo/recursive.h"
#include "algo/ring.h"
#include "comm.h"
#include "shmem.h"
#include "shmem_env.h"

#define CUDA_TRY(call, res, label)                                                                  \
  do {                                                                                              \
    cudaError_t e_ = (call);                                                                        \
    if (e_ != cudaSuccess) {                                                                        \
      (void)cudaGetLastError();                                                                     \
      (res) = nvrar_error(NVRAR_ERR_CUDA, "%s failed: %s (%s:%d)", #call, cudaGetErrorString(e_), __FILE__, \
                          __LINE__);                                                                \
      goto label;                                                                                   \
    }                                                                                               \
  } while (0)

/*
 * ---- registry of live communicators: at most one world (NVSHMEM has one per process) and its
 * sub-communicators ----
 */
enum { MAX_LIVE = 1 + NVRAR_SUB_SLOTS };
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static nvrar_comm_t live[MAX_LIVE];
static int shmem_initialized; /* NVSHMEM is up in this process (also after an abort) */

int nvrar_comm_is_live(nvrar_comm_t comm) {
  int found = 0;
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < MAX_LIVE && comm && !found; i++) found = live[i] == comm;
  pthread_mutex_unlock(&registry_lock);
  return found;
}

/* Under registry_lock. A free place always exists: one world plus at most NVRAR_SUB_SLOTS children. */
static void registry_add_locked(nvrar_comm_t comm) {
  for (int i = 0; i < MAX_LIVE; i++) {
    if (!live[i]) {
      live[i] = comm;
      return;
    }
  }
}

/*
 * Part of the budget left outside the symmetric heap for NVSHMEM's own buffers and the device
 * module. Measured on H200 with NVSHMEM 3.4.5 and the settings of shmem_env.c (one rank): NVSHMEM's
 * init 30 MiB, the module 64 MiB (docs/design.md, "Device memory").
 */
#define SHMEM_OVERHEAD_BYTES ((size_t)48 << 20)
#define ONESHOT_MIN_PIECE_BYTES ((size_t)64 << 10)
#define ONESHOT_MAX_PIECE_BYTES ((size_t)1 << 20)
#define TWOSHOT_STAGE_BYTES ((size_t)32 << 20)
#define RING_STAGE_BYTES ((size_t)64 << 20)
#define HEAP_ALIGN ((size_t)2 << 20)

static size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* The ring family's signal words: [NVRAR_MAX_RING_BLOCKS][nranks] (putsig.cuh's signal_word). */
static size_t signals_bytes(int nranks) {
  return round_up((size_t)NVRAR_MAX_RING_BLOCKS * (size_t)nranks * sizeof(uint64_t), 4096);
}

/*
 * The area of the direct algorithms (one-shot, two-shot) for n ranks: barrier flags, one-shot's cells
 * (2 parities x n sources x piece, each 8 data bytes in a 16-byte cell) and two-shot's scatter and
 * gather slots.
 */
static void direct_layout(int n, const nvrar_capacity_t *cap, size_t *flags, size_t *cells, size_t *stage) {
  *flags = round_up(2 * NVRAR_MAX_BLOCKS * NVRAR_MAX_RANKS * sizeof(uint32_t), 4096);
  *cells = 2 * (size_t)n * cap->oneshot_packs * 2 * NVRAR_LL_CELL_BYTES;
  *stage = 2 * (size_t)n * cap->slice_packs * NVRAR_PACK_BYTES;
}

/* The part of the memory budget that staging and nvrar_malloc buffers may use: the heap's size. */
static size_t heap_budget(const nvrar_settings_t *s) {
  size_t avail = s->memory_bytes > SHMEM_OVERHEAD_BYTES + (16u << 20) ? s->memory_bytes - SHMEM_OVERHEAD_BYTES
                                                                     : (16u << 20);
  return round_up(avail, HEAP_ALIGN);
}

/*
 * Staging, sized by what each algorithm takes at its measured best rather than by the budget (the
 * heap is mapped only as far as it is allocated, in NVSHMEM_CUMEM_GRANULARITY steps):
 * - one-shot: a piece as large as the largest message AUTO gives it (src/tune.c's threshold, or
 *   NVRAR_ONESHOT_MAX_BYTES), 64 KiB - 1 MiB; a forced one-shot runs larger messages in pieces;
 * - two-shot: 32 MiB per set of slots (4 ranks, 64 MiB: 325 us in two pieces), less in a small budget;
 * - ring family: 64 MiB over 128 blocks, only where it can run (`ring`): across nodes (real or
 *   virtual), or where NVRAR_ALGO / config.algo or a tuned file names a ring-family algorithm at
 *   init. On one node AUTO never takes it.
 * The heap itself stays at the budget, so nvrar_malloc buffers have the rest.
 */
static void plan_staging(const nvrar_settings_t *s, const nvrar_topo_t *topo, int ring, nvrar_capacity_t *cap,
                         size_t *flags_bytes, size_t *cells_bytes, size_t *stage_bytes, size_t *ring_bytes) {
  const int nranks = topo->nranks;
  memset(cap, 0, sizeof *cap);
  *flags_bytes = *cells_bytes = *stage_bytes = *ring_bytes = 0;
  if (nranks == 1) return; /* an all-reduce over one rank is a copy (nvrar_comm_enqueue): no staging */
  size_t avail = heap_budget(s);
  size_t want = s->oneshot_max_bytes ? s->oneshot_max_bytes : nvrar_oneshot_threshold(nranks);
  size_t piece = ONESHOT_MIN_PIECE_BYTES;
  while (piece < want && piece < ONESHOT_MAX_PIECE_BYTES) piece *= 2;
  while (piece > 4096 && 2 * (size_t)nranks * 2 * piece > avail / 4) piece /= 2;
  size_t stage = TWOSHOT_STAGE_BYTES; /* per set of slots; two sets */
  while (stage > 65536 && 2 * stage > avail / 2) stage /= 2;
  if (ring) {
    size_t bytes = RING_STAGE_BYTES; /* 2 parities x NVRAR_MAX_RING_BLOCKS regions */
    while (bytes > ((size_t)1 << 20) && bytes + 2 * signals_bytes(nranks) > avail / 3) bytes /= 2;
    cap->region_packs = bytes / NVRAR_PACK_BYTES / (2 * NVRAR_MAX_RING_BLOCKS);
    *ring_bytes = 2 * NVRAR_MAX_RING_BLOCKS * cap->region_packs * NVRAR_PACK_BYTES;
  }
  cap->oneshot_packs = piece / NVRAR_PACK_BYTES;
  cap->slice_packs = stage / NVRAR_PACK_BYTES / (size_t)nranks;
  direct_layout(nranks, cap, flags_bytes, cells_bytes, stage_bytes);
}

/*
 * Sub-communicators (nvrar_comm_split) take no NVSHMEM call, so their staging is reserved in the
 * world's allocation: NVRAR_SUB_SLOTS slots after it, each a [flags][cells][staging] area for up to
 * the world's ranks per node, in addition to the memory budget. Smaller than the world's own (larger
 * messages go in pieces): a 256 KiB one-shot piece and 4 MiB of two-shot staging per set.
 */
#define SUB_ONESHOT_PIECE_BYTES ((size_t)256 << 10)
#define SUB_TWOSHOT_STAGE_BYTES ((size_t)4 << 20)

static void sub_capacity(int nranks, nvrar_capacity_t *cap) {
  memset(cap, 0, sizeof *cap); /* region_packs 0: no put-with-signal staging, one-shot and two-shot only */
  cap->oneshot_packs = SUB_ONESHOT_PIECE_BYTES / NVRAR_PACK_BYTES;
  cap->slice_packs = SUB_TWOSHOT_STAGE_BYTES / NVRAR_PACK_BYTES / (size_t)nranks;
}

static size_t sub_slot_bytes(int world_ranks) {
  if (world_ranks == 1) return 0; /* its only sub-communicator has one rank: copies, no staging */
  int n = world_ranks < NVRAR_MAX_RANKS ? world_ranks : NVRAR_MAX_RANKS;
  nvrar_capacity_t cap;
  size_t flags, cells, stage;
  sub_capacity(n, &cap);
  direct_layout(n, &cap, &flags, &cells, &stage);
  return round_up(flags + cells + stage, 4096);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void comm_release_local(nvrar_comm_t comm) {
  if (comm->sync) cudaFree(comm->sync);
  if (comm->host_words) cudaFreeHost(comm->host_words);
  comm->sync = NULL;
  comm->host_words = NULL;
  (void)cudaGetLastError();
}


/*
 * Which ranks share a node. NVSHMEM's bootstrap gathered every rank's host id at init; nvrar
 * requires the node-major layout every launcher produces (the ranks of a host contiguous, the same
 * count on each host) and refuses others. NVRAR_GPUS_PER_NODE / gpus_per_node = k splits each
 * host into virtual nodes of k GPUs; k must divide the host's GPU count.
 */
static nvrar_result_t find_topology(const nvrar_settings_t *s, int rank, int nranks, nvrar_topo_t *topo) {
  int first = rank, last = rank;
  while (first > 0 && nvrar_shmem_same_node(first - 1)) first--;
  while (last + 1 < nranks && nvrar_shmem_same_node(last + 1)) last++;
  int host = last - first + 1;
  if (host != nvrar_shmem_node_size() || nranks % host || first % host)
    return nvrar_error(NVRAR_ERR_UNSUPPORTED,
                       "nvrar_comm_init: rank %d shares its host with %d ranks, not as a contiguous block of equal "
                       "blocks (ranks %d-%d of %d); launch ranks node-major with the same number on every host",
                       rank, nvrar_shmem_node_size(), first, last, nranks);
  int gpus = host;
  if (s->gpus_per_node) {
    if (host % s->gpus_per_node)
      return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT,
                         "nvrar_comm_init: gpus_per_node %d does not divide the %d ranks of this host", s->gpus_per_node,
                         host);
    gpus = s->gpus_per_node;
  }
  if (gpus > NVRAR_MAX_RANKS)
    return nvrar_error(NVRAR_ERR_UNSUPPORTED, "nvrar_comm_init: %d ranks per node; this build reaches at most %d over "
                                              "NVLink (set NVRAR_GPUS_PER_NODE to split them)", gpus, NVRAR_MAX_RANKS);
  topo->nranks = nranks;
  topo->gpus = gpus;
  topo->nodes = nranks / gpus;
  topo->network = host == nranks ? NVRAR_NET_NVLINK : nvrar_network_from_env(nvrar_process_getenv);
  return NVRAR_SUCCESS;
}

/*
 * Packs at the end of every ring-family region kept for hier-rd's flag-in-data cells: 2L + 4 areas
 * (ar_hier.cu) for L doubling steps between the nodes, each holding up to NVRAR_HIER_LL_PACKS packs
 * of data as cells (the planner gives hier-rd blocks enough), at most a quarter of the region in all;
 * none on one node, or when an area would hold fewer than 16 packs (small memory budgets: hier-rd
 * then always signals). Kept small on purpose: every ring-family slot shrinks by it, and with 4 KiB
 * areas (a fifth of the region on 2 nodes) the ring needed two rounds for 16 MiB on 2x2 (155 us
 * against 125 for hier-rd).
 */
static uint64_t hier_cells_packs(const nvrar_topo_t *t, uint64_t region_packs) {
  if (t->nodes < 2) return 0;
  uint64_t areas = (uint64_t)nvrar_hier_cell_areas(t->nodes);
  uint64_t per_area = nvrar_min_u64(NVRAR_HIER_LL_PACKS, region_packs / 4 / (2 * areas));
  return per_area >= 16 ? 2 * areas * per_area : 0;
}

/*
 * The tuned files of this world size (tuned.h), one per dtype. An absent file leaves the built-in
 * planner; a malformed one is ignored whole with a warning naming it; entries that name a one-node
 * algorithm on a communicator of several nodes are skipped by the planner, said here once.
 */
static void load_tuned(nvrar_comm_t comm) {
  for (int d = 0; d < NVRAR_NUM_DTYPES; d++) {
    nvrar_tuned_table_t *t = &comm->tuned[d];
    t->count = 0;
    char path[4096], err[256];
    if (nvrar_tuned_path(comm->nranks, (nvrar_dtype_t)d, nvrar_process_getenv, path, sizeof path)) continue;
    int rc = nvrar_tuned_load(path, t, err, sizeof err);
    if (rc < 0) {
      t->count = 0;
      NVRAR_WARN("tuned file %s is malformed (%s); %s all-reduces use the built-in planner", path, err,
                 nvrar_dtype_name((nvrar_dtype_t)d));
      continue;
    }
    if (rc > 0) continue;
    NVRAR_INFO(NVRAR_SUBSYS_INIT, "tuned file %s: %d sizes for %s", path, t->count, nvrar_dtype_name((nvrar_dtype_t)d));
    for (int i = 0; i < t->count && comm->topo.nodes > 1; i++)
      if (t->entries[i].algo != NVRAR_ALGO_AUTO && !nvrar_algo_multinode(t->entries[i].algo))
        NVRAR_WARN("tuned file %s: %s at %zu bytes runs within one node; this communicator spans %d nodes, so "
                   "the planner decides that size", path, nvrar_algo_name(t->entries[i].algo), t->entries[i].bytes,
                   comm->topo.nodes);
  }
}

/* Whether a ring-family algorithm can be asked of this communicator: see plan_staging. */
static int needs_ring_staging(nvrar_comm_t comm) {
  if (comm->topo.nodes > 1 || nvrar_algo_multinode(comm->settings.algo)) return 1;
  for (int d = 0; d < NVRAR_NUM_DTYPES; d++)
    for (int i = 0; i < comm->tuned[d].count; i++)
      if (nvrar_algo_multinode(comm->tuned[d].entries[i].algo)) return 1;
  return 0;
}

/* Ring-family fields of the kernel arguments: staging, signals, and each ring's neighbours. */
static void set_ring_args(nvrar_kernel_args_t *a, const nvrar_topo_t *t, uint64_t region_packs, char *ring_stage,
                          size_t ring_bytes) {
  a->nodes = t->nodes;
  a->gpus = t->gpus;
  a->rings = 1;
  a->region_packs = region_packs;
  a->cells_packs = hier_cells_packs(t, region_packs);
  a->rstage = ring_stage;
  a->signals = (uint64_t *)(ring_stage + ring_bytes);
  a->xsignals = (uint64_t *)(ring_stage + ring_bytes + signals_bytes(t->nranks));
  for (int k = 0; k < NVRAR_MAX_RINGS; k++) {
    for (int pos = 0; pos < t->nranks; pos++) {
      if (nvrar_multiring_rank(t->nodes, t->gpus, k, pos) != a->rank) continue;
      a->ring_pos[k] = pos;
      a->ring_prev[k] = nvrar_multiring_rank(t->nodes, t->gpus, k, (pos + t->nranks - 1) % t->nranks);
      a->ring_next[k] = nvrar_multiring_rank(t->nodes, t->gpus, k, (pos + 1) % t->nranks);
    }
  }
}

/* The device-side state (epochs, host-mapped error words) and the kernel arguments all algorithms share. */
static nvrar_result_t device_state(nvrar_comm_t comm) {
  nvrar_result_t res = NVRAR_SUCCESS;
  int *dev_words = NULL;
  CUDA_TRY(cudaMalloc((void **)&comm->sync, sizeof(nvrar_device_sync_t)), res, done);
  CUDA_TRY(cudaMemset(comm->sync, 0, sizeof(nvrar_device_sync_t)), res, done);
  CUDA_TRY(cudaHostAlloc((void **)&comm->host_words, 2 * sizeof(int), cudaHostAllocMapped), res, done);
  comm->host_words[0] = comm->host_words[1] = 0;
  CUDA_TRY(cudaHostGetDevicePointer((void **)&dev_words, comm->host_words, 0), res, done);
  nvrar_kernel_args_t base;
  memset(&base, 0, sizeof base);
  base.rank = comm->rank;
  base.nranks = comm->nranks;
  base.sync = comm->sync;
  base.error = dev_words;
  base.abort_flag = dev_words + 1;
  base.timeout_ns = nvrar_timeout_ns(comm->settings.timeout_seconds);
  comm->oneshot_args = base;
  comm->twoshot_args = base;
  comm->ring_args = base;
done:
  return res; /* the caller's fail path releases what was allocated */
}

/*
 * One-shot's and two-shot's pointers to every rank's [flags][cells][staging] area: `area` is this
 * rank's (symmetric), pes[r] the NVSHMEM PE of rank r, reached through NVLink (nvshmem_ptr).
 */
static nvrar_result_t set_direct_args(nvrar_comm_t comm, char *area, const int *pes, const char *fn) {
  size_t flags, cells, stage;
  direct_layout(comm->nranks, &comm->capacity, &flags, &cells, &stage);
  comm->oneshot_args.slice_cap = comm->capacity.oneshot_packs;
  comm->twoshot_args.slice_cap = comm->capacity.slice_packs;
  for (int r = 0; r < comm->nranks; r++) {
    char *peer = nvrar_shmem_ptr(area, pes[r]);
    if (!peer)
      return nvrar_error(NVRAR_ERR_UNSUPPORTED, "%s: rank %d cannot reach rank %d's memory directly (no NVLink or P2P "
                                                "path)", fn, comm->rank, r);
    comm->oneshot_args.flags[r] = comm->twoshot_args.flags[r] = (uint32_t *)peer;
    comm->oneshot_args.stage[r] = peer + flags;
    comm->twoshot_args.stage[r] = peer + flags + cells;
  }
  return NVRAR_SUCCESS;
}

/*
 * This rank's part of init once NVSHMEM is up, all of it local: NVSHMEM's view of the ranks, the
 * topology, tuned files, the staging layout and the device-side state. Its result is not returned to
 * the caller directly but goes into the agreement, so that every rank fails together.
 */
static nvrar_result_t prepare(nvrar_comm_t comm, const nvrar_settings_t *settings, size_t *flags_bytes,
                              size_t *cells_bytes, size_t *stage_bytes, size_t *ring_bytes) {
  int rank = comm->rank, nranks = comm->nranks;
  if (nvrar_shmem_my_pe() != rank || nvrar_shmem_n_pes() != nranks)
    return nvrar_error(NVRAR_ERR_NVSHMEM, "nvrar_comm_init: NVSHMEM reports pe %d of %d, expected rank %d of %d",
                       nvrar_shmem_my_pe(), nvrar_shmem_n_pes(), rank, nranks);
  NVRAR_CHECK(find_topology(settings, rank, nranks, &comm->topo));
  comm->local_size = comm->topo.gpus;
  load_tuned(comm);
  plan_staging(settings, &comm->topo, needs_ring_staging(comm), &comm->capacity, flags_bytes, cells_bytes, stage_bytes,
               ring_bytes);
  comm->slots_offset = *flags_bytes + *cells_bytes + *stage_bytes + *ring_bytes + 2 * signals_bytes(nranks);
  return device_state(comm);
}

/*
 * Collective: every rank's agreement record (agree.h) is gathered through a small symmetric area
 * before any staging exists, then checked alike on every rank. *exchanged says whether the exchange
 * itself completed (then every rank reached the same verdict, whatever it is). The area also proves
 * that this rank reaches every rank of its node directly, which one-shot and two-shot need.
 */
static nvrar_result_t agree_with_peers(nvrar_comm_t comm, nvrar_result_t prep, size_t used, int *exchanged) {
  const int n = comm->nranks;
  const size_t rec = sizeof(nvrar_agree_record_t);
  nvrar_result_t res = NVRAR_SUCCESS;
  *exchanged = 0;
  nvrar_agree_record_t *all = malloc((size_t)n * rec);
  if (!all && prep == NVRAR_SUCCESS) /* still takes part below: its record tells the others */
    prep = nvrar_error(NVRAR_ERR_OUT_OF_MEMORY, "nvrar_comm_init: out of host memory for the agreement");
  char *area = nvrar_shmem_calloc((size_t)(n + 1) * rec); /* [this rank's record][everyone's, gathered] */
  if (!area) { /* the same size on every rank: NVSHMEM refuses it on every rank */
    res = nvrar_error(NVRAR_ERR_OUT_OF_MEMORY, "nvrar_comm_init: NVSHMEM could not allocate the %zu-byte agreement area",
                      (size_t)(n + 1) * rec);
    goto done;
  }
  if (prep == NVRAR_SUCCESS && comm->topo.nodes == 1) {
    for (int pe = 0; pe < n && prep == NVRAR_SUCCESS; pe++)
      if (!nvrar_shmem_ptr(area, pe))
        prep = nvrar_error(NVRAR_ERR_UNSUPPORTED, "nvrar_comm_init: rank %d cannot reach rank %d's memory directly "
                                                  "(no NVLink or P2P path)", comm->rank, pe);
  }
  nvrar_agree_record_t mine;
  nvrar_agree_fill(&mine, prep, n, &comm->settings, comm->heap_bytes, used, &comm->topo, comm->tuned);
  cudaError_t e = cudaMemcpy(area, &mine, rec, cudaMemcpyHostToDevice);
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  nvrar_shmem_barrier_all(); /* every record is written */
  if (e == cudaSuccess) e = (cudaError_t)nvrar_shmem_gather(area, area + rec, rec, n);
  if (e == cudaSuccess && all) e = cudaMemcpy(all, area + rec, (size_t)n * rec, cudaMemcpyDeviceToHost);
  nvrar_shmem_barrier_all(); /* nobody frees the area while another rank still reads it */
  if (!all) {
    *exchanged = 1; /* its record says it failed: every rank fails */
    res = prep;
  } else if (e != cudaSuccess) {
    (void)cudaGetLastError();
    res = nvrar_error(NVRAR_ERR_CUDA, "nvrar_comm_init: gathering the ranks' settings failed: %s", cudaGetErrorString(e));
  } else {
    *exchanged = 1;
    res = nvrar_agree_check(all, n, comm->rank);
  }
done:
  if (area) nvrar_shmem_free(area);
  free(all);
  return res;
}

nvrar_result_t nvrar_comm_create(nvrar_comm_t *out, int nranks, const void *shmem_id, int rank,
                                 const nvrar_settings_t *settings) {
  nvrar_result_t res = NVRAR_SUCCESS;
  double t0 = now_seconds();
  pthread_mutex_lock(&registry_lock);
  if (shmem_initialized) {
    int world_live = 0;
    for (int i = 0; i < MAX_LIVE; i++) world_live |= live[i] != NULL;
    pthread_mutex_unlock(&registry_lock);
    return nvrar_error(NVRAR_ERR_UNSUPPORTED,
                       world_live ? "nvrar_comm_init: this process already has a communicator; NVSHMEM has one world "
                                    "per process: destroy it first, or nvrar_comm_split it"
                                  : "nvrar_comm_init: an aborted communicator left NVSHMEM initialised in this "
                                    "process; a new one needs a new process");
  }
  shmem_initialized = 1; /* claimed; cleared again below if init fails before NVSHMEM is up */
  pthread_mutex_unlock(&registry_lock);

  nvrar_comm_t comm = calloc(1, sizeof *comm);
  int shmem_up = 0, collective_teardown = 0;
  if (!comm) {
    res = nvrar_error(NVRAR_ERR_OUT_OF_MEMORY, "nvrar_comm_init: out of host memory");
    goto fail;
  }
  comm->rank = rank;
  comm->nranks = nranks;
  comm->settings = *settings;
  int device = settings->device;
  if (device < 0) CUDA_TRY(cudaGetDevice(&device), res, fail);
  int ndev = 0;
  CUDA_TRY(cudaGetDeviceCount(&ndev), res, fail);
  if (device >= ndev) {
    res = nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_init: device %d does not exist (%d visible)", device, ndev);
    goto fail;
  }
  comm->device = device;
  CUDA_TRY(cudaSetDevice(device), res, fail);
  CUDA_TRY(cudaFree(0), res, fail);
  size_t free_before = 0, free_after = 0, total = 0;
  CUDA_TRY(cudaMemGetInfo(&free_before, &total), res, fail);

  comm->heap_bytes = heap_budget(settings);
  comm->slot_bytes = sub_slot_bytes(nranks);
  comm->heap_bytes += round_up(NVRAR_SUB_SLOTS * comm->slot_bytes, HEAP_ALIGN);
  /* NVSHMEM has one world per process: one that another library started (torch's symmetric memory,
   * DeepEP) has another heap and maybe other ranks, and nvrar's device code was not set up in it. */
  int shmem_status = nvrar_shmem_init_status();
  if (shmem_status != 0) {
    res = nvrar_error(NVRAR_ERR_UNSUPPORTED,
                      "nvrar_comm_init: NVSHMEM is already initialised in this process by another library (status "
                      "%d); nvrar needs a world of its own: create the nvrar communicator before that library starts "
                      "NVSHMEM, or run them in separate processes", shmem_status);
    goto fail;
  }

  /* Load the device module first, so the log tells its memory apart from NVSHMEM's. */
  size_t free_module = 0;
  CUDA_TRY((cudaError_t)nvrar_shmem_load_module(), res, fail);
  CUDA_TRY(cudaMemGetInfo(&free_module, &total), res, fail);
  NVRAR_INFO(NVRAR_SUBSYS_INIT, "device module load took %zu MiB", (free_before - free_module) >> 20);
  nvrar_shmem_env_t undo;
  if (nvrar_shmem_env_apply(comm->heap_bytes, &undo)) {
    res = nvrar_error(NVRAR_ERR_INTERNAL, "nvrar_comm_init: setenv failed while setting NVSHMEM's options");
    goto fail;
  }
  const char *user_heap = nvrar_process_getenv("NVSHMEM_SYMMETRIC_SIZE");
  size_t parsed = 0;
  if (!nvrar_parse_size(user_heap, &parsed) && parsed != comm->heap_bytes) {
    NVRAR_WARN("NVSHMEM_SYMMETRIC_SIZE=%s set by the user overrides nvrar's heap of %zu bytes", user_heap,
               comm->heap_bytes);
    comm->heap_bytes = parsed;
  }
  int status = nvrar_shmem_init(rank, nranks, shmem_id);
  nvrar_shmem_env_restore(&undo); /* read by NVSHMEM's init; what is left in the environment is the user's */
  if (status != 0) {
    res = nvrar_error(NVRAR_ERR_NVSHMEM, "nvrar_comm_init: NVSHMEM init with a unique id failed (status %d) on rank %d of %d",
                      status, rank, nranks);
    goto fail;
  }
  shmem_up = 1;
  size_t free_shmem = 0;
  CUDA_TRY(cudaMemGetInfo(&free_shmem, &total), res, fail);
  NVRAR_INFO(NVRAR_SUBSYS_INIT, "NVSHMEM init took %zu MiB of device memory", (free_module - free_shmem) >> 20);
  int shared = nvrar_shmem_gpu_shared();
  if (shared)
    NVRAR_INFO(NVRAR_SUBSYS_INIT, "rank %d shares GPU %d with other ranks (NVSHMEM %s MPG): they reach each other "
               "through nvshmem_ptr and time-slice the GPU; correct, not fast", rank, device, shared == 1 ? "limited" : "full");

  /* From here every rank takes the same path: its own preparation's result goes into the agreement,
   * so that a failure anywhere fails init everywhere and NVSHMEM's collective teardown is safe. */
  size_t flags_bytes = 0, cells_bytes = 0, stage_bytes = 0, ring_bytes = 0;
  nvrar_result_t prep = prepare(comm, settings, &flags_bytes, &cells_bytes, &stage_bytes, &ring_bytes);
  size_t used = comm->slots_offset + NVRAR_SUB_SLOTS * comm->slot_bytes;
  int exchanged = 0;
  res = agree_with_peers(comm, prep, used, &exchanged);
  collective_teardown = exchanged; /* every rank reached the same verdict */
  if (res != NVRAR_SUCCESS) goto fail;

  comm->heap = nvrar_shmem_calloc(used); /* the same size on every rank, agreed */
  if (!comm->heap) {
    res = nvrar_error(NVRAR_ERR_OUT_OF_MEMORY,
                      "nvrar_comm_init: NVSHMEM could not allocate %zu bytes of staging from its %zu-byte heap", used,
                      comm->heap_bytes);
    goto fail;
  }
  comm->heap_used = used;
  collective_teardown = 0; /* past this point a failure is this rank's alone: tear down locally */
  cudaError_t synced = cudaDeviceSynchronize();
  nvrar_shmem_barrier_all(); /* every rank's staging is zeroed before anyone writes into it; also on error */
  CUDA_TRY(synced, res, fail);

  set_ring_args(&comm->ring_args, &comm->topo, comm->capacity.region_packs,
                (char *)comm->heap + flags_bytes + cells_bytes + stage_bytes, ring_bytes);
  comm->capacity.cells_packs = comm->ring_args.cells_packs;
  if (comm->topo.nodes == 1) { /* one-shot, two-shot: one node only */
    int pes[NVRAR_MAX_RANKS];
    for (int pe = 0; pe < nranks; pe++) pes[pe] = pe;
    NVRAR_CHECK_GOTO(set_direct_args(comm, comm->heap, pes, "nvrar_comm_init"), res, fail);
  }

  CUDA_TRY(cudaMemGetInfo(&free_after, &total), res, fail);
  comm->memory_taken = free_before > free_after ? free_before - free_after : 0;
  if (comm->memory_taken > settings->memory_bytes)
    NVRAR_WARN("init took %zu MiB of device memory, over the %zu MiB budget", comm->memory_taken >> 20,
               settings->memory_bytes >> 20);
  NVRAR_INFO(NVRAR_SUBSYS_INIT, "rank %d/%d: %d %snode(s) x %d GPUs, network between nodes: %s", rank, nranks,
             comm->topo.nodes, settings->gpus_per_node ? "virtual " : "", comm->topo.gpus,
             nvrar_network_name(comm->topo.network));
  NVRAR_INFO(NVRAR_SUBSYS_INIT,
             "rank %d/%d device %d: init %.2f s, heap %zu MiB (staging %zu KiB), device memory taken %zu MiB, "
             "one-shot piece %llu KiB, two-shot slot %llu KiB",
             rank, nranks, device, now_seconds() - t0, comm->heap_bytes >> 20, used >> 10, comm->memory_taken >> 20,
             (unsigned long long)(comm->capacity.oneshot_packs * NVRAR_PACK_BYTES) >> 10,
             (unsigned long long)(comm->capacity.slice_packs * NVRAR_PACK_BYTES) >> 10);

  pthread_mutex_lock(&registry_lock);
  registry_add_locked(comm);
  pthread_mutex_unlock(&registry_lock);
  *out = comm;
  return NVRAR_SUCCESS;

fail:
  if (comm) {
    comm_release_local(comm);
    if (shmem_up && collective_teardown) {
      if (comm->heap) nvrar_shmem_free(comm->heap);
      nvrar_shmem_finalize();
      shmem_up = 0;
    } else if (shmem_up) {
      NVRAR_WARN("nvrar_comm_init failed on this rank alone after NVSHMEM started; its collective teardown would wait "
                 "for peers that carry on, so NVSHMEM stays initialised in this process");
    }
    free(comm);
  }
  pthread_mutex_lock(&registry_lock);
  shmem_initialized = shmem_up; /* 0 unless NVSHMEM had to be left up */
  pthread_mutex_unlock(&registry_lock);
  return res;
}

/*
 * Takes a handed-out communicator out of the registry for good. Its memory is zeroed but never freed
 * (13 KiB each, on a list so leak checkers see it reachable): were it freed, the next calloc could
 * return the same address for a new communicator, and a call through the stale handle would pass the
 * liveness check and land on that new one.
 */
static nvrar_comm_t retired;

static void registry_drop(nvrar_comm_t comm, int shmem_still_up) {
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < MAX_LIVE; i++)
    if (live[i] == comm) live[i] = NULL;
  if (!comm->parent) shmem_initialized = shmem_still_up;
  memset(comm, 0, sizeof *comm);
  comm->retired_next = retired;
  retired = comm;
  pthread_mutex_unlock(&registry_lock);
}

/*
 * NVSHMEM's free and finalize wait for every rank, so a rank whose peer never calls destroy would
 * hang there. Two one-element all-reduces come first, and the collective teardown starts only when
 * both completed. One is not an agreement: a rank that timed out in it had already pushed its part,
 * so a peer arriving more than the timeout late completed the same all-reduce alone and went on to
 * the collective teardown, where it hung. The rank that timed out never starts the second one, so
 * that peer times out there and tears down locally too (NVRAR_ERR_TIMEOUT) instead of hanging; only
 * a peer that fell behind between the two (microseconds apart) could still pass alone.
 */
static nvrar_result_t destroy_barrier(nvrar_comm_t comm) {
  if (comm->nranks == 1) return NVRAR_SUCCESS;
  nvrar_result_t res = NVRAR_SUCCESS;
  cudaStream_t stream = NULL;
  CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), res, done);
  float *word = comm->sync->barrier;
  comm->stream_noted = 1; /* its own stream, after all of the user's work: nothing to note */
  for (int phase = 0; phase < 2 && comm->host_words[0] == 0; phase++) {
    NVRAR_CHECK_GOTO(nvrar_comm_enqueue(comm, word, word, 1, sizeof *word, NVRAR_FLOAT32, NVRAR_SUM, stream), res,
                     done);
    CUDA_TRY(cudaStreamSynchronize(stream), res, done);
  }
  if (comm->host_words[0] != 0)
    res = nvrar_error(NVRAR_ERR_TIMEOUT, "nvrar_comm_destroy: rank %d waited %.0f s for its peers to reach destroy; "
                                         "tore down locally", comm->rank, comm->settings.timeout_seconds);
done:
  if (stream) cudaStreamDestroy(stream);
  return res;
}

/* ---- sub-communicators ---- */
nvrar_result_t nvrar_comm_split_impl(nvrar_comm_t world, int nranks, const int *world_ranks, int slot,
                                     nvrar_comm_t *out) {
  nvrar_result_t res = NVRAR_SUCCESS;
  if (world->parent)
    return nvrar_error(NVRAR_ERR_UNSUPPORTED, "nvrar_comm_split: comm is itself a sub-communicator; split its world");
  if (slot < 0 || slot >= NVRAR_SUB_SLOTS)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_split: slot %d is outside 0-%d", slot, NVRAR_SUB_SLOTS - 1);
  int node = world->rank / world->topo.gpus, rank = -1;
  if (nranks < 1 || nranks > world->topo.gpus)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_split: %d ranks; a sub-communicator has 1-%d, the ranks "
                                                   "of one node of its world", nranks, world->topo.gpus);
  for (int r = 0; r < nranks; r++) {
    int w = world_ranks[r];
    if (w < 0 || w >= world->nranks || w / world->topo.gpus != node)
      return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_split: world rank %d is not on this rank's node "
                                                     "(ranks %d-%d)", w, node * world->topo.gpus,
                         (node + 1) * world->topo.gpus - 1);
    for (int q = 0; q < r; q++)
      if (world_ranks[q] == w)
        return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_split: world rank %d is listed twice", w);
    if (w == world->rank) rank = r;
  }
  if (rank < 0)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_split: this rank (%d of the world) is not among the "
                                                   "%d ranks", world->rank, nranks);
  unsigned bit = 1u << slot;
  pthread_mutex_lock(&registry_lock);
  unsigned taken = (world->slots_used | world->slots_dead) & bit;
  if (!taken) world->slots_used |= bit;
  pthread_mutex_unlock(&registry_lock);
  if (taken)
    return nvrar_error(NVRAR_ERR_INVALID_USAGE, "nvrar_comm_split: slot %d is %s", slot,
                       world->slots_dead & bit ? "unusable: a sub-communicator there failed and its peers may still "
                                                 "write into it" : "in use by a live sub-communicator");
  nvrar_comm_t comm = calloc(1, sizeof *comm);
  if (!comm) {
    res = nvrar_error(NVRAR_ERR_OUT_OF_MEMORY, "nvrar_comm_split: out of host memory");
    goto fail;
  }
  comm->rank = rank;
  comm->nranks = nranks;
  comm->device = world->device;
  comm->settings = world->settings;
  if (nvrar_algo_multinode(comm->settings.algo)) comm->settings.algo = NVRAR_ALGO_AUTO; /* no put-with-signal staging */
  sub_capacity(nranks, &comm->capacity);
  comm->topo = (nvrar_topo_t){nranks, 1, nranks, NVRAR_NET_NVLINK};
  comm->local_size = nranks;
  comm->parent = world;
  comm->slot = slot;
  comm->heap = (char *)world->heap + world->slots_offset + (size_t)slot * world->slot_bytes;
  CUDA_TRY(cudaSetDevice(comm->device), res, fail);
  NVRAR_CHECK_GOTO(device_state(comm), res, fail);
  NVRAR_CHECK_GOTO(set_direct_args(comm, comm->heap, world_ranks, "nvrar_comm_split"), res, fail);
  load_tuned(comm);
  pthread_mutex_lock(&registry_lock);
  world->children++;
  registry_add_locked(comm);
  pthread_mutex_unlock(&registry_lock);
  NVRAR_INFO(NVRAR_SUBSYS_INIT, "sub-communicator in slot %d: rank %d of %d (world rank %d)", slot, rank, nranks,
             world->rank);
  *out = comm;
  return NVRAR_SUCCESS;
fail:
  if (comm) {
    comm_release_local(comm);
    free(comm);
  }
  pthread_mutex_lock(&registry_lock);
  world->slots_used &= ~bit;
  pthread_mutex_unlock(&registry_lock);
  return res;
}

unsigned nvrar_comm_free_slots(nvrar_comm_t world) {
  pthread_mutex_lock(&registry_lock);
  unsigned busy = world->parent ? ~0u : world->slots_used | world->slots_dead;
  pthread_mutex_unlock(&registry_lock);
  return ~busy & ((1u << NVRAR_SUB_SLOTS) - 1);
}

/*
 * Local. Once this rank's last all-reduce on it has completed, no peer writes into its part of the slot
 * again (each of its waits needed the peers' writes first), so that part is zeroed here and the slot
 * is clean for the next sub-communicator. After a failure a peer may still write: the slot is retired.
 */
static nvrar_result_t child_destroy(nvrar_comm_t comm, nvrar_result_t res) {
  nvrar_comm_t world = comm->parent;
  int failed = comm->aborted || comm->host_words[0] != 0 || res != NVRAR_SUCCESS;
  if (!failed && (cudaMemset(comm->heap, 0, world->slot_bytes) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess)) {
    cudaError_t e = cudaGetLastError();
    res = nvrar_error(NVRAR_ERR_CUDA, "nvrar_comm_destroy: clearing the sub-communicator's slot failed: %s",
                      cudaGetErrorString(e));
    failed = 1;
  }
  pthread_mutex_lock(&registry_lock);
  world->slots_used &= ~(1u << comm->slot);
  if (failed) world->slots_dead |= 1u << comm->slot;
  world->children--;
  pthread_mutex_unlock(&registry_lock);
  comm_release_local(comm);
  registry_drop(comm, 1);
  return res;
}

nvrar_result_t nvrar_comm_destroy_impl(nvrar_comm_t comm) {
  nvrar_result_t res = NVRAR_SUCCESS;
  if (!comm->parent && comm->children && !comm->aborted)
    return nvrar_error(NVRAR_ERR_INVALID_USAGE, "nvrar_comm_destroy: %d sub-communicators of this communicator are "
                                                "live; destroy them first", comm->children);
  if (cudaSetDevice(comm->device) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess) {
    cudaError_t e = cudaGetLastError();
    res = nvrar_error(NVRAR_ERR_CUDA, "nvrar_comm_destroy: waiting for outstanding work failed: %s", cudaGetErrorString(e));
  }
  if (comm->parent) return child_destroy(comm, res);
  if (res == NVRAR_SUCCESS && !comm->aborted && comm->host_words[0] == 0) res = destroy_barrier(comm);
  int failed = comm->aborted || comm->host_words[0] != 0 || res != NVRAR_SUCCESS;
  if (failed) {
    /* A peer may be gone: no collective call, so destroy cannot hang. NVSHMEM stays up. */
    NVRAR_WARN("destroying a failed communicator without NVSHMEM's collective teardown; NVSHMEM stays initialised "
               "in this process");
    comm_release_local(comm);
    registry_drop(comm, 1);
    return res;
  }
  for (int i = 0; i < NVRAR_MAX_USER_BUFFERS; i++)
    if (comm->user_buffers[i]) nvrar_shmem_free(comm->user_buffers[i]);
  nvrar_shmem_free(comm->heap);
  comm_release_local(comm);
  nvrar_shmem_finalize();
  registry_drop(comm, 0);
  return res;
}

nvrar_result_t nvrar_comm_abort_impl(nvrar_comm_t comm) {
  /* A world takes its sub-communicators down with it: they work in its staging. */
  for (int i = 0; i < MAX_LIVE && !comm->parent && comm->children; i++) {
    pthread_mutex_lock(&registry_lock);
    nvrar_comm_t child = live[i] && live[i]->parent == comm ? live[i] : NULL;
    pthread_mutex_unlock(&registry_lock);
    if (child) nvrar_comm_abort_impl(child);
  }
  comm->aborted = 1;
  /* Running kernels see this after at most ~1 ms of waiting and return; later ones return at once. */
  ((volatile int *)comm->host_words)[1] = 1;
  /*
   * No wait on the device: cudaDeviceSynchronize would also wait for another library's kernel stuck
   * on the same lost peer, and cudaFree/cudaFreeHost synchronise too. So the device-side state and
   * the host-mapped words, which nvrar's kernels still in flight may touch, stay allocated (about
   * 0.5 MiB of device memory) until the process exits; NVSHMEM and its heap stay up, as after any
   * failure (a new communicator needs a new process). A sub-communicator's slot is retired.
   */
  NVRAR_INFO(NVRAR_SUBSYS_INIT, "nvrar_comm_abort: rank %d tore down locally without waiting for the device; its device-side state "
             "stays allocated and NVSHMEM stays initialised in this process", comm->rank);
  if (comm->parent) {
    pthread_mutex_lock(&registry_lock);
    comm->parent->slots_used &= ~(1u << comm->slot);
    comm->parent->slots_dead |= 1u << comm->slot;
    comm->parent->children--;
    pthread_mutex_unlock(&registry_lock);
  }
  registry_drop(comm, 1);
  return NVRAR_SUCCESS;
}

nvrar_result_t nvrar_comm_async_error(nvrar_comm_t comm) {
  if (comm->host_words[0] != 0) return (nvrar_result_t)((volatile int *)comm->host_words)[0];
  return comm->aborted ? NVRAR_ERR_ABORTED : NVRAR_SUCCESS;
}

nvrar_result_t nvrar_comm_malloc(nvrar_comm_t comm, size_t bytes, void **ptr) {
  if (comm->parent)
    return nvrar_error(NVRAR_ERR_UNSUPPORTED, "nvrar_malloc: symmetric memory comes from the world communicator (every "
                                              "rank of it allocates); call it there");
  int slot = -1;
  for (int i = 0; i < NVRAR_MAX_USER_BUFFERS && slot < 0; i++)
    if (!comm->user_buffers[i]) slot = i;
  if (slot < 0)
    return nvrar_error(NVRAR_ERR_OUT_OF_MEMORY, "nvrar_malloc: %d buffers are live, the most one communicator tracks",
                       NVRAR_MAX_USER_BUFFERS);
  if (cudaSetDevice(comm->device) != cudaSuccess) {
    (void)cudaGetLastError();
    return nvrar_error(NVRAR_ERR_CUDA, "nvrar_malloc: cudaSetDevice(%d) failed", comm->device);
  }
  /* NVSHMEM's own failure path for an allocation that does not fit corrupts the CUDA context
   * (seen with 3.4.5), so requests that cannot fit are refused before they reach it. */
  size_t in_use = comm->heap_used, margin = (size_t)2 << 20;
  for (int i = 0; i < NVRAR_MAX_USER_BUFFERS; i++) in_use += comm->user_bytes[i];
  void *p = bytes <= comm->heap_bytes - margin - in_use && in_use + margin <= comm->heap_bytes ? nvrar_shmem_malloc(bytes)
                                                                                               : NULL;
  if (!p)
    return nvrar_error(NVRAR_ERR_OUT_OF_MEMORY,
                       "nvrar_malloc: %zu bytes do not fit in the symmetric heap (%zu bytes, %zu used by staging); "
                       "raise NVRAR_MEMORY_BYTES or config.memory_bytes", bytes, comm->heap_bytes, comm->heap_used);
  comm->user_buffers[slot] = p;
  comm->user_bytes[slot] = (bytes + 511) / 512 * 512;
  *ptr = p;
  return NVRAR_SUCCESS;
}

nvrar_result_t nvrar_comm_free(nvrar_comm_t comm, void *ptr) {
  for (int i = 0; i < NVRAR_MAX_USER_BUFFERS; i++) {
    if (comm->user_buffers[i] == ptr) {
      nvrar_shmem_free(ptr);
      comm->user_buffers[i] = NULL;
      comm->user_bytes[i] = 0;
      return NVRAR_SUCCESS;
    }
  }
  return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_free: %p was not returned by nvrar_malloc on this communicator", ptr);
}

nvrar_result_t nvrar_comm_enqueue(nvrar_comm_t comm, const void *sendbuf, void *recvbuf, size_t count, size_t bytes,
                                  nvrar_dtype_t dtype, nvrar_op_t op, void *stream) {
  if (comm->nranks == 1) {
    if (sendbuf == recvbuf) return NVRAR_SUCCESS;
    cudaError_t e = cudaMemcpyAsync(recvbuf, sendbuf, bytes, cudaMemcpyDeviceToDevice, (cudaStream_t)stream);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      return nvrar_error(NVRAR_ERR_CUDA, "nvrar_all_reduce: cudaMemcpyAsync failed: %s", cudaGetErrorString(e));
    }
    return NVRAR_SUCCESS;
  }
  if (stream != comm->last_stream) { /* a plain compare on the hot path; the log only once */
    if (comm->used_stream && !comm->stream_noted) {
      comm->stream_noted = 1;
      NVRAR_INFO(NVRAR_SUBSYS_COLL, "rank %d: all-reduces on a second stream (%p after %p): they must be ordered with "
                 "the earlier ones (include/nvrar.h)", comm->rank, stream, comm->last_stream);
    }
    comm->last_stream = stream;
    comm->used_stream = 1;
  }
  nvrar_plan_t plan;
  NVRAR_CHECK(nvrar_plan_tuned(&comm->settings, &comm->capacity, &comm->topo, &comm->tuned[dtype], bytes, &plan));
  nvrar_kernel_args_t args = plan.algo == NVRAR_ALGO_ONESHOT   ? comm->oneshot_args
                             : plan.algo == NVRAR_ALGO_TWOSHOT ? comm->twoshot_args
                                                               : comm->ring_args;
  args.send = sendbuf;
  args.recv = recvbuf;
  args.count = count;
  args.packs = (bytes + NVRAR_PACK_BYTES - 1) / NVRAR_PACK_BYTES;
  args.aligned = (((uintptr_t)sendbuf | (uintptr_t)recvbuf) % NVRAR_PACK_BYTES) == 0;
  args.rings = plan.rings;
  args.chunk_packs = plan.chunk_packs;
  args.ll_packs = plan.ll_packs;
  int err = plan.algo == NVRAR_ALGO_ONESHOT   ? nvrar_launch_oneshot(&args, dtype, op, plan.blocks, plan.threads, stream)
            : plan.algo == NVRAR_ALGO_TWOSHOT ? nvrar_launch_twoshot(&args, dtype, op, plan.blocks, plan.threads, stream)
                                              : nvrar_launch_ring_family(&args, plan.algo, dtype, op, plan.blocks,
                                                                         plan.threads, stream);
  if (err != 0)
    return nvrar_error(NVRAR_ERR_CUDA, "nvrar_all_reduce: %s kernel launch (%d blocks x %d threads) failed: %s",
                       nvrar_algo_name(plan.algo), plan.blocks, plan.threads, cudaGetErrorString((cudaError_t)err));
  NVRAR_TRACE(NVRAR_SUBSYS_COLL, "all_reduce %zu x %s %s: %s, %d x %d", count, nvrar_dtype_name(dtype),
              nvrar_op_name(op), nvrar_algo_name(plan.algo), plan.blocks, plan.threads);
  return NVRAR_SUCCESS;
}

/* 1 if [ptr, ptr + bytes) lies inside one nvrar_malloc buffer of comm. */
static int in_user_buffer(nvrar_comm_t comm, const void *ptr, size_t bytes) {
  for (int i = 0; i < NVRAR_MAX_USER_BUFFERS; i++) {
    const char *b = comm->user_buffers[i];
    if (b && (const char *)ptr >= b && bytes <= comm->user_bytes[i] &&
        (size_t)((const char *)ptr - b) <= comm->user_bytes[i] - bytes)
      return 1;
  }
  return 0;
}

/* Exchange grid: a block per 256 KiB up to the ring-family bound (NVRAR_NUM_BLOCKS overrides). */
enum { EXCHANGE_BLOCK_BYTES = 256 << 10, EXCHANGE_THREADS = 512 };

nvrar_result_t nvrar_comm_exchange(nvrar_comm_t comm, const void *sendbuf, void *recvbuf, size_t bytes, int peer,
                                   void *stream) {
  if (comm->parent)
    return nvrar_error(NVRAR_ERR_UNSUPPORTED, "nvrar_exchange: a sub-communicator has no put-with-signal staging; use "
                                              "its world");
  if (peer < 0 || peer >= comm->nranks || peer == comm->rank)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_exchange: peer %d is not another rank of 0-%d", peer,
                       comm->nranks - 1);
  if (!in_user_buffer(comm, sendbuf, bytes) || !in_user_buffer(comm, recvbuf, bytes))
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT,
                       "nvrar_exchange: sendbuf %p and recvbuf %p must each hold %zu bytes inside an nvrar_malloc buffer",
                       sendbuf, recvbuf, bytes);
  nvrar_kernel_args_t args = comm->ring_args;
  args.send = sendbuf;
  args.recv = recvbuf;
  args.count = bytes;
  args.packs = (bytes + NVRAR_PACK_BYTES - 1) / NVRAR_PACK_BYTES;
  args.peer = peer;
  uint64_t blocks = (bytes + EXCHANGE_BLOCK_BYTES - 1) / EXCHANGE_BLOCK_BYTES;
  if (comm->settings.num_blocks) blocks = (uint64_t)comm->settings.num_blocks;
  if (blocks < 1) blocks = 1;
  if (blocks > NVRAR_MAX_RING_BLOCKS) blocks = NVRAR_MAX_RING_BLOCKS;
  int err = nvrar_launch_exchange(&args, (int)blocks, EXCHANGE_THREADS, stream);
  if (err != 0)
    return nvrar_error(NVRAR_ERR_CUDA, "nvrar_exchange: kernel launch failed: %s", cudaGetErrorString((cudaError_t)err));
  return NVRAR_SUCCESS;
}
