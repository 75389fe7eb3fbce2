/*
 * loopev_test.c - the loop's events and states from Node: a child with
 * its output (herd_loop_child_io: 'data', 'exit', 'close') and ref/unref
 * of watches (herd_loop_*_ref), each held against what node prints for
 * the same case (tests/node/child-close.js, tests/node/unref.js).
 *
 * The child scripts wait on a FIFO, opened by the test from a loop
 * callback, so the order of their output and their exit is set by
 * events, not by timing.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jtest.h"
#include "test.h"

/* ---- a child with its output -------------------------------------- */

struct evlog {
  char text[4096];
  size_t len;
  const char *fifo; /* gate: a line written at "early" and at the exit */
  int exits, closes, stop_at_exit;
  size_t bytes[3];
  herd_loop_t *loop;
};

static void logf_(struct evlog *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(struct evlog *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(e->text + e->len, sizeof e->text - e->len, fmt, ap);
  va_end(ap);
  CHECK(n > 0 && (size_t)n < sizeof e->text - e->len);
  e->len += (size_t)n;
}

/* Open the FIFO (blocks until the child opens it too) and write a line. */
static void gate(const char *fifo) {
  int fd = open(fifo, O_WRONLY | O_CLOEXEC);
  CHECK_MSG(fd >= 0, "open %s: %s", fifo, strerror(errno));
  CHECK_EQ(write(fd, "go\n", 3), 3);
  CHECK_EQ(close(fd), 0);
}

static void ev_data(herd_loop_t *l, herd_child_t *c, int stream,
                    const char *buf, size_t len, void *data) {
  (void)l;
  (void)c;
  struct evlog *e = data;
  CHECK(stream == 1 || stream == 2);
  CHECK(len > 0);
  CHECK_MSG(e->closes == 0, "data after close");
  e->bytes[stream] += len;
  if (!e->fifo)
    return; /* bulk output: counted only */
  for (const char *p = buf, *end = buf + len; p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (n > 0) {
      logf_(e, "data %d %.*s\n", stream, (int)n, p);
      if (n == 5 && !memcmp(p, "early", 5))
        gate(e->fifo);
    }
    p += n + 1;
  }
}

static void log_status(struct evlog *e, const char *what, herd_child_t *c) {
  char sig[16] = "null";
  if (c->term_signal)
    snprintf(sig, sizeof sig, "%d", c->term_signal);
  if (c->exit_code >= 0)
    logf_(e, "%s %d %s\n", what, c->exit_code, sig);
  else
    logf_(e, "%s null %s\n", what, sig);
}

static void ev_exit(herd_loop_t *l, herd_child_t *c, void *data) {
  struct evlog *e = data;
  CHECK_EQ(c->reaped, 1);
  CHECK_MSG(e->closes == 0, "exit after close");
  e->exits++;
  log_status(e, "exit", c);
  if (e->stop_at_exit)
    CHECK_OK(herd_loop_child_io_stop(l, c));
  if (e->fifo)
    gate(e->fifo);
}

static void ev_close(herd_loop_t *l, herd_child_t *c, void *data) {
  (void)l;
  struct evlog *e = data;
  CHECK_MSG(e->exits == 1, "close before exit");
  CHECK_EQ(c->stdio[1], -1); /* every pipe ended and closed by the loop */
  CHECK_EQ(c->stdio[2], -1);
  e->closes++;
  log_status(e, "close", c);
  herd_child_close(c); /* the watch is over: allowed here */
}

static const herd_child_io_cbs_t ev_cbs = {ev_data, ev_exit, ev_close};

static void spawn_sh(herd_child_t *c, const char *script, const char *arg,
                     int in_pipe) {
  herd_spawn_opts_t o;
  memset(&o, 0, sizeof o);
  o.stdio[0].kind = in_pipe ? HERD_STDIO_PIPE : HERD_STDIO_IGNORE;
  o.stdio[1].kind = HERD_STDIO_PIPE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  char *argv[] = {"sh", "-c", (char *)script, "sh", (char *)arg, NULL};
  CHECK_OK(herd_spawn(c, "sh", argv, &o));
}

/* A FIFO in a new directory; both removed by fifo_done. */
static void fifo_make(char dir[64], char path[96]) {
  snprintf(dir, 64, "/tmp/herd-loopev-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, 96, "%s/gate", dir);
  CHECK_EQ(mkfifo(path, 0600), 0);
}

static void fifo_done(const char *dir, const char *path) {
  CHECK_EQ(unlink(path), 0);
  CHECK_EQ(rmdir(dir), 0);
}

/* The child exits while a grandchild it started holds stdout and stderr:
 * Node's 'exit' comes then, its 'close' only when the grandchild is gone,
 * after the grandchild's output. */
static const char grandchild_sh[] =
    "echo early; read go < \"$1\"; "
    "(while ! read x < \"$1\"; do :; done; echo late) & exit 3";

TEST_T(loop_child_io_close_waits_for_grandchild_like_node, 60) {
  char dir[64], fifo[96];
  fifo_make(dir, fifo);
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct evlog e;
  memset(&e, 0, sizeof e);
  e.fifo = fifo;
  herd_child_t c;
  spawn_sh(&c, grandchild_sh, fifo, 0);
  CHECK_OK(herd_loop_child_io(l, &c, &ev_cbs, &e));
  CHECK_EQ(herd_loop_run(l), 0);
  e.text[e.len] = '\0';
  CHECK_STR(e.text, "data 1 early\n"
                    "exit 3 null\n"
                    "data 1 late\n"
                    "close 3 null\n");
  CHECK_EQ(e.closes, 1);
  herd_loop_free(l);
  /* What node prints for the same command. */
  char *node = node_run("child-close.js", fifo, grandchild_sh,
                        strlen(grandchild_sh));
  fifo_done(dir, fifo);
  CHECK_STR(e.text, node);
  free(node);
}
