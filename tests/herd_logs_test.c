/*
 * herd_logs_test.c - end-to-end tests of the log features of issue 12:
 * herd logs' forms (--raw, --json, the default) over both file formats
 * (--log-format text and json), --since, --log-date-format, herd flush
 * under a worker that writes all the time, and herd signal to one slot.
 *
 * The real binary (herd start, daemons), each test in its own HERD_HOME;
 * every wait is a poll of a file with a deadline (a log line is the
 * event: nothing else tells a test that the writer thread has written).
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../src/cli/jval.h"
#include "hp.h"

/* ---- helpers ---------------------------------------------------------- */

static const char *home(void) {
  static char h[PATH_MAX];
  if (!h[0]) {
    const char *e = getenv("HERD_HOME");
    CHECK_MSG(e && realpath(e, h), "HERD_HOME is not set (run under herd-test)");
  }
  return h;
}

static const char *in_home(char *buf, size_t n, const char *rel) {
  int k = snprintf(buf, n, "%s/%s", home(), rel);
  CHECK(k > 0 && (size_t)k < n);
  return buf;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK_MSG(f, "%s: %s", path, strerror(errno));
  CHECK(fputs(text, f) >= 0);
  CHECK(fclose(f) == 0);
}

/* The whole file (NUL-terminated), or NULL if it is not there. */
static char *slurp(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  char *s = test_read_all(fd, NULL);
  close(fd);
  return s;
}

/* herd ARGS...: the exit status; stdout and stderr in *r. */
static int herd_cmd(herd_exec_result_t *r, const char *const *args) {
  char *argv[HP_ARGV_MAX];
  hp_argv(argv, args);
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.max_buffer = 64u << 20;
  o.timeout_ms = 30000;
  herd_exec_result_free(r);
  CHECK_OK(herd_exec_file(argv[0], argv, &o, r));
  CHECK_MSG(r->reason == HERD_EXEC_EXITED, "herd %s did not exit (%d)", args[0], r->reason);
  return r->exit_code;
}
#define HERD(r, ...) herd_cmd(r, (const char *const[]){__VA_ARGS__, NULL})
#define HERD_OK(r, ...)                                                      \
  CHECK_MSG(HERD(r, __VA_ARGS__) == 0, "herd %s: exit %d: %s%s",            \
            ((const char *const[]){__VA_ARGS__})[0], (r)->exit_code, (r)->out, (r)->err)

/* Wait until the file at path holds needle (count times). */
static int file_has(const char *path, const char *needle, int count, int timeout_ms) {
  uint64_t end = test_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    char *s = slurp(path);
    int k = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p++)
      k++;
    free(s);
    if (k >= count)
      return 1;
    if (test_now_ms() > end)
      return 0;
    usleep(20000); /* the writer thread says nothing: look again */
  }
}
#define FILE_HAS(path, needle)                                               \
  CHECK_MSG(file_has(path, needle, 1, 15000), "%s never held '%s'", path, needle)

/* A shell script in HERD_HOME (a daemon's directory is /). */
static const char *script(char *buf, size_t n, const char *name, const char *text) {
  in_home(buf, n, name);
  write_file(buf, text);
  return buf;
}

/* After a stop: NAME-herd.log, the daemon's stderr, holds no report of
 * a sanitizer (make test SANITIZE=1), leaks at exit included. */
static void no_sanitizer_report(const char *name) {
  char rel[128], path[PATH_MAX];
  snprintf(rel, sizeof rel, "logs/%s-herd.log", name);
  char *s = slurp(in_home(path, sizeof path, rel));
  CHECK_MSG(s && !strstr(s, "Sanitizer") && !strstr(s, "runtime error"), "%s: %s", path,
            s ? s : "missing");
  free(s);
}

static int count_lines(const char *s) {
  int n = 0;
  for (; s && (s = strchr(s, '\n')); s++)
    n++;
  return n;
}

/* ---- the forms -------------------------------------------------------- */

/* What the workers of check_forms print: out and err, with characters
 * JSON must escape and UTF-8. */
static const char forms_worker[] =
    "printf 'plain %s\\n' \"$HERD_WORKER_ID\"\n"
    "printf 'tab\\there \"quoted\" back\\\\slash \\303\\274 %s\\n' \"$HERD_WORKER_ID\"\n"
    "printf 'an error %s\\n' \"$HERD_WORKER_ID\" >&2\n"
    "exec sleep 1000\n";

