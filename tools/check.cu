/* Exact test data and its reference all-reduce on the GPU (see check.h). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "check.h"
#include "nvrar.h"

namespace {

__device__ __forceinline__ uint32_t mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

/*
 * Rank r's value at index i: k/4 with |k| <= K, K chosen so that every partial sum of up to 8 ranks,
 * in any order, is exact in T: then one-shot (fp32, rounded once) and the rings (rounded per hop)
 * must all give exactly the reference. float and half: K = 255 (8 x 255 < 2^11); bfloat16 (8
 * significant bits): K = 32 (8 x 32 = 2^8).
 */
template <typename T> struct Range { static constexpr int K = 255; };
template <> struct Range<__nv_bfloat16> { static constexpr int K = 32; };

template <typename T> __device__ __forceinline__ float value(uint32_t seed, int rank, size_t i) {
  uint32_t h = mix(seed * 0x9e3779b9U ^ mix((uint32_t)rank * 0x85ebca6bU ^ mix((uint32_t)i ^ (uint32_t)(i >> 32) * 0xc2b2ae35U)));
  int k = (int)(h % (2 * Range<T>::K + 1)) - Range<T>::K;
  return (float)k * 0.25f;
}

template <typename T> __device__ __forceinline__ T cast(float x);
template <> __device__ __forceinline__ float cast<float>(float x) { return x; }
template <> __device__ __forceinline__ __half cast<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 cast<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

template <typename T> __global__ void fill_kernel(T *buf, size_t count, int rank, uint32_t seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x)
    buf[i] = cast<T>(value<T>(seed, rank, i));
}

/* Non-integer data for the digest corpus: uniform in [-1, 1) with a full fp32 mantissa, rounded to
 * T, so that every change of summation order shows in the low bits. */
template <typename T> __global__ void fill_random_kernel(T *buf, size_t count, int rank, uint32_t seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
    uint32_t h = mix(seed * 0x27d4eb2fU ^ mix((uint32_t)rank * 0x165667b1U ^ mix((uint32_t)i ^ (uint32_t)(i >> 32))));
    buf[i] = cast<T>((float)(h >> 8) * (1.0f / 8388608.0f) - 1.0f);
  }
}

template <typename T>
__global__ void wrong_kernel(const T *out, size_t count, int op, int nranks, uint32_t seed, unsigned long long *wrong) {
  unsigned long long mine = 0;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
    float acc = value<T>(seed, 0, i);
    for (int r = 1; r < nranks; r++) {
      float x = value<T>(seed, r, i);
      acc = op == NVRAR_SUM ? acc + x : op == NVRAR_MAX ? fmaxf(acc, x) : fminf(acc, x);
    }
    T expect = cast<T>(acc), got = out[i];
    bool same = true;
    const unsigned char *a = reinterpret_cast<const unsigned char *>(&expect);
    const unsigned char *b = reinterpret_cast<const unsigned char *>(&got);
    for (unsigned k = 0; k < sizeof(T); k++) same &= a[k] == b[k];
    mine += !same;
  }
  if (mine) atomicAdd(wrong, mine);
}

__global__ void digest_kernel(const unsigned char *buf, size_t bytes, unsigned long long *digest) {
  unsigned long long mine = 0;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < bytes; i += (size_t)gridDim.x * blockDim.x)
    mine += (unsigned long long)mix((uint32_t)buf[i] ^ mix((uint32_t)i ^ (uint32_t)(i >> 32)));
  if (mine) atomicAdd(digest, mine);
}

int grid_for(size_t n) {
  size_t blocks = (n + 255) / 256;
  return (int)(blocks < 1 ? 1 : blocks > 4096 ? 4096 : blocks);
}

}  // namespace

/* Fill<T>::launch(grid, stream, buf, count, rank, seed) for the T of dtype. */
template <template <typename> class Fill>
int launch_fill(void *buf, size_t count, int dtype, int rank, uint32_t seed, void *stream) {
  if (!count) return 0;
  cudaStream_t s = (cudaStream_t)stream;
  switch (dtype) {
    case NVRAR_FLOAT32: Fill<float>::launch(grid_for(count), s, (float *)buf, count, rank, seed); break;
    case NVRAR_FLOAT16: Fill<__half>::launch(grid_for(count), s, (__half *)buf, count, rank, seed); break;
    case NVRAR_BFLOAT16: Fill<__nv_bfloat16>::launch(grid_for(count), s, (__nv_bfloat16 *)buf, count, rank, seed); break;
    default: return (int)cudaErrorInvalidValue;
  }
  return (int)cudaGetLastError();
}

template <typename T> struct ExactFill {
  static void launch(int grid, cudaStream_t s, T *buf, size_t count, int rank, uint32_t seed) {
    fill_kernel<<<grid, 256, 0, s>>>(buf, count, rank, seed);
  }
};
template <typename T> struct RandomFill {
  static void launch(int grid, cudaStream_t s, T *buf, size_t count, int rank, uint32_t seed) {
    fill_random_kernel<<<grid, 256, 0, s>>>(buf, count, rank, seed);
  }
};

extern "C" int nvrar_check_fill(void *buf, size_t count, int dtype, int rank, uint32_t seed, void *stream) {
  return launch_fill<ExactFill>(buf, count, dtype, rank, seed, stream);
}

extern "C" int nvrar_check_fill_random(void *buf, size_t count, int dtype, int rank, uint32_t seed, void *stream) {
  return launch_fill<RandomFill>(buf, count, dtype, rank, seed, stream);
}

extern "C" int nvrar_check_count_wrong(const void *out, size_t count, int dtype, int op, int nranks, uint32_t seed,
                                       unsigned long long *dev_wrong, void *stream) {
  if (!count) return 0;
  cudaStream_t s = (cudaStream_t)stream;
  switch (dtype) {
    case NVRAR_FLOAT32: wrong_kernel<<<grid_for(count), 256, 0, s>>>((const float *)out, count, op, nranks, seed, dev_wrong); break;
    case NVRAR_FLOAT16: wrong_kernel<<<grid_for(count), 256, 0, s>>>((const __half *)out, count, op, nranks, seed, dev_wrong); break;
    case NVRAR_BFLOAT16: wrong_kernel<<<grid_for(count), 256, 0, s>>>((const __nv_bfloat16 *)out, count, op, nranks, seed, dev_wrong); break;
    default: return (int)cudaErrorInvalidValue;
  }
  return (int)cudaGetLastError();
}

extern "C" int nvrar_check_digest(const void *buf, size_t bytes, unsigned long long *dev_digest, void *stream) {
  if (!bytes) return 0;
  digest_kernel<<<grid_for(bytes), 256, 0, (cudaStream_t)stream>>>((const unsigned char *)buf, bytes, dev_digest);
  return (int)cudaGetLastError();
}

__global__ void spin_kernel(const volatile int *flag) {
  while (*flag == 0) __nanosleep(1000);
}

extern "C" int nvrar_check_spin(const volatile int *dev_flag, void *stream) {
  spin_kernel<<<1, 1, 0, (cudaStream_t)stream>>>(dev_flag);
  return (int)cudaGetLastError();
}
