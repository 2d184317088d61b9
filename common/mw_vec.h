/*
 * mw_vec: the one growth rule for arrays that grow as they fill.
 *
 * A module keeps its array as a plain pointer plus a capacity (the count is
 * its own business) and asks for room before it appends:
 *
 *     if (MW_VEC_RESERVE(&tab->rows, &tab->row_cap, tab->row_cnt + 1))
 *         return MW_ERR_NOMEM;
 *     tab->rows[tab->row_cnt++] = row;
 *
 * Capacity doubles (from min_cap, at least 8), so appends cost O(1)
 * amortised; the size computation is overflow-checked; on failure the
 * array and its capacity are left as they were.  New slots are not
 * initialised unless MW_VEC_RESERVE_ZERO is used.  Every buffer has a
 * maximum: the caller's own check, or MW_VEC_RESERVE_MAX, whose last
 * doubling step stops exactly at the maximum.
 */
#ifndef MW_VEC_H
#define MW_VEC_H

#include <stdbool.h>
#include <stddef.h>

/* Makes the array that itemsp points at (a `T **`: the address of the
 * array pointer, read and written with memcpy so any T works) hold at least
 * need elements of elem_size bytes, *cap being its room now.  0, or
 * MW_ERR_NOMEM (also on overflow) with the array and *cap untouched.
 * zero: new slots are zero-filled. */
int mw_vec_reserve(void *itemsp, size_t *cap, size_t need, size_t elem_size,
                   bool zero);

/* The same, never growing past max_cnt elements (a doubling step that
 * would pass it stops at max_cnt): MW_ERR_FULL when need > max_cnt. */
int mw_vec_reserve_max(void *itemsp, size_t *cap, size_t need, size_t max_cnt,
                       size_t elem_size, bool zero);

/* The general form: max_cnt as above (SIZE_MAX: none); inline_buf, when
 * not NULL, is storage of *cap elements the array starts in (on the stack
 * or inside the owner's struct, so short arrays cost no allocation): while
 * the array is still there, growing allocates and copies instead of
 * reallocating. */
int mw_vec_reserve_ext(void *itemsp, size_t *cap, size_t need, size_t max_cnt,
                       size_t elem_size, bool zero, const void *inline_buf);

#define MW_VEC_RESERVE(itemsp, capp, need)                                     \
    mw_vec_reserve((itemsp), (capp), (need), sizeof(**(itemsp)), false)
#define MW_VEC_RESERVE_MAX(itemsp, capp, need, max_cnt)                        \
    mw_vec_reserve_max((itemsp), (capp), (need), (max_cnt),                    \
                       sizeof(**(itemsp)), false)
#define MW_VEC_RESERVE_INLINE(itemsp, capp, need, max_cnt, inline_buf)         \
    mw_vec_reserve_ext((itemsp), (capp), (need), (max_cnt),                    \
                       sizeof(**(itemsp)), false, (inline_buf))
#define MW_VEC_RESERVE_ZERO(itemsp, capp, need)                                \
    mw_vec_reserve((itemsp), (capp), (need), sizeof(**(itemsp)), true)

#endif /* MW_VEC_H */
