/*
 * bk_conf: turns the program's kafka.* keys into a librdkafka configuration
 * and owns what every librdkafka handle shares: the error translation table,
 * the log and error callbacks, and rd_kafka_new's ownership quirk.
 *
 * Layering: defaults for the role < `extra` properties chosen by the caller
 * (group.id) < the user's kafka.* keys, so the user can always override a
 * default.  Each kafka.* key is checked by librdkafka itself; its refusal is
 * reported with our key name so main exits 2 with a message naming it.
 *
 * Threads: bk_conf_* run on the main thread at start-up.  The log callback
 * is called from librdkafka's internal threads (mw_log is thread-safe); the
 * error callback is served by rd_kafka_poll / rd_kafka_consumer_poll on the
 * polling thread, which is the only writer of bk_client_t.
 */
#include "bk_conf.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <jansson.h>

#include "bk_int.h"
#include "mw_log.h"

#define BK_DEFAULT_BOOTSTRAP "127.0.0.1:9092"
#define BK_STATS_INTERVAL_MS "5000"

/* Defaults per role, NULL-terminated key/value pairs. */
static const char *const bk_defaults_common[] = {"bootstrap.servers",
                                                 BK_DEFAULT_BOOTSTRAP, NULL};
static const char *const bk_defaults_producer[] = {
    "enable.idempotence", "true",      "acks", "all", "partitioner",
    "murmur2_random",     "linger.ms", "5",    NULL};
/* queued.*: librdkafka 2.0.2 stops fetching a partition once the consumer
 * queue holds queued.min.messages records or queued.max.messages.kbytes of
 * payload, and backs that partition off for ~1 s instead of resuming when
 * the application drains the queue.  With its defaults (100000, 64 MiB) a
 * consumer with a backlog of small records drains the queue in ~40 ms and
 * then waits up to a second: measured 0.3-0.5 M rec/s instead of 2-2.6 M
 * for 100-byte values.  With 1 M records / 256 MiB (the count binds below
 * ~270-byte values, the bytes above) no pause showed in the same backlogs
 * (2.1-2.6 M rec/s at 100 B, ~1 M at 1 KiB); 1 M with 64 MiB still stalled
 * 1 KiB backlogs (~0.37 M rec/s in 6 runs of 8).  The price
 * is memory while behind: up to 256 MiB of queued payload plus librdkafka's
 * per-record overhead (RSS 130-230 MB vs 65-140 MB while reading a 150 MB
 * backlog).  Callers with less memory set kafka.queued.* lower. */
static const char *const bk_defaults_consumer[] = {"enable.auto.commit",
                                                   "false",
                                                   "enable.auto.offset.store",
                                                   "false",
                                                   "auto.offset.reset",
                                                   "earliest",
                                                   "queued.min.messages",
                                                   "1000000",
                                                   "queued.max.messages.kbytes",
                                                   "262144",
                                                   NULL};
static const char *const bk_defaults_none[] = {NULL};

static const char *const *const bk_role_defaults[BK_ROLE__CNT] = {
    [BK_ROLE_PRODUCER] = bk_defaults_producer,
    [BK_ROLE_CONSUMER] = bk_defaults_consumer,
    [BK_ROLE_ADMIN] = bk_defaults_none,
};

static const char *const bk_role_names[BK_ROLE__CNT] = {
    [BK_ROLE_PRODUCER] = "producer",
    [BK_ROLE_CONSUMER] = "consumer",
    [BK_ROLE_ADMIN] = "admin",
};
_Static_assert(BK_ROLE__CNT == 3, "bk_role_names matches bk_role_t");

const char *bk_role_name(bk_role_t role)
{
    return (unsigned)role < BK_ROLE__CNT ? bk_role_names[role] : "unknown";
}

/* ------------------------------------------------------------ errors */

int bk_err_code(rd_kafka_resp_err_t rerr)
{
    switch (rerr) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return MW_OK;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return MW_ERR_FULL;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
        return MW_ERR_INVALID;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__NOENT:
        return MW_ERR_NOT_FOUND;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        return MW_ERR_EXISTS;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return MW_ERR_TIMEOUT;
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
        return MW_ERR_UNSUPPORTED;
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        return MW_ERR_FATAL;
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR__DESTROY:
        return MW_ERR_STATE;
    default:
        /* Everything else is a broker or network condition librdkafka
         * retries on its own: the caller backs off. */
        return MW_ERR_TRANSPORT;
    }
}

int bk_err_set(mw_err_t *err, rd_kafka_resp_err_t rerr, const char *what)
{
    return mw_err_set(err, bk_err_code(rerr), "%s: %s (%s)", what,
                      rd_kafka_err2str(rerr), rd_kafka_err2name(rerr));
}

