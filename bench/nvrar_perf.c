/*
 * nvrar_perf: nccl-tests' all_reduce_perf for nvrar, with NCCL timed on the same buffers in the
 * same run (--compare nccl). One process per GPU: -g N forks them; under torchrun or mpirun each
 * process is one rank (tools/launch.h).
 *
 * Timing: CUDA events around n calls (eager) or around G replays of a graph that captured n calls
 * (-G G), after w warm-up calls, ranks lined up by a host barrier first. The time of a row is the
 * mean over ranks, as nccl-tests prints. Checking (-c 1): exactly representable random inputs,
 * poisoned outputs, bitwise comparison with the reference (tools/check.h); #wrong sums all ranks.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include "check.h"
#include "launch.h"
#include "nvrar.h"

#if NVRAR_HAVE_NCCL_H
#include <nccl.h>

#include "nccl/real.h"
#endif

#define CUDA_OK(call)                                                                                      \
  do {                                                                                                     \
    cudaError_t e_ = (call);                                                                               \
    if (e_ != cudaSuccess) {                                                                               \
      fprintf(stderr, "nvrar_perf rank %d: %s failed: %s (%s:%d)\n", g_rank, #call, cudaGetErrorString(e_), \
              __FILE__, __LINE__);                                                                         \
      exit(1);                                                                                             \
    }                                                                                                      \
  } while (0)

#define NVRAR_OK(call)                                                                                     \
  do {                                                                                                     \
    nvrar_result_t r_ = (call);                                                                            \
    if (r_ != NVRAR_SUCCESS) {                                                                             \
      fprintf(stderr, "nvrar_perf rank %d: %s failed: %s: %s\n", g_rank, #call, nvrar_result_string(r_),   \
              nvrar_get_last_error());                                                                     \
      exit(1);                                                                                             \
    }                                                                                                      \
  } while (0)

static int g_rank;

typedef struct options {
  size_t min_bytes, max_bytes, step_bytes;
  double factor;
  int iters, warmup, check, graph_launches, nprocs, average;
  int time_sliced; /* --time-sliced: ranks may share GPUs, every timed row labelled so */
  int dtypes[NVRAR_NUM_DTYPES], ndtypes;
  int ops[NVRAR_NUM_OPS], nops;
  nvrar_algo_t algo;
  int compare_nccl;
  int exchange; /* --op exchange: pairwise put-with-signal bandwidth instead of all-reduce */
  const char *json;
} options_t;

/* "auto, oneshot, ..." from the library's table of algorithms. */
static const char *algo_names(char *out, size_t cap) {
  size_t used = 0;
  out[0] = 0;
  const char *name = NULL;
  for (int a = 0; a < NVRAR_NUM_ALGOS && nvrar_algo_info((nvrar_algo_t)a, &name, NULL) == NVRAR_SUCCESS; a++) {
    int n = snprintf(out + used, cap - used, "%s%s", a ? ", " : "", name);
    if (n < 0 || (size_t)n >= cap - used) break;
    used += (size_t)n;
  }
  return out;
}

static void usage(FILE *f) {
  char names[160];
  fprintf(f,
          "usage: nvrar_perf [options]\n"
          "  -b, --minbytes SIZE      smallest message (default 1K)\n"
          "  -e, --maxbytes SIZE      largest message (default 64M)\n"
          "  -f, --stepfactor F       multiply the size by F each row (default 2)\n"
          "  -i, --stepbytes SIZE     add SIZE each row instead of -f\n"
          "  -n, --iters N            timed calls per row (default 20)\n"
          "  -w, --warmup_iters N     warm-up calls per row (default 5)\n"
          "  -c, --check 0|1          check results bitwise (default 1)\n"
          "  -d, --datatype T         float, half, bfloat16 or all (default float)\n"
          "  -o, --op O               sum, max, min or all (default sum); exchange: put-with-signal bandwidth\n"
          "                           of rank pairs r, r^d for d = 1, 2, 4.. (nvrar_exchange; -d ignored)\n"
          "  -G, --cudagraph G        capture the n calls in a CUDA graph, replay it G times (default 0: eager)\n"
          "  -g, --ngpus N            start N processes, one per GPU (default: from torchrun/mpirun, else 1)\n"
          "  -a, --average 0|1|2|3    time of a row over ranks: 0 rank 0, 1 mean, 2 min, 3 max (default 1)\n"
          "  -A, --algo A             %s\n"
          "                           (default auto; NVRAR_ALGO also works)\n"
          "      --compare nccl       time NCCL on the same buffers in the same run\n"
          "      --time-sliced        with NVRAR_SHARE_GPUS=1 and more ranks than GPUs: print the times anyway,\n"
          "                           every row labelled time-sliced (they are not performance)\n"
          "  -J, --output_file F      also write the rows as JSON to F\n"
          "      --env                print nvrar's environment variables and exit\n"
          "      --model              print the cost model's predictions across nodes and exit (no GPU needed)\n"
          "  -h, --help\n", algo_names(names, sizeof names));
}

