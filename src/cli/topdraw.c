/*
 * topdraw.c - one frame of herd top, built in one buffer: on a terminal,
 * from the top left (no clear: each line is cleared to its end after its
 * text, so nothing flickers), exactly as many lines as the terminal has;
 * else the plain lines of a snapshot. Graphs are sparklines, in Unicode
 * blocks when the locale's charset is UTF-8, else in ASCII.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "top.h"

/* ---- the buffer ---------------------------------------------------- */

static void fb_put(struct fb *f, const char *s, size_t n) {
  if (f->oom)
    return;
  if (f->len + n + 1 > f->cap) {
    size_t nc = f->cap ? f->cap : 4096;
    while (nc < f->len + n + 1)
      nc *= 2;
    char *nb = realloc(f->buf, nc);
    if (!nb) {
      f->oom = 1;
      return;
    }
    f->buf = nb;
    f->cap = nc;
  }
  memcpy(f->buf + f->len, s, n);
  f->len += n;
  f->buf[f->len] = '\0';
}

/* An escape sequence: on a terminal only, and not counted. */
static void fb_esc(struct fb *f, const char *s) {
  if (f->tty)
    fb_put(f, s, strlen(s));
}

/* Text: one column per character (a UTF-8 sequence is one), cut at the
 * frame's width. */
static void fb_text(struct fb *f, const char *s, size_t n) {
  size_t i = 0, start = 0;
  for (; i < n; i++) {
    if (((unsigned char)s[i] & 0xc0) == 0x80)
      continue; /* a continuation byte: the same column */
    if (f->col == f->cols)
      break;
    f->col++;
  }
  fb_put(f, s + start, i - start);
}

