/*
 * nvrar.h: GPU-resident all-reduce for tensor-parallel inference, built on NVSHMEM.
 *
 * The only public header of libnvrar. Plain C11; compiles as C and C++.
 *
 * Typical use, one process per GPU:
 *
 *   nvrar_unique_id_t id;
 *   if (rank == 0) nvrar_get_unique_id(&id);
 *   ... ship the 128 bytes of id to every rank (MPI, torch.distributed, a file) ...
 *   nvrar_config_t config = NVRAR_CONFIG_INITIALIZER;
 *   nvrar_comm_t comm;
 *   nvrar_comm_init(&comm, nranks, id, rank, &config);
 *   nvrar_all_reduce(comm, send, recv, count, NVRAR_BFLOAT16, NVRAR_SUM, stream);
 *   nvrar_comm_destroy(comm);
 *
 * Every rank must issue the same sequence of all-reduces (same count, dtype, op), like NCCL.
 * All-reduces are stream-ordered, capturable in CUDA graphs, and never allocate, synchronise
 * the host or read device memory from the host.
 */
#ifndef NVRAR_H
#define NVRAR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NVRAR_MAJOR 0
#define NVRAR_MINOR 4
#define NVRAR_PATCH 0
/* One integer that orders versions: 1000 * (100 * major + minor) + patch. */
#define NVRAR_VERSION_CODE(major, minor, patch) ((major) * 100000 + (minor) * 1000 + (patch))
#define NVRAR_VERSION NVRAR_VERSION_CODE(NVRAR_MAJOR, NVRAR_MINOR, NVRAR_PATCH)

#if defined(__GNUC__)
#define NVRAR_API __attribute__((visibility("default")))
#define NVRAR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NVRAR_API
#define NVRAR_PRINTF(f, a)
#endif

/* Result codes. The numbers are fixed: they never change meaning between versions. */
typedef enum nvrar_result {
  NVRAR_SUCCESS = 0,
  NVRAR_ERR_INVALID_ARGUMENT = 1, /* a bad argument; nothing was changed */
  NVRAR_ERR_INVALID_USAGE = 2,    /* a call out of order: after destroy, twice, wrong device */
  NVRAR_ERR_CUDA = 3,             /* a CUDA call failed; the message names it */
  NVRAR_ERR_NVSHMEM = 4,          /* NVSHMEM init or allocation failed */
  NVRAR_ERR_OUT_OF_MEMORY = 5,    /* the symmetric heap or the device ran out */
  NVRAR_ERR_TIMEOUT = 6,          /* a device-side wait for a peer ran past its deadline */
  NVRAR_ERR_UNSUPPORTED = 7,      /* valid but not supported by this build or topology */
  NVRAR_ERR_VERSION = 8,          /* unique id or config from another nvrar version */
  NVRAR_ERR_ABORTED = 9,          /* the communicator was aborted */
  NVRAR_ERR_INTERNAL = 10,        /* a bug in nvrar: please report it */
  NVRAR_ERR_MISMATCH = 11,        /* the ranks' calls differ (count, dtype, op, shape): seen on the device */
  NVRAR_NUM_RESULTS = 12
} nvrar_result_t;

typedef enum nvrar_dtype {
  NVRAR_FLOAT32 = 0,
  NVRAR_FLOAT16 = 1,
  NVRAR_BFLOAT16 = 2,
  NVRAR_NUM_DTYPES = 3
} nvrar_dtype_t;

typedef enum nvrar_op { NVRAR_SUM = 0, NVRAR_MAX = 1, NVRAR_MIN = 2, NVRAR_NUM_OPS = 3 } nvrar_op_t;

