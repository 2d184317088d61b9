/*
 * mw_hash: FNV-1a and an open-addressing hash table (see mw_hash.h).
 *
 * Invariants of the table: cap is 0 or a power of two; cnt * 2 <= cap
 * after any put, so a probe always meets an empty slot; every entry sits
 * between its home slot (hash & (cap - 1)) and the first empty slot after
 * it, which backward-shift deletion preserves by moving later entries of
 * the same run back into the hole.
 */
#include "mw_hash.h"

#include <stdlib.h>
#include <string.h>

#include "mw_err.h"

#define HTAB_MIN_CAP 4

/* 24 bytes: the low 32 bits of the hash are enough to place an entry (a
 * table never has 2^32 slots) and to skip most mismatches before memcmp;
 * keys longer than 4 GiB are refused. */
typedef struct htab_slot {
    uint32_t hash;
    uint32_t key_len;
    const void *key; /* NULL: empty */
    void *val;
} htab_slot_t;

struct mw_htab {
    htab_slot_t *slots;
    size_t cap, cnt, max_cnt;
};

uint64_t mw_hash_more(uint64_t hash, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++)
        hash = (hash ^ p[i]) * 1099511628211ULL;
    return hash;
}

uint64_t mw_hash_bytes(const void *data, size_t len)
{
    return mw_hash_more(MW_HASH_SEED, data, len);
}

uint64_t mw_hash_str(const char *s)
{
    uint64_t hash = MW_HASH_SEED;

    for (; *s; s++)
        hash = (hash ^ (unsigned char)*s) * 1099511628211ULL;
    return hash;
}

mw_htab_t *mw_htab_new(size_t max_cnt)
{
    mw_htab_t *tab = calloc(1, sizeof(*tab));

    if (tab)
        tab->max_cnt = max_cnt;
    return tab;
}

void mw_htab_destroy(mw_htab_t *tab)
{
    if (!tab)
        return;
    free(tab->slots);
    free(tab);
}

/* The slot holding key, or the empty slot where it would go. */
static htab_slot_t *htab_find(const mw_htab_t *tab, uint32_t hash,
                              const void *key, size_t key_len)
{
    size_t mask = tab->cap - 1;

    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        htab_slot_t *s = &tab->slots[i];
        if (!s->key || (s->hash == hash && s->key_len == key_len &&
                        memcmp(s->key, key, key_len) == 0))
            return s;
    }
}

static int htab_grow(mw_htab_t *tab)
{
    size_t cap = tab->cap ? tab->cap * 2 : HTAB_MIN_CAP;
    htab_slot_t *slots = calloc(cap, sizeof(*slots));

    if (!slots)
        return MW_ERR_NOMEM;
    for (size_t i = 0; i < tab->cap; i++) {
        const htab_slot_t *s = &tab->slots[i];
        if (!s->key)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(tab->slots);
    tab->slots = slots;
    tab->cap = cap;
    return 0;
}

void *mw_htab_get(const mw_htab_t *tab, const void *key, size_t key_len)
{
    if (!tab->cnt)
        return NULL;
    const htab_slot_t *s =
        htab_find(tab, mw_hash_bytes(key, key_len), key, key_len);
    return s->key ? s->val : NULL;
}

void *mw_htab_get_str(const mw_htab_t *tab, const char *key)
{
    return mw_htab_get(tab, key, strlen(key));
}

int mw_htab_put(mw_htab_t *tab, const void *key, size_t key_len, void *val,
                void **old)
{
    uint32_t hash = (uint32_t)mw_hash_bytes(key, key_len);
    htab_slot_t *s;

    if (old)
        *old = NULL;
    if (key_len > UINT32_MAX)
        return MW_ERR_INVALID;
    if (tab->cap) {
        s = htab_find(tab, hash, key, key_len);
        if (s->key) {
            if (old)
                *old = s->val;
            s->key = key; /* the new value's copy of the key */
            s->val = val;
            return 0;
        }
    }
    if (tab->max_cnt && tab->cnt >= tab->max_cnt)
        return MW_ERR_FULL;
    if ((tab->cnt + 1) * 2 > tab->cap && htab_grow(tab) != 0)
        return MW_ERR_NOMEM;
    s = htab_find(tab, hash, key, key_len);
    *s =
        (htab_slot_t){.hash = hash, .key = key, .key_len = key_len, .val = val};
    tab->cnt++;
    return 0;
}

int mw_htab_put_str(mw_htab_t *tab, const char *key, void *val, void **old)
{
    return mw_htab_put(tab, key, strlen(key), val, old);
}

void *mw_htab_del(mw_htab_t *tab, const void *key, size_t key_len)
{
    if (!tab->cnt)
        return NULL;
    size_t mask = tab->cap - 1;
    htab_slot_t *s = htab_find(tab, mw_hash_bytes(key, key_len), key, key_len);
    if (!s->key)
        return NULL;
    void *val = s->val;
    size_t hole = (size_t)(s - tab->slots);
    /* Backward shift: pull each later entry of the run whose home slot is
     * not between the hole and itself into the hole. */
    for (size_t i = (hole + 1) & mask; tab->slots[i].key; i = (i + 1) & mask) {
        size_t home = tab->slots[i].hash & mask;
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            tab->slots[hole] = tab->slots[i];
            hole = i;
        }
    }
    tab->slots[hole] = (htab_slot_t){0};
    tab->cnt--;
    return val;
}

void *mw_htab_del_str(mw_htab_t *tab, const char *key)
{
    return mw_htab_del(tab, key, strlen(key));
}

size_t mw_htab_cnt(const mw_htab_t *tab)
{
    return tab->cnt;
}

void mw_htab_clear(mw_htab_t *tab)
{
    if (tab->cap)
        memset(tab->slots, 0, tab->cap * sizeof(*tab->slots));
    tab->cnt = 0;
}

bool mw_htab_next(const mw_htab_t *tab, size_t *pos, const void **key,
                  size_t *key_len, void **val)
{
    for (; *pos < tab->cap; (*pos)++) {
        const htab_slot_t *s = &tab->slots[*pos];
        if (!s->key)
            continue;
        if (key)
            *key = s->key;
        if (key_len)
            *key_len = s->key_len;
        if (val)
            *val = s->val;
        (*pos)++;
        return true;
    }
    return false;
}
