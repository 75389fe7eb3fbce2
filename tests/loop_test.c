/*
 * loop_test.c - herd_loop_*: timers, fds, signals, children, execs,
 * nesting and teardown.
 *
 * Every wait here is on an event of the loop itself (a timer, a pipe, a
 * signalfd, a pidfd); elapsed times are only checked against bounds.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* ---- helpers ------------------------------------------------------ */

static void make_pipe(int p[2]) {
  CHECK_MSG(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
}

static void write_str(int fd, const char *s) {
  size_t len = strlen(s);
  CHECK_MSG(write(fd, s, len) == (ssize_t)len, "write: %s", strerror(errno));
}

static int sig_blocked(int sig) {
  sigset_t cur;
  CHECK_EQ(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
  return sigismember(&cur, sig);
}

/* No child of this process exists any more, running or zombie. */
static void check_no_children(void) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
  CHECK_MSG(r < 0 && errno == ECHILD,
            "a child is left: waitid returned %d, si_pid %d", r,
            (int)si.si_pid);
}

static void never_io_cb(herd_loop_t *l, int fd, uint32_t events,
                        void *data) {
  (void)l;
  (void)data;
  test_fail(__FILE__, __LINE__, "unexpected io callback: fd %d events %#x",
            fd, (unsigned)events);
}

static void never_timer_cb(herd_loop_t *l, herd_timer_t *t, void *data) {
  (void)l;
  (void)t;
  (void)data;
  test_fail(__FILE__, __LINE__, "unexpected timer callback");
}

/* ---- timers ------------------------------------------------------- */

struct order {
  int fired[8];
  uint64_t at[8];
  int n;
  uint64_t t0;
};

struct tag {
  struct order *o;
  int id;
};

static void order_cb(herd_loop_t *l, herd_timer_t *t, void *data) {
  (void)l;
  (void)t;
  struct tag *g = data;
  CHECK(g->o->n < 8);
  g->o->at[g->o->n] = test_now_ms() - g->o->t0;
  g->o->fired[g->o->n++] = g->id;
}

TEST(loop_timers_fire_in_due_order) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct order o = {.t0 = test_now_ms()};
  herd_timer_t t30, t10, t20;
  memset(&t30, 0, sizeof t30);
  memset(&t10, 0, sizeof t10);
  memset(&t20, 0, sizeof t20);
  struct tag g30 = {&o, 30}, g10 = {&o, 10}, g20 = {&o, 20};
  CHECK_OK(herd_loop_timer_start(l, &t30, 30, order_cb, &g30));
  CHECK_OK(herd_loop_timer_start(l, &t10, 10, order_cb, &g10));
  CHECK_OK(herd_loop_timer_start(l, &t20, 20, order_cb, &g20));
  /* Only the timers keep it running: run returns once they are done. */
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(o.n, 3);
  CHECK_EQ(o.fired[0], 10);
  CHECK_EQ(o.fired[1], 20);
  CHECK_EQ(o.fired[2], 30);
  /* None fires early (ms resolution on both sides: allow 1 ms). */
  for (int i = 0; i < 3; i++)
    CHECK_MSG(o.at[i] + 1 >= (uint64_t)o.fired[i],
              "timer %d ms fired after %llu ms", o.fired[i],
              (unsigned long long)o.at[i]);
  CHECK_EQ(t10.heap_index, 0);
  CHECK_EQ(t20.heap_index, 0);
  CHECK_EQ(t30.heap_index, 0);
  herd_loop_free(l);
}

