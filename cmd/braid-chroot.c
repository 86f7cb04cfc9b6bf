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
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>

#include "die-with-parent.h"

static int fail(const char *what, const char *path, int code) {
  return launch_failed("braid-chroot", what, path, code);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: braid-chroot <root> <program> [args...]\n");
    return 2;
  }
  int failed = die_with_parent("braid-chroot", argv[2]);
  if (failed) return failed;
  if (chroot(argv[1]) != 0) return fail("cannot chroot into", argv[1], 126);
  if (chdir("/") != 0) return fail("cannot change directory to / in", argv[1], 126);
  execv(argv[2], &argv[2]);
  return fail("cannot run", argv[2], 127);
}
