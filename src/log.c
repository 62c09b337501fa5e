/* Logging (NVRAR_DEBUG, NVRAR_DEBUG_SUBSYS) and the per-thread last-error text. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"

static int log_level = NVRAR_LOG_WARN;
static int log_subsys = NVRAR_SUBSYS_ALL;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void log_init(void) {
  const char *level = NULL, *subsys = NULL; /* STRING variables of the registry: they always read */
  nvrar_env_read("NVRAR_DEBUG", NULL, &level);
  nvrar_env_read("NVRAR_DEBUG_SUBSYS", NULL, &subsys);
  if (level && *level) {
    if (!strcasecmp(level, "NONE")) log_level = NVRAR_LOG_NONE;
    else if (!strcasecmp(level, "WARN")) log_level = NVRAR_LOG_WARN;
    else if (!strcasecmp(level, "INFO")) log_level = NVRAR_LOG_INFO;
    else if (!strcasecmp(level, "TRACE")) log_level = NVRAR_LOG_TRACE;
    else fprintf(stderr, "nvrar WARN NVRAR_DEBUG=%s is not NONE, WARN, INFO or TRACE; using WARN\n", level);
  }
  if (subsys && *subsys) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", subsys);
    log_subsys = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      if (!strcasecmp(tok, "INIT")) log_subsys |= NVRAR_SUBSYS_INIT;
      else if (!strcasecmp(tok, "COLL")) log_subsys |= NVRAR_SUBSYS_COLL;
      else if (!strcasecmp(tok, "ALL")) log_subsys |= NVRAR_SUBSYS_ALL;
      else fprintf(stderr, "nvrar WARN NVRAR_DEBUG_SUBSYS: unknown subsystem '%s' ignored\n", tok);
    }
    if (!log_subsys) { /* nothing known: keep every subsystem rather than silence the warnings too */
      fprintf(stderr, "nvrar WARN NVRAR_DEBUG_SUBSYS=%s names no subsystem (INIT, COLL, ALL); logging ALL\n", subsys);
      log_subsys = NVRAR_SUBSYS_ALL;
    }
  }
}

int nvrar_log_enabled(int level, int subsys) {
  pthread_once(&log_once, log_init);
  return level <= log_level && (subsys & log_subsys);
}

void nvrar_log(int level, int subsys, const char *file, int line, const char *fmt, ...) {
  if (!nvrar_log_enabled(level, subsys)) return;
  static const char *names[] = {"NONE", "WARN", "INFO", "TRACE"};
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *base = strrchr(file, '/');
  fprintf(stderr, "nvrar %s [pid %d] %s:%d %s\n", names[level], (int)getpid(), base ? base + 1 : file, line, msg);
}

static _Thread_local char last_error[1024];

nvrar_result_t nvrar_error(nvrar_result_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  NVRAR_INFO(NVRAR_SUBSYS_ALL, "%s: %s", nvrar_result_string(code), last_error);
  return code;
}

/* The public nvrar_get_last_error() is api.c's: a second library that links these host objects (the
 * NCCL drop-in) keeps its own text here and still reads libnvrar's through the public call. */
const char *nvrar_last_error_text(void) { return last_error; }
