/* Tiny assertion helpers for the CPU tests: a failed CHECK prints where and fails the program. */
#ifndef NVRAR_TEST_UNIT_H
#define NVRAR_TEST_UNIT_H

#include <stdio.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond)                                                            \
  do {                                                                         \
    unit_checks++;                                                             \
    if (!(cond)) {                                                             \
      unit_failures++;                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

/* An environment with nothing set: settings resolve to the registry's defaults, whatever the
 * process running the test has in its environment. */
static inline const char *unit_no_env(const char *name) {
  (void)name;
  return NULL;
}

static inline int unit_finish(const char *name) {
  printf("%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
  return unit_failures ? 1 : 0;
}

#endif
