/*
 * ctl_product_int.h: what ctl_product.c (the commands, loading and
 * validation) and ctl_product_plan.c (plan and apply) share.  Not included
 * outside schema-registry/cli.
 */
#ifndef CTL_PRODUCT_INT_H
#define CTL_PRODUCT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "bk_admin.h"
#include "dp_product.h"
#include "sr_client.h"

#define CTL_PRODUCT_REGISTRY_TIMEOUT_MS 10000

/* What plan and apply talk to; both borrowed. */
typedef struct ctl_product_env {
    sr_client_t *client;
    bk_admin_t *admin;
    bool json;
    const char *registry_url;
} ctl_product_env_t;

/* Plans prod against the registry and the cluster and prints the plan
 * (apply false), or plans and carries it out (apply true), printing each
 * step done; a failure half-way prints what was done, what was not, and
 * how to finish or undo.  0 ok (including "nothing to change"), 1 on a
 * refusal (a breaking schema, a topic that differs) or a failure. */
int ctl_product_plan_run(const ctl_product_env_t *env, const dp_product_t *prod,
                         bool apply);

#endif /* CTL_PRODUCT_INT_H */
