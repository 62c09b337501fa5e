/*
 * The NCCL drop-in's decisions (src/nccl/route.c) on the CPU: which communicators get an nvrar side,
 * which all-reduces nvrar serves, the drop-in's settings and NCCL's codes for nvrar's results.
 */
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "nccl/route.h"
#include "unit.h"

static const char *env_disable, *env_max;
static const char *lookup(const char *name) {
  if (!strcmp(name, "NVRAR_NCCL_DISABLE")) return env_disable;
  if (!strcmp(name, "NVRAR_NCCL_MAX_BYTES")) return env_max;
  return NULL;
}

static void test_reason_texts(void) {
  for (int r = 0; r < DROPIN_NUM_REASONS; r++) {
    CHECK(dropin_reason_text((dropin_reason_t)r) != NULL && strlen(dropin_reason_text((dropin_reason_t)r)) > 10);
    for (int s = 0; s < r; s++)
      CHECK(strcmp(dropin_reason_text((dropin_reason_t)r), dropin_reason_text((dropin_reason_t)s)) != 0);
  }
  CHECK(!strcmp(dropin_reason_text(DROPIN_NUM_REASONS), "unknown reason"));
}

/* n members of one host on devices 0..n-1, none with a world: the case that makes a new world. */
static void members_ok(dropin_member_t *m, int n) {
  for (int r = 0; r < n; r++) m[r] = (dropin_member_t){DROPIN_SERVED, r, 0x1234, 0, -1, 0, 64u << 20};
}

/* The same processes inside one world (ranks 7 - r of it) with these free slots. */
static void in_world(dropin_member_t *m, int n, uint32_t free_slots) {
  members_ok(m, n);
  for (int r = 0; r < n; r++) {
    m[r].world = 0xabc;
    m[r].world_rank = 7 - r;
    m[r].free_slots = free_slots;
  }
}

static dropin_reason_t decide(const dropin_member_t *m, int n, int *slot) { return dropin_attach_decide(m, n, 8, slot); }

static void test_attach(void) {
  dropin_member_t m[16];
  int slot = 99;
  for (int n = 2; n <= 8; n++) {
    members_ok(m, n);
    CHECK(decide(m, n, &slot) == DROPIN_SERVED && slot == -1);
  }
  members_ok(m, 1);
  CHECK(decide(m, 1, &slot) == DROPIN_ONE_RANK);
  members_ok(m, 9);
  CHECK(dropin_attach_decide(m, 9, 8, &slot) == DROPIN_TOO_MANY_RANKS);
  members_ok(m, 4);
  m[3].host = 0x9999;
  CHECK(decide(m, 4, &slot) == DROPIN_MULTI_NODE);
  members_ok(m, 16); /* two hosts of 8: across nodes wins over the rank count */
  for (int r = 8; r < 16; r++) m[r].host = 0x9999;
  CHECK(decide(m, 16, &slot) == DROPIN_MULTI_NODE);
  members_ok(m, 4);
  m[3].device = 1;
  CHECK(decide(m, 4, &slot) == DROPIN_SHARED_DEVICE);
  /* another NVRAR_NCCL_MAX_BYTES on one rank: it would forward what the others serve (and NCCL would
   * wait for it forever), so nobody serves */
  members_ok(m, 4);
  m[2].max_bytes = 1u << 20;
  CHECK(decide(m, 4, &slot) == DROPIN_SETTINGS_DIFFER);
  /* a rank whose registry is full says so, and nobody serves */
  members_ok(m, 4);
  m[1].refused = DROPIN_REGISTRY_FULL;
  CHECK(decide(m, 4, &slot) == DROPIN_REGISTRY_FULL);
  /* a member's own refusal comes first, whatever else is wrong, and reads the same on every rank */
  members_ok(m, 4);
  m[3].host = 0x9999;
  m[1].refused = DROPIN_SHMEM_STUCK;
  CHECK(decide(m, 4, &slot) == DROPIN_SHMEM_STUCK);
  m[0].refused = DROPIN_INIT_FAILED;
  CHECK(decide(m, 4, &slot) == DROPIN_INIT_FAILED);
  members_ok(m, 2);
  m[1].refused = 1000; /* garbage from a peer of another build */
  CHECK(decide(m, 2, &slot) == DROPIN_PEER_REFUSED);
  m[1].refused = -3;
  CHECK(decide(m, 2, &slot) == DROPIN_PEER_REFUSED);

  /* inside one world: a sub-communicator in the lowest slot free on every member */
  in_world(m, 4, 0xf);
  CHECK(decide(m, 4, &slot) == DROPIN_SERVED && slot == 0);
  m[2].free_slots = 0xc;
  m[0].free_slots = 0xa;
  CHECK(decide(m, 4, &slot) == DROPIN_SERVED && slot == 3);
  m[1].free_slots = 0x3;
  CHECK(decide(m, 4, &slot) == DROPIN_NO_SLOT);
  in_world(m, 2, 0x1);
  CHECK(decide(m, 2, &slot) == DROPIN_SERVED && slot == 0);
  /* not one world: some members have none, or another, or the world ranks collide */
  in_world(m, 4, 0xf);
  m[2].world = 0;
  CHECK(decide(m, 4, &slot) == DROPIN_WORLD_TAKEN && slot == -1);
  in_world(m, 4, 0xf);
  m[0].world = 0xdef;
  CHECK(decide(m, 4, &slot) == DROPIN_WORLD_TAKEN);
  in_world(m, 4, 0xf);
  m[3].world_rank = m[1].world_rank;
  CHECK(decide(m, 4, &slot) == DROPIN_WORLD_TAKEN);
}

