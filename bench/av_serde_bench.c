/*
 * av_serde_bench: throughput of av_serde's compiled plans on a 10-field
 * record (long, string, double, int, boolean, union, enum, array, map,
 * bytes) against avro-c 1.11's generic values on the same record, the raw
 * limit of a C Avro codec that does no JSON work.
 *
 *   encode: av_serde_json_to_avro (json_t -> Avro binary) vs
 *           avro_value_write (filled generic value -> Avro binary)
 *   decode: av_serde_avro_to_json (Avro binary -> new json_t, freed) vs
 *           avro_value_read (Avro binary -> reused generic value)
 *   resolve: av_serde_avro_to_json with a reader schema that adds a
 *           defaulted field and promotes int -> long (avro-c's resolved
 *           reader cannot do that evolution at all, so no ratio)
 *   project: av_proj_read (Avro binary -> a typed scalar per top-level
 *           scalar field, the materializer's direct path; the array and
 *           map are checked, not kept) vs avro_value_read
 *   text:   the producer's file source, from the raw JSON line: the
 *           one-pass transcoder av_jtext_encode vs json_loadb +
 *           av_serde_json_to_avro (+ json_decref), and the same for an
 *           envelope line {"key":..,"value":..} (av_jtext_members, then
 *           both spans transcoded, vs json_loadb and two encodes)
 *
 * Each loop runs for BENCH_SECONDS; prints msg/s and our/avro-c ratios.
 * Single-threaded, no I/O.
 */
#include <avro.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mw_buf.h"
#include "mw_err.h"
#include "av_schema.h"
#include "av_jtext.h"
#include "av_proj.h"
#include "av_serde.h"
#include "bench_order.h"
#include "bench_util.h"

#define BENCH_SECONDS 1.0

/* The writer and reader schemas differ only in qty (int, promoted to long)
 * and in the reader's defaulted region. */
#define ORDER_HEAD                                                             \
    BENCH_ORDER_OPEN "{\"name\":\"id\",\"type\":\"long\"}," BENCH_ORDER_MONEY

static const char *schema_text =
    ORDER_HEAD "{\"name\":\"qty\",\"type\":\"int\"}," BENCH_ORDER_TAIL "]}";

static const char *reader_text = ORDER_HEAD
    "{\"name\":\"qty\",\"type\":\"long\"}," BENCH_ORDER_TAIL
    ",{\"name\":\"region\",\"type\":\"string\",\"default\":\"eu-west\"}]}";

static const char *value_text =
    "{\"id\":1234567890123,\"customer\":\"ACME Corporation\","
    "\"amount\":1999.95,\"qty\":42,\"paid\":true,"
    "\"note\":{\"string\":\"leave at the door\"},\"status\":\"PAID\","
    "\"tags\":[\"priority\",\"gift\",\"eu\"],"
    "\"attrs\":{\"weight_g\":1250,\"box\":3},"
    "\"digest\":\"\\u0001\\u0002\\u0003\\u00ff\\u0010\\u0020\\u0030\\u0040\"}";

/* The envelope line of the text rows: key first, as the producer's file
 * source writes it in its examples; value_text follows "value":. */
#define ENVELOPE_HEAD "{\"key\":\"order-1234567890123\",\"value\":"

/* ------------------------------------------------------------ avro-c */

static void set_string(avro_value_t *v, const char *s)
{
    avro_value_set_string_len(v, s, strlen(s) + 1);
}

