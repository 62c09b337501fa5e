/*
 * Finding and loading the real NCCL. The drop-in exports NCCL's names, so the loader's plain search
 * for libnccl.so.2 may find the drop-in itself (LD_LIBRARY_PATH pointed at build/lib/nccl); every
 * candidate is therefore compared by real path with this library's own file first.
 *
 * It is loaded RTLD_LOCAL without RTLD_DEEPBIND: NCCL's own calls to its public names (ncclBroadcast,
 * ncclCommGetAsyncError, ... through its PLT) may then land in the drop-in, whose wrappers of those
 * names are forwards; DEEPBIND would not help under LD_PRELOAD anyway (the library is already loaded
 * by then) and is refused by the sanitizers.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nccl/real.h"

dropin_real_t dropin_real;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;

int dropin_real_is_self(const char *path) {
  Dl_info self;
  char mine[PATH_MAX], theirs[PATH_MAX];
  if (!dladdr((void *)&dropin_real_is_self, &self) || !self.dli_fname) return 0;
  if (!realpath(self.dli_fname, mine) || !realpath(path, theirs)) return 0;
  return !strcmp(mine, theirs);
}

/* Candidates gathered from the libraries already in the process (dl_iterate_phdr). */
typedef struct loaded_scan {
  char nccl[PATH_MAX];   /* a libnccl.so* that is not the drop-in */
  char wheel[PATH_MAX];  /* .../nvidia/nccl/lib/libnccl.so.2 beside a loaded nvidia-* wheel library */
} loaded_scan_t;

static int scan_one(struct dl_phdr_info *info, size_t size, void *data) {
  loaded_scan_t *scan = data;
  const char *name = info->dlpi_name;
  if (!name || !*name) return 0;
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  if (!scan->nccl[0] && !strncmp(base, "libnccl.so", 10) && !dropin_real_is_self(name))
    snprintf(scan->nccl, sizeof scan->nccl, "%s", name);
  const char *wheel = strstr(name, "/nvidia/");
  if (!scan->wheel[0] && wheel)
    snprintf(scan->wheel, sizeof scan->wheel, "%.*s/nvidia/nccl/lib/libnccl.so.2", (int)(wheel - name), name);
  return 0;
}

/* dlopen path unless it is the drop-in itself; the handle, or NULL with why appended to tried. */
static void *try_open(const char *path, char *tried, size_t cap) {
  size_t used = strlen(tried);
  if (!path || !*path) return NULL;
  if (dropin_real_is_self(path)) {
    snprintf(tried + used, cap - used, "%s%s (this library)", used ? "; " : "", path);
    return NULL;
  }
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (lib) {
    /* a bare name may resolve to the drop-in through the loader's search */
    Dl_info info;
    void *probe = dlsym(lib, "ncclGetVersion");
    if (probe && dladdr(probe, &info) && info.dli_fname && dropin_real_is_self(info.dli_fname)) {
      snprintf(tried + used, cap - used, "%s%s (resolves to this library)", used ? "; " : "", path);
      dlclose(lib);
      return NULL;
    }
    if (probe) return lib;
    snprintf(tried + used, cap - used, "%s%s (no ncclGetVersion)", used ? "; " : "", path);
    dlclose(lib);
    return NULL;
  }
  snprintf(tried + used, cap - used, "%s%s (%s)", used ? "; " : "", path, dlerror());
  return NULL;
}

static void load(void) {
  char tried[8192] = "";
  const char *env = NULL;
  nvrar_env_read("NVRAR_NCCL_LIBRARY", NULL, &env); /* a STRING: always reads */
  void *lib = NULL;
  const char *path = NULL;
  if (env && *env) {
    lib = try_open(env, tried, sizeof tried);
    path = env;
  } else {
    static loaded_scan_t scan;
    dl_iterate_phdr(scan_one, &scan);
    char cuda_home[PATH_MAX] = "";
    const char *cuda = getenv("CUDA_HOME"); /* CUDA's variable, not in nvrar's registry */
    if (cuda) snprintf(cuda_home, sizeof cuda_home, "%s/lib64/libnccl.so.2", cuda);
    const char *candidates[] = {
        scan.nccl,
#ifdef NVRAR_NCCL_LIBRARY_DEFAULT
        NVRAR_NCCL_LIBRARY_DEFAULT,
#endif
        scan.wheel, cuda_home, "/usr/local/cuda/lib64/libnccl.so.2", "libnccl.so.2",
    };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && !lib; i++) {
      path = candidates[i];
      lib = try_open(path, tried, sizeof tried);
    }
  }
  if (!lib) {
    NVRAR_WARN("cannot load the real NCCL; tried: %s. Set NVRAR_NCCL_LIBRARY to its libnccl.so.2.", tried);
    return;
  }
#define DROPIN_RESOLVE(name, params, args, comm) *(void **)&dropin_real.name = dlsym(lib, #name);
  DROPIN_FORWARDED(DROPIN_RESOLVE)
  DROPIN_INTERCEPTED(DROPIN_RESOLVE)
#undef DROPIN_RESOLVE
  *(void **)&dropin_real.ncclGetErrorString = dlsym(lib, "ncclGetErrorString");
  *(void **)&dropin_real.ncclGetLastError = dlsym(lib, "ncclGetLastError");
  *(void **)&dropin_real.ncclResetDebugInit = dlsym(lib, "ncclResetDebugInit");
  Dl_info info;
  if (dladdr((void *)dropin_real.ncclGetVersion, &info) && info.dli_fname)
    snprintf(dropin_real.path, sizeof dropin_real.path, "%s", info.dli_fname);
  else
    snprintf(dropin_real.path, sizeof dropin_real.path, "%s", path);
  if (dropin_real.ncclGetVersion(&dropin_real.version) != ncclSuccess) dropin_real.version = 0;
  NVRAR_INFO(NVRAR_SUBSYS_INIT, "forwarding to NCCL %d at %s", dropin_real.version, dropin_real.path);
  loaded = 1;
}

int dropin_real_load(void) {
  pthread_once(&load_once, load);
  return loaded;
}
