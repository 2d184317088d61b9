/*
 * Unit tests for mw_conf, through the public header only: defaults,
 * properties files (every syntax form, continuations, escapes, errors with
 * path:line), environment and --set precedence, the exact wording of the
 * errors people will read, passthrough order, --help (with and without a
 * program's passthrough_doc) and logging.
 * Files are mkstemp temporaries; environments are explicit envp arrays, so
 * the tests never depend on the caller's environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mw_conf.h"
#include "mw_err.h"
#include "mw_log.h"

static const char *const storage_vals[] = {"journal", "kafka", NULL};
static const char *const passthrough[] = {"kafka.", NULL};

static const mw_conf_key_t keys[] = {
    {.name = "brokers",
     .type = MW_CONF_INT,
     .dflt = "3",
     .min = 1,
     .max = 16,
     .doc = "Number of mock brokers."},
    {.name = "bootstrap.listener",
     .type = MW_CONF_LISTENER,
     .dflt = "127.0.0.1:9092",
     .doc = "Stable bootstrap address."},
    {.name = "state.dir",
     .type = MW_CONF_STR,
     .dflt = "./.mesh",
     .doc = "Where state files go."},
    {.name = "storage",
     .type = MW_CONF_ENUM,
     .dflt = "journal",
     .allowed = storage_vals,
     .doc = "Storage | backend."},
    {.name = "verbose",
     .type = MW_CONF_BOOL,
     .dflt = "false",
     .doc = "Chatty logs."},
    {.name = "auth.password",
     .type = MW_CONF_STR,
     .secret = true,
     .doc = "Password."},
    {.name = "group-id", .type = MW_CONF_STR, .doc = "Consumer group."},
    {.name = "offset",
     .type = MW_CONF_INT,
     .dflt = "-5",
     .doc = "Unbounded integer."},
};
#define KEY_CNT (sizeof(keys) / sizeof(keys[0]))

/* The command line of most cases: version "1", help to stdout. */
static const mw_conf_cli_t *cli(int argc, char **argv, char **envp,
                                int *args_out)
{
    static mw_conf_cli_t c;

    c = (mw_conf_cli_t){.argc = argc,
                        .argv = argv,
                        .envp = envp,
                        .version = "1",
                        .out = stdout,
                        .args_out = args_out};
    return &c;
}

static const mw_conf_program_t prog = {
    .name = "mesh-test",
    .summary = "A program for tests.",
    .help_extra = "Extra words.",
    .passthrough = passthrough,
    .passthrough_doc = "kafka.* keys are passed to librdkafka as they are.",
};

static mw_conf_t *new_conf(void)
{
    mw_err_t err = {0};
    mw_conf_t *conf = mw_conf_new(&prog, keys, KEY_CNT, &err);

    assert_non_null(conf);
    return conf;
}

