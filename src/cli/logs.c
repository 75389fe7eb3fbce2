/*
 * logs.c - `herd logs`: the last lines of an app's log files (every
 * app's, without NAME), merged in time order, and with -f what comes
 * next, across rotations (inotify on the logs directory: a new file of
 * the same name is followed from its start once the old one is drained).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "jval.h"
#include "jw.h"

/* a line read back: a JSON line of a worker's 16 KiB line fits */
#define LOG_LINE_MAX (128u << 10)

static const char usage_logs[] =
    "Usage: herd logs [NAME] [-f] [-n N] [--out|--err|--herd] [--raw|--json]\n"
    "                 [--since T]\n"
    "       herd logs --reopen NAME|all\n"
    "\n"
    "Print the last lines of an app's logs (every app's without NAME, or all):\n"
    "its workers' stdout and stderr, each line stamped with the time and\n"
    "the worker's slot, merged in time order.\n"
    "\n"
    "  -f, --follow     keep printing new lines (across rotations)\n"
    "  -n, --lines N    lines to print first [20; all of them with --since]\n"
    "      --out        stdout only\n"
    "      --err        stderr only\n"
    "      --herd       the master's own event log\n"
    "      --raw        the workers' lines alone: no file, time or slot\n"
    "      --json       one JSON object a line: time, app, slot, stream, line\n"
    "      --since T    lines from T on: a whole number of s, m, h or d before\n"
    "                   now (30s, 10m, 2h, 1d) or an ISO-8601 time\n"
    "                   (2026-11-28T02:06, local time without Z or +HH:MM)\n"
    "      --reopen     make the master reopen its log files (after moving\n"
    "                   them away, as logrotate does; SIGUSR1 does the same)\n"
    "  -h, --help       show this help\n";

enum { SHOW_TEXT, SHOW_RAW, SHOW_JSON };

/* How lines are shown: the form, and --since's bound (or
 * LOG_TIME_UNKNOWN: none). */
struct show {
  int form;
  int tagged;
  int64_t since;
};

struct src {
  char path[PATH_MAX];
  char tag[NAME_MAX_LEN + 8];
  const char *app;  /* the app's name */
  int stream;       /* 0 out, 1 err, 2 the master's own */
  const char *base; /* file name within the logs directory */
  int fd;
  int64_t last_ms;  /* the time of the last line read (--since) */
  off_t end;        /* where the tail was read up to */
  char part[LOG_LINE_MAX]; /* a line not complete yet */
  size_t plen;
};

/* The last n lines of fd's file before offset end (pread: the offset
 * is not moved): malloc'd, as logs_tail_lines. */
