/*
 * ctlreq.c - fuzz the control request's decoding (ctl_decode,
 * src/cli/ctlreq.c): any bytes as the line a client sent. Checked: no
 * crash, no undefined behaviour (a number cast out of range), no leak;
 * err and arg_err NUL-terminated inside their arrays, one line each of
 * text a terminal does not act on (no C0, DEL or C1 control: they go
 * back to the client, which may print them); and what was decided,
 * against the tree herd_json_parse reads:
 *  - 0 only for a JSON object whose last "cmd" member is a string
 *    without NUL naming a command, cmd and name then that command, err
 *    empty; -1 otherwise, with cmd -1 and err set;
 *  - scale: "workers" (a whole number in 1..HERD_MAX_WORKERS) wins over
 *    "add" (a whole number in -HERD_MAX_WORKERS..HERD_MAX_WORKERS);
 *    arg_err is empty exactly when the one that counts is such a number;
 *  - stop: graceful is 1 exactly when "graceful" is true;
 *  - send: arg_err is empty exactly when "msg" is there and "slot" is
 *    absent or a whole number in 0..HERD_MAX_WORKERS-1; slot is then
 *    that number, or -1 without "slot"; json and len are the line;
 *  - describe: show_env is 1 exactly when "show_env" is true, no arg_err;
 *  - update: arg_err is empty exactly when "app" is an object; reload:
 *    exactly when "env" and "update_env" are absent or arrays of
 *    strings with an '=' after their first character and no NUL; json
 *    and len are then the line;
 *  - signal: arg_err is empty exactly when "sig" is a whole number in
 *    1..NSIG-1 and "slot" is absent or a whole number in
 *    0..HERD_MAX_WORKERS-1; sig and slot are then those (slot -1
 *    without "slot"), sig 0 otherwise;
 *  - upgrade: arg_err is empty exactly when "binary" is absent or a
 *    string without NUL that begins with '/'; json and len are the line;
 *  - other commands (ping, status, restart, reopen, config, flush): no
 *    argument and no arg_err, whatever other members they have.
 */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *s, size_t cap) {
  size_t n = strnlen(s, cap);
  if (n == cap)
    abort();
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i], d = (unsigned char)s[i + 1];
    if (c < 0x20 || c == 0x7f || (c == 0xc2 && d >= 0x80 && d <= 0x9f))
      abort(); /* C0, DEL, C1 (U+0080..U+009F) */
  }
}

/* a whole number in [lo, hi], from the double itself (the cast is
 * defined once d is known to be in that small range; no floor: the
 * replay programs are linked without libm) */
