/*
 * ctl_avro: framed Avro to JSON text and back for the console
 * (ctl_avro.h).  Decoding uses the writer schema as its own reader (what
 * was written is what is shown); encoding parses the line with jansson and
 * goes through av_serde's checked path, whose errors name the JSON path of
 * the value that does not fit.
 *
 * Main thread.
 */
#include "ctl_avro.h"

#include <stdlib.h>
#include <string.h>

#include "av_serde.h"
#include "ctl_registry.h"
#include "mw_buf.h"
#include "sr_client.h"
#include "sr_frame.h"

#define CTL_AVRO_TIMEOUT_MS 10000
#define CTL_AVRO_MAX_BYTES (64u * 1024 * 1024)

struct ctl_avro {
    sr_client_t *client;
    av_serde_cache_t *plans;
    mw_buf_t *buf;
    char *text; /* the last decoded value */
};

ctl_avro_t *ctl_avro_new(const mw_conf_t *conf, mw_err_t *err)
{
    ctl_avro_t *avro = calloc(1, sizeof(*avro));

    if (!avro) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    avro->client = ctl_registry_client(conf, CTL_AVRO_TIMEOUT_MS, err);
    avro->plans = avro->client ? av_serde_cache_new(0, err) : NULL;
    avro->buf = avro->plans ? mw_buf_new(CTL_AVRO_MAX_BYTES) : NULL;
    if (!avro->buf) {
        if (avro->plans)
            mw_err_set(err, MW_ERR_NOMEM, "out of memory");
        ctl_avro_destroy(avro);
        return NULL;
    }
    return avro;
}

void ctl_avro_destroy(ctl_avro_t *avro)
{
    if (!avro)
        return;
    free(avro->text);
    mw_buf_destroy(avro->buf);
    av_serde_cache_destroy(avro->plans);
    sr_client_destroy(avro->client);
    free(avro);
}

const char *ctl_avro_decode(ctl_avro_t *avro, const void *data, size_t len,
                            mw_err_t *err)
{
    const av_serde_plan_t *plan;
    const uint8_t *body;
    size_t body_len;
    av_schema_t *writer;
    json_t *value = NULL;
    uint32_t id;

    if (!data) {
        mw_err_set(err, MW_ERR_INVALID, "a null value (tombstone)");
        return NULL;
    }
    if (sr_frame_parse(data, len, &id, &body, &body_len, err))
        return NULL;
    if (!(writer = sr_client_get_schema_by_id(avro->client, id, err)))
        return NULL;
    plan = av_serde_cache_get(avro->plans, writer, NULL, err);
    av_schema_release(writer); /* the client's cache keeps its own */
    if (!plan || av_serde_avro_to_json(plan, body, body_len, &value, err))
        return NULL;
    free(avro->text);
    avro->text =
        json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    json_decref(value);
    if (!avro->text)
        mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    return avro->text;
}

int ctl_avro_encode(ctl_avro_t *avro, const char *subject, const char *line,
                    size_t len, const void **out, size_t *out_len,
                    mw_err_t *err)
{
    sr_client_version_t ver = {0};
    const av_serde_plan_t *plan;
    json_error_t jerr;
    json_t *value;
    int rc;

    if (!(value = json_loadb(line, len, JSON_DECODE_ANY, &jerr)))
        return mw_err_set(err, MW_ERR_INVALID, "not JSON: %s (column %d)",
                          jerr.text, jerr.column);
    if ((rc = sr_client_get_latest(avro->client, subject, &ver, err))) {
        json_decref(value);
        return rc;
    }
    mw_buf_reset(avro->buf);
    plan = av_serde_cache_get(avro->plans, ver.schema, NULL, err);
    rc =
        plan ? sr_frame_encode(plan, ver.id, value, avro->buf, err) : err->code;
    sr_client_version_clear(&ver);
    json_decref(value);
    if (rc)
        return rc;
    *out = mw_buf_data(avro->buf);
    *out_len = mw_buf_len(avro->buf);
    return 0;
}
