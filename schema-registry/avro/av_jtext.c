/*
 * av_jtext: Avro JSON text -> Avro binary in one pass, by running the same
 * encoding plan as av_serde_enc.c.  Sits in the producers' data path in
 * front of json_loadb + av_serde_json_to_avro, which stays the reference:
 * any text we are not sure about is declined and goes that way.
 *
 * How the one pass keeps the slow path's output:
 *   - record fields come in any order, Avro wants schema order: fields
 *     that arrive in order are written in place; from the first one out of
 *     order on, each value is encoded where it lands and its bytes are
 *     moved into schema order when the object closes;
 *   - a missing field takes its default, pre-encoded in the plan
 *     (av_serde_enc_prepare) by the slow path's own encoder;
 *   - arrays and maps are one block, count first, like av_serde_enc.c: a
 *     byte is reserved for the count and the items are moved when the
 *     count turns out to need more;
 *   - the path depth (record fields, items, map values) is counted as
 *     av_serde_enc.c counts it, so AV_SERDE_MAX_DEPTH cuts at the same
 *     place;
 *   - scalars share the slow path's rules: integral reals for int/long
 *     with the same range tests, the same decimal arithmetic
 *     (av_serde_decimal_be), the union branch lookup (av_serde_union_pick).
 * The output is built in a private buffer (on the stack up to 4 KiB) and
 * appended to the caller's mw_buf only on success, so a declined text
 * leaves it untouched.  Any thread; the plan is only read.
 */
#include "av_jtext.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "av_jtext_int.h"
#include "av_serde_int.h"
#include "av_varint.h"
#include "mw_vec.h"

/* Largest output built here; past it the slow path reports MW_ERR_FULL
 * against the caller's own limit.  A string is decoded in place, so the
 * room it asks for is the rest of the text: texts near half of this are
 * declined even when their output would fit. */
#define OUT_MAX ((size_t)64 << 20)
#define STACK_OUT 4096
#define STACK_SLOTS 256
#define KEY_MAX 255

/* Where a record field's bytes were encoded, once fields come out of
 * order.  len SLOT_NONE: not seen yet. */
typedef struct slot {
    uint32_t off, len;
} slot_t;
#define SLOT_NONE UINT32_MAX

typedef struct jt {
    const char *p, *end;
    const av_op_t *ops;
    uint8_t *o; /* output: stack_out or heap */
    size_t n, cap;
    int depth; /* path depth, as av_serde_enc counts it */
    int code;  /* why we stopped: MW_ERR_UNSUPPORTED/_NOMEM */
    const char *why;
    slot_t *slots; /* stack of per-record slot arrays */
    size_t slot_top, slot_cap;
    slot_t stack_slots[STACK_SLOTS];
    uint8_t stack_out[STACK_OUT];
} jt_t;

static int no(jt_t *t, const char *why)
{
    if (!t->why)
        t->why = why;
    return -1;
}

/* ------------------------------------------------------------ output */

static int grow(jt_t *t, size_t need)
{
    if (need <= t->cap - t->n)
        return 0;
    if (need > OUT_MAX - t->n)
        return no(t, "encoded value larger than 64 MiB");
    if (MW_VEC_RESERVE_INLINE(&t->o, &t->cap, t->n + need, OUT_MAX,
                              t->stack_out) != 0) {
        t->code = MW_ERR_NOMEM;
        return no(t, "out of memory");
    }
    return 0;
}

static int put_long(jt_t *t, int64_t v)
{
    if (grow(t, AV_VARINT_MAX) != 0)
        return -1;
    t->n += av_varint_put(t->o + t->n, v);
    return 0;
}

static int put_raw(jt_t *t, const void *p, size_t n)
{
    if (grow(t, n) != 0)
        return -1;
    memcpy(t->o + t->n, p, n);
    t->n += n;
    return 0;
}

static int put_le(jt_t *t, uint64_t u, size_t n)
{
    if (grow(t, 8) != 0)
        return -1;
    t->n += av_le_put(t->o + t->n, u, n);
    return 0;
}