static const char *expected_line(int k, int slot, char *buf, size_t n) {
  if (k == 0)
    snprintf(buf, n, "plain %d", slot);
  else if (k == 1)
    snprintf(buf, n, "tab\there \"quoted\" back\\slash \xc3\xbc %d", slot);
  else
    snprintf(buf, n, "an error %d", slot);
  return buf;
}

/* Every line of text: a JSON object {time, app, slot, stream, line} of
 * app, each of the six lines of the two workers once, a time of the
 * default format. */
static void check_json_lines(const char *text, const char *app) {
  int seen[3][2] = {{0}};
  int n = 0;
  for (const char *p = text; *p; n++) {
    const char *nl = strchr(p, '\n');
    CHECK_MSG(nl, "a last line without a newline: %s", p);
    herd_val_t *v = jparse(p, (size_t)(nl - p));
    CHECK_MSG(jis_obj(v), "not a JSON object: %.*s", (int)(nl - p), p);
    const char *t = jstr(jget(v, "time"), ""), *st = jstr(jget(v, "stream"), "");
    long long slot = -1;
    CHECK_MSG(strlen(t) == 24 && t[10] == 'T' && t[23] == 'Z', "time: %s", t);
    CHECK_MSG(!strcmp(jstr(jget(v, "app"), ""), app), "app: %.*s", (int)(nl - p), p);
    CHECK_MSG(jint(jget(v, "slot"), 0, 1, &slot) == 0, "slot: %.*s", (int)(nl - p), p);
    CHECK_MSG(!strcmp(st, "out") || !strcmp(st, "err"), "stream: %s", st);
    int matched = 0;
    for (int k = 0; k < 3; k++) {
      char want[128];
      expected_line(k, (int)slot, want, sizeof want);
      if (jstrlen(jget(v, "line")) == strlen(want) &&
          !memcmp(jstr(jget(v, "line"), ""), want, strlen(want))) {
        CHECK_MSG(!strcmp(st, k == 2 ? "err" : "out"), "stream of %s: %s", want, st);
        seen[k][slot]++;
        matched = 1;
      }
    }
    CHECK_MSG(matched, "not a line the workers wrote: %.*s", (int)(nl - p), p);
    CHECK_EQ(v->obj.n, 5);
    herd_val_free(v);
    p = nl + 1;
  }
  CHECK_EQ(n, 6);
  for (int k = 0; k < 3; k++)
    for (int s = 0; s < 2; s++)
      CHECK_EQ(seen[k][s], 1);
}

