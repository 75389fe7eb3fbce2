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

static void never_io_cb(herd_loop_t *l, int fd, uint32_t events, void *data) {
  (void)l;
  (void)data;
  test_fail(__FILE__, __LINE__, "unexpected io callback: fd %d events %#x",
            fd, (unsigned)events);
}

struct evlog {
  char text[4096];
  size_t len;
  const char *fifo; /* gate: a line written at "early" and at the exit */
  int exits, closes, stop_at_exit;
  size_t bytes[3];
  herd_child_t *child;
};

static herd_loop_t *loop_new(void) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  return l;
}

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

static const herd_child_io_opts_t ev_cbs = {
    .on_data = ev_data, .on_exit = ev_exit, .on_close = ev_close};

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
  herd_loop_t *l = loop_new();
  struct evlog e = {0};
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

TEST(loop_child_io_pipes_closed_early_close_waits_for_exit) {
  /* The child closes stdout and stderr, then runs on (waits for a line
   * on stdin): both ends come first, 'close' only after the exit. */
  herd_loop_t *l = loop_new();
  struct evlog e = {0};
  herd_child_t c;
  spawn_sh(&c, "exec >&- 2>&-; read x; exit 7", NULL, 1);
  CHECK_OK(herd_loop_child_io(l, &c, &ev_cbs, &e));
  for (int i = 0; i < 10 && (c.stdio[1] >= 0 || c.stdio[2] >= 0); i++)
    CHECK(herd_loop_run_once(l, 5000) > 0);
  CHECK_EQ(c.stdio[1], -1); /* the loop closed both at their end */
  CHECK_EQ(c.stdio[2], -1);
  CHECK_EQ(e.exits, 0);
  CHECK_EQ(e.closes, 0);
  CHECK_EQ(write(c.stdio[0], "x\n", 2), 2);
  CHECK_EQ(herd_loop_run(l), 0);
  e.text[e.len] = '\0';
  CHECK_STR(e.text, "exit 7 null\nclose 7 null\n");
  herd_loop_free(l);
}

TEST(loop_child_io_delivers_all_output_before_close) {
  /* 1 MiB on stdout and 64 KiB on stderr, the child exits at once: every
   * byte comes, and before the close. */
  int fds0 = test_count_fds();
  herd_loop_t *l = loop_new();
  struct evlog e = {0};
  herd_child_t c;
  spawn_sh(&c,
           "head -c 1048576 /dev/zero & head -c 65536 /dev/zero >&2; wait",
           NULL, 0);
  CHECK_OK(herd_loop_child_io(l, &c, &ev_cbs, &e));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(e.bytes[1], 1048576);
  CHECK_EQ(e.bytes[2], 65536);
  CHECK_EQ(e.exits, 1);
  CHECK_EQ(e.closes, 1);
  herd_loop_free(l);
  CHECK_EQ(test_count_fds(), fds0); /* pipes closed at their end, none left */
}

TEST(loop_child_io_without_pipes_closes_with_the_exit) {
  herd_loop_t *l = loop_new();
  struct evlog e = {0};
  herd_child_t c;
  char *argv[] = {"herd-test", "--helper", "exit", "4", NULL};
  CHECK_OK(herd_spawn(&c, test_self(), argv, NULL));
  CHECK_OK(herd_loop_child_io(l, &c, &ev_cbs, &e));
  CHECK(herd_loop_run_once(l, 5000) == 1); /* one turn: exit, then close */
  e.text[e.len] = '\0';
  CHECK_STR(e.text, "exit 4 null\nclose 4 null\n");
  CHECK_EQ(herd_loop_child_io_stop(l, &c), -ENOENT); /* over */
  CHECK_EQ(herd_loop_run(l), 0);
  herd_loop_free(l);
}

