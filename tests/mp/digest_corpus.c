/*
 * The fixed digest corpus: one line per all-reduce of a fixed set (every algorithm of the library's
 * table that runs on this layout, every dtype, sum in each and max/min in float, odd and unaligned
 * counts, in and out of place) with the digest of its output, on non-integer inputs so that a
 * change in the order of a sum changes the digest. Two builds that must compute the same thing
 * print the same lines: diff them (scripts/gpu_check.sh digest runs it at 1-8 ranks and on the
 * virtual layouts). Fails (exit 1) when the ranks' outputs differ.
 *
 * Run: digest_corpus -g N (NVRAR_GPUS_PER_NODE for a virtual layout, NVRAR_SHARE_GPUS=1 for more
 * ranks than GPUs). Exit 0/1/77.
 */
#include "mp.h"

static const size_t counts[] = {1, 7, 33, 1000, 4097, 65537, 262143};

/*
 * The corpus also runs against an older libnvrar.so (LD_LIBRARY_PATH), to diff a build against the
 * one before a change: libraries before nvrar_algo_info (0.4.0 up to 3b96933) have no table to ask,
 * so their algorithms are the header's enum of that version.
 */
__attribute__((weak)) nvrar_result_t nvrar_algo_info(nvrar_algo_t algo, const char **name, int *multinode);

static int algo_at(int a, const char **name, int *multinode) {
  if (nvrar_algo_info) return nvrar_algo_info((nvrar_algo_t)a, name, multinode) == NVRAR_SUCCESS;
  static const char *const before_table[] = {"auto", "oneshot", "twoshot", "ring", "simple-ring", "hier-rd", "hier-rhd"};
  if (a < 0 || a >= (int)(sizeof before_table / sizeof before_table[0])) return 0;
  *name = before_table[a];
  *multinode = a >= NVRAR_ALGO_RING;
  return 1;
}

/* Every case of one communicator; returns the number whose output the ranks do not share. */
static int run_corpus(nvrar_job_t *job, nvrar_comm_t comm, const char *algo, const char *layout) {
  cudaStream_t s;
  MP_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  const size_t cap = (262143 + 64) * 4;
  unsigned char *send, *recv;
  unsigned long long *dev, host = 0;
  MP_CUDA(cudaMalloc((void **)&send, cap));
  MP_CUDA(cudaMalloc((void **)&recv, cap));
  MP_CUDA(cudaMalloc((void **)&dev, sizeof *dev));
  int differ = 0;
  uint32_t seed = 77;
  for (int dtype = 0; dtype < NVRAR_NUM_DTYPES; dtype++) {
    for (int op = 0; op < NVRAR_NUM_OPS; op++) {
      if (op != NVRAR_SUM && dtype != NVRAR_FLOAT32) continue;
      for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
        for (int variant = 0; variant < 3; variant++) { /* out of place, in place, unaligned out of place */
          const size_t esize = nvrar_dtype_size((nvrar_dtype_t)dtype), count = counts[ci];
          const size_t off = variant == 2 ? 3 : 0;
          unsigned char *in = send + off * esize, *out = variant == 1 ? in : recv + off * esize;
          MP_CUDA(cudaMemsetAsync(recv, 0xff, cap, s));
          MP_CUDA(nvrar_check_fill_random(in, count, dtype, job->rank, seed++, s));
          MP_CUDA(cudaMemsetAsync(dev, 0, sizeof *dev, s));
          MP_NVRAR(nvrar_all_reduce(comm, in, out, count, (nvrar_dtype_t)dtype, (nvrar_op_t)op, s));
          MP_CUDA(nvrar_check_digest(out, count * esize, dev, s));
          MP_CUDA(cudaMemcpyAsync(&host, dev, sizeof host, cudaMemcpyDeviceToHost, s));
          MP_CUDA(cudaStreamSynchronize(s));
          int same = mp_same(job, host);
          differ += !same;
          if (job->rank == 0)
            printf("%d %s %s %s %s %zu %s %016llx%s\n", job->nranks, layout, algo,
                   dtype == 0 ? "float" : dtype == 1 ? "half" : "bfloat16", op == 0 ? "sum" : op == 1 ? "max" : "min",
                   count, variant == 0 ? "out" : variant == 1 ? "in" : "unaligned", host,
                   same ? "" : " RANKS DIFFER");
        }
      }
    }
  }
  MP_CUDA(cudaFree(send));
  MP_CUDA(cudaFree(recv));
  MP_CUDA(cudaFree(dev));
  MP_CUDA(cudaStreamDestroy(s));
  return differ;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* one write a line: the ranks' log lines share the file */
  nvrar_job_t job;
  int rc = mp_start(argc, argv, &job, 1);
  if (rc >= 0) return rc;
  const char *gpn = getenv("NVRAR_GPUS_PER_NODE");
  const int per_node = gpn && atoi(gpn) > 0 ? atoi(gpn) : job.nranks;
  char layout[32];
  snprintf(layout, sizeof layout, "%dx%d", job.nranks / per_node, per_node);
  int differ = 0, runs = 0;
  for (int a = 0; a < NVRAR_NUM_ALGOS; a++) {
    const char *name = NULL;
    int multinode = 0;
    if (!algo_at(a, &name, &multinode)) break;
    if (job.nranks == 1 && a != NVRAR_ALGO_AUTO) continue; /* one rank: a copy, whatever the algorithm */
    if (per_node < job.nranks && a != NVRAR_ALGO_AUTO && !multinode) continue; /* one node only */
    nvrar_config_t config = NVRAR_CONFIG_INITIALIZER;
    config.algo = (nvrar_algo_t)a; /* at init: the ring family reserves its staging only when asked */
    nvrar_comm_t comm = mp_comm(&job, &config, NULL);
    differ += run_corpus(&job, comm, name, layout);
    runs++;
    MP_NVRAR(nvrar_comm_destroy(comm));
  }
  if (job.rank == 0)
    fprintf(stderr, "digest_corpus: %d ranks, layout %s, %d algorithms: %s\n", job.nranks, layout, runs,
            differ ? "ranks DIFFER" : "every output the same on every rank");
  return differ ? 1 : 0;
}
