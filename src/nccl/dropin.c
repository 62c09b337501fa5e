/*
 * libnvrar_nccl.so: NCCL's C ABI, with nvrar serving the all-reduces it wins. Everything else, and
 * every all-reduce nvrar does not take, goes to the real NCCL (real.c). Users' guide: docs/nccl.md.
 *
 * Creating a communicator: NCCL creates it as usual. Then, unless something rules nvrar out locally
 * (NVRAR_NCCL_DISABLE, a group around the init, a non-blocking config, one rank), the members
 * all-gather over it what each can do (route.h's dropin_member_t) and all take the same decision:
 * when none has an NVSHMEM world yet, rank 0's nvrar unique id goes out over it and every member
 * calls nvrar_comm_init (this communicator becomes the process's NVSHMEM world); when all share one,
 * each calls nvrar_comm_split in the lowest slot free on all (a sub-communicator). Every exchange
 * waits with a deadline, so a member that never takes part fails the init instead of hanging it.
 *
 * All-reduces on it are routed by route.c (dtype, op, size). Inside ncclGroupStart/End the served
 * ones are held and launched at the outermost ncclGroupEnd, after NCCL's part of the group, as NCCL
 * itself launches a group's work only there. Destroy and abort end NCCL's communicator first, then
 * the nvrar side (a world's destroy is collective but bounded: nvrar_comm_destroy).
 *
 * Communicators are kept in a small registry read without locks on the call path; an all-reduce
 * costs a scan of it, the route, and nvrar_all_reduce.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include "algo/limits.h"
#include "log.h"
#include "nccl/dropin.h"
#include "nccl/route.h"

enum { DROPIN_MAX_COMMS = 64, DROPIN_MAX_HELD = 64 };

/* An all-reduce held for the end of its group. */
typedef struct dropin_held {
  const void *send;
  void *recv;
  size_t count;
  nvrar_dtype_t dtype;
  nvrar_op_t op;
  cudaStream_t stream;
} dropin_held_t;

typedef struct dropin_comm {
  ncclComm_t nccl;       /* the real communicator: the handle the caller holds */
  nvrar_comm_t nvrar;    /* NULL: every call goes to NCCL, for `why` */
  int sub;               /* nvrar is a sub-communicator of the world's */
  dropin_reason_t why;
  int rank, nranks, device;
  unsigned long long served;                         /* all-reduces nvrar ran */
  unsigned long long forwarded[DROPIN_NUM_REASONS];  /* all-reduces NCCL ran, by reason */
  unsigned long long calls[DROPIN_NUM_CALLS];        /* other calls, all NCCL's */
  unsigned logged_reasons;                           /* bit r: the first all-reduce for reason r was logged */
  unsigned char logged_calls[DROPIN_NUM_CALLS];
  int nheld;                                         /* all-reduces held for the group's end */
  dropin_held_t held[DROPIN_MAX_HELD];
  int refs;                                          /* calls using it now (find .. put), under `lock` */
} dropin_comm_t;

/* ---- process state ---- */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* the registry, records' refs, the world */
static pthread_cond_t unused = PTHREAD_COND_INITIALIZER; /* a taken record's last reference is gone */
static dropin_comm_t *registry[DROPIN_MAX_COMMS];
/*
 * This process's NVSHMEM world: the first communicator every member could give an nvrar side. Later
 * communicators of its ranks become sub-communicators of it (nvrar_comm_split). Destroying its NCCL
 * communicator while they live parks it: its nvrar side stays for them, and goes (collectively, with
 * the bounded barrier of nvrar_comm_destroy) with the last of them.
 */
static struct {
  dropin_comm_t *comm; /* NULL: none */
  uint64_t id;         /* a hash of its unique id; 0: none */
  int children;        /* live sub-communicators */
  int parked;          /* its NCCL communicator is gone; comm is out of the registry */
  int shmem_stuck;     /* an nvrar world was torn down locally: NVSHMEM stays up until the process exits */
} world;

static pthread_once_t settings_once = PTHREAD_ONCE_INIT;
static dropin_settings_t settings;
static nvrar_result_t settings_status;
static char settings_error[1024];

/* ---- per thread: NCCL's group state is per thread too ---- */
static _Thread_local int group_depth;
static _Thread_local int group_ncomms;
static _Thread_local dropin_comm_t *group_comms[DROPIN_MAX_COMMS]; /* comms holding all-reduces */
static _Thread_local int error_is_ours; /* the thread's last failure was the drop-in's (ncclGetLastError) */
static _Thread_local char last_error[1024];

/* Records a failure of the drop-in's own for ncclGetLastError and returns NCCL's code for it. */
static ncclResult_t record(ncclResult_t code, const char *text) {
  snprintf(last_error, sizeof last_error, "NCCL drop-in: %s", text);
  error_is_ours = 1;
  return code;
}

/* The same, formatted, and a warning. */
static ncclResult_t fail(ncclResult_t code, const char *fmt, ...) NVRAR_PRINTF(2, 3);
static ncclResult_t fail(ncclResult_t code, const char *fmt, ...) {
  char text[960];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  record(code, text);
  NVRAR_WARN("%s", last_error);
  return code;
}

