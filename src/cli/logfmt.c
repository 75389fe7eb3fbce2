/*
 * logfmt.c - the log files' lines, both ways: the time a line is stamped
 * with (ISO-8601 UTC by default, --log-date-format's strftime format in
 * local time), and what `herd logs` reads back from a line of either
 * format (text "TIME [SLOT] line", json one object a line), with the
 * times of --since. The writer (logw.c) stamps; the reader (logs.c)
 * parses; this file holds what both must agree on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "jval.h"

/* fmt with each %L made the three digits of ms ("%%" kept as it is);
 * 0, or -1 if it does not fit in n. */
static int expand_ms(char *out, size_t n, const char *fmt, int ms) {
  size_t k = 0;
  for (const char *p = fmt; *p; p++) {
    if (k + 4 > n)
      return -1;
    if (p[0] == '%' && p[1] == 'L') {
      out[k++] = (char)('0' + ms / 100);
      out[k++] = (char)('0' + ms / 10 % 10);
      out[k++] = (char)('0' + ms % 10);
      p++;
    } else if (p[0] == '%' && p[1] == '%') {
      out[k++] = *p++;
      out[k++] = *p;
    } else {
      out[k++] = *p;
    }
  }
  out[k] = '\0';
  return 0;
}

size_t log_time_text(char *buf, size_t n, const char *fmt, const struct timespec *ts) {
  struct tm tm;
  int ms = (int)(ts->tv_nsec / 1000000);
  if (!fmt) {
    gmtime_r(&ts->tv_sec, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = k ? snprintf(buf + k, n - k, ".%03dZ", ms) : -1;
    return m > 0 && (size_t)m < n - k ? k + (size_t)m : 0;
  }
  char f[LOG_DATE_FORMAT_MAX * 2 + 8];
  if (expand_ms(f, sizeof f, fmt, ms) < 0)
    return 0;
  localtime_r(&ts->tv_sec, &tm);
  return strftime(buf, n, f, &tm);
}

size_t iso_stamp(char *buf, size_t n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return log_time_text(buf, n, NULL, &ts);
}

int log_date_format_check(const char *fmt, char *err, size_t n) {
  size_t len = strlen(fmt);
  if (!len || len > LOG_DATE_FORMAT_MAX) {
    snprintf(err, n, "log-date-format: give a strftime format of 1 to %d bytes "
             "(%%Y-%%m-%%d %%H:%%M:%%S.%%L)", LOG_DATE_FORMAT_MAX);
    return -1;
  }
  /* a date of the longest kind (the 31st, 12:59:59, a long month's and
   * day's names) written with it: it must fit and make no line breaks */
  struct timespec ts = {.tv_sec = 1727740799, .tv_nsec = 999000000};
  char out[LOG_TIME_MAX];
  size_t k = log_time_text(out, sizeof out, fmt, &ts);
  int bad = k == 0;
  for (size_t i = 0; i < k; i++)
    bad |= (unsigned char)out[i] < 0x20 || out[i] == 0x7f;
  if (bad) {
    char shown[LOG_DATE_FORMAT_MAX * 4 + 1]; /* its control characters as \xNN */
    cli_printable(shown, sizeof shown, fmt, len);
    snprintf(err, n, "log-date-format: '%s' makes no time of 1 to %d characters "
             "on one line (strftime(3), %%L for milliseconds)", shown, LOG_TIME_MAX - 1);
    return -1;
  }
  return 0;
}

/* ---- reading times back --------------------------------------------- */

/* d digits at *p as a number (and *p past them), or -1. */
static int digits(const char **p, const char *end, int d) {
  int v = 0;
  for (int i = 0; i < d; i++, (*p)++) {
    if (*p >= end || **p < '0' || **p > '9')
      return -1;
    v = v * 10 + (**p - '0');
  }
  return v;
}

/* timegm (UTC) or mktime (local) of tm, the minute's value kept: a log
 * read back has many lines of one minute, and mktime looks at the time
 * zone each time (herd logs read a million lines at half the speed). */
static int64_t epoch_of(const struct tm *tm, int local) {
  static struct {
    int key[6];
    int64_t base;
    int ok;
  } c;
  int key[6] = {tm->tm_year, tm->tm_mon, tm->tm_mday, tm->tm_hour, tm->tm_min, local};
  if (!c.ok || memcmp(key, c.key, sizeof key)) {
    struct tm t = *tm;
    t.tm_sec = 0;
    t.tm_isdst = -1;
    c.base = local ? (int64_t)mktime(&t) : (int64_t)timegm(&t);
    memcpy(c.key, key, sizeof key);
    c.ok = 1;
  }
  return c.base + tm->tm_sec;
}

/* An ISO-8601 time at the start of s[0..n): YYYY-MM-DD, then T or a
 * space and HH:MM[:SS[.fff]], then Z, +HH[:MM], -HH[:MM] or nothing
 * (local time). date_only: the date alone is midnight, local time.
 * Returns the bytes read (0: not a time) with *ms since the epoch. */
static size_t iso_parse(const char *s, size_t n, int date_only, int64_t *ms) {
  const char *p = s, *end = s + n;
  struct tm tm = {0};
  int y = digits(&p, end, 4), mo, d, h = 0, mi = 0, sec = 0, frac = 0;
  if (y < 0 || p >= end || *p++ != '-' || (mo = digits(&p, end, 2)) < 1 || mo > 12 ||
      p >= end || *p++ != '-' || (d = digits(&p, end, 2)) < 1 || d > 31)
    return 0;
  int have_time = p < end && (*p == 'T' || *p == ' ') && p + 1 < end && p[1] >= '0' &&
                  p[1] <= '9';
  if (!have_time && !date_only)
    return 0;
  if (have_time) {
    p++;
    if ((h = digits(&p, end, 2)) < 0 || h > 23 || p >= end || *p++ != ':' ||
        (mi = digits(&p, end, 2)) < 0 || mi > 59)
      return 0;
    if (p < end && *p == ':') {
      p++;
      if ((sec = digits(&p, end, 2)) < 0 || sec > 60)
        return 0;
      if (p < end && (*p == '.' || *p == ',')) {
        p++;
        int nd = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++, nd++)
          if (nd < 3)
            frac = frac * 10 + (*p - '0');
        if (!nd)
          return 0;
        for (; nd < 3; nd++)
          frac *= 10;
      }
    }
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  int64_t t;
  const char *z = p;
  if (z < end && *z == ' ' && z + 1 < end && (z[1] == '+' || z[1] == '-' || z[1] == 'Z'))
    z++; /* "%Y-%m-%d %H:%M:%S %z" */
  if (have_time && z < end && *z == 'Z') {
    t = epoch_of(&tm, 0);
    p = z + 1;
  } else if (have_time && z < end && (*z == '+' || *z == '-')) {
    const char *q = z + 1;
    int oh = digits(&q, end, 2), om = 0;
    if (oh < 0 || oh > 23)
      return 0;
    if (q < end && *q == ':')
      q++;
    if (q + 1 < end && q[0] >= '0' && q[0] <= '9' && (om = digits(&q, end, 2)) < 0)
      return 0;
    int off = (oh * 60 + om) * 60;
    t = epoch_of(&tm, 0) - (*z == '+' ? off : -off);
    p = q;
  } else {
    t = epoch_of(&tm, 1);
  }
  *ms = t * 1000 + frac;
  return (size_t)(p - s);
}

int log_since_parse(const char *arg, int64_t now_ms, int64_t *ms) {
  char *end;
  errno = 0;
  long long v = strtoll(arg, &end, 10);
  if (end != arg && arg[0] >= '0' && arg[0] <= '9' && !errno && v >= 0 &&
      v <= 100000000 && end[0] && !end[1]) {
    int64_t unit = end[0] == 's' ? 1000 : end[0] == 'm' ? 60000
                 : end[0] == 'h' ? 3600000 : end[0] == 'd' ? 86400000 : 0;
    if (unit) {
      *ms = now_ms - (int64_t)v * unit;
      return 0;
    }
  }
  size_t n = strlen(arg);
  return n && iso_parse(arg, n, 1, ms) == n ? 0 : -1;
}

/* ---- reading lines back --------------------------------------------- */

static const char *const stream_names[] = {"out", "err", "herd"};

const char *log_stream_name(int stream) {
  return stream >= 0 && stream < 3 ? stream_names[stream] : "out";
}

/* "TIME [SLOT] text": the first " [digits] " ends the time. Else (the
 * master's own lines, "TIME herd[NAME]: ...") the time is the first
 * word if it is an ISO-8601 time; else the line is all text. */
static void parse_text(const char *s, size_t len, struct logline *l) {
  for (const char *p = s; (p = memchr(p, ' ', len - (size_t)(p - s))); p++) {
    const char *q = p + 1, *end = s + len;
    if (q >= end || *q != '[')
      continue;
    const char *dg = ++q;
    long slot = 0;
    while (q < end && *q >= '0' && *q <= '9' && q - dg < 9)
      slot = slot * 10 + (*q++ - '0');
    if (q == dg || q + 1 >= end || q[0] != ']' || q[1] != ' ')
      continue;
    l->time = s;
    l->tlen = (size_t)(p - s);
    l->slot = slot;
    l->text = q + 2;
    l->len = len - (size_t)(q + 2 - s);
    return;
  }
  const char *sp = memchr(s, ' ', len);
  int64_t ms;
  int timed = sp && iso_parse(s, (size_t)(sp - s), 0, &ms) == (size_t)(sp - s);
  l->time = s;
  l->tlen = timed ? (size_t)(sp - s) : 0;
  l->text = timed ? sp + 1 : s;
  l->len = len - (size_t)(l->text - s);
}

/* {"time":..,"app":..,"slot":N,"stream":"out","line":..}: 0, or -1 if
 * it is not such an object (read as text then). */
static int parse_json(const char *s, size_t len, struct logline *l) {
  herd_val_t *v = jparse(s, len);
  const herd_val_t *line = jget(v, "line"), *tv = jget(v, "time"), *st = jget(v, "stream");
  long long slot = -1;
  if (!jis_obj(v) || !jstr(line, NULL) ||
      (jget(v, "slot") && jint(jget(v, "slot"), 0, HERD_MAX_WORKERS - 1, &slot) != 0)) {
    herd_val_free(v);
    return -1;
  }
  l->tree = v;
  l->slot = slot;
  l->text = jstr(line, "");
  l->len = jstrlen(line);
  l->time = jstr(tv, "");
  l->tlen = jstrlen(tv);
  for (int i = 0; i < 3; i++)
    if (!strcmp(jstr(st, ""), stream_names[i]))
      l->stream = i;
  return 0;
}

void logline_parse(const char *s, size_t len, int stream, struct logline *l) {
  memset(l, 0, sizeof *l);
  l->slot = -1;
  l->stream = stream;
  l->ms = LOG_TIME_UNKNOWN;
  if (len && s[len - 1] == '\n')
    len--;
  if (!(len && s[0] == '{' && parse_json(s, len, l) == 0))
    parse_text(s, len, l);
  int64_t ms;
  if (l->tlen && iso_parse(l->time, l->tlen, 0, &ms))
    l->ms = ms;
}

int64_t logline_ms(const char *s, size_t len, int stream) {
  /* the writer's own JSON lines: the time string read in place (no
   * escape in it), without parsing the whole line */
  static const char pre[] = "{\"time\":\"";
  int64_t ms;
  if (len > sizeof pre - 1 && !memcmp(s, pre, sizeof pre - 1)) {
    const char *t = s + sizeof pre - 1, *q = memchr(t, '"', len - (sizeof pre - 1));
    if (q && !memchr(t, '\\', (size_t)(q - t)) && iso_parse(t, (size_t)(q - t), 0, &ms))
      return ms;
  }
  struct logline l;
  logline_parse(s, len, stream, &l);
  ms = l.ms;
  logline_free(&l);
  return ms;
}

void logline_free(struct logline *l) {
  herd_val_free(l->tree);
  l->tree = NULL;
}
