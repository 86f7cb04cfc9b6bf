/*
 * The little JSON the front door needs: find the agent socket in a conf the way
 * src/agent/protocol.ts agentSocketOf() does, write strings, and read the agent's answer. A
 * strict parser (what JSON.parse accepts), bounded in depth; anything it cannot read counts as
 * "not JSON", which gets the default socket (the agent then reports the parse error as thin
 * mode would).
 */
#include "front.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256

bool buf_put(struct buf *b, const void *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) return false;
    b->data = data;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return true;
}

bool buf_puts(struct buf *b, const char *s) { return buf_put(b, s, strlen(s)); }

struct json {
  const char *s;
  size_t n, i;
  int depth;
};

static void ws(struct json *j) {
  while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r')) j->i++;
}

static bool peek(struct json *j, char c) {
  ws(j);
  return j->i < j->n && j->s[j->i] == c;
}

static bool eat(struct json *j, char c) {
  if (!peek(j, c)) return false;
  j->i++;
  return true;
}

static bool literal(struct json *j, const char *word) {
  size_t len = strlen(word);
  if (j->n - j->i < len || memcmp(j->s + j->i, word, len) != 0) return false;
  j->i += len;
  return true;
}

static bool digits(struct json *j) {
  size_t start = j->i;
  while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') j->i++;
  return j->i > start;
}

static bool number(struct json *j) {
  if (j->i < j->n && j->s[j->i] == '-') j->i++;
  if (j->i < j->n && j->s[j->i] == '0') j->i++;
  else if (!digits(j)) return false;
  if (j->i < j->n && j->s[j->i] == '.') {
    j->i++;
    if (!digits(j)) return false;
  }
  if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
    j->i++;
    if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-')) j->i++;
    if (!digits(j)) return false;
  }
  return true;
}

static int hex4(const char *p) {
  int v = 0;
  for (int k = 0; k < 4; k++) {
    char c = p[k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else return -1;
  }
  return v;
}

static bool put_utf8(struct buf *out, uint32_t cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) u[0] = (char)cp, n = 1;
  else if (cp < 0x800) u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
  else if (cp < 0x10000) u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
  else u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)), u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
  return buf_put(out, u, n);
}

/* A string literal at the cursor; decoded into `out` when it is not NULL. */
static bool string(struct json *j, struct buf *out) {
  if (!eat(j, '"')) return false;
  while (j->i < j->n) {
    unsigned char c = (unsigned char)j->s[j->i++];
    if (c == '"') return true;
    if (c < 0x20) return false;
    if (c != '\\') {
      if (out && !buf_put(out, &c, 1)) return false;
      continue;
    }
    if (j->i >= j->n) return false;
    char e = j->s[j->i++];
    const char *plain = strchr("\"\\/bfnrt", e);
    if (e != '\0' && plain) {
      static const char decoded[] = "\"\\/\b\f\n\r\t";
      if (out && !buf_put(out, &decoded[plain - "\"\\/bfnrt"], 1)) return false;
      continue;
    }
    if (e != 'u' || j->n - j->i < 4) return false;
    int cp = hex4(j->s + j->i);
    if (cp < 0) return false;
    j->i += 4;
    uint32_t code = (uint32_t)cp;
    /* A surrogate pair is one code point; a lone surrogate (which JSON.parse keeps) becomes U+FFFD. */
    if (cp >= 0xd800 && cp <= 0xdbff && j->n - j->i >= 6 && j->s[j->i] == '\\' && j->s[j->i + 1] == 'u') {
      int low = hex4(j->s + j->i + 2);
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + (((uint32_t)cp - 0xd800) << 10) + ((uint32_t)low - 0xdc00);
        j->i += 6;
      }
    }
    if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
    if (out && !put_utf8(out, code)) return false;
  }
  return false;
}

typedef bool (*member_fn)(void *ctx, const char *key, struct json *j);
static bool value(struct json *j);

/* An object at the cursor; fn (or, without fn, value()) consumes each member's value. */
static bool object(struct json *j, member_fn fn, void *ctx) {
  if (!eat(j, '{') || ++j->depth > MAX_DEPTH) return false;
  struct buf key = {0};
  bool ok = false;
  if (eat(j, '}')) ok = true;
  else
    for (;;) {
      key.len = 0;
      if (!string(j, &key) || !buf_put(&key, "", 0) || !eat(j, ':')) break;
      ws(j);
      if (!(fn ? fn(ctx, key.data, j) : value(j))) break;
      if (eat(j, ',')) continue;
      ok = eat(j, '}');
      break;
    }
  free(key.data);
  j->depth--;
  return ok;
}

