/*
 * ctl_console: console producer and consumer for people, scripts, tests and
 * benchmarks.
 *
 * produce: lines from stdin (`KEY<SEP>VALUE` with --key-sep) or generated
 * payloads (--count/--size) go through bk_producer inside one libevent
 * loop.  Input is read only while librdkafka's queue accepts messages
 * (MW_ERR_FULL pauses reading and retries on a short timer), so memory
 * stays bounded by the queue plus one read buffer.  The loop ends when all
 * input is delivered or on SIGTERM; then the producer is flushed and the
 * summary `produced=N delivered=N failed=N` goes to stderr.
 *
 * consume: a consumer-group member that prints one line per record, stores
 * each printed record's offset and commits them every second, before its
 * partitions are revoked (synchronously, so the next owner starts right
 * after the last printed record) and at exit.  stdout is flushed before
 * each commit: what is committed has been printed.
 *
 * --avro (both): values in Confluent's framing, through the registry
 * (ctl_avro): produce encodes each JSON line with the latest schema of
 * --value-subject (default TOPIC-value), consume prints each value as one
 * line of Avro JSON; a value that does not decode is reported on stderr
 * with its partition and offset, and the exit code is 1.
 *
 * Everything runs on the main thread; librdkafka's callbacks arrive there
 * through the adapter's loop integration.
 */
#include "ctl_console.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bk_consumer.h"
#include "bk_producer.h"
#include "ctl_avro.h"
#include "ctl_out.h"
#include "mw_daemon.h"
#include "mw_log.h"
#include "mw_time.h"

#define CTL_COMPONENT "meshctl"
#define CTL_LINE_MAX (1024 * 1024) /* longest input line */
#define CTL_READ_BYTES (64 * 1024) /* one read from stdin */
#define CTL_BATCH_MSGS 10000       /* sends per loop turn */
#define CTL_RETRY_MS 2             /* after a full queue */
#define CTL_FLUSH_MS 30000         /* shutdown drain deadline */
#define CTL_COMMIT_MS 1000         /* periodic commit */
#define CTL_TICK_MS 100

static const char ctl_console_usage[] =
    "usage: meshctl console produce TOPIC [--key-sep SEP]\n"
    "                               [--count N --size BYTES]\n"
    "                               [--avro [--value-subject S]]\n"
    "       meshctl console consume TOPIC... [--group G] [--from-beginning]\n"
    "                               [--max N] [--idle-exit-ms MS]\n"
    "                               [--format '%t %p %o %k %v'] [--avro]\n"
    "       (produce ... and consume ... are the same commands)\n";

/* Bad usage of this command: message, this command's usage, exit 2. */
#define ctl_usage(...) ctl_out_usage(ctl_console_usage, __VA_ARGS__)

static bool ctl_parse_ll(const char *s, long long min, long long *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < min)
        return false;
    *out = v;
    return true;
}

/* ================================================================ produce */

typedef struct ctl_prod {
    struct event_base *base;
    bk_producer_t *prod;
    struct event *in_ev;    /* stdin readable, or a pump for files/generator */
    struct event *retry_ev; /* resumes sending after MW_ERR_FULL */
    struct evbuffer *in;
    bool in_pollable; /* stdin is a pipe/tty/socket: EV_READ works */
    int in_flags;     /* stdin's file status flags, restored at exit:
                       * a shell sharing the tty must not inherit
                       * O_NONBLOCK */
    const char *topic;
    const char *key_sep;
    ctl_avro_t *avro;      /* --avro: values encoded through the registry */
    const char *subject;   /* --value-subject, else subject_buf */
    char subject_buf[300]; /* TOPIC-value */
    long long count;       /* generated messages, -1 = read stdin */
    long long next_seq;
    char *gen; /* generated value buffer (size bytes) */
    size_t size;
    uint64_t produced, delivered, failed;
    bool input_done; /* EOF, all generated, or stopping */
    bool stalled;    /* waiting for retry_ev */
    bool broken;     /* a fatal or input error: exit 1 */
} ctl_prod_t;

static void ctl_prod_check_done(ctl_prod_t *p)
{
    if (p->input_done && p->delivered + p->failed == p->produced)
        event_base_loopbreak(p->base);
}

