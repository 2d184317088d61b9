/*
 * av_schema_dflt: checks field default values against their field types,
 * after av_schema.c has built the whole graph (a default may use the record
 * being defined).  Rules follow Avro 1.11 Java's Schema.isValidDefault:
 * int within 32 bits, long any JSON integer, float/double any number, a
 * union's default matches its first branch, a record default is an object
 * whose missing fields take their own defaults, enums take a symbol.
 * Stricter than Java, as the spec asks: bytes and fixed defaults are strings
 * of code points 0-255, a fixed default has exactly size of them.
 * Recursion is bounded by a depth and a step budget, so a record whose
 * defaults contain itself without end is an error, not a stack overflow or
 * an exponential walk.
 */
#include "av_schema_int.h"

#include <stdio.h>
#include <string.h>

#define AV_DFLT_MAX_DEPTH 2200    /* above jansson's JSON depth limit */
#define AV_DFLT_MAX_STEPS 2000000 /* guards records of infinite types */

static int check_default(av_pctx_t *p, const av_node_t *t, const json_t *v,
                         int depth);

/* Number of code points of a JSON string when all are 0-255 (the JSON
 * encoding of bytes and fixed), -1 otherwise.  jansson guarantees valid
 * UTF-8, where such code points are one byte or C2/C3 plus one byte. */
static long latin1_len(const json_t *v)
{
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t len = json_string_length(v);
    long cnt = 0;
    for (size_t i = 0; i < len; i++, cnt++) {
        if (s[i] >= 0x80) {
            if (s[i] != 0xC2 && s[i] != 0xC3)
                return -1;
            i++;
        }
    }
    return cnt;
}

void av_type_desc(const av_node_t *t, char *out, size_t len)
{
    if (av_is_named(t->type))
        snprintf(out, len, "%s '%s'", av_type_name(t->type), t->fullname);
    else
        snprintf(out, len, "%s", av_type_name(t->type));
}

static int dflt_fail(av_pctx_t *p, const av_node_t *t, const json_t *v)
{
    char brief[80], desc[300];
    av_json_brief(v, brief, sizeof(brief));
    av_type_desc(t, desc, sizeof(desc));
    return av_perr(p, "%s is not a valid default for type %s", brief, desc);
}

static int check_record_default(av_pctx_t *p, const av_node_t *t,
                                const json_t *v, int depth)
{
    if (!json_is_object(v))
        return dflt_fail(p, t, v);
    for (size_t i = 0; i < t->field_cnt; i++) {
        const av_field_t *f = &t->fields[i];
        const json_t *fv = json_object_get(v, f->name);
        size_t mark = av_path_push(p, ".%s", f->name);
        /* A missing field takes its own default, as in Java's
         * Schema.isValidDefault; without one the value is incomplete. */
        if (!fv && !f->dflt)
            return av_perr(p, "missing field '%s', which has no default",
                           f->name);
        if (check_default(p, f->type, fv ? fv : f->dflt, depth + 1) < 0)
            return -1;
        av_path_pop(p, mark);
    }
    return 0;
}

static int check_container_default(av_pctx_t *p, const av_node_t *t,
                                   const json_t *v, int depth)
{
    if (t->type == AV_ARRAY) {
        if (!json_is_array(v))
            return dflt_fail(p, t, v);
        for (size_t i = 0; i < json_array_size(v); i++) {
            size_t mark = av_path_push(p, "[%zu]", i);
            if (check_default(p, t->items, json_array_get(v, i), depth + 1) < 0)
                return -1;
            av_path_pop(p, mark);
        }
        return 0;
    }
    if (!json_is_object(v))
        return dflt_fail(p, t, v);
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        size_t mark = av_path_push(p, ".%s", key);
        if (check_default(p, t->values, val, depth + 1) < 0)
            return -1;
        av_path_pop(p, mark);
    }
    return 0;
}

/* Avro 1.11 (spec and Java) checks a union's default against its first
 * branch only. */
static int check_union_default(av_pctx_t *p, const av_node_t *t,
                               const json_t *v, int depth)
{
    if (t->branch_cnt == 0)
        return av_perr(p, "an empty union can have no default");
    mw_err_t inner;
    mw_err_t *saved = p->err;
    size_t mark = p->plen;
    p->err = &inner;
    int rc = check_default(p, t->branches[0], v, depth + 1);
    p->err = saved;
    if (rc == 0)
        return 0;
    av_path_pop(p, mark);
    /* A failure deep inside the first branch already names its place;
     * one at the union itself gets the union rule spelled out. */
    const char *rest = inner.msg + p->plen;
    if (strncmp(inner.msg, p->path, p->plen) != 0 || rest[0] != ':') {
        mw_err_set(p->err, inner.code, "%s", inner.msg);
        return -1;
    }
    char brief[80], desc[300];
    av_json_brief(v, brief, sizeof(brief));
    av_type_desc(t->branches[0], desc, sizeof(desc));
    return av_perr(p,
                   "%s is not a valid default for the union, whose "
                   "default must match its first type, %s",
                   brief, desc);
}

static int check_default(av_pctx_t *p, const av_node_t *t, const json_t *v,
                         int depth)
{
    int ok = 0;
    if (depth > AV_DFLT_MAX_DEPTH || ++p->steps > AV_DFLT_MAX_STEPS) {
        av_path_pop(p, p->dflt_base);
        return av_perr(p, "default is nested too deeply or never ends "
                          "(a record whose defaults contain itself)");
    }
    switch (t->type) {
    case AV_NULL:
        ok = json_is_null(v);
        break;
    case AV_BOOLEAN:
        ok = json_is_boolean(v);
        break;
    case AV_INT:
        ok = json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
             json_integer_value(v) <= INT32_MAX;
        break;
    case AV_LONG:
        ok = json_is_integer(v);
        break;
    case AV_FLOAT:
    case AV_DOUBLE:
        ok = json_is_number(v);
        break;
    case AV_STRING:
        ok = json_is_string(v);
        break;
    case AV_BYTES:
        ok = json_is_string(v) && latin1_len(v) >= 0;
        break;
    case AV_FIXED:
        ok = json_is_string(v) && latin1_len(v) == (long)t->size;
        break;
    case AV_ENUM:
        for (size_t i = 0; json_is_string(v) && !ok && i < t->symbol_cnt; i++)
            ok = strlen(t->symbols[i]) == json_string_length(v) &&
                 strcmp(t->symbols[i], json_string_value(v)) == 0;
        break;
    case AV_ARRAY:
    case AV_MAP:
        return check_container_default(p, t, v, depth);
    case AV_UNION:
        return check_union_default(p, t, v, depth);
    case AV_RECORD:
        return check_record_default(p, t, v, depth);
    default:
        break;
    }
    return ok ? 0 : dflt_fail(p, t, v);
}

int av_schema_check_defaults(av_pctx_t *p)
{
    for (size_t i = 0; i < p->pend_cnt; i++) {
        const av_field_t *f = p->pend[i].field;
        p->plen = 0;
        p->path[0] = '\0';
        av_path_push(p, "%s.default", p->pend[i].path);
        p->dflt_base = p->plen;
        p->steps = 0;
        if (check_default(p, f->type, f->dflt, 0) < 0)
            return -1;
    }
    return 0;
}
