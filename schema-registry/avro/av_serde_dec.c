/*
 * av_serde_dec: runs a compiled plan over Avro binary and builds the value
 * in the reader's shape as Avro JSON (jansson).  The hot path of every
 * consumer and of meshctl's console.
 *
 * Input is untrusted: every length, count and index is checked against the
 * bytes left before it is used, varints may not overflow their type, and
 * nesting is bounded by AV_SERDE_MAX_DEPTH, so hostile bytes give an error
 * naming the JSON path and byte offset, never a crash or a huge allocation.
 * A NULL output pointer means "skip": writer-only fields are parsed with
 * the same code but build nothing.  Any thread; the plan is only read.
 */
#include "av_serde.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av_serde_int.h"
#include "av_varint.h"

/* Items of a zero-size type (null, empty record) cost no input bytes, so
 * their count cannot be bounded by the input: it gets its own limit. */
#define DEC_MAX_EMPTY_ITEMS ((uint64_t)1 << 20)
#define DEC_STACK_FIELDS 32

typedef struct rd {
    const uint8_t *p, *start, *end;
    const av_op_t *ops;
    av_path_t path;
    mw_err_t *err;
} rd_t;

static int rd_fail(rd_t *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rd_fail(rd_t *r, int code, const char *fmt, ...)
{
    char path[256], msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    av_serde_path_format(&r->path, path, sizeof(path));
    mw_err_set(r->err, code, "%s: %s (at byte %zu)", path, msg,
               (size_t)(r->p - r->start));
    av_serde_utf8_fix(r->err->msg);
    return code;
}

static int rd_nomem(rd_t *r)
{
    return rd_fail(r, MW_ERR_NOMEM, "out of memory");
}

static size_t rd_left(const rd_t *r)
{
    return (size_t)(r->end - r->p);
}

static int rd_need(rd_t *r, size_t n)
{
    if (rd_left(r) >= n)
        return 0;
    return rd_fail(r, MW_ERR_INVALID,
                   "truncated body: need %zu bytes, %zu left", n, rd_left(r));
}

/* An av_varint_get failure as a message, at the byte the scan stopped
 * (the input's end, or past the AV_VARINT_MAX bytes read). */
static int rd_varint_fail(rd_t *r, av_varint_rc_t rc, const char *type)
{
    if (rc == AV_VARINT_SHORT) {
        r->p = r->end;
        return rd_need(r, 1);
    }
    r->p += AV_VARINT_MAX;
    return rc == AV_VARINT_OVERFLOW
               ? rd_fail(r, MW_ERR_INVALID, "varint overflows a %s", type)
               : rd_fail(r, MW_ERR_INVALID, "varint longer than 10 bytes");
}

/* Zig-zag varint of at most 10 bytes whose value fits 64 bits. */
static int rd_long(rd_t *r, int64_t *v)
{
    av_varint_rc_t rc = av_varint_get(&r->p, r->end, v);

    return rc == AV_VARINT_OK ? 0 : rd_varint_fail(r, rc, "long");
}

/* An int: a varint of at most 5 bytes whose value fits 32 bits (a fifth
 * byte above 0x0f, continuation bit included, overflows). */
static int rd_int(rd_t *r, int32_t *v)
{
    const uint8_t *start = r->p;
    int64_t l;
    av_varint_rc_t rc = av_varint_get(&r->p, r->end, &l);

    if (rc == AV_VARINT_OK && r->p - start <= 5 && l >= INT32_MIN &&
        l <= INT32_MAX) {
        *v = (int32_t)l;
        return 0;
    }
    if (rc == AV_VARINT_SHORT && rd_left(r) < 5) {
        r->p = r->end;
        return rd_need(r, 1);
    }
    r->p = start + 5;
    return rd_fail(r, MW_ERR_INVALID, "varint overflows an int");
}

/* A bytes/string length: never negative, never past the input. */
static int rd_len(rd_t *r, size_t *n)
{
    int64_t v;
    if (rd_long(r, &v) != 0)
        return -1;
    if (v < 0)
        return rd_fail(r, MW_ERR_INVALID, "negative length %lld", (long long)v);
    if ((uint64_t)v > rd_left(r))
        return rd_fail(r, MW_ERR_INVALID,
                       "length %lld exceeds the %zu bytes left", (long long)v,
                       rd_left(r));
    *n = (size_t)v;
    return 0;
}

/* ------------------------------------------------------------ scalars */

static json_t *real_json(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

static json_t *int_json(int64_t v, uint8_t conv)
{
    if (conv == AV_CONV_REAL)
        return json_real((double)v);
    if (conv == AV_CONV_F32)
        return json_real((double)(float)v);
    return json_integer((json_int_t)v);
}

/* Bytes as a string of code points 0-255 (Avro's JSON encoding). */
static json_t *bytes_json(const uint8_t *p, size_t n)
{
    char stack[256];
    if (n == 0)
        return json_string("");
    char *buf = n * 2 <= sizeof(stack) ? stack : malloc(n * 2 + 1);
    if (!buf)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x80) {
            buf[o++] = (char)p[i];
        } else {
            buf[o++] = (char)(0xc0 | (p[i] >> 6));
            buf[o++] = (char)(0x80 | (p[i] & 0x3f));
        }
    }
    json_t *s = json_stringn_nocheck(buf, o);
    if (buf != stack)
        free(buf);
    return s;
}