__attribute__((format(printf, 2, 3))) static void fb_printf(struct fb *f,
                                                            const char *fmt, ...) {
  char b[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  if (n > 0)
    fb_text(f, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

static void fb_pad(struct fb *f, int col) {
  while (f->col < col && f->col < f->cols)
    fb_text(f, " ", 1);
}

/* The end of a line: attributes off, the rest of the row cleared. The
 * last row of the terminal gets no newline (it would scroll). */
static void fb_eol(struct fb *f, int last) {
  /* without wrap the cursor stays on the last column: \033[K there
   * would clear the character just written */
  fb_esc(f, f->col < f->cols ? "\033[0m\033[K" : "\033[0m");
  if (!f->tty)
    while (f->len > f->line && f->buf[f->len - 1] == ' ')
      f->buf[--f->len] = '\0'; /* a snapshot's lines end with their text */
  f->line = f->len + (last ? 0 : 1);
  if (!last)
    fb_put(f, f->tty ? "\r\n" : "\n", f->tty ? 2 : 1);
  f->col = 0;
}

void fb_free(struct fb *f) {
  free(f->buf);
  f->buf = NULL;
  f->len = f->cap = 0;
}

/* ---- pieces -------------------------------------------------------- */

static const char *const blocks[8] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                      "\u2585", "\u2586", "\u2587", "\u2588"};
static const char ascii_blocks[] = "_.:-=+*#";

/* The last width samples of v[0..n) as a sparkline, right-aligned (the
 * newest last), scaled from 0 to their peak but not below floor (a zero
 * is the lowest bar). */
static void spark(struct top *t, struct fb *f, const double *v, int n, int width,
                  double floor) {
  int k = n < width ? n : width;
  double max = floor;
  for (int i = n - k; i < n; i++)
    if (v[i] > max)
      max = v[i];
  for (int i = 0; i < width - k; i++)
    fb_text(f, " ", 1);
  for (int i = n - k; i < n; i++) {
    int lvl = max > 0 ? (int)(v[i] / max * 7 + 0.5) : 0;
    lvl = lvl < 0 ? 0 : lvl > 7 ? 7 : lvl;
    if (t->utf8)
      fb_text(f, blocks[lvl], strlen(blocks[lvl]));
    else
      fb_text(f, &ascii_blocks[lvl], 1);
  }
}

static const char *state_colour(const char *state) {
  if (!strcmp(state, "online") || !strcmp(state, "ready"))
    return "\033[32m";
  if (!strcmp(state, "degraded") || !strcmp(state, "stopping") ||
      !strcmp(state, "starting") || !strcmp(state, "+starting") ||
      !strcmp(state, "+stopping") || !strcmp(state, "backoff") ||
      !strcmp(state, "waiting"))
    return "\033[33m";
  return "\033[31m";
}

/* A coloured word; the colour ends, not the line's other attributes. */
static void fb_coloured(struct top *t, struct fb *f, const char *colour, const char *s,
                        int width) {
  if (t->colour)
    fb_esc(f, colour);
  fb_printf(f, "%-*s", width, s);
  if (t->colour)
    fb_esc(f, "\033[39m");
}

static void title(struct top *t, struct fb *f, int total, int body) {
  if (t->only)
    fb_printf(f, "herd top: %s in %s", t->only, t->home);
  else
    fb_printf(f, "herd top: %d app%s in %s", t->napps, t->napps == 1 ? "" : "s", t->home);
  if (total > body)
    fb_printf(f, " (lines %d-%d of %d)", t->off + 1, t->off + body, total);
  char clock[16];
  time_t now = time(NULL);
  struct tm tm;
  if (t->tty && localtime_r(&now, &tm) &&
      strftime(clock, sizeof clock, "%H:%M:%S", &tm) && f->col + 10 <= f->cols) {
    fb_pad(f, f->cols - 8);
    fb_text(f, clock, strlen(clock));
  }
}

/* The columns of the workers' rows: 53 columns and two graphs of g. */
#define ROW_FIXED 53

static void column_head(struct fb *f, int g) {
  fb_printf(f, "  %-4s %-7s %-9s %6s %4s %6s ", "SLOT", "PID", "STATE", "UPTIME", "RST",
            "CPU");
  fb_pad(f, f->col + g);
  fb_printf(f, " %7s ", "RSS");
}

static void app_line(struct top *t, struct fb *f, int i, int g) {
  struct top_app *a = &t->apps[i];
  int sel = t->tty && i == t->sel;
  if (sel)
    fb_esc(f, "\033[7m");
  fb_printf(f, "%s%-12s ", sel ? "> " : "  ", a->name);
  if (!a->live) {
    char safe[sizeof a->err];
    cli_printable(safe, sizeof safe, a->err, strlen(a->err));
    fb_coloured(t, f, "\033[31m", safe, 0);
  } else {
    char up[16];
    ctl__human_ms(up, sizeof up, (uint64_t)a->uptime_ms);
    fb_coloured(t, f, state_colour(a->state), a->state, 8);
    fb_printf(f, " %lld/%lld ready  master %d  up %s%s%s  restarts %lld ", a->ready,
              a->wanted, (int)a->pid, up, a->reloading ? "  reloading" : "",
              a->stopping ? "  stopping" : "", a->restarts);
    int room = f->cols - f->col;
    if (g && room >= 4)
      spark(t, f, a->rst, a->nrst, room < TOP_HIST ? room : TOP_HIST, 1);
  }
  if (sel)
    fb_pad(f, f->cols);
}

static void worker_row(struct top *t, struct fb *f, const struct top_worker *w, int g) {
  char pid[16] = "-", up[16] = "-", cpu[16] = "-", rss[16] = "-";
  if (w->pid > 0) {
    snprintf(pid, sizeof pid, "%d", (int)w->pid);
    ctl__human_ms(up, sizeof up, (uint64_t)w->uptime_ms);
    snprintf(cpu, sizeof cpu, "%.1f%%", w->cpu);
    ctl__human_bytes(rss, sizeof rss, w->rss);
  }
  fb_printf(f, "  %-4d %-7s ", w->slot, pid);
  fb_coloured(t, f, state_colour(w->state), w->state, 9);
  fb_printf(f, " %6s %4lld %6s ", up, w->restarts, cpu);
  const struct top_hist *h = w->pid > 0 ? top_hist_of(t, w->pid) : NULL;
  if (g && h)
    spark(t, f, h->cpu, h->n, g, 10); /* below 10%: small bars */
  else
    fb_pad(f, f->col + g);
  fb_printf(f, " %7s ", rss);
  if (g && h)
    spark(t, f, h->rss, h->n, g, 0);
}

/* Scroll so that the selected app's line (and as many of its workers as
 * fit) are in the body's rows. */
static void scroll(struct top *t, int total, int body) {
  int start = 0;
  for (int i = 0; i < t->sel && i < t->napps; i++)
    start += 1 + t->apps[i].nw;
  int len = t->napps ? 1 + t->apps[t->sel].nw : 0;
  int end = start + (len < body ? len : body);
  if (t->off > start)
    t->off = start;
  if (end > t->off + body)
    t->off = end - body;
  if (t->off > total - body)
    t->off = total - body;
  if (t->off < 0)
    t->off = 0;
}

static void bottom(struct top *t, struct fb *f) {
  if (t->confirm) {
    fb_esc(f, "\033[7m");
    fb_printf(f, "stop %s? Its workers get the stop signal and its master exits. y/n",
              t->confirm_name);
  } else if (t->msg[0]) {
    const char *c = t->msg_kind == MSG_OK ? "\033[32m"
                    : t->msg_kind == MSG_FAILED ? "\033[31m" : "\033[39m";
    fb_coloured(t, f, c, t->msg, 0);
  }
  fb_eol(f, 0);
  fb_esc(f, "\033[7m");
  fb_printf(f, "q quit  j/k select  r reload  R restart  +/- scale  s stop");
  fb_pad(f, f->cols);
  fb_eol(f, 1);
}

void top_draw(struct top *t, struct fb *f) {
  f->len = f->line = 0;
  f->oom = 0;
  f->col = 0;
  f->tty = t->tty;
  f->cols = t->tty ? t->cols : TOP_SNAP_COLS;
  fb_esc(f, "\033[H");
  if (t->tty && (t->cols < TOP_MIN_COLS || t->rows < TOP_MIN_ROWS)) {
    fb_printf(f, "herd top needs %dx%d (this is %dx%d)", TOP_MIN_COLS, TOP_MIN_ROWS,
              t->cols, t->rows);
    fb_esc(f, "\033[K\033[J");
    return;
  }
  int g = t->tty ? (f->cols - ROW_FIXED) / 2 : 0; /* a snapshot has no history */
  if (g > TOP_HIST)
    g = TOP_HIST;
  int body = t->tty ? t->rows - 4 : 1 << 30, total = 0;
  for (int i = 0; i < t->napps; i++)
    total += 1 + t->apps[i].nw;
  scroll(t, total, body);
  title(t, f, total, body);
  fb_eol(f, 0);
  column_head(f, g);
  fb_eol(f, 0);
  int line = 0, shown = 0;
  for (int i = 0; i < t->napps; i++) {
    for (int k = -1; k < t->apps[i].nw; k++, line++) {
      if (line < t->off || line >= t->off + body)
        continue;
      if (k < 0)
        app_line(t, f, i, g);
      else
        worker_row(t, f, &t->apps[i].w[k], g);
      fb_eol(f, 0);
      shown++;
    }
  }
  if (!t->napps) {
    if (t->home_err[0])
      fb_printf(f, "  %s: %s", t->home, t->home_err);
    else
      fb_printf(f, "  no apps in %s", t->home);
    fb_eol(f, 0);
    shown++;
  }
  if (!t->tty)
    return;
  for (; shown < body; shown++)
    fb_eol(f, 0);
  bottom(t, f);
}