static void fill_avro(avro_value_t *rec)
{
    avro_value_t f, e, b;
    avro_value_get_by_index(rec, 0, &f, NULL);
    avro_value_set_long(&f, 1234567890123LL);
    avro_value_get_by_index(rec, 1, &f, NULL);
    set_string(&f, "ACME Corporation");
    avro_value_get_by_index(rec, 2, &f, NULL);
    avro_value_set_double(&f, 1999.95);
    avro_value_get_by_index(rec, 3, &f, NULL);
    avro_value_set_int(&f, 42);
    avro_value_get_by_index(rec, 4, &f, NULL);
    avro_value_set_boolean(&f, 1);
    avro_value_get_by_index(rec, 5, &f, NULL);
    avro_value_set_branch(&f, 1, &b);
    set_string(&b, "leave at the door");
    avro_value_get_by_index(rec, 6, &f, NULL);
    avro_value_set_enum(&f, 1);
    avro_value_get_by_index(rec, 7, &f, NULL);
    const char *tags[] = {"priority", "gift", "eu"};
    for (int i = 0; i < 3; i++) {
        avro_value_append(&f, &e, NULL);
        set_string(&e, tags[i]);
    }
    avro_value_get_by_index(rec, 8, &f, NULL);
    avro_value_add(&f, "weight_g", &e, NULL, NULL);
    avro_value_set_long(&e, 1250);
    avro_value_add(&f, "box", &e, NULL, NULL);
    avro_value_set_long(&e, 3);
    avro_value_get_by_index(rec, 9, &f, NULL);
    avro_value_set_bytes(&f, (void *)"\x01\x02\x03\xff\x10\x20\x30\x40", 8);
}

typedef struct avroc {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value, scratch;
    char buf[4096];  /* the reference encoding, read back by decode */
    char wbuf[4096]; /* encode's output */
    size_t len;
} avroc_t;

static void avroc_init(avroc_t *a)
{
    if (avro_schema_from_json_length(schema_text, strlen(schema_text),
                                     &a->schema) != 0)
        bench_die("avro-c schema", avro_strerror());
    a->iface = avro_generic_class_from_schema(a->schema);
    if (!a->iface || avro_generic_value_new(a->iface, &a->value) != 0 ||
        avro_generic_value_new(a->iface, &a->scratch) != 0)
        bench_die("avro-c value", avro_strerror());
    fill_avro(&a->value);
    avro_writer_t w = avro_writer_memory(a->buf, sizeof(a->buf));
    if (avro_value_write(w, &a->value) != 0)
        bench_die("avro-c write", avro_strerror());
    a->len = (size_t)avro_writer_tell(w);
    avro_writer_free(w);
}

static void avroc_fini(avroc_t *a)
{
    avro_value_decref(&a->value);
    avro_value_decref(&a->scratch);
    avro_value_iface_decref(a->iface);
    avro_schema_decref(a->schema);
}

/* ------------------------------------------------------------ loops */

typedef struct ctx {
    const av_serde_plan_t *plan, *rplan, *kplan;
    json_t *value;
    mw_buf_t *out;
    const char *body;
    size_t len;
    const char *text, *env; /* JSON lines: the value, the envelope */
    size_t text_len, env_len;
    avroc_t *a;
    av_proj_t *proj;
    av_pv_t slots[16];
} ctx_t;

typedef void (*step_fn)(ctx_t *c);

static void our_encode(ctx_t *c)
{
    mw_buf_reset(c->out);
    if (av_serde_json_to_avro(c->plan, c->value, c->out, NULL) != 0)
        bench_die("encode", "failed");
}

static void our_project(ctx_t *c)
{
    if (av_proj_read(c->proj, c->body, c->len, c->slots) != 0)
        bench_die("project", "failed");
}

/* A path per top-level field that is not an array or a map. */
static av_proj_t *scalar_projection(const av_serde_plan_t *plan,
                                    const av_schema_t *s)
{
    const av_node_t *root = av_schema_root(s);
    static const char *names[16];
    av_proj_path_t paths[16];
    size_t n = 0;
    mw_err_t err = {0};
    for (size_t i = 0; i < root->field_cnt && n < 16; i++) {
        int t = root->fields[i].type->type;
        if (t == AV_ARRAY || t == AV_MAP)
            continue;
        names[n] = root->fields[i].name;
        paths[n] = (av_proj_path_t){&names[n], 1};
        n++;
    }
    av_proj_t *proj = av_proj_new(plan, paths, n, &err);
    if (!proj)
        bench_die("projection", err.msg);
    return proj;
}

