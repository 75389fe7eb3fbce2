/*
 * text.c - cli_printable: what a worker says, made safe for herd's own
 * lines. (UTF-8 and hex digits are libherd's, src/lib/utf8.h.) And
 * usage_error, the commands' one way to say a usage error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "cli.h"

size_t cli_printable(char *dst, size_t cap, const char *src, size_t len) {
  size_t o = 0;
  for (size_t i = 0; i < len && cap; i++) {
    unsigned char c = (unsigned char)src[i];
    /* C0 controls, DEL, and C1 controls (U+0080..U+009F, in UTF-8
     * C2 80..C2 9F): what a terminal would act on, shown instead */
    int c1 = c == 0xc2 && i + 1 < len && (unsigned char)src[i + 1] >= 0x80 &&
             (unsigned char)src[i + 1] <= 0x9f;
    if (c < 0x20 || c == 0x7f || c1) {
      unsigned char v = c1 ? (unsigned char)src[++i] : c;
      if (o + 4 >= cap)
        break;
      dst[o++] = '\\';
      dst[o++] = 'x';
      dst[o++] = herd__hexdigits[v >> 4];
      dst[o++] = herd__hexdigits[v & 15];
      continue;
    }
    if (o + 1 >= cap)
      break;
    dst[o++] = (char)c;
  }
  if (cap)
    dst[o < cap ? o : cap - 1] = '\0';
  return o;
}

/* (the test binary and the fuzz replays link every part but main.c) */
void usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog_name);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'herd %s --help'.\n", cmd);
}

int cli_slot_arg(const char *arg, long *slot) {
  char *end;
  errno = 0;
  long v = strtol(arg, &end, 10);
  if (errno || end == arg || *end || v < 0 || v >= HERD_MAX_WORKERS) {
    fprintf(stderr, "%s: --slot: '%s' is not a slot (0..%d)\n", prog_name, arg,
            HERD_MAX_WORKERS - 1);
    return -1;
  }
  *slot = v;
  return 0;
}
