/*
 * mw_conf_help: what mw_conf prints for people.
 *
 * --help (a terminal page wrapped to 78 columns), --help-markdown (the
 * section of docs/CONFIGURATION.md for one program, generated so the docs
 * cannot drift from the table) and the "config" info lines logged at start.
 * All three read the key table and the values only; none can fail.
 *
 * Invariants: a secret key's value (and its default) is never printed or
 * logged, only MW_CONF_MASK; passthrough keys are masked when their name
 * looks secret ("password", "secret", "key").  What the passthrough prefixes
 * lead to is the program's text (passthrough_doc): common/ names no backend.
 */
#include "mw_conf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mw_conf_int.h"
#include "mw_log.h"

/* ------------------------------------------------------ help and docs */

static void conf_type_desc(const mw_conf_key_t *k, bool markdown, char *out,
                           size_t size)
{
    char expect[256];

    switch (k->type) {
    case MW_CONF_INT:
        mw_conf_expect(k, markdown, expect, sizeof(expect));
        snprintf(out, size, "%s", expect + 3); /* drop "an " */
        break;
    case MW_CONF_ENUM:
        mw_conf_expect(k, markdown, out, size);
        break;
    case MW_CONF_BOOL:
        snprintf(out, size, "boolean");
        break;
    case MW_CONF_LISTENER:
        snprintf(out, size, "listener (host:port)");
        break;
    default:
        snprintf(out, size, "string");
        break;
    }
}

static void conf_default_desc(const mw_conf_key_t *k, char *out, size_t size)
{
    if (!k->dflt)
        snprintf(out, size, "%s", k->required ? "required" : "no default");
    else if (k->secret && *k->dflt)
        snprintf(out, size, "default %s", MW_CONF_MASK);
    else if (!*k->dflt)
        snprintf(out, size, "default \"\"%s", k->required ? ", required" : "");
    else
        snprintf(out, size, "default %s", k->dflt);
}

/* Writes text word-wrapped to 78 columns, every line indented. */
static void conf_wrap(FILE *out, const char *text, int indent)
{
    int col = 0;
    bool fresh = true;

    for (text += strspn(text, " \n"); *text; text += strspn(text, " \n")) {
        int w = (int)strcspn(text, " \n");

        if (!fresh && col + 1 + w > 78) {
            fputc('\n', out);
            fresh = true;
        }
        col = fresh ? fprintf(out, "%*s%.*s", indent, "", w, text)
                    : col + fprintf(out, " %.*s", w, text);
        fresh = false;
        text += w;
    }
    if (!fresh)
        fputc('\n', out);
}

/* Notes on passthrough prefixes and the environment, shared by --help and
 * the Markdown (which wants backquotes around names), one wrapped paragraph
 * each. */
static void conf_print_notes(const mw_conf_t *conf, FILE *out, const char *q)
{
    const char *const *p = conf->prog->passthrough;
    char env[MW_CONF_NAME_MAX + 8], note[2048];
    size_t n = 0;

    /* common/ does not know who reads a prefix: the program says it in
     * passthrough_doc, or the reader gets a sentence true for any backend. */
    if (p && *p && conf->prog->passthrough_doc) {
        fputc('\n', out);
        conf_wrap(out, conf->prog->passthrough_doc, 0);
    }
    for (; p && *p && !conf->prog->passthrough_doc; p++) {
        snprintf(note, sizeof(note),
                 "Keys under %s%s%s are passed to the backend that owns them.",
                 q, *p, q);
        fputc('\n', out);
        conf_wrap(out, note, 0);
    }
    mw_conf_env_name(conf->key_cnt ? conf->keys[0].name : "key", env,
                     sizeof(env));
    n += (size_t)snprintf(note, sizeof(note),
                          "Every key can also be set in the environment as "
                          "MESH_ + the key upper-cased, '.' and '-' as '_' "
                          "(%s%s%s -> %s%s%s)",
                          q, conf->key_cnt ? conf->keys[0].name : "key", q, q,
                          env, q);
    for (p = conf->prog->passthrough; p && *p && n < sizeof(note); p++) {
        mw_conf_env_name(*p, env, sizeof(env));
        n += (size_t)snprintf(note + n, sizeof(note) - n,
                              "; %s%s*%s keys as %s%s*%s, '_' read as '.'", q,
                              *p, q, q, env, q);
    }
    if (n < sizeof(note))
        snprintf(note + n, sizeof(note) - n,
                 ". Precedence, lowest first: default < properties file "
                 "(-c) < environment < --set.");
    fputc('\n', out);
    conf_wrap(out, note, 0);
}

