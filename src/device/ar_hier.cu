/*
 * Hierarchical recursive all-reduce (NVRAR), in ONE kernel per call (the original launches six: a
 * reduce-scatter, the inter-node steps and an all-gather as separate kernels, with host-side
 * staging between them). Everything is ordered by signals inside the kernel, so no launch boundary
 * is needed; one launch is one graph node and one launch latency. Rules shared with the other
 * put-with-signal algorithms (signals, rounds, staging): putsig.cuh.
 *
 * Layout nodes x G (rank = node * G + l). Each round block b takes G shards of `chunk` packs; shard
 * q belongs to local rank q. Per round:
 *   RS   (stage 0): every rank stores shard q of its input into slot RS[l] of local rank q over
 *        NVLink (direct stores, then a release of the signal: putsig.cuh send()), waits for its G-1 local peers, and folds shard l over
 *        local ranks 0..G-1 in order in fp32 into A[0].
 *   PRE  (stage 1): with a node count that is not a power of two, each node that sits out
 *        (algo/recursive.h) puts A[0] to the same local rank of the next node, which folds it in.
 *   Recursive doubling (hier-rd), steps t < L = log2(p): put A[t] to the partner's R[t] (the rank
 *        with the same l on node partner(node, t)), wait for the partner's, A[t+1] = A[t] op R[t]
 *        (sum, max and min are commutative in IEEE arithmetic, so both partners get the same bits).
 *   Halving-doubling (hier-rhd): halving step t sends the partner's half of the current range and
 *        folds the kept half into A[t+1]; after L steps the rank owns block v of p; doubling then
 *        retraces the steps, each rank putting the range it holds straight into the partner's FIN.
 *        Moves 2 (p-1)/p of the shard between nodes instead of L whole shards.
 *   POST (stage 2 + 2L): the partner of a node that sat out puts the result into its FIN.
 *   AG   (stage 3 + 2L): every rank stores its reduced shard into slot AG[l] of each local peer
 *        (NVLink stores) and copies every AG[q] to its output.
 * Protocols between nodes: hier-rd takes flag-in-data cells (putsig.cuh ll_send / ll_recv: the put
 * carries its own validity, no signal, no fence) for messages up to NVRAR_HIER_LL_BYTES (the
 * planner sets a.ll_packs) whose shard per block fits a cell area, for PRE, the doubling steps and
 * POST: the latency-bound sizes hier-rd is picked for. Larger messages, and every step of hier-rhd,
 * use put-with-signal, which moves half the bytes of cells.
 * Between nodes data moves only by NVSHMEM puts (nvshmemx_putmem[_signal]_nbi_block) from slots (symmetric memory),
 * so it rides InfiniBand (IBGDA or proxy) on a cluster and is exercised for real between virtual
 * nodes on one machine. Inside a node, RS and AG are direct NVLink stores through nvshmem_ptr.
 *
 * Slots per (block, parity): RS[G], PRE, A[L+1], R[L], FIN, AG[G] = 2G + 2L + 3 shards, in the
 * region less its cell areas (2L + 4 of 2 * a.ll_packs packs at the end: receive, send).
 * Constraints: world <= NVRAR_MAX_WORLD, G <= NVRAR_MAX_RANKS, grid <= NVRAR_MAX_RING_BLOCKS.
 * Test: tests/mp/test_allreduce with NVRAR_ALGO=hier-rd / hier-rhd, with and without
 * NVRAR_GPUS_PER_NODE (2x2, 4x1 on 4 GPUs; 1x4 runs only the intra-node steps).
 */
#include "../algo/recursive.h"
#include "putsig.cuh"

