/*
 * A program written against nccl.h alone, one process per GPU, run against the real NCCL and against
 * the drop-in (LD_PRELOAD=libnvrar_nccl.so, or LD_LIBRARY_PATH=build/lib/nccl): a one-element
 * all-reduce right after init (what vLLM and SGLang do), every dtype NCCL has x every op x in and out
 * of place x counts from 1 to 1M (and one just above NVRAR_NCCL_MAX_BYTES), inside a CUDA graph
 * captured in global mode, group calls (mixed with calls nvrar does not serve, nested), a
 * communicator created inside a group, a split sub-communicator of every other rank, one of all ranks
 * used beside the first and after its destroy, and a loop of create and destroy that must not leak
 * device memory.
 *
 * The data are small integers, so every partial sum and product is exact in every dtype, whatever the
 * order of reduction: each result is checked on the host against the exact value, and its digest goes
 * to --digests PREFIX.rankR, so that two runs (NCCL, the drop-in) compare bitwise
 * (scripts/gpu_check.sh nccl does that).
 *
 * Run: test_nccl_allreduce -g N [--digests PREFIX] [--loops K]. Exit 0 pass, 1 fail, 77 skipped.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "launch.h"

static int rank, nranks;
static unsigned long long wrong_total, cases;
static FILE *digests;

#define CUDA(call)                                                                                      \
  do {                                                                                                  \
    cudaError_t e_ = (call);                                                                            \
    if (e_ != cudaSuccess) {                                                                            \
      fprintf(stderr, "rank %d %s:%d: %s: %s\n", rank, __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      exit(1);                                                                                          \
    }                                                                                                   \
  } while (0)

#define NCCL(call)                                                                                       \
  do {                                                                                                   \
    ncclResult_t r_ = (call);                                                                            \
    if (r_ != ncclSuccess) {                                                                             \
      fprintf(stderr, "rank %d %s:%d: %s: %s (%s)\n", rank, __FILE__, __LINE__, #call, ncclGetErrorString(r_), \
              ncclGetLastError(NULL));                                                                   \
      exit(1);                                                                                           \
    }                                                                                                    \
  } while (0)

/* ---- exact small-integer data in every NCCL dtype ---- */
static const char *type_names[ncclNumTypes] = {"int8", "uint8", "int32", "uint32", "int64", "uint64",
                                               "half", "float", "double", "bfloat16", "fp8e4m3", "fp8e5m2"};
static const char *op_names[ncclNumOps] = {"sum", "prod", "max", "min", "avg"};

static size_t type_size(int t) {
  switch (t) {
    case ncclInt8: case ncclUint8: case ncclFloat8e4m3: case ncclFloat8e5m2: return 1;
    case ncclFloat16: case ncclBfloat16: return 2;
    case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
    default: return 8;
  }
}

static int is_unsigned(int t) { return t == ncclUint8 || t == ncclUint32 || t == ncclUint64; }

/* Bits of an exact value in a float format of ebits exponent and mbits mantissa bits (normal or 0). */
static uint32_t encode_float(double v, int ebits, int mbits) {
  if (v == 0) return 0;
  uint32_t sign = v < 0;
  double a = fabs(v);
  int e = (int)floor(log2(a));
  uint32_t mant = (uint32_t)llround((a / ldexp(1.0, e) - 1) * ldexp(1.0, mbits));
  uint32_t bias = (1u << (ebits - 1)) - 1;
  return sign << (ebits + mbits) | (uint32_t)(e + (int)bias) << mbits | mant;
}

/* The value of such bits; NaN for the all-ones exponent of formats that have one (not e4m3). */
static double decode_float(uint32_t bits, int ebits, int mbits, int has_inf) {
  uint32_t mant = bits & ((1u << mbits) - 1), exp = (bits >> mbits) & ((1u << ebits) - 1);
  int bias = (1 << (ebits - 1)) - 1;
  double sign = (bits >> (ebits + mbits)) & 1 ? -1 : 1;
  if (has_inf && exp == (1u << ebits) - 1) return NAN;
  if (!has_inf && exp == (1u << ebits) - 1 && mant == (1u << mbits) - 1) return NAN;
  if (exp == 0) return sign * ldexp((double)mant, 1 - bias - mbits);
  return sign * ldexp(1 + mant / ldexp(1.0, mbits), (int)exp - bias);
}