static int dec_text(rd_t *r, const av_op_t *op, json_t **out)
{
    size_t n;
    if (rd_len(r, &n) != 0)
        return -1;
    const uint8_t *p = r->p;
    r->p += n;
    if (!out)
        return 0;
    int as_string = op->kind == AV_OP_STRING ? op->conv != AV_CONV_BYTES
                                             : op->conv == AV_CONV_STRING;
    if (as_string) {
        *out = json_stringn((const char *)p, n);
        if (!*out) {
            r->p = p;
            return rd_fail(r, MW_ERR_INVALID, "string is not valid UTF-8");
        }
        return 0;
    }
    *out = bytes_json(p, n);
    return *out ? 0 : rd_nomem(r);
}

static int dec_float(rd_t *r, const av_op_t *op, json_t **out)
{
    size_t n = op->kind == AV_OP_FLOAT ? 4 : 8;
    if (rd_need(r, n) != 0)
        return -1;
    uint64_t u = 0;
    for (size_t i = 0; i < n; i++)
        u |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    if (!out)
        return 0;
    double d;
    if (n == 4) {
        uint32_t u32 = (uint32_t)u;
        float f;
        memcpy(&f, &u32, sizeof(f));
        d = f;
    } else {
        memcpy(&d, &u, sizeof(d));
    }
    *out = real_json(d);
    return *out ? 0 : rd_nomem(r);
}

static int dec_enum(rd_t *r, const av_op_t *op, json_t **out)
{
    int32_t i;
    if (rd_int(r, &i) != 0)
        return -1;
    if (i < 0 || (uint32_t)i >= op->cnt)
        return rd_fail(r, MW_ERR_INVALID, "enum index %d out of range 0..%u",
                       (int)i, op->cnt - 1);
    uint32_t ri = op->map[i];
    if (ri == AV_OP_NONE)
        return rd_fail(r, MW_ERR_INVALID,
                       "symbol '%s' is not in the reader's enum %s, which "
                       "has no default",
                       op->wnode->symbols[i], op->node->fullname);
    if (!out)
        return 0;
    *out = json_string(op->node->symbols[ri]);
    return *out ? 0 : rd_nomem(r);
}

/* ------------------------------------------------------------ compound */

static int dec(rd_t *r, uint32_t idx, json_t **out);

static int path_push(rd_t *r, const char *key, size_t i)
{
    if (r->path.depth >= AV_SERDE_MAX_DEPTH)
        return rd_fail(r, MW_ERR_INVALID, "value nested deeper than %d",
                       AV_SERDE_MAX_DEPTH);
    r->path.seg[r->path.depth].key = key;
    r->path.seg[r->path.depth].idx = i;
    r->path.depth++;
    return 0;
}

/* One item of an array or one entry of a map (key first). */
static int dec_item(rd_t *r, const av_op_t *op, json_t *out, uint64_t i)
{
    const uint8_t *kp = NULL;
    size_t kn = 0;
    char key[128];
    if (op->kind == AV_OP_MAP) {
        if (rd_len(r, &kn) != 0)
            return -1;
        kp = r->p;
        r->p += kn;
        snprintf(key, sizeof(key), "%.*s", (int)(kn < 100 ? kn : 100),
                 (const char *)kp);
    }
    if (path_push(r, kp ? key : NULL, (size_t)i) != 0)
        return -1;
    json_t *v = NULL;
    if (dec(r, op->child, out ? &v : NULL) != 0)
        return -1;
    r->path.depth--;
    if (!out)
        return 0;
    if (!kp)
        return json_array_append_new(out, v) == 0 ? 0 : rd_nomem(r);
    if (json_object_setn_new(out, (const char *)kp, kn, v) != 0)
        return rd_fail(r, MW_ERR_INVALID, "map key is not valid UTF-8");
    return 0;
}

