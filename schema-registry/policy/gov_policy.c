/*
 * gov_policy: the set of policies (one mesh policy, one per domain) and
 * what a domain may change of a mesh rule.
 *
 * Invariant: every domain policy in the set tightens the mesh policy in
 * the set, so the effective rules of a domain are simply the kind's
 * defaults, then the mesh's statement, then the domain's laid over them,
 * parameter by parameter.  gov_policy_add keeps it: a new domain policy is
 * checked against the mesh's, a new mesh policy against every domain's,
 * and a refused document leaves the set unchanged.
 *
 * Any thread; a set is built by one thread and read-only afterwards.
 */
#include "gov_policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gov_policy_int.h"

#define GOV_DOMAINS_MAX 1024

static const char *const gov_dflt_keys[] = {"owner.contact", "description",
                                            "sla.freshness"};
static const char *const gov_dflt_pii[] = {"email",    "phone", "ssn",
                                           "passport", "iban",  "birth"};
static const char *const gov_dflt_types[] = {"bytes"};

#define GOV_N(a) (sizeof(a) / sizeof((a)[0]))

const gov_kind_t gov_kinds[GOV_RULE__CNT] = {
    [GOV_RULE_SUBJECT_NAMING] = {.name = "subject-naming"},
    [GOV_RULE_TOPIC_NAMING] = {.name = "topic-naming"},
    [GOV_RULE_RECORD_NAMING] = {.name = "record-naming",
                                .params = GOV_P_STYLE,
                                .style = "PascalCase"},
    [GOV_RULE_FIELD_NAMING] = {.name = "field-naming",
                               .params = GOV_P_STYLE,
                               .style = "snake_case"},
    [GOV_RULE_DOC_REQUIRED] = {.name = "doc-required"},
    [GOV_RULE_DESCRIPTOR_REQUIRED] = {.name = "descriptor-required",
                                      .params = GOV_P_LIST,
                                      .list_key = "keys",
                                      .list = gov_dflt_keys,
                                      .list_cnt = GOV_N(gov_dflt_keys)},
    [GOV_RULE_MIN_COMPATIBILITY] = {.name = "min-compatibility",
                                    .params = GOV_P_WORD,
                                    .word_key = "level",
                                    .word = "BACKWARD"},
    [GOV_RULE_PII_DECLARED] = {.name = "pii-declared",
                               .params = GOV_P_LIST,
                               .list_key = "names",
                               .list = gov_dflt_pii,
                               .list_cnt = GOV_N(gov_dflt_pii)},
    [GOV_RULE_PII_NOT_PUBLIC] = {.name = "pii-not-public",
                                 .params = GOV_P_WORD,
                                 .word_key = "tag",
                                 .word = "public"},
    [GOV_RULE_PARTITIONS] = {.name = "partitions",
                             .params = GOV_P_MIN | GOV_P_MAX,
                             .num = GOV_NUM_COUNT,
                             .has_min = true,
                             .min = 1},
    [GOV_RULE_RETENTION] = {.name = "retention",
                            .params = GOV_P_MIN | GOV_P_MAX,
                            .num = GOV_NUM_DURATION},
    [GOV_RULE_FORBIDDEN_TYPES] = {.name = "forbidden-types",
                                  .params = GOV_P_LIST,
                                  .list_key = "types",
                                  .list = gov_dflt_types,
                                  .list_cnt = GOV_N(gov_dflt_types)},
    [GOV_RULE_SCHEMA_SIZE] = {.name = "schema-size",
                              .params = GOV_P_MAX,
                              .num = GOV_NUM_BYTES,
                              .has_max = true,
                              .max = 65536},
};

const char *gov_rule_name(gov_rule_id_t id)
{
    return id < GOV_RULE__CNT ? gov_kinds[id].name : "unknown";
}

const char *gov_severity_name(gov_severity_t sev)
{
    return sev == GOV_SEV_ERROR ? "error" : "warn";
}

/* ------------------------------------------------------------ styles */