static void put(void *buf, size_t i, int t, double v) {
  switch (t) {
    case ncclInt8: ((int8_t *)buf)[i] = (int8_t)v; break;
    case ncclUint8: ((uint8_t *)buf)[i] = (uint8_t)v; break;
    case ncclInt32: ((int32_t *)buf)[i] = (int32_t)v; break;
    case ncclUint32: ((uint32_t *)buf)[i] = (uint32_t)v; break;
    case ncclInt64: ((int64_t *)buf)[i] = (int64_t)v; break;
    case ncclUint64: ((uint64_t *)buf)[i] = (uint64_t)v; break;
    case ncclFloat16: ((uint16_t *)buf)[i] = (uint16_t)encode_float(v, 5, 10); break;
    case ncclFloat32: ((float *)buf)[i] = (float)v; break;
    case ncclFloat64: ((double *)buf)[i] = v; break;
    case ncclBfloat16: ((uint16_t *)buf)[i] = (uint16_t)encode_float(v, 8, 7); break;
    case ncclFloat8e4m3: ((uint8_t *)buf)[i] = (uint8_t)encode_float(v, 4, 3); break;
    default: ((uint8_t *)buf)[i] = (uint8_t)encode_float(v, 5, 2); break;
  }
}

static double get(const void *buf, size_t i, int t) {
  switch (t) {
    case ncclInt8: return ((const int8_t *)buf)[i];
    case ncclUint8: return ((const uint8_t *)buf)[i];
    case ncclInt32: return ((const int32_t *)buf)[i];
    case ncclUint32: return ((const uint32_t *)buf)[i];
    case ncclInt64: return (double)((const int64_t *)buf)[i];
    case ncclUint64: return (double)((const uint64_t *)buf)[i];
    case ncclFloat16: return decode_float(((const uint16_t *)buf)[i], 5, 10, 1);
    case ncclFloat32: return ((const float *)buf)[i];
    case ncclFloat64: return ((const double *)buf)[i];
    case ncclBfloat16: return decode_float(((const uint16_t *)buf)[i], 8, 7, 1);
    case ncclFloat8e4m3: return decode_float(((const uint8_t *)buf)[i], 4, 3, 0);
    default: return decode_float(((const uint8_t *)buf)[i], 5, 2, 1);
  }
}

static uint32_t mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

/*
 * Element i of rank r: small integers whose partial sums (up to 8 ranks) and products (up to 4; +-1
 * beyond) stay exact in every dtype, fp8 included. avg's inputs are the same on every rank, so its
 * mean is exact too.
 */
static double value(int r, size_t i, uint32_t seed, int t, int op) {
  uint32_t h = mix(seed * 2654435761u ^ mix((uint32_t)i * 40503u ^ (uint32_t)(op == ncclAvg ? 0 : r + 1) * 2246822519u));
  if (op == ncclProd) {
    if (is_unsigned(t)) return nranks > 4 ? 1 : 1 + (int)(h % 2);
    static const int signed_factors[3] = {-1, 1, 2};
    return nranks > 4 ? ((h & 1) ? 1 : -1) : signed_factors[h % 3];
  }
  if (is_unsigned(t)) return h % 4;
  return t == ncclFloat8e4m3 || t == ncclFloat8e5m2 ? (int)(h % 3) - 1 : (int)(h % 5) - 2;
}

static double expected(size_t i, uint32_t seed, int t, int op, const int *members, int nmembers) {
  double acc = value(members[0], i, seed, t, op);
  for (int k = 1; k < nmembers; k++) {
    double v = value(members[k], i, seed, t, op);
    acc = op == ncclProd ? acc * v : op == ncclMax ? fmax(acc, v) : op == ncclMin ? fmin(acc, v) : acc + v;
  }
  return op == ncclAvg ? acc / nmembers : acc;
}

