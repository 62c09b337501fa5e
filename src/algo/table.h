/*
 * The one table of all-reduce algorithms. Adding an algorithm is one row here and one .cu file
 * with its kernel and launcher (docs/design.md, "How to add an algorithm"); everything else reads
 * this table: the NVRAR_ALGO parser and names (config.c), the planner (tune.c), the cost model
 * (model.c), the launch (enqueue.c), nvrar_perf -A and the Python package (nvrar_algo_info).
 *
 * ALGO(id, name, alias, multinode, units, rings, cells, args, launch, fused)
 *   id         NVRAR_ALGO_<id> of include/nvrar.h (its number is ABI; nothing reads meaning into the order)
 *   name       what NVRAR_ALGO, nvrar_perf -A, tuned files and Python accept and print; alias: also
 *              accepted (NULL: none); both are matched ignoring case, '_' taken for '-'
 *   multinode  0: one node only, peers through NVLink pointers (its own shape rule in tune.c);
 *              1: any layout, put-with-signal through the ring staging, in the cost model across nodes
 *   units      multinode launch shape: the units a block's 4 KiB steps cover (RANKS: a chunk per rank,
 *              GPUS: a shard per GPU of a node, ONE: the whole message); NONE for one-node algorithms
 *   rings      1: runs NVRAR_RINGS rings at once, so at least a block per ring
 *   cells      1: between nodes, messages up to NVRAR_HIER_LL_BYTES go in flag-in-data cells
 *   args       the communicator's argument template it launches with (comm.h)
 *   launch     its launcher (src/device/launch.h)
 *   fused      its launcher fused with the residual add and RMSNorm (nvrar_all_reduce_add_rmsnorm), or
 *              NULL: that call then runs this algorithm's all-reduce and the add + norm kernel
 * Pure C: included by host code only.
 */
#ifndef NVRAR_ALGO_TABLE_H
#define NVRAR_ALGO_TABLE_H

#define NVRAR_ALGO_TABLE(ALGO)                                                                                \
  ALGO(ONESHOT, "oneshot", "one-shot", 0, NONE, 0, 0, oneshot_args, nvrar_launch_oneshot,                   \
       nvrar_launch_oneshot_rmsnorm)                                                                        \
  ALGO(TWOSHOT, "twoshot", "two-shot", 0, NONE, 0, 0, twoshot_args, nvrar_launch_twoshot,                   \
       nvrar_launch_twoshot_rmsnorm)                                                                        \
  ALGO(RING, "ring", NULL, 1, RANKS, 1, 0, ring_args, nvrar_launch_ring, NULL)                               \
  ALGO(SIMPLE_RING, "simple-ring", NULL, 1, ONE, 1, 0, ring_args, nvrar_launch_simple_ring, NULL)            \
  ALGO(HIER_RD, "hier-rd", NULL, 1, GPUS, 0, 1, ring_args, nvrar_launch_hier_rd, NULL)                       \
  ALGO(HIER_RHD, "hier-rhd", NULL, 1, GPUS, 0, 0, ring_args, nvrar_launch_hier_rhd, NULL)                   \
  ALGO(LAMPORT, "lamport", "oneshot-lamport", 0, NONE, 0, 0, lamport_args, nvrar_launch_lamport, NULL)        \
  ALGO(LAMPORT_TWOSHOT, "lamport-twoshot", "twoshot-lamport", 0, NONE, 0, 0, lamport_twoshot_args,            \
       nvrar_launch_lamport_twoshot, NULL)

/* The launch-shape units of a multinode row. */
typedef enum { NVRAR_UNITS_NONE, NVRAR_UNITS_RANKS, NVRAR_UNITS_GPUS, NVRAR_UNITS_ONE } nvrar_units_t;

typedef struct nvrar_algo_desc {
  int id; /* nvrar_algo_t */
  const char *name, *alias;
  int multinode;
  nvrar_units_t units;
  int rings, cells;
} nvrar_algo_desc_t;

/* The row of algo, or NULL for NVRAR_ALGO_AUTO and values that are no algorithm. */
const nvrar_algo_desc_t *nvrar_algo_desc(int algo);

#endif
