/*
 * top.c - herd top [NAME]: a live full-screen view of the apps (every app
 * of HERD_HOME, or NAME): each worker's slot, pid, state, uptime,
 * restarts, CPU and RSS with their history, refreshed once a second, and
 * keys that reload, restart, scale or stop the selected app.
 *
 * Written on the terminal directly (termios and ANSI sequences, no
 * curses): herd needs libc only, and a static build stays possible. The
 * view is on the alternate screen with the cursor hidden; each frame is
 * one write (topdraw.c); the wait between refreshes is a poll on the
 * keys, the signals (a signalfd: INT, TERM, HUP, WINCH, TSTP, CONT) and
 * the running action, so a key acts at once. Every way out goes through
 * term_leave, which puts the terminal back as it was.
 *
 * An action runs in a child, with ctl.c's ctl__each_app, exactly as
 * `herd reload NAME` and the others do (its output, one line, becomes
 * the message line): a reload or a scale that takes seconds does not
 * stop the view.
 *
 * Not on a terminal (stdin or stdout is not one, or TERM=dumb): one
 * plain snapshot, no escape sequences, and exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "ctl.h"
#include "top.h"

static const char usage_top[] =
    "Usage: herd top [NAME|all]\n"
    "\n"
    "A live view of every app (or NAME): each worker's slot, pid, state,\n"
    "uptime, restarts, CPU% and RSS, with the history of its CPU and RSS,\n"
    "and each app's restarts, as graphs; refreshed once a second.\n"
    "\n"
    "Keys: up/down or k/j select an app; r reload; R restart; + and - scale\n"
    "by one worker; s stop (after y); q (or Ctrl-C) quit. Each sends the\n"
    "request herd reload, restart, scale or stop sends.\n"
    "\n"
    "Needs a terminal of 64x8 at least (uses all there is). Colour unless\n"
    "NO_COLOR is set. Not on a terminal: one plain snapshot, and exit 0.\n"
    "\n"
    "Exit status: 0 quit; 1 NAME is not running (one line says why) or the\n"
    "terminal was lost; 2 bad usage; 128+N killed by signal N (TERM, HUP).\n";

static struct termios saved_tio;
static int term_on; /* the terminal is in our mode */

/* ---- the terminal -------------------------------------------------- */

static int write_all(int fd, const char *s, size_t n) {
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Raw keys (no echo, no line editing; signals from the keys kept: Ctrl-C
 * is a SIGINT, read from the signalfd), the alternate screen, no cursor,
 * no line wrap. 0, or -1 with errno. */
static int term_enter(void) {
  if (!term_on && tcgetattr(0, &saved_tio) < 0)
    return -1;
  struct termios raw = saved_tio;
  raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL | INLCR | IGNCR);
  raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | IEXTEN);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr(0, TCSAFLUSH, &raw) < 0)
    return -1;
  term_on = 1;
  static const char in[] = "\033[?1049h\033[?25l\033[?7l";
  return write_all(1, in, sizeof in - 1);
}

/* The terminal as it was: attributes, wrap, cursor, the main screen,
 * the saved modes. Safe to call twice. */
static void term_leave(void) {
  if (!term_on)
    return;
  static const char out[] = "\033[0m\033[?7h\033[?25h\033[?1049l";
  (void)write_all(1, out, sizeof out - 1);
  (void)tcsetattr(0, TCSADRAIN, &saved_tio);
  term_on = 0;
}

static void term_size(struct top *t) {
  struct winsize ws;
  if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
    t->cols = ws.ws_col;
    t->rows = ws.ws_row;
  } else {
    t->cols = 80;
    t->rows = 24;
  }
}

/* ---- actions ------------------------------------------------------- */

/* The message line: text made printable. */
static void say_msg(struct top *t, int kind, const char *text) {
  cli_printable(t->msg, sizeof t->msg, text, strlen(text));
  t->msg_kind = kind;
}