TEST(loop_child_io_stop_leaves_the_pipes_open) {
  herd_loop_t *l = loop_new();
  struct evlog e = {0};
  herd_child_t c;
  spawn_sh(&c, "read x; echo out", NULL, 1);
  CHECK_OK(herd_loop_child_io(l, &c, &ev_cbs, &e));
  CHECK_OK(herd_loop_child_io_stop(l, &c));
  CHECK_EQ(herd_loop_child_io_stop(l, &c), -ENOENT);
  uint64_t t0 = test_now_ms();
  CHECK_EQ(herd_loop_run(l), 0); /* nothing watched: returns at once */
  CHECK(test_now_ms() - t0 < 1000);
  /* The pipes are the caller's again, open: the output is all there. */
  CHECK(c.stdio[1] >= 0 && c.stdio[2] >= 0);
  CHECK_EQ(write(c.stdio[0], "x\n", 2), 2);
  int fl = fcntl(c.stdio[1], F_GETFL);
  CHECK(fl >= 0 && fcntl(c.stdio[1], F_SETFL, fl & ~O_NONBLOCK) == 0);
  char *out = test_read_all(c.stdio[1], NULL);
  CHECK_STR(out, "out\n");
  free(out);
  CHECK_OK(herd_child_wait(&c, 5000));
  CHECK_EQ(e.exits + e.closes + (int)e.bytes[1], 0);
  /* Watched again after the stop, and stopped from its exit callback:
   * no close follows, the stderr pipe stays open. */
  e.stop_at_exit = 1;
  CHECK_OK(herd_loop_child_io(l, &c, &ev_cbs, &e));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(e.exits, 1);
  CHECK_EQ(e.closes, 0);
  herd_child_close(&c);
  herd_loop_free(l);
}

TEST(loop_child_io_bad_args) {
  herd_loop_t *l = loop_new();
  herd_child_t c;
  spawn_sh(&c, "read x", NULL, 1);
  CHECK_EQ(herd_loop_child_io(NULL, &c, &ev_cbs, NULL), -EINVAL);
  CHECK_EQ(herd_loop_child_io(l, NULL, &ev_cbs, NULL), -EINVAL);
  CHECK_EQ(herd_loop_child_io(l, &c, NULL, NULL), -EINVAL);
  CHECK_EQ(herd_loop_child_io_stop(NULL, &c), -EINVAL);
  CHECK_EQ(herd_loop_child_io_stop(l, NULL), -EINVAL);
  CHECK_EQ(herd_loop_child_io_stop(l, &c), -ENOENT);
  herd_child_t none;
  memset(&none, 0, sizeof none);
  none.pidfd = none.stdio[0] = none.stdio[1] = none.stdio[2] = -1;
  CHECK_EQ(herd_loop_child_io(l, &none, &ev_cbs, NULL), -EINVAL);
  none.pid = c.pid;
  CHECK_EQ(herd_loop_child_io(l, &none, &ev_cbs, NULL), -EBADF);
  /* A pipe watched already: refused before anything changed (the pipe
   * is still blocking, the pidfd free to watch). */
  CHECK_OK(herd_loop_add(l, c.stdio[2], EPOLLIN, never_io_cb, NULL));
  CHECK_EQ(herd_loop_child_io(l, &c, &ev_cbs, NULL), -EEXIST);
  CHECK_EQ(fcntl(c.stdio[1], F_GETFL) & O_NONBLOCK, 0);
  CHECK_OK(herd_loop_del(l, c.stdio[2]));
  struct evlog e;
  memset(&e, 0, sizeof e);
  CHECK_OK(herd_loop_child_io(l, &c, &ev_cbs, &e));
  CHECK_EQ(herd_loop_child_io(l, &c, &ev_cbs, &e), -EEXIST);
  CHECK_EQ(herd_loop_child(l, &c, ev_exit, &e), -EEXIST);
  CHECK(fcntl(c.stdio[1], F_GETFL) & O_NONBLOCK);
  CHECK_EQ(write(c.stdio[0], "x\n", 2), 2);
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(e.closes, 1);
  herd_loop_free(l);
}

