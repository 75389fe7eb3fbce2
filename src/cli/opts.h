/*
 * opts.h - the one table of `herd run`/`start` options and config keys
 * (opts.c): each option's name, short name, kind, where it is stored,
 * limits, default and help text. getopt's table, the help text and the
 * config-key checks are all made from it; app_set applies one entry.
 */
#ifndef HERD_CLI_OPTS_H
#define HERD_CLI_OPTS_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"

enum opt_kind {
  OPT_COUNT,    /* a whole number in min..max (an int); words name values */
  OPT_DURATION, /* 500ms, 1.5s, 2m, 1h or ms, in min..max ms (an int) */
  OPT_SIZE,     /* bytes, or with K, M, G (a uint64_t); min..max */
  OPT_BOOL,     /* true/false, 1/0 (bit of an unsigned, or an int) */
  OPT_ENUM,     /* one of words (an int); a word without a name takes a
                   duration: the value is its, the duration goes to off2 */
  OPT_STRING,   /* the app's own copy (a const char *) */
  OPT_LIST,     /* repeatable: appended to a const char *[max + 1], whose
                   count is the int at off2 */
  OPT_SIGNAL,   /* TERM, SIGTERM or a number (an int) */
  OPT_MODE,     /* octal 0..max (an unsigned); sets bit in the unsigned
                   at off2 */
  OPT_PATHS,    /* OPT_LIST whose option may stand alone (getopt's
                   optional_argument: --watch, --watch=PATH): "true" adds
                   ".", "false" empties the list */
};

/* where an option may be given */
enum {
  OPT_ANYWHERE, /* the command line and config files */
  OPT_CMDLINE,  /* the command line only (-c, -q, -h): the caller's */
};

struct opt_word {
  const char *name; /* NULL: OPT_ENUM's duration */
  int value;
};

struct opt {
  const char *name;    /* --name; the config key, with '-' or '_' */
  char sname;          /* -w, or 0 */
  unsigned char kind;  /* enum opt_kind */
  unsigned char where; /* OPT_ANYWHERE, OPT_CMDLINE */
  const char *metavar; /* the value in the help ("N|auto"); NULL: none */
  size_t off, off2;    /* in struct app */
  long long min, max;  /* count, duration (ms), size, list items, mode */
  unsigned bit;        /* bool: the flag (0: an int 0/1); mode: the flag */
  const struct opt_word *words; /* count, enum; ends with {NULL, -1} */
  /* More than the kind checks for a string or a list item (a name, an
   * address): 0, or -1 with err set (the option's name leading). */
  int (*check)(const char *val, char *err, size_t n);
  const char *dflt;    /* the help's [default]: NULL: the value app_init
                          gives, written as the kind writes it; "": none */
  const char *help;    /* one paragraph: the help wraps it */
};

/* The checks of --watch's paths, --watch-ignore's globs (watch.c) and
 * --cron-restart's line (cronrun.c), as struct opt's check. */
int watch_check_path(const char *val, char *err, size_t n);
int watch_check_glob(const char *val, char *err, size_t n);
int cron_check(const char *val, char *err, size_t n);

/* The table (*n entries). */
const struct opt *opt_table(size_t *n);
/* The entry of a long name or config key ("kill_timeout" or
 * "kill-timeout"); NULL if there is none. */
const struct opt *opt_find(const char *key);

/* getopt_long's tables from the option table: lo (n + 1 entries, from
 * opt_table) with val = OPT_VAL + the entry's index, and the short
 * options (at least 2 * n + 2 bytes) after a leading '+'. */
#define OPT_VAL 256
#define OPT_MAX 64 /* entries at most (opts.c checks) */
void opt_getopt(struct option *lo, char *shortopts);
/* The entry getopt_long's return names (a short option's letter, or
 * OPT_VAL + index), or NULL ('?', ':'). */
const struct opt *opt_of_getopt(int ch);

/* The options' help: one entry a line or more, wrapped to 79 columns,
 * each with its default (as app_init makes it). */
void opt_help(FILE *out);

/* The index of the option o stands for: an alias's (-i, --instances) is
 * its option's (-w): where struct app keeps its origin. */
size_t opt_canon(const struct opt *o);
/* The origin of the option key, set (what herd derives from others). */
void app_origin_set(struct app *a, const char *key, const struct origin *from);
/* The value of o in the app, as its kind is written on the command line
 * ("5s", "10M", "TERM", "022", "true"), into buf; lists: item i (i <
 * the count). Returns buf, or for a string or a list item the app's own
 * text (whole, borrowed), or NULL for a value that is not set (a string,
 * a mode, --max-memory, a list item past the end). */
const char *opt_value_text(const struct opt *o, const struct app *a, int i, char *buf,
                           size_t n);
/* optkind.c: the kinds' texts. 0 with the value; -1 not one; -2 out of
 * range (a duration over INT_MAX ms; a count out of min..max). A size:
 * 200M, 1.5G, 512K or bytes (K, M, G powers of 1024) up to
 * MAX_SIZE_BYTES. */
#define MAX_SIZE_BYTES 1000000000000000000LL /* 10^18: sizes in a double */
int opt_parse_duration(const char *s, long *ms_out);
int opt_parse_count(const char *s, long long min, long long max, long long *out);
int opt_parse_size(const char *s, uint64_t *out);
/* TERM for SIGTERM (the names herd takes), or NULL. */
const char *opt_signal_name(int sig);
/* A signal: TERM, SIGTERM, term or a number (1..NSIG-1); -1 if not. */
int opt_signal(const char *s);

/* The app's own copy of s (NULL when out of memory): freed by app_free. */
char *app_keep(struct app *a, const char *s);
/* The app's own copy of a config file's path made absolute: path, or
 * dir (its directory, absolute) and path's last component; NULL when
 * out of memory. */
const char *app_keep_file(struct app *a, const char *path, const char *dir);
/* err = the message, on one line; returns -1. */
int app_fail(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
