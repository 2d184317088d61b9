/* Unit tests for mw_buf: growth, the hard maximum, formatting, stealing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mw_buf.h"
#include "mw_err.h"

static void test_append_grows(void **state)
{
    mw_buf_t *buf = mw_buf_new(0);
    (void)state;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(mw_buf_append(buf, "abcd", 4), 0);
    assert_int_equal(mw_buf_len(buf), 4000);
    assert_int_equal(strlen(mw_buf_data(buf)), 4000);
    assert_memory_equal(mw_buf_data(buf) + 3996, "abcd", 4);
    mw_buf_destroy(buf);
}

static void test_maximum_is_enforced_and_content_kept(void **state)
{
    mw_buf_t *buf = mw_buf_new(10);
    (void)state;
    assert_int_equal(mw_buf_append(buf, "12345678", 8), 0);
    assert_int_equal(mw_buf_append(buf, "abc", 3), MW_ERR_FULL);
    assert_string_equal(mw_buf_data(buf), "12345678");
    assert_int_equal(mw_buf_appendf(buf, "%d", 123), MW_ERR_FULL);
    assert_string_equal(mw_buf_data(buf), "12345678");
    assert_int_equal(mw_buf_appendf(buf, "%d", 12), 0);
    assert_string_equal(mw_buf_data(buf), "1234567812");
    mw_buf_destroy(buf);
}

static void test_appendf_and_reset(void **state)
{
    mw_buf_t *buf = mw_buf_new(0);
    (void)state;
    assert_int_equal(mw_buf_appendf(buf, "%s=%d", "rows", 42), 0);
    assert_string_equal(mw_buf_data(buf), "rows=42");
    mw_buf_reset(buf);
    assert_int_equal(mw_buf_len(buf), 0);
    assert_string_equal(mw_buf_data(buf), "");
    mw_buf_destroy(buf);
    mw_buf_destroy(NULL);
}

static void test_steal_hands_over_and_empties(void **state)
{
    mw_buf_t *buf = mw_buf_new(0);
    size_t len = 0;
    char *s;
    (void)state;
    mw_buf_append(buf, "hello", 5);
    s = mw_buf_steal(buf, &len);
    assert_string_equal(s, "hello");
    assert_int_equal(len, 5);
    assert_int_equal(mw_buf_len(buf), 0);
    assert_int_equal(mw_buf_append(buf, "x", 1), 0);
    free(s);
    mw_buf_destroy(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_grows),
        cmocka_unit_test(test_maximum_is_enforced_and_content_kept),
        cmocka_unit_test(test_appendf_and_reset),
        cmocka_unit_test(test_steal_hands_over_and_empties),
    };
    return cmocka_run_group_tests_name("mw_buf", tests, NULL, NULL);
}
