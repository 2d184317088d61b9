/*
 * pr_pg_type: how a PostgreSQL column becomes an Avro field, the way
 * Debezium's PostgreSQL connector with Confluent's Avro converter
 * represents it under its default settings (decimal.handling.mode=precise,
 * time.precision.mode=adaptive, interval.handling.mode=numeric,
 * binary.handling.mode=bytes), so a consumer written for Debezium reads
 * our events unchanged.  The table is in docs/CDC.md.
 *
 * Values arrive as PostgreSQL's text output (pgoutput's default, and what
 * the snapshot's SELECT returns), under fixed session settings (DateStyle
 * ISO, TimeZone UTC, IntervalStyle iso_8601, extra_float_digits 3), and
 * are written as Avro JSON text for the emitter's transcoder: numbers as
 * numbers, bytes and decimals as JSON strings of code points 0-255, the
 * temporal types as Debezium's integers or ISO-8601 strings.
 *
 * Thread: any; plain functions.
 */
#include "pr_pg_int.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av_varint.h"
#include "mw_hex.h"

/* Built-in type oids (pg_type.dat; fixed across versions). */
enum {
    OID_BOOL = 16,
    OID_BYTEA = 17,
    OID_CHAR = 18,
    OID_NAME = 19,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_TEXT = 25,
    OID_OID = 26,
    OID_JSON = 114,
    OID_XML = 142,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_BPCHAR = 1042,
    OID_VARCHAR = 1043,
    OID_DATE = 1082,
    OID_TIME = 1083,
    OID_TIMESTAMP = 1114,
    OID_TIMESTAMPTZ = 1184,
    OID_INTERVAL = 1186,
    OID_TIMETZ = 1266,
    OID_NUMERIC = 1700,
    OID_UUID = 2950,
    OID_JSONB = 3802
};

#define VSD_NAME "io.debezium.data.VariableScaleDecimal"

void pr_pg_type_clear(pr_pg_type_t *t)
{
    if (!t)
        return;
    free(t->labels);
    if (t->elem) {
        pr_pg_type_clear(t->elem);
        free(t->elem);
    }
    memset(t, 0, sizeof(*t));
}

/* time/timestamp typmod: fractional digits, -1 when unconstrained (6). */
static int time_precision(int32_t typmod)
{
    return typmod < 0 ? 6 : (int)typmod;
}

