/*
 * ctl_product: `meshctl product validate|plan|apply|list|show` and
 * `meshctl mesh lineage`: the self-serve path of a data product, from its
 * descriptor (schema-registry/product) to the registry (schemas, the
 * catalog, through sr_client) and the cluster (topics, through bk_admin).
 * Main thread.
 */
#ifndef CTL_PRODUCT_H
#define CTL_PRODUCT_H

#include "mw_conf.h"

/* Runs `product ARGS...` (argv[0] is "product").  conf is the finalized
 * configuration (json, registry.url, kafka.*).  Returns the exit code: 0,
 * 1 on a failure (a refused descriptor included), 2 on bad usage. */
int ctl_product_main(const mw_conf_t *conf, int argc, char **argv);

/* Runs `mesh lineage [--format json|dot|mermaid] [FILE...]` (argv[0] is
 * "mesh"): the catalog's lineage, or the lineage of the descriptors given
 * without asking the registry.  Exit codes as above. */
int ctl_product_mesh_main(const mw_conf_t *conf, int argc, char **argv);

#endif /* CTL_PRODUCT_H */
