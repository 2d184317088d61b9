/*
 * mw_vec: doubling growth for plain arrays (see mw_vec.h).
 */
#include "mw_vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mw_err.h"

#define VEC_MIN_CAP 8

int mw_vec_reserve(void *itemsp, size_t *cap, size_t need, size_t elem_size,
                   bool zero)
{
    return mw_vec_reserve_max(itemsp, cap, need, SIZE_MAX, elem_size, zero);
}

int mw_vec_reserve_max(void *itemsp, size_t *cap, size_t need, size_t max_cnt,
                       size_t elem_size, bool zero)
{
    return mw_vec_reserve_ext(itemsp, cap, need, max_cnt, elem_size, zero,
                              NULL);
}

int mw_vec_reserve_ext(void *itemsp, size_t *cap, size_t need, size_t max_cnt,
                       size_t elem_size, bool zero, const void *inline_buf)
{
    size_t old = *cap, next = old ? old : VEC_MIN_CAP;
    void *items, *grown;

    if (need <= old)
        return 0;
    if (need > max_cnt)
        return MW_ERR_FULL;
    while (next < need) {
        if (next > SIZE_MAX / 2)
            return MW_ERR_NOMEM;
        next *= 2;
    }
    if (next > max_cnt)
        next = max_cnt;
    if (elem_size && next > SIZE_MAX / elem_size)
        return MW_ERR_NOMEM;
    memcpy(&items, itemsp, sizeof(items));
    if (inline_buf && items == inline_buf) {
        grown = malloc(next * elem_size);
        if (grown && old)
            memcpy(grown, items, old * elem_size);
    } else {
        grown = realloc(items, next * elem_size);
    }
    if (!grown)
        return MW_ERR_NOMEM;
    if (zero)
        memset((char *)grown + old * elem_size, 0, (next - old) * elem_size);
    memcpy(itemsp, &grown, sizeof(grown));
    *cap = next;
    return 0;
}
