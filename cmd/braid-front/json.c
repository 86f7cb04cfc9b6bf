/*
 * The little JSON the front door needs (see json.h): a strict parser, what JSON.parse accepts,
 * bounded in depth; and string literals for the request.
 */
#include "json.h"
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

void json_ws(struct json *j) {
  while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r')) j->i++;
}

bool json_peek(struct json *j, char c) {
  json_ws(j);
  return j->i < j->n && j->s[j->i] == c;
}

static bool eat(struct json *j, char c) {
  if (!json_peek(j, c)) return false;
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
bool json_string(struct json *j, struct buf *out) {
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


/* An object at the cursor; fn (or, without fn, json_value()) consumes each member's value. */
bool json_object(struct json *j, member_fn fn, void *ctx) {
  if (!eat(j, '{') || ++j->depth > MAX_DEPTH) return false;
  struct buf key = {0};
  bool ok = false;
  if (eat(j, '}')) ok = true;
  else
    for (;;) {
      key.len = 0;
      if (!json_string(j, &key) || !buf_put(&key, "", 0) || !eat(j, ':')) break;
      json_ws(j);
      if (!(fn ? fn(ctx, key.data, j) : json_value(j))) break;
      if (eat(j, ',')) continue;
      ok = eat(j, '}');
      break;
    }
  free(key.data);
  j->depth--;
  return ok;
}

bool json_array(struct json *j, member_fn fn, void *ctx) {
  if (!eat(j, '[') || ++j->depth > MAX_DEPTH) return false;
  bool ok = false;
  if (eat(j, ']')) ok = true;
  else
    for (;;) {
      json_ws(j);
      if (!(fn ? fn(ctx, NULL, j) : json_value(j))) break;
      if (eat(j, ',')) continue;
      ok = eat(j, ']');
      break;
    }
  j->depth--;
  return ok;
}

bool json_value(struct json *j) {
  json_ws(j);
  if (j->i >= j->n) return false;
  switch (j->s[j->i]) {
    case '{': return json_object(j, NULL, NULL);
    case '[': return json_array(j, NULL, NULL);
    case '"': return json_string(j, NULL);
    case 't': return literal(j, "true");
    case 'f': return literal(j, "false");
    case 'n': return literal(j, "null");
    default: return number(j);
  }
}

/* A whole document: one value and nothing but white space after it. */
bool json_whole(struct json *j, bool (*parse)(struct json *, void *), void *ctx) {
  if (!parse(j, ctx)) return false;
  json_ws(j);
  return j->i == j->n;
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

