/*
 * A job of one process per GPU for nvrar_perf and the multi-GPU tests: who am I, how many are we,
 * and a small TCP rendezvous (allgather, broadcast, barrier) to ship unique ids and results.
 *
 * Three ways in, detected in this order:
 *   -g N given (nprocs > 0): the caller forks N ranks itself; rendezvous on 127.0.0.1.
 *   torchrun (RANK, WORLD_SIZE, LOCAL_RANK) or mpirun (OMPI_COMM_WORLD_*, PMI_RANK/PMI_SIZE,
 *   SLURM_PROCID/SLURM_NTASKS): rank 0 listens on NVRAR_PORT, else MASTER_PORT + 1, else 29517;
 *   the others connect to MASTER_ADDR (default 127.0.0.1).
 *   Otherwise: a job of one.
 */
#ifndef NVRAR_TOOLS_LAUNCH_H
#define NVRAR_TOOLS_LAUNCH_H

#include <stddef.h>

typedef struct nvrar_job {
  int rank;
  int nranks;
  int local_rank;
  int is_parent;      /* fork mode: this process only waited for its children */
  int exit_code;      /* fork mode parent: worst exit code of the children */
  int fds[1024];      /* rank 0: socket to each rank; others: fds[0] to rank 0 */
} nvrar_job_t;

/*
 * Starts the job. In fork mode the parent returns with is_parent = 1 once every child has exited
 * (killing the rest if one fails) and exit_code set; children return with is_parent = 0.
 * Returns 0 on success, -1 with a message on stderr.
 */
int nvrar_job_start(int nprocs, nvrar_job_t *job);
/*
 * Visible CUDA devices, counted in a short-lived child: CUDA initialised in a parent does not
 * survive fork(), so the launcher's parent never touches CUDA itself. 0 when CUDA fails.
 */
int nvrar_job_count_gpus(void);
int nvrar_job_allgather(nvrar_job_t *job, const void *mine, void *all, size_t bytes);
int nvrar_job_bcast(nvrar_job_t *job, void *buf, size_t bytes);
int nvrar_job_barrier(nvrar_job_t *job);
void nvrar_job_finish(nvrar_job_t *job);

#endif
