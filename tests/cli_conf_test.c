/*
 * cli_conf_test.c - the herd program's JSON: how it reads (jval.h, on
 * libherd's herd_json_parse) and writes (jw.h, strings quoted by
 * herd_json_quote); and its config parser (src/cli/conf).
 *
 * Inputs are copied into buffers of their exact size, so under ASan a
 * read past the end (the parsers take a length, not a NUL) fails the test.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/cli/conf.h"
#include "../src/cli/cli.h"
#include "../src/cli/jval.h"
#include "../src/cli/jw.h"
#include "test.h"
#include "refutf8.h"

/* A copy of [s, s+n) in a buffer of exactly n bytes (1 if n is 0). */
static char *exact(const char *s, size_t n) {
  char *b = malloc(n ? n : 1);
  CHECK(b);
  if (n)
    memcpy(b, s, n);
  else
    b[0] = '\0';
  return b;
}

static herd_val_t *parse_n(const char *s, size_t n) {
  char *b = exact(s, n);
  herd_val_t *v = jparse(b, n);
  free(b);
  return v;
}

static herd_val_t *parse(const char *s) { return parse_n(s, strlen(s)); }

#define CHECK_BYTES(p, n, want, wantn)                                       \
  do {                                                                       \
    size_t n_ = (n), wn_ = (wantn);                                          \
    CHECK_MSG(n_ == wn_ && memcmp((p), (want), n_) == 0,                     \
              "%s: %zu bytes, expected %zu", #p, n_, wn_);                   \
  } while (0)

/* ---- JSON reader: herd_json_parse, as the program reads with it ---- */

/* (jval.h reads values; these look at a tree's shape) */
static int jtype(const herd_val_t *v) { return v ? v->type : HERD_VAL_NULL; }

/* members of an object, elements of an array (holes too) */
static size_t jcount(const herd_val_t *v) {
  if (!v || (v->type != HERD_VAL_OBJECT && v->type != HERD_VAL_ARRAY))
    return 0;
  return v->type == HERD_VAL_ARRAY ? v->obj.length : v->obj.n;
}

/* member i's key (NULL for an index key, or none) and its length */
static const char *jkey(const herd_val_t *v, size_t i) {
  return jtype(v) == HERD_VAL_OBJECT && i < v->obj.n ? v->obj.props[i].key : NULL;
}

static size_t jkeylen(const herd_val_t *v, size_t i) {
  return jkey(v, i) ? v->obj.props[i].key_len : 0;
}

TEST(cli_json_parses_a_status_reply) {
  const char *t =
      "{\"ok\":true,\"name\":\"web\",\"workers\":[{\"slot\":0,\"pid\":123,"
      "\"state\":\"ready\",\"rss\":1234},{\"slot\":1,\"pid\":124,\"state\":"
      "\"starting\",\"rss\":null}],\"error\":null}";
  herd_val_t *v = parse(t);
  CHECK(v);
  CHECK(jtype(v) == HERD_VAL_OBJECT);
  CHECK_EQ(jcount(v), 4);
  CHECK_EQ(jbool(jget(v, "ok"), 0), 1);
  CHECK_STR(jstr(jget(v, "name"), NULL), "web");
  const herd_val_t *w = jget(v, "workers");
  CHECK(jtype(w) == HERD_VAL_ARRAY);
  CHECK_EQ(jcount(w), 2);
  CHECK_EQ(jnum(jget(jat(w, 0), "pid"), -1), 123);
  CHECK_STR(jstr(jget(jat(w, 1), "state"), NULL), "starting");
  CHECK_EQ(jnum(jget(jat(w, 0), "rss"), -1), 1234);
  /* null member: present, typed null, read with the default */
  const herd_val_t *rss = jget(jat(w, 1), "rss");
  CHECK(rss != NULL);
  CHECK(jtype(rss) == HERD_VAL_NULL);
  CHECK_EQ(jnum(rss, -1), -1);
  CHECK(jget(v, "missing") == NULL);
  CHECK(jat(w, 2) == NULL);
  CHECK_STR(jkey(v, 2), "workers");
  CHECK(jkey(v, 4) == NULL);
  herd_val_free(v);
}

TEST(cli_json_scalars_at_top_and_whitespace) {
  herd_val_t *v = parse(" \t\r\n true \n");
  CHECK(v && jtype(v) == HERD_VAL_BOOL && jbool(v, 0) == 1);
  herd_val_free(v);
  v = parse("false");
  CHECK(v && jbool(v, 1) == 0);
  herd_val_free(v);
  v = parse("null");
  CHECK(v && jtype(v) == HERD_VAL_NULL);
  herd_val_free(v);
  v = parse("\"x\"");
  CHECK(v && jtype(v) == HERD_VAL_STRING);
  CHECK_STR(jstr(v, NULL), "x");
  herd_val_free(v);
  v = parse("[ ]");
  CHECK(v && jtype(v) == HERD_VAL_ARRAY && jcount(v) == 0);
  herd_val_free(v);
  v = parse("{ }");
  CHECK(v && jtype(v) == HERD_VAL_OBJECT && jcount(v) == 0);
  herd_val_free(v);
  v = parse("[ 1 , \"a\" , [ ] , { \"k\" : [ null ] } ]");
  CHECK(v && jcount(v) == 4);
  CHECK(jtype(jat(jget(jat(v, 3), "k"), 0)) == HERD_VAL_NULL);
  herd_val_free(v);
  /* the length bounds the text, not a NUL */
  v = parse_n("123456", 3);
  CHECK(v && jnum(v, 0) == 123);
  herd_val_free(v);
  v = parse_n("[1]]", 3);
  CHECK(v && jcount(v) == 1);
  herd_val_free(v);
  CHECK(jparse(NULL, 0) == NULL);
  herd_val_t *o;
  CHECK_EQ(herd_json_parse(NULL, 1, &o, NULL), -EINVAL);
}

TEST(cli_json_numbers) {
  struct {
    const char *t;
    double want;
  } ok[] = {
      {"0", 0},          {"-0", -0.0},        {"1e3", 1000},
      {"1E+3", 1000},    {"1e-2", 0.01},      {"-1.25e-2", -0.0125},
      {"0.5", 0.5},      {"123456789", 123456789},
      /* above 2^53 a double rounds: 2^53 + 1 reads as 2^53 */
      {"9007199254740993", 9007199254740992.0},
      {"12345678901234567890", 12345678901234567890.0},
      {"1e-400", 0}, /* underflow to 0 is fine */
      {"1.7976931348623157e308", 1.7976931348623157e308},
      /* beyond a double: Infinity, as JSON.parse reads it */
      {"1e400", INFINITY},   {"-1e400", -INFINITY},
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    herd_val_t *v = parse(ok[i].t);
    CHECK_MSG(v && jtype(v) == HERD_VAL_NUMBER, "%s refused", ok[i].t);
    CHECK_MSG(jnum(v, 42) == ok[i].want, "%s read as %.17g", ok[i].t,
              jnum(v, 42));
    herd_val_free(v);
  }
  herd_val_t *v = parse("-0");
  CHECK(signbit(jnum(v, 1)));
  herd_val_free(v);
  /* a number longer than any stack buffer */
  char big[400];
  memset(big, '1', sizeof big - 1);
  big[0] = '0';
  big[1] = '.';
  big[sizeof big - 1] = '\0';
  v = parse(big);
  CHECK(v && jnum(v, 0) > 0.11 && jnum(v, 0) < 0.12);
  herd_val_free(v);
  const char *bad[] = {"01", "-01", "00", "1.", ".5", "+1", "-", "1e", "1e+",
                       "1.e3", "0x10", "NaN", "Infinity", "-Infinity",
                       "1 2", "1,", "- 1", "2a"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    herd_val_t *b = parse(bad[i]);
    CHECK_MSG(!b, "%s accepted", bad[i]);
  }
}

/* A reply's number cast to an integer unchecked was UB for 1e10 in an
 * int, and for 1e300 or 2^63 in anything (UBSan: float-cast-overflow). */
TEST(cli_json_int_is_range_checked_before_any_cast) {
  struct {
    const char *t;
    long long min, max;
    int r;
    long long want;
  } c[] = {
      {"0", 0, 10, 0, 0},
      {"-0", 0, 10, 0, 0},
      {"10", 0, 10, 0, 10},
      {"11", 0, 10, -ERANGE, 0},
      {"-1", 0, 10, -ERANGE, 0},
      {"1.5", 0, 10, -ERANGE, 0},
      {"1e1", 0, 10, 0, 10},
      {"1e10", 0, 2147483647, -ERANGE, 0},
      {"1e300", LLONG_MIN, LLONG_MAX, -ERANGE, 0},
      {"-1e300", LLONG_MIN, LLONG_MAX, -ERANGE, 0},
      {"1.7976931348623157e308", LLONG_MIN, LLONG_MAX, -ERANGE, 0},
      /* 2^63 - 1 reads as 2^63, one past LLONG_MAX */
      {"9223372036854775807", LLONG_MIN, LLONG_MAX, -ERANGE, 0},
      {"-9223372036854775808", LLONG_MIN, LLONG_MAX, 0, LLONG_MIN},
      {"9223372036854774784", LLONG_MIN, LLONG_MAX, 0, 9223372036854774784LL},
      {"9007199254740993", 0, LLONG_MAX, 0, 9007199254740992LL},
      {"4.9e-324", LLONG_MIN, LLONG_MAX, -ERANGE, 0},
      {"1e-400", 0, 1, 0, 0}, /* underflow: 0 */
      {"1e400", LLONG_MIN, LLONG_MAX, -ERANGE, 0}, /* Infinity */
      {"\"5\"", 0, 10, -EINVAL, 0},
      {"null", 0, 10, -EINVAL, 0},
      {"true", 0, 10, -EINVAL, 0},
      {"[1]", 0, 10, -EINVAL, 0},
  };
  for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
    herd_val_t *v = parse(c[i].t);
    CHECK_MSG(v, "%s refused", c[i].t);
    long long x = 42;
    int r = jint(v, c[i].min, c[i].max, &x);
    CHECK_MSG(r == c[i].r, "%s: %d, expected %d", c[i].t, r, c[i].r);
    CHECK_MSG(x == (r == 0 ? c[i].want : 42), "%s: %lld", c[i].t, x);
    herd_val_free(v);
  }
  long long x = 42;
  CHECK_EQ(jint(NULL, 0, 1, &x), -EINVAL);
  CHECK_EQ(x, 42);
}