static struct tline *tail_fd(int fd, off_t end, int n, int *count) {
  *count = 0;
  if (n <= 0)
    return NULL;
  /* Read backwards in blocks until n newlines are seen. The blocks fill
   * buf from its end; when it is full it doubles (up to the file's
   * size), so that a file read whole - one long line, or fewer lines
   * than n - costs a copy per doubling: a new buffer and a copy per
   * block made a 64 MiB line take 28 s. buf[cap - have, cap) holds the
   * file from start to end. */
  off_t start = end;
  size_t cap = 0, have = 0;
  char *buf = NULL;
  int nl = 0;
  while (start > 0 && nl <= n) {
    size_t blk = start >= 65536 ? 65536 : (size_t)start;
    if (have + blk > cap) {
      size_t ncap = cap > (size_t)end / 2 ? (size_t)end : cap * 2;
      if (ncap < have + blk)
        ncap = have + blk;
      char *nb = malloc(ncap);
      if (!nb)
        break;
      if (have)
        memcpy(nb + ncap - have, buf + cap - have, have);
      free(buf);
      buf = nb;
      cap = ncap;
    }
    char *at = buf + cap - have - blk;
    if (pread(fd, at, blk, start - (off_t)blk) != (ssize_t)blk)
      break; /* start stays where what was read begins */
    start -= (off_t)blk;
    have += blk;
    for (size_t i = 0; i < blk; i++)
      nl += at[i] == '\n';
  }
  if (!have) {
    free(buf);
    return NULL;
  }
  if (have < cap) /* the text at buf's start, for what follows */
    memmove(buf, buf + cap - have, have);
  cap = have;
  struct tline *lines = calloc((size_t)n, sizeof *lines);
  if (!lines) {
    free(buf);
    return NULL;
  }
  /* the first line is cut unless the file starts there */
  size_t b = 0;
  if (start > 0) {
    char *nl0 = memchr(buf, '\n', cap);
    b = nl0 ? (size_t)(nl0 - buf) + 1 : cap;
  }
  /* count the lines in buf[b..cap), then keep the last n */
  int total = 0;
  for (size_t i = b; i < cap; i++)
    if (buf[i] == '\n' || i == cap - 1)
      total++;
  int skip = total > n ? total - n : 0, k = 0;
  size_t ls = b;
  for (size_t i = b; i < cap && k < n; i++) {
    if (buf[i] != '\n' && i != cap - 1)
      continue;
    if (skip) {
      skip--;
      ls = i + 1;
      continue;
    }
    size_t len = i + 1 - ls;
    char *l = malloc(len + 2);
    if (!l)
      break;
    memcpy(l, buf + ls, len);
    if (l[len - 1] != '\n')
      l[len++] = '\n';
    l[len] = '\0';
    lines[k++] = (struct tline){l, len};
    ls = i + 1;
  }
  free(buf);
  *count = k;
  return lines;
}

/* The last n lines of a file: malloc'd (cli.h). */
struct tline *logs_tail_lines(const char *path, int n, int *count) {
  *count = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  struct stat st;
  struct tline *l = fstat(fd, &st) == 0 ? tail_fd(fd, st.st_size, n, count) : NULL;
  (void)close(fd);
  return l;
}

/* A line as the form says. raw[0..len) is the line as read (its '\n'
 * included, or a piece of a line too long for the buffer, without). */
static void emit_line(const struct show *sh, const struct src *s, const struct logline *l,
                      const char *raw, size_t len) {
  if (sh->form == SHOW_RAW) {
    fwrite(l->text, 1, l->len, stdout);
    putchar('\n');
    return;
  }
  if (sh->form == SHOW_JSON) {
    struct jw w;
    jw_init(&w);
    jw_raw(&w, "{\"time\":", 8);
    jw_str(&w, l->time ? l->time : "", l->tlen);
    jw_raw(&w, ",\"app\":", 7);
    jw_str(&w, s->app, strlen(s->app));
    if (l->slot >= 0)
      jw_printf(&w, ",\"slot\":%ld", l->slot);
    else
      jw_raw(&w, ",\"slot\":null", 12);
    jw_printf(&w, ",\"stream\":\"%s\",\"line\":", log_stream_name(l->stream));
    jw_str(&w, l->text, l->len);
    jw_raw(&w, "}\n", 2);
    if (!w.err)
      fwrite(w.buf, 1, w.len, stdout);
    jw_free(&w);
    return;
  }
  if (sh->tagged)
    printf("%s | ", s->tag);
  if (l->tree) { /* a line of --log-format json, shown as text */
    printf("%.*s [%ld] ", (int)l->tlen, l->time, l->slot < 0 ? 0 : l->slot);
    fwrite(l->text, 1, l->len, stdout);
    putchar('\n');
    return;
  }
  fwrite(raw, 1, len, stdout);
  if (!len || raw[len - 1] != '\n')
    putchar('\n');
}

/* --since: a line whose time cannot be read (a --log-date-format that is
 * no ISO-8601 time, a piece of a long line) counts with the time of the
 * line before it in its file; with none before it, it is kept. */