/* Algorithms. AUTO picks by message size from thresholds measured on H200 (src/tune.c). */
typedef enum nvrar_algo {
  NVRAR_ALGO_AUTO = 0,
  NVRAR_ALGO_ONESHOT = 1, /* flag-in-data push to every peer, one NVLink crossing: small messages */
  NVRAR_ALGO_TWOSHOT = 2, /* reduce-scatter then all-gather: medium and large messages */
  NVRAR_ALGO_RING = 3,    /* chunked ring (alternating multi-rings across nodes), put-with-signal */
  NVRAR_ALGO_SIMPLE_RING = 4, /* unchunked ring: reduce down the ring, broadcast back */
  NVRAR_ALGO_HIER_RD = 5, /* hierarchical: intra-node RS, recursive doubling across nodes, intra AG */
  NVRAR_ALGO_HIER_RHD = 6, /* hierarchical with recursive halving-doubling across nodes */
  NVRAR_ALGO_LAMPORT = 7, /* one-shot with full-width cells (a sentinel marks empty ones): forced only, for
                           * now; its staging exists only when it is forced at nvrar_comm_init */
  NVRAR_ALGO_LAMPORT_TWOSHOT = 8, /* two-shot with such cells in both phases and no barrier: forced only,
                                   * its staging likewise */
  NVRAR_NUM_ALGOS = 9
} nvrar_algo_t;

/* 128 bytes, opaque; wraps NVSHMEM's unique id and nvrar's version. Ship it by value. */
#define NVRAR_UNIQUE_ID_BYTES 128
typedef struct nvrar_unique_id {
  char internal[NVRAR_UNIQUE_ID_BYTES];
} nvrar_unique_id_t;

typedef struct nvrar_comm *nvrar_comm_t;

/* cudaStream_t without including CUDA's headers: the same type. */
struct CUstream_st;
typedef struct CUstream_st *nvrar_stream_t;

/*
 * Communicator configuration. Always start from NVRAR_CONFIG_INITIALIZER so that `size` and
 * `version` are right; a field left at its initializer value means "default, or the environment
 * variable named beside it". Fields set here win over the environment.
 */
typedef struct nvrar_config {
  size_t size;                /* sizeof(nvrar_config_t) of the caller's header */
  unsigned int version;       /* NVRAR_VERSION of the caller's header */
  int device;                 /* CUDA device of this rank; -1: the current device */
  size_t memory_bytes;        /* GPU memory budget per rank, symmetric heap included (NVRAR_MEMORY_BYTES) */
  nvrar_algo_t algo;          /* force one algorithm (NVRAR_ALGO) */
  int num_blocks;             /* 0: planner's choice (NVRAR_NUM_BLOCKS) */
  int threads_per_block;      /* 0: planner's choice (NVRAR_THREADS_PER_BLOCK) */
  size_t oneshot_max_bytes;   /* largest message for one-shot under AUTO; 0: measured table */
  double timeout_seconds;     /* bound on every device-side wait; 0: 30 s (NVRAR_TIMEOUT) */
  int gpus_per_node;          /* 0: from the hosts; k: virtual nodes of k GPUs (NVRAR_GPUS_PER_NODE) */
  int rings;                  /* rings of the ring algorithms; 0: planner (NVRAR_RINGS) */
  size_t chunk_bytes;         /* bytes per block per ring step; 0: planner (NVRAR_CHUNK_BYTES) */
} nvrar_config_t;

#define NVRAR_CONFIG_INITIALIZER \
  { sizeof(nvrar_config_t), NVRAR_VERSION, -1, 0, NVRAR_ALGO_AUTO, 0, 0, 0, 0.0, 0, 0, 0 }

/* Version of the loaded library, as NVRAR_VERSION_CODE. Never fails for a non-null pointer. */
NVRAR_API nvrar_result_t nvrar_get_version(int *version);

/* A static, human-readable name for a result code ("unknown result" for others). */
NVRAR_API const char *nvrar_result_string(nvrar_result_t result);

/*
 * The message of the last failed call made by this thread (empty string if none). The text
 * says what was wrong and where; it stays valid until this thread's next nvrar call.
 */
NVRAR_API const char *nvrar_get_last_error(void);

/* Fills *id with a fresh unique id. Call on one rank only, then ship the id to all ranks. */
NVRAR_API nvrar_result_t nvrar_get_unique_id(nvrar_unique_id_t *id);

