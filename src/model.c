/*
 * Alpha-beta cost model of the multi-node algorithms, and of NCCL's ring and tree for comparison.
 * Pure (no CUDA): the planner calls it when a communicator spans more than one node and nothing
 * forces an algorithm; `nvrar_perf --model` prints it; tests/unit/test_model.c checks it against values
 * worked out by hand.
 *
 * A hop is one put-with-signal of b bytes: alpha + b / bw. Per network (between nodes) and NVLink
 * (inside a node), with S the message, N = nodes * G ranks, p the largest power of two <= nodes,
 * L = log2(p), and odd = 1 when nodes != p:
 *   ring (alternating multi-rings, G rings, one per NIC): a chunk crosses 2(N-1) hops, nodes/N of
 *     them between nodes; every NIC carries one ring's hop, 2(N-1)/N * S/G bytes, and NVLink the
 *     other G-1 rings' hops (between virtual nodes all of it is NVLink: 2(N-1)/N * S / bw_nvl):
 *       R * 2(N-1)/N * (nodes*a_net + (N-nodes)*a_nvl) + 2(N-1)/N * S * max(1/(G bw_net), (G-1)/(G bw_nvl))
 *     with R the staging rounds (each pays the latency chain again; rounds() below);
 *   simple ring: 2(N-1) hops of the whole S/G per ring, no pipelining:
 *       2(N-1)/N * (nodes*(a_net + S/(G bw_net)) + (N-nodes)*(a_nvl + S/bw_nvl))
 *   hier-rd: intra RS and AG (a_nvl + (G-1)/G * S/bw_nvl each, none for G = 1), then L whole-shard
 *     exchanges (a_net + S/(G bw_net)), plus 2 more hops when odd;
 *   hier-rhd: the same but 2L latencies and 2(p-1)/p * S/G bytes between nodes;
 *   NCCL ring: its base latency + 2(N-1) hops with NCCL's per-hop overhead on top;
 *   NCCL tree: its base latency + 2 log2(nodes) network hops + 2(G-1) NVLink hops, at the ring's
 *     bandwidth (NCCL's tree reaches about the ring's bus bandwidth on large messages).
 * One-shot and two-shot do not run between nodes (< 0).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/*
 * NVLink hop, measured on 4x H200 on 2026-11-22 (bench/results/h200x4-algos-2026-11-22.md), CUDA
 * graph, bf16, 2x2 virtual layout: the latency of one signalled hop from the small sizes (1 KiB:
 * ring 22.6 us = ~4 us of launch and kernel plus 6 hops; hier-rd 12.5 us = ~4 + 3 hops: ~3 us a
 * hop), the bandwidth from the slope of ring and hier-rd between 16 and 64 MiB (1.5 S moved per
 * rank in ~7.0 us per MiB: ~225 GB/s; nvrar_exchange alone reaches 324 GB/s).
 */
#define NVRAR_MODEL_NVL_ALPHA_US 3.0
#define NVRAR_MODEL_NVL_BW_GBS 225.0

/*
 * Staging rounds: each algorithm moves at most blocks x units x slot packs per round, and every
 * round pays its latency chain again. Defaults of src/comm.c (64 MiB of ring-family staging over
 * 128 blocks x 2 parities: 256 KiB per block and round, cut into each algorithm's slots; across
 * nodes about 5% of it holds hier-rd's cells, which this ignores).
 */
#define MODEL_REGION_BYTES (256.0 * 1024)
#define MODEL_BLOCKS 128.0

static double rounds(double bytes, double units, double slots) {
  double per_round = MODEL_BLOCKS * units * floor(MODEL_REGION_BYTES / slots / 16) * 16;
  return fmax(1, ceil(bytes / per_round));
}

typedef struct net_params {
  const char *name;
  double alpha_us; /* one put-with-signal hop, small message */
  double bw_gbs;   /* per NIC, one direction, achievable */
} net_params_t;

/*
 * The NVLink row is the measured hop above (NVRAR_MODEL_NVL_*). The networks were not available
 * here; their numbers are stated with their sources:
 *  - InfiniBand NDR: 400 Gb/s = 50 GB/s line rate per ConnectX-7 port, about 48 achievable
 *    (NVIDIA ConnectX-7 datasheet; perftest ib_write_bw reports ~48-49 GB/s). Latency of a
 *    put-with-signal through NVSHMEM's CPU proxy: ~8 us (the proxy polls a host queue; NVSHMEM's
 *    IBGDA blog reports several-fold lower latency with IBGDA); with IBGDA ~3 us.
 *  - Slingshot-11: 200 Gb/s = 25 GB/s per NIC, ~23 achievable; NVSHMEM reaches it through the
 *    libfabric proxy: ~10 us per hop (NVRAR's paper, Perlmutter, reports put latencies of that order).
 */
