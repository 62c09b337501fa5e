/*
 * A CPU executor: each algorithm's schedule (algo/ring.h, algo/recursive.h) run on host memory, one
 * array per rank, with exact integer data; every rank must end with the elementwise sum. Covers the
 * chunked ring on every alternating ring of each layout, the simple ring, recursive doubling and
 * halving-doubling between nodes (node counts that are not powers of two too), and the hierarchical
 * schedule: intra-node reduce-scatter, inter-node doubling per local rank, intra-node all-gather.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "algo/recursive.h"
#include "algo/ring.h"
#include "unit.h"

#define MAXR 128
#define MAXLEN 1031

static int64_t data[MAXR][MAXLEN], expect[MAXLEN];

static void fill(int world, uint64_t len, unsigned seed) {
  srand(seed);
  memset(expect, 0, sizeof expect);
  for (int r = 0; r < world; r++)
    for (uint64_t i = 0; i < len; i++) {
      data[r][i] = rand() % 2001 - 1000;
      expect[i] += data[r][i];
    }
}

static int all_equal_expect(int world, uint64_t len) {
  for (int r = 0; r < world; r++)
    for (uint64_t i = 0; i < len; i++)
      if (data[r][i] != expect[i]) return 0;
  return 1;
}

/* Chunked ring over order[] (position -> rank). Messages of a step are taken before any is applied. */
static void run_chunked_ring(const int *order, int n, uint64_t len) {
  static int64_t sent[MAXR][MAXLEN];
  for (int phase = 0; phase < 2; phase++) {
    for (int s = 0; s < n - 1; s++) {
      for (int p = 0; p < n; p++) {
        uint64_t lo, hi;
        int c = phase == 0 ? nvrar_ring_rs_send(p, s, n) : nvrar_ring_ag_send(p, s, n);
        nvrar_ring_chunk(c, n, len, &lo, &hi);
        memcpy(&sent[p][lo], &data[order[p]][lo], (hi - lo) * sizeof(int64_t));
      }
      for (int p = 0; p < n; p++) {
        int from = nvrar_mod(p - 1, n);
        uint64_t lo, hi;
        int c = phase == 0 ? nvrar_ring_rs_recv(p, s, n) : nvrar_ring_ag_recv(p, s, n);
        nvrar_ring_chunk(c, n, len, &lo, &hi);
        for (uint64_t i = lo; i < hi; i++)
          data[order[p]][i] = phase == 0 ? data[order[p]][i] + sent[from][i] : sent[from][i];
      }
    }
  }
}

/* Simple ring: position 0 starts, each adds its own and forwards; the last broadcasts back. */
static void run_simple_ring(const int *order, int n, uint64_t len) {
  for (int p = 1; p < n; p++)
    for (uint64_t i = 0; i < len; i++) data[order[p]][i] += data[order[p - 1]][i];
  for (int p = 0; p < n - 1; p++) memcpy(data[order[p]], data[order[n - 1]], len * sizeof(int64_t));
}

