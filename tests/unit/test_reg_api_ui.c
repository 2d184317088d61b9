/* Unit tests for reg_api_ui: the embedded catalog page's files are found by
 * exact name only, and each gets its Content-Type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "reg_api_ui.h"

static void test_every_page_file_is_embedded(void **state)
{
    static const char *const names[] = {"index.html", "app.js", "style.css"};
    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const reg_api_ui_file_t *f = reg_api_ui_find(names[i]);

        assert_non_null(f);
        assert_string_equal(f->name, names[i]);
        assert_true(f->len > 100);
        /* The generator adds a NUL past the bytes, outside len. */
        assert_int_equal(f->data[f->len], 0);
        assert_int_equal(strlen((const char *)f->data), f->len);
    }
    /* No name means the page itself. */
    assert_ptr_equal(reg_api_ui_find(NULL), reg_api_ui_find("index.html"));
    assert_memory_equal(reg_api_ui_find(NULL)->data, "<!DOCTYPE html>", 15);
}

static void test_other_names_are_not_found(void **state)
{
    static const char *const names[] = {"",
                                        "..",
                                        "../reg_main.c",
                                        "ui/index.html",
                                        "/index.html",
                                        "INDEX.HTML",
                                        "index.html/",
                                        "app",
                                        "app.js.map",
                                        "./app.js"};
    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_null(reg_api_ui_find(names[i]));
}

static void test_content_types_by_extension(void **state)
{
    (void)state;
    assert_string_equal(reg_api_ui_ctype("index.html"),
                        "text/html; charset=utf-8");
    assert_string_equal(reg_api_ui_ctype("app.js"),
                        "text/javascript; charset=utf-8");
    assert_string_equal(reg_api_ui_ctype("style.css"),
                        "text/css; charset=utf-8");
    assert_string_equal(reg_api_ui_ctype("logo.svg"), "image/svg+xml");
    assert_string_equal(reg_api_ui_ctype("README"), "application/octet-stream");
    assert_string_equal(reg_api_ui_ctype("x.html.bak"),
                        "application/octet-stream");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_page_file_is_embedded),
        cmocka_unit_test(test_other_names_are_not_found),
        cmocka_unit_test(test_content_types_by_extension),
    };
    return cmocka_run_group_tests_name("reg_api_ui", tests, NULL, NULL);
}
