/*
 * Unit tests of pr_checkpoint: the contiguous-acknowledgement window (acks
 * out of order never move the committed offset past a line in flight;
 * ring growth keeps the order; the bound holds) and the atomic checkpoint
 * file (round trip, missing file, rejected garbage, no temporary left).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pr_checkpoint.h"

static void test_in_order_acks(void **state)
{
    pr_checkpoint_window_t *win = pr_checkpoint_window_new(100, 0);
    uint64_t seq[3];

    (void)state;
    assert_non_null(win);
    assert_int_equal(pr_checkpoint_window_committed(win), 100);
    assert_int_equal(pr_checkpoint_window_push(win, 110, &seq[0]), 0);
    assert_int_equal(pr_checkpoint_window_push(win, 125, &seq[1]), 0);
    assert_int_equal(pr_checkpoint_window_push(win, 130, &seq[2]), 0);
    assert_int_equal(pr_checkpoint_window_inflight(win), 3);
    assert_int_equal(pr_checkpoint_window_ack(win, seq[0]), 1);
    assert_int_equal(pr_checkpoint_window_committed(win), 110);
    assert_int_equal(pr_checkpoint_window_ack(win, seq[1]), 1);
    assert_int_equal(pr_checkpoint_window_ack(win, seq[2]), 1);
    assert_int_equal(pr_checkpoint_window_committed(win), 130);
    assert_int_equal(pr_checkpoint_window_inflight(win), 0);
    pr_checkpoint_window_destroy(win);
}

/* Acks from different partitions arrive out of order: the committed offset
 * waits for the gap, then jumps over everything acknowledged behind it. */
static void test_out_of_order_acks(void **state)
{
    pr_checkpoint_window_t *win = pr_checkpoint_window_new(0, 0);
    uint64_t seq[5];

    (void)state;
    for (int i = 0; i < 5; i++)
        assert_int_equal(
            pr_checkpoint_window_push(win, (uint64_t)(i + 1) * 10, &seq[i]), 0);
    assert_int_equal(pr_checkpoint_window_ack(win, seq[2]), 0);
    assert_int_equal(pr_checkpoint_window_ack(win, seq[4]), 0);
    assert_int_equal(pr_checkpoint_window_committed(win), 0);
    assert_int_equal(pr_checkpoint_window_ack(win, seq[0]), 1);
    assert_int_equal(pr_checkpoint_window_committed(win), 10);
    assert_int_equal(pr_checkpoint_window_ack(win, seq[1]), 2);
    assert_int_equal(pr_checkpoint_window_committed(win), 30);
    assert_int_equal(pr_checkpoint_window_ack(win, seq[3]), 2);
    assert_int_equal(pr_checkpoint_window_committed(win), 50);
    pr_checkpoint_window_destroy(win);
}

/* Many lines, acks in a scrambled order, ring grown several times while
 * lines are in flight: at every step committed is the end of the longest
 * acknowledged prefix. */
static void test_scrambled_acks_with_growth(void **state)
{
    enum { N = 5000 };
    pr_checkpoint_window_t *win = pr_checkpoint_window_new(0, 0);
    uint64_t *seq = calloc(N, sizeof(*seq));
    unsigned *order = calloc(N, sizeof(*order));
    unsigned char *acked = calloc(N, 1);
    unsigned prefix = 0, rnd = 12345;

    (void)state;
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(
            pr_checkpoint_window_push(win, (i + 1) * 7ull, &seq[i]), 0);
        order[i] = i;
    }
    for (unsigned i = N - 1; i > 0; i--) {
        unsigned j, t;

        rnd = rnd * 1103515245u + 12345u;
        j = (rnd >> 8) % (i + 1);
        t = order[i], order[i] = order[j], order[j] = t;
    }
    for (unsigned k = 0; k < N; k++) {
        pr_checkpoint_window_ack(win, seq[order[k]]);
        acked[order[k]] = 1;
        while (prefix < N && acked[prefix])
            prefix++;
        assert_int_equal(pr_checkpoint_window_committed(win), prefix * 7ull);
        assert_int_equal(pr_checkpoint_window_inflight(win), N - prefix);
    }
    free(acked);
    free(order);
    free(seq);
    pr_checkpoint_window_destroy(win);
}

