/*
 * cli_polish_test.c - the small things users hit (issue 12), on the real
 * binary: a mistyped command or option said in one line with the nearest
 * right one, -v, error lines that begin with "herd", plurals, the status
 * and list tables' widths, herd ping, shell completion.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hp.h"

/* herd ARGS (a shell word list) with stderr into stdout: its exit status,
 * the text in out. */
static int herd_sh(char *out, size_t n, const char *args) {
  char rel[PATH_MAX], bin[PATH_MAX], cmd[PATH_MAX + 1024];
  path_of(rel, sizeof rel, "herd");
  CHECK_MSG(realpath(rel, bin) != NULL, "%s: not built", rel);
  snprintf(cmd, sizeof cmd, "'%s' %s 2>&1 </dev/null", bin, args);
  return sh_out(cmd, out, n);
}

/* exit 2 and exactly the one line want */
#define ONE_LINE(args, want)                                                     \
  do {                                                                           \
    char o_[4096];                                                               \
    int st_ = herd_sh(o_, sizeof o_, args);                                      \
    CHECK_MSG(st_ == 2 && !strcmp(o_, want "\n"),                                \
              "herd %s: exit %d, said:\n%s\nexpected exit 2 and:\n%s", args, st_, \
              o_, want);                                                         \
  } while (0)

TEST(cli_unknown_command_suggests_the_nearest_in_one_line) {
  ONE_LINE("stauts", "herd: unknown command 'stauts'; did you mean 'status'? See "
                     "'herd --help'.");
  ONE_LINE("lsit", "herd: unknown command 'lsit'; did you mean 'list'? See 'herd --help'.");
  ONE_LINE("relaod web", "herd: unknown command 'relaod'; did you mean 'reload'? See "
                         "'herd --help'.");
  ONE_LINE("hlep", "herd: unknown command 'hlep'; did you mean 'help'? See 'herd --help'.");
  /* nothing close: no suggestion */
  ONE_LINE("xyzzy", "herd: unknown command 'xyzzy'. See 'herd --help'.");
  ONE_LINE("--verison", "herd: unknown option '--verison'; did you mean '--version'? "
                        "See 'herd --help'.");
  /* herd help CMD: the same */
  ONE_LINE("help stauts", "herd: unknown command 'stauts'; did you mean 'status'? See "
                          "'herd --help'.");
}

TEST(cli_unknown_option_suggests_the_nearest_in_one_line) {
  /* run and start: the option table */
  ONE_LINE("run --wokers 2 -- true", "herd run: unknown option '--wokers'; did you mean "
                                     "'--workers'? See 'herd run --help'.");
  ONE_LINE("start --node-clustre app.js", "herd start: unknown option '--node-clustre'; "
                                          "did you mean '--node-cluster'? See 'herd start "
                                          "--help'.");
  ONE_LINE("run --kill-timout 1s -- true", "herd run: unknown option '--kill-timout'; did "
                                           "you mean '--kill-timeout'? See 'herd run "
                                           "--help'.");
  /* the other commands: their own options */
  ONE_LINE("status --jsn", "herd status: unknown option '--jsn'; did you mean '--json'? "
                           "See 'herd status --help'.");
  ONE_LINE("logs --follw web", "herd logs: unknown option '--follw'; did you mean "
                               "'--follow'? See 'herd logs --help'.");
  ONE_LINE("stop --gracefull web", "herd stop: unknown option '--gracefull'; did you "
                                   "mean '--graceful'? See 'herd stop --help'.");
  ONE_LINE("status --frobnicate", "herd status: unknown option '--frobnicate'. See 'herd "
                                  "status --help'.");
  /* the other ways an option is wrong, one line each too */
  ONE_LINE("status --json=1", "herd status: option '--json' takes no value. See 'herd "
                              "status --help'.");
  ONE_LINE("logs web -n", "herd logs: option '-n' needs a value. See 'herd logs --help'.");
  ONE_LINE("logs web --lines", "herd logs: option '--lines' needs a value. See 'herd logs "
                               "--help'.");
  ONE_LINE("list -q", "herd list: unknown option '-q'. See 'herd list --help'.");
  ONE_LINE("run --re 1 -- true", "herd run: option '--re' is ambiguous: --ready, "
                                 "--ready-timeout, --restart-window, --restart-cooldown. "
                                 "See 'herd run --help'.");
}

