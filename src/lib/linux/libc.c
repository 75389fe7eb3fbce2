/* libc.c - what glibc and musl do differently, chosen here at build time
 * (whole functions; no #ifdef inside one). musl defines no macro of its
 * own: "not glibc" is musl, the only other libc herd builds with (make
 * static). */
#include <string.h>

#include "os.h"

#ifdef __GLIBC__
const char *herd__os_errtext(int e) {
  /* thread-safe, never formats into a buffer, never translated */
  return strerrordesc_np(e);
}
#else
const char *herd__os_errtext(int e) {
  /* musl's strerror is a static table: thread-safe, and never NULL
   * ("No error information" for an unknown e) */
  return strerror(e);
}
#endif
