/*
 * mw_pool.c: the idle objects form a singly linked list threaded through
 * their first bytes (an object is at least a pointer wide).
 */
#include "mw_pool.h"

#include <stdlib.h>

typedef struct mw_pool_idle {
    struct mw_pool_idle *next;
} mw_pool_idle_t;

struct mw_pool {
    size_t obj_size;
    size_t keep_max;
    size_t idle_cnt;
    mw_pool_idle_t *idle;
};

mw_pool_t *mw_pool_new(size_t obj_size, size_t keep_max)
{
    mw_pool_t *pool = calloc(1, sizeof(*pool));

    if (!pool)
        return NULL;
    pool->obj_size =
        obj_size < sizeof(mw_pool_idle_t) ? sizeof(mw_pool_idle_t) : obj_size;
    pool->keep_max = keep_max;
    return pool;
}

void *mw_pool_get(mw_pool_t *pool)
{
    mw_pool_idle_t *obj = pool->idle;

    if (!obj)
        return malloc(pool->obj_size);
    pool->idle = obj->next;
    pool->idle_cnt--;
    return obj;
}

void mw_pool_put(mw_pool_t *pool, void *obj)
{
    mw_pool_idle_t *idle = obj;

    if (!obj)
        return;
    if (pool->idle_cnt >= pool->keep_max) {
        free(obj);
        return;
    }
    idle->next = pool->idle;
    pool->idle = idle;
    pool->idle_cnt++;
}

size_t mw_pool_idle_cnt(const mw_pool_t *pool)
{
    return pool->idle_cnt;
}

void mw_pool_free(mw_pool_t *pool)
{
    if (!pool)
        return;
    while (pool->idle) {
        mw_pool_idle_t *next = pool->idle->next;

        free(pool->idle);
        pool->idle = next;
    }
    free(pool);
}
