/*
 * braid-chroot <root> <program> [args...]: runs <program> (a path inside <root>) with <root> as its
 * root directory and "/" as its working directory, with the caller's environment, stdin, stdout,
 * stderr and process group unchanged.
 *
 * braid-agent starts each delegate through it when it runs with --host-root: the agent lives in a
 * container, the delegates must see the host (its /opt/cni/bin, /var/lib/cni, iptables and the
 * other binaries plugins call), as they would if the runtime had called them there. Node cannot
 * chroot() a child before exec, and the agent's image has no chroot(8), so this is a static C
 * program of its own. Exit codes 126/127 and a CNI error on stdout when it cannot run the program,
 * so braid reports a delegate that cannot start like any other delegate failure. The delegate is
 * killed when the agent dies (a parent-death signal survives the exec), so no ADD can finish after
 * the runtime's DEL.
 */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, const char *path, int code) {
  int err = errno;
  /* CNI code 5 (I/O failure); braid prefixes the delegate's name. */
  printf("{\"cniVersion\":\"1.0.0\",\"code\":5,\"msg\":\"braid-chroot: %s %s: %s\"}\n", what, path, strerror(err));
  fflush(stdout);
  return code;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: braid-chroot <root> <program> [args...]\n");
    return 2;
  }
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return fail("cannot set the parent-death signal for", argv[2], 126);
  /* The agent may have died before prctl took effect. */
  if (getppid() != parent) return fail("parent exited before", argv[2], 126);
  if (chroot(argv[1]) != 0) return fail("cannot chroot into", argv[1], 126);
  if (chdir("/") != 0) return fail("cannot change directory to / in", argv[1], 126);
  execv(argv[2], &argv[2]);
  return fail("cannot run", argv[2], 127);
}
