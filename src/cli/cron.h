/*
 * cron.h - a five-field cron line (--cron-restart), parsed, and the next
 * time it fires (cron.c): pure functions of the line, a time and the
 * process's time zone (TZ, as localtime_r and mktime see it).
 */
#ifndef HERD_CLI_CRON_H
#define HERD_CLI_CRON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* What each field allows, as bit sets; dom_star, dow_star: the field
 * began with '*' (Vixie cron's rule: when both day fields are
 * restricted, a day that matches either fires; else both must). */
struct cron {
  uint64_t min;  /* bits 0..59 */
  uint32_t hour; /* bits 0..23 */
  uint32_t dom;  /* bits 1..31 */
  uint16_t mon;  /* bits 1..12 */
  uint8_t dow;   /* bits 0..6, Sunday 0 (7 is Sunday too) */
  unsigned char dom_star, dow_star;
};

/* "MIN HOUR DOM MON DOW" (numbers, a-b, lists, * / n steps, jan-dec,
 * sun-sat) or @yearly @annually @monthly @weekly @daily @midnight
 * @hourly. 0, or -1 with a one-line message in err naming the field and
 * the problem ("minute: 61 is out of range (0-59)"). */
int cron_parse(const char *line, struct cron *c, char *err, size_t n);

/* The first time after `after` (seconds since the epoch) whose local
 * wall-clock minute the line allows: 0 with *next, or -1 if there is
 * none within 400 years. A time skipped by a spring-forward gap does
 * not fire that day; a wall-clock minute that a fall-back repeats fires
 * once, at its first occurrence. */
int cron_next(const struct cron *c, time_t after, time_t *next);

#endif