/* Writes text to a fresh temporary file; path receives its name. */
static void write_tmp(char *path, size_t size, const char *text)
{
    int fd;

    snprintf(path, size, "/tmp/test_mw_conf_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void assert_msg(const mw_err_t *err, const char *expected)
{
    assert_int_equal(err->code, MW_ERR_CONFIG);
    assert_string_equal(err->msg, expected);
}

/* Collects passthrough keys as "sub=value@origin;" for order checks. */
typedef struct collect {
    char text[2048];
    int calls;
    int stop_at; /* return non-zero on this call (1-based), 0 = never */
} collect_t;

static int collect_cb(const char *subkey, const char *value, const char *origin,
                      void *opaque)
{
    collect_t *c = opaque;
    size_t n = strlen(c->text);

    snprintf(c->text + n, sizeof(c->text) - n, "%s=%s@%s;", subkey, value,
             origin);
    c->calls++;
    return c->calls == c->stop_at ? 7 : 0;
}

static void test_defaults(void **state)
{
    mw_conf_t *conf = new_conf();

    (void)state;
    assert_int_equal(mw_conf_get_int(conf, "brokers"), 3);
    assert_int_equal(mw_conf_get_int(conf, "offset"), -5);
    assert_string_equal(mw_conf_get_str(conf, "bootstrap.listener"),
                        "127.0.0.1:9092");
    assert_string_equal(mw_conf_get_str(conf, "state.dir"), "./.mesh");
    assert_int_equal(mw_conf_get_enum(conf, "storage"), 0);
    assert_string_equal(mw_conf_get_str(conf, "storage"), "journal");
    assert_false(mw_conf_get_bool(conf, "verbose"));
    assert_null(mw_conf_get_str(conf, "auth.password"));
    assert_false(mw_conf_is_set(conf, "brokers"));
    assert_string_equal(mw_conf_origin(conf, "brokers"), "default");
    assert_string_equal(mw_conf_origin(conf, "group-id"), "default");
    assert_int_equal(mw_conf_finalize(conf, NULL), 0);
    assert_string_equal(mw_conf_type_name(MW_CONF_LISTENER), "listener");
    mw_conf_destroy(conf);
    mw_conf_destroy(NULL);
}

static void test_bad_default(void **state)
{
    static const mw_conf_key_t bad[] = {
        {.name = "brokers",
         .type = MW_CONF_INT,
         .dflt = "x",
         .min = 1,
         .max = 16},
    };
    static const mw_conf_key_t dup[] = {
        {.name = "a", .type = MW_CONF_STR},
        {.name = "a", .type = MW_CONF_INT},
    };
    mw_err_t err = {0};

    (void)state;
    assert_null(mw_conf_new(&prog, bad, 1, &err));
    assert_msg(&err, "key 'brokers': value 'x' (from default) is not an "
                     "integer; expected an integer in [1, 16]");
    assert_null(mw_conf_new(&prog, dup, 2, &err));
    assert_msg(&err, "key table: key 'a' is declared twice");
}

static void test_file_forms(void **state)
{
    const char *text =
        "\xEF\xBB\xBF# comment after a BOM\n"                       /* 1 */
        "! bang comment\n"                                          /* 2 */
        "   # indented comment\n"                                   /* 3 */
        "\n"                                                        /* 4 */
        "brokers=4\n"                                               /* 5 */
        "bootstrap.listener : 127.0.0.1:0\n"                        /* 6 */
        "state.dir   /tmp/x y\n"                                    /* 7 */
        "storage:KAFKA\n"                                           /* 8 */
        "\tverbose = yes \n"                                        /* 9 */
        "kafka.a\\=b\\:c = 1\n"                                     /* 10 */
        "kafka.long = one, \\\n"                                    /* 11 */
        "             two, \\\n"                                    /* 12 */
        "   three\n"                                                /* 13 */
        "kafka.esc = t\\tn\\nb\\\\ \\u00e9\\ud83d\\ude00 \\# \\q\n" /* 14 */
        "kafka.empty =\n"                                           /* 15 */
        "kafka.crlf = v\r\n"                                        /* 16 */
        "kafka.hash = #not a comment\n"                             /* 17 */
        "kafka.cont = a\\\n"                                        /* 18 */
        "  # still value\n"                                         /* 19 */
        "kafka.bs = ends in backslash\\\\\n"                        /* 20 */
        "kafka.last = no newline";                                  /* 21 */
    char path[64], expect[1024];
    mw_err_t err = {0};
    mw_conf_t *conf = new_conf();
    collect_t c = {{0}, 0, 0};

    (void)state;
    write_tmp(path, sizeof(path), text);
    assert_int_equal(mw_conf_load_file(conf, path, &err), 0);
    assert_int_equal(mw_conf_get_int(conf, "brokers"), 4);
    snprintf(expect, sizeof(expect), "%s:5", path);
    assert_string_equal(mw_conf_origin(conf, "brokers"), expect);
    assert_true(mw_conf_is_set(conf, "brokers"));
    assert_string_equal(mw_conf_get_str(conf, "bootstrap.listener"),
                        "127.0.0.1:0");
    assert_string_equal(mw_conf_get_str(conf, "state.dir"), "/tmp/x y");
    assert_int_equal(mw_conf_get_enum(conf, "storage"), 1);
    assert_string_equal(mw_conf_get_str(conf, "storage"), "kafka");
    assert_true(mw_conf_get_bool(conf, "verbose"));
    assert_int_equal(mw_conf_foreach_prefix(conf, "kafka.", collect_cb, &c), 0);
    snprintf(expect, sizeof(expect),
             "a=b:c=1@%1$s:10;long=one, two, three@%1$s:11;"
             "esc=t\tn\nb\\ \xc3\xa9\xf0\x9f\x98\x80 # q@%1$s:14;"
             "empty=@%1$s:15;crlf=v@%1$s:16;hash=#not a comment@%1$s:17;"
             "cont=a# still value@%1$s:18;bs=ends in backslash\\@%1$s:20;"
             "last=no newline@%1$s:21;",
             path);
    assert_string_equal(c.text, expect);
    unlink(path);
    mw_conf_destroy(conf);
}

/* The expected message is pre + the file's path + post. */
static void check_file_error(const char *text, const char *pre,
                             const char *post)
{
    char path[64], expect[512];
    mw_err_t err = {0};
    mw_conf_t *conf = new_conf();

    write_tmp(path, sizeof(path), text);
    assert_int_not_equal(mw_conf_load_file(conf, path, &err), 0);
    snprintf(expect, sizeof(expect), "%s%s%s", pre, path, post);
    assert_msg(&err, expect);
    unlink(path);
    mw_conf_destroy(conf);
}

static void test_file_errors(void **state)
{
    mw_err_t err = {0};
    mw_conf_t *conf = new_conf();

    (void)state;
    check_file_error("# c\nbrokers = 2\nboostrap.listener = h:1\n",
                     "unknown key 'boostrap.listener' (from ",
                     ":3); did you mean 'bootstrap.listener'?");
    check_file_error("\n\nkafka.x = \\u12g4\n", "",
                     ":3: malformed \\uXXXX escape");
    check_file_error("kafka.x = \\ud800 alone\n", "",
                     ":1: malformed \\uXXXX escape");
    check_file_error("kafka.x = \\u0000\n", "", ":1: \\u0000 is not allowed");
    check_file_error("brokers = 99\n", "key 'brokers': value '99' (from ",
                     ":1) is out of range; expected an integer in [1, 16]");
    /* A logical line is reported at its first natural line. */
    check_file_error("kafka.a = x\nkafka.a\\\n  b\n = value\n", "",
                     ":4: missing key before '= value'");
    assert_int_equal(mw_conf_load_file(conf, "/nonexistent/x.properties", &err),
                     MW_ERR_CONFIG);
    assert_msg(&err, "cannot read '/nonexistent/x.properties': No such file "
                     "or directory");
    assert_int_equal(mw_conf_load_file(conf, "/tmp", &err), MW_ERR_CONFIG);
    assert_msg(&err, "cannot read '/tmp': Is a directory");
    mw_conf_destroy(conf);
}

/* mw_conf_load_text: the file reader over bytes in memory, which need not
 * end in a NUL nor a newline; origins and messages use the given name. */
static void test_load_text(void **state)
{
    static const char text[] = "brokers = 3\nkafka.x = a\\\n  b\nbrokers=4X";
    mw_err_t err = {0};
    mw_conf_t *conf = new_conf();

    (void)state;
    assert_int_equal(mw_conf_load_text(conf, "mem", text, 0, &err), 0);
    assert_int_equal(
        mw_conf_load_text(conf, "mem", text, sizeof(text) - 2, &err), 0);
    assert_int_equal(mw_conf_get_int(conf, "brokers"), 4);
    assert_string_equal(mw_conf_origin(conf, "brokers"), "mem:4");
    assert_int_not_equal(
        mw_conf_load_text(conf, "mem", text, sizeof(text) - 1, &err), 0);
    assert_non_null(strstr(err.msg, "mem:4"));
    /* A key or value of any length is quoted short enough for the origin
     * to stay in the message (found by tests/fuzz/fz_props.c). */
    char long_key[700];
    memset(long_key, 'k', sizeof(long_key) - 3);
    memcpy(long_key + sizeof(long_key) - 3, "=1", 3);
    assert_int_not_equal(
        mw_conf_load_text(conf, "mem", long_key, strlen(long_key), &err), 0);
    assert_non_null(strstr(err.msg, "...' (from mem:1)"));
    mw_conf_destroy(conf);
}

static void test_env(void **state)
{
    char *envp[] = {"PATH=/bin",
                    "MESH_BROKERS=5",
                    "MESH_GROUP_ID=g1",
                    "MESH_KAFKA_SOCKET_TIMEOUT_MS=1000",
                    "MESH_UNRELATED=1",
                    "MESH_KAFKA_=ignored",
                    NULL};
    char *bad[] = {"MESH_BROKERS=abc", NULL};
    mw_err_t err = {0};
    mw_conf_t *conf = new_conf();
    collect_t c = {{0}, 0, 0};

    (void)state;
    assert_int_equal(mw_conf_load_env(conf, envp, &err), 0);
    assert_int_equal(mw_conf_get_int(conf, "brokers"), 5);
    assert_string_equal(mw_conf_origin(conf, "brokers"), "env MESH_BROKERS");
    assert_string_equal(mw_conf_get_str(conf, "group-id"), "g1");
    mw_conf_foreach_prefix(conf, "kafka.", collect_cb, &c);
    assert_string_equal(c.text, "socket.timeout.ms=1000@env "
                                "MESH_KAFKA_SOCKET_TIMEOUT_MS;");
    assert_int_equal(mw_conf_load_env(conf, bad, &err), MW_ERR_CONFIG);
    assert_msg(&err, "key 'brokers': value 'abc' (from env MESH_BROKERS) is "
                     "not an integer; expected an integer in [1, 16]");
    assert_int_equal(mw_conf_get_int(conf, "brokers"), 5);
    assert_int_equal(mw_conf_load_env(conf, NULL, &err), 0);
    mw_conf_destroy(conf);
}

static void test_cli_precedence(void **state)
{
    char path[64], origin[160];
    char *envp[] = {"MESH_BROKERS=5", "MESH_STORAGE=journal",
                    "MESH_KAFKA_ACKS=1", NULL};
    mw_err_t err = {0};
    mw_conf_action_t action = MW_CONF_HELP;
    mw_conf_t *conf = new_conf();
    collect_t c = {{0}, 0, 0};

    (void)state;
    write_tmp(path, sizeof(path),
              "brokers=4\nstorage=kafka\nverbose=on\nstate.dir=/f\n"
              "kafka.acks=0\nkafka.linger.ms=5\n");
    char *argv[] = {"mesh-test",      "-c", path, "--set", "brokers=6", "-s",
                    "kafka.acks=all", NULL};
    assert_int_equal(
        mw_conf_from_cli(conf, cli(7, argv, envp, NULL), &action, &err), 0);
    assert_int_equal(action, MW_CONF_RUN);
    assert_int_equal(mw_conf_get_int(conf, "brokers"), 6);
    assert_string_equal(mw_conf_origin(conf, "brokers"), "--set");
    assert_int_equal(mw_conf_get_enum(conf, "storage"), 0);
    assert_string_equal(mw_conf_origin(conf, "storage"), "env MESH_STORAGE");
    assert_true(mw_conf_get_bool(conf, "verbose"));
    snprintf(origin, sizeof(origin), "%s:3", path);
    assert_string_equal(mw_conf_origin(conf, "verbose"), origin);
    assert_string_equal(mw_conf_get_str(conf, "state.dir"), "/f");
    /* Overriding a passthrough key keeps its first position. */
    mw_conf_foreach_prefix(conf, "kafka.", collect_cb, &c);
    snprintf(origin, sizeof(origin), "acks=all@--set;linger.ms=5@%s:6;", path);
    assert_string_equal(c.text, origin);
    unlink(path);
    mw_conf_destroy(conf);
}

static void test_cli_forms(void **state)
{
    char path1[64], path2[64];
    mw_err_t err = {0};
    mw_conf_action_t action;
    mw_conf_t *conf = new_conf();
    int first = -1;

    (void)state;
    write_tmp(path1, sizeof(path1), "brokers=2\nstate.dir=/one\n");
    write_tmp(path2, sizeof(path2), "brokers=9\n");
    char config_eq[80];
    snprintf(config_eq, sizeof(config_eq), "--config=%s", path2);
    char *argv[] = {"p",
                    "--config",
                    path1,
                    config_eq,
                    "--set=verbose=1",
                    "-sgroup-id=a=b",
                    "--set",
                    "kafka.x=y",
                    "--",
                    "-not-an-option",
                    NULL};
    assert_int_equal(
        mw_conf_from_cli(conf, cli(10, argv, NULL, &first), &action, &err), 0);
    assert_int_equal(first, 9);
    assert_int_equal(mw_conf_get_int(conf, "brokers"), 9);
    assert_string_equal(mw_conf_get_str(conf, "state.dir"), "/one");
    assert_true(mw_conf_get_bool(conf, "verbose"));
    assert_string_equal(mw_conf_get_str(conf, "group-id"), "a=b");
    assert_string_equal(mw_conf_origin(conf, "kafka.x"), "--set");
    unlink(path1);
    unlink(path2);
    mw_conf_destroy(conf);
}

static void check_cli_error(int argc, char **argv, int *args_out,
                            const char *expected)
{
    mw_err_t err = {0};
    mw_conf_action_t action;
    mw_conf_t *conf = new_conf();

    assert_int_equal(
        mw_conf_from_cli(conf, cli(argc, argv, NULL, args_out), &action, &err),
        MW_ERR_CONFIG);
    assert_msg(&err, expected);
    mw_conf_destroy(conf);
}

static void test_cli_errors(void **state)
{
    char *bogus[] = {"p", "--bogus", NULL};
    char *typo[] = {"p", "--sett", "a=b", NULL};
    char *noeq[] = {"p", "--set", "brokers", NULL};
    char *noarg[] = {"p", "--set", NULL};
    char *noarg_c[] = {"p", "-c", NULL};
    char *pos[] = {"p", "foo", NULL};
    char *unknown[] = {"p", "--set", "boostrap.listener=h:1", NULL};
    char *badval[] = {"p", "--set=brokers=0", NULL};
    char *sub[] = {"p", "--set", "brokers=2", "topic", "list", "--json", NULL};
    mw_err_t err = {0};
    mw_conf_action_t action;
    mw_conf_t *conf = new_conf();
    int first = 0;

    (void)state;
    check_cli_error(2, bogus, NULL,
                    "unknown option '--bogus'; see 'mesh-test --help'");
    check_cli_error(3, typo, NULL,
                    "unknown option '--sett'; see 'mesh-test --help'");
    check_cli_error(3, noeq, NULL,
                    "option --set needs key=value, got 'brokers'");
    check_cli_error(2, noarg, NULL,
                    "option '--set' needs an argument; see --help");
    check_cli_error(2, noarg_c, NULL,
                    "option '-c' needs an argument; see --help");
    check_cli_error(2, pos, NULL,
                    "unexpected argument 'foo'; see 'mesh-test --help'");
    check_cli_error(3, unknown, NULL,
                    "unknown key 'boostrap.listener' (from --set); did you "
                    "mean 'bootstrap.listener'?");
    check_cli_error(2, badval, NULL,
                    "key 'brokers': value '0' (from --set) is out of range; "
                    "expected an integer in [1, 16]");
    /* Sub-commands: parsing stops at the first positional argument. */
    assert_int_equal(
        mw_conf_from_cli(conf, cli(6, sub, NULL, &first), &action, &err), 0);
    assert_int_equal(first, 3);
    assert_int_equal(mw_conf_get_int(conf, "brokers"), 2);
    mw_conf_destroy(conf);
}

static void test_unknown_key(void **state)
{
    mw_err_t err = {0};
    mw_conf_t *conf = new_conf();

    (void)state;
    assert_int_equal(
        mw_conf_set(conf, "boostrap.listener", "h:1", "--set", &err),
        MW_ERR_CONFIG);
    assert_msg(&err, "unknown key 'boostrap.listener' (from --set); did you "
                     "mean 'bootstrap.listener'?");
    mw_conf_set(conf, "BROKERS", "2", "--set", &err);
    assert_msg(&err, "unknown key 'BROKERS' (from --set); did you mean "
                     "'brokers'?");
    mw_conf_set(conf, "zzzzzz", "1", "--set", &err);
    assert_msg(&err, "unknown key 'zzzzzz' (from --set); see 'mesh-test "
                     "--help' for the known keys");
    mw_conf_set(conf, "kafak.acks", "all", "env MESH_X", &err);
    assert_msg(&err, "unknown key 'kafak.acks' (from env MESH_X); did you "
                     "mean 'kafka.acks'?");
    mw_conf_set(conf, "kafka.", "x", "--set", &err);
    assert_msg(&err, "key 'kafka.' (from --set) has no name after the prefix "
                     "'kafka.'");
    mw_conf_destroy(conf);
}

static void test_bad_values(void **state)
{
    mw_err_t err = {0};
    mw_conf_t *conf = new_conf();
    static const char *const yes[] = {"true", "YES", "on", "1", " True "};
    static const char *const no[] = {"false", "no", "Off", "0"};

    (void)state;
    mw_conf_set(conf, "brokers", "abc", "env MESH_BROKERS", &err);
    assert_msg(&err, "key 'brokers': value 'abc' (from env MESH_BROKERS) is "
                     "not an integer; expected an integer in [1, 16]");
    mw_conf_set(conf, "brokers", "4x", "--set", &err);
    assert_msg(&err, "key 'brokers': value '4x' (from --set) is not an "
                     "integer; expected an integer in [1, 16]");
    mw_conf_set(conf, "offset", "99999999999999999999", "--set", &err);
    assert_msg(&err, "key 'offset': value '99999999999999999999' (from --set)"
                     " is out of range; expected an integer");
    assert_int_equal(mw_conf_get_int(conf, "brokers"), 3);
    assert_int_equal(mw_conf_set(conf, "brokers", " 8 ", "--set", &err), 0);
    assert_int_equal(mw_conf_get_int(conf, "brokers"), 8);
    mw_conf_set(conf, "verbose", "maybe", "--set", &err);
    assert_msg(&err, "key 'verbose': value 'maybe' (from --set) is not a "
                     "boolean; expected true/false, yes/no, on/off or 1/0");
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        assert_int_equal(mw_conf_set(conf, "verbose", yes[i], "t", &err), 0);
        assert_true(mw_conf_get_bool(conf, "verbose"));
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        assert_int_equal(mw_conf_set(conf, "verbose", no[i], "t", &err), 0);
        assert_false(mw_conf_get_bool(conf, "verbose"));
    }
    mw_conf_set(conf, "storage", "disk", "--set", &err);
    assert_msg(&err, "key 'storage': value 'disk' (from --set) is not "
                     "allowed; expected one of: journal, kafka");
    mw_conf_set(conf, "bootstrap.listener", "localhost:99999", "--set", &err);
    assert_msg(&err, "key 'bootstrap.listener': value 'localhost:99999' "
                     "(from --set) is not a valid listener (port '99999' is "
                     "not a number in 0..65535); expected host:port, "
                     "http://host:port or [ipv6]:port with a port in "
                     "0..65535");
    mw_conf_set(conf, "bootstrap.listener", "localhost", "--set", &err);
    assert_msg(&err, "key 'bootstrap.listener': value 'localhost' (from "
                     "--set) is not a valid listener (missing :port); "
                     "expected host:port, http://host:port or [ipv6]:port "
                     "with a port in 0..65535");
    assert_string_equal(mw_conf_get_str(conf, "bootstrap.listener"),
                        "127.0.0.1:9092");
    mw_conf_destroy(conf);
}

static void test_parse_listener(void **state)
{
    static const struct {
        const char *in, *host;
        int port;
    } good[] = {
        {"127.0.0.1:9092", "127.0.0.1", 9092},
        {"http://0.0.0.0:8081", "0.0.0.0", 8081},
        {"HTTP://my-host.example:1/", "my-host.example", 1},
        {"[::1]:0", "::1", 0},
        {"http://[fe80::1%eth0]:65535", "fe80::1%eth0", 65535},
    };
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"::1:80", "an IPv6 address needs brackets, as in [::1]:0"},
        {":80", "missing host"},
        {"h:", "port '' is not a number in 0..65535"},
        {"h:-1", "port '-1' is not a number in 0..65535"},
        {"h:65536", "port '65536' is not a number in 0..65535"},
        {"h: 80", "port ' 80' is not a number in 0..65535"},
        {"h:80/", "port '80/' is not a number in 0..65535"},
        {"[::1]", "missing :port after ']'"},
        {"[::1:80", "missing ']'"},
        {"a b:80", "bad character in host"},
        {"https://h:80", "unsupported scheme, only http:// is"},
    };
    char host[64];
    int port = -1;
    mw_err_t err = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(
            mw_conf_parse_listener(good[i].in, host, sizeof(host), &port, &err),
            0);
        assert_string_equal(host, good[i].host);
        assert_int_equal(port, good[i].port);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            mw_conf_parse_listener(bad[i].in, host, sizeof(host), &port, &err),
            MW_ERR_INVALID);
        assert_string_equal(err.msg, bad[i].why);
    }
    assert_int_equal(mw_conf_parse_listener("abcdef:1", host, 4, &port, &err),
                     MW_ERR_INVALID);
    assert_string_equal(err.msg, "host is too long");
}

