/*
 * Sub-communicators (nvrar_comm_split): over all ranks of the world and over every other rank, each
 * in its own slot, all-reducing beside the world (their staging must not cross): small messages on
 * three streams at once, large ones interleaved on one stream (kernels of a few blocks can all be
 * resident; large ones on several streams could wait on each other across GPUs, as NCCL's can);
 * destroyed and created again in the same slots with other members (a destroyed child must leave its
 * slot clean); a child's CUDA graph; the argument and order errors. Every result is checked exactly
 * against the reference of its own communicator's ranks.
 *
 * Run: test_split -g N (N >= 2). Exit 0/1/77.
 */
#include "mp.h"

enum { NCOMMS = 3, NSIZES = 4 };
static const size_t counts[NSIZES] = {1, 3000, 300001, (3 << 20) + 5}; /* one-shot, one-shot, two-shot, pieces */

/* Every comm all-reduces every size, all enqueued before any is waited for; wrong elements add to *wrong. */
static void round_of(nvrar_comm_t *comms, cudaStream_t *streams, void **send, void **recv, unsigned long long *wrong,
                     nvrar_dtype_t dtype, nvrar_op_t op, uint32_t seed) {
  size_t esize = nvrar_dtype_size(dtype);
  for (int c = 0; c < NCOMMS; c++) {
    if (!comms[c]) continue;
    int rank, n;
    MP_NVRAR(nvrar_comm_rank(comms[c], &rank));
    MP_NVRAR(nvrar_comm_size(comms[c], &n));
    for (int k = 0; k < NSIZES; k++) {
      char *s = (char *)send[c] + k * ((size_t)4 << 20) * esize, *r = (char *)recv[c] + k * ((size_t)4 << 20) * esize;
      int in_place = (k + c) % 2;
      cudaStream_t st = k < 2 ? streams[c] : streams[0];
      MP_CUDA(nvrar_check_fill(s, counts[k], dtype, rank, seed + 10 * c + k, st));
      if (!in_place) MP_CUDA(cudaMemsetAsync(r, 0xff, counts[k] * esize, st));
      MP_NVRAR(nvrar_all_reduce(comms[c], s, in_place ? s : r, counts[k], dtype, op, st));
      MP_CUDA(nvrar_check_count_wrong(in_place ? s : r, counts[k], dtype, op, n, seed + 10 * c + k, wrong, st));
    }
  }
  for (int c = 0; c < NCOMMS; c++) MP_CUDA(cudaStreamSynchronize(streams[c]));
}