static void test_bound_and_cancel(void **state)
{
    pr_checkpoint_window_t *win = pr_checkpoint_window_new(0, 3);
    uint64_t s0, s1, s2, s3;

    (void)state;
    assert_int_equal(pr_checkpoint_window_push(win, 1, &s0), 0);
    assert_int_equal(pr_checkpoint_window_push(win, 2, &s1), 0);
    assert_int_equal(pr_checkpoint_window_push(win, 3, &s2), 0);
    assert_int_equal(pr_checkpoint_window_push(win, 4, &s3), MW_ERR_FULL);
    pr_checkpoint_window_cancel_last(win);
    assert_int_equal(pr_checkpoint_window_inflight(win), 2);
    assert_int_equal(pr_checkpoint_window_push(win, 5, &s2), 0);
    assert_int_equal(s2, 2);
    pr_checkpoint_window_ack(win, s0);
    assert_int_equal(pr_checkpoint_window_push(win, 6, &s3), 0);
    pr_checkpoint_window_ack(win, s2);
    pr_checkpoint_window_ack(win, s3);
    assert_int_equal(pr_checkpoint_window_committed(win), 1);
    pr_checkpoint_window_ack(win, s1);
    assert_int_equal(pr_checkpoint_window_committed(win), 6);
    pr_checkpoint_window_destroy(win);
}

/* ------------------------------------------------------------ the file */

static int tmpdir_setup(void **state)
{
    char *dir = strdup("/tmp/test_pr_checkpoint.XXXXXX");

    if (!dir || !mkdtemp(dir))
        return -1;
    *state = dir;
    return 0;
}

static int tmpdir_teardown(void **state)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
    free(*state);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_save_load_round_trip(void **state)
{
    char file[256];
    pr_checkpoint_entry_t in[2] = {
        {.path = "/var/log/app.log",
         .dev = 2049,
         .ino = 1u << 31,
         .offset = 123456789012ull},
        {.path = "with \"quote\"", .dev = 1, .ino = 2, .offset = 0}};
    pr_checkpoint_entry_t *out = NULL;
    size_t n = 0;
    mw_err_t err = {0};

    snprintf(file, sizeof(file), "%s/t.ckpt", (char *)*state);
    assert_int_equal(pr_checkpoint_save(file, in, 2, &err), 0);
    assert_int_equal(pr_checkpoint_load(file, &out, &n, &err), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(out[i].path, in[i].path);
        assert_int_equal(out[i].dev, in[i].dev);
        assert_int_equal(out[i].ino, in[i].ino);
        assert_int_equal(out[i].offset, in[i].offset);
    }
    pr_checkpoint_entries_free(out, n);
    /* Saving again replaces atomically; no temporary is left behind. */
    in[0].offset = 7;
    assert_int_equal(pr_checkpoint_save(file, in, 1, &err), 0);
    assert_int_equal(pr_checkpoint_load(file, &out, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].offset, 7);
    pr_checkpoint_entries_free(out, n);
    snprintf(file, sizeof(file), "%s/t.ckpt.tmp.%ld", (char *)*state,
             (long)getpid());
    assert_int_not_equal(access(file, F_OK), 0);
}

static void test_load_missing_and_garbage(void **state)
{
    char file[256];
    pr_checkpoint_entry_t *out = NULL;
    size_t n = 7;
    mw_err_t err = {0};
    FILE *fp;

    snprintf(file, sizeof(file), "%s/none.ckpt", (char *)*state);
    assert_int_equal(pr_checkpoint_load(file, &out, &n, &err),
                     MW_ERR_NOT_FOUND);
    assert_null(out);
    assert_int_equal(n, 0);
    snprintf(file, sizeof(file), "%s/bad.ckpt", (char *)*state);
    fp = fopen(file, "w");
    assert_non_null(fp);
    fputs("{\"version\":1,\"files\":[{\"path\":\"a\",\"dev\":1}]}", fp);
    fclose(fp);
    assert_int_equal(pr_checkpoint_load(file, &out, &n, &err), MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "files[0]"));
    fp = fopen(file, "w");
    fputs("not json", fp);
    fclose(fp);
    assert_int_equal(pr_checkpoint_load(file, &out, &n, &err), MW_ERR_INVALID);
    assert_non_null(strstr(err.msg, "bad.ckpt"));
}

static void test_save_into_missing_dir_fails(void **state)
{
    pr_checkpoint_entry_t e = {.path = "p", .dev = 1, .ino = 1, .offset = 1};
    mw_err_t err = {0};

    (void)state;
    assert_int_equal(pr_checkpoint_save("/nonexistent-dir/x.ckpt", &e, 1, &err),
                     MW_ERR_IO);
    assert_non_null(strstr(err.msg, "x.ckpt"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_acks),
        cmocka_unit_test(test_out_of_order_acks),
        cmocka_unit_test(test_scrambled_acks_with_growth),
        cmocka_unit_test(test_bound_and_cancel),
        cmocka_unit_test_setup_teardown(test_save_load_round_trip, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_load_missing_and_garbage,
                                        tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test(test_save_into_missing_dir_fails),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