static void test_passthrough(void **state)
{
    static const mw_conf_key_t kkeys[] = {
        {.name = "kafka.bootstrap.servers",
         .type = MW_CONF_STR,
         .dflt = "127.0.0.1:9092",
         .doc = "Brokers."},
    };
    char *envp[] = {"MESH_KAFKA_BOOTSTRAP_SERVERS=h:1", NULL};
    mw_err_t err = {0};
    mw_conf_t *conf = new_conf();
    collect_t c = {{0}, 0, 0};

    (void)state;
    assert_int_equal(mw_conf_set(conf, "kafka.b", "1", "o", &err), 0);
    assert_int_equal(mw_conf_set(conf, "kafka.a", "2", "o", &err), 0);
    assert_int_equal(mw_conf_set(conf, "kafka.c", "3", "o", &err), 0);
    assert_int_equal(mw_conf_set(conf, "kafka.b", "4", "p", &err), 0);
    assert_true(mw_conf_is_set(conf, "kafka.b"));
    assert_false(mw_conf_is_set(conf, "kafka.z"));
    assert_null(mw_conf_origin(conf, "kafka.z"));
    assert_int_equal(mw_conf_foreach_prefix(conf, "kafka.", collect_cb, &c), 0);
    assert_string_equal(c.text, "b=4@p;a=2@o;c=3@o;");
    memset(&c, 0, sizeof(c));
    c.stop_at = 2;
    assert_int_equal(mw_conf_foreach_prefix(conf, "kafka.", collect_cb, &c), 7);
    assert_int_equal(c.calls, 2);
    mw_conf_destroy(conf);

    /* A declared key under the prefix: validated as declared, visited first,
     * and its environment variable is not read twice. */
    conf = mw_conf_new(&prog, kkeys, 1, &err);
    assert_non_null(conf);
    assert_int_equal(mw_conf_set(conf, "kafka.acks", "all", "o", &err), 0);
    assert_int_equal(mw_conf_load_env(conf, envp, &err), 0);
    memset(&c, 0, sizeof(c));
    mw_conf_foreach_prefix(conf, "kafka.", collect_cb, &c);
    assert_string_equal(c.text, "bootstrap.servers=h:1@env "
                                "MESH_KAFKA_BOOTSTRAP_SERVERS;acks=all@o;");
    mw_conf_destroy(conf);
}

