/*
 * Unit tests for the journal backend of reg_store, through reg_store.h only:
 * appends are acknowledged in order after being applied, a reopen replays
 * the same records (tombstones included), a torn or corrupt last record is
 * cut with a warning naming its offset, damage in the middle refuses the
 * journal naming the offset, a second open of the same data.dir is refused
 * by the lock, and close acknowledges what is still queued.
 *
 * The framing (12-byte header: magic, body length, CRC-32C; body: key
 * length, value length, key, value) is known here only to damage the file
 * at precise places.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mw_conf.h"
#include "mw_log.h"
#include "reg_store.h"

#define HDR 12
#define BODY_HDR 8
#define MAX_RECS 256

typedef struct probe {
    int applied;
    char *keys[MAX_RECS];
    char *values[MAX_RECS]; /* NULL: tombstone */
    int64_t offsets[MAX_RECS];
    int done;
    int64_t done_offsets[MAX_RECS];
    int done_errors;
    int applied_at_done[MAX_RECS]; /* applied count seen by each done */
} probe_t;

typedef struct fixture {
    char dir[256];
    char journal[300];
    struct event_base *base;
    mw_conf_t *conf;
    probe_t probe;
} fixture_t;

static const char *const storages[] = {"journal", "kafka", NULL};
static const mw_conf_key_t keys[] = {
    {.name = "storage",
     .type = MW_CONF_ENUM,
     .dflt = "journal",
     .doc = "backend",
     .allowed = storages},
    {.name = "data.dir",
     .type = MW_CONF_STR,
     .dflt = "./data",
     .doc = "journal directory"},
};
static const mw_conf_program_t prog = {.name = "test_reg_store_journal",
                                       .summary = "test"};

static void on_apply(void *opaque, const reg_store_record_t *rec)
{
    probe_t *p = opaque;

    assert_true(p->applied < MAX_RECS);
    assert_int_equal(strlen(rec->key), rec->key_len);
    if (rec->value)
        assert_int_equal(strlen(rec->value), rec->value_len);
    p->keys[p->applied] = strdup(rec->key);
    p->values[p->applied] = rec->value ? strdup(rec->value) : NULL;
    p->offsets[p->applied] = rec->offset;
    p->applied++;
}

static void on_done(void *opaque, int64_t offset, const mw_err_t *err)
{
    probe_t *p = opaque;

    if (err)
        p->done_errors++;
    p->done_offsets[p->done] = offset;
    p->applied_at_done[p->done] = p->applied;
    p->done++;
}

