/*
 * gov_report: a growing array of violations, each with its own copies of
 * the strings, so a report outlives the policy set and the schemas that
 * produced it.
 *
 * Any thread; one report is filled by one thread.
 */
#include "gov_report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOV_REPORT_MAX 4096 /* violations kept; more are counted only */

typedef struct gov_item {
    gov_violation_t v;
    char *origin, *path, *message;
} gov_item_t;

struct gov_report {
    gov_item_t *v;
    size_t cnt, cap;
};

gov_report_t *gov_report_new(void)
{
    return calloc(1, sizeof(gov_report_t));
}

void gov_report_destroy(gov_report_t *rep)
{
    if (!rep)
        return;
    for (size_t i = 0; i < rep->cnt; i++) {
        free(rep->v[i].origin);
        free(rep->v[i].path);
        free(rep->v[i].message);
    }
    free(rep->v);
    free(rep);
}

int gov_report_add(gov_report_t *rep, const gov_rule_t *rule, const char *path,
                   const char *fmt, ...)
{
    char msg[512];
    gov_item_t *it;
    va_list ap;

    if (rep->cnt >= GOV_REPORT_MAX)
        return 0;
    if (rep->cnt == rep->cap) {
        size_t cap = rep->cap ? rep->cap * 2 : 8;
        gov_item_t *grown = realloc(rep->v, cap * sizeof(*grown));
        if (!grown)
            return MW_ERR_NOMEM;
        rep->v = grown;
        rep->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    it = &rep->v[rep->cnt];
    it->origin = strdup(rule->origin ? rule->origin : "");
    it->path = strdup(path);
    it->message = strdup(msg);
    if (!it->origin || !it->path || !it->message) {
        free(it->origin);
        free(it->path);
        free(it->message);
        return MW_ERR_NOMEM;
    }
    it->v = (gov_violation_t){.rule = rule->id,
                              .severity = rule->severity,
                              .origin = it->origin,
                              .path = it->path,
                              .message = it->message};
    rep->cnt++;
    return 0;
}

size_t gov_report_cnt(const gov_report_t *rep)
{
    return rep->cnt;
}

const gov_violation_t *gov_report_get(const gov_report_t *rep, size_t i)
{
    return i < rep->cnt ? &rep->v[i].v : NULL;
}

size_t gov_report_sev_cnt(const gov_report_t *rep, gov_severity_t sev)
{
    size_t n = 0;

    for (size_t i = 0; i < rep->cnt; i++)
        n += rep->v[i].v.severity == sev;
    return n;
}

const char *gov_report_line(const gov_violation_t *v, char *buf, size_t cap)
{
    snprintf(buf, cap, "policy rule '%s' (%s) at %s: %s",
             gov_rule_name(v->rule), gov_severity_name(v->severity), v->path,
             v->message);
    return buf;
}

const char *gov_report_join(const gov_report_t *rep, gov_severity_t sev,
                            char *buf, size_t cap)
{
    size_t off = 0;
    char line[1024];

    buf[0] = '\0';
    for (size_t i = 0; i < rep->cnt; i++) {
        int n;
        if (rep->v[i].v.severity != sev)
            continue;
        n = snprintf(buf + off, cap - off, "%s%s", off ? "; " : "",
                     gov_report_line(&rep->v[i].v, line, sizeof(line)));
        if (n < 0 || (size_t)n >= cap - off) {
            if (cap > 4)
                memcpy(buf + cap - 4, "...", 4);
            break;
        }
        off += (size_t)n;
    }
    return buf;
}

json_t *gov_report_to_json(const gov_report_t *rep)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < rep->cnt; i++) {
        const gov_violation_t *v = &rep->v[i].v;
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:s,s:s}", "rule", gov_rule_name(v->rule),
                      "severity", gov_severity_name(v->severity), "origin",
                      v->origin, "path", v->path, "message", v->message);
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}