/* Writes count (or a length) as the varint at pos, where one byte was
 * reserved, moving what follows when the varint is longer (>= 64). */
static int put_count(jt_t *t, size_t pos, size_t count)
{
    uint8_t b[AV_VARINT_MAX];
    size_t k = av_varint_put(b, (int64_t)count);
    if (k > 1) {
        if (grow(t, k - 1) != 0)
            return -1;
        memmove(t->o + pos + k, t->o + pos + 1, t->n - pos - 1);
        t->n += k - 1;
    }
    memcpy(t->o + pos, b, k);
    return 0;
}

/* ------------------------------------------------------------ tokens */

static void ws(jt_t *t)
{
    t->p = av_jtext_ws(t->p, t->end);
}

static int at(jt_t *t, char c)
{
    return t->p < t->end && *t->p == c;
}

static int literal(jt_t *t, const char *word, size_t n)
{
    if ((size_t)(t->end - t->p) < n || memcmp(t->p, word, n) != 0)
        return no(t, "not the expected literal");
    t->p += n;
    return 0;
}

static int number(jt_t *t, av_jtext_num_t *num)
{
    const char *q = av_jtext_number(t->p, t->end, 1, num);
    if (!q)
        return no(t, "expected a number jansson accepts");
    t->p = q;
    return 0;
}

/* The raw text of a string without escapes (enum symbols, "NaN"): the
 * span up to the closing quote.  Escapes are declined; a span with bad
 * bytes cannot equal the ASCII words it is compared with. */
static int plain_string(jt_t *t, const char **s, size_t *n)
{
    const char *q = ++t->p;
    while (q < t->end && *q != '"' && *q != '\\')
        q++;
    if (q >= t->end || *q != '"')
        return no(t, "escaped or unterminated string");
    *s = t->p;
    *n = (size_t)(q - t->p);
    t->p = q + 1;
    return 0;
}

/* A key, decoded, NUL-terminated, in buf (KEY_MAX + 1 bytes) unless it
 * has no escape, in which case *k points into the text.  jansson refuses
 * keys that decode to U+0000. */
static int key(jt_t *t, char *buf, const char **k, size_t *n)
{
    unsigned fl;
    const char *s = t->p + 1, *q = s;
    while (q < t->end && av_jtext_cls[(uint8_t)*q] == AV_JC_PLAIN)
        q++;
    if (q < t->end && *q == '"') {
        *k = s;
        *n = (size_t)(q - s);
        t->p = q + 1;
        return 0;
    }
    q = av_jtext_string_skip(s, t->end, &fl);
    if (!q || (fl & AV_JS_NUL))
        return no(t, "bad key");
    if ((size_t)(q - s) > KEY_MAX + 1)
        return no(t, "key too long");
    av_jtext_string_decode(s, q, (uint8_t *)buf, 0, n, &fl);
    buf[*n] = '\0';
    *k = buf;
    t->p = q;
    return 0;
}

/* ws ':' ws between a key and its value */
static int colon(jt_t *t)
{
    ws(t);
    if (!at(t, ':'))
        return no(t, "expected ':'");
    t->p++;
    ws(t);
    return 0;
}

/* After an item: ws, then ',' (1, more items) or close (0). */
static int next_item(jt_t *t, char close)
{
    ws(t);
    if (at(t, ',')) {
        t->p++;
        ws(t);
        return 1;
    }
    if (at(t, close)) {
        t->p++;
        return 0;
    }
    return no(t, "expected ',' or the closing bracket");
}

static int push(jt_t *t)
{
    if (t->depth >= AV_SERDE_MAX_DEPTH)
        return no(t, "value nested deeper than AV_SERDE_MAX_DEPTH");
    t->depth++;
    return 0;
}

/* ------------------------------------------------------------ scalars */

/* av_serde_enc.c's get_integer: an integer in [lo, hi], or a real with an
 * integral value in range, tested the same way. */
