/* Compile-time limits shared by host code, kernels and tests. */
#ifndef NVRAR_ALGO_LIMITS_H
#define NVRAR_ALGO_LIMITS_H

#define NVRAR_MAX_RANKS 8      /* ranks of one node, reached over NVLink by one kernel */
#define NVRAR_MAX_WORLD 512    /* ranks of a communicator (nodes x ranks per node) */
#ifndef NVRAR_MAX_RING_BLOCKS /* an experiment build (-DNVRAR_MAX_RING_BLOCKS=..) may take another bound */
#define NVRAR_MAX_RING_BLOCKS 128 /* grid bound of the put-with-signal algorithms (ring family, exchange) */
#endif
#define NVRAR_MAX_RINGS 8      /* rings of the ring algorithm */
#define NVRAR_STAGE_SPAN 2048  /* signal values per round of the ring family: > every algorithm's steps */
#define NVRAR_MAX_BLOCKS 128   /* grid size bound: per-block flags and sequence counters */
#define NVRAR_MAX_THREADS 512  /* block size bound: keeps 128 registers per thread (ptxas: 0-56 B stack) */
#define NVRAR_PACK_BYTES 16    /* one 16-byte vector access: the unit of all data movement */
#define NVRAR_LL_CELL_BYTES 16 /* flag-in-data cell (one-shot, hier-rd): 8 data bytes + two 4-byte flags */
#define NVRAR_HIER_LL_PACKS 64 /* hier-rd cells: data packs per block and step an area holds (1 KiB) */
#define NVRAR_MAX_USER_BUFFERS 256 /* live nvrar_malloc buffers per communicator */
#define NVRAR_MIN_MEMORY_BYTES (32 << 20) /* below this the staging would be too small to be useful */

#endif
