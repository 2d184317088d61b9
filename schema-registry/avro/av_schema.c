/*
 * av_schema: parses an Avro schema's JSON text into a read-only graph and
 * validates it against the Avro 1.11 specification.  It sits under the
 * registry (42201 messages come from here), the compatibility checker and
 * the serde, which all walk the graph this module builds.  This file is the
 * parser; the schema object (arena, named-type table, life cycle) is
 * av_schema_obj.c.
 *
 * Invariants:
 * - Everything a schema owns lives in one arena (the av_schema_t itself,
 *   nodes, fields, strings copied out of the JSON text, usually the
 *   normalised text too), plus one jansson reference per default value and
 *   props object the graph points to.  The JSON tree of the text is dropped
 *   once parsed: a registry keeps tens of thousands of schemas, and the
 *   tree cost several times the text.  Primitive types without attributes
 *   are shared static nodes.
 * - A named type is one node; references by name point to it, so recursive
 *   types are cycles.  Types of referenced schemas (refs) are borrowed: the
 *   schema keeps each ref until it is released itself.
 * - Recursion is bounded: schema nesting by AV_MAX_DEPTH (an error, never a
 *   stack overflow), default checking by a depth and a step budget.
 * - Defaults are checked after the whole graph exists, because a field's
 *   default may use the record that is still being parsed (recursion).
 *
 * Where Avro 1.11 Java (what Confluent runs) and the spec differ, we follow
 * Java, except where the brief asks for stricter checks (bytes and fixed
 * defaults must be code points 0-255, fixed defaults of the right length).
 */
#include "av_schema.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av_schema_int.h"
#include "mw_vec.h"

#define AV_MAX_DEPTH 128

/* ------------------------------------------------------------- names */

static const char *const type_names[AV_TYPE__CNT] = {
    "null",   "boolean", "int",  "long",  "float", "double", "bytes",
    "string", "record",  "enum", "array", "map",   "union",  "fixed",
};
_Static_assert(sizeof(type_names) / sizeof(type_names[0]) == AV_TYPE__CNT,
               "type_names matches av_type_t");

static const char *const logical_names[AV_LOGICAL__CNT] = {
    "none",
    "decimal",
    "uuid",
    "date",
    "time-millis",
    "time-micros",
    "timestamp-millis",
    "timestamp-micros",
    "local-timestamp-millis",
    "local-timestamp-micros",
    "duration",
};
_Static_assert(sizeof(logical_names) / sizeof(logical_names[0]) ==
                   AV_LOGICAL__CNT,
               "logical_names matches av_logical_t");

const char *av_type_name(av_type_t type)
{
    return (unsigned)type < AV_TYPE__CNT ? type_names[type] : "unknown";
}

const char *av_logical_name(av_logical_t logical)
{
    return (unsigned)logical < AV_LOGICAL__CNT ? logical_names[logical]
                                               : "unknown";
}

/* Primitive type for a name, or -1. */
static int primitive_type(const char *s)
{
    for (int t = AV_NULL; t <= AV_STRING; t++)
        if (strcmp(type_names[t], s) == 0)
            return t;
    return -1;
}

