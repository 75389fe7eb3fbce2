/*
 * cli.h - what the parts of the herd program share: one app's settings
 * (from the command line or a config file), HERD_HOME's paths, the
 * master (run and start), the log writer, the control client.
 */
#ifndef HERD_CLI_H
#define HERD_CLI_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "herd.h"
#include "../lib/utf8.h"

#define MAX_LISTEN 64
#define MAX_ENV 256
#define MAX_ENV_FILES 16
#define MAX_WATCH 64 /* --watch paths, --watch-ignore globs */
#define NAME_MAX_LEN 64
#define CTL_MAX_REQUEST 65536 /* bytes of one control request line */

extern const char *prog_name;

/* A signal's short name, TERM for SIGTERM (signame.c: the same table
 * under glibc and musl), or NULL for 0, a real-time or unknown signal. */
const char *sig_abbrev(int sig);

/* Where an option's value came from (herd describe): a default, the
 * command line, a config file's line, a PM2 ecosystem file's app, or
 * herd itself (implied by another setting, note saying by which). The
 * strings are the app's own (app_keep), or static. */
enum { ORIGIN_DEFAULT, ORIGIN_CMDLINE, ORIGIN_CONFIG, ORIGIN_ECO, ORIGIN_HERD };
struct origin {
  int kind;         /* ORIGIN_* (0: the default) */
  int line;         /* ORIGIN_CONFIG: 1-based */
  const char *file; /* ORIGIN_CONFIG, ORIGIN_ECO: absolute */
  const char *note; /* ORIGIN_ECO: the app's name; ORIGIN_HERD: why */
};
#define APP_MAX_ORIGINS 64 /* >= opts.h's OPT_MAX (opts.c checks) */

/* One app: what `herd run`/`start` options or a config file say. Every
 * string the app keeps is its own copy (app_free frees them), whatever
 * the option's text was (argv, a config's value, a number printed into a
 * buffer), except cmd from the command line, which is argv's. Nothing in
 * the struct points into the struct itself, so it may be moved (copied
 * with =) between app_finish and the master. */
struct app {
  const char *name;
  herd_cluster_opts_t o;
  const char *listen[MAX_LISTEN + 1];
  int nlisten;
  const char *env[MAX_ENV + 1];
  int nenv;
  const char *user;
  char **cmd;            /* NULL-terminated */
  char **cmd_owned;      /* a config's command as an argv (owned) */
  int quiet;
  uint64_t max_memory;   /* bytes; 0 = no limit */
  uint64_t log_max_size; /* bytes; 0 = never rotate */
  int log_keep;          /* rotated files kept */
  const char *metrics;   /* HOST:PORT of the Prometheus endpoint */
  int log_files;         /* run: worker output to the log files too */
  int no_autostart;      /* a PM2 app with autostart: false: started only
                            when named */
  /* Paths are kept copies (app_keep), not PATH_MAX arrays: those made
   * the struct 14 KB, four pages of the master's for the two strings */
  const char *cwd;       /* the workers' directory, absolute ("" until
                            app_finish) */
  const char *conf_path; /* where it came from (for messages) */
  const char *base_dir;  /* relative cwd is from here ("" = ours): a
                            config file's own directory */
  char **kept;           /* the copies the pointers above hold (owned) */
  size_t nkept, kept_cap;
  const char **spawn_env; /* o.spawn.env: env, NULL-terminated (owned) */
  int log_format;        /* LOG_FORMAT_TEXT, LOG_FORMAT_JSON */
  const char *log_date_format; /* strftime, local time; NULL: ISO UTC */
  struct origin from;     /* app_set records this for what it sets */
  struct origin origin[APP_MAX_ORIGINS]; /* per option of opts.c's table
                                            (by index; an alias's in its
                                            option's): where it came from */
  struct origin cmd_from; /* where cmd came from */
  const char *env_files[MAX_ENV_FILES + 1]; /* --env-file, env_file: read by
                                               app_env_files into env */
  int nenv_files;
  const char *watch[MAX_WATCH + 1]; /* --watch: from the app's cwd; absolute
                                       after app_finish (watch.c) */
  int nwatch;
  const char *watch_ignore[MAX_WATCH + 1]; /* --watch-ignore globs */
  int nwatch_ignore;
  int watch_delay_ms;    /* reload this long after the last change */
  const char *cron_restart; /* --cron-restart's line (cron.h) */
};

/* o.ready until app_finish: immediate, or listening with --node-cluster */
#define READY_UNSET (-1)

/* Defaults, before options are applied. */
void app_init(struct app *a);
void app_free(struct app *a);