TEST(loop_stopped_timer_never_fires) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct order o = {.t0 = test_now_ms()};
  herd_timer_t a, b, c;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&c, 0, sizeof c);
  struct tag ga = {&o, 1}, gb = {&o, 2}, gc = {&o, 3};
  CHECK_OK(herd_loop_timer_start(l, &a, 10, order_cb, &ga)); /* earliest */
  CHECK_OK(herd_loop_timer_start(l, &b, 20, order_cb, &gb));
  CHECK_OK(herd_loop_timer_start(l, &c, 40, order_cb, &gc));
  herd_loop_timer_stop(l, &a); /* the one the timerfd is armed for */
  herd_loop_timer_stop(l, &a); /* twice is harmless */
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(o.n, 2);
  CHECK_EQ(o.fired[0], 2);
  CHECK_EQ(o.fired[1], 3);
  /* c fired at 40 ms, so a (10 ms) had every chance to fire first. */
  CHECK(o.at[1] + 1 >= 40);
  herd_loop_free(l);
}

TEST(loop_huge_timeout_never_wraps) {
  /* now + UINT64_MAX once wrapped around: due at once */
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct order o = {.t0 = test_now_ms()};
  herd_timer_t a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  struct tag ga = {&o, 1}, gb = {&o, 2};
  CHECK_OK(herd_loop_timer_start(l, &a, UINT64_MAX, order_cb, &ga));
  CHECK_OK(herd_loop_timer_start(l, &b, (uint64_t)-1000, order_cb, &gb));
  for (int i = 0; i < 3; i++)
    CHECK(herd_loop_run_once(l, 50) >= 0);
  CHECK_EQ(o.n, 0);
  herd_loop_timer_stop(l, &a);
  herd_loop_timer_stop(l, &b);
  herd_loop_free(l);
}

/* Two timers due in the same batch; whichever runs first stops the
 * other, which then must not run. */
struct pair {
  herd_timer_t t[2];
  int fired[2];
};

static void pair_cb(herd_loop_t *l, herd_timer_t *t, void *data) {
  struct pair *p = data;
  int me = t == &p->t[0] ? 0 : 1;
  p->fired[me]++;
  herd_loop_timer_stop(l, &p->t[!me]);
}

TEST(loop_timer_stopped_by_earlier_callback_in_batch) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct pair p;
  memset(&p, 0, sizeof p);
  CHECK_OK(herd_loop_timer_start(l, &p.t[0], 15, pair_cb, &p));
  CHECK_OK(herd_loop_timer_start(l, &p.t[1], 15, pair_cb, &p));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(p.fired[0] + p.fired[1], 1);
  herd_loop_free(l);
}

TEST(loop_timer_restart_moves_it) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct order o = {.t0 = test_now_ms()};
  herd_timer_t a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  struct tag ga = {&o, 1}, gb = {&o, 2};
  CHECK_OK(herd_loop_timer_start(l, &a, 10, order_cb, &ga));
  CHECK_OK(herd_loop_timer_start(l, &b, 30, order_cb, &gb));
  /* Later: a now fires after b, and once. */
  CHECK_OK(herd_loop_timer_start(l, &a, 60, order_cb, &ga));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(o.n, 2);
  CHECK_EQ(o.fired[0], 2);
  CHECK_EQ(o.fired[1], 1);
  CHECK_MSG(o.at[1] + 1 >= 60, "moved timer fired at %llu ms",
            (unsigned long long)o.at[1]);

  /* Earlier: a timer moved in front of another fires first. */
  o.n = 0;
  o.t0 = test_now_ms();
  CHECK_OK(herd_loop_timer_start(l, &a, 200, order_cb, &ga));
  CHECK_OK(herd_loop_timer_start(l, &b, 40, order_cb, &gb));
  CHECK_OK(herd_loop_timer_start(l, &a, 10, order_cb, &ga));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(o.n, 2);
  CHECK_EQ(o.fired[0], 1);
  CHECK_EQ(o.fired[1], 2);
  herd_loop_free(l);
}

/* A timer that restarts itself from its own callback (an interval). */
static void again_cb(herd_loop_t *l, herd_timer_t *t, void *data) {
  int *n = data;
  if (++*n < 3)
    CHECK_OK(herd_loop_timer_start(l, t, 5, again_cb, data));
}

TEST(loop_timer_restarted_from_its_callback) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  herd_timer_t t;
  memset(&t, 0, sizeof t);
  int n = 0;
  CHECK_OK(herd_loop_timer_start(l, &t, 5, again_cb, &n));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(n, 3);
  herd_loop_free(l);
}

