/*
 * pr_http_topics: which topics the http source may produce to, and the
 * REST Proxy's discovery calls (GET /topics, GET /topics/{topic}).
 *
 * The REST Proxy answers 40401 for a topic that does not exist instead of
 * letting the producer auto-create it, so every produce call first asks
 * this cache.  A miss asks the cluster through bk_admin (Kafka protocol, or
 * mesh-broker's control endpoint), which blocks the loop for at most one
 * admin round trip: accepted because it happens once per topic per TTL, not
 * per request.  Invariants:
 *   - a topic seen to exist stays usable while the cluster cannot be asked
 *     (a stale positive answer is better than refusing intake while Kafka
 *     itself will decide per record);
 *   - a topic seen missing is asked again after NEG_TTL_MS, so a topic
 *     created meanwhile is accepted within that time;
 *   - the cache holds at most CACHE_MAX entries (oldest replaced first),
 *     found by name through an mw_htab index.
 *
 * Thread: the daemon's loop thread.
 */
#include "pr_http_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "bk_admin.h"
#include "mw_hash.h"
#include "mw_log.h"
#include "mw_time.h"
#include "pr_emit.h"
#include "sr_proto.h"

#define CACHE_MAX 256
#define POS_TTL_MS 60000 /* partitions may be added: re-read now and then */
#define NEG_TTL_MS 2000

typedef struct topic_entry {
    char *name;     /* the index's key (borrowed by it) */
    int partitions; /* 0: the topic does not exist */
    int64_t expires_ms;
    int64_t stored_ms;
} topic_entry_t;

struct pr_http_topics {
    bk_admin_t *admin;
    topic_entry_t entries[CACHE_MAX];
    size_t cnt;
    mw_htab_t *index; /* name -> entry */
};

int pr_http_status(int code)
{
    return code == PR_HTTP_E_KAFKA_RETRIABLE ? 503 : sr_proto_http_status(code);
}

void pr_http_reply_json(struct evhttp_request *req, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        pr_http_reply_error(req, PR_HTTP_E_INTERNAL, "out of memory");
        return;
    }
    struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdrs, "Content-Type", PR_HTTP_CT_REPLY);
    struct evbuffer *out = evbuffer_new();
    if (out)
        evbuffer_add(out, text, strlen(text));
    evhttp_send_reply(req, status, NULL, out);
    if (out)
        evbuffer_free(out);
    free(text);
}

void pr_http_reply_error(struct evhttp_request *req, int code, const char *fmt,
                         ...)
{
    char msg[MW_ERR_MSG_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int status = pr_http_status(code);
    struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdrs, "Content-Type", PR_HTTP_CT_REPLY);
    if (status == 503)
        evhttp_add_header(hdrs, "Retry-After", "1");
    /* sr_proto_error_body builds the same {"error_code","message"} shape
     * Confluent's registry and REST Proxy share. */
    char *body = sr_proto_error_body(code, msg);
    struct evbuffer *out = evbuffer_new();
    if (out && body)
        evbuffer_add(out, body, strlen(body));
    evhttp_send_reply(req, status, NULL, out);
    if (out)
        evbuffer_free(out);
    free(body);
}

pr_http_topics_t *pr_http_topics_new(const mw_conf_t *conf, mw_err_t *err)
{
    pr_http_topics_t *tc = calloc(1, sizeof(*tc));
    if (!tc) {
        mw_err_set(err, MW_ERR_NOMEM, "http source: out of memory");
        return NULL;
    }
    tc->index = mw_htab_new(CACHE_MAX);
    if (!tc->index) {
        free(tc);
        mw_err_set(err, MW_ERR_NOMEM, "http source: out of memory");
        return NULL;
    }
    tc->admin = bk_admin_new(conf, err);
    if (!tc->admin) {
        mw_htab_destroy(tc->index);
        free(tc);
        return NULL;
    }
    return tc;
}

void pr_http_topics_destroy(pr_http_topics_t *tc)
{
    if (!tc)
        return;
    for (size_t i = 0; i < tc->cnt; i++)
        free(tc->entries[i].name);
    mw_htab_destroy(tc->index);
    bk_admin_destroy(tc->admin);
    free(tc);
}

static topic_entry_t *cache_find(pr_http_topics_t *tc, const char *topic)
{
    return mw_htab_get_str(tc->index, topic);
}

