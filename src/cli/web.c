/*
 * web.c - the --metrics address's read-only web page: GET / (index.html,
 * which loads herd.css and herd.js) and GET /status.json, the status
 * reply of `herd status --json` (status.c builds it), which the page
 * fetches every 1.5 s to fill its table and draw its charts. The files
 * live in src/cli/web/ and are compiled in (embed.sh makes them C arrays
 * at build time): the page needs nothing from elsewhere, and the master
 * keeps nothing for it (the history is the browser's). See
 * docs/metrics.md.
 */
#include <string.h>

#include "master.h"
#include "webfiles.h"

static const struct webfile {
  const char *name;
  const unsigned char *data;
  size_t len;
} files[] = {WEB_FILES};

static const char *type_of(const char *name) {
  const char *dot = strrchr(name, '.');
  if (dot && !strcmp(dot, ".html"))
    return "text/html; charset=utf-8";
  if (dot && !strcmp(dot, ".css"))
    return "text/css; charset=utf-8";
  return "text/javascript; charset=utf-8";
}

int web_route(struct master *m, const char *path, size_t plen, struct jw *body,
              const char **type) {
  static const char status[] = "/status.json";
  if (plen == sizeof status - 1 && !memcmp(path, status, plen)) {
    status_json(m, body);
    jw_raw(body, "\n", 1);
    *type = "application/json; charset=utf-8";
    return 1;
  }
  if (plen == 1 && path[0] == '/') {
    path = "/index.html";
    plen = strlen(path);
  }
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    size_t n = strlen(files[i].name);
    if (plen == n + 1 && path[0] == '/' && !memcmp(path + 1, files[i].name, n)) {
      jw_raw(body, (const char *)files[i].data, files[i].len);
      *type = type_of(files[i].name);
      return 1;
    }
  }
  return 0;
}

void web_headers(struct jw *w) {
  /* The page's scripts and styles are files of its own ('self'), not
   * inline, so the policy needs no 'unsafe-inline', hash or nonce; it
   * fetches from its own origin only (connect-src), loads nothing else
   * (default-src 'none') and may not be framed. The other answers (text)
   * get the same headers: harmless there, and one set to check. */
  static const char h[] =
      "Cache-Control: no-store\r\n"
      "X-Content-Type-Options: nosniff\r\n"
      "Content-Security-Policy: default-src 'none'; script-src 'self'; "
      "style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; "
      "form-action 'none'; frame-ancestors 'none'\r\n"
      "Referrer-Policy: no-referrer\r\n";
  jw_raw(w, h, sizeof h - 1);
}