TEST(cli_json_key_len_counts_a_nul) {
  herd_val_t *v = parse("{\"a\\u0000b\":1,\"\":2}");
  CHECK(v);
  CHECK_EQ(jkeylen(v, 0), 3);
  CHECK(!memcmp(jkey(v, 0), "a\0b", 4));
  CHECK_EQ(jkeylen(v, 1), 0);
  CHECK_STR(jkey(v, 1), "");
  CHECK_EQ(jkeylen(v, 2), 0);
  CHECK_EQ(jkeylen(jget(v, ""), 0), 0);
  herd_val_free(v);
}

TEST(cli_json_rejects_each_kind_of_error) {
  const char *bad[] = {
      "", " ", "tru", "nul", "falsey", "True", "[", "]", "{", "}", "[1,]",
      "[,1]", "[1 2]", "[1,,2]", "{\"a\":1,}", "{\"a\"}", "{\"a\":}",
      "{a:1}", "{'a':1}", "{\"a\" 1}", "{\"a\":1 \"b\":2}", "{1:2}", "{}}",
      "[]]", "[] x", "\"abc", "\"\\", "\"\\\"", "'a'", "\"a\\x\"", "\"\\u12\"",
      "\"\\u12G4\"", "\"\\U00000041\"", "\"a\tb\"", "\"\n\"", "\"\x01\"",
      "\"\x1f\"", "\xef\xbb\xbf\x31", /* a BOM, then 1 */
      "\xc3\xa9", /* UTF-8 outside a string */
      "/* c */ 1", "1 // c",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    herd_val_t *v = parse(bad[i]);
    CHECK_MSG(!v, "bad[%zu] \"%s\" accepted", i, bad[i]);
  }
  /* a NUL inside the length is junk after the value */
  herd_val_t *v = parse_n("[1]\0", 4);
  CHECK(!v);
  v = parse_n("\"a\0b\"", 5); /* raw NUL in a string: a control char */
  CHECK(!v);
}

static char *nest(const char *open, const char *close, int depth) {
  size_t lo = strlen(open), lc = strlen(close);
  char *s = malloc((lo + lc) * (size_t)depth + 2);
  CHECK(s);
  size_t n = 0;
  for (int i = 0; i < depth; i++, n += lo)
    memcpy(s + n, open, lo);
  s[n++] = '1';
  for (int i = 0; i < depth; i++, n += lc)
    memcpy(s + n, close, lc);
  s[n] = '\0';
  return s;
}

/* HERD_JSON_MAX_DEPTH arrays and objects deep is read; one more is
 * refused (the control protocol's reader stopped at 64 before it was
 * libherd's). */
TEST(cli_json_depth_limit_is_the_librarys) {
  char *s = nest("[", "]", HERD_JSON_MAX_DEPTH);
  herd_val_t *v = parse(s);
  CHECK(v);
  const herd_val_t *p = v;
  for (int i = 0; i < HERD_JSON_MAX_DEPTH; i++)
    p = jat(p, 0);
  CHECK_EQ(jnum(p, 0), 1);
  herd_val_free(v);
  free(s);
  s = nest("[", "]", HERD_JSON_MAX_DEPTH + 1);
  herd_val_t *w = (herd_val_t *)1;
  size_t used = 0;
  CHECK_EQ(herd_json_parse(s, strlen(s), &w, &used), HERD_EJSONDEPTH);
  CHECK(w == NULL && used == HERD_JSON_MAX_DEPTH);
  free(s);
  s = nest("{\"a\":", "}", HERD_JSON_MAX_DEPTH);
  v = parse(s);
  CHECK(v);
  herd_val_free(v);
  free(s);
  s = nest("{\"a\":[", "]}", HERD_JSON_MAX_DEPTH / 2 + 1); /* mixed */
  CHECK(!parse(s));
  free(s);
  s = nest("{\"a\":[", "]}", HERD_JSON_MAX_DEPTH / 2);
  v = parse(s);
  CHECK(v);
  herd_val_free(v);
  free(s);
  /* hostile depth: refused, not a stack overflow */
  s = nest("[", "]", 1000000);
  CHECK(!parse(s));
  free(s);
}

