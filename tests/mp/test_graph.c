/*
 * CUDA graph capture and replay: one graph holds a small and a large all-reduce (one-shot and
 * two-shot under auto), each followed by an in-graph check against the reference and a poisoning
 * of its output; it is replayed NVRAR_TEST_REPLAYS times (default 100000) and every replay's
 * result counts. The device-side epochs must advance by themselves through the replays.
 *
 * Run: test_graph -g 4 (NVRAR_ALGO forces an algorithm). Exit 0/1/77.
 */
#include "mp.h"

int main(int argc, char **argv) {
  nvrar_job_t job;
  int rc = mp_start(argc, argv, &job, 2);
  if (rc >= 0) return rc;
  int n = job.nranks;
  nvrar_comm_t comm = mp_comm(&job, NULL, NULL);
  long replays = getenv("NVRAR_TEST_REPLAYS") ? atol(getenv("NVRAR_TEST_REPLAYS")) : 100000;
  const size_t counts[2] = {3000, 1572864 + 5}; /* 6 KB and 3 MiB of bf16 */
  const uint32_t seeds[2] = {11, 12};
  cudaStream_t s;
  MP_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  void *send[2], *recv[2];
  unsigned long long *wrong;
  for (int i = 0; i < 2; i++) {
    MP_CUDA(cudaMalloc(&send[i], counts[i] * 2));
    MP_CUDA(cudaMalloc(&recv[i], counts[i] * 2));
    MP_CUDA(nvrar_check_fill(send[i], counts[i], NVRAR_BFLOAT16, job.rank, seeds[i], s));
    MP_CUDA(cudaMemsetAsync(recv[i], 0xff, counts[i] * 2, s));
  }
  MP_CUDA(cudaMalloc((void **)&wrong, sizeof *wrong));
  MP_CUDA(cudaMemsetAsync(wrong, 0, sizeof *wrong, s));
  /* a few eager calls first: replays must continue the epochs the eager calls left */
  for (int i = 0; i < 3; i++) MP_NVRAR(nvrar_all_reduce(comm, send[i & 1], recv[i & 1], counts[i & 1], NVRAR_BFLOAT16, NVRAR_SUM, s));
  MP_CUDA(cudaStreamSynchronize(s));

  cudaGraph_t graph;
  cudaGraphExec_t exec;
  MP_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < 2; i++) {
    MP_NVRAR(nvrar_all_reduce(comm, send[i], recv[i], counts[i], NVRAR_BFLOAT16, NVRAR_SUM, s));
    MP_CUDA(nvrar_check_count_wrong(recv[i], counts[i], NVRAR_BFLOAT16, NVRAR_SUM, n, seeds[i], wrong, s));
    MP_CUDA(cudaMemsetAsync(recv[i], 0xff, counts[i] * 2, s));
  }
  MP_CUDA(cudaStreamEndCapture(s, &graph));
  MP_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  MP_EXPECT(nvrar_job_barrier(&job) == 0);
  double t0 = mp_now();
  for (long r = 0; r < replays; r++) {
    MP_CUDA(cudaGraphLaunch(exec, s));
    if (job.rank == 0 && r % 20000 == 19999) {
      MP_CUDA(cudaStreamSynchronize(s));
      printf("  %ld/%ld replays, %.1f s\n", r + 1, replays, mp_now() - t0);
      fflush(stdout);
    }
  }
  MP_CUDA(cudaStreamSynchronize(s));
  double elapsed = mp_now() - t0;
  unsigned long long w = 0;
  MP_CUDA(cudaMemcpy(&w, wrong, sizeof w, cudaMemcpyDeviceToHost));
  w = mp_sum(&job, w);
  nvrar_result_t async;
  MP_NVRAR(nvrar_comm_get_async_error(comm, &async));
  MP_EXPECT(async == NVRAR_SUCCESS);
  /* an eager call after the replays still lines up with the peers */
  MP_NVRAR(nvrar_all_reduce(comm, send[1], recv[1], counts[1], NVRAR_BFLOAT16, NVRAR_SUM, s));
  MP_CUDA(cudaMemsetAsync(wrong, 0, sizeof *wrong, s));
  MP_CUDA(nvrar_check_count_wrong(recv[1], counts[1], NVRAR_BFLOAT16, NVRAR_SUM, n, seeds[1], wrong, s));
  unsigned long long after = 0;
  MP_CUDA(cudaMemcpyAsync(&after, wrong, sizeof after, cudaMemcpyDeviceToHost, s));
  MP_CUDA(cudaStreamSynchronize(s));
  after = mp_sum(&job, after);
  if (job.rank == 0)
    printf("test_graph: %ld replays x 2 all-reduces on %d ranks in %.2f s (%.2f us per replay): #wrong %llu, after: %llu\n",
           replays, n, elapsed, elapsed * 1e6 / (replays ? replays : 1), w, after);
  MP_CUDA(cudaGraphExecDestroy(exec));
  MP_CUDA(cudaGraphDestroy(graph));
  MP_NVRAR(nvrar_comm_destroy(comm));
  nvrar_job_finish(&job);
  return w || after ? 1 : 0;
}
