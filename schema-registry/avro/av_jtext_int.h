/*
 * av_jtext_int.h: the JSON lexer shared by av_jtext_lex.c (tokens, the
 * validating skip, the member finder) and av_jtext.c (the transcoder).
 *
 * Every function here accepts exactly what jansson 2.14's json_loadb
 * accepts for the token in question (src/load.c, src/utf.c): strict UTF-8
 * (no overlongs, no surrogates, nothing above U+10FFFF), no raw control
 * characters in strings, the eight short escapes and \uXXXX with paired
 * surrogates, JSON's number grammar, integers that fit json_int_t, reals
 * that strtod converts without overflow.  A NULL return means "jansson
 * would reject this, or we decline it": callers never need to tell the two
 * apart.  Pointers run over [p, end) and never read at or past end.
 */
#ifndef AV_JTEXT_INT_H
#define AV_JTEXT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "av_jtext.h"

/* Longest number token we convert; longer ones are declined. */
#define AV_JTEXT_NUM_MAX 64
/* Object/array nesting the validating skip follows (jansson: 2048). */
#define AV_JTEXT_SKIP_DEPTH 512

/* Byte classes inside a string. */
enum {
    AV_JC_PLAIN = 0, /* copied as is */
    AV_JC_QUOTE,     /* end of the string */
    AV_JC_ESC,       /* backslash */
    AV_JC_CTRL,      /* 0x00-0x1f: jansson rejects them raw */
    AV_JC_HIGH       /* 0x80-0xff: a UTF-8 sequence to check */
};
extern const uint8_t av_jtext_cls[256];

static inline const char *av_jtext_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* A number token. */
typedef struct av_jtext_num {
    int is_real; /* '.', 'e' or 'E' in the text: jansson makes a real */
    int64_t i;   /* !is_real */
    double d;    /* is_real and the caller asked for the value */
} av_jtext_num_t;

/* Scans the number starting at p ('-' or a digit).  want_real: convert a
 * real with strtod (else it is only checked for overflow).  Returns the
 * end of the token, or NULL. */
const char *av_jtext_number(const char *p, const char *end, int want_real,
                            av_jtext_num_t *num);

/* Flags of a scanned string. */
#define AV_JS_ESC 1u /* has a backslash escape */
#define AV_JS_NUL 2u /* decodes to a string containing U+0000 */

/* Validates the string whose body starts at p (after the opening quote).
 * Returns the pointer after the closing quote, or NULL; *flags gets
 * AV_JS_*. */
const char *av_jtext_string_skip(const char *p, const char *end,
                                 unsigned *flags);

/* Validates and decodes the string whose body starts at p into dst, which
 * has room for end - p bytes (a decoded string is never longer than its
 * text).  latin1 = 0: UTF-8, as jansson stores it.  latin1 = 1: one byte
 * per code point, as av_serde reads bytes and fixed; a code point above
 * 255 fails.  Returns the pointer after the closing quote, or NULL; *len
 * gets the decoded length and *flags AV_JS_*. */
const char *av_jtext_string_decode(const char *p, const char *end, uint8_t *dst,
                                   int latin1, size_t *len, unsigned *flags);

/* Validates the JSON value at p (no leading whitespace) and returns the
 * pointer after it, or NULL.  depth: nesting of p's container (0 at the
 * top level). */
const char *av_jtext_skip(const char *p, const char *end, int depth);

#endif /* AV_JTEXT_INT_H */
