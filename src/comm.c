/*
 * Communicator lifecycle: the registry of live handles, init (NVSHMEM from a unique id, the ranks'
 * agreement, the symmetric staging, device-side epochs and host-mapped error words), sub-communicators,
 * destroy and abort, symmetric buffers. What init computes lives in setup.c, the call path in
 * enqueue.c. Arguments arrive here already validated by api.c.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "agree.h"
#include "comm.h"
#include "setup.h"
#include "shmem.h"
#include "shmem_env.h"
#include "shmem_start.h"

#define CUDA_TRY(call, res, label)                                                                  \
  do {                                                                                              \
    cudaError_t e_ = (call);                                                                        \
    if (e_ != cudaSuccess) {                                                                        \
      (void)cudaGetLastError();                                                                     \
      (res) = nvrar_error(NVRAR_ERR_CUDA, "%s failed: %s (%s:%d)", #call, cudaGetErrorString(e_), __FILE__, \
                          __LINE__);                                                                \
      goto label;                                                                                   \
    }                                                                                               \
  } while (0)

/*
 * ---- registry of live communicators: at most one world (NVSHMEM has one per process) and its
 * sub-communicators ----
 */
enum { MAX_LIVE = 1 + NVRAR_SUB_SLOTS };
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static nvrar_comm_t live[MAX_LIVE];
static int shmem_initialized; /* NVSHMEM is up in this process (also after an abort) */
static int init_abandoned;    /* an init timed out in NVSHMEM's bootstrap, which still waits */

int nvrar_comm_is_live(nvrar_comm_t comm) {
  int found = 0;
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < MAX_LIVE && comm && !found; i++) found = live[i] == comm;
  pthread_mutex_unlock(&registry_lock);
  return found;
}

/* Under registry_lock. A free place always exists: one world plus at most NVRAR_SUB_SLOTS children. */
static void registry_add_locked(nvrar_comm_t comm) {
  for (int i = 0; i < MAX_LIVE; i++) {
    if (!live[i]) {
      live[i] = comm;
      return;
    }
  }
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void comm_release_local(nvrar_comm_t comm) {
  if (comm->sync) cudaFree(comm->sync);
  if (comm->host_words) cudaFreeHost(comm->host_words);
  comm->sync = NULL;
  comm->host_words = NULL;
  (void)cudaGetLastError();
}

/*
 * NVRAR_TEST_COUNTER_BASE (tests only): a new world's 32-bit counters (two-shot's barrier counts,
 * one-shot's piece counter) and its barrier flags start there, as if it had already run that many
 * barriers and pieces, so that wrap-around happens within a short test. Before the staging barrier.
 */
static cudaError_t start_counters_at_test_base(nvrar_comm_t comm) {
  size_t base = 0;
  if (nvrar_env_read("NVRAR_TEST_COUNTER_BASE", NULL, &base) != NVRAR_SUCCESS || !(uint32_t)base ||
      comm->nranks == 1)
    return cudaSuccess;
  nvrar_device_sync_t init;
  memset(&init, 0, sizeof init);
  init.ll_count = (uint32_t)base;
  for (int b = 0; b < NVRAR_MAX_BLOCKS; b++) init.seq[b] = (uint32_t)base;
  uint64_t flags[2 * NVRAR_MAX_BLOCKS * NVRAR_MAX_RANKS]; /* the flags area at the heap's start (setup.c) */
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) flags[i] = (uint32_t)base; /* signature 0 */
  cudaError_t e = cudaMemcpy(comm->sync, &init, sizeof init, cudaMemcpyHostToDevice);
  return e != cudaSuccess ? e : cudaMemcpy(comm->heap, flags, sizeof flags, cudaMemcpyHostToDevice);
}

/* Lamport's buffers start empty, every 32-bit word the sentinel 0xffffffff (src/device/ar_lamport.cu);
 * before the staging barrier, so before any peer writes into them. */
static cudaError_t lamport_buffers_empty(nvrar_comm_t comm, char *area) {
  size_t flags, cells, stage, lamport;
  nvrar_direct_layout(comm->nranks, &comm->capacity, &flags, &cells, &stage, &lamport);
  return lamport ? cudaMemset(area + flags + cells + stage, 0xff, lamport) : cudaSuccess;
}

