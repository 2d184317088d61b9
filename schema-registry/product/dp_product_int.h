/*
 * dp_product_int.h: the body of dp_product_t, shared by dp_product.c (the
 * accessors, JSON) and dp_parse.c (the only builder).  Not included
 * outside schema-registry/product.
 *
 * Every string and array the product hands out lives in its pool and is
 * freed with it.
 */
#ifndef DP_PRODUCT_INT_H
#define DP_PRODUCT_INT_H

#include "dp_product.h"

struct dp_product {
    char *file;
    char *ref;
    const char *domain, *name, *status, *description, *terms;
    const char *owner_team, *owner_contact;
    const char *sla_freshness, *sla_availability;
    long long sla_freshness_ms;
    int version;
    const char **tags;
    size_t tag_cnt;
    dp_input_t *inputs;
    size_t input_cnt;
    dp_output_t *outputs;
    size_t output_cnt;
    /* The pool: blocks to free, and the schemas to release. */
    void **blocks;
    size_t block_cnt, block_cap;
    av_schema_t **schemas;
    size_t schema_cnt, schema_cap;
};

/* Takes p into the pool (consumed; freed even on failure).  p, or NULL on
 * ENOMEM. */
void *dp_product_keep(dp_product_t *prod, void *p);
/* calloc'd n * size bytes in the pool, NULL on ENOMEM. */
void *dp_product_alloc(dp_product_t *prod, size_t n, size_t size);
/* Takes a schema reference into the pool (consumed); false on ENOMEM. */
bool dp_product_keep_schema(dp_product_t *prod, av_schema_t *schema);

/* Parses a duration "500ms", "30s", "5m", "2h", "7d", "1w" into *ms; false
 * when it is none of these. */
bool dp_duration_ms(const char *text, long long *ms);

#endif /* DP_PRODUCT_INT_H */