static const char *const gov_styles[] = {"snake_case", "camelCase",
                                         "PascalCase", "lower", "UPPER_SNAKE"};

bool gov_style_known(const char *style)
{
    for (size_t i = 0; i < GOV_N(gov_styles); i++)
        if (!strcmp(style, gov_styles[i]))
            return true;
    return false;
}

static bool gov_lower(char ch)
{
    return ch >= 'a' && ch <= 'z';
}
static bool gov_upper(char ch)
{
    return ch >= 'A' && ch <= 'Z';
}
static bool gov_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

bool gov_style_matches(const char *style, const char *name)
{
    bool snake = !strcmp(style, "snake_case"),
         upper = !strcmp(style, "UPPER_SNAKE");
    bool lower = !strcmp(style, "lower"), pascal = !strcmp(style, "PascalCase");

    if (!*name)
        return false;
    if (snake || upper || lower) {
        /* a letter first, then letters of the case, digits and single
         * underscores between words (lower: no underscores at all) */
        if (!(upper ? gov_upper(name[0]) : gov_lower(name[0])))
            return false;
        for (const char *p = name; *p; p++) {
            if (*p == '_' && !lower && p[1] && p[1] != '_')
                continue;
            if (!(upper ? gov_upper(*p) : gov_lower(*p)) && !gov_digit(*p))
                return false;
        }
        return true;
    }
    /* camelCase and PascalCase: letters and digits, first letter's case */
    if (pascal ? !gov_upper(name[0]) : !gov_lower(name[0]))
        return false;
    for (const char *p = name; *p; p++)
        if (!gov_lower(*p) && !gov_upper(*p) && !gov_digit(*p))
            return false;
    return true;
}

/* ------------------------------------------------------------ levels */

/* Each level and the guarantees it keeps (bits: backward, backward
 * transitive, forward, forward transitive). */
static const struct {
    const char *name;
    unsigned keeps;
} gov_levels[] = {
    {"NONE", 0},
    {"BACKWARD", 1},
    {"BACKWARD_TRANSITIVE", 1 | 2},
    {"FORWARD", 4},
    {"FORWARD_TRANSITIVE", 4 | 8},
    {"FULL", 1 | 4},
    {"FULL_TRANSITIVE", 1 | 2 | 4 | 8},
};

static int gov_level_index(const char *level)
{
    for (size_t i = 0; level && i < GOV_N(gov_levels); i++)
        if (!strcasecmp(level, gov_levels[i].name))
            return (int)i;
    return -1;
}

bool gov_level_known(const char *level)
{
    return gov_level_index(level) >= 0;
}

bool gov_level_satisfies(const char *level, const char *min)
{
    int l = gov_level_index(level), m = gov_level_index(min);

    if (l < 0 || m < 0)
        return false;
    return (gov_levels[l].keeps & gov_levels[m].keeps) == gov_levels[m].keeps;
}

/* ------------------------------------------------------------ the set */

struct gov_policy {
    gov_doc_t *mesh;     /* NULL: none yet */
    gov_doc_t **domains; /* sorted by name */
    size_t domain_cnt;
};

gov_policy_t *gov_policy_new(void)
{
    return calloc(1, sizeof(gov_policy_t));
}

static void gov_doc_free(gov_doc_t *doc)
{
    if (doc) {
        gov_doc_clear(doc);
        free(doc);
    }
}

void gov_policy_destroy(gov_policy_t *pol)
{
    if (!pol)
        return;
    gov_doc_free(pol->mesh);
    for (size_t i = 0; i < pol->domain_cnt; i++)
        gov_doc_free(pol->domains[i]);
    free(pol->domains);
    free(pol);
}

bool gov_policy_is_empty(const gov_policy_t *pol)
{
    return !pol || (!pol->mesh && !pol->domain_cnt);
}

static const gov_doc_t *gov_domain_doc(const gov_policy_t *pol,
                                       const char *domain)
{
    for (size_t i = 0; domain && i < pol->domain_cnt; i++)
        if (!strcmp(pol->domains[i]->domain, domain))
            return pol->domains[i];
    return NULL;
}