/* Apply one option by its long name (a config key, "kill_timeout" or
 * "kill-timeout"). Returns 0, or -1 with a one-line message in err
 * (without the option's origin: the caller prefixes file:line). */
int app_set(struct app *a, const char *key, const char *val, char *err,
            size_t errlen);

/* After all options: the default name, --user, --env, an absolute cwd.
 * Returns 0, or -1 with err set. */
int app_finish(struct app *a, char *err, size_t errlen);
/* app_finish's part for --watch (watch.c): each path made absolute from
 * the app's cwd, and there. 0, or -1 with err set. */
int watch_finish(struct app *a, char *err, size_t errlen);

/* --env-file/env_file: each file's variables (dotenv.h) set in env
 * where env does not set them already (env files are the lowest of the
 * app's settings; a later file over an earlier one); relative paths
 * from dir (NULL: as they are). 0, or -1 with err = "FILE:LINE: ..." or
 * "FILE: strerror". Called once per app, before app_finish: by the
 * command line's parser and a config file's loader. */
int app_env_files(struct app *a, const char *dir, char *err, size_t errlen);

/* Load a config file's apps (all of them). Returns the number of apps
 * (*apps malloc'd, each app_init'ed and finished: free each with
 * app_free, then the array), or -1 with err = "FILE:LINE: message" (or
 * "FILE: message" for the file as a whole). The apps own all they hold:
 * *confp is set to NULL, and app_conf_free(NULL) does nothing (both are
 * kept for callers written when the apps borrowed from the file). */
int app_load_config(const char *path, struct app **apps, void **confp,
                    char *err, size_t errlen);
/* The same with --env NAME (env_NAME of a PM2 ecosystem file; NULL:
 * none; with a herd config file, an error). A PM2 ecosystem file (by its
 * name: eco.h) is read by eco_load, a herd config file by conf.c. */
int app_load_config_env(const char *path, const char *env_name, struct app **apps,
                        char *err, size_t errlen);
void app_conf_free(void *conf);
/* The same from [text, text+len) in memory: path names it in messages,
 * and relative paths (cwd, unix: listen paths) are from dir (absolute). */
int app_parse_config(const char *path, const char *dir, const char *text,
                     size_t len, struct app **apps, char *err, size_t errlen);

/* HERD_HOME and its files. home_dir fills buf (HERD_HOME, else ~/.herd);
 * home_ensure creates it (0700) and logs/. Returns 0 or -errno. */
int home_dir(char *buf, size_t n);
/* An existing HERD_HOME must be ours and writable by nobody else:
 * -EPERM (or -ENOTDIR) with a one-line reason in why (n bytes; NULL
 * and 0: no reason), else 0. */
int home_check(const char *home, char *why, size_t n);
/* home_dir, home_check and home_ensure: 0, or -errno with a one-line
 * message in err. */
int home_setup(char *home, size_t n, char *err, size_t errlen);
/* home_dir and home_check, or a one-line message and -errno. */
int cli_home(char *buf, size_t n);
/* The HERD_HOME of herd 0.1 ($XDG_RUNTIME_DIR/herd) when HERD_HOME is
 * unset and it exists: 1 with its path in buf, else 0. */
int home_legacy(char *buf, size_t n);
/* 1-64 characters, no '/' or blanks, not starting with '.' or '-'. */
int app_name_ok(const char *name);
int home_ensure(const char *home);
/* "HOME/NAME.sock", "HOME/NAME.pid", "HOME/logs/NAME-out.log", ...
 * Returns 0, or -ENAMETOOLONG. */
int home_path(char *buf, size_t n, const char *home, const char *name,
              const char *suffix);

/* The master of one app, in this process: run (foreground) or start
 * (daemon: status_fd gets "OK ..." or "ERR ..." once). Returns the exit
 * status for the process. */
int master_main(struct app *a, int daemon, int status_fd,
                herd_pidfile_t *pidfile);

/* The log writer: worker lines go into a bounded queue in memory, and a
 * thread of their own writes them to the files, so the disk never
 * blocks the master; it pauses reading the workers for at most a second
 * when the queue fills, then drops (and counts) what does not fit. */
struct logw;
int logw_open(struct logw **lw, const char *out_path, const char *err_path,
              uint64_t max_size, int keep, size_t queue_bytes);
/* Stage one line (the loop thread's; no lock). */
void logw_line(struct logw *lw, int stream, int slot, const char *line,
               size_t len);
/* Hand the staged lines to the writer (what does not fit is dropped and
 * counted). Returns how full the queue is, in %. */
int logw_commit(struct logw *lw);
/* An eventfd that becomes readable once the queue has drained to a
 * quarter, after logw_want_low asked for it. */
