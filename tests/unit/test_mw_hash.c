/* Unit tests for the shared primitives: mw_hash (FNV-1a, the hash table
 * against a brute-force model under random puts and deletes), mw_vec
 * (growth, zero-fill, overflow) and mw_time (monotonic order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mw_err.h"
#include "mw_hash.h"
#include "mw_time.h"
#include "mw_vec.h"

static void test_fnv1a_known_values(void **state)
{
    (void)state;
    /* FNV-1a 64 reference values. */
    assert_true(mw_hash_str("") == 0xcbf29ce484222325ULL);
    assert_true(mw_hash_str("a") == 0xaf63dc4c8601ec8cULL);
    assert_true(mw_hash_str("foobar") == 0x85944171f73967e8ULL);
    assert_true(mw_hash_bytes("foobar", 6) == mw_hash_str("foobar"));
    assert_true(mw_hash_more(mw_hash_bytes("foo", 3), "bar", 3) ==
                mw_hash_str("foobar"));
}

#define MODEL_KEYS 512

/* Random puts, replaces and deletes against an array model; keys collide
 * on purpose (short keys, small table) so probing runs and backward-shift
 * deletion are exercised. */
static void test_htab_matches_a_model(void **state)
{
    static char keys[MODEL_KEYS][16];
    static int model[MODEL_KEYS]; /* value + 1, 0 = absent */
    static int vals[MODEL_KEYS * 4];
    unsigned seed = (unsigned)mw_time_mono_ns();
    mw_htab_t *tab = mw_htab_new(0);
    size_t cnt = 0;
    (void)state;
    printf("seed=%u\n", seed);
    srand(seed);
    for (int i = 0; i < MODEL_KEYS; i++)
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
    for (int i = 0; i < (int)(sizeof(vals) / sizeof(*vals)); i++)
        vals[i] = i;
    for (int step = 0; step < 200000; step++) {
        int k = rand() % MODEL_KEYS, op = rand() % 3;
        void *old = NULL;
        if (op < 2) {
            int v = rand() % (MODEL_KEYS * 4);
            assert_int_equal(mw_htab_put_str(tab, keys[k], &vals[v], &old), 0);
            if (model[k])
                assert_ptr_equal(old, &vals[model[k] - 1]);
            else
                assert_null(old), cnt++;
            model[k] = v + 1;
        } else {
            void *got = mw_htab_del_str(tab, keys[k]);
            if (model[k])
                assert_ptr_equal(got, &vals[model[k] - 1]), cnt--;
            else
                assert_null(got);
            model[k] = 0;
        }
        assert_int_equal(mw_htab_cnt(tab), cnt);
        if (step % 5000 == 0)
            for (int j = 0; j < MODEL_KEYS; j++)
                assert_ptr_equal(mw_htab_get_str(tab, keys[j]),
                                 model[j] ? &vals[model[j] - 1] : NULL);
    }
    size_t pos = 0, seen = 0;
    const void *key;
    size_t key_len;
    void *val;
    while (mw_htab_next(tab, &pos, &key, &key_len, &val)) {
        int k = atoi((const char *)key + 1);
        assert_int_equal(key_len, strlen(keys[k]));
        assert_ptr_equal(val, &vals[model[k] - 1]);
        seen++;
    }
    assert_int_equal(seen, cnt);
    mw_htab_clear(tab);
    assert_int_equal(mw_htab_cnt(tab), 0);
    assert_null(mw_htab_get_str(tab, keys[0]));
    mw_htab_destroy(tab);
    mw_htab_destroy(NULL);
}

