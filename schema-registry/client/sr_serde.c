/*
 * sr_serde: Confluent framing and the plan cache; the front of the serde
 * (sr_serde_plan.c compiles, sr_serde_dec.c and sr_serde_enc.c run plans).
 *
 * The cache maps a (writer, reader) pair of schema objects to its compiled
 * plan.  Producers and consumers look a plan up per message, so the lookup
 * is a short hash probe under a mutex; compiling (once per pair) happens
 * under the same lock, which keeps two threads from compiling one pair
 * twice.  Plans live until the cache is destroyed, so the pointers handed
 * out stay valid without reference counting on the hot path.
 */
#include "sr_serde.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sr_serde_int.h"

#define CACHE_DEFAULT_MAX 1024

/* ------------------------------------------------------------ framing */

int sr_serde_frame_parse(const void *data, size_t len, uint32_t *id,
                         const uint8_t **body, size_t *body_len,
                         mw_err_t *err)
{
    const uint8_t *p = data;
    if (len < SR_SERDE_HEADER_LEN || !p)
        return mw_err_set(err, MW_ERR_INVALID, "truncated header: %zu bytes, "
                          "a Confluent header needs %d", len,
                          SR_SERDE_HEADER_LEN);
    if (p[0] != 0)
        return mw_err_set(err, MW_ERR_INVALID, "bad magic byte 0x%02x "
                          "(expected 0x00): not Confluent-framed Avro", p[0]);
    if (id)
        *id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
              (uint32_t)p[3] << 8 | p[4];
    if (body)
        *body = p + SR_SERDE_HEADER_LEN;
    if (body_len)
        *body_len = len - SR_SERDE_HEADER_LEN;
    return 0;
}

int sr_serde_frame_write(mw_buf_t *out, uint32_t id, mw_err_t *err)
{
    uint8_t h[SR_SERDE_HEADER_LEN] = {0, (uint8_t)(id >> 24),
                                      (uint8_t)(id >> 16), (uint8_t)(id >> 8),
                                      (uint8_t)id};
    int rc = mw_buf_append(out, h, sizeof(h));
    if (rc != 0)
        return mw_err_set(err, rc, "cannot append the Confluent header: %s",
                          mw_err_name(rc));
    return 0;
}

int sr_serde_encode(const sr_serde_plan_t *plan, uint32_t id,
                    const json_t *value, mw_buf_t *out, mw_err_t *err)
{
    int rc = sr_serde_frame_write(out, id, err);
    return rc ? rc : sr_serde_json_to_avro(plan, value, out, err);
}

int sr_serde_decode(const sr_serde_plan_t *plan, const void *data,
                    size_t len, uint32_t *id, json_t **out, mw_err_t *err)
{
    const uint8_t *body = NULL;
    size_t body_len = 0;
    if (out)
        *out = NULL;
    int rc = sr_serde_frame_parse(data, len, id, &body, &body_len, err);
    return rc ? rc : sr_serde_avro_to_json(plan, body, body_len, out, err);
}

/* ------------------------------------------------------------ cache */

typedef struct slot {
    const sr_schema_t *writer, *reader;
    sr_serde_plan_t *plan;
} slot_t;

struct sr_serde_cache {
    pthread_mutex_t lock; /* guards every field below */
    slot_t *slots;        /* open addressing, cap a power of two */
    size_t cap, cnt, max;
};

sr_serde_cache_t *sr_serde_cache_new(size_t max_plans, mw_err_t *err)
{
    sr_serde_cache_t *cache = calloc(1, sizeof(*cache));
    if (cache)
        cache->max = max_plans ? max_plans : CACHE_DEFAULT_MAX;
    size_t cap = 16;
    while (cache && cap < cache->max * 2)
        cap *= 2;
    if (cache && !(cache->slots = calloc(cap, sizeof(*cache->slots)))) {
        free(cache);
        cache = NULL;
    }
    if (!cache) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory creating a plan cache");
        return NULL;
    }
    cache->cap = cap;
    pthread_mutex_init(&cache->lock, NULL);
    return cache;
}

void sr_serde_cache_destroy(sr_serde_cache_t *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i < cache->cap; i++)
        sr_serde_plan_destroy(cache->slots[i].plan);
    free(cache->slots);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

static size_t slot_of(const sr_serde_cache_t *cache, const sr_schema_t *w,
                      const sr_schema_t *r)
{
    uintptr_t h = (uintptr_t)w * 0x9e3779b97f4a7c15u ^ (uintptr_t)r;
    h ^= h >> 29;
    size_t i = (size_t)h & (cache->cap - 1);
    while (cache->slots[i].plan && (cache->slots[i].writer != w ||
                                    cache->slots[i].reader != r))
        i = (i + 1) & (cache->cap - 1);
    return i;
}

const sr_serde_plan_t *sr_serde_cache_get(sr_serde_cache_t *cache,
                                          sr_schema_t *writer,
                                          sr_schema_t *reader,
                                          mw_err_t *err)
{
    if (!reader)
        reader = writer;
    pthread_mutex_lock(&cache->lock);
    size_t i = slot_of(cache, writer, reader);
    sr_serde_plan_t *plan = cache->slots[i].plan;
    if (!plan && cache->cnt >= cache->max) {
        mw_err_set(err, MW_ERR_FULL, "plan cache full (%zu plans)",
                   cache->max);
    } else if (!plan) {
        plan = sr_serde_plan_new(writer, reader, err);
        if (plan) {
            cache->slots[i] = (slot_t){writer, reader, plan};
            cache->cnt++;
        }
    }
    pthread_mutex_unlock(&cache->lock);
    return plan;
}
