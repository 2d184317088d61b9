/*
 * mw_pool: a cache of same-sized objects for a hot path that allocates and
 * frees one per event (the producer's per-message and per-line records).
 *
 * With thousands of them in flight, glibc's per-thread cache (seven chunks
 * per size) is always empty or full, and every malloc and free takes the
 * slow path; a pool hands back the last object put, in O(1).  It keeps at
 * most keep_max idle objects, so a burst does not pin its peak.  Callers
 * pass MW_POOL_KEEP(n): the sanitizer builds keep none, so every object
 * is a fresh malloc and a use after free is still AddressSanitizer's to
 * see.
 *
 * Thread: one thread per pool (no locking).
 */
#ifndef MW_POOL_H
#define MW_POOL_H

#include <stddef.h>

typedef struct mw_pool mw_pool_t;

/* AddressSanitizer defines one of these (gcc, clang). */
#if defined(__SANITIZE_ADDRESS__)
#define MW_POOL_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MW_POOL_SANITIZED 1
#endif
#endif
#ifndef MW_POOL_SANITIZED
#define MW_POOL_SANITIZED 0
#endif

/* The keep_max for n in this build: n, or 0 under AddressSanitizer. */
#define MW_POOL_KEEP(n) (MW_POOL_SANITIZED ? (size_t)0 : (size_t)(n))

/* A pool of obj_size-byte objects keeping at most keep_max idle ones.
 * NULL when out of memory. */
mw_pool_t *mw_pool_new(size_t obj_size, size_t keep_max);

/* An object (contents undefined), or NULL when out of memory. */
void *mw_pool_get(mw_pool_t *pool);

/* Gives obj (from mw_pool_get of this pool, or NULL) back. */
void mw_pool_put(mw_pool_t *pool, void *obj);

/* How many idle objects it keeps now. */
size_t mw_pool_idle_cnt(const mw_pool_t *pool);

/* Frees the pool and the idle objects (objects still out are the caller's
 * to put back first).  NULL is a no-op. */
void mw_pool_free(mw_pool_t *pool);

#endif /* MW_POOL_H */
