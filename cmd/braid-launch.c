/*
 * braid-launch <program> [args...]: runs <program> with argv <program> [args...] after setting a
 * parent-death signal (SIGKILL), with the caller's environment, stdin, stdout, stderr, working
 * directory and process group unchanged.
 *
 * braid starts every delegate through it when it sits beside braid's executable (else through
 * util-linux setpriv --pdeathsig KILL, which does the same but is dynamically linked and parses
 * more options): a delegate must die with the braid process that started it, so that no ADD can
 * finish after the runtime's DEL, and Node cannot set a child's parent-death signal itself. Static
 * and tiny, so that starting a delegate through it costs an exec and almost nothing else. Exit
 * codes 126/127 and a CNI error on stdout when it cannot run the program, so braid reports a
 * delegate that cannot start like any other delegate failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static int fail(const char *what, const char *path, int code) {
  int err = errno;
  /* CNI code 5 (I/O failure); braid prefixes the delegate's name. */
  printf("{\"cniVersion\":\"1.0.0\",\"code\":5,\"msg\":\"braid-launch: %s %s: %s\"}\n", what, path, strerror(err));
  fflush(stdout);
  return code;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: braid-launch <program> [args...]\n");
    return 2;
  }
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return fail("cannot set the parent-death signal for", argv[1], 126);
  /* The parent may have died before prctl took effect: then nobody waits for this delegate. */
  if (getppid() != parent) {
    errno = ESRCH;
    return fail("parent exited before", argv[1], 126);
  }
  execv(argv[1], &argv[1]);
  return fail("cannot run", argv[1], 127);
}