static void check_forms(const char *format) {
  herd_exec_result_t r = {0};
  char sh[PATH_MAX], out_log[PATH_MAX], err_log[PATH_MAX];
  script(sh, sizeof sh, "forms.sh", forms_worker);
  in_home(out_log, sizeof out_log, "logs/fm-out.log");
  in_home(err_log, sizeof err_log, "logs/fm-err.log");
  if (!strcmp(format, "json")) { /* its config key, log_format */
    char conf[PATH_MAX], text[PATH_MAX + 128];
    snprintf(text, sizeof text, "[fm]\ncommand = [\"sh\", \"%s\"]\nworkers = 2\n"
             "log_format = \"json\"\n", sh);
    write_file(in_home(conf, sizeof conf, "fm.conf"), text);
    HERD_OK(&r, "start", "-c", conf);
  } else {
    HERD_OK(&r, "start", "-n", "fm", "-w", "2", "--log-format", format, "--", "sh", sh);
  }
  CHECK(file_has(out_log, "\xc3\xbc 1", 1, 15000) && file_has(out_log, "\xc3\xbc 0", 1, 15000));
  CHECK(file_has(err_log, "an error 1", 1, 15000) && file_has(err_log, "an error 0", 1, 15000));

  /* the files themselves */
  char *o = slurp(out_log);
  CHECK_EQ(count_lines(o), 4);
  if (!strcmp(format, "json")) {
    char *e = slurp(err_log), both[8192];
    snprintf(both, sizeof both, "%s%s", o, e);
    check_json_lines(both, "fm");
    free(e);
  } else {
    CHECK_MSG(o[0] == '2' && o[23] == 'Z' && !strncmp(o + 24, " [", 2), "%s", o);
  }
  free(o);

  /* default: "fm-out | TIME [SLOT] line", whatever the file's format */
  HERD_OK(&r, "logs", "fm");
  CHECK_EQ(count_lines(r.out), 6);
  char want[160], line[200];
  for (int s = 0; s < 2; s++)
    for (int k = 0; k < 3; k++) {
      snprintf(line, sizeof line, "Z [%d] %s\n", s, expected_line(k, s, want, sizeof want));
      CHECK_MSG(strstr(r.out, line), "herd logs fm: no '%s' in:\n%s", line, r.out);
    }
  CHECK_MSG(!strncmp(r.out, "fm-", 3) && strstr(r.out, "fm-err | 2"), "%s", r.out);

  /* --raw: the lines alone */
  HERD_OK(&r, "logs", "fm", "--raw");
  CHECK_EQ(count_lines(r.out), 6);
  for (int s = 0; s < 2; s++)
    for (int k = 0; k < 3; k++) {
      snprintf(line, sizeof line, "\n%s\n", expected_line(k, s, want, sizeof want));
      char all[8192];
      snprintf(all, sizeof all, "\n%s", r.out);
      CHECK_MSG(strstr(all, line), "herd logs --raw: no '%s' in:\n%s", want, r.out);
    }

  /* --json: one object a line */
  HERD_OK(&r, "logs", "fm", "--json");
  check_json_lines(r.out, "fm");
  CHECK_EQ(HERD(&r, "logs", "fm", "--json", "--raw"), 2);
  CHECK_MSG(!strncmp(r.err, "herd logs: ", 11) && count_lines(r.err) == 1, "%s", r.err);

  HERD_OK(&r, "stop", "fm");
  no_sanitizer_report("fm");
  herd_exec_result_free(&r);
}

TEST_T(herd_logs_forms_of_text_files, 60) {
  check_forms("text");
}

TEST_T(herd_logs_forms_of_json_files, 60) {
  check_forms("json");
}

/* ---- --since ------------------------------------------------------------ */

static void iso_at(char *buf, size_t n, time_t t, const char *fmt, int local) {
  struct tm tm;
  if (local)
    localtime_r(&t, &tm);
  else
    gmtime_r(&t, &tm);
  strftime(buf, n, fmt, &tm);
}

/* Files written here, of an app that is not running: times of the
 * default format, of an offset, of local time, JSON lines, and lines
 * without a time (kept at a file's start, else with the line before). */
