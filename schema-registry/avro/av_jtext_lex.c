/*
 * av_jtext_lex: the JSON lexer under av_jtext (strings, numbers, the
 * validating skip) and the top-level member finder the producer's file
 * source uses for envelope lines and file.key.field.
 *
 * The rules are jansson 2.14's, because whatever we accept must also load
 * with json_loadb(JSON_DECODE_ANY | JSON_ALLOW_NUL); see av_jtext_int.h.
 * Where copying a rule exactly would cost more than it is worth (numbers
 * longer than AV_JTEXT_NUM_MAX, nesting past AV_JTEXT_SKIP_DEPTH, a name
 * occurring twice) we decline instead, which is always safe: the caller
 * falls back to jansson.  Pure functions over [p, end); any thread.
 */
#include "av_jtext.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "av_jtext_int.h"
#include "av_utf8.h"

#define C_ AV_JC_CTRL
#define P_ AV_JC_PLAIN
#define H_ AV_JC_HIGH
#define H16_ H_, H_, H_, H_, H_, H_, H_, H_, H_, H_, H_, H_, H_, H_, H_, H_
#define P16_ P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_, P_

const uint8_t av_jtext_cls[256] = {
    C_,   C_,   C_,          C_,        C_,   C_,   C_,   C_,   C_,
    C_,   C_,   C_,          C_,        C_,   C_,   C_, /* 0x00 */
    C_,   C_,   C_,          C_,        C_,   C_,   C_,   C_,   C_,
    C_,   C_,   C_,          C_,        C_,   C_,   C_, /* 0x10 */
    P_,   P_,   AV_JC_QUOTE, P_,        P_,   P_,   P_,   P_,   P_,
    P_,   P_,   P_,          P_,        P_,   P_,   P_,   P16_, /* 0x30 */
    P16_,                                                       /* 0x40 */
    P_,   P_,   P_,          P_,        P_,   P_,   P_,   P_,   P_,
    P_,   P_,   P_,          AV_JC_ESC, P_,   P_,   P_,   P16_, /* 0x60 */
    P16_, /* 0x70: jansson takes DEL (0x7f) raw */
    H16_, H16_, H16_,        H16_,      H16_, H16_, H16_, H16_, /* 0x80+ */
};

_Static_assert(sizeof(av_jtext_cls) == 256, "one class per byte");

/* ------------------------------------------------------------ strings */

