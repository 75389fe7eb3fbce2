/*
 * cron.c - --cron-restart's line: the five fields of crontab(5) parsed
 * into bit sets, and the next local time they allow. No state, no
 * clock of its own: the master (cronrun.c) says what "now" is.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cron.h"

struct field {
  const char *name;
  int lo, hi;
  const char *const *names; /* names[i] is lo + i; NULL: numbers only */
};

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const wdays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

/* day of week goes to 7 (Sunday again) */
static const struct field fields[5] = {{"minute", 0, 59, NULL},
                                       {"hour", 0, 23, NULL},
                                       {"day of month", 1, 31, NULL},
                                       {"month", 1, 12, months},
                                       {"day of week", 0, 7, wdays}};

static const struct {
  const char *name, *line;
} macros[] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
              {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
              {"@hourly", "0 * * * *"}};

/* err = "FIELD: message", one printable line whatever was given. */
__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t n, const char *fmt,
                                                      ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
  for (char *p = err; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = '?';
  return -1;
}

#define SHOWN(len) ((len) > 32 ? 32 : (int)(len)) /* of a value, in a message */

/* A whole number of at most 4 digits at s[0..len): 0 with *v, else -1. */
static int digits(const char *s, size_t len, int *v) {
  if (!len || len > 4 || strspn(s, "0123456789") < len)
    return -1;
  int x = 0;
  for (size_t i = 0; i < len; i++)
    x = x * 10 + (s[i] - '0');
  *v = x;
  return 0;
}

/* One value at s[0..len): digits or a name. 0 with *v, or -1. */
static int value(const struct field *f, const char *s, size_t len, int *v, char *err,
                 size_t n) {
  if (!len)
    return fail(err, n, "%s: a value is missing", f->name);
  if (strspn(s, "0123456789") >= len) {
    if (digits(s, len, v) < 0 || *v < f->lo || *v > f->hi)
      return fail(err, n, "%s: %.*s is out of range (%d-%d)", f->name, SHOWN(len), s, f->lo,
                  f->hi);
    return 0;
  }
  int last = 0;
  for (int i = 0; f->names && f->names[i]; i++) {
    last = i;
    if (len == 3 && !strncasecmp(s, f->names[i], 3)) {
      *v = f->lo + i;
      return 0;
    }
  }
  if (f->names)
    return fail(err, n, "%s: '%.*s' is not a number or a name (%s-%s)", f->name, SHOWN(len),
                s, f->names[0], f->names[last]);
  return fail(err, n, "%s: '%.*s' is not a number", f->name, SHOWN(len), s);
}

/* One item of a list, s[0..len): *, N or A-B, each with /STEP (N/STEP:
 * from N to the top). Its values set in *bits. */
static int item(const struct field *f, const char *s, size_t len, uint64_t *bits, char *err,
                size_t n) {
  const char *slash = memchr(s, '/', len);
  size_t base = slash ? (size_t)(slash - s) : len;
  int lo = f->lo, hi = f->hi, step = 1;
  if (slash && (digits(slash + 1, len - base - 1, &step) < 0 || step < 1 || step > f->hi))
    return fail(err, n, "%s: '%.*s': the step must be a number in 1-%d", f->name,
                SHOWN(len), s, f->hi);
  if (!(base == 1 && s[0] == '*')) {
    const char *dash = memchr(s, '-', base);
    if (value(f, s, dash ? (size_t)(dash - s) : base, &lo, err, n) < 0)
      return -1;
    if (dash) {
      if (value(f, dash + 1, base - (size_t)(dash - s) - 1, &hi, err, n) < 0)
        return -1;
      if (f == &fields[4] && hi == 0) /* fri-sun: Sunday as 7 */
        hi = 7;
      if (hi < lo)
        return fail(err, n, "%s: '%.*s' is a backwards range", f->name, SHOWN(len), s);
    } else if (!slash) {
      hi = lo;
    }
  }
  for (int v = lo; v <= hi; v += step)
    *bits |= 1ull << (f == &fields[4] ? v % 7 : v);
  return 0;
}

/* One field, s[0..len): a comma list of items. */
static int field_parse(const struct field *f, const char *s, size_t len, uint64_t *bits,
                       char *err, size_t n) {
  *bits = 0;
  for (size_t i = 0; i <= len;) {
    const char *c = memchr(s + i, ',', len - i);
    size_t il = c ? (size_t)(c - (s + i)) : len - i;
    if (!il)
      return fail(err, n, "%s: '%.*s' has an empty item", f->name, SHOWN(len), s);
    if (item(f, s + i, il, bits, err, n) < 0)
      return -1;
    i += il + 1;
  }
  return 0;
}

static int month_days(int mon, int year) {
  static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return d[mon - 1] + (mon == 2 && leap);
}

/* Both day fields must match (one is a '*'): some day of the months
 * must exist (30 2 never does). */
