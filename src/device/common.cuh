/*
 * Device primitives shared by every algorithm: element conversion and fp32 reduction, 16-byte pack
 * loads and stores (with a scalar path for unaligned or partial packs), flag-in-data cells, bounded
 * waits, the per-block cross-GPU barrier, and the SWITCH macros that turn runtime values into
 * template constants.
 *
 * Memory-ordering contract (PTX memory model, system scope because peers are other GPUs):
 *  - barrier flags: data stores, __syncthreads, then one thread per peer st.release.sys the flag;
 *    the waiter ld.acquire.sys the flag, then __syncthreads, then the block reads the data.
 *  - flag-in-data cells (one-shot, hier-rd between nodes): data and flag travel in one 16-byte
 *    store, each 8-byte half carrying its own copy of the flag, so a reader that sees the flag in a
 *    half sees that half's data.
 *  - staging written by peers is read with ld.global.cg (L2, never a stale L1 line).
 */
#ifndef NVRAR_DEVICE_COMMON_CUH
#define NVRAR_DEVICE_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include <type_traits>

#include "../algo/chunk.h"
#include "launch.h"
#include "nvrar.h"

namespace nvrar {

/* ---- runtime value -> template constant; an unsupported value fails the launch loudly ---- */
#define NVRAR_CASE_(value, NAME, ...) \
  case value: {                       \
    constexpr int NAME = value;       \
    __VA_ARGS__;                      \
  } break;

#define NVRAR_SWITCH_RANKS(n, NAME, ...)                                                          \
  switch (n) {                                                                                    \
    NVRAR_CASE_(2, NAME, __VA_ARGS__) NVRAR_CASE_(3, NAME, __VA_ARGS__)                           \
    NVRAR_CASE_(4, NAME, __VA_ARGS__) NVRAR_CASE_(5, NAME, __VA_ARGS__)                           \
    NVRAR_CASE_(6, NAME, __VA_ARGS__) NVRAR_CASE_(7, NAME, __VA_ARGS__)                           \
    NVRAR_CASE_(8, NAME, __VA_ARGS__)                                                             \
    default: return (int)cudaErrorInvalidValue;                                                   \
  }

#define NVRAR_SWITCH_OP(op, NAME, ...)                                                            \
  switch (op) {                                                                                   \
    NVRAR_CASE_(NVRAR_SUM, NAME, __VA_ARGS__) NVRAR_CASE_(NVRAR_MAX, NAME, __VA_ARGS__)           \
    NVRAR_CASE_(NVRAR_MIN, NAME, __VA_ARGS__)                                                     \
    default: return (int)cudaErrorInvalidValue;                                                   \
  }

#define NVRAR_SWITCH_DTYPE(dtype, TYPE, ...)                                                      \
  switch (dtype) {                                                                                \
    case NVRAR_FLOAT32: { using TYPE = float; __VA_ARGS__; } break;                               \
    case NVRAR_FLOAT16: { using TYPE = __half; __VA_ARGS__; } break;                              \
    case NVRAR_BFLOAT16: { using TYPE = __nv_bfloat16; __VA_ARGS__; } break;                      \
    default: return (int)cudaErrorInvalidValue;                                                   \
  }

/*
 * Programmatic dependent launch (NVRAR_PDL=1): every kernel is launched with the attribute that lets
 * it start while the kernel before it on the stream is still finishing, and begins with
 * grid_dependency_sync(pdl): griddepcontrol.wait, which returns once that kernel has completed and
 * its memory is visible (nothing before it reads memory another kernel wrote), then
 * griddepcontrol.launch_dependents, which lets a dependent launch behind this kernel start as early
 * (its own wait still orders it after this kernel's end). With pdl 0, the default, neither runs and
 * the launch is a plain <<<>>>.
 */
__device__ __forceinline__ void grid_dependency_sync(int pdl) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (pdl) {
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  }
#endif
}

/* kernel<<<blocks, threads, 0, stream>>>(params...), as a programmatic dependent launch when pdl is
 * set; 0 or the cudaError_t of the launch. */
