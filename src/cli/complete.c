/*
 * complete.c - herd completion bash|zsh|fish: a script that completes
 * herd's commands, each command's options and the names of the running
 * apps. The script asks the binary at completion time, so that what it
 * offers is what this herd has: `herd completion commands` (main.c's
 * command table), `herd completion options CMD` (run and start: the
 * option table; any other command: the long options it gives cli_getopt,
 * asked of it with HERD_COMPLETE=options, or else those its --help
 * lists), `herd list --names`.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opts.h"

static const char usage_completion[] =
    "Usage: herd completion bash|zsh|fish\n"
    "\n"
    "Print a script that completes herd's commands, their options and the\n"
    "names of the running apps (it asks herd as you type, with the words\n"
    "below and herd list --names). Load it:\n"
    "  bash   source <(herd completion bash)        (in ~/.bashrc)\n"
    "  zsh    source <(herd completion zsh)         (in ~/.zshrc, after compinit)\n"
    "  fish   herd completion fish | source         (or save it in\n"
    "         ~/.config/fish/completions/herd.fish)\n"
    "\n"
    "  herd completion commands       the commands, one a line\n"
    "  herd completion options CMD    CMD's long options, one a line\n";

static const char bash_script[] =
    "# herd(1) completion for bash: source <(herd completion bash)\n"
    "_herd() {\n"
    "  local herd=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} cmd= i j ops=0\n"
    "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
    "    case ${COMP_WORDS[i]} in -*) ;; *) cmd=${COMP_WORDS[i]}; break ;; esac\n"
    "  done\n"
    "  COMPREPLY=()\n"
    "  if [[ -z $cmd ]]; then\n"
    "    if [[ $cur == -* ]]; then\n"
    "      COMPREPLY=($(compgen -W '--help --version' -- \"$cur\"))\n"
    "    else\n"
    "      COMPREPLY=($(compgen -W \"$(\"$herd\" completion commands 2>/dev/null)\" -- \"$cur\"))\n"
    "    fi\n"
    "    return 0\n"
    "  fi\n"
    "  for ((j = i + 1; j < COMP_CWORD; j++)); do\n"
    "    case ${COMP_WORDS[j]} in\n"
    "      --) COMPREPLY=($(compgen -f -- \"$cur\")); return 0 ;;\n"
    "      -*) ;;\n"
    "      *) ops=$((ops + 1)) ;;\n"
    "    esac\n"
    "  done\n"
    "  case $cmd in\n"
    "    help) ((ops)) || COMPREPLY=($(compgen -W \"$(\"$herd\" completion commands 2>/dev/null)\" -- \"$cur\")); return 0 ;;\n"
    "    completion) ((ops)) || COMPREPLY=($(compgen -W 'bash zsh fish' -- \"$cur\")); return 0 ;;\n"
    "  esac\n"
    "  if [[ $cur == -* ]]; then\n"
    "    COMPREPLY=($(compgen -W \"$(\"$herd\" completion options \"$cmd\" 2>/dev/null)\" -- \"$cur\"))\n"
    "    return 0\n"
    "  fi\n"
    "  case $cmd in\n"
    "    run|start) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
    "    startup) ((ops)) || COMPREPLY=($(compgen -W systemd -- \"$cur\")) ;;\n"
    "    list) ;;\n"
    "    *) ((ops)) || COMPREPLY=($(compgen -W \"$(\"$herd\" list --names 2>/dev/null) all\" -- \"$cur\")) ;;\n"
    "  esac\n"
    "  return 0\n"
    "}\n"
    "complete -o default -F _herd herd\n";

static const char zsh_script[] =
    "#compdef herd\n"
    "# herd(1) completion for zsh: source <(herd completion zsh) after compinit,\n"
    "# or save it as _herd in a directory of $fpath\n"
    "_herd() {\n"
    "  local herd=${words[1]} cmd= i j ops=0\n"
    "  for ((i = 2; i < CURRENT; i++)); do\n"
    "    [[ ${words[i]} == -* ]] || { cmd=${words[i]}; break }\n"
    "  done\n"
    "  if [[ -z $cmd ]]; then\n"
    "    if [[ $PREFIX == -* ]]; then compadd -- --help --version\n"
    "    else compadd -- ${(f)\"$($herd completion commands 2>/dev/null)\"}; fi\n"
    "    return\n"
    "  fi\n"
    "  for ((j = i + 1; j < CURRENT; j++)); do\n"
    "    case ${words[j]} in\n"
    "      --) _files; return ;;\n"
    "      -*) ;;\n"
    "      *) ((ops++)) ;;\n"
    "    esac\n"
    "  done\n"
    "  case $cmd in\n"
    "    help) ((ops)) || compadd -- ${(f)\"$($herd completion commands 2>/dev/null)\"}; return ;;\n"
    "    completion) ((ops)) || compadd -- bash zsh fish; return ;;\n"
    "  esac\n"
    "  if [[ $PREFIX == -* ]]; then\n"
    "    compadd -- ${(f)\"$($herd completion options $cmd 2>/dev/null)\"}\n"
    "    return\n"
    "  fi\n"
    "  case $cmd in\n"
    "    run|start) _files ;;\n"
    "    startup) ((ops)) || compadd -- systemd ;;\n"
    "    list) ;;\n"
    "    *) ((ops)) || compadd -- ${(f)\"$($herd list --names 2>/dev/null)\"} all ;;\n"
    "  esac\n"
    "}\n"
    "if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then\n"
    "  _herd \"$@\"\n"
    "else\n"
    "  compdef _herd herd\n"
    "fi\n";

static const char fish_script[] =
    "# herd(1) completion for fish: herd completion fish | source\n"
    "function __herd_words\n"
    "    set -l w (commandline -opc)\n"
    "    set -l cmd\n"
    "    set -l ops 0\n"
    "    for x in $w[2..-1]\n"
    "        if test -z \"$cmd\"\n"
    "            string match -q -- '-*' $x; or set cmd $x\n"
    "        else if test \"$x\" = --\n"
    "            set ops dashdash\n"
    "            break\n"
    "        else if not string match -q -- '-*' $x\n"
    "            set ops (math $ops + 1)\n"
    "        end\n"
    "    end\n"
    "    echo $w[1]\n"
    "    echo $cmd\n"
    "    echo $ops\n"
    "end\n"
    "function __herd_complete\n"
    "    set -l s (__herd_words)\n"
    "    set -l herd $s[1]\n"
    "    set -l cmd $s[2]\n"
    "    set -l ops $s[3]\n"
    "    set -l cur (commandline -ct)\n"
    "    if test -z \"$cmd\"\n"
    "        if string match -q -- '-*' $cur\n"
    "            printf '%s\\n' --help --version\n"
    "        else\n"
    "            $herd completion commands 2>/dev/null\n"
    "        end\n"
    "        return\n"
    "    end\n"
    "    test \"$ops\" = dashdash; and return\n"
    "    switch $cmd\n"
    "        case help\n"
    "            test $ops = 0; and $herd completion commands 2>/dev/null\n"
    "            return\n"
    "        case completion\n"
    "            test $ops = 0; and printf '%s\\n' bash zsh fish\n"
    "            return\n"
    "    end\n"
    "    if string match -q -- '-*' $cur\n"
    "        $herd completion options $cmd 2>/dev/null\n"
    "        return\n"
    "    end\n"
    "    switch $cmd\n"
    "        case run start list\n"
    "        case startup\n"
    "            test $ops = 0; and echo systemd\n"
    "        case '*'\n"
    "            test $ops = 0; and $herd list --names 2>/dev/null; and echo all\n"
    "    end\n"
    "end\n"
    "function __herd_files\n"
    "    set -l s (__herd_words)\n"
    "    test \"$s[3]\" = dashdash; or contains -- \"$s[2]\" run start\n"
    "end\n"
    "complete -c herd -e\n"
    "complete -c herd -f -a '(__herd_complete)'\n"
    "complete -c herd -n __herd_files -F\n";

/* run and start: the option table's long options */
static void table_options(void) {
  size_t n;
  const struct opt *t = opt_table(&n);
  for (size_t i = 0; i < n; i++)
    printf("--%s\n", t[i].name);
}

