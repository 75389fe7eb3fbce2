/*
 * ctlreq.c - a control request, decoded (docs/control.md): the one place
 * that reads what a client sent, with each command's name and whether it
 * steers (refused while stopping). The control server (ctlsrv.c: one
 * handler per command) acts on the result; the fuzzer (fuzz/ctlreq.c)
 * feeds it anything.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "jsonr.h"

static const struct {
  const char *name;
  int steer; /* refused while stopping */
} cmds[] = {
    [CTL_PING] = {"ping", 0},     [CTL_STATUS] = {"status", 0},
    [CTL_RELOAD] = {"reload", 1}, [CTL_RESTART] = {"restart", 1},
    [CTL_SCALE] = {"scale", 1},   [CTL_STOP] = {"stop", 0},
    [CTL_REOPEN] = {"reopen", 0},
};

const char *ctl_cmd_name(int cmd) {
  return cmd >= 0 && cmd < CTL_NCMDS ? cmds[cmd].name : "?";
}

int ctl_cmd_steers(int cmd) {
  return cmd >= 0 && cmd < CTL_NCMDS && cmds[cmd].steer;
}

int ctl_decode(const char *json, size_t len, struct ctl_req *rq) {
  memset(rq, 0, sizeof *rq);
  rq->cmd = -1;
  jv *req = jv_parse(json, len);
  if (!req || jv_type(req) != JV_OBJ) {
    /* the channel took it for JSON: what the reader refuses beyond that
     * is a number out of range or deep nesting */
    snprintf(rq->err, sizeof rq->err, "%s",
             req ? "malformed request: expected a JSON object with \"cmd\""
                 : "malformed request: a number out of range, or nesting deeper "
                   "than 64");
    jv_free(req);
    return -1;
  }
  const jv *cv = jv_get(req, "cmd");
  const char *cmd = jv_str(cv, NULL);
  if (!cmd || strlen(cmd) != jv_strlen(cv)) {
    snprintf(rq->err, sizeof rq->err, "malformed request: no \"cmd\" string%s",
             cmd ? " (it holds a NUL character)" : "");
    jv_free(req);
    return -1;
  }
  for (int i = 0; i < CTL_NCMDS; i++)
    if (!strcmp(cmd, cmds[i].name))
      rq->cmd = i;
  if (rq->cmd < 0) {
    /* the name as the client wrote it, its control characters shown as
     * \xNN: err is one line ({"cmd":"a\nb"} put a newline in it) */
    char shown[65];
    cli_printable(shown, sizeof shown, cmd, jv_strlen(cv));
    snprintf(rq->err, sizeof rq->err, "unknown command '%s' (ping, status, reload, "
             "restart, scale, stop, reopen)", shown);
    snprintf(rq->name, sizeof rq->name, "%.31s", cmd);
    jv_free(req);
    return -1;
  }
  snprintf(rq->name, sizeof rq->name, "%s", cmds[rq->cmd].name);
  if (rq->cmd == CTL_SCALE) {
    /* whole numbers, range-checked before any cast ({"workers":93e18}
     * was a float-to-int cast out of range: undefined behaviour) */
    const jv *wv = jv_get(req, "workers"), *dv = jv_get(req, "add");
    if ((wv && jv_type(wv) != JV_NUM) || (dv && jv_type(dv) != JV_NUM) || (!wv && !dv))
      snprintf(rq->arg_err, sizeof rq->arg_err,
               "scale: give \"workers\": N or \"add\": +-N");
    else if (wv && jv_int(wv, 1, HERD_MAX_WORKERS, &rq->workers) != 1)
      snprintf(rq->arg_err, sizeof rq->arg_err,
               "scale: %.17g is not a number of workers in 1..%d", jv_num(wv, 0),
               HERD_MAX_WORKERS);
    else if (!wv && jv_int(dv, -HERD_MAX_WORKERS, HERD_MAX_WORKERS, &rq->add) != 1)
      snprintf(rq->arg_err, sizeof rq->arg_err,
               "scale: add %.17g is not a whole number in -%d..%d", jv_num(dv, 0),
               HERD_MAX_WORKERS, HERD_MAX_WORKERS);
    rq->has_workers = wv != NULL;
  } else if (rq->cmd == CTL_STOP) {
    rq->graceful = jv_bool(jv_get(req, "graceful"), 0);
  }
  jv_free(req);
  return 0;
}
