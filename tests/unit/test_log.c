/* Logging settings read from the process environment: a bad NVRAR_DEBUG_SUBSYS never silences warnings. */
#include <stdlib.h>

#include "internal.h"
#include "unit.h"

int main(void) {
  setenv("NVRAR_DEBUG", "INFO", 1);
  setenv("NVRAR_DEBUG_SUBSYS", "BOGUS,NOPE", 1); /* only unknown names: once silenced every warning */
  CHECK(nvrar_log_enabled(NVRAR_LOG_WARN, NVRAR_SUBSYS_ALL));
  CHECK(nvrar_log_enabled(NVRAR_LOG_INFO, NVRAR_SUBSYS_INIT));
  CHECK(nvrar_log_enabled(NVRAR_LOG_INFO, NVRAR_SUBSYS_COLL));
  CHECK(!nvrar_log_enabled(NVRAR_LOG_TRACE, NVRAR_SUBSYS_COLL));
  return unit_finish("test_log");
}