static void test_htab_bound(void **state)
{
    mw_htab_t *tab = mw_htab_new(2);
    int v = 1;
    (void)state;
    assert_int_equal(mw_htab_put_str(tab, "a", &v, NULL), 0);
    assert_int_equal(mw_htab_put_str(tab, "b", &v, NULL), 0);
    assert_int_equal(mw_htab_put_str(tab, "c", &v, NULL), MW_ERR_FULL);
    assert_int_equal(mw_htab_put_str(tab, "a", &v, NULL), 0); /* replace */
    assert_null(mw_htab_get_str(tab, "c"));
    /* Binary keys with NULs are keys like any other. */
    mw_htab_destroy(tab);
    tab = mw_htab_new(0);
    assert_int_equal(mw_htab_put(tab, "a\0b", 3, &v, NULL), 0);
    assert_null(mw_htab_get(tab, "a\0c", 3));
    assert_ptr_equal(mw_htab_get(tab, "a\0b", 3), &v);
    mw_htab_destroy(tab);
}

static void test_vec_grows_zeroes_and_refuses_overflow(void **state)
{
    int *arr = NULL;
    size_t cap = 0;
    (void)state;
    assert_int_equal(MW_VEC_RESERVE_ZERO(&arr, &cap, 1), 0);
    assert_true(cap >= 8);
    for (size_t i = 0; i < cap; i++)
        assert_int_equal(arr[i], 0);
    size_t before = cap;
    assert_int_equal(MW_VEC_RESERVE(&arr, &cap, before), 0);
    assert_int_equal(cap, before); /* enough room: unchanged */
    assert_int_equal(MW_VEC_RESERVE_ZERO(&arr, &cap, 1000), 0);
    assert_true(cap >= 1000 && (cap & (cap - 1)) == 0);
    assert_int_equal(arr[999], 0);
    int *kept = arr;
    size_t kept_cap = cap;
    assert_int_equal(MW_VEC_RESERVE(&arr, &cap, SIZE_MAX / 2), MW_ERR_NOMEM);
    assert_ptr_equal(arr, kept);
    assert_int_equal(cap, kept_cap);
    free(arr);

    /* The last doubling step stops at the maximum; past it, FULL. */
    char *buf = NULL;
    size_t bcap = 0;
    assert_int_equal(MW_VEC_RESERVE_MAX(&buf, &bcap, 100, 100), 0);
    assert_int_equal(bcap, 100);
    assert_int_equal(MW_VEC_RESERVE_MAX(&buf, &bcap, 101, 100), MW_ERR_FULL);
    assert_int_equal(bcap, 100);
    bcap = 64;
    assert_int_equal(MW_VEC_RESERVE_MAX(&buf, &bcap, 65, 100), 0);
    assert_int_equal(bcap, 100);
    free(buf);

    /* An array that starts in inline storage moves to the heap, contents
     * kept, the inline storage untouched and never freed. */
    int inline_arr[4] = {1, 2, 3, 4};
    int *arr2 = inline_arr;
    size_t cap2 = 4;
    assert_int_equal(
        MW_VEC_RESERVE_INLINE(&arr2, &cap2, 4, SIZE_MAX, inline_arr), 0);
    assert_ptr_equal(arr2, inline_arr); /* enough room: still inline */
    assert_int_equal(
        MW_VEC_RESERVE_INLINE(&arr2, &cap2, 5, SIZE_MAX, inline_arr), 0);
    assert_ptr_not_equal(arr2, inline_arr);
    assert_int_equal(cap2, 8);
    assert_memory_equal(arr2, inline_arr, sizeof(inline_arr));
    assert_int_equal(
        MW_VEC_RESERVE_INLINE(&arr2, &cap2, 100, SIZE_MAX, inline_arr),
        0); /* heap now: realloc */
    assert_int_equal(arr2[3], 4);
    free(arr2);
}

static void test_time_is_monotonic(void **state)
{
    (void)state;
    int64_t a = mw_time_mono_ns(), b = mw_time_mono_ns();
    assert_true(b >= a);
    assert_true(mw_time_mono_ms() >= a / 1000000);
    assert_true(mw_time_mono_us() >= a / 1000);
    assert_true(mw_time_wall_ms() > 1600000000000LL);
    assert_true(mw_time_coarse_ms() > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a_known_values),
        cmocka_unit_test(test_htab_matches_a_model),
        cmocka_unit_test(test_htab_bound),
        cmocka_unit_test(test_vec_grows_zeroes_and_refuses_overflow),
        cmocka_unit_test(test_time_is_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
