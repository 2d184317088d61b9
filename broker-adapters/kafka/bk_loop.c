/*
 * bk_loop: wakes a libevent loop when a librdkafka queue has something to
 * serve, so that every librdkafka callback (delivery reports, rebalances,
 * errors, statistics) runs on the loop thread and nowhere else.
 *
 * librdkafka writes a byte into the pipe's write end when the queue goes
 * from empty to non-empty (rd_kafka_queue_io_event_enable); the read end is
 * watched by a persistent EV_READ event.  The callback drains the pipe
 * first, then serves the queue: anything enqueued after the drain writes
 * again, so no wake-up is lost.  A caller that stops serving before the
 * queue is empty calls bk_wake_kick to be called again.
 *
 * Thread: created, fired and destroyed on the loop thread.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_int.h"

struct bk_wake {
    rd_kafka_queue_t *rkqu; /* ours: released in bk_wake_destroy */
    struct event *ev;
    int fds[2];
    bk_wake_cb *cb;
    void *opaque;
};

static void bk_wake_on_read(evutil_socket_t fd, short what, void *arg)
{
    bk_wake_t *wake = arg;
    char buf[256];

    (void)what;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    wake->cb(wake->opaque);
}

bk_wake_t *bk_wake_new(struct event_base *base, rd_kafka_queue_t *rkqu,
                       bk_wake_cb *cb, void *opaque, mw_err_t *err)
{
    bk_wake_t *wake = calloc(1, sizeof(*wake));

    if (!wake) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for kafka loop wake-up");
        rd_kafka_queue_destroy(rkqu);
        return NULL;
    }
    wake->fds[0] = wake->fds[1] = -1;
    wake->rkqu = rkqu;
    if (pipe2(wake->fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        mw_err_set(err, MW_ERR_IO, "kafka loop wake-up pipe: %s",
                   strerror(errno));
        bk_wake_destroy(wake);
        return NULL;
    }
    wake->cb = cb;
    wake->opaque = opaque;
    wake->ev = event_new(base, wake->fds[0], EV_READ | EV_PERSIST,
                         bk_wake_on_read, wake);
    if (!wake->ev || event_add(wake->ev, NULL) != 0) {
        mw_err_set(err, MW_ERR_NOMEM, "cannot add kafka wake-up event");
        bk_wake_destroy(wake);
        return NULL;
    }
    rd_kafka_queue_io_event_enable(rkqu, wake->fds[1], "w", 1);
    /* The queue may already hold events enqueued before the pipe existed:
     * those wrote nothing, so serve once at the next loop iteration. */
    bk_wake_kick(wake);
    return wake;
}

void bk_wake_kick(bk_wake_t *wake)
{
    if (wake && wake->ev)
        event_active(wake->ev, EV_READ, 0);
}

void bk_wake_destroy(bk_wake_t *wake)
{
    if (!wake)
        return;
    if (wake->ev) {
        rd_kafka_queue_io_event_enable(wake->rkqu, -1, NULL, 0);
        event_free(wake->ev);
    }
    rd_kafka_queue_destroy(wake->rkqu);
    if (wake->fds[0] >= 0)
        close(wake->fds[0]);
    if (wake->fds[1] >= 0)
        close(wake->fds[1]);
    free(wake);
}
