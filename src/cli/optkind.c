/*
 * optkind.c - the texts of the option kinds (opts.h): a duration, a
 * count, a size, a signal's name; what app_set (opts.c) reads them with.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opts.h"

/* A plain decimal number leads s (no sign, hex, exponent, inf or nan,
 * which strtod would take): its length, or 0. */
static size_t decimal_len(const char *s) {
  size_t n = strspn(s, "0123456789.");
  return n && s[0] != '.' && memchr(s, '.', n) == memrchr(s, '.', n) ? n : 0;
}

/* 0 with *ms_out, -1 not a duration, -2 beyond INT_MAX ms */
int opt_parse_duration(const char *s, long *ms_out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !(v >= 0) || (size_t)(end - s) != decimal_len(s))
    return -1;
  double ms;
  if (!*end || !strcmp(end, "ms"))
    ms = v;
  else if (!strcmp(end, "s"))
    ms = v * 1000;
  else if (!strcmp(end, "m"))
    ms = v * 60000;
  else if (!strcmp(end, "h"))
    ms = v * 3600000;
  else
    return -1;
  if (ms > INT_MAX)
    return -2;
  *ms_out = (long)ms;
  return 0;
}

/* 0 with *out, -1 not a number, -2 out of min..max */
int opt_parse_count(const char *s, long long min, long long max, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (end == s || *end)
    return -1;
  if (errno || v < min || v > max)
    return -2;
  *out = v;
  return 0;
}

/* 200M, 1.5G, 512K, 4096 (bytes); K/M/G are powers of 1024. */
int opt_parse_size(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !(v >= 0) || (size_t)(end - s) != decimal_len(s))
    return -1;
  double mul = 1;
  if (*end == 'k' || *end == 'K')
    mul = 1024.0;
  else if (*end == 'm' || *end == 'M')
    mul = 1024.0 * 1024;
  else if (*end == 'g' || *end == 'G')
    mul = 1024.0 * 1024 * 1024;
  else if (*end)
    return -1;
  if (*end) {
    end++;
    if (*end == 'i')
      end++;
    if (*end == 'B' || *end == 'b')
      end++;
    if (*end)
      return -1;
  }
  if (v * mul > (double)MAX_SIZE_BYTES)
    return -1;
  *out = (uint64_t)(v * mul);
  return 0;
}

static const struct {
  const char *name;
  int sig;
} signames[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},
                {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
                {"TERM", SIGTERM}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
                {"WINCH", SIGWINCH}, {"ALRM", SIGALRM}, {"PWR", SIGPWR}};

int opt_signal(const char *s) {
  if (!strncasecmp(s, "SIG", 3))
    s += 3;
  for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++)
    if (!strcasecmp(s, signames[i].name))
      return signames[i].sig;
  for (int sig = 1; sig < NSIG; sig++) { /* the others signame.c names */
    const char *ab = sig_abbrev(sig);
    if (ab && !strcasecmp(s, ab))
      return sig;
  }
  char *end;
  long v = strtol(s, &end, 10);
  if (*s && !*end && v > 0 && v < NSIG)
    return (int)v;
  return -1;
}


const char *opt_signal_name(int sig) {
  for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++)
    if (signames[i].sig == sig)
      return signames[i].name;
  return NULL;
}

