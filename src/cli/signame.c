/*
 * signame.c - the signals' short names (TERM for SIGTERM), herd's own
 * table: glibc's sigabbrev_np is not in musl, and the static build
 * (make static) must name a signal as the glibc build does. The names
 * and their order are glibc's for Linux (29 is POLL, its first name for
 * SIGIO); the numbers come from <signal.h>, so the table follows the
 * architecture.
 */
#include <signal.h>
#include <stddef.h>

#include "cli.h"

/* chars, not pointers: nothing to relocate (see src/lib/errtext.c) */
static const char names[][8] = {
    [SIGHUP] = "HUP",       [SIGINT] = "INT",       [SIGQUIT] = "QUIT",
    [SIGILL] = "ILL",       [SIGTRAP] = "TRAP",     [SIGABRT] = "ABRT",
    [SIGBUS] = "BUS",       [SIGFPE] = "FPE",       [SIGKILL] = "KILL",
    [SIGUSR1] = "USR1",     [SIGSEGV] = "SEGV",     [SIGUSR2] = "USR2",
    [SIGPIPE] = "PIPE",     [SIGALRM] = "ALRM",     [SIGTERM] = "TERM",
    [SIGSTKFLT] = "STKFLT", [SIGCHLD] = "CHLD",     [SIGCONT] = "CONT",
    [SIGSTOP] = "STOP",     [SIGTSTP] = "TSTP",     [SIGTTIN] = "TTIN",
    [SIGTTOU] = "TTOU",     [SIGURG] = "URG",       [SIGXCPU] = "XCPU",
    [SIGXFSZ] = "XFSZ",     [SIGVTALRM] = "VTALRM", [SIGPROF] = "PROF",
    [SIGWINCH] = "WINCH",   [SIGPOLL] = "POLL",     [SIGPWR] = "PWR",
    [SIGSYS] = "SYS",
};

const char *sig_abbrev(int sig) {
  if (sig <= 0 || (size_t)sig >= sizeof names / sizeof names[0])
    return NULL;
  return names[sig][0] ? names[sig] : NULL;
}
