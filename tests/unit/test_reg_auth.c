/*
 * Unit tests for mesh-registry's principals (schema-registry/server,
 * reg_auth.h): the credentials file refused with FILE:LINE for a plain
 * password, a missing field, a principal given twice and a bad role; HTTP
 * Basic checked for a missing header, another scheme, bad base64, no ':',
 * an unknown user and a wrong password (one answer for both), and the
 * right password (twice: the second time from the kept value); roles.
 *
 * Hashes are made by libxcrypt itself (crypt_gensalt + crypt_r).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reg_auth.h"

static char path[] = "/tmp/test_reg_auth.XXXXXX";

static char *hash(const char *password)
{
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    const char *salt = crypt_gensalt("$y$", 0, NULL, 0);
    char *out;

    assert_non_null(cd);
    assert_non_null(salt);
    out = strdup(crypt_r(password, salt, cd));
    free(cd);
    return out;
}

static reg_auth_t *load(const char *text, mw_err_t *err)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return reg_auth_load(path, err);
}

static void load_fails(const char *text, const char *want)
{
    char expect[512];
    mw_err_t err;
    reg_auth_t *auth = load(text, &err);

    assert_null(auth);
    snprintf(expect, sizeof(expect), "%s:%s", path, want);
    assert_string_equal(err.msg, expect);
}

static int setup(void **state)
{
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static void test_file_errors(void **state)
{
    char *h = hash("x"), text[512];

    (void)state;
    load_fails("# comment\nfed:secret:admin\n",
               "2: the password of 'fed' is not a crypt(3) hash (plain "
               "passwords are refused; make one with mkpasswd -m yescrypt)");
    load_fails("fed\n", "1: expected NAME:HASH:ROLE");
    snprintf(text, sizeof(text), "fed:%s:admin\nfed:%s:orders\n", h, h);
    load_fails(text, "2: principal 'fed' given twice");
    snprintf(text, sizeof(text), "olga:%s:Orders!\n", h);
    load_fails(text, "1: role 'Orders!' is neither admin nor a list of "
                     "domains");
    free(h);
}

static void test_basic(void **state)
{
    char *h1 = hash("fed-secret"), *h2 = hash("olga-secret"), text[512];
    const reg_auth_principal_t *who = NULL;
    reg_auth_t *auth;
    mw_err_t err;
    /* base64 of "fed:fed-secret", "olga:olga-secret", "olga:nope",
     * "nobody:x", "nocolon" */
    const char *fed = "Basic ZmVkOmZlZC1zZWNyZXQ=";
    const char *olga = "Basic b2xnYTpvbGdhLXNlY3JldA==";

    (void)state;
    snprintf(text, sizeof(text), "fed:%s:admin\n\nolga:%s:orders,shop\n", h1,
             h2);
    assert_non_null(auth = load(text, &err));
    assert_int_equal(reg_auth_principal_cnt(auth), 2);
    assert_int_equal(reg_auth_check(auth, NULL, &who, &err), MW_ERR_INVALID);
    assert_string_equal(err.msg, "no credentials");
    assert_int_equal(reg_auth_check(auth, "Bearer x", &who, &err),
                     MW_ERR_INVALID);
    assert_string_equal(err.msg, "the Authorization header is not Basic");
    assert_int_equal(reg_auth_check(auth, "Basic !!!", &who, &err),
                     MW_ERR_INVALID);
    assert_string_equal(err.msg, "the Basic credentials are not base64");
    assert_int_equal(reg_auth_check(auth, "Basic bm9jb2xvbg==", &who, &err),
                     MW_ERR_INVALID);
    assert_string_equal(err.msg, "the Basic credentials have no ':'");
    assert_int_equal(reg_auth_check(auth, "Basic b2xnYTpub3Bl", &who, &err),
                     MW_ERR_INVALID);
    assert_string_equal(err.msg, "unknown user or wrong password");
    assert_int_equal(reg_auth_check(auth, "Basic bm9ib2R5Ong=", &who, &err),
                     MW_ERR_INVALID);
    assert_string_equal(err.msg, "unknown user or wrong password");
    for (int i = 0; i < 2; i++) {
        who = NULL;
        assert_int_equal(reg_auth_check(auth, olga, &who, &err), 0);
        assert_string_equal(who->name, "olga");
        assert_false(who->is_admin);
        assert_true(reg_auth_may_write(who, "orders"));
        assert_true(reg_auth_may_write(who, "shop"));
        assert_false(reg_auth_may_write(who, "billing"));
        assert_false(reg_auth_may_write(who, NULL));
    }
    assert_int_equal(reg_auth_check(auth, fed, &who, &err), 0);
    assert_true(who->is_admin);
    assert_true(reg_auth_may_write(who, "billing"));
    assert_ptr_equal(reg_auth_find(auth, "olga"), reg_auth_find(auth, "olga"));
    assert_null(reg_auth_find(auth, "nobody"));
    reg_auth_destroy(auth);
    free(h1);
    free(h2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_basic),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
