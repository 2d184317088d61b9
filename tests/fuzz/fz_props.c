/*
 * fz_props: the Java-properties reader of `-c FILE` (mw_conf_load_text,
 * the same reader mw_conf_load_file runs over a file).  Input: the file's
 * bytes.  The key table has one key of each type and a passthrough
 * prefix, so every value check is reached.  Checks: no crash; a refusal
 * carries a message naming the origin ("fuzz.properties:LINE").
 */
#include "fz.h"

#include "mw_conf.h"

static const char *const passthrough[] = {"kafka.", NULL};
static const char *const colours[] = {"red", "green", NULL};

static const mw_conf_key_t keys[] = {
    {.name = "name", .type = MW_CONF_STR, .doc = "A string."},
    {.name = "count",
     .type = MW_CONF_INT,
     .dflt = "1",
     .min = 0,
     .max = 1000,
     .doc = "A bounded integer."},
    {.name = "flag", .type = MW_CONF_BOOL, .dflt = "false", .doc = "A flag."},
    {.name = "colour",
     .type = MW_CONF_ENUM,
     .dflt = "red",
     .allowed = colours,
     .doc = "An enum."},
    {.name = "listener",
     .type = MW_CONF_LISTENER,
     .dflt = "127.0.0.1:0",
     .doc = "A listener."},
    {.name = "password", .type = MW_CONF_STR, .secret = true, .doc = "Secret."},
};

static const mw_conf_program_t prog = {
    .name = "fz-props",
    .summary = "Properties fuzz target.",
    .passthrough = passthrough,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mw_err_t err = {0};
    mw_conf_t *conf =
        mw_conf_new(&prog, keys, sizeof(keys) / sizeof(keys[0]), &err);

    if (!conf)
        fz_fail("mw_conf_new: %s", err.msg);
    char *text = fz_dup((const char *)data, size);
    if (mw_conf_load_text(conf, "fuzz.properties", text, size, &err) != 0 &&
        !strstr(err.msg, "fuzz.properties"))
        fz_fail("a refusal that does not name the file: %s", err.msg);
    free(text);
    mw_conf_destroy(conf);
    return 0;
}
