/*
 * Hierarchical recursive all-reduce (NVRAR), in ONE kernel per call (the original launches six: a
 * reduce-scatter, the inter-node steps and an all-gather as separate kernels, with host-side
 * staging between them). Everything is ordered by signals inside the kernel, so no launch boundary
 * is needed; one launch is one graph node and one launch latency. Rules shared with the other
 * put-with-signal algorithms (signals, rounds, staging): putsig.cuh.
 *
 * Layout nodes x G (rank = node * G + l; in the code gpus and local, L = log2 p is steps). Each round block b takes G shards of `chunk` packs; shard
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
  __device__ HierSlots(int gpus, int steps)
      : rs(0), pre(gpus), a(gpus + 1), r(gpus + 2 + steps), fin(gpus + 2 + 2 * steps), ag(gpus + 3 + 2 * steps),
        count(2 * gpus + 3 + 2 * steps) {}
};

/* Threads q < gpus (q != local) wait for local rank q's signal; block-collective. */
__device__ __forceinline__ bool wait_local(const nvrar_kernel_args_t &a, int node, int local, uint64_t value) {
  bool ok = true;
  const int q = threadIdx.x;
  if (q < a.gpus && q != local) ok = wait_signal(a, signal_word(a, a.signals, node * a.gpus + q), value);
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

/*
 * One call's layout and staging, what every phase reads: rank = node * gpus + local; pow2 nodes take
 * part in the doubling (steps = log2(pow2) of them); with an uneven node count the node that
 * sits_out hands its shard to the one that takes_over it (algo/recursive.h, tested on the CPU).
 */
struct Hier {
  int gpus, nodes, node, local, pow2, steps, vid;
  bool sits_out, takes_over;
  HierSlots slots;
  Rounds g;
  bool ll;         /* between nodes in flag-in-data cells (hier-rd, small messages) */
  uint64_t *mine;  /* this rank's signal word */
  __device__ Hier(const nvrar_kernel_args_t &a, bool halving)
      : gpus(a.gpus), nodes(a.nodes), node(a.rank / a.gpus), local(a.rank % a.gpus), pow2(nvrar_rd_pow2(a.nodes)),
        steps(nvrar_rd_log2(pow2)), vid(nvrar_rd_vid(node, nodes)), sits_out(nvrar_rd_sits_out(node, nodes)),
        takes_over(nvrar_rd_takes_over(node, nodes)), slots(gpus, steps), g(make_rounds(a, slots.count, gpus)),
        ll(!halving && a.ll_packs && g.chunk <= a.ll_packs && (uint64_t)(2 * steps + 4) * 2 * a.ll_packs <= a.cells_packs),
        mine(signal_word(a, a.signals, a.rank)) {}
  /* the cell areas (a.cells_packs at the region's end, sized by the host for this layout): PRE,
   * R[t], FIN, and from enc() on the sender's cells of each */
  __device__ int cells_pre() const { return 0; }
  __device__ int cells_r(int t) const { return 1 + t; }
  __device__ int cells_fin() const { return 1 + steps; }
  __device__ int enc(int area) const { return 2 + steps + area; }
  __device__ int peer(int other_node) const { return other_node * gpus + local; }
};

/* RS: shard q of this rank's input into local rank q's RS[local] (NVLink stores, send()), then
 * this rank's shard folded over local ranks 0..gpus-1 in order into acc. */
template <typename T, int OP>
__device__ __forceinline__ bool reduce_scatter(const nvrar_kernel_args_t &a, const Hier &h, uint64_t j, uint64_t round,
                                               uint64_t lo, uint64_t len, uint4 *acc) {
  uint64_t qlo, qhi;
  for (int i = 1; i < h.gpus; i++) {
    const int q = (h.local + i) % h.gpus;
    unit_range(a, h.g, j, q, &qlo, &qhi);
    send(a, h.node * h.gpus + q, slot(a, h.g, round, h.slots.rs + h.local), nullptr, qhi - qlo, h.mine,
         stage_value(round, 0), [&](uint64_t k) { return load_pack<T>(a.send, qlo + k, a.count, a.aligned); });
  }
  if (!wait_local(a, h.node, h.local, stage_value(round, 0))) return false;
  for (uint64_t k = threadIdx.x; k < len; k += blockDim.x) {
    Pack<T> s;
    for (int q = 0; q < h.gpus; q++)
      fold<T, OP>(s, q == h.local ? load_pack<T>(a.send, lo + k, a.count, a.aligned)
                                  : load_cg(slot(a, h.g, round, h.slots.rs + q) + k),
                  q == 0);
    acc[k] = repack<T>(s);
  }
  return true;
}

/* PRE: a node that sits out hands its shard to the next node, which folds it into its own. */
template <typename T, int OP>
__device__ __forceinline__ bool pre_step(const nvrar_kernel_args_t &a, const Hier &h, uint64_t round, uint64_t len,
                                         uint4 *acc) {
  const uint64_t value = stage_value(round, 1);
  if (h.sits_out) {
    if (h.ll)
      ll_send(ll_cells(a, round, h.cells_pre()), ll_cells(a, round, h.enc(h.cells_pre())), len, ll_flag(value),
              h.peer(h.node + 1), [&](uint64_t k) { return load_cg(acc + k); });
    else
      put_signal(slot(a, h.g, round, h.slots.pre), acc, len, h.mine, value, h.peer(h.node + 1));
    return true;
  }
  if (!h.takes_over) return true;
  if (h.ll)
    return ll_recv(a, ll_cells(a, round, h.cells_pre()), len, ll_flag(value),
                   [&](uint64_t k, uint4 v) { acc[k] = combine<T, OP>(load_cg(acc + k), v); });
  if (!block_wait(a, signal_word(a, a.signals, h.peer(h.node - 1)), value)) return false;
  fold_into<T, OP>(acc, slot(a, h.g, round, h.slots.pre), false, 0, len, a);
  return true;
}

/* hier-rd between nodes: step t puts A[t] to the partner's R[t] and folds A[t+1] = A[t] op R[t]
 * (both partners get the same bits: the ops are commutative in IEEE arithmetic); *result = A[steps]. */
template <typename T, int OP>
__device__ __forceinline__ bool doubling(const nvrar_kernel_args_t &a, const Hier &h, uint64_t round, uint64_t len,
                                         uint4 **result) {
  bool ok = true;
  for (int t = 0; t < h.steps && ok; t++) {
    const int pe = h.peer(nvrar_rd_partner(h.node, t, h.nodes));
    const uint64_t value = stage_value(round, 2 + t);
    uint4 *at = slot(a, h.g, round, h.slots.a + t), *rt = slot(a, h.g, round, h.slots.r + t);
    uint4 *next = slot(a, h.g, round, h.slots.a + t + 1);
    if (h.ll) {
      const uint32_t flag = ll_flag(value);
      ll_send(ll_cells(a, round, h.cells_r(t)), ll_cells(a, round, h.enc(h.cells_r(t))), len, flag, pe,
              [&](uint64_t k) { return load_cg(at + k); });
      ok = ll_recv(a, ll_cells(a, round, h.cells_r(t)), len, flag,
                   [&](uint64_t k, uint4 v) { next[k] = combine<T, OP>(load_cg(at + k), v); });
      continue;
    }
    put_signal(rt, at, len, h.mine, value, pe);
    if (!(ok = block_wait(a, signal_word(a, a.signals, pe), value))) break;
    fold_slots<T, OP>(next, at, rt, len);
  }
  *result = slot(a, h.g, round, h.slots.a + h.steps);
  return ok;
}

/* hier-rhd between nodes: halving step t sends the partner's half of the current range and folds
 * the kept half; then doubling retraces the steps, each rank putting the range it holds straight
 * into the partner's result (FIN). */
template <typename T, int OP>
__device__ __forceinline__ bool halving_doubling(const nvrar_kernel_args_t &a, const Hier &h, uint64_t round,
                                                 uint64_t len, uint4 *result) {
  uint64_t klo, khi, slo, shi;
  bool ok = true;
  for (int t = 0; t < h.steps && ok; t++) {
    const int pv = nvrar_rhd_partner(h.vid, h.pow2, t), pe = h.peer(nvrar_rd_node(pv, h.nodes));
    uint4 *at = slot(a, h.g, round, h.slots.a + t), *rt = slot(a, h.g, round, h.slots.r + t);
    nvrar_rhd_range(pv, h.pow2, t + 1, len, &slo, &shi);
    put_signal(rt + slo, at + slo, shi - slo, h.mine, stage_value(round, 2 + t), pe);
    if (!(ok = block_wait(a, signal_word(a, a.signals, pe), stage_value(round, 2 + t)))) break;
    nvrar_rhd_range(h.vid, h.pow2, t + 1, len, &klo, &khi);
    fold_slots<T, OP>(slot(a, h.g, round, h.slots.a + t + 1) + klo, at + klo, rt + klo, khi - klo);
  }
  if (!ok) return false;
  nvrar_rhd_range(h.vid, h.pow2, h.steps, len, &klo, &khi);
  const uint4 *own = slot(a, h.g, round, h.slots.a + h.steps);
  __syncthreads();
  for (uint64_t k = klo + threadIdx.x; k < khi; k += blockDim.x) result[k] = load_cg(own + k);
  for (int u = h.steps - 1; u >= 0 && ok; u--) {
    const int step = 2 + h.steps + (h.steps - 1 - u);
    const int pe = h.peer(nvrar_rd_node(nvrar_rhd_partner(h.vid, h.pow2, u), h.nodes));
    nvrar_rhd_range(h.vid, h.pow2, u + 1, len, &klo, &khi);
    put_signal(result + klo, result + klo, khi - klo, h.mine, stage_value(round, step), pe);
    ok = block_wait(a, signal_word(a, a.signals, pe), stage_value(round, step));
  }
  return ok;
}

/* POST: the node that sat out gets the result from the node that took over its shard. */
__device__ __forceinline__ bool post_step(const nvrar_kernel_args_t &a, const Hier &h, uint64_t round, uint64_t len,
                                          uint4 **result) {
  const uint64_t value = stage_value(round, 2 + 2 * h.steps);
  if (h.sits_out) {
    uint4 *fin = slot(a, h.g, round, h.slots.fin);
    *result = fin;
    if (h.ll)
      return ll_recv(a, ll_cells(a, round, h.cells_fin()), len, ll_flag(value), [&](uint64_t k, uint4 v) { fin[k] = v; });
    return block_wait(a, signal_word(a, a.signals, h.peer(h.node + 1)), value);
  }
  if (h.takes_over) {
    const uint4 *res = *result;
    if (h.ll)
      ll_send(ll_cells(a, round, h.cells_fin()), ll_cells(a, round, h.enc(h.cells_fin())), len, ll_flag(value),
              h.peer(h.node - 1), [&](uint64_t k) { return load_cg(res + k); });
    else
      put_signal(slot(a, h.g, round, h.slots.fin), res, len, h.mine, value, h.peer(h.node - 1));
  }
  return true;
}

/* AG: this rank's reduced shard to every local peer's AG[local]; every peer's shard to the output. */
template <typename T>
__device__ __forceinline__ bool all_gather(const nvrar_kernel_args_t &a, const Hier &h, uint64_t j, uint64_t round,
                                           uint64_t lo, uint64_t len, const uint4 *result) {
  const uint64_t value = stage_value(round, 3 + 2 * h.steps);
  uint64_t qlo, qhi;
  __syncthreads();
  for (int i = 1; i < h.gpus; i++) {
    const int q = (h.local + i) % h.gpus;
    send(a, h.node * h.gpus + q, slot(a, h.g, round, h.slots.ag + h.local), nullptr, len, h.mine, value,
         [&](uint64_t k) { return load_cg(result + k); });
  }
  copy_out<T>(a.recv, result, lo, len, a);
  if (!wait_local(a, h.node, h.local, value)) return false;
  for (int q = 0; q < h.gpus; q++) {
    if (q == h.local) continue;
    unit_range(a, h.g, j, q, &qlo, &qhi);
    copy_out<T>(a.recv, slot(a, h.g, round, h.slots.ag + q), qlo, qhi - qlo, a);
  }
  __syncthreads();
  return true;
}

template <typename T, int OP, bool HALVING>
__global__ void __launch_bounds__(NVRAR_MAX_THREADS) hier_kernel(nvrar_kernel_args_t a) {
  grid_dependency_sync(a.pdl);
  const Hier h(a, HALVING);
  uint64_t round = a.sync->round[blockIdx.x];
  bool ok = block_alive(a);
  for (uint64_t j = 0; j < h.g.count && ok; j++) {
    round++;
    uint64_t lo, hi;
    unit_range(a, h.g, j, h.local, &lo, &hi);
    const uint64_t len = hi - lo; /* this rank's shard; the same range on every node */
    uint4 *acc = slot(a, h.g, round, h.slots.a), *result = slot(a, h.g, round, h.slots.fin);
    if (!(ok = reduce_scatter<T, OP>(a, h, j, round, lo, len, acc))) break;
    if (!(ok = pre_step<T, OP>(a, h, round, len, acc))) break;
    if (h.vid >= 0)
      ok = HALVING ? halving_doubling<T, OP>(a, h, round, len, result) : doubling<T, OP>(a, h, round, len, &result);
    if (!ok || !(ok = post_step(a, h, round, len, &result))) break;
    if (!(ok = all_gather<T>(a, h, j, round, lo, len, result))) break;
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
      return halving ? launch(hier_kernel<T, OP, true>, blocks, threads, s, args->pdl, *args)
                     : launch(hier_kernel<T, OP, false>, blocks, threads, s, args->pdl, *args)));
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