TEST_T(herd_logs_since_filters_by_time, 60) {
  time_t now = time(NULL);
  char t3d[64], t3h[64], t90m[64], t10m[64], t1m[64], j2d[64], j30m[64];
  iso_at(t3d, sizeof t3d, now - 3 * 86400, "%Y-%m-%dT%H:%M:%S.123Z", 0);
  iso_at(t3h, sizeof t3h, now - 3 * 3600, "%Y-%m-%dT%H:%M:%S.000Z", 0);
  iso_at(t90m, sizeof t90m, now - 90 * 60 + 2 * 3600, "%Y-%m-%dT%H:%M:%S+02:00", 0);
  iso_at(t10m, sizeof t10m, now - 600, "%Y-%m-%d %H:%M:%S", 1); /* local */
  iso_at(t1m, sizeof t1m, now - 60, "%Y-%m-%dT%H:%M:%S.999Z", 0);
  iso_at(j2d, sizeof j2d, now - 2 * 86400, "%Y-%m-%dT%H:%M:%S.000Z", 0);
  iso_at(j30m, sizeof j30m, now - 1800, "%Y-%m-%dT%H:%M:%S.000Z", 0);
  char path[PATH_MAX], text[2048];
  CHECK(mkdir(in_home(path, sizeof path, "logs"), 0700) == 0 || errno == EEXIST);
  snprintf(text, sizeof text,
           "no time at the start\n"
           "%s [0] three days ago\n"
           "%s [1] three hours ago\n"
           "a line without a time\n"
           "%s [0] ninety minutes ago\n"
           "%s [1] ten minutes ago\n"
           "%s [0] a minute ago\n",
           t3d, t3h, t90m, t10m, t1m);
  write_file(in_home(path, sizeof path, "logs/old-out.log"), text);
  snprintf(text, sizeof text,
           "{\"time\":\"%s\",\"app\":\"old\",\"slot\":2,\"stream\":\"err\",\"line\":\"json two days\"}\n"
           "{\"time\":\"%s\",\"app\":\"old\",\"slot\":3,\"stream\":\"err\",\"line\":\"json half an hour\"}\n",
           j2d, j30m);
  write_file(in_home(path, sizeof path, "logs/old-err.log"), text);

  herd_exec_result_t r = {0};
  HERD_OK(&r, "logs", "old", "--raw", "--since", "1d");
  /* merged by time: the lines without one first (the first with none
   * before it), then in time order */
  CHECK_MSG(!strcmp(r.out, "no time at the start\n"
                           "three hours ago\n"
                           "a line without a time\n"
                           "ninety minutes ago\n"
                           "json half an hour\n"
                           "ten minutes ago\n"
                           "a minute ago\n"), "--since 1d:\n%s", r.out);
  HERD_OK(&r, "logs", "old", "--raw", "--since", "2h");
  CHECK_MSG(!strcmp(r.out, "no time at the start\n"
                           "ninety minutes ago\n"
                           "json half an hour\n"
                           "ten minutes ago\n"
                           "a minute ago\n"), "--since 2h:\n%s", r.out);
  HERD_OK(&r, "logs", "old", "--raw", "--since", "2h", "-n", "2");
  CHECK_MSG(!strcmp(r.out, "ten minutes ago\na minute ago\n"), "-n 2:\n%s", r.out);
  /* an ISO-8601 time: UTC, then the same as local time */
  char since[64];
  iso_at(since, sizeof since, now - 45 * 60, "%Y-%m-%dT%H:%M:%SZ", 0);
  HERD_OK(&r, "logs", "old", "--raw", "--since", since);
  CHECK_MSG(!strcmp(r.out, "no time at the start\njson half an hour\nten minutes ago\n"
                           "a minute ago\n"), "--since %s:\n%s", since, r.out);
  iso_at(since, sizeof since, now - 45 * 60, "%Y-%m-%d %H:%M", 1);
  HERD_OK(&r, "logs", "old", "--raw", "--since", since);
  CHECK_MSG(strstr(r.out, "json half an hour\n") && !strstr(r.out, "ninety"),
            "--since %s:\n%s", since, r.out);
  /* the JSON form of a JSON line and of a text line */
  HERD_OK(&r, "logs", "old", "--json", "--since", "40m", "--err");
  snprintf(text, sizeof text, "{\"time\":\"%s\",\"app\":\"old\",\"slot\":3,\"stream\":"
           "\"err\",\"line\":\"json half an hour\"}\n", j30m);
  CHECK_MSG(!strcmp(r.out, text), "--json --err:\n%s", r.out);
  HERD_OK(&r, "logs", "old", "--json", "--since", "5m", "--out");
  snprintf(text, sizeof text, "{\"time\":\"%s\",\"app\":\"old\",\"slot\":0,\"stream\":"
           "\"out\",\"line\":\"a minute ago\"}\n", t1m);
  CHECK_MSG(strstr(r.out, text), "--json --out:\n%s", r.out);
  /* bad times: exit 2, one line */
  const char *bad[] = {"10", "5x", "-1h", "2026-13-01", "2026-11-28T25:00", "yesterday", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CHECK_MSG(HERD(&r, "logs", "old", "--since", bad[i]) == 2, "--since '%s': %d", bad[i],
              r.exit_code);
    CHECK_MSG(!strncmp(r.err, "herd logs: --since: ", 20) && count_lines(r.err) == 1,
              "%s", r.err);
  }
  herd_exec_result_free(&r);
}

/* ---- --log-date-format ------------------------------------------------ */