/* Quietly: the loader has warned once already. */
ncclResult_t dropin_unloaded(void) {
  return record(ncclSystemError, "the real NCCL could not be loaded (see the warning before); set NVRAR_NCCL_LIBRARY");
}

ncclResult_t dropin_missing(const char *name) {
  return fail(ncclInvalidUsage, "%s is not in the loaded NCCL %d (%s)", name, dropin_real.version, dropin_real.path);
}

ncclResult_t dropin_forwarded_result(ncclResult_t result) {
  if (result != ncclSuccess && result != ncclInProgress) error_is_ours = 0;
  return result;
}

static void settings_load(void) {
  settings_status = dropin_settings_read(NULL, &settings);
  if (settings_status != NVRAR_SUCCESS) snprintf(settings_error, sizeof settings_error, "%s", nvrar_get_last_error());
  else if (settings.disable) NVRAR_INFO(NVRAR_SUBSYS_INIT, "NCCL drop-in: NVRAR_NCCL_DISABLE=1, every call goes to NCCL");
}

static ncclResult_t check_settings(void) {
  pthread_once(&settings_once, settings_load);
  if (settings_status != NVRAR_SUCCESS) return fail(ncclInvalidArgument, "%s", settings_error);
  return ncclSuccess;
}

/* ---- registry ----
 * A call finds its record and holds a reference until it puts it back; destroy takes the record out
 * of the registry and waits for those references before it frees anything. PyTorch polls
 * ncclCommGetAsyncError from a watchdog thread while the main thread may destroy the communicator:
 * without the references the poller read a freed record (ASan and TSan both reported it). */
static dropin_comm_t *find(ncclComm_t comm) {
  if (!comm) return NULL;
  dropin_comm_t *d = NULL;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < DROPIN_MAX_COMMS && !d; i++)
    if (registry[i] && registry[i]->nccl == comm) d = registry[i];
  if (d) d->refs++;
  pthread_mutex_unlock(&lock);
  return d;
}

static void put(dropin_comm_t *d) {
  if (!d) return;
  pthread_mutex_lock(&lock);
  if (--d->refs == 0) pthread_cond_broadcast(&unused);
  pthread_mutex_unlock(&lock);
}

static int add(dropin_comm_t *d) {
  int slot = -1;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < DROPIN_MAX_COMMS && slot < 0; i++)
    if (!registry[i]) slot = i;
  if (slot >= 0) registry[slot] = d;
  pthread_mutex_unlock(&lock);
  return slot >= 0;
}

/* Out of the registry (no new call finds it), once no call holds it any more: the record of `comm`,
 * or the record `d` itself when d is not NULL. */
static dropin_comm_t *take_record(ncclComm_t comm, dropin_comm_t *d) {
  dropin_comm_t *found = NULL;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < DROPIN_MAX_COMMS && !found; i++) {
    if (registry[i] && (d ? registry[i] == d : registry[i]->nccl == comm)) {
      found = registry[i];
      registry[i] = NULL;
    }
  }
  while (found && found->refs > 0) pthread_cond_wait(&unused, &lock);
  pthread_mutex_unlock(&lock);
  return found;
}

static dropin_comm_t *take(ncclComm_t comm) { return take_record(comm, NULL); }

/* ---- logging what went where ---- */
static const char *nccl_type_name(ncclDataType_t t) {
  static const char *names[] = {"int8", "uint8", "int32", "uint32", "int64", "uint64", "half", "float",
                                "double", "bfloat16", "float8e4m3", "float8e5m2"};
  return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "a user type";
}

static const char *nccl_op_name(ncclRedOp_t op) {
  static const char *names[] = {"sum", "prod", "max", "min", "avg"};
  return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "a premul-sum op";
}

static void note_all_reduce(dropin_comm_t *d, dropin_reason_t why, size_t count, ncclDataType_t dtype, ncclRedOp_t op) {
  if (why == DROPIN_SERVED) __atomic_fetch_add(&d->served, 1, __ATOMIC_RELAXED);
  else __atomic_fetch_add(&d->forwarded[why], 1, __ATOMIC_RELAXED);
  unsigned bit = 1u << why; /* a plain load first: the read-modify-write only once per reason */
  int first = !(__atomic_load_n(&d->logged_reasons, __ATOMIC_RELAXED) & bit) &&
              !(__atomic_fetch_or(&d->logged_reasons, bit, __ATOMIC_RELAXED) & bit);
  if (first)
    NVRAR_INFO(NVRAR_SUBSYS_COLL, "comm %p rank %d: ncclAllReduce of %zu x %s %s %s%s (first such call)", (void *)d->nccl,
               d->rank, count, nccl_type_name(dtype), nccl_op_name(op), why == DROPIN_SERVED ? "" : "forwarded to NCCL: ",
               dropin_reason_text(why));
  else
    NVRAR_TRACE(NVRAR_SUBSYS_COLL, "comm %p rank %d: ncclAllReduce of %zu x %s %s: %s", (void *)d->nccl, d->rank, count,
                nccl_type_name(dtype), nccl_op_name(op), dropin_reason_text(why));
}

