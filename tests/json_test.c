/* json_test.c - the JSON scanner behind the channel: validation around
 * the 8-bytes-at-a-time string scan (a special byte at any offset is
 * seen), and members and strings read as JSON.parse reads them. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "refutf8.h"
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

/* herd__json_member as JSON.parse reads an object: the last of duplicate
 * keys, keys compared once their escapes are decoded, and the whole
 * object checked (a match before a syntax error is no match). */
TEST(json_member_last_key_wins_escapes_decoded) {
  static const struct {
    const char *text, *key, *want; /* want NULL: absent (0) */
    int r;
  } cases[] = {
      {"{\"msg\":1,\"msg\":2}", "msg", "2", 1},
      {"{\"msg\":1,\"x\":{\"msg\":3},\"msg\" : [2] }", "msg", "[2]", 1},
      {"{\"\\u006dsg\":1}", "msg", "1", 1},
      {"{\"m\\u0073g\":1,\"msg\":2,\"\\u006D\\u0073\\u0067\":3}", "msg", "3", 1},
      {"{\"ms\\/g\":1}", "ms/g", "1", 1},
      {"{\"msg\\u0000\":1}", "msg", NULL, 0},
      {"{\"\\u006dsgx\":1}", "msg", NULL, 0},
      {"{\"type\":\"a\",\"msg\":1}", "type", "\"a\"", 1},
      {"{\"x\":{\"msg\":1}}", "msg", NULL, 0},
      {"[{\"msg\":1}]", "msg", NULL, 0},
      {"{\"msg\":1,}", "msg", NULL, -EINVAL},
      {"{\"msg\":1,\"x\":}", "msg", NULL, -EINVAL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *v = NULL;
    size_t vlen = 0;
    int r = herd__json_member(cases[i].text, strlen(cases[i].text),
                              cases[i].key, &v, &vlen);
    CHECK_MSG(r == cases[i].r, "%s [%s]: %d, expected %d", cases[i].text,
              cases[i].key, r, cases[i].r);
    if (cases[i].want)
      CHECK_MSG(vlen == strlen(cases[i].want) &&
                    memcmp(v, cases[i].want, vlen) == 0,
                "%s [%s]: %.*s, expected %s", cases[i].text, cases[i].key,
                (int)vlen, v, cases[i].want);
  }
}

/* The cmd that validate_cmd finds: top level, last one, key decoded. */
TEST(json_validate_cmd_last_decoded_top_level) {
  static const struct {
    const char *text, *want; /* want NULL: none */
  } cases[] = {
      {"{\"cmd\":\"a\",\"cmd\":\"b\"}", "\"b\""},
      {"{\"\\u0063md\":1}", "1"},
      {"{\"cmd\":1,\"c\\u006dd\":\"NODE\\u005fX\"}", "\"NODE\\u005fX\""},
      {"{\"x\":{\"cmd\":1}}", NULL},
      {"[{\"cmd\":1}]", NULL},
      {"{\"cmd \":1}", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *v = NULL;
    size_t vlen = 0;
    CHECK_OK(herd__json_validate_cmd(cases[i].text, strlen(cases[i].text), &v,
                                     &vlen));
    if (!cases[i].want)
      CHECK_MSG(v == NULL, "%s: found %.*s", cases[i].text, (int)vlen, v);
    else
      CHECK_MSG(v && vlen == strlen(cases[i].want) &&
                    memcmp(v, cases[i].want, vlen) == 0,
                "%s: %.*s, expected %s", cases[i].text, v ? (int)vlen : 6,
                v ? v : "(none)", cases[i].want);
  }
}

/* herd__json_str decodes as JSON.parse does, into WTF-8 as herd_val_t
 * holds strings (a lone surrogate escape kept as its 3 bytes; bytes that
 * are not UTF-8 U+FFFD, as Node decodes them), and says the whole length
 * when the buffer is short. */
TEST(json_str_decodes_escapes) {
  static const struct {
    const char *tok, *want;
    ssize_t len;
  } cases[] = {
      {"\"NODE\\u005fHANDLE\"", "NODE_HANDLE", 11},
      {"\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "a\"\\/\b\f\n\r\t", 9},
      {"\"\\u00e9\\u20AC\"", "\xc3\xa9\xe2\x82\xac", 5},
      {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4},
      {"\"\\ud800x\"", "\xed\xa0\x80x", 4},
      {"\"\\udc00\\ud800\"", "\xed\xb0\x80\xed\xa0\x80", 6},
      {"\"\\u0000\"", "", 1},
      {"\"\xff\xc3\"", "\xef\xbf\xbd\xef\xbf\xbd", 6},
      {"\"\xed\xa0\x80\"", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9},
      {"\"\xf0\x9f\x98\"", "\xef\xbf\xbd", 3},
      {"\"\"", "", 0},
      {"\"a\" ", NULL, -EINVAL},
      {"1", NULL, -EINVAL},
      {"\"\\x\"", NULL, -EINVAL},
      {"\"a", NULL, -EINVAL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[32];
    memset(out, 'z', sizeof out);
    ssize_t n = herd__json_str(cases[i].tok, strlen(cases[i].tok), out, sizeof out);
    CHECK_MSG(n == cases[i].len, "%s: %zd, expected %zd", cases[i].tok, n,
              cases[i].len);
    if (n > 0)
      CHECK_MSG(memcmp(out, cases[i].want, (size_t)n) == 0, "%s: %.*s",
                cases[i].tok, (int)n, out);
  }
  /* cut short: only cap bytes written, the full length returned */
  char small[4] = "zzzz";
  CHECK_EQ(herd__json_str("\"NODE\\u005fX\"", 13, small, 3), 6);
  CHECK(memcmp(small, "NODz", 4) == 0);
}

/* herd__json_member on an object followed by more than whitespace: not
 * one JSON text, so malformed - it found the member in it (fuzz/json.c:
 * a member is found only in a valid object). */
TEST(json_member_object_with_junk_after_is_malformed) {
  static const char *const texts[] = {"{\"msg\":1} x", "{\"msg\":1}}",
                                      "{} x", "{\"msg\":1} {\"msg\":2}"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    const char *v = NULL;
    size_t vlen = 0;
    int r = herd__json_member(texts[i], strlen(texts[i]), "msg", &v, &vlen);
    CHECK_MSG(r == -EINVAL, "%s: %d", texts[i], r);
  }
  const char *v;
  size_t vlen;
  CHECK_EQ(herd__json_member("{\"msg\":1} \r\n\t", 13, "msg", &v, &vlen), 1);
}

/* The one UTF-8 decoder (src/lib/utf8.c, which the JSON reader, V8's
 * strings and herd's config parser all use) against tests/refutf8.h,
 * written the other way round: every sequence of 1 to 3 bytes, and 4-byte
 * ones with every lead byte and second byte (the only ones that decide a
 * 4-byte sequence's fate before its third). Same length for a character,
 * same maximal subpart for a fault; and a character re-encodes to its
 * bytes. */
TEST(utf8_decoder_agrees_with_a_second_one) {
  unsigned char s[4];
  long checked = 0;
  for (uint32_t x = 0; x < 1u << 24; x++) {
    size_t n = x < 1u << 8 ? 1 : x < 1u << 16 ? 2 : 3;
    for (size_t i = 0; i < n; i++)
      s[i] = (unsigned char)(x >> (8 * (n - 1 - i)));
    uint32_t cp;
    size_t got = herd__utf8_next(s, n, 0, &cp), bad = 0;
    size_t want = ref_utf8_len(s, n, &bad);
    if (want) {
      CHECK_MSG(cp != HERD__UTF8_FAULT && got == want,
                "%02x %02x %02x (n %zu): want a %zu-byte character, got %zu",
                s[0], n > 1 ? s[1] : 0, n > 2 ? s[2] : 0, n, want, got);
      uint8_t back[4];
      CHECK_EQ(herd__utf8_put(back, cp), want);
      CHECK(memcmp(back, s, want) == 0);
    } else {
      CHECK_MSG(cp == HERD__UTF8_FAULT && got == bad,
                "%02x %02x %02x (n %zu): want a %zu-byte fault, got %zu%s",
                s[0], n > 1 ? s[1] : 0, n > 2 ? s[2] : 0, n, bad, got,
                cp == HERD__UTF8_FAULT ? "" : " (a character)");
    }
    checked++;
  }
  for (uint32_t x = 0; x < 1u << 16; x++)
    for (uint32_t tail = 0; tail < 4; tail++) {
      static const unsigned char third[4] = {0x41, 0x80, 0xbf, 0xc0};
      s[0] = (unsigned char)(x >> 8);
      s[1] = (unsigned char)x;
      s[2] = third[tail];
      s[3] = third[(tail + 1) % 4];
      uint32_t cp;
      size_t got = herd__utf8_next(s, 4, 0, &cp), bad = 0;
      size_t want = ref_utf8_len(s, 4, &bad);
      CHECK_MSG(want ? cp != HERD__UTF8_FAULT && got == want
                     : cp == HERD__UTF8_FAULT && got == bad,
                "%02x %02x %02x %02x: want %zu (fault %zu), got %zu", s[0], s[1],
                s[2], s[3], want, bad, got);
      checked++;
    }
  CHECK(checked > 16000000);
}