static void ctl_prod_dr(void *opaque, void *msg_opaque, const bk_delivery_t *dr)
{
    ctl_prod_t *p = opaque;

    (void)msg_opaque;
    if (dr->code) {
        if (p->failed++ == 0)
            mw_log_error(CTL_COMPONENT, "delivery failed",
                         "topic=%s partition=%d reason=%s", dr->topic,
                         (int)dr->partition, mw_log_q(dr->message));
    } else {
        p->delivered++;
    }
    ctl_prod_check_done(p);
}

/* Sends one message.  0 sent; 1 queue full (retry later); -1 permanent
 * (counted as failed) or fatal (input stops). */
static int ctl_prod_send(ctl_prod_t *p, const char *key, size_t key_len,
                         const char *value, size_t value_len)
{
    bk_message_t msg = {.topic = p->topic,
                        .partition = BK_PARTITION_ANY,
                        .key = key,
                        .key_len = key_len,
                        .value = value,
                        .value_len = value_len};
    mw_err_t err;
    int rc = bk_producer_send(p->prod, &msg, NULL, &err);

    if (rc == 0) {
        p->produced++;
        return 0;
    }
    if (rc == MW_ERR_FULL)
        return 1;
    if (p->failed++ == 0 || rc == MW_ERR_FATAL)
        ctl_out_error("produce", &err);
    if (rc == MW_ERR_FATAL) {
        p->broken = true;
        p->input_done = true;
    }
    return -1;
}

/* Sends line (len bytes, no newline), split at the key separator. */
static int ctl_prod_send_line(ctl_prod_t *p, const char *line, size_t len)
{
    const char *sep = NULL;

    const char *value = line;
    size_t value_len = len, key_len = 0;
    mw_err_t err;

    if (p->key_sep)
        sep = memmem(line, len, p->key_sep, strlen(p->key_sep));
    if (sep) {
        key_len = (size_t)(sep - line);
        value = sep + strlen(p->key_sep);
        value_len = len - key_len - strlen(p->key_sep);
    }
    if (p->avro && ctl_avro_encode(p->avro, p->subject, value, value_len,
                                   (const void **)&value, &value_len, &err)) {
        /* A line that does not fit the schema stops the input: the lines
         * after it would land out of order once it is fixed. */
        fprintf(stderr, "meshctl: console produce: line %llu: %s\n",
                (unsigned long long)(p->produced + p->failed + 1), err.msg);
        p->failed++;
        p->broken = true;
        p->input_done = true;
        return -1;
    }
    return ctl_prod_send(p, sep ? line : NULL, key_len, value, value_len);
}

/* Sends complete lines from the buffer; at EOF also a last unterminated
 * line.  Returns 1 when the queue is full, 2 when the batch ended with
 * lines left, 0 when the buffer holds no complete line. */
static int ctl_prod_send_lines(ctl_prod_t *p, bool eof)
{
    for (int n = 0; n < CTL_BATCH_MSGS && !p->broken; n++) {
        size_t eol_len = 0, len;
        struct evbuffer_ptr pos =
            evbuffer_search_eol(p->in, NULL, &eol_len, EVBUFFER_EOL_LF);
        const char *line;

        if (pos.pos < 0) {
            len = evbuffer_get_length(p->in);
            if (!eof || len == 0)
                return 0;
        } else {
            len = (size_t)pos.pos;
        }
        line =
            (const char *)evbuffer_pullup(p->in, (ev_ssize_t)(len + eol_len));
        if (ctl_prod_send_line(p, line, len) == 1)
            return 1;
        evbuffer_drain(p->in, len + eol_len);
    }
    return p->broken ? 0 : 2;
}

/* Sends the next generated messages: key k<seq % 1000>, value the
 * 12-digit sequence number padded to size bytes.  1 when the queue is
 * full, 0 otherwise. */
static int ctl_prod_send_generated(ctl_prod_t *p)
{
    for (int n = 0; n < CTL_BATCH_MSGS && p->next_seq < p->count; n++) {
        char key[32], seq[16];
        int key_len = snprintf(key, sizeof(key), "k%lld", p->next_seq % 1000);

        snprintf(seq, sizeof(seq), "%012lld", p->next_seq);
        memcpy(p->gen, seq, p->size < 12 ? p->size : 12);
        int rc = ctl_prod_send(p, key, (size_t)key_len, p->gen, p->size);
        if (rc == 1)
            return 1;
        if (p->broken)
            return 0;
        p->next_seq++;
    }
    if (p->next_seq >= p->count)
        p->input_done = true;
    return 0;
}

