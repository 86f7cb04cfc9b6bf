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
#include <stdio.h>
#include <unistd.h>

#include "die-with-parent.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: braid-launch <program> [args...]\n");
    return 2;
  }
  int failed = die_with_parent("braid-launch", argv[1]);
  if (failed) return failed;
  execv(argv[1], &argv[1]);
  return launch_failed("braid-launch", "cannot run", argv[1], 127);
}
