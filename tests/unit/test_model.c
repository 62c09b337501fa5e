/*
 * The cost model (src/model.c) on its own: its predictions against alpha-beta values worked out by
 * hand from the constants it states (NVLink hop 3 us and 225 GB/s; InfiniBand NDR 48 GB/s, 8 us
 * through the proxy, 3 us with IBGDA; 64 MiB of ring staging over 128 blocks), including a message
 * that needs several staging rounds, and what does not apply.
 */
#include <math.h>

#include "internal.h"
#include "unit.h"

static int near(double got, double want) {
  int ok = fabs(got - want) <= 1e-6 * fmax(1, fabs(want));
  if (!ok) fprintf(stderr, "  model gave %.6f us, by hand %.6f\n", got, want);
  return ok;
}

int main(void) {
  const double MiB = 1048576;
  /* ring, 2 nodes x 4 GPUs over IB NDR, 1 MiB: one round (128 blocks x 8 units x 17472 B per round);
   * 2(N-1)/N = 1.75 hops of latency 2 x 8 us + 6 x 3 us, bytes at the NIC's S / (4 x 48 GB/s) */
  CHECK(near(nvrar_model_us(NVRAR_ALGO_RING, 2, 4, MiB, NVRAR_NET_IB_NDR), 1.75 * 34 + 1.75 * MiB / 192000.0));
  /* the same on 2 x 4 virtual nodes over NVLink, 64 MiB: 4 rounds of the latency chain */
  CHECK(near(nvrar_model_us(NVRAR_ALGO_RING, 2, 4, 64 * MiB, NVRAR_NET_NVLINK), 4 * 1.75 * 24 + 1.75 * 64 * MiB / 225000.0));
  /* simple ring, 2 x 1 over NVLink, 1 MiB: 1 hop each way of 3 us, the whole message twice at 225 GB/s */
  CHECK(near(nvrar_model_us(NVRAR_ALGO_SIMPLE_RING, 2, 1, MiB, NVRAR_NET_NVLINK), 6 + 2 * MiB / 225000.0));
  /* hier-rd, 4 x 1 over NVLink, 4 KiB: no intra-node steps, log2(4) = 2 exchanges of the whole shard */
  CHECK(near(nvrar_model_us(NVRAR_ALGO_HIER_RD, 4, 1, 4096, NVRAR_NET_NVLINK), 2 * 3 + 2 * 4096 / 225000.0));
  /* hier-rhd, 3 x 2 over IBGDA, 64 KiB: p = 2 (L = 1) and one node over (2 more hops); intra RS + AG
   * 2 x (3 us + S/2 at 225 GB/s); between nodes 2L + 2 = 4 latencies of 3 us and (2(p-1)/p + 2) S/G bytes */
  CHECK(near(nvrar_model_us(NVRAR_ALGO_HIER_RHD, 3, 2, 65536, NVRAR_NET_IB_NDR_IBGDA),
             2 * (3 + 0.5 * 65536 / 225000.0) + 4 * 3 + 3 * 32768 / 48000.0));
  /* NCCL's ring, 2 x 4 over IB NDR, 1 MiB: 6 us base and 1 us more per hop than nvrar's ring */
  CHECK(near(nvrar_model_us(NVRAR_MODEL_NCCL_RING, 2, 4, MiB, NVRAR_NET_IB_NDR),
             6 + 1.75 * (2 * 9 + 6 * 4) + 1.75 * MiB / 192000.0));

  /* what the model does not cover */
  CHECK(nvrar_model_us(NVRAR_ALGO_ONESHOT, 2, 4, 4096, NVRAR_NET_IB_NDR) < 0);
  CHECK(nvrar_model_us(NVRAR_ALGO_TWOSHOT, 2, 4, 4096, NVRAR_NET_IB_NDR) < 0);
  CHECK(nvrar_model_us(NVRAR_ALGO_RING, 0, 4, 4096, NVRAR_NET_IB_NDR) < 0);
  CHECK(nvrar_model_us(NVRAR_ALGO_RING, 2, 4, 4096, (nvrar_network_t)NVRAR_NUM_NETS) < 0);

  /* picks that follow from the numbers above: latency decides small messages across many nodes
   * (hier-rd: 4 exchanges of 8 us against the ring's ~2 x 128 hops); at 1 GiB on 2 x 8 the ring pays
   * its latency chain again in each of 62 staging rounds (~6.7 ms on top of ~7.8 ms of bytes), while
   * hier-rd sends each shard across once (~12.3 ms) */
  CHECK(nvrar_model_pick(16, 8, 1024, NVRAR_NET_IB_NDR) == NVRAR_ALGO_HIER_RD);
  CHECK(nvrar_model_pick(2, 8, 1024.0 * MiB, NVRAR_NET_IB_NDR) == NVRAR_ALGO_HIER_RD);
  CHECK(nvrar_model_us(NVRAR_ALGO_RING, 2, 8, 1024.0 * MiB, NVRAR_NET_IB_NDR) > 14000 &&
        nvrar_model_us(NVRAR_ALGO_HIER_RD, 2, 8, 1024.0 * MiB, NVRAR_NET_IB_NDR) < 12500);
  return unit_finish("test_model");
}