TEST_T(herd_logs_date_format_stamps_local_time, 60) {
  herd_exec_result_t r = {0};
  char sh[PATH_MAX], out_log[PATH_MAX];
  script(sh, sizeof sh, "dated.sh", "echo dated line\nexec sleep 1000\n");
  in_home(out_log, sizeof out_log, "logs/dt-out.log");
  time_t t0 = time(NULL);
  HERD_OK(&r, "start", "-n", "dt", "-w", "1", "--log-date-format", "%Y-%m-%d %H:%M:%S.%L", "--", "sh",
          sh);
  FILE_HAS(out_log, "] dated line\n");
  char *o = slurp(out_log);
  /* "YYYY-MM-DD HH:MM:SS.mmm [0] dated line", in local time */
  struct tm tm = {0};
  char *rest = strptime(o, "%Y-%m-%d %H:%M:%S", &tm);
  CHECK_MSG(rest && rest[0] == '.' && strspn(rest + 1, "0123456789") == 3 &&
                !strcmp(rest + 4, " [0] dated line\n"), "%s", o);
  tm.tm_isdst = -1;
  time_t t = mktime(&tm);
  CHECK_MSG(t >= t0 - 1 && t <= time(NULL) + 1, "%s is not now in local time", o);
  free(o);
  /* read back: its time counts for --since, and shows in --json */
  HERD_OK(&r, "logs", "dt", "--out", "--raw", "--since", "1m");
  CHECK_MSG(!strcmp(r.out, "dated line\n"), "%s", r.out);
  HERD_OK(&r, "logs", "dt", "--out", "--raw", "--since", "2099-01-01");
  CHECK_MSG(!strcmp(r.out, ""), "%s", r.out);
  HERD_OK(&r, "stop", "dt");
  no_sanitizer_report("dt");
  /* formats that make no time of one line: exit 2 before anything runs */
  const char *bad[] = {"", "%n", "a\nb", "%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CHECK_MSG(HERD(&r, "start", "-n", "bad", "--log-date-format", bad[i], "--", "true") == 2,
              "--log-date-format '%s': %d %s", bad[i], r.exit_code, r.err);
    CHECK_MSG(strstr(r.err, "log-date-format") && count_lines(r.err) <= 2, "%s", r.err);
  }
  CHECK_EQ(HERD(&r, "start", "-n", "bad", "--log-format", "xml", "--", "true"), 2);
  herd_exec_result_free(&r);
}

/* ---- herd flush ---------------------------------------------------------- */

/* "n K" lines (as --raw prints them, or the log file's "TIME [0] n K"),
 * numbered one after the other: the first K (-1 if none) and the count,
 * or a failed CHECK naming the first line that breaks the run. */
static long consecutive(char *s, const char *what, long *first) {
  long want = -1, n = 0;
  *first = -1;
  for (char *l = s; *l; n++) {
    char *nl = strchr(l, '\n');
    CHECK_MSG(nl, "%s: a line not whole at the end: '%s'", what, l);
    *nl = '\0';
    char *m = l[0] == 'n' ? l : strstr(l, "Z [0] n ");
    CHECK_MSG(m == l || (m == l + 23 && l[0] == '2'), "%s: line %ld is not whole: '%s'",
              what, n + 1, l);
    char *end;
    long k = strtol(m + (m == l ? 2 : 8), &end, 10);
    CHECK_MSG(!*end && (want < 0 || k == want), "%s: line %ld: '%s', expected n %ld", what,
              n + 1, l, want);
    if (want < 0)
      *first = k;
    want = k + 1;
    l = nl + 1;
  }
  return n;
}

/* herd logs -f --raw --out fl, its output to a file of HERD_HOME. */
static void follower_start(herd_child_t *c, const char *out) {
  int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  char *argv[HP_ARGV_MAX];
  hp_argv(argv, (const char *const[]){"logs", "fl", "-f", "--raw", "--out", NULL});
  herd_spawn_opts_t o = {0};
  o.stdio[0].kind = HERD_STDIO_IGNORE;
  o.stdio[1].kind = HERD_STDIO_FD;
  o.stdio[1].fd = fd;
  CHECK_OK(herd_spawn(c, argv[0], argv, &o));
  close(fd);
}

/* A worker that writes numbered lines without a pause (bursts of 200,
 * 10 ms apart: fast, but not so fast that the writer falls behind and
 * drops lines on a busy machine), and a flush while it writes: after
 * it, the file holds whole lines only, numbered one after the other
 * from its first line on, and the first lines are gone. */
