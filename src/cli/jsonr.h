/*
 * jsonr.h - a small JSON reader (a tree) and writer (a string builder)
 * for the client side of herd's control protocol: `herd status` and
 * friends parse replies such as
 *   {"ok":true,"name":"web","workers":[{"slot":0,"pid":123,...}]}
 * and write requests with jw_*.
 *
 * Not thread-safe per value or builder; distinct values and builders may
 * be used from distinct threads. Nothing here is async-signal-safe.
 */
#ifndef HERD_CLI_JSONR_H
#define HERD_CLI_JSONR_H

#include <stddef.h>

typedef struct jv jv;

enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

/* Nesting limit of jv_parse: 64 arrays/objects deep is accepted, 65 is
 * an error (a bound on the recursion, so hostile input cannot exhaust
 * the stack). */
#define JV_MAX_DEPTH 64

/* Parse [text, text+len) as one JSON text (RFC 8259): any value at the
 * top, surrounded by optional whitespace; anything else after the value
 * is an error. text need not be NUL-terminated.
 *  - Numbers are doubles (integers beyond 2^53 round); a number whose
 *    magnitude overflows a double (1e400) is an error.
 *  - Strings are decoded to UTF-8, escapes included (\uXXXX surrogate
 *    pairs become one 4-byte character); \u0000 is kept (see jv_strlen).
 *    As JSON.parse in Node does, text that is not a character is not an
 *    error but becomes U+FFFD: a lone surrogate escape (\uD800), and each
 *    maximal ill-formed UTF-8 subsequence inside a string. So jv_str
 *    always gives valid UTF-8.
 *  - Object members keep their order; duplicate keys are all kept, and
 *    jv_get finds the LAST one (as JSON.parse does).
 * Returns a new tree (free it with jv_free), or NULL on a syntax error,
 * nesting deeper than JV_MAX_DEPTH, or an allocation failure. */
jv *jv_parse(const char *text, size_t len);

/* Free a tree returned by jv_parse (NULL is fine). Values reached through
 * jv_get/jv_at are borrowed parts of it: never free those. */
void jv_free(jv *v);

/* The JV_* type of v; JV_NULL for a NULL pointer too (so an absent member
 * and a null read alike; compare the pointer to tell them apart). */
int jv_type(const jv *v);

/* The value of member key of an object (the last one if the key repeats),
 * or NULL if v is not an object or has no such member. Keys compare as
 * bytes; a key holding \u0000 never matches a C string. */
const jv *jv_get(const jv *obj, const char *key);

/* Number of elements of an array or members of an object; 0 otherwise. */
size_t jv_len(const jv *v);

/* Element i of an array, or the value of member i of an object (pair it
 * with jv_key_at to walk an object in order); NULL if out of range or v
 * is neither. */
const jv *jv_at(const jv *arr, size_t i);

/* Key of member i of an object (NUL-terminated; it may hold \u0000), or
 * NULL if out of range or v is not an object. */
const char *jv_key_at(const jv *obj, size_t i);

/* Byte length of that key (counting any \u0000 inside), 0 if there is
 * none. */
size_t jv_key_len(const jv *obj, size_t i);

/* The number, or dflt if v is not a number (or NULL). A double: never
 * cast it to an integer type unchecked (1e10 or 1e300 in a pid is UB
 * there); use jv_int. */
double jv_num(const jv *v, double dflt);

/* A number that must be a whole one in [min, max]: 1 with *out set; 0 if
 * v is not a number (NULL, absent, null, another type: *out untouched);
 * -1 if it is a number with a fraction or outside [min, max] (*out
 * untouched). No out-of-range conversion happens on the way, whatever
 * the double (up to 1.8e308). */
int jv_int(const jv *v, long long min, long long max, long long *out);

/* The string (NUL-terminated, valid UTF-8, borrowed from the tree), or
 * dflt if v is not a string. */
const char *jv_str(const jv *v, const char *dflt);

/* Byte length of a string value (counting any \u0000 inside), 0 if v is
 * not a string. */
size_t jv_strlen(const jv *v);

/* 1 or 0 for true or false, or dflt if v is not a boolean. */
int jv_bool(const jv *v, int dflt);

/*
 * A growing buffer to write JSON into:
 *   struct jw w; jw_init(&w);
 *   jw_raw(&w, "{\"cmd\":", 7); jw_str(&w, name, strlen(name)); jw_raw(&w, "}", 1);
 *   if (!w.err) send(w.buf, w.len); jw_free(&w);
 * On an allocation failure err becomes 1 and every later call does
 * nothing, so a sequence of writes needs one check at the end; buf then
 * holds what was written before the failure. buf, when not NULL, is
 * always NUL-terminated (buf[len] == '\0').
 */
struct jw {
  char *buf;
  size_t len, cap;
  int err;
};

/* Start empty (buf NULL, len 0, err 0); no allocation. */
void jw_init(struct jw *w);

/* Free the buffer and start empty again. */
void jw_free(struct jw *w);

/* Append n bytes as they are (the caller's JSON syntax). */
void jw_raw(struct jw *w, const char *s, size_t n);

/* Append printf-formatted text, as it is (numbers, punctuation; for
 * strings use jw_str). An encoding error in vsnprintf sets err too. */
void jw_printf(struct jw *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append [s, s+n) as a quoted JSON string: '"' and '\\' escaped, control
 * characters as \n, \t, \r, \b, \f or \u00XX (NUL included), and each
 * maximal ill-formed UTF-8 subsequence replaced by U+FFFD, so the output
 * is always valid JSON and valid UTF-8 whatever the bytes. */
void jw_str(struct jw *w, const char *s, size_t n);

/* Length (1-4) of the well-formed UTF-8 character at s (n > 0 bytes
 * available), or 0 if the bytes there are ill-formed; then *bad is the
 * length of the maximal ill-formed subsequence, which one U+FFFD stands
 * for (Unicode 15, section 3.9: the longest prefix of a well-formed
 * sequence, at least one byte). Shared with conf.c. */
size_t jv_utf8_len(const unsigned char *s, size_t n, size_t *bad);

#endif
