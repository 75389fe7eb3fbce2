/*
 * logw.c - the master's log writer. The loop thread stages each worker
 * line ("TIME [slot] text\n") and hands what it staged to a bounded ring
 * in memory once per loop turn; a thread of its own takes batches out
 * and writes them to NAME-out.log and NAME-err.log, rotating by size and
 * reopening on request. The loop never waits for the disk. When the ring
 * fills, the master (master.c) stops reading the workers' pipes for a
 * while (at most LOG_STALL_MS); past that, lines that do not fit are
 * dropped and counted, so a slow or full disk costs lines (reported),
 * not a master that stops serving or workers blocked for long.
 *
 * Lines are written whole: a record enters the ring only complete, and a
 * write that fails in the middle of one is followed by a newline before
 * the next, so lines of different workers never share a line.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define BATCH (256u << 10)
#define STAGE_MAX (256u << 10)
/* What the buffers keep in memory when idle: the ring, the stage and the
 * batches are mapped whole but only touched as far as a burst needs, and
 * given back (MADV_DONTNEED) past this once they are empty again. A ring
 * that went round and round instead touched a little more of its 8 MiB
 * with every line until all of it was resident: the master's RSS grew
 * with every event line (about 320 bytes per worker replacement). */
#define KEEP_BYTES (64u << 10)

struct lfile {
  char *path; /* NULL: fd is borrowed (herd run's stdout, stderr); else
                  our copy: a writer abandoned at close may still rotate
                  after its opener's strings are gone */
  int fd;
  uint64_t size;
  int broken_line; /* a write stopped inside a line: start with '\n' */
  char *buf;       /* this stream's part of a batch */
  size_t len;
};

struct logw {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int started;
  /* the ring: records [stream byte][u32 len][text], never split; it
   * starts again at 0 whenever it is empty, so that steady traffic
   * stays in its first pages */
  char *ring;
  size_t cap, head, used;
  int deep;       /* a record went past KEEP_BYTES: trim once empty */
  int quit, reopen;
  uint64_t flush_req, flush_done; /* flushes asked (loop), done (writer) */
  uint64_t max_size;
  int keep;
  struct lfile f[2];
  /* counters: lines and dropped are updated by both threads, under mu */
  struct logw_stats st;
  /* the loop thread's lines not committed to the ring yet: one lock
   * per loop turn, not one per line (a lock per line made the writer
   * starve behind the loop thread's mutex) */
  char *stage;
  size_t slen;
  int efd;        /* eventfd: the ring has drained below the low mark */
  int want_low;
  /* the stamp of the current second, made once per second */
  time_t stamp_sec;
  char stamp_prefix[24];
  const char *tag; /* terminal mode: lines "[tag:slot] text", no time */
  int json;        /* --log-format json: one object a line */
  char *date_fmt;  /* --log-date-format (owned), or NULL: ISO UTC */
  char *app_q;     /* json: the app's name, quoted (owned) */
  size_t app_qlen;
  int done;        /* the thread has ended (under mu; cv broadcast) */
  char *batch;
};

/* A buffer of its own pages (not the heap's), so that what a burst
 * touched can be given back. NULL on failure. */
static char *big_alloc(size_t n) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static void big_free(char *p, size_t n) {
  if (p)
    (void)munmap(p, n);
}

/* Give back the pages of p[KEEP_BYTES .. n) (they read as zeros after). */
static void big_trim(char *p, size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (n > KEEP_BYTES)
    (void)madvise(p + KEEP_BYTES, (n - KEEP_BYTES) / page * page, MADV_DONTNEED);
}

static int open_log(struct lfile *f) {
  if (!f->path)
    return 0; /* borrowed: nothing to open again */
  int fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return -errno;
  struct stat st;
  f->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
  if (f->fd >= 0)
    (void)close(f->fd);
  f->fd = fd;
  f->broken_line = 0;
  return 0;
}

/* PATH -> PATH.1 -> ... -> PATH.KEEP (the oldest goes); KEEP 0 deletes
 * PATH. Nothing is opened: the caller starts the new file. */
