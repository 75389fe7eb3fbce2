/*
 * utf8.h - the project's one UTF-8 decoder and encoder and its hex
 * digits (utf8.c). The library's internals, and the program's too: herd
 * compiles utf8.c into itself when it is linked against libherd.so,
 * which does not export them (Makefile, HERD_SHARED).
 */
#ifndef HERD_UTF8_H
#define HERD_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* One code point of s[0..n) (n >= 1), UTF-8 with surrogate code points
 * allowed if wtf8 (else they are faults, as V8's UTF-8 reader): its byte
 * count, with *cp; a fault is *cp = HERD__UTF8_FAULT for its maximal
 * subpart (the Encoding Standard's rule: each is one U+FFFD). A fault is
 * not U+FFFD: "\xf1\xa9\x9c" is a 3-byte fault, EF BF BD the character. */
#define HERD__UTF8_FAULT 0x110000u
size_t herd__utf8_next(const uint8_t *s, size_t n, int wtf8, uint32_t *cp);
/* Write cp as UTF-8 (surrogates as 3 bytes) to out: the byte count. */
size_t herd__utf8_put(uint8_t *out, uint32_t cp);
/* A hex digit's value (either case), or -1; the digits, lower
 * case. */
int herd__hexval(char c);
extern const char herd__hexdigits[17];

#endif
