/*
 * av_serde_tool: command-line front of av_serde for the interop tests.
 *
 *   av_serde_tool encode SCHEMA.avsc ID < value.json > framed.bin
 *   av_serde_tool decode SCHEMA.avsc [READER.avsc] < framed.bin
 *   av_serde_tool decode-body SCHEMA.avsc [READER.avsc] < body.bin
 *   av_serde_tool decode-hex SCHEMA.avsc [READER.avsc] < lines
 *   av_serde_tool encode-registry URL SUBJECT SCHEMA.avsc < value.json
 *   av_serde_tool decode-registry URL [READER.avsc] < framed.bin
 *   av_serde_tool client URL < commands
 *
 * The -registry forms go through sr_client: encode registers the schema
 * under SUBJECT and frames with the id the registry gives; decode fetches
 * the writer schema by the message's id.  `client` runs sr_client calls
 * from stdin on one client (so caches and the kept connection are used),
 * one per line: "register SUBJECT FILE", "lookup SUBJECT FILE",
 * "latest SUBJECT", "version SUBJECT N", "compat SUBJECT N|-1 FILE",
 * "id N"; each prints "ok ..." or "error CODE MW_ERR_x message" where
 * CODE is the registry's error_code.
 * encode reads one Avro JSON value and writes the Confluent message;
 * decode reads one Confluent message and prints the value as compact Avro
 * JSON on one line; decode-hex reads one hex-encoded Confluent message per
 * line and prints one line each, the value or "error: <message>", so one
 * process can check thousands of inputs (the fuzz test).  Errors go to stderr
 * with exit 1 (2 for usage), so the fuzz test can tell a clean rejection from a
 * crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mw_buf.h"
#include "mw_err.h"
#include "mw_hex.h"
#include "sr_client.h"
#include "av_schema.h"
#include "av_serde.h"
#include "sr_frame.h"

#define TOOL_MAX_INPUT ((size_t)64 << 20)

static char *read_stream(FILE *f, size_t *len)
{
    mw_buf_t *buf = mw_buf_new(TOOL_MAX_INPUT);
    char chunk[65536];
    size_t n;
    while (buf && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (mw_buf_append(buf, chunk, n) != 0) {
            mw_buf_destroy(buf);
            return NULL;
        }
    }
    char *data = buf ? mw_buf_steal(buf, len) : NULL;
    mw_buf_destroy(buf);
    return data;
}

static av_schema_t *load_schema(const char *path, mw_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        mw_err_set(err, MW_ERR_IO, "%s: cannot open", path);
        return NULL;
    }
    size_t len = 0;
    char *text = read_stream(f, &len);
    fclose(f);
    av_schema_t *schema =
        text ? av_schema_parse(text, len, NULL, 0, err) : NULL;
    if (!text)
        mw_err_set(err, MW_ERR_IO, "%s: cannot read", path);
    else if (!schema)
        mw_err_prefix(err, "%s", path);
    free(text);
    return schema;
}

static int encode(av_serde_plan_t *plan, const char *id_text, mw_err_t *err)
{
    char *end;
    unsigned long id = strtoul(id_text, &end, 10);
    if (*end || id > 0xffffffffUL)
        return mw_err_set(err, MW_ERR_INVALID, "bad schema id %s", id_text);
    json_error_t jerr;
    json_t *value = json_loadf(stdin, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!value)
        return mw_err_set(err, MW_ERR_INVALID, "stdin:%d: %s", jerr.line,
                          jerr.text);
    mw_buf_t *out = mw_buf_new(0);
    int rc = out ? sr_frame_encode(plan, (uint32_t)id, value, out, err)
                 : mw_err_set(err, MW_ERR_NOMEM, "out of memory");
    if (rc == 0)
        fwrite(mw_buf_data(out), 1, mw_buf_len(out), stdout);
    mw_buf_destroy(out);
    json_decref(value);
    return rc;
}

static int decode(av_serde_plan_t *plan, int framed, mw_err_t *err)
{
    size_t len = 0;
    char *data = read_stream(stdin, &len);
    if (!data)
        return mw_err_set(err, MW_ERR_IO, "cannot read stdin");
    json_t *value = NULL;
    int rc = framed ? sr_frame_decode(plan, data, len, NULL, &value, err)
                    : av_serde_avro_to_json(plan, data, len, &value, err);
    if (rc == 0) {
        json_dumpf(value, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
        fputc('\n', stdout);
    }
    json_decref(value);
    free(data);
    return rc;
}

#define TOOL_TIMEOUT_MS 10000

static char *read_file(const char *path, mw_err_t *err)
{
    FILE *f = fopen(path, "rb");
    size_t len;
    char *text = f ? read_stream(f, &len) : NULL;
    if (f)
        fclose(f);
    if (!text)
        mw_err_set(err, MW_ERR_IO, "%s: cannot read", path);
    return text;
}

/* encode-registry URL SUBJECT SCHEMA / decode-registry URL [READER] */
static int with_registry(int argc, char **argv, mw_err_t *err)
{
    int enc = strcmp(argv[1], "encode-registry") == 0;
    sr_client_t *client = sr_client_new(argv[2], TOOL_TIMEOUT_MS, err);
    av_schema_t *writer = NULL, *reader = NULL;
    av_serde_plan_t *plan = NULL;
    char *text = NULL, *data = NULL;
    uint32_t id = 0;
    size_t len = 0;
    int rc = client ? 0 : -1;
    if (rc == 0 && enc) {
        text = read_file(argv[4], err);
        rc = text ? sr_client_register(client, argv[3], text, &id, err) : -1;
        writer = rc == 0 ? sr_client_get_schema_by_id(client, id, err) : NULL;
    } else if (rc == 0) {
        data = read_stream(stdin, &len);
        if (argc == 4 && !(reader = load_schema(argv[3], err)))
            rc = -1;
        if (rc == 0 && sr_frame_parse(data, len, &id, NULL, NULL, err) != 0)
            rc = -1;
        writer = rc == 0 ? sr_client_get_schema_by_id(client, id, err) : NULL;
    }
    plan = writer ? av_serde_plan_new(writer, reader, err) : NULL;
    if (plan && enc) {
        char buf[16];
        snprintf(buf, sizeof(buf), "%u", id);
        rc = encode(plan, buf, err);
    } else if (plan) {
        json_t *value = NULL;
        rc = sr_frame_decode(plan, data, len, NULL, &value, err);
        if (rc == 0) {
            json_dumpf(value, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
            fputc('\n', stdout);
        }
        json_decref(value);
    } else {
        rc = -1;
    }
    av_serde_plan_destroy(plan);
    av_schema_release(reader);
    av_schema_release(writer);
    sr_client_destroy(client);
    free(data);
    free(text);
    return rc;
}

static void decode_hex_line(av_serde_plan_t *plan, const char *line,
                            uint8_t *bin)
{
    size_t n = 0;
    mw_err_t err = {0};
    json_t *value = NULL;
    for (; mw_hex_val(line[0]) >= 0 && mw_hex_val(line[1]) >= 0; line += 2)
        bin[n++] = (uint8_t)(mw_hex_val(line[0]) << 4 | mw_hex_val(line[1]));
    if (sr_frame_decode(plan, bin, n, NULL, &value, &err) != 0) {
        printf("error: %s\n", err.msg);
        return;
    }
    json_dumpf(value, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
    fputc('\n', stdout);
    json_decref(value);
}

static int decode_hex(av_serde_plan_t *plan, mw_err_t *err)
{
    size_t len = 0;
    char *data = read_stream(stdin, &len);
    uint8_t *bin = data ? malloc(len / 2 + 1) : NULL;
    if (!bin) {
        free(data);
        return mw_err_set(err, MW_ERR_IO, "cannot read stdin");
    }
    for (char *line = data, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        decode_hex_line(plan, line, bin);
    }
    free(bin);
    free(data);
    return 0;
}

static void print_result(int rc, const mw_err_t *err)
{
    if (rc != 0)
        printf("error %d %s %s\n", sr_client_last_error_code(),
               mw_err_name(err->code), err->msg);
}

/* One command line of `client`; its words are split in place. */
static void client_line(sr_client_t *client, char *line)
{
    char *w[4] = {0};
    int n = 0;
    for (char *tok = strtok(line, " "); tok && n < 4; tok = strtok(NULL, " "))
        w[n++] = tok;
    mw_err_t err = {0};
    uint32_t id = 0;
    int rc = -1, version = 0, ok = 0;
    char *text = NULL;
    sr_client_version_t ver = {0};
    const char *file = n > 2 && strcmp(w[0], "compat") != 0 ? w[2] : w[3];
    if (n == 0)
        return;
    if ((strcmp(w[0], "register") == 0 || strcmp(w[0], "lookup") == 0 ||
         strcmp(w[0], "compat") == 0) &&
        file && !(text = read_file(file, &err)))
        rc = -1;
    else if (strcmp(w[0], "register") == 0 && n == 3 &&
             (rc = sr_client_register(client, w[1], text, &id, &err)) == 0)
        printf("ok %u\n", id);
    else if (strcmp(w[0], "lookup") == 0 && n == 3 &&
             (rc = sr_client_lookup(client, w[1], text, &id, &version, &err)) ==
                 0)
        printf("ok %u %d\n", id, version);
    else if ((strcmp(w[0], "latest") == 0 || strcmp(w[0], "version") == 0) &&
             (rc = sr_client_get_version(client, w[1], n > 2 ? atoi(w[2]) : -1,
                                         &ver, &err)) == 0)
        printf("ok %d %u %s\n", ver.version, ver.id,
               av_schema_normalized(ver.schema));
    else if (strcmp(w[0], "compat") == 0 && n == 4 &&
             (rc = sr_client_check_compat(client, w[1], atoi(w[2]), text, &ok,
                                          &err)) == 0)
        printf("ok %s\n", ok ? "true" : "false");
    else if (strcmp(w[0], "id") == 0 && n == 2) {
        av_schema_t *sch = sr_client_get_schema_by_id(
            client, (uint32_t)strtoul(w[1], NULL, 10), &err);
        rc = sch ? 0 : -1;
        if (sch)
            printf("ok %s\n", av_schema_normalized(sch));
        av_schema_release(sch);
    }
    print_result(rc, &err);
    sr_client_version_clear(&ver);
    free(text);
}

static int client_script(const char *url, mw_err_t *err)
{
    sr_client_t *client = sr_client_new(url, TOOL_TIMEOUT_MS, err);
    size_t len = 0;
    char *data = client ? read_stream(stdin, &len) : NULL;
    for (char *line = data, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        client_line(client, line);
        fflush(stdout);
    }
    sr_client_destroy(client);
    free(data);
    return client ? 0 : -1;
}

int main(int argc, char **argv)
{
    mw_err_t err = {0};
    av_schema_t *writer = NULL, *reader = NULL;
    av_serde_plan_t *plan = NULL;
    int rc = -1;
    if (argc == 3 && strcmp(argv[1], "client") == 0) {
        rc = client_script(argv[2], &err);
        if (rc != 0)
            fprintf(stderr, "av_serde_tool: %s\n", err.msg);
        return rc == 0 ? 0 : 1;
    }
    if ((argc == 5 && strcmp(argv[1], "encode-registry") == 0) ||
        ((argc == 3 || argc == 4) && strcmp(argv[1], "decode-registry") == 0)) {
        rc = with_registry(argc, argv, &err);
        if (rc != 0)
            fprintf(stderr, "av_serde_tool: %s (%s, error_code %d)\n", err.msg,
                    mw_err_name(err.code), sr_client_last_error_code());
        return rc == 0 ? 0 : 1;
    }
    int enc = argc == 4 && strcmp(argv[1], "encode") == 0;
    int dec =
        (argc == 3 || argc == 4) && (strcmp(argv[1], "decode") == 0 ||
                                     strcmp(argv[1], "decode-body") == 0 ||
                                     strcmp(argv[1], "decode-hex") == 0);
    if (!enc && !dec) {
        fprintf(stderr,
                "usage: av_serde_tool encode SCHEMA ID < json\n"
                "       av_serde_tool decode[-body|-hex] SCHEMA [READER] "
                "< input\n"
                "       av_serde_tool encode-registry URL SUBJECT SCHEMA "
                "< json\n"
                "       av_serde_tool decode-registry URL [READER] < bin\n"
                "       av_serde_tool client URL < commands\n");
        return 2;
    }
    writer = load_schema(argv[2], &err);
    if (writer && dec && argc == 4)
        reader = load_schema(argv[3], &err);
    if (writer && (enc || argc == 3 || reader))
        plan = av_serde_plan_new(writer, reader, &err);
    if (plan && enc)
        rc = encode(plan, argv[3], &err);
    else if (plan && strcmp(argv[1], "decode-hex") == 0)
        rc = decode_hex(plan, &err);
    else if (plan)
        rc = decode(plan, strcmp(argv[1], "decode") == 0, &err);
    if (rc != 0)
        fprintf(stderr, "av_serde_tool: %s (%s)\n", err.msg,
                mw_err_name(err.code));
    av_serde_plan_destroy(plan);
    av_schema_release(reader);
    av_schema_release(writer);
    return rc == 0 ? 0 : 1;
}
