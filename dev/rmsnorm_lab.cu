/*
 * Lab: the add + RMSNorm kernel (nvrar_all_reduce_add_rmsnorm on one rank, and the second kernel of
 * the two-kernel path) against candidates, bitwise and timed, one process on one GPU:
 *
 *   nvcc -O3 -std=c++17 -arch=sm_90 -Iinclude dev/rmsnorm_lab.cu -o /tmp/rmsnorm_lab && /tmp/rmsnorm_lab
 *   (or OUT=dir bash dev/probe.sh rmsnorm)
 *
 * Why: on 1x H100 (2026-12-07, bench/rmsnorm_torch.py, rows x 8192 bf16 in CUDA graphs) the library's
 * kernel took 3.81 / 3.86 / 3.95 / 4.25 / 10.99 us at 1 / 8 / 32 / 128 / 512 rows against 2.47 / 2.80 /
 * 2.94 / 3.68 / 8.13 for torch.compile's fused add + rms_norm. Two suspects, one variant each:
 *   regs: norm_row's loops store residual[k] before the next iteration's loads, and the compiler cannot
 *         move a load above a store that may alias it, so a row of 4 packs per thread costs 4 serial
 *         memory round trips in each of its two loops (8 in all). The candidate loads its first
 *         CACHED packs of the sum, the residual and the weight at once into registers, computes, and
 *         writes out from the same registers: one round trip. Same operations in the same order, so
 *         bitwise the library's (checked below).
 *   grid: norm_grid caps the grid at NVRAR_MAX_BLOCKS (128, the per-block flags of the fused
 *         all-reduce kernels), so 512 rows run 4 rows per block, 32 K threads on 132 SMs; the add +
 *         norm alone has no flags and may take a block per row (here up to LAB_MAX_GRID).
 * Variants: lib (the library's add_rmsnorm_kernel, its grid), grid (the library's row loop, a block per
 * row), regs (registers, the library's grid), both. Prediction: regs takes about 1 us off at 1-128 rows
 * (toward 2.5-2.8), grid about 3 us off at 512 rows (toward 8). If both hold and the bits match, norm_row
 * becomes the register version (it serves the fused one-shot and two-shot too) and the add + norm kernel
 * gets its own grid; then bench/rmsnorm_torch.py and the shared tier's rmsnorm runs.
 */