static void ev_message(herd_loop_t *l, herd_chan_t *ch, int err,
                       herd_chan_msg_t *msg, void *data) {
  struct evlog *e = data;
  CHECK_MSG(e->closes == 0, "message after close");
  if (err == 0) {
    logf_(e, "message %.*s\n", (int)msg->len, msg->json);
    return;
  }
  CHECK_EQ(err, HERD_EPEERGONE);
  logf_(e, "disconnect\n");
  CHECK_EQ(herd_loop_chan_stop(l, ch), -ENOENT); /* ended: not watched */
  if (e->child)
    CHECK_EQ(write(e->child->stdio[0], "go\n", 3), 3);
}

TEST(loop_child_io_close_waits_for_the_channel_end) {
  /* The channel outlives the child and its pipes: no close until its
   * end (its peer here is the test). */
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  herd_chan_t *ch;
  CHECK_OK(herd_chan_open(&ch, sv[0], NULL));
  herd_loop_t *l = loop_new();
  struct evlog e = {0};
  herd_child_t c;
  spawn_sh(&c, "exit 2", NULL, 0);
  herd_child_io_opts_t io = ev_cbs;
  io.chan = ch;
  io.on_message = ev_message;
  CHECK_OK(herd_loop_child_io(l, &c, &io, &e));
  for (int i = 0; i < 10 && (e.exits == 0 || c.stdio[1] >= 0 ||
                             c.stdio[2] >= 0); i++)
    CHECK(herd_loop_run_once(l, 5000) > 0);
  CHECK_EQ(e.exits, 1);
  CHECK_EQ(c.stdio[1], -1);
  CHECK_EQ(c.stdio[2], -1);
  CHECK_EQ(e.closes, 0);
  CHECK_EQ(write(sv[1], "{\"a\":1}\n", 8), 8);
  CHECK_EQ(close(sv[1]), 0);
  CHECK_EQ(herd_loop_run(l), 0);
  e.text[e.len] = '\0';
  CHECK_STR(e.text, "exit 2 null\n"
                    "message {\"a\":1}\n"
                    "disconnect\n"
                    "close 2 null\n");
  herd_chan_close(ch);
  herd_loop_free(l);
}

TEST_T(loop_child_io_counts_the_ipc_channel_like_node, 60) {
  /* Node counts the IPC channel among the closes 'close' waits for. The
   * same script, run by node's fork and by herd_fork. */
  const char *node = node_path();
  char script[PATH_MAX];
  node_script(script, sizeof script, "ipc-close.js");
  herd_spawn_opts_t o;
  memset(&o, 0, sizeof o);
  for (int i = 0; i < 3; i++)
    o.stdio[i].kind = HERD_STDIO_PIPE;
  char *argv[] = {"node", script, "child", NULL};
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork(&c, &ch, node, argv, &o));
  herd_loop_t *l = loop_new();
  struct evlog e = {0};
  e.child = &c;
  herd_child_io_opts_t io = ev_cbs;
  io.chan = ch;
  io.on_message = NULL;
  CHECK_EQ(herd_loop_child_io(l, &c, &io, &e), -EINVAL); /* chan needs it */
  io.on_message = ev_message;
  CHECK_OK(herd_loop_child_io(l, &c, &io, &e));
  CHECK_EQ(herd_loop_chan(l, ch, ev_message, &e), -EEXIST);
  CHECK_EQ(herd_loop_chan_stop(l, ch), -EBUSY); /* the watch's own */
  CHECK_EQ(herd_loop_run(l), 0);
  e.text[e.len] = '\0';
  CHECK_STR(e.text, "message \"hi\"\n"
                    "disconnect\n"
                    "exit 4 null\n"
                    "close 4 null\n");
  herd_chan_close(ch);
  herd_loop_free(l);
  char *ref = node_run("ipc-close.js", NULL, NULL, 0);
  CHECK_STR(e.text, ref);
  free(ref);
}

