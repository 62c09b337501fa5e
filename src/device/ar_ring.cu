/*
 * Ring all-reduces over NVSHMEM put-with-signal (Penny's ring and simple ring). One kernel per call.
 * Rules shared with the other put-with-signal algorithms (signals, rounds, staging): putsig.cuh.
 *
 * Chunked ring: block b runs its own ring all-reduce on its part of each round, over ring
 * k = b % rings (algo/ring.h: the identity order on one node; alternating multi-rings across nodes,
 * every inter-node hop on one NIC index, odd rings reversed). Its part is n chunks; position p:
 *   reduce-scatter, step s = 0..n-2: send chunk rs_send(p, s) (own input at s = 0, else the partial
 *   sum received at s - 1 plus own input) into slot 1 + s of the next rank, signal stage s; wait
 *   for the previous rank's stage s;
 *   then p completes chunk (p + 1) mod n (received partial plus own input), writes it to its
 *   output and sends it as all-gather step 0 into slot n of the next rank;
 *   all-gather, step s = 1..n-2: forward the chunk received at s - 1 into slot n + s, writing it to
 *   the output on the way; finally copy the last received chunk to the output.
 * Each step is one pass over its chunk: a send to a rank of the same node stores the folded packs
 * straight into its slot (putsig.cuh send()); to another node they are folded into the local slot
 * and put with signal from there. Slots per (block, parity): 0 = own input chunk (staging for the
 * first put between nodes), 1..n-1 = reduce-scatter receives, n..2n-2 = all-gather receives.
 * Moves 2(n-1)/n * S per rank in 2(n-1) dependent hops; blocks and rounds pipeline. Partial sums
 * travel in the element type (as NCCL's).
 *
 * Simple ring: no chunking; position 0 sends its part to position 1, each position folds its own
 * input in and forwards, position n-1 holds the sum and sends it back around the ring (n-1 -> 0 ->
 * 1 -> .. -> n-2). 2(n-1) hops of the whole part: for latency-bound sizes between nodes.
 * Slots: 0 = own input, 1 = reduce receive, 2 = broadcast receive.
 *
 * Constraints: world <= NVRAR_MAX_WORLD, grid <= NVRAR_MAX_RING_BLOCKS, any layout.
 * Test: tests/mp/test_allreduce with NVRAR_ALGO=ring / simple-ring, also under NVRAR_GPUS_PER_NODE.
 */
#include "../algo/ring.h"
#include "putsig.cuh"