/* The device-side state (epochs, host-mapped error words) and the kernel arguments all algorithms share. */
static nvrar_result_t device_state(nvrar_comm_t comm) {
  nvrar_result_t res = NVRAR_SUCCESS;
  int *dev_words = NULL;
  CUDA_TRY(cudaMalloc((void **)&comm->sync, sizeof(nvrar_device_sync_t)), res, done);
  CUDA_TRY(cudaMemset(comm->sync, 0, sizeof(nvrar_device_sync_t)), res, done);
  CUDA_TRY(cudaHostAlloc((void **)&comm->host_words, 2 * sizeof(int), cudaHostAllocMapped), res, done);
  comm->host_words[0] = comm->host_words[1] = 0;
  CUDA_TRY(cudaHostGetDevicePointer((void **)&dev_words, comm->host_words, 0), res, done);
  nvrar_kernel_args_t base;
  memset(&base, 0, sizeof base);
  base.rank = comm->rank;
  base.nranks = comm->nranks;
  base.sync = comm->sync;
  base.error = dev_words;
  base.abort_flag = dev_words + 1;
  base.timeout_ns = nvrar_timeout_ns(comm->settings.timeout_seconds);
  base.pdl = comm->settings.pdl;
  comm->oneshot_args = base;
  comm->twoshot_args = base;
  comm->lamport_args = base;
  comm->lamport_twoshot_args = base;
  comm->ring_args = base;
done:
  return res; /* the caller's fail path releases what was allocated */
}

/*
 * This rank's part of init once NVSHMEM is up, all of it local: NVSHMEM's view of the ranks, the
 * topology, tuned files, the staging layout and the device-side state. Its result is not returned to
 * the caller directly but goes into the agreement, so that every rank fails together.
 */
static nvrar_result_t prepare(nvrar_comm_t comm, const nvrar_settings_t *settings, size_t *flags_bytes,
                              size_t *cells_bytes, size_t *stage_bytes, size_t *ring_bytes) {
  int rank = comm->rank, nranks = comm->nranks;
  if (nvrar_shmem_my_pe() != rank || nvrar_shmem_n_pes() != nranks)
    return nvrar_error(NVRAR_ERR_NVSHMEM, "nvrar_comm_init: NVSHMEM reports pe %d of %d, expected rank %d of %d",
                       nvrar_shmem_my_pe(), nvrar_shmem_n_pes(), rank, nranks);
  NVRAR_CHECK(nvrar_find_topology(settings, rank, nranks, &comm->topo));
  comm->local_size = comm->topo.gpus;
  nvrar_load_tuned(comm);
  nvrar_plan_staging(settings, &comm->topo, nvrar_needs_ring_staging(comm), &comm->capacity, flags_bytes, cells_bytes,
                     stage_bytes, ring_bytes);
  comm->slots_offset = *flags_bytes + *cells_bytes + *stage_bytes + *ring_bytes + 2 * nvrar_signals_bytes(nranks);
  return device_state(comm);
}

/*
 * Collective: every rank's agreement record (agree.h) is gathered through a small symmetric area
 * before any staging exists, then checked alike on every rank. *exchanged says whether the exchange
 * itself completed (then every rank reached the same verdict, whatever it is). The area also proves
 * that this rank reaches every rank of its node directly, which one-shot and two-shot need.
 */
static nvrar_result_t agree_with_peers(nvrar_comm_t comm, nvrar_result_t prep, size_t used, int *exchanged) {
  const int n = comm->nranks;
  const size_t rec = sizeof(nvrar_agree_record_t);
  nvrar_result_t res = NVRAR_SUCCESS;
  *exchanged = 0;
  nvrar_agree_record_t *all = malloc((size_t)n * rec);
  if (!all && prep == NVRAR_SUCCESS) /* still takes part below: its record tells the others */
    prep = nvrar_error(NVRAR_ERR_OUT_OF_MEMORY, "nvrar_comm_init: out of host memory for the agreement");
  char *area = nvrar_shmem_calloc((size_t)(n + 1) * rec); /* [this rank's record][everyone's, gathered] */
  if (!area) { /* the same size on every rank: NVSHMEM refuses it on every rank */
    res = nvrar_error(NVRAR_ERR_OUT_OF_MEMORY, "nvrar_comm_init: NVSHMEM could not allocate the %zu-byte agreement area",
                      (size_t)(n + 1) * rec);
    goto done;
  }
  if (prep == NVRAR_SUCCESS && comm->topo.nodes == 1) {
    for (int pe = 0; pe < n && prep == NVRAR_SUCCESS; pe++)
      if (!nvrar_shmem_ptr(area, pe))
        prep = nvrar_error(NVRAR_ERR_UNSUPPORTED, "nvrar_comm_init: rank %d cannot reach rank %d's memory directly "
                                                  "(no NVLink or P2P path)", comm->rank, pe);
  }
  nvrar_agree_record_t mine;
  nvrar_agree_fill(&mine, prep, n, &comm->settings, comm->heap_bytes, used, &comm->topo, comm->tuned);
  cudaError_t e = cudaMemcpy(area, &mine, rec, cudaMemcpyHostToDevice);
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  nvrar_shmem_barrier_all(); /* every record is written */
  if (e == cudaSuccess) e = (cudaError_t)nvrar_shmem_gather(area, area + rec, rec, n);
  if (e == cudaSuccess && all) e = cudaMemcpy(all, area + rec, (size_t)n * rec, cudaMemcpyDeviceToHost);
  nvrar_shmem_barrier_all(); /* nobody frees the area while another rank still reads it */
  if (!all) {
    *exchanged = 1; /* its record says it failed: every rank fails */
    res = prep;
  } else if (e != cudaSuccess) {
    (void)cudaGetLastError();
    res = nvrar_error(NVRAR_ERR_CUDA, "nvrar_comm_init: gathering the ranks' settings failed: %s", cudaGetErrorString(e));
  } else {
    *exchanged = 1;
    res = nvrar_agree_check(all, n, comm->rank);
  }
done:
  if (area) nvrar_shmem_free(area);
  free(all);
  return res;
}

