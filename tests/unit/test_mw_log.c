/* Unit tests for mw_log: logfmt shape, levels, quoting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mw_err.h"
#include "mw_log.h"

static char *captured;
static size_t captured_len;
static FILE *capture;

static int setup(void **state)
{
    (void)state;
    capture = open_memstream(&captured, &captured_len);
    mw_log_set_stream(capture);
    mw_log_set_level(MW_LOG_INFO);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mw_log_set_stream(NULL);
    fclose(capture);
    free(captured);
    captured = NULL;
    return 0;
}

static void test_line_shape(void **state)
{
    (void)state;
    mw_log_info("broker", "bootstrap listening", "addr=%s port=%d", "127.0.0.1",
                9092);
    fflush(capture);
    assert_non_null(strstr(captured, "ts="));
    assert_non_null(strstr(captured, " level=info component=broker "
                                     "msg=\"bootstrap listening\" "
                                     "addr=127.0.0.1 port=9092\n"));
    assert_int_equal(strncmp(captured, "ts=", 3), 0);
    /* One line only. */
    assert_ptr_equal(strchr(captured, '\n'), captured + captured_len - 1);
}

static void test_levels_filter(void **state)
{
    mw_log_level_t lvl;
    (void)state;
    mw_log_debug("x", "hidden", "");
    fflush(capture);
    assert_int_equal(captured_len, 0);
    mw_log_set_level(MW_LOG_DEBUG);
    mw_log_debug("x", "shown", "");
    fflush(capture);
    assert_non_null(strstr(captured, "level=debug"));
    assert_int_equal(mw_log_level_parse("WARN", &lvl), 0);
    assert_int_equal(lvl, MW_LOG_WARN);
    assert_int_equal(mw_log_level_parse("loud", &lvl), MW_ERR_INVALID);
    assert_string_equal(mw_log_level_name(MW_LOG_ERROR), "error");
}

static void test_quoting(void **state)
{
    (void)state;
    assert_string_equal(mw_log_q("plain"), "plain");
    assert_string_equal(mw_log_q("two words"), "\"two words\"");
    assert_string_equal(mw_log_q("a\"b"), "\"a\\\"b\"");
    assert_string_equal(mw_log_q("l1\nl2"), "\"l1\\nl2\"");
    assert_string_equal(mw_log_q(""), "\"\"");
    assert_string_equal(mw_log_q("k=v"), "\"k=v\"");
    assert_string_equal(mw_log_q(NULL), "\"\"");
}

static void test_long_line_is_cut_not_split(void **state)
{
    char big[10000];
    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    mw_log_error("c", "big", "v=%s", big);
    fflush(capture);
    assert_true(captured_len < 4200);
    assert_ptr_equal(strchr(captured, '\n'), captured + captured_len - 1);
    assert_non_null(strstr(captured, "...\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quoting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_is_cut_not_split, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("mw_log", tests, NULL, NULL);
}