static bool array(struct json *j, member_fn fn, void *ctx) {
  if (!eat(j, '[') || ++j->depth > MAX_DEPTH) return false;
  bool ok = false;
  if (eat(j, ']')) ok = true;
  else
    for (;;) {
      ws(j);
      if (!(fn ? fn(ctx, NULL, j) : value(j))) break;
      if (eat(j, ',')) continue;
      ok = eat(j, ']');
      break;
    }
  j->depth--;
  return ok;
}

static bool value(struct json *j) {
  ws(j);
  if (j->i >= j->n) return false;
  switch (j->s[j->i]) {
    case '{': return object(j, NULL, NULL);
    case '[': return array(j, NULL, NULL);
    case '"': return string(j, NULL);
    case 't': return literal(j, "true");
    case 'f': return literal(j, "false");
    case 'n': return literal(j, "null");
    default: return number(j);
  }
}

/* A whole document: one value and nothing but white space after it. */
static bool whole(struct json *j, bool (*parse)(struct json *, void *), void *ctx) {
  if (!parse(j, ctx)) return false;
  ws(j);
  return j->i == j->n;
}

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
    o->has_socket = peek(j, '"');
    o->socket.len = 0;
    return o->has_socket ? string(j, &o->socket) && buf_put(&o->socket, "", 0) : value(j);
  }
  if (strcmp(key, "type") == 0 && peek(j, '"')) {
    struct buf type = {0};
    bool ok = string(j, &type) && buf_put(&type, "", 0);
    o->is_braid = ok && type.len == 5 && strcmp(type.data, "braid") == 0;
    free(type.data);
    return ok;
  }
  if (strcmp(key, "type") == 0) o->is_braid = false;
  if (strcmp(key, "plugins") == 0) o->plugins_at = peek(j, '[') ? j->i + 1 : 0;
  return value(j);
}

static bool conf_object(struct json *j, void *ctx) { return peek(j, '{') && object(j, conf_member, ctx); }

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
  if (!peek(j, '{')) return value(j);
  struct conf_obj o = {0};
  bool ok = object(j, conf_member, &o);
  if (ok && !p->have_first) p->have_first = true, p->first = copy_socket(&o);
  if (ok && o.is_braid && !p->have_braid) p->have_braid = true, p->braid = copy_socket(&o);
  free(o.socket.data);
  return ok;
}

char *agent_socket_of(const char *conf, size_t len) {
  struct json j = {conf, len, 0, 0};
  struct conf_obj top = {0};
  char *found = NULL;
  if (whole(&j, conf_object, &top)) {
    found = copy_socket(&top);
    if (!found && top.plugins_at) {
      struct json pj = {conf, len, top.plugins_at - 1, 0};
      struct plugins p = {0};
      if (array(&pj, plugin_element, &p)) {
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

bool json_put_string(struct buf *b, const char *s, size_t n) {
  if (!buf_put(b, "\"", 1)) return false;
  for (size_t k = 0; k < n; k++) {
    unsigned char c = (unsigned char)s[k];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c;
      if (!buf_put(b, esc, 2)) return false;
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      if (!buf_put(b, esc, 6)) return false;
    } else if (!buf_put(b, &c, 1)) {
      return false;
    }
  }
  return buf_put(b, "\"", 1);
}

struct answer {
  bool has_code;
  long code;
  size_t out_start, out_end;
};

static bool answer_member(void *ctx, const char *key, struct json *j) {
  struct answer *a = ctx;
  size_t start = j->i;
  if (!value(j)) return false;
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

static bool answer_object(struct json *j, void *ctx) { return peek(j, '{') && object(j, answer_member, ctx); }

bool parse_answer(const char *body, size_t len, int *exit_code, const char **output, size_t *output_len) {
  struct json j = {body, len, 0, 0};
  struct answer a = {0};
  if (!whole(&j, answer_object, &a) || !a.has_code) return false;
  *exit_code = (int)(a.code & 0xff);
  *output = a.out_end ? body + a.out_start : NULL;
  *output_len = a.out_end - a.out_start;
  return true;
}