int log_shift(const char *path, int keep) {
  char from[PATH_MAX + 16], to[PATH_MAX + 16];
  if (keep == 0) {
    if (unlink(path) < 0 && errno != ENOENT)
      return -errno;
    return 0;
  }
  for (int i = keep - 1; i >= 1; i--) {
    snprintf(from, sizeof from, "%s.%d", path, i);
    snprintf(to, sizeof to, "%s.%d", path, i + 1);
    if (rename(from, to) < 0 && errno != ENOENT)
      return -errno;
  }
  snprintf(to, sizeof to, "%s.1", path);
  if (rename(path, to) < 0 && errno != ENOENT)
    return -errno;
  return 0;
}

static int rotate(struct logw *lw, struct lfile *f) {
  int r = log_shift(f->path, lw->keep);
  if (r < 0)
    return r;
  lw->st.rotations++;
  return open_log(f);
}

static void set_error(struct logw *lw, int err) {
  pthread_mutex_lock(&lw->mu);
  lw->st.last_error = err;
  pthread_mutex_unlock(&lw->mu);
}

static uint64_t count_lines(const char *p, size_t n) {
  uint64_t k = 0;
  for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
    k++;
  return k;
}

/* Write p[0..n) (whole lines) to f; returns lines lost. */
static uint64_t put(struct logw *lw, struct lfile *f, const char *p, size_t n) {
  if (f->fd < 0 && open_log(f) < 0)
    return count_lines(p, n);
  if (f->broken_line) {
    if (write(f->fd, "\n", 1) != 1)
      return count_lines(p, n);
    f->broken_line = 0;
    f->size++;
  }
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(f->fd, p + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      set_error(lw, w < 0 ? errno : ENOSPC);
      /* what was written of the current line stays, cut: a newline
       * comes first next time; every line not written whole is lost */
      if (done && p[done - 1] != '\n')
        f->broken_line = 1;
      return count_lines(p + done, n - done);
    }
    done += (size_t)w;
    f->size += (uint64_t)w;
  }
  return 0;
}

/* Write a stream's batch, rotating between lines when the file would
 * grow past max_size. */
static void flush_stream(struct logw *lw, int i) {
  struct lfile *f = &lw->f[i];
  const char *p = f->buf, *end = f->buf + f->len;
  uint64_t lost = 0;
  while (p < end) {
    const char *q = p;
    if (lw->max_size) {
      /* as many whole lines as still fit (at least one, if the file is
       * empty: a line longer than the limit is not split) */
      while (q < end) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        const char *next = nl ? nl + 1 : end;
        if (f->size + (uint64_t)(next - p) > lw->max_size &&
            (q > p || f->size > 0))
          break;
        q = next;
      }
    } else {
      q = end;
    }
    if (q > p)
      lost += put(lw, f, p, (size_t)(q - p));
    p = q;
    if (p < end) {
      int r = rotate(lw, f);
      if (r < 0) {
        set_error(lw, -r);
        /* cannot rotate: keep appending rather than lose lines */
        lost += put(lw, f, p, (size_t)(end - p));
        p = end;
      }
    }
  }
  if (f->len > KEEP_BYTES)
    big_trim(f->buf, BATCH + 16384);
  f->len = 0;
  if (lost) {
    pthread_mutex_lock(&lw->mu);
    lw->st.dropped[i] += lost;
    lw->st.lines[i] -= lost < lw->st.lines[i] ? lost : lw->st.lines[i];
    pthread_mutex_unlock(&lw->mu);
  }
}

/* herd flush: the rotated files deleted (PATH.1, PATH.2, ... up to the
 * first missing one), then PATH, and a new PATH started: a reader that
 * follows the name (herd logs -f, tail -F) sees a new file, as after a
 * rotation, and reads it from its start; a truncation it could miss if
 * the file grew back past its offset before it looked. Only if PATH
 * cannot be deleted is it truncated instead. */
static void empty_log(struct logw *lw, struct lfile *f) {
  if (!f->path)
    return;
  char rp[PATH_MAX + 16];
  for (int j = 1; j <= 100000; j++) {
    snprintf(rp, sizeof rp, "%s.%d", f->path, j);
    if (unlink(rp) < 0) {
      if (errno != ENOENT)
        set_error(lw, errno);
      break;
    }
  }
  int gone = unlink(f->path) == 0 || errno == ENOENT;
  int r = open_log(f);
  if (r < 0) {
    set_error(lw, -r);
    return;
  }
  if (!gone && ftruncate(f->fd, 0) < 0) {
    set_error(lw, errno);
    return;
  }
  f->size = 0;
}

