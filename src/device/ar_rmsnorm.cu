/*
 * All-reduce + residual add + RMSNorm (nvrar_all_reduce_add_rmsnorm; include/nvrar.h states the
 * function bit by bit, and tools/rmsnorm_ref.c computes it on the CPU).
 *
 * The norm needs a whole row, so work is split by rows: block b of NORM_THREADS threads takes rows
 * b, b + grid, ...; thread t takes the row's 16-byte packs t, t + 256, ... (the order the header's
 * sum of squares is defined in), so every row is reduced in the same order whatever the grid.
 *
 * Fused one-shot (oneshot_rmsnorm_kernel), a message of one one-shot piece on one node:
 *   1. push: every rank writes the packs of its rows of input, as one-shot cells (common.cuh), into
 *      slot [parity][own rank] of every peer's cell buffer, the same cells and piece counter as
 *      nvrar_all_reduce's one-shot (ar_oneshot.cu states why a slot is never overwritten while read);
 *   2. per row: fold ranks 0..n-1 in fp32 (its own input read locally), round to T: s; then the
 *      add and the norm (norm_row below) with s straight from registers.
 * Fused two-shot (twoshot_rmsnorm_kernel, below): rows split over ranks, for two-shot's sizes.
 * Add + norm alone (add_rmsnorm_kernel): s read from a buffer, for one rank (s = input) and after
 * nvrar_all_reduce where it takes the ring family or spans nodes.
 * A block that gives up (timeout, abort, dead communicator) leaves its rows of out and residual NaN.
 * Constraints: blockDim.x == NORM_THREADS; the fused one-shot takes one piece (rows x row packs <=
 * the one-shot slot, slice_cap); any hidden size the header allows.
 * Test: tests/mp/test_rmsnorm (bitwise against the CPU reference, every rank the same).
 */
#include "common.cuh"

namespace nvrar {

constexpr int NORM_THREADS = 256, NORM_WARPS = NORM_THREADS / 32;

/* The row's sum of squares as the header defines it: per-thread fmaf over its packs (already in
 * acc), a butterfly in each warp, then the warps' sums in order. Every thread gets the same value.
 * The caller puts a barrier between this and the block's next row (warp_sums is written again):
 * the fused kernels have one there anyway, the add + norm alone only where the block has a next row
 * (at most 1024 rows it has none: one barrier a row, not two). */
__device__ __forceinline__ float row_sum_of_squares(float acc, float *warp_sums) {
#pragma unroll
  for (int m = 16; m >= 1; m >>= 1) acc = __fadd_rn(acc, __shfl_xor_sync(0xffffffffu, acc, m));
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = acc;
  __syncthreads();
  float ss = warp_sums[0];
#pragma unroll
  for (int w = 1; w < NORM_WARPS; w++) ss = __fadd_rn(ss, warp_sums[w]);
  return ss;
}

/* r = T(float(s) + float(residual)), element by element. For half and bf16 one packed add of the
 * type itself: the same bits, since a sum of two p-bit numbers rounded to fp32 (24 bits >= 2p + 2)
 * and then to p bits equals the sum rounded to p bits once (double rounding is innocuous there;
 * subnormals included, the sum being exact in fp32 when it is that small). Half the instructions. */
template <typename T> __device__ __forceinline__ uint4 add_packs(uint4 s, uint4 residual) {
  if constexpr (std::is_same_v<T, float>) {
    return make_uint4(__float_as_uint(__fadd_rn(__uint_as_float(s.x), __uint_as_float(residual.x))),
                      __float_as_uint(__fadd_rn(__uint_as_float(s.y), __uint_as_float(residual.y))),
                      __float_as_uint(__fadd_rn(__uint_as_float(s.z), __uint_as_float(residual.z))),
                      __float_as_uint(__fadd_rn(__uint_as_float(s.w), __uint_as_float(residual.w))));
  } else {
    using T2 = std::conditional_t<std::is_same_v<T, __half>, __half2, __nv_bfloat162>;
    uint4 r;
    const T2 *a = reinterpret_cast<const T2 *>(&s), *b = reinterpret_cast<const T2 *>(&residual);
    T2 *d = reinterpret_cast<T2 *>(&r);
#pragma unroll
    for (int i = 0; i < 4; i++) d[i] = __hadd2_rn(a[i], b[i]);
    return r;
  }
}

/* One pack of a row: r = T(s + residual), its rounded elements' squares added to acc in element
 * order (the header's sum takes the rounded r); and out = T(r * inv * weight). */
template <typename T> __device__ __forceinline__ uint4 add_and_square(uint4 s, uint4 residual, float &acc) {
  const uint4 r = add_packs<T>(s, residual);
  Pack<T> y;
  unpack<T>(r, y);
#pragma unroll
  for (int e = 0; e < Pack<T>::N; e++) acc = __fmaf_rn(y.v[e], y.v[e], acc);
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

/*
 * One row: r = T(s + residual) stored to residual, the sum of squares of r, then
 * out = T(r * inv * weight). s(k) gives the row's pack k of the all-reduce result.
 * The thread's first NORM_CACHED packs of s, residual and weight are loaded together into registers
 * and out is written from them: one memory round trip for a row of up to NORM_CACHED x 256 packs
 * (8192 bf16), where a loop that stores residual[k] before its next loads costs one per pack (the
 * compiler cannot lift a load above a store that may alias it: 1x H100, 2026-12-07, 3.46 -> 2.27 us
 * for one row of 8192 bf16). Packs beyond those go through residual in memory. The same operations
 * in the same order either way, so the bits do not depend on the row's length.
 */
constexpr int NORM_CACHED = 4;

template <typename T, typename S>
__device__ __forceinline__ void norm_row(const nvrar_norm_args_t &n, uint64_t row, float *warp_sums, S s) {
  uint4 *res = static_cast<uint4 *>(n.residual) + row * n.row_packs;
  uint4 *out = static_cast<uint4 *>(n.out) + row * n.row_packs;
  const uint4 *w = static_cast<const uint4 *>(n.weight);
  uint4 sv[NORM_CACHED], rv[NORM_CACHED], wv[NORM_CACHED];
#pragma unroll
  for (int i = 0; i < NORM_CACHED; i++) {
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
  for (int i = 0; i < NORM_CACHED; i++) {
    const uint64_t k = threadIdx.x + (uint64_t)i * NORM_THREADS;
    if (k < n.row_packs) res[k] = rv[i] = add_and_square<T>(sv[i], rv[i], acc);
  }
  for (uint64_t k = threadIdx.x + (uint64_t)NORM_CACHED * NORM_THREADS; k < n.row_packs; k += NORM_THREADS)
    res[k] = add_and_square<T>(s(k), res[k], acc); /* read back below by this same thread */
  const float ss = row_sum_of_squares(acc, warp_sums);
  const float inv = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(ss, (float)n.hidden), n.eps)));
#pragma unroll
  for (int i = 0; i < NORM_CACHED; i++) {
    const uint64_t k = threadIdx.x + (uint64_t)i * NORM_THREADS;
    if (k < n.row_packs) out[k] = scale<T>(rv[i], wv[i], inv);
  }
  for (uint64_t k = threadIdx.x + (uint64_t)NORM_CACHED * NORM_THREADS; k < n.row_packs; k += NORM_THREADS)
    out[k] = scale<T>(res[k], w[k], inv);
}

