/*
 * gov_parse: reads one policy document (docs/GOVERNANCE.md, "Policy
 * files") with libyaml's document API, so that the position of every key
 * and value is at hand when something is refused.
 *
 * The walk checks, and stops at the first problem:
 *   1. YAML syntax (libyaml's problem and mark);
 *   2. the top level: `level` (mesh | domain), `domain` (required with
 *      level domain, refused with level mesh), `description`, `rules`;
 *   3. each rule: a known rule name (the message lists them), given once,
 *      its value either a severity alone (`doc-required: warn`) or a
 *      mapping of the kind's parameters, each of its type (a severity, a
 *      naming style, a compatibility level, a list of strings, an integer
 *      or a duration), with min <= max.
 * Every message is "ORIGIN:LINE:COL: where: what", where is the key path
 * ("rules.partitions.max").
 *
 * Any thread; nothing here is shared.
 */
#include "gov_policy_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

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

typedef struct gov_pctx {
    yaml_document_t *doc;
    const char *origin;
    mw_err_t *err;
} gov_pctx_t;

static int gov_fail(gov_pctx_t *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int gov_fail(gov_pctx_t *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[MW_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mw_err_set(c->err, MW_ERR_INVALID, "%s:%d:%d: %s", c->origin,
                      (int)n->start_mark.line + 1,
                      (int)n->start_mark.column + 1, msg);
}

static const char *gov_scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
                                       : NULL;
}

static int gov_want_scalar(gov_pctx_t *c, const yaml_node_t *n,
                           const char *where)
{
    if (n->type == YAML_SCALAR_NODE)
        return 0;
    return gov_fail(c, n, "%s: expected a string, got %s", where,
                    n->type == YAML_MAPPING_NODE ? "a mapping" : "a sequence");
}

static int gov_oom(gov_pctx_t *c)
{
    return mw_err_set(c->err, MW_ERR_NOMEM, "%s: out of memory", c->origin);
}

/* "7d", "12h", "30m", "45s", "500ms", "2w", or a bare integer of ms. */
static int gov_duration(const char *s, long long *ms)
{
    static const struct {
        const char *unit;
        long long ms;
    } units[] = {{"ms", 1},      {"s", 1000},     {"m", 60000},
                 {"h", 3600000}, {"d", 86400000}, {"w", 604800000},
                 {"", 1}};
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || v < 0 || errno)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(end, units[i].unit)) {
            if (v > LLONG_MAX / units[i].ms)
                return -1;
            *ms = v * units[i].ms;
            return 0;
        }
    return -1;
}

static int gov_number(gov_pctx_t *c, const yaml_node_t *n, gov_num_t num,
                      const char *where, long long *out)
{
    const char *s = gov_scalar(n);
    char *end;

    if (gov_want_scalar(c, n, where))
        return MW_ERR_INVALID;
    if (num == GOV_NUM_DURATION) {
        if (gov_duration(s, out))
            return gov_fail(c, n,
                            "%s: expected a duration (500ms, 30s, 5m, 12h, "
                            "7d, 2w), got '%s'",
                            where, s);
        return 0;
    }
    errno = 0;
    *out = strtoll(s, &end, 10);
    if (!*s || *end || errno || *out < 0)
        return gov_fail(c, n, "%s: expected an integer >= 0, got '%s'", where,
                        s);
    return 0;
}

static int gov_severity(gov_pctx_t *c, const yaml_node_t *n, const char *where,
                        gov_severity_t *sev)
{
    const char *s = gov_scalar(n);

    if (gov_want_scalar(c, n, where))
        return MW_ERR_INVALID;
    if (!strcmp(s, "error"))
        *sev = GOV_SEV_ERROR;
    else if (!strcmp(s, "warn"))
        *sev = GOV_SEV_WARN;
    else
        return gov_fail(c, n, "%s: expected error or warn, got '%s'", where, s);
    return 0;
}

static int gov_list(gov_pctx_t *c, const yaml_node_t *n, const char *where,
                    gov_stmt_t *st)
{
    yaml_node_item_t *it;
    size_t cnt;

    if (n->type != YAML_SEQUENCE_NODE)
        return gov_fail(c, n, "%s: expected a list of strings", where);
    cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt > GOV_LIST_MAX)
        return gov_fail(c, n, "%s: more than %d entries", where, GOV_LIST_MAX);
    if (!(st->list = calloc(cnt + 1, sizeof(*st->list))))
        return gov_oom(c);
    for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *e = yaml_document_get_node(c->doc, *it);
        char w[160];
        gov_fmt(w, sizeof(w), "%s[%zu]", where, st->list_cnt);
        if (gov_want_scalar(c, e, w))
            return MW_ERR_INVALID;
        if (!(st->list[st->list_cnt++] = strdup(gov_scalar(e))))
            return gov_oom(c);
    }
    return 0;
}

