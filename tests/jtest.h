/*
 * jtest.h - what the tests that hold herd's JSON next to Node's share:
 * finding node and tests/node/ scripts, running one over a batch, a
 * small deterministic random source, a growing buffer, and breaking a
 * text. (jtest.c)
 */
#ifndef HERD_TEST_JTEST_H
#define HERD_TEST_JTEST_H

#include <stddef.h>
#include <stdint.h>

/* The node on PATH (SKIPs the test without one). */
const char *node_path(void);
/* tests/node/NAME, from the repo root (the cwd of `make test`), or found
 * above the test binary. */
void node_script(char *out, size_t cap, const char *name);
/* node tests/node/SCRIPT ARG (ARG may be NULL), input on its stdin: its
 * stdout (malloc'd, NUL-terminated); the test fails unless it exits 0. */
char *node_run(const char *script, const char *arg, const char *input,
               size_t input_len);

/* xorshift32: rnd(n) in [0, n) (0 for n 0); seed rng_state first. */
extern uint32_t rng_state;
uint32_t rnd(uint32_t n);
#define PICK(a) (a)[rnd(sizeof(a) / sizeof((a)[0]))]

/* A growing buffer (CHECKs its allocations). */
struct gbuf {
  char *p;
  size_t len, cap;
};
void gput(struct gbuf *b, const char *s, size_t n);
void gputs(struct gbuf *b, const char *s);
/* s[0..n) to hex, then '\n', at the end of hex. */
void ghex_line(struct gbuf *hex, const char *s, size_t n);
/* Break a text: a byte dropped, doubled or replaced by one of JSON's,
 * or the end cut off. */
void mutate(struct gbuf *b);
/* A text's length-prefixed copy at the end of all, and its hex line in
 * hex: the texts sent to a node script and read back in turn. */
void add_text(struct gbuf *all, struct gbuf *hex, const char *s, size_t n);
/* The next text of all, from *off. */
const char *next_text(const struct gbuf *all, size_t *off, size_t *len);

#endif