/* ---- ref and unref ------------------------------------------------ */

struct reflog {
  char text[256];
  size_t len;
  int ticks;
  herd_timer_t tick, timeout;
};

static void reflog_add(struct reflog *r, const char *s) {
  size_t n = strlen(s);
  CHECK(r->len + n + 2 <= sizeof r->text);
  memcpy(r->text + r->len, s, n);
  r->len += n;
  r->text[r->len++] = '\n';
  r->text[r->len] = '\0';
}

static void tick_cb(herd_loop_t *l, herd_timer_t *t, void *data) {
  struct reflog *r = data;
  if (r->ticks++ == 0)
    reflog_add(r, "tick");
  CHECK_OK(herd_loop_timer_start(l, t, 5, tick_cb, r)); /* an interval */
}

static void timeout_cb(herd_loop_t *l, herd_timer_t *t, void *data) {
  (void)l;
  (void)t;
  reflog_add(data, "timeout");
}

/* Run a case: the loop's events, then "end", as unref.js prints them. */
static void ref_case_check(struct reflog *r, const char *name) {
  reflog_add(r, "end");
  char *node = node_run("unref.js", name, NULL, 0);
  CHECK_STR(r->text, node);
  free(node);
}

TEST(loop_unref_timer_fires_while_a_ref_one_keeps_the_loop_like_node) {
  herd_loop_t *l = loop_new();
  struct reflog r;
  memset(&r, 0, sizeof r);
  CHECK_OK(herd_loop_timer_start(l, &r.tick, 5, tick_cb, &r));
  CHECK_OK(herd_loop_timer_ref(l, &r.tick, 0));
  CHECK_OK(herd_loop_timer_start(l, &r.timeout, 100, timeout_cb, &r));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK(r.ticks >= 2);         /* it fired, and kept firing, */
  CHECK(r.tick.heap_index > 0); /* and is still queued: not waited for */
  ref_case_check(&r, "timers");
  herd_loop_free(l);
}

TEST(loop_unref_timer_alone_lets_run_return_like_node) {
  herd_loop_t *l = loop_new();
  struct reflog r;
  memset(&r, 0, sizeof r);
  CHECK_OK(herd_loop_timer_ref(l, &r.timeout, 0)); /* idle: kept */
  CHECK_OK(herd_loop_timer_start(l, &r.timeout, 10000, timeout_cb, &r));
  uint64_t t0 = test_now_ms();
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK(test_now_ms() - t0 < 1000);
  ref_case_check(&r, "unref");
  /* Stopped and started again, it stays unreferenced. */
  herd_loop_timer_stop(l, &r.timeout);
  CHECK_OK(herd_loop_timer_start(l, &r.timeout, 10000, timeout_cb, &r));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK(test_now_ms() - t0 < 1000);
  CHECK_EQ(herd_loop_timer_ref(NULL, &r.timeout, 1), -EINVAL);
  CHECK_EQ(herd_loop_timer_ref(l, NULL, 1), -EINVAL);
  herd_loop_free(l);
}

TEST(loop_timer_ref_again_keeps_the_loop_like_node) {
  herd_loop_t *l = loop_new();
  struct reflog r;
  memset(&r, 0, sizeof r);
  CHECK_OK(herd_loop_timer_start(l, &r.timeout, 50, timeout_cb, &r));
  CHECK_OK(herd_loop_timer_ref(l, &r.timeout, 0));
  CHECK_OK(herd_loop_timer_ref(l, &r.timeout, 0)); /* twice: no count */
  CHECK_OK(herd_loop_timer_ref(l, &r.timeout, 1));
  CHECK_EQ(herd_loop_run(l), 0);
  ref_case_check(&r, "reref");
  herd_loop_free(l);
}

struct childref {
  int calls, status;
};

static void childref_cb(herd_loop_t *l, herd_child_t *c, void *data) {
  (void)l;
  struct childref *r = data;
  r->calls++;
  r->status = herd_child_status(c);
}

