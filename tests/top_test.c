/*
 * top_test.c - end-to-end tests of `herd top`: the real binary on a real
 * terminal, a tmux pane of a tmux server of the test's own (-L
 * herdtop-PID-N, no config), driven with send-keys and read with
 * capture-pane; and its snapshot when not on a terminal. Every wait is a
 * poll of the pane with a deadline.
 *
 * The pane runs herd top under `timeout --foreground 120` and then says
 * how it exited and what the terminal's modes are. Each test kills its
 * server; a watcher in the pane kills it too once the test's process has
 * gone (tail --pid), so that a test that fails half-way leaves no tmux
 * server and no herd top behind.
 */
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hp.h"
#include "test.h"

static char tmux_name[64];
static char herd_path[PATH_MAX];

static const char *home(void) {
  const char *h = getenv("HERD_HOME");
  CHECK_MSG(h && *h, "HERD_HOME is not set (run under herd-test)");
  return h;
}

static const char *herd(void) {
  if (!herd_path[0]) {
    char rel[PATH_MAX];
    path_of(rel, sizeof rel, "herd");
    CHECK_MSG(realpath(rel, herd_path), "%s: not built", rel);
  }
  return herd_path;
}

/* A shell command line's output and exit status. */
__attribute__((format(printf, 3, 4))) static int run(char *out, size_t n,
                                                      const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  return sh_out(cmd, out, n);
}

/* herd start -n NAME -w N with hello-http; the workers' pids in pids. */
static void start_app(const char *name, int n, pid_t *pids) {
  char hello[PATH_MAX], out[4096];
  CHECK(realpath(hello_http(), hello));
  int rc = run(out, sizeof out, "'%s' start -n %s -w %d -l 127.0.0.1:0 -- '%s' 2>&1",
               herd(), name, n, hello);
  CHECK_MSG(rc == 0, "herd start %s: %s", name, out);
  const char *p = strstr(out, "(pids ");
  CHECK_MSG(p, "herd start said %s", out);
  p += 6;
  for (int i = 0; i < n; i++) {
    char *end;
    pids[i] = (pid_t)strtol(p, &end, 10);
    CHECK_MSG(end != p && pids[i] > 0, "herd start said %s", out);
    p = end;
  }
}

static void stop_app(const char *name) {
  char out[4096];
  CHECK_MSG(run(out, sizeof out, "'%s' stop %s 2>&1", herd(), name) == 0,
            "herd stop %s: %s", name, out);
}

static void need_tmux(void) {
  char out[256];
  if (run(out, sizeof out, "command -v tmux && command -v timeout") != 0)
    SKIP("tmux (or timeout) is not installed");
}

