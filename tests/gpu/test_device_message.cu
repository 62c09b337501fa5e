/*
 * nvrar's device vprintf (src/device/vprintf.ptx), linked into this test's own module as into
 * libnvrar's: a kernel's printf prints nothing and, once src/device/message.cuh has pointed the
 * module's record to host memory, leaves the message's first argument there; before that it is
 * dropped without a fault. Then a printf from many threads at once. Stdout is a file during the
 * kernels, which must stay empty. One GPU; exit codes: 0 pass, 1 fail, 77 skipped (no GPU).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "device/message.cuh"

#define EXPECT(cond)                                                           \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);      \
      return 1;                                                                \
    }                                                                          \
  } while (0)

/* NVSHMEM 3.4's one device message, as its transport code prints it. */
__global__ void say(int error) { printf("ibgda_poll_cq failed with error=%d.\n", error); }

/* Runs say<<<blocks, threads>>>(error) with stdout on a temporary file: what the kernel printed. */
static long printed_by(int blocks, int threads, int error, cudaError_t *e) {
  char path[] = "/tmp/nvrar_device_message_XXXXXX";
  int fd = mkstemp(path), saved = dup(1);
  if (fd < 0 || saved < 0) return -1;
  fflush(stdout);
  dup2(fd, 1);
  say<<<blocks, threads>>>(error);
  *e = cudaGetLastError();
  if (*e == cudaSuccess) *e = cudaDeviceSynchronize(); /* the driver writes a printing kernel's output here */
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  long bytes = lseek(fd, 0, SEEK_END);
  close(fd);
  unlink(path);
  return bytes;
}

int main(void) {
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev < 1) {
    printf("test_device_message: no GPU, skipped\n");
    return 77;
  }
  EXPECT(cudaSetDevice(0) == cudaSuccess);
  cudaError_t e;

  /* Not yet pointed: dropped, no fault. */
  EXPECT(printed_by(1, 1, 5, &e) == 0);
  EXPECT(e == cudaSuccess);

  volatile unsigned *record = NULL;
  EXPECT(nvrar_device_message_point(&record) == cudaSuccess);
  EXPECT(record && record[0] == 0 && record[1] == 0);

  EXPECT(printed_by(1, 1, 7, &e) == 0);
  EXPECT(e == cudaSuccess);
  EXPECT(record[0] == 1 && record[1] == 7);

  /* Many at once: one of them is the latest; every one says 12. */
  EXPECT(printed_by(132, 256, 12, &e) == 0);
  EXPECT(e == cudaSuccess);
  EXPECT(record[0] == 1 && record[1] == 12);

  printf("test_device_message: printf recorded (first argument %u), nothing printed: ok\n", record[1]);
  return 0;
}
