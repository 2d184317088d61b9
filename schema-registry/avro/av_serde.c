/*
 * av_serde: the plan cache; the front of the serde (av_serde_plan.c
 * compiles, av_serde_dec.c and av_serde_enc.c run plans).  Confluent's
 * framing around the Avro body is the registry client's (sr_frame).
 *
 * The cache maps a (writer, reader) pair of schema objects to its compiled
 * plan.  Producers and consumers look a plan up per message, so the lookup
 * is one mw_htab probe under a mutex; compiling (once per pair) happens
 * under the same lock, which keeps two threads from compiling one pair
 * twice.  Plans live until the cache is destroyed, so the pointers handed
 * out stay valid without reference counting on the hot path.
 */
#include "av_serde.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "av_serde_int.h"
#include "mw_hash.h"

#define CACHE_DEFAULT_MAX 1024

/* ------------------------------------------------------------ cache */

/* One cached plan; the table's key is writer and reader, adjacent. */
typedef struct slot {
    const av_schema_t *writer, *reader;
    av_serde_plan_t *plan;
} slot_t;

struct av_serde_cache {
    pthread_mutex_t lock; /* guards every field below */
    mw_htab_t *slots;     /* (writer, reader) -> slot_t, at most max */
    size_t max;
};

av_serde_cache_t *av_serde_cache_new(size_t max_plans, mw_err_t *err)
{
    av_serde_cache_t *cache = calloc(1, sizeof(*cache));

    if (cache) {
        cache->max = max_plans ? max_plans : CACHE_DEFAULT_MAX;
        cache->slots = mw_htab_new(cache->max);
    }
    if (!cache || !cache->slots) {
        free(cache);
        mw_err_set(err, MW_ERR_NOMEM, "out of memory creating a plan cache");
        return NULL;
    }
    pthread_mutex_init(&cache->lock, NULL);
    return cache;
}

void av_serde_cache_destroy(av_serde_cache_t *cache)
{
    size_t pos = 0;
    void *val;

    if (!cache)
        return;
    while (mw_htab_next(cache->slots, &pos, NULL, NULL, &val)) {
        av_serde_plan_destroy(((slot_t *)val)->plan);
        free(val);
    }
    mw_htab_destroy(cache->slots);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

/* Compiles and stores the plan of (writer, reader); lock held. */
static av_serde_plan_t *cache_add(av_serde_cache_t *cache, av_schema_t *writer,
                                  av_schema_t *reader, mw_err_t *err)
{
    slot_t *slot;
    av_serde_plan_t *plan;

    if (mw_htab_cnt(cache->slots) >= cache->max) {
        mw_err_set(err, MW_ERR_FULL, "plan cache full (%zu plans)", cache->max);
        return NULL;
    }
    if (!(slot = malloc(sizeof(*slot)))) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory caching a plan");
        return NULL;
    }
    if (!(plan = av_serde_plan_new(writer, reader, err))) {
        free(slot);
        return NULL;
    }
    *slot = (slot_t){writer, reader, plan};
    if (mw_htab_put(cache->slots, &slot->writer, 2 * sizeof(slot->writer), slot,
                    NULL) != 0) {
        av_serde_plan_destroy(plan);
        free(slot);
        mw_err_set(err, MW_ERR_NOMEM, "out of memory caching a plan");
        return NULL;
    }
    return plan;
}

const av_serde_plan_t *av_serde_cache_get(av_serde_cache_t *cache,
                                          av_schema_t *writer,
                                          av_schema_t *reader, mw_err_t *err)
{
    const av_schema_t *key[2];
    slot_t *slot;
    av_serde_plan_t *plan;

    if (!reader)
        reader = writer;
    key[0] = writer;
    key[1] = reader;
    pthread_mutex_lock(&cache->lock);
    slot = mw_htab_get(cache->slots, key, sizeof(key));
    plan = slot ? slot->plan : cache_add(cache, writer, reader, err);
    pthread_mutex_unlock(&cache->lock);
    return plan;
}
