/*
 * ctlreq.c - a control request, decoded (docs/control.md): the one place
 * that reads what a client sent, with each command's name and whether it
 * steers (refused while stopping). The control server (ctlsrv.c: one
 * handler per command) acts on the result; the fuzzer (fuzz/ctlreq.c)
 * feeds it anything.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "jval.h"
#include "jw.h"

static const struct {
  const char *name;
  int steer; /* refused while stopping */
} cmds[] = {
    [CTL_PING] = {"ping", 0},     [CTL_STATUS] = {"status", 0},
    [CTL_RELOAD] = {"reload", 1}, [CTL_RESTART] = {"restart", 1},
    [CTL_SCALE] = {"scale", 1},   [CTL_STOP] = {"stop", 0},
    [CTL_REOPEN] = {"reopen", 0}, [CTL_SEND] = {"send", 1},
    [CTL_CONFIG] = {"config", 0},
    [CTL_DESCRIBE] = {"describe", 0},
    [CTL_UPDATE] = {"update", 1},
    [CTL_SIGNAL] = {"signal", 0}, [CTL_FLUSH] = {"flush", 0},
    [CTL_UPGRADE] = {"upgrade", 1},
};

const char *ctl_cmd_name(int cmd) {
  return cmd >= 0 && cmd < CTL_NCMDS ? cmds[cmd].name : "?";
}

int ctl_cmd_steers(int cmd) {
  return cmd >= 0 && cmd < CTL_NCMDS && cmds[cmd].steer;
}

/* A number for a message: as %.17g, but JS's words for infinities
 * (JSON.parse reads 1e400 as Infinity). */
static const char *num_text(double x, char *buf, size_t n) {
  if (x - x != 0) /* (not NaN: JSON has none) */
    return x < 0 ? "-Infinity" : "Infinity";
  snprintf(buf, n, "%.17g", x);
  return buf;
}

/* update's "app" (an object: the master reads it), reload's "env" (an
 * array of "K=V") and "update_env" (an array of strings). */
static void env_args(const herd_val_t *req, struct ctl_req *rq) {
  const herd_val_t *app = jget(req, "app");
  if (rq->cmd == CTL_UPDATE && !jis_obj(app)) {
    snprintf(rq->arg_err, sizeof rq->arg_err, "update: give \"app\": the options");
    return;
  }
  static const char *const keys[] = {"env", "update_env"};
  for (int k = 0; k < 2 && rq->cmd == CTL_RELOAD; k++) {
    const herd_val_t *v = jget(req, keys[k]);
    if (!v)
      continue;
    int bad = v->type != HERD_VAL_ARRAY;
    for (size_t i = 0; !bad && i < jlen(v); i++) {
      const char *s = jstr(jat(v, i), NULL);
      bad = !s || strlen(s) != jstrlen(jat(v, i)) || !strchr(s, '=') || *s == '=';
    }
    if (bad) {
      snprintf(rq->arg_err, sizeof rq->arg_err, "reload: \"%s\" must be an array of "
               "\"K=V\" strings", keys[k]);
      return;
    }
  }
}