TEST(loop_unref_child_lets_run_return_and_ref_keeps_it) {
  herd_loop_t *l = loop_new();
  herd_child_t c;
  char *argv[] = {"herd-test", "--helper", "sleep", "20000", NULL};
  CHECK_OK(herd_spawn(&c, test_self(), argv, NULL));
  struct childref r = {0, 0};
  CHECK_EQ(herd_loop_child_ref(l, &c, 0), -ENOENT);
  CHECK_OK(herd_loop_child(l, &c, childref_cb, &r));
  CHECK_OK(herd_loop_child_ref(l, &c, 0));
  uint64_t t0 = test_now_ms();
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK(test_now_ms() - t0 < 1000);
  CHECK_EQ(r.calls, 0);
  /* Referenced again: run waits for its exit. */
  CHECK_OK(herd_loop_child_ref(l, &c, 1));
  CHECK_OK(herd_child_kill(&c, SIGTERM, 0));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, 128 + SIGTERM);
  CHECK_EQ(herd_loop_child_ref(l, &c, 1), -ENOENT); /* the watch is over */
  herd_child_close(&c);
  herd_loop_free(l);
}

TEST(loop_child_ref_matches_node) {
  /* Node: child.unref(), then child.ref(): its exit is waited for. */
  herd_loop_t *l = loop_new();
  herd_child_t c;
  char *argv[] = {"sleep", "0.3", NULL};
  CHECK_OK(herd_spawn(&c, "sleep", argv, NULL));
  struct childref cr = {0, -1};
  CHECK_OK(herd_loop_child(l, &c, childref_cb, &cr));
  CHECK_OK(herd_loop_child_ref(l, &c, 0));
  CHECK_OK(herd_loop_child_ref(l, &c, 1));
  CHECK_EQ(herd_loop_run(l), 0);
  struct reflog r;
  memset(&r, 0, sizeof r);
  char line[32];
  snprintf(line, sizeof line, "exit %d", cr.status);
  reflog_add(&r, line);
  ref_case_check(&r, "child");
  herd_child_close(&c);
  herd_loop_free(l);
}

static void write_x_cb(herd_loop_t *l, herd_timer_t *t, void *data) {
  (void)l;
  (void)t;
  herd_child_t *c = data;
  CHECK_EQ(write(c->stdio[0], "x\n", 2), 2);
}

TEST(loop_child_io_unref_is_the_exit_only_like_node) {
  /* Node's child.unref() leaves child.stdout referenced; each stream is
   * unreferenced by itself (child.stdout.unref()). */
  herd_loop_t *l = loop_new();
  struct evlog e = {0};
  herd_child_t c;
  spawn_sh(&c, "read x; echo bye", NULL, 1);
  CHECK_OK(herd_loop_child_io(l, &c, &ev_cbs, &e));
  CHECK_EQ(herd_loop_fd_ref(l, c.pidfd, 0), -ENOENT); /* not an fd watch */
  CHECK_OK(herd_loop_child_ref(l, &c, 0));
  CHECK_OK(herd_loop_fd_ref(l, c.stdio[1], 0));
  CHECK_OK(herd_loop_fd_ref(l, c.stdio[2], 0));
  uint64_t t0 = test_now_ms();
  CHECK_EQ(herd_loop_run(l), 0); /* all three unreferenced */
  CHECK(test_now_ms() - t0 < 1000);
  CHECK_EQ(e.bytes[1] + (size_t)e.exits, 0);
  /* The pipes referenced again, the exit not: run waits for the output
   * that comes once a timer has let the child go on. */
  CHECK_OK(herd_loop_fd_ref(l, c.stdio[1], 1));
  CHECK_OK(herd_loop_fd_ref(l, c.stdio[2], 1));
  herd_timer_t t = {0};
  CHECK_OK(herd_loop_timer_start(l, &t, 20, write_x_cb, &c));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(e.bytes[1], 4);
  CHECK_EQ(c.stdio[1], -1); /* run returned after both ends */
  CHECK_EQ(c.stdio[2], -1);
  /* The exit, referenced again, is waited for if it has not come. */
  if (e.exits == 0)
    CHECK_OK(herd_loop_child_ref(l, &c, 1));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(e.exits, 1);
  CHECK_EQ(e.closes, 1);
  herd_loop_free(l);
}