static int enc_integer(jt_t *t, int64_t lo, int64_t hi)
{
    av_jtext_num_t num;
    if (number(t, &num) != 0)
        return -1;
    if (!num.is_real) {
        if (num.i < lo || num.i > hi)
            return no(t, "integer out of range");
        return put_long(t, num.i);
    }
    double d = num.d;
    if (d != floor(d) || d < (double)lo || d >= -(double)INT64_MIN ||
        d > (double)hi)
        return no(t, "real is not a valid integer");
    return put_long(t, (int64_t)d);
}

/* float/double: a number, or the strings NaN, Infinity, -Infinity. */
static int enc_real(jt_t *t, const av_op_t *op)
{
    av_jtext_num_t num;
    double d;
    if (at(t, '"')) {
        const char *s;
        size_t n;
        if (plain_string(t, &s, &n) != 0)
            return -1;
        if (n == 3 && memcmp(s, "NaN", 3) == 0)
            d = NAN;
        else if (n == 8 && memcmp(s, "Infinity", 8) == 0)
            d = INFINITY;
        else if (n == 9 && memcmp(s, "-Infinity", 9) == 0)
            d = -INFINITY;
        else
            return no(t, "string is not NaN or Infinity");
    } else if (number(t, &num) != 0) {
        return -1;
    } else {
        d = num.is_real ? num.d : (double)num.i;
    }
    if (op->kind == AV_OP_FLOAT) {
        float f = (float)d;
        uint32_t u;
        memcpy(&u, &f, sizeof(u));
        return put_le(t, u, 4);
    }
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return put_le(t, u, 8);
}

/* A decimal given as a JSON number. */
static int enc_decimal(jt_t *t, const av_op_t *op)
{
    av_jtext_num_t num;
    uint8_t buf[256];
    size_t n;
    if (number(t, &num) != 0)
        return -1;
    if (op->kind == AV_OP_FIXED && op->cnt > sizeof(buf))
        return no(t, "decimal fixed too large");
    long double x = num.is_real ? (long double)num.d : (long double)num.i;
    if (av_serde_decimal_be(op, x, buf, &n) != 0)
        return no(t, "decimal does not fit");
    if (op->kind == AV_OP_BYTES && put_long(t, (int64_t)n) != 0)
        return -1;
    return put_raw(t, buf, n);
}

/* string (UTF-8 as is), bytes and fixed (code points 0-255 as bytes). */
static int enc_text(jt_t *t, const av_op_t *op)
{
    if (op->decimal && t->p < t->end &&
        (*t->p == '-' || (*t->p >= '0' && *t->p <= '9')))
        return enc_decimal(t, op);
    if (!at(t, '"'))
        return no(t, "expected a string");
    /* Decode after a one-byte length slot: the text bounds the length. */
    size_t room = (size_t)(t->end - t->p), len, pos = t->n;
    size_t lead = op->kind == AV_OP_FIXED ? 0 : 1;
    unsigned fl;
    if (grow(t, room + 10) != 0)
        return -1;
    const char *q = av_jtext_string_decode(t->p + 1, t->end, t->o + pos + lead,
                                           op->kind != AV_OP_STRING, &len, &fl);
    if (!q)
        return no(t,
                  op->kind == AV_OP_STRING ? "bad string" : "bad bytes string");
    t->p = q;
    t->n = pos + lead + len;
    if (op->kind == AV_OP_FIXED)
        return len == op->cnt ? 0 : no(t, "fixed of the wrong size");
    return put_count(t, pos, len);
}

static int enc_enum(jt_t *t, const av_op_t *op)
{
    const char *s;
    size_t n;
    if (!at(t, '"'))
        return no(t, "expected an enum symbol");
    if (plain_string(t, &s, &n) != 0)
        return -1;
    const av_node_t *node = op->node;
    for (size_t i = 0; i < node->symbol_cnt; i++)
        if (strlen(node->symbols[i]) == n &&
            memcmp(node->symbols[i], s, n) == 0)
            return put_long(t, (int64_t)i);
    return no(t, "not a symbol of the enum");
}

/* ------------------------------------------------------------ compound */

static int enc(jt_t *t, uint32_t idx);

