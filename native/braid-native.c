// braid's Node-API addon: the few system calls a thin-mode plugin process needs and Node lacks,
// without loading koffi (tens of milliseconds, more than what it would save in one call).
//
//   spawn(file, argv, envp)  posix_spawn with stdio pipes        -> [pid, stdinW, stdoutR, stderrR] | -errno
//   reap(pid)                waitpid(pid, WNOHANG)               -> [waitpid's return, status] | -errno
//   linkNames(netnsPath)     the interface names in a namespace  -> string[] | -errno
//   ofdTryLock(fd)           fcntl(F_OFD_SETLK, F_WRLCK, whole file) -> 1 taken | 0 held by another | -errno
//   exitNow(code)            _exit: no teardown of Node's heap
//
// Failures come back as a negative errno rather than a thrown error, so that the TypeScript side
// (src/base/native-addon.ts) words every message, with the names braid uses elsewhere.
// See native/README.md for the traps (namespaces are per thread; descriptors and signals a child
// must not inherit).
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_STRING (1 << 20)
#define DUMP_ATTEMPTS 3
#define RECV_TIMEOUT_SECONDS 10
#define RECV_BUFFER (1 << 16)

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static napi_value int_array(napi_env env, const int *values, size_t n) {
  napi_value out;
  napi_create_array_with_length(env, n, &out);
  for (size_t i = 0; i < n; i++) napi_set_element(env, out, (uint32_t)i, number(env, values[i]));
  return out;
}

// A JS string as a malloc'd C string; NULL when it is not a string or too long.
static char *c_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len > MAX_STRING) return NULL;
  char *s = malloc(len + 1);
  if (s && napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    return NULL;
  }
  return s;
}

static void free_strings(char **list) {
  if (!list) return;
  for (char **p = list; *p; p++) free(*p);
  free(list);
}

// A JS array of strings as a NULL-terminated list; NULL on anything else.
static char **c_strings(napi_env env, napi_value array) {
  uint32_t n = 0;
  if (napi_get_array_length(env, array, &n) != napi_ok) return NULL;
  char **list = calloc((size_t)n + 1, sizeof *list);
  for (uint32_t i = 0; list && i < n; i++) {
    napi_value item;
    if (napi_get_element(env, array, i, &item) != napi_ok || !(list[i] = c_string(env, item))) {
      free_strings(list);
      return NULL;
    }
  }
  return list;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *args) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < want) return -1;
  return 0;
}

static void close_all(int *fds, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
}

// The child leads its own session (a timeout kills its whole group), gets every signal at its
// default and an empty mask (Node ignores SIGPIPE, and an ignored signal survives exec), and has
// only the three pipes: whatever the parent inherited without close-on-exec stays behind.
static int spawn_with_pipes(const char *file, char *const argv[], char *const envp[], int out[4]) {
  int pipes[6] = {-1, -1, -1, -1, -1, -1};
  for (int i = 0; i < 3; i++) {
    if (pipe2(pipes + 2 * i, O_CLOEXEC) != 0) {
      int err = errno;
      close_all(pipes, 6);
      return -err;
    }
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&fa, pipes[0], 0);
  posix_spawn_file_actions_adddup2(&fa, pipes[3], 1);
  posix_spawn_file_actions_adddup2(&fa, pipes[5], 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  sigset_t all, none;
  // Every bit, glibc's internal signals too: sigfillset leaves those out, and posix_spawn would
  // leave them as they are.
  memset(&all, 0xff, sizeof all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, file, &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  int child_ends[3] = {pipes[0], pipes[3], pipes[5]};
  close_all(child_ends, 3);
  if (rc != 0) {
    int ours[3] = {pipes[1], pipes[2], pipes[4]};
    close_all(ours, 3);
    return -rc;
  }
  out[0] = pid;
  out[1] = pipes[1];
  out[2] = pipes[2];
  out[3] = pipes[4];
  return 0;
}

static napi_value js_spawn(napi_env env, napi_callback_info info) {
  napi_value args[3];
  if (get_args(env, info, 3, args) != 0) return number(env, -EINVAL);
  char *file = c_string(env, args[0]);
  char **argv = c_strings(env, args[1]);
  char **envp = c_strings(env, args[2]);
  int out[4];
  int rc = file && argv && envp ? spawn_with_pipes(file, argv, envp, out) : -EINVAL;
  free(file);
  free_strings(argv);
  free_strings(envp);
  return rc == 0 ? int_array(env, out, 4) : number(env, rc);
}

static napi_value js_reap(napi_env env, napi_callback_info info) {
  napi_value args[1];
  int32_t pid = 0;
  if (get_args(env, info, 1, args) != 0 || napi_get_value_int32(env, args[0], &pid) != napi_ok || pid <= 0)
    return number(env, -EINVAL);
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r < 0) return number(env, -errno);
  int out[2] = {r, status};
  return int_array(env, out, 2);
}

// Names collected as consecutive NUL-terminated strings.
struct name_list {
  char *buf;
  size_t len, cap;
  int count;
};

static int add_name(struct name_list *l, const char *name, size_t len) {
  if (l->len + len + 1 > l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 1024;
    while (cap < l->len + len + 1) cap *= 2;
    char *grown = realloc(l->buf, cap);
    if (!grown) return -ENOMEM;
    l->buf = grown;
    l->cap = cap;
  }
  memcpy(l->buf + l->len, name, len);
  l->buf[l->len + len] = '\0';
  l->len += len + 1;
  l->count++;
  return 0;
}

// One RTM_GETLINK dump; 1 when the kernel says the dump was interrupted by a change (try again).
static int dump_links(int sock, struct name_list *names, unsigned seq, char *buf, size_t size) {
  struct {
    struct nlmsghdr nh;
    struct ifinfomsg ifm;
  } req = {
      .nh = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = seq},
      .ifm = {.ifi_family = AF_UNSPEC},
  };
  if (send(sock, &req, sizeof req, 0) < 0) return -errno;
  int interrupted = 0;
  for (;;) {
    ssize_t n = recv(sock, buf, size, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_seq != seq) continue;
      if (nh->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = 1;
      if (nh->nlmsg_type == NLMSG_DONE) return interrupted;
      if (nh->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(nh);
        return e->error < 0 ? e->error : -EPROTO;
      }
      if (nh->nlmsg_type != RTM_NEWLINK) continue;
      struct ifinfomsg *ifm = NLMSG_DATA(nh);
      int attrs = (int)IFLA_PAYLOAD(nh);
      for (struct rtattr *a = IFLA_RTA(ifm); RTA_OK(a, attrs); a = RTA_NEXT(a, attrs)) {
        if (a->rta_type != IFLA_IFNAME) continue;
        int rc = add_name(names, RTA_DATA(a), strnlen(RTA_DATA(a), RTA_PAYLOAD(a)));
        if (rc != 0) return rc;
      }
    }
  }
}

