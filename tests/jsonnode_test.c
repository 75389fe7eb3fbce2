/*
 * jsonnode_test.c - libherd's one JSON against Node's, over thousands of
 * generated cases each, all given to one node process
 * (tests/node/json-diff.js) per direction:
 *  - JSON.parse: herd_json_parse accepts exactly the texts JSON.parse
 *    accepts (the bytes decoded as Node decodes them) and gives the same
 *    value (compared through v8.serialize and herd_val_equal: types, key
 *    order, -0, lone surrogates); the channel's validator agrees with
 *    the parser on every text. The one difference: nesting deeper than
 *    HERD_JSON_MAX_DEPTH, which JSON.parse takes.
 *  - JSON.stringify: trees of every herd_val_t type built here, sent as
 *    v8.serialize bytes: herd_json_stringify writes what JSON.stringify
 *    writes of the value Node reads, fails where it throws (TypeError),
 *    and gives no text where it gives undefined.
 *  - herd_json_quote: JSON.stringify(buf.toString()) of random bytes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "jtest.h"
#include "test.h"

/* ---- texts ------------------------------------------------------------ */

static void gen_ws(struct gbuf *b) {
  static const char *const ws[] = {"", "", "", " ", "\t", "\n", "\r", " \r\n\t",
                                   "\f", "\v", "\xc2\xa0", "\xe2\x80\xa8"};
  uint32_t k = rnd(60);
  gputs(b, ws[k < 52 ? k % 8 : 8 + k % 4]);
}

static void gen_string(struct gbuf *b) {
  static const char *const bits[] = {
      "a", "Z", "0", " ", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r",
      "\\t", "\\u0041", "\\u00e9", "\\u20AC", "\\ud83d\\ude00", "\\ud800",
      "\\udc00", "\\u0000", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
      "\xe2\x80\xa8", "\x7f", "NODE_", "cmd",
      /* refused, or ill-formed UTF-8 */
      "\xff", "\xc3", "\xed\xa0\x80", "\xc0\xaf", "\t", "\x01", "\\x",
      "\\u12", "\\uZZZZ", "\\U0041", "\\'",
      /* more ill-formed bytes and lone surrogates (kept, as JS does) */
      "\xf0\x9f\x98", "\xe2\x82", "\xf4\x90\x80\x80", "\xed\xb0\x80", "\x80",
      "\\uD83D", "\\uDE00\\uD83D", "\\u2028", "\\u007f"};
  size_t nb = sizeof bits / sizeof bits[0];
  gputs(b, "\"");
  for (uint32_t n = rnd(6); n > 0; n--)
    gputs(b, bits[rnd(8) ? rnd(26) : rnd((uint32_t)nb)]);
  gputs(b, "\"");
}

static const char *const keys[] = {
    "\"a\"", "\"b\"", "\"\\u0061\"", "\"__proto__\"", "\"0\"", "\"1\"", "\"7\"",
    "\"01\"", "\"-1\"", "\"4294967294\"", "\"4294967295\"", "\"\"", "\"toJSON\"",
    "\"length\"", "\"\\ud800\"", "\"\xff\""};

static void gen_value(struct gbuf *b, int depth) {
  static const char *const nums[] = {
      "0", "-0", "12", "1.5", "1e5", "1E+5", "1e-5", "-0.0e0", "1e400",
      "-1e400", "123456789012345678901234567890", "0.000001", "9007199254740993",
      /* the edges of a double */
      "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308",
      "-1.7976931348623159e308", "4.9406564584124654e-324", "2.4703282292062327e-324",
      "2.4703282292062328e-324", "1e-324", "-1e-400", "1e-7", "123e-20",
      "0.30000000000000004", "18446744073709551616", "1e99999999999999999999",
      "-0e-0", "0.1e1", "1E-0", "2.2250738585072011e-308", "2.2250738585072014e-308",
      "100000000000000000000000000000000000000000000000000000000000000000000000000000001",
      /* not JSON */
      "01", "1.", ".5", "+1", "1e", "--1", "0x10", "1e+", "-", "Infinity", "NaN",
      "1.e5", "-01", "0e", "1_0"};
  static const char *const lits[] = {"true", "false", "null", "tru", "nul",
                                     "True", "nulll"};
  uint32_t k = rnd(depth < 6 ? 10 : 6);
  gen_ws(b);
  if (k < 2) {
    gputs(b, nums[rnd(6) ? rnd(34) : rnd(sizeof nums / sizeof nums[0])]);
  } else if (k < 3) {
    gputs(b, lits[rnd(5) ? rnd(3) : rnd(sizeof lits / sizeof lits[0])]);
  } else if (k < 6) {
    gen_string(b);
  } else if (k < 8) {
    gputs(b, "[");
    for (uint32_t n = rnd(4), i = 0; i < n; i++) {
      if (i)
        gputs(b, ",");
      gen_value(b, depth + 1);
    }
    gen_ws(b);
    gputs(b, "]");
  } else {
    gputs(b, "{");
    for (uint32_t n = rnd(4), i = 0; i < n; i++) {
      if (i)
        gputs(b, ",");
      gen_ws(b);
      if (rnd(2))
        gputs(b, PICK(keys)); /* repeated keys, index keys, __proto__ */
      else
        gen_string(b);
      gen_ws(b);
      gputs(b, ":");
      gen_value(b, depth + 1);
    }
    gen_ws(b);
    gputs(b, "}");
  }
  gen_ws(b);
}