namespace nvrar {

struct HierSlots {
  int rs, pre, a, r, fin, ag, count;
  __device__ HierSlots(int G, int L)
      : rs(0), pre(G), a(G + 1), r(G + 2 + L), fin(G + 2 + 2 * L), ag(G + 3 + 2 * L), count(2 * G + 3 + 2 * L) {}
};

/* Threads q < G (q != l) wait for local rank q's signal; block-collective. */
__device__ __forceinline__ bool wait_local(const nvrar_kernel_args_t &a, int node, int l, uint64_t value) {
  bool ok = true;
  const int q = threadIdx.x;
  if (q < a.gpus && q != l) ok = wait_signal(a, signal_word(a, a.signals, node * a.gpus + q), value);
  return __syncthreads_and(ok);
}

/* out[k] = x[k] op y[k] over slots. */
template <typename T, int OP>
__device__ __forceinline__ void fold_slots(uint4 *out, const uint4 *x, const uint4 *y, uint64_t n) {
  for (uint64_t k = threadIdx.x; k < n; k += blockDim.x) {
    Pack<T> s;
    fold<T, OP>(s, load_cg(x + k), true);
    fold<T, OP>(s, load_cg(y + k), false);
    out[k] = repack<T>(s);
  }
}

template <typename T, int OP, bool HALVING>
__global__ void __launch_bounds__(NVRAR_MAX_THREADS) hier_kernel(nvrar_kernel_args_t a) {
  const int G = a.gpus, nodes = a.nodes;
  const int node = a.rank / G, l = a.rank % G;
  const int p = nvrar_rd_pow2(nodes), L = nvrar_rd_log2(p);
  const int vid = nvrar_rd_vid(node, nodes);
  const bool odd_count = p != nodes;
  const HierSlots S(G, L);
  const Rounds g = make_rounds(a, S.count, G);
  /* hier-rd's flag-in-data cells (a.cells_packs at the region's end, sized by the host for this
   * layout): areas 0 = PRE, 1 + t = R[t], 1 + L = FIN, and 2 + L + i the sender's cells for area i */
  const bool ll = !HALVING && a.ll_packs && g.chunk <= a.ll_packs && (uint64_t)(2 * L + 4) * 2 * a.ll_packs <= a.cells_packs;
  const int LL_PRE = 0, LL_R = 1, LL_FIN = 1 + L, LL_ENC = 2 + L;
  uint64_t *mine = signal_word(a, a.signals, a.rank);
  uint64_t round = a.sync->round[blockIdx.x];
  bool ok = block_alive(a);

  for (uint64_t j = 0; j < g.count && ok; j++) {
    round++;
    uint64_t lo, hi, qlo, qhi;
    unit_range(a, g, j, l, &lo, &hi);
    const uint64_t len = hi - lo; /* this rank's shard; the same range on every node */

    /* RS: shard q of my input into local rank q's RS[l] (NVLink stores, send()), then a signal */
    for (int i = 1; i < G; i++) {
      const int q = (l + i) % G;
      unit_range(a, g, j, q, &qlo, &qhi);
      send(a, node * G + q, slot(a, g, round, S.rs + l), nullptr, qhi - qlo, mine, stage_value(round, 0),
           [&](uint64_t k) { return load_pack<T>(a.send, qlo + k, a.count, a.aligned); });
    }
    if (!(ok = wait_local(a, node, l, stage_value(round, 0)))) break;
    uint4 *acc = slot(a, g, round, S.a);
    for (uint64_t k = threadIdx.x; k < len; k += blockDim.x) {
      Pack<T> s;
      for (int q = 0; q < G; q++)
        fold<T, OP>(s, q == l ? load_pack<T>(a.send, lo + k, a.count, a.aligned) : load_cg(slot(a, g, round, S.rs + q) + k),
                    q == 0);
      acc[k] = repack<T>(s);
    }

    /* PRE: a node that sits out hands its shard to the next node */
    if (odd_count && vid < 0) {
      if (ll)
        ll_send(ll_cells(a, round, LL_PRE), ll_cells(a, round, LL_ENC + LL_PRE), len,
                ll_flag(stage_value(round, 1)), (node + 1) * G + l, [&](uint64_t k) { return load_cg(acc + k); });
      else
        put_signal(slot(a, g, round, S.pre), acc, len, mine, stage_value(round, 1), (node + 1) * G + l);
    } else if (odd_count && node < 2 * (nodes - p)) {
      if (ll)
        ok = ll_recv(a, ll_cells(a, round, LL_PRE), len, ll_flag(stage_value(round, 1)),
                     [&](uint64_t k, uint4 v) { acc[k] = combine<T, OP>(load_cg(acc + k), v); });
      else if ((ok = block_wait(a, signal_word(a, a.signals, (node - 1) * G + l), stage_value(round, 1))))
        fold_into<T, OP>(acc, slot(a, g, round, S.pre), false, 0, len, a);
      if (!ok) break;
    }

    uint4 *result = slot(a, g, round, S.fin);
    if (vid >= 0 && !HALVING) {
      for (int t = 0; t < L && ok; t++) {
        const int pe = nvrar_rd_partner(node, t, nodes) * G + l;
        uint4 *at = slot(a, g, round, S.a + t), *rt = slot(a, g, round, S.r + t), *next = slot(a, g, round, S.a + t + 1);
        if (ll) {
          const uint32_t flag = ll_flag(stage_value(round, 2 + t));
          ll_send(ll_cells(a, round, LL_R + t), ll_cells(a, round, LL_ENC + LL_R + t), len, flag, pe,
                  [&](uint64_t k) { return load_cg(at + k); });
          ok = ll_recv(a, ll_cells(a, round, LL_R + t), len, flag,
                       [&](uint64_t k, uint4 v) { next[k] = combine<T, OP>(load_cg(at + k), v); });
          continue;
        }
        put_signal(rt, at, len, mine, stage_value(round, 2 + t), pe);
        if (!(ok = block_wait(a, signal_word(a, a.signals, pe), stage_value(round, 2 + t)))) break;
        fold_slots<T, OP>(next, at, rt, len);
      }
      result = slot(a, g, round, S.a + L);
    } else if (vid >= 0) {
      uint64_t klo, khi, slo, shi;
      for (int t = 0; t < L && ok; t++) {
        const int pv = nvrar_rhd_partner(vid, p, t), pe = nvrar_rd_node(pv, nodes) * G + l;
        uint4 *at = slot(a, g, round, S.a + t), *rt = slot(a, g, round, S.r + t);
        nvrar_rhd_range(pv, p, t + 1, len, &slo, &shi);
        put_signal(rt + slo, at + slo, shi - slo, mine, stage_value(round, 2 + t), pe);
        if (!(ok = block_wait(a, signal_word(a, a.signals, pe), stage_value(round, 2 + t)))) break;
        nvrar_rhd_range(vid, p, t + 1, len, &klo, &khi);
        fold_slots<T, OP>(slot(a, g, round, S.a + t + 1) + klo, at + klo, rt + klo, khi - klo);
      }
      if (!ok) break;
      nvrar_rhd_range(vid, p, L, len, &klo, &khi);
      const uint4 *own = slot(a, g, round, S.a + L);
      __syncthreads();
      for (uint64_t k = klo + threadIdx.x; k < khi; k += blockDim.x) result[k] = load_cg(own + k);
      for (int u = L - 1; u >= 0 && ok; u--) {
        const int step = 2 + L + (L - 1 - u);
        const int pe = nvrar_rd_node(nvrar_rhd_partner(vid, p, u), nodes) * G + l;
        nvrar_rhd_range(vid, p, u + 1, len, &klo, &khi);
        put_signal(result + klo, result + klo, khi - klo, mine, stage_value(round, step), pe);
        ok = block_wait(a, signal_word(a, a.signals, pe), stage_value(round, step));
      }
    }
    if (!ok) break;

    /* POST: the node that sat out gets the result from the node it handed to */
    if (odd_count && vid < 0) {
      result = slot(a, g, round, S.fin);
      if (ll)
        ok = ll_recv(a, ll_cells(a, round, LL_FIN), len, ll_flag(stage_value(round, 2 + 2 * L)),
                     [&](uint64_t k, uint4 v) { result[k] = v; });
      else
        ok = block_wait(a, signal_word(a, a.signals, (node + 1) * G + l), stage_value(round, 2 + 2 * L));
      if (!ok) break;
    } else if (odd_count && node < 2 * (nodes - p)) {
      if (ll)
        ll_send(ll_cells(a, round, LL_FIN), ll_cells(a, round, LL_ENC + LL_FIN), len,
                ll_flag(stage_value(round, 2 + 2 * L)), (node - 1) * G + l, [&](uint64_t k) { return load_cg(result + k); });
      else
        put_signal(slot(a, g, round, S.fin), result, len, mine, stage_value(round, 2 + 2 * L), (node - 1) * G + l);
    }

    /* AG: my reduced shard to every local peer's AG[l]; every peer's shard to my output */
    __syncthreads();
    for (int i = 1; i < G; i++) {
      const int q = (l + i) % G;
      send(a, node * G + q, slot(a, g, round, S.ag + l), nullptr, len, mine, stage_value(round, 3 + 2 * L),
           [&](uint64_t k) { return load_cg(result + k); });
    }
    copy_out<T>(a.recv, result, lo, len, a);
    if (!(ok = wait_local(a, node, l, stage_value(round, 3 + 2 * L)))) break;
    for (int q = 0; q < G; q++) {
      if (q == l) continue;
      unit_range(a, g, j, q, &qlo, &qhi);
      copy_out<T>(a.recv, slot(a, g, round, S.ag + q), qlo, qhi - qlo, a);
    }
    __syncthreads();
  }
  poison_if_failed<T>(a, ok);
  if (threadIdx.x == 0) {
    nvshmem_quiet();
    a.sync->round[blockIdx.x] = round;
  }
}

static int launch_hier(const nvrar_kernel_args_t *args, bool halving, int dtype, int op, int blocks, int threads,
                       void *stream) {
  if (!ring_family_shape_ok(args, blocks) || args->gpus < 1 || args->gpus > NVRAR_MAX_RANKS || args->gpus > threads)
    return (int)cudaErrorInvalidValue;
  cudaStream_t s = (cudaStream_t)stream;
  NVRAR_SWITCH_DTYPE(dtype, T,
    NVRAR_SWITCH_OP(op, OP,
      if (halving) hier_kernel<T, OP, true><<<blocks, threads, 0, s>>>(*args);
      else hier_kernel<T, OP, false><<<blocks, threads, 0, s>>>(*args);
      return (int)cudaGetLastError()));
  return (int)cudaErrorInvalidValue;
}

}  // namespace nvrar

extern "C" int nvrar_launch_hier_rd(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads,
                                    void *stream) {
  return nvrar::launch_hier(args, false, dtype, op, blocks, threads, stream);
}

extern "C" int nvrar_launch_hier_rhd(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads,
                                     void *stream) {
  return nvrar::launch_hier(args, true, dtype, op, blocks, threads, stream);
}