void dropin_note_call(ncclComm_t comm, dropin_call_t call, const char *name) {
  dropin_comm_t *d = find(comm);
  if (!d) return;
  __atomic_fetch_add(&d->calls[call], 1, __ATOMIC_RELAXED);
  if (!__atomic_exchange_n(&d->logged_calls[call], 1, __ATOMIC_RELAXED))
    NVRAR_INFO(NVRAR_SUBSYS_COLL, "comm %p rank %d: %s forwarded to NCCL (nvrar serves all-reduce only; first such call)",
               (void *)comm, d->rank, name);
  else
    NVRAR_TRACE(NVRAR_SUBSYS_COLL, "comm %p rank %d: %s forwarded to NCCL", (void *)comm, d->rank, name);
  put(d);
}

/* At destroy: what nvrar served and what went to NCCL, and why. */
static void log_summary(const dropin_comm_t *d) {
  if (!nvrar_log_enabled(NVRAR_LOG_INFO, NVRAR_SUBSYS_COLL)) return;
  static const char *call_names[DROPIN_NUM_CALLS] = {
#define DROPIN_CALL_NAME(name, params, args, comm) #name,
      DROPIN_FORWARDED(DROPIN_CALL_NAME)
#undef DROPIN_CALL_NAME
  };
  char text[2048];
  size_t used = 0;
  for (int r = 1; r < DROPIN_NUM_REASONS; r++)
    if (d->forwarded[r] && used < sizeof text)
      used += snprintf(text + used, sizeof text - used, "; %llu all-reduces to NCCL: %s", d->forwarded[r],
                       dropin_reason_text((dropin_reason_t)r));
  for (int c = 0; c < DROPIN_NUM_CALLS; c++)
    if (d->calls[c] && used < sizeof text)
      used += snprintf(text + used, sizeof text - used, "; %s x %llu to NCCL", call_names[c], d->calls[c]);
  NVRAR_INFO(NVRAR_SUBSYS_COLL, "comm %p rank %d of %d: nvrar served %llu all-reduces%s", (void *)d->nccl, d->rank,
             d->nranks, d->served, used ? text : "; nothing went to NCCL");
}

/* ---- creating the nvrar side ---- */
static uint64_t fnv1a(uint64_t hash, const void *data, size_t bytes) {
  const unsigned char *p = data;
  for (size_t i = 0; i < bytes; i++) hash = (hash ^ p[i]) * 1099511628211ull;
  return hash;
}

