/* Process launcher and TCP rendezvous for the tools; see launch.h. */
#define _GNU_SOURCE
#include "launch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#define IO_TIMEOUT_S 600   /* a rank silent this long is gone: fail instead of hanging */
#define CONNECT_TIMEOUT_S 120

static int env_int(const char *const names[], int fallback) {
  for (int i = 0; names[i]; i++) {
    const char *v = getenv(names[i]);
    if (v && *v) return atoi(v);
  }
  return fallback;
}

static void set_timeouts(int fd) {
  struct timeval tv = {IO_TIMEOUT_S, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int write_all(int fd, const void *buf, size_t bytes) {
  const char *p = buf;
  while (bytes) {
    ssize_t n = send(fd, p, bytes, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    bytes -= (size_t)n;
  }
  return 0;
}

static int read_all(int fd, void *buf, size_t bytes) {
  char *p = buf;
  while (bytes) {
    ssize_t n = recv(fd, p, bytes, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    bytes -= (size_t)n;
  }
  return 0;
}

static int listen_on(const char *host, int port, int *out_port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = host ? inet_addr(host) : htonl(INADDR_ANY);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) || listen(fd, 1024)) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  getsockname(fd, (struct sockaddr *)&addr, &len);
  if (out_port) *out_port = ntohs(addr.sin_port);
  return fd;
}

static int connect_to(const char *host, int port) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  if (getaddrinfo(host, service, &hints, &res) || !res) return -1;
  time_t deadline = time(NULL) + CONNECT_TIMEOUT_S;
  int fd = -1;
  while (time(NULL) < deadline) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) break;
    if (fd >= 0) close(fd);
    fd = -1;
    usleep(100 * 1000);
  }
  freeaddrinfo(res);
  return fd;
}

/* Rank 0 accepts everyone (each sends its rank first); the others connect to rank 0. */
static int rendezvous(nvrar_job_t *job, int listen_fd, const char *host, int port) {
  if (job->rank == 0) {
    for (int i = 1; i < job->nranks; i++) {
      int fd = accept(listen_fd, NULL, NULL);
      int peer = -1;
      if (fd < 0) return -1;
      set_timeouts(fd);
      if (read_all(fd, &peer, sizeof peer) || peer <= 0 || peer >= job->nranks || job->fds[peer] >= 0) {
        fprintf(stderr, "launch: bad hello from a peer (rank %d)\n", peer);
        return -1;
      }
      job->fds[peer] = fd;
    }
    return 0;
  }
  int fd = connect_to(host, port);
  if (fd < 0) {
    fprintf(stderr, "launch: rank %d could not connect to rank 0 at %s:%d\n", job->rank, host, port);
    return -1;
  }
  set_timeouts(fd);
  job->fds[0] = fd;
  return write_all(fd, &job->rank, sizeof job->rank);
}

/* Fork mode: returns in each child; the parent waits and reports. */
static int fork_ranks(int nprocs, nvrar_job_t *job) {
  int port = 0;
  int listen_fd = listen_on("127.0.0.1", 0, &port);
  if (listen_fd < 0) {
    perror("launch: listen");
    return -1;
  }
  pid_t pids[1024];
  fflush(stdout);
  fflush(stderr);
  for (int r = 0; r < nprocs; r++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("launch: fork");
      for (int k = 0; k < r; k++) kill(pids[k], SIGKILL);
      return -1;
    }
    if (pid == 0) {
      job->rank = r;
      job->nranks = nprocs;
      job->local_rank = r;
      if (r != 0) close(listen_fd);
      int rc = rendezvous(job, listen_fd, "127.0.0.1", port);
      if (r == 0) close(listen_fd);
      return rc;
    }
    pids[r] = pid;
  }
  close(listen_fd);
  job->is_parent = 1;
  job->exit_code = 0;
  int left = nprocs, killed = 0;
  while (left > 0) {
    int status = 0;
    pid_t pid = wait(&status);
    if (pid < 0) break;
    left--;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (killed) continue; /* the ranks stopped below: the first failure is what the job reports */
    if (code != 0 && code != 77) {
      /* One rank failed: the others would wait for it forever. */
      for (int k = 0; k < nprocs; k++)
        if (pids[k] != pid) kill(pids[k], SIGTERM);
      killed = 1;
      job->exit_code = code;
    } else if (code == 77 || job->exit_code == 77) {
      job->exit_code = 77; /* skipped, unless a rank failed */
    }
  }
  return 0;
}

