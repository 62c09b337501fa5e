/*
 * Exchange (Penny): two ranks swap buffers through put-with-signal, the path between nodes.
 * nvrar_perf --op exchange measures the put bandwidth with it.
 *
 * Per call, block b of each side: (1) SET the peer's ready word [b][me] to 2e - 1, e = exchanges
 * block b has run with this peer (sync->xround, equal on both sides); wait until the peer's ready
 * word here reaches 2e - 1: the peer's kernel has started, so everything before it on its stream,
 * including reads of the previous exchange's recvbuf, is done; (2) put this block's share of sendbuf
 * into the peer's recvbuf with signal 2e; (3) wait for the peer's 2e. Both buffers are symmetric
 * (nvrar_malloc), so the put needs no staging on InfiniBand or NVLink. Signals: xsignals, separate
 * from the all-reduce words so that pairwise counts never mix with world-wide rounds.
 * Test: tests/mp/test_allreduce (exchange cases), nvrar_perf --op exchange -c 1.
 */
#include "putsig.cuh"

namespace nvrar {

__global__ void __launch_bounds__(NVRAR_MAX_THREADS) exchange_kernel(nvrar_kernel_args_t a) {
  grid_dependency_sync(a.pdl);
  const uint64_t bytes = a.count; /* exchange: count is in bytes */
  const uint64_t per = nvrar_div_up(a.packs, (uint64_t)gridDim.x) * NVRAR_PACK_BYTES;
  const uint64_t lo = nvrar_min_u64((uint64_t)blockIdx.x * per, bytes), hi = nvrar_min_u64(lo + per, bytes);
  uint64_t *counter = &a.sync->xround[blockIdx.x][a.peer];
  const uint64_t e = *counter + 1;
  uint64_t *mine = signal_word(a, a.xsignals, a.rank), *theirs = signal_word(a, a.xsignals, a.peer);
  bool ok = !comm_dead(a);
  if (threadIdx.x == 0 && ok) {
    nvshmemx_signal_op(mine, 2 * e - 1, NVSHMEM_SIGNAL_SET, a.peer);
    nvshmem_fence();
    ok = wait_signal(a, theirs, 2 * e - 1);
  }
  if (!__syncthreads_and(ok)) return;
  if (hi > lo)
    nvshmemx_putmem_signal_nbi_block(static_cast<char *>(a.recv) + lo, static_cast<const char *>(a.send) + lo, hi - lo,
                                     mine, 2 * e, NVSHMEM_SIGNAL_SET, a.peer);
  else if (threadIdx.x == 0)
    nvshmemx_signal_op(mine, 2 * e, NVSHMEM_SIGNAL_SET, a.peer);
  if (threadIdx.x == 0 && wait_signal(a, theirs, 2 * e)) {
    nvshmem_quiet();
    *counter = e;
  }
}

}  // namespace nvrar

extern "C" int nvrar_launch_exchange(const nvrar_kernel_args_t *args, int blocks, int threads, void *stream) {
  if (blocks < 1 || blocks > NVRAR_MAX_RING_BLOCKS) return (int)cudaErrorInvalidValue;
  return nvrar::launch(nvrar::exchange_kernel, blocks, threads, (cudaStream_t)stream, args->pdl, *args);
}
