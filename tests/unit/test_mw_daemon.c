/*
 * Unit tests for mw_daemon: the first SIGTERM/SIGINT becomes one callback
 * on the loop (and one log line), a second one ends the process with 1 even
 * while the loop is stuck in a callback (checked in a forked child), and
 * state files are replaced atomically.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include "mw_daemon.h"
#include "mw_log.h"

typedef struct shutdown_probe {
    struct event_base *base;
    int calls;
    int signo;
    int raise_again; /* 1: the callback raises a second signal itself */
    int keep_loop;   /* 1: the callback drains instead of breaking the loop */
} shutdown_probe_t;

static void on_shutdown(void *opaque, int signo)
{
    shutdown_probe_t *probe = opaque;
    probe->calls++;
    probe->signo = signo;
    if (probe->raise_again)
        raise(signo); /* a wedged drain: only the raw handler can act */
    if (!probe->keep_loop)
        event_base_loopbreak(probe->base);
}

/* Timer on the running loop: raises the signal arg times. */
static int raise_signo = SIGTERM;

static void raise_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    int times = *(int *)arg;
    for (int i = 0; i < times; i++)
        raise(raise_signo);
}

/* Runs base until the callback breaks it; a 5 s guard stops a hang. */
static void run_with_raise(struct event_base *base, int *times)
{
    struct timeval now = {0, 0}, guard = {5, 0};
    struct event *t = evtimer_new(base, raise_cb, times);
    evtimer_add(t, &now);
    event_base_loopexit(base, &guard);
    event_base_dispatch(base);
    event_free(t);
}

static void test_first_signal_calls_back_once(void **state)
{
    (void)state;
    FILE *logs = tmpfile();
    mw_log_set_stream(logs);
    shutdown_probe_t probe = {.base = event_base_new()};
    mw_err_t err;
    mw_daemon_t *d =
        mw_daemon_new(probe.base, "testd", on_shutdown, &probe, &err);
    assert_non_null(d);
    assert_false(mw_daemon_is_stopping(d));

    int times = 1;
    raise_signo = SIGTERM;
    run_with_raise(probe.base, &times);
    assert_int_equal(probe.calls, 1);
    assert_int_equal(probe.signo, SIGTERM);
    assert_true(mw_daemon_is_stopping(d));

    mw_daemon_destroy(d);
    event_base_free(probe.base);
    mw_log_set_stream(NULL);
    char line[512] = "";
    rewind(logs);
    size_t n = fread(line, 1, sizeof(line) - 1, logs);
    line[n] = '\0';
    fclose(logs);
    assert_non_null(strstr(line, "component=testd"));
    assert_non_null(strstr(line, "msg=\"shutdown requested\" signal=SIGTERM"));
}

/* Forks a child daemon, raises `times` signals (the callback raising one
 * more when raise_again, draining instead of breaking the loop when
 * keep_loop), and returns the child's wait status. */
static int child_status(int signo, int times, int raise_again, int keep_loop)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *devnull = fopen("/dev/null", "w");
        mw_log_set_stream(devnull);
        shutdown_probe_t probe = {.base = event_base_new(),
                                  .raise_again = raise_again,
                                  .keep_loop = keep_loop};
        mw_daemon_t *d =
            mw_daemon_new(probe.base, "testd", on_shutdown, &probe, NULL);
        if (!d)
            _exit(3);
        raise_signo = signo;
        run_with_raise(probe.base, &times);
        _exit(probe.calls == 1 ? 0 : 4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void test_second_signal_exits(void **state)
{
    (void)state;
    /* 1. the loop is blocked in the callback when the second one comes */
    int st = child_status(SIGINT, 1, 1, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    /* 2. both arrive before the loop dispatches either; the drain keeps
     * the loop running, so libevent delivers the second one too */
    st = child_status(SIGTERM, 2, 0, 1);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    /* 3. a single signal: a clean callback, the child exits 0 itself */
    st = child_status(SIGTERM, 1, 0, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_null_safe(void **state)
{
    (void)state;
    assert_false(mw_daemon_is_stopping(NULL));
    mw_daemon_destroy(NULL);
    mw_daemon_route_libevent_logs();
    mw_daemon_route_libevent_logs();
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[256];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void test_write_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/mw_daemon_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/bootstrap", dir);
    mw_err_t err;
    assert_int_equal(mw_daemon_write_file(path, "127.0.0.1:1234\n", &err), 0);
    assert_string_equal(read_file(path), "127.0.0.1:1234\n");
    assert_int_equal(mw_daemon_write_file(path, "127.0.0.1:5\n", &err), 0);
    assert_string_equal(read_file(path), "127.0.0.1:5\n");
    assert_int_equal(dir_entries(dir), 1); /* no temporary left behind */
    unlink(path);
    rmdir(dir);

    char missing[300];
    snprintf(missing, sizeof(missing), "%s/no/such/dir/control", dir);
    assert_int_equal(mw_daemon_write_file(missing, "x", &err), MW_ERR_IO);
    assert_non_null(strstr(err.msg, missing));
    assert_non_null(strstr(err.msg, strerror(ENOENT)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_signal_calls_back_once),
        cmocka_unit_test(test_second_signal_exits),
        cmocka_unit_test(test_null_safe),
        cmocka_unit_test(test_write_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