/* Runs from_cli with argv and returns what it printed (free() it). */
static char *cli_output(char **argv, int argc, mw_conf_action_t *action)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    mw_err_t err = {0};
    mw_conf_t *conf = new_conf();

    assert_non_null(out);
    assert_int_equal(mw_conf_from_cli(conf,
                                      &(mw_conf_cli_t){.argc = argc,
                                                       .argv = argv,
                                                       .envp = NULL,
                                                       .version = "1.2.3",
                                                       .out = out},
                                      action, &err),
                     0);
    fclose(out);
    mw_conf_destroy(conf);
    return text;
}

static void test_help(void **state)
{
    char *help[] = {"p", "--set", "brokers=99", "--help", NULL};
    char *version[] = {"p", "-V", NULL};
    char *markdown[] = {"p", "--help-markdown", NULL};
    mw_conf_action_t action = MW_CONF_RUN;
    char *text;

    (void)state;
    /* --help works even when the configuration is broken. */
    text = cli_output(help, 4, &action);
    assert_int_equal(action, MW_CONF_HELP);
    assert_non_null(strstr(text, "usage: mesh-test [-c FILE.properties] "
                                 "[--set key=value]... [--help] "
                                 "[--version]\n\nA program for tests.\n"));
    assert_non_null(strstr(text, "  brokers\n      integer in [1, 16]; "
                                 "default 3\n      Number of mock brokers.\n"));
    assert_non_null(strstr(text, "one of: journal, kafka; default journal"));
    assert_non_null(strstr(text, "  auth.password\n      string, secret; no "
                                 "default\n"));
    assert_non_null(strstr(text, "bootstrap.listener\n      listener"));
    assert_non_null(strstr(text, "kafka.* keys are passed to librdkafka as "
                                 "they are."));
    assert_non_null(strstr(text, "(brokers -> MESH_BROKERS)"));
    assert_non_null(strstr(text, "kafka.* keys as MESH_KAFKA_*"));
    assert_non_null(strstr(text, "\nExtra words.\n"));
    free(text);

    text = cli_output(version, 2, &action);
    assert_int_equal(action, MW_CONF_VERSION);
    assert_string_equal(text, "mesh-test 1.2.3\n");
    free(text);

    text = cli_output(markdown, 2, &action);
    assert_int_equal(action, MW_CONF_HELP);
    assert_non_null(strstr(text, "## mesh-test\n"));
    assert_non_null(strstr(text, "| key | type | default | description |\n"));
    assert_non_null(strstr(text, "| `brokers` | integer in [1, 16] | `3` | "
                                 "Number of mock brokers. |\n"));
    assert_non_null(strstr(text, "| `storage` | one of: `journal`, `kafka` "
                                 "| `journal` | Storage \\| backend. |\n"));
    assert_non_null(strstr(text, "\nkafka.* keys are passed to librdkafka "
                                 "as they are.\n"));
    free(text);
}