static int since_ok(const struct show *sh, struct src *s, int64_t ms) {
  if (ms != LOG_TIME_UNKNOWN)
    s->last_ms = ms;
  return sh->since == LOG_TIME_UNKNOWN || s->last_ms == LOG_TIME_UNKNOWN ||
         s->last_ms >= sh->since;
}

static void show_line(const struct show *sh, struct src *s, const char *line, size_t len) {
  struct logline l;
  logline_parse(line, len, s->stream, &l);
  if (since_ok(sh, s, l.ms))
    emit_line(sh, s, &l, line, len);
  logline_free(&l);
}

/* Print what is new in s's file, whole lines only. */
static void drain(const struct show *sh, struct src *s) {
  if (s->fd < 0)
    return;
  for (;;) {
    ssize_t k = read(s->fd, s->part + s->plen, sizeof s->part - s->plen);
    if (k <= 0)
      break;
    s->plen += (size_t)k;
    char *start = s->part, *e = s->part + s->plen, *nl;
    while ((nl = memchr(start, '\n', (size_t)(e - start)))) {
      show_line(sh, s, start, (size_t)(nl - start) + 1);
      start = nl + 1;
    }
    s->plen = (size_t)(e - start);
    if (s->plen == sizeof s->part) {
      show_line(sh, s, s->part, s->plen);
      s->plen = 0;
    }
    memmove(s->part, start, s->plen);
  }
  struct stat st;
  off_t at = lseek(s->fd, 0, SEEK_CUR);
  if (fstat(s->fd, &st) == 0 && at >= 0 && st.st_size < at) {
    (void)lseek(s->fd, 0, SEEK_SET); /* truncated: from the start */
    s->plen = 0;
  }
}

static int reopen_cmd(const char *home, const char *target) {
  char **names = NULL;
  char *one[1];
  int n = home_targets(home, target, one, &names);
  if (n < 0)
    return 1;
  int rc = 0;
  for (int i = 0; i < n; i++) {
    char err[PATH_MAX + 128];
    herd_chan_t *ch;
    if (ctl_connect(home, names[i], &ch, err, sizeof err) < 0) {
      if (names == one) {
        fprintf(stderr, "%s: %s\n", prog_name, err);
        rc = 1;
      }
      continue;
    }
    char *line = NULL;
    int r = ctl_request(ch, "{\"cmd\":\"reopen\"}", &line, 5000);
    herd_chan_close(ch);
    herd_val_t *v = r == 0 ? jparse(line, strlen(line)) : NULL;
    if (v && !jbool(jget(v, "ok"), 0) && names != one &&
        !strncmp(jstr(jget(v, "error"), ""), "no log files", 12)) {
      /* all: a foreground app (herd run) has none to reopen */
    } else if (!v || !jbool(jget(v, "ok"), 0)) {
      fprintf(stderr, "%s: %s: %s\n", prog_name, names[i],
              v ? jstr(jget(v, "error"), "refused")
                : "not a herd control socket");
      rc = 1;
    } else {
      printf("%s: log files reopened\n", names[i]);
    }
    herd_val_free(v);
    free(line);
  }
  if (names != one)
    home_apps_free(names, n);
  return rc;
}

struct shown {
  const struct tline *line;
  int src, idx;
  int64_t ms;
};

/* By time (a line without one: the time of the line before it in its
 * file), then file, then place in the file: qsort is not stable, and
 * lines of one millisecond must keep their order. */
static int cmp_shown(const void *a, const void *b) {
  const struct shown *x = a, *y = b;
  if (x->ms != y->ms)
    return x->ms < y->ms ? -1 : 1;
  return x->src != y->src ? x->src - y->src : x->idx - y->idx;
}

