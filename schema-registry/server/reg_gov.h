/*
 * reg_gov: mesh-registry's governance policies (docs/GOVERNANCE.md), kept
 * in the catalog's log beside the products, so they are stored, replayed
 * and shared exactly like the catalog (journal: catalog.journal; kafka:
 * the catalog topic, read by every instance).
 *
 * Records:
 *   {"keytype":"POLICY","scope":S,"version":V,"magic":0}
 *       value {"scope":S,"version":V,"policy":TEXT}: version V of the
 *       policy of scope S ("mesh" or a domain's name).  Each version has
 *       its own key, so compaction keeps the history; the highest version
 *       of a scope is in force.
 * Every other record of the log is the catalog's (reg_catalog_apply).
 *
 * After each policy record the set of policies in force is rebuilt: the
 * mesh's first, then each domain's.  A writer checks a new policy against
 * the others before appending it (reg_gov_prepare), so a stored domain
 * policy that weakens the mesh's can only come from two instances racing;
 * it is then logged and left out, and the mesh's rules hold for that
 * domain.
 *
 * Thread: the registry's loop thread.  Returned pointers are borrowed
 * until the next apply.
 */
#ifndef REG_GOV_H
#define REG_GOV_H

#include <jansson.h>

#include "gov_check.h"
#include "mw_metrics.h"
#include "reg_catalog.h"
#include "reg_store.h"

typedef struct reg_gov reg_gov_t;

/* A governance state over cat (borrowed: catalog records are handed to
 * it); metrics (may be NULL) gets the violation counters.  NULL on
 * ENOMEM. */
reg_gov_t *reg_gov_new(reg_catalog_t *cat, mw_metrics_t *metrics);
void reg_gov_destroy(reg_gov_t *gov);

/* reg_store_apply_cb of the catalog's log; opaque is the reg_gov_t. */
void reg_gov_apply(void *opaque, const reg_store_record_t *rec);

/* The policies in force, or NULL when none is stored (governance off). */
const gov_policy_t *reg_gov_policy(const reg_gov_t *gov);

/* Checks text as the next version of scope against the policies in
 * force: 0 with *version, or MW_ERR_INVALID naming the line, the rule or
 * the scope mismatch. */
int reg_gov_prepare(const reg_gov_t *gov, const char *scope, const char *text,
                    int *version, mw_err_t *err);

/* The record key of a policy version (a new reference). */
json_t *reg_gov_key(const char *scope, int version);

/* {"policies":[{"scope","version","policy"}]} (mesh first), and one
 * scope's entry or NULL; new references. */
json_t *reg_gov_list_json(const reg_gov_t *gov);
json_t *reg_gov_get_json(const reg_gov_t *gov, const char *scope);

/* Adds rep's violations to the per-rule counters
 * (mesh_registry_governance_violations_total). */
void reg_gov_count(reg_gov_t *gov, const gov_report_t *rep);

/* GET /governance/report: every catalog entry against the policies in
 * force, compat telling each subject's level:
 * {"conformant","failing","products":[{"product","conformant","errors",
 * "warnings","violations":[...]}],"rules":{rule:{"errors","warnings"}}}.
 * A new reference; NULL on ENOMEM. */
json_t *reg_gov_report_json(const reg_gov_t *gov, gov_compat_fn *compat,
                            void *opaque);

#endif /* REG_GOV_H */