int logw_event_fd(struct logw *lw);
void logw_want_low(struct logw *lw);
void logw_reopen(struct logw *lw);
/* herd flush: the writer replaces both files with empty ones (and
 * deletes their rotated ones) between two batches of whole lines,
 * before it writes the next.
 * logw_flush returns a ticket; logw_flushed the last ticket done (the
 * flush is done once it is >= the ticket). */
uint64_t logw_flush(struct logw *lw);
uint64_t logw_flushed(struct logw *lw);
struct logw_stats {
  uint64_t lines[2];   /* written, stdout and stderr */
  uint64_t dropped[2]; /* lost: the queue was full or a write failed */
  uint64_t rotations;
  int last_error;      /* errno of the last failed write or open, or 0 */
};
void logw_stats(struct logw *lw, struct logw_stats *st);
void logw_close(struct logw *lw); /* writes what is queued, then stops */
/* The same for herd run's terminal: stdout and stderr (borrowed), lines
 * "[tag:slot] text", no rotation; a stalled reader (a paused terminal, a
 * pipe nobody drains) blocks this thread, never the loop. */
int logw_open_term(struct logw **lw, const char *tag, size_t queue_bytes);
/* Stage len bytes as they are (the master's own lines, '\n' included). */
void logw_raw(struct logw *lw, int stream, const char *text, size_t len);
/* logw_close waiting at most timeout_ms (-1: for ever) for the queue to
 * be written: -ETIMEDOUT leaves the thread blocked, to end with the
 * process. */
int logw_close_within(struct logw *lw, int timeout_ms);
/* PATH -> PATH.1 -> ... -> PATH.KEEP, the oldest deleted (KEEP 0: PATH
 * deleted); 0 or -errno. The rotation of every log file herd writes. */
int log_shift(const char *path, int keep);

/* An ISO-8601 UTC time with milliseconds: "2026-11-28T01:02:03.456Z". */
size_t iso_stamp(char *buf, size_t n);

/* The log files' format (--log-format, --log-date-format): lines
 * "TIME [SLOT] text" or JSON objects {"time","app","slot","stream",
 * "line"}, TIME as fmt says (NULL: ISO-8601 UTC). app is borrowed for
 * the writer's life. 0, or -ENOMEM. Before the first line. */
