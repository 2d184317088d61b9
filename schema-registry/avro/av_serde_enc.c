/*
 * av_serde_enc: Avro JSON (jansson) to Avro binary, by running a writer
 * plan.  The producers' hot path: the HTTP source hands each request's
 * JSON here and answers 422 with our message when it does not fit.
 *
 * Output goes through a small staging buffer, so a record costs a few
 * mw_buf appends rather than one per field.  The first mismatch stops the
 * walk with a message naming its JSON path ("$.items[3].price: expected
 * double, got string").  Any thread; the plan is only read.
 */
#include "av_serde.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av_serde_int.h"
#include "av_varint.h"
#include "mw_hash.h"

typedef struct wr {
    mw_buf_t *out;
    const av_op_t *ops;
    mw_err_t *err;
    size_t n;
    int max_depth; /* deepest path reached (av_serde_enc_prepare) */
    av_path_t path;
    uint8_t st[1024];
} wr_t;

static int wr_fail(wr_t *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int wr_fail(wr_t *w, int code, const char *fmt, ...)
{
    char path[256], msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    av_serde_path_format(&w->path, path, sizeof(path));
    mw_err_set(w->err, code, "%s: %s", path, msg);
    av_serde_utf8_fix(w->err->msg);
    return code;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_NULL:
        return "null";
    default:
        return "boolean";
    }
}

static int expected(wr_t *w, const char *what, const json_t *v)
{
    return wr_fail(w, MW_ERR_INVALID, "expected %s, got %s", what,
                   json_kind(v));
}

static int wr_flush(wr_t *w)
{
    int rc = w->n ? mw_buf_append(w->out, w->st, w->n) : 0;
    w->n = 0;
    if (rc == MW_ERR_FULL)
        return wr_fail(w, rc, "encoded value larger than the output limit");
    return rc ? wr_fail(w, rc, "out of memory") : 0;
}

static int wr_raw(wr_t *w, const void *p, size_t n)
{
    if (n > sizeof(w->st) - w->n) {
        if (wr_flush(w) != 0)
            return -1;
        if (n > sizeof(w->st) / 2) {
            int rc = mw_buf_append(w->out, p, n);
            return rc ? wr_fail(w, rc,
                                "encoded value larger than the "
                                "output limit")
                      : 0;
        }
    }
    memcpy(w->st + w->n, p, n);
    w->n += n;
    return 0;
}

static int wr_long(wr_t *w, int64_t v)
{
    /* Straight into the staging buffer: the hot path of every int, long,
     * length and count. */
    if (AV_VARINT_MAX > sizeof(w->st) - w->n && wr_flush(w) != 0)
        return -1;
    w->n += av_varint_put(w->st + w->n, v);
    return 0;
}

static int wr_le(wr_t *w, uint64_t u, size_t n)
{
    uint8_t b[8];
    return wr_raw(w, b, av_le_put(b, u, n));
}

/* ------------------------------------------------------------ scalars */

/* An integer, or a real with an integral value inside [lo, hi]. */
static int get_integer(wr_t *w, const json_t *v, int64_t lo, int64_t hi,
                       const char *what, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < lo || i > hi)
            return wr_fail(w, MW_ERR_INVALID, "%lld is out of range for %s",
                           (long long)i, what);
        *out = i;
        return 0;
    }
    if (!json_is_real(v))
        return expected(w, what, v);
    double d = json_real_value(v);
    if (d != floor(d) || d < (double)lo || d >= -(double)INT64_MIN ||
        d > (double)hi)
        return wr_fail(w, MW_ERR_INVALID, "%g is not a valid %s", d, what);
    *out = (int64_t)d;
    return 0;
}

