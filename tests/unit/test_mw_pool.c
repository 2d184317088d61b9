/* Unit tests for mw_pool: reuse, the bound on idle objects, release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mw_pool.h"

typedef struct obj {
    char bytes[40];
} obj_t;

static void test_put_then_get_reuses_the_last_object(void **state)
{
    mw_pool_t *pool = mw_pool_new(sizeof(obj_t), 4);
    obj_t *a, *b;

    (void)state;
    a = mw_pool_get(pool);
    b = mw_pool_get(pool);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    memset(a, 'a', sizeof(*a)); /* the whole size is usable */
    memset(b, 'b', sizeof(*b));
    mw_pool_put(pool, a);
    mw_pool_put(pool, b);
    assert_int_equal(mw_pool_idle_cnt(pool), 2);
    assert_ptr_equal(mw_pool_get(pool), b); /* last in, first out */
    assert_ptr_equal(mw_pool_get(pool), a);
    assert_int_equal(mw_pool_idle_cnt(pool), 0);
    mw_pool_put(pool, a);
    mw_pool_put(pool, b);
    mw_pool_free(pool); /* frees the idle ones: LSan checks */
}

static void test_keeps_at_most_keep_max(void **state)
{
    enum { N = 100 };
    mw_pool_t *pool = mw_pool_new(sizeof(obj_t), 8);
    void *objs[N];

    (void)state;
    for (int i = 0; i < N; i++)
        assert_non_null(objs[i] = mw_pool_get(pool));
    for (int i = 0; i < N; i++)
        mw_pool_put(pool, objs[i]);
    assert_int_equal(mw_pool_idle_cnt(pool), 8);
    mw_pool_free(pool);
}

static void test_keep_zero_and_null(void **state)
{
    mw_pool_t *pool = mw_pool_new(1, 0); /* smaller than a pointer */
    void *o;

    (void)state;
    mw_pool_put(pool, NULL);
    o = mw_pool_get(pool);
    assert_non_null(o);
    mw_pool_put(pool, o);
    assert_int_equal(mw_pool_idle_cnt(pool), 0);
    mw_pool_free(pool);
    mw_pool_free(NULL);
    /* The build's own choice: none kept under AddressSanitizer. */
    assert_int_equal(MW_POOL_KEEP(5), MW_POOL_SANITIZED ? 0 : 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_then_get_reuses_the_last_object),
        cmocka_unit_test(test_keeps_at_most_keep_max),
        cmocka_unit_test(test_keep_zero_and_null),
    };
    return cmocka_run_group_tests_name("mw_pool", tests, NULL, NULL);
}