/* ---- run and stop ------------------------------------------------- */

TEST(loop_run_returns_when_nothing_is_watched) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  /* An empty loop does not block. */
  CHECK_EQ(herd_loop_run(l), 0);
  /* A watched fd that is never ready keeps it running: run_once with a
   * timeout comes back with no callback. */
  int p[2];
  make_pipe(p);
  CHECK_OK(herd_loop_add(l, p[0], EPOLLIN, never_io_cb, NULL));
  CHECK_EQ(herd_loop_run_once(l, 0), 0);
  CHECK_OK(herd_loop_del(l, p[0]));
  /* Deleted: nothing left again. */
  CHECK_EQ(herd_loop_run(l), 0);
  close(p[0]);
  close(p[1]);
  herd_loop_free(l);
}

static void stop_cb(herd_loop_t *l, int fd, uint32_t events, void *data) {
  (void)fd;
  CHECK(events & EPOLLIN);
  ++*(int *)data;
  herd_loop_stop(l);
}

TEST(loop_stop_from_callback_ends_run) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  int p[2];
  make_pipe(p);
  write_str(p[1], "x"); /* stays readable: level-triggered */
  int calls = 0;
  CHECK_OK(herd_loop_add(l, p[0], EPOLLIN, stop_cb, &calls));
  /* A far timer keeps the loop alive: only stop ends this run (and if
   * stop is ignored, the far timer fails the test in 5 s). */
  herd_timer_t far;
  memset(&far, 0, sizeof far);
  CHECK_OK(herd_loop_timer_start(l, &far, 5000, never_timer_cb, NULL));
  uint64_t t0 = test_now_ms();
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(calls, 1);
  /* A second run starts afresh (stop is not sticky). */
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(calls, 2);
  CHECK(test_now_ms() - t0 < 5000);
  herd_loop_timer_stop(l, &far);
  CHECK_OK(herd_loop_del(l, p[0]));
  close(p[0]);
  close(p[1]);
  herd_loop_free(l);
}

/* ---- io ----------------------------------------------------------- */

struct rd {
  char buf[64];
  size_t len;
  uint32_t events;
  int calls;
};

static void read_cb(herd_loop_t *l, int fd, uint32_t events, void *data) {
  struct rd *r = data;
  r->calls++;
  r->events = events;
  ssize_t n = read(fd, r->buf + r->len, sizeof r->buf - 1 - r->len);
  CHECK_MSG(n > 0, "read: %zd (%s)", n, strerror(errno));
  r->len += (size_t)n;
  r->buf[r->len] = '\0';
  CHECK_OK(herd_loop_del(l, fd));
}

TEST(loop_io_pipe_delivers_epollin_with_data) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  int p[2];
  make_pipe(p);
  struct rd r;
  memset(&r, 0, sizeof r);
  CHECK_OK(herd_loop_add(l, p[0], EPOLLIN, read_cb, &r));
  write_str(p[1], "hello loop");
  CHECK_EQ(herd_loop_run(l), 0); /* ends: the callback deleted the fd */
  CHECK_EQ(r.calls, 1);
  CHECK(r.events & EPOLLIN);
  CHECK_STR(r.buf, "hello loop");
  close(p[0]);
  close(p[1]);
  herd_loop_free(l);
}

static void count_cb(herd_loop_t *l, int fd, uint32_t events, void *data) {
  (void)l;
  (void)fd;
  struct rd *r = data;
  r->calls++;
  r->events = events;
}