static void test_route(void) {
  const size_t max = (size_t)64 << 20;
  for (int t = 0; t < ncclNumTypes; t++) {
    for (int o = 0; o <= ncclNumOps; o++) { /* ncclNumOps: the first premul-sum op */
      nvrar_dtype_t dtype = NVRAR_NUM_DTYPES;
      nvrar_op_t op = NVRAR_NUM_OPS;
      dropin_reason_t why = dropin_route_all_reduce((ncclDataType_t)t, (ncclRedOp_t)o, 1000, max, &dtype, &op);
      int float_type = t == ncclFloat32 || t == ncclFloat16 || t == ncclBfloat16;
      int nvrar_op = o == ncclSum || o == ncclMax || o == ncclMin;
      CHECK(why == (!float_type ? DROPIN_DTYPE : !nvrar_op ? DROPIN_OP : DROPIN_SERVED));
      if (why != DROPIN_SERVED) continue;
      CHECK(dtype == (t == ncclFloat32 ? NVRAR_FLOAT32 : t == ncclFloat16 ? NVRAR_FLOAT16 : NVRAR_BFLOAT16));
      CHECK(op == (o == ncclSum ? NVRAR_SUM : o == ncclMax ? NVRAR_MAX : NVRAR_MIN));
    }
  }
  nvrar_dtype_t dtype;
  nvrar_op_t op;
  CHECK(dropin_route_all_reduce(ncclBfloat16, ncclSum, max / 2, max, &dtype, &op) == DROPIN_SERVED);
  CHECK(dropin_route_all_reduce(ncclBfloat16, ncclSum, max / 2 + 1, max, &dtype, &op) == DROPIN_SIZE);
  CHECK(dropin_route_all_reduce(ncclFloat32, ncclMax, max / 4, max, &dtype, &op) == DROPIN_SERVED);
  CHECK(dropin_route_all_reduce(ncclFloat32, ncclMax, max / 4 + 1, max, &dtype, &op) == DROPIN_SIZE);
  CHECK(dropin_route_all_reduce(ncclFloat32, ncclSum, SIZE_MAX, max, &dtype, &op) == DROPIN_SIZE);
  CHECK(dropin_route_all_reduce(ncclFloat16, ncclMin, 0, max, &dtype, &op) == DROPIN_SERVED);
  CHECK(dropin_route_all_reduce(ncclFloat16, ncclMin, 1, 0, &dtype, &op) == DROPIN_SIZE);
}

static void test_settings(void) {
  dropin_settings_t s = {7, 7};
  env_disable = env_max = NULL;
  CHECK(dropin_settings_read(lookup, &s) == NVRAR_SUCCESS && s.disable == 0 && s.max_bytes == (size_t)64 << 20);
  env_disable = "1";
  env_max = "1MiB";
  CHECK(dropin_settings_read(lookup, &s) == NVRAR_SUCCESS && s.disable == 1 && s.max_bytes == (size_t)1 << 20);
  env_disable = "0";
  env_max = "";
  CHECK(dropin_settings_read(lookup, &s) == NVRAR_SUCCESS && s.disable == 0 && s.max_bytes == (size_t)64 << 20);
  const char *bad_disable[] = {"yes", "2", "-1", "1 "};
  for (size_t i = 0; i < sizeof bad_disable / sizeof bad_disable[0]; i++) {
    env_disable = bad_disable[i];
    s = (dropin_settings_t){7, 7};
    CHECK(dropin_settings_read(lookup, &s) == NVRAR_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nvrar_last_error_text(), "NVRAR_NCCL_DISABLE") != NULL);
    CHECK(s.disable == 7 && s.max_bytes == 7); /* untouched */
  }
  env_disable = NULL;
  env_max = "lots";
  CHECK(dropin_settings_read(lookup, &s) == NVRAR_ERR_INVALID_ARGUMENT);
  CHECK(strstr(nvrar_last_error_text(), "NVRAR_NCCL_MAX_BYTES=\"lots\"") != NULL);
}

static void test_results(void) {
  CHECK(dropin_nccl_result(NVRAR_SUCCESS) == ncclSuccess);
  CHECK(dropin_nccl_result(NVRAR_ERR_INVALID_ARGUMENT) == ncclInvalidArgument);
  CHECK(dropin_nccl_result(NVRAR_ERR_TIMEOUT) == ncclRemoteError);
  CHECK(dropin_nccl_result(NVRAR_ERR_CUDA) == ncclUnhandledCudaError);
  CHECK(dropin_nccl_result(NVRAR_ERR_INTERNAL) == ncclInternalError);
  CHECK(dropin_nccl_result(NVRAR_ERR_MISMATCH) == ncclInvalidUsage);
  for (int r = 1; r < NVRAR_NUM_RESULTS; r++) { /* every failure stays a failure */
    ncclResult_t n = dropin_nccl_result((nvrar_result_t)r);
    CHECK(n != ncclSuccess && n != ncclInProgress && n < ncclNumResults);
  }
}

int main(void) {
  test_reason_texts();
  test_attach();
  test_route();
  test_settings();
  test_results();
  return unit_finish("test_dropin");
}