bool pr_pg_type_builtin(uint32_t oid, int32_t typmod, pr_pg_type_t *t)
{
    memset(t, 0, sizeof(*t));
    t->oid = oid;
    t->precision = -1;
    switch (oid) {
    case OID_INT2:
        t->kind = PR_PG_INT16;
        return true;
    case OID_INT4:
    case OID_OID:
        t->kind = oid == OID_OID ? PR_PG_INT64 : PR_PG_INT32;
        return true;
    case OID_INT8:
        t->kind = PR_PG_INT64;
        return true;
    case OID_FLOAT4:
        t->kind = PR_PG_FLOAT32;
        return true;
    case OID_FLOAT8:
        t->kind = PR_PG_FLOAT64;
        return true;
    case OID_BOOL:
        t->kind = PR_PG_BOOL;
        return true;
    case OID_TEXT:
    case OID_VARCHAR:
    case OID_BPCHAR:
    case OID_CHAR:
    case OID_NAME:
    case OID_XML:
        t->kind = PR_PG_STRING;
        return true;
    case OID_BYTEA:
        t->kind = PR_PG_BYTES;
        return true;
    case OID_NUMERIC:
        /* typmod = ((precision << 16) | scale) + VARHDRSZ; -1: free */
        if (typmod < 4) {
            t->kind = PR_PG_VARDEC;
            return true;
        }
        t->kind = PR_PG_DECIMAL;
        t->precision = (int)(((uint32_t)(typmod - 4) >> 16) & 0xffff);
        t->scale = (int)((typmod - 4) & 0x7ff);
        return true;
    case OID_DATE:
        t->kind = PR_PG_DATE;
        return true;
    case OID_TIME:
        t->kind = time_precision(typmod) <= 3 ? PR_PG_TIME_MS : PR_PG_TIME_US;
        return true;
    case OID_TIMETZ:
        t->kind = PR_PG_TIMETZ;
        return true;
    case OID_TIMESTAMP:
        t->kind = time_precision(typmod) <= 3 ? PR_PG_TS_MS : PR_PG_TS_US;
        return true;
    case OID_TIMESTAMPTZ:
        t->kind = PR_PG_TSTZ;
        return true;
    case OID_INTERVAL:
        t->kind = PR_PG_INTERVAL;
        return true;
    case OID_UUID:
        t->kind = PR_PG_UUID;
        return true;
    case OID_JSON:
    case OID_JSONB:
        t->kind = PR_PG_JSON;
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------------- schema */

static int connect_named(mw_buf_t *out, const char *avro, const char *name)
{
    return mw_buf_appendf(out,
                          "{\"type\":\"%s\",\"connect.version\":1,"
                          "\"connect.name\":\"%s\"}",
                          avro, name);
}

int pr_pg_type_schema(const pr_pg_type_t *t, bool *named, mw_buf_t *out)
{
    switch (t->kind) {
    case PR_PG_INT16:
        return mw_buf_appendf(out, "{\"type\":\"int\","
                                   "\"connect.type\":\"int16\"}");
    case PR_PG_INT32:
        return mw_buf_appendf(out, "\"int\"");
    case PR_PG_INT64:
        return mw_buf_appendf(out, "\"long\"");
    case PR_PG_FLOAT32:
        return mw_buf_appendf(out, "\"float\"");
    case PR_PG_FLOAT64:
        return mw_buf_appendf(out, "\"double\"");
    case PR_PG_BOOL:
        return mw_buf_appendf(out, "\"boolean\"");
    case PR_PG_STRING:
        return mw_buf_appendf(out, "\"string\"");
    case PR_PG_BYTES:
        return mw_buf_appendf(out, "\"bytes\"");
    case PR_PG_DECIMAL:
        return mw_buf_appendf(
            out,
            "{\"type\":\"bytes\",\"scale\":%d,\"precision\":%d,"
            "\"connect.version\":1,\"connect.parameters\":{\"scale\":\"%d\","
            "\"connect.decimal.precision\":\"%d\"},\"connect.name\":"
            "\"org.apache.kafka.connect.data.Decimal\",\"logicalType\":"
            "\"decimal\"}",
            t->scale, t->precision, t->scale, t->precision);
    case PR_PG_VARDEC:
        if (*named)
            return mw_buf_appendf(out, "\"" VSD_NAME "\"");
        *named = true;
        return mw_buf_appendf(
            out, "{\"type\":\"record\",\"name\":\"VariableScaleDecimal\","
                 "\"namespace\":\"io.debezium.data\",\"fields\":[{\"name\":"
                 "\"scale\",\"type\":\"int\"},{\"name\":\"value\",\"type\":"
                 "\"bytes\"}],\"connect.doc\":\"Variable scaled decimal\","
                 "\"connect.version\":1,\"connect.name\":\"" VSD_NAME "\"}");
    case PR_PG_DATE:
        return connect_named(out, "int", "io.debezium.time.Date");
    case PR_PG_TIME_MS:
        return connect_named(out, "int", "io.debezium.time.Time");
    case PR_PG_TIME_US:
        return connect_named(out, "long", "io.debezium.time.MicroTime");
    case PR_PG_TIMETZ:
        return connect_named(out, "string", "io.debezium.time.ZonedTime");
    case PR_PG_TS_MS:
        return connect_named(out, "long", "io.debezium.time.Timestamp");
    case PR_PG_TS_US:
        return connect_named(out, "long", "io.debezium.time.MicroTimestamp");
    case PR_PG_TSTZ:
        return connect_named(out, "string", "io.debezium.time.ZonedTimestamp");
    case PR_PG_INTERVAL:
        return connect_named(out, "long", "io.debezium.time.MicroDuration");
    case PR_PG_UUID:
        return connect_named(out, "string", "io.debezium.data.Uuid");
    case PR_PG_JSON:
        return connect_named(out, "string", "io.debezium.data.Json");
    case PR_PG_ENUM:
        if (mw_buf_appendf(out, "{\"type\":\"string\",\"connect.version\":1,"
                                "\"connect.parameters\":{\"allowed\":") != 0 ||
            pr_pg_json_str(out, t->labels ? t->labels : "",
                           t->labels ? strlen(t->labels) : 0) != 0)
            return MW_ERR_NOMEM;
        return mw_buf_appendf(out,
                              "},\"connect.name\":\"io.debezium.data.Enum\"}");
    case PR_PG_ARRAY:
        /* Debezium's array elements are optional: items ["null", T]. */
        if (mw_buf_appendf(out, "{\"type\":\"array\",\"items\":[\"null\",") !=
                0 ||
            pr_pg_type_schema(t->elem, named, out) != 0)
            return MW_ERR_NOMEM;
        return mw_buf_appendf(out, "]}");
    }
    return MW_ERR_INVALID;
}

const char *pr_pg_type_branch(const pr_pg_type_t *t)
{
    switch (t->kind) {
    case PR_PG_INT16:
    case PR_PG_INT32:
    case PR_PG_DATE:
    case PR_PG_TIME_MS:
        return "int";
    case PR_PG_INT64:
    case PR_PG_TIME_US:
    case PR_PG_TS_MS:
    case PR_PG_TS_US:
    case PR_PG_INTERVAL:
        return "long";
    case PR_PG_FLOAT32:
        return "float";
    case PR_PG_FLOAT64:
        return "double";
    case PR_PG_BOOL:
        return "boolean";
    case PR_PG_BYTES:
    case PR_PG_DECIMAL:
        return "bytes";
    case PR_PG_VARDEC:
        return VSD_NAME;
    case PR_PG_ARRAY:
        return "array";
    default:
        return "string";
    }
}

/* ------------------------------------------------------------- values */

int pr_pg_json_str(mw_buf_t *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    if (mw_buf_append(out, "\"", 1) != 0)
        return MW_ERR_NOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (mw_buf_append(out, s + run, i - run) != 0)
            return MW_ERR_NOMEM;
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            if (mw_buf_append(out, esc, 2) != 0)
                return MW_ERR_NOMEM;
        } else if (mw_buf_append(out, esc, 6) != 0) {
            return MW_ERR_NOMEM;
        }
        run = i + 1;
    }
    if (mw_buf_append(out, s + run, len - run) != 0 ||
        mw_buf_append(out, "\"", 1) != 0)
        return MW_ERR_NOMEM;
    return 0;
}

