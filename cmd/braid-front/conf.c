/*
 * What the front door reads from JSON: the agent socket a conf names, the way
 * src/agent/protocol.ts agentSocketOf() finds it, and the agent's answer. A conf that is not JSON
 * gets the default socket (the agent, or thin mode, then reports the parse error).
 */
#include "json.h"
#include <stdlib.h>
#include <string.h>

/* What agentSocketOf() reads of one object: its agentSocket and, for a plugin, its type. */
struct conf_obj {
  bool has_socket, is_braid;
  struct buf socket;
  size_t plugins_at; /* offset of a "plugins" array + 1, 0 when none */
};

static bool conf_member(void *ctx, const char *key, struct json *j) {
  struct conf_obj *o = ctx;
  if (strcmp(key, "agentSocket") == 0) {
    /* The last duplicate wins, as in JSON.parse. */
    o->has_socket = json_peek(j, '"');
    o->socket.len = 0;
    return o->has_socket ? json_string(j, &o->socket) && buf_put(&o->socket, "", 0) : json_value(j);
  }
  if (strcmp(key, "type") == 0 && json_peek(j, '"')) {
    struct buf type = {0};
    bool ok = json_string(j, &type) && buf_put(&type, "", 0);
    o->is_braid = ok && type.len == 5 && strcmp(type.data, "braid") == 0;
    free(type.data);
    return ok;
  }
  if (strcmp(key, "type") == 0) o->is_braid = false;
  if (strcmp(key, "plugins") == 0) o->plugins_at = json_peek(j, '[') ? j->i + 1 : 0;
  return json_value(j);
}

static bool conf_object(struct json *j, void *ctx) { return json_peek(j, '{') && json_object(j, conf_member, ctx); }

/* The first object of a conflist's plugins and its first braid plugin: their agentSocket copies
 * (NULL when that plugin names none). */
struct plugins {
  bool have_first, have_braid;
  char *first, *braid;
};

static char *copy_socket(const struct conf_obj *o) {
  if (!o->has_socket) return NULL;
  return strdup(o->socket.data ? o->socket.data : "");
}

static bool plugin_element(void *ctx, const char *key, struct json *j) {
  (void)key;
  struct plugins *p = ctx;
  if (!json_peek(j, '{')) return json_value(j);
  struct conf_obj o = {0};
  bool ok = json_object(j, conf_member, &o);
  if (ok && !p->have_first) p->have_first = true, p->first = copy_socket(&o);
  if (ok && o.is_braid && !p->have_braid) p->have_braid = true, p->braid = copy_socket(&o);
  free(o.socket.data);
  return ok;
}

char *agent_socket_of(const char *conf, size_t len) {
  struct json j = {conf, len, 0, 0};
  struct conf_obj top = {0};
  char *found = NULL;
  if (json_whole(&j, conf_object, &top)) {
    found = copy_socket(&top);
    if (!found && top.plugins_at) {
      struct json pj = {conf, len, top.plugins_at - 1, 0};
      struct plugins p = {0};
      if (json_array(&pj, plugin_element, &p)) {
        found = p.have_braid ? p.braid : p.first;
        if (p.have_braid) p.braid = NULL;
        else p.first = NULL;
      }
      free(p.first);
      free(p.braid);
    }
  }
  free(top.socket.data);
  return found ? found : strdup(DEFAULT_AGENT_SOCKET);
}

struct answer {
  bool has_code;
  long code;
  size_t out_start, out_end;
};

static bool answer_member(void *ctx, const char *key, struct json *j) {
  struct answer *a = ctx;
  size_t start = j->i;
  if (!json_value(j)) return false;
  if (strcmp(key, "exitCode") == 0) {
    char text[32];
    size_t len = j->i - start;
    a->has_code = len > 0 && len < sizeof text && (j->s[start] == '-' || (j->s[start] >= '0' && j->s[start] <= '9'));
    if (a->has_code) {
      memcpy(text, j->s + start, len), text[len] = '\0';
      char *end;
      a->code = strtol(text, &end, 10);
      a->has_code = *end == '\0';
    }
  } else if (strcmp(key, "output") == 0) {
    /* Printed as the agent serialised it (JSON.stringify): byte for byte what thin mode prints. */
    bool is_object = j->s[start] == '{';
    a->out_start = is_object ? start : 0;
    a->out_end = is_object ? j->i : 0;
  }
  return true;
}

static bool answer_object(struct json *j, void *ctx) { return json_peek(j, '{') && json_object(j, answer_member, ctx); }

bool parse_answer(const char *body, size_t len, int *exit_code, const char **output, size_t *output_len) {
  struct json j = {body, len, 0, 0};
  struct answer a = {0};
  if (!json_whole(&j, answer_object, &a) || !a.has_code) return false;
  *exit_code = (int)(a.code & 0xff);
  *output = a.out_end ? body + a.out_start : NULL;
  *output_len = a.out_end - a.out_start;
  return true;
}
