/*
 * unit_avgen: random Avro JSON values for a schema, for the differential
 * tests (av_jtext against jansson, av_proj and mat_fast against the JSON
 * path).  Mostly valid values; now and then one that does not fit (a
 * missing field, a bogus union branch, an out-of-range number) so the
 * encoders' refusals are exercised too.  Deterministic from `rng`.
 */
#ifndef UNIT_AVGEN_H
#define UNIT_AVGEN_H

#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "av_schema.h"

/* The generator's state: a test seeds it (xorshift64). */
static uint64_t rng;

static inline uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static inline size_t rn(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static inline int chance(int pct)
{
    return (int)rn(100) < pct;
}

static inline const char *branch_key(const av_node_t *b, int short_name)
{
    if (b->type == AV_RECORD || b->type == AV_ENUM || b->type == AV_FIXED)
        return short_name ? b->name : b->fullname;
    return av_type_name(b->type);
}

/* Valid UTF-8 made of pieces that stress escaping; NUL when allowed. */
static inline json_t *rand_string(int allow_nul, size_t max_pieces)
{
    static const char *pieces[] = {"a",
                                   "b",
                                   "Z",
                                   "0",
                                   "9",
                                   " ",
                                   "\"",
                                   "\\",
                                   "/",
                                   "\n",
                                   "\t",
                                   "\x01",
                                   "\x1f",
                                   "\x7f",
                                   "\xc3\xa9",
                                   "\xc3\xbf",
                                   "\xc2\x80",
                                   "\xe2\x82\xac",
                                   "\xf0\x9f\x98\x80",
                                   "\xef\xbf\xbf",
                                   "~",
                                   "key",
                                   "NaN",
                                   "A"};
    char buf[256];
    size_t n = 0, cnt = rn(max_pieces + 1);
    for (size_t i = 0; i < cnt; i++) {
        if (allow_nul && chance(3)) {
            buf[n++] = '\0';
            continue;
        }
        const char *p = pieces[rn(sizeof(pieces) / sizeof(pieces[0]))];
        memcpy(buf + n, p, strlen(p));
        n += strlen(p);
    }
    return json_stringn(buf, n);
}

/* A bytes/fixed string: code points 0-255, rarely one above. */
static inline json_t *rand_bytes(size_t cnt)
{
    char buf[600];
    size_t n = 0;
    for (size_t i = 0; i < cnt; i++) {
        unsigned c = chance(50) ? (unsigned)rn(128) : (unsigned)rn(256);
        if (rn(500) == 0) {
            memcpy(buf + n, "\xc4\x80", 2); /* U+0100 */
            n += 2;
        } else if (c < 0x80) {
            buf[n++] = (char)c;
        } else {
            buf[n++] = (char)(0xc0 | (c >> 6));
            buf[n++] = (char)(0x80 | (c & 0x3f));
        }
    }
    return json_stringn(buf, n);
}

/* Mostly valid; 1 in 300 a non-integral real or out of range. */
static inline json_t *gen_int(int64_t lo, int64_t hi)
{
    if (rn(300) == 0)
        return rn(2)             ? json_real((double)rn(1000) / 8.0 + 0.5)
               : hi == INT32_MAX ? json_integer((json_int_t)hi + 1 + rn(3))
                                 : json_real(1e19);
    switch (rn(12)) {
    case 0:
        return json_integer(lo);
    case 1:
        return json_integer(hi);
    case 2:
        return json_integer(0);
    case 3:
        return json_real((double)((int64_t)rn(2000) - 1000));
    case 4:
        return json_real(-0.0);
    default:
        if (hi == INT32_MAX)
            return json_integer((int32_t)rnd() >> rn(32));
        return json_integer((int64_t)rnd() >> rn(64));
    }
}

static inline json_t *gen_real(void)
{
    static const char *special[] = {"NaN", "Infinity", "-Infinity"};
    switch (rn(10)) {
    case 0:
        return json_string(special[rn(3)]);
    case 1:
        return json_integer((int64_t)rnd() >> rn(64));
    case 2:
        return json_real(4.9e-324 * (double)rn(100));
    case 3:
        return json_real((chance(50) ? 1 : -1) * 1.7e308 * (double)rn(2));
    case 4:
        return json_real(-0.0);
    case 5:
        return json_real(3.4e38 * (double)rn(3));
    default:
        return json_real((double)(int64_t)rnd() / (double)(1ull << rn(64)));
    }
}

static inline json_t *gen_decimal(void)
{
    if (chance(2))
        return json_real(1e17 * (double)rn(3));
    switch (rn(3)) {
    case 0:
        return json_integer((int64_t)rn(200000) - 100000);
    case 1:
        return json_real(((double)rn(2000000) - 1000000) / 1000.0);
    default:
        return json_integer((int64_t)rnd() >> (16 + rn(48)));
    }
}

static inline json_t *gen(const av_node_t *n, int depth);

static inline json_t *gen_record(const av_node_t *n, int depth)
{
    json_t *o = json_object();
    size_t order[64];
    assert_true(n->field_cnt <= 64);
    for (size_t i = 0; i < n->field_cnt; i++)
        order[i] = i;
    for (size_t i = n->field_cnt; i > 1; i--) { /* random key order */
        size_t j = rn(i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (size_t k = 0; k < n->field_cnt; k++) {
        const av_field_t *f = &n->fields[order[k]];
        if ((f->dflt && chance(20)) || (!f->dflt && rn(300) == 0))
            continue; /* default, or a missing required field */
        json_object_set_new(o, f->name, gen(f->type, depth + 1));
    }
    if (rn(300) == 0)
        json_object_set_new(o, "zz_unknown", json_integer(1));
    return o;
}

static inline json_t *gen_container(const av_node_t *n, int depth)
{
    size_t cnt = depth > 8   ? 0
                 : depth > 2 ? rn(2)
                 : chance(4) ? 60 + rn(10)
                             : rn(5);
    if (n->type == AV_ARRAY) {
        json_t *a = json_array();
        for (size_t i = 0; i < cnt; i++)
            json_array_append_new(a, gen(n->items, depth + 1));
        return a;
    }
    json_t *m = json_object();
    for (size_t i = 0; i < cnt; i++) {
        json_t *k = rand_string(0, 4);
        json_object_setn_new(m, json_string_value(k), json_string_length(k),
                             gen(n->values, depth + 1));
        json_decref(k);
    }
    return m;
}

static inline json_t *gen_union(const av_node_t *n, int depth)
{
    const av_node_t *b = n->branches[rn(n->branch_cnt)];
    for (size_t i = 0; depth > 3 && i < n->branch_cnt && chance(90); i++)
        if (n->branches[i]->type == AV_NULL)
            b = n->branches[i];
    if (b->type == AV_NULL && chance(95))
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, rn(100) ? branch_key(b, chance(30)) : "bogus",
                        gen(b, depth));
    return o;
}

static inline json_t *gen(const av_node_t *n, int depth)
{
    switch (n->type) {
    case AV_NULL:
        return json_null();
    case AV_BOOLEAN:
        return json_boolean(rn(2));
    case AV_INT:
        return gen_int(INT32_MIN, INT32_MAX);
    case AV_LONG:
        return gen_int(INT64_MIN, INT64_MAX);
    case AV_FLOAT:
    case AV_DOUBLE:
        return gen_real();
    case AV_STRING:
        return rand_string(1, 12);
    case AV_BYTES:
    case AV_FIXED:
        if (n->logical == AV_LOGICAL_DECIMAL && chance(40))
            return gen_decimal();
        if (n->type == AV_BYTES)
            return rand_bytes(rn(10));
        return rand_bytes(rn(100) ? n->size : n->size + 1);
    case AV_ENUM:
        return json_string(rn(100) ? n->symbols[rn(n->symbol_cnt)] : "NOPE");
    case AV_ARRAY:
    case AV_MAP:
        return gen_container(n, depth);
    case AV_RECORD:
        return gen_record(n, depth);
    case AV_UNION:
        return gen_union(n, depth);
    default:
        return json_null();
    }
}

#endif /* UNIT_AVGEN_H */
