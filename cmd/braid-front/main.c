/*
 * braid's front door (see front.h and docs/front-door.md): a CNI call goes to braid-agent when a
 * trusted agent takes it, otherwise to braid's Node implementation in thin mode; the command-line
 * tool goes to the Node implementation at once.
 */
#include "front.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static bool read_all(int fd, struct buf *out) {
  char chunk[65536];
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r == 0) return buf_put(out, "", 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || !buf_put(out, chunk, (size_t)r)) return false;
  }
}

static bool write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w, n -= (size_t)w;
  }
  return true;
}

/* The request for the agent: the whole environment (the delegates the agent starts see what the
 * runtime gave braid) and stdin, as src/agent/protocol.ts HandOverRequest. */
static bool build_request(const struct buf *in, struct buf *req, size_t *body_len) {
  struct buf body = {0};
  bool ok = buf_puts(&body, "{\"env\":{");
  bool first = true;
  for (char **e = environ; ok && *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq || eq == *e) continue;
    ok = (first || buf_puts(&body, ",")) && json_put_string(&body, *e, (size_t)(eq - *e)) && buf_puts(&body, ":") &&
         json_put_string(&body, eq + 1, strlen(eq + 1));
    first = false;
  }
  ok = ok && buf_puts(&body, "},\"stdin\":") && json_put_string(&body, in->data, in->len) && buf_puts(&body, "}");
  char head[256];
  snprintf(head, sizeof head, "POST /cni HTTP/1.0\r\nHost: braid-agent\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n", body.len);
  ok = ok && buf_puts(req, head) && buf_put(req, body.data, body.len);
  *body_len = body.len;
  free(body.data);
  return ok;
}

/* Relays a complete answer; false (with why) when it is a refusal or incomplete. */
static bool relay(const struct buf *answer, int *exit_code, char *why, size_t why_len) {
  const char *end = answer->data ? strstr(answer->data, "\r\n\r\n") : NULL;
  if (!end) {
    snprintf(why, why_len, "dropped the connection before answering");
    return false;
  }
  const char *body = end + 4;
  size_t body_len = answer->len - (size_t)(body - answer->data);
  if (strncmp(answer->data, "HTTP/1.", 7) != 0 || (answer->data[7] != '0' && answer->data[7] != '1') || strncmp(answer->data + 8, " 200", 4) != 0) {
    int shown = body_len > 200 ? 200 : (int)body_len;
    while (shown > 0 && (body[shown - 1] == '\n' || body[shown - 1] == '\r')) shown--;
    snprintf(why, why_len, "refused the call (%.12s: %.*s)", answer->data, shown, body);
    return false;
  }
  const char *output;
  size_t output_len;
  if (!parse_answer(body, body_len, exit_code, &output, &output_len)) {
    snprintf(why, why_len, "dropped the connection before answering");
    return false;
  }
  if (output) write_all(1, output, output_len) && write_all(1, "\n", 1);
  return true;
}

/* Only when the Node implementation cannot be started: a CNI error the runtime can read (11: a
 * node being installed may have it in a moment). exec_node said why on stderr. */
static int cannot_run(void) {
  static const char msg[] = "braid: no agent took the call and the Node implementation (" NODE_IMPL_NAME " beside braid) cannot be run";
  struct buf out = {0};
  if (buf_puts(&out, "{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":") && json_put_string(&out, msg, sizeof msg - 1) && buf_puts(&out, "}\n"))
    write_all(1, out.data, out.len);
  return 1;
}

static int run_thin(char **argv, const struct buf *in) {
  exec_node(argv, true, in->data, in->len);
  return cannot_run();
}

int main(int argc, char **argv) {
  (void)argc;
  const char *command = getenv("CNI_COMMAND");
  /* Empty counts as unset, as in cmd/braid.ts. */
  if (!command || !*command) {
    exec_node(argv, false, NULL, 0);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  struct buf in = {0};
  /* VERSION from a terminal has no conf to wait for (as src/cni/skel.ts). */
  bool tty_version = strcmp(command, "VERSION") == 0 && isatty(0);
  if (tty_version ? !buf_put(&in, "", 0) : !read_all(0, &in)) {
    /* The Node implementation reads stdin itself and reports the failure as a CNI error. */
    exec_node(argv, true, NULL, 0);
    return cannot_run();
  }
  char *socket_path = agent_socket_of(in.data, in.len);
  if (!socket_path || !*socket_path) return run_thin(argv, &in);
  char why[512] = "";
  enum trust trust = socket_trust(socket_path, why, sizeof why);
  if (trust == TRUST_ABSENT) return run_thin(argv, &in);
  if (trust == TRUST_REFUSED) {
    fprintf(stderr, "braid: not using the agent socket %s: it %s; doing the work in this process\n", socket_path, why);
    return run_thin(argv, &in);
  }
  struct buf request = {0};
  size_t body_len = 0;
  if (!build_request(&in, &request, &body_len)) {
    fprintf(stderr, "braid: out of memory building the call for braid-agent; doing the work in this process\n");
    return run_thin(argv, &in);
  }
  if (body_len > MAX_REQUEST_BYTES) {
    fprintf(stderr, "braid: the call's environment and conf (%zu bytes) exceed what braid-agent reads (%u bytes); doing the work in this process\n",
            body_len, MAX_REQUEST_BYTES);
    return run_thin(argv, &in);
  }
  struct buf answer = {0};
  int accept_ms = strcmp(command, "DEL") == 0 ? DEL_ACCEPT_MS : ACCEPT_MS;
  enum handover h = hand_over(socket_path, &request, accept_ms, &answer, why, sizeof why);
  free(request.data);
  int exit_code = 1;
  if (h == HANDOVER_DONE && relay(&answer, &exit_code, why, sizeof why)) return exit_code;
  if (h != HANDOVER_QUIET_THIN) fprintf(stderr, "braid: agent at %s %s; doing the work in this process\n", socket_path, why);
  return run_thin(argv, &in);
}