/* Claims the process's one NVSHMEM world for a new communicator, or says why there is none. */
static nvrar_result_t claim_process(void) {
  nvrar_result_t res = NVRAR_SUCCESS;
  pthread_mutex_lock(&registry_lock);
  if (init_abandoned) {
    res = nvrar_error(NVRAR_ERR_UNSUPPORTED, "nvrar_comm_init: an earlier init in this process timed out in NVSHMEM's "
                                             "bootstrap, which cannot be called off; a new communicator needs a new "
                                             "process");
  } else if (shmem_initialized) {
    int world_live = 0;
    for (int i = 0; i < MAX_LIVE; i++) world_live |= live[i] != NULL;
    res = nvrar_error(NVRAR_ERR_UNSUPPORTED,
                      world_live ? "nvrar_comm_init: this process already has a communicator; NVSHMEM has one world "
                                   "per process: destroy it first, or nvrar_comm_split it"
                                 : "nvrar_comm_init: an aborted communicator left NVSHMEM initialised in this "
                                   "process; a new one needs a new process");
  } else {
    shmem_initialized = 1; /* claimed; nvrar_comm_create clears it again if NVSHMEM does not come up */
  }
  pthread_mutex_unlock(&registry_lock);
  return res;
}

/* The communicator's device, current and with a context; *free_before: its free memory then. */
static nvrar_result_t bind_device(nvrar_comm_t comm, int device, size_t *free_before) {
  nvrar_result_t res = NVRAR_SUCCESS;
  size_t total = 0;
  if (device < 0) CUDA_TRY(cudaGetDevice(&device), res, done);
  int ndev = 0;
  CUDA_TRY(cudaGetDeviceCount(&ndev), res, done);
  if (device >= ndev)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_init: device %d does not exist (%d visible)", device, ndev);
  comm->device = device;
  CUDA_TRY(cudaSetDevice(device), res, done);
  if (comm->settings.pdl) { /* programmatic dependent launch needs sm_90 */
    int major = 0;
    CUDA_TRY(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), res, done);
    if (major < 9) {
      NVRAR_WARN("NVRAR_PDL=1: device %d (compute capability %d.x) has no programmatic dependent launch; launching "
                 "without it", device, major);
      comm->settings.pdl = 0;
    }
  }
  CUDA_TRY(cudaFree(0), res, done);
  CUDA_TRY(cudaMemGetInfo(free_before, &total), res, done);
done:
  return res;
}

/* The device module loaded, then NVSHMEM started with nvrar's options under NVRAR_INIT_TIMEOUT;
 * *up = 1 once NVSHMEM is up. */
