/*
 * dp_validate: references between products, then the caller's checks
 * (dp_validate.h).  References are by major version: a product that reads
 * orders/events@1 keeps reading that topic when @2 appears beside it.
 *
 * Any thread.
 */
#include "dp_validate.h"

#include <string.h>

static bool dp_validate_in_mesh(const dp_validate_opts_t *opts,
                                const dp_input_t *in)
{
    for (size_t i = 0; i < opts->mesh_cnt; i++) {
        const dp_product_t *p = opts->mesh[i];
        if (!strcmp(dp_product_domain(p), in->ref_domain) &&
            !strcmp(dp_product_name(p), in->ref_name) &&
            dp_product_version(p) == in->ref_version)
            return true;
    }
    return false;
}

static int dp_validate_refs(const dp_product_t *prod,
                            const dp_validate_opts_t *opts, mw_err_t *err)
{
    for (size_t i = 0; i < dp_product_input_cnt(prod); i++) {
        const dp_input_t *in = dp_product_input(prod, i);
        int found = 0;
        if (in->kind != DP_INPUT_PRODUCT)
            continue;
        if (!strcmp(in->ref, dp_product_ref(prod)))
            return dp_product_err(prod, in->ref_pos, err, MW_ERR_INVALID,
                                  "input_ports[%zu].product: a product cannot "
                                  "read itself",
                                  i);
        if (dp_validate_in_mesh(opts, in))
            continue;
        if (opts->resolve &&
            (found = opts->resolve(opts->resolve_opaque, in->ref_domain,
                                   in->ref_name, in->ref_version, err)) < 0)
            return mw_err_prefix(err, "input_ports[%zu].product", i);
        if (!found)
            return dp_product_err(
                prod, in->ref_pos, err, MW_ERR_INVALID,
                "input_ports[%zu].product: no product '%s' %s", i, in->ref,
                opts->resolve ? "in the catalog or among the descriptors given"
                              : "among the descriptors given");
    }
    return 0;
}

int dp_validate(const dp_product_t *prod, const dp_validate_opts_t *opts,
                mw_err_t *err)
{
    static const dp_validate_opts_t none = {0};
    int rc;

    if (!opts)
        opts = &none;
    if ((rc = dp_validate_refs(prod, opts, err)))
        return rc;
    for (size_t i = 0; i < opts->check_cnt; i++) {
        const dp_check_t *chk = &opts->checks[i];
        if ((rc = chk->run(chk->opaque, prod, opts->mesh, opts->mesh_cnt, err)))
            return rc;
    }
    return 0;
}
