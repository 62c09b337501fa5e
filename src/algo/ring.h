/*
 * Ring schedules as pure functions (gcc and nvcc). Ranks are laid out node-major:
 * rank = node * gpus + local. tests/unit/test_schedules.c proves them for every layout up to
 * 16 nodes x 8 GPUs; tests/unit/test_executor.c runs them on host memory.
 *
 * Chunked ring all-reduce over a ring order (position -> rank), n positions, n chunks:
 *   reduce-scatter step s = 0..n-2: position p sends chunk (p - s) mod n to p + 1 and
 *   receives chunk (p - s - 1) mod n from p - 1, adding it to its own; afterwards position p holds
 *   the whole sum of chunk (p + 1) mod n;
 *   all-gather step s = 0..n-2: position p sends chunk (p + 1 - s) mod n and receives (p - s) mod n.
 *
 * Alternating multi-rings (Penny, multi-node): ring k of the `gpus` rings visits the nodes in order
 * and, inside each node, all its GPUs contiguously, so only one hop per node pair leaves the node.
 * Node i is entered at local index entry(i) and left at entry(i + 1), so every inter-node hop joins
 * NICs of the same index (GPU g uses NIC g: the rail of a rail-optimised fabric). Entries alternate
 * k, k - 1, k, k - 1, ...: even nodes walk their GPUs upwards, odd nodes downwards. With an odd node
 * count the last node is entered at k + 1 so that no node is entered and left at the same GPU; that
 * needs 3 or more GPUs per node; with 2 GPUs and an odd node count the closing hop is the one hop that
 * changes rail (nvrar_multiring_cross_rail says so). Odd rings run in reverse, so the links are used
 * in both directions.
 */
#ifndef NVRAR_ALGO_RING_H
#define NVRAR_ALGO_RING_H

#include "chunk.h"

NVRAR_HD int nvrar_mod(int a, int n) { return ((a % n) + n) % n; }

NVRAR_HD int nvrar_ring_rs_send(int pos, int step, int n) { return nvrar_mod(pos - step, n); }
NVRAR_HD int nvrar_ring_rs_recv(int pos, int step, int n) { return nvrar_mod(pos - step - 1, n); }
NVRAR_HD int nvrar_ring_owned(int pos, int n) { return nvrar_mod(pos + 1, n); }
NVRAR_HD int nvrar_ring_ag_send(int pos, int step, int n) { return nvrar_mod(pos + 1 - step, n); }
NVRAR_HD int nvrar_ring_ag_recv(int pos, int step, int n) { return nvrar_mod(pos - step, n); }

/* Elements [*lo, *hi) of chunk c when `len` elements are cut into n ring chunks. */
NVRAR_HD void nvrar_ring_chunk(int c, int n, uint64_t len, uint64_t *lo, uint64_t *hi) {
  uint64_t per = nvrar_div_up(len, (uint64_t)n);
  uint64_t a = (uint64_t)c * per, b = a + per;
  *lo = a < len ? a : len;
  *hi = b < len ? b : len;
}

/* Local index at which ring k enters node `node` (of `nodes`, with `gpus` GPUs each). */
NVRAR_HD int nvrar_multiring_entry(int node, int nodes, int gpus, int k) {
  if (gpus == 1) return 0;
  if (nodes % 2 == 1 && nodes > 1 && node == nodes - 1 && gpus >= 3) return nvrar_mod(k + 1, gpus);
  return node % 2 == 0 ? nvrar_mod(k, gpus) : nvrar_mod(k - 1, gpus);
}

/* Local index at which ring k leaves `node`: where it enters the next node. */
NVRAR_HD int nvrar_multiring_exit(int node, int nodes, int gpus, int k) {
  if (gpus == 1) return 0;
  if (nodes == 1) return nvrar_mod(nvrar_multiring_entry(0, 1, gpus, k) - 1, gpus);
  int next = (node + 1) % nodes;
  int exit = nvrar_multiring_entry(next, nodes, gpus, k);
  if (exit == nvrar_multiring_entry(node, nodes, gpus, k)) /* 2 GPUs, odd node count, closing hop */
    exit = nvrar_mod(exit + 1, gpus);
  return exit;
}

/* 1 when ring k's hop out of `node` changes NIC index (only 2 GPUs per node with an odd node count). */
NVRAR_HD int nvrar_multiring_cross_rail(int node, int nodes, int gpus, int k) {
  if (nodes == 1 || gpus == 1) return 0;
  return nvrar_multiring_exit(node, nodes, gpus, k) != nvrar_multiring_entry((node + 1) % nodes, nodes, gpus, k);
}

/*
 * The t-th GPU (0..gpus-1) that ring k visits inside `node`: from entry to exit, every other GPU in
 * between, walking upwards on even nodes and downwards on odd ones.
 */
NVRAR_HD int nvrar_multiring_local(int node, int nodes, int gpus, int k, int t) {
  int entry = nvrar_multiring_entry(node, nodes, gpus, k);
  int exit = nvrar_multiring_exit(node, nodes, gpus, k);
  if (t == 0) return entry;
  if (t == gpus - 1) return exit;
  int dir = node % 2 == 0 ? 1 : -1;
  int g = entry;
  for (int seen = 0;;) { /* the t-th GPU after entry in direction dir, skipping exit */
    g = nvrar_mod(g + dir, gpus);
    if (g == exit) continue;
    if (++seen == t) return g;
  }
}

/* Rank at position pos (0..nodes*gpus-1) of ring k; odd rings are the even construction reversed. */
NVRAR_HD int nvrar_multiring_rank(int nodes, int gpus, int k, int pos) {
  int world = nodes * gpus;
  if (k % 2 == 1) pos = world - 1 - pos;
  int node = pos / gpus;
  return node * gpus + nvrar_multiring_local(node, nodes, gpus, k, pos % gpus);
}

#endif /* NVRAR_ALGO_RING_H */