/* [A-Za-z_][A-Za-z0-9_]* over len bytes. */
static int is_simple_name(const char *s, size_t len)
{
    if (len == 0 || !((s[0] >= 'A' && s[0] <= 'Z') ||
                      (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* Dot-separated simple names, no empty component. */
static int is_dotted_name(const char *s)
{
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        if (!is_simple_name(s, len))
            return 0;
        if (!dot)
            return 1;
        s = dot + 1;
    }
}

/* ------------------------------------------------------------- context */

/* Appends to the JSON path; returns the mark to restore with path_pop.
 * A path longer than the buffer ends in "..." (depth limits keep real
 * schemas far below it). */
size_t av_path_push(av_pctx_t *p, const char *fmt, ...)
{
    size_t mark = p->plen;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->path + p->plen, sizeof(p->path) - p->plen, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(p->path) - p->plen) {
        memcpy(p->path + sizeof(p->path) - 4, "...", 4);
        p->plen = sizeof(p->path) - 1;
    } else {
        p->plen += (size_t)n;
    }
    return mark;
}

void av_path_pop(av_pctx_t *p, size_t mark)
{
    p->plen = mark;
    p->path[mark] = '\0';
}

/* Sets MW_ERR_INVALID "<path>: <message>"; returns -1 so parse paths read
 * `return av_perr(...)`. */
int av_perr(av_pctx_t *p, const char *fmt, ...)
{
    char msg[MW_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Deep paths keep their end, which is where the problem is. */
    if (p->plen > 200)
        mw_err_set(p->err, MW_ERR_INVALID, "$...%s: %s",
                   p->path + p->plen - 160, msg);
    else
        mw_err_set(p->err, MW_ERR_INVALID, "%s: %s", p->path, msg);
    p->failed = 1;
    return -1;
}

int av_pnomem(av_pctx_t *p)
{
    mw_err_set(p->err, MW_ERR_NOMEM, "%s: out of memory", p->path);
    p->failed = 1;
    return -1;
}

/* Short JSON text of v for messages, cut at 60 bytes. */
void av_json_brief(const json_t *v, char *out, size_t len)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) {
        snprintf(out, len, "(value)");
        return;
    }
    if (strlen(s) > 60)
        snprintf(out, len, "%.57s...", s);
    else
        snprintf(out, len, "%s", s);
    free(s);
}

const char *av_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* ------------------------------------------------------------- helpers */

/* Primitive types written without attributes ("long", {"type":"long"}) are
 * the same for every schema, so they share these nodes instead of taking
 * one each: most nodes of a typical record.  av_compat never memoises
 * primitive pairs, and nothing else keys on primitive node identity. */
static const av_node_t prim_nodes[AV_STRING + 1] = {
    [AV_NULL] = {.type = AV_NULL, .space = ""},
    [AV_BOOLEAN] = {.type = AV_BOOLEAN, .space = ""},
    [AV_INT] = {.type = AV_INT, .space = ""},
    [AV_LONG] = {.type = AV_LONG, .space = ""},
    [AV_FLOAT] = {.type = AV_FLOAT, .space = ""},
    [AV_DOUBLE] = {.type = AV_DOUBLE, .space = ""},
    [AV_BYTES] = {.type = AV_BYTES, .space = ""},
    [AV_STRING] = {.type = AV_STRING, .space = ""},
};

/* Keeps one reference to v (a default or a props object) for the schema's
 * lifetime; takes over the caller's reference. */
static int own_json(av_pctx_t *p, json_t *v)
{
    if (MW_VEC_RESERVE(&p->owned, &p->owned_cap, p->owned_cnt + 1) != 0) {
        json_decref(v);
        return av_pnomem(p);
    }
    p->owned[p->owned_cnt++] = v;
    return 0;
}

/* A copy of a string of the JSON text in the arena (the text's tree does
 * not outlive parsing); NULL stays NULL. */
static int arena_copy(av_pctx_t *p, const char **s)
{
    if (*s && !(*s = av_schema_strndup(p->sch, *s, strlen(*s))))
        return av_pnomem(p);
    return 0;
}

static av_node_t *new_node(av_pctx_t *p, av_type_t type)
{
    av_node_t *node = av_schema_alloc(p->sch, sizeof(*node));
    if (!node) {
        av_pnomem(p);
        return NULL;
    }
    node->type = type;
    node->space = "";
    return node;
}

/* Optional string attribute: 0 with *out = NULL when absent, -1 when it is
 * not a string.  The string is borrowed from the JSON tree, which lives
 * until the end of parsing: arena_copy what the graph keeps. */
static int opt_string(av_pctx_t *p, const json_t *obj, const char *key,
                      const char **out)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        size_t mark = av_path_push(p, ".%s", key);
        av_perr(p, "'%s' must be a string, got %s", key, av_json_kind(v));
        av_path_pop(p, mark);
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        size_t mark = av_path_push(p, ".%s", key);
        av_perr(p, "'%s' must not contain NUL characters", key);
        av_path_pop(p, mark);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* The string of v when it is a string without NUL characters, else NULL
 * (the text is parsed with JSON_ALLOW_NUL so bytes defaults may hold
 * "\u0000"; names and symbols must not). */
static const char *plain_string(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* Copies the attributes not in reserved (NULL-terminated) into a new props
 * object the schema owns; *out = NULL when there are none. */
static int collect_props(av_pctx_t *p, json_t *obj, const char *const *reserved,
                         const json_t **out)
{
    const char *key;
    json_t *val, *props = NULL;
    *out = NULL;
    json_object_foreach(obj, key, val)
    {
        size_t i = 0;
        while (reserved[i] && strcmp(reserved[i], key) != 0)
            i++;
        if (reserved[i])
            continue;
        if (!props) {
            if (!(props = json_object()))
                return av_pnomem(p);
            if (own_json(p, props) < 0)
                return -1;
        }
        if (json_object_set(props, key, val) < 0)
            return av_pnomem(p);
    }
    *out = props;
    return 0;
}

/* The named type a reference resolves to: own definitions first, then the
 * references' (recursively). */
const av_node_t *av_schema_lookup(const av_schema_t *sch, const char *full)
{
    const av_node_t *node = av_strtab_get(&sch->names, full);
    for (size_t i = 0; !node && i < sch->ref_cnt; i++)
        node = av_schema_lookup(sch->refs[i], full);
    return node;
}

/* Resolves a type name used as a reference.  A name without a dot is
 * relative to the enclosing namespace; like Java's Schema.Names.get, an
 * unresolved relative name falls back to the null namespace, which is the
 * only way to reach a null-namespace type from inside a namespace. */
static const av_node_t *resolve_ref(av_pctx_t *p, const char *name,
                                    const char *space)
{
    if (strchr(name, '.') || !*space)
        return av_schema_lookup(p->sch, name);
    size_t len = strlen(space) + strlen(name) + 2;
    char *full = malloc(len);
    if (!full)
        return NULL;
    snprintf(full, len, "%s.%s", space, name);
    const av_node_t *node = av_schema_lookup(p->sch, full);
    free(full);
    return node ? node : av_schema_lookup(p->sch, name);
}

/* ------------------------------------------------------------- parsing */

/* Names in "aliases": an array of strings.  Type aliases (dotted allowed)
 * become full names relative to space; field aliases are simple names. */
static int parse_aliases(av_pctx_t *p, json_t *obj, const char *space,
                         int is_type, const char *const **out, size_t *cnt)
{
    json_t *arr = json_object_get(obj, "aliases");
    *out = NULL;
    *cnt = 0;
    if (!arr)
        return 0;
    size_t mark = av_path_push(p, ".aliases");
    if (!json_is_array(arr))
        return av_perr(p, "'aliases' must be an array of names, got %s",
                       av_json_kind(arr));
    size_t n = json_array_size(arr);
    const char **names = av_schema_alloc(p->sch, (n + 1) * sizeof(*names));
    if (!names)
        return av_pnomem(p);
    for (size_t i = 0; i < n; i++) {
        const char *s = plain_string(json_array_get(arr, i));
        size_t item = av_path_push(p, "[%zu]", i);
        if (!s || !(is_type ? is_dotted_name(s) : is_simple_name(s, strlen(s))))
            return av_perr(p, "invalid alias %s", s ? s : "(not a string)");
        if (is_type && !strchr(s, '.') && *space) {
            size_t len = strlen(space) + strlen(s) + 2;
            char *full = av_schema_alloc(p->sch, len);
            if (!full)
                return av_pnomem(p);
            snprintf(full, len, "%s.%s", space, s);
            s = full;
        } else if (arena_copy(p, &s) < 0) {
            return -1;
        }
        names[i] = s;
        av_path_pop(p, item);
    }
    av_path_pop(p, mark);
    *out = names;
    *cnt = n;
    return 0;
}

/* Splits the name attribute into name, namespace and full name. */
static int named_fullname(av_pctx_t *p, av_node_t *node, const char *name,
                          const char *ns, const char *space)
{
    const char *dot = strrchr(name, '.');
    if (dot) {
        /* A dotted name is already full; "namespace" is ignored. */
        if (!is_dotted_name(name))
            return av_perr(p, "invalid name '%s'", name);
        node->space = av_schema_strndup(p->sch, name, (size_t)(dot - name));
        node->fullname = av_schema_strndup(p->sch, name, strlen(name));
        if (!node->space || !node->fullname)
            return av_pnomem(p);
        node->name = node->fullname + (dot - name) + 1;
        return 0;
    }
    if (!is_simple_name(name, strlen(name)))
        return av_perr(p, "invalid name '%s'", name);
    if (ns && strcmp(ns, space) != 0) {
        /* "" is the null namespace: it resets an inherited one.  An
         * inherited namespace is already in the arena; a new one is
         * copied. */
        if (*ns && !is_dotted_name(ns))
            return av_perr(p, "invalid namespace '%s'", ns);
        space = *ns ? av_schema_strndup(p->sch, ns, strlen(ns)) : "";
        if (!space)
            return av_pnomem(p);
    }
    node->space = space;
    /* The short name is the tail of the full name: one copy for both. */
    size_t slen = strlen(space), len = slen + strlen(name) + (slen ? 1 : 0);
    char *full = av_schema_alloc_chars(p->sch, len + 1);
    if (!full)
        return av_pnomem(p);
    if (slen)
        snprintf(full, len + 1, "%s.%s", space, name);
    else
        memcpy(full, name, len + 1);
    node->fullname = full;
    node->name = full + len - strlen(name);
    return 0;
}

/* Name, namespace, doc and aliases of a record, enum or fixed.  The type is
 * registered before its body is parsed, so the body may refer to it. */
static int parse_named(av_pctx_t *p, json_t *obj, const char *space,
                       av_node_t *node)
{
    const char *name, *ns;
    if (opt_string(p, obj, "name", &name) < 0 ||
        opt_string(p, obj, "namespace", &ns) < 0 ||
        opt_string(p, obj, "doc", &node->doc) < 0 ||
        arena_copy(p, &node->doc) < 0)
        return -1;
    if (!name)
        return av_perr(p, "%s has no 'name'", type_names[node->type]);
    size_t mark = av_path_push(p, ".name");
    if (named_fullname(p, node, name, ns, space) < 0)
        return -1;
    /* Java checks the full name: "a.int" is fine, "int" is not. */
    if (primitive_type(node->fullname) >= 0)
        return av_perr(p,
                       "a named type may not be called '%s', a primitive "
                       "type name",
                       node->fullname);
    if (av_schema_lookup(p->sch, node->fullname))
        return av_perr(p, "type '%s' is already defined", node->fullname);
    if (av_strtab_put(&p->sch->names, node->fullname, node) < 0)
        return av_pnomem(p);
    av_path_pop(p, mark);
    return parse_aliases(p, obj, node->space, 1, &node->aliases,
                         &node->alias_cnt);
}

static int add_pending(av_pctx_t *p, const av_field_t *field)
{
    if (MW_VEC_RESERVE(&p->pend, &p->pend_cap, p->pend_cnt + 1) != 0)
        return av_pnomem(p);
    char *path = strndup(p->path, p->plen);
    if (!path)
        return av_pnomem(p);
    p->pend[p->pend_cnt++] = (av_pending_t){.field = field, .path = path};
    return 0;
}

static int parse_order(av_pctx_t *p, json_t *js, av_field_t *f)
{
    const char *order;
    if (opt_string(p, js, "order", &order) < 0)
        return -1;
    if (!order || strcmp(order, "ascending") == 0)
        f->order = AV_ORDER_ASCENDING;
    else if (strcmp(order, "descending") == 0)
        f->order = AV_ORDER_DESCENDING;
    else if (strcmp(order, "ignore") == 0)
        f->order = AV_ORDER_IGNORE;
    else {
        av_path_push(p, ".order");
        return av_perr(p,
                       "invalid order '%s' (ascending, descending or "
                       "ignore)",
                       order);
    }
    return 0;
}

static const char *const field_attrs[] = {"name",    "type", "default", "order",
                                          "aliases", "doc",  NULL};

static int parse_field(av_pctx_t *p, json_t *js, const char *space,
                       av_field_t *f, av_strtab_t *seen)
{
    if (!json_is_object(js))
        return av_perr(p, "a field must be an object, got %s",
                       av_json_kind(js));
    if (opt_string(p, js, "name", &f->name) < 0 ||
        opt_string(p, js, "doc", &f->doc) < 0 || arena_copy(p, &f->name) < 0 ||
        arena_copy(p, &f->doc) < 0)
        return -1;
    if (!f->name)
        return av_perr(p, "field has no 'name'");
    size_t mark = av_path_push(p, ".name");
    if (!is_simple_name(f->name, strlen(f->name)))
        return av_perr(p, "invalid field name '%s'", f->name);
    int rc = av_strtab_put(seen, f->name, f);
    if (rc != 0)
        return rc < 0 ? av_pnomem(p)
                      : av_perr(p, "duplicate field name '%s'", f->name);
    av_path_pop(p, mark);
    json_t *type = json_object_get(js, "type");
    if (!type)
        return av_perr(p, "field '%s' has no 'type'", f->name);
    mark = av_path_push(p, ".type");
    if (!(f->type = av_schema_parse_node(p, type, space)))
        return -1;
    av_path_pop(p, mark);
    if (parse_order(p, js, f) < 0 ||
        parse_aliases(p, js, space, 0, &f->aliases, &f->alias_cnt) < 0 ||
        collect_props(p, js, field_attrs, &f->props) < 0)
        return -1;
    json_t *dflt = json_object_get(js, "default");
    if (!dflt)
        return 0;
    f->dflt = json_incref(dflt);
    return own_json(p, dflt) < 0 ? -1 : add_pending(p, f);
}

static const char *const record_attrs[] = {
    "type", "name", "namespace", "doc", "aliases", "fields", NULL};

static int parse_record(av_pctx_t *p, json_t *obj, const char *space,
                        av_node_t *node)
{
    if (parse_named(p, obj, space, node) < 0)
        return -1;
    json_t *fields = json_object_get(obj, "fields");
    if (!json_is_array(fields)) {
        if (fields)
            av_path_push(p, ".fields");
        return av_perr(p, "record '%s' needs a 'fields' array", node->fullname);
    }
    size_t n = json_array_size(fields);
    av_field_t *arr = av_schema_alloc(p->sch, n * sizeof(*arr));
    if (!arr)
        return av_pnomem(p);
    node->fields = arr;
    av_strtab_t seen = {0};
    for (size_t i = 0; i < n; i++) {
        size_t mark = av_path_push(p, ".fields[%zu]", i);
        arr[i].index = i;
        if (parse_field(p, json_array_get(fields, i), node->space, &arr[i],
                        &seen) < 0) {
            av_strtab_free(&seen);
            return -1;
        }
        av_path_pop(p, mark);
        node->field_cnt = i + 1;
    }
    av_strtab_free(&seen);
    return collect_props(p, obj, record_attrs, &node->props);
}

static int parse_symbols(av_pctx_t *p, json_t *obj, av_node_t *node)
{
    json_t *syms = json_object_get(obj, "symbols");
    if (!json_is_array(syms)) {
        if (syms)
            av_path_push(p, ".symbols");
        return av_perr(p, "enum '%s' needs a 'symbols' array", node->fullname);
    }
    size_t n = json_array_size(syms);
    const char **arr = av_schema_alloc(p->sch, (n + 1) * sizeof(*arr));
    if (!arr)
        return av_pnomem(p);
    av_strtab_t seen = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *s = plain_string(json_array_get(syms, i));
        size_t mark = av_path_push(p, ".symbols[%zu]", i);
        if (!s || !is_simple_name(s, strlen(s)))
            rc = av_perr(p, "invalid enum symbol %s", s ? s : "(not a string)");
        else if ((rc = av_strtab_put(&seen, s, s)) != 0)
            rc = rc < 0 ? av_pnomem(p)
                        : av_perr(p, "duplicate enum symbol '%s'", s);
        else if ((rc = arena_copy(p, &s)) == 0)
            av_path_pop(p, mark);
        arr[i] = s;
    }
    av_strtab_free(&seen);
    node->symbols = arr;
    node->symbol_cnt = n;
    return rc;
}

static const char *const enum_attrs[] = {
    "type", "name", "namespace", "doc", "aliases", "symbols", "default", NULL};

static int parse_enum(av_pctx_t *p, json_t *obj, const char *space,
                      av_node_t *node)
{
    if (parse_named(p, obj, space, node) < 0 ||
        parse_symbols(p, obj, node) < 0 ||
        opt_string(p, obj, "default", &node->enum_default) < 0)
        return -1;
    if (node->enum_default) {
        size_t i = 0;
        while (i < node->symbol_cnt &&
               strcmp(node->symbols[i], node->enum_default) != 0)
            i++;
        if (i == node->symbol_cnt) {
            av_path_push(p, ".default");
            return av_perr(p, "default '%s' is not a symbol of enum '%s'",
                           node->enum_default, node->fullname);
        }
        node->enum_default = node->symbols[i];
    }
    return collect_props(p, obj, enum_attrs, &node->props);
}

/* Largest decimal precision a fixed of size bytes holds:
 * floor(log10(2^(8 * size - 1) - 1)). */
static long decimal_max_precision(size_t size)
{
    if (size == 0)
        return 0;
    if (size > 1000000)
        return LONG_MAX;
    return (long)floor((8.0 * (double)size - 1.0) * log10(2.0));
}

/* precision > 0, 0 <= scale <= precision, and for fixed the precision must
 * fit.  Java Avro 1.11 (LogicalTypes.fromSchemaIgnoreInvalid, used by
 * Schema.Parser) ignores an invalid decimal like any invalid logical type
 * rather than rejecting the schema; we do the same, so Confluent clients
 * see the same outcome. */
static int decimal_ok(const json_t *obj, av_node_t *node)
{
    const json_t *prec = json_object_get(obj, "precision");
    const json_t *scale = json_object_get(obj, "scale");
    if (!json_is_integer(prec) || json_integer_value(prec) <= 0 ||
        json_integer_value(prec) > INT_MAX)
        return 0;
    json_int_t pv = json_integer_value(prec), sv = 0;
    if (scale) {
        if (!json_is_integer(scale))
            return 0;
        sv = json_integer_value(scale);
    }
    if (sv < 0 || sv > pv)
        return 0;
    if (node->type == AV_FIXED && pv > decimal_max_precision(node->size))
        return 0;
    node->precision = (int)pv;
    node->scale = (int)sv;
    return 1;
}

/* Sets node->logical when obj's logicalType is valid for the node's type;
 * otherwise the attribute stays a plain property (spec: "an implementation
 * must ignore unknown or invalid logical types"). */
static void apply_logical(const json_t *obj, av_node_t *node)
{
    const char *lt = json_string_value(json_object_get(obj, "logicalType"));
    int l = AV_LOGICAL_NONE + 1;
    if (!lt)
        return;
    while (l < AV_LOGICAL__CNT && strcmp(logical_names[l], lt) != 0)
        l++;
    int ok;
    switch (l) {
    case AV_LOGICAL_DECIMAL:
        ok = (node->type == AV_BYTES || node->type == AV_FIXED) &&
             decimal_ok(obj, node);
        break;
    case AV_LOGICAL_UUID:
        ok = node->type == AV_STRING;
        break;
    case AV_LOGICAL_DATE:
    case AV_LOGICAL_TIME_MILLIS:
        ok = node->type == AV_INT;
        break;
    case AV_LOGICAL_TIME_MICROS:
    case AV_LOGICAL_TIMESTAMP_MILLIS:
    case AV_LOGICAL_TIMESTAMP_MICROS:
    case AV_LOGICAL_LOCAL_TIMESTAMP_MILLIS:
    case AV_LOGICAL_LOCAL_TIMESTAMP_MICROS:
        ok = node->type == AV_LONG;
        break;
    case AV_LOGICAL_DURATION:
        ok = node->type == AV_FIXED && node->size == 12;
        break;
    default:
        ok = 0;
        break;
    }
    if (ok)
        node->logical = (av_logical_t)l;
}

static const char *const fixed_attrs[] = {"type",    "name", "namespace", "doc",
                                          "aliases", "size", NULL};

static int parse_fixed(av_pctx_t *p, json_t *obj, const char *space,
                       av_node_t *node)
{
    if (parse_named(p, obj, space, node) < 0)
        return -1;
    json_t *size = json_object_get(obj, "size");
    if (!size)
        return av_perr(p, "fixed '%s' has no 'size'", node->fullname);
    if (!json_is_integer(size) || json_integer_value(size) < 0 ||
        json_integer_value(size) > INT_MAX) {
        char brief[80];
        av_json_brief(size, brief, sizeof(brief));
        av_path_push(p, ".size");
        return av_perr(p, "fixed size must be an integer from 0 to %d, got %s",
                       INT_MAX, brief);
    }
    node->size = (size_t)json_integer_value(size);
    apply_logical(obj, node);
    return collect_props(p, obj, fixed_attrs, &node->props);
}

/* array (key "items") or map (key "values"). */
static int parse_container(av_pctx_t *p, json_t *obj, const char *space,
                           av_node_t *node)
{
    static const char *const array_attrs[] = {"type", "items", NULL};
    static const char *const map_attrs[] = {"type", "values", NULL};
    const char *key = node->type == AV_ARRAY ? "items" : "values";
    json_t *sub = json_object_get(obj, key);
    if (!sub)
        return av_perr(p, "%s has no '%s'", type_names[node->type], key);
    size_t mark = av_path_push(p, ".%s", key);
    const av_node_t *child = av_schema_parse_node(p, sub, space);
    if (!child)
        return -1;
    av_path_pop(p, mark);
    if (node->type == AV_ARRAY)
        node->items = child;
    else
        node->values = child;
    return collect_props(
        p, obj, node->type == AV_ARRAY ? array_attrs : map_attrs, &node->props);
}

int av_is_named(av_type_t type)
{
    return type == AV_RECORD || type == AV_ENUM || type == AV_FIXED;
}

/* Branch i of a union: no directly nested union, no two unnamed types of
 * the same kind (a logical type does not make a difference, as in Java),
 * no two named types with one full name. */
static int union_branch_ok(av_pctx_t *p, const av_node_t *b, unsigned *mask,
                           av_strtab_t *named)
{
    if (b->type == AV_UNION)
        return av_perr(p, "a union may not immediately contain another union");
    if (av_is_named(b->type)) {
        int rc = av_strtab_put(named, b->fullname, b);
        if (rc != 0)
            return rc < 0 ? av_pnomem(p)
                          : av_perr(p, "duplicate type '%s' in union",
                                    b->fullname);
        return 0;
    }
    if (*mask & (1u << b->type))
        return av_perr(p, "duplicate type '%s' in union", type_names[b->type]);
    *mask |= 1u << b->type;
    return 0;
}

static const av_node_t *parse_union(av_pctx_t *p, json_t *arr,
                                    const char *space)
{
    size_t n = json_array_size(arr);
    av_node_t *node = new_node(p, AV_UNION);
    const av_node_t **branches;
    if (!node ||
        !(branches = av_schema_alloc(p->sch, (n + 1) * sizeof(*branches))))
        return av_pnomem(p), NULL;
    node->branches = branches;
    unsigned mask = 0;
    av_strtab_t named = {0};
    for (size_t i = 0; i < n; i++) {
        size_t mark = av_path_push(p, "[%zu]", i);
        branches[i] = av_schema_parse_node(p, json_array_get(arr, i), space);
        if (!branches[i] ||
            union_branch_ok(p, branches[i], &mask, &named) < 0) {
            av_strtab_free(&named);
            return NULL;
        }
        av_path_pop(p, mark);
        node->branch_cnt = i + 1;
    }
    av_strtab_free(&named);
    return node;
}

/* A type given by name: a primitive or a reference to a named type. */
static const av_node_t *parse_name(av_pctx_t *p, const char *name,
                                   const char *space)
{
    int prim = primitive_type(name);
    if (prim >= 0)
        return &prim_nodes[prim];
    const av_node_t *node = resolve_ref(p, name, space);
    if (node)
        return node;
    if (strcmp(name, "record") == 0 || strcmp(name, "error") == 0 ||
        strcmp(name, "enum") == 0 || strcmp(name, "fixed") == 0 ||
        strcmp(name, "array") == 0 || strcmp(name, "map") == 0)
        av_perr(p,
                "type '%s' must be written as an object with its "
                "attributes",
                name);
    else
        av_perr(p, "unknown type '%s'", name);
    return NULL;
}

/* {"type": T, ...} where T is a primitive or complex type name. */
static av_node_t *parse_typed_object(av_pctx_t *p, json_t *obj, const char *t,
                                     const char *space)
{
    static const char *const prim_attrs[] = {"type", NULL};
    static const struct {
        const char *name;
        av_type_t type;
        int (*parse)(av_pctx_t *, json_t *, const char *, av_node_t *);
    } kinds[] = {
        {"record", AV_RECORD, parse_record},
        {"error", AV_RECORD, parse_record},
        {"enum", AV_ENUM, parse_enum},
        {"fixed", AV_FIXED, parse_fixed},
        {"array", AV_ARRAY, parse_container},
        {"map", AV_MAP, parse_container},
    };
    int prim = primitive_type(t);
    if (prim >= 0) {
        /* Attributes (logicalType included) make it a node of its own. */
        av_node_t attrs = {.type = (av_type_t)prim, .space = ""};
        if (collect_props(p, obj, prim_attrs, &attrs.props) < 0)
            return NULL;
        if (!attrs.props)
            return (av_node_t *)&prim_nodes[prim];
        apply_logical(obj, &attrs);
        av_node_t *node = new_node(p, (av_type_t)prim);
        if (node)
            *node = attrs;
        return node;
    }
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i].name, t) != 0)
            continue;
        av_node_t *node = new_node(p, kinds[i].type);
        if (!node)
            return NULL;
        node->is_error = strcmp(t, "error") == 0;
        return kinds[i].parse(p, obj, space, node) < 0 ? NULL : node;
    }
    return NULL;
}