/* Stores (or refreshes) topic's answer; when full, the oldest entry goes. */
static void cache_store(pr_http_topics_t *tc, const char *topic, int partitions)
{
    int64_t now = mw_time_mono_ms();
    topic_entry_t *e = cache_find(tc, topic);
    if (!e) {
        char *name = strdup(topic);
        if (!name)
            return;
        if (tc->cnt < CACHE_MAX) {
            e = &tc->entries[tc->cnt++];
        } else {
            e = &tc->entries[0];
            for (size_t i = 1; i < tc->cnt; i++)
                if (tc->entries[i].stored_ms < e->stored_ms)
                    e = &tc->entries[i];
            mw_htab_del_str(tc->index, e->name);
            free(e->name);
        }
        e->name = name;
        if (mw_htab_put_str(tc->index, e->name, e, NULL) != 0) {
            /* Out of memory: forget the slot (the last one moves into it;
             * re-pointing an indexed name never allocates). */
            topic_entry_t *last = &tc->entries[--tc->cnt];
            free(name);
            if (last != e) {
                *e = *last;
                mw_htab_put_str(tc->index, e->name, e, NULL);
            }
            return;
        }
    }
    e->partitions = partitions;
    e->stored_ms = now;
    e->expires_ms = now + (partitions > 0 ? POS_TTL_MS : NEG_TTL_MS);
}

int pr_http_topics_lookup(pr_http_topics_t *tc, const char *topic,
                          int *partitions, mw_err_t *err)
{
    topic_entry_t *e = cache_find(tc, topic);
    if (e && e->expires_ms > mw_time_mono_ms()) {
        *partitions = e->partitions;
        return e->partitions > 0 ? 0
                                 : mw_err_set(err, MW_ERR_NOT_FOUND,
                                              "topic %s not found", topic);
    }
    bk_topic_info_t *info = NULL;
    mw_err_t aerr;
    mw_err_clear(&aerr);
    int rc = bk_admin_describe_topic(tc->admin, topic, &info, &aerr);
    if (rc == 0) {
        *partitions = info->partitions > 0 ? info->partitions : 1;
        bk_topic_info_destroy(info);
        cache_store(tc, topic, *partitions);
        return 0;
    }
    if (rc == MW_ERR_NOT_FOUND) {
        cache_store(tc, topic, 0);
        return mw_err_set(err, MW_ERR_NOT_FOUND, "topic %s not found", topic);
    }
    /* The cluster cannot say: keep serving a topic known to exist. */
    mw_log_warn("http", "topic lookup failed", "topic=%s error=%s",
                mw_log_q(topic), mw_log_q(aerr.msg));
    if (e && e->partitions > 0) {
        *partitions = e->partitions;
        return 0;
    }
    return mw_err_set(err, rc, "%s", aerr.msg);
}

void pr_http_topics_get_list(pr_http_topics_t *tc, struct evhttp_request *req)
{
    bk_topic_info_t *topics = NULL;
    size_t cnt = 0;
    mw_err_t err;
    mw_err_clear(&err);
    if (bk_admin_list_topics(tc->admin, &topics, &cnt, &err) != 0) {
        pr_http_reply_error(req, PR_HTTP_E_KAFKA_RETRIABLE,
                            "Retriable Kafka error: %s", err.msg);
        return;
    }
    /* REST Proxy v2 answers a bare array of names. */
    json_t *names = json_array();
    for (size_t i = 0; names && i < cnt; i++) {
        json_array_append_new(names, json_string(topics[i].name));
        cache_store(tc, topics[i].name,
                    topics[i].partitions > 0 ? topics[i].partitions : 1);
    }
    bk_topic_list_destroy(topics, cnt);
    pr_http_reply_json(req, 200, names);
}

/* {"name", "configs": {...}, "partitions": [{"partition", "leader",
 * "replicas"}]}: the REST Proxy v2 shape.  bk_admin does not report leaders
 * or replica placement, so "leader" is -1 and "replicas" empty. */
static json_t *topic_json(const bk_topic_info_t *info)
{
    json_t *configs = json_object();
    for (size_t i = 0; configs && i < info->config_cnt; i++)
        json_object_set_new(configs, info->configs[i].key,
                            json_string(info->configs[i].value));
    json_t *parts = json_array();
    for (int p = 0; parts && p < info->partitions; p++)
        json_array_append_new(parts, json_pack("{s:i,s:i,s:[]}", "partition", p,
                                               "leader", -1, "replicas"));
    return json_pack("{s:s,s:o,s:o}", "name", info->name, "configs", configs,
                     "partitions", parts);
}

void pr_http_topics_get_one(pr_http_topics_t *tc, struct evhttp_request *req,
                            const char *topic)
{
    bk_topic_info_t *info = NULL;
    mw_err_t err;
    mw_err_clear(&err);
    int rc = pr_emit_topic_is_valid(topic)
                 ? bk_admin_describe_topic(tc->admin, topic, &info, &err)
                 : MW_ERR_NOT_FOUND;
    if (rc == MW_ERR_NOT_FOUND) {
        cache_store(tc, topic, 0);
        pr_http_reply_error(req, PR_HTTP_E_TOPIC_NOT_FOUND, "Topic not found.");
        return;
    }
    if (rc != 0) {
        pr_http_reply_error(req, PR_HTTP_E_KAFKA_RETRIABLE,
                            "Retriable Kafka error: %s", err.msg);
        return;
    }
    cache_store(tc, topic, info->partitions > 0 ? info->partitions : 1);
    json_t *body = topic_json(info);
    bk_topic_info_destroy(info);
    pr_http_reply_json(req, 200, body);
}