/*
 * Collective: every rank of the job calls it with the same nranks and id, its own rank.
 * Binds the communicator to config->device (or the current device). Takes GPU memory up to
 * config->memory_bytes (default 256 MiB) including NVSHMEM's symmetric heap, which nvrar sizes
 * itself unless NVSHMEM_SYMMETRIC_SIZE is set. One communicator per process at a time (NVSHMEM
 * has one world per process): a second init before destroy gives NVRAR_ERR_UNSUPPORTED, and so does
 * an NVSHMEM that another library already started in the process. config may be NULL for all
 * defaults. Blocks until all ranks have joined, at most NVRAR_INIT_TIMEOUT seconds (default 600):
 * past that it fails with NVRAR_ERR_TIMEOUT, and since NVSHMEM's bootstrap cannot be called off, the
 * process cannot create another communicator (NVRAR_ERR_UNSUPPORTED).
 * Every rank must resolve the same settings (config and NVRAR_* environment, the device aside) and
 * the same tuned tables: the ranks compare them before any staging exists, and a difference fails
 * init on every rank with NVRAR_ERR_INVALID_USAGE naming the setting and both values. A rank that
 * cannot set up its part (topology, device memory, a peer it cannot reach) makes every rank fail
 * alike, so that none is left waiting in NVSHMEM's collective teardown.
 */
NVRAR_API nvrar_result_t nvrar_comm_init(nvrar_comm_t *comm, int nranks, nvrar_unique_id_t id,
                                         int rank, const nvrar_config_t *config);

/*
 * Collective: waits for this rank's outstanding all-reduces, frees everything the communicator
 * holds and finalises NVSHMEM. comm must not be used afterwards (calls with it then return
 * NVRAR_ERR_INVALID_USAGE, also once later communicators exist: no handle value is ever given out
 * twice in a process; a destroyed one keeps about 13 KiB of host memory for that). Not while another
 * thread calls into comm. The collective teardown starts only once every rank has called destroy
 * (a barrier whose wait times out like an all-reduce's). A communicator that timed out or was
 * aborted, or whose peers did not all reach destroy within the timeout (NVRAR_ERR_TIMEOUT), is torn
 * down locally, without NVSHMEM's collective finalize, so destroy cannot hang on a lost peer;
 * NVSHMEM then stays initialised in this process and a new communicator needs a new process.
 * A world with live sub-communicators gives NVRAR_ERR_INVALID_USAGE; a sub-communicator's destroy is
 * local.
 */
NVRAR_API nvrar_result_t nvrar_comm_destroy(nvrar_comm_t comm);

/*
 * Local and non-blocking: marks the communicator aborted so that running kernels stop waiting for
 * peers (within about 1 ms) and later ones return at once, and releases it without waiting for the
 * device (never cudaDeviceSynchronize: another library's kernel may be stuck on the same lost peer).
 * Its device-side state (about 0.5 MiB) stays allocated, since in-flight kernels may still touch it,
 * and NVSHMEM stays initialised in the process. Aborting a world aborts its sub-communicators. Use
 * after NVRAR_ERR_TIMEOUT or a lost peer. comm must not be used afterwards.
 */
NVRAR_API nvrar_result_t nvrar_comm_abort(nvrar_comm_t comm);

/*
 * Local, non-blocking: the first error a kernel of this communicator recorded (NVRAR_ERR_TIMEOUT
 * when a peer never arrived, NVRAR_ERR_MISMATCH when a peer's call differed), or NVRAR_SUCCESS. Reads host-mapped memory; never synchronises.
 */
NVRAR_API nvrar_result_t nvrar_comm_get_async_error(nvrar_comm_t comm, nvrar_result_t *async_error);

NVRAR_API nvrar_result_t nvrar_comm_rank(nvrar_comm_t comm, int *rank);
NVRAR_API nvrar_result_t nvrar_comm_size(nvrar_comm_t comm, int *nranks);
NVRAR_API nvrar_result_t nvrar_comm_device(nvrar_comm_t comm, int *device);
/*
 * Number of ranks on this rank's node: its host, or its virtual node when gpus_per_node /
 * NVRAR_GPUS_PER_NODE splits a machine (traffic between virtual nodes then goes only through
 * NVSHMEM put-with-signal, as between hosts). Ranks are laid out node-major.
 */
NVRAR_API nvrar_result_t nvrar_comm_local_size(nvrar_comm_t comm, int *local_size);

