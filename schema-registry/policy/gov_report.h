/*
 * gov_report: the violations found by the engine (gov_check.h): for each,
 * the rule, its severity, where the rule was stated, the JSON path of the
 * element that breaks it and one sentence.  Errors refuse, warnings are
 * returned and logged.
 *
 * Any thread; one report is filled by one thread.
 */
#ifndef GOV_REPORT_H
#define GOV_REPORT_H

#include <stddef.h>

#include <jansson.h>

#include "gov_policy.h"

typedef struct gov_report gov_report_t;

/* Plain data, borrowed from the report until gov_report_destroy. */
typedef struct gov_violation {
    gov_rule_id_t rule;
    gov_severity_t severity;
    const char *origin;  /* where the rule was stated: "mesh.yaml:7:3" */
    const char *path;    /* "$.fields[2].name", "$.output_ports[0].topic" */
    const char *message; /* "field 'Amount' is not snake_case" */
} gov_violation_t;

/* NULL on ENOMEM. */
gov_report_t *gov_report_new(void);
void gov_report_destroy(gov_report_t *rep);

/* Records a violation of rule (copied) at path; 0 or MW_ERR_NOMEM. */
int gov_report_add(gov_report_t *rep, const gov_rule_t *rule, const char *path,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

size_t gov_report_cnt(const gov_report_t *rep);
const gov_violation_t *gov_report_get(const gov_report_t *rep, size_t i);
/* Violations of severity sev. */
size_t gov_report_sev_cnt(const gov_report_t *rep, gov_severity_t sev);

/* One line for violation v: "policy rule 'doc-required' (error) at
 * $.fields[1]: field 'amount' has no doc", into buf (cap bytes). */
const char *gov_report_line(const gov_violation_t *v, char *buf, size_t cap);

/* The lines of every violation of severity sev joined by "; " into buf
 * (cap bytes, cut with "..." when longer); buf is returned. */
const char *gov_report_join(const gov_report_t *rep, gov_severity_t sev,
                            char *buf, size_t cap);

/* [{"rule","severity","origin","path","message"}], a new reference;
 * NULL on ENOMEM. */
json_t *gov_report_to_json(const gov_report_t *rep);

#endif /* GOV_REPORT_H */