/* Help and Markdown text of a program, through the public printers. */
static char *print_output(const mw_conf_program_t *p, bool markdown)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    mw_err_t err = {0};
    mw_conf_t *conf = mw_conf_new(p, keys, KEY_CNT, &err);

    assert_non_null(out);
    assert_non_null(conf);
    if (markdown)
        mw_conf_print_markdown(conf, out);
    else
        mw_conf_print_help(conf, out);
    fclose(out);
    mw_conf_destroy(conf);
    return text;
}

/* common/ names no backend: the program's passthrough_doc is printed
 * (wrapped) in place of the generic sentence, which is what a program
 * without one gets, and neither is printed without passthrough prefixes. */
static void test_passthrough_doc(void **state)
{
    static const char *const two[] = {"kafka.", "pg.", NULL};
    const mw_conf_program_t generic = {.name = "g", .passthrough = two};
    const mw_conf_program_t documented = {
        .name = "d",
        .passthrough = two,
        .passthrough_doc = "kafka.* keys go to librdkafka and pg.* keys go "
                           "to libpq, both as they are, and each library "
                           "checks its own keys.",
    };
    const mw_conf_program_t none = {.name = "n", .passthrough_doc = "Doc."};
    char *text;

    (void)state;
    text = print_output(&generic, false);
    assert_non_null(strstr(text, "\nKeys under kafka. are passed to the "
                                 "backend that owns them.\n"));
    assert_non_null(strstr(text, "\nKeys under pg. are passed to the "
                                 "backend that owns them.\n"));
    assert_null(strstr(text, "librdkafka"));
    free(text);

    text = print_output(&generic, true);
    assert_non_null(strstr(text, "\nKeys under `kafka.` are passed to the "
                                 "backend that owns them.\n"));
    free(text);

    text = print_output(&documented, false);
    assert_non_null(strstr(text, "\nkafka.* keys go to librdkafka and pg.* "
                                 "keys go to libpq, both as they are, "
                                 "and\neach library checks its own "
                                 "keys.\n"));
    assert_null(strstr(text, "backend that owns them"));
    assert_non_null(strstr(text, "kafka.* keys as MESH_KAFKA_*"));
    free(text);

    text = print_output(&documented, true);
    assert_non_null(strstr(text, "\nkafka.* keys go to librdkafka"));
    assert_null(strstr(text, "backend that owns them"));
    free(text);

    text = print_output(&none, false);
    assert_null(strstr(text, "Doc."));
    assert_null(strstr(text, "backend that owns them"));
    free(text);
}