static void probe_reset(probe_t *p)
{
    for (int i = 0; i < p->applied; i++) {
        free(p->keys[i]);
        free(p->values[i]);
    }
    memset(p, 0, sizeof(*p));
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    mw_err_t err;

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_reg_store_journal.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    /* A nested, missing directory: open must create it (mkdir -p). */
    strcat(f->dir, "/a/b");
    snprintf(f->journal, sizeof(f->journal), "%s/schemas.journal", f->dir);
    f->base = event_base_new();
    f->conf = mw_conf_new(&prog, keys, 2, &err);
    assert_non_null(f->conf);
    assert_int_equal(mw_conf_set(f->conf, "data.dir", f->dir, "test", &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[400];

    probe_reset(&f->probe);
    mw_conf_destroy(f->conf);
    event_base_free(f->base);
    /* dir is <mkdtemp>/a/b: remove the mkdtemp directory. */
    f->dir[strlen(f->dir) - 4] = '\0';
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static reg_store_t *open_store(fixture_t *f, mw_err_t *err)
{
    probe_reset(&f->probe);
    return reg_store_open(f->base, f->conf, NULL, on_apply, &f->probe, err);
}

/* Runs the loop until `want` done callbacks arrived (bounded). */
static void run_until_done(fixture_t *f, int want)
{
    for (int i = 0; i < 1000 && f->probe.done < want; i++)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(f->probe.done, want);
}

static void append_n(fixture_t *f, reg_store_t *store, int n, int first)
{
    mw_err_t err;

    for (int i = first; i < first + n; i++) {
        char key[64], value[64];
        snprintf(key, sizeof(key), "{\"keytype\":\"SCHEMA\",\"n\":%d}", i);
        snprintf(value, sizeof(value), "{\"id\":%d}", i);
        assert_int_equal(reg_store_append(store, key, i % 5 == 4 ? NULL : value,
                                          on_done, &f->probe, &err),
                         0);
    }
}

static void check_records(const probe_t *p, int n)
{
    assert_int_equal(p->applied, n);
    for (int i = 0; i < n; i++) {
        char key[64], value[64];
        snprintf(key, sizeof(key), "{\"keytype\":\"SCHEMA\",\"n\":%d}", i);
        snprintf(value, sizeof(value), "{\"id\":%d}", i);
        assert_string_equal(p->keys[i], key);
        if (i % 5 == 4)
            assert_null(p->values[i]);
        else
            assert_string_equal(p->values[i], value);
        assert_int_equal(p->offsets[i], i);
    }
}

/* Writes n records and closes cleanly. */
static void write_journal(fixture_t *f, int n)
{
    mw_err_t err;
    reg_store_t *store = open_store(f, &err);

    assert_non_null(store);
    append_n(f, store, n, 0);
    run_until_done(f, n);
    reg_store_close(store, 1000);
}

static off_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* Size of record i as written by append_n. */
static off_t rec_size(int i)
{
    char key[64], value[64];
    int klen =
        snprintf(key, sizeof(key), "{\"keytype\":\"SCHEMA\",\"n\":%d}", i);
    int vlen = snprintf(value, sizeof(value), "{\"id\":%d}", i);

    return HDR + BODY_HDR + klen + (i % 5 == 4 ? 0 : vlen);
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    unsigned char c;

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

/* ------------------------------------------------------------ tests */

static void test_append_then_replay(void **state)
{
    fixture_t *f = *state;
    mw_err_t err;
    reg_store_t *store = open_store(f, &err);

    assert_non_null(store);
    assert_true(reg_store_is_ready(store));
    assert_string_equal(reg_store_backend_name(store), "journal");
    append_n(f, store, 40, 0);
    run_until_done(f, 40);
    assert_int_equal(f->probe.done_errors, 0);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(f->probe.done_offsets[i], i);
        /* done comes after its own record was applied */
        assert_true(f->probe.applied_at_done[i] >= i + 1);
    }
    check_records(&f->probe, 40);
    reg_store_close(store, 1000);

    store = open_store(f, &err);
    assert_non_null(store);
    check_records(&f->probe, 40);
    append_n(f, store, 10, 40);
    run_until_done(f, 10);
    assert_int_equal(f->probe.done_offsets[0], 40);
    reg_store_close(store, 1000);
    store = open_store(f, &err);
    check_records(&f->probe, 50);
    reg_store_close(store, 1000);
}

static void test_close_acknowledges_queued(void **state)
{
    fixture_t *f = *state;
    mw_err_t err;
    reg_store_t *store = open_store(f, &err);

    append_n(f, store, 20, 0);
    /* No loop iteration: close must write, apply and acknowledge them. */
    reg_store_close(store, 5000);
    assert_int_equal(f->probe.done, 20);
    assert_int_equal(f->probe.done_errors, 0);
    store = open_store(f, &err);
    check_records(&f->probe, 20);
    reg_store_close(store, 1000);
}

/* Opens with the log captured; returns the store, log text in *log. */
static reg_store_t *open_logged(fixture_t *f, char **log, mw_err_t *err)
{
    size_t len;
    FILE *mem = open_memstream(log, &len);
    reg_store_t *store;

    mw_log_set_stream(mem);
    store = open_store(f, err);
    mw_log_set_stream(NULL);
    fclose(mem);
    return store;
}

static void expect_cut(fixture_t *f, int good, off_t cut_at)
{
    mw_err_t err;
    char *log = NULL, want[64];
    reg_store_t *store = open_logged(f, &log, &err);

    assert_non_null(store);
    check_records(&f->probe, good);
    snprintf(want, sizeof(want), "offset=%lld", (long long)cut_at);
    assert_non_null(strstr(log, "journal tail cut"));
    assert_non_null(strstr(log, want));
    free(log);
    assert_int_equal(file_size(f->journal), cut_at);
    /* The journal stays writable after the cut, right after the good part. */
    append_n(f, store, 1, good);
    run_until_done(f, 1);
    reg_store_close(store, 1000);
    store = open_store(f, &err);
    check_records(&f->probe, good + 1);
    reg_store_close(store, 1000);
}

static void test_torn_tail_mid_record(void **state)
{
    fixture_t *f = *state;
    off_t end3 = rec_size(0) + rec_size(1) + rec_size(2);

    write_journal(f, 4);
    assert_int_equal(file_size(f->journal), end3 + rec_size(3));
    assert_int_equal(truncate(f->journal, end3 + rec_size(3) - 3), 0);
    expect_cut(f, 3, end3);
}

static void test_torn_tail_mid_header(void **state)
{
    fixture_t *f = *state;
    off_t end2 = rec_size(0) + rec_size(1);

    write_journal(f, 3);
    assert_int_equal(truncate(f->journal, end2 + 5), 0);
    expect_cut(f, 2, end2);
}

static void test_bad_crc_on_last_record(void **state)
{
    fixture_t *f = *state;
    off_t end2 = rec_size(0) + rec_size(1);

    write_journal(f, 3);
    flip_byte(f->journal, end2 + 8); /* the CRC field */
    expect_cut(f, 2, end2);
}

static void test_zeroed_tail(void **state)
{
    fixture_t *f = *state;
    off_t end2 = rec_size(0) + rec_size(1);

    write_journal(f, 2);
    assert_int_equal(truncate(f->journal, end2 + 4096), 0);
    expect_cut(f, 2, end2);
}

static void test_mid_file_corruption_refused(void **state)
{
    fixture_t *f = *state;
    off_t at = rec_size(0);
    char want[64];
    mw_err_t err;
    reg_store_t *store;

    write_journal(f, 3);
    flip_byte(f->journal, at + HDR + BODY_HDR + 2); /* record 1's key */
    store = open_store(f, &err);
    assert_null(store);
    assert_int_equal(err.code, MW_ERR_IO);
    snprintf(want, sizeof(want), "offset %lld", (long long)at);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "checksum"));
    /* Nothing was cut. */
    assert_int_equal(file_size(f->journal),
                     rec_size(0) + rec_size(1) + rec_size(2));

    /* A bad magic followed by data is refused too. */
    flip_byte(f->journal, at + HDR + BODY_HDR + 2);
    flip_byte(f->journal, at);
    assert_null(open_store(f, &err));
    assert_int_equal(err.code, MW_ERR_IO);
    assert_non_null(strstr(err.msg, want));
}

static void test_impossible_length_refused(void **state)
{
    fixture_t *f = *state;
    mw_err_t err;
    int fd;
    unsigned char huge[4] = {0xff, 0xff, 0xff, 0xf0};

    write_journal(f, 3);
    /* Record 0's length field: no append writes such a length, so even
     * though it runs past the end of the file it is damage, not a tear. */
    fd = open(f->journal, O_RDWR);
    assert_int_equal(pwrite(fd, huge, 4, 4), 4);
    close(fd);
    assert_null(open_store(f, &err));
    assert_int_equal(err.code, MW_ERR_IO);
    assert_non_null(strstr(err.msg, "offset 0: bad length"));
}

static void test_lock_conflict(void **state)
{
    fixture_t *f = *state;
    mw_err_t err;
    probe_t other = {0};
    reg_store_t *store = open_store(f, &err), *second;

    assert_non_null(store);
    second = reg_store_open(f->base, f->conf, NULL, on_apply, &other, &err);
    assert_null(second);
    assert_int_equal(err.code, MW_ERR_IO);
    assert_non_null(strstr(err.msg, "in use by another mesh-registry"));
    reg_store_close(store, 1000);
    /* Released on close. */
    second = reg_store_open(f->base, f->conf, NULL, on_apply, &other, &err);
    assert_non_null(second);
    reg_store_close(second, 1000);
    probe_reset(&other);
}

static void test_bad_input(void **state)
{
    fixture_t *f = *state;
    mw_err_t err;
    reg_store_t *store = open_store(f, &err);

    assert_int_equal(
        reg_store_append(store, "", "{}", on_done, &f->probe, &err),
        MW_ERR_INVALID);
    assert_int_equal(
        reg_store_append(store, NULL, "{}", on_done, &f->probe, &err),
        MW_ERR_INVALID);
    reg_store_close(store, 1000);
    assert_int_equal(f->probe.done, 0);
    reg_store_close(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_then_replay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_acknowledges_queued, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_mid_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_mid_header, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_crc_on_last_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_zeroed_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mid_file_corruption_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_impossible_length_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