TEST(loop_io_add_mod_del) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  int p[2];
  make_pipe(p);
  struct rd r;
  memset(&r, 0, sizeof r);
  /* The write end of an empty pipe is writable, never readable. */
  CHECK_OK(herd_loop_add(l, p[1], EPOLLIN, count_cb, &r));
  CHECK_EQ(herd_loop_add(l, p[1], EPOLLOUT, count_cb, &r), -EEXIST);
  CHECK_EQ(herd_loop_run_once(l, 0), 0);
  CHECK_EQ(r.calls, 0);

  CHECK_OK(herd_loop_mod(l, p[1], EPOLLOUT));
  CHECK_EQ(herd_loop_run_once(l, 1000), 1);
  CHECK_EQ(r.calls, 1);
  CHECK(r.events & EPOLLOUT);
  CHECK(!(r.events & EPOLLIN));

  CHECK_OK(herd_loop_mod(l, p[1], EPOLLIN));
  CHECK_EQ(herd_loop_run_once(l, 0), 0);
  CHECK_EQ(r.calls, 1);

  CHECK_OK(herd_loop_mod(l, p[1], EPOLLOUT));
  CHECK_OK(herd_loop_del(l, p[1]));
  CHECK_EQ(herd_loop_run_once(l, 0), 0); /* writable, but not watched */
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(herd_loop_del(l, p[1]), -ENOENT);
  CHECK_EQ(herd_loop_mod(l, p[1], EPOLLOUT), -ENOENT);
  CHECK_EQ(herd_loop_del(l, p[0]), -ENOENT); /* open, never added */
  CHECK_EQ(herd_loop_del(l, 123456), -ENOENT);
  CHECK_EQ(herd_loop_add(l, -1, EPOLLIN, count_cb, &r), -EBADF);

  /* Added again after a del: watched again. */
  CHECK_OK(herd_loop_add(l, p[1], EPOLLOUT, count_cb, &r));
  CHECK_EQ(herd_loop_run_once(l, 1000), 1);
  CHECK_EQ(r.calls, 2);
  CHECK_OK(herd_loop_del(l, p[1]));
  CHECK_EQ(herd_loop_run(l), 0);
  close(p[0]);
  close(p[1]);
  herd_loop_free(l);
}

/* Both pipes are readable in one epoll batch; whichever callback runs
 * first deletes the other watcher, closes its fd and puts a new, never
 * readable pipe on the same fd number with another callback. Neither the
 * deleted watcher nor the new one may see the stale event. */
struct batch {
  int p[2][2];
  int calls[2];
  int fresh_calls;
  int fresh[2];
  int replaced;
};

static void fresh_cb(herd_loop_t *l, int fd, uint32_t events, void *data) {
  (void)l;
  (void)fd;
  (void)events;
  ((struct batch *)data)->fresh_calls++;
}

static void batch_cb(herd_loop_t *l, int fd, uint32_t events, void *data) {
  (void)events;
  struct batch *b = data;
  int me = fd == b->p[0][0] ? 0 : 1;
  CHECK(fd == b->p[me][0]);
  b->calls[me]++;
  if (b->calls[me] > 1)
    return;
  int other = b->p[!me][0];
  CHECK_OK(herd_loop_del(l, other));
  close(other);
  /* pipe2 takes the lowest free numbers: the read end lands on other. */
  make_pipe(b->fresh);
  if (b->fresh[0] == other) {
    CHECK_OK(herd_loop_add(l, b->fresh[0], EPOLLIN, fresh_cb, b));
    b->replaced = 1;
  }
  b->p[!me][0] = -1;
  CHECK_OK(herd_loop_del(l, fd));
}

TEST(loop_watcher_deleted_earlier_in_batch_is_not_called) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct batch b;
  memset(&b, 0, sizeof b);
  make_pipe(b.p[0]);
  make_pipe(b.p[1]);
  CHECK_OK(herd_loop_add(l, b.p[0][0], EPOLLIN, batch_cb, &b));
  CHECK_OK(herd_loop_add(l, b.p[1][0], EPOLLIN, batch_cb, &b));
  write_str(b.p[0][1], "a");
  write_str(b.p[1][1], "b");
  /* Both are ready before the wait, so one epoll_wait returns both. */
  int ran = herd_loop_run_once(l, 1000);
  CHECK_EQ(ran, 1);
  CHECK_EQ(b.calls[0] + b.calls[1], 1);
  CHECK_EQ(b.fresh_calls, 0);
  if (b.replaced) {
    CHECK_OK(herd_loop_del(l, b.fresh[0]));
  }
  CHECK_EQ(herd_loop_run(l), 0);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++)
      if (b.p[i][j] >= 0)
        close(b.p[i][j]);
  close(b.fresh[0]);
  close(b.fresh[1]);
  herd_loop_free(l);
}