static void test_required(void **state)
{
    static const mw_conf_key_t rkeys[] = {
        {.name = "topic",
         .type = MW_CONF_STR,
         .required = true,
         .doc = "Topic."},
    };
    char *argv[] = {"p", NULL};
    char *envp[] = {"MESH_TOPIC=t1", NULL};
    mw_err_t err = {0};
    mw_conf_action_t action;
    mw_conf_t *conf = mw_conf_new(&prog, rkeys, 1, &err);

    (void)state;
    assert_non_null(conf);
    assert_int_equal(
        mw_conf_from_cli(conf, cli(1, argv, NULL, NULL), &action, &err),
        MW_ERR_CONFIG);
    assert_msg(&err, "required key 'topic' is not set; set it in the "
                     "properties file, in the environment or with --set "
                     "topic=...");
    mw_conf_set(conf, "topic", "", "--set", &err);
    assert_int_equal(mw_conf_finalize(conf, &err), MW_ERR_CONFIG);
    assert_msg(&err, "required key 'topic' is empty (from --set)");
    assert_int_equal(
        mw_conf_from_cli(conf, cli(1, argv, envp, NULL), &action, &err), 0);
    assert_string_equal(mw_conf_get_str(conf, "topic"), "t1");
    mw_conf_destroy(conf);
}