/* An action runs: 1, having said so. */
static int busy(struct top *t) {
  if (t->act_pid <= 0)
    return 0;
  char b[160];
  snprintf(b, sizeof b, "busy: %s has not finished", t->act_what);
  say_msg(t, MSG_FAILED, b);
  return 1;
}

/* req to the app name, as ctl__each_app sends it for `herd VERB`, in a
 * child whose stdout and stderr come back on a pipe. */
static void act_start(struct top *t, const char *name, const char *what, const char *req,
                      const char *verb) {
  if (busy(t))
    return;
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    say_msg(t, MSG_FAILED, strerror(errno));
    return;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    /* Out of the terminal's process group (its keys' signals are not
     * for us), gone with herd top, stdin /dev/null, output on the pipe. */
    (void)setpgid(0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nul < 0 || dup2(nul, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
      _exit(1);
    int rc = ctl__each_app(t->home, name, req, verb);
    fflush(NULL);
    _exit(rc);
  }
  int e = errno;
  (void)close(p[1]);
  if (pid < 0) {
    (void)close(p[0]);
    say_msg(t, MSG_FAILED, strerror(e));
    return;
  }
  t->act_pid = pid;
  t->act_fd = p[0];
  t->act_len = 0;
  snprintf(t->act_what, sizeof t->act_what, "%s %s", what, name);
  char b[160];
  snprintf(b, sizeof b, "%s: waiting for the master...", t->act_what);
  say_msg(t, MSG_PLAIN, b);
}

/* The action's output came (or its end: then its last line becomes the
 * message). 1 when it has ended. */
static int act_read(struct top *t) {
  char b[512];
  ssize_t n = read(t->act_fd, b, sizeof b);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return 0;
  if (n > 0) {
    size_t room = sizeof t->act_out - 1;
    if ((size_t)n > room)
      n = (ssize_t)room;
    if (t->act_len + (size_t)n > room) { /* keep the end */
      size_t drop = t->act_len + (size_t)n - room;
      memmove(t->act_out, t->act_out + drop, t->act_len - drop);
      t->act_len -= drop;
    }
    memcpy(t->act_out + t->act_len, b, (size_t)n);
    t->act_len += (size_t)n;
    return 0;
  }
  (void)close(t->act_fd);
  t->act_fd = -1;
  int st = 0;
  while (waitpid(t->act_pid, &st, 0) < 0 && errno == EINTR)
    ;
  t->act_pid = 0;
  t->act_out[t->act_len] = '\0';
  while (t->act_len && t->act_out[t->act_len - 1] == '\n')
    t->act_out[--t->act_len] = '\0';
  char *last = strrchr(t->act_out, '\n');
  last = last ? last + 1 : t->act_out;
  int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  char m[sizeof t->act_out + 160];
  if (*last)
    snprintf(m, sizeof m, "%s", last);
  else
    snprintf(m, sizeof m, "%s: %s", t->act_what, ok ? "done" : "failed");
  say_msg(t, ok ? MSG_OK : MSG_FAILED, m);
  return 1;
}

/* Quitting with an action running: the master carries an accepted
 * request out without its client; the child is ended and reaped. */
static void act_end(struct top *t) {
  if (t->act_pid <= 0)
    return;
  (void)kill(t->act_pid, SIGKILL);
  while (waitpid(t->act_pid, NULL, 0) < 0 && errno == EINTR)
    ;
  (void)close(t->act_fd);
  t->act_pid = 0;
  t->act_fd = -1;
}

/* ---- keys ---------------------------------------------------------- */

enum { KEY_UP = 0x100, KEY_DOWN };

static void select_by(struct top *t, int d) {
  if (!t->napps)
    return;
  t->sel += d;
  if (t->sel < 0)
    t->sel = 0;
  if (t->sel >= t->napps)
    t->sel = t->napps - 1;
  snprintf(t->selname, sizeof t->selname, "%s", t->apps[t->sel].name);
}

/* One key. 1 when it quits. */
static int key(struct top *t, int k) {
  if (t->confirm) {
    /* the app the question named, even if the selection has moved */
    t->confirm = 0;
    if (k == 'y' || k == 'Y')
      act_start(t, t->confirm_name, "stop", "{\"cmd\":\"stop\"}", "stopped");
    else
      say_msg(t, MSG_PLAIN, "stop cancelled");
    return 0;
  }
  int small = t->cols < TOP_MIN_COLS || t->rows < TOP_MIN_ROWS;
  if (k == 'q' || k == 'Q')
    return 1;
  if (small) /* nothing is shown: nothing to act on */
    return 0;
  if (!t->napps)
    return 0;
  const char *name = t->apps[t->sel].name;
  switch (k) {
  case KEY_UP: case 'k': select_by(t, -1); break;
  case KEY_DOWN: case 'j': select_by(t, 1); break;
  case 'r': act_start(t, name, "reload", "{\"cmd\":\"reload\"}", "reloaded"); break;
  case 'R': act_start(t, name, "restart", "{\"cmd\":\"restart\"}", "restarted"); break;
  case '+':
    act_start(t, name, "scale +1", "{\"cmd\":\"scale\",\"add\":1}", "scaled");
    break;
  case '-':
    act_start(t, name, "scale -1", "{\"cmd\":\"scale\",\"add\":-1}", "scaled");
    break;
  case 's':
    if (busy(t))
      break;
    t->confirm = 1;
    snprintf(t->confirm_name, sizeof t->confirm_name, "%s", name);
    break;
  default: break;
  }
  return 0;
}

/* The keys read: arrows (ESC [ A, ESC O A) and single bytes; other
 * sequences are skipped. 1 when one quits. */
static int keys(struct top *t, const unsigned char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (b[i] != 0x1b) {
      if (key(t, b[i]))
        return 1;
      continue;
    }
    if (i + 1 >= n || (b[i + 1] != '[' && b[i + 1] != 'O')) {
      t->confirm = 0; /* a lone ESC cancels */
      continue;
    }
    size_t j = i + 2;
    while (j < n && b[j] >= 0x20 && b[j] < 0x40) /* parameters */
      j++;
    if (j < n && (b[j] == 'A' || b[j] == 'B') && key(t, b[j] == 'A' ? KEY_UP : KEY_DOWN))
      return 1;
    i = j;
  }
  return 0;
}

