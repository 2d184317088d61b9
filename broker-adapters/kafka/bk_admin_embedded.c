/*
 * bk_admin_embedded: the admin backend for mesh-broker, whose mock cluster
 * does not speak CreateTopics or DescribeConfigs.  It calls mesh-broker's
 * control endpoint (HTTP + JSON) at http://<first bootstrap server>/: the
 * bootstrap proxy forwards HTTP requests to the control listener, so the
 * Kafka bootstrap address is all the adapter needs.
 *
 *   POST /topics         {"name","partitions","replication_factor"?,
 *                         "configs"?}  -> 201 | 409 exists | 400 bad input
 *   GET  /topics         -> {"topics":[topic...]}
 *   GET  /topics/{name}  -> topic | 404
 *   topic = {"name","partitions","replication_factor","configs":{k:v}}
 *
 * Blocking calls on a private event_base (mw_http_call), bounded by
 * BK_ADMIN_TIMEOUT_MS; one thread.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_admin_int.h"
#include "bk_conf.h"
#include "mw_http.h"

#define BK_AE_URL_MAX 512

struct bk_admin_be {
    char base[BK_AE_URL_MAX]; /* http://host:port */
};

static bk_admin_be_t *bk_ae_open(const mw_conf_t *conf, mw_err_t *err)
{
    bk_admin_be_t *be = calloc(1, sizeof(*be));
    char first[256];

    if (!be) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for embedded admin");
        return NULL;
    }
    if (bk_conf_first_bootstrap(conf, first, sizeof(first), err)) {
        free(be);
        return NULL;
    }
    snprintf(be->base, sizeof(be->base), "http://%s", first);
    return be;
}

static void bk_ae_close(bk_admin_be_t *be)
{
    free(be);
}

/* What the control endpoint answered: the HTTP status and the parsed JSON
 * body (NULL for an empty body; the caller's, json_decref). */
typedef struct bk_ae_answer {
    int status;
    json_t *root;
} bk_ae_answer_t;

/* One request; on success *ans holds the answer. */
static int bk_ae_call(bk_admin_be_t *be, const char *method, const char *path,
                      const char *body, bk_ae_answer_t *ans, mw_err_t *err)
{
    char url[BK_AE_URL_MAX + 300];
    mw_http_response_t resp = {0};
    json_error_t jerr;
    int rc;

    snprintf(url, sizeof(url), "%s%s", be->base, path);
    rc = mw_http_call(
        url,
        &(mw_http_request_t){.method = method,
                             .content_type = body ? "application/json" : NULL,
                             .body = body,
                             .len = body ? strlen(body) : 0},
        BK_ADMIN_TIMEOUT_MS, &resp, err);
    if (rc)
        return mw_err_prefix(err, "mesh-broker control endpoint %s", be->base);
    ans->status = resp.status;
    ans->root = resp.body ? json_loadb(resp.body, resp.len, 0, &jerr) : NULL;
    if (resp.body && !ans->root)
        rc = mw_err_set(err, MW_ERR_INVALID,
                        "%s %s: answer is not JSON (HTTP %d): %s", method, url,
                        resp.status, jerr.text);
    mw_http_response_clear(&resp);
    return rc;
}

/* Maps an error status to our code with the endpoint's message. */
static int bk_ae_status_err(const bk_ae_answer_t *ans, const char *what,
                            mw_err_t *err)
{
    const char *msg = json_string_value(json_object_get(ans->root, "message"));
    int status = ans->status;
    int code = status == 404   ? MW_ERR_NOT_FOUND
               : status == 409 ? MW_ERR_EXISTS
               : status < 500  ? MW_ERR_INVALID
                               : MW_ERR_TRANSPORT;

    return mw_err_set(err, code, "%s: %s (HTTP %d)", what,
                      msg ? msg : "mesh-broker refused", status);
}