/* Host name and boot id, as NCCL tells hosts apart: containers of one machine may share a name. */
static uint64_t host_hash(void) {
  char name[256] = "", boot[64] = "";
  gethostname(name, sizeof name - 1);
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (f) {
    if (!fgets(boot, sizeof boot, f)) boot[0] = 0;
    fclose(f);
  }
  return fnv1a(fnv1a(14695981039346656037ull, name, strlen(name)), boot, strlen(boot));
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*
 * One small exchange over the real communicator while it is being set up: an all-gather (root < 0)
 * of `bytes` from every rank into out[nranks * bytes], or a broadcast of out[bytes] from root. The
 * wait has a deadline: a member that never joins (say, one whose NVRAR_NCCL_DISABLE differs) makes
 * it fail with ncclRemoteError after aborting the NCCL communicator, whose kernel would otherwise
 * wait forever. The device is the communicator's (the caller set it).
 */
static ncclResult_t exchange(dropin_comm_t *d, int root, const void *mine, void *out, size_t bytes, double timeout) {
  ncclResult_t res = ncclSuccess;
  size_t total = root < 0 ? bytes * (size_t)d->nranks : bytes;
  cudaStream_t stream = NULL;
  char *buf = NULL;
  cudaError_t e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (e == cudaSuccess) e = cudaMalloc((void **)&buf, total + bytes);
  if (e == cudaSuccess) e = cudaMemcpyAsync(buf + total, mine, bytes, cudaMemcpyHostToDevice, stream);
  if (e != cudaSuccess) {
    res = fail(ncclUnhandledCudaError, "setting up comm %p: %s", (void *)d->nccl, cudaGetErrorString(e));
    goto done;
  }
  res = root < 0 ? dropin_real.ncclAllGather(buf + total, buf, bytes, ncclUint8, d->nccl, stream)
                 : dropin_real.ncclBroadcast(buf + total, buf, bytes, ncclUint8, root, d->nccl, stream);
  if (res != ncclSuccess) {
    res = fail(res, "setting up comm %p: NCCL's %s failed", (void *)d->nccl, root < 0 ? "all-gather" : "broadcast");
    goto done;
  }
  /* Poll before copying out: a copy into pageable memory would block this thread on a stuck kernel. */
  double deadline = now_seconds() + timeout;
  while ((e = cudaStreamQuery(stream)) == cudaErrorNotReady) {
    if (now_seconds() > deadline) {
      dropin_real.ncclCommAbort(d->nccl);
      d->nccl = NULL;
      res = fail(ncclRemoteError,
                 "setting up an NCCL communicator of %d ranks: rank %d waited %.0f s for the others to take part "
                 "(do all ranks set NVRAR_NCCL_DISABLE alike, and create it alike: blocking, outside a group?); "
                 "the communicator was aborted", d->nranks, d->rank, timeout);
      goto done;
    }
    usleep(100);
  }
  if (e == cudaSuccess) e = cudaMemcpy(out, buf, total, cudaMemcpyDeviceToHost);
  if (e != cudaSuccess) res = fail(ncclUnhandledCudaError, "setting up comm %p: %s", (void *)d->nccl, cudaGetErrorString(e));
done:
  if (buf) cudaFree(buf);
  if (stream) cudaStreamDestroy(stream);
  (void)cudaGetLastError();
  return res;
}

/* Rank 0's nvrar unique id to every member, nvrar_comm_init on each, and everyone learns the outcome. */
static ncclResult_t create_world(dropin_comm_t *d, double timeout) {
  struct {
    int32_t ok;
    int32_t pad;
    nvrar_unique_id_t id;
  } offer;
  memset(&offer, 0, sizeof offer);
  if (d->rank == 0) {
    offer.ok = nvrar_get_unique_id(&offer.id) == NVRAR_SUCCESS;
    if (!offer.ok) NVRAR_WARN("NCCL drop-in: nvrar_get_unique_id failed: %s", nvrar_get_last_error());
  }
  ncclResult_t res = exchange(d, 0, &offer, &offer, sizeof offer, timeout);
  if (res != ncclSuccess) return res;
  nvrar_comm_t c = NULL;
  int32_t mine = NVRAR_ERR_INTERNAL;
  if (offer.ok) {
    nvrar_config_t config = NVRAR_CONFIG_INITIALIZER;
    config.device = d->device;
    mine = nvrar_comm_init(&c, d->nranks, offer.id, d->rank, &config);
    if (mine != NVRAR_SUCCESS) NVRAR_WARN("NCCL drop-in: nvrar_comm_init on rank %d failed: %s", d->rank, nvrar_get_last_error());
  }
  int32_t *results = calloc((size_t)d->nranks, sizeof *results);
  if (!results) res = fail(ncclSystemError, "out of host memory");
  if (res == ncclSuccess) res = exchange(d, -1, &mine, results, sizeof mine, timeout);
  int failed_rank = -1;
  for (int r = 0; res == ncclSuccess && r < d->nranks && failed_rank < 0; r++)
    if (results[r] != NVRAR_SUCCESS) failed_rank = r;
  free(results);
  if (res == ncclSuccess && failed_rank < 0) {
    d->nvrar = c;
    pthread_mutex_lock(&lock);
    world.comm = d;
    world.id = fnv1a(14695981039346656037ull, &offer.id, sizeof offer.id) | 1;
    pthread_mutex_unlock(&lock);
    return ncclSuccess;
  }
  if (c) {
    nvrar_comm_abort(c); /* local: a peer may not have a communicator to tear down with */
    pthread_mutex_lock(&lock);
    world.shmem_stuck = 1;
    pthread_mutex_unlock(&lock);
  }
  if (res == ncclSuccess) {
    d->why = DROPIN_INIT_FAILED;
    NVRAR_WARN("NCCL drop-in: comm %p: nvrar_comm_init failed on rank %d, so all calls go to NCCL", (void *)d->nccl,
               failed_rank);
  }
  return res;
}

/* A sub-communicator of the world in `slot` on every member, and everyone learns the outcome. */
static ncclResult_t create_sub(dropin_comm_t *d, const dropin_member_t *members, int slot, double timeout) {
  int *world_ranks = calloc((size_t)d->nranks, sizeof *world_ranks);
  int32_t *results = calloc((size_t)d->nranks, sizeof *results);
  if (!world_ranks || !results) {
    free(world_ranks);
    free(results);
    return fail(ncclSystemError, "out of host memory");
  }
  for (int r = 0; r < d->nranks; r++) world_ranks[r] = members[r].world_rank;
  nvrar_comm_t c = NULL;
  int32_t mine = nvrar_comm_split(world.comm->nvrar, d->nranks, world_ranks, slot, &c);
  if (mine != NVRAR_SUCCESS) NVRAR_WARN("NCCL drop-in: nvrar_comm_split on rank %d failed: %s", d->rank, nvrar_get_last_error());
  ncclResult_t res = exchange(d, -1, &mine, results, sizeof mine, timeout);
  int failed_rank = -1;
  for (int r = 0; res == ncclSuccess && r < d->nranks && failed_rank < 0; r++)
    if (results[r] != NVRAR_SUCCESS) failed_rank = r;
  free(world_ranks);
  free(results);
  if (res == ncclSuccess && failed_rank < 0) {
    d->nvrar = c;
    d->sub = 1;
    pthread_mutex_lock(&lock);
    world.children++;
    pthread_mutex_unlock(&lock);
    return ncclSuccess;
  }
  if (c) nvrar_comm_destroy(c); /* local, and nothing ran on it: its slot stays clean */
  if (res == ncclSuccess) {
    d->why = DROPIN_INIT_FAILED;
    NVRAR_WARN("NCCL drop-in: comm %p: nvrar_comm_split failed on rank %d, so all calls go to NCCL", (void *)d->nccl,
               failed_rank);
  }
  return res;
}

/* What the members agree on: a new NVSHMEM world, a sub-communicator of the one they share, or NCCL. */
static ncclResult_t agree(dropin_comm_t *d, dropin_reason_t refused) {
  dropin_member_t me = {refused, d->device, host_hash(), 0, -1, 0, settings.max_bytes};
  pthread_mutex_lock(&lock);
  if (world.comm) {
    me.world = world.id;
    me.world_rank = world.comm->rank;
    nvrar_comm_split_slots(world.comm->nvrar, &me.free_slots);
  }
  if (world.shmem_stuck && me.refused == DROPIN_SERVED) me.refused = DROPIN_SHMEM_STUCK;
  pthread_mutex_unlock(&lock);
  /* What nvrar_comm_init will resolve, checked before anyone starts NVSHMEM's collective init. */
  nvrar_config_t resolved = NVRAR_CONFIG_INITIALIZER;
  double timeout = 30;
  if (nvrar_config_resolve(NULL, &resolved) == NVRAR_SUCCESS) {
    timeout = resolved.timeout_seconds;
  } else if (me.refused == DROPIN_SERVED) {
    NVRAR_WARN("NCCL drop-in: %s", nvrar_get_last_error());
    me.refused = DROPIN_INIT_FAILED;
  }
  dropin_member_t *members = calloc((size_t)d->nranks, sizeof *members);
  if (!members) return fail(ncclSystemError, "out of host memory");
  int slot = -1;
  ncclResult_t res = exchange(d, -1, &me, members, sizeof me, timeout);
  if (res == ncclSuccess) d->why = dropin_attach_decide(members, d->nranks, NVRAR_MAX_RANKS, &slot);
  if (res == ncclSuccess && d->why == DROPIN_SERVED)
    res = slot < 0 ? create_world(d, timeout) : create_sub(d, members, slot, timeout);
  free(members);
  return res;
}

/*
 * After NCCL created *handle: registers it and, when `why` (what the caller already ruled out) and
 * the settings allow, gives it an nvrar side. Returns ncclSuccess unless setting up failed in a way
 * that leaves the NCCL communicator unusable; then it has been aborted and *handle is NULL.
 */
static ncclResult_t attach(ncclComm_t *handle, const char *created_by, dropin_reason_t why) {
  if (settings.disable) return ncclSuccess; /* a pure pass-through: not even counted */
  dropin_comm_t *d = calloc(1, sizeof *d);
  if (!d) {
    NVRAR_WARN("NCCL drop-in: out of host memory; comm %p goes to NCCL", (void *)*handle);
    return ncclSuccess;
  }
  d->nccl = *handle;
  d->rank = d->nranks = d->device = -1;
  /* A communicator NCCL has not finished yet (group, non-blocking) cannot be asked these. */
  int ready = why != DROPIN_GROUP_INIT && why != DROPIN_NONBLOCKING;
  if (ready && (dropin_real.ncclCommCount(d->nccl, &d->nranks) != ncclSuccess ||
                dropin_real.ncclCommUserRank(d->nccl, &d->rank) != ncclSuccess ||
                dropin_real.ncclCommCuDevice(d->nccl, &d->device) != ncclSuccess)) {
    free(d);
    return fail(ncclInternalError, "%s: NCCL cannot say the size, rank or device of the communicator it created",
                created_by);
  }
  if (why == DROPIN_SERVED && d->nranks < 2) why = DROPIN_ONE_RANK;
  d->why = why;
  /* Registered before the members agree: a full registry on one rank is part of what they agree on
   * (registering afterwards let that rank forward what the others served, and NCCL waited forever). */
  if (!add(d)) {
    NVRAR_WARN("NCCL drop-in: more than %d live communicators; comm %p goes to NCCL", DROPIN_MAX_COMMS, (void *)d->nccl);
    if (why == DROPIN_SERVED) {
      int device = -1;
      cudaGetDevice(&device);
      cudaSetDevice(d->device);
      ncclResult_t res = agree(d, DROPIN_REGISTRY_FULL); /* the others learn it; nothing gets an nvrar side */
      if (device >= 0) cudaSetDevice(device);
      if (res != ncclSuccess && d->nccl) {
        dropin_real.ncclCommAbort(d->nccl);
        *handle = NULL;
      }
      free(d);
      return res;
    }
    free(d);
    return ncclSuccess;
  }
  ncclResult_t res = ncclSuccess;
  if (why == DROPIN_SERVED) {
    int device = -1;
    cudaGetDevice(&device);
    cudaSetDevice(d->device);
    res = agree(d, DROPIN_SERVED);
    if (device >= 0) cudaSetDevice(device);
  }
  if (res != ncclSuccess) {
    take_record(NULL, d);
    *handle = d->nccl; /* NULL when exchange aborted it */
    if (d->nccl) {
      dropin_real.ncclCommAbort(d->nccl);
      *handle = NULL;
    }
    free(d);
    return res;
  }
  if (d->nvrar)
    NVRAR_INFO(NVRAR_SUBSYS_INIT, "%s: comm %p rank %d of %d on device %d: all-reduces served by nvrar (%s)", created_by,
               (void *)d->nccl, d->rank, d->nranks, d->device,
               d->sub ? "a sub-communicator of this process's NVSHMEM world" : "this process's NVSHMEM world");
  else
    NVRAR_INFO(NVRAR_SUBSYS_INIT, "%s: comm %p rank %d of %d: every call goes to NCCL: %s", created_by, (void *)d->nccl,
               d->rank, d->nranks, dropin_reason_text(d->why));
  return ncclSuccess;
}

/* Why a config rules nvrar out: non-blocking communicators return before they are ready. */
static dropin_reason_t config_reason(const ncclConfig_t *config) {
  if (group_depth > 0) return DROPIN_GROUP_INIT;
  int blocking = config ? config->blocking : NCCL_CONFIG_UNDEF_INT;
  if (blocking == NCCL_CONFIG_UNDEF_INT) {
    const char *env = getenv("NCCL_COMM_BLOCKING"); /* NCCL's own variable, not in nvrar's registry */
    blocking = env && *env ? atoi(env) : 1;
  }
  return blocking ? DROPIN_SERVED : DROPIN_NONBLOCKING;
}

/* ---- releasing it ---- */
static ncclResult_t release_result(dropin_comm_t *d, nvrar_result_t r) {
  if (r == NVRAR_SUCCESS) return ncclSuccess;
  if (r == NVRAR_ERR_TIMEOUT) { /* torn down locally: a warning, not the caller's failure */
    NVRAR_WARN("NCCL drop-in: comm %p: %s", (void *)d->nccl, nvrar_get_last_error());
    return ncclSuccess;
  }
  return fail(dropin_nccl_result(r), "comm %p: releasing nvrar: %s", (void *)d->nccl, nvrar_get_last_error());
}

/* The world's nvrar side, collectively (destroy, bounded) or locally (abort), and its record. */
static ncclResult_t release_world(dropin_comm_t *d, int abort) {
  nvrar_result_t r = abort ? nvrar_comm_abort(d->nvrar) : nvrar_comm_destroy(d->nvrar);
  pthread_mutex_lock(&lock);
  world.comm = NULL;
  world.id = 0;
  world.parked = 0;
  if (abort || r != NVRAR_SUCCESS) world.shmem_stuck = 1;
  pthread_mutex_unlock(&lock);
  d->nvrar = NULL;
  return release_result(d, r);
}

/*
 * The nvrar side of d as its NCCL communicator goes (abort: locally). A world with live
 * sub-communicators is parked for them on destroy; on abort they are aborted with it and their
 * calls go to NCCL from then on. The last sub-communicator takes a parked world with it. Returns
 * whether d may be freed (a parked world may not) and NCCL's code for the outcome in *res.
 */
static int release(dropin_comm_t *d, int abort, ncclResult_t *res) {
  *res = ncclSuccess;
  if (!d->nvrar) return 1;
  if (d->sub) {
    nvrar_result_t r = abort ? nvrar_comm_abort(d->nvrar) : nvrar_comm_destroy(d->nvrar);
    d->nvrar = NULL;
    pthread_mutex_lock(&lock);
    dropin_comm_t *parked = --world.children == 0 && world.parked ? world.comm : NULL;
    pthread_mutex_unlock(&lock);
    *res = release_result(d, r);
    if (parked) {
      NVRAR_INFO(NVRAR_SUBSYS_INIT, "NCCL drop-in: the last sub-communicator is gone; releasing the parked world");
      ncclResult_t w = release_world(parked, 0);
      free(parked);
      if (*res == ncclSuccess) *res = w;
    }
    return 1;
  }
  if (abort) {
    /* nvrar_comm_abort of the world aborts its sub-communicators: their records must not use them again */
    pthread_mutex_lock(&lock);
    for (int i = 0; i < DROPIN_MAX_COMMS; i++) {
      dropin_comm_t *c = registry[i];
      if (c && c->sub && c->nvrar) {
        c->nvrar = NULL;
        c->sub = 0;
        c->why = DROPIN_ABORTED;
      }
    }
    world.children = 0;
    pthread_mutex_unlock(&lock);
  } else {
    pthread_mutex_lock(&lock);
    int children = world.children;
    world.parked = children > 0;
    pthread_mutex_unlock(&lock);
    if (children) {
      NVRAR_INFO(NVRAR_SUBSYS_INIT, "NCCL drop-in: comm %p is gone but its nvrar world stays for %d sub-communicators",
                 (void *)d->nccl, children);
      return 0;
    }
  }
  *res = release_world(d, abort);
  return 1;
}

/* ---- serving all-reduces ---- */
static ncclResult_t serve(dropin_comm_t *d, const dropin_held_t *h) {
  int device = -1;
  if (cudaGetDevice(&device) == cudaSuccess && device != d->device) cudaSetDevice(d->device);
  nvrar_result_t r = nvrar_all_reduce(d->nvrar, h->send, h->recv, h->count, h->dtype, h->op, (nvrar_stream_t)h->stream);
  if (device >= 0 && device != d->device) cudaSetDevice(device);
  if (r == NVRAR_SUCCESS) return ncclSuccess;
  return fail(dropin_nccl_result(r), "comm %p rank %d: %s", (void *)d->nccl, d->rank, nvrar_get_last_error());
}

/* Holds a served all-reduce for the group's end: DROPIN_SERVED, or DROPIN_GROUP_FULL when there is no room. */
static dropin_reason_t hold(dropin_comm_t *d, const dropin_held_t *h) {
  if (d->nheld == DROPIN_MAX_HELD) return DROPIN_GROUP_FULL; /* the same on every rank: same calls, same order */
  int listed = 0;
  for (int i = 0; i < group_ncomms && !listed; i++) listed = group_comms[i] == d;
  if (!listed) {
    if (group_ncomms == DROPIN_MAX_COMMS) return DROPIN_GROUP_FULL;
    group_comms[group_ncomms++] = d;
  }
  d->held[d->nheld++] = *h;
  return DROPIN_SERVED;
}

/* At the outermost group end: the held all-reduces, in the order they were called (launch), or none (simulate). */
static ncclResult_t release_held(int launch) {
  ncclResult_t res = ncclSuccess;
  for (int i = 0; i < group_ncomms; i++) {
    dropin_comm_t *d = group_comms[i];
    for (int k = 0; k < d->nheld && launch; k++) {
      ncclResult_t r = serve(d, &d->held[k]);
      if (res == ncclSuccess) res = r;
    }
    d->nheld = 0;
  }
  group_ncomms = 0;
  return res;
}

/* ---- the intercepted calls ---- */
ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank) {
  DROPIN_READY(ncclCommInitRank);
  ncclResult_t res = check_settings();
  if (res != ncclSuccess) return res;
  dropin_reason_t why = config_reason(NULL);
  res = dropin_forwarded_result(dropin_real.ncclCommInitRank(comm, nranks, commId, rank));
  return res == ncclSuccess ? attach(comm, "ncclCommInitRank", why) : res;
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank, ncclConfig_t *config) {
  DROPIN_READY(ncclCommInitRankConfig);
  ncclResult_t res = check_settings();
  if (res != ncclSuccess) return res;
  dropin_reason_t why = config_reason(config);
  res = dropin_forwarded_result(dropin_real.ncclCommInitRankConfig(comm, nranks, commId, rank, config));
  return res == ncclSuccess ? attach(comm, "ncclCommInitRankConfig", why) : res;
}