static int32_t hex4(const char *q, const char *end)
{
    int32_t v = 0;
    if (end - q < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char c = q[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v += c - '0';
        else if (c >= 'a' && c <= 'f')
            v += c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v += c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* The escape after a backslash (q points past it): characters consumed,
 * or 0 when jansson rejects it.  A high surrogate must be followed at once
 * by a \u low surrogate; a lone low surrogate is refused. */
static size_t escape(const char *q, const char *end, uint32_t *cp)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (q >= end)
        return 0;
    if (*q != 'u') {
        const char *e = *q ? strchr(from, *q) : NULL;
        if (!e)
            return 0;
        *cp = (uint8_t)to[e - from];
        return 1;
    }
    int32_t v = hex4(q + 1, end);
    if (v < 0 || (v >= 0xdc00 && v <= 0xdfff))
        return 0;
    if (v < 0xd800 || v > 0xdbff) {
        *cp = (uint32_t)v;
        return 5;
    }
    if (end - q < 11 || q[5] != '\\' || q[6] != 'u')
        return 0;
    int32_t lo = hex4(q + 7, end);
    if (lo < 0xdc00 || lo > 0xdfff)
        return 0;
    *cp = (uint32_t)(((v - 0xd800) << 10) + (lo - 0xdc00) + 0x10000);
    return 11;
}

static size_t utf8_put(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* The character at p that is neither plain nor the closing quote: an
 * escape or a UTF-8 sequence, whose code point goes to *cp and whose
 * flags are added to *fl.  The byte after it, or NULL for a bad escape or
 * sequence or a raw control character.  Shared by decode and skip so that
 * both accept exactly the same strings. */
static inline const char *string_special(const char *p, const char *end,
                                         uint32_t *cp, unsigned *fl)
{
    size_t k;
    switch (av_jtext_cls[(uint8_t)*p]) {
    case AV_JC_ESC:
        if (!(k = escape(p + 1, end, cp)))
            return NULL;
        *fl |= AV_JS_ESC | (*cp == 0 ? AV_JS_NUL : 0);
        return p + 1 + k;
    case AV_JC_HIGH:
        if (!(k = av_utf8_seq(p, end, cp)))
            return NULL;
        return p + k;
    default:
        return NULL; /* raw control character */
    }
}

const char *av_jtext_string_decode(const char *p, const char *end, uint8_t *dst,
                                   int latin1, size_t *len, unsigned *flags)
{
    uint8_t *o = dst;
    unsigned fl = 0;
    uint32_t cp;
    for (;;) {
        const char *run = p;
        while (p < end && av_jtext_cls[(uint8_t)*p] == AV_JC_PLAIN)
            p++;
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (p >= end)
            return NULL;
        if (av_jtext_cls[(uint8_t)*p] == AV_JC_QUOTE) {
            *len = (size_t)(o - dst);
            *flags = fl;
            return p + 1;
        }
        if (!(p = string_special(p, end, &cp, &fl)))
            return NULL;
        /* 1. latin1 (bytes, fixed): one byte per code point up to 255;
         * 2. UTF-8: the code point re-encoded, which for a raw sequence
         *    gives back its own bytes. */
        if (latin1) {
            if (cp > 255)
                return NULL;
            *o++ = (uint8_t)cp;
        } else {
            o += utf8_put(o, cp);
        }
    }
}

const char *av_jtext_string_skip(const char *p, const char *end,
                                 unsigned *flags)
{
    unsigned fl = 0;
    uint32_t cp;
    for (;;) {
        while (p < end && av_jtext_cls[(uint8_t)*p] == AV_JC_PLAIN)
            p++;
        if (p >= end)
            return NULL;
        if (av_jtext_cls[(uint8_t)*p] == AV_JC_QUOTE) {
            *flags = fl;
            return p + 1;
        }
        if (!(p = string_special(p, end, &cp, &fl)))
            return NULL;
    }
}

/* ------------------------------------------------------------ numbers */

static int is_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* The token's value without strtod when that is exact (Clinger's fast
 * path): at most 15 digits make an integer m below 2^53 and a power of
 * ten up to 10^22 is a double too, so one multiplication or division of
 * the two is the correctly rounded value, the one strtod gives.  0 when
 * *d is set; -1 sends the token to strtod.  Prices like 12.50 take this
 * way: strtod was ~5 % of the producer's loop thread on a 10-field
 * record. */
static int real_fast(const char *p, const char *end, double *d)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    int neg = *p == '-', digits = 0;
    uint64_t m = 0;
    long e = 0;
    p += neg;
    for (; is_digit(p, end); p++, digits++)
        m = m * 10 + (uint64_t)(*p - '0');
    if (p < end && *p == '.')
        for (p++; is_digit(p, end); p++, digits++, e--)
            m = m * 10 + (uint64_t)(*p - '0');
    if (digits > 15)
        return -1;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0, edigits = 0;
        long x = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        for (; is_digit(p, end); p++)
            if (++edigits > 4)
                return -1;
            else
                x = x * 10 + (*p - '0');
        e += eneg ? -x : x;
    }
    if (e < -22 || e > 22)
        return -1;
    double v = (double)m;
    v = e < 0 ? v / p10[-e] : v * p10[e];
    *d = neg ? -v : v;
    return 0;
}

/* strtod on the token, as jansson's jsonp_strtod: overflow (+-HUGE_VAL
 * with ERANGE) is an error, underflow is not.  In a locale whose decimal
 * point is not '.', strtod stops early: we then decline rather than
 * imitate jansson's rewrite of the point. */
static int real_value(const char *s, size_t n, double *d)
{
    char buf[AV_JTEXT_NUM_MAX + 1], *stop;
    if (real_fast(s, s + n, d) == 0)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    *d = strtod(buf, &stop);
    if (stop != buf + n)
        return -1;
    if ((*d == HUGE_VAL || *d == -HUGE_VAL) && errno == ERANGE)
        return -1;
    return 0;
}

/* A real can only overflow when its integer digits plus its exponent
 * come near 309; below 300 strtod is not needed to know it will not. */