/* ---- one checked call ---- */
typedef struct buffers {
  void *send, *recv;  /* device */
  void *host;         /* staging for inputs and results */
  size_t bytes;
} buffers_t;

static void buffers_alloc(buffers_t *b, size_t bytes) {
  b->bytes = bytes ? bytes : 1;
  CUDA(cudaMalloc(&b->send, b->bytes));
  CUDA(cudaMalloc(&b->recv, b->bytes));
  b->host = malloc(b->bytes);
  if (!b->host) exit(1);
}

static void buffers_free(buffers_t *b) {
  CUDA(cudaFree(b->send));
  CUDA(cudaFree(b->recv));
  free(b->host);
}

/* Inputs of this rank into send, the output poisoned (0xff bytes: NaN or -1 in every dtype). */
static void fill(buffers_t *b, size_t count, int t, int op, uint32_t seed, int in_place, cudaStream_t s) {
  for (size_t i = 0; i < count; i++) put(b->host, i, t, value(rank, i, seed, t, op));
  CUDA(cudaMemcpyAsync(b->send, b->host, count * type_size(t), cudaMemcpyHostToDevice, s));
  if (!in_place) CUDA(cudaMemsetAsync(b->recv, 0xff, count * type_size(t), s));
  CUDA(cudaStreamSynchronize(s));
}

/* Checks the output against the exact reduction over `members`, records its digest under `name`. */
static void check(const char *name, buffers_t *b, const void *out, size_t count, int t, int op, uint32_t seed,
                  const int *members, int nmembers, cudaStream_t s) {
  CUDA(cudaMemcpyAsync(b->host, out, count * type_size(t), cudaMemcpyDeviceToHost, s));
  CUDA(cudaStreamSynchronize(s));
  unsigned long long wrong = 0;
  for (size_t i = 0; i < count; i++) {
    double want = expected(i, seed, t, op, members, nmembers), got = get(b->host, i, t);
    if (got != want) {
      if (wrong < 3)
        fprintf(stderr, "rank %d %s: element %zu is %g, expected %g\n", rank, name, i, got, want);
      wrong++;
    }
  }
  uint64_t digest = 14695981039346656037ull;
  const unsigned char *bytes = b->host;
  for (size_t i = 0; i < count * type_size(t); i++) digest = (digest ^ bytes[i]) * 1099511628211ull;
  if (digests) fprintf(digests, "%s %016llx wrong %llu\n", name, (unsigned long long)digest, wrong);
  wrong_total += wrong;
  cases++;
}

static int world_members[1024];

static void one_case(ncclComm_t comm, buffers_t *b, size_t count, int t, int op, int in_place, cudaStream_t s) {
  uint32_t seed = (uint32_t)(count * 131 + t * 17 + op * 5 + in_place);
  fill(b, count, t, op, seed, in_place, s);
  void *out = in_place ? b->send : b->recv;
  NCCL(ncclAllReduce(b->send, out, count, (ncclDataType_t)t, (ncclRedOp_t)op, comm, s));
  char name[96];
  snprintf(name, sizeof name, "%s.%s.%zu.%s", type_names[t], op_names[op], count, in_place ? "inplace" : "outofplace");
  check(name, b, out, count, t, op, seed, world_members, nranks, s);
}

/* ---- the parts ---- */
static void every_dtype_and_op(ncclComm_t comm, cudaStream_t s) {
  const size_t counts[] = {1, 7, 1000, 65539};
  const size_t big = 1048579; /* two-shot's range: only where nvrar serves */
  buffers_t b;
  buffers_alloc(&b, big * 8);
  int power_of_two = (nranks & (nranks - 1)) == 0;
  for (int t = 0; t < ncclNumTypes; t++) {
    for (int op = 0; op < ncclNumOps; op++) {
      if (op == ncclAvg && !power_of_two) continue; /* 1/n inexact: NCCL's avg is not the exact mean */
      for (int in_place = 0; in_place < 2; in_place++) {
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) one_case(comm, &b, counts[c], t, op, in_place, s);
        int served = (t == ncclFloat32 || t == ncclFloat16 || t == ncclBfloat16) && op != ncclProd && op != ncclAvg;
        if (served) one_case(comm, &b, big, t, op, in_place, s);
      }
    }
  }
  buffers_free(&b);
  /* just above the drop-in's default NVRAR_NCCL_MAX_BYTES (64 MiB): NCCL's, and still right */
  buffers_alloc(&b, ((size_t)64 << 20) + 2);
  one_case(comm, &b, ((size_t)32 << 20) + 1, ncclBfloat16, ncclSum, 0, s);
  buffers_free(&b);
}

