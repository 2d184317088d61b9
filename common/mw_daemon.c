/*
 * mw_daemon: signals, libevent logging and atomic state files for daemons.
 *
 * SIGTERM and SIGINT are libevent signal events on the daemon's loop, so the
 * shutdown callback runs on the loop thread like any other callback.  The
 * first one calls it; from then on a plain sigaction handler owns both
 * signals and ends the process at once with _exit(1).  That handler is the
 * point: if the drain wedges the loop, a second Ctrl-C or SIGTERM must still
 * work, and it cannot wait for the loop to dispatch it.  Only
 * async-signal-safe calls (write, _exit) run in that handler, on a message
 * prepared beforehand.
 *
 * One daemon per process (signal dispositions are process-wide), created
 * and destroyed on the main thread.
 */
#include "mw_daemon.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mw_log.h"
#include "mw_sig.h"

struct mw_daemon {
    struct event_base *base;
    char *component;
    mw_daemon_shutdown_cb *cb;
    void *opaque;
    struct event *ev_term;
    struct event *ev_int;
    volatile sig_atomic_t stopping;
};

/* Read by the raw handler: filled before the handler is installed. */
static char second_signal_msg[160];
static volatile sig_atomic_t second_signal_len;

static const char *signal_name(int signo)
{
    switch (signo) {
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    default:
        return "signal";
    }
}

static void second_signal_handler(int signo)
{
    (void)signo;
    if (second_signal_len > 0) {
        ssize_t r =
            write(STDERR_FILENO, second_signal_msg, (size_t)second_signal_len);
        (void)r;
    }
    _exit(1);
}

/* After the first signal, both signals bypass the loop (see the top). */
static void arm_second_signal(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = second_signal_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* Loop thread.  libevent calls this once per delivered signal, so a second
 * signal that arrived before the loop ran still takes the _exit path (unless
 * the shutdown callback broke the loop at once: libevent then drops the
 * remaining calls, and the process is leaving anyway). */
static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    mw_daemon_t *daemon = arg;
    int signo = (int)fd;
    (void)what;
    if (daemon->stopping)
        second_signal_handler(signo);
    daemon->stopping = 1;
    arm_second_signal();
    mw_log_info(daemon->component, "shutdown requested", "signal=%s",
                signal_name(signo));
    if (daemon->cb)
        daemon->cb(daemon->opaque, signo);
}

static void on_libevent_log(int severity, const char *msg)
{
    mw_log_level_t level = MW_LOG_ERROR;
    switch (severity) {
    case EVENT_LOG_DEBUG:
        level = MW_LOG_DEBUG;
        break;
    case EVENT_LOG_MSG:
        level = MW_LOG_INFO;
        break;
    case EVENT_LOG_WARN:
        level = MW_LOG_WARN;
        break;
    default:
        break;
    }
    mw_log(level, "libevent", "libevent message", "detail=%s",
           mw_log_q(msg ? msg : ""));
}

void mw_daemon_route_libevent_logs(void)
{
    event_set_log_callback(on_libevent_log);
}

mw_daemon_t *mw_daemon_new(struct event_base *base, const char *component,
                           mw_daemon_shutdown_cb *cb, void *opaque,
                           mw_err_t *err)
{
    mw_daemon_t *daemon = calloc(1, sizeof(*daemon));
    if (!daemon ||
        !(daemon->component = strdup(component ? component : "daemon"))) {
        free(daemon);
        mw_err_set(err, MW_ERR_NOMEM, "daemon: out of memory");
        return NULL;
    }
    daemon->base = base;
    daemon->cb = cb;
    daemon->opaque = opaque;
    mw_daemon_route_libevent_logs();
    mw_sig_ignore_pipe();
    int n = snprintf(second_signal_msg, sizeof(second_signal_msg),
                     "%s: second shutdown signal, exiting now\n",
                     daemon->component);
    second_signal_len = (n > 0 && (size_t)n < sizeof(second_signal_msg))
                            ? n
                            : (int)sizeof(second_signal_msg) - 1;
    daemon->ev_term = evsignal_new(base, SIGTERM, on_signal, daemon);
    daemon->ev_int = evsignal_new(base, SIGINT, on_signal, daemon);
    if (!daemon->ev_term || !daemon->ev_int ||
        evsignal_add(daemon->ev_term, NULL) != 0 ||
        evsignal_add(daemon->ev_int, NULL) != 0) {
        mw_err_set(err, MW_ERR_IO,
                   "%s: cannot install SIGTERM/SIGINT handlers on the loop",
                   daemon->component);
        mw_daemon_destroy(daemon);
        return NULL;
    }
    return daemon;
}

void mw_daemon_destroy(mw_daemon_t *daemon)
{
    if (!daemon)
        return;
    /* Freeing the events makes libevent restore the dispositions it found
     * (the defaults), replacing the second-signal handler too. */
    if (daemon->ev_term)
        event_free(daemon->ev_term);
    if (daemon->ev_int)
        event_free(daemon->ev_int);
    free(daemon->component);
    free(daemon);
}

bool mw_daemon_is_stopping(const mw_daemon_t *daemon)
{
    return daemon && daemon->stopping;
}

/* ------------------------------------------------------------ state files */

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsync of the directory makes the rename itself durable. */
static int sync_dir(const char *path, mw_err_t *err)
{
    char *copy = strdup(path);
    if (!copy)
        return mw_err_set(err, MW_ERR_NOMEM, "%s: out of memory", path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || fsync(fd) != 0)
        rc = mw_err_set(err, MW_ERR_IO, "%s: cannot sync directory %s: %s",
                        path, dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

int mw_daemon_write_file(const char *path, const char *content, mw_err_t *err)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return mw_err_set(err, MW_ERR_INVALID, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return mw_err_set(err, MW_ERR_IO, "%s: cannot create %s: %s", path, tmp,
                          strerror(errno));
    const char *step = NULL;
    if (write_all(fd, content, strlen(content)) != 0)
        step = "write";
    else if (fsync(fd) != 0)
        step = "fsync";
    int saved = errno;
    if (close(fd) != 0 && !step) {
        step = "close";
        saved = errno;
    }
    if (!step && rename(tmp, path) != 0) {
        step = "rename";
        saved = errno;
    }
    if (step) {
        unlink(tmp);
        return mw_err_set(err, MW_ERR_IO, "%s: %s failed: %s", path, step,
                          strerror(saved));
    }
    return sync_dir(path, err);
}

int mw_daemon_mkdirs(const char *dir, mw_err_t *err)
{
    char path[4096];
    size_t len = strlen(dir);

    if (!len || len >= sizeof(path))
        return mw_err_set(err, MW_ERR_IO,
                          "directory '%s' is empty or too "
                          "long",
                          dir);
    memcpy(path, dir, len + 1);
    for (char *p = path + 1;; p++) {
        char saved = *p;

        if (saved != '/' && saved != '\0')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return mw_err_set(err, MW_ERR_IO, "cannot create %s: %s", path,
                              strerror(errno));
        *p = saved;
        if (!saved)
            return 0;
    }
}