static void test_log_effective(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    mw_err_t err = {0};
    mw_conf_t *conf = new_conf();

    (void)state;
    assert_non_null(out);
    assert_int_equal(
        mw_conf_set(conf, "auth.password", "hunter2", "--set", &err), 0);
    assert_int_equal(
        mw_conf_set(conf, "kafka.sasl.password", "s3cr3tpw", "--set", &err), 0);
    assert_int_equal(
        mw_conf_set(conf, "kafka.ssl.key.pem", "PEMDATA", "--set", &err), 0);
    assert_int_equal(mw_conf_set(conf, "kafka.acks", "all", "--set", &err), 0);
    mw_log_set_stream(out);
    mw_conf_log_effective(conf, "test");
    mw_log_set_stream(NULL);
    fclose(out);
    assert_non_null(strstr(text, "msg=\"config\" key=brokers value=3 "
                                 "origin=default\n"));
    assert_non_null(strstr(text, "key=state.dir value=./.mesh "));
    assert_non_null(strstr(text, "key=auth.password value=****** "
                                 "origin=--set\n"));
    assert_non_null(strstr(text, "key=kafka.sasl.password value=****** "));
    assert_non_null(strstr(text, "key=kafka.ssl.key.pem value=****** "));
    assert_non_null(strstr(text, "key=kafka.acks value=all origin=--set\n"));
    assert_non_null(strstr(text, "key=group-id value=\"\" origin=default\n"));
    assert_null(strstr(text, "hunter2"));
    assert_null(strstr(text, "s3cr3tpw"));
    assert_null(strstr(text, "PEMDATA"));
    free(text);
    mw_conf_destroy(conf);
}

/* ------------------------------------------------- backend choices */

static int sink_pg_check(const mw_conf_t *conf, mw_err_t *err)
{
    const char *ci = mw_conf_get_str(conf, "pg.conninfo");
    if (!ci || !*ci)
        return mw_err_set(err, MW_ERR_CONFIG,
                          "key 'pg.conninfo': required "
                          "with sink=pg");
    return 0;
}

static const mw_conf_key_t sink_file_keys[] = {
    {.name = "file.dir",
     .type = MW_CONF_STR,
     .dflt = "/tmp/out",
     .doc = "sink=file: where files go."},
};
static const mw_conf_key_t sink_pg_keys[] = {
    {.name = "pg.conninfo",
     .type = MW_CONF_STR,
     .secret = true,
     .doc = "sink=pg: libpq connection string."},
    {.name = "pg.schema",
     .type = MW_CONF_STR,
     .dflt = "public",
     .doc = "sink=pg: schema."},
};
static const mw_conf_backend_t sink_backends[] = {
    {.name = "file",
     .doc = "Files in a directory.",
     .keys = sink_file_keys,
     .key_cnt = 1},
    {.name = "pg",
     .doc = "PostgreSQL tables.",
     .keys = sink_pg_keys,
     .key_cnt = 2,
     .check = sink_pg_check},
    {.name = "null", .doc = "Nothing is kept."},
};