static nvrar_result_t start_shmem(nvrar_comm_t comm, const void *shmem_id, size_t free_before, int *up) {
  nvrar_result_t res = NVRAR_SUCCESS;
  size_t total = 0, free_module = 0;
  /* NVSHMEM has one world per process: one that another library started (torch's symmetric memory,
   * DeepEP) has another heap and maybe other ranks, and nvrar's device code was not set up in it. */
  int shmem_status = nvrar_shmem_init_status();
  if (shmem_status != 0)
    return nvrar_error(NVRAR_ERR_UNSUPPORTED,
                       "nvrar_comm_init: NVSHMEM is already initialised in this process by another library (status "
                       "%d); nvrar needs a world of its own: create the nvrar communicator before that library starts "
                       "NVSHMEM, or run them in separate processes", shmem_status);

  /* Load the device module first, so the log tells its memory apart from NVSHMEM's. The stack limit
   * after the load tells how much of it is local memory (the limit x every thread the GPU holds);
   * docs/design.md, "Device memory". */
  CUDA_TRY((cudaError_t)nvrar_shmem_load_module(), res, done);
  CUDA_TRY(cudaMemGetInfo(&free_module, &total), res, done);
  size_t stack_limit = 0;
  if (cudaDeviceGetLimit(&stack_limit, cudaLimitStackSize) != cudaSuccess) (void)cudaGetLastError();
  const char *loading = nvrar_process_getenv("CUDA_MODULE_LOADING");
  NVRAR_INFO(NVRAR_SUBSYS_INIT, "device module load took %zu MiB (stack limit %zu B per thread, module loading %s)",
             (free_before - free_module) >> 20, stack_limit, loading ? loading : "default");
  size_t read_heap = nvrar_shmem_env_read_heap();
  if (read_heap) {
    NVRAR_INFO(NVRAR_SUBSYS_INIT, "NVSHMEM keeps the options it read earlier in this process (nvrar_get_unique_id "
               "or an earlier communicator)");
    if (read_heap < comm->heap_bytes)
      NVRAR_WARN("NVSHMEM read a heap of %zu bytes earlier in this process, below the %zu this communicator "
                 "reserves; with a static heap (CUDA VMM off) its staging may not fit", read_heap, comm->heap_bytes);
  }
  nvrar_shmem_env_t undo;
  if (nvrar_shmem_env_apply(comm->heap_bytes, &undo))
    return nvrar_error(NVRAR_ERR_INTERNAL, "nvrar_comm_init: setenv failed while setting NVSHMEM's options");
  const char *user_heap = nvrar_process_getenv("NVSHMEM_SYMMETRIC_SIZE");
  size_t parsed = 0;
  if (!nvrar_size_from_text(user_heap, &parsed) && parsed != comm->heap_bytes) {
    NVRAR_WARN("NVSHMEM_SYMMETRIC_SIZE=%s set by the user overrides nvrar's heap of %zu bytes", user_heap,
               comm->heap_bytes);
    comm->heap_bytes = parsed;
  }
  double init_timeout = 0;
  res = nvrar_env_read("NVRAR_INIT_TIMEOUT", NULL, &init_timeout);
  int status = 0, abandoned = 0;
  if (res == NVRAR_SUCCESS)
    res = nvrar_shmem_start(comm->rank, comm->nranks, shmem_id, comm->device, init_timeout, &status, &abandoned);
  nvrar_shmem_env_restore(&undo); /* read first thing by NVSHMEM's init; what is left is the user's */
  if (abandoned) {
    pthread_mutex_lock(&registry_lock);
    init_abandoned = 1;
    pthread_mutex_unlock(&registry_lock);
  }
  if (res != NVRAR_SUCCESS) return res;
  if (status != 0)
    return nvrar_error(NVRAR_ERR_NVSHMEM, "nvrar_comm_init: NVSHMEM init with a unique id failed (status %d) on rank "
                       "%d of %d", status, comm->rank, comm->nranks);
  *up = 1;
  size_t free_shmem = free_module; /* only for the log: a failure here must not take this rank off the common path */
  if (cudaMemGetInfo(&free_shmem, &total) != cudaSuccess) (void)cudaGetLastError();
  NVRAR_INFO(NVRAR_SUBSYS_INIT, "NVSHMEM init took %zu MiB of device memory", (free_module - free_shmem) >> 20);
  int shared = nvrar_shmem_gpu_shared();
  if (shared)
    NVRAR_INFO(NVRAR_SUBSYS_INIT, "rank %d shares GPU %d with other ranks (NVSHMEM %s MPG): they reach each other "
               "through nvshmem_ptr and time-slice the GPU; correct, not fast", comm->rank, comm->device,
               shared == 1 ? "limited" : "full");
done:
  return res;
}

/*
 * With NVSHMEM up: every rank prepares its part, the ranks agree, and the staging is allocated,
 * zeroed and wired into the argument templates. *collective_teardown says whether a failure here
 * was reached by every rank alike (so NVSHMEM's collective free and finalize are safe).
 */
static nvrar_result_t join_world(nvrar_comm_t comm, const nvrar_settings_t *settings, int *collective_teardown) {
  nvrar_result_t res = NVRAR_SUCCESS;
  /* From here every rank takes the same path: its own preparation's result goes into the agreement,
   * so that a failure anywhere fails init everywhere and NVSHMEM's collective teardown is safe. */
  size_t flags_bytes = 0, cells_bytes = 0, stage_bytes = 0, ring_bytes = 0;
  nvrar_result_t prep = prepare(comm, settings, &flags_bytes, &cells_bytes, &stage_bytes, &ring_bytes);
  size_t used = comm->slots_offset + NVRAR_SUB_SLOTS * comm->slot_bytes;
  int exchanged = 0;
  res = agree_with_peers(comm, prep, used, &exchanged);
  *collective_teardown = exchanged; /* every rank reached the same verdict */
  if (res != NVRAR_SUCCESS && !exchanged) {
    /* This rank alone could not read the verdict; the others may have agreed and go on. It takes part
     * in their two remaining collective steps, so that they do not wait in NVSHMEM forever, then fails
     * locally; they time out on their first call with it. */
    (void)nvrar_shmem_calloc(used);
    nvrar_shmem_barrier_all();
  }
  if (res != NVRAR_SUCCESS) return res;

  comm->heap = nvrar_shmem_calloc(used); /* the same size on every rank, agreed */
  if (!comm->heap)
    return nvrar_error(NVRAR_ERR_OUT_OF_MEMORY,
                       "nvrar_comm_init: NVSHMEM could not allocate %zu bytes of staging from its %zu-byte heap", used,
                       comm->heap_bytes);
  comm->heap_used = used;
  *collective_teardown = 0; /* past this point a failure is this rank's alone: tear down locally */
  cudaError_t synced = start_counters_at_test_base(comm);
  if (synced == cudaSuccess) synced = lamport_buffers_empty(comm, comm->heap);
  if (synced == cudaSuccess) synced = cudaDeviceSynchronize();
  nvrar_shmem_barrier_all(); /* every rank's staging is zeroed before anyone writes into it; also on error */
  CUDA_TRY(synced, res, done);

  nvrar_set_ring_args(&comm->ring_args, &comm->topo, comm->capacity.region_packs,
                      (char *)comm->heap + flags_bytes + cells_bytes + stage_bytes, ring_bytes);
  comm->capacity.cells_packs = comm->ring_args.cells_packs;
  if (comm->topo.nodes == 1) { /* one-shot, two-shot: one node only */
    int pes[NVRAR_MAX_RANKS];
    for (int pe = 0; pe < comm->nranks; pe++) pes[pe] = pe;
    NVRAR_CHECK(nvrar_set_direct_args(comm, comm->heap, pes, "nvrar_comm_init"));
  }
done:
  return res;
}