ncclResult_t ncclCommInitRankScalable(ncclComm_t *newcomm, int nranks, int myrank, int nId, ncclUniqueId *commIds,
                                      ncclConfig_t *config) {
  DROPIN_READY(ncclCommInitRankScalable);
  ncclResult_t res = check_settings();
  if (res != ncclSuccess) return res;
  dropin_reason_t why = config_reason(config);
  res = dropin_forwarded_result(dropin_real.ncclCommInitRankScalable(newcomm, nranks, myrank, nId, commIds, config));
  return res == ncclSuccess ? attach(newcomm, "ncclCommInitRankScalable", why) : res;
}

ncclResult_t ncclCommInitAll(ncclComm_t *comm, int ndev, const int *devlist) {
  DROPIN_READY(ncclCommInitAll);
  ncclResult_t res = check_settings();
  if (res != ncclSuccess) return res;
  res = dropin_forwarded_result(dropin_real.ncclCommInitAll(comm, ndev, devlist));
  for (int i = 0; res == ncclSuccess && i < ndev; i++) attach(&comm[i], "ncclCommInitAll", DROPIN_INIT_ALL);
  return res;
}

/* A child inherits its parent's blocking mode when it has no config of its own. */
static dropin_reason_t child_reason(ncclComm_t parent, ncclConfig_t *config) {
  dropin_comm_t *p = find(parent);
  int nonblocking = p && p->why == DROPIN_NONBLOCKING;
  put(p);
  if (!config && nonblocking) return DROPIN_NONBLOCKING;
  return config_reason(config);
}

