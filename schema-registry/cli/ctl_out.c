/*
 * ctl_out: meshctl's printing.  Tables and JSON come from the same adapter
 * types (bk_topic_info_t, bk_record_t), so both outputs always show the
 * same facts.  Record lines are written with stdio buffering; callers
 * flush before committing offsets so that what is committed was printed.
 */
#include "ctl_out.h"

#include <jansson.h>
#include <stdarg.h>
#include <string.h>

void ctl_out_error(const char *what, const mw_err_t *err)
{
    fprintf(stderr, "meshctl: %s: %s\n", what,
            err && err->msg[0] ? err->msg : "failed");
}

static json_t *ctl_topic_json(const bk_topic_info_t *t, bool with_configs)
{
    json_t *o = json_object();

    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "partitions", json_integer(t->partitions));
    json_object_set_new(o, "replication_factor", json_integer(t->replication));
    if (with_configs) {
        json_t *c = json_object();
        for (size_t i = 0; i < t->config_cnt; i++)
            json_object_set_new(c, t->configs[i].key,
                                json_string(t->configs[i].value));
        json_object_set_new(o, "configs", c);
    }
    return o;
}

static void ctl_json_print(FILE *out, json_t *root)
{
    json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
}

void ctl_out_topic_list(FILE *out, const bk_topic_info_t *topics, size_t cnt,
                        bool json)
{
    size_t width = strlen("NAME");

    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < cnt; i++)
            json_array_append_new(arr, ctl_topic_json(&topics[i], false));
        ctl_json_print(out, json_pack("{s:o}", "topics", arr));
        return;
    }
    for (size_t i = 0; i < cnt; i++)
        if (strlen(topics[i].name) > width)
            width = strlen(topics[i].name);
    fprintf(out, "%-*s  %10s  %11s\n", (int)width, "NAME", "PARTITIONS",
            "REPLICATION");
    for (size_t i = 0; i < cnt; i++)
        fprintf(out, "%-*s  %10d  %11d\n", (int)width, topics[i].name,
                topics[i].partitions, topics[i].replication);
}

void ctl_out_topic(FILE *out, const bk_topic_info_t *info, bool json)
{
    if (json) {
        ctl_json_print(out, ctl_topic_json(info, true));
        return;
    }
    fprintf(out, "name: %s\npartitions: %d\nreplication: %d\n", info->name,
            info->partitions, info->replication);
    fprintf(out, "configs:%s\n", info->config_cnt ? "" : " (none)");
    for (size_t i = 0; i < info->config_cnt; i++)
        fprintf(out, "  %s=%s\n", info->configs[i].key, info->configs[i].value);
}

int ctl_out_format_check(const char *fmt, mw_err_t *err)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%')
            continue;
        p++;
        if (!*p || !strchr("tpokvT%", *p))
            return mw_err_set(err, MW_ERR_CONFIG,
                              "option --format: unknown directive '%%%c' "
                              "(known: %%t %%p %%o %%k %%v %%T %%%%)",
                              *p ? *p : ' ');
    }
    return 0;
}

void ctl_out_record(FILE *out, const char *fmt, const bk_record_t *rec)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            fputc(*p, out);
            continue;
        }
        switch (*++p) {
        case 't':
            fputs(rec->topic, out);
            break;
        case 'p':
            fprintf(out, "%d", (int)rec->partition);
            break;
        case 'o':
            fprintf(out, "%lld", (long long)rec->offset);
            break;
        case 'T':
            fprintf(out, "%lld", (long long)rec->timestamp_ms);
            break;
        case 'k':
            if (rec->key)
                fwrite(rec->key, 1, rec->key_len, out);
            break;
        case 'v':
            if (rec->value)
                fwrite(rec->value, 1, rec->value_len, out);
            break;
        default:
            fputc('%', out);
            break;
        }
    }
    fputc('\n', out);
}

int ctl_out_usage(const char *usage, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("meshctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(usage, stderr);
    return 2;
}

void ctl_out_json(FILE *out, json_t *root)
{
    ctl_json_print(out, root);
}

void ctl_out_table(FILE *out, const char *const *headers, size_t cols,
                   const char *const *cells, size_t rows)
{
    size_t width[16] = {0};

    if (cols > sizeof(width) / sizeof(width[0]))
        cols = sizeof(width) / sizeof(width[0]);
    for (size_t c = 0; c < cols; c++) {
        width[c] = strlen(headers[c]);
        for (size_t r = 0; r < rows; r++) {
            const char *v = cells[r * cols + c];
            if (strlen(v ? v : "-") > width[c])
                width[c] = strlen(v ? v : "-");
        }
    }
    for (size_t r = 0; r <= rows; r++)
        for (size_t c = 0; c < cols; c++) {
            const char *v = r ? cells[(r - 1) * cols + c] : headers[c];
            /* The last column is not padded: no trailing blanks. */
            if (c + 1 == cols)
                fprintf(out, "%s\n", v ? v : "-");
            else
                fprintf(out, "%-*s  ", (int)width[c], v ? v : "-");
        }
}

bool ctl_out_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}