/* Deepest nesting of arrays and objects outside strings. */
static int nesting(const char *s, size_t n) {
  int d = 0, max = 0, in_str = 0;
  for (size_t i = 0; i < n; i++) {
    if (in_str) {
      if (s[i] == '\\')
        i++;
      else if (s[i] == '"')
        in_str = 0;
    } else if (s[i] == '"') {
      in_str = 1;
    } else if (s[i] == '[' || s[i] == '{') {
      if (++d > max)
        max = d;
    } else if (s[i] == ']' || s[i] == '}') {
      d--;
    }
  }
  return max;
}

/* Bytes to hex (text of an answer line) and back. */
static uint8_t *unhex(const char *h, size_t n, size_t *len) {
  uint8_t *b = malloc(n / 2 + 1);
  CHECK(b);
  for (size_t i = 0; i + 1 < n; i += 2)
    b[i / 2] = (uint8_t)(herd__hexval(h[i]) << 4 | herd__hexval(h[i + 1]));
  *len = n / 2;
  return b;
}

/* A line of out from *pos: its text (NUL-terminated in place). */
static char *next_line(char **pos, int i, int n) {
  char *line = *pos, *eol = line ? strchr(line, '\n') : NULL;
  CHECK_MSG(eol != NULL, "node answered %d of %d items", i, n);
  *eol = '\0';
  *pos = eol + 1;
  return line;
}

static void shown(char *out, size_t cap, const char *s, size_t len) {
  size_t k = strlen(out);
  for (size_t j = 0; j < len && j < 70 && k + 5 < cap; j++) {
    unsigned char c = (unsigned char)s[j];
    k += (size_t)snprintf(out + k, cap - k, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
  }
}

static void add_file_texts(struct gbuf *all, struct gbuf *hex, const char *dir,
                           int *n) {
  /* dir is at most PATH_MAX + 64 bytes, a name 255 */
  DIR *d = opendir(dir);
  CHECK_MSG(d != NULL, "%s: %s", dir, strerror(errno));
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.')
      continue;
    char path[PATH_MAX + 64 + 260];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    size_t len;
    char *s = test_read_all(fd, &len);
    close(fd);
    add_text(all, hex, s, len);
    free(s);
    (*n)++;
  }
  closedir(d);
}

/* The texts of the parse differential: generated (valid, refused and
 * broken), nested around the limit, and the fuzzers' JSON seeds. */
