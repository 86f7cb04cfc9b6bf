/*
 * One call over the agent's socket: HTTP/1.0, POST /cni, the body {"env":{...},"stdin":"..."}
 * (src/agent/protocol.ts). The agent sends its status line as soon as it has read the call: until
 * then the front door may still give up and do the call thin; after it, the call is the agent's
 * and the front door waits for the whole answer (everything up to the close). A close before a
 * complete answer means the agent died on the way: thin mode then finishes the call, which is
 * safe (the per-container lock, and ADD completing a half-done ADD).
 */
#include "front.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left(long long deadline) {
  long long ms = deadline - now_ms();
  return ms < 0 ? 0 : (int)ms;
}

/* Waits for `events` on fd until the deadline (-1: no deadline); false on timeout. */
static bool wait_for(int fd, short events, long long deadline) {
  for (;;) {
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, deadline < 0 ? -1 : left(deadline));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

/* Connects before the deadline; a full listen backlog (EAGAIN) is retried until then. */
static int connect_by(const char *path, long long deadline, enum handover *fail, char *why, size_t why_len) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    snprintf(why, why_len, "is a path longer than a unix socket allows (%zu bytes)", sizeof addr.sun_path - 1);
    *fail = HANDOVER_THIN;
    return -1;
  }
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    snprintf(why, why_len, "cannot be reached (socket: %s)", strerror(errno));
    *fail = HANDOVER_THIN;
    return -1;
  }
  for (;;) {
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) return fd;
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN && left(deadline) > 0) {
      usleep(5000);
      continue;
    }
    close(fd);
    /* A socket file nobody listens on is a stopped agent: quietly thin mode. */
    *fail = e == ECONNREFUSED || e == ENOENT ? HANDOVER_QUIET_THIN : HANDOVER_THIN;
    if (e == EAGAIN) snprintf(why, why_len, "did not take the call within its bound (listen queue full)");
    else snprintf(why, why_len, "cannot be reached (connect: %s)", strerror(e));
    return -1;
  }
}

/* 0 when all is sent, 1 when the agent did not read it in time, 2 when the connection broke. */
static int send_all(int fd, const char *p, size_t n, long long deadline) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w > 0) {
      p += w, n -= (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && errno == EAGAIN) {
      if (!wait_for(fd, POLLOUT, deadline)) return 1;
    } else {
      return 2;
    }
  }
  return 0;
}

/* Reads until EOF; the first byte must come before `deadline`, the rest may take as long as the call. */
static int read_answer(int fd, long long deadline, struct buf *answer) {
  char chunk[16384];
  for (;;) {
    if (!wait_for(fd, POLLIN, answer->len == 0 ? deadline : -1)) return -2;
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r == 0) return 0;
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -1;
    }
    if (!buf_put(answer, chunk, (size_t)r)) return -1;
  }
}

enum handover hand_over(const char *socket_path, const struct buf *request, int accept_ms, struct buf *answer, char *why, size_t why_len) {
  long long deadline = now_ms() + accept_ms;
  enum handover fail = HANDOVER_THIN;
  int fd = connect_by(socket_path, deadline, &fail, why, why_len);
  if (fd < 0) return fail;
  enum handover outcome = HANDOVER_THIN;
  /* A broken connection may still hold the agent's refusal (e.g. 403 for a caller that is not
   * root): read it, so that the reason is the agent's. */
  if (send_all(fd, request->data, request->len, deadline) == 1) {
    snprintf(why, why_len, "did not read the call within %d ms", accept_ms);
  } else {
    int r = read_answer(fd, deadline, answer);
    if (r == -2) snprintf(why, why_len, "did not take the call within %d ms", accept_ms);
    else if (r < 0) snprintf(why, why_len, "dropped the connection before answering (%s)", strerror(errno));
    else outcome = HANDOVER_DONE;
  }
  close(fd);
  return outcome;
}