/*
 * Sub-communicators: a communicator over some ranks of one node of a world communicator (one from
 * nvrar_comm_init), sharing its NVSHMEM world, created by those ranks alone: the world's other ranks
 * take no part. Its staging is one of the world's NVRAR_SUB_SLOTS reserved slots, and the caller
 * chooses which, the same on every member (for example the lowest slot free on all of them: see
 * nvrar_comm_split_slots). One-shot and two-shot only (a forced put-with-signal algorithm or lamport
 * falls back to AUTO); messages above 4 MiB (two-shot) go in pieces, and so do forced one-shot calls above
 * 256 KiB on 2 ranks or 64 KiB on 3-8 (AUTO gives one-shot no larger ones there).
 */
#define NVRAR_SUB_SLOTS 4

/*
 * Collective over the members: *comm becomes rank r of a communicator of nranks ranks, where
 * world_ranks[r] == this rank's rank in world; every member passes the same world_ranks (ranks of
 * world on this rank's node, each once) and the same slot, free on every member. Local otherwise: no
 * barrier, no NVSHMEM call; an all-reduce on it may start as soon as every member has returned.
 * Destroy it (nvrar_comm_destroy, then local) before its world; nvrar_comm_abort of the world aborts
 * it too. nvrar_malloc and nvrar_exchange belong to the world.
 * Errors: NVRAR_ERR_INVALID_ARGUMENT (ranks, slot), NVRAR_ERR_INVALID_USAGE (slot taken on this
 * rank), NVRAR_ERR_UNSUPPORTED (world is itself a sub-communicator), NVRAR_ERR_CUDA.
 */
NVRAR_API nvrar_result_t nvrar_comm_split(nvrar_comm_t world, int nranks, const int *world_ranks, int slot,
                                          nvrar_comm_t *comm);

/*
 * Local: bit s of *free_slots is set when slot s of world is free on this rank (no live
 * sub-communicator there, none left unusable by a failed one).
 */
NVRAR_API nvrar_result_t nvrar_comm_split_slots(nvrar_comm_t world, unsigned *free_slots);

/*
 * Collective (every rank, same bytes, same order): a buffer in NVSHMEM's symmetric heap.
 * nvrar_exchange needs such buffers; an all-reduce takes them like any other input (copied into
 * nvrar's staging: no algorithm reads a symmetric input in place on the peers yet). The heap is
 * the budget of nvrar_comm_init; NVRAR_ERR_OUT_OF_MEMORY when it is spent. Free with nvrar_free,
 * collectively, before nvrar_comm_destroy.
 */
NVRAR_API nvrar_result_t nvrar_malloc(nvrar_comm_t comm, size_t bytes, void **ptr);
NVRAR_API nvrar_result_t nvrar_free(nvrar_comm_t comm, void *ptr);

/*
 * Collective: recvbuf[i] = op over ranks r = 0..n-1 of sendbuf_r[i]; every rank gets bitwise the
 * same result. fp16 and bf16 accumulate in fp32. One-shot and two-shot fold the ranks in order
 * 0..n-1 and round once; the ring algorithms and the inter-node steps of the hierarchical ones
 * carry partial sums in the element type between hops (as NCCL's ring does), so across algorithms
 * fp16/bf16 results may differ in the last bit. In place when sendbuf == recvbuf; otherwise the buffers must not
 * overlap. Any count (0 is a no-op); any alignment of the element type (16-byte aligned buffers
 * take the fast path). Both buffers must be device memory of the communicator's device.
 * Enqueued on stream; returns before the data moves. Capturable in a CUDA graph; replays advance
 * the device-side epoch by themselves.
 * Errors: NVRAR_ERR_INVALID_ARGUMENT (nothing enqueued), NVRAR_ERR_TIMEOUT if an earlier call
 * timed out waiting for a peer (the communicator must then be aborted), NVRAR_ERR_CUDA.
 * A call whose kernel gives up (a wait past the timeout, an abort) leaves recvbuf holding NaNs: it
 * writes 0xff bytes, a NaN in every dtype, over what it could not finish, and nvrar_comm_get_async_error
 * then reports the error. Every later kernel of that communicator, already queued or replayed from a
 * CUDA graph captured before, finds it dead and fills its whole recvbuf so, without waiting: a
 * failed all-reduce never returns numbers that look right.
 * Every rank must issue the same sequence of all-reduces with the same count, dtype and op. On one
 * node, one-shot and two-shot (AUTO's choice there, and their fused forms) hand each peer a 32-bit
 * signature of the call with the data and check the peers' before they fold: a call whose count,
 * dtype or op differs from a peer's gives no result but NaNs, nvrar_comm_get_async_error reports
 * NVRAR_ERR_MISMATCH on the ranks that saw it (the others time out, NVRAR_ERR_TIMEOUT), and the
 * communicator is dead as after a timeout. Counts below 2^32 that differ are always told apart;
 * other differences unless 32 bits of hash collide. Not caught: calls that take different
 * algorithms on different ranks (they time out), and mismatches in the ring family and across
 * nodes (they time out or, for another op, give the ranks different results).
 * The all-reduces of one communicator must be ordered with each other: one stream, or streams
 * ordered by events (as a CUDA graph's nodes are). Two at once on unordered streams share the
 * communicator's device-side counters and may mix; nvrar logs (INFO) the first change of stream.
 * Thread safety: one thread per communicator at a time.
 */
