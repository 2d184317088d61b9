/*
 * av_schema_norm: the texts derived from a parsed schema graph.  The
 * normalised text and the fingerprint are computed once when the schema is
 * built, so their getters are plain reads; the canonical form is rebuilt on
 * its first use and published atomically (av_schema.c), since only the
 * fingerprint needs it and keeping it would cost every stored schema:
 *
 * - Parsing Canonical Form (Avro spec): [PRIMITIVES] [FULLNAMES] [STRIP]
 *   [ORDER] [STRINGS] [INTEGERS] [WHITESPACE].  Types from referenced
 *   schemas are written in full at their first use, as Java does for a
 *   resolved schema, so the fingerprint does not depend on how a schema was
 *   split into references.  An "error" is written as "record" (Java's
 *   SchemaNormalization; Python writes "error").
 * - The registry's normalised form: compact JSON, every attribute kept, keys
 *   in Java's Schema.toString order (type, name, namespace, doc, body,
 *   properties, aliases) with custom properties sorted by key, so texts that
 *   differ only in whitespace or key order give the same string.  Names are
 *   written the way Java writes them: short name plus "namespace" when it
 *   differs from the enclosing one (we also write "namespace":"" when a
 *   null-namespace type sits inside a namespaced one, which Java loses), and
 *   references by short name inside their own namespace, else by full name.
 *   Types defined in referenced schemas stay references, as in Confluent's
 *   stored text.  Re-parsing the normalised text gives the same text.
 * - CRC-64-AVRO fingerprint of the canonical form.
 *
 * Recursion depth here is bounded by the parser's nesting limit (named
 * types are written once, later uses by name) and by jansson's JSON depth
 * for default values.
 */
#include "av_schema_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_buf.h"

typedef struct emit {
    mw_buf_t *buf;
    av_strtab_t seen; /* named types already written */
    const av_schema_t *sch;
    int rc; /* first error, sticky */
} emit_t;

static void put(emit_t *e, const char *s)
{
    if (e->rc == 0)
        e->rc = mw_buf_append(e->buf, s, strlen(s));
}