static int get_real(wr_t *w, const json_t *v, const char *what, double *d)
{
    if (json_is_number(v)) {
        *d = json_number_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (s && strcmp(s, "NaN") == 0)
        *d = NAN;
    else if (s && strcmp(s, "Infinity") == 0)
        *d = INFINITY;
    else if (s && strcmp(s, "-Infinity") == 0)
        *d = -INFINITY;
    else
        return expected(w, what, v);
    return 0;
}

static int enc_real(wr_t *w, const av_op_t *op, const json_t *v)
{
    double d;
    if (op->kind == AV_OP_FLOAT) {
        if (get_real(w, v, "float", &d) != 0)
            return -1;
        float f = (float)d;
        uint32_t u;
        memcpy(&u, &f, sizeof(u));
        return wr_le(w, u, 4);
    }
    if (get_real(w, v, "double", &d) != 0)
        return -1;
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return wr_le(w, u, 8);
}

/* Decodes a string of code points 0-255 into buf (at least len bytes). */
static int code_points(wr_t *w, const char *s, size_t len, uint8_t *buf,
                       size_t *n)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x80) {
            buf[o++] = c;
        } else if ((c == 0xc2 || c == 0xc3) && i + 1 < len) {
            buf[o++] = (uint8_t)(((c & 0x03) << 6) | (s[++i] & 0x3f));
        } else {
            return wr_fail(w, MW_ERR_INVALID,
                           "bytes string has a code point above 255 at "
                           "character offset %zu",
                           i);
        }
    }
    *n = o;
    return 0;
}

/* A JSON number for a decimal: its unscaled value, two's complement,
 * big-endian, in the fewest bytes (bytes) or sign-extended (fixed). */
int av_serde_decimal_be(const av_op_t *op, long double x, uint8_t *buf,
                        size_t *n)
{
    for (int i = 0; i < op->scale; i++)
        x *= 10;
    x = roundl(x);
    if (!(x >= -9223372036854775808.0L && x < 9223372036854775808.0L))
        return 1;
    int64_t u = (int64_t)x;
    size_t len = 8;
    while (len > 1 && ((u >> (8 * (len - 1) - 1)) == 0 ||
                       (u >> (8 * (len - 1) - 1)) == -1))
        len--;
    size_t size = op->kind == AV_OP_FIXED ? op->cnt : len;
    if (size < len)
        return 2;
    for (size_t i = 0; i < size; i++) {
        size_t shift = 8 * (size - 1 - i);
        buf[i] = shift >= 64 ? (u < 0 ? 0xff : 0) : (uint8_t)(u >> shift);
    }
    *n = size;
    return 0;
}

static int decimal_bytes(wr_t *w, const av_op_t *op, const json_t *v,
                         uint8_t *buf, size_t *n)
{
    long double x = json_is_integer(v) ? (long double)json_integer_value(v)
                                       : (long double)json_real_value(v);
    int rc = av_serde_decimal_be(op, x, buf, n);
    if (rc == 1)
        return wr_fail(w, MW_ERR_INVALID,
                       "decimal's unscaled value does "
                       "not fit in 64 bits");
    if (rc == 2)
        return wr_fail(w, MW_ERR_INVALID, "decimal does not fit in fixed(%u)",
                       op->cnt);
    return 0;
}

/* bytes, fixed (length prefix only for bytes) and string. */
static int enc_text(wr_t *w, const av_op_t *op, const json_t *v)
{
    const char *what = op->kind == AV_OP_STRING  ? "string"
                       : op->kind == AV_OP_BYTES ? "bytes"
                                                 : "fixed";
    uint8_t stack[256], *buf = stack;
    size_t n = 0;
    int rc;
    if (op->decimal && json_is_number(v)) {
        rc = op->kind == AV_OP_FIXED && op->cnt > sizeof(stack)
                 ? wr_fail(w, MW_ERR_INVALID, "decimal fixed too large")
                 : decimal_bytes(w, op, v, buf, &n);
        goto out;
    }
    if (!json_is_string(v))
        return expected(w, what, v);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (op->kind == AV_OP_STRING) {
        if (wr_long(w, (int64_t)len) != 0)
            return -1;
        return wr_raw(w, s, len);
    }
    if (len > sizeof(stack) && !(buf = malloc(len)))
        return wr_fail(w, MW_ERR_NOMEM, "out of memory");
    rc = code_points(w, s, len, buf, &n);
    if (rc == 0 && op->kind == AV_OP_FIXED && n != op->cnt)
        rc = wr_fail(w, MW_ERR_INVALID, "fixed %s needs %u bytes, got %zu",
                     op->node->fullname, op->cnt, n);
out:
    if (rc == 0 && op->kind == AV_OP_BYTES)
        rc = wr_long(w, (int64_t)n);
    if (rc == 0)
        rc = wr_raw(w, buf, n);
    if (buf != stack)
        free(buf);
    return rc;
}