/* The algorithm of the run: -A's, else NVRAR_ALGO's (checked by nvrar_comm_init before this prints). */
static const char *algo_name(nvrar_algo_t algo) {
  nvrar_algo_t from_env = NVRAR_ALGO_AUTO;
  if (algo == NVRAR_ALGO_AUTO && nvrar_env_read("NVRAR_ALGO", NULL, &from_env) == NVRAR_SUCCESS) algo = from_env;
  const char *name = "?";
  nvrar_algo_info(algo, &name, NULL);
  return name;
}

static size_t parse_size_or_die(const char *text, const char *flag) {
  size_t bytes = 0;
  if (nvrar_parse_size(text, &bytes)) {
    fprintf(stderr, "nvrar_perf: %s %s is not a size (e.g. 1024, 64K, 8M, 1GiB)\n", flag, text);
    exit(2);
  }
  return bytes;
}

/* A whole number in [lo, hi] or exit 2 saying which flag and what it takes (atoi took "abc" as 0). */
static int parse_int_or_die(const char *text, const char *flag, long lo, long hi) {
  char *end = NULL;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < lo || v > hi) {
    fprintf(stderr, "nvrar_perf: %s %s: expected a whole number in %ld-%ld\n", flag, text, lo, hi);
    exit(2);
  }
  return (int)v;
}

static int parse_dtype(const char *s) {
  if (!strcasecmp(s, "float") || !strcasecmp(s, "float32") || !strcasecmp(s, "fp32")) return NVRAR_FLOAT32;
  if (!strcasecmp(s, "half") || !strcasecmp(s, "float16") || !strcasecmp(s, "fp16")) return NVRAR_FLOAT16;
  if (!strcasecmp(s, "bfloat16") || !strcasecmp(s, "bf16")) return NVRAR_BFLOAT16;
  return -1;
}

static int parse_op(const char *s) {
  if (!strcasecmp(s, "sum")) return NVRAR_SUM;
  if (!strcasecmp(s, "max")) return NVRAR_MAX;
  if (!strcasecmp(s, "min")) return NVRAR_MIN;
  return -1;
}