TEST_T(herd_flush_under_a_writing_worker, 90) {
  herd_exec_result_t r = {0};
  char sh[PATH_MAX], out_log[PATH_MAX], old[PATH_MAX];
  script(sh, sizeof sh, "count.sh",
         "i=0\n"
         "while :; do\n"
         "  j=0\n"
         "  while [ $j -lt 200 ]; do echo \"n $i\"; i=$((i+1)); j=$((j+1)); done\n"
         "  sleep 0.01\n"
         "done\n");
  in_home(out_log, sizeof out_log, "logs/fl-out.log");
  in_home(old, sizeof old, "logs/fl-out.log.1");
  HERD_OK(&r, "start", "-n", "fl", "-w", "1", "--log-max-size", "0", "--", "sh", sh);
  FILE_HAS(out_log, "] n 5000\n");
  /* a follower across the flush: it must print every line once */
  char fout[PATH_MAX];
  herd_child_t fw;
  follower_start(&fw, in_home(fout, sizeof fout, "follow.out"));
  FILE_HAS(fout, "\n");
  write_file(old, "a rotated file of before\n");
  HERD_OK(&r, "flush", "fl");
  CHECK_MSG(!strcmp(r.out, "fl: log files flushed\n"), "%s", r.out);
  CHECK_MSG(access(old, F_OK) < 0 && errno == ENOENT, "%s is still there", old);
  /* 5000 lines more at least, written after the flush (the new file
   * may still be empty when the reply comes) */
  FILE_HAS(out_log, "] n ");
  char *s = slurp(out_log);
  const char *p = s ? strstr(s, "] n ") : NULL;
  long first = p ? atol(p + 4) : -1;
  free(s);
  CHECK_MSG(first > 0, "after the flush, the file starts with %ld", first);
  char more[32];
  snprintf(more, sizeof more, "] n %ld\n", first + 5000);
  FILE_HAS(out_log, more);
  HERD_OK(&r, "stop", "fl");
  no_sanitizer_report("fl");

  s = slurp(out_log);
  CHECK(s);
  char last[64];
  const char *lp = s[0] ? strrchr(s, ' ') : NULL; /* "... n K\n": K */
  snprintf(last, sizeof last, "n %ld\n", lp ? atol(lp + 1) : -1L);
  long first0, n = consecutive(s, out_log, &first0);
  CHECK_MSG(first0 > 0, "the first line is n %ld: nothing was flushed", first0);
  CHECK_MSG(n >= 5000, "%ld lines after the flush", n);
  free(s);
  /* the follower printed each line once, in order, to the last */
  CHECK_MSG(file_has(fout, last, 1, 15000), "herd logs -f never printed %s", last);
  CHECK_OK(herd_child_kill(&fw, SIGTERM, 0));
  CHECK_EQ(herd_child_wait(&fw, 10000), 0);
  herd_child_close(&fw);
  s = slurp(fout);
  long ffirst, fn = consecutive(s, "herd logs -f", &ffirst);
  CHECK_MSG(ffirst < first0 && ffirst + fn > first0 + n - 1,
            "herd logs -f printed n %ld..%ld; the file after the flush n %ld..%ld", ffirst,
            ffirst + fn - 1, first0, first0 + n - 1);
  free(s);
  /* the master said so in its own log, which a flush keeps */
  char herd_log[PATH_MAX];
  s = slurp(in_home(herd_log, sizeof herd_log, "logs/fl-herd.log"));
  CHECK_MSG(s && strstr(s, "herd[fl]: worker 0 started") &&
                strstr(s, "herd[fl]: flushing the log files (requested)"), "%s", s);
  free(s);
  /* errors: no such app (1), bad usage (2) */
  CHECK_EQ(HERD(&r, "flush", "nosuch"), 1);
  CHECK_MSG(!strncmp(r.err, "herd flush: ", 12) && count_lines(r.err) == 1, "%s", r.err);
  CHECK_EQ(HERD(&r, "flush"), 2);
  CHECK_EQ(HERD(&r, "flush", "--bogus"), 2);
  herd_exec_result_free(&r);
}

/* ---- herd signal --------------------------------------------------------- */