/* ---- signals ------------------------------------------------------ */

struct sigrec {
  int calls;
  int sig;
  pid_t from;
};

static void sig_cb(herd_loop_t *l, int sig, pid_t from, void *data) {
  struct sigrec *s = data;
  s->calls++;
  s->sig = sig;
  s->from = from;
  herd_loop_stop(l);
}

TEST(loop_signal_delivered_once_and_mask_restored) {
  CHECK(!sig_blocked(SIGUSR1));
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct sigrec s;
  memset(&s, 0, sizeof s);
  CHECK_EQ(herd_loop_signal(l, SIGKILL, sig_cb, &s), -EINVAL);
  CHECK_EQ(herd_loop_signal(l, 0, sig_cb, &s), -EINVAL);
  CHECK_OK(herd_loop_signal(l, SIGUSR1, sig_cb, &s));
  CHECK(sig_blocked(SIGUSR1));
  /* Blocked now: had the loop not blocked it, this kills the test. */
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  /* A signal watch keeps run going: only the callback's stop ends it. */
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(s.calls, 1);
  CHECK_EQ(s.sig, SIGUSR1);
  CHECK_EQ(s.from, getpid());
  /* Delivered once: nothing more to read, nothing pending. */
  CHECK_EQ(herd_loop_run_once(l, 0), 0);
  CHECK_EQ(s.calls, 1);
  sigset_t pend;
  CHECK_EQ(sigpending(&pend), 0);
  CHECK(!sigismember(&pend, SIGUSR1));
  herd_loop_free(l);
  CHECK_MSG(!sig_blocked(SIGUSR1), "SIGUSR1 still blocked after free");
}

TEST(loop_signal_keeps_a_mask_the_caller_set) {
  /* A signal the caller had blocked before stays blocked after free. */
  sigset_t two;
  sigemptyset(&two);
  sigaddset(&two, SIGUSR2);
  CHECK_EQ(pthread_sigmask(SIG_BLOCK, &two, NULL), 0);
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct sigrec s;
  memset(&s, 0, sizeof s);
  CHECK_OK(herd_loop_signal(l, SIGUSR2, sig_cb, &s));
  CHECK_OK(herd_loop_signal(l, SIGUSR1, sig_cb, &s));
  CHECK_EQ(kill(getpid(), SIGUSR2), 0);
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(s.calls, 1);
  CHECK_EQ(s.sig, SIGUSR2);
  /* cb NULL stops the watch and gives the signal back at once. */
  CHECK_OK(herd_loop_signal(l, SIGUSR1, NULL, NULL));
  CHECK(!sig_blocked(SIGUSR1));
  CHECK_OK(herd_loop_signal(l, SIGUSR2, NULL, NULL));
  CHECK(sig_blocked(SIGUSR2));
  /* No signal watched any more: run returns by itself. */
  CHECK_EQ(herd_loop_run(l), 0);
  herd_loop_free(l);
  CHECK(sig_blocked(SIGUSR2));
  CHECK(!sig_blocked(SIGUSR1));
}

/* ---- children ----------------------------------------------------- */

struct childrec {
  int calls;
  int reaped, exit_code, term_signal;
};

static void child_cb(herd_loop_t *l, herd_child_t *c, void *data) {
  (void)l;
  struct childrec *r = data;
  r->calls++;
  r->reaped = c->reaped;
  r->exit_code = c->exit_code;
  r->term_signal = c->term_signal;
}

static void spawn_helper(herd_child_t *c, char **argv) {
  CHECK_OK(herd_spawn(c, test_self(), argv, NULL));
}

