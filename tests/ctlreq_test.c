/*
 * ctlreq_test.c - the control request's decoding (ctl_decode, ctlreq.c)
 * against what JSON.parse in Node makes of the same lines
 * (tests/node/ctlreq-parse.js): a few thousand generated requests, near
 * misses and broken ones, and the fuzz/ctlreq seeds, all given to one
 * node process. herd must take exactly the requests a reader following
 * JSON.parse and docs/control.md would take, with the same command and
 * arguments, and refuse the others for the same reason. The one
 * difference allowed is libherd's nesting limit (HERD_JSON_MAX_DEPTH,
 * 512: JSON.parse has none); a number beyond a double is Infinity to
 * both, and refused by scale's range checks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/cli/cli.h"
#include "jtest.h"
#include "test.h"

/* Mostly nothing or JSON's whitespace; now and then what JSON.parse
 * refuses (form feed, vertical tab, U+00A0). */
static void gen_ws(struct gbuf *b) {
  static const char *const ws[] = {"", "", "", "", " ", "\t", "\n", "\r", " \r\n\t",
                                   "\f", "\v", "\xc2\xa0"};
  uint32_t k = rnd(600);
  gputs(b, ws[k < 597 ? k % 9 : 9 + k % 3]);
}

/* numbers around the edges of scale's ranges, of a long long and of a
 * double, written every way JSON allows (and a few it does not) */
static const char *const nums[] = {
    "0", "1", "2", "-1", "3", "4096", "4097", "-4096", "-4097", "1.0", "1.5",
    "1e3", "4.096e3", "4096.0000000000001", "4096.000000000001",
    "2.00000000000000001", "1e400", "-1e400", "1e-400", "-0", "-0.0",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "18446744073709551616", "93e18", "1E0", "0.5e1", "10e-1",
    "3.0000000000000004", "1e308", "4095.9999999999995", "-4096.0000000000001",
    "4.0960000000000001E+3", "0.0000000000000000000001e22",
    /* not JSON */
    "01", "1.", "+1", ".5", "0x10", "NaN", "Infinity", "1e", "-"};
#define NUMS_JSON 35

static void gen_num(struct gbuf *b) {
  gputs(b, nums[rnd(20) ? rnd(NUMS_JSON) : rnd(sizeof nums / sizeof nums[0])]);
}

/* any JSON value (for members herd does not read), now and then nested
 * around libherd's limit of 512 */
static void gen_any(struct gbuf *b, int depth) {
  static const char *const atoms[] = {"null", "true", "false", "\"\"", "\"x\"",
                                      "\"\\u0000\"", "\"\\ud800\"", "\"\xff\"", "[]", "{}"};
  uint32_t k = rnd(depth < 3 ? 10 : 4);
  if (depth == 0 && rnd(25) == 0) {
    int deep = 507 + (int)rnd(10); /* with the request's object: 508..517 */
    for (int i = 0; i < deep; i++)
      gputs(b, i % 3 == 2 ? "{\"k\":" : "[");
    gen_num(b);
    for (int i = deep - 1; i >= 0; i--)
      gputs(b, i % 3 == 2 ? "}" : "]");
  } else if (k < 2) {
    gen_num(b);
  } else if (k < 4) {
    gputs(b, PICK(atoms));
  } else if (k < 7) {
    gputs(b, "[");
    for (uint32_t n = rnd(4), i = 0; i < n; i++) {
      if (i)
        gputs(b, ",");
      gen_ws(b);
      gen_any(b, depth + 1);
    }
    gputs(b, "]");
  } else {
    gputs(b, "{");
    for (uint32_t n = rnd(3), i = 0; i < n; i++) {
      if (i)
        gputs(b, ",");
      gputs(b, rnd(2) ? "\"cmd\":" : "\"workers\":");
      gen_any(b, depth + 1);
    }
    gputs(b, "}");
  }
}