NVRAR_API nvrar_result_t nvrar_all_reduce(nvrar_comm_t comm, const void *sendbuf, void *recvbuf,
                                          size_t count, nvrar_dtype_t dtype, nvrar_op_t op,
                                          nvrar_stream_t stream);

/* Largest hidden size nvrar_all_reduce_add_rmsnorm takes (a row's packs over one block's threads). */
#define NVRAR_RMSNORM_MAX_HIDDEN 65536

/*
 * Collective, the end of a tensor-parallel transformer layer in one call: for every row of
 * `hidden` elements,
 *   residual <- all_reduce_sum(input) + residual;  out <- rmsnorm(residual) * weight.
 * input, residual, out: rows x hidden elements of dtype, row-major, device memory of the
 * communicator's device; weight: hidden elements. out == input is allowed (input is consumed);
 * residual is updated in place and must not overlap the others. hidden * element size must be a
 * multiple of 16 bytes (a multiple of 8 for half and bfloat16, of 4 for float), at most
 * NVRAR_RMSNORM_MAX_HIDDEN; every pointer 16-byte aligned; eps finite and >= 0; rows 0 is a no-op.
 * The result is this function of the inputs, bitwise on every rank, every step in fp32 with
 * IEEE round-to-nearest and no contraction:
 *   s  = nvrar_all_reduce(input, SUM) of this communicator and size (on one node the ranks folded
 *        in order 0..n-1 in fp32 and rounded once to dtype; with one rank, input itself);
 *   r  = dtype(float(s) + float(residual)), stored to residual;
 *   ss = the row's sum of squares of float(r): thread t of 256 takes the row's 16-byte packs
 *        k = t, t + 256, ... in order and within each its elements in order, acc_t = fmaf(x, x, acc_t)
 *        from 0; each warp of 32 adds its lanes as a butterfly (lane i adds lane i ^ m, m = 16, 8, 4,
 *        2, 1); then ss = ((w0 + w1) + w2) + ... + w7 over the 8 warps' sums;
 *   inv = 1 / sqrt(ss / float(hidden) + eps);
 *   out = dtype((float(r) * inv) * float(weight)).
 * Errors as nvrar_all_reduce (NVRAR_ERR_INVALID_ARGUMENT for shapes, alignment, overlap, a weight
 * or buffer not on the communicator's device: nothing enqueued). Capturable in CUDA graphs; the same
 * bounded waits: a call that gives up leaves out and residual NaN. Where nvrar_all_reduce would take
 * one-shot or two-shot, that algorithm runs fused with the add and the norm in one kernel; otherwise
 * (ring family, across nodes, rows too large for its staging) nvrar_all_reduce, then one add + norm
 * kernel: the same function.
 */
NVRAR_API nvrar_result_t nvrar_all_reduce_add_rmsnorm(nvrar_comm_t comm, const void *input, void *residual,
                                                      const void *weight, float eps, void *out, size_t rows,
                                                      size_t hidden, nvrar_dtype_t dtype, nvrar_stream_t stream);