/* A block that gave up: NaN over its rows of out and residual (0xff bytes, a NaN in every dtype). */
__device__ __forceinline__ void poison_rows(const nvrar_norm_args_t &n, bool ok) {
  if (__syncthreads_and(ok)) return;
  const uint4 nan = make_uint4(~0u, ~0u, ~0u, ~0u);
  for (uint64_t row = blockIdx.x; row < n.rows; row += gridDim.x)
    for (uint64_t k = threadIdx.x; k < n.row_packs; k += blockDim.x) {
      static_cast<uint4 *>(n.out)[row * n.row_packs + k] = nan;
      static_cast<uint4 *>(n.residual)[row * n.row_packs + k] = nan;
    }
}

/* At most 64 registers, so that 4 blocks fit on an SM and 512 rows run in one wave on 132 SMs: the
 * lab's kernel ran at 63 (7.03 us for 512 rows of 8192 bf16, 1x H100); unbounded, this one took 71
 * (3 blocks an SM). No spill under the bound (ptxas, CUDA 13.0). */
template <typename T>
__global__ void __launch_bounds__(NORM_THREADS, 4) add_rmsnorm_kernel(nvrar_norm_args_t n, const uint4 *sums) {
  grid_dependency_sync(n.pdl);
  __shared__ float warp_sums[NORM_WARPS];
  for (uint64_t row = blockIdx.x; row < n.rows; row += gridDim.x) {
    norm_row<T>(n, row, warp_sums, [&](uint64_t k) { return sums[row * n.row_packs + k]; });
    if (row + gridDim.x < n.rows) __syncthreads(); /* warp_sums is read by all before the next row */
  }
}