ncclResult_t ncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t *newcomm, ncclConfig_t *config) {
  DROPIN_READY(ncclCommSplit);
  ncclResult_t res = check_settings();
  if (res != ncclSuccess) return res;
  dropin_reason_t why = child_reason(comm, config);
  res = dropin_forwarded_result(dropin_real.ncclCommSplit(comm, color, key, newcomm, config));
  return res == ncclSuccess && *newcomm ? attach(newcomm, "ncclCommSplit", why) : res;
}

ncclResult_t ncclCommShrink(ncclComm_t comm, int *excludeRanksList, int excludeRanksCount, ncclComm_t *newcomm,
                            ncclConfig_t *config, int shrinkFlags) {
  DROPIN_READY(ncclCommShrink);
  ncclResult_t res = check_settings();
  if (res != ncclSuccess) return res;
  dropin_reason_t why = child_reason(comm, config);
  res = dropin_forwarded_result(
      dropin_real.ncclCommShrink(comm, excludeRanksList, excludeRanksCount, newcomm, config, shrinkFlags));
  return res == ncclSuccess && *newcomm ? attach(newcomm, "ncclCommShrink", why) : res;
}

/* Destroy (abort: 1) of the NCCL communicator, then of its record and nvrar side. NCCL's goes first:
 * its abort stops NCCL's kernels, which nvrar's teardown would otherwise wait for. */
