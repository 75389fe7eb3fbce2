/*
 * json.h - libherd's one JSON (not installed): the grammar (json.c), the
 * tree reader herd_json_parse (jsonparse.c), the writer and
 * herd_json_stringify (jsonwrite.c, jsonstr.c), used by the channel
 * (a validating scan, no tree), the public API and the V8 mapping
 * (v8ser_json.c, v8ser_jsonr.c), which adds its own rules on top.
 *
 * The text's bytes are UTF-8 read as Node reads them before JSON.parse
 * (the WHATWG decoder): each maximal ill-formed subsequence inside a
 * string is one U+FFFD. Outside strings any byte >= 0x80 is a syntax
 * error either way, so the scan accepts exactly what the reader does.
 */
#ifndef HERD_JSON_H
#define HERD_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "herd.h"

/* What the scan found, for a sink (below). */
enum {
  HERD__J_NULL,
  HERD__J_FALSE,
  HERD__J_TRUE,
  HERD__J_NUM,
  HERD__J_STR,
  HERD__J_ARR,
  HERD__J_OBJ
};

/*
 * A builder fed by the scan, token by token, in the text's order. tok is
 * the token's text (a string with its quotes, esc set if it holds a
 * backslash), off its offset in the text. Each returns 0, or a negative
 * code that ends the scan and is returned by it.
 */
struct herd__jsink {
  int (*scalar)(void *ctx, int type, const char *tok, size_t len, int esc,
                size_t off);
  int (*open)(void *ctx, int type, size_t off); /* HERD__J_ARR or _OBJ */
  int (*key)(void *ctx, const char *tok, size_t len, int esc, size_t off);
  int (*close)(void *ctx);
};

/*
 * One scan of a whole text: optional whitespace, one value, optional
 * whitespace (RFC 8259 as V8's JSON.parse reads it). Iterative: any
 * max_depth is safe for the stack.
 */
struct herd__jscan {
  /* in */
  const char *text;
  size_t len;
  unsigned max_depth;              /* containers one inside another */
  const struct herd__jsink *sink;  /* NULL: only validate */
  void *ctx;
  const char *key;                 /* a top-level member to find, or NULL */
  size_t klen;                     /* (ASCII, compared once decoded) */
  /* out */
  int is_object;                   /* the value is an object */
  const char *val;                 /* key's last value (raw), or NULL */
  size_t vlen;
  size_t fault;                    /* on failure: where it went wrong */
};

/* 0; -EINVAL (not one JSON text), HERD_EJSONDEPTH (nesting past
 * max_depth), or a sink's code; s->fault tells where. */
int herd__json_scan(struct herd__jscan *s);

/* JSON (the channel's calls). Keys are compared as JSON.parse sees them:
 * escapes decoded ("\u0063md" is "cmd"), the last of duplicate keys
 * counting. Nesting up to HERD_JSON_MAX_DEPTH.
 * validate: 0 if [text, text+len) is one JSON text, else -EINVAL.
 * member: if the text is an object with a top-level member KEY (ASCII),
 * 1 and the raw value's span; 0 if absent or not an object; -EINVAL if
 * malformed. */
int herd__json_validate(const char *text, size_t len);
/* validate, and give the raw value of the top-level "cmd" member of an
 * object (NULL if none) in the same pass */
int herd__json_validate_cmd(const char *text, size_t len, const char **cmd,
                            size_t *cmdlen);
int herd__json_member(const char *text, size_t len, const char *key,
                      const char **val, size_t *vlen);

/* The string token [text, text+len) (quotes included) as the string
 * JSON.parse makes of it, in WTF-8 (a lone surrogate escape kept as its
 * 3 bytes, an ill-formed byte sequence as U+FFFD). Writes at most cap
 * bytes to out (no NUL) and returns the whole decoded length (more than
 * cap: cut short), or -EINVAL if the span is not exactly one JSON
 * string. */
ssize_t herd__json_str(const char *text, size_t len, char *out, size_t cap);

/* The body of a string token already scanned (between its quotes) as
 * herd__json_str decodes it, into out (up to cap bytes; out may be NULL
 * with cap 0): the whole length. */
size_t herd__json_unescape(const char *s, size_t n, char *out, size_t cap);

/* The number token tok[0..len) (scanned) as JSON.parse reads it: the
 * nearest double, 1e400 Infinity, -0 kept. 0 or -ENOMEM. */
int herd__json_number(const char *tok, size_t len, double *out);

/* ---- writing ---- */

/* A growing text, or (fixed) a caller's buffer of cap bytes that takes
 * what fits while len counts it all. On a failure err is set (-ENOMEM,
 * or -EOVERFLOW past max bytes, 0 for no limit but memory) and later
 * writes do nothing; b is NUL-terminated once anything was written
 * (fixed: not before herd__jw_finish). */
struct herd__jw {
  char *b;
  size_t len, cap, max;
  int err, fixed;
};
#define HERD__JSON_MAX_TEXT 536870888u /* V8's longest string, 2^29 - 24
                                          units: JSON.stringify throws past
                                          it (a RangeError) */
void herd__jw_put(struct herd__jw *w, const void *p, size_t n);
void herd__jw_s(struct herd__jw *w, const char *s);
/* s[0..n) as a JSON string, as JSON.stringify quotes a string: '"' '\\'
 * and control characters escaped (\b \t \n \f \r, else \u00xx), lone
 * surrogates as \udxxx, the rest as it is. wtf8: s is WTF-8 (a tree's
 * string: a surrogate's 3 bytes are that surrogate); else UTF-8, where
 * they are ill-formed. Ill-formed sequences are U+FFFD each. */
void herd__jw_str(struct herd__jw *w, const char *s, size_t n, int wtf8);
/* x as JS's Number.prototype.toString (finite, not -0 for JSON). */
void herd__jw_num(struct herd__jw *w, double x);
/* Take the text: 0 and *out (NUL-terminated, *len bytes; len may be
 * NULL), or w->err (the text freed). */
int herd__jw_finish(struct herd__jw *w, char **out, size_t *len);

#endif
