/*
 * cronrun.c - --cron-restart in the master: a rolling reload (as
 * SIGHUP) at the times of the line (cron.c), in the local time zone the
 * master started with.
 *
 * One timerfd on CLOCK_REALTIME, armed for the next fire time only
 * (TFD_TIMER_ABSTIME): it fires at that wall-clock time whatever the
 * monotonic clock did meanwhile (a suspend). TFD_TIMER_CANCEL_ON_SET
 * makes its read fail with ECANCELED when the wall clock is set (a
 * step, NTP's first sync, `date -s`): then the next time is computed
 * again from the new "now" - a jump forward over a fire time skips it,
 * a jump back does not fire a time twice until it comes again.
 *
 * HERD_TEST_CLOCK_OFFSET_MS (tests only): milliseconds added to the
 * wall clock as the line sees it, so that a test can start a master a
 * few seconds before a minute boundary of its own. The alternative,
 * libfaketime, shifts the master's CLOCK_MONOTONIC timer deadlines too
 * (tests/fault_test.c says how), which would move every other timer of
 * the master with it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cron.h"
#include "master.h"
#include "opts.h"

struct cronrun {
  struct master *m;
  struct cron c;
  int fd;
  long long offset_ms; /* HERD_TEST_CLOCK_OFFSET_MS */
  time_t next;         /* as the line sees the clock */
};

int cron_check(const char *val, char *err, size_t n) {
  struct cron c;
  char e[200];
  if (cron_parse(val, &c, e, sizeof e) < 0)
    return app_fail(err, n, "cron-restart: '%.64s': %s", val, e);
  return 0;
}

/* The wall clock as the line sees it, in ms. */
static long long now_ms(const struct cronrun *cr) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + cr->offset_ms;
}

/* The next fire after `after`, armed and said. */
static void arm(struct cronrun *cr, time_t after, const char *why) {
  struct master *m = cr->m;
  if (cron_next(&cr->c, after, &cr->next) < 0) {
    notice(m, "cron: '%s' has no time to fire: no reloads by cron", m->a->cron_restart);
    return;
  }
  long long at = (long long)cr->next * 1000 - cr->offset_ms; /* the real clock's */
  struct itimerspec its = {.it_value = {.tv_sec = at / 1000,
                                        .tv_nsec = (at % 1000) * 1000000}};
  if (timerfd_settime(cr->fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0) {
    notice(m, "cron: timerfd_settime: %s: no reloads by cron", strerror(errno));
    return;
  }
  char when[64];
  struct tm tm;
  if (!localtime_r(&cr->next, &tm) || !strftime(when, sizeof when, "%Y-%m-%d %H:%M %Z", &tm))
    snprintf(when, sizeof when, "%lld", (long long)cr->next);
  logf_(m, "cron: %snext reload at %s", why, when);
}

static void on_timer(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  struct cronrun *cr = data;
  uint64_t n;
  ssize_t r = read(fd, &n, sizeof n);
  time_t now = (time_t)(now_ms(cr) / 1000);
  if (r < 0 && errno == ECANCELED) {
    arm(cr, now, "the wall clock was set; ");
    return;
  }
  if (r < 0) /* EAGAIN: nothing yet (it was re-armed meanwhile) */
    return;
  /* from the fire time, or from now if it came late (a suspend): no
   * round of the times missed meanwhile */
  time_t fired = cr->next;
  arm(cr, now > fired ? now : fired, "reload; ");
  /* a reload running: one more after it */
  if (herd_cluster_reload(cr->m->c) < 0)
    logf_(cr->m, "cron: no reload: the app is stopping");
}

void cron_start(struct master *m) {
  struct app *a = m->a;
  if (!a->cron_restart)
    return;
  struct cronrun *cr = calloc(1, sizeof *cr);
  char err[200];
  if (!cr || cron_parse(a->cron_restart, &cr->c, err, sizeof err) < 0) {
    notice(m, "cron: %s: no reloads by cron", cr ? err : "out of memory");
    free(cr);
    return;
  }
  cr->m = m;
  const char *off = getenv("HERD_TEST_CLOCK_OFFSET_MS");
  if (off)
    cr->offset_ms = strtoll(off, NULL, 10);
  cr->fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
  int r = cr->fd < 0 ? -errno : herd_loop_add(m->loop, cr->fd, EPOLLIN, on_timer, cr);
  if (r < 0) {
    notice(m, "cron: timerfd: %s: no reloads by cron", herd_strerror(r));
    if (cr->fd >= 0)
      (void)close(cr->fd);
    free(cr);
    return;
  }
  m->cron = cr;
  arm(cr, (time_t)(now_ms(cr) / 1000), "");
}

void cron_stop(struct master *m) {
  struct cronrun *cr = m->cron;
  if (!cr)
    return;
  if (m->loop)
    (void)herd_loop_del(m->loop, cr->fd);
  (void)close(cr->fd);
  free(cr);
  m->cron = NULL;
}
