/* Init's local computations (setup.c): heap and staging layout, topology, tuned files, argument
 * templates. Internal. */
#ifndef NVRAR_SETUP_H
#define NVRAR_SETUP_H

#include "comm.h"

/* NVSHMEM_SYMMETRIC_SIZE for this budget and world: the budget's heap plus the sub-communicator
 * slots; *slot_bytes gets one slot's size. */
size_t nvrar_heap_reserve(const nvrar_settings_t *s, int nranks, size_t *slot_bytes);
/* The part of the budget that staging and nvrar_malloc buffers may use. */
size_t nvrar_heap_budget(const nvrar_settings_t *s);
/* The ring family's signal words of a world of nranks, in bytes (one set). */
size_t nvrar_signals_bytes(int nranks);
/* Sizes of the staging areas of a world (see setup.c); ring: whether the ring family gets staging. */
void nvrar_plan_staging(const nvrar_settings_t *s, const nvrar_topo_t *topo, int ring, nvrar_capacity_t *cap,
                        size_t *flags_bytes, size_t *cells_bytes, size_t *stage_bytes, size_t *ring_bytes);
/* A sub-communicator's capacities (one-shot and two-shot only). */
void nvrar_sub_capacity(int nranks, nvrar_capacity_t *cap);
/* Which ranks share a node, from NVSHMEM's node team and NVRAR_GPUS_PER_NODE. */
nvrar_result_t nvrar_find_topology(const nvrar_settings_t *s, int rank, int nranks, nvrar_topo_t *topo);
/* The tuned files of this world size, one per dtype, into comm->tuned. */
void nvrar_load_tuned(nvrar_comm_t comm);
/* Whether a ring-family algorithm can be asked of comm (its topology, settings, tuned tables). */
int nvrar_needs_ring_staging(nvrar_comm_t comm);
/* Ring-family fields of an argument template: staging, signals, each ring's neighbours. */
void nvrar_set_ring_args(nvrar_kernel_args_t *a, const nvrar_topo_t *t, uint64_t region_packs, char *ring_stage,
                         size_t ring_bytes);
/* One-shot's and two-shot's pointers to every rank's area (`area` is this rank's, pes[r] rank r's PE). */
nvrar_result_t nvrar_set_direct_args(nvrar_comm_t comm, char *area, const int *pes, const char *fn);

#endif