/* Reads once from stdin into the buffer; sets input_done at EOF. */
static void ctl_prod_read(ctl_prod_t *p)
{
    int n = evbuffer_read(p->in, STDIN_FILENO, CTL_READ_BYTES);

    if (n == 0) {
        p->input_done = true;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        fprintf(stderr, "meshctl: produce: reading stdin: %s\n",
                strerror(errno));
        p->broken = p->input_done = true;
    }
}

/* One turn of the pipeline: read (when the buffer has no full line), send
 * what can be sent, then decide what wakes us next. */
static void ctl_prod_pump(ctl_prod_t *p)
{
    int full;

    if (p->count >= 0) {
        full = ctl_prod_send_generated(p);
    } else {
        if (!p->input_done && evbuffer_get_length(p->in) < CTL_READ_BYTES)
            ctl_prod_read(p);
        full = ctl_prod_send_lines(p, p->input_done);
        if (!full && !p->input_done &&
            evbuffer_get_length(p->in) > CTL_LINE_MAX) {
            fprintf(stderr,
                    "meshctl: produce: input line longer than %d "
                    "bytes\n",
                    CTL_LINE_MAX);
            p->broken = p->input_done = true;
        }
    }
    if (full == 1) {
        /* Let delivery reports free the queue, then resume. */
        struct timeval tv = {0, CTL_RETRY_MS * 1000};
        p->stalled = true;
        event_del(p->in_ev);
        evtimer_add(p->retry_ev, &tv);
    } else if (p->input_done) {
        event_del(p->in_ev);
        ctl_prod_check_done(p);
    } else if (full == 2 || !p->in_pollable || p->count >= 0) {
        /* More to do without new input: another turn after other events. */
        event_active(p->in_ev, EV_READ, 0);
    }
}

static void ctl_prod_on_input(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ctl_prod_pump(arg);
}

static void ctl_prod_on_retry(evutil_socket_t fd, short what, void *arg)
{
    ctl_prod_t *p = arg;

    (void)fd;
    (void)what;
    p->stalled = false;
    if (p->in_pollable && p->count < 0)
        event_add(p->in_ev, NULL);
    ctl_prod_pump(p);
}

/* SIGTERM/SIGINT: stop intake; main flushes what was sent. */
static void ctl_prod_on_signal(void *opaque, int signo)
{
    ctl_prod_t *p = opaque;

    mw_log_info(CTL_COMPONENT, "stopping", "signal=%d", signo);
    p->input_done = true;
    event_del(p->in_ev);
    event_del(p->retry_ev);
    event_base_loopbreak(p->base);
}

static int ctl_prod_parse(int argc, char **argv, ctl_prod_t *p)
{
    static const struct option opts[] = {
        {"key-sep", required_argument, NULL, 'k'},
        {"count", required_argument, NULL, 'n'},
        {"size", required_argument, NULL, 's'},
        {"avro", no_argument, NULL, 'a'},
        {"value-subject", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0}};
    long long size = 100;
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'k' && optarg[0])
            p->key_sep = optarg;
        else if (c == 'a')
            p->subject = p->subject ? p->subject : "";
        else if (c == 'S' && optarg[0])
            p->subject = optarg;
        else if (c == 'n' && ctl_parse_ll(optarg, 0, &p->count))
            continue;
        else if (c == 's' && ctl_parse_ll(optarg, 1, &size) &&
                 size <= CTL_LINE_MAX)
            continue;
        else if (c == ':')
            return ctl_usage("option '%s' needs a value", argv[optind - 1]);
        else if (c == 'k' || c == 'n' || c == 's')
            return ctl_usage("option '%s': bad value", argv[optind - 1]);
        else
            return ctl_usage("unknown option '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1)
        return ctl_usage("console produce: expected exactly one TOPIC");
    p->topic = argv[optind];
    p->size = (size_t)size;
    if (p->subject && p->count >= 0)
        return ctl_usage("console produce: --avro encodes stdin's lines, "
                         "not --count payloads");
    if (p->subject && !p->subject[0]) {
        snprintf(p->subject_buf, sizeof(p->subject_buf), "%s-value", p->topic);
        p->subject = p->subject_buf;
    }
    return 0;
}

/* Sets up stdin: EV_READ on a pipe, tty or socket; a self-activated pump
 * for regular files (epoll refuses them) and for generated payloads. */