static int real_may_overflow(size_t int_digits, const char *exp,
                             const char *tok_end)
{
    int neg = 0;
    long e = 0;
    if (!exp)
        return int_digits > 300;
    if (*exp == '+' || *exp == '-')
        neg = *exp++ == '-';
    if (tok_end - exp > 5)
        return 1;
    for (; exp < tok_end; exp++)
        e = e * 10 + (*exp - '0');
    return neg ? 0 : (long)int_digits + e > 300;
}

const char *av_jtext_number(const char *p, const char *end, int want_real,
                            av_jtext_num_t *num)
{
    const char *s = p, *digits, *exp = NULL;
    int neg = p < end && *p == '-';
    p += neg;
    digits = p;
    if (!is_digit(p, end))
        return NULL;
    if (*p == '0') {
        if (is_digit(++p, end))
            return NULL; /* jansson: no leading zeros */
    } else {
        while (is_digit(p, end))
            p++;
    }
    size_t int_digits = (size_t)(p - digits);
    if (p >= end || (*p != '.' && *p != 'e' && *p != 'E')) {
        /* strtoll's range, as jansson's json_strtoint */
        uint64_t m = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX;
        for (const char *q = digits; q < p; q++) {
            uint64_t dg = (uint64_t)(*q - '0');
            if (m > (lim - dg) / 10)
                return NULL;
            m = m * 10 + dg;
        }
        num->is_real = 0;
        num->i = !neg ? (int64_t)m : m > INT64_MAX ? INT64_MIN : -(int64_t)m;
        return p;
    }
    if (*p == '.') {
        if (!is_digit(++p, end))
            return NULL;
        while (is_digit(p, end))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        exp = ++p;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(p, end))
            return NULL;
        while (is_digit(p, end))
            p++;
    }
    num->is_real = 1;
    num->d = 0;
    if (p - s > AV_JTEXT_NUM_MAX)
        return NULL;
    if (!want_real && !real_may_overflow(int_digits, exp, p))
        return p;
    return real_value(s, (size_t)(p - s), &num->d) == 0 ? p : NULL;
}

/* ------------------------------------------------------------ skip */