static int enc_array(jt_t *t, const av_op_t *op)
{
    size_t pos = t->n, count = 0;
    if (!at(t, '['))
        return no(t, "expected an array");
    t->p++;
    ws(t);
    if (at(t, ']')) {
        t->p++;
        return put_long(t, 0);
    }
    if (grow(t, 1) != 0)
        return -1;
    t->n++;
    int more;
    do {
        if (push(t) != 0 || enc(t, op->child) != 0)
            return -1;
        t->depth--;
        count++;
    } while ((more = next_item(t, ']')) == 1);
    if (more < 0 || put_count(t, pos, count) != 0)
        return -1;
    return put_long(t, 0);
}

/* Map keys seen so far, to decline duplicates (jansson would keep the
 * last value at the first key's place).  Keys are the Avro strings just
 * written: offsets into the output, which may move. */
typedef struct kset {
    struct kent {
        uint32_t off, len, hash;
    } * ents;
    uint32_t cnt, cap;
    uint32_t *idx; /* hash index once cnt > 16, idx_mask + 1 slots */
    uint32_t idx_mask;
    struct kent small[16];
} kset_t;

static int kset_eq(const jt_t *t, const struct kent *a, const struct kent *b)
{
    return a->hash == b->hash && a->len == b->len &&
           memcmp(t->o + a->off, t->o + b->off, a->len) == 0;
}

static int kset_index(jt_t *t, kset_t *ks, uint32_t cap)
{
    uint32_t *idx = malloc(cap * sizeof(*idx));
    if (!idx) {
        t->code = MW_ERR_NOMEM;
        return no(t, "out of memory");
    }
    memset(idx, 0xff, cap * sizeof(*idx));
    for (uint32_t i = 0; i < ks->cnt; i++) {
        uint32_t h = ks->ents[i].hash & (cap - 1);
        while (idx[h] != UINT32_MAX)
            h = (h + 1) & (cap - 1);
        idx[h] = i;
    }
    free(ks->idx);
    ks->idx = idx;
    ks->idx_mask = cap - 1;
    return 0;
}

/* Adds the key at [off, off + len): 0 new, -1 duplicate or no memory. */
static int kset_add(jt_t *t, kset_t *ks, size_t off, size_t len)
{
    struct kent e = {(uint32_t)off, (uint32_t)len,
                     av_serde_fld_hash((const char *)t->o + off, len)};
    if (!ks->idx) {
        for (uint32_t i = 0; i < ks->cnt; i++)
            if (kset_eq(t, &ks->ents[i], &e))
                return no(t, "duplicate map key");
    } else {
        uint32_t h = e.hash & ks->idx_mask;
        for (; ks->idx[h] != UINT32_MAX; h = (h + 1) & ks->idx_mask)
            if (kset_eq(t, &ks->ents[ks->idx[h]], &e))
                return no(t, "duplicate map key");
    }
    if (ks->cnt == ks->cap) {
        uint32_t cap = ks->cap * 2;
        struct kent *ents = ks->ents == ks->small
                                ? malloc(cap * sizeof(*ents))
                                : realloc(ks->ents, cap * sizeof(*ents));
        if (!ents) {
            t->code = MW_ERR_NOMEM;
            return no(t, "out of memory");
        }
        if (ks->ents == ks->small)
            memcpy(ents, ks->small, sizeof(ks->small));
        ks->ents = ents;
        ks->cap = cap;
        if (kset_index(t, ks, cap * 2) != 0)
            return -1;
    }
    ks->ents[ks->cnt] = e;
    if (ks->idx) {
        uint32_t h = e.hash & ks->idx_mask;
        while (ks->idx[h] != UINT32_MAX)
            h = (h + 1) & ks->idx_mask;
        ks->idx[h] = ks->cnt;
    }
    ks->cnt++;
    return 0;
}

