/*
 * dp_validate: the checks a loaded product must pass before it is planned
 * or applied, beyond its own structure (dp_product_load did that):
 *   1. every input port naming another product resolves, either to one of
 *      the products given alongside (a mesh checked offline, several
 *      descriptors at once) or through the resolver (the catalog);
 *   2. a product does not name itself as its input;
 *   3. then every extra check the caller passes, in order: the hook for
 *      governance policies.  A check sees the product (read-only) and the
 *      mesh, and refuses it with an error naming the element's position
 *      (dp_product_err), so its messages look like every other one.
 * The first failure is the result.
 *
 * Any thread; nothing is kept.
 */
#ifndef DP_VALIDATE_H
#define DP_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "mw_err.h"
#include "dp_product.h"

/* Whether the product domain/name@version exists elsewhere (the
 * catalog): 1 yes, 0 no, negative MW_ERR_* when it cannot be told (err
 * set: the catalog is unreachable). */
typedef int(dp_resolve_fn)(void *opaque, const char *domain, const char *name,
                           int version, mw_err_t *err);

/* One validation step after the built-in ones (a governance policy).
 * run returns 0 to accept the product, or an MW_ERR_* code with err set
 * (MW_ERR_INVALID and a dp_product_err message for a refusal). */
typedef struct dp_check {
    const char *name; /* for messages: "policy 'pii-needs-owner-contact'" */
    int (*run)(void *opaque, const dp_product_t *prod,
               const dp_product_t *const *mesh, size_t mesh_cnt, mw_err_t *err);
    void *opaque;
} dp_check_t;

typedef struct dp_validate_opts {
    /* Products that references may name, prod itself included or not. */
    const dp_product_t *const *mesh;
    size_t mesh_cnt;
    /* Asked for references the mesh does not hold; NULL: none resolve. */
    dp_resolve_fn *resolve;
    void *resolve_opaque;
    /* Extra steps, run in order after the built-in ones. */
    const dp_check_t *checks;
    size_t check_cnt;
} dp_validate_opts_t;

/* Validates prod (borrowed).  0, or the first failure: MW_ERR_INVALID
 * with "FILE:LINE:COL: ..." for a refusal, the resolver's code when the
 * catalog could not be asked. */
int dp_validate(const dp_product_t *prod, const dp_validate_opts_t *opts,
                mw_err_t *err);

#endif /* DP_VALIDATE_H */