int nvrar_job_count_gpus(void) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return 0;
  if (pid == 0) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) n = 0;
    _exit(n > 200 ? 200 : n);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 0;
  return WEXITSTATUS(status);
}

int nvrar_job_start(int nprocs, nvrar_job_t *job) {
  memset(job, 0, sizeof *job);
  for (int i = 0; i < 1024; i++) job->fds[i] = -1;
  if (nprocs > 1024) {
    fprintf(stderr, "launch: at most 1024 ranks\n");
    return -1;
  }
  if (nprocs > 0) return fork_ranks(nprocs, job);
  static const char *const rank_vars[] = {"RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID", NULL};
  static const char *const size_vars[] = {"WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS", NULL};
  static const char *const local_vars[] = {"LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                           "SLURM_LOCALID", NULL};
  job->rank = env_int(rank_vars, 0);
  job->nranks = env_int(size_vars, 1);
  job->local_rank = env_int(local_vars, job->rank);
  if (job->nranks < 1 || job->nranks > 1024 || job->rank < 0 || job->rank >= job->nranks) {
    fprintf(stderr, "launch: rank %d of %d from the environment is invalid\n", job->rank, job->nranks);
    return -1;
  }
  if (job->nranks == 1) return 0;
  const char *host = getenv("MASTER_ADDR");
  if (!host || !*host) host = "127.0.0.1";
  const char *port_env = getenv("NVRAR_PORT");
  const char *master_port = getenv("MASTER_PORT");
  int port = port_env ? atoi(port_env) : master_port ? atoi(master_port) + 1 : 29517;
  int listen_fd = -1;
  if (job->rank == 0 && (listen_fd = listen_on(NULL, port, NULL)) < 0) {
    fprintf(stderr, "launch: rank 0 cannot listen on port %d: %s (set NVRAR_PORT)\n", port, strerror(errno));
    return -1;
  }
  int rc = rendezvous(job, listen_fd, host, port);
  if (listen_fd >= 0) close(listen_fd);
  return rc;
}

int nvrar_job_allgather(nvrar_job_t *job, const void *mine, void *all, size_t bytes) {
  char *out = all;
  memmove(out + (size_t)job->rank * bytes, mine, bytes);
  if (job->nranks == 1) return 0;
  if (job->rank != 0) {
    if (write_all(job->fds[0], mine, bytes)) return -1;
    return read_all(job->fds[0], out, bytes * (size_t)job->nranks);
  }
  for (int r = 1; r < job->nranks; r++)
    if (read_all(job->fds[r], out + (size_t)r * bytes, bytes)) return -1;
  for (int r = 1; r < job->nranks; r++)
    if (write_all(job->fds[r], out, bytes * (size_t)job->nranks)) return -1;
  return 0;
}

int nvrar_job_bcast(nvrar_job_t *job, void *buf, size_t bytes) {
  if (job->nranks == 1) return 0;
  if (job->rank != 0) return read_all(job->fds[0], buf, bytes);
  for (int r = 1; r < job->nranks; r++)
    if (write_all(job->fds[r], buf, bytes)) return -1;
  return 0;
}

int nvrar_job_barrier(nvrar_job_t *job) {
  char mine = 1, all[1024];
  return nvrar_job_allgather(job, &mine, all, 1);
}

void nvrar_job_finish(nvrar_job_t *job) {
  for (int i = 0; i < 1024; i++)
    if (job->fds[i] >= 0) close(job->fds[i]);
}