static const mw_conf_backend_t *sink_backend_at(size_t i)
{
    return i < sizeof(sink_backends) / sizeof(*sink_backends)
               ? &sink_backends[i]
               : NULL;
}

static const mw_conf_choice_t sink_choice = {
    .key = {.name = "sink", .required = true, .doc = "Output port."},
    .backend_at = sink_backend_at,
};
static const mw_conf_choice_t *const choices[] = {&sink_choice, NULL};
static const mw_conf_program_t choice_prog = {
    .name = "mesh-test",
    .summary = "Backend choices.",
    .choices = choices,
};

static int choice_cli(const char *const *args, mw_conf_t **out, char *msg)
{
    mw_err_t err = {0};
    mw_conf_action_t action;
    int argc = 0;
    char *argv[16];
    char *envp[] = {NULL};

    argv[argc++] = "mesh-test";
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    *out = mw_conf_new(&choice_prog, keys, 2, &err);
    assert_non_null(*out);
    int rc = mw_conf_from_cli(*out, cli(argc, argv, envp, NULL), &action, &err);
    snprintf(msg, MW_ERR_MSG_MAX, "%s", err.msg);
    return rc;
}

static void test_backend_choice(void **state)
{
    char msg[MW_ERR_MSG_MAX], names[64];
    mw_conf_t *conf;
    (void)state;

    /* The backends' keys are declared, with their defaults. */
    const char *file_args[] = {"--set", "sink=file", NULL};
    assert_int_equal(choice_cli(file_args, &conf, msg), 0);
    assert_string_equal(mw_conf_get_str(conf, "file.dir"), "/tmp/out");
    assert_string_equal(mw_conf_get_str(conf, "pg.schema"), "public");
    assert_int_equal(mw_conf_get_int(conf, "brokers"), 3);
    assert_string_equal(mw_conf_chosen(conf, &sink_choice)->name, "file");
    mw_conf_destroy(conf);

    /* The chosen backend's check runs at finalize, only for it. */
    const char *pg_args[] = {"--set", "sink=pg", NULL};
    assert_int_equal(choice_cli(pg_args, &conf, msg), MW_ERR_CONFIG);
    assert_string_equal(msg, "key 'pg.conninfo': required with sink=pg");
    mw_conf_destroy(conf);
    const char *pg_ok[] = {"--set", "sink=PG", "--set", "pg.conninfo=x", NULL};
    assert_int_equal(choice_cli(pg_ok, &conf, msg), 0);
    assert_string_equal(mw_conf_chosen(conf, &sink_choice)->name, "pg");
    mw_conf_destroy(conf);

    /* The choosing key's values come from the registration table. */
    const char *bad[] = {"--set", "sink=kafka", NULL};
    assert_int_equal(choice_cli(bad, &conf, msg), MW_ERR_CONFIG);
    assert_non_null(strstr(msg, "file, pg, null"));
    mw_conf_destroy(conf);
    const char *none[] = {NULL};
    assert_int_equal(choice_cli(none, &conf, msg), MW_ERR_CONFIG);
    assert_non_null(strstr(msg, "required key 'sink'"));
    assert_null(mw_conf_chosen(conf, &sink_choice));
    mw_conf_destroy(conf);
    mw_conf_choice_names(&sink_choice, names, sizeof(names));
    assert_string_equal(names, "file, pg or null");
}

static void test_backend_choice_help(void **state)
{
    char *text = NULL;
    size_t len = 0;
    mw_err_t err = {0};
    (void)state;
    mw_conf_t *conf = mw_conf_new(&choice_prog, keys, 2, &err);
    assert_non_null(conf);
    FILE *out = open_memstream(&text, &len);
    mw_conf_print_help(conf, out);
    mw_conf_print_markdown(conf, out);
    fclose(out);
    assert_non_null(strstr(text, "pg: PostgreSQL tables."));
    assert_non_null(strstr(text, "null: Nothing is kept."));
    assert_non_null(strstr(text, "pg.conninfo"));
    assert_non_null(strstr(text, "`pg`: PostgreSQL tables."));
    free(text);
    mw_conf_destroy(conf);
}

static void test_listener_url(void **state)
{
    char url[128];
    (void)state;
    assert_int_equal(
        mw_conf_listener_url("0.0.0.0:9092", 40, url, sizeof(url), NULL), 0);
    assert_string_equal(url, "http://127.0.0.1:40");
    assert_int_equal(
        mw_conf_listener_url("http://[::1]:0", 81, url, sizeof(url), NULL), 0);
    assert_string_equal(url, "http://[::1]:81");
    assert_int_equal(
        mw_conf_listener_url("localhost:1", 2, url, sizeof(url), NULL), 0);
    assert_string_equal(url, "http://localhost:2");
    assert_int_equal(mw_conf_listener_url("nohost", 2, url, sizeof(url), NULL),
                     MW_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bad_default),
        cmocka_unit_test(test_file_forms),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_load_text),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_cli_precedence),
        cmocka_unit_test(test_cli_forms),
        cmocka_unit_test(test_cli_errors),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_parse_listener),
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_passthrough_doc),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_log_effective),
        cmocka_unit_test(test_backend_choice),
        cmocka_unit_test(test_backend_choice_help),
        cmocka_unit_test(test_listener_url),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
