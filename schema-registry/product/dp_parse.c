/*
 * dp_parse: builds a dp_product_t from a YAML descriptor (libyaml's
 * document API: the whole file is one small tree, so positions of every
 * key and value are at hand when a check fails).
 *
 * The walk checks, in document order, and stops at the first problem:
 *   1. YAML syntax (libyaml's problem and mark);
 *   2. per mapping, that every key is known (the message lists the keys
 *      allowed there) and appears once, and that each value has its type
 *      (string, integer, sequence, mapping, duration, one of a set);
 *   3. required keys (reported at the mapping that lacks them);
 *   4. schemas: the file exists and is readable, relative to the
 *      descriptor's folder, and its text (or the inline one) is valid Avro
 *      for av_schema;
 *   5. within the product: port names unique, a table's or files' `from`
 *      names one of the product's topic ports, described fields exist in
 *      the value schema.
 * References to other products are dp_validate's (they need the mesh).
 * Every message is "FILE:LINE:COL: where: what", where is the key path
 * ("output_ports[1].partitions").
 *
 * Any thread; nothing here is shared.
 */
#include "dp_product.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "dp_product_int.h"

#define DP_FILE_MAX_BYTES (16u * 1024 * 1024)
#define DP_WHERE_MAX 160

typedef struct dp_ctx {
    dp_product_t *prod;
    yaml_document_t *doc;
    char dir[PATH_MAX]; /* the descriptor's folder, "" for the current */
    mw_err_t *err;
} dp_ctx_t;

static dp_pos_t dp_pos(const yaml_node_t *n)
{
    return (dp_pos_t){.line = (int)n->start_mark.line + 1,
                      .col = (int)n->start_mark.column + 1};
}

static int dp_fail(dp_ctx_t *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int dp_fail(dp_ctx_t *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[MW_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return dp_product_err(c->prod, dp_pos(n), c->err, MW_ERR_INVALID, "%s",
                          msg);
}

static int dp_oom(dp_ctx_t *c)
{
    return mw_err_set(c->err, MW_ERR_NOMEM, "%s: out of memory", c->prod->file);
}

static const char *dp_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a sequence";
    default:
        return "a scalar";
    }
}

static const char *dp_scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static int dp_expect(dp_ctx_t *c, const yaml_node_t *n, yaml_node_type_t type,
                     const char *where)
{
    static const char *const want[] = {
        [YAML_SCALAR_NODE] = "a string",
        [YAML_SEQUENCE_NODE] = "a sequence",
        [YAML_MAPPING_NODE] = "a mapping",
    };

    if (n->type == type)
        return 0;
    if (n->type == YAML_SCALAR_NODE)
        return dp_fail(c, n, "%s: expected %s, got '%s'", where, want[type],
                       dp_scalar(n));
    return dp_fail(c, n, "%s: expected %s, got %s", where, want[type],
                   dp_kind(n));
}

/* "a, b, c" of names (NULL-terminated) into buf, cut at cap. */
static void dp_join(char *buf, size_t cap, const char *const *names)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; names[i] && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%s", i ? ", " : "",
                                names[i]);
}

/* Checks that every key of map is in allowed (NULL-terminated) and
 * appears once. */
static int dp_keys(dp_ctx_t *c, yaml_node_t *map, const char *where,
                   const char *const *allowed)
{
    yaml_node_pair_t *p, *q;
    char list[512];

    dp_join(list, sizeof(list), allowed);
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        size_t i;
        if (k->type != YAML_SCALAR_NODE)
            return dp_fail(c, k, "%s: a key must be a string, got %s", where,
                           dp_kind(k));
        for (i = 0; allowed[i] && strcmp(allowed[i], dp_scalar(k)); i++)
            ;
        if (!allowed[i])
            return dp_fail(c, k, "%s%sunknown key '%s' (expected one of: %s)",
                           where, *where ? ": " : "", dp_scalar(k), list);
        for (q = map->data.mapping.pairs.start; q < p; q++)
            if (!strcmp(dp_scalar(yaml_document_get_node(c->doc, q->key)),
                        dp_scalar(k)))
                return dp_fail(c, k, "%s%skey '%s' given twice", where,
                               *where ? ": " : "", dp_scalar(k));
    }
    return 0;
}

