/*
 * Thin mode and the command-line tool: exec braid's Node implementation, which lives beside the
 * front door as NODE_IMPL_NAME (the dist/host layout that `braid install` copies). For a CNI call
 * the front door has already read stdin, so the same bytes become the new process's stdin through
 * a memfd (a pipe where memfd is missing), and THIN_FLAG tells it not to offer the call to the
 * agent again. The environment is passed on untouched.
 */
#include "front.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern char **environ;

static bool write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w, n -= (size_t)w;
  }
  return true;
}

/* An fd positioned at the start of `data`, or -1. */
static int stdin_of(const char *data, size_t len) {
  int fd = memfd_create("braid-stdin", 0);
  if (fd >= 0) {
    if (write_all(fd, data, len) && lseek(fd, 0, SEEK_SET) == 0) return fd;
    close(fd);
    return -1;
  }
  /* Without memfd: a pipe large enough to hold the whole conf, written before the exec. */
  int p[2];
  if (pipe(p) != 0) return -1;
  if (len > 65536 && fcntl(p[1], F_SETPIPE_SZ, (int)(len < 1048576 ? len : 1048576)) < (int)len) {
    close(p[0]), close(p[1]);
    return -1;
  }
  bool ok = write_all(p[1], data, len);
  close(p[1]);
  if (ok) return p[0];
  close(p[0]);
  return -1;
}

static bool node_impl_path(char *out, size_t size) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return false;
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (!slash) return false;
  *slash = '\0';
  return snprintf(out, size, "%s/%s", self, NODE_IMPL_NAME) < (int)size;
}

void exec_node(char **argv, bool thin, const char *stdin_data, size_t stdin_len) {
  char path[PATH_MAX];
  if (!node_impl_path(path, sizeof path)) {
    fprintf(stderr, "braid: cannot find my own executable (/proc/self/exe: %s)\n", strerror(errno));
    return;
  }
  if (thin && stdin_data) {
    int fd = stdin_of(stdin_data, stdin_len);
    if (fd < 0 || dup2(fd, 0) < 0) {
      fprintf(stderr, "braid: cannot pass the conf on to %s (%s)\n", path, strerror(errno));
      return;
    }
    if (fd != 0) close(fd);
  }
  /* The front door ignores SIGPIPE for itself; the Node implementation starts as the runtime started us. */
  signal(SIGPIPE, SIG_DFL);
  if (thin) {
    char *thin_argv[] = {path, THIN_FLAG, NULL};
    execve(path, thin_argv, environ);
  } else {
    argv[0] = path;
    execve(path, argv, environ);
  }
  fprintf(stderr, "braid: cannot run %s: %s\n", path, strerror(errno));
}
