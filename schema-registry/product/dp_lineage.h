/*
 * dp_lineage: the mesh as a graph, products as nodes and input ports as
 * edges, built from catalog entries (dp_product_to_json's form, which is
 * what mesh-registry records) and rendered as JSON, Graphviz DOT or
 * Mermaid.  mesh-registry answers GET /catalog/lineage with
 * dp_lineage_build's JSON; meshctl renders it, or builds it offline from
 * descriptors, with the same functions.
 *
 * Pure computation; any thread.
 */
#ifndef DP_LINEAGE_H
#define DP_LINEAGE_H

#include <stdio.h>

#include <jansson.h>

#include "mw_err.h"

typedef enum dp_lineage_format {
    DP_LINEAGE_JSON = 0,
    DP_LINEAGE_DOT,
    DP_LINEAGE_MERMAID,
} dp_lineage_format_t;

/* "json", "dot", "mermaid" to a format: 0, or MW_ERR_INVALID naming the
 * value. */
int dp_lineage_format_parse(const char *name, dp_lineage_format_t *fmt,
                            mw_err_t *err);

/* The graph of entries (an array of catalog entries, borrowed):
 *   {"nodes":[{"id","kind":"product","domain","name","version","owner",
 *              "registered":true} | {"id","kind":"source","source",
 *              "location"}],
 *    "edges":[{"from","to","port"}]}
 * A product node's id is "domain/name@version"; an operational source's
 * "source:KIND:LOCATION".  A product some input names that entries do not
 * hold is a node with "registered": false, so every edge has two ends.
 * Nodes come in the order of entries, sources where first named.  A new
 * reference, NULL on ENOMEM. */
json_t *dp_lineage_build(const json_t *entries);

/* Writes graph (dp_lineage_build's form, borrowed) to out in fmt.  DOT is
 * one digraph with products as boxes (dashed when not registered) and
 * sources as cylinders; Mermaid a `flowchart LR`.  0, or MW_ERR_INVALID
 * when graph lacks nodes/edges, MW_ERR_IO on a write error. */
int dp_lineage_render(const json_t *graph, dp_lineage_format_t fmt, FILE *out,
                      mw_err_t *err);

#endif /* DP_LINEAGE_H */