static int parse_texts(struct gbuf *all, struct gbuf *hex) {
  int n = 0;
  rng_state = 0x9e3779b9u;
  for (int i = 0; i < 6000; i++, n++) {
    struct gbuf b = {0};
    gen_value(&b, 0);
    for (uint32_t m = rnd(3) ? 0 : 1 + rnd(2); m > 0; m--)
      mutate(&b);
    add_text(all, hex, b.p ? b.p : "", b.len);
    free(b.p);
  }
  for (int depth = 510; depth <= 514; depth++, n += 2) {
    struct gbuf b = {0};
    for (int i = 0; i < depth; i++)
      gputs(&b, i % 2 ? "{\"k\":" : "[");
    gputs(&b, "1");
    for (int i = depth - 1; i >= 0; i--)
      gputs(&b, i % 2 ? "}" : "]");
    add_text(all, hex, b.p, b.len);
    b.len = 0;
    for (int i = 0; i < depth; i++)
      gputs(&b, "[");
    for (int i = 0; i < depth; i++)
      gputs(&b, "]");
    add_text(all, hex, b.p, b.len);
    free(b.p);
  }
  char script[PATH_MAX], dir[PATH_MAX + 64];
  node_script(script, sizeof script, "json-diff.js");
  int root = (int)(strlen(script) - strlen("tests/node/json-diff.js"));
  static const char *const seeds[] = {"json", "jsonr", "ctlreq"};
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
    snprintf(dir, sizeof dir, "%.*sfuzz/corpus/%s", root, script, seeds[i]);
    add_file_texts(all, hex, dir, &n);
  }
  return n;
}

/* JSON.parse: the same verdict, the same value; the validator agrees.
 * The values Node made go on to the stringify differential in *values
 * (hex lines of v8.serialize). */
TEST_T(json_parse_matches_node, 120) {
  /* (node's values nest as deep as the texts: past 512) */
  struct gbuf all = {0}, hex = {0};
  int n = parse_texts(&all, &hex);
  char *out = node_run("json-diff.js", "parse", hex.p, hex.len), *pos = out;
  static const herd_v8_opts_t ser = {.host = HERD_V8_HOST_SERIALIZE,
                                     .max_depth = HERD_V8_MAX_DEPTH_LIMIT};
  int bad = 0, deep = 0, valid = 0;
  char diffs[2000] = "";
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    size_t len, blen;
    const char *s = next_text(&all, &off, &len);
    const char *line = next_line(&pos, i, n);
    herd_val_t *ours = NULL, *theirs = NULL;
    size_t used;
    int rc = herd_json_parse(s, len, &ours, &used);
    CHECK_MSG(rc == 0 || rc == HERD_EJSON || rc == HERD_EJSONDEPTH, "rc %d", rc);
    CHECK_MSG((herd__json_validate(s, len) == 0) == (rc == 0),
              "the validator and the parser disagree (parser %d) on text %d", rc, i);
    CHECK(rc == 0 ? used == len : used <= len);
    const char *why = NULL;
    if (line[0] == '1') {
      uint8_t *b = unhex(line + 2, strlen(line + 2), &blen);
      CHECK_OK(herd_v8_decode(b, blen, &ser, &theirs, NULL));
      free(b);
      valid++;
      if (rc == HERD_EJSONDEPTH && nesting(s, len) > HERD_JSON_MAX_DEPTH)
        deep++;
      else if (rc < 0)
        why = "herd refuses, node accepts";
      else if (herd_val_equal(ours, theirs) != 1)
        why = "different values";
    } else if (rc == 0) {
      why = "herd accepts, node refuses";
    }
    if (why && bad++ < 8) {
      size_t k = strlen(diffs);
      snprintf(diffs + k, sizeof diffs - k, "\n  %s: ", why);
      shown(diffs, sizeof diffs, s, len);
    }
    herd_val_free(ours);
    herd_val_free(theirs);
  }
  CHECK_MSG(*pos == '\0', "node answered more lines than the %d texts", n);
  free(out);
  free(all.p);
  free(hex.p);
  CHECK_MSG(bad == 0, "%d of %d texts read differently from JSON.parse:%s", bad, n,
            diffs);
  /* the texts must cover both answers, and the deep ones */
  CHECK_MSG(valid > n / 5 && valid < n - n / 5, "%d of %d valid", valid, n);
  CHECK_MSG(deep >= 4, "%d texts deeper than %d", deep, HERD_JSON_MAX_DEPTH);
  printf("json_parse_matches_node: %d texts, %d JSON.parse took, %d deeper than the limit\n",
         n, valid, deep);
}

/* ---- trees -------------------------------------------------------------- */

/* The objects made so far (a REF may point at any of them: one written
 * before is a repeat, one around it a cycle). */
struct tg {
  herd_val_t *objs[512];
  size_t n;
};

static herd_val_t *keep(struct tg *g, herd_val_t *v) {
  CHECK(v != NULL);
  if (g->n < sizeof g->objs / sizeof g->objs[0])
    g->objs[g->n++] = v;
  return v;
}

