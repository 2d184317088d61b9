/*
 * mw_metrics: a registry of counters, gauges and histograms rendered in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * A series is a metric name plus an optional label set given as Prometheus
 * text ("topic=\"orders\",partition=\"0\""), which must come from bounded
 * sets (topics, partitions), never keys or ids.  Asking twice for the same
 * name and labels returns the same series, so modules can register lazily.
 * Names follow mesh_<component>_<what>_<unit>; counters end in _total.
 *
 * Thread-safety: registration takes the registry lock; updates are lock-free
 * atomics and may come from any thread (librdkafka's statistics callback
 * runs on its own thread).  Series live as long as the registry.
 */
#ifndef MW_METRICS_H
#define MW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "mw_buf.h"
#include "mw_err.h"

typedef struct mw_metrics mw_metrics_t;
typedef struct mw_counter mw_counter_t;
typedef struct mw_gauge mw_gauge_t;
typedef struct mw_histogram mw_histogram_t;

mw_metrics_t *mw_metrics_new(void);
void mw_metrics_destroy(mw_metrics_t *reg);

/* Returns the series, creating it on first use.  name, help and labels are
 * copied.  labels may be NULL or "".  NULL when the name is already
 * registered with another type or the name/labels are malformed (a
 * programming error, also logged), or on ENOMEM. */
mw_counter_t *mw_metrics_counter(mw_metrics_t *reg, const char *name,
                                 const char *help, const char *labels);
mw_gauge_t *mw_metrics_gauge(mw_metrics_t *reg, const char *name,
                             const char *help, const char *labels);
/* bounds: bucket upper bounds, strictly increasing, bucket_cnt of them (+Inf
 * is implicit).  NULL bounds = the default latency buckets in seconds
 * (0.0005 ... 10). */
mw_histogram_t *mw_metrics_histogram(mw_metrics_t *reg, const char *name,
                                     const char *help, const char *labels,
                                     const double *bounds, size_t bucket_cnt);

/* Updates; all accept NULL (a series that failed to register) and do
 * nothing, so a metrics failure never takes a daemon down. */
void mw_counter_add(mw_counter_t *c, uint64_t n);
static inline void mw_counter_inc(mw_counter_t *c)
{
    mw_counter_add(c, 1);
}
uint64_t mw_counter_get(const mw_counter_t *c);
void mw_gauge_set(mw_gauge_t *g, double v);
void mw_gauge_add(mw_gauge_t *g, double delta);
double mw_gauge_get(const mw_gauge_t *g);
void mw_histogram_observe(mw_histogram_t *h, double v);
uint64_t mw_histogram_count(const mw_histogram_t *h);

/* Appends the whole registry in Prometheus text format, families sorted by
 * name, each with its # HELP and # TYPE lines.  0 or MW_ERR_FULL/NOMEM. */
int mw_metrics_render(mw_metrics_t *reg, mw_buf_t *out);

#endif /* MW_METRICS_H */