static int whole_in(const herd_val_t *v, double lo, double hi) {
  double d = jnum(v, NAN);
  return d >= lo && d <= hi && (double)(long long)d == d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ctl_req rq;
  memset(&rq, 0xa5, sizeof rq); /* ctl_decode must set every field */
  int r = ctl_decode((const char *)data, size, &rq);
  check_line(rq.err, sizeof rq.err);
  check_line(rq.arg_err, sizeof rq.arg_err);
  if (strnlen(rq.name, sizeof rq.name) == sizeof rq.name)
    abort();

  herd_val_t *v = jparse((const char *)data, size);
  const herd_val_t *cv = jget(v, "cmd");
  const char *cmd = jstr(cv, NULL);
  int want = -1;
  if (cmd && strlen(cmd) == jstrlen(cv))
    for (int i = 0; i < CTL_NCMDS; i++)
      if (!strcmp(cmd, ctl_cmd_name(i)))
        want = i;
  if (r != 0 && r != -1)
    abort();
  if (r == -1) {
    if (want >= 0 || rq.cmd != -1 || !rq.err[0])
      abort();
    herd_val_free(v);
    return 0;
  }
  if (want < 0 || rq.cmd != want || rq.err[0] || strcmp(rq.name, ctl_cmd_name(want)))
    abort();
  const herd_val_t *wv = jget(v, "workers"), *dv = jget(v, "add");
  if (want == CTL_SCALE) {
    int ok;
    if ((wv && !jis_num(wv)) || (dv && !jis_num(dv)) || (!wv && !dv))
      ok = 0;
    else if (wv)
      ok = whole_in(wv, 1, HERD_MAX_WORKERS);
    else
      ok = whole_in(dv, -HERD_MAX_WORKERS, HERD_MAX_WORKERS);
    if (ok == !!rq.arg_err[0] || rq.has_workers != !!wv)
      abort();
    if (ok && wv && (rq.workers < 1 || rq.workers > HERD_MAX_WORKERS ||
                     (double)rq.workers != jnum(wv, 0)))
      abort();
    if (ok && !wv && (rq.add < -HERD_MAX_WORKERS || rq.add > HERD_MAX_WORKERS ||
                      (double)rq.add != jnum(dv, 0)))
      abort();
  } else if (want == CTL_SEND) {
    const herd_val_t *sv = jget(v, "slot");
    int ok = jget(v, "msg") && (!sv || whole_in(sv, 0, HERD_MAX_WORKERS - 1));
    if (ok == !!rq.arg_err[0] || rq.has_workers || rq.workers || rq.add)
      abort();
    if (ok && rq.slot != (sv ? (long long)jnum(sv, 0) : -1))
      abort();
    if (rq.json != (const char *)data || rq.len != size)
      abort();
  } else if (want == CTL_UPDATE || want == CTL_RELOAD) {
    int ok = want == CTL_RELOAD || jis_obj(jget(v, "app"));
    static const char *const keys[] = {"env", "update_env"};
    for (int k = 0; k < 2 && want == CTL_RELOAD; k++) {
      const herd_val_t *ev = jget(v, keys[k]);
      if (ev && ev->type != HERD_VAL_ARRAY)
        ok = 0;
      for (size_t i = 0; ev && ok && i < jlen(ev); i++) {
        const char *t = jstr(jat(ev, i), NULL);
        ok = t && strlen(t) == jstrlen(jat(ev, i)) && t[0] != '=' && strchr(t, '=');
      }
    }
    if (ok == !!rq.arg_err[0] || rq.has_workers || rq.workers || rq.add || rq.slot)
      abort();
    if (rq.json != (const char *)data || rq.len != size)
      abort();
  } else if (want == CTL_SIGNAL) {
    const herd_val_t *sv = jget(v, "slot"), *gv = jget(v, "sig");
    int ok = whole_in(gv, 1, NSIG - 1) && (!sv || whole_in(sv, 0, HERD_MAX_WORKERS - 1));
    if (ok == !!rq.arg_err[0] || rq.has_workers || rq.workers || rq.add || rq.json ||
        rq.len)
      abort();
    if (ok && (rq.sig != (int)jnum(gv, 0) || rq.slot != (sv ? (long long)jnum(sv, 0) : -1)))
      abort();
    if (!ok && rq.sig)
      abort();
  } else if (want == CTL_UPGRADE) {
    const herd_val_t *bv = jget(v, "binary");
    const char *b = jstr(bv, NULL);
    int ok = !bv || (b && strlen(b) == jstrlen(bv) && b[0] == '/');
    if (ok == !!rq.arg_err[0] || rq.has_workers || rq.workers || rq.add || rq.slot)
      abort();
    if (rq.json != (const char *)data || rq.len != size)
      abort();
  } else {
    if (rq.arg_err[0] || rq.has_workers || rq.workers || rq.add || rq.slot ||
        rq.json || rq.len)
      abort();
  }
  if (want != CTL_SIGNAL && rq.sig)
    abort();
  const herd_val_t *ev = jget(v, "show_env");
  if (rq.show_env != (want == CTL_DESCRIBE && ev && ev->type == HERD_VAL_BOOL && ev->boolean))
    abort();
  const herd_val_t *gv = jget(v, "graceful");
  if (rq.graceful != (want == CTL_STOP && (gv && gv->type == HERD_VAL_BOOL) && jbool(gv, 0)))
    abort();
  herd_val_free(v);
  return 0;
}