/* The choice whose choosing key is k, or NULL. */
static const mw_conf_choice_t *conf_choice_of(const mw_conf_t *conf,
                                              const mw_conf_key_t *k)
{
    for (const mw_conf_choice_t *const *ch = conf->prog->choices; ch && *ch;
         ch++)
        if (strcmp((*ch)->key.name, k->name) == 0)
            return *ch;
    return NULL;
}

void mw_conf_print_help(const mw_conf_t *conf, FILE *out)
{
    const mw_conf_program_t *prog = conf->prog;

    fprintf(out,
            "usage: %s [-c FILE.properties] [--set key=value]... [--help] "
            "[--version]\n",
            prog->name);
    if (prog->summary) {
        fputc('\n', out);
        conf_wrap(out, prog->summary, 0);
    }
    fprintf(out, "\nconfiguration keys:\n");
    for (size_t i = 0; i < conf->key_cnt; i++) {
        const mw_conf_key_t *k = &conf->keys[i];
        char type[512], dflt[256];

        conf_type_desc(k, false, type, sizeof(type));
        conf_default_desc(k, dflt, sizeof(dflt));
        fprintf(out, "\n  %s\n      %s%s; %s\n", k->name, type,
                k->secret ? ", secret" : "", dflt);
        if (k->doc)
            conf_wrap(out, k->doc, 6);
        const mw_conf_choice_t *ch = conf_choice_of(conf, k);
        const mw_conf_backend_t *be;
        for (size_t b = 0; ch && (be = ch->backend_at(b)); b++) {
            char line[1024];
            snprintf(line, sizeof(line), "%s: %s", be->name,
                     be->doc ? be->doc : "");
            conf_wrap(out, line, 8);
        }
    }
    conf_print_notes(conf, out, "");
    if (prog->help_extra)
        fprintf(out, "\n%s\n", prog->help_extra);
}

/* A Markdown table cell: '|' would end the cell and a newline the row. */
static void md_cell(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
}

void mw_conf_print_markdown(const mw_conf_t *conf, FILE *out)
{
    const mw_conf_program_t *prog = conf->prog;

    fprintf(out, "## %s\n\n", prog->name);
    if (prog->summary)
        fprintf(out, "%s\n\n", prog->summary);
    fprintf(out,
            "`%s [-c FILE.properties] [--set key=value]... [--help] "
            "[--version]`\n\n",
            prog->name);
    fprintf(out, "| key | type | default | description |\n"
                 "| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < conf->key_cnt; i++) {
        const mw_conf_key_t *k = &conf->keys[i];
        char type[512];

        conf_type_desc(k, true, type, sizeof(type));
        fprintf(out, "| `%s` | ", k->name);
        md_cell(out, type);
        fprintf(out, "%s | ", k->secret ? ", secret" : "");
        if (!k->dflt)
            fprintf(out, "%s", k->required ? "required" : "—");
        else if (k->secret && *k->dflt)
            fprintf(out, "`%s`", MW_CONF_MASK);
        else
            fprintf(out, "`%s`", k->dflt);
        fprintf(out, " | ");
        md_cell(out, k->doc);
        const mw_conf_choice_t *ch = conf_choice_of(conf, k);
        const mw_conf_backend_t *be;
        for (size_t b = 0; ch && (be = ch->backend_at(b)); b++) {
            fprintf(out, "%s`%s`: ", b == 0 ? "<br>" : "; ", be->name);
            md_cell(out, be->doc);
        }
        fprintf(out, " |\n");
    }
    conf_print_notes(conf, out, "`");
    /* help_extra is laid out for a terminal: keep its lines as they are. */
    if (prog->help_extra)
        fprintf(out, "\n```text\n%s\n```\n", prog->help_extra);
}

/* ------------------------------------------------------------ logging */

static bool conf_looks_secret(const char *key)
{
    return strcasestr(key, "password") || strcasestr(key, "secret") ||
           strcasestr(key, "key");
}

void mw_conf_log_effective(const mw_conf_t *conf, const char *component)
{
    for (size_t i = 0; i < conf->key_cnt; i++) {
        const mw_conf_val_t *v = &conf->vals[i];
        const char *value = v->text ? v->text : "";

        if (conf->keys[i].secret && v->text)
            value = MW_CONF_MASK;
        mw_log_info(component, "config", "key=%s value=%s origin=%s",
                    mw_log_q(conf->keys[i].name), mw_log_q(value),
                    mw_log_q(v->origin ? v->origin : "default"));
    }
    for (size_t i = 0; i < conf->pass_cnt; i++) {
        const mw_conf_pass_t *p = &conf->pass[i];
        const char *value = conf_looks_secret(p->key) ? MW_CONF_MASK : p->value;

        mw_log_info(component, "config", "key=%s value=%s origin=%s",
                    mw_log_q(p->key), mw_log_q(value), mw_log_q(p->origin));
    }
}