static const char *skip_literal(const char *p, const char *end,
                                const char *word, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

/* Members of an object or items of an array, after the opening bracket.
 * Object keys must not decode to a string with U+0000 (jansson: "NUL
 * byte in object key not supported"). */
static const char *skip_container(const char *p, const char *end, int depth,
                                  char close)
{
    unsigned fl;
    p = av_jtext_ws(p, end);
    if (p < end && *p == close)
        return p + 1;
    for (;;) {
        if (close == '}') {
            if (p >= end || *p != '"')
                return NULL;
            p = av_jtext_string_skip(p + 1, end, &fl);
            if (!p || (fl & AV_JS_NUL))
                return NULL;
            p = av_jtext_ws(p, end);
            if (p >= end || *p != ':')
                return NULL;
            p = av_jtext_ws(p + 1, end);
        }
        if (!(p = av_jtext_skip(p, end, depth)))
            return NULL;
        p = av_jtext_ws(p, end);
        if (p < end && *p == close)
            return p + 1;
        if (p >= end || *p != ',')
            return NULL;
        p = av_jtext_ws(p + 1, end);
    }
}

const char *av_jtext_skip(const char *p, const char *end, int depth)
{
    av_jtext_num_t num;
    unsigned fl;
    if (p >= end)
        return NULL;
    switch (*p) {
    case '"':
        return av_jtext_string_skip(p + 1, end, &fl);
    case '{':
    case '[':
        if (depth >= AV_JTEXT_SKIP_DEPTH)
            return NULL;
        return skip_container(p + 1, end, depth + 1, *p == '{' ? '}' : ']');
    case 't':
        return skip_literal(p, end, "true", 4);
    case 'f':
        return skip_literal(p, end, "false", 5);
    case 'n':
        return skip_literal(p, end, "null", 4);
    default:
        return av_jtext_number(p, end, 0, &num);
    }
}

/* ------------------------------------------------------------ members */

/* Index of the name the key k (raw text of kn bytes, flags from the
 * scan) equals, name_cnt when none, or -1 to decline (an escaped key too
 * long to decode on the stack). */
static long which_name(const char *k, size_t kn, unsigned fl,
                       const char *const *names, size_t name_cnt)
{
    uint8_t buf[256];
    if (fl & AV_JS_ESC) {
        unsigned f2;
        if (kn + 1 > sizeof(buf) ||
            !av_jtext_string_decode(k, k + kn + 1, buf, 0, &kn, &f2))
            return -1;
        k = (const char *)buf;
    }
    for (size_t i = 0; i < name_cnt; i++)
        if (strlen(names[i]) == kn && memcmp(names[i], k, kn) == 0)
            return (long)i;
    return (long)name_cnt;
}

static int decline(mw_err_t *err, const char *json, const char *p,
                   const char *why)
{
    return mw_err_set(err, MW_ERR_UNSUPPORTED, "declined at byte %zu: %s",
                      p ? (size_t)(p - json) : 0, why);
}

/* What the member finder looks for: names[0..name_cnt-1], whose values
 * go to spans[]; first_only: return at the first member found (the text
 * after it is not looked at). */
typedef struct scan_want {
    const char *const *names;
    size_t name_cnt;
    av_jtext_span_t *spans;
    int first_only;
} scan_want_t;

static int scan_members(const char *json, size_t len, const scan_want_t *want,
                        mw_err_t *err)
{
    const char *end = json + len, *p = av_jtext_ws(json, end), *k, *v;
    const char *const *names = want->names;
    size_t name_cnt = want->name_cnt;
    av_jtext_span_t *spans = want->spans;
    unsigned fl;
    for (size_t i = 0; i < name_cnt; i++)
        spans[i] = (av_jtext_span_t){NULL, 0};
    if (p >= end || *p != '{')
        return decline(err, json, p, "not an object");
    p = av_jtext_ws(p + 1, end);
    if (p < end && *p == '}')
        goto close;
    for (;;) {
        if (p >= end || *p != '"')
            return decline(err, json, p, "expected a key");
        k = p + 1;
        if (!(p = av_jtext_string_skip(k, end, &fl)) || (fl & AV_JS_NUL))
            return decline(err, json, k, "bad key");
        long idx = which_name(k, (size_t)(p - 1 - k), fl, names, name_cnt);
        if (idx < 0 || ((size_t)idx < name_cnt && spans[idx].ptr))
            return decline(err, json, k, "duplicate or odd key");
        p = av_jtext_ws(p, end);
        if (p >= end || *p != ':')
            return decline(err, json, p, "expected ':'");
        v = p = av_jtext_ws(p + 1, end);
        if (!(p = av_jtext_skip(p, end, 1)))
            return decline(err, json, v, "bad value");
        if ((size_t)idx < name_cnt) {
            spans[idx] = (av_jtext_span_t){v, (size_t)(p - v)};
            if (want->first_only)
                return 0;
        }
        p = av_jtext_ws(p, end);
        if (p < end && *p == '}')
            break;
        if (p >= end || *p != ',')
            return decline(err, json, p, "expected ',' or '}'");
        p = av_jtext_ws(p + 1, end);
    }
close:
    if (av_jtext_ws(p + 1, end) != end)
        return decline(err, json, p + 1, "text after the object");
    return 0;
}

int av_jtext_members(const char *json, size_t len, const char *const *names,
                     size_t name_cnt, av_jtext_span_t *spans, mw_err_t *err)
{
    const scan_want_t want = {names, name_cnt, spans, 0};

    return scan_members(json, len, &want, err);
}

int av_jtext_member_first(const char *json, size_t len, const char *name,
                          const char **val, size_t *val_len)
{
    av_jtext_span_t span;
    const scan_want_t want = {&name, 1, &span, 1};
    int rc = scan_members(json, len, &want, NULL);
    if (rc != 0)
        return rc;
    if (!span.ptr)
        return MW_ERR_NOT_FOUND;
    *val = span.ptr;
    *val_len = span.len;
    return 0;
}

int av_jtext_member(const char *json, size_t len, const char *name,
                    const char **val, size_t *val_len)
{
    av_jtext_span_t span;
    int rc = av_jtext_members(json, len, &name, 1, &span, NULL);
    if (rc != 0)
        return rc;
    if (!span.ptr)
        return MW_ERR_NOT_FOUND;
    *val = span.ptr;
    *val_len = span.len;
    return 0;
}