/* Checks a block count against the input left (or the empty-items cap)
 * before any item is read. */
static int block_bound(rd_t *r, const av_op_t *op, uint64_t cnt, uint64_t total)
{
    size_t per = r->ops[op->child].min_bytes + (op->kind == AV_OP_MAP);
    if (per > 0 && cnt > rd_left(r) / per)
        return rd_fail(r, MW_ERR_INVALID,
                       "block count %llu exceeds the %zu bytes left",
                       (unsigned long long)cnt, rd_left(r));
    if (per == 0 && cnt + total > DEC_MAX_EMPTY_ITEMS)
        return rd_fail(r, MW_ERR_INVALID,
                       "more than %llu items of an empty type",
                       (unsigned long long)DEC_MAX_EMPTY_ITEMS);
    return 0;
}

/* Arrays and maps: blocks of items until a zero count.  A negative count
 * is followed by the block's byte size, which lets a skip jump over it. */
static int dec_blocks(rd_t *r, const av_op_t *op, json_t **out)
{
    uint64_t total = 0;
    json_t *c = NULL;
    if (out && !(c = op->kind == AV_OP_ARRAY ? json_array() : json_object()))
        return rd_nomem(r);
    for (;;) {
        int64_t cnt, size;
        if (rd_long(r, &cnt) != 0)
            goto fail;
        if (cnt == 0)
            break;
        if (cnt < 0) {
            if (cnt == INT64_MIN || rd_long(r, &size) != 0) {
                if (cnt == INT64_MIN)
                    rd_fail(r, MW_ERR_INVALID, "bad block count");
                goto fail;
            }
            if (size < 0 || (uint64_t)size > rd_left(r)) {
                rd_fail(r, MW_ERR_INVALID,
                        "block size %lld exceeds the %zu "
                        "bytes left",
                        (long long)size, rd_left(r));
                goto fail;
            }
            cnt = -cnt;
            if (!out) {
                r->p += size;
                continue;
            }
        }
        if (block_bound(r, op, (uint64_t)cnt, total) != 0)
            goto fail;
        for (int64_t i = 0; i < cnt; i++)
            if (dec_item(r, op, c, total++) != 0)
                goto fail;
    }
    if (out)
        *out = c;
    return 0;
fail:
    json_decref(c);
    return -1;
}

static int dec_fields(rd_t *r, const av_op_t *op, json_t **vals)
{
    for (uint32_t i = 0; i < op->cnt; i++) {
        const av_fld_t *f = &op->flds[i];
        if (path_push(r, f->name, 0) != 0)
            return -1;
        int keep = vals && f->rfield != AV_OP_NONE;
        if (dec(r, f->op, keep ? &vals[f->rfield] : NULL) != 0)
            return -1;
        r->path.depth--;
    }
    for (uint32_t i = op->cnt; vals && i < op->cnt + op->nextra; i++) {
        const av_fld_t *f = &op->flds[i];
        if (!(vals[f->rfield] = json_deep_copy(f->dflt)))
            return rd_nomem(r);
    }
    return 0;
}

/* Fields are read in writer order into a slot per reader field, then the
 * object is built in reader order. */
static int dec_record(rd_t *r, const av_op_t *op, json_t **out)
{
    json_t *stack[DEC_STACK_FIELDS];
    json_t **vals = NULL;
    if (out) {
        vals = op->rcnt <= DEC_STACK_FIELDS ? stack
                                            : malloc(op->rcnt * sizeof(*vals));
        if (!vals)
            return rd_nomem(r);
        memset(vals, 0, op->rcnt * sizeof(*vals));
    }
    int rc = dec_fields(r, op, vals);
    json_t *obj = NULL;
    if (rc == 0 && out && !(obj = json_object()))
        rc = rd_nomem(r);
    for (uint32_t j = 0; vals && j < op->rcnt; j++) {
        if (rc == 0 && json_object_set_new_nocheck(
                           obj, op->node->fields[j].name, vals[j]) != 0)
            rc = rd_nomem(r);
        else if (rc != 0)
            json_decref(vals[j]);
    }
    if (vals && vals != stack)
        free(vals);
    if (rc != 0) {
        json_decref(obj);
        return -1;
    }
    if (out)
        *out = obj;
    return 0;
}