enum { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
int logw_format(struct logw *lw, int format, const char *date_fmt, const char *app);

/* logfmt.c: the lines of the log files, written and read back. */
#define LOG_TIME_MAX 80        /* a line's time, NUL included */
#define LOG_DATE_FORMAT_MAX 64 /* --log-date-format's bytes */
#define LOG_TIME_UNKNOWN INT64_MIN
/* The time ts as fmt says: strftime(3) in local time, %L the
 * milliseconds; NULL: ISO-8601 UTC with milliseconds. Its length, 0 if
 * it does not fit in n (or makes nothing). */
size_t log_time_text(char *buf, size_t n, const char *fmt, const struct timespec *ts);
/* --log-date-format's check: 0, or -1 with a one-line message. */
int log_date_format_check(const char *fmt, char *err, size_t n);
/* --since: a duration before now (10s, 10m, 2h, 1d) or an ISO-8601 time
 * (2026-11-28, 2026-11-28T02:06, 2026-11-28 02:06:53.5Z, ...+01:00; no
 * zone: local time). 0 with *ms since the epoch, or -1. */
int log_since_parse(const char *arg, int64_t now_ms, int64_t *ms);
/* One line of a log file, read: time as written (ms its value, or
 * LOG_TIME_UNKNOWN when it is not an ISO-8601 time), slot (-1: none,
 * as in the master's own lines), stream (0 out, 1 err, 2 herd's: the
 * file's, or a JSON line's own), text (the worker's line, without the
 * newline). Pointers into the line, or into tree (a JSON line's). */
struct logline {
  const char *time, *text;
  size_t tlen, len;
  int64_t ms;
  long slot;
  int stream;
  herd_val_t *tree;
};
void logline_parse(const char *s, size_t len, int stream, struct logline *l);
void logline_free(struct logline *l);
/* Only the time of a line, as logline_parse reads it (a JSON line of
 * herd's writer, {"time":"..." first, without parsing all of it). */
int64_t logline_ms(const char *s, size_t len, int stream);
const char *log_stream_name(int stream);

/* Why a worker died, from its stderr as it streams (why.c): the line
 * that names the error (Node's "Error: boom", Python's last traceback
 * line, Go's "panic: ...") or else the last line that is not noise (a
 * stack frame, Node's version banner). */
enum { WHY_NOISE, WHY_PLAIN, WHY_TELLING };
int why_kind(const char *line, size_t len);
struct why {
  char line[200];
  int telling;
};
void why_add(struct why *w, const char *line, size_t len);

/* text.c. Copy src[0..len) to dst (cap bytes, NUL-terminated), with the
 * control characters a terminal would act on (C0, DEL, C1) written as
 * \xNN: for what a worker says that reaches herd's own lines. Returns
 * the length. */
size_t cli_printable(char *dst, size_t cap, const char *src, size_t len);
/* The hex digits, UTF-8's decoder and encoder: libherd's, src/lib/utf8.h
 * (herd__hexval, herd__hexdigits, herd__utf8_next, herd__utf8_put). */

/* herd logs' reader (logs.c): the last n (> 0) lines of the file at
 * path, each with its '\n' (one is added to a last line without), a NUL
 * byte in one kept: an array of *count lines (each s malloc'd, the array
 * too), or NULL with *count 0 (no file, or nothing in it). */
struct tline {
  char *s;
  size_t len;
};
struct tline *logs_tail_lines(const char *path, int n, int *count);

/* descjson.c: 1 if an environment variable's name (name[0..len)) looks
 * like a secret's (herd describe masks its value): it holds SECRET,
 * PASSWORD, PASSWD, PASSPHRASE, TOKEN, APIKEY or CREDENTIAL anywhere,
 * or one of its parts between '_', '-' and '.' is KEY, KEYS, PASS, PWD,
 * AUTH, PRIVATE, DSN, COOKIE, COOKIES, SESSION, SALT or CREDS; case
 * ignored. */
int env_secret_name(const char *name, size_t len);

/* A control request, decoded (ctlreq.c). */
enum ctl_cmd { CTL_PING, CTL_STATUS, CTL_RELOAD, CTL_RESTART, CTL_SCALE, CTL_STOP,
               CTL_REOPEN, CTL_SEND, CTL_CONFIG, CTL_DESCRIBE, CTL_UPDATE, CTL_SIGNAL,
               CTL_FLUSH, CTL_UPGRADE, CTL_NCMDS };
struct ctl_req {
  int cmd;            /* enum ctl_cmd, -1 if unknown */
  char name[32];      /* as the client wrote it (cut) */
  int has_workers;    /* scale: "workers" (else "add") */
  long long workers;  /* scale: 1..HERD_MAX_WORKERS */
  long long add;      /* scale: -HERD_MAX_WORKERS..HERD_MAX_WORKERS */
  int graceful;       /* stop */
  long long slot;     /* send, signal: 0..HERD_MAX_WORKERS-1, or -1: all */
  int show_env;       /* describe: "show_env": true (values unmasked) */
  const char *json;   /* the request as it came (borrowed: during the
                         call only); send takes its "msg" from it, update
                         its "app", reload its "env" and "update_env" */
  size_t len;
  char arg_err[160];  /* a bad argument: the reply, when it comes to it */
  char err[320];      /* not a request (then -1): up to 64 bytes of the
                         name and the list of requests */
  int sig;            /* signal: 1..NSIG-1 */
};
/* 0 with *req filled (arg_err set if an argument is bad), or -1 with the
 * reply in req->err. */
int ctl_decode(const char *json, size_t len, struct ctl_req *req);
const char *ctl_cmd_name(int cmd);
/* Refused while the app is stopping. */
int ctl_cmd_steers(int cmd);

/* optjson.c: a finished app's settings as a JSON object ({"cmd": [...],
 * "options": {NAME: "text" or ["text", ...]}}: each option as app_set
 * reads it; env files are in env already), and back into an
 * app_init'ed app (then app_finish it): 0, or -1 with err. The request
 * that changes a running app carries them (docs/control.md). */
struct jw;
void app_settings_json(const struct app *a, struct jw *w);
int app_from_settings(struct app *a, const herd_val_t *s, char *err, size_t errlen);

/* ctlupd.c: herd start -c FILE, for an app of the file that runs: its
 * options sent to its master, which applies them with a rolling reload.
 * The exit status (2: a change the master refused, nothing changed). */
int start_update(const struct app *a, const char *home);

/* Commands. Each returns the process's exit status. */
int cmd_ctl(const char *cmd, int argc, char **argv);   /* status list stop
                                                          reload restart
                                                          scale */
int cmd_logs(int argc, char **argv);
int cmd_send(int argc, char **argv); /* ctlsend.c */
/* herd reload [--env K=V]... [--update-env] NAME|all (ctlupd.c); usage:
 * its help text */
int cmd_reload(int argc, char **argv, const char *usage);
int cmd_signal(int argc, char **argv); /* ctlsig.c */
int cmd_flush(int argc, char **argv);  /* ctlflush.c */
int cmd_startup(int argc, char **argv); /* startup.c */
int cmd_describe(int argc, char **argv); /* describe.c (and show) */
int cmd_top(int argc, char **argv); /* top.c */
int cmd_ping(int argc, char **argv); /* ctlping.c */
/* herd completion (complete.c), with the command names (and help). */
int complete_main(int argc, char **argv, const char *const *cmds, size_t ncmds);
/* suggest.c. The optimal string alignment distance of a and b (edits:
 * insert, delete, replace, swap two neighbours), more than 64 for longer
 * words; the candidate nearest to word, if one is close enough to be a
 * typo of it (NULL entries skipped), else NULL. */
int cli_osa(const char *a, const char *b);
const char *cli_nearest(const char *word, const char *const *cands, size_t n);
/* "herd[ CMD]: unknown WHAT 'WORD'; did you mean 'PREFIXNEAR'? See 'herd[
 * CMD] --help'." (without near: no question), one line on stderr. */
void cli_unknown(const char *cmd, const char *what, const char *word,
                 const char *prefix, const char *near);
/* getopt_long(argc, argv, shortopts, lo, NULL) for the command cmd
 * ("status"), but a bad option (unknown, with the nearest long one
 * suggested; ambiguous; a value missing or not taken) is said in one
 * line by us, not getopt, and comes back as '?' (exit 2). */
struct option;
int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
               const struct option *lo);