static void *writer(void *arg) {
  struct logw *lw = arg;
  pthread_mutex_lock(&lw->mu);
  for (;;) {
    while (!lw->used && !lw->quit && !lw->reopen && lw->flush_req == lw->flush_done)
      pthread_cond_wait(&lw->cv, &lw->mu);
    int reopen = lw->reopen;
    lw->reopen = 0;
    uint64_t flush = lw->flush_req;
    /* take records out, splitting them by stream */
    while (lw->used && lw->f[0].len + lw->f[1].len < BATCH) {
      unsigned char hdr[5];
      for (int k = 0; k < 5; k++)
        hdr[k] = (unsigned char)lw->ring[(lw->head + (size_t)k) % lw->cap];
      uint32_t len;
      memcpy(&len, hdr + 1, 4);
      struct lfile *f = &lw->f[hdr[0] == 2];
      if (f->len + len > BATCH && f->len)
        break;
      size_t at = (lw->head + 5) % lw->cap;
      size_t first = len < lw->cap - at ? len : lw->cap - at;
      memcpy(f->buf + f->len, lw->ring + at, first);
      memcpy(f->buf + f->len + first, lw->ring, len - first);
      f->len += len;
      lw->head = (lw->head + 5 + len) % lw->cap;
      lw->used -= 5 + len;
    }
    if (!lw->used) {
      lw->head = 0;
      if (lw->deep) {
        lw->deep = 0;
        big_trim(lw->ring, lw->cap);
      }
    }
    int quit = lw->quit && !lw->used;
    if (lw->want_low && lw->used <= lw->cap / 4) {
      lw->want_low = 0;
      uint64_t one = 1;
      (void)!write(lw->efd, &one, sizeof one);
    }
    pthread_mutex_unlock(&lw->mu);
    if (reopen)
      for (int i = 0; i < 2; i++) {
        int r = open_log(&lw->f[i]);
        if (r < 0)
          set_error(lw, -r);
      }
    if (flush != lw->flush_done) {
      /* between two batches: every line before is whole in the file,
       * and those taken out just now go to the emptied one */
      for (int i = 0; i < 2; i++)
        empty_log(lw, &lw->f[i]);
      pthread_mutex_lock(&lw->mu);
      lw->flush_done = flush;
      pthread_mutex_unlock(&lw->mu);
    }
    for (int i = 0; i < 2; i++)
      if (lw->f[i].len)
        flush_stream(lw, i);
    pthread_mutex_lock(&lw->mu);
    if (quit)
      break;
  }
  lw->done = 1;
  pthread_cond_broadcast(&lw->cv);
  pthread_mutex_unlock(&lw->mu);
  return NULL;
}

static int logw_start(struct logw **out, const char *out_path, const char *err_path,
                      const char *tag, uint64_t max_size, int keep, size_t queue_bytes);

int logw_open(struct logw **out, const char *out_path, const char *err_path,
              uint64_t max_size, int keep, size_t queue_bytes) {
  return logw_start(out, out_path, err_path, NULL, max_size, keep, queue_bytes);
}

int logw_open_term(struct logw **out, const char *tag, size_t queue_bytes) {
  return logw_start(out, NULL, NULL, tag, 0, 0, queue_bytes);
}