static const av_node_t *parse_object(av_pctx_t *p, json_t *obj,
                                     const char *space)
{
    json_t *t = json_object_get(obj, "type");
    const av_node_t *node;
    size_t mark;
    if (!t) {
        av_perr(p, "missing 'type' attribute");
        return NULL;
    }
    if (!json_is_string(t)) {
        /* {"type": {...}} is not a schema: Java's parser wants a type name
         * here ("No type"), and so does Python's. */
        av_path_push(p, ".type");
        av_perr(p, "'type' must be a type name, got %s", av_json_kind(t));
        return NULL;
    }
    node = parse_typed_object(p, obj, json_string_value(t), space);
    if (node || p->failed)
        return node;
    /* {"type": "a.Name"}: a reference; other attributes are dropped, as
     * Java does. */
    mark = av_path_push(p, ".type");
    node = parse_name(p, json_string_value(t), space);
    if (node)
        av_path_pop(p, mark);
    return node;
}

const av_node_t *av_schema_parse_node(av_pctx_t *p, json_t *js,
                                      const char *space)
{
    const av_node_t *node = NULL;
    if (p->depth >= AV_MAX_DEPTH) {
        av_perr(p, "schema nested deeper than %d levels", AV_MAX_DEPTH);
        return NULL;
    }
    p->depth++;
    if (json_is_string(js))
        node = parse_name(p, json_string_value(js), space);
    else if (json_is_object(js))
        node = parse_object(p, js, space);
    else if (json_is_array(js))
        node = parse_union(p, js, space);
    else
        av_perr(p, "a schema must be a string, an object or an array, got %s",
                av_json_kind(js));
    p->depth--;
    return node;
}