static int ctl_prod_setup_input(ctl_prod_t *p)
{
    struct stat st;

    p->in_pollable =
        p->count < 0 && fstat(STDIN_FILENO, &st) == 0 && !S_ISREG(st.st_mode);
    if (p->in_pollable) {
        p->in_flags = fcntl(STDIN_FILENO, F_GETFL);
        fcntl(STDIN_FILENO, F_SETFL, p->in_flags | O_NONBLOCK);
        p->in_ev = event_new(p->base, STDIN_FILENO, EV_READ | EV_PERSIST,
                             ctl_prod_on_input, p);
    } else {
        p->in_ev = event_new(p->base, -1, 0, ctl_prod_on_input, p);
    }
    p->retry_ev = evtimer_new(p->base, ctl_prod_on_retry, p);
    p->in = evbuffer_new();
    if (p->count >= 0 && !(p->gen = malloc(p->size)))
        return -1;
    if (p->gen)
        memset(p->gen, 'x', p->size);
    if (!p->in_ev || !p->retry_ev || !p->in)
        return -1;
    if (p->in_pollable)
        return event_add(p->in_ev, NULL);
    event_active(p->in_ev, EV_READ, 0);
    return 0;
}

static int ctl_produce(const mw_conf_t *conf, int argc, char **argv)
{
    ctl_prod_t p = {.count = -1};
    mw_daemon_t *daemon = NULL;
    mw_err_t err;
    int rc = ctl_prod_parse(argc, argv, &p), flush_rc = 0;

    if (rc)
        return rc;
    rc = 1;
    if (!(p.base = event_base_new()))
        goto out;
    if ((p.subject && !(p.avro = ctl_avro_new(conf, &err))) ||
        !(p.prod = bk_producer_new(conf, ctl_prod_dr, &p, NULL, &err)) ||
        bk_producer_attach(p.prod, p.base, &err) ||
        !(daemon = mw_daemon_new(p.base, CTL_COMPONENT, ctl_prod_on_signal, &p,
                                 &err))) {
        ctl_out_error("console produce", &err);
        rc = err.code == MW_ERR_CONFIG ? 2 : 1;
        goto out;
    }
    if (ctl_prod_setup_input(&p)) {
        fprintf(stderr, "meshctl: console produce: cannot watch stdin\n");
        goto out;
    }
    event_base_dispatch(p.base);
    /* Drain: everything sent gets its delivery report before we report. */
    flush_rc = bk_producer_flush(p.prod, CTL_FLUSH_MS, &err);
    if (flush_rc)
        ctl_out_error("console produce: flush", &err);
    fprintf(stderr, "produced=%llu delivered=%llu failed=%llu\n",
            (unsigned long long)p.produced, (unsigned long long)p.delivered,
            (unsigned long long)p.failed);
    rc = (p.failed || p.broken || flush_rc) ? 1 : 0;
out:
    if (p.in_pollable && p.in_flags >= 0)
        fcntl(STDIN_FILENO, F_SETFL, p.in_flags);
    if (p.in_ev)
        event_free(p.in_ev);
    if (p.retry_ev)
        event_free(p.retry_ev);
    if (p.in)
        evbuffer_free(p.in);
    free(p.gen);
    mw_daemon_destroy(daemon);
    bk_producer_destroy(p.prod);
    ctl_avro_destroy(p.avro);
    if (p.base)
        event_base_free(p.base);
    return rc;
}

/* ================================================================ consume */

typedef struct ctl_cons {
    struct event_base *base;
    bk_consumer_t *cons;
    struct event *tick;
    const char *fmt;
    ctl_avro_t *avro; /* --avro: values decoded through the registry */
    bool want_avro;
    long long max;     /* 0 = unlimited */
    long long idle_ms; /* 0 = never */
    uint64_t consumed;
    int64_t last_record_ms;
    int64_t last_commit_ms;
    bool dirty; /* stored offsets not yet committed */
    bool done;
    int rc;
} ctl_cons_t;

static void ctl_cons_stop(ctl_cons_t *c)
{
    c->done = true;
    event_base_loopbreak(c->base);
}

static void ctl_cons_commit(ctl_cons_t *c, bool sync)
{
    mw_err_t err;

    /* What is committed must have been printed. */
    fflush(stdout);
    if (bk_consumer_commit_stored(c->cons, sync, &err))
        mw_log_warn(CTL_COMPONENT, "offset commit failed", "reason=%s",
                    mw_log_q(err.msg));
    c->dirty = false;
    c->last_commit_ms = mw_time_mono_ms();
}

