/*
 * ctl.h - the control client's parts, shared by ctl.c (asking a master;
 * stop, reload, restart, scale) and ctlshow.c (status and list). Not for
 * the rest of the program.
 */
#ifndef HERD_CLI_CTL_H
#define HERD_CLI_CTL_H

#include <stdio.h>

#include "cli.h"
#include "jval.h"
#include "jw.h"

/* How long a reply may take (ctl.c): 5 s, or HERD_CTL_TIMEOUT; and the
 * same as text for messages ("5 s", "300 ms"). */
int ctl__reply_timeout_ms(void);
#define REPLY_TIMEOUT_MS ctl__reply_timeout_ms()
const char *ctl__timeout_text(void);

/* A reply's numbers as integers, each in its range: a double cast to
 * an integer type out of range is undefined behaviour (a pid of 1e10), so
 * such a number makes the reply a protocol error, and the first one is
 * remembered for the message. Absent numbers read as 0. */
struct rd {
  char bad[160];
};

static inline long long rd_int(struct rd *r, const herd_val_t *v, const char *what,
                               long long min, long long max) {
  long long x = 0;
  if (jint(v, min, max, &x) == -ERANGE && !r->bad[0])
    snprintf(r->bad, sizeof r->bad, "\"%s\" is %.17g, not a whole number in %lld..%lld",
             what, jnum(v, 0), min, max);
  return x;
}

static inline void bad_reply(const char *name, const struct rd *r) {
  fprintf(stderr, "%s: %s: not a herd reply: %s\n", prog_name, name, r->bad);
}

enum { ASK_STOP = 1 };

/* ctl.c: one request (req, a JSON object) to NAME's master, its reply in
 * *out (and its text in *raw if raw is not NULL); flags: ASK_STOP or 0.
 * 0, -1 or -2 as the definition says. failed_reply: 1 having said what
 * the master said if v is a refusal (ok false), else 0. */
int ctl__ask(const char *home, const char *name, const char *req, int flags,
             herd_val_t **out, char **raw, int quiet);
int ctl__failed_reply(const char *name, herd_val_t *v);
/* ctl.c: req to the app target (a name, or "all"), each reply said as
 * verb says ("stopped", "reloaded", "restarted", "scaled", "sent").
 * The exit status. */
int ctl__each_app(const char *home, const char *target, const char *req,
                  const char *verb);

/* ctlshow.c: "5m", "2h" (the unit that fits, cut down); "1.5M". */
void ctl__human_ms(char *buf, size_t n, uint64_t ms);
void ctl__human_bytes(char *buf, size_t n, double b);

/* ctlshow.c: herd status and herd list; the exit status. */
int ctl__cmd_status(int argc, char **argv);
int ctl__cmd_list(int argc, char **argv);

#endif