/* A graph of five all-reduces (three nvrar sizes, one NCCL dtype, one in place), replayed on new data. */
static void in_a_graph(ncclComm_t comm, cudaStream_t s) {
  enum { N = 5, REPLAYS = 6 };
  const size_t counts[N] = {4099, 300000, 1000003, 5000, 2048};
  const int types[N] = {ncclBfloat16, ncclFloat32, ncclFloat16, ncclInt32, ncclBfloat16};
  const int ops[N] = {ncclSum, ncclMax, ncclSum, ncclSum, ncclMin};
  const int in_place[N] = {0, 0, 0, 0, 1};
  buffers_t b[N];
  for (int k = 0; k < N; k++) buffers_alloc(&b[k], counts[k] * type_size(types[k]));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal)); /* torch's default: any unsafe call fails */
  for (int k = 0; k < N; k++)
    NCCL(ncclAllReduce(b[k].send, in_place[k] ? b[k].send : b[k].recv, counts[k], (ncclDataType_t)types[k],
                       (ncclRedOp_t)ops[k], comm, s));
  CUDA(cudaStreamEndCapture(s, &graph));
  CUDA(cudaGraphInstantiate(&exec, graph, 0));
  for (int r = 0; r < REPLAYS; r++) {
    for (int k = 0; k < N; k++) fill(&b[k], counts[k], types[k], ops[k], 1000u + 10u * r + k, in_place[k], s);
    CUDA(cudaGraphLaunch(exec, s));
    for (int k = 0; k < N; k++) {
      char name[96];
      snprintf(name, sizeof name, "graph.replay%d.%s.%s.%zu", r, type_names[types[k]], op_names[ops[k]], counts[k]);
      check(name, &b[k], in_place[k] ? b[k].send : b[k].recv, counts[k], types[k], ops[k], 1000u + 10u * r + k,
            world_members, nranks, s);
    }
  }
  CUDA(cudaGraphExecDestroy(exec));
  CUDA(cudaGraphDestroy(graph));
  for (int k = 0; k < N; k++) buffers_free(&b[k]);
}

/* Groups: nvrar's all-reduces held to the group's end beside NCCL's calls; a nested group. */
static void in_groups(ncclComm_t comm, cudaStream_t s) {
  enum { N = 4 };
  const size_t counts[N] = {5000, 70000, 3000, 1234};
  const int types[N] = {ncclBfloat16, ncclFloat32, ncclInt64, ncclFloat32};
  const int ops[N] = {ncclSum, ncclMin, ncclSum, ncclSum};
  buffers_t b[N];
  for (int k = 0; k < N; k++) {
    buffers_alloc(&b[k], counts[k] * type_size(types[k]));
    fill(&b[k], counts[k], types[k], ops[k], 2000u + k, 0, s);
  }
  NCCL(ncclGroupStart());
  for (int k = 0; k < 3; k++)
    NCCL(ncclAllReduce(b[k].send, b[k].recv, counts[k], (ncclDataType_t)types[k], (ncclRedOp_t)ops[k], comm, s));
  NCCL(ncclBroadcast(b[3].send, b[3].recv, counts[3], ncclFloat32, 0, comm, s));
  NCCL(ncclGroupEnd());
  const int root[1] = {0};
  for (int k = 0; k < N; k++) {
    char name[64];
    snprintf(name, sizeof name, "group.%d.%s", k, k == 3 ? "broadcast" : "allreduce");
    check(name, &b[k], b[k].recv, counts[k], types[k], ops[k], 2000u + k, k == 3 ? root : world_members,
          k == 3 ? 1 : nranks, s);
  }
  /* nested: the inner end launches nothing, the outer end both */
  fill(&b[0], counts[0], ncclBfloat16, ncclSum, 2100, 0, s);
  fill(&b[1], counts[1], ncclFloat32, ncclMax, 2101, 1, s);
  NCCL(ncclGroupStart());
  NCCL(ncclGroupStart());
  NCCL(ncclAllReduce(b[0].send, b[0].recv, counts[0], ncclBfloat16, ncclSum, comm, s));
  NCCL(ncclGroupEnd());
  NCCL(ncclAllReduce(b[1].send, b[1].send, counts[1], ncclFloat32, ncclMax, comm, s));
  NCCL(ncclGroupEnd());
  check("group.nested.0", &b[0], b[0].recv, counts[0], ncclBfloat16, ncclSum, 2100, world_members, nranks, s);
  check("group.nested.1", &b[1], b[1].send, counts[1], ncclFloat32, ncclMax, 2101, world_members, nranks, s);
  for (int k = 0; k < N; k++) buffers_free(&b[k]);
}