/* The options a help text lists, one a line ("  -f, --follow  ...",
 * "      --json  ..."): for a command whose parser is not cli_getopt. */
static void help_options(const char *text) {
  for (const char *p = text; *p;) {
    size_t len = strcspn(p, "\n");
    const char *q = p + strspn(p, " ");
    if (q > p && q[0] == '-' && q[1] != '-' && q[1] && q[2] == ',' && q[3] == ' ')
      q += 4;
    if (q > p && q[0] == '-' && q[1] == '-' && q[2] >= 'a' && q[2] <= 'z')
      printf("%.*s\n", (int)strspn(q, "-abcdefghijklmnopqrstuvwxyz0123456789"), q);
    p += len + (p[len] == '\n');
  }
}

/* Any other command: asked of this binary, as CMD --help: cli_getopt
 * answers for a command that parses with it, with its table; another
 * prints its help (and does nothing else), whose option lines are read.
 * The command never runs for real (a bare "herd CMD" might). */
static int asked_options(const char *cmd) {
  char *argv[] = {"herd", (char *)cmd, "--help", NULL};
  const char *env[] = {"HERD_COMPLETE=options", NULL};
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.timeout_ms = 5000;
  o.spawn.env = env;
  o.spawn.env_mode = HERD_ENV_ADD;
  herd_exec_result_t r;
  int err = herd_exec_file("/proc/self/exe", argv, &o, &r);
  if (err < 0) {
    fprintf(stderr, "%s: /proc/self/exe: %s\n", prog_name, herd_strerror(err));
    return 1;
  }
  int rc = r.exit_code == 0 ? 0 : 1;
  const char *out = r.out ? r.out : "";
  if (!strncmp(out, "--", 2))
    fputs(out, stdout); /* cli_getopt's list */
  else
    help_options(out);
  herd_exec_result_free(&r);
  return rc;
}

int complete_main(int argc, char **argv, const char *const *cmds, size_t ncmds) {
  if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    fputs(usage_completion, stdout);
    return 0;
  }
  const char *what = argc >= 2 ? argv[1] : "";
  if (argc == 2 && !strcmp(what, "bash"))
    fputs(bash_script, stdout);
  else if (argc == 2 && !strcmp(what, "zsh"))
    fputs(zsh_script, stdout);
  else if (argc == 2 && !strcmp(what, "fish"))
    fputs(fish_script, stdout);
  else if (argc == 2 && !strcmp(what, "commands"))
    for (size_t i = 0; i < ncmds; i++)
      printf("%s\n", cmds[i]);
  else if (argc == 3 && !strcmp(what, "options")) {
    const char *cmd = argv[2];
    size_t i = 0;
    while (i < ncmds && strcmp(cmds[i], cmd))
      i++;
    if (i == ncmds) {
      cli_unknown(NULL, "command", cmd, "", cli_nearest(cmd, cmds, ncmds));
      return 2;
    }
    if (!strcmp(cmd, "run") || !strcmp(cmd, "start"))
      table_options();
    else if (strcmp(cmd, "help") && strcmp(cmd, "completion"))
      return asked_options(cmd);
    else
      printf("--help\n");
  } else {
    usage_error("completion", "give bash, zsh or fish");
    return 2;
  }
  return 0;
}