TEST(loop_child_reports_exit_code_and_reaps) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  herd_child_t c;
  char *argv[] = {(char *)test_self(), "--helper", "exit", "5", NULL};
  spawn_helper(&c, argv);
  struct childrec r;
  memset(&r, 0, sizeof r);
  CHECK_OK(herd_loop_child(l, &c, child_cb, &r));
  CHECK_EQ(herd_loop_child(l, &c, child_cb, &r), -EEXIST);
  CHECK_EQ(herd_loop_run(l), 0); /* ends once the child is reported */
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.reaped, 1);
  CHECK_EQ(r.exit_code, 5);
  CHECK_EQ(r.term_signal, 0);
  CHECK_EQ(herd_child_status(&c), 5);
  /* Reaped by the loop: the pid is no longer our child. */
  siginfo_t si;
  memset(&si, 0, sizeof si);
  CHECK_EQ(waitid(P_PID, (id_t)c.pid, &si, WEXITED | WNOHANG), -1);
  CHECK_EQ(errno, ECHILD);
  herd_child_close(&c);
  herd_loop_free(l);
}

TEST(loop_child_killed_by_signal) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  herd_child_t c;
  char *argv[] = {(char *)test_self(), "--helper", "killself", "15", NULL};
  spawn_helper(&c, argv);
  struct childrec r;
  memset(&r, 0, sizeof r);
  CHECK_OK(herd_loop_child(l, &c, child_cb, &r));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.exit_code, -1);
  CHECK_EQ(r.term_signal, SIGTERM);
  CHECK_EQ(herd_child_status(&c), 128 + SIGTERM);
  herd_child_close(&c);
  herd_loop_free(l);
  check_no_children();
}

/* ---- execs -------------------------------------------------------- */

struct execrec {
  int calls;
  int err;
  herd_exec_result_t res;
  uint64_t at;
};

static void exec_cb(herd_loop_t *l, int err, herd_exec_result_t *res,
                    void *data) {
  (void)l;
  struct execrec *e = data;
  e->calls++;
  e->err = err;
  e->at = test_now_ms();
  if (res)
    e->res = *res; /* ours now: freed by the test */
}

TEST(loop_exec_two_concurrent) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct execrec one, two;
  memset(&one, 0, sizeof one);
  memset(&two, 0, sizeof two);
  CHECK_OK(herd_loop_exec(l, "echo one", NULL, 1, NULL, exec_cb, &one));
  char *argv[] = {"sh", "-c", "echo two >&2; exit 4", NULL};
  CHECK_OK(herd_loop_exec(l, "sh", argv, 0, NULL, exec_cb, &two));
  CHECK_EQ(herd_loop_run(l), 0); /* both done: nothing left to watch */
  CHECK_EQ(one.calls, 1);
  CHECK_EQ(two.calls, 1);
  CHECK_EQ(one.err, 0);
  CHECK_EQ(two.err, 0);
  CHECK_EQ(one.res.reason, HERD_EXEC_EXITED);
  CHECK_EQ(one.res.exit_code, 0);
  CHECK_EQ(one.res.term_signal, 0);
  CHECK_STR(one.res.out, "one\n");
  CHECK_EQ(one.res.out_len, 4);
  CHECK_STR(one.res.err, "");
  CHECK_EQ(two.res.reason, HERD_EXEC_EXITED);
  CHECK_EQ(two.res.exit_code, 4);
  CHECK_STR(two.res.out, "");
  CHECK_STR(two.res.err, "two\n");
  CHECK(one.res.pid > 0 && two.res.pid > 0 && one.res.pid != two.res.pid);
  herd_exec_result_free(&one.res);
  herd_exec_result_free(&two.res);
  herd_loop_free(l);
  check_no_children();
}

