/*
 * mw_metrics: the registry behind every daemon's /metrics.
 *
 * A registry holds families (name, help, type) kept sorted by name, so
 * rendering is a straight walk; each family holds its series (a label set)
 * in registration order.  Families and series are only ever added, never
 * removed, so a pointer handed out stays valid until mw_metrics_destroy.
 *
 * Invariants and threads:
 *  - the registry lock (reg->lock) guards the family and series lists; it is
 *    taken by registration and by rendering, never by updates;
 *  - updates are lock-free C11 atomics on the series itself, from any
 *    thread: counters are uint64 adds, gauges are doubles stored as their
 *    bit pattern and changed with compare-and-swap, histograms keep one
 *    non-cumulative count per bucket (made cumulative when rendered);
 *  - a name keeps the type it was first registered with; a different type,
 *    a malformed name or malformed labels is a programming error: logged,
 *    and the caller gets NULL, which every update function accepts.
 */
#include "mw_metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_log.h"

#define LOG_COMP "metrics"

typedef enum metric_type {
    METRIC_COUNTER = 0,
    METRIC_GAUGE,
    METRIC_HISTOGRAM
} metric_type_t;

static const char *const type_names[] = {"counter", "gauge", "histogram"};

struct mw_counter {
    _Atomic uint64_t value;
};

struct mw_gauge {
    _Atomic uint64_t bits; /* the double's bit pattern */
};

struct mw_histogram {
    const double *bounds; /* the family's, bucket_cnt of them */
    size_t bucket_cnt;
    _Atomic uint64_t *buckets; /* bucket_cnt + 1 (the last is +Inf) */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_bits; /* double bit pattern */
};

typedef struct series {
    struct series *next;
    char *labels; /* "" when none */
    union {
        struct mw_counter counter;
        struct mw_gauge gauge;
        struct mw_histogram hist;
    } u;
} series_t;

typedef struct family {
    struct family *next;
    char *name;
    char *help;
    metric_type_t type;
    double *bounds; /* histograms only */
    size_t bucket_cnt;
    series_t *head, *tail;
} family_t;

struct mw_metrics {
    pthread_mutex_t lock;
    family_t *families; /* sorted by name */
};

static const double default_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,  0.1,    0.25,  0.5,
                                        1,      2.5,   5,      10};

static uint64_t dbl_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double bits_dbl(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

/* Adds delta to a double held as bits; CAS because C11 has no atomic
 * floating add that works on every compiler we build with. */
static void atomic_dbl_add(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    uint64_t next;
    do {
        next = dbl_bits(bits_dbl(old) + delta);
    } while (!atomic_compare_exchange_weak_explicit(
        bits, &old, next, memory_order_relaxed, memory_order_relaxed));
}

/* ------------------------------------------------------------ validation */

static bool is_name_start(char c, bool colon_ok)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (colon_ok && c == ':');
}

static bool is_name_char(char c, bool colon_ok)
{
    return is_name_start(c, colon_ok) || (c >= '0' && c <= '9');
}

static bool name_is_valid(const char *name)
{
    if (!name || !is_name_start(name[0], true))
        return false;
    for (const char *p = name + 1; *p; p++)
        if (!is_name_char(*p, true))
            return false;
    return true;
}

/* Checks `k="v",k2="v2"` (Prometheus escapes \\ \" \n in values).  For
 * histograms the label "le" is reserved for the bucket bound. */