/*
 * Collective between two ranks: this rank and peer (!= rank) both call it with the same bytes;
 * each rank's sendbuf lands in the other's recvbuf, through NVSHMEM put-with-signal (the path
 * between nodes). Both buffers must come from nvrar_malloc with at least `bytes` bytes. A
 * benchmark of the put path (nvrar_perf --op exchange) and a building block; same stream rules
 * and errors as nvrar_all_reduce.
 */
NVRAR_API nvrar_result_t nvrar_exchange(nvrar_comm_t comm, const void *sendbuf, void *recvbuf, size_t bytes,
                                        int peer, nvrar_stream_t stream);

/* Bytes per element of dtype, 0 for an unknown dtype. */
NVRAR_API size_t nvrar_dtype_size(nvrar_dtype_t dtype);

/*
 * The algorithms of this library, for tools and bindings (one table inside the library). For algo
 * from NVRAR_ALGO_AUTO to NVRAR_NUM_ALGOS - 1: *name, its NVRAR_ALGO name (a static string: "auto",
 * "oneshot", ...), and *multinode, 1 if it runs across nodes (put-with-signal), 0 if only within one
 * node (and for AUTO). Either pointer may be NULL. NVRAR_ERR_INVALID_ARGUMENT for other values.
 */
NVRAR_API nvrar_result_t nvrar_algo_info(nvrar_algo_t algo, const char **name, int *multinode);
/* The algorithm named name (as NVRAR_ALGO takes it: case-insensitive, '_' for '-', one-shot/two-shot
 * too) into *algo; NVRAR_ERR_INVALID_ARGUMENT, *algo untouched, for any other text. */
NVRAR_API nvrar_result_t nvrar_algo_from_name(const char *name, nvrar_algo_t *algo);

/*
 * For programs and libraries built on nvrar (its NCCL drop-in, nvrar_perf, bindings): nvrar's own
 * names, environment registry and log, so that a process has one of each and one last-error text.
 */
/* "float", "half", "bfloat16"; "sum", "max", "min"; "unknown" for other values (static strings). */
NVRAR_API const char *nvrar_dtype_name(nvrar_dtype_t dtype);
NVRAR_API const char *nvrar_op_name(nvrar_op_t op);
/* A size as nvrar's variables spell it ("4096", "64KiB", "64K", "1M", "3.5G") into *bytes;
 * NVRAR_ERR_INVALID_ARGUMENT, *bytes untouched, for a malformed or overflowing one. */
NVRAR_API nvrar_result_t nvrar_parse_size(const char *text, size_t *bytes);

/* Where nvrar reads its environment: getenv, or a stand-in (tests). */
typedef const char *(*nvrar_env_lookup_fn)(const char *name);
/*
 * One variable of nvrar's registry (docs/env.md) through lookup (NULL: the process environment),
 * or its default when unset or empty, checked as nvrar_comm_init checks it, into *out, of the
 * variable's type: int (an integer), size_t (a size), double (seconds), nvrar_algo_t (NVRAR_ALGO) or
 * const char * (text: the value or the default as it is, not copied).
 * NVRAR_ERR_INVALID_ARGUMENT names a bad value and what it should look like, or an unknown name.
 */
NVRAR_API nvrar_result_t nvrar_env_read(const char *name, nvrar_env_lookup_fn lookup, void *out);
/*
 * What nvrar_comm_init resolves from config (NULL: NVRAR_CONFIG_INITIALIZER) and the environment
 * into *resolved: every field as init will use it (0 in the launch fields still means the
 * planner's choice), or the error init would give, naming the field or variable. *resolved must
 * be initialised with NVRAR_CONFIG_INITIALIZER too: its size says how much is written.
 */
NVRAR_API nvrar_result_t nvrar_config_resolve(const nvrar_config_t *config, nvrar_config_t *resolved);
/* The registry as a Markdown table (docs/env.md holds this output) and the planner's cost model
 * (src/model.c) as a table, printed to file, a FILE *. */
NVRAR_API void nvrar_env_print_table(void *file);
NVRAR_API void nvrar_model_print(void *file);

/*
 * nvrar's log on stderr, "nvrar LEVEL [pid N] file:line message", as NVRAR_DEBUG (level) and
 * NVRAR_DEBUG_SUBSYS (a mask of subsystems) let through; nvrar_log_enabled says whether a message
 * of level and subsys would be printed.
 */
