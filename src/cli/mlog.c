/*
 * mlog.c - the master's own lines ("TIME herd[NAME]: ..." on stderr,
 * NAME-herd.log under herd start, rotated) and the workers' lines on
 * their way to the log writer (logw.c) or the terminal: the queue, its
 * pause when the writer falls behind, and what is dropped past that.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "master.h"

static void reopen_own_log(struct master *m);
static void arm_commit(struct master *m);

/* snprintf for messages, where cutting a long path short is fine */
void say(char *buf, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, n, fmt, ap);
  va_end(ap);
}

/* A whole line ('\n' included) to the master's stderr: through herd
 * run's writer thread once there is one, else written directly. */
static void put_line(struct master *m, const char *line, size_t n) {
  if (m->tw) {
    logw_raw(m->tw, 2, line, n);
    arm_commit(m);
  } else {
    (void)!write(2, line, n);
  }
}

/* One line of the master's own log, "TIME herd[NAME]: MSG", on stderr:
 * NAME-herd.log under herd start, which rotates like the workers' logs
 * (--log-max-size, --log-keep) when the line would make it too large. */
void own_line(struct master *m, const char *msg) {
  char ts[40], line[1280];
  iso_stamp(ts, sizeof ts);
  int n = snprintf(line, sizeof line, "%s herd[%s]: %s\n", ts, m->a->name, msg);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof line) {
    n = (int)sizeof line - 1;
    line[n - 1] = '\n';
  }
  /* herd start's stderr is NAME-herd.log (herd run's goes to put_line's
   * thread, never rotated) */
  struct stat st;
  if (m->daemon && m->herd_path[0] && m->a->log_max_size && fstat(2, &st) == 0 &&
      S_ISREG(st.st_mode) && st.st_size > 0 &&
      (uint64_t)st.st_size + (uint64_t)n > m->a->log_max_size &&
      log_shift(m->herd_path, m->a->log_keep) == 0)
    reopen_own_log(m); /* if the shift fails, the old file grows instead */
  put_line(m, line, (size_t)n);
}

void plain_line(struct master *m, const char *fmt, ...) {
  char line[1280];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n > sizeof line - 2)
    n = (int)sizeof line - 2;
  line[n++] = '\n';
  line[n] = '\0';
  put_line(m, line, (size_t)n);
}

static void vsay(struct master *m, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  own_line(m, msg);
}

void logf_(struct master *m, const char *fmt, ...) {
  if (m->a->quiet)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsay(m, fmt, ap);
  va_end(ap);
}

/* own_line with a format: what is said even under --quiet (something is
 * wrong, or the operator must know) */
void notice(struct master *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(m, fmt, ap);
  va_end(ap);
}

/* The notes of a slot, made on demand (NULL if out of memory): only a
 * slot whose workers wrote to stderr, died or failed to start has them
 * (about 500 bytes); the array of pointers doubles. */
struct slot_note *note_of(struct master *m, int slot) {
  if (slot < 0 || slot >= HERD_MAX_WORKERS)
    return NULL;
  if (slot >= m->nnotes) {
    int n = m->nnotes ? m->nnotes : 16;
    while (n <= slot)
      n *= 2;
    struct slot_note **nn = realloc(m->notes, (size_t)n * sizeof *nn);
    if (!nn)
      return NULL;
    memset(nn + m->nnotes, 0, (size_t)(n - m->nnotes) * sizeof *nn);
    m->notes = nn;
    m->nnotes = n;
  }
  if (!m->notes[slot])
    m->notes[slot] = calloc(1, sizeof *m->notes[slot]);
  return m->notes[slot];
}

/* The notes of a slot if it has any (NULL if not). */
struct slot_note *note_peek(struct master *m, int slot) {
  return slot >= 0 && slot < m->nnotes ? m->notes[slot] : NULL;
}

/* Its worker PID stopped as asked: what it said is of no more use. A
 * slot left with nothing to tell has its notes freed. */
void note_forget(struct master *m, int slot, pid_t pid) {
  struct slot_note *sn = note_peek(m, slot);
  if (!sn || (sn->pid && sn->pid != pid) || sn->exit_pid || sn->unready_kill ||
      sn->error[0])
    return;
  free(sn);
  m->notes[slot] = NULL;
}

/* ---- replies ------------------------------------------------------- */

