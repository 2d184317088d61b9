/*
 * gov_check: the rules' evaluation (gov_check.h says which rule applies to
 * what).
 *
 * A schema is walked once, depth first, from its root: each named type
 * (record, enum, fixed) is visited once, so recursive records end, and
 * each node carries its JSON path in the schema's own layout
 * ("$.fields[2].type.items", "$.fields[0].type[1]"), the path the
 * registry's own parser names in its errors.  A product is read from its
 * catalog form: the same form the registry holds, so the registry's
 * report and meshctl's offline check see the same thing.
 *
 * Any thread; nothing is kept.
 */
#include "gov_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gov_policy_int.h"

#define GOV_PATH_MAX 512
#define GOV_SEEN_MAX 1024

/* snprintf that cuts quietly: paths are bounded by the schema's depth and
 * a cut path still names the element's start. */
static void gov_fmt(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void gov_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

typedef struct gov_walk {
    const gov_rule_t *rules; /* GOV_RULE__CNT */
    gov_report_t *rep;
    const av_node_t *seen[GOV_SEEN_MAX];
    size_t seen_cnt;
    int rc;
} gov_walk_t;

static bool gov_on(const gov_walk_t *w, gov_rule_id_t id)
{
    return w->rules[id].on;
}

/* A name as products spell it. */
static bool gov_is_name(const char *s, size_t len)
{
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

/* "<domain>.<product>.v<N>" over len bytes of s: true, with the domain's
 * length in *dlen. */
static bool gov_topic_form(const char *s, size_t len, size_t *dlen)
{
    const char *d1 = memchr(s, '.', len), *d2, *p;

    if (!d1 || !gov_is_name(s, (size_t)(d1 - s)))
        return false;
    d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - s));
    if (!d2 || !gov_is_name(d1 + 1, (size_t)(d2 - d1 - 1)))
        return false;
    p = d2 + 1;
    if (p >= s + len || *p != 'v' || p + 1 >= s + len || p[1] < '1' ||
        p[1] > '9')
        return false;
    for (p += 2; p < s + len; p++)
        if (*p < '0' || *p > '9')
            return false;
    *dlen = (size_t)(d1 - s);
    return true;
}

bool gov_check_subject_domain(const char *subject, char *buf, size_t cap)
{
    size_t len = strlen(subject), dlen, base;

    if (len > 4 && !strcmp(subject + len - 4, "-key"))
        base = len - 4;
    else if (len > 6 && !strcmp(subject + len - 6, "-value"))
        base = len - 6;
    else
        return false;
    if (!gov_topic_form(subject, base, &dlen) || dlen + 1 > cap)
        return false;
    memcpy(buf, subject, dlen);
    buf[dlen] = '\0';
    return true;
}

