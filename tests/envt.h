/*
 * envt.h - what env_test.c and env_live_test.c share: files in the
 * test's HERD_HOME, the herd binary's absolute path, a shell command's
 * output.
 */
#ifndef HERD_TEST_ENVT_H
#define HERD_TEST_ENVT_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

const char *env_home(void);
/* HERD_HOME/name with text in it: its path (one of 8 static buffers). */
const char *env_write(const char *name, const char *text);
const char *env_herd(void);
/* sh_out of the formatted command line. */
int env_sh(char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* herd status NAME --json: the master's pid (if master) and up to max
 * workers' pids, sorted; how many. */
int env_status_pids(const char *name, pid_t *master, pid_t *pids, int max);

#endif