/* Prints rec, its value decoded when --avro. */
static void ctl_cons_print(ctl_cons_t *c, const bk_record_t *rec)
{
    bk_record_t shown = *rec;
    const char *text;
    mw_err_t err;

    if (!c->avro || !rec->value) {
        ctl_out_record(stdout, c->fmt, rec);
        return;
    }
    if (!(text = ctl_avro_decode(c->avro, rec->value, rec->value_len, &err))) {
        fprintf(stderr, "meshctl: console consume: %s [%d] offset %lld: %s\n",
                rec->topic, (int)rec->partition, (long long)rec->offset,
                err.msg);
        c->rc = 1;
        return;
    }
    shown.value = text;
    shown.value_len = strlen(text);
    ctl_out_record(stdout, c->fmt, &shown);
}

/* Loop thread: records are waiting; take them all (the adapter wakes us
 * again only once the queue was empty). */
static void ctl_cons_on_ready(void *opaque)
{
    ctl_cons_t *c = opaque;
    bk_record_t *rec;
    mw_err_t err;

    while (!c->done) {
        if (bk_consumer_poll(c->cons, 0, &rec, &err)) {
            ctl_out_error("console consume", &err);
            c->rc = 1;
            ctl_cons_stop(c);
            return;
        }
        if (!rec)
            return;
        ctl_cons_print(c, rec);
        if (bk_consumer_store(c->cons, rec, &err))
            mw_log_warn(CTL_COMPONENT, "offset store failed", "reason=%s",
                        mw_log_q(err.msg));
        bk_record_destroy(rec);
        c->consumed++;
        c->dirty = true;
        c->last_record_ms = mw_time_mono_ms();
        if (c->max && (long long)c->consumed >= c->max)
            ctl_cons_stop(c);
    }
}

/* Assigned hook: the idle clock starts when there is something to read,
 * not while the group is still forming. */
static void ctl_cons_on_assigned(void *opaque, bk_partition_list_t *parts)
{
    ctl_cons_t *c = opaque;

    (void)parts;
    c->last_record_ms = mw_time_mono_ms();
}

/* Revoked hook: commit before the partitions go so their next owner
 * starts exactly after what we printed. */
static void ctl_cons_on_revoked(void *opaque, const bk_partition_list_t *parts)
{
    ctl_cons_t *c = opaque;

    if (parts->lost) {
        fflush(stdout);
        return;
    }
    ctl_cons_commit(c, true);
}

/* Periodic duties: commit stored offsets every CTL_COMMIT_MS; end after
 * idle_ms without a record. */
static void ctl_cons_on_tick(evutil_socket_t fd, short what, void *arg)
{
    ctl_cons_t *c = arg;
    int64_t now = mw_time_mono_ms();

    (void)fd;
    (void)what;
    if (c->dirty && now - c->last_commit_ms >= CTL_COMMIT_MS)
        ctl_cons_commit(c, false);
    if (c->idle_ms && now - c->last_record_ms >= c->idle_ms)
        ctl_cons_stop(c);
}

static void ctl_cons_on_signal(void *opaque, int signo)
{
    ctl_cons_t *c = opaque;

    mw_log_info(CTL_COMPONENT, "stopping", "signal=%d", signo);
    ctl_cons_stop(c);
}

typedef struct ctl_cons_args {
    const char *group;
    bool from_beginning;
    char **topics;
    size_t topic_cnt;
} ctl_cons_args_t;

static int ctl_cons_parse(int argc, char **argv, ctl_cons_t *c,
                          ctl_cons_args_t *a)
{
    static const struct option opts[] = {
        {"group", required_argument, NULL, 'g'},
        {"from-beginning", no_argument, NULL, 'b'},
        {"max", required_argument, NULL, 'm'},
        {"idle-exit-ms", required_argument, NULL, 'i'},
        {"format", required_argument, NULL, 'f'},
        {"avro", no_argument, NULL, 'a'},
        {NULL, 0, NULL, 0}};
    mw_err_t err;
    int opt;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == 'g' && optarg[0])
            a->group = optarg;
        else if (opt == 'b')
            a->from_beginning = true;
        else if (opt == 'a')
            c->want_avro = true;
        else if (opt == 'm' && ctl_parse_ll(optarg, 1, &c->max))
            continue;
        else if (opt == 'i' && ctl_parse_ll(optarg, 1, &c->idle_ms))
            continue;
        else if (opt == 'f' && ctl_out_format_check(optarg, &err) == 0)
            c->fmt = optarg;
        else if (opt == 'f')
            return ctl_usage("%s", err.msg);
        else if (opt == ':')
            return ctl_usage("option '%s' needs a value", argv[optind - 1]);
        else if (opt == 'g' || opt == 'm' || opt == 'i')
            return ctl_usage("option '%s': bad value", argv[optind - 1]);
        else
            return ctl_usage("unknown option '%s'", argv[optind - 1]);
    }
    if (optind >= argc)
        return ctl_usage("console consume: missing TOPIC");
    a->topics = argv + optind;
    a->topic_cnt = (size_t)(argc - optind);
    return 0;
}