/* What init took (device memory since free_before, against the budget) and what it set up, logged. */
static nvrar_result_t account_init(nvrar_comm_t comm, const nvrar_settings_t *settings, size_t free_before,
                                   double seconds) {
  nvrar_result_t res = NVRAR_SUCCESS;
  size_t free_after = 0, total = 0;
  CUDA_TRY(cudaMemGetInfo(&free_after, &total), res, done);
  comm->memory_taken = free_before > free_after ? free_before - free_after : 0;
  /* Ranks sharing the GPU start together: free memory then fell by what all of them took, so no budget
   * check here (the tests divide by the ranks on the GPU). */
  if (comm->memory_taken > settings->memory_bytes && !nvrar_shmem_gpu_shared())
    NVRAR_WARN("init took %zu MiB of device memory, over the %zu MiB budget", comm->memory_taken >> 20,
               settings->memory_bytes >> 20);
  NVRAR_INFO(NVRAR_SUBSYS_INIT, "rank %d/%d: %d %snode(s) x %d GPUs, network between nodes: %s", comm->rank,
             comm->nranks, comm->topo.nodes, settings->gpus_per_node ? "virtual " : "", comm->topo.gpus,
             nvrar_network_name(comm->topo.network));
  NVRAR_INFO(NVRAR_SUBSYS_INIT,
             "rank %d/%d device %d: init %.2f s, heap %zu MiB (staging %zu KiB), device memory taken %zu MiB, "
             "one-shot piece %llu KiB, two-shot slot %llu KiB",
             comm->rank, comm->nranks, comm->device, seconds, comm->heap_bytes >> 20, comm->heap_used >> 10,
             comm->memory_taken >> 20, (unsigned long long)(comm->capacity.oneshot_packs * NVRAR_PACK_BYTES) >> 10,
             (unsigned long long)(comm->capacity.slice_packs * NVRAR_PACK_BYTES) >> 10);
done:
  return res;
}

nvrar_result_t nvrar_comm_create(nvrar_comm_t *out, int nranks, const void *shmem_id, int rank,
                                 const nvrar_settings_t *settings) {
  double t0 = now_seconds();
  NVRAR_CHECK(claim_process());
  nvrar_result_t res = NVRAR_SUCCESS;
  int shmem_up = 0, collective_teardown = 0;
  size_t free_before = 0;
  nvrar_comm_t comm = calloc(1, sizeof *comm);
  if (!comm) {
    res = nvrar_error(NVRAR_ERR_OUT_OF_MEMORY, "nvrar_comm_init: out of host memory");
    goto fail;
  }
  comm->rank = rank;
  comm->nranks = nranks;
  comm->settings = *settings;
  comm->heap_bytes = nvrar_heap_reserve(settings, nranks, &comm->slot_bytes);
  NVRAR_CHECK_GOTO(bind_device(comm, settings->device, &free_before), res, fail);
  NVRAR_CHECK_GOTO(start_shmem(comm, shmem_id, free_before, &shmem_up), res, fail);
  NVRAR_CHECK_GOTO(join_world(comm, settings, &collective_teardown), res, fail);
  NVRAR_CHECK_GOTO(account_init(comm, settings, free_before, now_seconds() - t0), res, fail);
  pthread_mutex_lock(&registry_lock);
  registry_add_locked(comm);
  pthread_mutex_unlock(&registry_lock);
  *out = comm;
  return NVRAR_SUCCESS;

fail:
  if (comm) {
    comm_release_local(comm);
    if (shmem_up && collective_teardown) {
      if (comm->heap) nvrar_shmem_free(comm->heap);
      nvrar_shmem_finalize();
      shmem_up = 0;
    } else if (shmem_up) {
      NVRAR_WARN("nvrar_comm_init failed on this rank alone after NVSHMEM started; its collective teardown would wait "
                 "for peers that carry on, so NVSHMEM stays initialised in this process");
    }
    free(comm);
  }
  pthread_mutex_lock(&registry_lock);
  shmem_initialized = shmem_up; /* 0 unless NVSHMEM had to be left up */
  pthread_mutex_unlock(&registry_lock);
  return res;
}

