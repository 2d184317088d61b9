/*
 * pr_emit_tool: drives the producer's emitter (producers/pr_emit.h) without
 * a source, for integration tests.
 *
 *   pr_emit_tool --set topic=t --set registry.url=... \
 *                --set kafka.bootstrap.servers=... < events.jsonl
 *
 * Each stdin line is one JSON object:
 *   {"key":..., "value":..., "topic":..., "partition":N,
 *    "value_schema_id":N, "value_schema":"...", "value_subject":"...",
 *    "key_schema":"...", "source":"s", "position":"p", "traceparent":"t"}
 * or a dead letter {"dlq":"raw text", "reason":"why", "topic":...}.
 * Events are sent in order through the event loop; MW_ERR_FULL waits for
 * the room callback and retries.  One JSON line per event is printed on
 * stdout, in completion order: {"line":N,"code":"MW_OK"|"MW_ERR_...",
 * "error":"...","partition":P,"offset":O,"value_schema_id":V,
 * "key_schema_id":K,"sync":true|false}; then {"summary":{...}} with the
 * count of MW_ERR_FULL answers, the peak in-flight bytes and whether the
 * emitter reported itself degraded at some point.
 *
 * Thread: main thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "mw_conf.h"
#include "mw_err.h"
#include "mw_log.h"
#include "mw_metrics.h"
#include "mw_vec.h"
#include "pr_emit.h"
#include "sr_client.h"

static const char *const tool_strategies[] = {"topic", "record", "topic_record",
                                              NULL};

/* The emitter's keys, as mesh-producer declares them. */
static const mw_conf_key_t tool_keys[] = {
    {.name = "topic", .type = MW_CONF_STR, .doc = "Default topic."},
    {.name = "registry.url",
     .type = MW_CONF_STR,
     .dflt = "http://127.0.0.1:8081",
     .doc = "Registry."},
    SR_CLIENT_KEY_USER_INFO,
    SR_CLIENT_KEY_CA,
    {.name = "kafka.bootstrap.servers",
     .type = MW_CONF_STR,
     .dflt = "127.0.0.1:9092",
     .doc = "Kafka."},
    {.name = "value.subject", .type = MW_CONF_STR, .doc = "Subject."},
    {.name = "value.schema.id",
     .type = MW_CONF_INT,
     .min = 1,
     .max = 2147483647,
     .doc = "Id."},
    {.name = "value.schema.version",
     .type = MW_CONF_STR,
     .dflt = "latest",
     .doc = "Version."},
    {.name = "key.subject", .type = MW_CONF_STR, .doc = "Key subject."},
    {.name = "subject.name.strategy",
     .type = MW_CONF_ENUM,
     .dflt = "topic",
     .allowed = tool_strategies,
     .doc = "Strategy."},
    {.name = "auto.register",
     .type = MW_CONF_BOOL,
     .dflt = "false",
     .doc = "Register inline schemas."},
    {.name = "dlq.topic", .type = MW_CONF_STR, .doc = "DLQ topic."},
    PR_EMIT_KEY_HEADERS,
    {.name = "max.inflight.bytes",
     .type = MW_CONF_INT,
     .dflt = "67108864",
     .min = 1,
     .max = 68719476736LL,
     .doc = "Bound."},
    {.name = "flush.timeout.ms",
     .type = MW_CONF_INT,
     .dflt = "30000",
     .min = 0,
     .max = 3600000,
     .doc = "Destroy's flush deadline."},
};

static const char *const tool_passthrough[] = {"kafka.", NULL};

static const mw_conf_program_t tool_program = {
    .name = "pr_emit_tool",
    .summary = "Sends JSON lines from stdin through pr_emit.",
    .passthrough = tool_passthrough,
};

typedef struct tool {
    struct event_base *base;
    pr_emit_t *emit;
    struct event *pump_ev, *watch_ev;
    json_t **lines;
    size_t line_cnt, line_cap, next, done_cnt;
    unsigned long full_cnt;
    size_t peak_inflight;
    bool was_degraded;
} tool_t;