/* --from-beginning picks where a group without committed offsets starts,
 * unless the user set kafka.auto.offset.reset. */
static int ctl_cons_offset_reset(mw_conf_t *conf, bool from_beginning,
                                 mw_err_t *err)
{
    if (mw_conf_is_set(conf, "kafka.auto.offset.reset"))
        return 0;
    return mw_conf_set(conf, "kafka.auto.offset.reset",
                       from_beginning ? "earliest" : "latest",
                       from_beginning ? "--from-beginning" : "default", err);
}

/* Builds the consumer and its loop hooks; 0 or an exit code. */
static int ctl_cons_open(mw_conf_t *conf, ctl_cons_t *c,
                         const ctl_cons_args_t *a, mw_daemon_t **daemon)
{
    static const bk_rebalance_ops_t ops = {.assigned = ctl_cons_on_assigned,
                                           .revoked = ctl_cons_on_revoked};
    struct timeval tv = {0, CTL_TICK_MS * 1000};
    char group[64];
    mw_err_t err;

    snprintf(group, sizeof(group), "meshctl-console-%d", (int)getpid());
    if ((c->want_avro && !(c->avro = ctl_avro_new(conf, &err))) ||
        ctl_cons_offset_reset(conf, a->from_beginning, &err) ||
        !(c->cons = bk_consumer_new(conf, a->group ? a->group : group, &ops, c,
                                    NULL, &err)) ||
        bk_consumer_subscribe(c->cons, (const char *const *)a->topics,
                              a->topic_cnt, &err) ||
        bk_consumer_attach(c->cons, c->base, ctl_cons_on_ready, c, &err) ||
        !(*daemon = mw_daemon_new(c->base, CTL_COMPONENT, ctl_cons_on_signal, c,
                                  &err))) {
        ctl_out_error("console consume", &err);
        return err.code == MW_ERR_CONFIG ? 2 : 1;
    }
    c->tick = event_new(c->base, -1, EV_PERSIST, ctl_cons_on_tick, c);
    if (!c->tick || event_add(c->tick, &tv)) {
        fprintf(stderr, "meshctl: console consume: cannot add timer\n");
        return 1;
    }
    return 0;
}

static int ctl_consume(mw_conf_t *conf, int argc, char **argv)
{
    ctl_cons_t c = {.fmt = "%v"};
    ctl_cons_args_t a = {0};
    mw_daemon_t *daemon = NULL;
    mw_err_t err;
    int rc = ctl_cons_parse(argc, argv, &c, &a);

    if (rc)
        return rc;
    if (!(c.base = event_base_new()))
        return 1;
    c.last_record_ms = c.last_commit_ms = mw_time_mono_ms();
    rc = ctl_cons_open(conf, &c, &a, &daemon);
    if (rc == 0) {
        event_base_dispatch(c.base);
        /* Shutdown: commit what was printed, then leave the group (which
         * revokes, and the revoked hook commits once more: harmless). */
        ctl_cons_commit(&c, true);
        if (bk_consumer_close(c.cons, &err))
            ctl_out_error("console consume: close", &err);
        fprintf(stderr, "consumed=%llu\n", (unsigned long long)c.consumed);
        rc = c.rc;
    }
    if (c.tick)
        event_free(c.tick);
    mw_daemon_destroy(daemon);
    bk_consumer_destroy(c.cons);
    ctl_avro_destroy(c.avro);
    event_base_free(c.base);
    return rc;
}

int ctl_console_main(mw_conf_t *conf, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";

    if (ctl_out_wants_help(argc, argv)) {
        fputs(ctl_console_usage, stdout);
        return 0;
    }
    if (!strcmp(sub, "produce"))
        return ctl_produce(conf, argc - 1, argv + 1);
    if (!strcmp(sub, "consume"))
        return ctl_consume(conf, argc - 1, argv + 1);
    return ctl_usage("console: unknown or missing sub-command '%s'", sub);
}