/* Reopen the log files (after logrotate moved them): the workers' in the
 * writer thread, the master's own (its stdout and stderr) here. */
static void reopen_own_log(struct master *m) {
  if (!m->daemon)
    return;
  int fd = open(m->herd_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return; /* the old file it is, then */
  (void)dup2(fd, 1);
  (void)dup2(fd, 2);
  (void)close(fd);
}

void reopen_logs(struct master *m) {
  if (m->lw) /* herd run without --log-files has none */
    logw_reopen(m->lw);
  reopen_own_log(m);
}

/* ---- status ------------------------------------------------------- */

/* The log queue: staged lines go to the writer once per loop turn. A
 * writer that falls behind (the CPU busy elsewhere, a burst) first costs
 * the workers a wait: their output is not read until it has caught up,
 * as a terminal or PM2 would make them wait. But a disk that is slow or
 * full must never block them for long: after LOG_STALL_MS the pipes are
 * read again and lines that do not fit are dropped (and counted) until
 * the writer has caught up. */
static void log_resume(struct master *m) {
  if (!m->out_paused)
    return;
  m->out_paused = 0;
  herd_loop_timer_stop(m->loop, &m->stall_timer);
  (void)herd_cluster_pause_output(m->c, 0);
}

static void log_stall_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct master *m = data;
  if (!m->out_paused)
    return;
  m->dropping = 1;
  log_resume(m);
  logf_(m, "the log writer is more than %d ms behind (a slow or full disk, or "
        "output nobody reads?): worker lines are dropped until it catches up",
        LOG_STALL_MS);
}

/* The writer of the workers' lines: the log files, else the terminal. */
struct logw *out_writer(struct master *m) {
  return m->lw ? m->lw : m->tw;
}

static void log_commit_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)t;
  struct master *m = data;
  m->commit_armed = 0;
  struct logw *w = out_writer(m);
  if (m->tw && m->tw != w)
    (void)logw_commit(m->tw); /* herd run --log-files: its own lines */
  if (!w)
    return;
  int fill = logw_commit(w);
  if (fill >= LOG_PAUSE_FILL && !m->out_paused && !m->dropping && m->c) {
    m->out_paused = 1;
    (void)herd_cluster_pause_output(m->c, 1);
    (void)herd_loop_timer_start(loop, &m->stall_timer, LOG_STALL_MS,
                                log_stall_cb, m);
    logw_want_low(w);
  }
}

/* Commit the staged lines at the end of this loop turn (at once when
 * there is no loop yet, or any more). */
static void arm_commit(struct master *m) {
  if (m->loop) {
    if (!m->commit_armed) {
      m->commit_armed = 1;
      (void)herd_loop_timer_start(m->loop, &m->commit_timer, 0, log_commit_cb, m);
    }
  } else {
    if (m->tw)
      (void)logw_commit(m->tw);
    if (m->lw)
      (void)logw_commit(m->lw);
  }
}

void log_low_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  struct master *m = data;
  uint64_t v;
  (void)!read(fd, &v, sizeof v);
  log_resume(m);
  if (m->dropping) {
    m->dropping = 0;
    logf_(m, "the log writer has caught up: no more lines dropped");
  }
}

void on_output(herd_cluster_t *c, int slot, pid_t pid, int stream, const char *line,
               size_t len, void *data) {
  (void)c;
  struct master *m = data;
  struct slot_note *sn;
  if (stream == 2 && (sn = note_of(m, slot))) {
    if (pid == sn->exit_pid) {
      why_add(&sn->exit, line, len); /* the dead one's last words */
    } else {
      if (pid != sn->pid) {
        sn->pid = pid;
        memset(&sn->cur, 0, sizeof sn->cur);
      }
      why_add(&sn->cur, line, len);
    }
  }
  struct logw *w = out_writer(m);
  if (w) {
    logw_line(w, stream, slot, line, len);
    if (!m->commit_armed && m->loop) {
      m->commit_armed = 1;
      (void)herd_loop_timer_start(m->loop, &m->commit_timer, 0, log_commit_cb, m);
    }
    return;
  }
  FILE *f = stream == 2 ? stderr : stdout;
  fprintf(f, "[%s:%d] %.*s\n", m->a->name, slot, (int)len, line);
  fflush(f);
}
