/*
 * master.h - the master of one app (herd run, herd start), in parts:
 *   master.c    master_main: set-up, the engine's run, teardown
 *   events.c    the engine's events, worded; the start report
 *   ctlsrv.c    the control server
 *   status.c    the status reply, the app's state, --max-memory
 *   metrics.c   the --metrics HTTP server
 *   web.c       its read-only web page (src/cli/web/) and /status.json
 *   mlog.c      the master's own lines, the workers' lines to the logs
 *   homewatch.c HERD_HOME's files put back when removed
 *   watch.c     --watch: a reload when files change
 *   cronrun.c   --cron-restart: a reload at the line's times
 */
#ifndef HERD_MASTER_H
#define HERD_MASTER_H

#include <limits.h>
#include <stdint.h>

#include "cli.h"
#include "jw.h"

#define MAX_CONNS 64
#define CTL_BATCH 4                /* requests of one client per loop turn */
#define CTL_MAX_UNREAD (64u << 10) /* replies a client leaves unread before
                                      we stop reading its requests */
#define CTL_MAX_QUEUED (16u << 20) /* and the most we keep for it at all */
#define MEM_CHECK_MS 1000
#define METRICS_MAX_REQ 8192
#define METRICS_TIMEOUT_MS 5000
#define LOG_PAUSE_FILL 50     /* % of the log queue: stop reading workers */
#define LOG_STALL_MS 1000     /* a writer behind for longer: drop lines */
#define RESTORE_DELAY_MS 100  /* HERD_HOME's files: put back this long after
                                 the last removal seen */
enum { GONE_HOME = 1, GONE_LOGS = 2, GONE_SOCK = 4, GONE_PID = 8 };

enum wait_kind { WAIT_NONE, WAIT_RELOAD, WAIT_READY, WAIT_STOP, WAIT_FLUSH, WAIT_UPGRADE };

struct conn {
  struct master *m;
  herd_chan_t *ch;
  int wait;
  uint64_t wait_target; /* WAIT_RELOAD: reply once this many are done;
                           WAIT_FLUSH: the log writer's ticket */
  int eof;              /* the client has shut its side: close once
                           the reply it waits for is sent */
  uint64_t last_ms;     /* connected, or its last request */
  struct conn *next;
};

struct mconn { /* a metrics (HTTP) connection */
  struct master *m;
  int fd;
  char req[METRICS_MAX_REQ];
  size_t rlen;
  char *out;
  size_t olen, off;
  herd_timer_t timer;
  struct mconn *next;
};

struct slot_note {
  pid_t pid;          /* the worker whose stderr cur sums up */
  struct why cur;
  pid_t exit_pid;     /* the slot's last worker to exit, if it died */
  struct why exit;    /* why it died (its lines may come after the exit) */
  pid_t unready_kill; /* the worker killed at the ready timeout */
  char error[96];     /* an engine error about it */
};

struct cpu_sample {
  pid_t pid;
  uint64_t cpu_ms, at_ms;
  double pct;
};