static void gen_member(struct gbuf *b, const char *key, int kind) {
  static const char *const cmds[] = {
      "\"ping\"", "\"status\"", "\"reload\"", "\"restart\"", "\"scale\"", "\"stop\"",
      "\"reopen\"", "\"scale\"", "\"scale\"", "\"stop\"",
      /* the same commands, written otherwise */
      "\"\\u0070ing\"", "\"sc\\u0061le\"", "\"st\\/op\"", "\"\\u0073top\"",
      /* near misses */
      "\"PING\"", "\"ping \"", "\"pin\"", "\"\"", "\"p\\u0000ing\"", "\"stop\\u0000\"",
      "\"pi\\nng\"", "\"\\ud800\"", "\"sca\xffle\"", "\"\xc3\xa9\"", "\"scale\\\"\"",
      "\"sc\xc2\x85\"", "\"\\u001b[1m\"", "1", "null", "true", "[\"ping\"]",
      "{\"cmd\":\"ping\"}", "\"ping"};
  static const char *const bools[] = {"true", "true", "false", "1", "0", "\"true\"", "null",
                                      "[true]", "tru"};
  static const char *const notnum[] = {"\"4\"", "null", "true", "false", "[]", "{}", "[4]"};
  gen_ws(b);
  gputs(b, key);
  gen_ws(b);
  gputs(b, ":");
  gen_ws(b);
  switch (kind) {
  case 0:
    gputs(b, rnd(3) ? cmds[rnd(10)] : PICK(cmds));
    break;
  case 1:
    if (rnd(7))
      gen_num(b);
    else
      gputs(b, PICK(notnum));
    break;
  case 2:
    gputs(b, PICK(bools));
    break;
  default:
    gen_any(b, 0);
  }
  gen_ws(b);
}

/* A request: an object with "cmd" most of the time, the arguments of
 * scale and stop often, other members, keys repeated (the last one
 * counts), keys written with escapes; now and then no object at all. */
static void gen_request(struct gbuf *b) {
  static const struct {
    const char *key;
    int kind;
  } keys[] = {{"\"cmd\"", 0},       {"\"workers\"", 1},    {"\"add\"", 1},
              {"\"graceful\"", 2},  {"\"c\\u006dd\"", 0},  {"\"work\\u0065rs\"", 1},
              {"\"CMD\"", 0},       {"\"cmd \"", 0},       {"\"__proto__\"", 3},
              {"\"name\"", 3},      {"\"\"", 3},           {"\"workers\\u0000\"", 1}};
  if (rnd(12) == 0) {
    gen_ws(b);
    gen_any(b, 0);
    gen_ws(b);
    return;
  }
  if (rnd(200) == 0)
    gputs(b, "\xef\xbb\xbf"); /* a BOM */
  gen_ws(b);
  gputs(b, "{");
  int first = 1;
  for (uint32_t n = 1 + rnd(5); n > 0; n--) {
    /* mostly the members herd reads */
    uint32_t k = rnd(3) ? rnd(4) : rnd(sizeof keys / sizeof keys[0]);
    if (!first)
      gputs(b, ",");
    first = 0;
    if (k == 0 || rnd(3) == 0) { /* cmd first, or among the others */
      gen_member(b, "\"cmd\"", 0);
      if (k == 0)
        continue;
      gputs(b, ",");
    }
    gen_member(b, keys[k].key, keys[k].kind);
  }
  gputs(b, "}");
  gen_ws(b);
}

/* What herd decided, in the words of ctlreq-parse.js; X for the reader's
 * refusal (a syntax error, or a documented limit). */
