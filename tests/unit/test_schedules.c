/*
 * Schedules (algo/ring.h, algo/recursive.h) proven for every world size up to 64 and every layout
 * up to 16 nodes x 8 GPUs: each ring visits every rank once; every inter-node hop of an alternating
 * ring stays on one NIC index (the one stated exception aside) and each node is visited in one
 * stretch; the chunked ring's sends and receives agree and end with every chunk whole everywhere;
 * recursive-doubling partners are symmetric and cover all nodes, for node counts that are not powers
 * of two too; halving ranges split exactly; ring chunks tile the message.
 */
#include <stdint.h>
#include <string.h>

#include "algo/recursive.h"
#include "algo/ring.h"
#include "unit.h"

static void check_chunked_ring(int n) {
  /* who[p][c]: bitmask of positions whose chunk c is summed into position p's copy */
  static uint64_t who[64][64];
  uint64_t full = n == 64 ? ~0ull : (1ull << n) - 1;
  for (int p = 0; p < n; p++)
    for (int c = 0; c < n; c++) who[p][c] = 1ull << p;
  int ok = 1;
  for (int s = 0; s < n - 1; s++) {
    uint64_t sent[64];
    for (int p = 0; p < n; p++) sent[p] = who[p][nvrar_ring_rs_send(p, s, n)];
    for (int p = 0; p < n; p++) {
      int from = nvrar_mod(p - 1, n);
      ok &= nvrar_ring_rs_recv(p, s, n) == nvrar_ring_rs_send(from, s, n);
      who[p][nvrar_ring_rs_recv(p, s, n)] |= sent[from];
    }
  }
  for (int p = 0; p < n; p++) ok &= who[p][nvrar_ring_owned(p, n)] == full;
  for (int s = 0; s < n - 1; s++) {
    uint64_t sent[64];
    for (int p = 0; p < n; p++) sent[p] = who[p][nvrar_ring_ag_send(p, s, n)];
    for (int p = 0; p < n; p++) {
      int from = nvrar_mod(p - 1, n);
      ok &= nvrar_ring_ag_recv(p, s, n) == nvrar_ring_ag_send(from, s, n);
      ok &= sent[from] == full; /* all-gather only ever forwards finished chunks */
      who[p][nvrar_ring_ag_recv(p, s, n)] = sent[from];
    }
  }
  for (int p = 0; p < n; p++)
    for (int c = 0; c < n; c++) ok &= who[p][c] == full;
  /* ar_ring.cu runs all 2n-2 steps as one loop sending chunk rs_send(p, st) = (p - st) mod n and
   * outputs rs_send(p, 2n-2) last: the same chunks as the two phases above */
  for (int p = 0; p < n; p++) {
    ok &= nvrar_ring_rs_send(p, n - 1, n) == nvrar_ring_owned(p, n);
    for (int s = 0; s < n - 1; s++) ok &= nvrar_ring_rs_send(p, n - 1 + s, n) == nvrar_ring_ag_send(p, s, n);
    ok &= nvrar_ring_rs_send(p, 2 * n - 2, n) == nvrar_ring_ag_recv(p, n - 2, n);
  }
  if (!ok) fprintf(stderr, "chunked ring fails for n = %d\n", n);
  CHECK(ok);
}

static void check_multiring(int nodes, int gpus) {
  int world = nodes * gpus, ok = 1;
  for (int k = 0; k < gpus; k++) {
    unsigned char seen[128] = {0};
    int order[128], hops_out = 0;
    for (int pos = 0; pos < world; pos++) {
      order[pos] = nvrar_multiring_rank(nodes, gpus, k, pos);
      ok &= order[pos] >= 0 && order[pos] < world;
      if (order[pos] >= 0 && order[pos] < world) seen[order[pos]]++;
    }
    for (int r = 0; r < world; r++) ok &= seen[r] == 1;
    for (int pos = 0; pos < world; pos++) {
      int a = order[pos], b = order[(pos + 1) % world];
      if (a / gpus == b / gpus) continue;
      hops_out++;
      if (a % gpus != b % gpus) {
        /* the one allowed rail change: 2 GPUs per node, odd node count, the hop that closes the ring */
        int from = a / gpus;
        ok &= gpus == 2 && nodes % 2 == 1 && nvrar_multiring_cross_rail(k % 2 ? b / gpus : from, nodes, gpus, k);
      }
    }
    ok &= hops_out == (nodes > 1 ? nodes : 0); /* each node visited in one stretch */
  }
  for (int node = 0; node < nodes; node++)
    for (int k = 0; k < gpus; k++)
      ok &= nvrar_multiring_cross_rail(node, nodes, gpus, k) == 0 || (gpus == 2 && nodes % 2 == 1 && node == nodes - 1);
  if (!ok) fprintf(stderr, "alternating rings fail for %d nodes x %d gpus\n", nodes, gpus);
  CHECK(ok);
}