typedef struct tool_ctx {
    tool_t *tool;
    size_t line;
} tool_ctx_t;

static void tool_print(size_t line, int code, const char *msg,
                       const pr_result_t *res, bool sync)
{
    json_t *o = json_pack("{s:i,s:s,s:s,s:b}", "line", (int)line, "code",
                          code ? mw_err_name(code) : "MW_OK", "error",
                          msg ? msg : "", "sync", sync);

    if (res) {
        json_object_set_new(o, "partition", json_integer(res->partition));
        json_object_set_new(o, "offset", json_integer(res->offset));
        json_object_set_new(o, "topic", json_string(res->topic));
        json_object_set_new(o, "value_schema_id",
                            json_integer(res->value_schema_id));
        json_object_set_new(o, "key_schema_id",
                            json_integer(res->key_schema_id));
    }
    json_dumpf(o, stdout, JSON_COMPACT | JSON_SORT_KEYS);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(o);
}

static void tool_check_end(tool_t *tool)
{
    if (tool->next == tool->line_cnt && tool->done_cnt == tool->line_cnt)
        event_base_loopbreak(tool->base);
}

static void tool_done(void *ctx, const pr_result_t *res)
{
    tool_ctx_t *c = ctx;
    tool_t *tool = c->tool;

    tool_print(c->line, res->code, res->message, res, false);
    tool->done_cnt++;
    free(c);
    tool_check_end(tool);
}

static const char *tool_str(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

/* Sends line i; MW_ERR_FULL is returned for a retry. */
static int tool_send_one(tool_t *tool, size_t i, mw_err_t *err)
{
    const json_t *o = tool->lines[i];
    const json_t *part = json_object_get(o, "partition");
    tool_ctx_t *c = malloc(sizeof(*c));
    pr_event_t ev = {
        .topic = tool_str(o, "topic"),
        .partition = part ? (int32_t)json_integer_value(part) : -1,
        .key = json_object_get(o, "key"),
        .value = json_object_get(o, "value"),
        .source = tool_str(o, "source") ? tool_str(o, "source") : "tool",
        .position = tool_str(o, "position"),
        .traceparent = tool_str(o, "traceparent"),
    };
    int rc;

    ev.value_schema.id =
        json_integer_value(json_object_get(o, "value_schema_id"));
    ev.value_schema.schema = tool_str(o, "value_schema");
    ev.value_schema.subject = tool_str(o, "value_subject");
    ev.key_schema.schema = tool_str(o, "key_schema");
    c->tool = tool;
    c->line = i + 1;
    if (tool_str(o, "dlq")) {
        const char *raw = tool_str(o, "dlq");
        pr_dead_letter_t dl = {.raw = raw,
                               .raw_len = strlen(raw),
                               .reason = tool_str(o, "reason"),
                               .origin = &ev};

        rc = pr_emit_dead_letter(tool->emit, &dl, tool_done, c, err);
    } else {
        rc = pr_emit_send(tool->emit, &ev, tool_done, c, err);
    }
    if (rc != 0)
        free(c);
    return rc;
}

/* Sends until the end or MW_ERR_FULL (then the room callback resumes). */
static void tool_pump(evutil_socket_t fd, short what, void *arg)
{
    tool_t *tool = arg;
    mw_err_t err = {0};

    (void)fd;
    (void)what;
    while (tool->next < tool->line_cnt) {
        int rc = tool_send_one(tool, tool->next, &err);
        size_t inflight = pr_emit_inflight_bytes(tool->emit);

        if (inflight > tool->peak_inflight)
            tool->peak_inflight = inflight;
        if (rc == MW_ERR_FULL) {
            tool->full_cnt++;
            return;
        }
        tool->next++;
        if (rc != 0) {
            tool_print(tool->next, rc, err.msg, NULL, true);
            tool->done_cnt++;
        }
    }
    tool_check_end(tool);
}

static void tool_room(void *opaque)
{
    tool_t *tool = opaque;

    event_active(tool->pump_ev, EV_TIMEOUT, 0);
}

static void tool_watch(evutil_socket_t fd, short what, void *arg)
{
    tool_t *tool = arg;

    (void)fd;
    (void)what;
    if (pr_emit_is_degraded(tool->emit))
        tool->was_degraded = true;
}

static int tool_read_lines(tool_t *tool)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    while ((len = getline(&line, &cap, stdin)) > 0) {
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)len, 0, &jerr);

        if (!o || !json_is_object(o)) {
            fprintf(stderr, "pr_emit_tool: line %zu: %s\n", tool->line_cnt + 1,
                    o ? "not an object" : jerr.text);
            json_decref(o);
            free(line);
            return -1;
        }
        if (MW_VEC_RESERVE(&tool->lines, &tool->line_cap, tool->line_cnt + 1)) {
            json_decref(o);
            free(line);
            return -1;
        }
        tool->lines[tool->line_cnt++] = o;
    }
    free(line);
    return 0;
}

