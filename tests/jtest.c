/* jtest.c - the helpers of jtest.h. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jtest.h"
#include "test.h"

const char *node_path(void) {
  static char path[PATH_MAX];
  const char *env = getenv("PATH");
  for (const char *p = env; p && *p;) {
    const char *e = strchr(p, ':');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n > 0 && n < sizeof path - 6) {
      snprintf(path, sizeof path, "%.*s/node", (int)n, p);
      if (access(path, X_OK) == 0)
        return path;
    }
    p = e ? e + 1 : p + n;
  }
  SKIP("node not found: not on PATH (%s)", env ? env : "unset");
}

void node_script(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "tests/node/%s", name);
  if (access(out, R_OK) == 0)
    return;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", test_self());
  for (char *slash; (slash = strrchr(dir, '/')) && slash != dir;) {
    *slash = '\0';
    int n = snprintf(out, cap, "%s/tests/node/%s", dir, name);
    if (n > 0 && (size_t)n < cap && access(out, R_OK) == 0)
      return;
  }
  test_fail(__FILE__, __LINE__, "tests/node/%s not found", name);
}

char *node_run(const char *script, const char *arg, const char *input,
               size_t input_len) {
  const char *node = node_path();
  char path[PATH_MAX];
  node_script(path, sizeof path, script);
  char *argv[] = {"node", path, (char *)arg, NULL};
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.input = input;
  o.input_len = input_len;
  o.max_buffer = 256u << 20;
  o.timeout_ms = 50000;
  herd_exec_result_t res;
  CHECK_OK(herd_exec_file(node, argv, &o, &res));
  CHECK_MSG(res.reason == HERD_EXEC_EXITED && res.exit_code == 0,
            "node %s %s: reason %d, exit %d, signal %d: %.600s", script,
            arg ? arg : "", res.reason, res.exit_code, res.term_signal, res.err);
  char *out = res.out;
  res.out = NULL;
  herd_exec_result_free(&res);
  return out ? out : strdup("");
}

uint32_t rng_state = 0x9e3779b9u;

uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return n ? rng_state % n : 0;
}

void gput(struct gbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    CHECK(b->p != NULL);
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void gputs(struct gbuf *b, const char *s) {
  gput(b, s, strlen(s));
}

void ghex_line(struct gbuf *hex, const char *s, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    char h[2] = {digits[(unsigned char)s[i] >> 4], digits[s[i] & 15]};
    gput(hex, h, 2);
  }
  gput(hex, "\n", 1);
}

void mutate(struct gbuf *b) {
  static const char marks[] = "{}[]\":,\\ 0-e.tn\x00";
  if (b->len == 0)
    return;
  size_t at = rnd((uint32_t)b->len);
  switch (rnd(4)) {
  case 0:
    memmove(b->p + at, b->p + at + 1, b->len - at - 1);
    b->len--;
    break;
  case 1:
    gput(b, " ", 1);
    memmove(b->p + at + 1, b->p + at, b->len - at - 1);
    break;
  case 2:
    b->p[at] = marks[rnd(sizeof marks - 1)];
    break;
  default:
    b->len = at;
  }
}

void add_text(struct gbuf *all, struct gbuf *hex, const char *s, size_t n) {
  gput(all, (const char *)&n, sizeof n);
  gput(all, s, n);
  ghex_line(hex, s, n);
}

const char *next_text(const struct gbuf *all, size_t *off, size_t *len) {
  memcpy(len, all->p + *off, sizeof *len);
  const char *s = all->p + *off + sizeof *len;
  *off += sizeof *len + *len;
  return s;
}
