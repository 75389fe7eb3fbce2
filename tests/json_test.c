/* json_test.c - the JSON validation behind herd_chan_send, around the
 * 8-bytes-at-a-time string scan: a special byte at any offset is seen. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

TEST(json_special_bytes_found_at_every_offset) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  herd_chan_t *ch;
  herd_chan_opts_t o = {.max_queued = 64u << 20};
  CHECK_OK(herd_chan_open(&ch, sv[0], &o));
  char buf[64];
  for (int len = 1; len < 40; len++) {
    for (int at = 0; at < len; at++) {
      /* a raw control character: never valid inside a string */
      memset(buf, 'a', sizeof buf);
      buf[0] = '"';
      buf[1 + at] = '\t';
      buf[1 + len] = '"';
      CHECK_MSG(herd_chan_send(ch, buf, (size_t)len + 2, -1) == -EINVAL,
                "tab at %d of %d accepted", at, len);
      /* an escaped quote there: valid */
      memset(buf, 'a', sizeof buf);
      buf[0] = '"';
      buf[1 + at] = '\\';
      buf[2 + at] = '"';
      buf[2 + len] = '"';
      CHECK_MSG(herd_chan_send(ch, buf, (size_t)len + 3, -1) >= 0,
                "escaped quote at %d of %d refused", at, len);
      /* a quote there ends the string early: what follows is junk */
      memset(buf, 'a', sizeof buf);
      buf[0] = '"';
      buf[1 + at] = '"';
      buf[1 + len] = '"';
      int r = herd_chan_send(ch, buf, (size_t)len + 2, -1);
      CHECK_MSG(r == -EINVAL || at == len - 1, "quote at %d of %d: %d", at, len, r);
      /* bytes >= 0x80 (UTF-8) are plain */
      memset(buf, 'a', sizeof buf);
      buf[0] = '"';
      buf[1 + at] = (char)0xc3;
      buf[1 + len] = '"';
      CHECK_MSG(herd_chan_send(ch, buf, (size_t)len + 2, -1) >= 0,
                "byte 0xc3 at %d of %d refused", at, len);
    }
    (void)herd_chan_flush(ch);
    char sink[65536];
    while (recv(sv[1], sink, sizeof sink, MSG_DONTWAIT) > 0)
      ;
  }
  herd_chan_close(ch);
  close(sv[1]);
}