/* ---- the loop ------------------------------------------------------ */

/* A signal from the signalfd. -1 to go on, else the exit status. */
static int on_signal(struct top *t, int sfd) {
  struct signalfd_siginfo si;
  ssize_t n;
  while ((n = read(sfd, &si, sizeof si)) == (ssize_t)sizeof si) {
    int sig = (int)si.ssi_signo;
    if (sig == SIGINT)
      return 0; /* Ctrl-C: quit, as q */
    if (sig == SIGTERM || sig == SIGHUP)
      return 128 + sig;
    if (sig == SIGTSTP) {
      /* Ctrl-Z: the shell's terminal back, then stop; on fg, ours again */
      term_leave();
      (void)kill(getpid(), SIGSTOP);
      if (term_enter() < 0)
        return 1;
    }
    term_size(t); /* WINCH, CONT, TSTP: the size may have changed */
  }
  return -1;
}

/* Keys from stdin. -1 to go on, else the exit status. */
static int on_keys(struct top *t) {
  unsigned char b[64];
  ssize_t n = read(0, b, sizeof b);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return -1;
  if (n <= 0)
    return 1; /* the terminal is gone (EOF, EIO after a hangup) */
  return keys(t, b, (size_t)n) ? 0 : -1;
}

/* Draw, wait for a key, a signal, the action or the next refresh; until
 * one of them quits. The exit status. */
