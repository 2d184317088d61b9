/*
 * av_compat_tool WRITER.avsc READER.avsc [-v]
 *
 * Test helper for the compatibility case suite: prints one line, `compatible`
 * or `incompatible TYPE LOCATION` (the first incompatibility, as Java's
 * SchemaCompatibility lists them), and exits 0 either way.  With -v it then
 * prints every incompatibility in Confluent's verbose form.  Exits 2 when a
 * schema cannot be read or is not a valid Avro schema.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av_compat.h"
#include "av_schema.h"

#define TOOL_MAX_BYTES (16u << 20)

static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = fp ? malloc(TOOL_MAX_BYTES) : NULL;
    if (!buf) {
        if (fp)
            fclose(fp);
        return NULL;
    }
    *len = fread(buf, 1, TOOL_MAX_BYTES, fp);
    int bad = ferror(fp) || !feof(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        return NULL;
    }
    return buf;
}

static av_schema_t *load(const char *path)
{
    size_t len = 0;
    mw_err_t err;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "av_compat_tool: cannot read %s\n", path);
        return NULL;
    }
    mw_err_clear(&err);
    av_schema_t *schema = av_schema_parse(text, len, NULL, 0, &err);
    free(text);
    if (!schema)
        fprintf(stderr, "av_compat_tool: %s: %s\n", path, err.msg);
    return schema;
}

static void print_verbose(const av_compat_result_t *res)
{
    for (size_t i = 0; i < av_compat_result_cnt(res); i++) {
        const av_compat_msg_t *msg = av_compat_result_get(res, i);
        size_t len = av_compat_msg_format(msg, NULL, 0);
        char *s = malloc(len + 1);
        if (!s)
            return;
        av_compat_msg_format(msg, s, len + 1);
        printf("%s\n", s);
        free(s);
    }
}

int main(int argc, char **argv)
{
    av_schema_t *writer = NULL, *reader = NULL;
    av_compat_result_t *res = NULL;
    int rc = 2;
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "-v") != 0)) {
        fprintf(stderr, "usage: av_compat_tool WRITER.avsc READER.avsc [-v]\n");
        return 2;
    }
    if (!(writer = load(argv[1])) || !(reader = load(argv[2])))
        goto out;
    if (!(res = av_compat_result_new()) ||
        av_compat_check(reader, writer, res) < 0) {
        fprintf(stderr, "av_compat_tool: out of memory\n");
        goto out;
    }
    if (av_compat_result_is_compatible(res)) {
        printf("compatible\n");
    } else {
        const av_compat_msg_t *first = av_compat_result_get(res, 0);
        printf("incompatible %s %s\n", av_compat_err_name(first->type),
               first->location);
    }
    if (argc == 4)
        print_verbose(res);
    rc = 0;
out:
    av_compat_result_destroy(res);
    if (reader)
        av_schema_release(reader);
    if (writer)
        av_schema_release(writer);
    return rc;
}
