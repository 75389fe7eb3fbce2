/*
 * cron_test.c - --cron-restart's parser and "the next fire after t"
 * (src/cli/cron.c): the refusals and their words, then next times over
 * month ends, Feb 29, Vixie's day-of-month OR day-of-week, steps, names,
 * and Europe/Berlin's two DST days (setenv TZ + tzset).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/cli/cron.h"
#include "test.h"

static void set_tz(const char *tz) {
  CHECK(setenv("TZ", tz, 1) == 0);
  tzset();
}

/* "YYYY-MM-DD HH:MM" in the local zone (the first of a repeated time),
 * as mktime reads it. */
static time_t local(const char *s) {
  struct tm tm = {0};
  CHECK(sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) >= 5);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  time_t t = mktime(&tm);
  CHECK(t != (time_t)-1);
  return t;
}

/* "YYYY-MM-DD HH:MM" in UTC. */
static time_t utc(const char *s) {
  struct tm tm = {0};
  CHECK(sscanf(s, "%d-%d-%d %d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min) == 5);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return timegm(&tm);
}

static const char *show(time_t t) {
  static char buf[64];
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z (%a)", &tm);
  return buf;
}

static time_t next_of(const char *line, time_t after) {
  struct cron c;
  char err[200];
  CHECK_MSG(cron_parse(line, &c, err, sizeof err) == 0, "'%s' refused: %s", line, err);
  time_t t = 0;
  CHECK_MSG(cron_next(&c, after, &t) == 0, "'%s': no next time", line);
  return t;
}

#define NEXT(line, after, want)                                                            \
  do {                                                                                     \
    time_t got_ = next_of(line, after), want_ = (want);                                    \
    char g_[64];                                                                           \
    snprintf(g_, sizeof g_, "%s", show(got_));                                             \
    CHECK_MSG(got_ == want_, "'%s' after %s: %s, expected %s", line, show(after), g_,        \
              show(want_));                                                                \
  } while (0)

TEST(cron_parse_refuses_bad_lines_naming_the_field) {
  static const struct {
    const char *line, *err;
  } bad[] = {
      {"61 * * * *", "minute: 61 is out of range (0-59)"},
      {"* 24 * * *", "hour: 24 is out of range (0-23)"},
      {"* * 0 * *", "day of month: 0 is out of range (1-31)"},
      {"* * 32 * *", "day of month: 32 is out of range (1-31)"},
      {"* * * 13 *", "month: 13 is out of range (1-12)"},
      {"* * * * 8", "day of week: 8 is out of range (0-7)"},
      {"* * * foo *", "month: 'foo' is not a number or a name (jan-dec)"},
      {"* * * * sunday", "day of week: 'sunday' is not a number or a name (sun-sat)"},
      {"x * * * *", "minute: 'x' is not a number"},
      {"-5 * * * *", "minute: a value is missing"},
      {"5- * * * *", "minute: a value is missing"},
      {"*/0 * * * *", "minute: '*/0': the step must be a number in 1-59"},
      {"*/ * * * *", "minute: '*/': the step must be a number in 1-59"},
      {"*/x * * * *", "minute: '*/x': the step must be a number in 1-59"},
      {"10-5 * * * *", "minute: '10-5' is a backwards range"},
      {"1,,2 * * * *", "minute: '1,,2' has an empty item"},
      {"1, * * * *", "minute: '1,' has an empty item"},
      {"* * * *", "4 fields: expected 5 (minute hour day-of-month month day-of-week)"},
      {"* * * * * *", "6 fields: expected 5 (minute hour day-of-month month "
                      "day-of-week)"},
      {"", "0 fields: expected 5 (minute hour day-of-month month day-of-week)"},
      {"daily", "1 field: expected 5 (minute hour day-of-month month day-of-week)"},
      {"@reboot", "'@reboot' is not one of @yearly @annually @monthly @weekly @daily "
                  "@midnight @hourly"},
      {"@daily 5", "@daily takes nothing after it"},
      {"0 0 30 2 *", "day of month: no month allowed has such a day (the line never fires)"},
      {"0 0 31 apr,jun *", "day of month: no month allowed has such a day (the line never "
                           "fires)"},
      {"99999999999999999999 * * * *", "minute: 99999999999999999999 is out of range (0-59)"},
      {"* *\n * * *", "hour: '*?' is not a number"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct cron c;
    char err[200] = "";
    CHECK_MSG(cron_parse(bad[i].line, &c, err, sizeof err) == -1, "'%s' was taken",
              bad[i].line);
    CHECK_MSG(!strcmp(err, bad[i].err), "'%s': '%s', expected '%s'", bad[i].line, err,
              bad[i].err);
  }
  /* taken: Feb 29 exists; with a restricted day of week, the OR makes
   * any date possible */
  struct cron c;
  char err[200];
  CHECK_EQ(cron_parse("0 0 29 2 *", &c, err, sizeof err), 0);
  CHECK_EQ(cron_parse("0 0 30 2 mon", &c, err, sizeof err), 0);
  CHECK_EQ(cron_parse("  0\t0  *  *  *  ", &c, err, sizeof err), 0);
}

TEST(cron_parse_fields_ranges_steps_names) {
  struct cron c;
  char err[200];
  CHECK_EQ(cron_parse("5/20 */6 1-10/3 JAN-mar,dec mon-fri", &c, err, sizeof err), 0);
  CHECK_EQ(c.min, (1ull << 5) | (1ull << 25) | (1ull << 45));
  CHECK_EQ(c.hour, (1u << 0) | (1u << 6) | (1u << 12) | (1u << 18));
  CHECK_EQ(c.dom, (1u << 1) | (1u << 4) | (1u << 7) | (1u << 10));
  CHECK_EQ(c.mon, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 12));
  CHECK_EQ(c.dow, 0x3e);
  CHECK_EQ(c.dom_star, 0);
  CHECK_EQ(c.dow_star, 0);
  /* 7 is Sunday; fri-sun wraps to 7; */
  CHECK_EQ(cron_parse("* * * * 7", &c, err, sizeof err), 0);
  CHECK_EQ(c.dow, 1);
  CHECK_EQ(cron_parse("* * * * fri-sun", &c, err, sizeof err), 0);
  CHECK_EQ(c.dow, (1 << 5) | (1 << 6) | 1);
  CHECK_EQ(cron_parse("* * * * 0-7", &c, err, sizeof err), 0);
  CHECK_EQ(c.dow, 0x7f);
  CHECK_EQ(cron_parse("0 0 * * */2", &c, err, sizeof err), 0); /* '*' first: a star */
  CHECK_EQ(c.dow_star, 1);
  CHECK_EQ(c.dom_star, 1);
  CHECK_EQ(c.dow, (1 << 0) | (1 << 2) | (1 << 4) | (1 << 6));
  CHECK_EQ(cron_parse("@hourly", &c, err, sizeof err), 0);
  CHECK_EQ(c.min, 1);
  CHECK_EQ(c.hour, 0xffffff);
}

TEST(cron_next_over_month_ends_leap_days_and_steps) {
  set_tz("UTC");
  /* strictly after, to the minute */
  NEXT("* * * * *", local("2026-12-06 10:00:00"), local("2026-12-06 10:01"));
  NEXT("* * * * *", local("2026-12-06 10:00:59"), local("2026-12-06 10:01"));
  NEXT("0 * * * *", local("2026-12-06 23:30"), local("2026-12-07 00:00"));
  /* the 31st skips the months without one */
  NEXT("0 0 31 * *", local("2026-04-15 00:00"), local("2026-05-31 00:00"));
  NEXT("0 0 31 * *", local("2026-05-31 00:00"), local("2026-07-31 00:00"));
  /* Feb 29: the next leap year; 2100 is none */
  NEXT("0 12 29 2 *", local("2026-03-01 00:00"), local("2028-02-29 12:00"));
  NEXT("0 12 29 2 *", local("2096-03-01 00:00"), local("2104-02-29 12:00"));
  NEXT("0 0 28-31 2 *", local("2027-02-28 00:00"), local("2028-02-28 00:00"));
  /* the year's end */
  NEXT("59 23 31 12 *", local("2026-12-31 23:59"), local("2027-12-31 23:59"));
  NEXT("0 0 1 jan *", local("2026-06-01 00:00"), local("2027-01-01 00:00"));
  NEXT("@yearly", local("2026-01-01 00:00"), local("2027-01-01 00:00"));
  NEXT("@monthly", local("2026-01-31 12:00"), local("2026-02-01 00:00"));
  /* steps and ranges */
  NEXT("5/20 * * * *", local("2026-12-06 10:25"), local("2026-12-06 10:45"));
  NEXT("5/20 * * * *", local("2026-12-06 10:45"), local("2026-12-06 11:05"));
  NEXT("*/15 9-17 * * mon-fri", local("2026-12-04 17:50"), local("2026-12-07 09:00"));
  NEXT("*/15 9-17 * * mon-fri", local("2026-12-07 09:00"), local("2026-12-07 09:15"));
  NEXT("0 */6 * * *", local("2026-12-06 18:00"), local("2026-12-07 00:00"));
  /* day of week: 2026-12-06 is a Sunday; 7 and 0 are Sunday */
  NEXT("0 0 * * 1", local("2026-12-06 10:00"), local("2026-12-07 00:00"));
  NEXT("30 2 * * 7", local("2026-12-06 03:00"), local("2026-12-13 02:30"));
  NEXT("30 2 * * sun", local("2026-12-05 03:00"), local("2026-12-06 02:30"));
  NEXT("@weekly", local("2026-12-06 00:00"), local("2026-12-13 00:00"));
  NEXT("0 22 * * fri-sun", local("2026-12-07 00:00"), local("2026-12-11 22:00"));
  /* both day fields restricted: either matches (Fri Dec 11 before the
   * 13th); one of them led by a star (even a step): both must (the 13th, a
   * Sunday) */
  NEXT("0 0 13 * 5", local("2026-12-06 10:00"), local("2026-12-11 00:00"));
  NEXT("0 0 13 * 5", local("2026-12-11 00:00"), local("2026-12-13 00:00"));
  NEXT("0 0 13 * */7", local("2026-12-06 10:00"), local("2026-12-13 00:00"));
  NEXT("0 0 13 * */7", local("2026-12-13 00:00"), local("2027-06-13 00:00"));
  NEXT("0 0 */10 * 1", local("2026-12-06 10:00"), local("2026-12-21 00:00"));
  NEXT("0 0 30 2 mon", local("2026-02-01 00:00"), local("2026-02-02 00:00"));
  /* Friday the 13th: dom_star off, dow '*'-led: both must */
  NEXT("0 0 13 * *", local("2026-12-13 00:00"), local("2027-01-13 00:00"));
}

TEST(cron_next_across_berlin_dst_days) {
  if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0)
    SKIP("no tzdata for Europe/Berlin");
  set_tz("Europe/Berlin");
  /* 2026-03-29: 02:00 CET becomes 03:00 CEST. 02:30 does not exist:
   * no fire that day, the next is the 30th's (CEST: 00:30 UTC). */
  NEXT("30 2 * * *", utc("2026-03-28 12:00"), utc("2026-03-30 00:30"));
  NEXT("0 * * * *", utc("2026-03-29 00:30"), utc("2026-03-29 01:00")); /* 03:00 CEST */
  NEXT("*/30 * * * *", utc("2026-03-29 00:45"), utc("2026-03-29 01:00"));
  NEXT("0 3 * * *", utc("2026-03-28 12:00"), utc("2026-03-29 01:00"));
  NEXT("59 1 * * *", utc("2026-03-28 12:00"), utc("2026-03-29 00:59"));
  /* 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 comes twice and
   * fires at its first (00:30 UTC), then not at its second (01:30 UTC) */
  NEXT("30 2 * * *", utc("2026-10-24 12:00"), utc("2026-10-25 00:30"));
  NEXT("30 2 * * *", utc("2026-10-25 00:30"), utc("2026-10-26 01:30"));
  /* started during the second pass: 02:30 was before it */
  NEXT("30 2 * * *", utc("2026-10-25 01:10"), utc("2026-10-26 01:30"));
  /* every half hour: the repeated hour is not fired twice */
  NEXT("*/30 * * * *", utc("2026-10-25 00:45"), utc("2026-10-25 02:00")); /* 03:00 CET */
  NEXT("0 3 * * *", utc("2026-10-24 12:00"), utc("2026-10-25 02:00"));
  /* an ordinary day either side */
  NEXT("0 12 * * *", utc("2026-03-27 00:00"), utc("2026-03-27 11:00"));
  NEXT("0 12 * * *", utc("2026-07-01 00:00"), utc("2026-07-01 10:00"));
  set_tz("UTC");
}
