// Lab kernels for module_memory.c: the same trivial kernel with 0 to 4096 bytes of local memory
// per thread (a volatile array the compiler must keep).
template <int N>
__device__ __noinline__ int touch(int x) {
  volatile int a[N / 4];
  for (int i = 0; i < N / 4; i++) a[i] = x + i;
  return a[x % (N / 4)];
}
extern "C" __global__ void k_none(int *o) {
  if (threadIdx.x == 9999) o[0] = 1;
}
#define K(N) \
  extern "C" __global__ void k_local##N(int *o) { int r = touch<N>(threadIdx.x); if (threadIdx.x == 9999) o[0] = r; }
K(128)
K(352)
K(1024)
K(4096)