static void parse_options(int argc, char **argv, options_t *o) {
  memset(o, 0, sizeof *o);
  o->min_bytes = 1024;
  o->max_bytes = 64u << 20;
  o->factor = 2;
  o->iters = 20;
  o->warmup = 5;
  o->check = 1;
  o->average = 1;
  o->dtypes[o->ndtypes++] = NVRAR_FLOAT32;
  o->ops[o->nops++] = NVRAR_SUM;
  enum { OPT_COMPARE = 1000, OPT_ENV, OPT_MODEL, OPT_TIME_SLICED };
  static const struct option longs[] = {
      {"minbytes", 1, 0, 'b'}, {"maxbytes", 1, 0, 'e'}, {"stepfactor", 1, 0, 'f'}, {"stepbytes", 1, 0, 'i'},
      {"iters", 1, 0, 'n'}, {"warmup_iters", 1, 0, 'w'}, {"check", 1, 0, 'c'}, {"datatype", 1, 0, 'd'},
      {"op", 1, 0, 'o'}, {"cudagraph", 1, 0, 'G'}, {"ngpus", 1, 0, 'g'}, {"average", 1, 0, 'a'},
      {"algo", 1, 0, 'A'}, {"output_file", 1, 0, 'J'}, {"compare", 1, 0, OPT_COMPARE}, {"env", 0, 0, OPT_ENV}, {"model", 0, 0, OPT_MODEL},
      {"time-sliced", 0, 0, OPT_TIME_SLICED},
      {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "b:e:f:i:n:w:c:d:o:G:g:a:A:J:h", longs, NULL)) != -1) {
    switch (c) {
      case 'b': o->min_bytes = parse_size_or_die(optarg, "-b"); break;
      case 'e': o->max_bytes = parse_size_or_die(optarg, "-e"); break;
      case 'f': {
        char *end = NULL;
        o->factor = strtod(optarg, &end);
        if (end == optarg || *end || !(o->factor > 1) || o->factor > 1e6) {
          fprintf(stderr, "nvrar_perf: -f %s: expected a step factor above 1\n", optarg);
          exit(2);
        }
        break;
      }
      case 'i': o->step_bytes = parse_size_or_die(optarg, "-i"); break;
      case 'n': o->iters = parse_int_or_die(optarg, "-n", 1, 1000000000); break;
      case 'w': o->warmup = parse_int_or_die(optarg, "-w", 0, 1000000000); break;
      case 'c': o->check = parse_int_or_die(optarg, "-c", 0, 1); break;
      case 'G': o->graph_launches = parse_int_or_die(optarg, "-G", 0, 1000000000); break;
      case 'g': o->nprocs = parse_int_or_die(optarg, "-g", 1, 1024); break;
      case 'a': o->average = parse_int_or_die(optarg, "-a", 0, 3); break;
      case 'J': o->json = optarg; break;
      case 'd':
        if (!strcasecmp(optarg, "all")) {
          for (int d = 0; d < NVRAR_NUM_DTYPES; d++) o->dtypes[d] = d;
          o->ndtypes = NVRAR_NUM_DTYPES;
        } else if ((o->dtypes[0] = parse_dtype(optarg)) < 0) {
          fprintf(stderr, "nvrar_perf: -d %s: expected float, half, bfloat16 or all\n", optarg);
          exit(2);
        }
        break;
      case 'o':
        if (!strcasecmp(optarg, "exchange")) {
          o->exchange = 1;
        } else if (!strcasecmp(optarg, "all")) {
          for (int k = 0; k < NVRAR_NUM_OPS; k++) o->ops[k] = k;
          o->nops = NVRAR_NUM_OPS;
        } else if ((o->ops[0] = parse_op(optarg)) < 0) {
          fprintf(stderr, "nvrar_perf: -o %s: expected sum, max, min, all or exchange\n", optarg);
          exit(2);
        }
        break;
      case 'A':
        if (nvrar_algo_from_name(optarg, &o->algo) != NVRAR_SUCCESS) {
          char names[160];
          fprintf(stderr, "nvrar_perf: -A %s: expected one of %s\n", optarg, algo_names(names, sizeof names));
          exit(2);
        }
        break;
      case OPT_COMPARE:
        if (strcasecmp(optarg, "nccl")) {
          fprintf(stderr, "nvrar_perf: --compare %s: only nccl is supported\n", optarg);
          exit(2);
        }
        o->compare_nccl = 1;
        break;
      case OPT_TIME_SLICED: o->time_sliced = 1; break;
      case OPT_ENV: nvrar_env_print_table(stdout); exit(0);
      case OPT_MODEL: nvrar_model_print(stdout); exit(0);
      case 'h': usage(stdout); exit(0);
      default: usage(stderr); exit(2);
    }
  }
  if (optind < argc) {
    fprintf(stderr, "nvrar_perf: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    exit(2);
  }
  if (o->min_bytes > o->max_bytes) {
    fprintf(stderr, "nvrar_perf: -e %zu is below -b %zu: the largest size must be at least the smallest\n",
            o->max_bytes, o->min_bytes);
    exit(2);
  }
}

/* ---- NCCL, loaded with dlopen so nvrar_perf runs without it unless --compare nccl ---- */
#if NVRAR_HAVE_NCCL_H
/* The NCCL the drop-in would forward to (src/nccl/real.c: NVRAR_NCCL_LIBRARY, the build's, a wheel's ...). */
static void nccl_load(void) {
  if (!dropin_real_load()) {
    fprintf(stderr, "nvrar_perf: --compare nccl: no NCCL could be loaded (the warning above says what was tried)\n");
    exit(1);
  }
  if (!dropin_real.ncclGetUniqueId || !dropin_real.ncclCommInitRank || !dropin_real.ncclAllReduce ||
      !dropin_real.ncclCommDestroy || !dropin_real.ncclGetErrorString) {
    fprintf(stderr, "nvrar_perf: the NCCL at %s lacks a needed symbol\n", dropin_real.path);
    exit(1);
  }
}

