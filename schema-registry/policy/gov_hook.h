/*
 * gov_hook: the engine as a step of product validation (dp_validate's
 * dp_check_t hook, docs/EXTENDING.md), so that `meshctl product
 * validate|plan|apply` and `meshctl policy check` refuse a descriptor the
 * way every other check does: "FILE:LINE:COL: policy rule 'partitions'
 * (error) at $.output_ports[0].partitions: ...".
 *
 * The product is checked in its catalog form (dp_product_to_json, the
 * same form the registry checks); each violation's JSON path is mapped
 * back to the descriptor's position of the element (the output port, its
 * schema, its described field), or 1:1 for the product's own keys.
 *
 * Any thread; a hook is used by one thread.
 */
#ifndef GOV_HOOK_H
#define GOV_HOOK_H

#include <stddef.h>

#include "dp_product.h"
#include "dp_validate.h"
#include "gov_check.h"

typedef struct gov_hook gov_hook_t;

/* A hook over pol (borrowed, outlives the hook); NULL on ENOMEM. */
gov_hook_t *gov_hook_new(const gov_policy_t *pol);
void gov_hook_destroy(gov_hook_t *hook);

/* The dp_check_t to pass to dp_validate: refuses a product with an
 * error-level violation (the first one's message, with the count of the
 * others), and keeps the warnings of every product it accepted. */
dp_check_t gov_hook_check(gov_hook_t *hook);

/* Warnings kept so far, each "FILE:LINE:COL: policy rule ..."; borrowed
 * until gov_hook_destroy. */
size_t gov_hook_warning_cnt(const gov_hook_t *hook);
const char *gov_hook_warning(const gov_hook_t *hook, size_t i);

/* Checks prod against pol into rep (every violation); 0 or
 * MW_ERR_NOMEM. */
int gov_hook_check_product(const gov_policy_t *pol, const dp_product_t *prod,
                           gov_report_t *rep);

/* The descriptor position of a violation's path in prod. */
dp_pos_t gov_hook_pos(const dp_product_t *prod, const char *path);

#endif /* GOV_HOOK_H */
