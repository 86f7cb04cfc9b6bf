/*
 * Whom the front door hands a call to. The call carries the runtime's whole environment and the
 * pod's conf, and the answer decides what the runtime believes about the pod's network: only an
 * agent that root set up may take it. So the socket and the directory holding it must be owned
 * by root and writable by nobody else (no one else could have put the socket there, nor can swap
 * it). Anything else: thin mode, with one line on stderr saying why.
 */
#include "front.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool owned_by_root_only(const struct stat *st) { return st->st_uid == 0 && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0; }

enum trust socket_trust(const char *path, char *why, size_t why_len) {
  struct stat st;
  /* No socket, or something else at its path, is a node without an agent: thin mode, quietly. */
  if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) return TRUST_ABSENT;
  if (!owned_by_root_only(&st)) {
    snprintf(why, why_len, "is owned by uid %u with mode %03o, not root's alone", (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    return TRUST_REFUSED;
  }
  char *dir = strdup(path);
  if (!dir) {
    snprintf(why, why_len, "cannot be checked (out of memory)");
    return TRUST_REFUSED;
  }
  char *slash = strrchr(dir, '/');
  if (!slash) strcpy(dir, ".");
  else if (slash == dir) dir[1] = '\0';
  else *slash = '\0';
  struct stat dst;
  enum trust verdict = TRUST_OK;
  if (stat(dir, &dst) != 0) {
    snprintf(why, why_len, "is in %s, which cannot be read (%s)", dir, strerror(errno));
    verdict = TRUST_REFUSED;
  } else if (!owned_by_root_only(&dst)) {
    snprintf(why, why_len, "is in %s, owned by uid %u with mode %03o, not root's alone", dir, (unsigned)dst.st_uid, (unsigned)(dst.st_mode & 07777));
    verdict = TRUST_REFUSED;
  }
  free(dir);
  return verdict;
}