static const net_params_t nets[NVRAR_NUM_NETS] = {
    {"nvlink-put", NVRAR_MODEL_NVL_ALPHA_US, NVRAR_MODEL_NVL_BW_GBS},
    {"ib-ndr-proxy", 8.0, 48.0},
    {"ib-ndr-ibgda", 3.0, 48.0},
    {"slingshot-11", 10.0, 23.0},
};

/* NCCL's own per-call latency and per-hop overhead on top of the wire (measured here: NCCL 2.28.9 at
 * 1 KiB on 4 H200 in a graph takes 9.0 us for 2 x 3 ring hops; its tuning model, src/graph/tuning.cc,
 * uses a base latency of several us plus a per-hop hardware latency). */
#define NCCL_BASE_US 6.0
#define NCCL_HOP_US 1.0

const char *nvrar_network_name(nvrar_network_t net) {
  return (unsigned)net < NVRAR_NUM_NETS ? nets[net].name : "unknown";
}

nvrar_network_t nvrar_network_from_env(nvrar_env_lookup_fn lookup) {
  const char *transport = lookup("NVSHMEM_REMOTE_TRANSPORT");
  if (transport && !strcasecmp(transport, "libfabric")) return NVRAR_NET_SLINGSHOT;
  const char *ibgda = lookup("NVSHMEM_IB_ENABLE_IBGDA");
  if (ibgda && (!strcmp(ibgda, "1") || !strcasecmp(ibgda, "true"))) return NVRAR_NET_IB_NDR_IBGDA;
  return NVRAR_NET_IB_NDR;
}

static double log2i(int x) { return log2((double)x); }

double nvrar_model_us(int row, int nodes, int gpus, double bytes, nvrar_network_t net) {
  if ((unsigned)net >= NVRAR_NUM_NETS || nodes < 1 || gpus < 1) return -1;
  const double an = nets[net].alpha_us, bn = 1e-3 / nets[net].bw_gbs; /* us per byte */
  const double av = nets[NVRAR_NET_NVLINK].alpha_us, bv = 1e-3 / nets[NVRAR_NET_NVLINK].bw_gbs;
  const double N = (double)nodes * gpus, G = gpus, S = bytes;
  const int p = 1 << (int)floor(log2i(nodes));
  const double L = log2i(p), odd = p != nodes;
  const double intra = gpus > 1 ? 2 * (av + (G - 1) / G * S * bv) : 0;
  const double ring_hops = 2 * (N - 1) / N;
  /* Between real nodes NICs and NVLink work in parallel; between virtual nodes both are NVLink. */
  const double ring_bw = net == NVRAR_NET_NVLINK ? ring_hops * S * bv : ring_hops * S * fmax(bn / G, (G - 1) / G * bv);
  const double hier_rounds = rounds(S, G, 2 * G + 2 * L + 3);
  const double intra_lat = gpus > 1 ? 2 * av : 0;
  switch (row) {
    case NVRAR_ALGO_RING:
      return rounds(S, N, 2 * N - 1) * ring_hops * (nodes * an + (N - nodes) * av) + ring_bw;
    case NVRAR_ALGO_SIMPLE_RING:
      return rounds(S, 1, 3) * ring_hops * (nodes * an + (N - nodes) * av) +
             ring_hops * (nodes * S / G * bn + (N - nodes) * S * bv);
    case NVRAR_ALGO_HIER_RD:
      return hier_rounds * (intra_lat + (L + 2 * odd) * an) + intra - intra_lat + (L + 2 * odd) * S / G * bn;
    case NVRAR_ALGO_HIER_RHD:
      return hier_rounds * (intra_lat + (2 * L + 2 * odd) * an) + intra - intra_lat +
             (2 * (p - 1) / (double)p + 2 * odd) * S / G * bn;
    case NVRAR_MODEL_NCCL_RING:
      return NCCL_BASE_US + ring_hops * (nodes * (an + NCCL_HOP_US) + (N - nodes) * (av + NCCL_HOP_US)) + ring_bw;
    case NVRAR_MODEL_NCCL_TREE:
      return NCCL_BASE_US + 2 * ceil(log2i(nodes)) * (an + NCCL_HOP_US) + 2 * (G - 1) * (av + NCCL_HOP_US) + ring_bw;
    default: return -1;
  }
}