static void herd_meaning(const char *s, size_t n, char *out, size_t cap) {
  static const struct {
    const char *prefix, *code;
  } errs[] = {
      {"malformed request: nesting deeper than HERD_JSON_MAX_DEPTH", "X"},
      {"malformed request: not JSON", "X"},
      {"malformed request: expected a JSON object with \"cmd\"", "N"},
      {"malformed request: no \"cmd\" string (it holds a NUL character)", "Z"},
      {"malformed request: no \"cmd\" string", "C"},
      {"unknown command '", "U"},
  };
  struct ctl_req rq;
  if (ctl_decode(s, n, &rq) < 0) {
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
      if (!strncmp(rq.err, errs[i].prefix, strlen(errs[i].prefix))) {
        snprintf(out, cap, "%s", errs[i].code);
        return;
      }
    snprintf(out, cap, "error %s", rq.err);
    return;
  }
  if (rq.cmd == CTL_SCALE) {
    if (!rq.arg_err[0])
      snprintf(out, cap, "scale %c %lld", rq.has_workers ? 'w' : 'a',
               rq.has_workers ? rq.workers : rq.add);
    else if (!strncmp(rq.arg_err, "scale: give ", 12))
      snprintf(out, cap, "scale give");
    else if (!strncmp(rq.arg_err, "scale: add ", 11))
      snprintf(out, cap, "scale bada");
    else
      snprintf(out, cap, "scale badw");
  } else if (rq.cmd == CTL_STOP) {
    snprintf(out, cap, "stop g%d", rq.graceful);
  } else if (rq.cmd == CTL_DESCRIBE) {
    snprintf(out, cap, "describe s%d", rq.show_env);
  } else if (rq.cmd == CTL_SIGNAL && !rq.arg_err[0]) {
    int k = snprintf(out, cap, "signal %d", rq.sig);
    if (rq.slot >= 0 && k > 0 && (size_t)k < cap)
      snprintf(out + k, cap - (size_t)k, " slot %lld", rq.slot);
  } else {
    snprintf(out, cap, "%s%s", ctl_cmd_name(rq.cmd), rq.arg_err[0] ? " arg_err" : "");
  }
}

/* Cases worth having whatever the generator makes. */
static const char *const fixed[] = {
    "{\"cmd\":\"scale\",\"workers\":4096.0000000000001}", /* a double: 4096 */
    "{\"cmd\":\"scale\",\"workers\":4096.000000000001}",
    "{\"cmd\":\"scale\",\"add\":-0}",
    "{\"cmd\":\"scale\",\"workers\":1e400}",
    "{\"cmd\":\"scale\",\"workers\":2,\"workers\":\"2\"}",
    "{\"cmd\":\"scale\",\"workers\":\"2\",\"workers\":2}",
    "{\"cmd\":\"scale\",\"workers\":null,\"add\":1}",
    "{\"cmd\":\"scale\",\"add\":1,\"x\":1e400}",
    "{\"cmd\":\"stop\",\"graceful\":true,\"graceful\":false}",
    "{\"cmd\":\"stop\",\"graceful\":false,\"graceful\":true}",
    "{\"cmd\":\"stop\",\"cmd\":\"ping\"}",
    "{\"__proto__\":{\"cmd\":\"ping\"}}",
    "{\"cmd\":\"p\\u0000ing\"}",
    "{\"cmd\":\"\\ud83d\\ude00\"}",
    "{\"c\\u0000md\":\"ping\"}",
    "[{\"cmd\":\"ping\"}]",
    "\"ping\"",
    "{\"cmd\":\"ping\"}{}",
    "{\"cmd\":\"ping\",}",
    "{'cmd':'ping'}",
    "",
};

