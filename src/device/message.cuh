/*
 * Device messages recorded in place of printed: src/device/vprintf.ptx, linked into a module's device
 * link, writes each message's first argument into host-mapped memory that the module's
 * nvrar_device_message_at points to. Included by one file of each such module, which it gives the
 * pointer: src/shmem.cu (libnvrar's module) and tests/gpu/test_device_message.cu (a module of its own
 * with the same vprintf), so the test runs this code.
 */
#ifndef NVRAR_DEVICE_MESSAGE_CUH
#define NVRAR_DEVICE_MESSAGE_CUH

#include <cuda_runtime.h>
#include <string.h>

extern "C" {
__device__ unsigned *nvrar_device_message_at = nullptr; /* read by vprintf.ptx */
}

/* The record's two words: [0] 1 once a message came, [1] the latest one's first argument. */
#define NVRAR_DEVICE_MESSAGE_WORDS 2

/* Points this module's nvrar_device_message_at to a zeroed host-mapped record; *record gets the host's
 * view of it. A cudaError_t; on failure nothing is left allocated and messages stay dropped. */
static inline cudaError_t nvrar_device_message_point(volatile unsigned **record) {
  void *host = NULL, *dev = NULL;
  cudaError_t e = cudaHostAlloc(&host, NVRAR_DEVICE_MESSAGE_WORDS * sizeof(unsigned),
                                cudaHostAllocMapped | cudaHostAllocPortable);
  if (e == cudaSuccess) {
    memset(host, 0, NVRAR_DEVICE_MESSAGE_WORDS * sizeof(unsigned));
    e = cudaHostGetDevicePointer(&dev, host, 0);
  }
  if (e == cudaSuccess) e = cudaMemcpyToSymbol(nvrar_device_message_at, &dev, sizeof dev);
  if (e != cudaSuccess) {
    if (host) (void)cudaFreeHost(host);
    return e;
  }
  *record = static_cast<volatile unsigned *>(host);
  return cudaSuccess;
}

#endif
