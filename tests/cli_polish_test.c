/*
 * cli_polish_test.c - the small things users hit (issue 12), on the real
 * binary: a mistyped command or option said in one line with the nearest
 * right one, -v, error lines that begin with "herd", plurals, the status
 * and list tables' widths, herd ping, shell completion.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