/* The last nlines of every source (since --since), merged by time. */
static void print_tail(const struct show *sh, struct src *src, int nsrc, int nlines) {
  struct tline *ls[256];
  int cnt[256];
  int total = 0, ns = nsrc < 256 ? nsrc : 256;
  for (int i = 0; i < ns; i++) {
    ls[i] = src[i].fd >= 0 ? tail_fd(src[i].fd, src[i].end, nlines, &cnt[i]) : NULL;
    if (!ls[i])
      cnt[i] = 0;
    total += cnt[i];
  }
  struct shown *shw = calloc((size_t)total + 1, sizeof *shw);
  int k = 0;
  for (int i = 0; shw && i < ns; i++)
    for (int j = 0; j < cnt[i]; j++)
      if (since_ok(sh, &src[i], logline_ms(ls[i][j].s, ls[i][j].len, src[i].stream)))
        shw[k++] = (struct shown){&ls[i][j], i, j, src[i].last_ms};
  if (shw) {
    qsort(shw, (size_t)k, sizeof *shw, cmp_shown);
    for (int j = k > nlines ? k - nlines : 0; j < k; j++) {
      struct logline l;
      struct src *s = &src[shw[j].src];
      logline_parse(shw[j].line->s, shw[j].line->len, s->stream, &l);
      emit_line(sh, s, &l, shw[j].line->s, shw[j].line->len);
      logline_free(&l);
    }
  }
  free(shw);
  for (int i = 0; i < ns; i++) {
    for (int j = 0; j < cnt[i]; j++)
      free(ls[i][j].s);
    free(ls[i]);
  }
}

/* A new file of s's name appeared: unless it is the one we read already
 * (an event of a rotation we have followed), the files rotated since
 * ours are read in order, then the new one from its start. */
static void follow_rotation(const struct show *sh, struct src *s) {
  struct stat mine, now;
  if (stat(s->path, &now) < 0)
    return;
  if (s->fd >= 0 && fstat(s->fd, &mine) == 0 && mine.st_ino == now.st_ino &&
      mine.st_dev == now.st_dev)
    return;
  if (s->fd >= 0) {
    int k = 0; /* where ours went: NAME.log.k */
    char rp[PATH_MAX + 16];
    for (int j = 1; j <= 1000 && !k; j++) {
      struct stat sj;
      snprintf(rp, sizeof rp, "%s.%d", s->path, j);
      if (stat(rp, &sj) < 0)
        break;
      if (sj.st_ino == mine.st_ino && sj.st_dev == mine.st_dev)
        k = j;
    }
    (void)close(s->fd);
    s->fd = -1;
    for (int j = k - 1; j >= 1; j--) {
      snprintf(rp, sizeof rp, "%s.%d", s->path, j);
      s->fd = open(rp, O_RDONLY | O_CLOEXEC);
      if (s->fd >= 0) {
        drain(sh, s);
        (void)close(s->fd);
        s->fd = -1;
      }
    }
  }
  s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
  drain(sh, s);
}

/* -f: from the current ends on, across rotations, until stdout fails.
 * Returns the exit status. */