static void check_recursive_doubling(int nodes) {
  int p = nvrar_rd_pow2(nodes), steps = nvrar_rd_log2(p), ok = p <= nodes && 2 * p > nodes;
  uint64_t have[64], full = nodes == 64 ? ~0ull : (1ull << nodes) - 1;
  int active = 0;
  for (int n = 0; n < nodes; n++) {
    have[n] = 1ull << n;
    int v = nvrar_rd_vid(n, nodes);
    ok &= (v < 0) == nvrar_rd_sits_out(n, nodes);
    if (v >= 0) ok &= v < p && nvrar_rd_node(v, nodes) == n, active++;
  }
  ok &= active == p;
  for (int n = 0; n < nodes; n++) { /* pre-step, as the kernel takes it: the taker folds in its sitter's shard */
    ok &= !(nvrar_rd_sits_out(n, nodes) && nvrar_rd_takes_over(n, nodes));
    ok &= nvrar_rd_sits_out(n, nodes) == (n + 1 < nodes && nvrar_rd_takes_over(n + 1, nodes));
    if (nvrar_rd_takes_over(n, nodes)) have[n] |= have[n - 1];
  }
  for (int s = 0; s < steps; s++) {
    uint64_t next[64];
    memcpy(next, have, sizeof next);
    for (int n = 0; n < nodes; n++) {
      int q = nvrar_rd_partner(n, s, nodes);
      if (q < 0) continue;
      ok &= q != n && q < nodes && nvrar_rd_partner(q, s, nodes) == n;
      next[n] |= have[q];
    }
    memcpy(have, next, sizeof next);
  }
  for (int n = 0; n < nodes; n++) /* post-step: the taker hands the result back */
    if (nvrar_rd_takes_over(n, nodes)) have[n - 1] = have[n];
  for (int n = 0; n < nodes; n++) ok &= have[n] == full;
  if (!ok) fprintf(stderr, "recursive doubling fails for %d nodes\n", nodes);
  CHECK(ok);
}

static void check_halving(int p, uint64_t len) {
  int ok = 1, bits = nvrar_rd_log2(p);
  for (int v = 0; v < p; v++) {
    for (int s = 0; s < bits; s++) {
      uint64_t lo, hi, plo, phi, nlo, nhi, qlo, qhi;
      int q = nvrar_rhd_partner(v, p, s);
      ok &= nvrar_rhd_partner(q, p, s) == v;
      nvrar_rhd_range(v, p, s, len, &lo, &hi);
      nvrar_rhd_range(q, p, s, len, &plo, &phi);
      ok &= lo == plo && hi == phi; /* partners hold the same range before the step */
      nvrar_rhd_range(v, p, s + 1, len, &nlo, &nhi);
      nvrar_rhd_range(q, p, s + 1, len, &qlo, &qhi);
      /* ... and split it exactly in two */
      ok &= (nlo == lo && nhi == qlo && qhi == hi) || (qlo == lo && qhi == nlo && nhi == hi);
    }
    uint64_t lo, hi, blo, bhi;
    nvrar_rhd_range(v, p, bits, len, &lo, &hi);
    nvrar_ring_chunk(v, p, len, &blo, &bhi);
    ok &= lo == blo && hi == bhi; /* finally v owns block v */
  }
  if (!ok) fprintf(stderr, "halving fails for p = %d, len = %llu\n", p, (unsigned long long)len);
  CHECK(ok);
}

static void check_ring_chunks(int n, uint64_t len) {
  uint64_t next = 0;
  int ok = 1;
  for (int c = 0; c < n; c++) {
    uint64_t lo, hi;
    nvrar_ring_chunk(c, n, len, &lo, &hi);
    ok &= lo == next && hi >= lo && hi <= len;
    next = hi;
  }
  ok &= next == len;
  CHECK(ok);
}

int main(void) {
  for (int n = 1; n <= 64; n++) check_chunked_ring(n);
  for (int nodes = 1; nodes <= 16; nodes++)
    for (int gpus = 1; gpus <= 8; gpus++) check_multiring(nodes, gpus);
  for (int nodes = 1; nodes <= 64; nodes++) check_recursive_doubling(nodes);
  const uint64_t lens[] = {0, 1, 2, 3, 7, 8, 63, 64, 65, 1000, 4097};
  for (int p = 1; p <= 64; p *= 2)
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) check_halving(p, lens[i]);
  for (int n = 1; n <= 64; n++)
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) check_ring_chunks(n, lens[i]);
  return unit_finish("test_schedules");
}
