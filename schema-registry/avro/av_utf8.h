/*
 * av_utf8: the UTF-8 rule of jansson 2.14, the library every JSON value of
 * the codec goes through.  Paths that skip jansson (the text transcoder
 * av_jtext, the projection reader av_proj) must accept and refuse exactly
 * the strings jansson does, or the fast path and the tree path would
 * disagree on what is valid input.
 *
 * Header-only: it runs on every byte of every string.
 */
#ifndef AV_UTF8_H
#define AV_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The UTF-8 sequence at p (lead byte >= 0x80): its length, or 0 when
 * jansson's utf8_check_first/utf8_check_full refuse it (continuation or
 * 0xc0/0xc1/0xf5+ lead, bad continuation, overlong, surrogate, beyond
 * U+10FFFF, cut by end). */
static inline size_t av_utf8_seq(const char *p, const char *end, uint32_t *cp)
{
    uint8_t c = (uint8_t)p[0];
    size_t n;
    uint32_t v;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        v = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        uint8_t u = (uint8_t)p[i];
        if ((u & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (u & 0x3f);
    }
    if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) || (n == 3 && v < 0x800) ||
        (n == 4 && v < 0x10000))
        return 0;
    *cp = v;
    return n;
}

/* True when jansson's json_stringn would take the n bytes at s (embedded
 * NUL bytes included, as json_stringn allows them). */
static inline bool av_utf8_valid(const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    while (p < end) {
        if ((uint8_t)*p < 0x80) {
            p++;
            continue;
        }
        uint32_t cp;
        size_t k = av_utf8_seq(p, end, &cp);
        if (!k)
            return false;
        p += k;
    }
    return true;
}

#endif /* AV_UTF8_H */
