/*
 * gov_check: the rule engine.  One engine, several callers: mesh-registry
 * (a schema registration, a catalog entry, the conformance report) and
 * meshctl (`policy check` offline, `product validate|plan|apply` through
 * the validation hook, gov_hook.h).
 *
 * Two things are checked:
 *   - a schema under a subject (what POST /subjects/{s}/versions
 *     registers): subject-naming, record-naming, field-naming,
 *     doc-required, forbidden-types, schema-size and, when the subject's
 *     compatibility level is known, min-compatibility;
 *   - a product in its catalog form (dp_product_to_json's, what PUT
 *     /catalog/products records): topic-naming, descriptor-required,
 *     partitions, retention, pii-declared, pii-not-public, and every schema
 *     rule on each topic port's key and value schemas.
 * The rules are the effective ones of the domain (gov_policy_rules): the
 * subject's first name part, the product's `domain`.  Only rules stated by
 * a policy run.  Violations go into the report with their JSON path; the
 * caller decides (errors refuse, warnings are returned).
 *
 * Any thread; nothing is kept.
 */
#ifndef GOV_CHECK_H
#define GOV_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "av_schema.h"
#include "gov_policy.h"
#include "gov_report.h"

/* The compatibility level in force for subject ("BACKWARD", ...), or
 * NULL when it cannot be told (offline): min-compatibility is then not
 * evaluated for it. */
typedef const char *(gov_compat_fn)(void *opaque, const char *subject);

/* The domain a subject names, "<domain>.<product>.v<N>-key|value", into
 * buf (cap bytes); false when the subject does not follow the rule. */
bool gov_check_subject_domain(const char *subject, char *buf, size_t cap);

/* Checks schema (borrowed) registered under subject; text_bytes is the
 * size of its normalised text, compat the subject's level (NULL:
 * unknown); paths start at "$".  0, or MW_ERR_NOMEM. */
int gov_check_schema(const gov_policy_t *pol, const char *subject,
                     const av_schema_t *schema, size_t text_bytes,
                     const char *compat, gov_report_t *rep);

/* Checks a product in its catalog form (borrowed); compat (may be NULL)
 * tells each subject's level.  0, or MW_ERR_NOMEM. */
int gov_check_product(const gov_policy_t *pol, const json_t *entry,
                      gov_compat_fn *compat, void *opaque, gov_report_t *rep);

#endif /* GOV_CHECK_H */
