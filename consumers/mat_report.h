/*
 * mat_report: the live facts of the output port a materializer serves,
 * reported to the registry's catalog (docs/PRODUCTS.md, "Live facts").
 *
 * With `catalog.product` set, every `catalog.report.interval.ms` the
 * materializer sends one
 *
 *   PUT <registry.url>/catalog/products/{domain}/{name}/ports/{port}/status
 *       [?version=V]
 *   {"materializer": M, "offset": O, "rows": R, "freshness_ms": F}
 *
 * where M is `catalog.materializer` (default <group.id>@<host>/<pid>), O
 * the committed next offsets summed over the partitions assigned to this
 * instance, R the changes it committed to the sink since it started, F
 * the age of the newest source timestamp it committed (left out before
 * the first one).  The registry adds reported_at_ms and judges F against
 * the product's sla.freshness.
 *
 * The call is blocking and short: one per interval, on one keep-alive
 * connection, bounded by a timeout of a quarter of the interval (at most
 * MAT_REPORT_TIMEOUT_MS).  A failed report (transport error, timeout, an
 * answer other than 2xx) is counted in
 * mesh_materializer_catalog_reports_total{result="failed"} and logged
 * once per episode (a warning at the first failure, an info line with the
 * count when reports succeed again); it is never fatal and never touches
 * the sink.
 *
 * Thread: the materializer's loop thread (called from mat_loop's chores).
 */
#ifndef MAT_REPORT_H
#define MAT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mat_loop.h"
#include "mw_conf.h"
#include "mw_err.h"
#include "mw_metrics.h"

#define MAT_REPORT_TIMEOUT_MS 1000
#define MAT_REPORT_NAME_MAX 128 /* a domain, product or port name */

/* catalog.product parsed: "domain/name" or "domain/name@major". */
typedef struct mat_report_ref {
    char domain[MAT_REPORT_NAME_MAX];
    char name[MAT_REPORT_NAME_MAX];
    int version; /* 0: the highest major version */
} mat_report_ref_t;

/* Parses a product reference; names are lower-case letters, digits, '-'
 * and '_' (the descriptor's rule).  0, or MW_ERR_CONFIG naming
 * catalog.product. */
int mat_report_parse_ref(const char *text, mat_report_ref_t *ref,
                         mw_err_t *err);

/* Cross-key checks of the catalog.* keys (configuration time, exit 2):
 * catalog.product well formed; catalog.port required with it and a
 * name; catalog.port, catalog.materializer, catalog.report.interval.ms
 * set without catalog.product refused (they would do nothing). */
int mat_report_conf_check(const mw_conf_t *conf, mw_err_t *err);

/* The JSON body of one report (malloc'd, caller frees), NULL on ENOMEM.
 * now_ms is the wall clock the freshness is measured at. */
char *mat_report_body(const char *materializer, const mat_loop_facts_t *facts,
                      int64_t now_ms);

typedef struct mat_report mat_report_t;

/* Builds the reporter from conf (catalog.*, registry.url, group.id).
 * *out is NULL when reporting is off (catalog.product unset).  0, or an
 * error (MW_ERR_CONFIG naming the key). */
int mat_report_new(const mw_conf_t *conf, mw_metrics_t *metrics,
                   mat_report_t **out, mw_err_t *err);

/* Whether a report is due (monotonic clock). */
bool mat_report_due(const mat_report_t *rep);

/* Sends one report of facts now (blocking, bounded by the timeout) and
 * schedules the next one an interval later.  Failures are counted and
 * logged, never returned. */
void mat_report_send(mat_report_t *rep, const mat_loop_facts_t *facts);

/* Destroys.  Accepts NULL. */
void mat_report_destroy(mat_report_t *rep);

#endif /* MAT_REPORT_H */