template <typename... Params, typename... Args>
static inline int launch(void (*kernel)(Params...), int blocks, int threads, cudaStream_t stream, int pdl,
                         const Args &...params) {
  if (!pdl) {
    kernel<<<blocks, threads, 0, stream>>>(params...);
    return (int)cudaGetLastError();
  }
  cudaLaunchAttribute attr;
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3((unsigned)blocks);
  cfg.blockDim = dim3((unsigned)threads);
  cfg.stream = stream;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  cudaLaunchKernelEx(&cfg, kernel, params...);
  return (int)cudaGetLastError();
}

/*
 * The launcher of a one-node kernel template nvrar::KERNEL<T, OP, NRANKS>(nvrar_kernel_args_t), as
 * src/algo/table.h names it (the nvrar_launch_fn signature): dtype, op and world size pick the
 * instance; 0 or the cudaError_t of the launch.
 */
#define NVRAR_DEFINE_NODE_LAUNCHER(FN, KERNEL)                                                           \
  extern "C" int FN(const nvrar_kernel_args_t *args, int dtype, int op, int blocks, int threads, void *stream) { \
    NVRAR_SWITCH_DTYPE(dtype, T,                                                                        \
      NVRAR_SWITCH_OP(op, OP,                                                                           \
        NVRAR_SWITCH_RANKS(args->nranks, NRANKS,                                                        \
          return nvrar::launch(nvrar::KERNEL<T, OP, NRANKS>, blocks, threads, (cudaStream_t)stream,     \
                               args->pdl, *args))));                                                    \
    return (int)cudaErrorInvalidValue;                                                                  \
  }

/* ---- elements: fp32 accumulation, one rounding at the end ---- */
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

template <int OP> __device__ __forceinline__ float reduce_op(float a, float b) {
  if (OP == NVRAR_SUM) return a + b;
  if (OP == NVRAR_MAX) return fmaxf(a, b);
  return fminf(a, b);
}

template <typename T> struct Pack {
  static constexpr int N = 16 / sizeof(T); /* elements per 16-byte pack */
  float v[N];
};

template <typename T> __device__ __forceinline__ void unpack(uint4 raw, Pack<T> &out) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) { /* bf16: the float's upper half, one op */
    const uint32_t *w = reinterpret_cast<const uint32_t *>(&raw);
#pragma unroll
    for (int k = 0; k < Pack<T>::N; k += 2) {
      out.v[k] = __uint_as_float(w[k / 2] << 16);
      out.v[k + 1] = __uint_as_float(w[k / 2] & 0xffff0000u);
    }
  } else {
    const T *e = reinterpret_cast<const T *>(&raw);
#pragma unroll
    for (int k = 0; k < Pack<T>::N; k++) out.v[k] = to_float(e[k]);
  }
}

/* Two elements rounded to nearest, each on its own: the same bits as from_float twice, in one
 * conversion instruction (F2FP) where from_float takes a conversion and a byte permute each. */
__device__ __forceinline__ uint32_t from_float2(__half, float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t *>(&h);
}
__device__ __forceinline__ uint32_t from_float2(__nv_bfloat16, float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t *>(&h);
}

template <typename T> __device__ __forceinline__ uint4 repack(const Pack<T> &in) {
  uint4 raw;
  if constexpr (sizeof(T) == 2) {
    uint32_t *w = reinterpret_cast<uint32_t *>(&raw);
#pragma unroll
    for (int k = 0; k < Pack<T>::N; k += 2) w[k / 2] = from_float2(T(), in.v[k], in.v[k + 1]);
  } else {
    T *e = reinterpret_cast<T *>(&raw);
#pragma unroll
    for (int k = 0; k < Pack<T>::N; k++) e[k] = from_float<T>(in.v[k]);
  }
  return raw;
}

/* acc = (first ? x : acc op x), elementwise. Ranks are folded in order 0..n-1 by every caller. */
template <typename T, int OP> __device__ __forceinline__ void fold(Pack<T> &acc, uint4 raw, bool first) {
  Pack<T> x;
  unpack<T>(raw, x);
#pragma unroll
  for (int k = 0; k < Pack<T>::N; k++) acc.v[k] = first ? x.v[k] : reduce_op<OP>(acc.v[k], x.v[k]);
}