static bool labels_are_valid(const char *labels, bool forbid_le)
{
    const char *p = labels;
    while (*p) {
        const char *key = p;
        if (!is_name_start(*p, false))
            return false;
        while (is_name_char(*p, false))
            p++;
        if (forbid_le && p - key == 2 && strncmp(key, "le", 2) == 0)
            return false;
        if (*p++ != '=' || *p++ != '"')
            return false;
        while (*p && *p != '"') {
            if (*p == '\n')
                return false;
            if (*p == '\\' && p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                return false;
            p += (*p == '\\') ? 2 : 1;
        }
        if (*p++ != '"')
            return false;
        if (*p == ',' && p[1] != '\0')
            p++;
        else if (*p != '\0')
            return false;
    }
    return true;
}

static bool bounds_are_valid(const double *bounds, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------ registry */

mw_metrics_t *mw_metrics_new(void)
{
    mw_metrics_t *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return NULL;
    if (pthread_mutex_init(&reg->lock, NULL) != 0) {
        free(reg);
        return NULL;
    }
    return reg;
}

static void series_free(series_t *s, metric_type_t type)
{
    if (type == METRIC_HISTOGRAM)
        free(s->u.hist.buckets);
    free(s->labels);
    free(s);
}

static void family_free(family_t *fam)
{
    series_t *s = fam->head;
    while (s) {
        series_t *next = s->next;
        series_free(s, fam->type);
        s = next;
    }
    free(fam->bounds);
    free(fam->help);
    free(fam->name);
    free(fam);
}

void mw_metrics_destroy(mw_metrics_t *reg)
{
    if (!reg)
        return;
    family_t *fam = reg->families;
    while (fam) {
        family_t *next = fam->next;
        family_free(fam);
        fam = next;
    }
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

/* Finds the family or the link where it belongs (sorted insert).
 * Caller holds reg->lock. */
static family_t *family_find(mw_metrics_t *reg, const char *name,
                             family_t ***link)
{
    family_t **pp = &reg->families;
    while (*pp) {
        int cmp = strcmp((*pp)->name, name);
        if (cmp == 0)
            return *pp;
        if (cmp > 0)
            break;
        pp = &(*pp)->next;
    }
    *link = pp;
    return NULL;
}

/* One registration request: the series wanted and its family's shape. */
typedef struct metric_req {
    const char *name, *help, *labels;
    metric_type_t type;
    const double *bounds; /* METRIC_HISTOGRAM */
    size_t bucket_cnt;
} metric_req_t;

/* Caller holds reg->lock. */
static family_t *family_add(family_t **link, const metric_req_t *req)
{
    family_t *fam = calloc(1, sizeof(*fam));
    size_t cnt = req->bucket_cnt;

    if (!fam)
        return NULL;
    fam->name = strdup(req->name);
    fam->help = strdup(req->help ? req->help : "");
    fam->type = req->type;
    if (req->type == METRIC_HISTOGRAM) {
        fam->bucket_cnt = cnt;
        fam->bounds = malloc((cnt ? cnt : 1) * sizeof(double));
        if (fam->bounds && cnt)
            memcpy(fam->bounds, req->bounds, cnt * sizeof(double));
    }
    if (!fam->name || !fam->help ||
        (req->type == METRIC_HISTOGRAM && !fam->bounds)) {
        family_free(fam);
        return NULL;
    }
    fam->next = *link;
    *link = fam;
    return fam;
}

/* Caller holds reg->lock. */
static series_t *series_add(family_t *fam, const char *labels)
{
    series_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->labels = strdup(labels);
    if (fam->type == METRIC_HISTOGRAM) {
        struct mw_histogram *h = &s->u.hist;
        h->bounds = fam->bounds;
        h->bucket_cnt = fam->bucket_cnt;
        h->buckets = calloc(fam->bucket_cnt + 1, sizeof(*h->buckets));
        if (!h->buckets) {
            series_free(s, fam->type);
            return NULL;
        }
        atomic_init(&h->sum_bits, dbl_bits(0.0));
    } else if (fam->type == METRIC_GAUGE) {
        atomic_init(&s->u.gauge.bits, dbl_bits(0.0));
    }
    if (!s->labels) {
        series_free(s, fam->type);
        return NULL;
    }
    if (fam->tail)
        fam->tail->next = s;
    else
        fam->head = s;
    fam->tail = s;
    return s;
}

static bool same_bounds(const family_t *fam, const double *bounds, size_t cnt)
{
    return fam->bucket_cnt == cnt &&
           (cnt == 0 || memcmp(fam->bounds, bounds, cnt * sizeof(double)) == 0);
}

/* Checks the request; the reason goes to the log since the caller only
 * sees NULL. */
static const char *check_request(const metric_req_t *req)
{
    bool hist = req->type == METRIC_HISTOGRAM;

    if (!name_is_valid(req->name))
        return "invalid metric name";
    if (!labels_are_valid(req->labels, hist))
        return "invalid label set";
    if (hist && !bounds_are_valid(req->bounds, req->bucket_cnt))
        return "bucket bounds must be finite and strictly increasing";
    return NULL;
}

/* Caller holds reg->lock. */
static series_t *lookup_or_add(mw_metrics_t *reg, const metric_req_t *req,
                               const char **why)
{
    family_t **link = NULL;
    family_t *fam = family_find(reg, req->name, &link);
    if (fam && fam->type != req->type) {
        *why = "name already registered with another type";
        return NULL;
    }
    if (fam && req->type == METRIC_HISTOGRAM &&
        !same_bounds(fam, req->bounds, req->bucket_cnt)) {
        *why = "histogram already registered with other buckets";
        return NULL;
    }
    if (!fam) {
        fam = family_add(link, req);
        if (!fam) {
            *why = "out of memory";
            return NULL;
        }
    }
    for (series_t *s = fam->head; s; s = s->next)
        if (strcmp(s->labels, req->labels) == 0)
            return s;
    series_t *s = series_add(fam, req->labels);
    if (!s)
        *why = "out of memory";
    return s;
}

static series_t *metrics_register(mw_metrics_t *reg, metric_req_t req)
{
    if (!reg)
        return NULL;
    if (!req.labels)
        req.labels = "";
    const char *why = check_request(&req);
    series_t *s = NULL;
    if (!why) {
        pthread_mutex_lock(&reg->lock);
        s = lookup_or_add(reg, &req, &why);
        pthread_mutex_unlock(&reg->lock);
    }
    if (!s)
        mw_log_error(LOG_COMP, "metric registration refused",
                     "name=%s type=%s labels=%s reason=%s",
                     mw_log_q(req.name ? req.name : "(null)"),
                     type_names[req.type], mw_log_q(req.labels), mw_log_q(why));
    return s;
}

mw_counter_t *mw_metrics_counter(mw_metrics_t *reg, const char *name,
                                 const char *help, const char *labels)
{
    series_t *s = metrics_register(reg, (metric_req_t){.name = name,
                                                       .help = help,
                                                       .labels = labels,
                                                       .type = METRIC_COUNTER});
    return s ? &s->u.counter : NULL;
}

mw_gauge_t *mw_metrics_gauge(mw_metrics_t *reg, const char *name,
                             const char *help, const char *labels)
{
    series_t *s = metrics_register(reg, (metric_req_t){.name = name,
                                                       .help = help,
                                                       .labels = labels,
                                                       .type = METRIC_GAUGE});
    return s ? &s->u.gauge : NULL;
}

mw_histogram_t *mw_metrics_histogram(mw_metrics_t *reg, const char *name,
                                     const char *help, const char *labels,
                                     const double *bounds, size_t bucket_cnt)
{
    if (!bounds) {
        bounds = default_bounds;
        bucket_cnt = sizeof(default_bounds) / sizeof(default_bounds[0]);
    }
    series_t *s =
        metrics_register(reg, (metric_req_t){.name = name,
                                             .help = help,
                                             .labels = labels,
                                             .type = METRIC_HISTOGRAM,
                                             .bounds = bounds,
                                             .bucket_cnt = bucket_cnt});
    return s ? &s->u.hist : NULL;
}

/* ------------------------------------------------------------ updates */

void mw_counter_add(mw_counter_t *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

uint64_t mw_counter_get(const mw_counter_t *c)
{
    if (!c)
        return 0;
    return atomic_load_explicit(&((mw_counter_t *)c)->value,
                                memory_order_relaxed);
}

void mw_gauge_set(mw_gauge_t *g, double v)
{
    if (g)
        atomic_store_explicit(&g->bits, dbl_bits(v), memory_order_relaxed);
}

void mw_gauge_add(mw_gauge_t *g, double delta)
{
    if (g)
        atomic_dbl_add(&g->bits, delta);
}

double mw_gauge_get(const mw_gauge_t *g)
{
    if (!g)
        return 0.0;
    return bits_dbl(
        atomic_load_explicit(&((mw_gauge_t *)g)->bits, memory_order_relaxed));
}

void mw_histogram_observe(mw_histogram_t *h, double v)
{
    if (!h)
        return;
    /* The first bound >= v; NaN and values above every bound land in the
     * +Inf bucket.  Linear: bucket lists are short. */
    size_t i = 0;
    while (i < h->bucket_cnt && !(v <= h->bounds[i]))
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_dbl_add(&h->sum_bits, v);
}

uint64_t mw_histogram_count(const mw_histogram_t *h)
{
    if (!h)
        return 0;
    return atomic_load_explicit(&((mw_histogram_t *)h)->count,
                                memory_order_relaxed);
}

/* ------------------------------------------------------------ rendering */

/* Shortest text that reads back as the same double, so 0.1 prints "0.1"
 * and 3 prints "3"; Prometheus spells the specials +Inf, -Inf, NaN. */
static void format_double(double v, char *out, size_t size)
{
    if (isnan(v)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    snprintf(out, size, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, size, "%.17g", v);
}

static int render_help(mw_buf_t *out, const family_t *fam)
{
    int rc = mw_buf_appendf(out, "# HELP %s ", fam->name);
    for (const char *p = fam->help; rc == 0 && *p; p++) {
        if (*p == '\\')
            rc = mw_buf_append(out, "\\\\", 2);
        else if (*p == '\n')
            rc = mw_buf_append(out, "\\n", 2);
        else
            rc = mw_buf_append(out, p, 1);
    }
    if (rc == 0)
        rc = mw_buf_appendf(out, "\n# TYPE %s %s\n", fam->name,
                            type_names[fam->type]);
    return rc;
}

/* One `name{labels} value` line; suffix is "" or "_sum", "_count". */
static int render_line(mw_buf_t *out, const char *name, const char *suffix,
                       const char *labels, const char *value)
{
    if (labels[0] == '\0')
        return mw_buf_appendf(out, "%s%s %s\n", name, suffix, value);
    return mw_buf_appendf(out, "%s%s{%s} %s\n", name, suffix, labels, value);
}

static int render_bucket(mw_buf_t *out, const char *name, const char *labels,
                         const char *le, uint64_t cumulative)
{
    return mw_buf_appendf(out, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name,
                          labels, labels[0] ? "," : "", le, cumulative);
}

static int render_histogram(mw_buf_t *out, const char *name, const series_t *s)
{
    struct mw_histogram *h = (struct mw_histogram *)&s->u.hist;
    char num[64];
    uint64_t cumulative = 0;
    int rc = 0;
    /* _count is the +Inf bucket as read here, not h->count, so a scrape
     * racing with observations is still self-consistent. */
    for (size_t i = 0; rc == 0 && i <= h->bucket_cnt; i++) {
        cumulative +=
            atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->bucket_cnt)
            format_double(h->bounds[i], num, sizeof(num));
        else
            snprintf(num, sizeof(num), "+Inf");
        rc = render_bucket(out, name, s->labels, num, cumulative);
    }
    format_double(
        bits_dbl(atomic_load_explicit(&h->sum_bits, memory_order_relaxed)), num,
        sizeof(num));
    if (rc == 0)
        rc = render_line(out, name, "_sum", s->labels, num);
    snprintf(num, sizeof(num), "%" PRIu64, cumulative);
    if (rc == 0)
        rc = render_line(out, name, "_count", s->labels, num);
    return rc;
}

static int render_series(mw_buf_t *out, const family_t *fam, const series_t *s)
{
    char num[64];
    switch (fam->type) {
    case METRIC_COUNTER:
        snprintf(num, sizeof(num), "%" PRIu64, mw_counter_get(&s->u.counter));
        return render_line(out, fam->name, "", s->labels, num);
    case METRIC_GAUGE:
        format_double(mw_gauge_get(&s->u.gauge), num, sizeof(num));
        return render_line(out, fam->name, "", s->labels, num);
    case METRIC_HISTOGRAM:
        return render_histogram(out, fam->name, s);
    }
    return 0;
}

int mw_metrics_render(mw_metrics_t *reg, mw_buf_t *out)
{
    if (!reg)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&reg->lock);
    for (const family_t *fam = reg->families; rc == 0 && fam; fam = fam->next) {
        rc = render_help(out, fam);
        for (const series_t *s = fam->head; rc == 0 && s; s = s->next)
            rc = render_series(out, fam, s);
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}