/* tmux ARGS on the test's server: the exit status, the output in out. */
__attribute__((format(printf, 3, 4))) static int tmux(char *out, size_t n,
                                                      const char *fmt, ...) {
  char args[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  return run(out, n, "tmux -L %s -f /dev/null %s 2>&1", tmux_name, args);
}

/* A pane of cols x rows running `herd top TOP_ARGS` with the environment
 * line env (NO_COLOR=1, ...), then saying how it went. */
static void pane_start(int cols, int rows, const char *env, const char *top_args) {
  /* a server of its own for each pane: a server being killed may still
   * hold its socket's name for a moment */
  static int panes;
  snprintf(tmux_name, sizeof tmux_name, "herdtop-%d-%d", (int)getpid(), ++panes);
  char script[PATH_MAX], out[1024];
  snprintf(script, sizeof script, "%s/top-pane.sh", home());
  FILE *f = fopen(script, "w");
  CHECK(f);
  fprintf(f,
          "(tail --pid=%d -f /dev/null; tmux -L %s kill-server) </dev/null "
          ">/dev/null 2>&1 &\n"
          "export HERD_HOME='%s'\n"
          "unset NO_COLOR\n"
          "export %s\n"
          "timeout --foreground 120 '%s' top %s\n"
          "echo \"top-exit=$?\"\n"
          "echo \"modes: $(stty -a | grep -o -w -e -icanon -e icanon -e -echo -e echo |"
          " tr '\\n' ' ')\"\n"
          "exec tail --pid=%d -f /dev/null\n",
          (int)getpid(), tmux_name, home(), env, herd(), top_args, (int)getpid());
  CHECK(fclose(f) == 0);
  CHECK_MSG(tmux(out, sizeof out, "new-session -d -x %d -y %d 'sh %s'", cols, rows,
                 script) == 0,
            "tmux new-session: %s", out);
}

static void pane_end(void) {
  char out[256];
  (void)tmux(out, sizeof out, "kill-server");
}

/* The pane's text (with its escape sequences if esc). */
static void capture(char *out, size_t n, int esc) {
  CHECK(tmux(out, n, "capture-pane -p %s", esc ? "-e" : "") == 0);
}

/* Wait until the pane shows needle; its text in out. */
static void pane_wait(const char *needle, char *out, size_t n) {
  uint64_t deadline = test_now_ms() + 15000;
  for (;;) {
    capture(out, n, 0);
    if (strstr(out, needle))
      return;
    CHECK_MSG(test_now_ms() < deadline, "the pane never showed '%s'; it shows:\n%s",
              needle, out);
    usleep(50000); /* the pane is looked at: nothing tells us it changed */
  }
}

static void pane_wait_pid(pid_t pid, char *out, size_t n) {
  char p[32];
  snprintf(p, sizeof p, " %d ", (int)pid);
  pane_wait(p, out, n);
}

/* herd top left as it should: exit status, terminal modes, main screen,
 * cursor shown. */
static void check_restored(int exit_status) {
  char out[8192], want[32];
  snprintf(want, sizeof want, "top-exit=%d", exit_status);
  pane_wait(want, out, sizeof out);
  pane_wait("modes: ", out, sizeof out);
  CHECK_MSG(strstr(out, "modes: icanon echo"), "the terminal was not restored:\n%s", out);
  CHECK(tmux(out, sizeof out, "display -p '#{alternate_on} #{cursor_flag}'") == 0);
  CHECK_MSG(!strcmp(out, "0 1\n"), "alternate screen, cursor: %s", out);
}

/* herd status NAME --json */
static int status_json(const char *name, char *out, size_t n) {
  return run(out, n, "'%s' status %s --json 2>&1", herd(), name);
}

TEST_T(top_in_tmux_shows_pids_scales_stops_and_quits, 90) {
  need_tmux();
  pid_t api[1], web[2];
  start_app("api", 1, api);
  start_app("web", 2, web);
  pane_start(100, 30, "LANG=C.UTF-8", "");
  char out[16384];
  pane_wait_pid(api[0], out, sizeof out);
  pane_wait_pid(web[0], out, sizeof out);
  pane_wait_pid(web[1], out, sizeof out);
  CHECK_MSG(strstr(out, "> api"), "api is not selected first:\n%s", out);
  /* history: a graph of Unicode blocks under a UTF-8 locale */
  pane_wait("\u2581\u2581", out, sizeof out);

  /* j selects web, + scales it from 2 to 3 */
  CHECK(tmux(out, sizeof out, "send-keys j") == 0);
  pane_wait("> web", out, sizeof out);
  CHECK(tmux(out, sizeof out, "send-keys +") == 0);
  pane_wait("web: scaled to 3 workers", out, sizeof out);
  CHECK_EQ(status_json("web", out, sizeof out), 0);
  CHECK_MSG(strstr(out, "\"workers_wanted\":3"), "web: %s", out);
  const char *w2 = strstr(out, "\"slot\":2,\"pid\":");
  CHECK_MSG(w2, "web: %s", out);
  pane_wait_pid(atoi(w2 + 15), out, sizeof out); /* the view shows the new one */
  CHECK_EQ(status_json("api", out, sizeof out), 0);
  CHECK_MSG(strstr(out, "\"workers_wanted\":1"), "api: %s", out);

  /* s asks; anything but y keeps it; s then y stops it */
  CHECK(tmux(out, sizeof out, "send-keys s") == 0);
  pane_wait("stop web?", out, sizeof out);
  CHECK(tmux(out, sizeof out, "send-keys n") == 0);
  pane_wait("stop cancelled", out, sizeof out);
  CHECK_EQ(status_json("web", out, sizeof out), 0);
  CHECK(tmux(out, sizeof out, "send-keys s") == 0);
  pane_wait("stop web?", out, sizeof out);
  CHECK(tmux(out, sizeof out, "send-keys y") == 0);
  pane_wait("web: stopped (master exited)", out, sizeof out);
  for (int i = 0; i < 2; i++)
    CHECK_MSG(pid_gone(web[i], 5000), "web's worker %d still runs", (int)web[i]);
  CHECK_EQ(status_json("web", out, sizeof out), 1);
  CHECK_EQ(status_json("api", out, sizeof out), 0);

  /* q quits, the terminal as it was */
  CHECK(tmux(out, sizeof out, "send-keys q") == 0);
  check_restored(0);
  pane_end();
  CHECK_EQ(status_json("api", out, sizeof out), 0); /* untouched */
  stop_app("api");
}

/* An SGR sequence with a colour: 30-38, 40-48, 90-97, 100-107 (39 and
 * 49, the default colours, tmux writes of its own). */
static int has_colour(const char *s) {
  for (const char *p = s; (p = strstr(p, "\033[")); p += 2) {
    const char *q = p + 2;
    size_t len = strspn(q, "0123456789;");
    if (q[len] != 'm')
      continue;
    for (const char *x = q; x < q + len;) {
      int v = atoi(x);
      if ((v >= 30 && v <= 38) || (v >= 40 && v <= 48) || (v >= 90 && v <= 97) ||
          (v >= 100 && v <= 107))
        return 1;
      const char *semi = memchr(x, ';', (size_t)(q + len - x));
      x = semi ? semi + 1 : q + len;
    }
  }
  return 0;
}

TEST_T(top_no_color_gives_no_colour_codes, 60) {
  need_tmux();
  pid_t web[1];
  start_app("web", 1, web);
  char out[16384];
  pane_start(100, 30, "NO_COLOR=1", "web");
  pane_wait_pid(web[0], out, sizeof out);
  capture(out, sizeof out, 1);
  CHECK_MSG(strstr(out, "\033[7m"), "no selection shown:\n%s", out);
  CHECK_MSG(!has_colour(out), "colour with NO_COLOR:\n%s", out);
  CHECK(tmux(out, sizeof out, "send-keys q") == 0);
  check_restored(0);
  pane_end();
  /* without NO_COLOR, the same pane is in colour (the check can fail) */
  pane_start(100, 30, "TERM=screen", "web");
  pane_wait_pid(web[0], out, sizeof out);
  capture(out, sizeof out, 1);
  CHECK_MSG(has_colour(out), "no colour without NO_COLOR:\n%s", out);
  CHECK(tmux(out, sizeof out, "send-keys q") == 0);
  check_restored(0);
  pane_end();
  stop_app("web");
}

/* The child of pid whose command is comm, or 0. */
static pid_t child_named(pid_t pid, const char *comm) {
  pid_t kids[16];
  int n = pid > 0 ? children_of(pid, kids, 16) : 0;
  for (int i = 0; i < n; i++) {
    char path[64], name[64] = "";
    snprintf(path, sizeof path, "/proc/%d/comm", (int)kids[i]);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    if (fgets(name, sizeof name, f))
      name[strcspn(name, "\n")] = '\0';
    fclose(f);
    if (!strcmp(name, comm))
      return kids[i];
  }
  return 0;
}

TEST_T(top_too_small_says_so_until_it_grows_and_sigterm_restores, 60) {
  need_tmux();
  pid_t web[1];
  start_app("web", 1, web);
  char out[16384];
  pane_start(50, 20, "LANG=C", "web");
  pane_wait("herd top needs 64x8 (this is 50x20)", out, sizeof out);
  char p[32];
  snprintf(p, sizeof p, " %d ", (int)web[0]);
  CHECK_MSG(!strstr(out, p), "a view in a terminal too small:\n%s", out);
  CHECK(tmux(out, sizeof out, "resize-window -x 100 -y 30") == 0);
  pane_wait_pid(web[0], out, sizeof out);
  /* an ASCII graph outside UTF-8 */
  CHECK_MSG(!strstr(out, "\u2581"), "Unicode blocks under LANG=C:\n%s", out);
  /* SIGTERM: the terminal back, exit 128+15 (sh -> timeout -> herd) */
  CHECK(tmux(out, sizeof out, "display -p '#{pane_pid}'") == 0);
  pid_t sh = atoi(out), to = child_named(sh, "timeout"), top = child_named(to, "herd");
  CHECK_MSG(to > 0 && top > 0, "no herd top under the pane's shell %d", (int)sh);
  CHECK(kill(top, SIGTERM) == 0);
  check_restored(143);
  pane_end();
  CHECK_EQ(status_json("web", out, sizeof out), 0); /* untouched */
  stop_app("web");
}

TEST_T(top_without_a_terminal_prints_one_snapshot, 60) {
  pid_t web[2];
  start_app("web", 2, web);
  char out[16384];
  CHECK_EQ(run(out, sizeof out, "'%s' top web </dev/null", herd()), 0);
  for (int i = 0; i < 2; i++) {
    char p[32];
    snprintf(p, sizeof p, " %d ", (int)web[i]);
    CHECK_MSG(strstr(out, p), "no pid %d in the snapshot:\n%s", (int)web[i], out);
  }
  CHECK_MSG(strstr(out, "web ") && strstr(out, "ready") && !strchr(out, '\033'),
            "the snapshot:\n%s", out);
  CHECK_EQ(run(out, sizeof out, "'%s' top all </dev/null", herd()), 0);
  CHECK_MSG(strstr(out, "herd top: 1 app in") && strstr(out, "  web "), "%s", out);
  /* bad usage: 2; an app that is not there: one line, 1 */
  CHECK_EQ(run(out, sizeof out, "'%s' top web api 2>&1", herd()), 2);
  CHECK_EQ(run(out, sizeof out, "'%s' top 'no/such' 2>&1", herd()), 2);
  CHECK_EQ(run(out, sizeof out, "'%s' top --bogus 2>&1", herd()), 2);
  CHECK_EQ(run(out, sizeof out, "'%s' top nosuch 2>&1", herd()), 1);
  CHECK_MSG(!strncmp(out, "herd top: no app named 'nosuch'", 31) &&
                strchr(out, '\n') == out + strlen(out) - 1,
            "%s", out);
  CHECK_EQ(run(out, sizeof out, "'%s' help top", herd()), 0);
  CHECK_MSG(strstr(out, "Usage: herd top"), "%s", out);
  CHECK_EQ(run(out, sizeof out, "'%s' --help", herd()), 0);
  CHECK_MSG(strstr(out, "\n  top [NAME|all] "), "herd --help lacks top:\n%s", out);
  stop_app("web");
}

TEST_T(top_of_a_dead_master_is_one_line_and_exit_1, 60) {
  need_tmux();
  pid_t web[1];
  start_app("web", 1, web);
  char out[16384];
  CHECK_EQ(status_json("web", out, sizeof out), 0);
  const char *mp = strstr(out, "\"pid\":");
  CHECK(mp);
  pid_t master = atoi(mp + 6);
  CHECK(master > 0 && kill(master, SIGKILL) == 0);
  CHECK(pid_gone(master, 5000));
  CHECK_MSG(pid_gone(web[0], 5000), "worker %d outlived its master", (int)web[0]);
  /* not a terminal */
  CHECK_EQ(run(out, sizeof out, "'%s' top web 2>&1 </dev/null", herd()), 1);
  CHECK_MSG(strstr(out, "herd top: 'web' is not running") &&
                strchr(out, '\n') == out + strlen(out) - 1,
            "%s", out);
  /* every app: the stale one is shown so, exit 0 */
  CHECK_EQ(run(out, sizeof out, "'%s' top 2>&1 </dev/null", herd()), 0);
  CHECK_MSG(strstr(out, "'web' is not running"), "%s", out);
  /* on a terminal: the line, exit 1, the terminal never touched */
  pane_start(100, 30, "LANG=C", "web");
  pane_wait("top-exit=1", out, sizeof out);
  CHECK_MSG(strstr(out, "herd top: 'web' is not running"), "%s", out);
  check_restored(1);
  pane_end();
}