TEST(cli_dash_v_is_version) {
  char a[256], b[256];
  CHECK_EQ(herd_sh(a, sizeof a, "-v"), 0);
  CHECK_EQ(herd_sh(b, sizeof b, "--version"), 0);
  CHECK_MSG(!strncmp(a, "herd ", 5) && !strcmp(a, b), "-v: %s--version: %s", a, b);
}

static int lines_of(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

TEST(cli_ping_says_the_master_and_its_round_trip) {
  char o[4096];
  CHECK_MSG(herd_sh(o, sizeof o, "start -n pg -w 1 -- sleep 1000") == 0, "%s", o);
  long long mpid = 0;
  const char *m = strstr(o, "master pid ");
  CHECK_MSG(m && sscanf(m, "master pid %lld", &mpid) == 1, "%s", o);
  int st = herd_sh(o, sizeof o, "ping pg");
  char want[64];
  snprintf(want, sizeof want, "pg: master pid %lld answered in ", mpid);
  double ms = -1;
  CHECK_MSG(st == 0 && !strncmp(o, want, strlen(want)) && lines_of(o) == 1 &&
                sscanf(o + strlen(want), "%lf ms", &ms) == 1 && ms >= 0,
            "ping: exit %d: %s", st, o);
  CHECK_EQ(herd_sh(o, sizeof o, "ping all"), 0);
  CHECK_MSG(!strncmp(o, want, strlen(want)), "%s", o);
  CHECK_MSG(herd_sh(o, sizeof o, "stop pg") == 0, "%s", o);
  /* not running: one line, exit 1 */
  st = herd_sh(o, sizeof o, "ping pg");
  CHECK_MSG(st == 1 && lines_of(o) == 1 && !strncmp(o, "herd ping: ", 11) &&
                strstr(o, "'pg'"),
            "ping of a stopped app: exit %d: %s", st, o);
  st = herd_sh(o, sizeof o, "ping");
  CHECK_MSG(st == 2 && !strncmp(o, "herd ping: ", 11), "exit %d: %s", st, o);
}

/* A file in this test's HERD_HOME, with text. */
static void home_file_with(char *path, size_t n, const char *name, const char *text) {
  const char *home = getenv("HERD_HOME");
  CHECK(home && *home);
  snprintf(path, n, "%s/%s", home, name);
  FILE *f = fopen(path, "we");
  CHECK_MSG(f && fputs(text, f) >= 0 && fclose(f) == 0, "%s", path);
}

/* Does the shell named exist on PATH? */
static int have_shell(const char *sh) {
  char cmd[128], o[256];
  snprintf(cmd, sizeof cmd, "command -v %s", sh);
  return sh_out(cmd, o, sizeof o) == 0 && o[0];
}

TEST(cli_completion_bash_completes_commands_options_and_running_apps) {
  if (!have_shell("bash"))
    SKIP("no bash on PATH");
  char o[8192], rel[PATH_MAX], bin[PATH_MAX];
  path_of(rel, sizeof rel, "herd");
  CHECK(realpath(rel, bin) != NULL);
  CHECK_MSG(herd_sh(o, sizeof o, "start -n compl-app -w 1 -- sleep 1000") == 0, "%s", o);
  /* the script, sourced in a real bash; _herd called as bash's
   * programmable completion calls it */
  char script[PATH_MAX], text[PATH_MAX + 1024], cmd[PATH_MAX + 64];
  snprintf(text, sizeof text,
           "H='%s'\n"
           "source <(\"$H\" completion bash) || exit 3\n"
           "t() { COMP_WORDS=(\"$H\" \"$@\"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1));\n"
           "  COMPREPLY=(); _herd; echo \"$1|${COMPREPLY[*]}\"; }\n"
           "t stat\n"
           "t pin\n"
           "t status --js\n"
           "t run --node-c\n"
           "t stop --gr\n"
           "t reload --gr\n"
           "t stop compl\n"
           "t ping ''\n"
           "t help rel\n"
           "complete -p herd\n",
           bin);
  home_file_with(script, sizeof script, "complete.bash", text);
  snprintf(cmd, sizeof cmd, "bash --norc --noprofile '%s' 2>&1", script);
  int st = sh_out(cmd, o, sizeof o);
  char stop[4096];
  CHECK_MSG(herd_sh(stop, sizeof stop, "stop compl-app") == 0, "%s", stop);
  CHECK_MSG(st == 0, "bash: exit %d: %s", st, o);
  /* a command, options from the option table and from a command's own,
   * a running app's name */
  CHECK_MSG(strstr(o, "stat|status\n"), "%s", o);
  CHECK_MSG(strstr(o, "pin|ping\n"), "%s", o);
  CHECK_MSG(strstr(o, "status|--json\n"), "%s", o);
  CHECK_MSG(strstr(o, "run|--node-cluster\n"), "%s", o);
  CHECK_MSG(strstr(o, "stop|--graceful\n"), "%s", o);
  CHECK_MSG(strstr(o, "reload|\n"), "reload has no --graceful: %s", o);
  CHECK_MSG(strstr(o, "stop|compl-app\n"), "%s", o);
  CHECK_MSG(strstr(o, "ping|compl-app all\n"), "%s", o);
  CHECK_MSG(strstr(o, "help|reload\n"), "%s", o);
  CHECK_MSG(strstr(o, "complete -o default -F _herd herd"), "%s", o);
  /* a stopped app is not offered */
  CHECK_EQ(herd_sh(o, sizeof o, "list --names"), 0);
  CHECK_STR(o, "");
}

TEST(cli_completion_zsh_and_fish_scripts_load) {
  char o[8192], rel[PATH_MAX], bin[PATH_MAX], cmd[3 * PATH_MAX + 256];
  path_of(rel, sizeof rel, "herd");
  CHECK(realpath(rel, bin) != NULL);
  int tried = 0;
  if (have_shell("zsh")) {
    tried++;
    snprintf(cmd, sizeof cmd,
             "zsh -f -c 'autoload -Uz compinit && compinit -u -d \"$HERD_HOME/zcd\" && "
             "source <(\"%s\" completion zsh) && print -r -- \"$_comps[herd]\"' 2>&1",
             bin);
    int st = sh_out(cmd, o, sizeof o);
    CHECK_MSG(st == 0 && !strcmp(o, "_herd\n"), "zsh: exit %d: %s", st, o);
  } else {
    printf("cli_completion_zsh_and_fish_scripts_load: no zsh on PATH: its script "
           "not loaded\n");
  }
  if (have_shell("fish")) {
    tried++;
    snprintf(cmd, sizeof cmd,
             "HOME=\"$HERD_HOME\" fish --no-config -c '\"%s\" completion fish | source; "
             "complete -C\"%s stat\"; complete -C\"%s status --js\"' 2>&1", bin, bin, bin);
    int st = sh_out(cmd, o, sizeof o);
    CHECK_MSG(st == 0 && strstr(o, "status\n") && strstr(o, "--json"),
              "fish: exit %d: %s", st, o);
  } else {
    printf("cli_completion_zsh_and_fish_scripts_load: no fish on PATH: its script "
           "not loaded\n");
  }
  if (!tried)
    SKIP("neither zsh nor fish is installed");
}

TEST(cli_completion_bad_usage) {
  char o[4096];
  CHECK_EQ(herd_sh(o, sizeof o, "completion tcsh"), 2);
  CHECK_MSG(!strncmp(o, "herd completion: ", 17), "%s", o);
  CHECK_EQ(herd_sh(o, sizeof o, "completion options stauts"), 2);
  CHECK_MSG(strstr(o, "did you mean 'status'?"), "%s", o);
}

/* The longest line of s, in bytes (ASCII: columns). */
static int longest_line(const char *s) {
  int best = 0;
  while (*s) {
    int n = (int)strcspn(s, "\n");
    if (n > best)
      best = n;
    s += n + (s[n] == '\n');
  }
  return best;
}

TEST_T(cli_status_row_with_a_retry_fits_80_columns, 90) {
  /* slot 1 crash-loops with the widest exit there is (code 255): its
   * row said "crashed, code 255; retry in 58s" at column 55 (86
   * columns); the time to the next try is in STATE now */
  struct hp h;
  const char *args[] = {"run", "-n", "wide", "-w", "2", "--max-restarts", "1",
                        "--restart-window", "30s", "--restart-cooldown", "1h", "--",
                        "/bin/sh", "-c",
                        "[ \"$HERD_WORKER_ID\" = 1 ] && exit 255; exec sleep 1000", NULL};
  hp_start(&h, args);
  HP_WAIT(&h, "parked", 1);
  char o[8192];
  int st = herd_sh(o, sizeof o, "status wide");
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  CHECK_MSG(st == 4, "status: exit %d: %s", st, o);
  CHECK_MSG(strstr(o, "  1    -       parked ") && strstr(o, "crashed, code 255\n"),
            "%s", o);
  /* "parked 59m" or "parked 60m" (the +999 rounding up) */
  CHECK_MSG(strstr(o, "parked 59m") || strstr(o, "parked 60m") || strstr(o, "parked 1h"),
            "%s", o);
  CHECK_MSG(longest_line(o) <= 80, "a line of %d columns:\n%s", longest_line(o), o);
}

TEST(cli_counts_of_one_are_singular) {
  char o[8192];
  CHECK_MSG(herd_sh(o, sizeof o, "start -n one -w 1 -- sleep 1000") == 0, "%s", o);
  CHECK_MSG(strstr(o, ": 1 worker ready (pids "), "%s", o);
  int st = herd_sh(o, sizeof o, "status one");
  char log[8192], cmd[PATH_MAX + 64];
  snprintf(cmd, sizeof cmd, "cat \"$HERD_HOME/logs/one-herd.log\"");
  (void)sh_out(cmd, log, sizeof log);
  char sc[512];
  int scst = herd_sh(sc, sizeof sc, "scale one 1");
  char stop[512];
  CHECK_MSG(herd_sh(stop, sizeof stop, "stop one") == 0, "%s", stop);
  CHECK_MSG(st == 0 && strstr(o, ", 1/1 worker ready\n") && strstr(o, ", 0 lines dropped\n"),
            "status: exit %d: %s", st, o);
  CHECK_MSG(strstr(log, "herd[one]: 1 worker ready\n") && !strstr(log, "1 workers"), "%s",
            log);
  CHECK_MSG(scst == 0 && !strcmp(sc, "one: scaled to 1 worker\n"), "%s", sc);
}

TEST(cli_list_columns_stay_aligned_with_long_names) {
  /* a 64-character name, a short one, a stale socket: each column
   * starts at the same place on every line */
  char o[8192], cmd[PATH_MAX + 64];
  const char *lname = "a-very-long-app-name-that-takes-all-of-the-64-characters-allowed";
  CHECK_EQ(strlen(lname), 64);
  char a[256];
  snprintf(a, sizeof a, "start -n %s -w 1 -- sleep 1000", lname);
  CHECK_MSG(herd_sh(o, sizeof o, a) == 0, "%s", o);
  CHECK_MSG(herd_sh(o, sizeof o, "start -n s -w 2 -- sleep 1000") == 0, "%s", o);
  snprintf(cmd, sizeof cmd, "touch \"$HERD_HOME/stale.sock\"");
  CHECK_EQ(sh_out(cmd, o, sizeof o), 0);
  int st = herd_sh(o, sizeof o, "list");
  char stop[1024];
  CHECK_MSG(herd_sh(stop, sizeof stop, "stop all") == 0, "%s", stop);
  CHECK_MSG(st == 0 && lines_of(o) == 4, "list: exit %d: %s", st, o);
  /* NAME is 64 wide, then STATUS (9), PID (7), WORKERS (9), UPTIME (6) */
  const char *line = o;
  for (int i = 0; i < 4; i++) {
    size_t len = strcspn(line, "\n");
    CHECK_MSG(len > 64 + 1 + 9 + 1 + 7 + 1 + 9 + 1 + 6 && line[64] == ' ' &&
                  line[65] != ' ' && line[64 + 1 + 9] == ' ' &&
                  line[64 + 1 + 9 + 1 + 7 - 1] != ' ' &&
                  line[64 + 1 + 9 + 1 + 7 + 1 + 9 - 1] != ' ' &&
                  line[64 + 1 + 9 + 1 + 7 + 1 + 9 + 1 + 6 - 1] != ' ',
              "line %d not aligned:\n%s", i, o);
    line += len + 1;
  }
}

static int count_of(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

TEST(cli_a_missing_program_is_named_and_said_once) {
  char o[8192];
  /* herd run: the event line only (it was said again as "herd run: ...") */
  int st = herd_sh(o, sizeof o, "run -w 2 -- herd-no-such-program-xyz");
  CHECK_MSG(st == 1 && count_of(o, "could not start a worker") == 1 &&
                strstr(o, "worker 0: could not start a worker: "
                          "'herd-no-such-program-xyz': No such file or directory\n") &&
                !strstr(o, "herd run: "),
            "run: exit %d:\n%s", st, o);
  /* herd start: one line, naming it */
  st = herd_sh(o, sizeof o, "start -n miss -- /nonexistent/prog");
  CHECK_MSG(st == 1 && lines_of(o) == 1 &&
                !strcmp(o, "herd start: miss: worker 0: could not start a worker: "
                           "'/nonexistent/prog': No such file or directory\n"),
            "start: exit %d:\n%s", st, o);
  /* a file that is not a program (EACCES, or ENOEXEC for root) */
  st = herd_sh(o, sizeof o, "start -n notx -- /etc/hostname");
  CHECK_MSG(st == 1 && strstr(o, "could not start a worker: '/etc/hostname': "), "start: exit %d:\n%s",
            st, o);
}

TEST(cli_error_lines_begin_with_herd) {
  /* a bad input of each command: its first line (the error) names herd */
  static const char *const bad[] = {
      "run", "run -w 0 -- true", "start --name .x -- true", "start -c /nonexistent/h.conf",
      "status no/such", "status a b", "list extra", "logs -n x", "logs a b",
      "reload", "restart a b", "scale a", "scale a 0", "stop --graceful",
      "send a", "send a notjson", "startup", "startup systemd", "ping", "ping a b",
      "completion", "completion options nosuch", "help nosuch", "--nosuch", "nosuch",
      "status nosuchapp", "stop nosuchapp", "logs nosuchapp",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char o[8192];
    int st = herd_sh(o, sizeof o, bad[i]);
    CHECK_MSG(st == 1 || st == 2, "herd %s: exit %d: %s", bad[i], st, o);
    CHECK_MSG(!strncmp(o, "herd", 4) && (o[4] == ':' || o[4] == ' '),
              "herd %s: the error does not begin with 'herd': %s", bad[i], o);
  }
}

TEST(cli_ready_timeout_applies_to_notify_listening_and_ipc_only) {
  /* as herd help run says: ipc and notify time out (listening needs
   * --node-cluster, whose tests cover it); a duration does not */
  char o[8192];
  int st = herd_sh(o, sizeof o, "start -n ri -w 1 --ready ipc --ready-timeout 300ms -- sleep 100");
  CHECK_MSG(st == 1 && lines_of(o) == 1 &&
                strstr(o, "herd start: ri: worker 0: not ready within the ready timeout"),
            "ipc: exit %d: %s", st, o);
  st = herd_sh(o, sizeof o, "start -n rn -w 1 --ready notify --ready-timeout 300ms -- sleep 100");
  CHECK_MSG(st == 1 && strstr(o, "not ready within the ready timeout"), "notify: exit %d: %s",
            st, o);
  st = herd_sh(o, sizeof o, "start -n rd -w 1 --ready 600ms --ready-timeout 300ms -- sleep 100");
  char stop[512];
  int sst = herd_sh(stop, sizeof stop, "stop rd");
  CHECK_MSG(st == 0 && strstr(o, "herd: started rd: 1 worker ready"), "a duration: exit %d: %s",
            st, o);
  CHECK_MSG(sst == 0, "%s", stop);
}

TEST(cli_a_relative_command_is_kept_and_run_from_the_workers_directory) {
  /* docs/herd.md: the command is kept as given (status --json) and run
   * from --cwd, made absolute; the daemon itself runs in / */
  char prog[PATH_MAX], o[16384], rel[PATH_MAX], bin[PATH_MAX], cmd[3 * PATH_MAX];
  home_file_with(prog, sizeof prog, "relprog.sh", "#!/bin/sh\nexec sleep 1000\n");
  CHECK(chmod(prog, 0755) == 0);
  path_of(rel, sizeof rel, "herd");
  CHECK(realpath(rel, bin) != NULL);
  snprintf(cmd, sizeof cmd, "cd / && '%s' start -n relc -w 1 --cwd \"$HERD_HOME\" -- "
           "./relprog.sh 2>&1", bin);
  int st = sh_out(cmd, o, sizeof o);
  CHECK_MSG(st == 0, "start: exit %d: %s", st, o);
  st = herd_sh(o, sizeof o, "status relc --json");
  char stop[512];
  CHECK_MSG(herd_sh(stop, sizeof stop, "stop relc") == 0, "%s", stop);
  char want[PATH_MAX + 32];
  snprintf(want, sizeof want, "\"cwd\":\"%s\"", getenv("HERD_HOME"));
  CHECK_MSG(st == 0 && strstr(o, "\"cmd\":[\"./relprog.sh\"]") && strstr(o, want),
            "status --json: exit %d: %s", st, o);
}

TEST(cli_completion_lists_every_commands_options) {
  /* every command of the table (those added later too) has its options
   * listed, --help among them, by asking it with --help: never by
   * running it */
  char cmds[4096];
  CHECK_EQ(herd_sh(cmds, sizeof cmds, "completion commands"), 0);
  CHECK_MSG(strstr(cmds, "run\n") && strstr(cmds, "ping\n") && strstr(cmds, "help\n"), "%s",
            cmds);
  /* not the internal ones (the new master's side of an upgrade) */
  CHECK_MSG(!strstr(cmds, "__"), "an internal command is offered: %s", cmds);
  for (char *save = NULL, *c = strtok_r(cmds, "\n", &save); c;
       c = strtok_r(NULL, "\n", &save)) {
    char o[8192], a[128];
    snprintf(a, sizeof a, "completion options %s", c);
    int st = herd_sh(o, sizeof o, a);
    CHECK_MSG(st == 0 && (strstr(o, "--help\n") == o || strstr(o, "\n--help\n")),
              "herd %s: exit %d: %s", a, st, o);
    for (const char *p = o; *p; p += strcspn(p, "\n") + 1)
      CHECK_MSG(!strncmp(p, "--", 2), "herd %s: not an option: %s", a, o);
  }
}

/* A missing or extra argument: the one line and where to look, exit 2,
 * not the whole usage (signal, flush, top, list, reload, send, stop and
 * scale printed it after their line). */
#define TWO_LINES(args, want, cmd) ONE_LINE(args, want "\nTry 'herd " cmd " --help'.")

TEST(cli_missing_arguments_say_one_line_and_where_to_look) {
  TWO_LINES("signal", "herd signal: give NAME (or all) and SIG", "signal");
  TWO_LINES("signal web", "herd signal: give NAME (or all) and SIG", "signal");
  TWO_LINES("flush a b", "herd flush: give NAME or all", "flush");
  TWO_LINES("top a b", "herd top: one NAME at most", "top");
  TWO_LINES("list x", "herd list: unexpected 'x'", "list");
  TWO_LINES("reload", "herd reload: give one NAME, or all", "reload");
  TWO_LINES("send web", "herd send: give NAME (or all) and one JSON value", "send");
  TWO_LINES("stop", "herd stop: give one NAME, or all", "stop");
  TWO_LINES("scale web", "herd scale: give NAME and N, +N or -N", "scale");
  ONE_LINE("signal web USR1 --slot x", "herd signal: --slot: 'x' is not a slot (0..4095)");
  ONE_LINE("send web 1 --slot -1", "herd send: --slot: '-1' is not a slot (0..4095)");
}