/* {"name": v}, or v itself for the null branch / a non-union reader. */
static int wrap(rd_t *r, const char *name, json_t **out)
{
    if (!out || !name)
        return 0;
    json_t *obj = json_object();
    if (!obj || json_object_set_new_nocheck(obj, name, *out) != 0) {
        json_decref(obj);
        *out = NULL;
        return rd_nomem(r);
    }
    *out = obj;
    return 0;
}

static int dec_union(rd_t *r, const av_op_t *op, json_t **out)
{
    int64_t b;
    if (rd_long(r, &b) != 0)
        return -1;
    if (b < 0 || (uint64_t)b >= op->cnt)
        return rd_fail(r, MW_ERR_INVALID,
                       "union branch index %lld out of range 0..%u",
                       (long long)b, op->cnt - 1);
    if (op->map[b] == AV_OP_NONE)
        return rd_fail(r, MW_ERR_INVALID, "%s", op->fail[b]);
    if (dec(r, op->map[b], out) != 0)
        return -1;
    return wrap(r, op->names[b], out);
}

static int dec(rd_t *r, uint32_t idx, json_t **out)
{
    const av_op_t *op = &r->ops[idx];
    int64_t v;
    int32_t i;
    switch ((av_op_kind_t)op->kind) {
    case AV_OP_NULL:
        if (out)
            *out = json_null();
        return 0;
    case AV_OP_BOOL:
        if (rd_need(r, 1) != 0)
            return -1;
        if (*r->p > 1)
            return rd_fail(r, MW_ERR_INVALID,
                           "boolean byte 0x%02x is not "
                           "0 or 1",
                           *r->p);
        if (out)
            *out = json_boolean(*r->p);
        r->p++;
        return 0;
    case AV_OP_INT:
        if (rd_int(r, &i) != 0)
            return -1;
        if (out && !(*out = int_json(i, op->conv)))
            return rd_nomem(r);
        return 0;
    case AV_OP_LONG:
        if (rd_long(r, &v) != 0)
            return -1;
        if (out && !(*out = int_json(v, op->conv)))
            return rd_nomem(r);
        return 0;
    case AV_OP_FLOAT:
    case AV_OP_DOUBLE:
        return dec_float(r, op, out);
    case AV_OP_BYTES:
    case AV_OP_STRING:
        return dec_text(r, op, out);
    case AV_OP_FIXED:
        if (rd_need(r, op->cnt) != 0)
            return -1;
        if (out && !(*out = bytes_json(r->p, op->cnt)))
            return rd_nomem(r);
        r->p += op->cnt;
        return 0;
    case AV_OP_ENUM:
        return dec_enum(r, op, out);
    case AV_OP_ARRAY:
    case AV_OP_MAP:
        return dec_blocks(r, op, out);
    case AV_OP_RECORD:
        return dec_record(r, op, out);
    case AV_OP_UNION:
        return dec_union(r, op, out);
    case AV_OP_WRAP:
        if (dec(r, op->child, out) != 0)
            return -1;
        return wrap(r, op->names[0], out);
    default:
        return rd_fail(r, MW_ERR_STATE, "bad plan op %u", op->kind);
    }
}

int av_serde_avro_to_json(const av_serde_plan_t *plan, const void *data,
                          size_t len, json_t **out, mw_err_t *err)
{
    rd_t r = {.p = data,
              .start = data,
              .end = (const uint8_t *)data + len,
              .ops = plan->ops,
              .err = err};
    json_t *v = NULL;
    mw_err_t local;
    if (!err)
        r.err = err = &local;
    if (!out)
        return mw_err_set(err, MW_ERR_INVALID, "no output holder");
    *out = NULL;
    if (!data && len > 0)
        return mw_err_set(err, MW_ERR_INVALID, "no input");
    if (!data)
        r.p = r.start = r.end = (const uint8_t *)"";
    if (dec(&r, plan->root, &v) != 0)
        return err->code;
    if (r.p != r.end) {
        json_decref(v);
        return rd_fail(&r, MW_ERR_INVALID,
                       "trailing bytes: %zu after the value", rd_left(&r));
    }
    *out = v;
    return 0;
}