static void gov_add(gov_walk_t *w, gov_rule_id_t id, const char *path,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Records a violation of rule id at path; the first failure to record
 * (ENOMEM) is kept in w->rc and ends the walk. */
static void gov_add(gov_walk_t *w, gov_rule_id_t id, const char *path,
                    const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (w->rc == 0)
        w->rc = gov_report_add(w->rep, &w->rules[id], path, "%s", msg);
}

/* ------------------------------------------------------------ schemas */

static bool gov_seen(gov_walk_t *w, const av_node_t *n)
{
    for (size_t i = 0; i < w->seen_cnt; i++)
        if (w->seen[i] == n)
            return true;
    if (w->seen_cnt < GOV_SEEN_MAX)
        w->seen[w->seen_cnt++] = n;
    return false;
}

static void gov_walk_node(gov_walk_t *w, const av_node_t *n, const char *path);

static void gov_walk_field(gov_walk_t *w, const av_field_t *f, const char *path)
{
    const gov_rule_t *fr = &w->rules[GOV_RULE_FIELD_NAMING];
    char tpath[GOV_PATH_MAX];

    if (gov_on(w, GOV_RULE_FIELD_NAMING) &&
        !gov_style_matches(fr->style, f->name))
        gov_add(w, GOV_RULE_FIELD_NAMING, path, "field '%s' is not %s", f->name,
                fr->style);
    if (gov_on(w, GOV_RULE_DOC_REQUIRED) && (!f->doc || !*f->doc))
        gov_add(w, GOV_RULE_DOC_REQUIRED, path, "field '%s' has no doc",
                f->name);
    gov_fmt(tpath, sizeof(tpath), "%s.type", path);
    gov_walk_node(w, f->type, tpath);
}

static void gov_walk_named(gov_walk_t *w, const av_node_t *n, const char *path)
{
    const gov_rule_t *rr = &w->rules[GOV_RULE_RECORD_NAMING];
    char fpath[GOV_PATH_MAX], what[300];

    if (gov_on(w, GOV_RULE_RECORD_NAMING) &&
        !gov_style_matches(rr->style, n->name)) {
        gov_fmt(what, sizeof(what), "%s name '%s'", av_type_name(n->type),
                n->name);
        gov_add(w, GOV_RULE_RECORD_NAMING, path, "%s is not %s", what,
                rr->style);
    }
    if (n->type != AV_RECORD)
        return;
    if (gov_on(w, GOV_RULE_DOC_REQUIRED) && (!n->doc || !*n->doc))
        gov_add(w, GOV_RULE_DOC_REQUIRED, path, "record '%s' has no doc",
                n->fullname);
    for (size_t i = 0; i < n->field_cnt; i++) {
        gov_fmt(fpath, sizeof(fpath), "%s.fields[%zu]", path, i);
        gov_walk_field(w, &n->fields[i], fpath);
    }
}

static void gov_walk_types(gov_walk_t *w, const av_node_t *n, const char *path)
{
    const gov_rule_t *tr = &w->rules[GOV_RULE_FORBIDDEN_TYPES];

    /* A logical type gives bytes (decimal) or fixed (duration) a meaning:
     * only the bare type is forbidden. */
    if (!gov_on(w, GOV_RULE_FORBIDDEN_TYPES) || n->logical != AV_LOGICAL_NONE)
        return;
    for (size_t i = 0; i < tr->list_cnt; i++)
        if (!strcmp(tr->list[i], av_type_name(n->type)))
            gov_add(w, GOV_RULE_FORBIDDEN_TYPES, path,
                    "type %s without a logical type is forbidden",
                    av_type_name(n->type));
}

static void gov_walk_node(gov_walk_t *w, const av_node_t *n, const char *path)
{
    char sub[GOV_PATH_MAX];
    bool named =
        n->type == AV_RECORD || n->type == AV_ENUM || n->type == AV_FIXED;

    if (w->rc || (named && gov_seen(w, n)))
        return;
    gov_walk_types(w, n, path);
    if (named)
        gov_walk_named(w, n, path);
    else if (n->type == AV_ARRAY) {
        gov_fmt(sub, sizeof(sub), "%s.items", path);
        gov_walk_node(w, n->items, sub);
    } else if (n->type == AV_MAP) {
        gov_fmt(sub, sizeof(sub), "%s.values", path);
        gov_walk_node(w, n->values, sub);
    } else if (n->type == AV_UNION) {
        for (size_t i = 0; i < n->branch_cnt; i++) {
            gov_fmt(sub, sizeof(sub), "%s[%zu]", path, i);
            gov_walk_node(w, n->branches[i], sub);
        }
    }
}

/* The schema rules with w's rules; base is the path of the schema. */
static void gov_schema_rules(gov_walk_t *w, const char *subject,
                             const av_schema_t *schema, size_t text_bytes,
                             const char *compat, const char *base)
{
    const gov_rule_t *sz = &w->rules[GOV_RULE_SCHEMA_SIZE];
    const gov_rule_t *mc = &w->rules[GOV_RULE_MIN_COMPATIBILITY];
    char domain[128], num[64];

    if (gov_on(w, GOV_RULE_SUBJECT_NAMING) &&
        !gov_check_subject_domain(subject, domain, sizeof(domain)))
        gov_add(w, GOV_RULE_SUBJECT_NAMING, base,
                "subject '%s' is not "
                "<domain>.<product>.v<major>-key or -value",
                subject);
    if (gov_on(w, GOV_RULE_SCHEMA_SIZE) && sz->has_max &&
        (long long)text_bytes > sz->max) {
        gov_fmt(num, sizeof(num), "%zu bytes, more than %lld", text_bytes,
                sz->max);
        gov_add(w, GOV_RULE_SCHEMA_SIZE, base, "the schema is %s", num);
    }
    if (gov_on(w, GOV_RULE_MIN_COMPATIBILITY) && compat &&
        !gov_level_satisfies(compat, mc->word))
        gov_add(w, GOV_RULE_MIN_COMPATIBILITY, base,
                "compatibility level %s is below %s", compat, mc->word);
    gov_walk_node(w, av_schema_root(schema), base);
}

int gov_check_schema(const gov_policy_t *pol, const char *subject,
                     const av_schema_t *schema, size_t text_bytes,
                     const char *compat, gov_report_t *rep)
{
    gov_rule_t rules[GOV_RULE__CNT];
    gov_walk_t *w = calloc(1, sizeof(*w));
    char domain[128];
    int rc;

    if (!w)
        return MW_ERR_NOMEM;
    gov_policy_rules(pol,
                     gov_check_subject_domain(subject, domain, sizeof(domain))
                         ? domain
                         : NULL,
                     rules);
    w->rules = rules;
    w->rep = rep;
    gov_schema_rules(w, subject, schema, text_bytes, compat, "$");
    rc = w->rc;
    free(w);
    return rc;
}

/* ------------------------------------------------------------ products */

/* The string at a dotted path of entry ("owner.contact"), or NULL; a
 * non-empty array or a number counts as given too. */
static bool gov_entry_has(const json_t *entry, const char *key)
{
    char buf[128], *save = NULL, *part;
    const json_t *v = entry;

    gov_fmt(buf, sizeof(buf), "%s", key);
    for (part = strtok_r(buf, ".", &save); part && v;
         part = strtok_r(NULL, ".", &save))
        v = json_object_get(v, part);
    if (json_is_string(v))
        return *json_string_value(v) != '\0';
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    return json_is_number(v);
}

static bool gov_has_tag(const json_t *entry, const char *tag)
{
    size_t i;
    json_t *t;

    json_array_foreach(json_object_get(entry, "tags"), i, t)
    {
        if (json_is_string(t) && !strcmp(json_string_value(t), tag))
            return true;
    }
    return false;
}

static bool gov_looks_personal(const gov_rule_t *r, const char *name)
{
    for (size_t i = 0; i < r->list_cnt; i++)
        if (strcasestr(name, r->list[i]))
            return true;
    return false;
}

static void gov_port_fields(gov_walk_t *w, const json_t *entry,
                            const json_t *port, const char *ppath)
{
    const gov_rule_t *pd = &w->rules[GOV_RULE_PII_DECLARED];
    const gov_rule_t *pp = &w->rules[GOV_RULE_PII_NOT_PUBLIC];
    bool public =
        gov_on(w, GOV_RULE_PII_NOT_PUBLIC) && gov_has_tag(entry, pp->word);
    char path[GOV_PATH_MAX];
    size_t i;
    json_t *f;

    json_array_foreach(json_object_get(port, "fields"), i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *cls =
            json_string_value(json_object_get(f, "classification"));
        if (!name)
            continue;
        gov_fmt(path, sizeof(path), "%s.fields[%zu]", ppath, i);
        if (gov_on(w, GOV_RULE_PII_DECLARED) && !cls &&
            gov_looks_personal(pd, name))
            gov_add(w, GOV_RULE_PII_DECLARED, path,
                    "field '%s' looks personal but has no classification "
                    "(declare it in the descriptor's fields)",
                    name);
        if (public && cls && !strcasecmp(cls, "pii"))
            gov_add(w, GOV_RULE_PII_NOT_PUBLIC, path,
                    "field '%s' is classified pii in a product tagged %s", name,
                    pp->word);
    }
}

static void gov_port_bounds(gov_walk_t *w, const json_t *port,
                            const char *ppath)
{
    const gov_rule_t *pr = &w->rules[GOV_RULE_PARTITIONS];
    const gov_rule_t *rr = &w->rules[GOV_RULE_RETENTION];
    json_t *jp = json_object_get(port, "partitions");
    json_t *jr = json_object_get(port, "retention_ms");
    long long parts = json_is_integer(jp) ? json_integer_value(jp) : 1;
    char path[GOV_PATH_MAX], num[128];

    gov_fmt(path, sizeof(path), "%s.partitions", ppath);
    if (gov_on(w, GOV_RULE_PARTITIONS) && ((pr->has_min && parts < pr->min) ||
                                           (pr->has_max && parts > pr->max))) {
        gov_fmt(num, sizeof(num), "%lld partitions, outside %lld..%lld", parts,
                pr->has_min ? pr->min : 1,
                pr->has_max ? pr->max : (long long)1 << 31);
        gov_add(w, GOV_RULE_PARTITIONS, path, "%s", num);
    }
    if (!gov_on(w, GOV_RULE_RETENTION) || (!rr->has_min && !rr->has_max))
        return;
    gov_fmt(path, sizeof(path), "%s.retention_ms", ppath);
    if (!json_is_integer(jr) || json_integer_value(jr) == 0) {
        gov_add(w, GOV_RULE_RETENTION, path,
                "no retention given (the cluster's default is not "
                "governed)");
        return;
    }
    if (json_integer_value(jr) < 0 && rr->has_max) {
        gov_add(w, GOV_RULE_RETENTION, path, "infinite retention");
    } else if (json_integer_value(jr) >= 0 &&
               ((rr->has_min && json_integer_value(jr) < rr->min) ||
                (rr->has_max && json_integer_value(jr) > rr->max))) {
        gov_fmt(num, sizeof(num), "retention %lld ms, outside %lld..%lld ms",
                (long long)json_integer_value(jr), rr->has_min ? rr->min : 0,
                rr->has_max ? rr->max : -1);
        gov_add(w, GOV_RULE_RETENTION, path, "%s", num);
    }
}

/* The key or value schema of a topic port, parsed again from its text. */
static void gov_port_schema(gov_walk_t *w, const json_t *sch, const char *path,
                            gov_compat_fn *compat, void *opaque)
{
    const char *subject = json_string_value(json_object_get(sch, "subject"));
    const char *text = json_string_value(json_object_get(sch, "schema"));
    av_schema_t *parsed;

    if (!subject || !text)
        return;
    /* The product was loaded (meshctl) or its schemas registered (the
     * registry) already: a text that does not parse here is not this
     * engine's to report. */
    if (!(parsed = av_schema_parse(text, strlen(text), NULL, 0, NULL)))
        return;
    gov_schema_rules(w, subject, parsed, strlen(av_schema_normalized(parsed)),
                     compat ? compat(opaque, subject) : NULL, path);
    av_schema_release(parsed);
}

static void gov_port(gov_walk_t *w, const json_t *entry, const json_t *port,
                     size_t i, gov_compat_fn *compat, void *opaque)
{
    const char *type = json_string_value(json_object_get(port, "type"));
    const char *topic = json_string_value(json_object_get(port, "topic"));
    const char *domain = json_string_value(json_object_get(entry, "domain"));
    const char *name = json_string_value(json_object_get(entry, "name"));
    char ppath[GOV_PATH_MAX], path[GOV_PATH_MAX], want[384];

    if (type && strcmp(type, "topic"))
        return;
    gov_fmt(ppath, sizeof(ppath), "$.output_ports[%zu]", i);
    gov_fmt(want, sizeof(want), "%s.%s.v%lld", domain ? domain : "",
            name ? name : "",
            (long long)json_integer_value(json_object_get(entry, "version")));
    gov_fmt(path, sizeof(path), "%s.topic", ppath);
    if (gov_on(w, GOV_RULE_TOPIC_NAMING) && (!topic || strcmp(topic, want)))
        gov_add(w, GOV_RULE_TOPIC_NAMING, path, "topic '%s' is not '%s'",
                topic ? topic : "", want);
    gov_port_bounds(w, port, ppath);
    gov_port_fields(w, entry, port, ppath);
    gov_fmt(path, sizeof(path), "%s.key_schema", ppath);
    gov_port_schema(w, json_object_get(port, "key_schema"), path, compat,
                    opaque);
    gov_fmt(path, sizeof(path), "%s.value_schema", ppath);
    gov_port_schema(w, json_object_get(port, "value_schema"), path, compat,
                    opaque);
}

int gov_check_product(const gov_policy_t *pol, const json_t *entry,
                      gov_compat_fn *compat, void *opaque, gov_report_t *rep)
{
    gov_rule_t rules[GOV_RULE__CNT];
    const gov_rule_t *dr = &rules[GOV_RULE_DESCRIPTOR_REQUIRED];
    gov_walk_t *w = calloc(1, sizeof(*w));
    char path[GOV_PATH_MAX];
    size_t i;
    json_t *port;
    int rc;

    if (!w)
        return MW_ERR_NOMEM;
    gov_policy_rules(pol, json_string_value(json_object_get(entry, "domain")),
                     rules);
    w->rules = rules;
    w->rep = rep;
    for (i = 0; gov_on(w, GOV_RULE_DESCRIPTOR_REQUIRED) && i < dr->list_cnt;
         i++)
        if (!gov_entry_has(entry, dr->list[i])) {
            gov_fmt(path, sizeof(path), "$.%s", dr->list[i]);
            gov_add(w, GOV_RULE_DESCRIPTOR_REQUIRED, path,
                    "the descriptor does not give %s", dr->list[i]);
        }
    json_array_foreach(json_object_get(entry, "output_ports"), i, port)
    {
        /* a fresh walk per port: each port's schemas are visited whole */
        w->seen_cnt = 0;
        gov_port(w, entry, port, i, compat, opaque);
    }
    rc = w->rc;
    free(w);
    return rc;
}