static int loop(struct top *t, int sfd) {
  struct fb f = {0};
  uint64_t next = herd_now_ms() + TOP_REFRESH_MS;
  int rc = -1, dirty = 1;
  while (rc < 0) {
    if (dirty) {
      top_draw(t, &f);
      if (!f.oom && write_all(1, f.buf, f.len) < 0) {
        rc = 1;
        break;
      }
      dirty = 0;
    }
    uint64_t now = herd_now_ms();
    if (now >= next) {
      top_refresh(t);
      next = herd_now_ms() + TOP_REFRESH_MS;
      dirty = 1;
      continue;
    }
    struct pollfd p[3] = {{.fd = 0, .events = POLLIN},
                          {.fd = sfd, .events = POLLIN},
                          {.fd = t->act_fd, .events = POLLIN}};
    int r = poll(p, t->act_fd >= 0 ? 3 : 2, (int)(next - now));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = 1;
      break;
    }
    if (p[1].revents) {
      rc = on_signal(t, sfd);
      dirty = 1;
    }
    if (rc < 0 && p[0].revents) {
      rc = on_keys(t);
      dirty = 1;
    }
    if (rc < 0 && t->act_fd >= 0 && p[2].revents && act_read(t)) {
      next = 0; /* what it did, at once */
      dirty = 1;
    }
  }
  fb_free(&f);
  return rc;
}

static int live_view(struct top *t) {
  sigset_t set;
  sigemptyset(&set);
  int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP, SIGCONT};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaddset(&set, sigs[i]);
  int sfd = -1;
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
      (sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
    fprintf(stderr, "%s: signals: %s\n", prog_name, strerror(errno));
    return 1;
  }
  if (term_enter() < 0) {
    int e = errno;
    term_leave();
    fprintf(stderr, "%s: the terminal: %s\n", prog_name, strerror(e));
    (void)close(sfd);
    return 1;
  }
  term_size(t);
  int rc = loop(t, sfd);
  act_end(t);
  term_leave();
  (void)close(sfd);
  /* the signals stay blocked: a TERM being handled must not kill us now
   * (the exit status says it) */
  return rc;
}

/* Not a terminal: the frame once, as plain lines. */
static int snapshot(struct top *t) {
  struct fb f = {0};
  top_draw(t, &f);
  int rc = 0;
  if (f.oom || fwrite(f.buf, 1, f.len, stdout) != f.len || fflush(stdout) != 0) {
    fprintf(stderr, "%s: %s\n", prog_name, strerror(f.oom ? ENOMEM : errno));
    rc = 1;
  }
  fb_free(&f);
  return rc;
}

int cmd_top(int argc, char **argv) {
  static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  int ch;
  optind = 1;
  while ((ch = cli_getopt("top", argc, argv, "h", lo)) != -1) {
    if (ch == 'h')
      fputs(usage_top, stdout);
    return ch == 'h' ? 0 : 2; /* '?': said by cli_getopt */
  }
  if (argc - optind > 1) {
    usage_error("top", "one NAME at most");
    return 2;
  }
  const char *name = optind < argc ? argv[optind] : NULL;
  if (name && !strcmp(name, "all"))
    name = NULL; /* as the other commands: all = every app */
  if (name && !app_name_ok(name)) {
    fprintf(stderr, "%s: '%s' is not an app name\n", prog_name, name);
    return 2;
  }
  struct top t = {.only = name, .act_fd = -1};
  if (cli_home(t.home, sizeof t.home) < 0)
    return 1;
  (void)setlocale(LC_CTYPE, "");
  t.utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
  const char *term = getenv("TERM"), *nc = getenv("NO_COLOR");
  t.tty = isatty(0) && isatty(1) && term && *term && strcmp(term, "dumb");
  t.colour = t.tty && !(nc && *nc);
  top_refresh(&t);
  int rc;
  if (name && !t.apps[0].live) {
    /* a dead master, an unknown app: one line, and nothing touched */
    if (t.apps[0].err_named)
      fprintf(stderr, "%s: %s\n", prog_name, t.apps[0].err);
    else
      fprintf(stderr, "%s: %s: %s\n", prog_name, name, t.apps[0].err);
    rc = 1;
  } else if (!name && t.home_err[0]) {
    fprintf(stderr, "%s: %s: %s\n", prog_name, t.home, t.home_err);
    rc = 1;
  } else {
    rc = t.tty ? live_view(&t) : snapshot(&t);
  }
  top_free(&t);
  return rc;
}