static void putf(emit_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void putf(emit_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (e->rc == 0)
        e->rc = mw_buf_vappendf(e->buf, fmt, ap);
    va_end(ap);
}

/* A JSON string literal: UTF-8 kept as is ([STRINGS]), only '"', '\' and
 * control characters escaped. */
static void put_str(emit_t *e, const char *s, size_t len)
{
    size_t start = 0;
    put(e, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (e->rc == 0 && i > start)
            e->rc = mw_buf_append(e->buf, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"':
            put(e, "\\\"");
            break;
        case '\\':
            put(e, "\\\\");
            break;
        case '\n':
            put(e, "\\n");
            break;
        case '\r':
            put(e, "\\r");
            break;
        case '\t':
            put(e, "\\t");
            break;
        case '\b':
            put(e, "\\b");
            break;
        case '\f':
            put(e, "\\f");
            break;
        default:
            putf(e, "\\u%04x", c);
            break;
        }
    }
    if (e->rc == 0 && len > start)
        e->rc = mw_buf_append(e->buf, s + start, len - start);
    put(e, "\"");
}

static void put_cstr(emit_t *e, const char *s)
{
    put_str(e, s, strlen(s));
}

/* Shortest text that reads back as the same double, always with a '.' or
 * an exponent so it stays a JSON real. */
static void put_real(emit_t *e, double v)
{
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eEn"))
        strcat(buf, ".0");
    put(e, buf);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Object members sorted by key; lead is written before the first. */
static void put_members(emit_t *e, const json_t *obj, const char *lead);

static void put_json(emit_t *e, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        put(e, "null");
        break;
    case JSON_TRUE:
        put(e, "true");
        break;
    case JSON_FALSE:
        put(e, "false");
        break;
    case JSON_INTEGER:
        putf(e, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        put_real(e, json_real_value(v));
        break;
    case JSON_STRING:
        put_str(e, json_string_value(v), json_string_length(v));
        break;
    case JSON_ARRAY:
        put(e, "[");
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                put(e, ",");
            put_json(e, json_array_get(v, i));
        }
        put(e, "]");
        break;
    case JSON_OBJECT:
        put(e, "{");
        put_members(e, v, "");
        put(e, "}");
        break;
    }
}

static void put_members(emit_t *e, const json_t *obj, const char *lead)
{
    size_t n = json_object_size(obj), i = 0;
    const char *key;
    json_t *val;
    if (n == 0)
        return;
    const char **keys = malloc(n * sizeof(*keys));
    if (!keys) {
        e->rc = e->rc ? e->rc : MW_ERR_NOMEM;
        return;
    }
    json_object_foreach((json_t *)obj, key, val) keys[i++] = key;
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (i = 0; i < n; i++) {
        put(e, i ? "," : lead);
        put_cstr(e, keys[i]);
        put(e, ":");
        put_json(e, json_object_get(obj, keys[i]));
    }
    free(keys);
}

/* 1 the first time a named type is met in this emission. */
static int first_use(emit_t *e, const av_node_t *node)
{
    int rc = av_strtab_put(&e->seen, node->fullname, node);
    if (rc < 0 && e->rc == 0)
        e->rc = rc;
    return rc == 0;
}

/* ------------------------------------------------------ canonical form */

static void cf_node(emit_t *e, const av_node_t *n);

static void cf_named(emit_t *e, const av_node_t *n)
{
    put(e, "{\"name\":");
    put_cstr(e, n->fullname);
    putf(e, ",\"type\":\"%s\"", av_type_name(n->type));
    if (n->type == AV_RECORD) {
        put(e, ",\"fields\":[");
        for (size_t i = 0; i < n->field_cnt; i++) {
            put(e, i ? ",{\"name\":" : "{\"name\":");
            put_cstr(e, n->fields[i].name);
            put(e, ",\"type\":");
            cf_node(e, n->fields[i].type);
            put(e, "}");
        }
        put(e, "]");
    } else if (n->type == AV_ENUM) {
        put(e, ",\"symbols\":[");
        for (size_t i = 0; i < n->symbol_cnt; i++) {
            if (i)
                put(e, ",");
            put_cstr(e, n->symbols[i]);
        }
        put(e, "]");
    } else {
        putf(e, ",\"size\":%zu", n->size);
    }
    put(e, "}");
}

static void cf_node(emit_t *e, const av_node_t *n)
{
    if (n->type <= AV_STRING) {
        putf(e, "\"%s\"", av_type_name(n->type));
    } else if (av_is_named(n->type)) {
        if (first_use(e, n))
            cf_named(e, n);
        else
            put_cstr(e, n->fullname);
    } else if (n->type == AV_ARRAY) {
        put(e, "{\"type\":\"array\",\"items\":");
        cf_node(e, n->items);
        put(e, "}");
    } else if (n->type == AV_MAP) {
        put(e, "{\"type\":\"map\",\"values\":");
        cf_node(e, n->values);
        put(e, "}");
    } else {
        put(e, "[");
        for (size_t i = 0; i < n->branch_cnt; i++) {
            if (i)
                put(e, ",");
            cf_node(e, n->branches[i]);
        }
        put(e, "]");
    }
}

/* ------------------------------------------------------ normalised form */

static void nf_node(emit_t *e, const av_node_t *n, const char *space);

static void nf_names(emit_t *e, const char *const *names, size_t cnt,
                     const char *space)
{
    size_t slen = strlen(space);
    put(e, ",\"aliases\":[");
    for (size_t i = 0; i < cnt; i++) {
        const char *s = names[i];
        /* Type aliases are stored full; write them relative to the type's
         * namespace when that is unambiguous. */
        if (slen && strncmp(s, space, slen) == 0 && s[slen] == '.' &&
            !strchr(s + slen + 1, '.'))
            s += slen + 1;
        if (i)
            put(e, ",");
        put_cstr(e, s);
    }
    put(e, "]");
}

static void nf_field(emit_t *e, const av_field_t *f, const char *space)
{
    static const char *const orders[] = {"ascending", "descending", "ignore"};
    put(e, "{\"name\":");
    put_cstr(e, f->name);
    put(e, ",\"type\":");
    nf_node(e, f->type, space);
    if (f->doc) {
        put(e, ",\"doc\":");
        put_cstr(e, f->doc);
    }
    if (f->dflt) {
        put(e, ",\"default\":");
        put_json(e, f->dflt);
    }
    if (f->order != AV_ORDER_ASCENDING)
        putf(e, ",\"order\":\"%s\"", orders[f->order]);
    if (f->alias_cnt)
        nf_names(e, f->aliases, f->alias_cnt, "");
    if (f->props)
        put_members(e, f->props, ",");
    put(e, "}");
}

static void nf_body(emit_t *e, const av_node_t *n)
{
    if (n->type == AV_RECORD) {
        put(e, ",\"fields\":[");
        for (size_t i = 0; i < n->field_cnt; i++) {
            if (i)
                put(e, ",");
            nf_field(e, &n->fields[i], n->space);
        }
        put(e, "]");
    } else if (n->type == AV_ENUM) {
        put(e, ",\"symbols\":[");
        for (size_t i = 0; i < n->symbol_cnt; i++) {
            if (i)
                put(e, ",");
            put_cstr(e, n->symbols[i]);
        }
        put(e, "]");
        if (n->enum_default) {
            put(e, ",\"default\":");
            put_cstr(e, n->enum_default);
        }
    } else {
        putf(e, ",\"size\":%zu", n->size);
    }
}

static void nf_named(emit_t *e, const av_node_t *n, const char *space)
{
    const char *kind = n->is_error ? "error" : av_type_name(n->type);
    putf(e, "{\"type\":\"%s\",\"name\":", kind);
    put_cstr(e, n->name);
    if (strcmp(n->space, space) != 0) {
        put(e, ",\"namespace\":");
        put_cstr(e, n->space);
    }
    if (n->doc) {
        put(e, ",\"doc\":");
        put_cstr(e, n->doc);
    }
    nf_body(e, n);
    if (n->props)
        put_members(e, n->props, ",");
    if (n->alias_cnt)
        nf_names(e, n->aliases, n->alias_cnt, n->space);
    put(e, "}");
}

static void nf_node(emit_t *e, const av_node_t *n, const char *space)
{
    if (av_is_named(n->type)) {
        int own = av_strtab_get(&e->sch->names, n->fullname) == n;
        if (own && first_use(e, n))
            nf_named(e, n, space);
        else
            put_cstr(e, strcmp(n->space, space) == 0 ? n->name : n->fullname);
    } else if (n->type == AV_UNION) {
        put(e, "[");
        for (size_t i = 0; i < n->branch_cnt; i++) {
            if (i)
                put(e, ",");
            nf_node(e, n->branches[i], space);
        }
        put(e, "]");
    } else if (n->type == AV_ARRAY || n->type == AV_MAP) {
        int arr = n->type == AV_ARRAY;
        put(e, arr ? "{\"type\":\"array\",\"items\":"
                   : "{\"type\":\"map\",\"values\":");
        nf_node(e, arr ? n->items : n->values, space);
        if (n->props)
            put_members(e, n->props, ",");
        put(e, "}");
    } else if (n->props) {
        putf(e, "{\"type\":\"%s\"", av_type_name(n->type));
        put_members(e, n->props, ",");
        put(e, "}");
    } else {
        putf(e, "\"%s\"", av_type_name(n->type));
    }
}

/* ------------------------------------------------------ fingerprint */

uint64_t av_schema_crc64(const char *data, size_t len)
{
    const uint64_t empty = 0xc15d213aa4d7a795ULL;
    uint64_t table[256];
    for (int i = 0; i < 256; i++) {
        uint64_t fp = (uint64_t)i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (empty & (0 - (fp & 1)));
        table[i] = fp;
    }
    uint64_t fp = empty;
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ table[(fp ^ (unsigned char)data[i]) & 0xff];
    return fp;
}

/* Runs one emitter over the root into buf (reset first). */
static int emit_text(const av_schema_t *sch, int canonical, mw_buf_t *buf)
{
    emit_t e = {.sch = sch, .buf = buf};
    mw_buf_reset(buf);
    if (canonical)
        cf_node(&e, sch->root);
    else
        nf_node(&e, sch->root, "");
    av_strtab_free(&e.seen);
    return e.rc;
}

/* The normalised text goes in the arena's spare tail when it fits (the
 * common case: the first block is sized for it), else in its own exact
 * allocation; never in mw_buf's rounded-up buffer. */
static int keep_normalized(av_schema_t *sch, const mw_buf_t *buf)
{
    size_t len = mw_buf_len(buf);
    char *s = av_schema_arena_tail(sch, len);
    if (!s) {
        if (!(s = malloc(len + 1)))
            return MW_ERR_NOMEM;
        sch->normalized_heap = 1;
    }
    memcpy(s, mw_buf_data(buf), len);
    s[len] = '\0';
    sch->normalized = s;
    return 0;
}

/* The canonical form is built here once, so a schema too large for it is
 * rejected at parse time as before, but only its fingerprint is kept. */
int av_schema_forms_build(av_schema_t *sch, mw_err_t *err)
{
    mw_buf_t *buf = mw_buf_new(0);
    int rc = buf ? emit_text(sch, 1, buf) : MW_ERR_NOMEM;
    if (rc == 0) {
        sch->fingerprint = av_schema_crc64(mw_buf_data(buf), mw_buf_len(buf));
        rc = emit_text(sch, 0, buf);
    }
    if (rc == 0)
        rc = keep_normalized(sch, buf);
    mw_buf_destroy(buf);
    if (rc < 0)
        return mw_err_set(err, rc == MW_ERR_FULL ? MW_ERR_INVALID : rc,
                          "$: schema text too large to normalise (%s)",
                          mw_err_name(rc));
    return 0;
}

char *av_schema_canonical_build(const av_schema_t *sch)
{
    mw_buf_t *buf = mw_buf_new(0);
    char *out = NULL;
    if (buf && emit_text(sch, 1, buf) == 0)
        out = mw_buf_steal(buf, NULL);
    mw_buf_destroy(buf);
    return out;
}