static void our_decode(ctx_t *c)
{
    json_t *v = NULL;
    if (av_serde_avro_to_json(c->plan, c->body, c->len, &v, NULL) != 0)
        bench_die("decode", "failed");
    json_decref(v);
}

static void our_resolve(ctx_t *c)
{
    json_t *v = NULL;
    if (av_serde_avro_to_json(c->rplan, c->body, c->len, &v, NULL) != 0)
        bench_die("resolve", "failed");
    json_decref(v);
}

static void text_slow(ctx_t *c)
{
    json_t *v = json_loadb(c->text, c->text_len,
                           JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    mw_buf_reset(c->out);
    if (!v || av_serde_json_to_avro(c->plan, v, c->out, NULL) != 0)
        bench_die("text slow path", "failed");
    json_decref(v);
}

static void text_fast(ctx_t *c)
{
    mw_buf_reset(c->out);
    if (av_jtext_encode(c->plan, c->text, c->text_len, c->out, NULL) != 0)
        bench_die("text transcoder", "declined");
}

static void env_slow(ctx_t *c)
{
    json_t *doc =
        json_loadb(c->env, c->env_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    mw_buf_reset(c->out);
    if (!doc ||
        av_serde_json_to_avro(c->kplan, json_object_get(doc, "key"), c->out,
                              NULL) != 0 ||
        av_serde_json_to_avro(c->plan, json_object_get(doc, "value"), c->out,
                              NULL) != 0)
        bench_die("envelope slow path", "failed");
    json_decref(doc);
}

static void env_fast(ctx_t *c)
{
    static const char *names[] = {"key", "value", "traceparent"};
    av_jtext_span_t sp[3];
    mw_buf_reset(c->out);
    if (av_jtext_members(c->env, c->env_len, names, 3, sp, NULL) != 0 ||
        !sp[0].ptr || !sp[1].ptr ||
        av_jtext_encode(c->kplan, sp[0].ptr, sp[0].len, c->out, NULL) != 0 ||
        av_jtext_encode(c->plan, sp[1].ptr, sp[1].len, c->out, NULL) != 0)
        bench_die("envelope transcoder", "declined");
}

/* Both paths must write the same bytes before they are timed. */
static void check_same(ctx_t *c, step_fn slow, step_fn fast, const char *what)
{
    mw_buf_t *ref = mw_buf_new(0);
    slow(c);
    mw_buf_append(ref, mw_buf_data(c->out), mw_buf_len(c->out));
    fast(c);
    if (mw_buf_len(ref) != mw_buf_len(c->out) ||
        memcmp(mw_buf_data(ref), mw_buf_data(c->out), mw_buf_len(ref)) != 0)
        bench_die(what, "transcoder and slow path encodings differ");
    mw_buf_destroy(ref);
}

static void avroc_encode(ctx_t *c)
{
    avro_writer_t w = avro_writer_memory(c->a->wbuf, sizeof(c->a->wbuf));
    if (avro_value_write(w, &c->a->value) != 0)
        bench_die("avro-c write", avro_strerror());
    avro_writer_free(w);
}

static void avroc_decode(ctx_t *c)
{
    avro_reader_t r = avro_reader_memory(c->a->buf, (int64_t)c->a->len);
    avro_value_reset(&c->a->scratch);
    if (avro_value_read(r, &c->a->scratch) != 0)
        bench_die("avro-c read", avro_strerror());
    avro_reader_free(r);
}

static double rate(step_fn fn, ctx_t *c)
{
    long n = 0;
    double start = bench_now_s(), t;
    do {
        for (int i = 0; i < 1024; i++)
            fn(c);
        n += 1024;
        t = bench_now_s() - start;
    } while (t < BENCH_SECONDS);
    return (double)n / t;
}

static av_schema_t *parse(const char *text)
{
    mw_err_t err = {0};
    av_schema_t *s = av_schema_parse(text, strlen(text), NULL, 0, &err);
    if (!s)
        bench_die("schema", err.msg);
    return s;
}

int main(void)
{
    mw_err_t err = {0};
    avroc_t a;
    av_schema_t *w = parse(schema_text), *r = parse(reader_text);
    av_schema_t *k = parse("\"string\"");
    av_serde_plan_t *plan = av_serde_plan_new(w, NULL, &err);
    av_serde_plan_t *rplan = plan ? av_serde_plan_new(w, r, &err) : NULL;
    av_serde_plan_t *kplan = rplan ? av_serde_plan_new(k, NULL, &err) : NULL;
    if (!kplan)
        bench_die("plan", err.msg);
    char env[1024];
    snprintf(env, sizeof(env), "%s%s}", ENVELOPE_HEAD, value_text);
    ctx_t c = {.plan = plan,
               .rplan = rplan,
               .kplan = kplan,
               .a = &a,
               .value = json_loads(value_text, 0, NULL),
               .out = mw_buf_new(0),
               .text = value_text,
               .text_len = strlen(value_text),
               .env = env,
               .env_len = strlen(env)};
    avroc_init(&a);
    our_encode(&c);
    if (mw_buf_len(c.out) != a.len ||
        memcmp(mw_buf_data(c.out), a.buf, a.len) != 0)
        bench_die("check", "av_serde and avro-c encodings differ");
    mw_buf_t *body = mw_buf_new(0);
    mw_buf_append(body, mw_buf_data(c.out), mw_buf_len(c.out));
    c.body = mw_buf_data(body);
    c.len = mw_buf_len(body);

    double oe = rate(our_encode, &c), ae = rate(avroc_encode, &c);
    double od = rate(our_decode, &c), ad = rate(avroc_decode, &c);
    double orr = rate(our_resolve, &c);
    c.proj = scalar_projection(plan, w);
    double op = rate(our_project, &c);
    check_same(&c, text_slow, text_fast, "text");
    check_same(&c, env_slow, env_fast, "envelope");
    double ts = rate(text_slow, &c), tf = rate(text_fast, &c);
    double es = rate(env_slow, &c), ef = rate(env_fast, &c);
    printf("record: 10 fields, %zu bytes of Avro\n", c.len);
    printf("encode  av_serde plan (json_t -> avro)   %10.0f msg/s\n", oe);
    printf("encode  avro-c avro_value_write         %10.0f msg/s  "
           "ratio %.2f\n",
           ae, oe / ae);
    printf("decode  av_serde plan (avro -> json_t)   %10.0f msg/s\n", od);
    printf("decode  avro-c avro_value_read          %10.0f msg/s  "
           "ratio %.2f\n",
           ad, od / ad);
    printf("project av_proj (avro -> 8 scalars)     %10.0f msg/s  "
           "ratio %.2f of avro-c, %.2f of av_serde decode\n",
           op, op / ad, op / od);
    printf("resolve av_serde plan (+default, int->long) %7.0f msg/s  "
           "(avro-c 1.11.1 cannot resolve this pair)\n",
           orr);
    printf("roundtrip av_serde encode+decode        %10.0f msg/s  "
           "avro-c %.0f msg/s  ratio %.2f\n",
           1 / (1 / oe + 1 / od), 1 / (1 / ae + 1 / ad),
           (1 / (1 / oe + 1 / od)) / (1 / (1 / ae + 1 / ad)));
    printf("text    jansson + av_serde (line -> avro) %8.0f rec/s  "
           "(%zu-byte JSON line)\n",
           ts, c.text_len);
    printf("text    av_jtext one pass  (line -> avro) %8.0f rec/s  "
           "ratio %.2f\n",
           tf, tf / ts);
    printf("envelope jansson + av_serde (key+value)   %8.0f rec/s\n", es);
    printf("envelope av_jtext members + 2 encodes     %8.0f rec/s  "
           "ratio %.2f\n",
           ef, ef / es);
    av_proj_destroy(c.proj);
    mw_buf_destroy(body);
    mw_buf_destroy(c.out);
    json_decref(c.value);
    avroc_fini(&a);
    av_serde_plan_destroy(kplan);
    av_serde_plan_destroy(rplan);
    av_serde_plan_destroy(plan);
    av_schema_release(k);
    av_schema_release(r);
    av_schema_release(w);
    return 0;
}