#include "../src/device/ar_rmsnorm.cu"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#define LAB_CHECK(call)                                                                       \
  do {                                                                                        \
    cudaError_t e_ = (call);                                                                  \
    if (e_ != cudaSuccess) {                                                                  \
      fprintf(stderr, "rmsnorm_lab: %s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      exit(1);                                                                                \
    }                                                                                         \
  } while (0)

namespace lab {
using namespace nvrar;

constexpr int CACHED = 4;          /* packs per thread kept in registers: a row of 8192 bf16 whole */
constexpr int LAB_MAX_GRID = 1024; /* 8 blocks of 256 threads on each of 132 SMs, about */

/* One pack of the row, as norm_row computes it: r = T(s + residual), its squares added to acc in
 * element order; and out = T(r * inv * weight). */
template <typename T> __device__ __forceinline__ uint4 add_and_square(uint4 s, uint4 residual, float &acc) {
  constexpr int N = Pack<T>::N;
  Pack<T> x, y;
  unpack<T>(s, x);
  unpack<T>(residual, y);
#pragma unroll
  for (int e = 0; e < N; e++) y.v[e] = __fadd_rn(x.v[e], y.v[e]);
  const uint4 r = repack<T>(y);
  unpack<T>(r, y); /* the rounded r, as the header's sum takes it */
#pragma unroll
  for (int e = 0; e < N; e++) acc = __fmaf_rn(y.v[e], y.v[e], acc);
  return r;
}

template <typename T> __device__ __forceinline__ uint4 scale(uint4 r, uint4 weight, float inv) {
  Pack<T> y, g;
  unpack<T>(r, y);
  unpack<T>(weight, g);
#pragma unroll
  for (int e = 0; e < Pack<T>::N; e++) y.v[e] = __fmul_rn(__fmul_rn(y.v[e], inv), g.v[e]);
  return repack<T>(y);
}

/* norm_row (ar_rmsnorm.cu) with the thread's first CACHED packs of s, residual and weight loaded up
 * front into registers; packs beyond those as norm_row does. */
template <typename T, typename S>
__device__ __forceinline__ void norm_row_regs(const nvrar_norm_args_t &n, uint64_t row, float *warp_sums, S s) {
  uint4 *res = static_cast<uint4 *>(n.residual) + row * n.row_packs;
  uint4 *out = static_cast<uint4 *>(n.out) + row * n.row_packs;
  const uint4 *w = static_cast<const uint4 *>(n.weight);
  uint4 sv[CACHED], rv[CACHED], wv[CACHED];
#pragma unroll
  for (int i = 0; i < CACHED; i++) {
    const uint64_t k = threadIdx.x + (uint64_t)i * NORM_THREADS;
    sv[i] = rv[i] = wv[i] = make_uint4(0, 0, 0, 0);
    if (k < n.row_packs) {
      sv[i] = s(k);
      rv[i] = res[k];
      wv[i] = w[k];
    }
  }
  float acc = 0.0f;
#pragma unroll
  for (int i = 0; i < CACHED; i++) {
    const uint64_t k = threadIdx.x + (uint64_t)i * NORM_THREADS;
    if (k < n.row_packs) res[k] = rv[i] = add_and_square<T>(sv[i], rv[i], acc);
  }
  for (uint64_t k = threadIdx.x + (uint64_t)CACHED * NORM_THREADS; k < n.row_packs; k += NORM_THREADS)
    res[k] = add_and_square<T>(s(k), res[k], acc);
  const float ss = row_sum_of_squares(acc, warp_sums);
  const float inv = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(ss, (float)n.hidden), n.eps)));
#pragma unroll
  for (int i = 0; i < CACHED; i++) {
    const uint64_t k = threadIdx.x + (uint64_t)i * NORM_THREADS;
    if (k < n.row_packs) out[k] = scale<T>(rv[i], wv[i], inv);
  }
  for (uint64_t k = threadIdx.x + (uint64_t)CACHED * NORM_THREADS; k < n.row_packs; k += NORM_THREADS)
    out[k] = scale<T>(res[k], w[k], inv);
}

template <typename T, bool REGS>
__global__ void __launch_bounds__(NORM_THREADS) add_rmsnorm_lab(nvrar_norm_args_t n, const uint4 *sums) {
  __shared__ float warp_sums[NORM_WARPS];
  for (uint64_t row = blockIdx.x; row < n.rows; row += gridDim.x) {
    auto s = [&](uint64_t k) { return sums[row * n.row_packs + k]; };
    if (REGS)
      norm_row_regs<T>(n, row, warp_sums, s);
    else
      norm_row<T>(n, row, warp_sums, s);
  }
}

enum Variant { LIB, GRID, REGS_ONLY, BOTH, VARIANTS };
const char *variant_name[VARIANTS] = {"lib", "grid", "regs", "both"};

template <typename T>
void launch_variant(int v, const nvrar_norm_args_t &n, const void *sums, cudaStream_t s) {
  const uint4 *in = static_cast<const uint4 *>(sums);
  const int big = (int)std::min<uint64_t>(n.rows, LAB_MAX_GRID);
  switch (v) {
  case LIB: add_rmsnorm_kernel<T><<<norm_grid(n.rows), NORM_THREADS, 0, s>>>(n, in); break;
  case GRID: add_rmsnorm_lab<T, false><<<big, NORM_THREADS, 0, s>>>(n, in); break;
  case REGS_ONLY: add_rmsnorm_lab<T, true><<<norm_grid(n.rows), NORM_THREADS, 0, s>>>(n, in); break;
  default: add_rmsnorm_lab<T, true><<<big, NORM_THREADS, 0, s>>>(n, in); break;
  }
}

}  // namespace lab

