/*
 * What braid's two delegate launchers (braid-launch.c, braid-chroot.c) share: how they report that
 * they cannot run a delegate, and the parent-death signal they give it before the exec.
 */
#ifndef BRAID_DIE_WITH_PARENT_H
#define BRAID_DIE_WITH_PARENT_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/*
 * A CNI error on stdout (code 5, I/O failure; braid prefixes the delegate's name) naming `self`,
 * what failed and on which path, with errno's text; returns `code` for main to exit with.
 */
static int launch_failed(const char *self, const char *what, const char *path, int code) {
  int err = errno;
  printf("{\"cniVersion\":\"1.0.0\",\"code\":5,\"msg\":\"%s: %s %s: %s\"}\n", self, what, path, strerror(err));
  fflush(stdout);
  return code;
}

/*
 * SIGKILL when the parent (the braid process that started the delegate) dies; it survives the
 * exec. 0 when set, else launch_failed's 126 naming `program`. A parent that died before prctl
 * took effect counts as a failure: nobody would wait for the delegate.
 */
static int die_with_parent(const char *self, const char *program) {
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
    return launch_failed(self, "cannot set the parent-death signal for", program, 126);
  if (getppid() != parent) {
    errno = ESRCH;
    return launch_failed(self, "parent exited before", program, 126);
  }
  return 0;
}

#endif
