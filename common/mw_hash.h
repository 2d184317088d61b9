/*
 * mw_hash: the one hash function and the one hash table.
 *
 * mw_hash_bytes is 64-bit FNV-1a: short keys (subjects, topics, field
 * names, primary-key bytes) dominate here, and FNV-1a is fast on them and
 * spreads well enough for linear probing once the table keeps a load below
 * one half.  It is not keyed: tables that hold keys chosen by outside
 * parties stay bounded (max_cnt), so a flood of colliding keys costs time
 * in one table, never memory.
 *
 * mw_htab maps a key (bytes, borrowed) to a value pointer, by open
 * addressing with linear probing and backward-shift deletion (no
 * tombstones, so a table that sees many deletes does not slow down).  The
 * key's bytes are not copied: they must stay valid and unchanged while the
 * entry is in the table — usually they live inside the value.  Values are
 * the caller's: the table never frees them.  Not thread-safe: the owner
 * serialises access (the owner's lock or thread is named where it lives).
 */
#ifndef MW_HASH_H
#define MW_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 64-bit FNV-1a of len bytes. */
uint64_t mw_hash_bytes(const void *data, size_t len);
/* The same over a NUL-terminated string (without the NUL). */
uint64_t mw_hash_str(const char *s);
/* Continues a hash over more bytes (seed: a previous result or
 * MW_HASH_SEED), for keys made of several parts. */
#define MW_HASH_SEED 14695981039346656037ULL /* FNV-1a 64 offset basis */
uint64_t mw_hash_more(uint64_t hash, const void *data, size_t len);

typedef struct mw_htab mw_htab_t;

/* A new empty table that refuses to hold more than max_cnt entries (0: no
 * bound).  NULL on ENOMEM. */
mw_htab_t *mw_htab_new(size_t max_cnt);
/* Frees the table, not the keys or values.  NULL-safe. */
void mw_htab_destroy(mw_htab_t *tab);

/* The value stored under key, or NULL. */
void *mw_htab_get(const mw_htab_t *tab, const void *key, size_t key_len);
void *mw_htab_get_str(const mw_htab_t *tab, const char *key);

/* Stores val (not NULL) under key (borrowed, see above).  A value already
 * under key is replaced and returned in *old (NULL when there was none; old
 * may be NULL when the caller knows the key is new).  0, MW_ERR_FULL past
 * max_cnt, MW_ERR_INVALID for a key over 4 GiB, or MW_ERR_NOMEM; on
 * error the table is unchanged. */
int mw_htab_put(mw_htab_t *tab, const void *key, size_t key_len, void *val,
                void **old);
int mw_htab_put_str(mw_htab_t *tab, const char *key, void *val, void **old);

/* Removes key; returns its value, or NULL when absent. */
void *mw_htab_del(mw_htab_t *tab, const void *key, size_t key_len);
void *mw_htab_del_str(mw_htab_t *tab, const char *key);

/* Number of entries. */
size_t mw_htab_cnt(const mw_htab_t *tab);
/* Removes every entry (values are the caller's). */
void mw_htab_clear(mw_htab_t *tab);

/* Iteration in slot order: start with *pos = 0; true while an entry was
 * found (its key, key_len and value in the out parameters, each may be
 * NULL).  The table must not change during an iteration (a deletion
 * shifts later entries back): collect first, then delete. */
bool mw_htab_next(const mw_htab_t *tab, size_t *pos, const void **key,
                  size_t *key_len, void **val);

#endif /* MW_HASH_H */