int bk_err_set_obj(mw_err_t *err, rd_kafka_error_t *error, const char *what)
{
    int code = rd_kafka_error_is_fatal(error)
                   ? MW_ERR_FATAL
                   : bk_err_code(rd_kafka_error_code(error));

    mw_err_set(err, code, "%s: %s (%s)", what, rd_kafka_error_string(error),
               rd_kafka_error_name(error));
    rd_kafka_error_destroy(error);
    return code;
}

int bk_client_check_fatal(bk_client_t *cli, mw_err_t *err)
{
    if (!cli->fatal_code)
        return 0;
    return mw_err_set(err, MW_ERR_FATAL, "kafka %s fatal error: %s",
                      bk_role_name(cli->role), cli->fatal_msg);
}

/* ------------------------------------------------------------ callbacks */

/* Any librdkafka thread: librdkafka's syslog levels to ours.  CONFWARN
 * ("consumer property ignored by this producer") is debug: a program's
 * kafka.* keys serve its producer and its consumer alike by design. */
static void bk_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    mw_log_level_t lvl = level <= LOG_ERR       ? MW_LOG_ERROR
                         : level == LOG_WARNING ? MW_LOG_WARN
                         : level <= LOG_INFO    ? MW_LOG_INFO
                                                : MW_LOG_DEBUG;

    if (!strcmp(fac, "CONFWARN") && lvl == MW_LOG_WARN)
        lvl = MW_LOG_DEBUG;

    mw_log(lvl, BK_COMPONENT, "librdkafka", "client=%s fac=%s text=%s",
           rd_kafka_name(rk), mw_log_q(fac), mw_log_q(buf));
}

/* Polling thread.  Classifies: (1) fatal: kept so every later call returns
 * MW_ERR_FATAL; (2) all brokers down: warned once until a later error
 * shows a change; (3) the rest is retried by librdkafka: warn the first and
 * every 100th, debug otherwise. */
static void bk_error_cb(rd_kafka_t *rk, int rerr, const char *reason,
                        void *opaque)
{
    bk_client_t *cli = opaque;

    if (rerr == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[MW_ERR_MSG_MAX - 64];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        cli->fatal_code = MW_ERR_FATAL;
        snprintf(cli->fatal_msg, sizeof(cli->fatal_msg), "%s (%s)", buf,
                 rd_kafka_err2name(orig));
        mw_log_error(BK_COMPONENT, "fatal client error", "client=%s reason=%s",
                     rd_kafka_name(rk), mw_log_q(cli->fatal_msg));
        return;
    }
    if (rerr == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        if (!cli->brokers_down)
            mw_log_warn(BK_COMPONENT, "all brokers down", "client=%s reason=%s",
                        rd_kafka_name(rk), mw_log_q(reason));
        cli->brokers_down = true;
        return;
    }
    cli->error_cnt++;
    mw_log(cli->error_cnt % 100 == 1 ? MW_LOG_WARN : MW_LOG_DEBUG, BK_COMPONENT,
           "client error", "client=%s err=%s reason=%s count=%llu",
           rd_kafka_name(rk), rd_kafka_err2name(rerr), mw_log_q(reason),
           (unsigned long long)cli->error_cnt);
}

/* True when the statistics JSON lists a broker in state "UP". */
static bool bk_stats_broker_up(const char *json, size_t json_len)
{
    json_t *root = json_loadb(json, json_len, 0, NULL);
    json_t *brokers = json_object_get(root, "brokers"), *b;
    const char *name;
    bool up = false;

    json_object_foreach(brokers, name, b)
    {
        const char *state = json_string_value(json_object_get(b, "state"));

        up |= state && strcmp(state, "UP") == 0;
    }
    json_decref(root);
    return up;
}

/* Polling thread.  Clears brokers_down once a statistics report shows a
 * broker connected again (the only sign of recovery when nothing is being
 * delivered), then hands the report to bk_stats. */
static int bk_stats_watch_cb(rd_kafka_t *rk, char *json, size_t json_len,
                             void *opaque)
{
    bk_client_t *cli = opaque;

    if (cli->brokers_down && bk_stats_broker_up(json, json_len)) {
        cli->brokers_down = false;
        mw_log_info(BK_COMPONENT, "brokers reachable again", "client=%s",
                    rd_kafka_name(rk));
    }
    return bk_stats_cb(rk, json, json_len, opaque);
}

/* ------------------------------------------------------------ building */

static int bk_set(rd_kafka_conf_t *rconf, const char *key, const char *value,
                  const char *origin, mw_err_t *err)
{
    char errstr[256];

    if (rd_kafka_conf_set(rconf, key, value, errstr, sizeof(errstr)) ==
        RD_KAFKA_CONF_OK)
        return 0;
    return mw_err_set(err, MW_ERR_CONFIG, "key 'kafka.%s': %s (from %s)", key,
                      errstr, origin);
}

