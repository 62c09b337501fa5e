/*
 * Ring all-reduces over NVSHMEM put-with-signal (Penny's ring and simple ring). One kernel per call.
 * Rules shared with the other put-with-signal algorithms (signals, rounds, staging): putsig.cuh.
 *
 * Chunked ring: block b runs its own ring all-reduce on its part of each round, over ring
 * k = b % rings (algo/ring.h: the identity order on one node; alternating multi-rings across nodes,
 * every inter-node hop on one NIC index, odd rings reversed). Its part is n chunks; at position p,
 * step st = 0..2n-3 sends chunk (p - st) mod n into slot st + 1 of the next rank:
 *   st = 0: its own input; 0 < st < n-1 (reduce-scatter): the partial sum received in slot st plus
 *   its own input; st = n-1: the same, which completes the chunk: also written to the output;
 *   st > n-1 (all-gather): forwards the completed chunk received in slot st, writing it to the
 *   output on the way; finally the chunk (p + 2) mod n arrives in slot 2n-2: output only.
 * Every step waits for the previous rank's step st - 1 (signal value st).
 * Each step is one pass over its chunk: a send to a rank of the same node stores the folded packs
 * straight into its slot (putsig.cuh send()); to another node they are folded into the local slot
 * and put with signal from there. Slots per (block, parity): 0 = own input chunk (staging for the
 * first put between nodes), 1..2n-2 = what arrives at each step.
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

static_assert(2 * NVRAR_MAX_WORLD - 2 <= NVRAR_STAGE_SPAN, "ring steps overflow a round's signal values");

/* This rank's place in ring blockIdx.x % rings: position, next rank, and the two signal words. */
struct RingSide {
  int n, pos, next;
  uint64_t *from_prev, *to_next;
  __device__ explicit RingSide(const nvrar_kernel_args_t &a) {
    const int k = blockIdx.x % a.rings;
    n = a.nranks;
    pos = a.ring_pos[k];
    next = a.ring_next[k];
    from_prev = signal_word(a, a.signals, a.ring_prev[k]);
    to_next = signal_word(a, a.signals, a.rank);
  }
};

/* Step st of the chunked ring: the chunk (pos - st) mod n, read from slot st (own input at st = 0),
 * sent into slot st + 1 of the next rank; from st = n - 1 on also written to the output. */
template <typename T, int OP>
__device__ __forceinline__ void ring_send(const nvrar_kernel_args_t &a, const RingSide &r, const Rounds &g,
                                          uint64_t j, uint64_t round, int st) {
  uint64_t lo, hi;
  unit_range(a, g, j, nvrar_ring_rs_send(r.pos, st, r.n), &lo, &hi);
  uint4 *got = slot(a, g, round, st), *dst = slot(a, g, round, st + 1);
  const uint64_t len = hi - lo, value = stage_value(round, st);
  auto mine = [&](uint64_t i) { return load_pack<T>(a.send, lo + i, a.count, a.aligned); };
  auto fold_mine = [&](uint64_t i) { return combine<T, OP>(load_cg(got + i), mine(i)); };
  auto to_output = [&](uint64_t i, uint4 v) { store_pack<T>(a.recv, lo + i, a.count, a.aligned, v); };
  if (st == 0)
    send(a, r.next, dst, got, len, r.to_next, value, mine);
  else if (st < r.n - 1)
    send(a, r.next, dst, got, len, r.to_next, value, fold_mine);
  else if (st == r.n - 1)
    send(a, r.next, dst, got, len, r.to_next, value, fold_mine, to_output);
  else
    send(a, r.next, dst, got, len, r.to_next, value, [&](uint64_t i) { return load_cg(got + i); }, to_output);
}

template <typename T, int OP>
__global__ void __launch_bounds__(NVRAR_MAX_THREADS) ring_kernel(nvrar_kernel_args_t a) {
  grid_dependency_sync(a.pdl);
  const RingSide r(a);
  const int n = r.n, last = 2 * n - 3; /* steps 0..last: n-1 reduce-scatter sends, n-1 all-gather sends */
  const Rounds g = make_rounds(a, 2 * n - 1, n);
  uint64_t round = a.sync->round[blockIdx.x];
  bool ok = block_alive(a);

  for (uint64_t j = 0; j < g.count && ok; j++) {
    round++;
    for (int st = 0; st <= last && ok; st++) {
      if (st > 0 && !(ok = block_wait(a, r.from_prev, stage_value(round, st - 1)))) break;
      ring_send<T, OP>(a, r, g, j, round, st);
    }
    /* the chunk (pos + 2) mod n arrives last, in slot last + 1: output only */
    if (ok && (ok = block_wait(a, r.from_prev, stage_value(round, last)))) {
      uint64_t lo, hi;
      unit_range(a, g, j, nvrar_ring_rs_send(r.pos, last + 1, n), &lo, &hi);
      copy_out<T>(a.recv, slot(a, g, round, last + 1), lo, hi - lo, a);
    }
  }
  poison_if_failed<T>(a, ok);
  if (threadIdx.x == 0) {
    nvshmem_quiet();
    a.sync->round[blockIdx.x] = round;
  }
}

template <typename T, int OP>
__global__ void __launch_bounds__(NVRAR_MAX_THREADS) simple_ring_kernel(nvrar_kernel_args_t a) {
  grid_dependency_sync(a.pdl);
  const RingSide r(a);
  const int n = r.n, pos = r.pos, next = r.next;
  uint64_t *from_prev = r.from_prev, *to_next = r.to_next;
  const Rounds g = make_rounds(a, 3, 1);
  uint64_t round = a.sync->round[blockIdx.x];
  bool ok = block_alive(a);

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
  poison_if_failed<T>(a, ok);
  if (threadIdx.x == 0) {
    nvshmem_quiet();
    a.sync->round[blockIdx.x] = round;
  }
}

template <typename T, int OP>
static int launch_ring(const nvrar_kernel_args_t *args, bool simple, int blocks, int threads, cudaStream_t stream) {
  return simple ? launch(simple_ring_kernel<T, OP>, blocks, threads, stream, args->pdl, *args)
                : launch(ring_kernel<T, OP>, blocks, threads, stream, args->pdl, *args);
}

static int launch_either(const nvrar_kernel_args_t *args, bool simple, int dtype, int op, int blocks, int threads,
                         void *stream) {
  if (!ring_family_shape_ok(args, blocks)) return (int)cudaErrorInvalidValue;
  NVRAR_SWITCH_DTYPE(dtype, T,
    NVRAR_SWITCH_OP(op, OP,
      return launch_ring<T, OP>(args, simple, blocks, threads, (cudaStream_t)stream)));
  return (int)cudaErrorInvalidValue;
}

}  // namespace nvrar

extern "C" int nvrar_launch_ring(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads,
                                 void *stream) {
  return nvrar::launch_either(args, false, dtype, op, blocks, threads, stream);
}

extern "C" int nvrar_launch_simple_ring(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads,
                                        void *stream) {
  return nvrar::launch_either(args, true, dtype, op, blocks, threads, stream);
}
