/*
 * addr.c - fuzz herd_addr_parse (--listen, --metrics, a config's listen):
 * any bytes give 0 or a negative errno, never a crash or a read past the
 * input; an accepted address has a family, a length that fits its
 * sockaddr and a printable, NUL-terminated text; and parsing that text
 * again gives the same address (the text is what status shows and what
 * a config file written from it would say).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "herd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  herd_addr_t a;
  int r = herd_addr_parse(s, &a);
  if (r == 0) {
    if (a.family != AF_INET && a.family != AF_INET6 && a.family != AF_UNIX)
      abort();
    if (a.len == 0 || a.len > sizeof a.ss)
      abort();
    if (!memchr(a.text, '\0', sizeof a.text))
      abort();
    herd_addr_t b;
    /* the text of a unix: address drops ",mode=": compare the rest */
    if (herd_addr_parse(a.text, &b) != 0 || b.family != a.family ||
        b.len != a.len || memcmp(&b.ss, &a.ss, a.len) != 0)
      abort();
  } else if (r >= 0) {
    abort();
  }
  free(s);
  return 0;
}