/* The value of key in map, or NULL. */
static yaml_node_t *dp_get(dp_ctx_t *c, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++)
        if (!strcmp(dp_scalar(yaml_document_get_node(c->doc, p->key)), key))
            return yaml_document_get_node(c->doc, p->value);
    return NULL;
}

/* A key path cut to DP_WHERE_MAX bytes ends in "...": a message may
 * then name a shortened path, never a wrong one. */
static void dp_where_cut(char *buf, size_t cap, int n)
{
    if (n >= (int)cap && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
}

static void dp_where(char *buf, const char *parent, const char *key)
{
    dp_where_cut(
        buf, DP_WHERE_MAX,
        snprintf(buf, DP_WHERE_MAX, "%s%s%s", parent, *parent ? "." : "", key));
}

/* "parent[i]" into buf (DP_WHERE_MAX bytes). */
static void dp_where_at(char *buf, const char *parent, size_t i)
{
    dp_where_cut(buf, DP_WHERE_MAX,
                 snprintf(buf, DP_WHERE_MAX, "%s[%zu]", parent, i));
}

/* A string value: *out in the pool, or NULL when absent and optional. */
static int dp_str(dp_ctx_t *c, yaml_node_t *map, const char *key,
                  const char *parent, bool required, const char **out)
{
    yaml_node_t *v = dp_get(c, map, key);
    char where[DP_WHERE_MAX];
    int rc;

    dp_where(where, parent, key);
    *out = NULL;
    if (!v && required)
        return dp_fail(c, map, "%s%smissing key '%s'", parent,
                       *parent ? ": " : "", key);
    if (!v)
        return 0;
    if ((rc = dp_expect(c, v, YAML_SCALAR_NODE, where)))
        return rc;
    if (!dp_scalar(v)[0])
        return dp_fail(c, v, "%s: must not be empty", where);
    if (!(*out = dp_product_keep(c->prod, strdup(dp_scalar(v)))))
        return dp_oom(c);
    return 0;
}

/* An integer value in [min, max]; *out keeps its default when absent. */
static int dp_int(dp_ctx_t *c, yaml_node_t *map, const char *key,
                  const char *parent, bool required, long long min,
                  long long max, long long *out)
{
    yaml_node_t *v = dp_get(c, map, key);
    char where[DP_WHERE_MAX], *end;
    long long n;

    dp_where(where, parent, key);
    if (!v && required)
        return dp_fail(c, map, "%s%smissing key '%s'", parent,
                       *parent ? ": " : "", key);
    if (!v)
        return 0;
    if (v->type != YAML_SCALAR_NODE)
        return dp_fail(c, v, "%s: expected an integer, got %s", where,
                       dp_kind(v));
    errno = 0;
    n = strtoll(dp_scalar(v), &end, 10);
    if (!dp_scalar(v)[0] || *end || errno)
        return dp_fail(c, v, "%s: expected an integer, got '%s'", where,
                       dp_scalar(v));
    if (n < min || n > max)
        return dp_fail(c, v, "%s: %lld is out of range %lld..%lld", where, n,
                       min, max);
    *out = n;
    return 0;
}

/* A string that must be one of allowed (NULL-terminated). */
static int dp_enum(dp_ctx_t *c, yaml_node_t *map, const char *key,
                   const char *parent, const char *const *allowed,
                   const char **out)
{
    char where[DP_WHERE_MAX], list[256];
    int rc = dp_str(c, map, key, parent, false, out);

    if (rc || !*out)
        return rc;
    for (size_t i = 0; allowed[i]; i++)
        if (!strcmp(allowed[i], *out))
            return 0;
    dp_join(list, sizeof(list), allowed);
    dp_where(where, parent, key);
    return dp_fail(c, dp_get(c, map, key), "%s: '%s' is not one of: %s", where,
                   *out, list);
}

/* Lower-case letters, digits, '-' and '_', starting with a letter or
 * digit: names that go into topic names and URLs as they are. */
static bool dp_is_ident(const char *s)
{
    if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

static int dp_ident(dp_ctx_t *c, yaml_node_t *map, const char *key,
                    const char *parent, bool required, const char **out)
{
    char where[DP_WHERE_MAX];
    int rc = dp_str(c, map, key, parent, required, out);

    if (rc || !*out || dp_is_ident(*out))
        return rc;
    dp_where(where, parent, key);
    return dp_fail(c, dp_get(c, map, key),
                   "%s: '%s' must be lower-case letters, digits, '-' or '_'",
                   where, *out);
}

/* ------------------------------------------------------------ schemas */

/* YAML (an inline schema written as YAML) to JSON: plain scalars that read
 * as null, booleans or numbers become those, quoted ones stay strings. */
static json_t *dp_to_json(dp_ctx_t *c, yaml_node_t *n, int depth)
{
    json_t *out;

    if (depth > 64)
        return NULL;
    if (n->type == YAML_SCALAR_NODE) {
        const char *s = dp_scalar(n);
        char *end;
        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
            return json_string(s);
        if (!strcmp(s, "null") || !strcmp(s, "~"))
            return json_null();
        if (!strcmp(s, "true") || !strcmp(s, "false"))
            return json_boolean(s[0] == 't');
        long long i = strtoll(s, &end, 10);
        if (*s && !*end)
            return json_integer(i);
        double d = strtod(s, &end);
        if (*s && !*end)
            return json_real(d);
        return json_string(s);
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        out = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start;
             out && i < n->data.sequence.items.top; i++)
            if (json_array_append_new(
                    out, dp_to_json(c, yaml_document_get_node(c->doc, *i),
                                    depth + 1))) {
                json_decref(out);
                return NULL;
            }
        return out;
    }
    out = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         out && p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        if (k->type != YAML_SCALAR_NODE ||
            json_object_set_new(
                out, dp_scalar(k),
                dp_to_json(c, yaml_document_get_node(c->doc, p->value),
                           depth + 1))) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* Reads path (relative to the descriptor's folder) into a malloc'd,
 * NUL-terminated buffer; NULL with errno. */
static char *dp_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (cap - n < 4096) {
            char *b;
            if (cap >= DP_FILE_MAX_BYTES) {
                errno = EFBIG;
                break;
            }
            cap = cap ? cap * 2 : 8192;
            if (!(b = realloc(buf, cap + 1)))
                break;
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                break;
            fclose(f);
            buf[n] = '\0';
            *len = n;
            return buf;
        }
    }
    int e = errno;
    fclose(f);
    free(buf);
    errno = e;
    return NULL;
}

/* The schema under key ({file: PATH} or {inline: SCHEMA}) of a topic
 * port; *out NULL when absent. */
static int dp_schema(dp_ctx_t *c, yaml_node_t *port, const char *key,
                     const char *parent, const dp_schema_t **out)
{
    static const char *const keys[] = {"file", "inline", NULL};
    yaml_node_t *n = dp_get(c, port, key), *file, *inl;
    char where[DP_WHERE_MAX], path[PATH_MAX + 256], *text = NULL;
    dp_schema_t *s;
    mw_err_t aerr;
    size_t len = 0;
    int rc;

    *out = NULL;
    if (!n)
        return 0;
    dp_where(where, parent, key);
    if ((rc = dp_expect(c, n, YAML_MAPPING_NODE, where)) ||
        (rc = dp_keys(c, n, where, keys)))
        return rc;
    file = dp_get(c, n, "file");
    inl = dp_get(c, n, "inline");
    if (!file == !inl)
        return dp_fail(c, n, "%s: give exactly one of 'file' and 'inline'",
                       where);
    if (!(s = dp_product_alloc(c->prod, 1, sizeof(*s))))
        return dp_oom(c);
    s->pos = dp_pos(n);
    if (file) {
        if ((rc = dp_str(c, n, "file", where, true, &s->file)))
            return rc;
        snprintf(path, sizeof(path), "%s%s", s->file[0] == '/' ? "" : c->dir,
                 s->file);
        if (!(text = dp_read_file(path, &len)))
            return dp_fail(c, file, "%s.file: cannot read '%s': %s", where,
                           path, strerror(errno));
    } else if (inl->type == YAML_SCALAR_NODE) {
        text = strdup(dp_scalar(inl));
        len = text ? strlen(text) : 0;
    } else {
        json_t *js = dp_to_json(c, inl, 0);
        text = js ? json_dumps(js, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        len = text ? strlen(text) : 0;
        json_decref(js);
    }
    if (!text)
        return dp_oom(c);
    s->parsed = av_schema_parse(text, len, NULL, 0, &aerr);
    free(text);
    if (!s->parsed)
        return dp_fail(c, file ? file : inl, "%s: %s%s%sis not valid Avro: %s",
                       where, file ? "'" : "", file ? s->file : "",
                       file ? "' " : "the inline schema ", aerr.msg);
    if (!dp_product_keep_schema(c->prod, s->parsed))
        return dp_oom(c);
    s->text = av_schema_normalized(s->parsed);
    *out = s;
    return 0;
}

/* ------------------------------------------------------------ ports */

/* The described fields of a topic port, each a field of the value
 * schema's top-level record. */
static int dp_fields(dp_ctx_t *c, yaml_node_t *port, const char *parent,
                     dp_output_t *out)
{
    static const char *const keys[] = {"name", "classification", "description",
                                       NULL};
    yaml_node_t *seq = dp_get(c, port, "fields");
    const av_node_t *root;
    char where[DP_WHERE_MAX], fw[DP_WHERE_MAX];
    dp_field_t *fields;
    int rc;

    if (!seq)
        return 0;
    dp_where(where, parent, "fields");
    if ((rc = dp_expect(c, seq, YAML_SEQUENCE_NODE, where)))
        return rc;
    out->field_cnt =
        (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (!(fields = dp_product_alloc(c->prod, out->field_cnt, sizeof(*fields))))
        return dp_oom(c);
    out->fields = fields;
    root = av_schema_root(out->value_schema->parsed);
    for (size_t i = 0; i < out->field_cnt; i++) {
        yaml_node_t *f =
            yaml_document_get_node(c->doc, seq->data.sequence.items.start[i]);
        size_t k;
        dp_where_at(fw, where, i);
        fields[i].pos = dp_pos(f);
        if ((rc = dp_expect(c, f, YAML_MAPPING_NODE, fw)) ||
            (rc = dp_keys(c, f, fw, keys)) ||
            (rc = dp_str(c, f, "name", fw, true, &fields[i].name)) ||
            (rc = dp_str(c, f, "classification", fw, false,
                         &fields[i].classification)) ||
            (rc = dp_str(c, f, "description", fw, false,
                         &fields[i].description)))
            return rc;
        for (k = 0; root->type == AV_RECORD && k < root->field_cnt &&
                    strcmp(root->fields[k].name, fields[i].name);
             k++)
            ;
        if (root->type != AV_RECORD || k == root->field_cnt)
            return dp_fail(c, dp_get(c, f, "name"),
                           "%s.name: '%s' is not a field of the value schema%s",
                           fw, fields[i].name,
                           root->type == AV_RECORD ? "" : " (not a record)");
    }
    return 0;
}

static int dp_retention(dp_ctx_t *c, yaml_node_t *port, const char *parent,
                        dp_output_t *out)
{
    const char *s;
    char where[DP_WHERE_MAX];
    int rc = dp_str(c, port, "retention", parent, false, &s);

    if (rc || !s)
        return rc;
    if (!strcmp(s, "infinite")) {
        out->retention_ms = -1;
        return 0;
    }
    if (dp_duration_ms(s, &out->retention_ms) && out->retention_ms > 0)
        return 0;
    dp_where(where, parent, "retention");
    return dp_fail(c, dp_get(c, port, "retention"),
                   "%s: expected a duration (500ms, 30s, 5m, 2h, 7d, 1w) or "
                   "'infinite', got '%s'",
                   where, s);
}

static bool dp_is_topic_name(const char *s)
{
    size_t n = strlen(s);

    if (!n || n > 249 || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-") == n;
}

static int dp_topic_port(dp_ctx_t *c, yaml_node_t *port, const char *where,
                         dp_output_t *out)
{
    static const char *const keys[] = {
        "name",         "type",      "topic",          "partitions",
        "replication",  "retention", "cleanup_policy", "key_schema",
        "value_schema", "fields",    "description",    NULL};
    static const char *const policies[] = {"delete", "compact",
                                           "compact,delete", NULL};
    long long partitions = 1, replication = 0;
    char buf[512];
    int rc;

    if ((rc = dp_keys(c, port, where, keys)) ||
        (rc = dp_str(c, port, "topic", where, false, &out->topic)) ||
        (rc = dp_int(c, port, "partitions", where, false, 1, 100000,
                     &partitions)) ||
        (rc = dp_int(c, port, "replication", where, false, 1, 32767,
                     &replication)) ||
        (rc = dp_retention(c, port, where, out)) ||
        (rc = dp_enum(c, port, "cleanup_policy", where, policies,
                      &out->cleanup_policy)) ||
        (rc = dp_schema(c, port, "key_schema", where, &out->key_schema)) ||
        (rc = dp_schema(c, port, "value_schema", where, &out->value_schema)))
        return rc;
    if (!out->value_schema)
        return dp_fail(c, port, "%s: missing key 'value_schema'", where);
    if (out->topic && !dp_is_topic_name(out->topic))
        return dp_fail(c, dp_get(c, port, "topic"),
                       "%s.topic: '%s' is not a Kafka topic name", where,
                       out->topic);
    if (!out->topic) {
        /* docs/DESIGN.md: <domain>.<product>.v<major> */
        snprintf(buf, sizeof(buf), "%s.%s.v%d", c->prod->domain, c->prod->name,
                 c->prod->version);
        if (!(out->topic = dp_product_keep(c->prod, strdup(buf))))
            return dp_oom(c);
    }
    out->partitions = (int)partitions;
    out->replication = (int)replication;
    return dp_fields(c, port, where, out);
}

static int dp_sink_port(dp_ctx_t *c, yaml_node_t *port, const char *where,
                        dp_output_t *out)
{
    static const char *const keys[] = {
        "name", "type", "from", "sink", "location", "description", NULL};
    static const char *const table_sinks[] = {"sqlite", "postgres", NULL};
    static const char *const file_sinks[] = {"avro", NULL};
    int rc;

    if ((rc = dp_keys(c, port, where, keys)) ||
        (rc = dp_str(c, port, "from", where, true, &out->from)) ||
        (rc = dp_enum(c, port, "sink", where,
                      out->kind == DP_OUTPUT_TABLE ? table_sinks : file_sinks,
                      &out->sink)) ||
        (rc = dp_str(c, port, "location", where, true, &out->location)))
        return rc;
    if (!out->sink)
        return dp_fail(c, port, "%s: missing key 'sink'", where);
    out->from_pos = dp_pos(dp_get(c, port, "from"));
    return 0;
}

static int dp_outputs(dp_ctx_t *c, yaml_node_t *root)
{
    static const char *const types[] = {"topic", "table", "files", NULL};
    yaml_node_t *seq = dp_get(c, root, "output_ports");
    dp_product_t *prod = c->prod;
    char where[DP_WHERE_MAX];
    int rc;

    if (!seq)
        return dp_fail(c, root, "missing key 'output_ports'");
    if ((rc = dp_expect(c, seq, YAML_SEQUENCE_NODE, "output_ports")))
        return rc;
    prod->output_cnt =
        (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (!prod->output_cnt)
        return dp_fail(c, seq, "output_ports: a product needs at least one");
    if (!(prod->outputs =
              dp_product_alloc(prod, prod->output_cnt, sizeof(dp_output_t))))
        return dp_oom(c);
    for (size_t i = 0; i < prod->output_cnt; i++) {
        yaml_node_t *p =
            yaml_document_get_node(c->doc, seq->data.sequence.items.start[i]);
        dp_output_t *out = &prod->outputs[i];
        const char *type;
        dp_where_at(where, "output_ports", i);
        out->pos = dp_pos(p);
        if ((rc = dp_expect(c, p, YAML_MAPPING_NODE, where)) ||
            (rc = dp_ident(c, p, "name", where, true, &out->name)) ||
            (rc = dp_enum(c, p, "type", where, types, &type)))
            return rc;
        out->kind = !type || !strcmp(type, "topic") ? DP_OUTPUT_TOPIC
                    : !strcmp(type, "table")        ? DP_OUTPUT_TABLE
                                                    : DP_OUTPUT_FILES;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(prod->outputs[j].name, out->name))
                return dp_fail(c, dp_get(c, p, "name"),
                               "%s.name: '%s' is already the name of "
                               "output_ports[%zu]",
                               where, out->name, j);
        rc = out->kind == DP_OUTPUT_TOPIC ? dp_topic_port(c, p, where, out)
                                          : dp_sink_port(c, p, where, out);
        if (rc)
            return rc;
    }
    /* A table's or files' `from` must name a topic port of this product. */
    for (size_t i = 0; i < prod->output_cnt; i++) {
        const dp_output_t *out = &prod->outputs[i], *src;
        if (out->kind == DP_OUTPUT_TOPIC)
            continue;
        src = dp_product_output_named(prod, out->from);
        if (!src || src->kind != DP_OUTPUT_TOPIC)
            return dp_product_err(prod, out->from_pos, c->err, MW_ERR_INVALID,
                                  "output_ports[%zu].from: '%s' is not a "
                                  "topic port of this product",
                                  i, out->from);
    }
    return 0;
}

/* "domain/name@version" into its parts; false when malformed. */
static bool dp_split_ref(dp_product_t *prod, dp_input_t *in)
{
    const char *slash = strchr(in->ref, '/'), *at = strrchr(in->ref, '@');
    char *end;
    long v;

    if (!slash || !at || at < slash)
        return false;
    v = strtol(at + 1, &end, 10);
    if (at[1] == '\0' || *end || v < 1 || v > 1000000)
        return false;
    in->ref_domain =
        dp_product_keep(prod, strndup(in->ref, (size_t)(slash - in->ref)));
    in->ref_name =
        dp_product_keep(prod, strndup(slash + 1, (size_t)(at - slash - 1)));
    in->ref_version = (int)v;
    return in->ref_domain && in->ref_name && dp_is_ident(in->ref_domain) &&
           dp_is_ident(in->ref_name);
}

static int dp_input(dp_ctx_t *c, yaml_node_t *p, const char *where,
                    dp_input_t *in)
{
    static const char *const keys[] = {"name",     "product",     "source",
                                       "location", "description", NULL};
    static const char *const sources[] = {"postgres", "http", "file", NULL};
    int rc;

    if ((rc = dp_expect(c, p, YAML_MAPPING_NODE, where)) ||
        (rc = dp_keys(c, p, where, keys)) ||
        (rc = dp_ident(c, p, "name", where, true, &in->name)) ||
        (rc = dp_str(c, p, "product", where, false, &in->ref)) ||
        (rc = dp_enum(c, p, "source", where, sources, &in->source)) ||
        (rc = dp_str(c, p, "location", where, false, &in->location)))
        return rc;
    in->pos = dp_pos(p);
    if (!in->ref == !in->source)
        return dp_fail(c, p, "%s: give exactly one of 'product' and 'source'",
                       where);
    if (in->source) {
        in->kind = DP_INPUT_SOURCE;
        if (!in->location)
            return dp_fail(c, p, "%s: missing key 'location'", where);
        return 0;
    }
    in->kind = DP_INPUT_PRODUCT;
    in->ref_pos = dp_pos(dp_get(c, p, "product"));
    if (in->location)
        return dp_fail(c, dp_get(c, p, "location"),
                       "%s.location: only a source has a location", where);
    if (!dp_split_ref(c->prod, in))
        return dp_fail(c, dp_get(c, p, "product"),
                       "%s.product: '%s' is not a reference domain/name@major",
                       where, in->ref);
    return 0;
}

static int dp_inputs(dp_ctx_t *c, yaml_node_t *root)
{
    yaml_node_t *seq = dp_get(c, root, "input_ports");
    dp_product_t *prod = c->prod;
    char where[DP_WHERE_MAX];
    int rc;

    if (!seq)
        return 0;
    if ((rc = dp_expect(c, seq, YAML_SEQUENCE_NODE, "input_ports")))
        return rc;
    prod->input_cnt =
        (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (!(prod->inputs =
              dp_product_alloc(prod, prod->input_cnt, sizeof(dp_input_t))))
        return dp_oom(c);
    for (size_t i = 0; i < prod->input_cnt; i++) {
        dp_where_at(where, "input_ports", i);
        if ((rc = dp_input(c,
                           yaml_document_get_node(
                               c->doc, seq->data.sequence.items.start[i]),
                           where, &prod->inputs[i])))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(prod->inputs[j].name, prod->inputs[i].name))
                return dp_product_err(prod, prod->inputs[i].pos, c->err,
                                      MW_ERR_INVALID,
                                      "%s.name: '%s' is already the name of "
                                      "input_ports[%zu]",
                                      where, prod->inputs[i].name, j);
    }
    return 0;
}

/* ------------------------------------------------------------ top */

static int dp_tags(dp_ctx_t *c, yaml_node_t *root)
{
    yaml_node_t *seq = dp_get(c, root, "tags");
    char where[DP_WHERE_MAX];
    int rc;

    if (!seq)
        return 0;
    if ((rc = dp_expect(c, seq, YAML_SEQUENCE_NODE, "tags")))
        return rc;
    c->prod->tag_cnt =
        (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (!(c->prod->tags =
              dp_product_alloc(c->prod, c->prod->tag_cnt, sizeof(char *))))
        return dp_oom(c);
    for (size_t i = 0; i < c->prod->tag_cnt; i++) {
        yaml_node_t *t =
            yaml_document_get_node(c->doc, seq->data.sequence.items.start[i]);
        dp_where_at(where, "tags", i);
        if ((rc = dp_expect(c, t, YAML_SCALAR_NODE, where)))
            return rc;
        if (!(c->prod->tags[i] =
                  dp_product_keep(c->prod, strdup(dp_scalar(t)))))
            return dp_oom(c);
    }
    return 0;
}

/* owner: {team, contact}; sla: {freshness, availability}. */
static int dp_owner_sla(dp_ctx_t *c, yaml_node_t *root)
{
    static const char *const owner_keys[] = {"team", "contact", NULL};
    static const char *const sla_keys[] = {"freshness", "availability", NULL};
    yaml_node_t *owner = dp_get(c, root, "owner"),
                *sla = dp_get(c, root, "sla");
    dp_product_t *prod = c->prod;
    int rc;

    if (!owner)
        return dp_fail(c, root, "missing key 'owner'");
    if ((rc = dp_expect(c, owner, YAML_MAPPING_NODE, "owner")) ||
        (rc = dp_keys(c, owner, "owner", owner_keys)) ||
        (rc = dp_str(c, owner, "team", "owner", true, &prod->owner_team)) ||
        (rc =
             dp_str(c, owner, "contact", "owner", false, &prod->owner_contact)))
        return rc;
    if (!sla)
        return 0;
    if ((rc = dp_expect(c, sla, YAML_MAPPING_NODE, "sla")) ||
        (rc = dp_keys(c, sla, "sla", sla_keys)) ||
        (rc =
             dp_str(c, sla, "freshness", "sla", false, &prod->sla_freshness)) ||
        (rc = dp_str(c, sla, "availability", "sla", false,
                     &prod->sla_availability)))
        return rc;
    if (prod->sla_freshness &&
        !dp_duration_ms(prod->sla_freshness, &prod->sla_freshness_ms))
        return dp_fail(c, dp_get(c, sla, "freshness"),
                       "sla.freshness: expected a duration (500ms, 30s, 5m, "
                       "2h, 7d, 1w), got '%s'",
                       prod->sla_freshness);
    return 0;
}

static int dp_root(dp_ctx_t *c, yaml_node_t *root)
{
    static const char *const keys[] = {
        "domain", "name",  "version", "status",      "description",  "owner",
        "tags",   "terms", "sla",     "input_ports", "output_ports", NULL};
    static const char *const statuses[] = {"proposed",   "draft",   "active",
                                           "deprecated", "retired", NULL};
    dp_product_t *prod = c->prod;
    long long version = 0;
    int rc;

    if ((rc = dp_expect(c, root, YAML_MAPPING_NODE, "the descriptor")) ||
        (rc = dp_keys(c, root, "", keys)) ||
        (rc = dp_ident(c, root, "domain", "", true, &prod->domain)) ||
        (rc = dp_ident(c, root, "name", "", true, &prod->name)) ||
        (rc = dp_int(c, root, "version", "", true, 1, 1000000, &version)) ||
        (rc = dp_enum(c, root, "status", "", statuses, &prod->status)) ||
        (rc = dp_str(c, root, "description", "", false, &prod->description)) ||
        (rc = dp_str(c, root, "terms", "", false, &prod->terms)) ||
        (rc = dp_owner_sla(c, root)) || (rc = dp_tags(c, root)))
        return rc;
    prod->version = (int)version;
    if (asprintf(&prod->ref, "%s/%s@%d", prod->domain, prod->name,
                 prod->version) < 0) {
        prod->ref = NULL;
        return dp_oom(c);
    }
    if ((rc = dp_inputs(c, root)))
        return rc;
    return dp_outputs(c, root);
}

static int dp_load_doc(dp_ctx_t *c, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root;
    int rc;

    if (!yaml_parser_initialize(&parser))
        return dp_oom(c);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = mw_err_set(
            c->err, MW_ERR_INVALID, "%s:%zu:%zu: YAML: %s%s%s", c->prod->file,
            parser.problem_mark.line + 1, parser.problem_mark.column + 1,
            parser.problem ? parser.problem : "syntax error",
            parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_parser_delete(&parser);
    c->doc = &doc;
    root = yaml_document_get_root_node(&doc);
    if (!root)
        rc = mw_err_set(c->err, MW_ERR_INVALID, "%s:1:1: empty descriptor",
                        c->prod->file);
    else
        rc = dp_root(c, root);
    yaml_document_delete(&doc);
    c->doc = NULL;
    return rc;
}

dp_product_t *dp_product_parse(const char *text, size_t len, const char *path,
                               mw_err_t *err)
{
    dp_ctx_t c = {.err = err};
    const char *slash = strrchr(path, '/');

    if (!(c.prod = calloc(1, sizeof(*c.prod))) ||
        !(c.prod->file = strdup(path))) {
        free(c.prod);
        mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (slash)
        snprintf(c.dir, sizeof(c.dir), "%.*s/", (int)(slash - path), path);
    if (dp_load_doc(&c, text, len) != 0) {
        dp_product_destroy(c.prod);
        return NULL;
    }
    return c.prod;
}

dp_product_t *dp_product_load(const char *path, mw_err_t *err)
{
    size_t len;
    char *text = dp_read_file(path, &len);
    dp_product_t *prod;

    if (!text) {
        mw_err_set(err, MW_ERR_IO, "cannot read '%s': %s", path,
                   strerror(errno));
        return NULL;
    }
    prod = dp_product_parse(text, len, path, err);
    free(text);
    return prod;
}