/* The word of a kind: a compatibility level, or a tag. */
static int gov_word(gov_pctx_t *c, const yaml_node_t *n, gov_rule_id_t id,
                    const char *where, gov_stmt_t *st)
{
    if (gov_want_scalar(c, n, where))
        return MW_ERR_INVALID;
    if (id == GOV_RULE_MIN_COMPATIBILITY && !gov_level_known(gov_scalar(n)))
        return gov_fail(c, n,
                        "%s: '%s' is not a compatibility level (BACKWARD, "
                        "BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, "
                        "FULL, FULL_TRANSITIVE, NONE)",
                        where, gov_scalar(n));
    if (!(st->word = strdup(gov_scalar(n))))
        return gov_oom(c);
    for (char *p = st->word; id == GOV_RULE_MIN_COMPATIBILITY && *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    st->has_word = true;
    return 0;
}

/* "severity, style, ..." of a kind, for the unknown-key message. */
static void gov_params_list(const gov_kind_t *k, char *buf, size_t cap)
{
    snprintf(buf, cap, "severity%s%s%s%s%s%s",
             k->params & GOV_P_STYLE ? ", style" : "",
             k->params & GOV_P_LIST ? ", " : "",
             k->params & GOV_P_LIST ? k->list_key : "",
             k->params & GOV_P_WORD ? ", " : "",
             k->params & GOV_P_WORD ? k->word_key : "",
             k->params & (GOV_P_MIN | GOV_P_MAX) ? ", min, max" : "");
}

/* One parameter key/value of rule id. */
static int gov_param(gov_pctx_t *c, gov_rule_id_t id, yaml_node_t *kn,
                     yaml_node_t *vn, const char *rwhere, gov_stmt_t *st)
{
    const gov_kind_t *k = &gov_kinds[id];
    const char *key = gov_scalar(kn);
    char where[160], list[160];

    gov_fmt(where, sizeof(where), "%s.%s", rwhere, key ? key : "?");
    if (!key)
        return gov_fail(c, kn, "%s: a key must be a string", rwhere);
    if (!strcmp(key, "severity")) {
        st->has_severity = true;
        return gov_severity(c, vn, where, &st->severity);
    }
    if ((k->params & GOV_P_STYLE) && !strcmp(key, "style")) {
        if (gov_want_scalar(c, vn, where))
            return MW_ERR_INVALID;
        if (!gov_style_known(gov_scalar(vn)))
            return gov_fail(c, vn,
                            "%s: unknown style '%s' (expected one of: "
                            "snake_case, camelCase, PascalCase, lower, "
                            "UPPER_SNAKE)",
                            where, gov_scalar(vn));
        st->has_style = true;
        return (st->style = strdup(gov_scalar(vn))) ? 0 : gov_oom(c);
    }
    if ((k->params & GOV_P_LIST) && !strcmp(key, k->list_key)) {
        st->has_list = true;
        return gov_list(c, vn, where, st);
    }
    if ((k->params & GOV_P_WORD) && !strcmp(key, k->word_key))
        return gov_word(c, vn, id, where, st);
    if ((k->params & GOV_P_MIN) && !strcmp(key, "min")) {
        st->has_min = true;
        return gov_number(c, vn, k->num, where, &st->min);
    }
    if ((k->params & GOV_P_MAX) && !strcmp(key, "max")) {
        st->has_max = true;
        return gov_number(c, vn, k->num, where, &st->max);
    }
    gov_params_list(k, list, sizeof(list));
    return gov_fail(c, kn, "%s: unknown key '%s' (expected one of: %s)", rwhere,
                    key, list);
}

static gov_rule_id_t gov_rule_lookup(const char *name)
{
    for (int i = 0; i < GOV_RULE__CNT; i++)
        if (!strcmp(gov_kinds[i].name, name))
            return (gov_rule_id_t)i;
    return GOV_RULE__CNT;
}

static int gov_rule(gov_pctx_t *c, yaml_node_t *kn, yaml_node_t *vn,
                    gov_doc_t *doc)
{
    const char *name = gov_scalar(kn);
    gov_rule_id_t id;
    gov_stmt_t *st;
    yaml_node_pair_t *p;
    char where[160], names[512];
    size_t off = 0;

    if (!name)
        return gov_fail(c, kn, "rules: a rule name must be a string");
    if ((id = gov_rule_lookup(name)) == GOV_RULE__CNT) {
        for (int i = 0; i < GOV_RULE__CNT; i++)
            off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
                                    i ? ", " : "", gov_kinds[i].name);
        return gov_fail(c, kn, "rules: unknown rule '%s' (expected one of: %s)",
                        name, names);
    }
    st = &doc->stmt[id];
    gov_fmt(where, sizeof(where), "rules.%s", name);
    if (st->set)
        return gov_fail(c, kn, "%s: given twice", where);
    st->set = true;
    snprintf(st->origin, sizeof(st->origin), "%s:%d:%d", c->origin,
             (int)kn->start_mark.line + 1, (int)kn->start_mark.column + 1);
    if (vn->type == YAML_SCALAR_NODE) {
        st->has_severity = true;
        return gov_severity(c, vn, where, &st->severity);
    }
    if (vn->type != YAML_MAPPING_NODE)
        return gov_fail(c, vn, "%s: expected a severity or a mapping", where);
    for (p = vn->data.mapping.pairs.start; p < vn->data.mapping.pairs.top;
         p++) {
        int rc = gov_param(c, id, yaml_document_get_node(c->doc, p->key),
                           yaml_document_get_node(c->doc, p->value), where, st);
        if (rc)
            return rc;
    }
    if (st->has_min && st->has_max && st->min > st->max)
        return gov_fail(c, vn, "%s: min %lld is above max %lld", where, st->min,
                        st->max);
    return 0;
}