static int bk_ae_topic_from_json(json_t *t, bk_topic_info_t *info,
                                 mw_err_t *err)
{
    const char *name = json_string_value(json_object_get(t, "name"));
    json_t *configs = json_object_get(t, "configs");
    const char *key;
    json_t *v;
    int rc;

    if (!name)
        return mw_err_set(err, MW_ERR_INVALID,
                          "mesh-broker topic without a name");
    info->partitions =
        (int)json_integer_value(json_object_get(t, "partitions"));
    info->replication =
        (int)json_integer_value(json_object_get(t, "replication_factor"));
    if ((rc = bk_topic_info_set_name(info, name, err)))
        return rc;
    json_object_foreach(configs, key, v)
    {
        if ((rc = bk_topic_info_add_config(info, key, json_string_value(v),
                                           err)))
            return rc;
    }
    return 0;
}

static int bk_ae_create(bk_admin_be_t *be, const bk_topic_spec_t *spec,
                        mw_err_t *err)
{
    json_t *req = json_pack("{s:s, s:i}", "name", spec->name, "partitions",
                            spec->partitions);
    json_t *cfg = json_object();
    bk_ae_answer_t ans = {0};
    char *body;
    char what[300];
    int rc;

    for (size_t i = 0; i < spec->config_cnt; i++)
        json_object_set_new(cfg, spec->configs[i].key,
                            json_string(spec->configs[i].value));
    json_object_set_new(req, "configs", cfg);
    if (spec->replication != BK_REPLICATION_DEFAULT)
        json_object_set_new(req, "replication_factor",
                            json_integer(spec->replication));
    body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    snprintf(what, sizeof(what), "create topic %s", spec->name);
    rc = bk_ae_call(be, "POST", "/topics", body, &ans, err);
    free(body);
    if (rc == 0 && ans.status != 201 && ans.status != 200)
        rc = bk_ae_status_err(&ans, what, err);
    if (rc == MW_ERR_EXISTS)
        mw_err_set(err, MW_ERR_EXISTS, "%s: topic already exists", what);
    json_decref(ans.root);
    return rc;
}

static int bk_ae_list(bk_admin_be_t *be, bk_topic_info_t **topics, size_t *cnt,
                      mw_err_t *err)
{
    bk_ae_answer_t ans = {0};
    int rc = bk_ae_call(be, "GET", "/topics", NULL, &ans, err);
    json_t *arr;

    if (rc == 0 && ans.status != 200)
        rc = bk_ae_status_err(&ans, "list topics", err);
    arr = json_object_get(ans.root, "topics");
    if (rc == 0 && !json_is_array(arr))
        rc = mw_err_set(err, MW_ERR_INVALID,
                        "list topics: mesh-broker answer lacks \"topics\"");
    if (rc == 0 &&
        !(*topics = calloc(json_array_size(arr) + 1, sizeof(**topics))))
        rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < json_array_size(arr); i++) {
        rc = bk_ae_topic_from_json(json_array_get(arr, i), &(*topics)[*cnt],
                                   err);
        (*cnt)++; /* counted even when half-filled, so it is freed */
    }
    json_decref(ans.root);
    return rc;
}

static int bk_ae_describe(bk_admin_be_t *be, const char *name,
                          bk_topic_info_t **info, mw_err_t *err)
{
    char path[300], what[300];
    bk_ae_answer_t ans = {0};
    int rc;

    snprintf(path, sizeof(path), "/topics/%s", name);
    snprintf(what, sizeof(what), "describe topic %s", name);
    rc = bk_ae_call(be, "GET", path, NULL, &ans, err);
    if (rc == 0 && ans.status == 404)
        rc = mw_err_set(err, MW_ERR_NOT_FOUND, "topic %s does not exist", name);
    else if (rc == 0 && ans.status != 200)
        rc = bk_ae_status_err(&ans, what, err);
    if (rc == 0 && !(*info = calloc(1, sizeof(**info))))
        rc = mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    if (rc == 0 && (rc = bk_ae_topic_from_json(ans.root, *info, err))) {
        bk_topic_info_destroy(*info);
        *info = NULL;
    }
    json_decref(ans.root);
    return rc;
}

const bk_admin_ops_t bk_admin_embedded_ops = {
    .name = "embedded",
    .open = bk_ae_open,
    .close = bk_ae_close,
    .create_topic = bk_ae_create,
    .list_topics = bk_ae_list,
    .describe_topic = bk_ae_describe,
};