/* Host data: values of a few mantissa bits in [-4, 4) (exact in every dtype), a weight near 1. */
static uint32_t lcg(uint32_t *state) { return *state = *state * 1664525u + 1013904223u; }
static float draw(uint32_t *state) { return (float)((int)(lcg(state) >> 24) - 128) / 32.0f; }

template <typename T> static T host_from_float(float x);
template <> float host_from_float<float>(float x) { return x; }
template <> __half host_from_float<__half>(float x) { return __float2half(x); }
template <> __nv_bfloat16 host_from_float<__nv_bfloat16>(float x) { return __float2bfloat16(x); }

struct Buffers {
  void *input, *residual0, *residual, *weight, *out;
  size_t bytes, weight_bytes;
};

template <typename T> static Buffers make_buffers(uint64_t rows, uint64_t hidden, uint32_t seed) {
  Buffers b;
  b.bytes = rows * hidden * sizeof(T);
  b.weight_bytes = hidden * sizeof(T);
  std::vector<T> x(rows * hidden), r(rows * hidden), w(hidden);
  for (auto &e : x) e = host_from_float<T>(draw(&seed));
  for (auto &e : r) e = host_from_float<T>(draw(&seed));
  for (auto &e : w) e = host_from_float<T>(1.0f + draw(&seed) / 64.0f);
  LAB_CHECK(cudaMalloc(&b.input, b.bytes));
  LAB_CHECK(cudaMalloc(&b.residual0, b.bytes));
  LAB_CHECK(cudaMalloc(&b.residual, b.bytes));
  LAB_CHECK(cudaMalloc(&b.out, b.bytes));
  LAB_CHECK(cudaMalloc(&b.weight, b.weight_bytes));
  LAB_CHECK(cudaMemcpy(b.input, x.data(), b.bytes, cudaMemcpyHostToDevice));
  LAB_CHECK(cudaMemcpy(b.residual0, r.data(), b.bytes, cudaMemcpyHostToDevice));
  LAB_CHECK(cudaMemcpy(b.weight, w.data(), b.weight_bytes, cudaMemcpyHostToDevice));
  return b;
}

static void free_buffers(Buffers &b) {
  cudaFree(b.input), cudaFree(b.residual0), cudaFree(b.residual), cudaFree(b.out), cudaFree(b.weight);
}

static nvrar_norm_args_t norm_args(const Buffers &b, uint64_t rows, uint64_t hidden, size_t elem) {
  nvrar_norm_args_t n = {};
  n.residual = b.residual;
  n.out = b.out;
  n.weight = b.weight;
  n.eps = 1e-5f;
  n.rows = rows;
  n.hidden = hidden;
  n.row_packs = hidden * elem / 16;
  return n;
}

/* One call of variant v from a fresh residual and a poisoned out (in place: out is the input);
 * the bytes of out and residual after it. */
template <typename T>
static void run_once(int v, Buffers &b, uint64_t rows, uint64_t hidden, bool in_place, std::vector<unsigned char> &out,
                     std::vector<unsigned char> &res) {
  LAB_CHECK(cudaMemcpy(b.residual, b.residual0, b.bytes, cudaMemcpyDeviceToDevice));
  nvrar_norm_args_t n = norm_args(b, rows, hidden, sizeof(T));
  if (in_place) {
    LAB_CHECK(cudaMemcpy(b.out, b.input, b.bytes, cudaMemcpyDeviceToDevice));
  } else {
    LAB_CHECK(cudaMemset(b.out, 0xff, b.bytes));
  }
  lab::launch_variant<T>(v, n, in_place ? b.out : b.input, 0);
  LAB_CHECK(cudaGetLastError());
  LAB_CHECK(cudaDeviceSynchronize());
  out.resize(b.bytes);
  res.resize(b.bytes);
  LAB_CHECK(cudaMemcpy(out.data(), b.out, b.bytes, cudaMemcpyDeviceToHost));
  LAB_CHECK(cudaMemcpy(res.data(), b.residual, b.bytes, cudaMemcpyDeviceToHost));
}

/* Bytes of every variant against the library's kernel, out of place and in place: the number of
 * (shape, variant) pairs that differ. */