/* One map entry: the key as an Avro string, then the value. */
static int map_entry(jt_t *t, const av_op_t *op, kset_t *ks)
{
    size_t room = (size_t)(t->end - t->p), len, pos = t->n;
    unsigned fl;
    if (!at(t, '"'))
        return no(t, "expected a map key");
    if (grow(t, room + 10) != 0)
        return -1;
    const char *q =
        av_jtext_string_decode(t->p + 1, t->end, t->o + pos + 1, 0, &len, &fl);
    if (!q || (fl & AV_JS_NUL))
        return no(t, "bad map key");
    t->p = q;
    t->n = pos + 1 + len;
    if (put_count(t, pos, len) != 0)
        return -1;
    if (kset_add(t, ks, t->n - len, len) != 0 || colon(t) != 0 ||
        push(t) != 0 || enc(t, op->child) != 0)
        return -1;
    t->depth--;
    return 0;
}

static int enc_map(jt_t *t, const av_op_t *op)
{
    size_t pos = t->n, count = 0;
    if (!at(t, '{'))
        return no(t, "expected a map (object)");
    t->p++;
    ws(t);
    if (at(t, '}')) {
        t->p++;
        return put_long(t, 0);
    }
    if (grow(t, 1) != 0)
        return -1;
    t->n++;
    kset_t ks;
    ks.ents = ks.small;
    ks.cnt = 0;
    ks.cap = 16;
    ks.idx = NULL;
    int more, rc = 0;
    do {
        if ((rc = map_entry(t, op, &ks)) != 0)
            break;
        count++;
    } while ((more = next_item(t, '}')) == 1);
    if (ks.ents != ks.small)
        free(ks.ents);
    free(ks.idx);
    if (rc != 0 || more < 0 || put_count(t, pos, count) != 0)
        return -1;
    return put_long(t, 0);
}

/* ------------------------------------------------------------ records */

/* A record being written.  Fields [0, next) were written in schema order;
 * base is SIZE_MAX until a field comes out of order, then the first of
 * op->cnt slots in t->slots, and mark the output offset where the values
 * written out of order start. */
typedef struct rec {
    const av_op_t *op;
    uint32_t next;
    size_t base, mark;
} rec_t;

/* A byte loop, not memcmp: names are short, and the call cost more than
 * the compare (memcmp from here was ~2 % of the producer's loop thread in
 * perf; the loop made av_serde_bench's text line 3-5 % faster). */
