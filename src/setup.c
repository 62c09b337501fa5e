/*
 * What a communicator's init computes before and after NVSHMEM starts, all of it local (the sizes
 * of the heap and of each staging area are staging.c's): which ranks share a node,
 * the tuned files of this world size, and the per-algorithm kernel-argument templates that every
 * all-reduce copies. comm.c runs the lifecycle around these; enqueue.c the call path.
 */
#include <stdio.h>
#include <string.h>

#include "algo/recursive.h"
#include "algo/ring.h"
#include "comm.h"
#include "setup.h"
#include "shmem.h"

/*
 * Which ranks share a node. NVSHMEM's bootstrap gathered every rank's host id at init; nvrar
 * requires the node-major layout every launcher produces (the ranks of a host contiguous, the same
 * count on each host) and refuses others. NVRAR_GPUS_PER_NODE / gpus_per_node = k splits each
 * host into virtual nodes of k GPUs; k must divide the host's GPU count.
 */
nvrar_result_t nvrar_find_topology(const nvrar_settings_t *s, int rank, int nranks, nvrar_topo_t *topo) {
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
void nvrar_load_tuned(nvrar_comm_t comm) {
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
int nvrar_needs_ring_staging(nvrar_comm_t comm) {
  if (comm->topo.nodes > 1 || nvrar_algo_multinode(comm->settings.algo)) return 1;
  for (int d = 0; d < NVRAR_NUM_DTYPES; d++)
    for (int i = 0; i < comm->tuned[d].count; i++)
      if (nvrar_algo_multinode(comm->tuned[d].entries[i].algo)) return 1;
  return 0;
}

/* Ring-family fields of the kernel arguments: staging, signals, and each ring's neighbours. */
void nvrar_set_ring_args(nvrar_kernel_args_t *a, const nvrar_topo_t *t, uint64_t region_packs, char *ring_stage,
                          size_t ring_bytes) {
  a->nodes = t->nodes;
  a->gpus = t->gpus;
  a->rings = 1;
  a->region_packs = region_packs;
  a->cells_packs = hier_cells_packs(t, region_packs);
  a->rstage = ring_stage;
  a->signals = (uint64_t *)(ring_stage + ring_bytes);
  a->xsignals = (uint64_t *)(ring_stage + ring_bytes + nvrar_signals_bytes(t->nranks));
  for (int k = 0; k < NVRAR_MAX_RINGS; k++) {
    for (int pos = 0; pos < t->nranks; pos++) {
      if (nvrar_multiring_rank(t->nodes, t->gpus, k, pos) != a->rank) continue;
      a->ring_pos[k] = pos;
      a->ring_prev[k] = nvrar_multiring_rank(t->nodes, t->gpus, k, (pos + t->nranks - 1) % t->nranks);
      a->ring_next[k] = nvrar_multiring_rank(t->nodes, t->gpus, k, (pos + 1) % t->nranks);
    }
  }
}

/*
 * One-shot's and two-shot's pointers to every rank's [flags][cells][staging] area: `area` is this
 * rank's (symmetric), pes[r] the NVSHMEM PE of rank r, reached through NVLink (nvshmem_ptr).
 */
nvrar_result_t nvrar_set_direct_args(nvrar_comm_t comm, char *area, const int *pes, const char *fn) {
  size_t flags, cells, stage, lamport;
  nvrar_direct_layout(comm->nranks, &comm->capacity, &flags, &cells, &stage, &lamport);
  comm->oneshot_args.slice_cap = comm->capacity.oneshot_packs;
  comm->twoshot_args.slice_cap = comm->capacity.slice_packs;
  comm->lamport_args.slice_cap = comm->capacity.lamport_packs;
  comm->lamport_twoshot_args.slice_cap = comm->capacity.lamport_slice_packs;
  size_t lamport_one, lamport_two;
  nvrar_lamport_layout(comm->nranks, &comm->capacity, &lamport_one, &lamport_two);
  for (int r = 0; r < comm->nranks; r++) {
    char *peer = nvrar_shmem_ptr(area, pes[r]);
    if (!peer)
      return nvrar_error(NVRAR_ERR_UNSUPPORTED, "%s: rank %d cannot reach rank %d's memory directly (no NVLink or P2P "
                                                "path)", fn, comm->rank, r);
    comm->oneshot_args.flags[r] = comm->twoshot_args.flags[r] = (uint64_t *)peer;
    comm->oneshot_args.stage[r] = peer + flags;
    comm->twoshot_args.stage[r] = peer + flags + cells;
    comm->lamport_args.stage[r] = lamport_one ? peer + flags + cells + stage : NULL;
    comm->lamport_twoshot_args.stage[r] = lamport_two ? peer + flags + cells + stage + lamport_one : NULL;
  }
  return NVRAR_SUCCESS;
}