static int days_possible(const struct cron *c, char *err, size_t n) {
  if (!c->dom_star && !c->dow_star)
    return 0;
  for (int m = 1; m <= 12; m++)
    for (int d = 1; d <= month_days(m, 2000); d++)
      if ((c->mon >> m & 1) && (c->dom >> d & 1))
        return 0;
  snprintf(err, n, "day of month: no month allowed has such a day (the line never fires)");
  return -1;
}

static int fields_count(const char *s) {
  int k = 0;
  while (*s) {
    k++;
    s += strcspn(s, " \t");
    s += strspn(s, " \t");
  }
  return k;
}

static int macro(const char *line, struct cron *c, char *err, size_t n) {
  size_t l = strcspn(line, " \t");
  if (line[l + strspn(line + l, " \t")])
    return fail(err, n, "%.*s takes nothing after it", SHOWN(l), line);
  for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
    if (strlen(macros[i].name) == l && !strncmp(line, macros[i].name, l))
      return cron_parse(macros[i].line, c, err, n);
  return fail(err, n, "'%.*s' is not one of @yearly @annually @monthly @weekly "
              "@daily @midnight @hourly", SHOWN(l), line);
}

int cron_parse(const char *line, struct cron *c, char *err, size_t n) {
  memset(c, 0, sizeof *c);
  line += strspn(line, " \t");
  if (line[0] == '@')
    return macro(line, c, err, n);
  int k = fields_count(line);
  if (k != 5)
    return fail(err, n, "%d field%s: expected 5 (minute hour day-of-month month "
                "day-of-week)", k, k == 1 ? "" : "s");
  uint64_t bits[5];
  const char *s = line;
  for (k = 0; k < 5; k++) {
    size_t l = strcspn(s, " \t");
    if (field_parse(&fields[k], s, l, &bits[k], err, n) < 0)
      return -1;
    if (k == 2)
      c->dom_star = s[0] == '*';
    if (k == 4)
      c->dow_star = s[0] == '*';
    s += l;
    s += strspn(s, " \t");
  }
  c->min = bits[0];
  c->hour = (uint32_t)bits[1];
  c->dom = (uint32_t)bits[2];
  c->mon = (uint16_t)bits[3];
  c->dow = (uint8_t)bits[4];
  return days_possible(c, err, n);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): the weekday without mktime. */
static long days_from_civil(long y, int m, int d) {
  y -= m <= 2;
  long era = (y >= 0 ? y : y - 399) / 400;
  long yoe = y - era * 400;
  long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int day_ok(const struct cron *c, long y, int m, int d) {
  if (!(c->mon >> m & 1))
    return 0;
  long days = days_from_civil(y, m, d);
  int wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
  int dom = c->dom >> d & 1, dow = c->dow >> wday & 1;
  return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* The earliest time whose local wall clock reads y-m-d h:mi, or -1 if
 * none does (a spring-forward gap). Of a fall-back's two, the first. */
static time_t wall_time(long y, int m, int d, int h, int mi) {
  time_t best = -1;
  for (int dst = 1; dst >= 0; dst--) {
    struct tm tm = {.tm_year = (int)(y - 1900), .tm_mon = m - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_isdst = dst};
    time_t t = mktime(&tm);
    struct tm back;
    if (t == (time_t)-1 || !localtime_r(&t, &back))
      continue;
    /* mktime moves a time that does not exist (or not with that isdst) */
    if (back.tm_year != tm.tm_year || back.tm_mon != m - 1 || back.tm_mday != d ||
        back.tm_hour != h || back.tm_min != mi)
      continue;
    if (best == -1 || t < best)
      best = t;
  }
  return best;
}

#define CRON_MAX_DAYS (400L * 366) /* the Gregorian calendar's cycle */

int cron_next(const struct cron *c, time_t after, time_t *next) {
  struct tm tm;
  if (!localtime_r(&after, &tm))
    return -1;
  long y = tm.tm_year + 1900L;
  int m = tm.tm_mon + 1, d = tm.tm_mday, h = tm.tm_hour, mi = tm.tm_min + 1;
  for (long day = 0; day < CRON_MAX_DAYS; day++) {
    if (day) { /* the next date; from its midnight */
      h = 0;
      mi = 0;
      if (++d > month_days(m, (int)y)) {
        d = 1;
        if (++m > 12) {
          m = 1;
          y++;
        }
      }
    }
    if (!day_ok(c, y, m, d))
      continue;
    for (; h < 24; h++, mi = 0) {
      if (!(c->hour >> h & 1))
        continue;
      for (; mi < 60; mi++) {
        if (!(c->min >> mi & 1))
          continue;
        time_t t = wall_time(y, m, d, h, mi);
        /* > after: a wall minute a fall-back repeats fired in its first
         * occurrence already */
        if (t != (time_t)-1 && t > after) {
          *next = t;
          return 0;
        }
      }
    }
  }
  return -1;
}