struct master {
  struct app *a;
  herd_cluster_t *c;
  herd_loop_t *loop;
  int daemon;
  int status_fd;          /* start: "OK ..." / "ERR ..." to the starter */
  int reported;           /* the first all-ready (or failure) was told */
  int errors;             /* error events */
  char first_error[512];
  /* HERD_HOME and its files' paths, each "" until master_path_set gives
   * it a copy on the heap (master_paths_free): as PATH_MAX arrays here
   * each had a page of its own, resident for the master's life, for a
   * string of a few dozen bytes (bench/RESULTS.md, "static") */
  char *home;
  char *sock_path, *out_path, *err_path, *herd_path;
  int ctl_fd;
  herd_pidfile_t *pf;     /* HERD_HOME/NAME.pid, locked */
  char *pid_path;
  int ino_fd;             /* inotify: HERD_HOME's files put back if removed */
  int wd_home, wd_logs;
  int lost_name;          /* another master holds NAME now: stop restoring */
  int gone;               /* GONE_*: what to put back when restore_timer fires */
  herd_timer_t restore_timer;
  int nconns;
  struct conn *conns;
  struct logw *lw;
  herd_timer_t commit_timer, stall_timer;
  int commit_armed, out_paused, dropping;
  struct logw *tw; /* herd run: its stdout and stderr, through a thread */
  int metrics_fd;
  struct mconn *mconns;
  int spare_fd;           /* /dev/null, kept for taking a connection when
                             the master is out of fds (ctlsrv.c) */
  int fd_short;           /* out of fds: said once, until it passes */
  herd_timer_t short_timer; /* no spare either: accepting is paused */
  herd_timer_t mem_timer;
  uint64_t reload_begins, reload_dones; /* dones: ended, failed too */
  int sd_ready;           /* what our own supervisor (NOTIFY_SOCKET) last
                             heard: 1 READY=1, 0 not yet or RELOADING=1 */
  uint64_t mem_replaced;
  /* the addresses listened on, as said: MAX_LISTEN at most, on the
   * heap as they come (master_listen_text_add); as an array of
   * MAX_LISTEN here it made struct master 8 KB bigger, and the frame of
   * master_main, which holds it, pushed every call of the master's that
   * much deeper into the stack, whose pages stay resident */
  char (*listen_text)[128];
  int nlisten_text, cap_listen_text;
  struct slot_note **notes;  /* per slot, for start failures (mlog.c) */
  int nnotes;
  char start_fail[256];       /* a worker died at start: why (told once
                                 its last output has been read) */
  int start_fail_slot;
  char metrics_addr[128];
  struct cpu_sample *cpu;
  size_t ncpu, cap_cpu;
  char sd_status[96];     /* the last STATUS= line our supervisor heard */
  struct app *live_app;   /* a (live.c: options changed while running;
                             owned) */
  char **live_base;       /* herd reload --update-env: the caller's
                             environment (owned) */
  int live_nbase;
  struct watch *watch;    /* --watch (watch.c), or NULL */
  struct cronrun *cron;   /* --cron-restart (cronrun.c), or NULL */
  herd_timer_t flush_timer; /* herd flush: looks for the writer's answer */
  int flush_armed;
  struct upgrade *up;     /* herd upgrade, as the old master (upgrade.c) */
  struct upin *upin;      /* ... as the new one (upgradein.c), or NULL */
  char *self_exe; /* our binary, as /proc/self/exe named it at start:
                     SIGUSR2's upgrade runs this path ("": unknown) */
};

/* master.c: *dst (one of struct master's paths) becomes a copy of src.
 * 0, or -ENOMEM with *dst unchanged. */
int master_path_set(char **dst, const char *src);
/* master.c: a new entry of m->listen_text (its last, counted), of
 * sizeof m->listen_text[0] bytes, or NULL: MAX_LISTEN of them already,
 * or out of memory. */
char *master_listen_text_add(struct master *m);

/* upgrade.c: the old master's side of herd upgrade: BINARY (NULL: ours,
 * self_exe) started as the new master; the answer goes to the
 * connections waiting with WAIT_UPGRADE. app (borrowed; NULL: the
 * running app's): herd upgrade -c CONF's settings for the new master,
 * which gets only our sockets bound to its addresses and binds the
 * others. 0, or -1 with a one-line err and nothing started. */
int upgrade_start(struct master *m, const char *binary, int sigusr2,
                  const herd_val_t *app, const char *conf, char *err, size_t errlen);
int upgrade_running(const struct master *m);
void upgrade_free(struct master *m);

/* upgradein.c: the new master's side. The sockets, channel and names it
 * was given (NULL unless this process is `herd __upgrade`). */
struct upin {
  int chan;                         /* fd 3: the old master */
  pid_t old;
  int nlisten;
  int fds[MAX_LISTEN];              /* 4.. */
  char listen[MAX_LISTEN][128];
  int remap;                        /* herd upgrade -c: at[] says where */
  int at[MAX_LISTEN];               /* fds[i] is the app's listen[at[i]] */
  int metrics_fd;                   /* or -1 */
  char metrics[128];
  char real_sock[PATH_MAX], real_pid[PATH_MAX]; /* where they go at "go" */
  int took;                         /* the names are ours */
};
struct upin *upin_get(void);
/* In home_open: the control socket and the pid file at their temporary
 * names (renamed into place when the old master says go). */
int upin_paths(struct master *m, char *err, size_t errlen);
/* In listen_plan, for herd upgrade -c: the app's listen addresses,
 * each the old master's socket or one bound now, into act_fds (and
 * upin's fds, listen: closed and removed at the end). 0, or -1 with err
 * naming the address (nothing bound is left). */
int upin_listen(struct master *m, int *act_fds, char *err, size_t errlen);
/* In on_init: the channel on the loop. */
int upin_watch(struct master *m);
/* In teardown, before the pid file's close: our renamed pid file
 * removed (herd_pidfile_close knows it by its first name). */