static int gov_rules(gov_pctx_t *c, yaml_node_t *n, gov_doc_t *doc)
{
    yaml_node_pair_t *p;

    if (n->type != YAML_MAPPING_NODE)
        return gov_fail(c, n, "rules: expected a mapping of rule names");
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        int rc = gov_rule(c, yaml_document_get_node(c->doc, p->key),
                          yaml_document_get_node(c->doc, p->value), doc);
        if (rc)
            return rc;
    }
    return 0;
}

/* A domain name as products spell it: lower-case letters, digits, - _. */
static bool gov_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

static int gov_top(gov_pctx_t *c, yaml_node_t *root, gov_doc_t *doc)
{
    yaml_node_t *level = NULL, *domain = NULL, *rules = NULL;
    yaml_node_pair_t *p;

    if (root->type != YAML_MAPPING_NODE)
        return gov_fail(c, root, "a policy must be a mapping");
    for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *key = gov_scalar(k);
        yaml_node_t **slot = NULL;
        if (key && !strcmp(key, "level"))
            slot = &level;
        else if (key && !strcmp(key, "domain"))
            slot = &domain;
        else if (key && !strcmp(key, "rules"))
            slot = &rules;
        else if (key && !strcmp(key, "description")) {
            if (gov_want_scalar(c, v, "description"))
                return MW_ERR_INVALID;
            continue;
        } else
            return gov_fail(c, k,
                            "unknown key '%s' (expected one of: level, "
                            "domain, description, rules)",
                            key ? key : "?");
        if (*slot)
            return gov_fail(c, k, "%s: given twice", key);
        *slot = v;
        if (slot != &rules && gov_want_scalar(c, v, key))
            return MW_ERR_INVALID;
    }
    if (!level)
        return gov_fail(c, root, "missing key 'level' (mesh or domain)");
    if (strcmp(gov_scalar(level), "mesh") &&
        strcmp(gov_scalar(level), "domain"))
        return gov_fail(c, level, "level: expected mesh or domain, got '%s'",
                        gov_scalar(level));
    if (!strcmp(gov_scalar(level), "mesh") && domain)
        return gov_fail(c, domain, "domain: a mesh policy has no domain");
    if (!strcmp(gov_scalar(level), "domain") && !domain)
        return gov_fail(c, root, "missing key 'domain' (level is domain)");
    if (domain && !gov_name_ok(gov_scalar(domain)))
        return gov_fail(c, domain,
                        "domain: '%s' is not a name (lower-case letters, "
                        "digits, - and _)",
                        gov_scalar(domain));
    if (domain && !(doc->domain = strdup(gov_scalar(domain))))
        return gov_oom(c);
    return rules ? gov_rules(c, rules, doc) : 0;
}

int gov_parse(const char *text, size_t len, const char *origin, gov_doc_t *doc,
              mw_err_t *err)
{
    gov_pctx_t c = {.origin = origin, .err = err};
    yaml_parser_t parser;
    yaml_document_t ydoc;
    yaml_node_t *root;
    int rc;

    if (!(doc->origin = strdup(origin)))
        return mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", origin);
    if (!yaml_parser_initialize(&parser))
        return mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", origin);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &ydoc)) {
        rc = mw_err_set(err, MW_ERR_INVALID, "%s:%d:%d: YAML: %s", origin,
                        (int)parser.problem_mark.line + 1,
                        (int)parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        return rc;
    }
    c.doc = &ydoc;
    if (!(root = yaml_document_get_root_node(&ydoc)))
        rc = mw_err_set(err, MW_ERR_INVALID, "%s:1:1: the policy is empty",
                        origin);
    else
        rc = gov_top(&c, root, doc);
    yaml_document_delete(&ydoc);
    yaml_parser_delete(&parser);
    return rc;
}

void gov_doc_clear(gov_doc_t *doc)
{
    for (int i = 0; i < GOV_RULE__CNT; i++) {
        gov_stmt_t *st = &doc->stmt[i];
        for (size_t j = 0; j < st->list_cnt; j++)
            free(st->list[j]);
        free(st->list);
        free(st->style);
        free(st->word);
    }
    free(doc->domain);
    free(doc->origin);
    memset(doc, 0, sizeof(*doc));
}