/*
 * Takes a handed-out communicator out of the registry for good. Its memory is zeroed but never freed
 * (13 KiB each, on a list so leak checkers see it reachable): were it freed, the next calloc could
 * return the same address for a new communicator, and a call through the stale handle would pass the
 * liveness check and land on that new one.
 */
static nvrar_comm_t retired;

static void registry_drop(nvrar_comm_t comm, int shmem_still_up) {
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < MAX_LIVE; i++)
    if (live[i] == comm) live[i] = NULL;
  if (!comm->parent) shmem_initialized = shmem_still_up;
  memset(comm, 0, sizeof *comm);
  comm->retired_next = retired;
  retired = comm;
  pthread_mutex_unlock(&registry_lock);
}

/*
 * NVSHMEM's free and finalize wait for every rank, so a rank whose peer never calls destroy would
 * hang there. Two one-element all-reduces come first, and the collective teardown starts only when
 * both completed. One is not an agreement: a rank that timed out in it had already pushed its part,
 * so a peer arriving more than the timeout late completed the same all-reduce alone and went on to
 * the collective teardown, where it hung. The rank that timed out never starts the second one, so
 * that peer times out there and tears down locally too (NVRAR_ERR_TIMEOUT) instead of hanging; only
 * a peer that fell behind between the two (microseconds apart) could still pass alone.
 */
static nvrar_result_t destroy_barrier(nvrar_comm_t comm) {
  if (comm->nranks == 1) return NVRAR_SUCCESS;
  nvrar_result_t res = NVRAR_SUCCESS;
  cudaStream_t stream = NULL;
  CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), res, done);
  float *word = comm->sync->barrier;
  comm->stream_noted = 1; /* its own stream, after all of the user's work: nothing to note */
  for (int phase = 0; phase < 2 && comm->host_words[0] == 0; phase++) {
    NVRAR_CHECK_GOTO(nvrar_comm_enqueue(comm, word, word, 1, sizeof *word, NVRAR_FLOAT32, NVRAR_SUM, stream), res,
                     done);
    CUDA_TRY(cudaStreamSynchronize(stream), res, done);
  }
  if (comm->host_words[0] != 0)
    res = nvrar_error(NVRAR_ERR_TIMEOUT, "nvrar_comm_destroy: rank %d waited %.0f s for its peers to reach destroy; "
                                         "tore down locally", comm->rank, comm->settings.timeout_seconds);
done:
  if (stream) cudaStreamDestroy(stream);
  return res;
}

/* ---- sub-communicators ---- */
nvrar_result_t nvrar_comm_split_impl(nvrar_comm_t world, int nranks, const int *world_ranks, int slot,
                                     nvrar_comm_t *out) {
  nvrar_result_t res = NVRAR_SUCCESS;
  if (world->parent)
    return nvrar_error(NVRAR_ERR_UNSUPPORTED, "nvrar_comm_split: comm is itself a sub-communicator; split its world");
  if (slot < 0 || slot >= NVRAR_SUB_SLOTS)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_split: slot %d is outside 0-%d", slot, NVRAR_SUB_SLOTS - 1);
  int node = world->rank / world->topo.gpus, rank = -1;
  if (nranks < 1 || nranks > world->topo.gpus)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_split: %d ranks; a sub-communicator has 1-%d, the ranks "
                                                   "of one node of its world", nranks, world->topo.gpus);
  for (int r = 0; r < nranks; r++) {
    int w = world_ranks[r];
    if (w < 0 || w >= world->nranks || w / world->topo.gpus != node)
      return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_split: world rank %d is not on this rank's node "
                                                     "(ranks %d-%d)", w, node * world->topo.gpus,
                         (node + 1) * world->topo.gpus - 1);
    for (int q = 0; q < r; q++)
      if (world_ranks[q] == w)
        return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_split: world rank %d is listed twice", w);
    if (w == world->rank) rank = r;
  }
  if (rank < 0)
    return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_comm_split: this rank (%d of the world) is not among the "
                                                   "%d ranks", world->rank, nranks);
  unsigned bit = 1u << slot;
  pthread_mutex_lock(&registry_lock);
  unsigned taken = (world->slots_used | world->slots_dead) & bit;
  if (!taken) world->slots_used |= bit;
  pthread_mutex_unlock(&registry_lock);
  if (taken)
    return nvrar_error(NVRAR_ERR_INVALID_USAGE, "nvrar_comm_split: slot %d is %s", slot,
                       world->slots_dead & bit ? "unusable: a sub-communicator there failed and its peers may still "
                                                 "write into it" : "in use by a live sub-communicator");
  nvrar_comm_t comm = calloc(1, sizeof *comm);
  if (!comm) {
    res = nvrar_error(NVRAR_ERR_OUT_OF_MEMORY, "nvrar_comm_split: out of host memory");
    goto fail;
  }
  comm->rank = rank;
  comm->nranks = nranks;
  comm->device = world->device;
  comm->settings = world->settings;
  nvrar_sub_capacity(nranks, &comm->capacity);
  /* a slot has one-shot's and two-shot's staging only: an algorithm forced at init that needs more
   * falls back to AUTO here */
  if (!nvrar_capacity_holds(&comm->capacity, comm->settings.algo)) comm->settings.algo = NVRAR_ALGO_AUTO;
  comm->topo = (nvrar_topo_t){nranks, 1, nranks, NVRAR_NET_NVLINK};
  comm->local_size = nranks;
  comm->parent = world;
  comm->slot = slot;
  comm->heap = (char *)world->heap + world->slots_offset + (size_t)slot * world->slot_bytes;
  CUDA_TRY(cudaSetDevice(comm->device), res, fail);
  NVRAR_CHECK_GOTO(device_state(comm), res, fail);
  NVRAR_CHECK_GOTO(nvrar_set_direct_args(comm, comm->heap, world_ranks, "nvrar_comm_split"), res, fail);
  nvrar_load_tuned(comm);
  pthread_mutex_lock(&registry_lock);
  world->children++;
  registry_add_locked(comm);
  pthread_mutex_unlock(&registry_lock);
  NVRAR_INFO(NVRAR_SUBSYS_INIT, "sub-communicator in slot %d: rank %d of %d (world rank %d)", slot, rank, nranks,
             world->rank);
  *out = comm;
  return NVRAR_SUCCESS;