/* ---- user buffers: a vector access when aligned and whole, element by element otherwise ---- */
template <typename T>
__device__ __forceinline__ uint4 load_pack(const void *base, uint64_t pack, uint64_t count, int aligned) {
  constexpr int N = Pack<T>::N;
  uint64_t first = pack * N;
  const T *elems = static_cast<const T *>(base);
  if (aligned && first + N <= count) return *reinterpret_cast<const uint4 *>(elems + first);
  uint4 raw = make_uint4(0, 0, 0, 0);
  T *e = reinterpret_cast<T *>(&raw);
#pragma unroll
  for (int k = 0; k < N; k++)
    if (first + k < count) e[k] = elems[first + k];
  return raw;
}

template <typename T>
__device__ __forceinline__ void store_pack(void *base, uint64_t pack, uint64_t count, int aligned, uint4 raw) {
  constexpr int N = Pack<T>::N;
  uint64_t first = pack * N;
  T *elems = static_cast<T *>(base);
  if (aligned && first + N <= count) {
    *reinterpret_cast<uint4 *>(elems + first) = raw;
    return;
  }
  const T *e = reinterpret_cast<const T *>(&raw);
#pragma unroll
  for (int k = 0; k < N; k++)
    if (first + k < count) elems[first + k] = e[k];
}