TEST(ctlreq_decode_matches_node_json_parse) {
  const char *node = node_path();
  char script[PATH_MAX];
  node_script(script, sizeof script, "ctlreq-parse.js");
  struct gbuf all = {0}, hex = {0};
  int n = 0;
  rng_state = 0x2545f491u;
  for (int i = 0; i < 5000; i++, n++) {
    struct gbuf b = {0};
    gen_request(&b);
    for (uint32_t m = rnd(8) ? 0 : 1 + rnd(2); m > 0; m--)
      mutate(&b);
    add_text(&all, &hex, b.p ? b.p : "", b.len);
    free(b.p);
  }
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++, n++)
    add_text(&all, &hex, fixed[i], strlen(fixed[i]));
  /* the request's object plus 510..513 arrays: 511..514 deep */
  for (int depth = 510; depth <= 513; depth++, n++) {
    struct gbuf b = {0};
    gputs(&b, "{\"cmd\":\"ping\",\"x\":");
    for (int i = 0; i < depth; i++)
      gputs(&b, "[");
    for (int i = 0; i < depth; i++)
      gputs(&b, "]");
    gputs(&b, "}");
    add_text(&all, &hex, b.p, b.len);
    free(b.p);
  }
  /* the fuzzer's seeds, next to tests/node/ */
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%.*sfuzz/corpus/ctlreq",
           (int)(strlen(script) - strlen("tests/node/ctlreq-parse.js")), script);
  DIR *d = opendir(dir);
  CHECK_MSG(d != NULL, "%s: %s", dir, strerror(errno));
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.')
      continue;
    char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    size_t len;
    char *s = test_read_all(fd, &len);
    close(fd);
    add_text(&all, &hex, s, len);
    free(s);
    n++;
  }
  closedir(d);

  char *argv[] = {"node", script, NULL};
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.timeout_ms = 30000;
  o.input = hex.p;
  o.input_len = hex.len;
  herd_exec_result_t res;
  CHECK_OK(herd_exec_file(node, argv, &o, &res));
  CHECK_MSG(res.reason == HERD_EXEC_EXITED && res.exit_code == 0,
            "node ctlreq-parse.js: exit %d: %.300s", res.exit_code, res.err);

  /* how often each answer came, so that the texts are known to cover them */
  static const char *const answers[] = {
      "E", "D", "N", "C", "Z", "U", "ping", "status", "reload", "restart", "reopen",
      "scale w", "scale a", "scale give", "scale badw", "scale bada", "stop g0", "stop g1"};
  int seen[sizeof answers / sizeof answers[0]] = {0};
  int bad = 0, limits = 0;
  char diffs[2000] = "";
  size_t off = 0;
  const char *line = res.out;
  for (int i = 0; i < n; i++) {
    size_t len;
    memcpy(&len, all.p + off, sizeof len);
    const char *s = all.p + off + sizeof len;
    off += sizeof len + len;
    const char *eol = line ? strchr(line, '\n') : NULL;
    CHECK_MSG(eol != NULL, "node answered %d of %d texts", i, n);
    char theirs[64], ours[400];
    snprintf(theirs, sizeof theirs, "%.*s", (int)(eol - line), line);
    line = eol + 1;
    for (size_t a = 0; a < sizeof answers / sizeof answers[0]; a++)
      seen[a] += !strncmp(theirs, answers[a], strlen(answers[a])) &&
                 (theirs[strlen(answers[a])] == '\0' || theirs[strlen(answers[a])] == ' ');
    herd_meaning(s, len, ours, sizeof ours);
    /* herd's reader refuses: a syntax error, or one of its limits */
    if (!strcmp(ours, "X") && (!strcmp(theirs, "E") || !strcmp(theirs, "D"))) {
      limits += strcmp(theirs, "E") != 0;
      continue;
    }
    if (!strcmp(ours, theirs))
      continue;
    if (bad++ < 8) {
      size_t k = strlen(diffs);
      snprintf(diffs + k, sizeof diffs - k, "\n  herd '%s', node '%s': ", ours, theirs);
      k = strlen(diffs);
      for (size_t j = 0; j < len && j < 80 && k + 5 < sizeof diffs; j++) {
        unsigned char c = (unsigned char)s[j];
        k += (size_t)snprintf(diffs + k, sizeof diffs - k,
                              c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
      }
    }
  }
  CHECK_MSG(*line == '\0', "node answered more lines than the %d texts", n);
  herd_exec_result_free(&res);
  free(all.p);
  free(hex.p);
  CHECK_MSG(bad == 0, "%d of %d requests read differently from JSON.parse:%s", bad, n,
            diffs);
  char missing[400] = "";
  for (size_t a = 0; a < sizeof answers / sizeof answers[0]; a++)
    if (seen[a] < 3) {
      size_t k = strlen(missing);
      snprintf(missing + k, sizeof missing - k, " '%s' (%d)", answers[a], seen[a]);
    }
  CHECK_MSG(!missing[0], "answers too rare among %d texts:%s", n, missing);
  CHECK_MSG(limits >= 6, "%d texts nested past libherd's limit", limits);
  printf("ctlreq_decode_matches_node_json_parse: %d requests, %d nested past the limit, "
         "no other difference\n", n, limits);
}
