/*
 * braid's front door: the file a container runtime executes for `type: braid`. It hands a CNI
 * call to braid-agent over the agent's unix socket (the same HTTP exchange src/agent/client.ts
 * speaks, see src/agent/protocol.ts) and relays the answer; when no agent takes the call, or for
 * the command-line tool, it execs braid's Node implementation beside it. See docs/front-door.md.
 */
#ifndef BRAID_FRONT_H
#define BRAID_FRONT_H

#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>

/* src/agent/protocol.ts: DEFAULT_AGENT_SOCKET, MAX_REQUEST_BYTES, CNI_PATH. */
#define DEFAULT_AGENT_SOCKET "/run/braid/braid.sock"
#define MAX_REQUEST_BYTES (8u * 1024 * 1024)
/* DEL must never wait on an agent in trouble (src/agent/client.ts DEL_ACCEPT_TIMEOUT_MS). */
#define DEL_ACCEPT_MS 500
/* Other verbs: the agent answers its status line as soon as it has read the call, even when its
 * queue is long; but a burst of ADDs can keep its event loop busy for seconds (measured: with 3 s,
 * 65 of 100 ADDs of a burst fell back, and 65 Node processes made the burst slower and one
 * delegate time out). Ten seconds without a status line means stuck (client.ts ACCEPT_TIMEOUT_MS). */
#define ACCEPT_MS 10000
/* The Node implementation's name beside the front door, and the flag that tells it not to offer
 * the call to the agent again (cmd/braid.ts). */
#define NODE_IMPL_NAME "braid-node"
#define THIN_FLAG "--cni-thin"

struct buf {
  char *data;
  size_t len, cap;
};
bool buf_put(struct buf *b, const void *p, size_t n);
bool buf_puts(struct buf *b, const char *s);

/* json.c */
/* The socket a conf names (agentSocket of the conf, or of a conflist's braid plugin); the default
 * when it names none or is not JSON. NULL when out of memory. "" turns the hand-over off. */
char *agent_socket_of(const char *conf, size_t len);
/* Appends s[0..n) as a JSON string literal. Bytes >= 0x80 go as they are: the agent decodes the
 * body as UTF-8 exactly as the Node implementation decodes stdin. */
bool json_put_string(struct buf *b, const char *s, size_t n);
/* The agent's answer {"exitCode":N,"output":{...}}: false unless it is complete. */
bool parse_answer(const char *body, size_t len, int *exit_code, const char **output, size_t *output_len);

/* trust.c */
enum trust { TRUST_OK, TRUST_ABSENT, TRUST_REFUSED };
/* Whether the socket at path may be used; on TRUST_REFUSED `why` says why. */
enum trust socket_trust(const char *path, char *why, size_t why_len);

/* wire.c */
enum handover { HANDOVER_DONE, HANDOVER_QUIET_THIN, HANDOVER_THIN };
/* Sends the request, waits at most accept_ms for the agent to take it, then for its whole answer. */
enum handover hand_over(const char *socket_path, const struct buf *request, int accept_ms, struct buf *answer, char *why, size_t why_len);

/* thin.c */
/* Execs the Node implementation beside this executable: with stdin_data as its stdin and
 * THIN_FLAG when `thin`, else with this process's argv and stdin. Returns only on failure. */
void exec_node(char **argv, bool thin, const char *stdin_data, size_t stdin_len);

#endif