typedef enum nvrar_log_level {
  NVRAR_LOG_NONE = 0,
  NVRAR_LOG_WARN = 1,
  NVRAR_LOG_INFO = 2,
  NVRAR_LOG_TRACE = 3
} nvrar_log_level_t;
enum { NVRAR_SUBSYS_INIT = 1, NVRAR_SUBSYS_COLL = 2, NVRAR_SUBSYS_ALL = 3 };
NVRAR_API int nvrar_log_enabled(int level, int subsys);
NVRAR_API void nvrar_log(int level, int subsys, const char *file, int line, const char *fmt, ...) NVRAR_PRINTF(5, 6);

/*
 * Tuned parameters: JSON files the tuner writes (docs/tuning.md), one per (world size, dtype):
 *   {"65536": {"algorithm": "oneshot", "num_blocks": 32, "threads_per_block": 128,
 *              "chunk_bytes": 0, "avg_time_ms": 0.0072}, "1048576": {...}}
 * nvrar_comm_init reads the file of its world size for each dtype; a message takes the entry with
 * the largest size not above its own, and the built-in planner where there is none. A forced
 * algorithm or launch shape (config fields, NVRAR_ALGO, NVRAR_NUM_BLOCKS, ...) wins over a file. A
 * malformed file is ignored whole, with a warning that names it. Python's resolve_params() reads
 * the files through these two functions, so C and Python always pick the same parameters.
 */
typedef struct nvrar_tuned_entry {
  size_t bytes;            /* the entry applies from this message size up to the next entry's */
  nvrar_algo_t algo;       /* NVRAR_ALGO_AUTO: the planner's choice */
  int num_blocks;          /* 0: planner's choice */
  int threads_per_block;   /* 0: planner's choice */
  size_t chunk_bytes;      /* 0: planner's choice (ring family) */
  double avg_time_ms;      /* what the tuner measured; informative */
} nvrar_tuned_entry_t;

/*
 * The file nvrar reads for (nranks, dtype), written into path (cap bytes with the terminator):
 * NVSHMEM_ALLREDUCE_CONFIG if set, else $NVRAR_CACHE_DIR/tuning_{nranks}gpu_{float32|float16|
 * bfloat16}.json, else the same name under $XDG_CACHE_HOME/nvrar or $HOME/.cache/nvrar.
 * Errors: NVRAR_ERR_INVALID_ARGUMENT (bad nranks or dtype, no such variable to build a path from,
 * or a path longer than cap).
 */
NVRAR_API nvrar_result_t nvrar_tuned_file(int nranks, nvrar_dtype_t dtype, char *path, size_t cap);

/*
 * Parses the tuned file at path with nvrar's parser: its entries, sorted by size, into entries[0..*count)
 * (at most cap; a file has at most 64). No such file: *count = 0 and NVRAR_SUCCESS (the built-in
 * planner applies). Errors: NVRAR_ERR_INVALID_ARGUMENT with the line and what is wrong for a
 * malformed file, or more entries than cap; entries is then left untouched.
 */
NVRAR_API nvrar_result_t nvrar_tuned_read(const char *path, nvrar_tuned_entry_t *entries, int cap, int *count);

/*
 * Local: replaces the tuned table comm uses for dtype (what nvrar_comm_init read from the file) with
 * entries[0..count), in any order; count 0 clears it (the built-in planner). Entries are checked as
 * a file's are (at most 64, sizes distinct, algorithm and launch values in range); on error nothing
 * changes. Every rank must install the same table before its next all-reduce of that dtype, since
 * all ranks must pick the same kernel. The tuner's way to time a configuration without a new
 * communicator. Errors: NVRAR_ERR_INVALID_ARGUMENT, NVRAR_ERR_INVALID_USAGE (destroyed comm).
 */
NVRAR_API nvrar_result_t nvrar_comm_set_tuned(nvrar_comm_t comm, nvrar_dtype_t dtype, const nvrar_tuned_entry_t *entries,
                                              int count);

#ifdef __cplusplus
}
#endif
#endif /* NVRAR_H */