static double gen_double(void) {
  static const double edges[] = {0.0, -0.0, 1, -1, 1.5, 0.1, 1e21, 1e-7, 123456789.125,
                                 5e-324, 1.7976931348623157e308, 9007199254740993.0,
                                 -1e-300, 2147483648.0, NAN, INFINITY, -INFINITY};
  if (rnd(3)) {
    double d = edges[rnd(sizeof edges / sizeof edges[0])];
    return d;
  }
  uint64_t bits = (uint64_t)rnd(0xffffffffu) << 32 | rnd(0xffffffffu);
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

/* A string of UTF-16 units: ASCII, what JSON escapes, non-ASCII, lone
 * and paired surrogates. */
static herd_val_t *gen_str(void) {
  static const uint16_t units[] = {'a', 'Z', ' ', '"', '\\', '/', 0, 1, 8, 9, 10, 12, 13,
                                   0x1f, 0x7f, 0xe9, 0x2028, 0xfffd, 0xd83d, 0xde00,
                                   0xd800, 0xdfff};
  uint16_t u[8];
  size_t n = rnd(8);
  for (size_t i = 0; i < n; i++)
    u[i] = rnd(3) ? (uint16_t)('a' + rnd(26)) : PICK(units);
  herd_val_t *v = herd_val_str_utf16(u, n);
  CHECK(v);
  return v;
}

static const char *const tkeys[] = {"a", "b", "7", "0", "4294967295", "01", "-1", "__proto__",
                                    "toJSON", "", "a\"b", "\xed\xa0\x80", "\xc3\xa9"};

static herd_val_t *gen_tree(struct tg *g, int depth);

static herd_val_t *gen_object(struct tg *g, int depth) {
  herd_val_t *o = keep(g, herd_val_object());
  for (uint32_t n = rnd(5); n > 0; n--) {
    const char *k = PICK(tkeys);
    if (!herd_val_obj_get(o, k)) /* (-EEXIST would free what g keeps) */
      CHECK_OK(herd_val_obj_set(o, k, gen_tree(g, depth + 1)));
  }
  return o;
}

/* Dense, with holes, with a string key, or sparse and long. */
static herd_val_t *gen_array(struct tg *g, int depth) {
  herd_val_t *a = keep(g, herd_val_array());
  for (uint32_t n = rnd(5); n > 0; n--)
    CHECK_OK(herd_val_arr_push(a, gen_tree(g, depth + 1)));
  if (rnd(4) == 0)
    CHECK_OK(herd_val_arr_set_length(a, a->obj.length + rnd(3)));
  if (rnd(4) == 0)
    CHECK_OK(herd_val_obj_set_index(a, a->obj.length + rnd(3), gen_tree(g, depth + 1)));
  if (rnd(6) == 0)
    CHECK_OK(herd_val_obj_set(a, "x", gen_tree(g, depth + 1)));
  return a;
}

static herd_val_t *gen_view(struct tg *g) {
  static const unsigned char size[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 1, 1, 8, 8};
  int t = (int)rnd(13);
  size_t n = rnd(5) * size[t];
  uint8_t b[32];
  for (size_t i = 0; i < n; i++)
    b[i] = (uint8_t)(rnd(4) ? rnd(256) : PICK(((const uint8_t[]){0, 0x7f, 0x80, 0xff})));
  if (t == HERD_VIEW_BIGINT64 || t == HERD_VIEW_BIGUINT64)
    n = rnd(4) ? 0 : n; /* mostly empty: one element is a TypeError */
  return keep(g, herd_val_view(t, b, n));
}

static herd_val_t *gen_date(struct tg *g) {
  static const double ms[] = {0, -1, 1e12, 1700000000123.0, -62198755200000.0,
                              -62167219200001.0, 253402300800000.0, 8.64e15, -8.64e15,
                              951782400000.0, NAN};
  double d = rnd(2) ? PICK(ms) : ((double)rnd(2000000000) - 1e9) * (double)rnd(9000000);
  return keep(g, herd_val_date(d));
}

/* The others: Map, Set, RegExp, Error, ArrayBuffer, a boxed primitive. */
static herd_val_t *gen_other(struct tg *g, int depth) {
  herd_val_t *v;
  switch (rnd(7)) {
  case 0:
    v = keep(g, herd_val_map());
    CHECK_OK(herd_val_map_set(v, gen_tree(g, depth + 1), gen_tree(g, depth + 1)));
    return v;
  case 1:
    v = keep(g, herd_val_set());
    CHECK_OK(herd_val_set_add(v, gen_tree(g, depth + 1)));
    return v;
  case 2:
    return keep(g, herd_val_regexp("a+b", "gi"));
  case 3:
    v = keep(g, herd_val_error(HERD_ERROR_TYPE, "boom"));
    if (rnd(2))
      CHECK_OK(herd_val_error_set_cause(v, gen_tree(g, depth + 1)));
    return v;
  case 4:
    return keep(g, herd_val_arraybuffer("ab", 2));
  case 5: {
    herd_val_t *in = rnd(2) ? gen_str() : herd_val_number(gen_double());
    return keep(g, herd_val_boxed(in));
  }
  default:
    return keep(g, herd_val_boxed(rnd(2) ? herd_val_bool(1) : herd_val_bigint_i64(-5)));
  }
}

static herd_val_t *gen_tree(struct tg *g, int depth) {
  uint32_t k = rnd(depth < 4 ? 24 : 10);
  switch (k) {
  case 0:
    return herd_val_undefined();
  case 1:
    return herd_val_null();
  case 2:
    return herd_val_bool((int)rnd(2));
  case 3:
  case 4:
    return herd_val_number(gen_double());
  case 5:
  case 6:
    return gen_str();
  case 7:
    return rnd(4) ? gen_str() : herd_val_bigint_i64((int64_t)rnd(1000) - 500);
  case 8:
    return gen_date(g);
  case 9:
    return g->n && rnd(2) ? herd_val_ref(g->objs[rnd((uint32_t)g->n)]) : herd_val_null();
  case 10: case 11: case 12: case 13:
    return gen_object(g, depth);
  case 14: case 15: case 16:
    return gen_array(g, depth);
  case 17: case 18:
    return gen_view(g);
  default:
    return gen_other(g, depth);
  }
}

/* ---- JSON.stringify ------------------------------------------------------ */

/* What herd_json_stringify makes of v, in json-diff.js's words. */
static char *ours_stringify(const herd_val_t *v) {
  char *s = NULL, *r;
  size_t n;
  int rc = herd_json_stringify(v, &s, &n);
  if (rc == 1)
    return strdup("U");
  if (rc == HERD_EJSONTYPE)
    return strdup("E TypeError");
  if (rc < 0) {
    CHECK(asprintf(&r, "error %s", herd_strerror(rc)) > 0);
    return r;
  }
  CHECK(s && strlen(s) == n);
  /* what it writes, herd_json_parse reads back */
  herd_val_t *back;
  CHECK_MSG(herd_json_parse(s, n, &back, NULL) == 0, "cannot read back %.200s", s);
  herd_val_free(back);
  CHECK(asprintf(&r, "S%s", s) > 0);
  free(s);
  return r;
}

TEST_T(json_stringify_matches_node, 120) {
  static const herd_v8_opts_t ser = {.host = HERD_V8_HOST_SERIALIZE};
  struct gbuf hex = {0};
  herd_val_t **trees = calloc(12000, sizeof *trees);
  int n = 0, from_text = 0;
  CHECK(trees);
  rng_state = 0x1b873593u;
  for (int i = 0; i < 4000; i++) {
    struct tg g = {.n = 0};
    trees[n] = gen_tree(&g, 0);
    CHECK(trees[n]);
    uint8_t *b;
    size_t len;
    int rc = herd_v8_encode_alloc(trees[n], &ser, 0, &b, &len);
    if (rc == HERD_EV8UNSUPPORTED) { /* a REF to an Error from its cause */
      herd_val_free(trees[n]);
      continue;
    }
    CHECK_OK(rc);
    ghex_line(&hex, (const char *)b, len);
    free(b);
    n++;
  }
  /* what herd_json_parse read of the parse differential's texts */
  struct gbuf all = {0}, texts = {0};
  int nt = parse_texts(&all, &texts);
  size_t off = 0;
  for (int i = 0; i < nt && n < 12000; i++) {
    size_t len, blen;
    const char *s = next_text(&all, &off, &len);
    uint8_t *b;
    if (herd_json_parse(s, len, &trees[n], NULL) < 0)
      continue;
    CHECK_OK(herd_v8_encode_alloc(trees[n], &ser, 0, &b, &blen));
    ghex_line(&hex, (const char *)b, blen);
    free(b);
    n++;
    from_text++;
  }
  free(all.p);
  free(texts.p);
  char *out = node_run("json-diff.js", "stringify", hex.p, hex.len), *pos = out;
  int bad = 0, texts_n = 0, undef = 0, thrown = 0;
  char diffs[2000] = "";
  for (int i = 0; i < n; i++) {
    const char *theirs = next_line(&pos, i, n);
    char *ours = ours_stringify(trees[i]);
    texts_n += theirs[0] == 'S';
    undef += theirs[0] == 'U';
    thrown += theirs[0] == 'E';
    if (strcmp(ours, theirs) != 0 && bad++ < 5) {
      size_t k = strlen(diffs);
      snprintf(diffs + k, sizeof diffs - k, "\n  herd %.160s\n  node %.160s", ours, theirs);
    }
    free(ours);
    herd_val_free(trees[i]);
  }
  free(trees);
  free(out);
  free(hex.p);
  CHECK_MSG(bad == 0, "%d of %d values written differently from JSON.stringify:%s", bad,
            n, diffs);
  CHECK_MSG(undef > 10 && thrown > 50 && texts_n > n / 2, "texts %d, undefined %d, thrown %d",
            texts_n, undef, thrown);
  printf("json_stringify_matches_node: %d values (%d from texts): %d texts, %d undefined, "
         "%d TypeErrors\n", n, from_text, texts_n, undef, thrown);
}

/* Nested past the limit: refused (JSON.stringify goes on until its stack
 * runs out, far deeper); at it, written. */
TEST(json_stringify_depth_limit) {
  for (int depth = HERD_JSON_MAX_DEPTH - 1; depth <= HERD_JSON_MAX_DEPTH + 1; depth++) {
    herd_val_t *v = herd_val_number(1);
    for (int i = 0; i < depth; i++) {
      herd_val_t *a = herd_val_array();
      CHECK_OK(herd_val_arr_push(a, v));
      v = a;
    }
    char *s = NULL;
    int rc = herd_json_stringify(v, &s, NULL);
    CHECK_EQ(rc, depth > HERD_JSON_MAX_DEPTH ? HERD_EJSONDEPTH : 0);
    CHECK(rc == 0 ? s != NULL && strlen(s) == 2 * (size_t)depth + 1 : s == NULL);
    free(s);
    herd_val_free(v);
  }
}

/* ---- herd_json_quote ------------------------------------------------------ */

TEST(json_quote_matches_node) {
  static const char *const bits[] = {"a", "\"", "\\", "/", "\x01", "\x1f", "\x7f", "\n",
                                     "\t", "\x00", "\xc3\xa9", "\xe2\x80\xa8",
                                     "\xf0\x9f\x98\x80", "\xff", "\xc3", "\xed\xa0\x80",
                                     "\xef\xbf\xbd", "\xf4\x90\x80\x80", "\xe2\x82", "\x80"};
  struct gbuf all = {0}, hex = {0};
  int n = 0;
  rng_state = 0x85ebca6bu;
  for (; n < 3000; n++) {
    struct gbuf b = {0};
    gput(&b, "", 0);
    for (uint32_t k = rnd(8); k > 0; k--) {
      const char *p = PICK(bits);
      gput(&b, p, *p ? strlen(p) : 1);
    }
    add_text(&all, &hex, b.p, b.len);
    free(b.p);
  }
  char *out = node_run("json-diff.js", "quote", hex.p, hex.len), *pos = out;
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    size_t len;
    const char *s = next_text(&all, &off, &len);
    const char *theirs = next_line(&pos, i, n);
    char small[8];
    ssize_t need = herd_json_quote(s, len, small, sizeof small);
    CHECK(need >= 2);
    char *ours = malloc((size_t)need + 1);
    CHECK(ours);
    CHECK_EQ(herd_json_quote(s, len, ours, (size_t)need + 1), need);
    CHECK_MSG(strcmp(ours, theirs) == 0, "herd %s, node %s", ours, theirs);
    /* cut short: what fits, NUL-terminated */
    CHECK(strlen(small) == ((size_t)need < sizeof small ? (size_t)need : sizeof small - 1));
    CHECK(strncmp(small, ours, strlen(small)) == 0);
    free(ours);
  }
  free(out);
  free(all.p);
  free(hex.p);
}