#define NCCL_OK(call)                                                                                        \
  do {                                                                                                       \
    ncclResult_t r_ = (call);                                                                                \
    if (r_ != ncclSuccess) {                                                                                 \
      fprintf(stderr, "nvrar_perf rank %d: %s failed: %s\n", g_rank, #call, dropin_real.ncclGetErrorString(r_)); \
      exit(1);                                                                                               \
    }                                                                                                        \
  } while (0)

static const ncclDataType_t nccl_dtypes[] = {ncclFloat32, ncclFloat16, ncclBfloat16};
static const ncclRedOp_t nccl_ops[] = {ncclSum, ncclMax, ncclMin};
#endif

/* ---- one timed call, nvrar or NCCL ---- */
typedef struct bench_ctx {
  nvrar_comm_t comm;
#if NVRAR_HAVE_NCCL_H
  ncclComm_t nccl; /* --compare nccl */
#endif
  int use_nccl;
  cudaStream_t stream;
  nvrar_job_t *job;
  const options_t *opt;
} bench_ctx_t;

static void call_once(bench_ctx_t *c, const void *send, void *recv, size_t count, int dtype, int op) {
  if (!c->use_nccl) {
    NVRAR_OK(nvrar_all_reduce(c->comm, send, recv, count, (nvrar_dtype_t)dtype, (nvrar_op_t)op, c->stream));
    return;
  }
#if NVRAR_HAVE_NCCL_H
  NCCL_OK(dropin_real.ncclAllReduce(send, recv, count, nccl_dtypes[dtype], nccl_ops[op], c->nccl, c->stream));
#endif
}

static void line_up(bench_ctx_t *c) {
  CUDA_OK(cudaStreamSynchronize(c->stream));
  if (nvrar_job_barrier(c->job)) {
    fprintf(stderr, "nvrar_perf rank %d: lost contact with the other ranks\n", g_rank);
    exit(1);
  }
}

/* Microseconds per call. */
static double time_calls(bench_ctx_t *c, const void *send, void *recv, size_t count, int dtype, int op) {
  const options_t *o = c->opt;
  for (int i = 0; i < o->warmup; i++) call_once(c, send, recv, count, dtype, op);
  cudaEvent_t start, stop;
  CUDA_OK(cudaEventCreate(&start));
  CUDA_OK(cudaEventCreate(&stop));
  float ms = 0;
  double calls = o->iters;
  if (o->graph_launches > 0) {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CUDA_OK(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < o->iters; i++) call_once(c, send, recv, count, dtype, op);
    CUDA_OK(cudaStreamEndCapture(c->stream, &graph));
    CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
    CUDA_OK(cudaGraphLaunch(exec, c->stream)); /* warm the graph itself */
    line_up(c);
    CUDA_OK(cudaEventRecord(start, c->stream));
    for (int g = 0; g < o->graph_launches; g++) CUDA_OK(cudaGraphLaunch(exec, c->stream));
    CUDA_OK(cudaEventRecord(stop, c->stream));
    CUDA_OK(cudaEventSynchronize(stop));
    CUDA_OK(cudaGraphExecDestroy(exec));
    CUDA_OK(cudaGraphDestroy(graph));
    calls *= o->graph_launches;
  } else {
    line_up(c);
    CUDA_OK(cudaEventRecord(start, c->stream));
    for (int i = 0; i < o->iters; i++) call_once(c, send, recv, count, dtype, op);
    CUDA_OK(cudaEventRecord(stop, c->stream));
    CUDA_OK(cudaEventSynchronize(stop));
  }
  CUDA_OK(cudaEventElapsedTime(&ms, start, stop));
  CUDA_OK(cudaEventDestroy(start));
  CUDA_OK(cudaEventDestroy(stop));
  return ms * 1000.0 / calls;
}

/* Wrong elements of one checked call (this rank). */
static unsigned long long check_call(bench_ctx_t *c, void *send, void *recv, size_t count, int dtype, int op,
                                     int nranks, uint32_t seed, unsigned long long *dev_wrong) {
  size_t bytes = count * nvrar_dtype_size((nvrar_dtype_t)dtype);
  CUDA_OK((cudaError_t)nvrar_check_fill(send, count, dtype, g_rank, seed, c->stream));
  if (recv != send) CUDA_OK(cudaMemsetAsync(recv, 0xff, bytes, c->stream)); /* poison: NaN everywhere */
  CUDA_OK(cudaMemsetAsync(dev_wrong, 0, sizeof *dev_wrong, c->stream));
  line_up(c);
  call_once(c, send, recv, count, dtype, op);
  CUDA_OK((cudaError_t)nvrar_check_count_wrong(recv, count, dtype, op, nranks, seed, dev_wrong, c->stream));
  unsigned long long wrong = 0;
  CUDA_OK(cudaMemcpyAsync(&wrong, dev_wrong, sizeof wrong, cudaMemcpyDeviceToHost, c->stream));
  CUDA_OK(cudaStreamSynchronize(c->stream));
  return wrong;
}

typedef struct rank_result {
  double time_us[2];            /* out-of-place, in-place */
  double nccl_us[2];
  unsigned long long wrong[2];
} rank_result_t;

static double reduce_time(const rank_result_t *all, int n, int which, int nccl, int average) {
  double acc = 0, lo = INFINITY, hi = 0;
  for (int r = 0; r < n; r++) {
    double t = nccl ? all[r].nccl_us[which] : all[r].time_us[which];
    acc += t;
    lo = t < lo ? t : lo;
    hi = t > hi ? t : hi;
  }
  switch (average) {
    case 0: return nccl ? all[0].nccl_us[which] : all[0].time_us[which];
    case 2: return lo;
    case 3: return hi;
    default: return acc / n;
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Microseconds per exchange of `bytes` with `peer` (-1: sit the row out, but keep the barriers). */
static double time_exchange(bench_ctx_t *c, void *send, void *recv, size_t bytes, int peer) {
  const options_t *o = c->opt;
  cudaEvent_t start, stop;
  CUDA_OK(cudaEventCreate(&start));
  CUDA_OK(cudaEventCreate(&stop));
  for (int i = 0; i < o->warmup && peer >= 0; i++) NVRAR_OK(nvrar_exchange(c->comm, send, recv, bytes, peer, c->stream));
  line_up(c);
  CUDA_OK(cudaEventRecord(start, c->stream));
  for (int i = 0; i < o->iters && peer >= 0; i++) NVRAR_OK(nvrar_exchange(c->comm, send, recv, bytes, peer, c->stream));
  CUDA_OK(cudaEventRecord(stop, c->stream));
  CUDA_OK(cudaEventSynchronize(stop));
  float ms = 0;
  CUDA_OK(cudaEventElapsedTime(&ms, start, stop));
  CUDA_OK(cudaEventDestroy(start));
  CUDA_OK(cudaEventDestroy(stop));
  return peer >= 0 ? ms * 1000.0 / o->iters : 0;
}

/*
 * --op exchange: for each distance d = 1, 2, 4, .. < n, ranks r and r ^ d swap -b..-e bytes with
 * nvrar_exchange (eager; the time includes the handshake). Printed per d: us per exchange and GB/s
 * one way (bytes / time), and whether the pair shares a (virtual) node. -c 1 checks the bytes.
 */
static int run_exchange(bench_ctx_t *c, nvrar_job_t *job) {
  const options_t *o = c->opt;
  const int n = job->nranks;
  int gpus = 1;
  NVRAR_OK(nvrar_comm_local_size(c->comm, &gpus));
  void *send, *recv;
  NVRAR_OK(nvrar_malloc(c->comm, o->max_bytes, &send));
  NVRAR_OK(nvrar_malloc(c->comm, o->max_bytes, &recv));
  unsigned char *host = malloc(o->max_bytes);
  if (!host) return 1;
  CUDA_OK(cudaMemset(send, job->rank + 1, o->max_bytes));
  if (job->rank == 0) {
    printf("# exchange: rank r with r^d, %d ranks in nodes of %d; us per exchange and GB/s each way\n# %10s", n, gpus,
           "size (B)");
    for (int d = 1; d < n; d *= 2) printf("   d=%d %-6s      ", d, (0 ^ d) / gpus == 0 ? "(node)" : "(net)");
    printf("\n");
  }
  unsigned long long total_wrong = 0;
  for (size_t bytes = o->min_bytes; bytes <= o->max_bytes;
       bytes = o->step_bytes ? bytes + o->step_bytes : (size_t)ceil(bytes * o->factor)) {
    double us[32] = {0}, all_us[1024];
    int col = 0;
    for (int d = 1; d < n; d *= 2, col++) {
      const int peer = (job->rank ^ d) < n ? job->rank ^ d : -1;
      unsigned long long wrong = 0;
      if (o->check && peer >= 0) {
        CUDA_OK(cudaMemset(recv, 0, bytes));
        line_up(c);
        NVRAR_OK(nvrar_exchange(c->comm, send, recv, bytes, peer, c->stream));
        CUDA_OK(cudaMemcpyAsync(host, recv, bytes, cudaMemcpyDeviceToHost, c->stream));
        CUDA_OK(cudaStreamSynchronize(c->stream));
        for (size_t b = 0; b < bytes; b++) wrong += host[b] != (unsigned char)(peer + 1);
      }
      unsigned long long all_wrong[1024];
      if (nvrar_job_allgather(job, &wrong, all_wrong, sizeof wrong)) return 1;
      for (int r = 0; r < n; r++) total_wrong += all_wrong[r];
      double t = time_exchange(c, send, recv, bytes, peer);
      if (nvrar_job_allgather(job, &t, all_us, sizeof t)) return 1;
      double worst = 0;
      for (int r = 0; r < n; r++) worst = all_us[r] > worst ? all_us[r] : worst;
      us[col] = worst;
    }
    if (job->rank == 0) {
      printf("  %10zu", bytes);
      for (int k = 0; k < col; k++) printf("  %8.2f %8.2f", us[k], (double)bytes / (us[k] * 1e-6) / 1e9);
      printf("\n");
      fflush(stdout);
    }
  }
  if (job->rank == 0) printf("# wrong bytes: %llu %s\n", total_wrong, total_wrong ? "FAILED" : "OK");
  free(host);
  NVRAR_OK(nvrar_free(c->comm, send));
  NVRAR_OK(nvrar_free(c->comm, recv));
  NVRAR_OK(nvrar_comm_destroy(c->comm));
  nvrar_job_finish(job);
  return total_wrong ? 1 : 0;
}

int main(int argc, char **argv) {
  options_t o;
  parse_options(argc, argv, &o);
#if !NVRAR_HAVE_NCCL_H
  if (o.compare_nccl) {
    fprintf(stderr, "nvrar_perf: built without nccl.h, --compare nccl is unavailable\n");
    return 2;
  }
#endif
  int ndev = nvrar_job_count_gpus();
  if (ndev == 0) {
    fprintf(stderr, "nvrar_perf: no CUDA GPU is visible on this machine; nothing to measure\n");
    return 77;
  }
  int share = 0;
  if (nvrar_env_read("NVRAR_SHARE_GPUS", NULL, &share) != NVRAR_SUCCESS) {
    fprintf(stderr, "nvrar_perf: %s\n", nvrar_get_last_error());
    return 2;
  }
  if (o.nprocs > ndev && !share) {
    fprintf(stderr, "nvrar_perf: -g %d asks for more GPUs than the %d visible (NVRAR_SHARE_GPUS=1 lets ranks share "
            "them, for correctness)\n", o.nprocs, ndev);
    return 2;
  }
  nvrar_job_t job;
  if (nvrar_job_start(o.nprocs, &job)) return 1;
  if (job.is_parent) return job.exit_code;
  /* One host assumed, as for the ranks' GPU choice below: more ranks than GPUs means they time-slice. */
  const int shared = job.nranks > ndev;
  if (shared && o.compare_nccl) {
    if (job.rank == 0)
      fprintf(stderr, "nvrar_perf: --compare nccl needs a GPU per rank: NCCL 2.28 refuses two ranks on one GPU "
                      "(%d ranks, %d GPUs)\n", job.nranks, ndev);
    return 2;
  }
  if (shared && !o.time_sliced) {
    if (job.rank == 0)
      fprintf(stderr, "nvrar_perf: %d ranks share %d GPU(s): their times are time slices, not performance; pass "
                      "--time-sliced to print them anyway (labelled), with -c 1 for the check\n", job.nranks, ndev);
    return 2;
  }
  g_rank = job.rank;
  int n = job.nranks;
  CUDA_OK(cudaGetDeviceCount(&ndev));
  CUDA_OK(cudaSetDevice(job.local_rank % ndev));
  CUDA_OK(cudaFree(0));

  nvrar_unique_id_t id;
  if (job.rank == 0) NVRAR_OK(nvrar_get_unique_id(&id));
  if (nvrar_job_bcast(&job, &id, sizeof id)) return 1;
  nvrar_config_t config = NVRAR_CONFIG_INITIALIZER;
  config.algo = o.algo;
  nvrar_comm_t comm;
  size_t free_before = 0, free_after = 0, total_mem = 0;
  CUDA_OK(cudaMemGetInfo(&free_before, &total_mem));
  double t0 = now_s();
  NVRAR_OK(nvrar_comm_init(&comm, n, id, job.rank, &config));
  double init_s = now_s() - t0;
  CUDA_OK(cudaMemGetInfo(&free_after, &total_mem));
  double taken_mib = (double)(free_before - free_after) / (1 << 20);

  bench_ctx_t ctx = {.comm = comm, .job = &job, .opt = &o};
#if NVRAR_HAVE_NCCL_H
  if (o.compare_nccl) {
    nccl_load();
    ncclUniqueId nid;
    if (job.rank == 0) NCCL_OK(dropin_real.ncclGetUniqueId(&nid));
    if (nvrar_job_bcast(&job, &nid, sizeof nid)) return 1;
    NCCL_OK(dropin_real.ncclCommInitRank(&ctx.nccl, n, nid, job.rank));
  }
#endif
  CUDA_OK(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking));
  if (o.exchange) return run_exchange(&ctx, &job);
  void *send = NULL, *recv = NULL;
  unsigned long long *dev_wrong = NULL;
  CUDA_OK(cudaMalloc(&send, o.max_bytes + 256));
  CUDA_OK(cudaMalloc(&recv, o.max_bytes + 256));
  CUDA_OK(cudaMalloc((void **)&dev_wrong, sizeof *dev_wrong));

  double inits[1024], takens[1024];
  nvrar_job_allgather(&job, &init_s, inits, sizeof init_s);
  nvrar_job_allgather(&job, &taken_mib, takens, sizeof taken_mib);
  FILE *json = NULL;
  if (job.rank == 0) {
    double worst = 0, most = 0;
    for (int r = 0; r < n; r++) worst = inits[r] > worst ? inits[r] : worst;
    for (int r = 0; r < n; r++) most = takens[r] > most ? takens[r] : most;
    int version = 0;
    nvrar_get_version(&version);
    struct cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, job.local_rank % ndev));
    printf("# nvrar_perf: nvrar %d.%d.%d, %d ranks, %s, %s mode, algo %s\n", version / 100000, version / 1000 % 100,
           version % 1000, n, prop.name, o.graph_launches ? "CUDA graph" : "eager",
           algo_name(o.algo));
    printf("# iters %d warmup %d graph launches %d check %d; nvrar init %.2f s (slowest rank), device memory taken by "
           "init %.0f MiB (most on a rank)\n", o.iters, o.warmup, o.graph_launches, o.check, worst, most);
#if NVRAR_HAVE_NCCL_H
    if (o.compare_nccl) printf("# compared with NCCL %d (%s) on the same buffers\n", dropin_real.version, dropin_real.path);
#endif
    if (shared)
      printf("# TIME-SLICED: %d ranks share %d GPU(s) (NVRAR_SHARE_GPUS=1); the times below are not performance\n", n,
             ndev);
    printf("#\n#%58s%s\n", "", "          out-of-place                       in-place");
    printf("# %10s %12s %9s %6s %6s %8s %7s %7s %6s %8s %7s %7s %6s%s\n", "size", "count", "type", "redop", "root",
           "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong",
           o.compare_nccl ? "  nccl_oop  nccl_ip  speedup" : "");
    printf("# %10s %12s %9s %6s %6s %8s %7s %7s %6s %8s %7s %7s %6s%s\n", "(B)", "(elements)", "", "", "", "(us)",
           "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "", o.compare_nccl ? "      (us)     (us)   (oop)" : "");
    if (o.json && !(json = fopen(o.json, "w"))) {
      fprintf(stderr, "nvrar_perf: cannot write %s\n", o.json);
      return 1;
    }
    if (json)
      fprintf(json, "{\"ranks\": %d, \"device\": \"%s\", \"graph_launches\": %d, \"iters\": %d, \"init_s\": %.3f, \"init_mib\": %.0f, \"time_sliced\": %s, \"rows\": [",
              n, prop.name, o.graph_launches, o.iters, worst, most, shared ? "true" : "false");
  }

  unsigned long long total_wrong = 0;
  int first_row = 1;
  uint32_t seed = 1;
  for (int di = 0; di < o.ndtypes; di++) {
    for (int oi = 0; oi < o.nops; oi++) {
      int dtype = o.dtypes[di], op = o.ops[oi];
      size_t esize = nvrar_dtype_size((nvrar_dtype_t)dtype);
      for (size_t bytes = o.min_bytes; bytes <= o.max_bytes;
           bytes = o.step_bytes ? bytes + o.step_bytes : (size_t)ceil(bytes * o.factor)) {
        size_t count = bytes / esize;
        rank_result_t mine;
        memset(&mine, 0, sizeof mine);
        void *targets[2] = {recv, send};
        for (int which = 0; which < 2; which++) {
          void *out = targets[which];
          if (o.check) mine.wrong[which] = check_call(&ctx, send, out, count, dtype, op, n, seed++, dev_wrong);
          ctx.use_nccl = 0;
          mine.time_us[which] = time_calls(&ctx, send, out, count, dtype, op);
          if (o.compare_nccl) {
            ctx.use_nccl = 1;
            mine.nccl_us[which] = time_calls(&ctx, send, out, count, dtype, op);
            ctx.use_nccl = 0;
          }
        }
        rank_result_t all[1024];
        if (nvrar_job_allgather(&job, &mine, all, sizeof mine)) return 1;
        if (job.rank != 0) continue;
        double t[2], nt[2], algbw[2], busbw[2];
        unsigned long long wrong[2] = {0, 0};
        for (int w = 0; w < 2; w++) {
          t[w] = reduce_time(all, n, w, 0, o.average);
          nt[w] = reduce_time(all, n, w, 1, o.average);
          for (int r = 0; r < n; r++) wrong[w] += all[r].wrong[w];
          algbw[w] = (double)bytes / (t[w] * 1e-6) / 1e9;
          busbw[w] = algbw[w] * 2.0 * (n - 1) / n;
        }
        total_wrong += wrong[0] + wrong[1];
        printf("  %10zu %12zu %9s %6s %6d %8.2f %7.2f %7.2f %6llu %8.2f %7.2f %7.2f %6llu", bytes, count,
               nvrar_dtype_name((nvrar_dtype_t)dtype), nvrar_op_name((nvrar_op_t)op), -1, t[0], algbw[0], busbw[0], wrong[0], t[1], algbw[1], busbw[1],
               wrong[1]);
        if (o.compare_nccl) printf("  %8.2f %8.2f %7.2fx", nt[0], nt[1], nt[0] / t[0]);
        printf("%s\n", shared ? "  time-sliced" : "");
        fflush(stdout);
        if (json) {
          fprintf(json,
                  "%s\n  {\"bytes\": %zu, \"count\": %zu, \"dtype\": \"%s\", \"op\": \"%s\", \"time_us\": %.3f, "
                  "\"busbw\": %.3f, \"wrong\": %llu, \"inplace_time_us\": %.3f, \"inplace_wrong\": %llu",
                  first_row ? "" : ",", bytes, count, nvrar_dtype_name((nvrar_dtype_t)dtype), nvrar_op_name((nvrar_op_t)op), t[0], busbw[0], wrong[0], t[1],
                  wrong[1]);
          if (o.compare_nccl) fprintf(json, ", \"nccl_us\": %.3f, \"nccl_inplace_us\": %.3f", nt[0], nt[1]);
          fprintf(json, "}");
        }
        first_row = 0;
      }
    }
  }
  if (job.rank == 0) {
    printf("# Out of bounds values : %llu %s\n", total_wrong, total_wrong ? "FAILED" : "OK");
    if (json) {
      fprintf(json, "\n]}\n");
      fclose(json);
    }
  }
  nvrar_job_barrier(&job);
  CUDA_OK(cudaFree(send));
  CUDA_OK(cudaFree(recv));
  CUDA_OK(cudaFree(dev_wrong));
#if NVRAR_HAVE_NCCL_H
  if (o.compare_nccl) dropin_real.ncclCommDestroy(ctx.nccl);
#endif
  NVRAR_OK(nvrar_comm_destroy(comm));
  nvrar_job_finish(&job);
  return total_wrong ? 1 : 0;
}
