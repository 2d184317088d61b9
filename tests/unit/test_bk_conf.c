/*
 * test_bk_conf: the kafka.* passthrough through the public bk_conf API:
 * accepted and refused keys, the refusal message (our key name plus
 * librdkafka's reason), Meshwork's defaults per role and their override.
 * No network: librdkafka only checks configuration here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bk_conf.h"
#include "mw_conf.h"
#include "mw_err.h"

static const mw_conf_key_t keys[] = {
    {.name = "json", .type = MW_CONF_BOOL, .dflt = "false", .doc = "JSON."},
};
static const char *const passthrough[] = {"kafka.", NULL};
static const mw_conf_program_t prog = {
    .name = "test", .summary = "test", .passthrough = passthrough};

static mw_conf_t *conf_with(const char *key, const char *value)
{
    mw_err_t err;
    mw_conf_t *conf = mw_conf_new(&prog, keys, 1, &err);

    assert_non_null(conf);
    if (key)
        assert_int_equal(mw_conf_set(conf, key, value, "--set", &err), 0);
    assert_int_equal(mw_conf_finalize(conf, &err), 0);
    return conf;
}

static void expect_effective(const mw_conf_t *conf, bk_role_t role,
                             const char *rdkey, const char *want)
{
    char buf[256];
    mw_err_t err;

    assert_int_equal(
        bk_conf_effective(conf, role, rdkey, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, want);
}

static void test_good_key_passes(void **state)
{
    mw_conf_t *conf = conf_with("kafka.socket.timeout.ms", "1234");
    mw_err_t err;

    (void)state;
    assert_int_equal(bk_conf_keys_check(conf, &err), 0);
    expect_effective(conf, BK_ROLE_ADMIN, "socket.timeout.ms", "1234");
    mw_conf_destroy(conf);
}

static void test_unknown_key_named(void **state)
{
    mw_conf_t *conf = conf_with("kafka.no.such.property", "1");
    mw_err_t err;

    (void)state;
    assert_int_equal(bk_conf_keys_check(conf, &err), MW_ERR_CONFIG);
    assert_int_equal(err.code, MW_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "key 'kafka.no.such.property': "));
    assert_non_null(strstr(err.msg, "No such configuration property"));
    mw_conf_destroy(conf);
}

static void test_bad_value_named(void **state)
{
    mw_conf_t *conf = conf_with("kafka.linger.ms", "soon");
    mw_err_t err;

    (void)state;
    assert_int_equal(bk_conf_keys_check(conf, &err), MW_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "key 'kafka.linger.ms': "));
    assert_non_null(strstr(err.msg, "Invalid value"));
    mw_conf_destroy(conf);
}

static void test_producer_defaults(void **state)
{
    mw_conf_t *conf = conf_with(NULL, NULL);

    (void)state;
    expect_effective(conf, BK_ROLE_PRODUCER, "bootstrap.servers",
                     "127.0.0.1:9092");
    expect_effective(conf, BK_ROLE_PRODUCER, "enable.idempotence", "true");
    expect_effective(conf, BK_ROLE_PRODUCER, "acks", "-1");
    expect_effective(conf, BK_ROLE_PRODUCER, "partitioner", "murmur2_random");
    expect_effective(conf, BK_ROLE_PRODUCER, "linger.ms", "5");
    mw_conf_destroy(conf);
}

static void test_consumer_defaults(void **state)
{
    mw_conf_t *conf = conf_with(NULL, NULL);

    (void)state;
    expect_effective(conf, BK_ROLE_CONSUMER, "enable.auto.commit", "false");
    expect_effective(conf, BK_ROLE_CONSUMER, "enable.auto.offset.store",
                     "false");
    expect_effective(conf, BK_ROLE_CONSUMER, "auto.offset.reset", "smallest");
    /* Deep local queue: librdkafka 2.0.2 stalls ~1 s per refill past it. */
    expect_effective(conf, BK_ROLE_CONSUMER, "queued.min.messages", "1000000");
    expect_effective(conf, BK_ROLE_CONSUMER, "queued.max.messages.kbytes",
                     "262144");
    /* Producer defaults stay out of consumers. */
    expect_effective(conf, BK_ROLE_CONSUMER, "enable.idempotence", "false");
    mw_conf_destroy(conf);
}

static void test_user_key_beats_default(void **state)
{
    mw_conf_t *conf = conf_with("kafka.linger.ms", "50");

    (void)state;
    expect_effective(conf, BK_ROLE_PRODUCER, "linger.ms", "50");
    mw_conf_destroy(conf);
}

static void test_first_bootstrap(void **state)
{
    mw_conf_t *conf =
        conf_with("kafka.bootstrap.servers", "PLAINTEXT://h1:1,h2:2");
    char buf[64];
    mw_err_t err;

    (void)state;
    assert_int_equal(bk_conf_first_bootstrap(conf, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "h1:1");
    mw_conf_destroy(conf);
}

static void test_unknown_property_lookup(void **state)
{
    mw_conf_t *conf = conf_with(NULL, NULL);
    char buf[16];
    mw_err_t err;

    (void)state;
    assert_int_equal(
        bk_conf_effective(conf, BK_ROLE_ADMIN, "nope", buf, sizeof(buf), &err),
        MW_ERR_NOT_FOUND);
    assert_string_equal(bk_role_name(BK_ROLE_CONSUMER), "consumer");
    mw_conf_destroy(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_key_passes),
        cmocka_unit_test(test_unknown_key_named),
        cmocka_unit_test(test_bad_value_named),
        cmocka_unit_test(test_producer_defaults),
        cmocka_unit_test(test_consumer_defaults),
        cmocka_unit_test(test_user_key_beats_default),
        cmocka_unit_test(test_first_bootstrap),
        cmocka_unit_test(test_unknown_property_lookup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