static int follow(const char *home, const struct show *sh, struct src *src, int nsrc) {
  char dir[PATH_MAX + 8];
  snprintf(dir, sizeof dir, "%s/logs", home);
  int in = inotify_init1(IN_CLOEXEC);
  if (in < 0 || inotify_add_watch(in, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO |
                                               IN_CLOSE_WRITE) < 0) {
    fprintf(stderr, "%s: follow %s: %s\n", prog_name, dir, strerror(errno));
    if (in >= 0)
      (void)close(in);
    return 1;
  }
  /* on from where the tail ended: what came since is printed now, and
   * a file that was replaced since (rotated, flushed) is followed */
  for (int i = 0; i < nsrc; i++) {
    if (src[i].fd >= 0)
      (void)lseek(src[i].fd, src[i].end, SEEK_SET);
    drain(sh, &src[i]);
    follow_rotation(sh, &src[i]);
  }
  for (;;) {
    char ev[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n = read(in, ev, sizeof ev);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (char *p = ev; p < ev + n;) {
      struct inotify_event *ie = (struct inotify_event *)p;
      p += sizeof *ie + ie->len;
      for (int i = 0; ie->len && i < nsrc; i++) {
        if (strcmp(ie->name, src[i].base))
          continue;
        drain(sh, &src[i]);
        if (ie->mask & (IN_CREATE | IN_MOVED_TO))
          follow_rotation(sh, &src[i]);
      }
    }
    if (fflush(stdout) == EOF || ferror(stdout))
      break;
  }
  (void)close(in);
  return 0;
}

/* The log files to read, of each app named: out, err (or only the one
 * asked for: which 1 out, 2 err, 3 herd's own); those not there yet
 * only when following. Returns the count; *out malloc'd. */
static int sources(const char *home, char **names, int napps, int which, int follow_,
                   struct src **out) {
  static const char *const suffix[] = {"-out.log", "-err.log", "-herd.log"};
  int nsrc = 0;
  struct src *src = calloc((size_t)napps * 3 + 1, sizeof *src);
  if (!src)
    return -1;
  for (int i = 0; i < napps; i++)
    for (int k = 0; k < 3; k++) {
      if (which ? which != k + 1 : k == 2)
        continue;
      struct src *s = &src[nsrc];
      if (home_path(s->path, sizeof s->path, home, names[i], suffix[k]) < 0)
        continue;
      if (access(s->path, F_OK) < 0 && !follow_)
        continue;
      snprintf(s->tag, sizeof s->tag, "%s%s", names[i], k == 0 ? "-out"
                                                       : k == 1 ? "-err" : "");
      s->base = strrchr(s->path, '/') + 1;
      s->app = names[i];
      s->stream = k;
      s->last_ms = LOG_TIME_UNKNOWN;
      s->fd = -1;
      nsrc++;
    }
  *out = src;
  return nsrc;
}

/* Nothing to show of NAME (name == NULL: of any app): why, and the exit
 * status (-1: none, go on). */
static int no_logs(const char *home, const char *name, int follow_) {
  if (name) {
    char pidp[PATH_MAX];
    if (home_path(pidp, sizeof pidp, home, name, ".pid") == 0 &&
        herd_pidfile_check(pidp) > 0)
      fprintf(stderr, "%s: %s has no such log files: it runs in the foreground "
              "(herd run), its events go to its stderr, and its workers' output "
              "too unless it runs with --log-files\n", prog_name, name);
    else
      fprintf(stderr, "%s: no logs of an app named '%s' in %s/logs\n", prog_name,
              name, home);
    return 1;
  }
  if (!follow_) {
    printf("no app running in %s has logs (a stopped app's: herd logs NAME)\n", home);
    return 0;
  }
  return -1;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct logs_opts {
  int follow, nlines, which, reopen;
  struct show show;
};

/* herd logs' options into *o: -1 to go on, else the exit status. */
static int logs_options(int argc, char **argv, struct logs_opts *o) {
  static const struct option lo[] = {{"follow", no_argument, NULL, 'f'},
                                     {"lines", required_argument, NULL, 'n'},
                                     {"out", no_argument, NULL, 'O'},
                                     {"err", no_argument, NULL, 'E'},
                                     {"herd", no_argument, NULL, 'H'},
                                     {"reopen", no_argument, NULL, 'R'},
                                     {"raw", no_argument, NULL, 'r'},
                                     {"json", no_argument, NULL, 'j'},
                                     {"since", required_argument, NULL, 'S'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  int ch, nset = 0;
  *o = (struct logs_opts){.nlines = 20, .show = {.since = LOG_TIME_UNKNOWN}};
  optind = 1;
  while ((ch = cli_getopt("logs", argc, argv, "fn:h", lo)) != -1) {
    switch (ch) {
    case 'f':
      o->follow = 1;
      break;
    case 'n': {
      char *end;
      errno = 0;
      long v = strtol(optarg, &end, 10);
      if (errno || end == optarg || *end || v < 0 || v > 1000000) {
        fprintf(stderr, "%s: -n: '%s' is not a number of lines (0..1000000)\n",
                prog_name, optarg);
        return 2;
      }
      o->nlines = (int)v;
      nset = 1;
      break;
    }
    case 'O':
    case 'E':
    case 'H':
      o->which = ch == 'O' ? 1 : ch == 'E' ? 2 : 3;
      break;
    case 'R':
      o->reopen = 1;
      break;
    case 'r':
    case 'j':
      if (o->show.form != SHOW_TEXT && o->show.form != (ch == 'r' ? SHOW_RAW : SHOW_JSON)) {
        fprintf(stderr, "%s: --raw or --json, not both\n", prog_name);
        return 2;
      }
      o->show.form = ch == 'r' ? SHOW_RAW : SHOW_JSON;
      break;
    case 'S':
      if (log_since_parse(optarg, wall_ms(), &o->show.since) < 0) {
        fprintf(stderr, "%s: --since: '%.60s' is neither a duration (30s, 10m, 2h, 1d) "
                "nor an ISO-8601 time (2026-11-28T02:06:53, 2026-11-28 02:06Z)\n",
                prog_name, optarg);
        return 2;
      }
      break;
    case 'h':
      fputs(usage_logs, stdout);
      return 0;
    default:
      return 2; /* said by cli_getopt */
    }
  }
  if (o->show.since != LOG_TIME_UNKNOWN && !nset)
    o->nlines = 1000000; /* every line since T */
  if (argc - optind > 1) {
    fprintf(stderr, "%s: one NAME at most\n", prog_name);
    return 2;
  }
  return -1;
}

int cmd_logs(int argc, char **argv) {
  struct logs_opts o;
  int rc = logs_options(argc, argv, &o);
  if (rc >= 0)
    return rc;
  char home[PATH_MAX];
  if (cli_home(home, sizeof home) < 0)
    return 1;
  if (o.reopen) {
    if (optind == argc) {
      fprintf(stderr, "%s: --reopen: give NAME or all\n", prog_name);
      return 2;
    }
    return reopen_cmd(home, argv[optind]);
  }
  char **names = NULL;
  char *one[1];
  if (optind < argc && !app_name_ok(argv[optind])) {
    fprintf(stderr, "%s: '%s' is not an app name\n", prog_name, argv[optind]);
    return 2;
  }
  int napps = home_targets(home, optind < argc ? argv[optind] : NULL, one, &names);
  if (napps < 0)
    return 1;
  struct src *src = NULL;
  int nsrc = sources(home, names, napps, o.which, o.follow, &src);
  int any = 0;
  rc = 0;
  if (nsrc < 0) {
    fprintf(stderr, "%s: out of memory\n", prog_name);
    rc = 1;
    goto out;
  }
  /* each file opened once: the tail is read up to its size now, and -f
   * goes on from there on the same file */
  for (int i = 0; i < nsrc; i++) {
    struct stat st;
    src[i].fd = open(src[i].path, O_RDONLY | O_CLOEXEC);
    if (src[i].fd >= 0 && fstat(src[i].fd, &st) == 0)
      src[i].end = st.st_size;
    any |= src[i].fd >= 0;
  }
  if (!any && (rc = no_logs(home, names == one ? argv[optind] : NULL, o.follow)) >= 0)
    goto out;
  rc = 0;
  o.show.tagged = nsrc > 1;
  print_tail(&o.show, src, nsrc, o.nlines);
  fflush(stdout);
  if (o.follow)
    rc = follow(home, &o.show, src, nsrc);
out:
  for (int i = 0; i < nsrc; i++)
    if (src[i].fd >= 0)
      (void)close(src[i].fd);
  free(src);
  if (names != one)
    home_apps_free(names, napps);
  return rc;
}
