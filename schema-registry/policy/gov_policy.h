/*
 * gov_policy: the governance policies of a mesh (docs/GOVERNANCE.md): one
 * mesh-wide policy (the federation's) and one policy per domain, each a
 * YAML document whose rules are taken from a fixed set (the rule kinds
 * below, each with a name, a severity and its parameters).
 *
 * A domain policy may add rules the mesh policy lacks, or restate a mesh
 * rule to tighten it (a higher severity, a lower maximum, a higher
 * minimum, a longer list of required keys or forbidden types, a stricter
 * compatibility level).  A restatement that weakens the mesh rule is an
 * error naming both rules and their positions; so is a mesh policy that
 * would leave an existing domain rule weaker than itself.
 *
 * The set is built by gov_policy_add and read-only afterwards; the engine
 * (gov_check.h) reads the effective rules of a domain: the mesh's, with
 * the domain's tightenings laid over them.
 *
 * Any thread; a set is not shared between threads while it is built.
 */
#ifndef GOV_POLICY_H
#define GOV_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "mw_err.h"

typedef struct gov_policy gov_policy_t;

/* The rule kinds; the names are the policy file's keys. */
typedef enum gov_rule_id {
    GOV_RULE_SUBJECT_NAMING =
        0,                  /* subjects <domain>.<product>.v<N>-key|value */
    GOV_RULE_TOPIC_NAMING,  /* topics <domain>.<product>.v<N> */
    GOV_RULE_RECORD_NAMING, /* record, enum, fixed names' style */
    GOV_RULE_FIELD_NAMING,  /* field names' style */
    GOV_RULE_DOC_REQUIRED,  /* doc on every record and field */
    GOV_RULE_DESCRIPTOR_REQUIRED, /* descriptor keys that must be given */
    GOV_RULE_MIN_COMPATIBILITY,   /* the subject's level at least this */
    GOV_RULE_PII_DECLARED,        /* fields that look personal are classified */
    GOV_RULE_PII_NOT_PUBLIC,      /* no pii field in a public product */
    GOV_RULE_PARTITIONS,          /* topic ports' partitions within bounds */
    GOV_RULE_RETENTION,           /* topic ports' retention within bounds */
    GOV_RULE_FORBIDDEN_TYPES,     /* Avro types not allowed (bare) */
    GOV_RULE_SCHEMA_SIZE,         /* normalised schema text at most N bytes */
    GOV_RULE__CNT
} gov_rule_id_t;

typedef enum gov_severity {
    GOV_SEV_WARN = 1, /* reported, never blocks */
    GOV_SEV_ERROR = 2 /* refuses the registration or the product */
} gov_severity_t;

/* "subject-naming", ...; "warn", "error". */
const char *gov_rule_name(gov_rule_id_t id);
const char *gov_severity_name(gov_severity_t sev);

/* One effective rule: the mesh's with a domain's tightenings, parameters
 * defaulted (docs/GOVERNANCE.md gives each default).  Plain data,
 * borrowed from the policy set. */
typedef struct gov_rule {
    gov_rule_id_t id;
    bool on;                 /* stated by the mesh or the domain policy */
    gov_severity_t severity; /* default error */
    const char *origin;      /* "mesh.yaml:7:3" of the strongest statement */
    const char *style;       /* record-naming, field-naming */
    const char *const *list; /* descriptor keys, pii names, types */
    size_t list_cnt;
    const char *word; /* min-compatibility: level; pii-not-public: tag */
    bool has_min, has_max;
    long long min, max; /* partitions (count), retention (ms), size */
} gov_rule_t;

/* An empty set (no rule is on).  NULL on ENOMEM. */
gov_policy_t *gov_policy_new(void);
void gov_policy_destroy(gov_policy_t *pol);

/* Parses text (len bytes) as one policy document, named origin in
 * messages (a file name), and adds it to the set, replacing a policy of
 * the same scope.  *scope (may be NULL) gets "mesh" or the domain's name,
 * borrowed from the set.  Fails, leaving the set as it was, with
 * MW_ERR_INVALID and "ORIGIN:LINE:COL: where: what" for a bad document,
 * or a message naming both rules when a domain rule would be weaker than
 * the mesh's. */
int gov_policy_add(gov_policy_t *pol, const char *text, size_t len,
                   const char *origin, const char **scope, mw_err_t *err);

/* gov_policy_add of a file's contents (MW_ERR_IO when unreadable). */
int gov_policy_load(gov_policy_t *pol, const char *path, const char **scope,
                    mw_err_t *err);

/* Whether any policy was added. */
bool gov_policy_is_empty(const gov_policy_t *pol);

/* The effective rules for domain (NULL or a domain without a policy: the
 * mesh's alone) into rules[GOV_RULE__CNT], indexed by gov_rule_id_t;
 * borrowed until the set is changed or destroyed. */
void gov_policy_rules(const gov_policy_t *pol, const char *domain,
                      gov_rule_t rules[GOV_RULE__CNT]);

#endif /* GOV_POLICY_H */