/* ---- staging accesses ---- */
__device__ __forceinline__ uint4 load_cg(const uint4 *p) {
  uint4 v;
  asm volatile("ld.global.cg.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p) : "memory");
  return v;
}

/*
 * Flag-in-data cells, the one rule of every algorithm that polls data instead of a flag (one-shot,
 * its fused RMSNorm, hier-rd's hops between nodes): a 16-byte pack {d0, d1, d2, d3} travels as a
 * pair of 16-byte cells {d0, flag, d1, flag} {d2, flag, d3, flag}, each cell written by one 16-byte
 * store, and a reader takes the pack only once all four flag words equal the flag it expects
 * (cell_pair_read). Which flag a call expects, and how a cell that was read stops matching, are
 * each algorithm's own (one-shot: a per-piece counter, cell_flag; hier-rd: the stage, zeroed after
 * reading, putsig.cuh).
 */
__device__ __forceinline__ uint4 cell_make(uint32_t d0, uint32_t d1, uint32_t flag) { return make_uint4(d0, flag, d1, flag); }

/* One 16-byte store that a poller sees word by word (st.volatile): cells, and lamport's packs. */
__device__ __forceinline__ void store_volatile(uint4 *dst, uint4 v) {
  asm volatile("st.volatile.global.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(dst), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w)
               : "memory");
}

/* A cell written straight into a peer's memory (one-shot). */
__device__ __forceinline__ void cell_store(uint4 *dst, uint32_t d0, uint32_t d1, uint32_t flag) {
  store_volatile(dst, cell_make(d0, d1, flag));
}

__device__ __forceinline__ uint4 cell_load(const uint4 *src) {
  uint4 v;
  asm volatile("ld.volatile.global.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(src) : "memory");
  return v;
}

/* The one-shot cells' flag of piece number c (never 0, never repeated before 2^32 - 1 pieces). */
__device__ __forceinline__ uint32_t cell_flag(uint64_t piece_counter) {
  return (uint32_t)(piece_counter % 0xffffffffull) + 1u;
}

/* Cell pair index of pack `off` from `source` in parity `parity` of the one-shot cell buffer. */
__device__ __forceinline__ uint64_t cell_index(const nvrar_kernel_args_t &a, int parity, int source, uint64_t off) {
  return (((uint64_t)parity * a.nranks + source) * a.slice_cap + off) * 2;
}

/*
 * One-shot's header cells, one per (parity, source, block) after the data cells: block b of every rank
 * writes {sig, flag, sig, flag} into its header cell at every peer before its data, and block b of
 * the peer checks it (header_read) before it folds. It follows the data cells' reuse rule, since
 * only block b writes and reads it.
 */
__device__ __forceinline__ uint64_t header_index(const nvrar_kernel_args_t &a, int parity, int source) {
  return 2 * 2 * (uint64_t)a.nranks * a.slice_cap + ((uint64_t)parity * a.nranks + source) * NVRAR_MAX_BLOCKS +
         blockIdx.x;
}

/* ---- flags ---- */
__device__ __forceinline__ void flag_release(uint64_t *flag, uint64_t value) {
  asm volatile("st.release.sys.global.u64 [%0], %1;" ::"l"(flag), "l"(value) : "memory");
}

__device__ __forceinline__ uint64_t flag_acquire(const uint64_t *flag) {
  uint64_t v;
  asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(flag) : "memory");
  return v;
}

__device__ __forceinline__ uint64_t global_timer_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

/*
 * Bounded wait bookkeeping for one spinning thread. Every 1024 spins it checks the clock and the
 * communicator's dead flag (device memory); after 1 ms of waiting also the host-mapped abort flag
 * (a PCIe read, kept off the fast path). On the deadline it records NVRAR_ERR_TIMEOUT for the host
 * and marks the communicator dead so every other wait, and every later kernel, gives up at once.
 */
struct Waiter {
  uint64_t start = 0;
  uint32_t spins = 0;

  __device__ __forceinline__ bool give_up(const nvrar_kernel_args_t &a) {
    if ((++spins & 1023) != 0) return false;
    uint64_t now = global_timer_ns();
    if (start == 0) start = now;
    volatile nvrar_device_sync_t *sync = a.sync;
    if (sync->dead) return true;
    uint64_t waited = now - start;
    if (waited > 1000000 && *(volatile const int *)a.abort_flag) {
      sync->dead = 1;
      return true;
    }
    if (waited > a.timeout_ns) {
      sync->dead = 1;
      *(volatile int *)a.error = NVRAR_ERR_TIMEOUT;
      __threadfence_system();
      return true;
    }
    return false;
  }
};

/*
 * A peer's call does not match this one (its signature differs, algo/sig.h): record
 * NVRAR_ERR_MISMATCH for the host and mark the communicator dead, so every wait of this call and
 * every later kernel gives up at once. The peer sees this rank's signature too and does the same.
 */
__device__ __forceinline__ void calls_mismatch(const nvrar_kernel_args_t &a) {
  volatile nvrar_device_sync_t *sync = a.sync;
  sync->dead = 1;
  *(volatile int *)a.error = NVRAR_ERR_MISMATCH;
  __threadfence_system();
}

/* A cell pair: spins (bounded) until both 16-byte cells carry `flag`, then *v is their pack; false
 * (and *v unspecified) if the wait gave up. */
__device__ __forceinline__ bool cell_pair_read(const nvrar_kernel_args_t &a, const uint4 *src, uint32_t flag,
                                               uint4 *v) {
  uint4 c0, c1;
  Waiter w;
  bool ok = true;
  for (;;) {
    c0 = cell_load(src);
    c1 = cell_load(src + 1);
    if (c0.y == flag && c0.w == flag && c1.y == flag && c1.w == flag) break;
    if (w.give_up(a)) {
      ok = false;
      break;
    }
  }
  *v = make_uint4(c0.x, c0.z, c1.x, c1.z);
  return ok;
}

/* One-shot's header cell from a peer: spins (bounded) until it carries `flag`; false if the wait gave
 * up or the peer's call does not match this one (calls_mismatch). */
__device__ __forceinline__ bool header_read(const nvrar_kernel_args_t &a, const uint4 *src, uint32_t flag) {
  Waiter w;
  for (;;) {
    const uint4 c = cell_load(src);
    if (c.y == flag && c.w == flag) {
      if (c.x == a.sig && c.z == a.sig) return true;
      calls_mismatch(a);
      return false;
    }
    if (w.give_up(a)) return false;
  }
}

/*
 * One-shot's header, block-collective: thread i < NRANKS (i != rank) writes this call's header to
 * peer i's cell buffer (header_push), and before folding reads peer i's (header_check).
 */
template <int NRANKS>
__device__ __forceinline__ void header_push(const nvrar_kernel_args_t &a, int parity, uint32_t flag) {
  const int peer = threadIdx.x;
  if (peer < NRANKS && peer != a.rank)
    cell_store(static_cast<uint4 *>(a.stage[peer]) + header_index(a, parity, a.rank), a.sig, a.sig, flag);
}

template <int NRANKS>
__device__ __forceinline__ bool header_check(const nvrar_kernel_args_t &a, int parity, uint32_t flag) {
  const int peer = threadIdx.x;
  if (peer >= NRANKS || peer == a.rank) return true;
  return header_read(a, static_cast<const uint4 *>(a.stage[a.rank]) + header_index(a, parity, peer), flag);
}

/*
 * Lamport packs (lamport, lamport-twoshot): a 16-byte pack travels whole, and a word that still holds
 * LAMPORT_EMPTY has not arrived. No input word is sent as LAMPORT_EMPTY (lamport_pack: such a word, a
 * NaN in every dtype, goes as 0x7fffffff, a NaN as well); the reader writes LAMPORT_EMPTY back over
 * every pack it takes (lamport_take), so a buffer is empty again once its piece has been read.
 */
constexpr uint32_t LAMPORT_EMPTY = 0xffffffffu;

__device__ __forceinline__ uint32_t lamport_word(uint32_t w) { return w == LAMPORT_EMPTY ? 0x7fffffffu : w; }

/* An input pack as it travels: no word the sentinel. */
__device__ __forceinline__ uint4 lamport_pack(uint4 v) {
  return make_uint4(lamport_word(v.x), lamport_word(v.y), lamport_word(v.z), lamport_word(v.w));
}

/* Spins (bounded) until no word of *slot is the sentinel, then *v is the pack and the slot empty
 * again; false if the wait gave up. */
__device__ __forceinline__ bool lamport_take(const nvrar_kernel_args_t &a, uint4 *slot, uint4 *v) {
  Waiter w;
  for (;;) {
    const uint4 c = cell_load(slot);
    if (c.x != LAMPORT_EMPTY && c.y != LAMPORT_EMPTY && c.z != LAMPORT_EMPTY && c.w != LAMPORT_EMPTY) {
      *v = c;
      store_volatile(slot, make_uint4(LAMPORT_EMPTY, LAMPORT_EMPTY, LAMPORT_EMPTY, LAMPORT_EMPTY));
      return true;
    }
    if (w.give_up(a)) return false;
  }
}

/*
 * A lamport algorithm's header packs, one per (buffer, source, block) from pack `headers` of its area
 * on: block b of every rank writes this call's signature into its pack at every peer before its data
 * (lamport_header_push), and before folding takes each peer's and checks it (lamport_header_check:
 * false if the wait gave up or the calls do not match, calls_mismatch). Thread i < NRANKS serves peer i.
 */
__device__ __forceinline__ uint64_t lamport_header_index(const nvrar_kernel_args_t &a, uint64_t headers, int buf,
                                                         int source) {
  return headers + ((uint64_t)buf * a.nranks + source) * NVRAR_MAX_BLOCKS + blockIdx.x;
}

template <int NRANKS>
__device__ __forceinline__ void lamport_header_push(const nvrar_kernel_args_t &a, uint64_t headers, int buf) {
  const int peer = threadIdx.x;
  const uint32_t sig = lamport_word(a.sig);
  if (peer < NRANKS && peer != a.rank)
    store_volatile(static_cast<uint4 *>(a.stage[peer]) + lamport_header_index(a, headers, buf, a.rank),
                   make_uint4(sig, sig, sig, sig));
}

template <int NRANKS>
__device__ __forceinline__ bool lamport_header_check(const nvrar_kernel_args_t &a, uint64_t headers, int buf) {
  const int peer = threadIdx.x;
  if (peer >= NRANKS || peer == a.rank) return true;
  const uint32_t sig = lamport_word(a.sig);
  uint4 h;
  if (!lamport_take(a, static_cast<uint4 *>(a.stage[a.rank]) + lamport_header_index(a, headers, buf, peer), &h))
    return false;
  if (h.x == sig && h.y == sig && h.z == sig && h.w == sig) return true;
  calls_mismatch(a);
  return false;
}

/*
 * acc = the packs of ranks 0..NRANKS-1 at pack `pack` folded in rank order, this rank's read from its
 * own input, every other rank's by read(r, &v) (a bounded wait: false if it gave up); false if any
 * read did (acc is then of no use). The lamport pair fold this way; one-shot keeps its own loop of
 * the same steps, which nvcc schedules differently from this one (its SASS changed throughout) and
 * which is timed.
 */
template <typename T, int OP, int NRANKS, typename Read>
__device__ __forceinline__ bool fold_ranks(const nvrar_kernel_args_t &a, uint64_t pack, Read read, Pack<T> &acc) {
  bool ok = true;
#pragma unroll
  for (int r = 0; r < NRANKS; r++) {
    uint4 v;
    if (r == a.rank) {
      v = load_pack<T>(a.send, pack, a.count, a.aligned);
    } else if (!read(r, &v)) {
      ok = false;
    }
    fold<T, OP>(acc, v, r == 0);
  }
  return ok;
}

/*
 * The end of a kernel that advances a piece counter (one-shot, its fused form, lamport): the last
 * block to get here writes `value` into *counter, which every block read at its start, and resets the
 * arrival count for the next such kernel.
 */
__device__ __forceinline__ void last_block_publishes(const nvrar_kernel_args_t &a, volatile uint64_t *counter,
                                                     uint64_t value) {
  if (threadIdx.x != 0) return;
  __threadfence();
  const uint32_t done = atomicAdd((uint32_t *)&a.sync->arrived, 1u);
  if (done == gridDim.x - 1) {
    ((volatile nvrar_device_sync_t *)a.sync)->arrived = 0;
    *counter = value;
  }
}

/* Wrap-safe "flag has reached value". */
__device__ __forceinline__ bool reached(uint32_t flag, uint32_t value) { return (int32_t)(flag - value) >= 0; }

/*
 * Cross-GPU barrier among the blocks with this block's index on every rank. Each flag carries the
 * barrier count and this call's signature: a peer's flag that has reached `value` holds exactly
 * `value` (it cannot pass the next barrier, of the other phase, before this rank does), so its high
 * half is the peer's signature for this very call, checked here (calls_mismatch). Returns false on
 * every thread of the block if the wait gave up (timeout, abort, dead communicator) or the calls do
 * not match.
 */
template <int NRANKS>
__device__ __forceinline__ bool block_barrier(const nvrar_kernel_args_t &a, int phase, uint32_t value) {
  __syncthreads();
  bool ok = true;
  const int slot = (phase * NVRAR_MAX_BLOCKS + (int)blockIdx.x) * NVRAR_MAX_RANKS;
  if (threadIdx.x < NRANKS) {
    const int peer = threadIdx.x;
    /* Release: every store of this block before the __syncthreads above is visible to `peer` once
     * it sees this value. */
    flag_release(a.flags[peer] + slot + a.rank, (uint64_t)a.sig << 32 | value);
    /* Acquire: `peer`'s stores before its release are visible to this block after the wait. */
    const uint64_t *mine = a.flags[a.rank] + slot + peer;
    Waiter w;
    for (;;) {
      const uint64_t seen = flag_acquire(mine);
      if (reached((uint32_t)seen, value)) {
        if ((uint32_t)(seen >> 32) != a.sig) {
          calls_mismatch(a);
          ok = false;
        }
        break;
      }
      if (w.give_up(a)) {
        ok = false;
        break;
      }
    }
  }
  return __syncthreads_and(ok);
}

__device__ __forceinline__ bool comm_dead(const nvrar_kernel_args_t &a) {
  return ((volatile nvrar_device_sync_t *)a.sync)->dead != 0;
}

/* Block-collective: the communicator is alive, as every thread of the block saw it (a thread reading
 * `dead` a moment later than another must not take another path through the block's barriers). */
__device__ __forceinline__ bool block_alive(const nvrar_kernel_args_t &a) { return __syncthreads_and(!comm_dead(a)); }

/*
 * Block-collective, at a kernel's end: a block that gave up (timeout, abort, a communicator already
 * dead, so also every CUDA graph replay after a timeout) overwrites the whole of recv with 0xff
 * bytes, a NaN in float, half and bfloat16 alike, so that a failed call never returns stale or
 * half-reduced numbers that look right. Blocks still finishing may store real values over parts of
 * it; what a failed call leaves always holds NaNs (include/nvrar.h says so).
 */
template <typename T>
__device__ __forceinline__ void poison_if_failed(const nvrar_kernel_args_t &a, bool ok) {
  if (__syncthreads_and(ok)) return;
  const uint4 nan = make_uint4(~0u, ~0u, ~0u, ~0u);
  for (uint64_t p = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; p < a.packs; p += (uint64_t)gridDim.x * blockDim.x)
    store_pack<T>(a.recv, p, a.count, a.aligned, nan);
}

}  // namespace nvrar

#endif /* NVRAR_DEVICE_COMMON_CUH */