/* Over the table's multinode rows; ties go to the ring: it pipelines over rounds, which the model
 * only counts. */
nvrar_algo_t nvrar_model_pick(int nodes, int gpus, double bytes, nvrar_network_t net) {
  nvrar_algo_t best = NVRAR_ALGO_RING;
  double best_us = nvrar_model_us(best, nodes, gpus, bytes, net);
  for (int a = 0; a < NVRAR_NUM_ALGOS; a++) {
    if (!nvrar_algo_multinode((nvrar_algo_t)a)) continue;
    double t = nvrar_model_us(a, nodes, gpus, bytes, net);
    if (t >= 0 && t < best_us) best = (nvrar_algo_t)a, best_us = t;
  }
  return best;
}

/* The printed rows: the multinode algorithms, then NCCL's two. */
static int is_printed_row(int row) {
  return row >= NVRAR_NUM_ALGOS ? row < NVRAR_MODEL_ROWS : nvrar_algo_multinode((nvrar_algo_t)row);
}

static const char *row_name(int row) {
  if (row == NVRAR_MODEL_NCCL_RING) return "nccl-ring";
  if (row == NVRAR_MODEL_NCCL_TREE) return "nccl-tree";
  return nvrar_algo_name((nvrar_algo_t)row);
}

static void print_row(FILE *f, int nodes, int gpus, double bytes, nvrar_network_t net) {
  fprintf(f, "%6d %4d %9.0f", nodes, gpus, bytes);
  for (int r = 0; r < NVRAR_MODEL_ROWS; r++)
    if (is_printed_row(r)) fprintf(f, " %11.1f", nvrar_model_us(r, nodes, gpus, bytes, net));
  fprintf(f, "  %-11s\n", nvrar_algo_name(nvrar_model_pick(nodes, gpus, bytes, net)));
}

static void print_head(FILE *f) {
  fprintf(f, "%6s %4s %9s", "nodes", "gpus", "bytes");
  for (int r = 0; r < NVRAR_MODEL_ROWS; r++)
    if (is_printed_row(r)) fprintf(f, " %11s", row_name(r));
  fprintf(f, "  %-11s\n", "pick");
}

void nvrar_model_print(void *file) {
  FILE *f = (FILE *)file;
  static const double sizes[] = {64 << 10, 1 << 20, 16 << 20, 256 << 20};
  static const int node_counts[] = {2, 3, 4, 8, 16, 32, 64};
  for (int net = NVRAR_NET_IB_NDR; net < NVRAR_NUM_NETS; net++) {
    fprintf(f, "\n# %s: alpha %.1f us, %.0f GB/s per NIC; NVLink put: alpha %.1f us, %.0f GB/s. Predicted us.\n",
            nets[net].name, nets[net].alpha_us, nets[net].bw_gbs, nets[NVRAR_NET_NVLINK].alpha_us,
            nets[NVRAR_NET_NVLINK].bw_gbs);
    print_head(f);
    for (int g = 4; g <= 8; g += 4)
      for (size_t i = 0; i < sizeof node_counts / sizeof *node_counts; i++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) print_row(f, node_counts[i], g, sizes[s], (nvrar_network_t)net);
  }
  /* What the planner predicts for the virtual layouts one machine can run (NVRAR_GPUS_PER_NODE),
   * where every hop is NVLink: the rows that measurements here can check. */
  static const int layouts[][2] = {{2, 2}, {4, 1}, {2, 4}, {4, 2}, {8, 1}};
  fprintf(f, "\n# %s: virtual nodes of one machine (NVRAR_GPUS_PER_NODE), alpha %.1f us, %.0f GB/s. Predicted us.\n",
          nets[NVRAR_NET_NVLINK].name, nets[NVRAR_NET_NVLINK].alpha_us, nets[NVRAR_NET_NVLINK].bw_gbs);
  print_head(f);
  for (size_t i = 0; i < sizeof layouts / sizeof *layouts; i++)
    for (double bytes = 1024; bytes <= 64 << 20; bytes *= 16) print_row(f, layouts[i][0], layouts[i][1], bytes, NVRAR_NET_NVLINK);
}
