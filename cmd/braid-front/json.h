/*
 * A strict JSON reader (what JSON.parse accepts), bounded in depth, over a buffer: enough to find
 * a few keys (conf.c) without building a tree.
 */
#ifndef BRAID_JSON_H
#define BRAID_JSON_H

#include "front.h"

struct json {
  const char *s;
  size_t n, i;
  int depth;
};

/* Skips white space; json_peek() also says whether the next character is c. */
void json_ws(struct json *j);
bool json_peek(struct json *j, char c);
/* A string literal at the cursor, decoded into out (when not NULL; NUL-terminated by the caller). */
bool json_string(struct json *j, struct buf *out);
/* Any value at the cursor, skipped. */
bool json_value(struct json *j);
/* An object (key given) or array (key NULL) at the cursor: fn consumes each member's value
 * (without fn, json_value() does). */
typedef bool (*member_fn)(void *ctx, const char *key, struct json *j);
bool json_object(struct json *j, member_fn fn, void *ctx);
bool json_array(struct json *j, member_fn fn, void *ctx);
/* A whole document: parse() and then nothing but white space. */
bool json_whole(struct json *j, bool (*parse)(struct json *, void *), void *ctx);

#endif