static int logw_start(struct logw **out, const char *out_path, const char *err_path,
                      const char *tag, uint64_t max_size, int keep, size_t queue_bytes) {
  struct logw *lw = calloc(1, sizeof *lw);
  if (!lw)
    return -ENOMEM;
  lw->tag = tag;
  lw->cap = queue_bytes < BATCH + 64 ? BATCH + 64 : queue_bytes;
  lw->ring = big_alloc(lw->cap);
  lw->f[0] = (struct lfile){.path = out_path ? strdup(out_path) : NULL, .fd = out_path ? -1 : 1};
  lw->f[1] = (struct lfile){.path = err_path ? strdup(err_path) : NULL, .fd = err_path ? -1 : 2};
  lw->efd = -1;
  lw->stage = big_alloc(STAGE_MAX + 64);
  lw->f[0].buf = big_alloc(BATCH + 16384);
  lw->f[1].buf = big_alloc(BATCH + 16384);
  lw->max_size = max_size;
  lw->keep = keep;
  int r = 0;
  if (!lw->ring || !lw->stage || !lw->f[0].buf || !lw->f[1].buf ||
      (out_path && !lw->f[0].path) || (err_path && !lw->f[1].path)) {
    r = -ENOMEM;
    goto fail;
  }
  if ((lw->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
    r = -errno;
    goto fail;
  }
  if ((r = open_log(&lw->f[0])) < 0 || (r = open_log(&lw->f[1])) < 0)
    goto fail;
  if ((r = -pthread_mutex_init(&lw->mu, NULL)) < 0)
    goto fail;
  /* its timed waits (logw_close_within) on the monotonic clock: a
   * wall clock stepped back must not stretch them */
  pthread_condattr_t ca;
  if ((r = -pthread_condattr_init(&ca)) == 0) {
    if ((r = -pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) == 0)
      r = -pthread_cond_init(&lw->cv, &ca);
    (void)pthread_condattr_destroy(&ca);
  }
  if (r < 0) {
    pthread_mutex_destroy(&lw->mu);
    goto fail;
  }
  /* The thread must never take a signal meant for the master's
   * signalfd (a process-directed TERM would kill us by default): it
   * starts with every signal blocked. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  r = -pthread_create(&lw->thread, NULL, writer, lw);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r < 0) {
    pthread_cond_destroy(&lw->cv);
    pthread_mutex_destroy(&lw->mu);
    goto fail;
  }
  lw->started = 1;
  *out = lw;
  return 0;
fail:
  for (int i = 0; i < 2; i++) {
    if (lw->f[i].fd >= 0 && lw->f[i].path)
      (void)close(lw->f[i].fd);
    big_free(lw->f[i].buf, BATCH + 16384);
    free(lw->f[i].path);
  }
  if (lw->efd >= 0)
    (void)close(lw->efd);
  big_free(lw->stage, STAGE_MAX + 64);
  big_free(lw->ring, lw->cap);
  free(lw);
  return r;
}

/* Move the staged records into the ring (those that do not fit are
 * dropped and counted). Returns the ring's fill, 0..100 (%). */
int logw_commit(struct logw *lw) {
  pthread_mutex_lock(&lw->mu);
  int was_empty = lw->used == 0;
  if (was_empty)
    lw->head = 0; /* the writer took all: start at the front again */
  size_t off = 0;
  while (off < lw->slen) {
    uint32_t len;
    memcpy(&len, lw->stage + off + 1, 4);
    size_t n = 5 + (size_t)len;
    int i = lw->stage[off] == 2;
    if (lw->used + n > lw->cap) {
      lw->st.dropped[i]++;
    } else {
      size_t at = (lw->head + lw->used) % lw->cap;
      size_t first = n < lw->cap - at ? n : lw->cap - at;
      memcpy(lw->ring + at, lw->stage + off, first);
      memcpy(lw->ring, lw->stage + off + first, n - first);
      if (at + n > KEEP_BYTES)
        lw->deep = 1;
      lw->used += n;
      lw->st.lines[i]++;
    }
    off += n;
  }
  if (lw->slen > KEEP_BYTES)
    big_trim(lw->stage, STAGE_MAX + 64);
  lw->slen = 0;
  if (was_empty && lw->used)
    pthread_cond_signal(&lw->cv);
  int fill = (int)(lw->used * 100 / lw->cap);
  pthread_mutex_unlock(&lw->mu);
  return fill;
}

/* Stage one record of n bytes (the caller fills it): a pointer to its
 * text, or NULL when it cannot be taken (dropped and counted). */
static char *stage_record(struct logw *lw, int i, size_t rec) {
  if (rec > BATCH) {
    /* longer than a batch (the engine cuts lines at 16 KiB: never) */
    pthread_mutex_lock(&lw->mu);
    lw->st.dropped[i]++;
    pthread_mutex_unlock(&lw->mu);
    return NULL;
  }
  if (lw->slen + 5 + rec > STAGE_MAX)
    (void)logw_commit(lw);
  char *p = lw->stage + lw->slen;
  p[0] = (char)(i + 1);
  uint32_t l32 = (uint32_t)rec;
  memcpy(p + 1, &l32, 4);
  lw->slen += 5 + rec;
  return p + 5;
}

void logw_raw(struct logw *lw, int stream, const char *text, size_t len) {
  char *p = stage_record(lw, stream == 2, len);
  if (p)
    memcpy(p, text, len);
}

int logw_format(struct logw *lw, int format, const char *date_fmt, const char *app) {
  lw->json = format == LOG_FORMAT_JSON;
  if (date_fmt && !(lw->date_fmt = strdup(date_fmt)))
    return -ENOMEM;
  if (lw->json) {
    ssize_t q = herd_json_quote(app, strlen(app), NULL, 0);
    if (q < 0 || !(lw->app_q = malloc((size_t)q + 1)))
      return -ENOMEM;
    lw->app_qlen = (size_t)herd_json_quote(app, strlen(app), lw->app_q, (size_t)q + 1);
  }
  return 0;
}

/* The time of a line now: "YYYY-MM-DDTHH:MM:SS.mmmZ" by hand (snprintf
 * was the largest cost per line), or --log-date-format's. Its length. */
static size_t stamp_now(struct logw *lw, char *buf, size_t n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (lw->date_fmt) {
    size_t k = log_time_text(buf, n, lw->date_fmt, &ts);
    return k ? k : log_time_text(buf, n, NULL, &ts);
  }
  if (ts.tv_sec != lw->stamp_sec) {
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(lw->stamp_prefix, sizeof lw->stamp_prefix, "%Y-%m-%dT%H:%M:%S",
             &tm);
    lw->stamp_sec = ts.tv_sec;
  }
  memcpy(buf, lw->stamp_prefix, 19);
  int ms = (int)(ts.tv_nsec / 1000000);
  buf[19] = '.';
  buf[20] = (char)('0' + ms / 100);
  buf[21] = (char)('0' + ms / 10 % 10);
  buf[22] = (char)('0' + ms % 10);
  buf[23] = 'Z';
  return 24;
}

/* {"time":T,"app":A,"slot":N,"stream":"out","line":L}: every string by
 * libherd's herd_json_quote (ill-formed UTF-8 becomes U+FFFD). */
static void json_line(struct logw *lw, int stream, int slot, const char *t, size_t tlen,
                      const char *line, size_t len) {
  char head[LOG_TIME_MAX * 6 + 64];
  size_t h = 0;
  memcpy(head, "{\"time\":", 8);
  h = 8;
  ssize_t q = herd_json_quote(t, tlen, head + h, sizeof head - h);
  ssize_t ql = herd_json_quote(line, len, NULL, 0);
  if (q < 0 || (size_t)q >= sizeof head - h || ql < 0)
    return;
  h += (size_t)q;
  char mid[48];
  int mn = snprintf(mid, sizeof mid, ",\"slot\":%d,\"stream\":\"%s\",\"line\":",
                    slot < 0 ? 0 : slot, stream == 2 ? "err" : "out");
  size_t rec = h + 7 + lw->app_qlen + (size_t)mn + (size_t)ql + 2;
  char *p = stage_record(lw, stream == 2, rec);
  if (!p)
    return;
  memcpy(p, head, h);
  memcpy(p + h, ",\"app\":", 7);
  memcpy(p + h + 7, lw->app_q, lw->app_qlen);
  size_t at = h + 7 + lw->app_qlen;
  memcpy(p + at, mid, (size_t)mn);
  at += (size_t)mn;
  /* quote writes a NUL after the string: room for it is the '}' */
  (void)herd_json_quote(line, len, p + at, (size_t)ql + 1);
  at += (size_t)ql;
  p[at++] = '}';
  p[at++] = '\n';
}

void logw_line(struct logw *lw, int stream, int slot, const char *line,
               size_t len) {
  char pre[LOG_TIME_MAX + NAME_MAX_LEN + 64];
  if (lw->tag) {
    int pn = snprintf(pre, sizeof pre, "[%s:%d] ", lw->tag, slot);
    char *p = stage_record(lw, stream == 2, (size_t)pn + len + 1);
    if (p) {
      memcpy(p, pre, (size_t)pn);
      memcpy(p + pn, line, len);
      p[pn + len] = '\n';
    }
    return;
  }
  size_t pn = stamp_now(lw, pre, LOG_TIME_MAX);
  if (lw->json) {
    json_line(lw, stream, slot, pre, pn, line, len);
    return;
  }
  /* "TIME [slot] " */
  pre[pn++] = ' ';
  pre[pn++] = '[';
  char digits[12];
  int nd = 0;
  unsigned u = slot < 0 ? 0u : (unsigned)slot;
  do {
    digits[nd++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  while (nd)
    pre[pn++] = digits[--nd];
  pre[pn++] = ']';
  pre[pn++] = ' ';
  size_t rec = pn + len + 1;
  char *p = stage_record(lw, stream == 2, rec);
  if (!p)
    return;
  memcpy(p, pre, pn);
  memcpy(p + pn, line, len);
  p[rec - 1] = '\n';
}

int logw_event_fd(struct logw *lw) { return lw->efd; }

void logw_want_low(struct logw *lw) {
  pthread_mutex_lock(&lw->mu);
  if (lw->used <= lw->cap / 4) {
    uint64_t one = 1;
    (void)!write(lw->efd, &one, sizeof one);
  } else {
    lw->want_low = 1;
  }
  pthread_mutex_unlock(&lw->mu);
}

void logw_reopen(struct logw *lw) {
  pthread_mutex_lock(&lw->mu);
  lw->reopen = 1;
  pthread_cond_signal(&lw->cv);
  pthread_mutex_unlock(&lw->mu);
}

uint64_t logw_flush(struct logw *lw) {
  pthread_mutex_lock(&lw->mu);
  uint64_t ticket = ++lw->flush_req;
  pthread_cond_signal(&lw->cv);
  pthread_mutex_unlock(&lw->mu);
  return ticket;
}

uint64_t logw_flushed(struct logw *lw) {
  pthread_mutex_lock(&lw->mu);
  uint64_t done = lw->flush_done;
  pthread_mutex_unlock(&lw->mu);
  return done;
}

void logw_stats(struct logw *lw, struct logw_stats *st) {
  pthread_mutex_lock(&lw->mu);
  *st = lw->st;
  pthread_mutex_unlock(&lw->mu);
}

/* Kept reachable: a writer still blocked in write(2) when its close gave
 * up (the process is about to exit, which ends the thread). */
static struct logw *abandoned;

int logw_close_within(struct logw *lw, int timeout_ms) {
  if (!lw)
    return 0;
  (void)logw_commit(lw);
  pthread_mutex_lock(&lw->mu);
  lw->quit = 1;
  pthread_cond_signal(&lw->cv);
  if (timeout_ms >= 0) {
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
      dl.tv_sec++;
      dl.tv_nsec -= 1000000000L;
    }
    while (!lw->done)
      if (pthread_cond_timedwait(&lw->cv, &lw->mu, &dl) == ETIMEDOUT)
        break;
    if (!lw->done) {
      pthread_mutex_unlock(&lw->mu);
      abandoned = lw;
      return -ETIMEDOUT;
    }
  }
  pthread_mutex_unlock(&lw->mu);
  pthread_join(lw->thread, NULL);
  pthread_cond_destroy(&lw->cv);
  pthread_mutex_destroy(&lw->mu);
  for (int i = 0; i < 2; i++) {
    if (lw->f[i].fd >= 0 && lw->f[i].path)
      (void)close(lw->f[i].fd);
    big_free(lw->f[i].buf, BATCH + 16384);
    free(lw->f[i].path);
  }
  (void)close(lw->efd);
  big_free(lw->stage, STAGE_MAX + 64);
  big_free(lw->ring, lw->cap);
  free(lw->date_fmt);
  free(lw->app_q);
  free(lw);
  return 0;
}

void logw_close(struct logw *lw) { (void)logw_close_within(lw, -1); }