/* Lays what st states over rule. */
static void gov_overlay(gov_rule_t *rule, const gov_stmt_t *st)
{
    if (!st || !st->set)
        return;
    rule->on = true;
    rule->origin = st->origin;
    if (st->has_severity)
        rule->severity = st->severity;
    if (st->has_style)
        rule->style = st->style;
    if (st->has_list) {
        rule->list = (const char *const *)st->list;
        rule->list_cnt = st->list_cnt;
    }
    if (st->has_word)
        rule->word = st->word;
    if (st->has_min) {
        rule->has_min = true;
        rule->min = st->min;
    }
    if (st->has_max) {
        rule->has_max = true;
        rule->max = st->max;
    }
}

static void gov_defaults(gov_rule_t *rule, gov_rule_id_t id)
{
    const gov_kind_t *k = &gov_kinds[id];

    *rule = (gov_rule_t){.id = id,
                         .severity = GOV_SEV_ERROR,
                         .origin = "",
                         .style = k->style,
                         .list = k->list,
                         .list_cnt = k->list_cnt,
                         .word = k->word,
                         .has_min = k->has_min,
                         .has_max = k->has_max,
                         .min = k->min,
                         .max = k->max};
}

void gov_policy_rules(const gov_policy_t *pol, const char *domain,
                      gov_rule_t rules[GOV_RULE__CNT])
{
    const gov_doc_t *dom = gov_domain_doc(pol, domain);

    for (int i = 0; i < GOV_RULE__CNT; i++) {
        gov_defaults(&rules[i], (gov_rule_id_t)i);
        gov_overlay(&rules[i], pol->mesh ? &pol->mesh->stmt[i] : NULL);
        gov_overlay(&rules[i], dom ? &dom->stmt[i] : NULL);
    }
}

static bool gov_in_list(const char *const *list, size_t cnt, const char *s)
{
    for (size_t i = 0; i < cnt; i++)
        if (!strcmp(list[i], s))
            return true;
    return false;
}

/* Whether st (a domain's) weakens base (the mesh's rule, defaulted); why
 * gets the parameter and both values. */
static bool gov_weakens(const gov_rule_t *base, const gov_stmt_t *st, char *why,
                        size_t cap)
{
    if (st->has_severity && st->severity < base->severity) {
        snprintf(why, cap, "severity %s is below %s",
                 gov_severity_name(st->severity),
                 gov_severity_name(base->severity));
        return true;
    }
    if (st->has_style && strcmp(st->style, base->style)) {
        snprintf(why, cap, "style %s is not the mesh's %s", st->style,
                 base->style);
        return true;
    }
    for (size_t i = 0; st->has_list && i < base->list_cnt; i++)
        if (!gov_in_list((const char *const *)st->list, st->list_cnt,
                         base->list[i])) {
            snprintf(why, cap, "%s lacks '%s'", gov_kinds[base->id].list_key,
                     base->list[i]);
            return true;
        }
    if (st->has_word && base->id == GOV_RULE_MIN_COMPATIBILITY &&
        !gov_level_satisfies(st->word, base->word)) {
        snprintf(why, cap, "level %s does not keep %s", st->word, base->word);
        return true;
    }
    if (st->has_word && base->id != GOV_RULE_MIN_COMPATIBILITY &&
        strcmp(st->word, base->word)) {
        snprintf(why, cap, "%s %s is not the mesh's %s",
                 gov_kinds[base->id].word_key, st->word, base->word);
        return true;
    }
    if (st->has_min && base->has_min && st->min < base->min) {
        snprintf(why, cap, "min %lld is below %lld", st->min, base->min);
        return true;
    }
    if (st->has_max && base->has_max && st->max > base->max) {
        snprintf(why, cap, "max %lld is above %lld", st->max, base->max);
        return true;
    }
    return false;
}

/* Checks every rule dom states against mesh (may be NULL); adding_mesh
 * says which of the two is the document being added, for the message. */