static int bk_set_pairs(rd_kafka_conf_t *rconf, const char *const *kv,
                        mw_err_t *err)
{
    for (; kv && kv[0]; kv += 2) {
        int rc = bk_set(rconf, kv[0], kv[1], "default", err);
        if (rc)
            return rc;
    }
    return 0;
}

typedef struct bk_user_ctx {
    rd_kafka_conf_t *rconf;
    mw_err_t *err;
} bk_user_ctx_t;

static int bk_set_user_key(const char *subkey, const char *value,
                           const char *origin, void *opaque)
{
    bk_user_ctx_t *ctx = opaque;

    return bk_set(ctx->rconf, subkey, value, origin, ctx->err);
}

rd_kafka_conf_t *bk_conf_build(const mw_conf_t *conf, bk_role_t role,
                               const char *const *extra, bk_client_t *cli,
                               mw_err_t *err)
{
    rd_kafka_conf_t *rconf = rd_kafka_conf_new();
    bk_user_ctx_t ctx = {.rconf = rconf, .err = err};
    char name[64];

    snprintf(name, sizeof(name), "meshwork-%s", bk_role_name(role));
    if (bk_set_pairs(rconf, bk_defaults_common, err) ||
        bk_set_pairs(rconf, bk_role_defaults[role], err) ||
        bk_set(rconf, "client.id", name, "default", err) ||
        (cli && cli->stats &&
         bk_set(rconf, "statistics.interval.ms", BK_STATS_INTERVAL_MS,
                "default", err)) ||
        bk_set_pairs(rconf, extra, err) ||
        mw_conf_foreach_prefix(conf, "kafka.", bk_set_user_key, &ctx)) {
        rd_kafka_conf_destroy(rconf);
        if (err && !err->code)
            mw_err_set(err, MW_ERR_CONFIG, "kafka configuration refused");
        return NULL;
    }
    rd_kafka_conf_set_log_cb(rconf, bk_log_cb);
    if (cli) {
        cli->role = role;
        rd_kafka_conf_set_opaque(rconf, cli);
        rd_kafka_conf_set_error_cb(rconf, bk_error_cb);
        if (cli->stats)
            rd_kafka_conf_set_stats_cb(rconf, bk_stats_watch_cb);
    }
    return rconf;
}

rd_kafka_t *bk_client_open(bk_client_t *cli, rd_kafka_conf_t *rconf,
                           mw_err_t *err)
{
    char errstr[256];
    rd_kafka_type_t type =
        cli->role == BK_ROLE_CONSUMER ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER;

    cli->rk = rd_kafka_new(type, rconf, errstr, sizeof(errstr));
    if (!cli->rk) {
        /* rd_kafka_new takes the conf only on success. */
        rd_kafka_conf_destroy(rconf);
        mw_err_set(err, MW_ERR_CONFIG, "kafka %s: %s", bk_role_name(cli->role),
                   errstr);
    }
    return cli->rk;
}

/* ------------------------------------------------------------ public */

int bk_conf_keys_check(const mw_conf_t *conf, mw_err_t *err)
{
    rd_kafka_conf_t *rconf =
        bk_conf_build(conf, BK_ROLE_ADMIN, NULL, NULL, err);

    if (!rconf)
        return err ? err->code : MW_ERR_CONFIG;
    rd_kafka_conf_destroy(rconf);
    return 0;
}

int bk_conf_effective(const mw_conf_t *conf, bk_role_t role, const char *rdkey,
                      char *buf, size_t size, mw_err_t *err)
{
    rd_kafka_conf_t *rconf = bk_conf_build(conf, role, NULL, NULL, err);
    size_t len = size;
    rd_kafka_conf_res_t res;

    if (!rconf)
        return err ? err->code : MW_ERR_CONFIG;
    res = rd_kafka_conf_get(rconf, rdkey, buf, &len);
    rd_kafka_conf_destroy(rconf);
    if (res == RD_KAFKA_CONF_UNKNOWN)
        return mw_err_set(err, MW_ERR_NOT_FOUND,
                          "librdkafka has no property '%s'", rdkey);
    if (len > size)
        return mw_err_set(err, MW_ERR_FULL,
                          "value of '%s' needs %zu bytes, %zu given", rdkey,
                          len, size);
    return 0;
}

int bk_conf_first_bootstrap(const mw_conf_t *conf, char *buf, size_t size,
                            mw_err_t *err)
{
    char list[1024];
    const char *start;
    size_t len;
    int rc = bk_conf_effective(conf, BK_ROLE_ADMIN, "bootstrap.servers", list,
                               sizeof(list), err);

    if (rc)
        return rc;
    start = strstr(list, "://");
    start = start ? start + 3 : list;
    len = strcspn(start, ", ");
    if (len == 0)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'kafka.bootstrap.servers': empty list");
    if (len >= size)
        return mw_err_set(err, MW_ERR_FULL, "bootstrap address too long");
    memcpy(buf, start, len);
    buf[len] = '\0';
    return 0;
}
