/*
 * jw.h - a growing text buffer for what the program writes: control
 * replies and requests, the start report (JSON, its strings quoted by
 * libherd's herd_json_quote) and the metrics server's HTTP text.
 *   struct jw w; jw_init(&w);
 *   jw_raw(&w, "{\"cmd\":", 7); jw_str(&w, name, strlen(name)); jw_raw(&w, "}", 1);
 *   if (!w.err) send(w.buf, w.len); jw_free(&w);
 * On an allocation failure err becomes 1 and every later call does
 * nothing, so a sequence of writes needs one check at the end; buf then
 * holds what was written before the failure. buf, when not NULL, is
 * always NUL-terminated (buf[len] == '\0').
 *
 * Not thread-safe per builder; distinct builders may be used from
 * distinct threads. Nothing here is async-signal-safe.
 */
#ifndef HERD_CLI_JW_H
#define HERD_CLI_JW_H

#include <stddef.h>

struct jw {
  char *buf;
  size_t len, cap;
  int err;
};

/* Start empty (buf NULL, len 0, err 0); no allocation. */
void jw_init(struct jw *w);

/* Free the buffer and start empty again. */
void jw_free(struct jw *w);

/* Append n bytes as they are (the caller's JSON syntax). */
void jw_raw(struct jw *w, const char *s, size_t n);

/* Append printf-formatted text, as it is (numbers, punctuation; for
 * strings use jw_str). An encoding error in vsnprintf sets err too. */
void jw_printf(struct jw *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append [s, s+n) as a quoted JSON string, as herd_json_quote writes it
 * (JSON.stringify of the string Node makes of the bytes: each ill-formed
 * UTF-8 sequence is U+FFFD), so the output is valid JSON and valid
 * UTF-8 whatever the bytes. */
void jw_str(struct jw *w, const char *s, size_t n);

#endif