template <typename T, int NRANKS>
__global__ void __launch_bounds__(NORM_THREADS) oneshot_rmsnorm_kernel(nvrar_kernel_args_t a, nvrar_norm_args_t n) {
  grid_dependency_sync(a.pdl);
  __shared__ float warp_sums[NORM_WARPS];
  volatile nvrar_device_sync_t *sync = a.sync;
  const uint64_t base = sync->ll_count, counter = base + 1;
  const uint32_t flag = cell_flag(counter);
  const int parity = (int)(counter & 1);
  const uint4 *in = static_cast<const uint4 *>(a.send);
  uint4 *cells = static_cast<uint4 *>(a.stage[a.rank]);
  bool ok = block_alive(a);

  if (ok) {
    header_push<NRANKS>(a, parity, flag); /* the call's signature, as the one-shot all-reduce */
    for (uint64_t row = blockIdx.x; row < n.rows; row += gridDim.x) {
      for (uint64_t k = threadIdx.x; k < n.row_packs; k += blockDim.x) {
        const uint64_t off = row * n.row_packs + k;
        const uint4 v = in[off];
        const uint64_t idx = cell_index(a, parity, a.rank, off);
#pragma unroll
        for (int i = 1; i < NRANKS; i++) {
          uint4 *dst = static_cast<uint4 *>(a.stage[(a.rank + i) % NRANKS]) + idx;
          cell_store(dst, v.x, v.y, flag);
          cell_store(dst + 1, v.z, v.w, flag);
        }
      }
    }
    const bool header_ok = header_check<NRANKS>(a, parity, flag); /* the peers' calls match this one */
    for (uint64_t row = blockIdx.x; row < n.rows && ok; row += gridDim.x) {
      bool row_ok = header_ok;
      norm_row<T>(n, row, warp_sums, [&](uint64_t k) {
        const uint64_t off = row * n.row_packs + k;
        const uint4 own = in[off]; /* read once: the cell reads are volatile, so it would not be hoisted */
        Pack<T> acc;
#pragma unroll
        for (int r = 0; r < NRANKS; r++) {
          uint4 v = own;
          if (r != a.rank && !cell_pair_read(a, cells + cell_index(a, parity, r, off), flag, &v)) row_ok = false;
          fold<T, NVRAR_SUM>(acc, v, r == 0);
        }
        return repack<T>(acc);
      });
      ok = __syncthreads_and(row_ok); /* also frees warp_sums for the next row */
    }
  }
  poison_rows(n, ok);

  last_block_publishes(a, &sync->ll_count, base + 1); /* the piece counter, as one-shot's */
}

/*
 * Fused two-shot: rank q owns rows q, q + n, q + 2n, ... (its j-th row is q + j n); block b of every
 * rank takes owned rows j = b, b + grid, ... of every rank, so that the blocks that meet at a
 * barrier move the same rows.
 *   1. scatter: rank r stores its input's rows owned by q into q's scatter slot [r] (NVLink stores);
 *   barrier A (this block index, all ranks, two-shot's flags and sequence counters);
 *   2. per owned row: fold ranks 0..n-1 in order (its own input read locally, the others from its
 *      scatter slots), add and norm (norm_row), then store the row's out and residual into gather
 *      slot [q] of every other rank (out at j, residual at owned_max + j, in rows);
 *   barrier B;
 *   3. copy every other rank's out and residual rows from the gather slots.
 * Slot reuse follows the two-shot all-reduce's argument (ar_twoshot.cu): barrier A of a call is
 * passed only when every rank has finished its previous kernel.
 */