static ncclUniqueId shared_id(nvrar_job_t *job) {
  ncclUniqueId id;
  if (rank == 0) NCCL(ncclGetUniqueId(&id));
  if (nvrar_job_bcast(job, &id, sizeof id)) exit(1);
  return id;
}

/* A communicator created inside a group, and a sub-communicator of every other rank. */
static void more_communicators(nvrar_job_t *job, ncclComm_t comm, cudaStream_t s) {
  buffers_t b;
  buffers_alloc(&b, 100000 * 2);
  ncclUniqueId id = shared_id(job);
  ncclComm_t grouped;
  NCCL(ncclGroupStart());
  NCCL(ncclCommInitRank(&grouped, nranks, id, rank));
  NCCL(ncclGroupEnd());
  fill(&b, 100000, ncclBfloat16, ncclSum, 3000, 0, s);
  NCCL(ncclAllReduce(b.send, b.recv, 100000, ncclBfloat16, ncclSum, grouped, s));
  check("grouped_init", &b, b.recv, 100000, ncclBfloat16, ncclSum, 3000, world_members, nranks, s);
  NCCL(ncclCommDestroy(grouped));

  ncclComm_t sub;
  NCCL(ncclCommSplit(comm, rank % 2, rank, &sub, NULL));
  int members[1024], nmembers = 0;
  for (int r = rank % 2; r < nranks; r += 2) members[nmembers++] = r;
  fill(&b, 50000, ncclFloat32, ncclSum, 3001, 0, s);
  NCCL(ncclAllReduce(b.send, b.recv, 50000, ncclFloat32, ncclSum, sub, s));
  check(rank % 2 ? "split.odd" : "split.even", &b, b.recv, 50000, ncclFloat32, ncclSum, 3001, members, nmembers, s);
  NCCL(ncclCommDestroy(sub));
  buffers_free(&b);
}

/*
 * The same ranks again (a split with one color): with the drop-in, a sub-communicator of the world.
 * Used beside the world, then after the world's destroy (the drop-in keeps the world for it), then
 * destroyed itself. Takes over destroying comm.
 */