TEST(loop_exec_timeout_kills) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct execrec e;
  memset(&e, 0, sizeof e);
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.timeout_ms = 100;
  uint64_t t0 = test_now_ms();
  CHECK_OK(herd_loop_exec(l, "sleep 10", NULL, 1, &o, exec_cb, &e));
  CHECK_EQ(herd_loop_run(l), 0);
  uint64_t took = test_now_ms() - t0;
  CHECK_EQ(e.calls, 1);
  CHECK_EQ(e.err, 0);
  CHECK_EQ(e.res.reason, HERD_EXEC_TIMEDOUT);
  CHECK_EQ(e.res.term_signal, SIGTERM);
  CHECK_EQ(e.res.exit_code, -1);
  CHECK_MSG(took >= 99 && took < 5000, "timed out after %llu ms",
            (unsigned long long)took);
  herd_exec_result_free(&e.res);
  herd_loop_free(l);
  check_no_children();
}

TEST(loop_exec_bad_file_fails_at_start) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct execrec e;
  memset(&e, 0, sizeof e);
  char *argv[] = {"no-such-herd-program", NULL};
  CHECK_EQ(herd_loop_exec(l, "/nonexistent/no-such-herd-program", argv, 0,
                          NULL, exec_cb, &e),
           -ENOENT);
  CHECK_EQ(e.calls, 0);
  /* Nothing was left registered. */
  CHECK_EQ(herd_loop_run(l), 0);
  herd_loop_free(l);
}

TEST(loop_free_kills_running_exec) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct execrec e;
  memset(&e, 0, sizeof e);
  /* Ignores SIGTERM: only a SIGKILL ends it quickly. */
  CHECK_OK(herd_loop_exec(l, "trap '' TERM; sleep 30; exit 0", NULL, 1, NULL,
                          exec_cb, &e));
  CHECK_EQ(herd_loop_run_once(l, 0) >= 0, 1);
  siginfo_t si;
  memset(&si, 0, sizeof si);
  CHECK_EQ(waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT), 0);
  CHECK_EQ(si.si_pid, 0); /* a child exists and runs */
  uint64_t t0 = test_now_ms();
  herd_loop_free(l);
  CHECK(test_now_ms() - t0 < 5000);
  CHECK_EQ(e.calls, 0);
  check_no_children();
}

/* ---- nesting ------------------------------------------------------ */

static void flag_timer_cb(herd_loop_t *l, herd_timer_t *t, void *data) {
  (void)l;
  (void)t;
  ++*(int *)data;
}

TEST(loop_fd_readable_when_timer_due) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  int fd = herd_loop_fd(l);
  CHECK(fd >= 0);
  CHECK_EQ(herd_loop_fd(NULL), -EINVAL);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  CHECK_EQ(poll(&p, 1, 0), 0); /* nothing due */
  herd_timer_t t;
  memset(&t, 0, sizeof t);
  int fired = 0;
  uint64_t t0 = test_now_ms();
  CHECK_OK(herd_loop_timer_start(l, &t, 30, flag_timer_cb, &fired));
  CHECK_EQ(poll(&p, 1, 0), 0);
  CHECK_EQ(poll(&p, 1, 5000), 1);
  CHECK(p.revents & POLLIN);
  uint64_t took = test_now_ms() - t0;
  CHECK_MSG(took + 1 >= 30 && took < 5000, "readable after %llu ms",
            (unsigned long long)took);
  CHECK_EQ(fired, 0); /* readiness only: the work is run_once's */
  CHECK_EQ(herd_loop_run_once(l, 0), 1);
  CHECK_EQ(fired, 1);
  p.revents = 0;
  CHECK_EQ(poll(&p, 1, 0), 0); /* consumed */
  herd_loop_free(l);
}

struct nest {
  herd_loop_t *inner;
  int inner_fired;
  int outer_calls;
};

static void outer_cb(herd_loop_t *l, int fd, uint32_t events, void *data) {
  struct nest *n = data;
  CHECK(events & EPOLLIN);
  n->outer_calls++;
  CHECK(herd_loop_run_once(n->inner, 0) >= 0);
  if (n->inner_fired)
    CHECK_OK(herd_loop_del(l, fd));
}