TEST_T(herd_signal_reaches_one_slot_only, 60) {
  herd_exec_result_t r = {0};
  char sh[PATH_MAX], out_log[PATH_MAX];
  script(sh, sizeof sh, "trap.sh",
         "trap 'echo \"got USR1 $HERD_WORKER_ID\"' USR1\n"
         "trap 'echo \"got USR2 $HERD_WORKER_ID\"' USR2\n"
         "echo \"up $HERD_WORKER_ID\"\n"
         "while :; do sleep 60 & wait $!; done\n");
  in_home(out_log, sizeof out_log, "logs/sg-out.log");
  HERD_OK(&r, "start", "-n", "sg", "-w", "2", "--", "sh", sh);
  FILE_HAS(out_log, "] up 0\n");
  FILE_HAS(out_log, "] up 1\n");

  HERD_OK(&r, "signal", "sg", "USR1", "--slot", "1");
  CHECK_MSG(!strcmp(r.out, "sg: signalled 1 worker\n"), "%s", r.out);
  FILE_HAS(out_log, "[1] got USR1 1\n");
  /* then USR2 to slot 0 only: once its line is there, a USR1 sent to
   * slot 0 before it would have been told too */
  HERD_OK(&r, "signal", "sg", "--slot", "0", "SIGUSR2");
  FILE_HAS(out_log, "[0] got USR2 0\n");
  char *s = slurp(out_log);
  CHECK_MSG(!strstr(s, "got USR1 0") && !strstr(s, "got USR2 1"), "%s", s);
  free(s);
  /* every worker, by number */
  char num[8];
  snprintf(num, sizeof num, "%d", SIGUSR1);
  HERD_OK(&r, "signal", "sg", num);
  CHECK_MSG(!strcmp(r.out, "sg: signalled 2 workers\n"), "%s", r.out);
  FILE_HAS(out_log, "[0] got USR1 0\n");
  CHECK(file_has(out_log, "[1] got USR1 1\n", 2, 15000));

  /* bad input: one line each */
  CHECK_EQ(HERD(&r, "signal", "sg", "NOPE"), 2);
  CHECK_MSG(!strncmp(r.err, "herd signal: unknown signal 'NOPE'", 34) &&
                count_lines(r.err) == 1, "%s", r.err);
  CHECK_EQ(HERD(&r, "signal", "sg", "USR1", "--slot", "7"), 1);
  CHECK_MSG(!strcmp(r.err, "herd signal: sg: signal: slot 7 has no running worker\n"),
            "%s", r.err);
  CHECK_EQ(HERD(&r, "signal", "sg", "USR1", "--slot", "x"), 2);
  CHECK_EQ(HERD(&r, "signal", "sg"), 2);
  CHECK_EQ(HERD(&r, "signal", "nosuch", "USR1"), 1);
  CHECK_MSG(!strncmp(r.err, "herd signal: ", 13) && count_lines(r.err) == 1, "%s", r.err);

  /* nothing died of it: the same two workers, and the master's lines */
  char herd_log[PATH_MAX];
  s = slurp(in_home(herd_log, sizeof herd_log, "logs/sg-herd.log"));
  CHECK_MSG(s && !strstr(s, "exited") && strstr(s, "worker 1 signalled, pid ") &&
                strstr(s, ", SIGUSR1 (requested)"), "%s", s);
  free(s);
  HERD_OK(&r, "stop", "sg");
  no_sanitizer_report("sg");
  herd_exec_result_free(&r);
}

/* A herd run app without --log-files has no log files: flush names it
 * (exit 1, one line), flush all skips it; its workers still take a
 * signal. */
TEST_T(herd_flush_refuses_an_app_without_log_files, 60) {
  struct hp h;
  hp_start(&h, (const char *const[]){"run", "-n", "fg", "-w", "1", "--", "sh", "-c",
                                     "trap 'echo got HUP' HUP; echo up; "
                                     "while :; do sleep 60 & wait $!; done",
                                     NULL});
  HP_WAIT(&h, "1 worker ready", 1);
  herd_exec_result_t r = {0};
  CHECK_EQ(HERD(&r, "flush", "fg"), 1);
  CHECK_MSG(!strcmp(r.err, "herd flush: fg: no log files to flush: this app writes to its "
                           "terminal (herd run)\n"), "%s", r.err);
  HERD_OK(&r, "flush", "all");
  CHECK_MSG(!strcmp(r.out, "") && !strcmp(r.err, ""), "%s%s", r.out, r.err);
  HERD_OK(&r, "signal", "all", "HUP");
  CHECK_MSG(!strcmp(r.out, "fg: signalled 1 worker\n"), "%s", r.out);
  HP_WAIT(&h, "worker 0 signalled, pid ", 1);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  herd_exec_result_free(&r);
}