static void tool_summary(const tool_t *tool)
{
    json_t *o = json_pack("{s:{s:i,s:I,s:b,s:I}}", "summary", "full_cnt",
                          (int)tool->full_cnt, "peak_inflight_bytes",
                          (json_int_t)tool->peak_inflight, "was_degraded",
                          tool->was_degraded, "max_inflight_bytes",
                          (json_int_t)pr_emit_max_inflight_bytes(tool->emit));

    json_dumpf(o, stdout, JSON_COMPACT | JSON_SORT_KEYS);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(o);
}

static int tool_run(tool_t *tool, const mw_conf_t *conf, mw_metrics_t *met)
{
    const struct timeval every = {0, 100 * 1000};
    mw_err_t err = {0};

    tool->emit = pr_emit_new(tool->base, conf, met, &err);
    if (!tool->emit) {
        fprintf(stderr, "pr_emit_tool: %s (%s)\n", err.msg,
                mw_err_name(err.code));
        return err.code == MW_ERR_CONFIG ? 2 : 1;
    }
    pr_emit_set_room_cb(tool->emit, tool_room, tool);
    tool->pump_ev = event_new(tool->base, -1, 0, tool_pump, tool);
    tool->watch_ev = event_new(tool->base, -1, EV_PERSIST, tool_watch, tool);
    event_add(tool->watch_ev, &every);
    event_active(tool->pump_ev, EV_TIMEOUT, 0);
    event_base_dispatch(tool->base);
    tool_summary(tool);
    pr_emit_destroy(tool->emit, (int)mw_conf_get_int(conf, "flush.timeout.ms"));
    event_free(tool->pump_ev);
    event_free(tool->watch_ev);
    return 0;
}

int main(int argc, char **argv)
{
    tool_t tool = {0};
    mw_err_t err = {0};
    mw_conf_action_t action = MW_CONF_RUN;
    mw_conf_t *conf = mw_conf_new(&tool_program, tool_keys,
                                  sizeof(tool_keys) / sizeof(*tool_keys), &err);
    mw_metrics_t *met = mw_metrics_new();
    int rc = 2;

    if (!conf || mw_conf_from_cli(conf,
                                  &(mw_conf_cli_t){.argc = argc,
                                                   .argv = argv,
                                                   .envp = environ,
                                                   .version = "0",
                                                   .out = stdout},
                                  &action, &err) != 0) {
        fprintf(stderr, "pr_emit_tool: %s\n", err.msg);
        goto out;
    }
    rc = 0;
    if (action != MW_CONF_RUN)
        goto out;
    mw_log_set_level(MW_LOG_WARN);
    rc = 1;
    tool.base = event_base_new();
    if (tool.base && tool_read_lines(&tool) == 0)
        rc = tool_run(&tool, conf, met);
out:
    for (size_t i = 0; i < tool.line_cnt; i++)
        json_decref(tool.lines[i]);
    free(tool.lines);
    if (tool.base)
        event_base_free(tool.base);
    mw_metrics_destroy(met);
    mw_conf_destroy(conf);
    return rc;
}