int ctl_decode(const char *json, size_t len, struct ctl_req *rq) {
  memset(rq, 0, sizeof *rq);
  rq->cmd = -1;
  herd_val_t *req = NULL;
  int rc = herd_json_parse(json, len, &req, NULL);
  if (rc < 0 || !jis_obj(req)) {
    /* the channel validated it with the same grammar and limit: only a
     * caller of its own (the fuzzer) gets the first two */
    snprintf(rq->err, sizeof rq->err, "%s",
             rc == HERD_EJSONDEPTH ? "malformed request: nesting deeper than "
                                     "HERD_JSON_MAX_DEPTH (512)"
             : rc == -ENOMEM ? "out of memory reading the request"
             : rc < 0        ? "malformed request: not JSON"
                             : "malformed request: expected a JSON object with \"cmd\"");
    herd_val_free(req);
    return -1;
  }
  const herd_val_t *cv = jget(req, "cmd");
  const char *cmd = jstr(cv, NULL);
  if (!cmd || strlen(cmd) != jstrlen(cv)) {
    snprintf(rq->err, sizeof rq->err, "malformed request: no \"cmd\" string%s",
             cmd ? " (it holds a NUL character)" : "");
    herd_val_free(req);
    return -1;
  }
  for (int i = 0; i < CTL_NCMDS; i++)
    if (!strcmp(cmd, cmds[i].name))
      rq->cmd = i;
  if (rq->cmd < 0) {
    /* the name as the client wrote it, its control characters shown as
     * \xNN: err is one line ({"cmd":"a\nb"} put a newline in it) */
    char shown[65];
    cli_printable(shown, sizeof shown, cmd, jstrlen(cv));
    /* the list from the table: a request added is named by itself */
    char known[CTL_NCMDS * 12] = "";
    size_t kn = 0;
    for (int i = 0; i < CTL_NCMDS && kn < sizeof known; i++)
      kn += (size_t)snprintf(known + kn, sizeof known - kn, "%s%s", i ? ", " : "",
                             cmds[i].name);
    snprintf(rq->err, sizeof rq->err, "unknown command '%s' (%s)", shown, known);
    snprintf(rq->name, sizeof rq->name, "%.31s", cmd);
    herd_val_free(req);
    return -1;
  }
  snprintf(rq->name, sizeof rq->name, "%s", cmds[rq->cmd].name);
  if (rq->cmd == CTL_SCALE) {
    /* whole numbers, range-checked before any cast ({"workers":93e18}
     * was a float-to-int cast out of range: undefined behaviour) */
    const herd_val_t *wv = jget(req, "workers"), *dv = jget(req, "add");
    char num[32];
    if ((wv && !jis_num(wv)) || (dv && !jis_num(dv)) || (!wv && !dv))
      snprintf(rq->arg_err, sizeof rq->arg_err,
               "scale: give \"workers\": N or \"add\": +-N");
    else if (wv && jint(wv, 1, HERD_MAX_WORKERS, &rq->workers) != 0)
      snprintf(rq->arg_err, sizeof rq->arg_err,
               "scale: %s is not a number of workers in 1..%d",
               num_text(jnum(wv, 0), num, sizeof num), HERD_MAX_WORKERS);
    else if (!wv && jint(dv, -HERD_MAX_WORKERS, HERD_MAX_WORKERS, &rq->add) != 0)
      snprintf(rq->arg_err, sizeof rq->arg_err,
               "scale: add %s is not a whole number in -%d..%d",
               num_text(jnum(dv, 0), num, sizeof num), HERD_MAX_WORKERS,
               HERD_MAX_WORKERS);
    rq->has_workers = wv != NULL;
  } else if (rq->cmd == CTL_STOP) {
    rq->graceful = jbool(jget(req, "graceful"), 0);
  } else if (rq->cmd == CTL_SEND) {
    const herd_val_t *sv = jget(req, "slot");
    rq->slot = -1;
    if (!jget(req, "msg"))
      snprintf(rq->arg_err, sizeof rq->arg_err, "send: give \"msg\": the message");
    else if (sv && jint(sv, 0, HERD_MAX_WORKERS - 1, &rq->slot) != 0)
      snprintf(rq->arg_err, sizeof rq->arg_err, "send: \"slot\" is not a slot (0..%d)",
               HERD_MAX_WORKERS - 1);
    rq->json = json;
    rq->len = len;
  } else if (rq->cmd == CTL_DESCRIBE) {
    rq->show_env = jbool(jget(req, "show_env"), 0);
  } else if (rq->cmd == CTL_UPDATE || rq->cmd == CTL_RELOAD) {
    env_args(req, rq);
    rq->json = json;
    rq->len = len;
  } else if (rq->cmd == CTL_SIGNAL) {
    const herd_val_t *sv = jget(req, "slot");
    long long sig = 0;
    rq->slot = -1;
    if (jint(jget(req, "sig"), 1, NSIG - 1, &sig) != 0)
      snprintf(rq->arg_err, sizeof rq->arg_err,
               "signal: give \"sig\": a signal number (1..%d)", NSIG - 1);
    else if (sv && jint(sv, 0, HERD_MAX_WORKERS - 1, &rq->slot) != 0)
      snprintf(rq->arg_err, sizeof rq->arg_err, "signal: \"slot\" is not a slot (0..%d)",
               HERD_MAX_WORKERS - 1);
    rq->sig = rq->arg_err[0] ? 0 : (int)sig;
  } else if (rq->cmd == CTL_UPGRADE) {
    const herd_val_t *bv = jget(req, "binary");
    const char *b = jstr(bv, NULL);
    if (bv && (!b || strlen(b) != jstrlen(bv) || b[0] != '/'))
      snprintf(rq->arg_err, sizeof rq->arg_err,
               "upgrade: \"binary\" must be an absolute path");
    rq->json = json;
    rq->len = len;
  }
  herd_val_free(req);
  return 0;
}
