/*
 * pr_source: the front of mesh-producer's sources.  It picks the backend
 * named by the `source` key from the registration table below (the only
 * place backends are named) and forwards the lifecycle calls to its ops.
 *
 * Thread: the daemon's loop thread.
 */
#include "pr_source.h"

#include <stdlib.h>
#include <string.h>

extern const pr_source_ops_t pr_source_http_ops;
extern const pr_source_ops_t pr_source_file_ops;

/* The registration table: add a backend here and to the `source` key's
 * allowed values in pr_main.c. */
static const pr_source_ops_t *const pr_backends[] = {
    &pr_source_http_ops,
    &pr_source_file_ops,
};

struct pr_source {
    const pr_source_ops_t *ops;
    void *state;
    bool started, stopped;
};

static const pr_source_ops_t *pr_source_find(const char *name)
{
    for (size_t i = 0; i < sizeof(pr_backends) / sizeof(*pr_backends); i++)
        if (name && !strcmp(pr_backends[i]->name, name))
            return pr_backends[i];
    return NULL;
}

pr_source_t *pr_source_new(struct event_base *base, const mw_conf_t *conf,
                           pr_emit_t *emit, mw_metrics_t *metrics,
                           mw_err_t *err)
{
    const char *name = mw_conf_get_str(conf, "source");
    const pr_source_ops_t *ops = pr_source_find(name);
    pr_source_t *src;

    if (!ops) {
        mw_err_set(err, MW_ERR_CONFIG, "key 'source': '%s' is not a known "
                   "source", name ? name : "");
        return NULL;
    }
    src = calloc(1, sizeof(*src));
    if (!src) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the source");
        return NULL;
    }
    src->ops = ops;
    src->state = ops->create(base, conf, emit, metrics, err);
    if (!src->state) {
        free(src);
        return NULL;
    }
    return src;
}

int pr_source_start(pr_source_t *src, mw_err_t *err)
{
    int rc = src->ops->start(src->state, err);

    src->started = rc == 0;
    return rc;
}

void pr_source_stop(pr_source_t *src)
{
    /* Nothing to stop before a successful start (a start-up failure). */
    if (!src || src->stopped || !src->started)
        return;
    src->stopped = true;
    src->ops->stop(src->state);
}

bool pr_source_is_drained(const pr_source_t *src)
{
    return !src || src->ops->is_drained(src->state);
}

bool pr_source_health(const pr_source_t *src, char *reason,
                      size_t reason_size)
{
    if (!src->ops->health)
        return true;
    return src->ops->health(src->state, reason, reason_size);
}

void pr_source_destroy(pr_source_t *src)
{
    if (!src)
        return;
    src->ops->destroy(src->state);
    free(src);
}

const char *pr_source_name(const pr_source_t *src)
{
    return src->ops->name;
}

void pr_source_ready_info(const pr_source_t *src, json_t *ready)
{
    if (src->ops->ready_info)
        src->ops->ready_info(src->state, ready);
}