void upin_end(struct master *m);

/* descjson.c: the describe reply (docs/control.md); env values of
 * secret-looking names masked unless show_env */
void describe_json(struct master *m, struct jw *w, int show_env);
/* ctlsrv.c */
void accept_cb(herd_loop_t *loop, int fd, uint32_t events, void *data);
/* accept4 on the control socket or the metrics one (what: "control
 * socket", "metrics") failed with err (-errno). Out of fds (EMFILE,
 * ENFILE): the pending connection is taken with the spare fd, given
 * reply (a line, or an HTTP response) and closed, so that it neither
 * hangs nor leaves the socket readable for a loop that would spin;
 * without a spare, accepting pauses for a moment. Said once per
 * shortage. 1 if the caller may try again, 0 if it should return. */
int accept_failed(struct master *m, int fd, int err, const char *what,
                  const char *reply);
/* A connection was taken: a shortage is over. */
void accept_ok(struct master *m, const char *what);
/* ctlsrv.c */
void answer_waiters(struct master *m, int kind, const char *error);
/* ctlsrv.c */
void conn_free(struct master *m, struct conn *cn);
/* ctlsrv.c */
int open_control(struct master *m, int replace);
/* ctlsrv.c */
void reply(struct conn *cn, const char *json, size_t len);
/* events.c */
void on_event(herd_cluster_t *c, const herd_event_t *ev, void *data);
/* events.c */
/* the start report: a failure, with why (the success is told by the
 * first all-ready event) */
void tell_starter_failed(struct master *m, const char *why);
/* homewatch.c */
void home_watch(struct master *m);
/* live.c: a request that changes the app's options (update; reload
 * with env or update_env) applied to the engine, a reload to follow:
 * 0 (a plain reload: nothing to do), or -1 with a one-line err and
 * nothing changed. */
int live_update(struct master *m, const struct ctl_req *rq, char *err, size_t errlen);
/* live.c: the options of o that n changes and that the master cannot
 * change while it runs (upgrade: nor a new master, herd upgrade -c),
 * their names into buf, comma-separated ("" if none) */
void live_fixed(const struct app *o, const struct app *n, int upgrade, char *buf,
                size_t len);
/* live.c: at the end, what it holds */
void live_free(struct master *m);
/* watch.c: --watch's inotify fd on the loop (nothing without --watch;
 * a failure is said, and the app runs unwatched); its end */
void watch_start(struct master *m);
void watch_stop(struct master *m);
/* cronrun.c: --cron-restart's timer (the same) */
void cron_start(struct master *m);
void cron_stop(struct master *m);
/* metrics.c */
void mconn_free(struct master *m, struct mconn *mc);
/* metrics.c */
void metrics_accept(herd_loop_t *loop, int fd, uint32_t events, void *data);
/* mlog.c */
void log_low_cb(herd_loop_t *loop, int fd, uint32_t events, void *data);
/* mlog.c */
void logf_(struct master *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* mlog.c */
void notice(struct master *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* mlog.c */
struct slot_note *note_of(struct master *m, int slot);
struct slot_note *note_peek(struct master *m, int slot);
void note_forget(struct master *m, int slot, pid_t pid);
/* mlog.c */
void on_output(herd_cluster_t *c, int slot, pid_t pid, int stream, const char *line,
               size_t len, void *data);
/* mlog.c */
struct logw *out_writer(struct master *m);
/* mlog.c */
void own_line(struct master *m, const char *msg);
/* mlog.c */
void plain_line(struct master *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* mlog.c */
void reopen_logs(struct master *m);
/* mlog.c */
void say(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* status.c */
int app_readiness(struct master *m, int *nready, char *why, size_t whylen);
/* status.c */
herd_worker_info_t *get_rows(struct master *m, int *n);
/* status.c */
void mem_check(herd_loop_t *loop, herd_timer_t *t, void *data);
/* status.c */
void status_json(struct master *m, struct jw *w);
/* web.c */
/* The web page's answer for GET PATH (plen bytes, without the query):
 * its body appended to body and its Content-Type in *type; 1, or 0 if
 * PATH is none of the page's (/, its files, /status.json). */
int web_route(struct master *m, const char *path, size_t plen, struct jw *body,
              const char **type);
/* web.c */
/* The headers every answer of the --metrics address carries (no-store,
 * nosniff, the Content-Security-Policy), appended to w. */
void web_headers(struct jw *w);

#endif