static void outliving_the_world(ncclComm_t comm, cudaStream_t s) {
  ncclComm_t dup;
  NCCL(ncclCommSplit(comm, 0, rank, &dup, NULL));
  const size_t counts[3] = {3000, 300001, (3 << 20) + 5};
  buffers_t b;
  buffers_alloc(&b, counts[2] * 4);
  for (int k = 0; k < 3; k++) {
    for (int which = 0; which < 2; which++) { /* interleaved on one stream: world, then the duplicate */
      uint32_t seed = 5000u + 2u * k + which;
      fill(&b, counts[k], ncclFloat32, ncclMax, seed, 0, s);
      NCCL(ncclAllReduce(b.send, b.recv, counts[k], ncclFloat32, ncclMax, which ? dup : comm, s));
      char name[64];
      snprintf(name, sizeof name, "%s.float.max.%zu", which ? "dup" : "world_beside_dup", counts[k]);
      check(name, &b, b.recv, counts[k], ncclFloat32, ncclMax, seed, world_members, nranks, s);
    }
  }
  ncclResult_t async = ncclSuccess;
  NCCL(ncclCommGetAsyncError(comm, &async));
  NCCL(ncclCommDestroy(comm));
  for (int k = 0; k < 3; k++) {
    fill(&b, counts[k], ncclBfloat16, ncclSum, 5100u + k, 1, s);
    NCCL(ncclAllReduce(b.send, b.send, counts[k], ncclBfloat16, ncclSum, dup, s));
    char name[64];
    snprintf(name, sizeof name, "dup_after_world.bfloat16.sum.%zu", counts[k]);
    check(name, &b, b.send, counts[k], ncclBfloat16, ncclSum, 5100u + k, world_members, nranks, s);
  }
  ncclResult_t dup_async = ncclSuccess;
  NCCL(ncclCommGetAsyncError(dup, &dup_async));
  NCCL(ncclCommDestroy(dup));
  buffers_free(&b);
  if (async != ncclSuccess || dup_async != ncclSuccess) {
    fprintf(stderr, "rank %d: asynchronous error %s\n", rank, ncclGetErrorString(async ? async : dup_async));
    exit(1);
  }
}

/*
 * What one eager ncclAllReduce costs the calling thread (4 KiB of bfloat16): 400 calls enqueued back
 * to back, fewer than the launch queue holds, so the GPU never makes the host wait; median of 5.
 */
static void host_time(ncclComm_t comm, cudaStream_t s) {
  enum { CALLS = 400, RUNS = 5 };
  buffers_t b;
  buffers_alloc(&b, 4096);
  fill(&b, 2048, ncclBfloat16, ncclMax, 6000, 1, s);
  double runs[RUNS];
  for (int run = 0; run < RUNS; run++) {
    CUDA(cudaStreamSynchronize(s));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < CALLS; i++) NCCL(ncclAllReduce(b.send, b.send, 2048, ncclBfloat16, ncclMax, comm, s));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    runs[run] = ((t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) * 1e-3) / CALLS;
  }
  CUDA(cudaStreamSynchronize(s));
  check("host_time.bfloat16.max.2048", &b, b.send, 2048, ncclBfloat16, ncclMax, 6000, world_members, nranks, s);
  for (int i = 1; i < RUNS; i++) /* insertion sort of five */
    for (int k = i; k > 0 && runs[k] < runs[k - 1]; k--) {
      double t = runs[k];
      runs[k] = runs[k - 1];
      runs[k - 1] = t;
    }
  if (rank == 0) printf("host time per ncclAllReduce call (4 KiB bf16, eager): %.2f us\n", runs[RUNS / 2]);
  buffers_free(&b);
}

/*
 * Create, use and destroy `loops` times: device memory after each destroy must not shrink. Free
 * memory is the device's, and the other ranks' processes briefly hold some on every device while
 * they set up (half a GiB was seen), so every rank reads it between two barriers, all at rest.
 */
