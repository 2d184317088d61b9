/*
 * av_serde: the plan cache; the front of the serde (av_serde_plan.c
 * compiles, av_serde_dec.c and av_serde_enc.c run plans).  Confluent's
 * framing around the Avro body is the registry client's (sr_frame).
 *
 * The cache maps a (writer, reader) pair of schema objects to its compiled
 * plan.  Producers and consumers look a plan up per message, so the lookup
 * is a short hash probe under a mutex; compiling (once per pair) happens
 * under the same lock, which keeps two threads from compiling one pair
 * twice.  Plans live until the cache is destroyed, so the pointers handed
 * out stay valid without reference counting on the hot path.
 */
#include "av_serde.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "av_serde_int.h"

#define CACHE_DEFAULT_MAX 1024

/* ------------------------------------------------------------ cache */

typedef struct slot {
    const av_schema_t *writer, *reader;
    av_serde_plan_t *plan;
} slot_t;

struct av_serde_cache {
    pthread_mutex_t lock; /* guards every field below */
    slot_t *slots;        /* open addressing, cap a power of two */
    size_t cap, cnt, max;
};

av_serde_cache_t *av_serde_cache_new(size_t max_plans, mw_err_t *err)
{
    av_serde_cache_t *cache = calloc(1, sizeof(*cache));
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

void av_serde_cache_destroy(av_serde_cache_t *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i < cache->cap; i++)
        av_serde_plan_destroy(cache->slots[i].plan);
    free(cache->slots);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

static size_t slot_of(const av_serde_cache_t *cache, const av_schema_t *w,
                      const av_schema_t *r)
{
    uintptr_t h = (uintptr_t)w * 0x9e3779b97f4a7c15u ^ (uintptr_t)r;
    h ^= h >> 29;
    size_t i = (size_t)h & (cache->cap - 1);
    while (cache->slots[i].plan && (cache->slots[i].writer != w ||
                                    cache->slots[i].reader != r))
        i = (i + 1) & (cache->cap - 1);
    return i;
}

const av_serde_plan_t *av_serde_cache_get(av_serde_cache_t *cache,
                                          av_schema_t *writer,
                                          av_schema_t *reader,
                                          mw_err_t *err)
{
    if (!reader)
        reader = writer;
    pthread_mutex_lock(&cache->lock);
    size_t i = slot_of(cache, writer, reader);
    av_serde_plan_t *plan = cache->slots[i].plan;
    if (!plan && cache->cnt >= cache->max) {
        mw_err_set(err, MW_ERR_FULL, "plan cache full (%zu plans)",
                   cache->max);
    } else if (!plan) {
        plan = av_serde_plan_new(writer, reader, err);
        if (plan) {
            cache->slots[i] = (slot_t){writer, reader, plan};
            cache->cnt++;
        }
    }
    pthread_mutex_unlock(&cache->lock);
    return plan;
}