/* Between nodes: ranks[node] take part; whole-shard doubling or halving-doubling on [lo, hi). */
static void run_between_nodes(const int *ranks, int nodes, uint64_t lo, uint64_t hi, int halving) {
  static int64_t snap[MAXR][MAXLEN];
  uint64_t len = hi - lo;
  int p = nvrar_rd_pow2(nodes), bits = nvrar_rd_log2(p);
  for (int n = 0; n < nodes; n++)
    if (nvrar_rd_sits_out(n, nodes))
      for (uint64_t i = lo; i < hi; i++) data[ranks[n + 1]][i] += data[ranks[n]][i];
  if (!halving) {
    for (int s = 0; s < bits; s++) {
      for (int n = 0; n < nodes; n++) memcpy(&snap[n][lo], &data[ranks[n]][lo], len * sizeof(int64_t));
      for (int n = 0; n < nodes; n++) {
        int q = nvrar_rd_partner(n, s, nodes);
        if (q >= 0)
          for (uint64_t i = lo; i < hi; i++) data[ranks[n]][i] += snap[q][i];
      }
    }
  } else {
    for (int s = 0; s < bits; s++) { /* reduce-scatter by halving */
      for (int n = 0; n < nodes; n++) memcpy(&snap[n][lo], &data[ranks[n]][lo], len * sizeof(int64_t));
      for (int v = 0; v < p; v++) {
        int n = nvrar_rd_node(v, nodes), q = nvrar_rd_node(nvrar_rhd_partner(v, p, s), nodes);
        uint64_t a, b;
        nvrar_rhd_range(v, p, s + 1, len, &a, &b);
        for (uint64_t i = a; i < b; i++) data[ranks[n]][lo + i] += snap[q][lo + i];
      }
    }
    for (int s = bits - 1; s >= 0; s--) { /* all-gather by doubling */
      for (int n = 0; n < nodes; n++) memcpy(&snap[n][lo], &data[ranks[n]][lo], len * sizeof(int64_t));
      for (int v = 0; v < p; v++) {
        int n = nvrar_rd_node(v, nodes), pv = nvrar_rhd_partner(v, p, s), q = nvrar_rd_node(pv, nodes);
        uint64_t a, b;
        nvrar_rhd_range(pv, p, s + 1, len, &a, &b);
        memcpy(&data[ranks[n]][lo + a], &snap[q][lo + a], (b - a) * sizeof(int64_t));
      }
    }
  }
  for (int n = 0; n < nodes; n++)
    if (nvrar_rd_sits_out(n, nodes)) memcpy(&data[ranks[n]][lo], &data[ranks[n + 1]][lo], len * sizeof(int64_t));
}

/* Hierarchical: local rank g owns shard g of the message inside its node. */
static void run_hierarchical(int nodes, int gpus, uint64_t len, int halving) {
  for (int node = 0; node < nodes; node++) /* intra-node reduce-scatter */
    for (int g = 0; g < gpus; g++) {
      uint64_t lo, hi;
      nvrar_ring_chunk(g, gpus, len, &lo, &hi);
      for (int h = 0; h < gpus; h++)
        if (h != g)
          for (uint64_t i = lo; i < hi; i++) data[node * gpus + g][i] += data[node * gpus + h][i];
    }
  for (int g = 0; g < gpus; g++) { /* between nodes, per local rank, on its shard */
    int ranks[MAXR];
    for (int node = 0; node < nodes; node++) ranks[node] = node * gpus + g;
    uint64_t lo, hi;
    nvrar_ring_chunk(g, gpus, len, &lo, &hi);
    run_between_nodes(ranks, nodes, lo, hi, halving);
  }
  for (int node = 0; node < nodes; node++) /* intra-node all-gather */
    for (int g = 0; g < gpus; g++) {
      uint64_t lo, hi;
      nvrar_ring_chunk(g, gpus, len, &lo, &hi);
      for (int h = 0; h < gpus; h++)
        if (h != g) memcpy(&data[node * gpus + h][lo], &data[node * gpus + g][lo], (hi - lo) * sizeof(int64_t));
    }
}

int main(void) {
  const uint64_t lens[] = {1, 7, 64, 1031};
  unsigned seed = 1;
  for (int nodes = 1; nodes <= 16; nodes++) {
    for (int gpus = 1; gpus <= 8; gpus++) {
      int world = nodes * gpus, order[MAXR], ok = 1;
      for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        uint64_t len = lens[li];
        for (int k = 0; k < gpus; k++) {
          for (int p = 0; p < world; p++) order[p] = nvrar_multiring_rank(nodes, gpus, k, p);
          fill(world, len, seed++);
          run_chunked_ring(order, world, len);
          ok &= all_equal_expect(world, len);
        }
        fill(world, len, seed++);
        run_simple_ring(order, world, len);
        ok &= all_equal_expect(world, len);
        for (int halving = 0; halving < 2; halving++) {
          fill(world, len, seed++);
          run_hierarchical(nodes, gpus, len, halving);
          ok &= all_equal_expect(world, len);
        }
      }
      if (!ok) fprintf(stderr, "executor: a schedule fails for %d nodes x %d gpus\n", nodes, gpus);
      CHECK(ok);
    }
  }
  return unit_finish("test_executor");
}