static int name_is(const av_fld_t *f, const char *k, size_t n)
{
    if (f->name_len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (f->name[i] != k[i])
            return 0;
    return 1;
}

/* Index of the field named k (n bytes), or AV_OP_NONE.  hint is tried
 * first: keys usually come in schema order. */
static uint32_t field_of(const av_op_t *op, const char *k, size_t n,
                         uint32_t hint)
{
    if (hint < op->cnt && name_is(&op->flds[hint], k, n))
        return hint;
    if (op->fhash) {
        uint32_t h = av_serde_fld_hash(k, n) & op->fhash_mask;
        for (; op->fhash[h] != AV_OP_NONE; h = (h + 1) & op->fhash_mask)
            if (name_is(&op->flds[op->fhash[h]], k, n))
                return op->fhash[h];
        return AV_OP_NONE;
    }
    for (uint32_t i = 0; i < op->cnt; i++)
        if (name_is(&op->flds[i], k, n))
            return i;
    return AV_OP_NONE;
}

/* Switches r to out-of-order mode: one slot per field, none seen. */
static int slots_open(jt_t *t, rec_t *r)
{
    size_t cnt = r->op->cnt;
    if (t->slot_cap - t->slot_top < cnt &&
        MW_VEC_RESERVE_INLINE(&t->slots, &t->slot_cap, t->slot_top + cnt,
                              SIZE_MAX, t->stack_slots) != 0) {
        t->code = MW_ERR_NOMEM;
        return no(t, "out of memory");
    }
    r->base = t->slot_top;
    r->mark = t->n;
    t->slot_top += cnt;
    for (size_t i = 0; i < cnt; i++)
        t->slots[r->base + i] = (slot_t){0, SLOT_NONE};
    return 0;
}

/* The value of field i, where the cursor is.  A field seen twice is
 * declined (jansson keeps the last value). */
static int rec_field(jt_t *t, rec_t *r, uint32_t i)
{
    const av_fld_t *f = &r->op->flds[i];
    if (i < r->next)
        return no(t, "duplicate field");
    if (r->base == SIZE_MAX && i == r->next) {
        if (push(t) != 0 || enc(t, f->op) != 0)
            return -1;
        t->depth--;
        r->next++;
        return 0;
    }
    if (r->base == SIZE_MAX && slots_open(t, r) != 0)
        return -1;
    if (t->slots[r->base + i].len != SLOT_NONE)
        return no(t, "duplicate field");
    size_t start = t->n;
    if (push(t) != 0 || enc(t, f->op) != 0) /* may move t->slots */
        return -1;
    t->depth--;
    t->slots[r->base + i] = (slot_t){(uint32_t)start, (uint32_t)(t->n - start)};
    return 0;
}

/* The bytes of a field the object lacks: its default, if it has one that
 * encodes and the path stays within AV_SERDE_MAX_DEPTH, as in
 * av_serde_enc.c, which pushes the field, then encodes the default. */
static int rec_default_ok(jt_t *t, const av_fld_t *f)
{
    if (t->depth >= AV_SERDE_MAX_DEPTH || f->dflt_depth < 0 ||
        t->depth + 1 + f->dflt_depth > AV_SERDE_MAX_DEPTH)
        return no(t, "missing field without a usable default");
    return 0;
}

/* The fields from r->next on, in schema order: defaults for the missing
 * ones, and the values written out of order moved into place (copied past
 * the end in order, then the whole run moved down over the originals). */
static int rec_finish(jt_t *t, rec_t *r)
{
    const av_op_t *op = r->op;
    size_t total = 0, end0 = t->n;
    for (uint32_t i = r->next; i < op->cnt; i++) {
        const slot_t *s = r->base == SIZE_MAX ? NULL : &t->slots[r->base + i];
        if (s && s->len != SLOT_NONE)
            total += s->len;
        else if (rec_default_ok(t, &op->flds[i]) != 0)
            return -1;
        else
            total += op->flds[i].dflt_len;
    }
    if (grow(t, total) != 0)
        return -1;
    for (uint32_t i = r->next; i < op->cnt; i++) {
        const slot_t *s = r->base == SIZE_MAX ? NULL : &t->slots[r->base + i];
        if (s && s->len != SLOT_NONE) {
            memcpy(t->o + t->n, t->o + s->off, s->len);
            t->n += s->len;
        } else {
            memcpy(t->o + t->n, op->flds[i].dflt_bin, op->flds[i].dflt_len);
            t->n += op->flds[i].dflt_len;
        }
    }
    if (r->base == SIZE_MAX)
        return 0;
    memmove(t->o + r->mark, t->o + end0, total);
    t->n = r->mark + total;
    t->slot_top = r->base;
    return 0;
}

static int enc_record(jt_t *t, const av_op_t *op)
{
    rec_t r = {.op = op, .next = 0, .base = SIZE_MAX};
    char buf[KEY_MAX + 1];
    const char *k;
    size_t n;
    uint32_t hint = 0;
    int more = 0;
    if (!at(t, '{'))
        return no(t, "expected a record (object)");
    t->p++;
    ws(t);
    if (at(t, '}')) {
        t->p++;
        return rec_finish(t, &r);
    }
    do {
        if (!at(t, '"'))
            return no(t, "expected a field name");
        if (key(t, buf, &k, &n) != 0)
            return -1;
        uint32_t i = field_of(op, k, n, hint);
        if (i == AV_OP_NONE)
            return no(t, "not a field of the record");
        if (colon(t) != 0 || rec_field(t, &r, i) != 0)
            return -1;
        hint = i + 1;
    } while ((more = next_item(t, '}')) == 1);
    return more < 0 ? -1 : rec_finish(t, &r);
}

/* ------------------------------------------------------------ unions */

/* The union branch named by {"name": value}, or null. */
static int enc_union(jt_t *t, const av_op_t *op)
{
    const av_node_t *u = op->node;
    char buf[KEY_MAX + 1];
    const char *k;
    size_t n;
    if (at(t, 'n')) {
        if (literal(t, "null", 4) != 0)
            return -1;
        for (uint32_t i = 0; i < op->cnt; i++)
            if (u->branches[i]->type == AV_NULL)
                return put_long(t, i);
        return no(t, "null is not a branch of the union");
    }
    if (!at(t, '{'))
        return no(t, "expected a union value or null");
    t->p++;
    ws(t);
    if (!at(t, '"'))
        return no(t, "expected a union branch key");
    if (key(t, buf, &k, &n) != 0)
        return -1;
    if (k != buf) { /* union_pick wants a C string */
        if (n > KEY_MAX)
            return no(t, "union branch key too long");
        memcpy(buf, k, n);
        buf[n] = '\0';
    }
    uint32_t b = av_serde_union_pick(op, buf);
    if (b == AV_OP_NONE || op->map[b] == AV_OP_NONE)
        return no(t, "not a branch of the union");
    if (put_long(t, b) != 0 || colon(t) != 0 || enc(t, op->map[b]) != 0)
        return -1;
    ws(t);
    if (!at(t, '}')) /* a second key may repeat the first: jansson */
        return no(t, "union object with more than one key");
    t->p++;
    return 0;
}

static int enc(jt_t *t, uint32_t idx)
{
    const av_op_t *op = &t->ops[idx];
    switch ((av_op_kind_t)op->kind) {
    case AV_OP_NULL:
        return literal(t, "null", 4);
    case AV_OP_BOOL:
        if (at(t, 't'))
            return literal(t, "true", 4) != 0 ? -1 : put_raw(t, "\1", 1);
        return literal(t, "false", 5) != 0 ? -1 : put_raw(t, "\0", 1);
    case AV_OP_INT:
        return enc_integer(t, INT32_MIN, INT32_MAX);
    case AV_OP_LONG:
        return enc_integer(t, INT64_MIN, INT64_MAX);
    case AV_OP_FLOAT:
    case AV_OP_DOUBLE:
        return enc_real(t, op);
    case AV_OP_BYTES:
    case AV_OP_STRING:
    case AV_OP_FIXED:
        return enc_text(t, op);
    case AV_OP_ENUM:
        return enc_enum(t, op);
    case AV_OP_ARRAY:
        return enc_array(t, op);
    case AV_OP_MAP:
        return enc_map(t, op);
    case AV_OP_RECORD:
        return enc_record(t, op);
    case AV_OP_UNION:
        return enc_union(t, op);
    default:
        return no(t, "plan op cannot encode");
    }
}

int av_jtext_encode(const av_serde_plan_t *plan, const char *json, size_t len,
                    mw_buf_t *out, mw_err_t *err)
{
    if (!plan || !out || (!json && len))
        return mw_err_set(err, MW_ERR_INVALID, "no plan, text or output");
    if (!plan->identity)
        return mw_err_set(err, MW_ERR_STATE,
                          "plan resolves to another "
                          "reader schema; encoding needs a writer-only plan");
    if (!json)
        json = "";
    jt_t t;
    t.p = json;
    t.end = json + len;
    t.ops = plan->ops;
    t.o = t.stack_out;
    t.n = 0;
    t.cap = sizeof(t.stack_out);
    t.depth = 0;
    t.code = MW_ERR_UNSUPPORTED;
    t.why = NULL;
    t.slots = t.stack_slots;
    t.slot_top = 0;
    t.slot_cap = STACK_SLOTS;
    ws(&t);
    int rc = enc(&t, plan->root);
    if (rc == 0) {
        ws(&t);
        if (t.p != t.end)
            rc = no(&t, "text after the value");
    }
    if (rc != 0)
        rc = mw_err_set(err, t.code, "declined at byte %zu: %s",
                        (size_t)(t.p - json), t.why);
    else if ((rc = mw_buf_append(out, t.o, t.n)) != 0)
        mw_err_set(err, rc, "cannot append %zu bytes of Avro: %s", t.n,
                   mw_err_name(rc));
    if (t.o != t.stack_out)
        free(t.o);
    if (t.slots != t.stack_slots)
        free(t.slots);
    return rc;
}
