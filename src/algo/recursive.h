/*
 * Recursive doubling and recursive halving-doubling between nodes (NVRAR's inter-node step, run by
 * the GPUs of one local rank), as pure functions (gcc and nvcc); proven in tests/unit.
 *
 * A node count that is not a power of two uses the standard pre/post step: with p the largest power
 * of two <= nodes and r = nodes - p, each of the first r even nodes (0, 2, .., 2r-2) hands its data to
 * the odd node after it and sits out; the p remaining nodes get virtual ids 0..p-1 and run log2(p)
 * steps; at the end each node that sat out receives the result from the node it handed to.
 *
 * Recursive doubling: at step s, virtual id v exchanges the whole shard with v ^ (1 << s).
 * Halving-doubling (larger shards): reduce-scatter with halving, at step s (s = 0 first) v keeps the
 * half of its current range selected by bit (log2(p) - 1 - s) of v and sends the other half to its
 * partner v ^ (1 << (log2(p) - 1 - s)); then all-gather by doubling retraces the steps in reverse.
 * After the halving, virtual id v owns block v of p equal-as-possible blocks of the shard.
 */
#ifndef NVRAR_ALGO_RECURSIVE_H
#define NVRAR_ALGO_RECURSIVE_H

#include "chunk.h"

NVRAR_HD int nvrar_rd_pow2(int nodes) {
  int p = 1;
  while (p * 2 <= nodes) p *= 2;
  return p;
}

NVRAR_HD int nvrar_rd_log2(int p) {
  int s = 0;
  while ((1 << s) < p) s++;
  return s;
}

/* 1 if `node` hands its data to node + 1 in the pre-step and sits out the doubling. */
NVRAR_HD int nvrar_rd_sits_out(int node, int nodes) {
  int r = nodes - nvrar_rd_pow2(nodes);
  return node < 2 * r && node % 2 == 0;
}

/* 1 if `node` takes over the shard of the node before it that sits out: folds it in at the
 * pre-step and hands it the result at the post-step. */
NVRAR_HD int nvrar_rd_takes_over(int node, int nodes) {
  int r = nodes - nvrar_rd_pow2(nodes);
  return node < 2 * r && node % 2 == 1;
}

/* Virtual id in 0..p-1 of a node that takes part, -1 for one that sits out. */
NVRAR_HD int nvrar_rd_vid(int node, int nodes) {
  int r = nodes - nvrar_rd_pow2(nodes);
  if (node < 2 * r) return node % 2 == 0 ? -1 : node / 2;
  return node - r;
}

NVRAR_HD int nvrar_rd_node(int vid, int nodes) {
  int r = nodes - nvrar_rd_pow2(nodes);
  return vid < r ? 2 * vid + 1 : vid + r;
}

/* Partner node of `node` at doubling step s (0..log2(p)-1), or -1 if it sits out. */
NVRAR_HD int nvrar_rd_partner(int node, int step, int nodes) {
  int v = nvrar_rd_vid(node, nodes);
  return v < 0 ? -1 : nvrar_rd_node(v ^ (1 << step), nodes);
}

/*
 * Halving: the range [*lo, *hi) of a `len`-element shard that virtual id v still reduces after
 * `steps` halving steps (0 = the whole shard). Block boundaries come from the final p blocks, so
 * ranges always split on block edges: after all log2(p) steps v owns exactly block v.
 */
NVRAR_HD void nvrar_rhd_range(int vid, int p, int steps, uint64_t len, uint64_t *lo, uint64_t *hi) {
  int bits = nvrar_rd_log2(p);
  int width = p >> steps; /* blocks still held */
  int first = (vid >> (bits - steps)) << (bits - steps);
  uint64_t block = nvrar_div_up(len, (uint64_t)p);
  uint64_t a = (uint64_t)first * block, b = (uint64_t)(first + width) * block;
  *lo = a < len ? a : len;
  *hi = b < len ? b : len;
}

/* hier-rd's flag-in-data cell areas per (block, parity) region: receive and send areas for the
 * pre-step, each of the log2(p) doubling steps and the post-step (ar_hier.cu). */
NVRAR_HD int nvrar_hier_cell_areas(int nodes) { return 2 * (nvrar_rd_log2(nvrar_rd_pow2(nodes)) + 2); }

/* Partner of virtual id v at halving step s (s = 0 first): the highest bit first. */
NVRAR_HD int nvrar_rhd_partner(int vid, int p, int step) { return vid ^ (p >> (step + 1)); }

#endif /* NVRAR_ALGO_RECURSIVE_H */