TEST(loop_nests_in_another_loop) {
  herd_loop_t *outer, *inner;
  CHECK_OK(herd_loop_new(&outer));
  CHECK_OK(herd_loop_new(&inner));
  struct nest n = {.inner = inner};
  herd_timer_t t;
  memset(&t, 0, sizeof t);
  CHECK_OK(herd_loop_timer_start(inner, &t, 20, flag_timer_cb,
                                 &n.inner_fired));
  CHECK_OK(herd_loop_add(outer, herd_loop_fd(inner), EPOLLIN, outer_cb, &n));
  CHECK_EQ(herd_loop_run(outer), 0);
  CHECK_EQ(n.inner_fired, 1);
  CHECK(n.outer_calls >= 1 && n.outer_calls <= 3);
  herd_loop_free(inner);
  herd_loop_free(outer);
}

static void never_called_child_cb(herd_loop_t *loop, herd_child_t *child,
                                  void *data) {
  (void)loop;
  (void)child;
  (void)data;
  test_fail(__FILE__, __LINE__, "a stopped child watch fired");
}

TEST(loop_child_stop_unwatches) {
  /* Regression: a child watch could not be removed, so run never
   * returned after its child was closed. */
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  herd_child_t c;
  char *argv[] = {"herd-test", "--helper", "sleep", "20000", NULL};
  CHECK_OK(herd_spawn(&c, test_self(), argv, NULL));
  CHECK_OK(herd_loop_child(l, &c, never_called_child_cb, NULL));
  CHECK_OK(herd_loop_child_stop(l, &c));
  CHECK_EQ(herd_loop_child_stop(l, &c), -ENOENT);
  herd_child_close(&c);
  uint64_t t0 = test_now_ms();
  CHECK_OK(herd_loop_run(l)); /* nothing watched: returns at once */
  CHECK(test_now_ms() - t0 < 1000);
  herd_loop_free(l);
}

static void drain_test_cb(herd_loop_t *loop, herd_chan_t *ch, int err,
                          herd_chan_msg_t *msg, void *data) {
  (void)loop;
  (void)ch;
  (void)err;
  (void)msg;
  (void)data;
}

TEST(loop_turn_that_drains_a_channel_does_not_sleep) {
  /* A sender backs off at the high-water mark and waits in run_once.
   * If the peer has read meanwhile, the turn's own flush empties the
   * queue - and no event would ever come to say so: the turn once slept
   * its whole timeout (a 10k-message test hung this way, rarely). */
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  herd_chan_t *ch;
  CHECK_OK(herd_chan_open(&ch, sv[0], NULL));
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  CHECK_OK(herd_loop_chan(l, ch, drain_test_cb, NULL));
  static char msg[1024];
  memset(msg, 'x', sizeof msg);
  msg[0] = '"';
  msg[sizeof msg - 1] = '"';
  int r = 0;
  for (int i = 0; i < 100000 && r == 0; i++)
    r = herd_chan_send(ch, msg, sizeof msg, -1);
  CHECK_EQ(r, 1); /* slow down: more than HERD_CHAN_HIGH_WATER queued */
  /* the peer reads all the socket holds */
  char buf[65536];
  int fl = fcntl(sv[1], F_GETFL);
  CHECK(fl >= 0 && fcntl(sv[1], F_SETFL, fl | O_NONBLOCK) == 0);
  while (read(sv[1], buf, sizeof buf) > 0)
    ;
  uint64_t t0 = test_now_ms();
  CHECK(herd_loop_run_once(l, 5000) >= 0);
  uint64_t took = test_now_ms() - t0;
  CHECK_MSG(took < 1000, "run_once slept %llu ms after draining the queue",
            (unsigned long long)took);
  CHECK(herd_chan_queued(ch) <= HERD_CHAN_HIGH_WATER);
  CHECK_OK(herd_loop_chan_stop(l, ch));
  herd_chan_close(ch);
  herd_loop_free(l);
  close(sv[1]);
}