fail:
  if (comm) {
    comm_release_local(comm);
    free(comm);
  }
  pthread_mutex_lock(&registry_lock);
  world->slots_used &= ~bit;
  pthread_mutex_unlock(&registry_lock);
  return res;
}

unsigned nvrar_comm_free_slots(nvrar_comm_t world) {
  pthread_mutex_lock(&registry_lock);
  unsigned busy = world->parent ? ~0u : world->slots_used | world->slots_dead;
  pthread_mutex_unlock(&registry_lock);
  return ~busy & ((1u << NVRAR_SUB_SLOTS) - 1);
}

/*
 * Local. Once this rank's last all-reduce on it has completed, no peer writes into its part of the slot
 * again (each of its waits needed the peers' writes first), so that part is zeroed here and the slot
 * is clean for the next sub-communicator. After a failure a peer may still write: the slot is retired.
 */
/* A child's slot back to its world: free again, or retired when the child failed (a peer may still
 * write into it). */
static void release_slot(nvrar_comm_t comm, int failed) {
  nvrar_comm_t world = comm->parent;
  pthread_mutex_lock(&registry_lock);
  world->slots_used &= ~(1u << comm->slot);
  if (failed) world->slots_dead |= 1u << comm->slot;
  world->children--;
  pthread_mutex_unlock(&registry_lock);
}

static nvrar_result_t child_destroy(nvrar_comm_t comm, nvrar_result_t res) {
  nvrar_comm_t world = comm->parent;
  int failed = comm->aborted || comm->host_words[0] != 0 || res != NVRAR_SUCCESS;
  if (!failed && (cudaMemset(comm->heap, 0, world->slot_bytes) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess)) {
    cudaError_t e = cudaGetLastError();
    res = nvrar_error(NVRAR_ERR_CUDA, "nvrar_comm_destroy: clearing the sub-communicator's slot failed: %s",
                      cudaGetErrorString(e));
    failed = 1;
  }
  release_slot(comm, failed);
  comm_release_local(comm);
  registry_drop(comm, 1);
  return res;
}

nvrar_result_t nvrar_comm_destroy_impl(nvrar_comm_t comm) {
  nvrar_result_t res = NVRAR_SUCCESS;
  if (!comm->parent && comm->children && !comm->aborted)
    return nvrar_error(NVRAR_ERR_INVALID_USAGE, "nvrar_comm_destroy: %d sub-communicators of this communicator are "
                                                "live; destroy them first", comm->children);
  if (cudaSetDevice(comm->device) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess) {
    cudaError_t e = cudaGetLastError();
    res = nvrar_error(NVRAR_ERR_CUDA, "nvrar_comm_destroy: waiting for outstanding work failed: %s", cudaGetErrorString(e));
  }
  if (comm->parent) return child_destroy(comm, res);
  if (res == NVRAR_SUCCESS && !comm->aborted && comm->host_words[0] == 0) res = destroy_barrier(comm);
  int failed = comm->aborted || comm->host_words[0] != 0 || res != NVRAR_SUCCESS;
  if (failed) {
    /* A peer may be gone: no collective call, so destroy cannot hang. NVSHMEM stays up. */
    NVRAR_WARN("destroying a failed communicator without NVSHMEM's collective teardown; NVSHMEM stays initialised "
               "in this process");
    comm_release_local(comm);
    registry_drop(comm, 1);
    return res;
  }
  for (int i = 0; i < NVRAR_MAX_USER_BUFFERS; i++)
    if (comm->user_buffers[i]) nvrar_shmem_free(comm->user_buffers[i]);
  nvrar_shmem_free(comm->heap);
  comm_release_local(comm);
  nvrar_shmem_finalize();
  registry_drop(comm, 0);
  return res;
}