template <typename T, int NRANKS>
__global__ void __launch_bounds__(NORM_THREADS) twoshot_rmsnorm_kernel(nvrar_kernel_args_t a, nvrar_norm_args_t n) {
  grid_dependency_sync(a.pdl);
  __shared__ float warp_sums[NORM_WARPS];
  const uint64_t P = n.row_packs, owned_max = (n.rows + NRANKS - 1) / NRANKS;
  const uint64_t gather = (uint64_t)NRANKS * a.slice_cap; /* gather slots follow the scatter slots */
  const uint4 *in = static_cast<const uint4 *>(a.send);
  uint4 *mine = static_cast<uint4 *>(a.stage[a.rank]), *out = static_cast<uint4 *>(n.out);
  uint4 *res = static_cast<uint4 *>(n.residual);
  uint32_t seq = a.sync->seq[blockIdx.x];
  auto owned = [&](int q) { return n.rows > (uint64_t)q ? (n.rows - q + NRANKS - 1) / NRANKS : 0; };
  bool ok = block_alive(a);

  if (ok) {
#pragma unroll
    for (int i = 1; i < NRANKS; i++) { /* 1. scatter */
      const int q = (a.rank + i) % NRANKS;
      uint4 *dst = static_cast<uint4 *>(a.stage[q]) + (uint64_t)a.rank * a.slice_cap;
      for (uint64_t j = blockIdx.x; j < owned(q); j += gridDim.x)
        for (uint64_t k = threadIdx.x; k < P; k += blockDim.x) dst[j * P + k] = in[(q + j * NRANKS) * P + k];
    }
    ok = block_barrier<NRANKS>(a, 0, ++seq);
  }
  if (ok) { /* 2. reduce, add and norm the owned rows; hand out and residual to every other rank */
    for (uint64_t j = blockIdx.x; j < owned(a.rank); j += gridDim.x) {
      const uint64_t row = a.rank + j * NRANKS;
      norm_row<T>(n, row, warp_sums, [&](uint64_t k) {
        Pack<T> acc;
#pragma unroll
        for (int r = 0; r < NRANKS; r++)
          fold<T, NVRAR_SUM>(acc, r == a.rank ? in[row * P + k] : load_cg(mine + (uint64_t)r * a.slice_cap + j * P + k),
                             r == 0);
        return repack<T>(acc);
      });
      __syncthreads(); /* the row's out and residual, written by norm_row's threads, are complete (and
                          * warp_sums is free for the next row) */
#pragma unroll
      for (int i = 1; i < NRANKS; i++) {
        uint4 *dst = static_cast<uint4 *>(a.stage[(a.rank + i) % NRANKS]) + gather + (uint64_t)a.rank * a.slice_cap;
        for (uint64_t k = threadIdx.x; k < P; k += blockDim.x) {
          dst[j * P + k] = out[row * P + k];
          dst[(owned_max + j) * P + k] = res[row * P + k];
        }
      }
    }
    ok = block_barrier<NRANKS>(a, 1, ++seq);
  }
  if (ok) {
#pragma unroll
    for (int i = 1; i < NRANKS; i++) { /* 3. gather */
      const int q = (a.rank + i) % NRANKS;
      const uint4 *src = mine + gather + (uint64_t)q * a.slice_cap;
      for (uint64_t j = blockIdx.x; j < owned(q); j += gridDim.x)
        for (uint64_t k = threadIdx.x; k < P; k += blockDim.x) {
          const uint64_t row = q + j * NRANKS;
          out[row * P + k] = load_cg(src + j * P + k);
          res[row * P + k] = load_cg(src + (owned_max + j) * P + k);
        }
    }
  }
  poison_rows(n, ok);
  if (threadIdx.x == 0) a.sync->seq[blockIdx.x] = seq;
}

/* The fused kernels' grid: at most NVRAR_MAX_BLOCKS, the per-block flags and sequence counters. The
 * add + norm alone has none and takes a block per row up to ADD_NORM_MAX_GRID (its blocks loop over
 * the rows beyond): 1x H100, 2026-12-07, 512 rows of 8192 bf16 in 7.03 us against 8.20 with 128
 * blocks. */
constexpr uint64_t ADD_NORM_MAX_GRID = 1024;
static int norm_grid(uint64_t rows, uint64_t most = NVRAR_MAX_BLOCKS) { return (int)(rows < most ? rows : most); }

}  // namespace nvrar

extern "C" int nvrar_launch_add_rmsnorm(const nvrar_norm_args_t *n, const void *sums, int dtype, void *stream) {
  using namespace nvrar;
  if (!n->rows) return 0;
  cudaStream_t s = (cudaStream_t)stream;
  const uint4 *in = static_cast<const uint4 *>(sums);
  NVRAR_SWITCH_DTYPE(dtype, T,
    return launch(add_rmsnorm_kernel<T>, norm_grid(n->rows, ADD_NORM_MAX_GRID), NORM_THREADS, s, n->pdl, *n, in));
  return (int)cudaErrorInvalidValue;
}

extern "C" int nvrar_launch_oneshot_rmsnorm(const nvrar_kernel_args_t *args, const nvrar_norm_args_t *n, int dtype,
                                            void *stream) {
  using namespace nvrar;
  if (!n->rows) return 0;
  if (n->rows * n->row_packs > args->slice_cap) return NVRAR_FUSED_NO_FIT;
  cudaStream_t s = (cudaStream_t)stream;
  NVRAR_SWITCH_DTYPE(dtype, T,
    NVRAR_SWITCH_RANKS(args->nranks, NRANKS,
      return launch(oneshot_rmsnorm_kernel<T, NRANKS>, norm_grid(n->rows), NORM_THREADS, s, args->pdl, *args, *n)));
  return (int)cudaErrorInvalidValue;
}

extern "C" int nvrar_launch_twoshot_rmsnorm(const nvrar_kernel_args_t *args, const nvrar_norm_args_t *n, int dtype,
                                            void *stream) {
  using namespace nvrar;
  if (!n->rows) return 0;
  const uint64_t owned_max = (n->rows + args->nranks - 1) / args->nranks;
  if (2 * owned_max * n->row_packs > args->slice_cap) return NVRAR_FUSED_NO_FIT;
  cudaStream_t s = (cudaStream_t)stream;
  NVRAR_SWITCH_DTYPE(dtype, T,
    NVRAR_SWITCH_RANKS(args->nranks, NRANKS,
      return launch(twoshot_rmsnorm_kernel<T, NRANKS>, norm_grid(owned_max), NORM_THREADS, s, args->pdl, *args, *n)));
  return (int)cudaErrorInvalidValue;
}
