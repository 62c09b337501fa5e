/* The communicator: what init builds and every all-reduce reads. Internal. */
#ifndef NVRAR_COMM_H
#define NVRAR_COMM_H

#include "device/launch.h"
#include "internal.h"
#include "tuned.h"

struct nvrar_comm {
  int rank;
  int nranks;
  int local_size;
  int device;
  int aborted;
  nvrar_settings_t settings;
  nvrar_capacity_t capacity;
  /* NVSHMEM symmetric allocation: [flags][one-shot cells][two-shot staging][ring staging][signals][xsignals] */
  void *heap;
  size_t heap_used;       /* bytes of `heap` */
  size_t heap_bytes;      /* NVSHMEM_SYMMETRIC_SIZE in force */
  size_t memory_taken;    /* device memory init took, measured with cudaMemGetInfo */
  nvrar_device_sync_t *sync;   /* device memory */
  int *host_words;             /* host-mapped: [0] error from kernels, [1] abort flag */
  /* Argument templates, filled at init: only buffers, count and alignment change per call. */
  nvrar_kernel_args_t oneshot_args;
  nvrar_kernel_args_t twoshot_args;
  nvrar_kernel_args_t lamport_args;
  nvrar_kernel_args_t lamport_twoshot_args;
  nvrar_kernel_args_t ring_args;   /* ring family and exchange */
  nvrar_topo_t topo;
  nvrar_tuned_table_t tuned[NVRAR_NUM_DTYPES]; /* tuned files of this world size, per dtype; empty: none */
  /* Sub-communicators (nvrar_comm_split): a world keeps NVRAR_SUB_SLOTS staging slots after its own,
   * a child works in one of them and points at its world. Slot masks change under the registry lock. */
  size_t slots_offset;   /* world: where slot 0 starts in heap */
  size_t slot_bytes;     /* world: one slot */
  unsigned slots_used;   /* world: slots of live children */
  unsigned slots_dead;   /* world: slots of children that failed (aborted, timed out): peers may still write there */
  int children;          /* world: live children */
  nvrar_comm_t parent;   /* child: its world; NULL for a world */
  int slot;              /* child: its slot */
  /* nvrar_malloc'd buffers, so destroy can free what the user forgot and nvrar_free can check. */
  void *user_buffers[NVRAR_MAX_USER_BUFFERS];
  size_t user_bytes[NVRAR_MAX_USER_BUFFERS];
  void *last_stream;     /* the stream of the last all-reduce, for the one note on a change of stream */
  int used_stream, stream_noted;
  struct nvrar_comm *retired_next; /* destroyed: the list of retired handles (comm.c, registry_drop) */
};

/* Registry of live communicators: lets every entry point refuse a destroyed or bogus handle. */
int nvrar_comm_is_live(nvrar_comm_t comm);

nvrar_result_t nvrar_comm_create(nvrar_comm_t *out, int nranks, const void *shmem_id, int rank,
                                 const nvrar_settings_t *settings);
nvrar_result_t nvrar_comm_split_impl(nvrar_comm_t world, int nranks, const int *world_ranks, int slot,
                                     nvrar_comm_t *out);
unsigned nvrar_comm_free_slots(nvrar_comm_t world);
nvrar_result_t nvrar_comm_destroy_impl(nvrar_comm_t comm);
nvrar_result_t nvrar_comm_abort_impl(nvrar_comm_t comm);
nvrar_result_t nvrar_comm_async_error(nvrar_comm_t comm);
nvrar_result_t nvrar_comm_malloc(nvrar_comm_t comm, size_t bytes, void **ptr);
nvrar_result_t nvrar_comm_free(nvrar_comm_t comm, void *ptr);
nvrar_result_t nvrar_comm_exchange(nvrar_comm_t comm, const void *sendbuf, void *recvbuf, size_t bytes, int peer,
                                   void *stream);
nvrar_result_t nvrar_comm_enqueue(nvrar_comm_t comm, const void *sendbuf, void *recvbuf, size_t count,
                                  size_t bytes, nvrar_dtype_t dtype, nvrar_op_t op, void *stream);
/* nvrar_all_reduce_add_rmsnorm after its checks (enqueue.c): where the planner gives the size
 * one-shot or two-shot, that family fused with the add and the norm (one kernel); otherwise (the
 * ring family, across nodes, rows too large for the slots) nvrar_all_reduce into out, then the add +
 * norm kernel. */
nvrar_result_t nvrar_comm_add_rmsnorm(nvrar_comm_t comm, const void *input, void *residual, const void *weight,
                                      float eps, void *out, size_t rows, size_t hidden, size_t bytes,
                                      nvrar_dtype_t dtype, void *stream);

#endif