int pr_pg_put_uint(mw_buf_t *out, uint64_t v)
{
    char digits[24];
    size_t i = sizeof(digits);

    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return mw_buf_append(out, digits + i, sizeof(digits) - i);
}

int pr_pg_put_int(mw_buf_t *out, int64_t v)
{
    if (v >= 0)
        return pr_pg_put_uint(out, (uint64_t)v);
    if (mw_buf_append(out, "-", 1) != 0)
        return MW_ERR_NOMEM;
    return pr_pg_put_uint(out, 0 - (uint64_t)v);
}

/* Bytes as Avro's JSON encoding has them: a string of code points 0-255. */
static int json_bytes(mw_buf_t *out, const uint8_t *b, size_t len)
{
    static const char hex[] = "0123456789abcdef";

    if (mw_buf_append(out, "\"", 1) != 0)
        return MW_ERR_NOMEM;
    for (size_t i = 0; i < len; i++) {
        char esc[6] = {'\\', 'u', '0', '0', hex[b[i] >> 4], hex[b[i] & 15]};
        int rc;

        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\')
            rc = mw_buf_append(out, (const char *)&b[i], 1);
        else
            rc = mw_buf_append(out, esc, 6);
        if (rc != 0)
            return MW_ERR_NOMEM;
    }
    return mw_buf_append(out, "\"", 1) != 0 ? MW_ERR_NOMEM : 0;
}

int pr_pg_avro_long(mw_buf_t *out, int64_t v)
{
    uint8_t b[10];

    return mw_buf_append(out, b, av_varint_put(b, v));
}

int pr_pg_avro_str(mw_buf_t *out, const char *s, size_t len)
{
    if (pr_pg_avro_long(out, (int64_t)len) != 0)
        return MW_ERR_NOMEM;
    return mw_buf_append(out, s, len);
}

static int w_long(pr_pg_out_t *o, int64_t v)
{
    return o->avro ? pr_pg_avro_long(o->buf, v) : pr_pg_put_int(o->buf, v);
}

static int w_str(pr_pg_out_t *o, const char *s, size_t len)
{
    return o->avro ? pr_pg_avro_str(o->buf, s, len)
                   : pr_pg_json_str(o->buf, s, len);
}

static int w_bytes(pr_pg_out_t *o, const uint8_t *b, size_t len)
{
    return o->avro ? pr_pg_avro_str(o->buf, (const char *)b, len)
                   : json_bytes(o->buf, b, len);
}

static int w_bool(pr_pg_out_t *o, bool v)
{
    uint8_t b = v ? 1 : 0;

    return o->avro ? mw_buf_append(o->buf, &b, 1)
                   : pr_pg_put(o->buf, v ? "true" : "false");
}

/* A float or double: Avro's little-endian IEEE 754; in JSON the text as
 * PostgreSQL printed it (the shortest exact form), "NaN" and the
 * infinities as the strings Avro's JSON encoding uses. */
static int w_real(pr_pg_out_t *o, bool single, double v, const char *text,
                  size_t len, bool special)
{
    uint8_t b[8];

    if (!o->avro)
        return special ? pr_pg_json_str(o->buf, text, len)
                       : mw_buf_append(o->buf, text, len);
    if (single) {
        float f = (float)v;
        uint32_t bits;

        memcpy(&bits, &f, 4);
        return mw_buf_append(o->buf, b, av_le_put(b, bits, 4));
    } else {
        uint64_t bits;

        memcpy(&bits, &v, 8);
        return mw_buf_append(o->buf, b, av_le_put(b, bits, 8));
    }
}

static int bad_value(mw_err_t *err, const char *type, const char *text,
                     size_t len)
{
    mw_err_set(err, MW_ERR_INVALID, "%s value '%.*s' does not parse", type,
               (int)(len > 64 ? 64 : len), text);
    return MW_ERR_INVALID;
}

/* An integer (optional sign) within int64. */
/* An integer in [-max - 1, max]: the range of the column's type, so a
 * value out of it is refused rather than written as an Avro int that no
 * reader can decode. */
static int int_value(const char *s, size_t len, uint64_t max, pr_pg_out_t *o,
                     mw_err_t *err)
{
    size_t i = len && s[0] == '-' ? 1 : 0;
    uint64_t mag = 0;

    if (len == i || len > 20)
        return bad_value(err, "integer", s, len);
    for (size_t j = i; j < len; j++) {
        if (s[j] < '0' || s[j] > '9' || mag > (UINT64_MAX - 9) / 10)
            return bad_value(err, "integer", s, len);
        mag = mag * 10 + (uint64_t)(s[j] - '0');
    }
    if (mag > (i ? max + 1 : max))
        return bad_value(err, "integer", s, len);
    return w_long(o, i ? (int64_t)(0 - mag) : (int64_t)mag);
}

