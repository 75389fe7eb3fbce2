/*
 * top.h - herd top, a live full-screen view of the apps, in parts:
 *   top.c      the command: the terminal (raw mode, alternate screen),
 *              the loop (poll on the keys, signals, the running action),
 *              the keys, the actions (ctl.c's, in a child)
 *   topdata.c  the figures: each app's status asked once a second, and
 *              the history kept of them (this side only: the master
 *              keeps none)
 *   topdraw.c  a frame: the table and its sparklines, in one buffer
 */
#ifndef HERD_CLI_TOP_H
#define HERD_CLI_TOP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cli.h"

#define TOP_HIST 300       /* samples kept: 5 minutes at one a second */
#define TOP_MIN_COLS 64    /* the least the view needs */
#define TOP_MIN_ROWS 8
#define TOP_REFRESH_MS 1000
#define TOP_ASK_MS 1000    /* a master slower than this is shown busy */
#define TOP_SNAP_COLS 80   /* a snapshot (not a terminal) is this wide */

/* A worker's history, by its pid (a new worker starts a new one). */
struct top_hist {
  pid_t pid;
  int n;    /* samples in cpu[] and rss[], the newest last */
  int seen; /* in the last refresh */
  double cpu[TOP_HIST], rss[TOP_HIST];
};

/* A worker's row of the last status reply, checked. */
struct top_worker {
  int slot;
  pid_t pid; /* 0: none running in the slot */
  char state[16]; /* as herd status shows it: +starting, backoff... */
  long long uptime_ms, restarts;
  double cpu, rss;
};

struct top_app {
  char name[NAME_MAX_LEN + 1];
  int live;         /* the last status request was answered */
  char err[PATH_MAX + 160]; /* else why not (one line) */
  int err_named;    /* err names the app (the connection's error) */
  char state[16];   /* online, degraded, errored, stopping */
  pid_t pid;
  long long wanted, ready, uptime_ms;
  int reloading, stopping;
  long long restarts; /* counters.restarts */
  int have_restarts;  /* restarts is from an earlier refresh */
  double rst[TOP_HIST]; /* restarts per refresh, the newest last */
  int nrst;
  struct top_worker *w;
  int nw;
};

enum { MSG_PLAIN, MSG_OK, MSG_FAILED };

struct top {
  char home[PATH_MAX];
  const char *only;  /* NAME, or NULL: every app of HERD_HOME */
  struct top_app *apps;
  int napps;
  char home_err[160]; /* HERD_HOME could not be read: why */
  struct top_hist *hist;
  int nhist;
  int sel;           /* the selected app */
  char selname[NAME_MAX_LEN + 1];
  int off;           /* the body's first line shown (scrolling) */
  int tty;           /* a live view, else one snapshot */
  int colour, utf8;
  int rows, cols;
  char msg[512];     /* the message line */
  int msg_kind;      /* MSG_* */
  int confirm;       /* 's' was pressed: 'y' stops confirm_name */
  char confirm_name[NAME_MAX_LEN + 1];
  pid_t act_pid;     /* the action's child, or 0 */
  int act_fd;        /* its output, or -1 */
  char act_out[1024];
  size_t act_len;
  char act_what[96]; /* "scale web +1" */
};

/* topdata.c. Ask every app (or NAME) for its status and keep the
 * history; the selection follows its app by name. */
void top_refresh(struct top *t);
void top_free(struct top *t);
/* The history of pid, or NULL. */
const struct top_hist *top_hist_of(const struct top *t, pid_t pid);

/* A frame being built: text is counted in columns (a UTF-8 sequence is
 * one) and cut at cols; escape sequences are not counted. */
struct fb {
  char *buf;
  size_t len, cap;
  size_t line; /* where the line being built begins */
  int oom;
  int tty; /* escape sequences, rows cleared to their end */
  int cols, col;
};
void fb_free(struct fb *f);
/* topdraw.c: the whole frame (tty: rows lines from the top left, each
 * cleared to its end; else the snapshot's lines). */
void top_draw(struct top *t, struct fb *f);

#endif