template <typename T> static int check_dtype(const char *name) {
  const uint64_t hiddens[] = {128, 1000, 4096, 8192, 12288, 16384};
  const uint64_t rows_list[] = {1, 7, 128, 513};
  int differ = 0, runs = 0;
  for (uint64_t hidden : hiddens) {
    if (hidden * sizeof(T) % 16) continue; /* rows of whole packs, as the API requires */
    for (uint64_t rows : rows_list) {
      Buffers b = make_buffers<T>(rows, hidden, (uint32_t)(rows * 131 + hidden));
      std::vector<unsigned char> ref_out, ref_res, out, res;
      run_once<T>(lab::LIB, b, rows, hidden, false, ref_out, ref_res);
      for (int v = 0; v < lab::VARIANTS; v++)
        for (int in_place = 0; in_place < 2; in_place++) {
          run_once<T>(v, b, rows, hidden, in_place, out, res);
          runs++;
          if (out != ref_out || res != ref_res) {
            differ++;
            printf("DIFFER: %s rows %llu hidden %llu variant %s%s\n", name, (unsigned long long)rows,
                   (unsigned long long)hidden, lab::variant_name[v], in_place ? " in place" : "");
          }
        }
      free_buffers(b);
    }
  }
  printf("bitwise %s: %d of %d runs differ from the library's kernel\n", name, differ, runs);
  return differ;
}

/* us per call: a graph of 20 calls, replayed 20 times between two events, median of 5. */
static float time_variant(int v, Buffers &b, uint64_t rows, uint64_t hidden) {
  cudaStream_t s;
  LAB_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  LAB_CHECK(cudaMemcpy(b.residual, b.residual0, b.bytes, cudaMemcpyDeviceToDevice));
  nvrar_norm_args_t n = norm_args(b, rows, hidden, sizeof(__nv_bfloat16));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  LAB_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < 20; i++) lab::launch_variant<__nv_bfloat16>(v, n, b.input, s);
  LAB_CHECK(cudaStreamEndCapture(s, &graph));
  LAB_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (int i = 0; i < 3; i++) LAB_CHECK(cudaGraphLaunch(exec, s));
  cudaEvent_t a, e;
  LAB_CHECK(cudaEventCreate(&a));
  LAB_CHECK(cudaEventCreate(&e));
  float times[5];
  for (int rep = 0; rep < 5; rep++) {
    LAB_CHECK(cudaEventRecord(a, s));
    for (int i = 0; i < 20; i++) LAB_CHECK(cudaGraphLaunch(exec, s));
    LAB_CHECK(cudaEventRecord(e, s));
    LAB_CHECK(cudaEventSynchronize(e));
    float ms;
    LAB_CHECK(cudaEventElapsedTime(&ms, a, e));
    times[rep] = ms * 1000.0f / 400.0f;
  }
  std::sort(times, times + 5);
  cudaEventDestroy(a), cudaEventDestroy(e);
  cudaGraphExecDestroy(exec), cudaGraphDestroy(graph), cudaStreamDestroy(s);
  return times[2];
}

int main() {
  cudaDeviceProp prop;
  LAB_CHECK(cudaGetDeviceProperties(&prop, 0));
  printf("rmsnorm_lab on %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
  int differ = check_dtype<float>("float") + check_dtype<__half>("half") + check_dtype<__nv_bfloat16>("bfloat16");
  const uint64_t hidden = 8192;
  printf("\nbf16, hidden %llu, us per call (graph of 20 calls x 20 replays, median of 5)\n\n",
         (unsigned long long)hidden);
  printf("| rows | lib | grid | regs | both |\n| ---: | ---: | ---: | ---: | ---: |\n");
  for (uint64_t rows : {1, 8, 32, 128, 512}) {
    Buffers b = make_buffers<__nv_bfloat16>(rows, hidden, 7);
    printf("| %llu |", (unsigned long long)rows);
    for (int v = 0; v < lab::VARIANTS; v++) printf(" %.2f |", time_variant(v, b, rows, hidden));
    printf("\n");
    free_buffers(b);
  }
  return differ ? 1 : 0;
}
