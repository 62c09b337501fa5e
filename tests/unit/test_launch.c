/*
 * The tools' launcher on the CPU: -g N forks N ranks that rendezvous over loopback (allgather,
 * broadcast, barrier); a failing rank makes the job fail instead of hanging; and the torchrun /
 * mpirun path (RANK, WORLD_SIZE, MASTER_ADDR, NVRAR_PORT) joins processes started elsewhere.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "unit.h"

/* The body every rank runs: 0 if the collectives gave the right answers. */
static int rank_body(nvrar_job_t *job) {
  int mine = 100 + job->rank, all[64];
  if (nvrar_job_allgather(job, &mine, all, sizeof mine)) return 2;
  for (int r = 0; r < job->nranks; r++)
    if (all[r] != 100 + r) return 3;
  char text[32] = "";
  if (job->rank == 0) snprintf(text, sizeof text, "unique id of %d", job->nranks);
  if (nvrar_job_bcast(job, text, sizeof text)) return 4;
  char expect[32];
  snprintf(expect, sizeof expect, "unique id of %d", job->nranks);
  if (strcmp(text, expect)) return 5;
  if (nvrar_job_barrier(job)) return 6;
  return 0;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  bind(fd, (struct sockaddr *)&addr, sizeof addr);
  getsockname(fd, (struct sockaddr *)&addr, &len);
  close(fd);
  return ntohs(addr.sin_port);
}

int main(void) {
  nvrar_job_t job;
  /* fork mode */
  CHECK(nvrar_job_start(3, &job) == 0);
  if (!job.is_parent) _exit(rank_body(&job));
  CHECK(job.exit_code == 0);

  /* a rank that fails: the job reports its code (not that of the ranks stopped because of it), and
   * the others, waiting for it in a barrier, do not hang */
  CHECK(nvrar_job_start(3, &job) == 0);
  if (!job.is_parent) {
    if (job.rank == 1) _exit(9);
    _exit(nvrar_job_barrier(&job) == 0 ? 1 : 0); /* the barrier cannot succeed without rank 1 */
  }
  CHECK(job.exit_code == 9);
  /* a skip (77) on every rank is a skip; on one rank beside passes too */
  CHECK(nvrar_job_start(2, &job) == 0);
  if (!job.is_parent) _exit(job.rank == 0 ? 77 : 0);
  CHECK(job.exit_code == 77);

  /* torchrun-style environment: processes started by someone else */
  int port = free_port();
  pid_t pids[3];
  for (int r = 0; r < 3; r++) {
    pids[r] = fork();
    if (pids[r] == 0) {
      char value[16];
      snprintf(value, sizeof value, "%d", r);
      setenv("RANK", value, 1);
      setenv("LOCAL_RANK", value, 1);
      setenv("WORLD_SIZE", "3", 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      snprintf(value, sizeof value, "%d", port);
      setenv("NVRAR_PORT", value, 1);
      nvrar_job_t j;
      if (nvrar_job_start(0, &j) || j.rank != r || j.nranks != 3 || j.local_rank != r) _exit(7);
      int rc = rank_body(&j);
      nvrar_job_finish(&j);
      _exit(rc);
    }
  }
  for (int r = 0; r < 3; r++) {
    int status = 0;
    waitpid(pids[r], &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }

  /* a job of one needs no rendezvous */
  unsetenv("RANK");
  unsetenv("WORLD_SIZE");
  unsetenv("OMPI_COMM_WORLD_SIZE");
  unsetenv("PMI_SIZE");
  unsetenv("SLURM_NTASKS");
  CHECK(nvrar_job_start(0, &job) == 0 && job.nranks == 1 && job.rank == 0 && rank_body(&job) == 0);
  return unit_finish("test_launch");
}
