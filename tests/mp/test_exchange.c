/*
 * nvrar_exchange: pairs of ranks swap nvrar_malloc buffers through put-with-signal. Every pairing
 * of rank r with r ^ d (d = 1, 2, 4, ... below the world size: inside a node and, under
 * NVRAR_GPUS_PER_NODE, between virtual nodes), sizes from 1 byte to 16 MiB and odd ones, the
 * received bytes compared with the peer's pattern, repeated exchanges into the same buffer (the
 * handshake must keep the peer from overwriting it early), and the argument errors.
 *
 * Run: test_exchange -g 4. Exit 0/1/77.
 */
#include "mp.h"

/* Byte i of rank r's pattern for exchange round k. */
static unsigned char pattern(int r, int k, size_t i) { return (unsigned char)(i * 131u + (unsigned)r * 17u + (unsigned)k * 7u + 1u); }

int main(int argc, char **argv) {
  nvrar_job_t job;
  int rc = mp_start(argc, argv, &job, 2);
  if (rc >= 0) return rc;
  nvrar_comm_t comm = mp_comm(&job, NULL, NULL);
  const size_t max_bytes = (size_t)16 << 20; /* two of them fit the default heap beside the staging */
  const size_t sizes[] = {1, 15, 16, 17, 4096, 65537, (size_t)1 << 20, ((size_t)3 << 20) + 5, max_bytes};
  void *send, *recv;
  MP_NVRAR(nvrar_malloc(comm, max_bytes, &send));
  MP_NVRAR(nvrar_malloc(comm, max_bytes, &recv));
  unsigned char *host = malloc(max_bytes), *got = malloc(max_bytes);
  MP_EXPECT(host && got);
  cudaStream_t s;
  MP_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  long cases = 0, bad = 0;

  for (int d = 1; d < job.nranks; d *= 2) {
    const int peer = job.rank ^ d;
    const int active = peer < job.nranks; /* a rank without a partner at this distance sits it out */
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
      const size_t bytes = sizes[i];
      for (int k = 0; k < 3 && active; k++) { /* back to back into the same recvbuf */
        for (size_t b = 0; b < bytes; b++) host[b] = pattern(job.rank, k, b);
        MP_CUDA(cudaMemcpyAsync(send, host, bytes, cudaMemcpyHostToDevice, s));
        MP_CUDA(cudaMemsetAsync(recv, 0xa5, bytes + (bytes < max_bytes), s)); /* poison, one guard byte */
        MP_NVRAR(nvrar_exchange(comm, send, recv, bytes, peer, s));
        MP_CUDA(cudaMemcpyAsync(got, recv, bytes + (bytes < max_bytes), cudaMemcpyDeviceToHost, s));
        MP_CUDA(cudaStreamSynchronize(s));
        long wrong = 0;
        for (size_t b = 0; b < bytes; b++) wrong += got[b] != pattern(peer, k, b);
        if (bytes < max_bytes) wrong += got[bytes] != 0xa5; /* nothing written past the end */
        cases++;
        if (wrong) {
          bad++;
          fprintf(stderr, "rank %d: exchange with %d, %zu bytes, round %d: %ld wrong bytes\n", job.rank, peer, bytes, k,
                  wrong);
        }
      }
    }
    MP_EXPECT(nvrar_job_barrier(&job) == 0);
  }

  /* argument errors change nothing and enqueue nothing */
  void *plain;
  MP_CUDA(cudaMalloc(&plain, 64));
  MP_EXPECT(nvrar_exchange(comm, send, recv, 16, job.rank, s) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_EXPECT(nvrar_exchange(comm, send, recv, 16, job.nranks, s) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_EXPECT(nvrar_exchange(comm, plain, recv, 16, job.rank ^ 1, s) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_EXPECT(nvrar_exchange(comm, send, recv, max_bytes + 1, job.rank ^ 1, s) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_EXPECT(nvrar_exchange(comm, send, NULL, 16, job.rank ^ 1, s) == NVRAR_ERR_INVALID_ARGUMENT);
  MP_CUDA(cudaFree(plain));

  long all_bad = (long)mp_sum(&job, (unsigned long long)bad), all_cases = (long)mp_sum(&job, (unsigned long long)cases);
  if (job.rank == 0)
    printf("test_exchange: %ld exchanges on %d ranks: %ld passed, %ld failed\n", all_cases, job.nranks,
           all_cases - all_bad, all_bad);
  MP_NVRAR(nvrar_free(comm, send));
  MP_NVRAR(nvrar_free(comm, recv));
  MP_NVRAR(nvrar_comm_destroy(comm));
  free(host);
  free(got);
  nvrar_job_finish(&job);
  return all_bad ? 1 : 0;
}