static void chanref_cb(herd_loop_t *l, herd_chan_t *ch, int err,
                       herd_chan_msg_t *msg, void *data) {
  (void)l;
  (void)ch;
  int *got = data;
  if (err == 0) {
    CHECK(msg != NULL);
    got[0]++;
    CHECK_EQ(msg->fd, -1);
  } else {
    got[1] = err;
  }
}

TEST(loop_unref_channel_and_fd_let_run_return) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  herd_chan_t *ch;
  CHECK_OK(herd_chan_open(&ch, sv[0], NULL));
  int p[2];
  CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
  herd_loop_t *l = loop_new();
  int got[2] = {0, 0};
  CHECK_EQ(herd_loop_chan_ref(l, ch, 0), -ENOENT);
  CHECK_EQ(herd_loop_fd_ref(l, p[0], 0), -ENOENT);
  CHECK_OK(herd_loop_chan(l, ch, chanref_cb, got));
  CHECK_OK(herd_loop_add(l, p[0], EPOLLIN, never_io_cb, NULL));
  CHECK_OK(herd_loop_chan_ref(l, ch, 0));
  CHECK_OK(herd_loop_fd_ref(l, p[0], 0));
  CHECK_EQ(herd_loop_chan_ref(NULL, ch, 0), -EINVAL);
  CHECK_EQ(herd_loop_fd_ref(NULL, p[0], 0), -EINVAL);
  uint64_t t0 = test_now_ms();
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK(test_now_ms() - t0 < 1000);
  /* Referenced again, the channel keeps run going to its end, and an
   * unreferenced watch deleted leaves the counts right. */
  CHECK_OK(herd_loop_del(l, p[0]));
  CHECK_OK(herd_loop_chan_ref(l, ch, 1));
  CHECK_EQ(write(sv[1], "1\n2\n", 4), 4);
  CHECK_EQ(close(sv[1]), 0);
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(got[0], 2);
  CHECK_EQ(got[1], HERD_EPEERGONE);
  CHECK_EQ(herd_loop_chan_ref(l, ch, 1), -ENOENT); /* ended */
  /* A referenced fd watch keeps it again; deleting it ends run. */
  CHECK_OK(herd_loop_add(l, p[0], EPOLLIN, never_io_cb, NULL));
  CHECK_OK(herd_loop_fd_ref(l, p[0], 0));
  CHECK_OK(herd_loop_fd_ref(l, p[0], 1));
  CHECK_EQ(herd_loop_run_once(l, 0), 0);
  CHECK_OK(herd_loop_del(l, p[0]));
  CHECK_EQ(herd_loop_run(l), 0);
  herd_chan_close(ch);
  herd_loop_free(l);
  CHECK_EQ(close(p[0]), 0);
  CHECK_EQ(close(p[1]), 0);
}

static void sigref_cb(herd_loop_t *l, int sig, pid_t from, void *data) {
  (void)l;
  (void)from;
  *(int *)data = sig;
}