TEST(cli_json_string_escapes_and_surrogates) {
  struct {
    const char *t;
    const char *want;
    size_t n;
  } c[] = {
      {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
      {"\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6},
      {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4}, /* U+1F600 */
      {"\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4}, /* U+10FFFF */
      /* a lone surrogate is kept, as a JS string keeps it: WTF-8 */
      {"\"\\ud800\"", "\xed\xa0\x80", 3},            /* lone high */
      {"\"\\udc00x\"", "\xed\xb0\x80x", 4},          /* lone low */
      {"\"\\ud800\\u0041\"", "\xed\xa0\x80" "A", 4}, /* high, no low */
      {"\"\\ud800\\ud800\\udc00\"", "\xed\xa0\x80\xf0\x90\x80\x80", 7},
      {"\"\\ud800\\\"\"", "\xed\xa0\x80\"", 4},
      {"\"a\\u0000b\"", "a\0b", 3},
      {"\"\\u0000\"", "\0", 1},
      {"\"\"", "", 0},
      {"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
       "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9}, /* valid UTF-8 kept */
      {"\"\x7f\"", "\x7f", 1},                     /* DEL is not a control */
  };
  for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
    herd_val_t *v = parse(c[i].t);
    CHECK_MSG(v && jtype(v) == HERD_VAL_STRING, "c[%zu] refused", i);
    CHECK_BYTES(jstr(v, NULL), jstrlen(v), c[i].want, c[i].n);
    CHECK_EQ(jstr(v, NULL)[jstrlen(v)], '\0');
    herd_val_free(v);
  }
}

TEST(cli_json_invalid_utf8_in_strings_becomes_fffd) {
#define FFFD "\xef\xbf\xbd"
  struct {
    const char *t;
    const char *want;
  } c[] = {
      {"\"\xff\"", FFFD},
      {"\"a\x80z\"", "a" FFFD "z"},
      {"\"\xe2\x82\"", FFFD},            /* truncated: one for both */
      {"\"\xe2\x82z\"", FFFD "z"},
      {"\"\xc0\xaf\"", FFFD FFFD},       /* overlong: each byte */
      {"\"\xed\xa0\x80\"", FFFD FFFD FFFD}, /* an encoded surrogate */
      {"\"\xf4\x90\x80\x80\"", FFFD FFFD FFFD FFFD}, /* past U+10FFFF */
      {"\"\xf0\x9f\x98\"", FFFD},
  };
  for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
    herd_val_t *v = parse(c[i].t);
    CHECK_MSG(v, "c[%zu] refused", i);
    CHECK_BYTES(jstr(v, NULL), jstrlen(v), c[i].want, strlen(c[i].want));
    herd_val_free(v);
  }
  /* in a key too */
  herd_val_t *v = parse("{\"\xff\":1}");
  CHECK(v);
  CHECK_EQ(jnum(jget(v, FFFD), 0), 1);
  herd_val_free(v);
#undef FFFD
}

TEST(cli_json_objects_duplicates_and_keys) {
  /* as JSON.parse: a key met again keeps its first place, the last value */
  herd_val_t *v = parse("{\"a\":1,\"b\":2,\"a\":3}");
  CHECK(v);
  CHECK_EQ(jcount(v), 2);
  CHECK_EQ(jnum(jget(v, "a"), 0), 3);
  CHECK_STR(jkey(v, 0), "a");
  CHECK_STR(jkey(v, 1), "b");
  CHECK(jkey(v, 2) == NULL);
  CHECK(jget(v, "") == NULL);
  herd_val_free(v);
  /* index keys first, ascending; __proto__ is a key like any other */
  v = parse("{\"b\":1,\"7\":2,\"__proto__\":3,\"0\":4,\"7\":5}");
  CHECK(v && jcount(v) == 4 && v->obj.nindex == 2);
  CHECK(jkey(v, 0) == NULL && v->obj.props[0].index == 0);
  CHECK_EQ(jnum(v->obj.props[1].value, 0), 5);
  CHECK_STR(jkey(v, 2), "b");
  CHECK_STR(jkey(v, 3), "__proto__");
  CHECK_EQ(jnum(jget(v, "__proto__"), 0), 3);
  herd_val_free(v);
  /* a key with \u0000 never matches the C string cut at the NUL */
  v = parse("{\"a\\u0000b\":1,\"\":2}");
  CHECK(v);
  CHECK(jget(v, "a") == NULL);
  CHECK(jget(v, "ab") == NULL);
  CHECK_EQ(jnum(jget(v, ""), 0), 2);
  CHECK_BYTES(jkey(v, 0), 3, "a\0b", 3);
  herd_val_free(v);
  /* access on the wrong type: NULL or the default, never a crash */
  v = parse("[1,\"s\",true]");
  CHECK(v);
  CHECK(jget(v, "a") == NULL);
  CHECK(jkey(v, 0) == NULL);
  CHECK_EQ(jnum(jat(v, 1), -1), -1);
  CHECK_STR(jstr(jat(v, 0), "dflt"), "dflt");
  CHECK_EQ(jstrlen(jat(v, 0)), 0);
  CHECK_EQ(jbool(jat(v, 0), 7), 7);
  CHECK_EQ(jbool(jat(v, 2), 7), 1);
  CHECK_EQ(jlen(jat(v, 1)), 0);
  CHECK(jat(v, 3) == NULL);
  herd_val_free(v);
  CHECK_EQ(jlen(NULL), 0);
  CHECK(jat(NULL, 0) == NULL);
  CHECK(jget(NULL, "a") == NULL);
  CHECK_EQ(jnum(NULL, 5), 5);
  CHECK(jstr(NULL, NULL) == NULL);
  herd_val_free(NULL);
}

TEST(cli_json_every_prefix_is_refused_cleanly) {
  const char *t = "{\"ok\":true,\"a\":[1,-2.5e+3,\"x\\u00e9\\ud83d\\ude00\","
                  "null,false,{\"b\":{}}],\"c\":\"\\n\"}";
  size_t n = strlen(t);
  herd_val_t *v = parse(t);
  CHECK(v);
  herd_val_free(v);
  for (size_t i = 0; i < n; i++) {
    v = parse_n(t, i);
    CHECK_MSG(!v, "prefix of %zu bytes accepted", i);
  }
}

/* ---- JSON writer ---- */

static void jw_check_str(const char *in, size_t n, const char *want) {
  struct jw w;
  jw_init(&w);
  jw_str(&w, in, n);
  CHECK(!w.err);
  CHECK_MSG(w.len == strlen(want) && !memcmp(w.buf, want, w.len),
            "jw_str gave %s, expected %s", w.buf, want);
  CHECK_EQ(w.buf[w.len], '\0');
  jw_free(&w);
}

TEST(cli_jw_str_escapes) {
  jw_check_str("", 0, "\"\"");
  jw_check_str(NULL, 0, "\"\"");
  jw_check_str("plain", 5, "\"plain\"");
  jw_check_str("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
  jw_check_str("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
  jw_check_str("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
  jw_check_str("a\0b", 3, "\"a\\u0000b\"");
  jw_check_str("/", 1, "\"/\"");
  jw_check_str("\xc3\xa9\xf0\x9f\x98\x80", 6, "\"\xc3\xa9\xf0\x9f\x98\x80\"");
  /* ill-formed UTF-8: U+FFFD per maximal subpart */
  jw_check_str("\xff", 1, "\"\xef\xbf\xbd\"");
  jw_check_str("\xe2\x82", 2, "\"\xef\xbf\xbd\"");
  jw_check_str("\xe2\x82" "A", 3, "\"\xef\xbf\xbd" "A\"");
  jw_check_str("\xe2\x82\"", 3, "\"\xef\xbf\xbd\\\"\"");
  jw_check_str("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
  jw_check_str("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
  jw_check_str("\xf4\x90\x80\x80", 4,
               "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
  jw_check_str("\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\"");
}

TEST(cli_jw_builds_and_grows) {
  struct jw w;
  jw_init(&w);
  CHECK(w.buf == NULL && w.len == 0 && w.err == 0);
  jw_raw(&w, NULL, 0);
  CHECK(w.buf && w.len == 0 && w.buf[0] == '\0');
  jw_raw(&w, "{\"cmd\":", 7);
  jw_str(&w, "status", 6);
  jw_printf(&w, ",\"n\":%d,\"pad\":\"%600s\"", 42, "x"); /* past 256 */
  jw_raw(&w, "}", 1);
  CHECK(!w.err);
  CHECK_EQ(w.len, strlen(w.buf));
  herd_val_t *v = jparse(w.buf, w.len);
  CHECK(v);
  CHECK_STR(jstr(jget(v, "cmd"), NULL), "status");
  CHECK_EQ(jnum(jget(v, "n"), 0), 42);
  CHECK_EQ(jstrlen(jget(v, "pad")), 600);
  herd_val_free(v);
  /* many small writes */
  for (int i = 0; i < 100000; i++)
    jw_printf(&w, "%d", i % 10);
  CHECK(!w.err);
  CHECK_EQ(w.len, strlen(w.buf));
  jw_free(&w);
  CHECK(w.buf == NULL && w.len == 0 && w.cap == 0);
  /* after an error every call does nothing */
  jw_raw(&w, "ab", 2);
  w.err = 1;
  jw_raw(&w, "cd", 2);
  jw_printf(&w, "%s", "ef");
  jw_str(&w, "gh", 2);
  CHECK_EQ(w.len, 2);
  CHECK_STR(w.buf, "ab");
  jw_free(&w);
}

static uint32_t rnd_state = 12345;
static uint32_t rnd(void) {
  rnd_state = rnd_state * 1103515245u + 12345u;
  return rnd_state >> 16;
}

static int valid_utf8(const char *s, size_t n) {
  for (size_t i = 0, bad, k; i < n; i += k)
    if (!(k = ref_utf8_len((const unsigned char *)s + i, n - i, &bad)))
      return 0;
  return 1;
}

TEST(cli_jw_str_round_trips_through_herd_json_parse) {
  char all[256];
  for (int i = 0; i < 256; i++)
    all[i] = (char)i;
  char buf[64];
  for (int round = 0; round < 20001; round++) {
    const char *in = buf;
    size_t n;
    if (round == 0) {
      in = all;
      n = sizeof all;
    } else {
      n = rnd() % sizeof buf;
      for (size_t i = 0; i < n; i++) {
        /* mostly ASCII and UTF-8 lead/continuation bytes */
        uint32_t r = rnd() % 8;
        buf[i] = (char)(r < 3   ? rnd() % 0x80
                        : r < 6 ? 0x80 + rnd() % 0x40
                                : 0xc0 + rnd() % 0x40);
      }
    }
    struct jw w;
    jw_init(&w);
    jw_str(&w, in, n);
    CHECK(!w.err);
    CHECK(valid_utf8(w.buf, w.len));
    herd_val_t *v = jparse(w.buf, w.len);
    CHECK_MSG(v && v->type == HERD_VAL_STRING, "round %d: output not JSON", round);
    if (valid_utf8(in, n))
      CHECK_BYTES(jstr(v, NULL), jstrlen(v), in, n);
    /* what came back writes the same way again */
    struct jw w2;
    jw_init(&w2);
    jw_str(&w2, jstr(v, NULL), jstrlen(v));
    CHECK_BYTES(w2.buf, w2.len, w.buf, w.len);
    jw_free(&w2);
    herd_val_free(v);
    jw_free(&w);
  }
}

/* ---- config ---- */

static const char brief_conf[] =
    "# herd.conf\n"                                                    /* 1 */
    "[web]\n"                                                          /* 2 */
    "command = [\"./build/examples/hello-http\"]   # or a string\n"    /* 3 */
    "workers = 4\n"                                                    /* 4 */
    "listen = [\"127.0.0.1:8080\", \"[::1]:8080\"]\n"                  /* 5 */
    "ready = \"notify\"\n"                                             /* 6 */
    "kill_timeout = \"5s\"\n"                                          /* 7 */
    "env = { NODE_ENV = \"production\", PORT = \"3000\" }\n"           /* 8 */
    "ipc = true\n"                                                     /* 9 */
    "\n"                                                               /* 10 */
    "[api]\n"                                                          /* 11 */
    "command = [\"node\", \"server.js\"]\n";                           /* 12 */

static int cparse(const char *text, size_t n, struct conf *c, char *err,
                  size_t errlen) {
  char *b = exact(text, n);
  int r = conf_parse("t.conf", b, n, c, err, errlen);
  free(b);
  return r;
}

static void conf_ok(const char *text, struct conf *c) {
  char err[256];
  int r = cparse(text, strlen(text), c, err, sizeof err);
  CHECK_MSG(r == 0, "refused: %s", err);
}

static const struct conf_key *key_of(const struct conf_app *a, size_t i,
                                     const char *name, int kind, int line) {
  CHECK_MSG(i < a->nkeys, "[%s] has %zu keys, wanted #%zu", a->name,
            a->nkeys, i);
  const struct conf_key *k = &a->keys[i];
  CHECK_STR(k->key, name);
  CHECK_MSG(k->v.kind == kind, "%s is %s", name, conf_kind_name(k->v.kind));
  CHECK_EQ(k->line, line);
  CHECK_EQ(k->v.line, line);
  return k;
}

TEST(cli_conf_parses_the_example_of_the_brief) {
  struct conf c;
  conf_ok(brief_conf, &c);
  CHECK_STR(c.path, "t.conf");
  CHECK_EQ(c.napps, 2);
  const struct conf_app *a = &c.apps[0];
  CHECK_STR(a->name, "web");
  CHECK_EQ(a->line, 2);
  CHECK_EQ(a->nkeys, 7);
  const struct conf_key *k = key_of(a, 0, "command", CONF_ARRAY, 3);
  CHECK_EQ(k->v.nitems, 1);
  CHECK_EQ(k->v.items[0].kind, CONF_STR);
  CHECK_STR(k->v.items[0].str, "./build/examples/hello-http");
  CHECK_EQ(k->v.items[0].line, 3);
  CHECK_EQ(key_of(a, 1, "workers", CONF_INT, 4)->v.num, 4);
  k = key_of(a, 2, "listen", CONF_ARRAY, 5);
  CHECK_EQ(k->v.nitems, 2);
  CHECK_STR(k->v.items[0].str, "127.0.0.1:8080");
  CHECK_STR(k->v.items[1].str, "[::1]:8080");
  CHECK_STR(key_of(a, 3, "ready", CONF_STR, 6)->v.str, "notify");
  CHECK_STR(key_of(a, 4, "kill_timeout", CONF_STR, 7)->v.str, "5s");
  k = key_of(a, 5, "env", CONF_TABLE, 8);
  CHECK_EQ(k->v.nitems, 2);
  CHECK_STR(k->v.keys[0], "NODE_ENV");
  CHECK_EQ(k->v.items[0].kind, CONF_STR);
  CHECK_STR(k->v.items[0].str, "production");
  CHECK_STR(k->v.keys[1], "PORT");
  CHECK_STR(k->v.items[1].str, "3000");
  CHECK_EQ(k->v.items[1].line, 8);
  CHECK_EQ(key_of(a, 6, "ipc", CONF_BOOL, 9)->v.boolean, 1);
  a = &c.apps[1];
  CHECK_STR(a->name, "api");
  CHECK_EQ(a->line, 11);
  CHECK_EQ(a->nkeys, 1);
  k = key_of(a, 0, "command", CONF_ARRAY, 12);
  CHECK_EQ(k->v.nitems, 2);
  CHECK_STR(k->v.items[0].str, "node");
  CHECK_STR(k->v.items[1].str, "server.js");
  /* both spellings find a key */
  CHECK(conf_get(&c.apps[0], "kill-timeout") == &c.apps[0].keys[4]);
  CHECK(conf_get(&c.apps[0], "kill_timeout") == &c.apps[0].keys[4]);
  CHECK(conf_get(&c.apps[0], "nope") == NULL);
  conf_free(&c);
  CHECK(c.apps == NULL && c.napps == 0 && c.path == NULL);
  conf_free(&c); /* twice is fine */
}

TEST(cli_conf_values) {
  struct conf c;
  conf_ok("[a]\n"
          "s1 = \"q\\\" b\\\\ n\\n t\\t r\\r b\\b f\\f \\u00e9 \\U0001F600\"\n"
          "s2 = 'C:\\path\\no escapes \"here\"'\n"
          "s3 = \"\"\n"
          "s4 = '' # empty\n"
          "s5 = \"caf\xc3\xa9 # not a comment\"\n"
          "i1 = +5\n"
          "i2 = -0\n"
          "i3 = 1_000_000\n"
          "i4 = 9223372036854775807\n"
          "i5 = -9223372036854775808\n"
          "i6 = 0\n"
          "b1 = false\n"
          "\"quoted key\" = 1\n"
          "'lit-key' = 2\n"
          "t1 = {}\n"
          "t2 = { 'a b' = 1, \"c\" = false, d = 'x' }\n"
          "a1 = []\n"
          "a2 = [ 1, \"two\", true, ]\n"
          "\tindented\t=\t3\t\n",
          &c);
  CHECK_EQ(c.napps, 1);
  const struct conf_app *a = &c.apps[0];
  CHECK_EQ(a->nkeys, 19);
  CHECK_STR(key_of(a, 0, "s1", CONF_STR, 2)->v.str,
            "q\" b\\ n\n t\t r\r b\b f\f \xc3\xa9 \xf0\x9f\x98\x80");
  CHECK_STR(key_of(a, 1, "s2", CONF_STR, 3)->v.str,
            "C:\\path\\no escapes \"here\"");
  CHECK_STR(key_of(a, 2, "s3", CONF_STR, 4)->v.str, "");
  CHECK_STR(key_of(a, 3, "s4", CONF_STR, 5)->v.str, "");
  CHECK_STR(key_of(a, 4, "s5", CONF_STR, 6)->v.str, "caf\xc3\xa9 # not a comment");
  CHECK_EQ(key_of(a, 5, "i1", CONF_INT, 7)->v.num, 5);
  CHECK_EQ(key_of(a, 6, "i2", CONF_INT, 8)->v.num, 0);
  CHECK_EQ(key_of(a, 7, "i3", CONF_INT, 9)->v.num, 1000000);
  CHECK(key_of(a, 8, "i4", CONF_INT, 10)->v.num == LLONG_MAX);
  CHECK(key_of(a, 9, "i5", CONF_INT, 11)->v.num == LLONG_MIN);
  CHECK_EQ(key_of(a, 10, "i6", CONF_INT, 12)->v.num, 0);
  CHECK_EQ(key_of(a, 11, "b1", CONF_BOOL, 13)->v.boolean, 0);
  CHECK_EQ(key_of(a, 12, "quoted key", CONF_INT, 14)->v.num, 1);
  CHECK_EQ(key_of(a, 13, "lit-key", CONF_INT, 15)->v.num, 2);
  CHECK_EQ(key_of(a, 14, "t1", CONF_TABLE, 16)->v.nitems, 0);
  const struct conf_key *k = key_of(a, 15, "t2", CONF_TABLE, 17);
  CHECK_EQ(k->v.nitems, 3);
  CHECK_STR(k->v.keys[0], "a b");
  CHECK_EQ(k->v.items[0].kind, CONF_INT);
  CHECK_EQ(k->v.items[0].num, 1);
  CHECK_STR(k->v.keys[1], "c");
  CHECK_EQ(k->v.items[1].kind, CONF_BOOL);
  CHECK_EQ(k->v.items[1].boolean, 0);
  CHECK_STR(k->v.keys[2], "d");
  CHECK_STR(k->v.items[2].str, "x");
  CHECK_EQ(key_of(a, 16, "a1", CONF_ARRAY, 18)->v.nitems, 0);
  k = key_of(a, 17, "a2", CONF_ARRAY, 19);
  CHECK_EQ(k->v.nitems, 3);
  CHECK_EQ(k->v.items[0].kind, CONF_INT);
  CHECK_EQ(k->v.items[1].kind, CONF_STR);
  CHECK_EQ(k->v.items[2].kind, CONF_BOOL);
  CHECK_EQ(key_of(a, 18, "indented", CONF_INT, 20)->v.num, 3);
  conf_free(&c);
}

TEST(cli_conf_multiline_arrays_with_comments) {
  struct conf c;
  conf_ok("# top\n"                           /* 1 */
          "\n"                                /* 2 */
          "[web]  # the web app\n"            /* 3 */
          "listen = [  # addresses\n"         /* 4 */
          "  \"127.0.0.1:8080\",\n"           /* 5 */
          "\n"                                /* 6 */
          "  # \"[::1]:8080\",\n"             /* 7 */
          "  \"unix:/tmp/s\"  ,  # last\n"    /* 8 */
          "]\n"                               /* 9 */
          "command = [\n"                     /* 10 */
          "  \"a\", 'b' # two on a line\n"    /* 11 */
          "  , \"c\"\n"                       /* 12 */
          "  ]   # done\n"                    /* 13 */
          "workers = 2\n",                    /* 14 */
          &c);
  CHECK_EQ(c.napps, 1);
  CHECK_EQ(c.apps[0].line, 3);
  const struct conf_key *k = key_of(&c.apps[0], 0, "listen", CONF_ARRAY, 4);
  CHECK_EQ(k->v.nitems, 2);
  CHECK_STR(k->v.items[0].str, "127.0.0.1:8080");
  CHECK_EQ(k->v.items[0].line, 5);
  CHECK_STR(k->v.items[1].str, "unix:/tmp/s");
  CHECK_EQ(k->v.items[1].line, 8);
  k = key_of(&c.apps[0], 1, "command", CONF_ARRAY, 10);
  CHECK_EQ(k->v.nitems, 3);
  CHECK_EQ(k->v.items[0].line, 11);
  CHECK_EQ(k->v.items[1].line, 11);
  CHECK_STR(k->v.items[2].str, "c");
  CHECK_EQ(k->v.items[2].line, 12);
  CHECK_EQ(key_of(&c.apps[0], 2, "workers", CONF_INT, 14)->v.num, 2);
  conf_free(&c);
  /* CRLF line ends, and no newline at the end */
  conf_ok("[web]\r\nx = [\r\n 1, # c\r\n 2,\r\n]\r\ny = 'v' # c\r\nz = 3", &c);
  CHECK_EQ(c.apps[0].nkeys, 3);
  CHECK_EQ(key_of(&c.apps[0], 0, "x", CONF_ARRAY, 2)->v.items[1].line, 4);
  CHECK_STR(key_of(&c.apps[0], 1, "y", CONF_STR, 6)->v.str, "v");
  CHECK_EQ(key_of(&c.apps[0], 2, "z", CONF_INT, 7)->v.num, 3);
  conf_free(&c);
}

TEST(cli_conf_quoted_table_names) {
  struct conf c;
  conf_ok("[\"web.v2\"]\nx = 1\n[ 'api-1_b' ]\n[ plain ]\n[\"a\"] # c\n", &c);
  CHECK_EQ(c.napps, 4);
  CHECK_STR(c.apps[0].name, "web.v2");
  CHECK_EQ(c.apps[0].nkeys, 1);
  CHECK_STR(c.apps[1].name, "api-1_b");
  CHECK_EQ(c.apps[1].line, 3);
  CHECK_EQ(c.apps[1].nkeys, 0);
  CHECK_STR(c.apps[2].name, "plain");
  CHECK_STR(c.apps[3].name, "a");
  conf_free(&c);
  /* 64 characters is the longest name */
  char t[128];
  snprintf(t, sizeof t, "[%.64s]\n",
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  conf_ok(t, &c);
  CHECK_EQ(strlen(c.apps[0].name), 64);
  conf_free(&c);
  /* the same name quoted and bare is one app */
  char err[256];
  CHECK_EQ(cparse("[web]\n[\"web\"]\n", 14, &c, err, sizeof err), -1);
  CHECK_STR(err, "t.conf:2: duplicate app 'web' (first at line 1)");
}

/* text must fail with exactly msg (after "t.conf:") */
static void conf_err(const char *text, size_t n, const char *msg) {
  struct conf c;
  char err[512];
  memset(&c, 0x5a, sizeof c);
  int r = cparse(text, n, &c, err, sizeof err);
  CHECK_MSG(r == -1, "accepted: %s", text);
  CHECK(c.apps == NULL && c.napps == 0 && c.path == NULL);
  char want[512];
  snprintf(want, sizeof want, "t.conf%s", msg);
  CHECK_MSG(!strcmp(err, want), "for %s\n  got      %s\n  expected %s", text,
            err, want);
  CHECK(!strchr(err, '\n'));
}

#define CONF_ERR(text, msg) conf_err((text), sizeof(text) - 1, (msg))

TEST(cli_conf_errors_name_the_line) {
  CONF_ERR("# c\n\nworkers = 4\n",
           ":3: key outside of an app table: put it under [NAME]");
  CONF_ERR("\"q\" = 4\n",
           ":1: key outside of an app table: put it under [NAME]");
  CONF_ERR("[web]\nx = 1\n\n[api]\n[web]\n",
           ":5: duplicate app 'web' (first at line 1)");
  CONF_ERR("[web]\nworkers = 4\n# c\nworkers = 5\n",
           ":4: 'workers' is set twice in [web] (first at line 2)");
  CONF_ERR("[web]\nkill_timeout = \"5s\"\nkill-timeout = \"1s\"\n",
           ":3: 'kill-timeout' is set twice in [web] (first at line 2, as "
           "'kill_timeout')");
  CONF_ERR("[web]\nx = [1,\n2,\n]\nx = 1\n",
           ":5: 'x' is set twice in [web] (first at line 2)");
  CONF_ERR("[web]\n\ncommand = \"abc\n",
           ":3: unterminated string: the closing \" is missing on this line");
  CONF_ERR("[web]\ncommand = \"abc\\\"\n",
           ":2: unterminated string: the closing \" is missing on this line");
  CONF_ERR("[web]\ncommand = \"abc\\",
           ":2: unterminated string: the closing \" is missing on this line");
  CONF_ERR("[web]\ncommand = 'abc\n",
           ":2: unterminated string: the closing ' is missing on this line");
  CONF_ERR("[web]\nx = [\"a\\\n\"]\n",
           ":2: unterminated string: the closing \" is missing on this line");
  CONF_ERR("[web]\nlisten = [\"a\",\n  \"b\",\n",
           ":2: unterminated array: the ']' for 'listen = [' is missing");
  CONF_ERR("[web]\nlisten = [\"a\" # c",
           ":2: unterminated array: the ']' for 'listen = [' is missing");
  CONF_ERR("[web]\nlisten = [\"a\"\n\"b\"]\n",
           ":3: expected ',' or ']' in the array of 'listen' (opened at line "
           "2), not '\"b\"'");
  CONF_ERR("[web]\nx = [1,,2]\n", ":2: missing value in the array of 'x'");
  CONF_ERR("[web]\nx = [,]\n", ":2: missing value in the array of 'x'");
  CONF_ERR("[web]\nx = [1, [2]]\n",
           ":2: nested arrays are not supported (in the array of 'x'): only "
           "strings, integers and booleans");
  CONF_ERR("[web]\nx = [{a = 1}]\n",
           ":2: nested tables are not supported (in the array of 'x'): only "
           "strings, integers and booleans");
  CONF_ERR("[web]\nenv = { A = { B = 1 } }\n",
           ":2: nested tables are not supported (for 'A' in an inline table): "
           "only strings, integers and booleans");
  CONF_ERR("[web]\nenv = { A = [1] }\n",
           ":2: nested arrays are not supported (for 'A' in an inline table): "
           "only strings, integers and booleans");
  CONF_ERR("[web]\nx = [1,\n  workers = 4\n",
           ":3: invalid value 'workers' in the array of 'x': expected a "
           "\"quoted string\", an integer, true or false");
  /* floats, dates */
  CONF_ERR("[web]\nx = 1.5\n",
           ":2: floats such as '1.5' are not supported: write an integer, or "
           "a string such as \"1.5s\"");
  CONF_ERR("[web]\nx = -2e3\n",
           ":2: floats such as '-2e3' are not supported: write an integer, "
           "or a string such as \"1.5s\"");
  CONF_ERR("[web]\nx = [1, 2.0]\n",
           ":2: floats such as '2.0' are not supported: write an integer, or "
           "a string such as \"1.5s\"");
  CONF_ERR("[web]\nx = inf\n",
           ":2: floats such as 'inf' are not supported: write an integer, or "
           "a string such as \"1.5s\"");
  CONF_ERR("[web]\nx = -nan\n",
           ":2: floats such as '-nan' are not supported: write an integer, or "
           "a string such as \"1.5s\"");
  CONF_ERR("[web]\nx = 1979-05-27\n",
           ":2: dates and times such as '1979-05-27' are not supported: "
           "write a string");
  CONF_ERR("[web]\nx = 1979-05-27T07:32:00Z\n",
           ":2: dates and times such as '1979-05-27T07:32:00Z' are not "
           "supported: write a string");
  CONF_ERR("[web]\nx = 07:32:00\n",
           ":2: dates and times such as '07:32:00' are not supported: write "
           "a string");
  /* integers */
  CONF_ERR("[web]\nx = 0x10\n",
           ":2: only decimal integers are supported, not '0x10'");
  CONF_ERR("[web]\nx = 007\n", ":2: leading zeros are not allowed in '007'");
  CONF_ERR("[web]\nx = 1__0\n",
           ":2: invalid integer '1__0' ('_' goes only between digits)");
  CONF_ERR("[web]\nx = 1_\n",
           ":2: invalid integer '1_' ('_' goes only between digits)");
  CONF_ERR("[web]\nx = 12ab\n",
           ":2: '12ab' is not a number: write it as a string, \"12ab\"");
  CONF_ERR("[web]\nkill_timeout = 5s # c\n",
           ":2: '5s' is not a number: write it as a string, \"5s\"");
  CONF_ERR("[web]\nx = 5sec\n",
           ":2: '5sec' is not a number: write it as a string, \"5sec\"");
  CONF_ERR("[web]\nx = [\"1s\", 2.5s]\n",
           ":2: '2.5s' is not a number: write it as a string, \"2.5s\"");
  CONF_ERR("[web]\nmax_memory = 200M\n",
           ":2: '200M' is not a number: write it as a string, \"200M\"");
  CONF_ERR("[web]\nx = 1_000.5\n",
           ":2: floats such as '1_000.5' are not supported: write an integer, "
           "or a string such as \"1.5s\"");
  CONF_ERR("[web]\nx = +1.5e-3\n",
           ":2: floats such as '+1.5e-3' are not supported: write an integer, "
           "or a string such as \"1.5s\"");
  CONF_ERR("[web]\nx = 9223372036854775808\n",
           ":2: integer '9223372036854775808' is out of range "
           "(-9223372036854775808..9223372036854775807)");
  CONF_ERR("[web]\nx = -9223372036854775809\n",
           ":2: integer '-9223372036854775809' is out of range "
           "(-9223372036854775808..9223372036854775807)");
  /* dotted keys, tables */
  CONF_ERR("[web]\nenv.PORT = \"1\"\n",
           ":2: dotted keys such as 'env.PORT' are not supported: use an "
           "inline table, env = { KEY = VALUE }");
  CONF_ERR("[web]\nenv = { a.b = 1 }\n",
           ":2: dotted keys such as 'a.b' are not supported in the inline "
           "table of 'env'");
  CONF_ERR("[web]\n[[web]]\n",
           ":2: arrays of tables ([[...]]) are not supported: write one "
           "[NAME] table per app");
  CONF_ERR("[web]\n[web.env]\n",
           ":2: [web.env] is a nested table, which is not supported: quote "
           "an app name that has a dot, [\"web.env\"]");
  CONF_ERR("[\"web\".env]\n",
           ":1: nested tables are not supported: write one [NAME] table per "
           "app");
  CONF_ERR("[web\n", ":1: expected ']' after '[web'");
  CONF_ERR("[we b]\n", ":1: expected ']' after '[we', not 'b]'");
  CONF_ERR("[]\n",
           ":1: expected an app name in [NAME] (1-64 of A-Z a-z 0-9 . _ -), "
           "not ']'");
  CONF_ERR("[\"we b\"]\n",
           ":1: invalid app name 'we b': use 1-64 of A-Z a-z 0-9 . _ - (not . "
           "or ..)");
  CONF_ERR("[\"\"]\n",
           ":1: invalid app name '': use 1-64 of A-Z a-z 0-9 . _ - (not . or "
           "..)");
  /* no TOML reader takes a dot without a name on each side */
  CONF_ERR("[..]\n",
           ":1: [..] is not a table name (a bare name has no empty part "
           "between dots): quote an app name that has a dot, [\"..\"]");
  CONF_ERR("[...]\n",
           ":1: [...] is not a table name (a bare name has no empty part "
           "between dots): quote an app name that has a dot, [\"...\"]");
  CONF_ERR("[.a]\n",
           ":1: [.a] is not a table name (a bare name has no empty part "
           "between dots): quote an app name that has a dot, [\".a\"]");
  CONF_ERR("[ a. ]\n",
           ":1: [a.] is not a table name (a bare name has no empty part "
           "between dots): quote an app name that has a dot, [\"a.\"]");
  CONF_ERR("[a..b]\n",
           ":1: [a..b] is not a table name (a bare name has no empty part "
           "between dots): quote an app name that has a dot, [\"a..b\"]");
  CONF_ERR("[\"..\"]\n",
           ":1: invalid app name '..': use 1-64 of A-Z a-z 0-9 . _ - (not . or "
           "..)");
  CONF_ERR("[\"a/b\"]\n",
           ":1: invalid app name 'a/b': use 1-64 of A-Z a-z 0-9 . _ - (not . "
           "or ..)");
  CONF_ERR("[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n",
           ":1: invalid app name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': use "
           "1-64 of A-Z a-z 0-9 . _ - (not . or ..)");
  CONF_ERR("[web] x\n",
           ":1: unexpected 'x' after [web]: expected the end of the line (or "
           "a # comment)");
  /* lines */
  CONF_ERR("[web]\n= 5\n",
           ":2: malformed line at '=': expected [NAME], KEY = VALUE or a # "
           "comment");
  CONF_ERR("[web]\n@x = 5\n",
           ":2: malformed line at '@x': expected [NAME], KEY = VALUE or a # "
           "comment");
  CONF_ERR("[web]\nworkers 4\n",
           ":2: expected '=' after 'workers' (KEY = VALUE)");
  CONF_ERR("[web]\nworkers\n",
           ":2: expected '=' after 'workers' (KEY = VALUE)");
  CONF_ERR("[web]\nworkers = 4 5\n",
           ":2: unexpected '5' after the value of 'workers': expected the end "
           "of the line (or a # comment)");
  CONF_ERR("[web]\nx = \"a\"\"b\"\n",
           ":2: unexpected '\"b\"' after the value of 'x': expected the end "
           "of the line (or a # comment)");
  CONF_ERR("[web]\nworkers =\n", ":2: missing value for 'workers'");
  CONF_ERR("[web]\nworkers = # c\n", ":2: missing value for 'workers'");
  CONF_ERR("[web]\nready = notify\n",
           ":2: invalid value 'notify' for 'ready': expected a \"quoted "
           "string\", an integer, true or false, [...] or { ... }");
  CONF_ERR("[web]\nipc = True\n",
           ":2: invalid value 'True' for 'ipc': expected a \"quoted "
           "string\", an integer, true or false, [...] or { ... }");
  CONF_ERR("[web]\ncommand = ./server --port 1\n",
           ":2: invalid value './server' for 'command': expected a \"quoted "
           "string\", an integer, true or false, [...] or { ... }");
  CONF_ERR("[web]\n\"\" = 1\n", ":2: empty key \"\"");
  /* strings */
  CONF_ERR("[web]\nx = \"a\\qb\"\n",
           ":2: invalid escape '\\q' in a string (\\\\ is a backslash; '...' "
           "strings take none)");
  CONF_ERR("[web]\nx = \"a\\ b\"\n",
           ":2: invalid escape in a string (\\\\ is a backslash; '...' "
           "strings take none)");
  /* \/ is JSON's, not TOML's (1.0 or 1.1) */
  CONF_ERR("[web]\nx = \"\\/\"\n",
           ":2: invalid escape '\\/' in a string (\\\\ is a backslash; '...' "
           "strings take none)");
  CONF_ERR("[web]\nx = \"\\u12\"\n", ":2: '\\u' needs 4 hex digits");
  CONF_ERR("[web]\nx = \"\\U0001F60\"\n", ":2: '\\U' needs 8 hex digits");
  CONF_ERR("[web]\nx = \"\\uD800\"\n",
           ":2: '\\uD800' is not a Unicode character (a surrogate or past "
           "10FFFF)");
  CONF_ERR("[web]\nx = \"\\U00110000\"\n",
           ":2: '\\U00110000' is not a Unicode character (a surrogate or "
           "past 10FFFF)");
  CONF_ERR("[web]\nx = \"\\u0000\"\n",
           ":2: \\u0000 (NUL) is not allowed in a string");
  CONF_ERR("[web]\nx = \"\"\"abc\"\"\"\n",
           ":2: multi-line strings (\"\"\") are not supported: write one line "
           "(\"...\" takes \\n)");
  CONF_ERR("[web]\nx = '''abc'''\n",
           ":2: multi-line strings (''') are not supported: write one line "
           "(\"...\" takes \\n)");
  /* inline tables */
  CONF_ERR("[web]\nenv = { A = \"1\"\n",
           ":2: unterminated inline table: the '}' for 'env = {' is missing "
           "(it must be on one line)");
  CONF_ERR("[web]\nenv = { A = \"1\",\n B = \"2\" }\n",
           ":2: unterminated inline table: the '}' for 'env = {' is missing "
           "(it must be on one line)");
  CONF_ERR("[web]\nenv = { A = \"1\", A = \"2\" }\n",
           ":2: 'A' is set twice in the inline table of 'env'");
  CONF_ERR("[web]\nenv = { A = \"1\" B = \"2\" }\n",
           ":2: expected ',' or '}' in the inline table of 'env', not 'B'");
  CONF_ERR("[web]\nenv = { = 1 }\n",
           ":2: expected a key in the inline table of 'env', not '=' (keys "
           "are A-Z a-z 0-9 _ - or quoted)");
  CONF_ERR("[web]\nenv = { A }\n",
           ":2: expected '=' after 'A' in the inline table of 'env' (KEY = "
           "VALUE)");
  CONF_ERR("[web]\nenv = { A = }\n",
           ":2: missing value for 'A' in an inline table");
  CONF_ERR("[web]\nenv = { A = 1,, }\n",
           ":2: expected a key in the inline table of 'env', not ',' (keys "
           "are A-Z a-z 0-9 _ - or quoted)");
  CONF_ERR("[web]\nenv = { A = 1, }\n",
           ":2: a comma before the '}' of the inline table of 'env': TOML "
           "allows none there (arrays may end with one)");
  CONF_ERR("[web]\nenv = { \"\" = 1 }\n",
           ":2: empty key \"\" in the inline table of 'env'");
  /* bytes */
  CONF_ERR("[web]\nx = \"a\x01\"\n",
           ":2: control character 0x01: write it as an escape in a \"...\" "
           "string (\\u0001)");
  CONF_ERR("[web]\n# \x7f\n",
           ":2: control character 0x7f: write it as an escape in a \"...\" "
           "string (\\u007f)");
  CONF_ERR("[web]\n\n\0x = 1\n", ":3: NUL byte: not a text file?");
  CONF_ERR("[web]\rx = 1\n",
           ":1: carriage return without a line feed: line ends must be LF or "
           "CRLF");
  CONF_ERR("[web]\n# \xff\n",
           ":2: invalid UTF-8 (byte 0xff): the file must be UTF-8");
  CONF_ERR("[web]\nx = '\xed\xa0\x80'\n",
           ":2: invalid UTF-8 (byte 0xed): the file must be UTF-8");
  /* a quoted key with an escaped newline stays on one line in messages */
  CONF_ERR("[web]\n\"a\\nb\" = 1\n\"a\\nb\" = 2\n",
           ":3: 'a?b' is set twice in [web] (first at line 2)");
}

TEST(cli_conf_size_limits) {
  char err[256];
  struct conf c;
  /* a line of exactly 64 KiB is fine; one byte more is not */
  size_t n = 6 + CONF_MAX_LINE + 6;
  char *t = malloc(n + 1);
  CHECK(t);
  memcpy(t, "[web]\n", 6);
  memset(t + 6, 'a', CONF_MAX_LINE);
  t[6] = '#';
  memcpy(t + 6 + CONF_MAX_LINE, "\nx = 1", 7);
  CHECK_MSG(cparse(t, n, &c, err, sizeof err) == 0, "%s", err);
  CHECK_EQ(c.apps[0].nkeys, 1);
  CHECK_EQ(c.apps[0].keys[0].line, 3);
  conf_free(&c);
  t[6 + CONF_MAX_LINE] = 'a'; /* joins the lines: 64 KiB + 6 */
  CHECK_EQ(cparse(t, n, &c, err, sizeof err), -1);
  CHECK_STR(err, "t.conf:2: line longer than 64 KiB (65542 bytes)");
  free(t);
  /* a string value of 60 KiB */
  n = 60 << 10;
  t = malloc(n + 32);
  CHECK(t);
  int k = sprintf(t, "[web]\nx = \"");
  memset(t + k, 'v', n);
  strcpy(t + k + n, "\"\n");
  CHECK_MSG(cparse(t, strlen(t), &c, err, sizeof err) == 0, "%s", err);
  CHECK_EQ(strlen(c.apps[0].keys[0].v.str), n);
  conf_free(&c);
  free(t);
  /* the whole file: 1 MiB is fine, one byte more is not */
  n = CONF_MAX_FILE + 1;
  t = malloc(n);
  CHECK(t);
  for (size_t i = 0; i < n; i++)
    t[i] = i % 64 == 63 ? '\n' : '#';
  CHECK_MSG(cparse(t, n - 1, &c, err, sizeof err) == 0, "%s", err);
  CHECK_EQ(c.napps, 0);
  conf_free(&c);
  CHECK_EQ(cparse(t, n, &c, err, sizeof err), -1);
  CHECK_STR(err, "t.conf: the file is larger than 1 MiB (1048577 bytes): "
                 "not a config file?");
  free(t);
  /* too many items in one array */
  size_t cap = 64 + (size_t)(CONF_MAX_ITEMS + 1) * 3;
  t = malloc(cap);
  CHECK(t);
  k = sprintf(t, "[web]\nx = [");
  for (int i = 0; i <= CONF_MAX_ITEMS; i++)
    k += sprintf(t + k, "1,");
  strcpy(t + k, "]\n");
  CHECK_EQ(cparse(t, strlen(t), &c, err, sizeof err), -1);
  CHECK_STR(err, "t.conf:2: more than 4096 items in the array of 'x'");
  free(t);
}

TEST(cli_conf_empty_and_comment_only_files) {
  struct conf c;
  char err[64];
  CHECK_EQ(cparse("", 0, &c, err, sizeof err), 0);
  CHECK_EQ(c.napps, 0);
  CHECK_STR(c.path, "t.conf");
  conf_free(&c);
  CHECK_EQ(conf_parse("x", NULL, 0, &c, err, sizeof err), 0);
  conf_free(&c);
  conf_ok("\n  \n\t# only comments\n#\n", &c);
  CHECK_EQ(c.napps, 0);
  conf_free(&c);
}

TEST(cli_conf_error_buffer_is_truncated_safely) {
  struct conf c;
  char err[12];
  memset(err, 'x', sizeof err);
  CHECK_EQ(cparse("[web]\n[web]\n", 12, &c, err, sizeof err), -1);
  CHECK_STR(err, "t.conf:2: d");
  CHECK_EQ(cparse("[web]\n[web]\n", 12, &c, NULL, 0), -1);
  CHECK_EQ(conf_load("/nonexistent/x", &c, NULL, 0), -1);
}

TEST(cli_conf_every_prefix_parses_or_fails_cleanly) {
  size_t n = strlen(brief_conf);
  for (size_t i = 0; i <= n; i++) {
    struct conf c;
    char err[256];
    int r = cparse(brief_conf, i, &c, err, sizeof err);
    if (r == 0)
      conf_free(&c);
    else
      CHECK_MSG(!strncmp(err, "t.conf:", 7) && !strchr(err, '\n'),
                "prefix %zu: %s", i, err);
  }
}

TEST(cli_conf_kind_names) {
  CHECK_STR(conf_kind_name(CONF_STR), "a string");
  CHECK_STR(conf_kind_name(CONF_INT), "an integer");
  CHECK_STR(conf_kind_name(CONF_BOOL), "a boolean");
  CHECK_STR(conf_kind_name(CONF_ARRAY), "an array");
  CHECK_STR(conf_kind_name(CONF_TABLE), "a table");
  CHECK_STR(conf_kind_name(99), "a value");
}

TEST(cli_conf_load_reads_files_and_names_errors) {
  struct conf c;
  char err[512];
  memset(&c, 0x5a, sizeof c);
  CHECK_EQ(conf_load("/nonexistent/herd.conf", &c, err, sizeof err), -1);
  CHECK_STR(err, "/nonexistent/herd.conf: cannot open: No such file or "
                 "directory");
  CHECK(c.apps == NULL && c.path == NULL);
  CHECK_EQ(conf_load("/", &c, err, sizeof err), -1);
  CHECK_STR(err, "/: cannot read: Is a directory");

  char dir[] = "/tmp/herd-conf-XXXXXX";
  CHECK(mkdtemp(dir));
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/herd.conf", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, brief_conf, strlen(brief_conf)), (long)strlen(brief_conf));
  CHECK_EQ(close(fd), 0);
  int fds = test_count_fds();
  CHECK_MSG(conf_load(path, &c, err, sizeof err) == 0, "%s", err);
  CHECK_EQ(test_count_fds(), fds); /* closed after reading */
  CHECK_STR(c.path, path);
  CHECK_EQ(c.napps, 2);
  CHECK_STR(c.apps[1].name, "api");
  conf_free(&c);
  /* an error in a file names the file */
  fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, "[a]\nx = 1.5\n", 12), 12);
  CHECK_EQ(close(fd), 0);
  CHECK_EQ(conf_load(path, &c, err, sizeof err), -1);
  char want[PATH_MAX + 128];
  snprintf(want, sizeof want, "%s:2: floats such as '1.5' are not supported: "
           "write an integer, or a string such as \"1.5s\"", path);
  CHECK_STR(err, want);
  CHECK_EQ(test_count_fds(), fds);
  /* too big: refused without reading it all into memory */
  fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  CHECK(fd >= 0);
  CHECK_EQ(ftruncate(fd, (off_t)CONF_MAX_FILE + 1), 0);
  CHECK_EQ(close(fd), 0);
  CHECK_EQ(conf_load(path, &c, err, sizeof err), -1);
  snprintf(want, sizeof want, "%s: the file is larger than 1 MiB: not a "
           "config file?", path);
  CHECK_STR(err, want);
  CHECK_EQ(unlink(path), 0);
  CHECK_EQ(rmdir(dir), 0);
}

/* examples/herd.conf of this repo: from the current directory (the runner
 * starts in the repo root), else up from the test binary (BUILD/tests/). */
static int find_example(char *out, size_t n) {
  if (access("examples/herd.conf", R_OK) == 0) {
    snprintf(out, n, "examples/herd.conf");
    return 0;
  }
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", test_self());
  for (int up = 0; up < 8; up++) {
    char *slash = strrchr(dir, '/');
    if (!slash)
      break;
    *slash = '\0';
    int r = snprintf(out, n, "%s/examples/herd.conf", dir);
    if (r > 0 && (size_t)r < n && access(out, R_OK) == 0)
      return 0;
  }
  return -1;
}

TEST(cli_conf_example_file_in_the_repo) {
  char path[PATH_MAX];
  CHECK_MSG(find_example(path, sizeof path) == 0,
            "examples/herd.conf not found (from %s)", test_self());
  struct conf c;
  char err[512];
  CHECK_MSG(conf_load(path, &c, err, sizeof err) == 0, "%s", err);
  CHECK_EQ(c.napps, 2);
  const struct conf_app *web = &c.apps[0];
  CHECK_STR(web->name, "web");
  const struct conf_key *k = conf_get(web, "command");
  CHECK(k && k->v.kind == CONF_ARRAY && k->v.nitems == 1);
  CHECK_STR(k->v.items[0].str, "./build/examples/hello-http");
  k = conf_get(web, "workers");
  CHECK(k && k->v.kind == CONF_INT && k->v.num == 2);
  k = conf_get(web, "cwd"); /* relative paths are from examples/ */
  CHECK(k && k->v.kind == CONF_STR);
  CHECK_STR(k->v.str, "..");
  k = conf_get(web, "listen");
  CHECK(k && k->v.kind == CONF_ARRAY && k->v.nitems == 1);
  CHECK_STR(k->v.items[0].str, "127.0.0.1:8080");
  k = conf_get(web, "ready");
  CHECK(k && k->v.kind == CONF_STR);
  CHECK_STR(k->v.str, "notify");
  k = conf_get(web, "kill-timeout");
  CHECK(k && k->v.kind == CONF_STR);
  CHECK_STR(k->v.str, "5s");

  const struct conf_app *node = &c.apps[1];
  CHECK_STR(node->name, "node-web");
  k = conf_get(node, "command");
  CHECK(k && k->v.kind == CONF_STR);
  CHECK_STR(k->v.str, "node examples/node-worker.js");
  k = conf_get(node, "listen");
  CHECK(k && k->v.kind == CONF_ARRAY && k->v.nitems == 1);
  CHECK_STR(k->v.items[0].str, "127.0.0.1:8081");
  k = conf_get(node, "env");
  CHECK(k && k->v.kind == CONF_TABLE && k->v.nitems == 1);
  CHECK_STR(k->v.keys[0], "NODE_ENV");
  CHECK_STR(k->v.items[0].str, "production");
  CHECK(conf_get(node, "balance") && conf_get(node, "restart_window") &&
        conf_get(node, "max-restarts"));
  /* every key the example sets is one the comments list */
  static const char *const known[] = {
      "command", "workers", "listen", "balance", "ready", "ready-timeout",
      "kill-timeout", "stop-signal", "max-restarts", "restart-window",
      "restart-cooldown", "min-uptime", "cwd", "env", "user", "ipc",
      "max-memory", "log-max-size", "log-keep", "metrics"};
  for (size_t i = 0; i < c.napps; i++)
    for (size_t j = 0; j < c.apps[i].nkeys; j++) {
      int found = 0;
      for (size_t m = 0; m < sizeof known / sizeof *known; m++) {
        struct conf_app one = {.keys = &c.apps[i].keys[j], .nkeys = 1};
        found |= conf_get(&one, known[m]) != NULL;
      }
      CHECK_MSG(found, "[%s] %s is not a known key", c.apps[i].name,
                c.apps[i].keys[j].key);
    }
  conf_free(&c);
}