static ncclResult_t end_comm(ncclComm_t comm, int abort) {
  dropin_comm_t *d = take(comm);
  ncclResult_t res = dropin_forwarded_result(abort ? dropin_real.ncclCommAbort(comm) : dropin_real.ncclCommDestroy(comm));
  if (!d) return res;
  log_summary(d);
  ncclResult_t mine;
  if (release(d, abort, &mine)) free(d);
  return res != ncclSuccess ? res : mine;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  DROPIN_READY(ncclCommDestroy);
  return end_comm(comm, 0);
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
  DROPIN_READY(ncclCommAbort);
  return end_comm(comm, 1);
}

/* Revoked: NCCL fails what follows; the nvrar side is aborted so that nothing waits on it. */
ncclResult_t ncclCommRevoke(ncclComm_t comm, int revokeFlags) {
  DROPIN_READY(ncclCommRevoke);
  ncclResult_t res = dropin_forwarded_result(dropin_real.ncclCommRevoke(comm, revokeFlags));
  dropin_comm_t *d = find(comm);
  if (res == ncclSuccess && d && d->nvrar) {
    release(d, 1, &res); /* a world is never parked on abort, so d stays valid */
    d->why = DROPIN_ABORTED;
  }
  put(d);
  return res;
}

/* NCCL's asynchronous error, else nvrar's (a timed-out wait for a peer reads as ncclRemoteError). */
ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError) {
  DROPIN_READY(ncclCommGetAsyncError);
  ncclResult_t res = dropin_forwarded_result(dropin_real.ncclCommGetAsyncError(comm, asyncError));
  if (res != ncclSuccess || !asyncError || *asyncError != ncclSuccess) return res;
  dropin_comm_t *d = find(comm);
  nvrar_result_t mine = NVRAR_SUCCESS;
  if (d && d->nvrar && nvrar_comm_get_async_error(d->nvrar, &mine) == NVRAR_SUCCESS && mine != NVRAR_SUCCESS) {
    *asyncError = dropin_nccl_result(mine);
    fail(*asyncError, "comm %p rank %d: nvrar reports %s", (void *)comm, d->rank, nvrar_result_string(mine));
  }
  put(d);
  return res;
}