int main(int argc, char **argv) {
  nvrar_job_t job;
  int rc = mp_start(argc, argv, &job, 2);
  if (rc >= 0) return rc;
  int n = job.nranks, me = job.rank;
  nvrar_comm_t world = mp_comm(&job, NULL, NULL);
  cudaStream_t streams[NCOMMS];
  void *send[NCOMMS], *recv[NCOMMS];
  for (int c = 0; c < NCOMMS; c++) {
    MP_CUDA(cudaStreamCreateWithFlags(&streams[c], cudaStreamNonBlocking));
    MP_CUDA(cudaMalloc(&send[c], NSIZES * ((size_t)4 << 20) * 4));
    MP_CUDA(cudaMalloc(&recv[c], NSIZES * ((size_t)4 << 20) * 4));
  }
  unsigned long long *wrong;
  MP_CUDA(cudaMalloc((void **)&wrong, sizeof *wrong));
  MP_CUDA(cudaMemset(wrong, 0, sizeof *wrong));

  /* argument and order errors: nothing changes */
  unsigned free_slots = 0;
  MP_NVRAR(nvrar_comm_split_slots(world, &free_slots));
  MP_EXPECT(free_slots == (1u << NVRAR_SUB_SLOTS) - 1);
  int all[8], half[8], nhalf = 0; /* a node has at most 8 ranks */
  for (int r = 0; r < n; r++) all[r] = r;
  for (int r = me % 2; r < n; r += 2) half[nhalf++] = r;
  nvrar_comm_t child = NULL;
  int others[1] = {(me + 1) % n}, twice[2] = {me, me};
  MP_EXPECT(nvrar_comm_split(world, 1, others, 0, &child) == NVRAR_ERR_INVALID_ARGUMENT); /* not a member */
  MP_EXPECT(nvrar_comm_split(world, 2, twice, 0, &child) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_EXPECT(nvrar_comm_split(world, n, all, NVRAR_SUB_SLOTS, &child) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_EXPECT(nvrar_comm_split(world, 0, all, 0, &child) == NVRAR_ERR_INVALID_ARGUMENT && child == NULL);

  unsigned long long wrong_total = 0;
  int ok = 1;
  const nvrar_dtype_t dtypes[3] = {NVRAR_BFLOAT16, NVRAR_FLOAT16, NVRAR_FLOAT32};
  const nvrar_op_t ops[3] = {NVRAR_SUM, NVRAR_MAX, NVRAR_SUM};
  for (int generation = 0; generation < 2; generation++) {
    /* generation 1 swaps the slots: each is used again, by other members than before */
    nvrar_comm_t comms[NCOMMS] = {world, NULL, NULL};
    MP_NVRAR(nvrar_comm_split(world, n, all, generation ? 1 : 0, &comms[1]));
    MP_NVRAR(nvrar_comm_split(world, nhalf, half, generation ? 0 : 1, &comms[2]));
    MP_NVRAR(nvrar_comm_split_slots(world, &free_slots));
    ok &= free_slots == ((1u << NVRAR_SUB_SLOTS) - 1 - 3u);
    MP_EXPECT(nvrar_comm_split(world, n, all, 0, &child) == NVRAR_ERR_INVALID_USAGE); /* slot taken */
    MP_EXPECT(nvrar_comm_destroy(world) == NVRAR_ERR_INVALID_USAGE);                 /* children live */
    void *p = NULL;
    MP_EXPECT(nvrar_malloc(comms[1], 4096, &p) == NVRAR_ERR_UNSUPPORTED);
    int size = 0, rank = -1;
    MP_NVRAR(nvrar_comm_size(comms[2], &size));
    MP_NVRAR(nvrar_comm_rank(comms[2], &rank));
    ok &= size == nhalf && half[rank] == me;
    for (int i = 0; i < 3; i++) {
      MP_EXPECT(nvrar_job_barrier(&job) == 0);
      round_of(comms, streams, send, recv, wrong, dtypes[i], ops[i], 100u * generation + 7u * i);
    }
    /* the CUDA graph of a child replays too */
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    MP_CUDA(cudaStreamBeginCapture(streams[1], cudaStreamCaptureModeGlobal));
    MP_NVRAR(nvrar_all_reduce(comms[1], send[1], recv[1], counts[2], NVRAR_BFLOAT16, NVRAR_SUM, streams[1]));
    MP_CUDA(nvrar_check_count_wrong(recv[1], counts[2], NVRAR_BFLOAT16, NVRAR_SUM, n, 999, wrong, streams[1]));
    MP_CUDA(cudaStreamEndCapture(streams[1], &graph));
    MP_CUDA(cudaGraphInstantiate(&exec, graph, 0));
    MP_CUDA(nvrar_check_fill(send[1], counts[2], NVRAR_BFLOAT16, me, 999, streams[1]));
    for (int r = 0; r < 50; r++) MP_CUDA(cudaGraphLaunch(exec, streams[1]));
    MP_CUDA(cudaStreamSynchronize(streams[1]));
    MP_CUDA(cudaGraphExecDestroy(exec));
    MP_CUDA(cudaGraphDestroy(graph));
    nvrar_result_t async;
    for (int c = 1; c < NCOMMS; c++) {
      MP_NVRAR(nvrar_comm_get_async_error(comms[c], &async));
      ok &= async == NVRAR_SUCCESS;
      MP_NVRAR(nvrar_comm_destroy(comms[c]));
    }
  }
  unsigned long long w = 0;
  MP_CUDA(cudaMemcpy(&w, wrong, sizeof w, cudaMemcpyDeviceToHost));
  wrong_total = mp_sum(&job, w);
  MP_NVRAR(nvrar_comm_split_slots(world, &free_slots));
  ok &= free_slots == (1u << NVRAR_SUB_SLOTS) - 1;
  ok = (int)mp_sum(&job, (unsigned long long)ok) == n;
  MP_NVRAR(nvrar_comm_destroy(world));
  if (me == 0)
    printf("test_split: %d ranks, a world and sub-communicators of %d and %d ranks at once, 2 generations x 3 dtypes x "
           "%d sizes + 50 graph replays: #wrong %llu, %s\n", n, n, (n + 1) / 2, NSIZES, wrong_total,
           ok ? "slots and errors as expected" : "a check FAILED");
  nvrar_job_finish(&job);
  return wrong_total || !ok ? 1 : 0;
}