/* Whether s[0..len) is a number in JSON's grammar, which is also the form
 * of PostgreSQL's float output: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * (the JSON form copies the text as it is). */
static bool is_json_number(const char *s, size_t len)
{
    size_t i = 0, d;

    if (i < len && s[i] == '-')
        i++;
    for (d = i; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        ;
    if (i == d || (s[d] == '0' && i - d > 1))
        return false;
    if (i < len && s[i] == '.') {
        for (d = ++i; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            ;
        if (i == d)
            return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        for (d = i; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            ;
        if (i == d)
            return false;
    }
    return i == len;
}

static int float_value(const char *s, size_t len, bool single, pr_pg_out_t *o,
                       mw_err_t *err)
{
    char tmp[64], *end;
    bool special = (len == 3 && !memcmp(s, "NaN", 3)) ||
                   (len == 8 && !memcmp(s, "Infinity", 8)) ||
                   (len == 9 && !memcmp(s, "-Infinity", 9));
    double v;

    if (len == 0 || len >= sizeof(tmp) || (!special && !is_json_number(s, len)))
        return bad_value(err, "float", s, len);
    memcpy(tmp, s, len);
    tmp[len] = 0;
    errno = 0;
    v = strtod(tmp, &end);
    /* Past the type's range the binary would hold an infinity and the
     * JSON form a number: PostgreSQL prints none such. */
    if (*end || (!special && (isinf(v) || (single && fabs(v) > FLT_MAX))))
        return bad_value(err, "float", s, len);
    /* "-0" would read back as the integer 0, a positive zero. */
    if (!special && v == 0 && signbit(v))
        return w_real(o, single, v, "-0.0", 4, false);
    return w_real(o, single, v, s, len, special);
}

/* Unscaled decimal digits (optional '-') -> big-endian two's complement,
 * shortest form (Java's BigInteger.toByteArray, which Connect's Decimal
 * uses). */
static int unscaled_bytes(bool neg, const char *digits, size_t n,
                          pr_pg_out_t *o)
{
    uint8_t mag[64]; /* little-endian magnitude: 154 digits fit; larger
                      * values (numeric allows 131072 digits) grow it */
    uint8_t *m = mag;
    size_t cap = sizeof(mag), used = 1, i;
    int rc;

    mag[0] = 0;
    for (i = 0; i < n; i++) {
        unsigned carry = (unsigned)(digits[i] - '0');

        for (size_t j = 0; j < used; j++) {
            unsigned v = m[j] * 10u + carry;

            m[j] = (uint8_t)v;
            carry = v >> 8;
        }
        if (carry) {
            if (used == cap) {
                uint8_t *bigger = malloc(cap * 2);

                if (!bigger) {
                    if (m != mag)
                        free(m);
                    return MW_ERR_NOMEM;
                }
                memcpy(bigger, m, used);
                if (m != mag)
                    free(m);
                m = bigger;
                cap *= 2;
            }
            m[used++] = (uint8_t)carry;
        }
    }
    while (used > 1 && m[used - 1] == 0)
        used--;
    if (neg && !(used == 1 && m[0] == 0)) {
        /* two's complement: invert and add one */
        unsigned carry = 1;

        for (size_t j = 0; j < used; j++) {
            unsigned v = (uint8_t)~m[j] + carry;

            m[j] = (uint8_t)v;
            carry = v >> 8;
        }
    } else {
        neg = false;
    }
    {
        /* big-endian, with a sign byte when the top bit disagrees */
        uint8_t sign = neg ? 0xff : 0x00;
        bool need_sign = ((m[used - 1] & 0x80) != 0) != neg;
        size_t total = used + (need_sign ? 1 : 0);
        uint8_t *be = malloc(total);

        if (!be) {
            if (m != mag)
                free(m);
            return MW_ERR_NOMEM;
        }
        i = 0;
        if (need_sign)
            be[i++] = sign;
        for (size_t j = used; j-- > 0;)
            be[i++] = m[j];
        rc = w_bytes(o, be, total);
        free(be);
    }
    if (m != mag)
        free(m);
    return rc;
}

/* numeric text ("-123.450") -> sign, digits without the point, the
 * number of fractional digits.  Writes the digits into buf. */
static int numeric_split(const char *s, size_t len, char *buf, size_t cap,
                         bool *neg, size_t *ndig, int *frac, mw_err_t *err)
{
    size_t i = 0, n = 0;
    int f = -1;

    *neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        *neg = s[i++] == '-';
    if (i == len)
        return bad_value(err, "numeric", s, len);
    for (; i < len; i++) {
        if (s[i] == '.' && f < 0) {
            f = 0;
            continue;
        }
        if (s[i] < '0' || s[i] > '9' || n >= cap)
            return bad_value(err, "numeric", s, len);
        buf[n++] = s[i];
        if (f >= 0)
            f++;
    }
    *ndig = n;
    *frac = f < 0 ? 0 : f;
    return 0;
}

static int decimal_value(const pr_pg_type_t *t, const char *s, size_t len,
                         pr_pg_out_t *o, mw_err_t *err)
{
    size_t cap = len + (size_t)(t->scale > 0 ? t->scale : 0) + 1, n = 0;
    char *digits = malloc(cap);
    bool neg = false;
    int frac = 0, rc;

    if (!digits)
        return MW_ERR_NOMEM;
    if (len == 3 && !memcmp(s, "NaN", 3)) {
        free(digits);
        return mw_err_set(err, MW_ERR_UNSUPPORTED,
                          "numeric NaN has no decimal representation");
    }
    rc = numeric_split(s, len, digits, cap, &neg, &n, &frac, err);
    if (rc == 0 && t->kind == PR_PG_DECIMAL) {
        /* rescale to the column's scale (the text has exactly that many
         * fractional digits, but a rounding-free pad costs nothing) */
        while (frac < t->scale)
            digits[n++] = '0', frac++;
        if (frac > t->scale)
            n -= (size_t)(frac - t->scale), frac = t->scale;
        rc = unscaled_bytes(neg, digits, n, o);
    } else if (rc == 0 && o->avro) {
        /* VariableScaleDecimal: the record {scale, value} */
        rc = w_long(o, frac);
        if (rc == 0)
            rc = unscaled_bytes(neg, digits, n, o);
    } else if (rc == 0) {
        rc = pr_pg_put(o->buf, "{\"scale\":");
        if (rc == 0)
            rc = pr_pg_put_int(o->buf, frac);
        if (rc == 0)
            rc = pr_pg_put(o->buf, ",\"value\":");
        if (rc == 0)
            rc = unscaled_bytes(neg, digits, n, o);
        if (rc == 0)
            rc = mw_buf_append(o->buf, "}", 1);
    }
    free(digits);
    return rc;
}

/* bytea's hex output "\x00ff" (bytea_output = hex, the default). */
static int bytea_value(const char *s, size_t len, pr_pg_out_t *o, mw_err_t *err)
{
    uint8_t *b;
    size_t n;
    int rc;

    if (len < 2 || s[0] != '\\' || s[1] != 'x' || (len - 2) % 2)
        return bad_value(err, "bytea", s, len);
    n = (len - 2) / 2;
    b = malloc(n ? n : 1);
    if (!b)
        return MW_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        int hi = mw_hex_val(s[2 + 2 * i]), lo = mw_hex_val(s[3 + 2 * i]);

        if (hi < 0 || lo < 0) {
            free(b);
            return bad_value(err, "bytea", s, len);
        }
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    rc = w_bytes(o, b, n);
    free(b);
    return rc;
}

/* ------------------------------------------------------------ temporal */

typedef struct cur {
    const char *p, *end;
} cur_t;

static bool cur_num(cur_t *c, int min_digits, int64_t *v)
{
    int n = 0;

    *v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && n < 18) {
        *v = *v * 10 + (*c->p++ - '0');
        n++;
    }
    return n >= min_digits;
}

static bool cur_lit(cur_t *c, char ch)
{
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* Fraction ".123456" -> microseconds (at most 6 digits, as PostgreSQL
 * keeps). */
static int64_t cur_frac_us(cur_t *c)
{
    int64_t us = 0;
    int n = 0;

    if (!cur_lit(c, '.'))
        return 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (n < 6)
            us = us * 10 + (*c->p - '0');
        n++;
        c->p++;
    }
    for (; n < 6; n++)
        us *= 10;
    return us;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    *y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y += *m <= 2;
}

/* " BC" at the very end: year Y BC is astronomical year 1 - Y. */
static bool strip_bc(cur_t *c)
{
    if (c->end - c->p >= 3 && !memcmp(c->end - 3, " BC", 3)) {
        c->end -= 3;
        return true;
    }
    return false;
}

static bool parse_date(cur_t *c, bool bc, int64_t *days)
{
    int64_t y, m, d;

    if (!cur_num(c, 4, &y) || !cur_lit(c, '-') || !cur_num(c, 2, &m) ||
        !cur_lit(c, '-') || !cur_num(c, 2, &d) || m < 1 || m > 12 || d < 1 ||
        d > 31)
        return false;
    *days = days_from_civil(bc ? 1 - y : y, m, d);
    return true;
}

static bool parse_time_us(cur_t *c, int64_t *us)
{
    int64_t h, mi, s;

    if (!cur_num(c, 2, &h) || !cur_lit(c, ':') || !cur_num(c, 2, &mi) ||
        !cur_lit(c, ':') || !cur_num(c, 2, &s) || h > 24 || mi > 59 || s > 60)
        return false;
    *us = ((h * 60 + mi) * 60 + s) * 1000000 + cur_frac_us(c);
    return true;
}

/* "+HH[:MM[:SS]]" -> seconds east of UTC. */
static bool parse_offset(cur_t *c, int64_t *secs)
{
    int64_t h, m = 0, s = 0;
    int sign;

    if (cur_lit(c, '+'))
        sign = 1;
    else if (cur_lit(c, '-'))
        sign = -1;
    else
        return false;
    if (!cur_num(c, 2, &h))
        return false;
    if (cur_lit(c, ':') && !cur_num(c, 2, &m))
        return false;
    if (cur_lit(c, ':') && !cur_num(c, 2, &s))
        return false;
    *secs = sign * (h * 3600 + m * 60 + s);
    return true;
}

/* Fraction of us (0..999999) as Java's ISO formatter prints nanoseconds:
 * nothing when zero, else the digits without trailing zeros. */
static void frac_text(int64_t us, char out[16])
{
    int n = 6;

    out[0] = 0;
    if (!us)
        return;
    snprintf(out, 16, ".%06lld", (long long)(us % 1000000));
    while (n > 0 && out[n] == '0')
        out[n--] = 0;
}

/* n decimal digits of v (0 <= v < 10^n), zero-padded; returns the end. */
static char *digits(char *p, int64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

static int ts_value(const pr_pg_type_t *t, const char *s, size_t len,
                    pr_pg_out_t *o, mw_err_t *err)
{
    cur_t c = {s, s + len};
    bool bc = strip_bc(&c);
    int64_t days, us, off = 0;
    char text[96];
    int64_t y;
    int m, d;
    int64_t sec;

    if (!parse_date(&c, bc, &days) || !cur_lit(&c, ' ') ||
        !parse_time_us(&c, &us))
        return bad_value(err, "timestamp", s, len);
    if (t->kind == PR_PG_TSTZ && !parse_offset(&c, &off))
        return bad_value(err, "timestamptz", s, len);
    if (c.p != c.end)
        return bad_value(err, "timestamp", s, len);
    us = days * 86400000000LL + us - off * 1000000;
    if (t->kind == PR_PG_TS_US)
        return w_long(o, us);
    if (t->kind == PR_PG_TS_MS)
        return w_long(o, us / 1000 - (us % 1000 < 0 ? 1 : 0));
    /* ZonedTimestamp: ISO-8601 in UTC, six fraction digits (ZonedTime
     * trims them) */
    sec = us / 1000000 - (us % 1000000 < 0 ? 1 : 0);
    us -= sec * 1000000;
    days = sec / 86400 - (sec % 86400 < 0 ? 1 : 0);
    sec -= days * 86400;
    civil_from_days(days, &y, &m, &d);
    {
        char *p = text;

        if (y < 0 || y > 9999) {
            p += snprintf(p, 24, "%04lld", (long long)y);
        } else {
            p = digits(p, y, 4);
        }
        *p++ = '-';
        p = digits(p, m, 2);
        *p++ = '-';
        p = digits(p, d, 2);
        *p++ = 'T';
        p = digits(p, sec / 3600, 2);
        *p++ = ':';
        p = digits(p, sec / 60 % 60, 2);
        *p++ = ':';
        p = digits(p, sec % 60, 2);
        *p++ = '.';
        p = digits(p, us, 6);
        *p++ = 'Z';
        return w_str(o, text, (size_t)(p - text));
    }
}

static int date_value(const char *s, size_t len, pr_pg_out_t *o, mw_err_t *err)
{
    cur_t c = {s, s + len};
    bool bc = strip_bc(&c);
    int64_t days;

    if (!parse_date(&c, bc, &days) || c.p != c.end)
        return bad_value(err, "date", s, len);
    if (days < INT32_MIN || days > INT32_MAX)
        return bad_value(err, "date", s, len);
    return w_long(o, days);
}

static int time_value(const pr_pg_type_t *t, const char *s, size_t len,
                      pr_pg_out_t *o, mw_err_t *err)
{
    cur_t c = {s, s + len};
    int64_t us, off = 0, sec;
    char frac[16], text[40];

    if (!parse_time_us(&c, &us))
        return bad_value(err, "time", s, len);
    if (t->kind != PR_PG_TIMETZ) {
        if (c.p != c.end)
            return bad_value(err, "time", s, len);
        if (t->kind == PR_PG_TIME_MS)
            return w_long(o, us / 1000);
        return w_long(o, us);
    }
    if (!parse_offset(&c, &off) || c.p != c.end)
        return bad_value(err, "timetz", s, len);
    /* ZonedTime: the time in UTC, wrapped into the day */
    us -= off * 1000000;
    us %= 86400000000LL;
    if (us < 0)
        us += 86400000000LL;
    sec = us / 1000000;
    frac_text(us % 1000000, frac);
    snprintf(text, sizeof(text), "%02lld:%02lld:%02lld%sZ",
             (long long)(sec / 3600), (long long)(sec / 60 % 60),
             (long long)(sec % 60), frac);
    return w_str(o, text, strlen(text));
}

/* IntervalStyle iso_8601: "P1Y2M3DT4H5M6.789S", components signed. */
static int interval_value(const char *s, size_t len, pr_pg_out_t *o,
                          mw_err_t *err)
{
    /* Debezium's MicroDuration: months count 365.25 / 12 days each */
    const double days_per_month = 365.25 / 12.0;
    cur_t c = {s, s + len};
    bool in_time = false, neg_all = false;
    int64_t years = 0, months = 0, days = 0, hours = 0, minutes = 0;
    double seconds = 0;

    neg_all = cur_lit(&c, '-');
    if (!cur_lit(&c, 'P'))
        return bad_value(err, "interval", s, len);
    while (c.p < c.end) {
        bool neg;
        int64_t v;
        double frac = 0;
        char unit;

        if (cur_lit(&c, 'T')) {
            in_time = true;
            continue;
        }
        neg = cur_lit(&c, '-');
        if (!cur_num(&c, 1, &v))
            return bad_value(err, "interval", s, len);
        if (c.p < c.end && *c.p == '.') {
            double scale = 0.1;

            c.p++;
            while (c.p < c.end && *c.p >= '0' && *c.p <= '9') {
                frac += (*c.p++ - '0') * scale;
                scale /= 10;
            }
        }
        if (c.p == c.end)
            return bad_value(err, "interval", s, len);
        unit = *c.p++;
        if (neg)
            v = -v, frac = -frac;
        if (!in_time && unit == 'Y')
            years += v;
        else if (!in_time && unit == 'M')
            months += v;
        else if (!in_time && unit == 'W')
            days += 7 * v;
        else if (!in_time && unit == 'D')
            days += v;
        else if (in_time && unit == 'H')
            hours += v;
        else if (in_time && unit == 'M')
            minutes += v;
        else if (in_time && unit == 'S')
            seconds += (double)v + frac;
        else
            return bad_value(err, "interval", s, len);
    }
    if (neg_all) {
        years = -years, months = -months, days = -days;
        hours = -hours, minutes = -minutes, seconds = -seconds;
    }
    {
        double ndays =
            (double)(years * 12 + months) * days_per_month + (double)days;
        double nsecs =
            ((ndays * 24 + (double)hours) * 60 + (double)minutes) * 60 +
            seconds;

        return w_long(o, (int64_t)(nsecs * 1e6));
    }
}

/* ---------------------------------------------------------------- arrays */

/* One-dimensional array text "{a,"b c",NULL}" (an optional "[l:u]="
 * dimension decoration is skipped): each element through its type, as
 * the items' union ["null", T].  In Avro binary an array is one block
 * (its count, the items, then 0), so the items are written to a scratch
 * buffer first. */
static int array_value(const pr_pg_type_t *t, const char *s, size_t len,
                       pr_pg_out_t *o, mw_err_t *err)
{
    const char *p = s, *end = s + len;
    char *elem = malloc(len + 1);
    mw_buf_t *items = mw_buf_new(0);
    pr_pg_out_t io = {items, o->avro};
    int64_t count = 0;
    int rc = elem && items ? 0 : MW_ERR_NOMEM;

    if (rc == 0 && p < end && *p == '[') {
        p = memchr(p, '=', len);
        p = p ? p + 1 : end;
    }
    if (rc == 0 && (p >= end || *p != '{' || end[-1] != '}'))
        rc = bad_value(err, "array", s, len);
    p++;
    end--;
    while (rc == 0 && p < end) {
        size_t n = 0;
        bool quoted = false;

        if (*p == '{') {
            rc = mw_err_set(err, MW_ERR_UNSUPPORTED,
                            "multi-dimensional arrays are not supported");
            break;
        }
        if (*p == '"') {
            quoted = true;
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                elem[n++] = *p;
            }
            if (p >= end) {
                rc = bad_value(err, "array", s, len);
                break;
            }
            p++;
        } else {
            while (p < end && *p != ',')
                elem[n++] = *p++;
        }
        if (!o->avro && count && mw_buf_append(items, ",", 1) != 0)
            rc = MW_ERR_NOMEM;
        count++;
        if (rc == 0 && !quoted && n == 4 && !memcmp(elem, "NULL", 4)) {
            rc = o->avro ? pr_pg_avro_long(items, 0)
                         : mw_buf_append(items, "null", 4);
        } else if (rc == 0) {
            if (o->avro) {
                rc = pr_pg_avro_long(items, 1);
            } else {
                rc = pr_pg_put(items, "{\"");
                if (rc == 0)
                    rc = pr_pg_put(items, pr_pg_type_branch(t->elem));
                if (rc == 0)
                    rc = pr_pg_put(items, "\":");
            }
            if (rc == 0)
                rc = pr_pg_type_value(t->elem, elem, n, &io, err);
            if (rc == 0 && !o->avro)
                rc = mw_buf_append(items, "}", 1);
        }
        if (rc == 0 && p < end && *p++ != ',')
            rc = bad_value(err, "array", s, len);
    }
    if (rc == 0 && o->avro) {
        if (count)
            rc = pr_pg_avro_long(o->buf, count);
        if (rc == 0)
            rc = mw_buf_append(o->buf, mw_buf_data(items), mw_buf_len(items));
        if (rc == 0)
            rc = pr_pg_avro_long(o->buf, 0);
    } else if (rc == 0) {
        rc = mw_buf_append(o->buf, "[", 1);
        if (rc == 0)
            rc = mw_buf_append(o->buf, mw_buf_data(items), mw_buf_len(items));
        if (rc == 0)
            rc = mw_buf_append(o->buf, "]", 1);
    }
    mw_buf_destroy(items);
    free(elem);
    return rc;
}

/* Offset of the first byte of text[0..len) that is not part of valid UTF-8
 * (no overlong forms, no surrogates, nothing past U+10FFFF), or len. */
static size_t utf8_bad_at(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;

    while (i < len) {
        unsigned c = p[i];
        size_t n = c < 0x80                 ? 0
                   : c >= 0xc2 && c <= 0xdf ? 1
                   : c >= 0xe0 && c <= 0xef ? 2
                   : c >= 0xf0 && c <= 0xf4 ? 3
                                            : 4;
        if (n == 4 || len - i <= n)
            return i;
        /* The second byte's range is narrower after E0, ED, F0 and F4. */
        unsigned lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
        unsigned hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
        if (n && (p[i + 1] < lo || p[i + 1] > hi))
            return i;
        for (size_t k = 2; k <= n; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return i;
        i += n + 1;
    }
    return len;
}

int pr_pg_type_value(const pr_pg_type_t *t, const char *text, size_t len,
                     pr_pg_out_t *o, mw_err_t *err)
{
    size_t bad = utf8_bad_at(text, len);

    /* A database whose encoding is SQL_ASCII sends its bytes unconverted
     * whatever client_encoding says; an Avro string must be UTF-8, so
     * such a value is refused here rather than sent as a record no
     * consumer can decode. */
    if (bad < len)
        return mw_err_set(err, MW_ERR_INVALID,
                          "type %u: value is not valid UTF-8 (byte %zu)",
                          t->oid, bad);
    switch (t->kind) {
    case PR_PG_INT16:
        return int_value(text, len, INT16_MAX, o, err);
    case PR_PG_INT32:
        return int_value(text, len, INT32_MAX, o, err);
    case PR_PG_INT64:
        return int_value(text, len, INT64_MAX, o, err);
    case PR_PG_FLOAT32:
    case PR_PG_FLOAT64:
        return float_value(text, len, t->kind == PR_PG_FLOAT32, o, err);
    case PR_PG_BOOL:
        if (len == 1 && (text[0] == 't' || text[0] == 'f'))
            return w_bool(o, text[0] == 't');
        return bad_value(err, "boolean", text, len);
    case PR_PG_BYTES:
        return bytea_value(text, len, o, err);
    case PR_PG_DECIMAL:
    case PR_PG_VARDEC:
        return decimal_value(t, text, len, o, err);
    case PR_PG_DATE:
        return date_value(text, len, o, err);
    case PR_PG_TIME_MS:
    case PR_PG_TIME_US:
    case PR_PG_TIMETZ:
        return time_value(t, text, len, o, err);
    case PR_PG_TS_MS:
    case PR_PG_TS_US:
    case PR_PG_TSTZ:
        return ts_value(t, text, len, o, err);
    case PR_PG_INTERVAL:
        return interval_value(text, len, o, err);
    case PR_PG_ARRAY:
        return array_value(t, text, len, o, err);
    default:
        return w_str(o, text, len);
    }
}

bool pr_pg_type_placeholder(const pr_pg_type_t *t, pr_pg_out_t *o)
{
    static const char ph[] = PR_PG_UNAVAILABLE;

    switch (t->kind) {
    case PR_PG_STRING:
    case PR_PG_JSON:
    case PR_PG_BYTES: /* the placeholder's bytes, as Debezium sends */
        return w_str(o, ph, sizeof(ph) - 1) == 0;
    default:
        return false;
    }
}

int pr_pg_type_empty(const pr_pg_type_t *t, pr_pg_out_t *o)
{
    static const uint8_t zero = 0;

    switch (t->kind) {
    case PR_PG_BOOL:
        return w_bool(o, false);
    case PR_PG_FLOAT32:
    case PR_PG_FLOAT64:
        return w_real(o, t->kind == PR_PG_FLOAT32, 0.0, "0", 1, false);
    case PR_PG_DECIMAL:
        return w_bytes(o, &zero, 1);
    case PR_PG_VARDEC:
        return decimal_value(t, "0", 1, o, NULL);
    case PR_PG_ARRAY:
        return o->avro ? pr_pg_avro_long(o->buf, 0) : pr_pg_put(o->buf, "[]");
    case PR_PG_BYTES:
        return w_bytes(o, &zero, 0);
    case PR_PG_STRING:
    case PR_PG_TIMETZ:
    case PR_PG_TSTZ:
    case PR_PG_UUID:
    case PR_PG_JSON:
    case PR_PG_ENUM:
        return w_str(o, "", 0);
    default:
        return w_long(o, 0);
    }
}