int cmd_upgrade(int argc, char **argv); /* ctlupgrade.c */
int cmd_upgrade_master(int argc, char **argv); /* upgradein.c: __upgrade */
/* --slot's value (text.c): 0 with *slot in 0..HERD_MAX_WORKERS-1, or -1
 * said in one line on stderr. */
int cli_slot_arg(const char *arg, long *slot);
/* "herd CMD: MESSAGE" and "Try 'herd CMD --help'." on stderr (text.c). */
void usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The control client (ctlconn.c), on the server's transport (a plain
 * JSON-lines herd_chan): a connection to NAME's master (0 and *ch, or
 * -errno with a one-line reason in err); one request (a JSON object, no
 * newline) and its reply line in a malloc'd *reply; or one more reply
 * line (a pending request's result). timeout_ms < 0: none. Returns 0 or -errno: -EPROTO
 * for what is not a line of JSON, -ECONNRESET for a connection closed
 * before a word, -ETIMEDOUT. */
#define CTL_MAX_REPLY (64u << 20)
int ctl_connect(const char *home, const char *name, herd_chan_t **ch, char *err,
                size_t errlen);
int ctl_request(herd_chan_t *ch, const char *req, char **reply, int timeout_ms);
int ctl_read_line(herd_chan_t *ch, char **reply, int timeout_ms);

/* Names of the apps in HOME (by their .sock or .pid files), sorted;
 * returns the count (*names malloc'd), or -errno. */
int home_apps(const char *home, char ***names);
void home_apps_free(char **names, int n);
/* The apps a command acts on: NAME alone (in one[0], *names = one), or
 * every app of home for NULL or "all". Returns the count, or -1 having
 * said why. Free with home_apps_free unless *names == one. */
int home_targets(const char *home, const char *target, char *one[1], char ***names);

/* confout.c: app a as a config file's table [NAME], appended to w
 * (struct jw: jw.h), which appconf.c reads back to the same app: the
 * command, cwd, workers (the count given), env (NULL-terminated, or
 * NULL: none) and every other option that differs from its default.
 * 0, or -1 with err set (a value that is not UTF-8 or is longer than a
 * config line). */
struct jw;
int app_toml(const struct app *a, int workers, const char *const *env, struct jw *w,
             char *err, size_t errlen);
/* The environment herd save keeps for an app (confout.c): its --env
 * entries, and the variables of inherited (the master's environ) that
 * they do not set, but for herd's own (the worker contract's and
 * HERD_HOME), sorted by name. The count, with *out a malloc'd
 * NULL-terminated array of borrowed strings; or -1 with err set (more
 * than MAX_ENV). */
int app_saved_env(const struct app *a, char *const *inherited, const char ***out,
                  char *err, size_t errlen);

/* save.c: herd save, herd resurrect; the exit status. The file they
 * default to, HOME/dump.toml, into buf: 0 or -ENAMETOOLONG. */
int cmd_save(int argc, char **argv);
int cmd_resurrect(int argc, char **argv);
int saved_path(char *buf, size_t n, const char *home);

#endif