ncclResult_t ncclGroupStart(void) {
  DROPIN_READY(ncclGroupStart);
  ncclResult_t res = dropin_forwarded_result(dropin_real.ncclGroupStart());
  if (res == ncclSuccess) group_depth++;
  return res;
}

/* NCCL's part of the group first, then the held all-reduces; they are launched even if NCCL's part
 * failed, since the peers launch theirs and would otherwise wait for this rank. */
ncclResult_t ncclGroupEnd(void) {
  DROPIN_READY(ncclGroupEnd);
  ncclResult_t res = dropin_forwarded_result(dropin_real.ncclGroupEnd());
  if (group_depth > 0 && --group_depth == 0) {
    ncclResult_t held = release_held(1);
    if (res == ncclSuccess) res = held;
  }
  return res;
}

/* Ends the group without running it (NCCL's simulation): the held all-reduces are dropped too. */
ncclResult_t ncclGroupSimulateEnd(ncclSimInfo_t *simInfo) {
  DROPIN_READY(ncclGroupSimulateEnd);
  ncclResult_t res = dropin_forwarded_result(dropin_real.ncclGroupSimulateEnd(simInfo));
  if (group_depth > 0 && --group_depth == 0) release_held(0);
  return res;
}

ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t stream) {
  DROPIN_READY(ncclAllReduce);
  dropin_comm_t *d = find(comm);
  if (!d) return dropin_forwarded_result(dropin_real.ncclAllReduce(sendbuff, recvbuff, count, datatype, op, comm, stream));
  dropin_held_t call = {sendbuff, recvbuff, count, NVRAR_FLOAT32, NVRAR_SUM, stream};
  dropin_reason_t why = d->nvrar ? dropin_route_all_reduce(datatype, op, count, settings.max_bytes, &call.dtype, &call.op)
                                 : d->why;
  int held = why == DROPIN_SERVED && group_depth > 0;
  if (held) why = hold(d, &call);
  note_all_reduce(d, why, count, datatype, op);
  ncclResult_t res = ncclSuccess;
  if (why != DROPIN_SERVED)
    res = dropin_forwarded_result(dropin_real.ncclAllReduce(sendbuff, recvbuff, count, datatype, op, comm, stream));
  else if (!held)
    res = serve(d, &call);
  put(d);
  return res;
}

const char *ncclGetErrorString(ncclResult_t result) {
  if (dropin_real_load() && dropin_real.ncclGetErrorString) return dropin_real.ncclGetErrorString(result);
  return "NCCL drop-in: the real NCCL is not loaded (set NVRAR_NCCL_LIBRARY)";
}

const char *ncclGetLastError(ncclComm_t comm) {
  if (error_is_ours || !dropin_real_load() || !dropin_real.ncclGetLastError) return last_error;
  return dropin_real.ncclGetLastError(comm);
}

void ncclResetDebugInit(void) {
  if (dropin_real_load() && dropin_real.ncclResetDebugInit) dropin_real.ncclResetDebugInit();
}

/* Each intercepted call also answers to its profiling name, as NCCL's own do. */
#define DROPIN_ALIAS(name, params, args, comm) ncclResult_t p##name params __attribute__((alias(#name)));
DROPIN_INTERCEPTED(DROPIN_ALIAS)
#undef DROPIN_ALIAS
const char *pncclGetErrorString(ncclResult_t result) __attribute__((alias("ncclGetErrorString")));
const char *pncclGetLastError(ncclComm_t comm) __attribute__((alias("ncclGetLastError")));
void pncclResetDebugInit(void) __attribute__((alias("ncclResetDebugInit")));