namespace nvrar {

template <typename T, int OP>
__global__ void __launch_bounds__(NVRAR_MAX_THREADS) ring_kernel(nvrar_kernel_args_t a) {
  const int n = a.nranks;
  const int k = blockIdx.x % a.rings;
  const int pos = a.ring_pos[k], next = a.ring_next[k];
  const Rounds g = make_rounds(a, 2 * n - 1, n);
  uint64_t *from_prev = signal_word(a.signals, a.ring_prev[k]);
  uint64_t *to_next = signal_word(a.signals, a.rank);
  uint64_t round = a.sync->round[blockIdx.x];
  bool ok = !comm_dead(a);

  for (uint64_t j = 0; j < g.count && ok; j++) {
    round++;
    uint64_t lo, hi;
    /* reduce-scatter: step s sends chunk rs_send(p, s): own input, or the partial received at s - 1 plus it */
    for (int s = 0; s < n - 1 && ok; s++) {
      unit_range(a, g, j, nvrar_ring_rs_send(pos, s, n), &lo, &hi);
      const uint4 *got = slot(a, g, round, s);
      send(a, next, slot(a, g, round, 1 + s), slot(a, g, round, s), hi - lo, to_next, stage_value(round, s),
           [&](uint64_t i) {
             uint4 mine = load_pack<T>(a.send, lo + i, a.count, a.aligned);
             return s == 0 ? mine : combine<T, OP>(load_cg(got + i), mine);
           });
      ok = block_wait(a, from_prev, stage_value(round, s));
    }
    if (!ok) break;
    /* the chunk this position completes: output, and the first all-gather send */
    unit_range(a, g, j, nvrar_ring_owned(pos, n), &lo, &hi);
    uint4 *done = slot(a, g, round, n - 1);
    auto to_output = [&](uint64_t i, uint4 v) { store_pack<T>(a.recv, lo + i, a.count, a.aligned, v); };
    send(a, next, slot(a, g, round, n), done, hi - lo, to_next, stage_value(round, n - 1),
         [&](uint64_t i) { return combine<T, OP>(load_cg(done + i), load_pack<T>(a.send, lo + i, a.count, a.aligned)); },
         to_output);
    if (!(ok = block_wait(a, from_prev, stage_value(round, n - 1)))) break;
    /* all-gather: forward what arrived at the step before, writing it to the output on the way */
    for (int s = 1; s < n - 1 && ok; s++) {
      unit_range(a, g, j, nvrar_ring_ag_send(pos, s, n), &lo, &hi);
      uint4 *got = slot(a, g, round, n + s - 1);
      send(a, next, slot(a, g, round, n + s), got, hi - lo, to_next, stage_value(round, n - 1 + s),
           [&](uint64_t i) { return load_cg(got + i); }, to_output);
      ok = block_wait(a, from_prev, stage_value(round, n - 1 + s));
    }
    if (!ok) break;
    unit_range(a, g, j, nvrar_ring_ag_recv(pos, n - 2, n), &lo, &hi);
    copy_out<T>(a.recv, slot(a, g, round, 2 * n - 2), lo, hi - lo, a);
  }
  if (threadIdx.x == 0) {
    nvshmem_quiet();
    a.sync->round[blockIdx.x] = round;
  }
}

template <typename T, int OP>
__global__ void __launch_bounds__(NVRAR_MAX_THREADS) simple_ring_kernel(nvrar_kernel_args_t a) {
  const int n = a.nranks;
  const int k = blockIdx.x % a.rings;
  const int pos = a.ring_pos[k], next = a.ring_next[k];
  const Rounds g = make_rounds(a, 3, 1);
  uint64_t *from_prev = signal_word(a.signals, a.ring_prev[k]);
  uint64_t *to_next = signal_word(a.signals, a.rank);
  uint64_t round = a.sync->round[blockIdx.x];
  bool ok = !comm_dead(a);

  for (uint64_t j = 0; j < g.count && ok; j++) {
    round++;
    uint64_t lo, hi;
    unit_range(a, g, j, 0, &lo, &hi);
    const uint64_t len = hi - lo;
    uint4 *reduced = slot(a, g, round, 1), *bcast = slot(a, g, round, 2);
    auto mine = [&](uint64_t i) { return load_pack<T>(a.send, lo + i, a.count, a.aligned); };
    auto to_output = [&](uint64_t i, uint4 v) { store_pack<T>(a.recv, lo + i, a.count, a.aligned, v); };
    /* reduce down the ring (stage 0); position n-1 completes the sum and starts the broadcast (stage 1) */
    if (pos == 0) {
      send(a, next, reduced, slot(a, g, round, 0), len, to_next, stage_value(round, 0), mine);
    } else {
      if (!(ok = block_wait(a, from_prev, stage_value(round, 0)))) break;
      if (pos < n - 1) {
        send(a, next, reduced, reduced, len, to_next, stage_value(round, 0),
             [&](uint64_t i) { return combine<T, OP>(load_cg(reduced + i), mine(i)); });
      } else {
        send(a, next, bcast, reduced, len, to_next, stage_value(round, 1),
             [&](uint64_t i) { return combine<T, OP>(load_cg(reduced + i), mine(i)); }, to_output);
      }
    }
    /* broadcast back around: n-1 -> 0 -> 1 -> .. -> n-2, each writing its output on the way */
    if (pos < n - 1) {
      if (!(ok = block_wait(a, from_prev, stage_value(round, 1)))) break;
      if (pos < n - 2) {
        send(a, next, bcast, bcast, len, to_next, stage_value(round, 1), [&](uint64_t i) { return load_cg(bcast + i); },
             to_output);
      } else {
        copy_out<T>(a.recv, bcast, lo, len, a);
      }
    }
    __syncthreads(); /* this round's slots are read before the next round's sends */
  }
  if (threadIdx.x == 0) {
    nvshmem_quiet();
    a.sync->round[blockIdx.x] = round;
  }
}

template <typename T, int OP>
static int launch_ring(const nvrar_kernel_args_t *args, bool simple, int blocks, int threads, cudaStream_t stream) {
  if (simple)
    simple_ring_kernel<T, OP><<<blocks, threads, 0, stream>>>(*args);
  else
    ring_kernel<T, OP><<<blocks, threads, 0, stream>>>(*args);
  return (int)cudaGetLastError();
}

}  // namespace nvrar

extern "C" int nvrar_launch_ring_family(const nvrar_kernel_args_t *args, int algo, int dtype, int op, int blocks,
                                        int threads, void *stream) {
  using namespace nvrar;
  if (blocks < 1 || blocks > NVRAR_MAX_RING_BLOCKS || args->rings < 1 || args->rings > NVRAR_MAX_RINGS)
    return (int)cudaErrorInvalidValue;
  cudaStream_t s = (cudaStream_t)stream;
  if (algo == NVRAR_ALGO_HIER_RD || algo == NVRAR_ALGO_HIER_RHD)
    return launch_hier(args, algo == NVRAR_ALGO_HIER_RHD, dtype, op, blocks, threads, s);
  if (algo != NVRAR_ALGO_RING && algo != NVRAR_ALGO_SIMPLE_RING) return (int)cudaErrorInvalidValue;
  NVRAR_SWITCH_DTYPE(dtype, T,
    NVRAR_SWITCH_OP(op, OP,
      return launch_ring<T, OP>(args, algo == NVRAR_ALGO_SIMPLE_RING, blocks, threads, s)));
  return (int)cudaErrorInvalidValue;
}
