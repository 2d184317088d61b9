/*
 * pr_source: the front of mesh-producer's sources.  The registration table
 * below is the only place the backends are listed: the `source` key's
 * allowed values, the backends' keys in --help and the docs, and the names
 * in messages all come from it.  The front picks the backend the key
 * chose and forwards the lifecycle calls to its ops.
 *
 * Thread: the daemon's loop thread.
 */
#include "pr_source.h"

#include <stdlib.h>
#include <string.h>

extern const pr_source_ops_t pr_source_http_ops;
extern const pr_source_ops_t pr_source_file_ops;
extern const pr_source_ops_t pr_source_pg_ops;

/* The registration table: a new backend is one line here. */
static const pr_source_ops_t *const pr_backends[] = {
    &pr_source_http_ops,
    &pr_source_file_ops,
    &pr_source_pg_ops,
};

#define PR_BACKEND_CNT (sizeof(pr_backends) / sizeof(*pr_backends))

static const mw_conf_backend_t *pr_backend_at(size_t i)
{
    return i < PR_BACKEND_CNT ? &pr_backends[i]->conf : NULL;
}

const mw_conf_choice_t pr_source_choice = {
    .key = {.name = "source",
            .required = true,
            .doc = "Where events come from."},
    .backend_at = pr_backend_at,
};

struct pr_source {
    const pr_source_ops_t *ops;
    void *state;
    bool started, stopped;
};

pr_source_t *pr_source_open(const pr_source_env_t *env, mw_err_t *err)
{
    const mw_conf_backend_t *be = mw_conf_chosen(env->conf, &pr_source_choice);
    const pr_source_ops_t *ops = NULL;
    pr_source_t *src;
    char names[128];

    for (size_t i = 0; be && i < PR_BACKEND_CNT; i++)
        if (&pr_backends[i]->conf == be)
            ops = pr_backends[i];
    if (!ops) {
        const char *name = mw_conf_get_str(env->conf, "source");

        mw_conf_choice_names(&pr_source_choice, names, sizeof(names));
        mw_err_set(err, MW_ERR_CONFIG,
                   "key 'source': '%s' is not a known "
                   "source (expected %s)",
                   name ? name : "", names);
        return NULL;
    }
    src = calloc(1, sizeof(*src));
    if (!src) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the source");
        return NULL;
    }
    src->ops = ops;
    src->state = ops->open(env, err);
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

bool pr_source_health(const pr_source_t *src, char *reason, size_t reason_size)
{
    if (!src->ops->health)
        return true;
    return src->ops->health(src->state, reason, reason_size);
}

void pr_source_close(pr_source_t *src)
{
    if (!src)
        return;
    src->ops->close(src->state);
    free(src);
}

const char *pr_source_name(const pr_source_t *src)
{
    return src->ops->conf.name;
}

void pr_source_ready_info(const pr_source_t *src, json_t *ready)
{
    if (src->ops->ready_info)
        src->ops->ready_info(src->state, ready);
}