static int enc_enum(wr_t *w, const av_op_t *op, const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s)
        return expected(w, "enum symbol", v);
    const av_node_t *node = op->node;
    for (size_t i = 0; i < node->symbol_cnt; i++)
        if (strcmp(node->symbols[i], s) == 0)
            return wr_long(w, (int64_t)i);
    return wr_fail(w, MW_ERR_INVALID, "'%.64s' is not a symbol of enum %s", s,
                   node->fullname);
}

/* ------------------------------------------------------------ compound */

static int enc(wr_t *w, uint32_t idx, const json_t *v);

static int path_push(wr_t *w, const char *key, size_t i)
{
    if (w->path.depth >= AV_SERDE_MAX_DEPTH)
        return wr_fail(w, MW_ERR_INVALID, "value nested deeper than %d",
                       AV_SERDE_MAX_DEPTH);
    w->path.seg[w->path.depth].key = key;
    w->path.seg[w->path.depth].idx = i;
    w->path.depth++;
    if (w->path.depth > w->max_depth)
        w->max_depth = w->path.depth;
    return 0;
}

/* One block holding every item, then the terminating zero count. */
static int enc_array(wr_t *w, const av_op_t *op, const json_t *v)
{
    if (!json_is_array(v))
        return expected(w, "array", v);
    size_t n = json_array_size(v);
    if (n > 0 && wr_long(w, (int64_t)n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (path_push(w, NULL, i) != 0 ||
            enc(w, op->child, json_array_get(v, i)) != 0)
            return -1;
        w->path.depth--;
    }
    return wr_long(w, 0);
}

static int enc_map(wr_t *w, const av_op_t *op, const json_t *v)
{
    if (!json_is_object(v))
        return expected(w, "map (object)", v);
    size_t n = json_object_size(v);
    if (n > 0 && wr_long(w, (int64_t)n) != 0)
        return -1;
    const char *k;
    const json_t *e;
    json_object_foreach((json_t *)v, k, e)
    {
        size_t klen = json_object_iter_key_len(json_object_key_to_iter(k));
        if (wr_long(w, (int64_t)klen) != 0 || wr_raw(w, k, klen) != 0 ||
            path_push(w, k, 0) != 0 || enc(w, op->child, e) != 0)
            return -1;
        w->path.depth--;
    }
    return wr_long(w, 0);
}

static int enc_record(wr_t *w, const av_op_t *op, const json_t *v)
{
    if (!json_is_object(v))
        return expected(w, op->node->fullname, v);
    size_t present = 0;
    for (uint32_t i = 0; i < op->cnt; i++) {
        const av_fld_t *f = &op->flds[i];
        const json_t *e = json_object_get(v, f->name);
        if (path_push(w, f->name, 0) != 0)
            return -1;
        if (e)
            present++;
        else if (!(e = f->dflt))
            return wr_fail(w, MW_ERR_INVALID,
                           "missing required field "
                           "(type %s, no default)",
                           av_serde_branch_name(op->node->fields[i].type));
        if (enc(w, f->op, e) != 0)
            return -1;
        w->path.depth--;
    }
    if (present == json_object_size(v))
        return 0;
    const char *k;
    const json_t *e;
    json_object_foreach((json_t *)v, k, e)
    {
        uint32_t i = 0;
        while (i < op->cnt && strcmp(op->flds[i].name, k) != 0)
            i++;
        if (i == op->cnt)
            return wr_fail(w, MW_ERR_INVALID, "'%.64s' is not a field of %s", k,
                           op->node->fullname);
    }
    return 0;
}

/* The branch named by the single key of {"name": value}: the full name,
 * or the short name of a named branch when no other branch shares it. */
uint32_t av_serde_union_pick(const av_op_t *op, const char *key)
{
    const av_node_t *u = op->node;
    uint32_t found = AV_OP_NONE;
    for (uint32_t i = 0; i < op->cnt; i++)
        if (strcmp(av_serde_branch_name(u->branches[i]), key) == 0)
            return i;
    for (uint32_t i = 0; i < op->cnt; i++) {
        const char *name = u->branches[i]->name;
        if (u->branches[i]->fullname && name && strcmp(name, key) == 0) {
            if (found != AV_OP_NONE)
                return AV_OP_NONE;
            found = i;
        }
    }
    return found;
}

static int enc_union(wr_t *w, const av_op_t *op, const json_t *v)
{
    const av_node_t *u = op->node;
    if (json_is_null(v)) {
        for (uint32_t i = 0; i < op->cnt; i++)
            if (u->branches[i]->type == AV_NULL)
                return wr_long(w, i);
        return wr_fail(w, MW_ERR_INVALID,
                       "null is not a branch of the "
                       "union");
    }
    if (!json_is_object(v) || json_object_size(v) != 1)
        return wr_fail(w, MW_ERR_INVALID,
                       "expected a union value "
                       "{\"<branch>\": value} or null, got %s%s",
                       json_kind(v),
                       json_is_object(v) ? " without exactly one key" : "");
    const char *key = json_object_iter_key(json_object_iter((json_t *)v));
    uint32_t b = av_serde_union_pick(op, key);
    if (b == AV_OP_NONE || op->map[b] == AV_OP_NONE)
        return wr_fail(w, MW_ERR_INVALID,
                       "'%.64s' is not a branch of the "
                       "union",
                       key);
    if (wr_long(w, b) != 0)
        return -1;
    return enc(w, op->map[b],
               json_object_iter_value(json_object_iter((json_t *)v)));
}

static int enc(wr_t *w, uint32_t idx, const json_t *v)
{
    const av_op_t *op = &w->ops[idx];
    int64_t i;
    switch ((av_op_kind_t)op->kind) {
    case AV_OP_NULL:
        return json_is_null(v) ? 0 : expected(w, "null", v);
    case AV_OP_BOOL:
        if (!json_is_boolean(v))
            return expected(w, "boolean", v);
        return wr_raw(w, json_is_true(v) ? "\1" : "\0", 1);
    case AV_OP_INT:
        if (get_integer(w, v, INT32_MIN, INT32_MAX, "int", &i) != 0)
            return -1;
        return wr_long(w, i);
    case AV_OP_LONG:
        if (get_integer(w, v, INT64_MIN, INT64_MAX, "long", &i) != 0)
            return -1;
        return wr_long(w, i);
    case AV_OP_FLOAT:
    case AV_OP_DOUBLE:
        return enc_real(w, op, v);
    case AV_OP_BYTES:
    case AV_OP_STRING:
    case AV_OP_FIXED:
        return enc_text(w, op, v);
    case AV_OP_ENUM:
        return enc_enum(w, op, v);
    case AV_OP_ARRAY:
        return enc_array(w, op, v);
    case AV_OP_MAP:
        return enc_map(w, op, v);
    case AV_OP_RECORD:
        return enc_record(w, op, v);
    case AV_OP_UNION:
        return enc_union(w, op, v);
    default:
        return wr_fail(w, MW_ERR_STATE, "plan op %u cannot encode", op->kind);
    }
}

int av_serde_json_to_avro(const av_serde_plan_t *plan, const json_t *value,
                          mw_buf_t *out, mw_err_t *err)
{
    mw_err_t local;
    if (!err)
        err = &local;
    if (!plan->identity)
        return mw_err_set(err, MW_ERR_STATE,
                          "plan resolves to another "
                          "reader schema; encoding needs a writer-only plan");
    if (!value || !out)
        return mw_err_set(err, MW_ERR_INVALID, "no value or no output");
    wr_t wr;
    wr.out = out;
    wr.ops = plan->ops;
    wr.err = err;
    wr.n = 0;
    wr.max_depth = 0;
    wr.path.depth = 0;
    int rc = enc(&wr, plan->root, value);
    if (rc == 0)
        rc = wr_flush(&wr);
    return rc == 0 ? 0 : err->code;
}

/* ------------------------------------------------------------ prepare */

/* The field index of a record op (op->fhash) and av_jtext's map-key set
 * stay specialised open-addressing arrays of 32-bit indexes: av_jtext
 * probes them for every field name and map key of every message (the
 * text and envelope paths of av_serde_bench), where a generic mw_htab
 * lookup (a pointer chase per probe, keys compared through it) costs
 * throughput.  The hash is the project's one hash, cut to 32 bits. */
uint32_t av_serde_fld_hash(const char *name, size_t len)
{
    return (uint32_t)mw_hash_bytes(name, len);
}

/* One field's default, encoded as av_serde_json_to_avro would encode it
 * for a message that lacks the field.  The depth is measured from 0: a
 * message needs (depth of the field) + dflt_depth <= AV_SERDE_MAX_DEPTH. */
static int prepare_default(const av_serde_plan_t *plan, av_fld_t *f,
                           mw_buf_t *buf, mw_err_t *err)
{
    mw_err_t sub = {0};
    wr_t wr = {.out = buf, .ops = plan->ops, .err = &sub};
    f->dflt_depth = -1;
    if (!f->dflt)
        return 0;
    mw_buf_reset(buf);
    if (enc(&wr, f->op, f->dflt) != 0 || wr_flush(&wr) != 0)
        return sub.code == MW_ERR_NOMEM
                   ? mw_err_set(err, MW_ERR_NOMEM, "%s", sub.msg)
                   : 0;
    f->dflt_len = mw_buf_len(buf);
    f->dflt_bin = malloc(f->dflt_len ? f->dflt_len : 1);
    if (!f->dflt_bin)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory compiling plan");
    memcpy(f->dflt_bin, mw_buf_data(buf), f->dflt_len);
    f->dflt_depth = wr.max_depth;
    return 0;
}

static int prepare_hash(av_op_t *op, mw_err_t *err)
{
    uint32_t cap = 16;
    while (cap < 2 * op->cnt)
        cap *= 2;
    op->fhash = malloc(cap * sizeof(*op->fhash));
    if (!op->fhash)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory compiling plan");
    memset(op->fhash, 0xff, cap * sizeof(*op->fhash)); /* AV_OP_NONE */
    op->fhash_mask = cap - 1;
    for (uint32_t i = 0; i < op->cnt; i++) {
        const av_fld_t *f = &op->flds[i];
        uint32_t h = av_serde_fld_hash(f->name, f->name_len) & (cap - 1);
        while (op->fhash[h] != AV_OP_NONE)
            h = (h + 1) & (cap - 1);
        op->fhash[h] = i;
    }
    return 0;
}

int av_serde_enc_prepare(av_serde_plan_t *plan, mw_err_t *err)
{
    mw_buf_t *buf = mw_buf_new(0);
    int rc = buf ? 0
                 : mw_err_set(err, MW_ERR_NOMEM,
                              "out of memory "
                              "compiling plan");
    for (uint32_t i = 0; rc == 0 && i < plan->op_cnt; i++) {
        av_op_t *op = &plan->ops[i];
        if (op->kind != AV_OP_RECORD)
            continue;
        for (uint32_t j = 0; rc == 0 && j < op->cnt; j++) {
            op->flds[j].name_len = (uint32_t)strlen(op->flds[j].name);
            rc = prepare_default(plan, &op->flds[j], buf, err);
        }
        if (rc == 0 && op->cnt > AV_FLD_HASH_MIN)
            rc = prepare_hash(op, err);
    }
    mw_buf_destroy(buf);
    return rc;
}