static int create_destroy_loop(nvrar_job_t *job, int loops, cudaStream_t s) {
  buffers_t b;
  buffers_alloc(&b, 4096 * 2);
  size_t first = 0, last = 0, total = 0;
  char trail[512] = "";
  for (int k = 0; k < loops; k++) {
    ncclUniqueId id = shared_id(job);
    ncclComm_t comm;
    NCCL(ncclCommInitRank(&comm, nranks, id, rank));
    fill(&b, 4096, ncclBfloat16, ncclSum, 4000u + k, 0, s);
    NCCL(ncclAllReduce(b.send, b.recv, 4096, ncclBfloat16, ncclSum, comm, s));
    char name[32];
    snprintf(name, sizeof name, "loop.%d", k);
    check(name, &b, b.recv, 4096, ncclBfloat16, ncclSum, 4000u + k, world_members, nranks, s);
    NCCL(ncclCommDestroy(comm));
    CUDA(cudaDeviceSynchronize());
    if (nvrar_job_barrier(job)) exit(1);
    CUDA(cudaMemGetInfo(&last, &total));
    if (nvrar_job_barrier(job)) exit(1);
    if (k == 0) first = last;
    snprintf(trail + strlen(trail), sizeof trail - strlen(trail), " %zu", last >> 20);
  }
  buffers_free(&b);
  long long lost_mib = ((long long)first - (long long)last) >> 20;
  int ok = lost_mib <= 64; /* allocator caching may move a few MiB; a leaked communicator is GiBs */
  printf("rank %d: %d x create/all-reduce/destroy: free device memory after each destroy (MiB):%s (%s)\n", rank, loops,
         trail, ok ? "no leak" : "LEAK");
  return ok;
}

int main(int argc, char **argv) {
  int nprocs = 0, loops = 4;
  const char *digest_prefix = NULL;
  for (int i = 1; i + 1 < argc; i++) {
    if (!strcmp(argv[i], "-g")) nprocs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--digests")) digest_prefix = argv[++i];
    else if (!strcmp(argv[i], "--loops")) loops = atoi(argv[++i]);
  }
  if (!nprocs && !getenv("WORLD_SIZE") && !getenv("OMPI_COMM_WORLD_SIZE")) nprocs = 2;
  int ndev = nvrar_job_count_gpus();
  if (ndev < (nprocs ? nprocs : 2)) {
    printf("SKIP: needs %d GPUs, %d visible\n", nprocs ? nprocs : 2, ndev);
    return 77;
  }
  nvrar_job_t job;
  if (nvrar_job_start(nprocs, &job)) return 1;
  if (job.is_parent) return job.exit_code;
  rank = job.rank;
  nranks = job.nranks;
  for (int r = 0; r < nranks; r++) world_members[r] = r;
  CUDA(cudaSetDevice(job.local_rank % ndev));
  if (digest_prefix) {
    char path[4096];
    snprintf(path, sizeof path, "%s.rank%d", digest_prefix, rank);
    digests = fopen(path, "w");
    if (!digests) {
      perror(path);
      return 1;
    }
  }
  int version = 0;
  NCCL(ncclGetVersion(&version));
  cudaStream_t s;
  CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  ncclUniqueId id = shared_id(&job);
  ncclComm_t comm;
  NCCL(ncclCommInitRank(&comm, nranks, id, rank));
  buffers_t one;
  buffers_alloc(&one, 4);
  fill(&one, 1, ncclFloat32, ncclSum, 1, 0, s);
  NCCL(ncclAllReduce(one.send, one.recv, 1, ncclFloat32, ncclSum, comm, s)); /* vLLM's warm-up */
  check("first_after_init", &one, one.recv, 1, ncclFloat32, ncclSum, 1, world_members, nranks, s);
  buffers_free(&one);

  host_time(comm, s);
  every_dtype_and_op(comm, s);
  in_a_graph(comm, s);
  in_groups(comm, s);
  more_communicators(&job, comm, s);
  outliving_the_world(comm, s);
  int ok = create_destroy_loop(&job, loops, s);
  if (digests) fclose(digests);

  unsigned long long mine[3] = {wrong_total, cases, (unsigned long long)!ok}, all[3 * 1024];
  if (nvrar_job_allgather(&job, mine, all, sizeof mine)) return 1;
  unsigned long long wrong = 0, failed = 0;
  for (int r = 0; r < nranks; r++) {
    wrong += all[3 * r];
    failed += all[3 * r + 2];
  }
  if (rank == 0)
    printf("test_nccl_allreduce: %d ranks, NCCL %d reported, %llu checked results per rank, #wrong %llu, %s\n", nranks,
           version, cases, wrong, failed ? "a check FAILED" : "all ok");
  nvrar_job_finish(&job);
  return wrong || failed ? 1 : 0;
}