struct link_job {
  int nsfd;
  int err;
  struct name_list names;
};

// Runs on a thread of its own: setns changes only the calling thread's namespace, and Node's
// main thread must never leave the host's.
static void *list_links_in_netns(void *arg) {
  struct link_job *job = arg;
  if (setns(job->nsfd, CLONE_NEWNET) != 0) {
    job->err = -errno;
    return NULL;
  }
  int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (sock < 0) {
    job->err = -errno;
    return NULL;
  }
  struct timeval tv = {.tv_sec = RECV_TIMEOUT_SECONDS};
  setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char *buf = malloc(RECV_BUFFER);
  int rc = buf ? 1 : -ENOMEM;
  for (unsigned attempt = 1; rc == 1 && attempt <= DUMP_ATTEMPTS; attempt++) {
    job->names.len = 0;
    job->names.count = 0;
    rc = dump_links(sock, &job->names, attempt, buf, RECV_BUFFER);
  }
  free(buf);
  // Still interrupted after every attempt: the names of the last dump are as good as any.
  job->err = rc < 0 ? rc : 0;
  close(sock);
  return NULL;
}

static napi_value js_link_names(napi_env env, napi_callback_info info) {
  napi_value args[1];
  if (get_args(env, info, 1, args) != 0) return number(env, -EINVAL);
  char *path = c_string(env, args[0]);
  if (!path) return number(env, -EINVAL);
  struct link_job job = {.nsfd = open(path, O_RDONLY | O_CLOEXEC)};
  free(path);
  if (job.nsfd < 0) return number(env, -errno);
  pthread_t thread;
  int rc = pthread_create(&thread, NULL, list_links_in_netns, &job);
  if (rc == 0) pthread_join(thread, NULL);
  close(job.nsfd);
  if (rc != 0 || job.err != 0) {
    free(job.names.buf);
    return number(env, rc != 0 ? -rc : job.err);
  }
  napi_value out;
  napi_create_array_with_length(env, (size_t)job.names.count, &out);
  const char *p = job.names.buf;
  for (int i = 0; i < job.names.count; i++) {
    napi_value s;
    size_t len = strlen(p);
    napi_create_string_utf8(env, p, len, &s);
    napi_set_element(env, out, (uint32_t)i, s);
    p += len + 1;
  }
  free(job.names.buf);
  return out;
}

static napi_value js_ofd_try_lock(napi_env env, napi_callback_info info) {
  napi_value args[1];
  int32_t fd = -1;
  if (get_args(env, info, 1, args) != 0 || napi_get_value_int32(env, args[0], &fd) != napi_ok || fd < 0)
    return number(env, -EINVAL);
  struct flock whole = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fcntl(fd, F_OFD_SETLK, &whole) == 0) return number(env, 1);
  if (errno == EAGAIN || errno == EACCES) return number(env, 0);
  return number(env, -errno);
}

static napi_value js_exit_now(napi_env env, napi_callback_info info) {
  napi_value args[1];
  int32_t code = 1;
  if (get_args(env, info, 1, args) == 0) napi_get_value_int32(env, args[0], &code);
  _exit(code & 0xff);
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor fns[] = {
      {"spawn", NULL, js_spawn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"reap", NULL, js_reap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"linkNames", NULL, js_link_names, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ofdTryLock", NULL, js_ofd_try_lock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"exitNow", NULL, js_exit_now, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  return exports;
}
