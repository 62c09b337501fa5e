/* The sizes of a communicator's staging areas and heap (staging.c): arithmetic only, no GPU.
 * Internal. */
#ifndef NVRAR_STAGING_H
#define NVRAR_STAGING_H

#include "internal.h"

/* NVSHMEM_SYMMETRIC_SIZE for this budget and world: the budget's heap plus the sub-communicator
 * slots; *slot_bytes gets one slot's size. */
size_t nvrar_heap_reserve(const nvrar_settings_t *s, int nranks, size_t *slot_bytes);
/* The part of the budget that staging and nvrar_malloc buffers may use. */
size_t nvrar_heap_budget(const nvrar_settings_t *s);
/* The ring family's signal words of a world of nranks, in bytes (one set). */
size_t nvrar_signals_bytes(int nranks);
/* Sizes of the staging areas of a world (see staging.c); ring: whether the ring family gets staging
 * (*stage_bytes: two-shot's and the lamport buffers, which a forced lamport algorithm gets). */
void nvrar_plan_staging(const nvrar_settings_t *s, const nvrar_topo_t *topo, int ring, nvrar_capacity_t *cap,
                        size_t *flags_bytes, size_t *cells_bytes, size_t *stage_bytes, size_t *ring_bytes);
/* A sub-communicator's capacities (one-shot and two-shot only). */
void nvrar_sub_capacity(int nranks, nvrar_capacity_t *cap);
/* The [flags][cells][staging][lamport] area of one-shot, two-shot and the lamport pair for n ranks
 * and these capacities; the lamport part is lamport's buffers, then lamport-twoshot's. */
void nvrar_direct_layout(int n, const nvrar_capacity_t *cap, size_t *flags, size_t *cells, size_t *stage,
                         size_t *lamport);
void nvrar_lamport_layout(int n, const nvrar_capacity_t *cap, size_t *oneshot, size_t *twoshot);

#endif
