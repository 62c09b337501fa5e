/*
 * Lab probe (not part of the library): where a CUDA module's device memory goes. Steps run in
 * order in one context, each followed by the free-memory change it caused and the stack limit:
 *   load:PATH      cuModuleLoad a cubin (later fn/launch steps use the last one loaded)
 *   fn:NAME        cuModuleGetFunction (with lazy loading, this loads the function) and its
 *                  local bytes per thread
 *   launch:NAME    one 1 x 32 launch with a NULL pointer argument, then a synchronize
 *   limit:BYTES    cuCtxSetLimit(CU_LIMIT_STACK_SIZE)
 *   printf:BYTES   cuCtxSetLimit(CU_LIMIT_PRINTF_FIFO_SIZE)
 *   heap:BYTES     cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE)
 * Build: cc -O2 module_memory.c -I$CUDA/include -lcuda -o module_memory
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                      \
  do {                                                                                   \
    CUresult r_ = (call);                                                                \
    if (r_ != CUDA_SUCCESS) {                                                            \
      const char *s_ = NULL;                                                             \
      cuGetErrorString(r_, &s_);                                                         \
      fprintf(stderr, "%s failed: %s\n", #call, s_ ? s_ : "?");                          \
      exit(1);                                                                           \
    }                                                                                    \
  } while (0)

static size_t free_now(void) {
  size_t f = 0, t = 0;
  CHECK(cuMemGetInfo(&f, &t));
  return f;
}

int main(int argc, char **argv) {
  CUdevice dev;
  CUcontext ctx;
  CUmodule mod = NULL;
  CHECK(cuInit(0));
  CHECK(cuDeviceGet(&dev, 0));
  CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
  CHECK(cuCtxSetCurrent(ctx));
  size_t start = free_now(), prev = start, stack = 0, fifo = 0, heap = 0;
  CHECK(cuCtxGetLimit(&stack, CU_LIMIT_STACK_SIZE));
  CHECK(cuCtxGetLimit(&fifo, CU_LIMIT_PRINTF_FIFO_SIZE));
  CHECK(cuCtxGetLimit(&heap, CU_LIMIT_MALLOC_HEAP_SIZE));
  printf("%-60s %8s %8s %s\n", "step", "MiB", "total", "stack limit");
  printf("%-60s %8s %8s %zu (printf fifo %zu, malloc heap %zu)\n", "context", "-", "-", stack, fifo, heap);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strncmp(a, "load:", 5)) {
      CHECK(cuModuleLoad(&mod, a + 5));
    } else if (!strncmp(a, "fn:", 3) || !strncmp(a, "launch:", 7)) {
      const char *name = strchr(a, ':') + 1;
      CUfunction fn;
      int local = 0;
      CHECK(cuModuleGetFunction(&fn, mod, name));
      CHECK(cuFuncGetAttribute(&local, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, fn));
      printf("  (%s: %d local bytes per thread)\n", name, local);
      if (a[0] == 'l') {
        void *null_ptr = NULL;
        void *params[] = {&null_ptr};
        CHECK(cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, NULL, params, NULL));
        CHECK(cuCtxSynchronize());
      }
    } else if (!strncmp(a, "limit:", 6)) {
      CHECK(cuCtxSetLimit(CU_LIMIT_STACK_SIZE, (size_t)strtoull(a + 6, NULL, 10)));
    } else if (!strncmp(a, "printf:", 7)) {
      CHECK(cuCtxSetLimit(CU_LIMIT_PRINTF_FIFO_SIZE, (size_t)strtoull(a + 7, NULL, 10)));
    } else if (!strncmp(a, "heap:", 5)) {
      CHECK(cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, (size_t)strtoull(a + 5, NULL, 10)));
    } else {
      fprintf(stderr, "unknown step %s\n", a);
      return 2;
    }
    size_t now = free_now();
    CHECK(cuCtxGetLimit(&stack, CU_LIMIT_STACK_SIZE));
    printf("%-60.60s %8.1f %8.1f %zu\n", a, ((double)prev - (double)now) / 1048576.0,
           ((double)start - (double)now) / 1048576.0, stack);
    prev = now;
  }
  return 0;
}