TEST(loop_unref_signal_lets_run_return_and_still_fires) {
  herd_loop_t *l = loop_new();
  int got = 0;
  CHECK_EQ(herd_loop_signal_ref(l, SIGUSR1, 0), -ENOENT);
  CHECK_EQ(herd_loop_signal_ref(l, 0, 0), -EINVAL);
  CHECK_OK(herd_loop_signal(l, SIGUSR1, sigref_cb, &got));
  CHECK_OK(herd_loop_signal_ref(l, SIGUSR1, 0));
  uint64_t t0 = test_now_ms();
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK(test_now_ms() - t0 < 1000);
  /* Still delivered while something referenced runs the loop. */
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  struct reflog r;
  memset(&r, 0, sizeof r);
  CHECK_OK(herd_loop_timer_start(l, &r.timeout, 50, timeout_cb, &r));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(got, SIGUSR1);
  /* Dropped and registered again: referenced, as every new watch. */
  CHECK_OK(herd_loop_signal(l, SIGUSR1, NULL, NULL));
  CHECK_EQ(herd_loop_signal_ref(l, SIGUSR1, 1), -ENOENT);
  CHECK_OK(herd_loop_signal(l, SIGUSR1, sigref_cb, &got));
  got = 0;
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  CHECK_EQ(herd_loop_run_once(l, 5000), 1);
  CHECK_EQ(got, SIGUSR1);
  CHECK_OK(herd_loop_signal(l, SIGUSR1, NULL, NULL));
  CHECK_EQ(herd_loop_run(l), 0);
  herd_loop_free(l);
}

/* A child spawned with timeout_ms and abort keeps them under
 * herd_loop_child_io as under herd_loop_child: the timeout sends its
 * kill_signal, and 'exit' then 'close' follow with the signal. */
TEST(loop_child_io_enforces_the_spawn_timeout) {
  herd_loop_t *l = loop_new();
  herd_abort_t *ab;
  CHECK_OK(herd_abort_new(&ab));
  herd_spawn_opts_t o;
  memset(&o, 0, sizeof o);
  o.stdio[1].kind = HERD_STDIO_PIPE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  o.timeout_ms = 100;
  o.kill_signal = SIGINT;
  o.abort = ab;
  herd_child_t c;
  char *argv[] = {"sh", "-c", "echo up; exec sleep 20", NULL};
  CHECK_OK(herd_spawn(&c, "sh", argv, &o));
  struct evlog e;
  memset(&e, 0, sizeof e);
  uint64_t t0 = test_now_ms();
  CHECK_OK(herd_loop_child_io(l, &c, &ev_cbs, &e));
  CHECK_EQ(herd_loop_run(l), 0);
  uint64_t took = test_now_ms() - t0;
  CHECK_MSG(took >= 90 && took < 10000, "the timeout took %llu ms", (unsigned long long)took);
  CHECK_EQ(e.exits, 1);
  CHECK_EQ(e.closes, 1);
  CHECK_STR(e.text, "exit null 2\nclose null 2\n");
  CHECK_EQ(c.killed, 1);
  herd_loop_free(l);
  herd_abort_free(ab);
}

/* An unreferenced child's timeout does not keep the loop running (its
 * guard follows the child's ref), under both watches. */
TEST(loop_unref_child_with_a_timeout_lets_run_return) {
  for (int io = 0; io < 2; io++) {
    herd_loop_t *l = loop_new();
    herd_spawn_opts_t o;
    memset(&o, 0, sizeof o);
    o.timeout_ms = 20000;
    herd_child_t c;
    char *argv[] = {"herd-test", "--helper", "sleep", "20000", NULL};
    CHECK_OK(herd_spawn(&c, test_self(), argv, &o));
    struct childref r = {0, 0};
    struct evlog e;
    memset(&e, 0, sizeof e);
    if (io)
      CHECK_OK(herd_loop_child_io(l, &c, &ev_cbs, &e));
    else
      CHECK_OK(herd_loop_child(l, &c, childref_cb, &r));
    CHECK_OK(herd_loop_child_ref(l, &c, 0));
    uint64_t t0 = test_now_ms();
    CHECK_EQ(herd_loop_run(l), 0);
    CHECK_MSG(test_now_ms() - t0 < 5000, "run waited for the timeout (io %d)", io);
    CHECK_EQ(r.calls + e.exits, 0);
    herd_loop_free(l);
    herd_child_close(&c);
  }
}