nvrar_result_t nvrar_comm_abort_impl(nvrar_comm_t comm) {
  /* A world takes its sub-communicators down with it: they work in its staging. */
  for (int i = 0; i < MAX_LIVE && !comm->parent && comm->children; i++) {
    pthread_mutex_lock(&registry_lock);
    nvrar_comm_t child = live[i] && live[i]->parent == comm ? live[i] : NULL;
    pthread_mutex_unlock(&registry_lock);
    if (child) nvrar_comm_abort_impl(child);
  }
  comm->aborted = 1;
  /* Running kernels see this after at most ~1 ms of waiting and return; later ones return at once. */
  ((volatile int *)comm->host_words)[1] = 1;
  /*
   * No wait on the device: cudaDeviceSynchronize would also wait for another library's kernel stuck
   * on the same lost peer, and cudaFree/cudaFreeHost synchronise too. So the device-side state and
   * the host-mapped words, which nvrar's kernels still in flight may touch, stay allocated (about
   * 0.5 MiB of device memory) until the process exits; NVSHMEM and its heap stay up, as after any
   * failure (a new communicator needs a new process). A sub-communicator's slot is retired.
   */
  NVRAR_INFO(NVRAR_SUBSYS_INIT, "nvrar_comm_abort: rank %d tore down locally without waiting for the device; its "
             "device-side state stays allocated and NVSHMEM stays initialised in this process", comm->rank);
  if (comm->parent) release_slot(comm, 1);
  registry_drop(comm, 1);
  return NVRAR_SUCCESS;
}

nvrar_result_t nvrar_comm_async_error(nvrar_comm_t comm) {
  if (comm->host_words[0] != 0) return (nvrar_result_t)((volatile int *)comm->host_words)[0];
  return comm->aborted ? NVRAR_ERR_ABORTED : NVRAR_SUCCESS;
}

nvrar_result_t nvrar_comm_malloc(nvrar_comm_t comm, size_t bytes, void **ptr) {
  if (comm->parent)
    return nvrar_error(NVRAR_ERR_UNSUPPORTED, "nvrar_malloc: symmetric memory comes from the world communicator (every "
                                              "rank of it allocates); call it there");
  int slot = -1;
  for (int i = 0; i < NVRAR_MAX_USER_BUFFERS && slot < 0; i++)
    if (!comm->user_buffers[i]) slot = i;
  if (slot < 0)
    return nvrar_error(NVRAR_ERR_OUT_OF_MEMORY, "nvrar_malloc: %d buffers are live, the most one communicator tracks",
                       NVRAR_MAX_USER_BUFFERS);
  if (cudaSetDevice(comm->device) != cudaSuccess) {
    (void)cudaGetLastError();
    return nvrar_error(NVRAR_ERR_CUDA, "nvrar_malloc: cudaSetDevice(%d) failed", comm->device);
  }
  /* NVSHMEM's own failure path for an allocation that does not fit corrupts the CUDA context
   * (seen with 3.4.5), so requests that cannot fit are refused before they reach it. */
  size_t in_use = comm->heap_used, margin = (size_t)2 << 20;
  for (int i = 0; i < NVRAR_MAX_USER_BUFFERS; i++) in_use += comm->user_bytes[i];
  void *p = bytes <= comm->heap_bytes - margin - in_use && in_use + margin <= comm->heap_bytes ? nvrar_shmem_malloc(bytes)
                                                                                               : NULL;
  if (!p)
    return nvrar_error(NVRAR_ERR_OUT_OF_MEMORY,
                       "nvrar_malloc: %zu bytes do not fit in the symmetric heap (%zu bytes, %zu used by staging); "
                       "raise NVRAR_MEMORY_BYTES or config.memory_bytes", bytes, comm->heap_bytes, comm->heap_used);
  comm->user_buffers[slot] = p;
  comm->user_bytes[slot] = (bytes + 511) / 512 * 512;
  *ptr = p;
  return NVRAR_SUCCESS;
}

nvrar_result_t nvrar_comm_free(nvrar_comm_t comm, void *ptr) {
  for (int i = 0; i < NVRAR_MAX_USER_BUFFERS; i++) {
    if (comm->user_buffers[i] == ptr) {
      nvrar_shmem_free(ptr);
      comm->user_buffers[i] = NULL;
      comm->user_bytes[i] = 0;
      return NVRAR_SUCCESS;
    }
  }
  return nvrar_error(NVRAR_ERR_INVALID_ARGUMENT, "nvrar_free: %p was not returned by nvrar_malloc on this communicator", ptr);
}

