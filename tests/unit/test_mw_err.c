/* Unit tests for mw_err: codes, classes, messages and prefixing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mw_err.h"

static void test_set_returns_code_and_formats(void **state)
{
    mw_err_t err;
    (void)state;
    mw_err_clear(&err);
    assert_int_equal(mw_err_set(&err, MW_ERR_CONFIG, "key '%s' bad", "x"),
                     MW_ERR_CONFIG);
    assert_int_equal(err.code, MW_ERR_CONFIG);
    assert_string_equal(err.msg, "key 'x' bad");
    /* NULL err still returns the code so `return mw_err_set(...)` works. */
    assert_int_equal(mw_err_set(NULL, MW_ERR_IO, "ignored"), MW_ERR_IO);
}

static void test_prefix_keeps_code(void **state)
{
    mw_err_t err;
    (void)state;
    mw_err_set(&err, MW_ERR_INVALID, "not an integer");
    assert_int_equal(mw_err_prefix(&err, "%s:%d", "a.properties", 3),
                     MW_ERR_INVALID);
    assert_string_equal(err.msg, "a.properties:3: not an integer");
}

static void test_long_messages_are_cut(void **state)
{
    mw_err_t err;
    char big[2000];
    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    mw_err_set(&err, MW_ERR_INVALID, "%s", big);
    assert_int_equal(strlen(err.msg), MW_ERR_MSG_MAX - 1);
    mw_err_prefix(&err, "%s", big);
    assert_int_equal(strlen(err.msg), MW_ERR_MSG_MAX - 1);
}

static void test_names_and_classes(void **state)
{
    (void)state;
    assert_string_equal(mw_err_name(MW_OK), "MW_OK");
    assert_string_equal(mw_err_name(MW_ERR_TRANSPORT), "MW_ERR_TRANSPORT");
    assert_string_equal(mw_err_name(-999), "MW_ERR_UNKNOWN");
    assert_int_equal(mw_err_class(MW_ERR_TRANSPORT), MW_ERR_CLASS_RETRIABLE);
    assert_int_equal(mw_err_class(MW_ERR_FULL), MW_ERR_CLASS_RETRIABLE);
    assert_int_equal(mw_err_class(MW_ERR_INVALID), MW_ERR_CLASS_PERMANENT);
    assert_int_equal(mw_err_class(MW_ERR_CONFIG), MW_ERR_CLASS_FATAL);
    assert_int_equal(mw_err_class(-999), MW_ERR_CLASS_FATAL);
    assert_string_equal(mw_err_class_name(MW_ERR_CLASS_RETRIABLE), "retriable");
    for (int c = 0; c > -MW_ERR__CNT; c--)
        assert_string_not_equal(mw_err_name(c), "MW_ERR_UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_returns_code_and_formats),
        cmocka_unit_test(test_prefix_keeps_code),
        cmocka_unit_test(test_long_messages_are_cut),
        cmocka_unit_test(test_names_and_classes),
    };
    return cmocka_run_group_tests_name("mw_err", tests, NULL, NULL);
}
