/*
 * The log macros over nvrar.h's nvrar_log: the library's host code (through internal.h) and the
 * programs built on its public API (the NCCL drop-in) log the same way, into one log per process.
 * Not installed.
 */
#ifndef NVRAR_LOG_H
#define NVRAR_LOG_H

#include "nvrar.h"

#define NVRAR_WARN(...) nvrar_log(NVRAR_LOG_WARN, NVRAR_SUBSYS_ALL, __FILE__, __LINE__, __VA_ARGS__)
#define NVRAR_INFO(subsys, ...) nvrar_log(NVRAR_LOG_INFO, subsys, __FILE__, __LINE__, __VA_ARGS__)
#define NVRAR_TRACE(subsys, ...) nvrar_log(NVRAR_LOG_TRACE, subsys, __FILE__, __LINE__, __VA_ARGS__)

#endif /* NVRAR_LOG_H */