static int gov_check_pair(const gov_doc_t *mesh, const gov_doc_t *dom,
                          bool adding_mesh, mw_err_t *err)
{
    for (int i = 0; mesh && i < GOV_RULE__CNT; i++) {
        const gov_stmt_t *ms = &mesh->stmt[i], *ds = &dom->stmt[i];
        gov_rule_t base;
        char why[256];

        if (!ms->set || !ds->set)
            continue;
        gov_defaults(&base, (gov_rule_id_t)i);
        gov_overlay(&base, ms);
        if (!gov_weakens(&base, ds, why, sizeof(why)))
            continue;
        if (adding_mesh)
            return mw_err_set(err, MW_ERR_INVALID,
                              "%s: mesh rule '%s' would be weaker than rule "
                              "'%s' of domain %s at %s, which may only "
                              "tighten it: %s",
                              ms->origin, gov_kinds[i].name, gov_kinds[i].name,
                              dom->domain, ds->origin, why);
        return mw_err_set(err, MW_ERR_INVALID,
                          "%s: rule '%s' of domain %s weakens mesh rule '%s' "
                          "at %s: %s",
                          ds->origin, gov_kinds[i].name, dom->domain,
                          gov_kinds[i].name, ms->origin, why);
    }
    return 0;
}

/* Puts doc (consumed on success) into the set, replacing its scope. */
static int gov_install(gov_policy_t *pol, gov_doc_t *doc, mw_err_t *err)
{
    gov_doc_t **grown;
    size_t i;

    if (!doc->domain) {
        gov_doc_free(pol->mesh);
        pol->mesh = doc;
        return 0;
    }
    for (i = 0; i < pol->domain_cnt; i++)
        if (!strcmp(pol->domains[i]->domain, doc->domain)) {
            gov_doc_free(pol->domains[i]);
            pol->domains[i] = doc;
            return 0;
        }
    if (pol->domain_cnt >= GOV_DOMAINS_MAX)
        return mw_err_set(err, MW_ERR_FULL, "%s: more than %d domain policies",
                          doc->origin, GOV_DOMAINS_MAX);
    grown = realloc(pol->domains, (pol->domain_cnt + 1) * sizeof(*grown));
    if (!grown)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    pol->domains = grown;
    pol->domains[pol->domain_cnt++] = doc;
    return 0;
}

int gov_policy_add(gov_policy_t *pol, const char *text, size_t len,
                   const char *origin, const char **scope, mw_err_t *err)
{
    gov_doc_t *doc = calloc(1, sizeof(*doc));
    int rc;

    if (!doc)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    rc = gov_parse(text, len, origin, doc, err);
    if (rc == 0 && doc->domain)
        rc = gov_check_pair(pol->mesh, doc, false, err);
    for (size_t i = 0; rc == 0 && !doc->domain && i < pol->domain_cnt; i++)
        rc = gov_check_pair(doc, pol->domains[i], true, err);
    if (rc == 0)
        rc = gov_install(pol, doc, err);
    if (rc) {
        gov_doc_free(doc);
        return rc;
    }
    if (scope)
        *scope = doc->domain ? doc->domain : "mesh";
    return 0;
}

int gov_policy_load(gov_policy_t *pol, const char *path, const char **scope,
                    mw_err_t *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    int rc;

    if (!f)
        return mw_err_set(err, MW_ERR_IO, "%s: cannot read: %s", path,
                          strerror(errno));
    do {
        if (len + 4096 > cap) {
            char *grown = cap > (1u << 24) ? NULL : realloc(buf, cap + 65536);
            if (!grown) {
                free(buf);
                fclose(f);
                return mw_err_set(err, MW_ERR_INVALID,
                                  "%s: larger than 16 MiB or out of memory",
                                  path);
            }
            buf = grown;
            cap += 65536;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    if (ferror(f)) {
        rc = mw_err_set(err, MW_ERR_IO, "%s: cannot read: %s", path,
                        strerror(errno));
    } else {
        rc = gov_policy_add(pol, buf ? buf : "", len, path, scope, err);
    }
    free(buf);
    fclose(f);
    return rc;
}
