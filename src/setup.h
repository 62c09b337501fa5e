/* Init's local computations (setup.c): topology, tuned files, argument templates; the staging
 * sizes are staging.h's. Internal. */
#ifndef NVRAR_SETUP_H
#define NVRAR_SETUP_H

#include "comm.h"
#include "staging.h"

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
