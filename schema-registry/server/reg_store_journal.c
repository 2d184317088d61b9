/*
 * reg_store_journal: the default storage backend, an append-only file
 * `<data.dir>/schemas.journal` of `_schemas`-format records.
 *
 * Framing, all integers big-endian:
 *   magic u32 "MWJ1" | body_len u32 | crc32c(body) u32 |
 *   body = key_len u32 | value_len i32 (-1: tombstone) | key | value
 *
 * Open takes an exclusive flock on `<data.dir>/schemas.journal.lock` (two
 * registries on one journal would interleave appends and each replay only
 * its own view), then replays every record through apply.  A damaged LAST
 * record (short header or body, bad CRC on the record that ends the file,
 * zeros where a header should be) is what a crash during append leaves: it
 * was never acknowledged, so it is cut (ftruncate) and logged at warn.
 * Damage followed by more data cannot come from a crash: the journal is
 * refused with MW_ERR_IO naming the offset, never misread.
 *
 * Threads: open, append, close and every callback run on the loop thread.
 * fsync must not block the loop, so a writer thread owns the file's tail:
 * append queues the record (bounded by REG_STORE_INFLIGHT_MAX), the writer
 * takes everything queued, writes it in one write(2) and one fdatasync
 * (group commit), then moves the batch to the done list and signals an
 * eventfd; the loop applies each record and calls its done callback, in
 * append order.  Invariant: a record is applied and acknowledged only
 * after the fdatasync that covers it returned; after a failed write or
 * sync the journal is broken and refuses appends (the file state is
 * unknown; a restart replays and cuts what is torn).
 */
#include "reg_store_int.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mw_daemon.h"
#include "mw_log.h"
#include "mw_time.h"

#define JR_MAGIC 0x4d574a31u /* "MWJ1" */
#define JR_HDR_LEN 12u       /* magic, body_len, crc */
#define JR_BODY_HDR_LEN 8u   /* key_len, value_len */

/* One queued append.  Owned by the queue it is on; moves loop -> writer ->
 * loop under jr->lock. */
typedef struct jr_item {
    struct jr_item *next;
    int64_t offset;
    reg_store_done_cb *done;
    void *opaque;
    double start_s; /* monotonic time of append, for the latency metric */
    int code;       /* set by the writer: 0 or MW_ERR_* */
    char *key;      /* NUL-terminated copies */
    char *value;    /* NULL: tombstone */
    size_t key_len, value_len;
} jr_item_t;

typedef struct jr_list {
    jr_item_t *head, *tail;
} jr_list_t;

typedef struct reg_journal {
    reg_store_env_t env;
    char *path;  /* data.dir/schemas.journal */
    int fd;      /* the journal, O_APPEND; the writer's once started */
    int lock_fd; /* holds the flock */
    int efd;     /* eventfd: writer -> loop "done list not empty" */
    struct event *done_ev;
    pthread_t writer;
    bool writer_started;
    int64_t next_offset; /* loop thread */
    size_t inflight;     /* appended, done not yet called; loop thread */
    bool closing;        /* loop thread */

    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t work;  /* pending not empty, or stop */
    pthread_cond_t idle;  /* the writer finished a batch */
    jr_list_t pending;    /* waiting for the writer */
    jr_list_t done;       /* written (or failed), waiting for the loop */
    bool busy;            /* writer holds a batch */
    bool stop;            /* writer: exit once pending is empty */
    bool abandon;         /* writer: fail what is pending (close timeout) */
    int broken;           /* 0 or the MW_ERR_* that broke the journal */
    char broken_msg[MW_ERR_MSG_MAX];

    mw_counter_t *appends_total;
    mw_counter_t *errors_total;
    mw_counter_t *bytes_total;
    mw_histogram_t *fsync_seconds;
    mw_histogram_t *append_seconds;
} reg_journal_t;

/* ------------------------------------------------------------ crc32c */

static uint32_t jr_crc_table[256];
static pthread_once_t jr_crc_once = PTHREAD_ONCE_INIT;

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven. */
static void jr_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        jr_crc_table[i] = c;
    }
}

static uint32_t jr_crc32c(const unsigned char *p, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;

    pthread_once(&jr_crc_once, jr_crc_init);
    while (len--)
        c = jr_crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void jr_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t jr_get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* ------------------------------------------------------------ files */

/* Makes a new directory entry durable (the journal file just created). */
static void jr_sync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

/* Takes the exclusive lock and records our pid in the lock file, so the
 * second registry's error names the first one. */
static int jr_lock(reg_journal_t *jr, const char *dir, mw_err_t *err)
{
    char path[4200], pid[32] = "";
    ssize_t n;

    snprintf(path, sizeof(path), "%s/%s.lock", dir, jr->env.log->journal_file);
    jr->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (jr->lock_fd < 0) {
        int e = errno;
        return mw_err_set(err, MW_ERR_IO, "cannot open '%s': %s", path,
                          strerror(e));
    }
    if (flock(jr->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        n = pread(jr->lock_fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            return mw_err_set(err, MW_ERR_IO,
                              "journal '%s' is in use by another "
                              "mesh-registry (pid %s, lock '%s')",
                              jr->path, pid[0] ? pid : "unknown", path);
        return mw_err_set(err, MW_ERR_IO, "cannot lock '%s': %s", path,
                          strerror(e));
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(jr->lock_fd, 0) != 0 ||
        pwrite(jr->lock_fd, pid, (size_t)n, 0) != n)
        mw_log_warn(REG_STORE_COMPONENT, "cannot write lock file pid",
                    "path=%s", mw_log_q(path));
    return 0;
}

/* ------------------------------------------------------------ replay */

/* pread exactly len bytes at off: 1 when all read, 0 on a short read (end
 * of file), MW_ERR_IO on a read error. */
static int jr_read_at(reg_journal_t *jr, void *buf, size_t len, off_t off,
                      mw_err_t *err)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n =
            pread(jr->fd, (char *)buf + got, len - got, off + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            return mw_err_set(err, MW_ERR_IO,
                              "cannot read '%s' at offset "
                              "%lld: %s",
                              jr->path, (long long)off, strerror(e));
        }
        if (n == 0)
            return 0;
        got += (size_t)n;
    }
    return 1;
}

/* True when every byte from off to the end is zero: a file extended by a
 * crash before its data reached the disk. */
static bool jr_tail_is_zero(reg_journal_t *jr, off_t off, off_t size)
{
    unsigned char buf[4096];

    while (off < size) {
        size_t len = (size_t)(size - off) < sizeof(buf) ? (size_t)(size - off)
                                                        : sizeof(buf);
        mw_err_t ignored;
        if (jr_read_at(jr, buf, len, off, &ignored) != 1)
            return false;
        for (size_t i = 0; i < len; i++)
            if (buf[i])
                return false;
        off += (off_t)len;
    }
    return true;
}

/* Cuts the journal at off (the start of the damaged last record). */
static int jr_cut(reg_journal_t *jr, off_t off, off_t size, const char *why,
                  mw_err_t *err)
{
    mw_log_warn(REG_STORE_COMPONENT, "journal tail cut",
                "path=%s offset=%lld "
                "bytes=%lld reason=%s",
                mw_log_q(jr->path), (long long)off, (long long)(size - off),
                mw_log_q(why));
    if (ftruncate(jr->fd, off) != 0 || fdatasync(jr->fd) != 0) {
        int e = errno;
        return mw_err_set(err, MW_ERR_IO, "cannot truncate '%s' to %lld: %s",
                          jr->path, (long long)off, strerror(e));
    }
    return 0;
}

/* Splits a checked body into a NUL-terminated record (the body buffer has
 * two spare bytes) and applies it.  MW_ERR_IO when the lengths inside do
 * not add up: the CRC matched, so this is no torn write. */
static int jr_apply_body(reg_journal_t *jr, unsigned char *body, uint32_t len,
                         int64_t ordinal, off_t off, mw_err_t *err)
{
    uint32_t key_len = jr_get32(body);
    int32_t value_len = (int32_t)jr_get32(body + 4);
    uint64_t need = (uint64_t)JR_BODY_HDR_LEN + key_len +
                    (value_len > 0 ? (uint64_t)value_len : 0);
    char *key = (char *)body + JR_BODY_HDR_LEN;
    char *value = key + key_len + 1;
    reg_store_record_t rec = {
        .key = key, .key_len = key_len, .offset = ordinal};

    if (value_len < -1 || need != len || key_len == 0)
        return mw_err_set(err, MW_ERR_IO,
                          "journal '%s' corrupt at offset "
                          "%lld: record lengths do not match",
                          jr->path, (long long)off);
    if (value_len >= 0) {
        memmove(value, key + key_len, (size_t)value_len);
        value[value_len] = '\0';
        rec.value = value;
        rec.value_len = (size_t)value_len;
    }
    key[key_len] = '\0';
    jr->env.apply(jr->env.opaque, &rec);
    return 0;
}

/* Reads the record at *off.  1 with *off advanced after applying it, 0 at
 * the clean end (possibly after cutting a torn tail), or an error. */
static int jr_replay_one(reg_journal_t *jr, off_t *off, off_t size,
                         int64_t ordinal, mw_err_t *err)
{
    unsigned char hdr[JR_HDR_LEN], *body;
    uint32_t len;
    int rc;

    if (*off == size)
        return 0;
    if (size - *off < (off_t)JR_HDR_LEN)
        return jr_cut(jr, *off, size, "short header", err);
    if ((rc = jr_read_at(jr, hdr, JR_HDR_LEN, *off, err)) != 1)
        return rc < 0 ? rc : jr_cut(jr, *off, size, "short header", err);
    if (jr_get32(hdr) != JR_MAGIC) {
        if (jr_tail_is_zero(jr, *off, size))
            return jr_cut(jr, *off, size, "zeroed tail", err);
        return mw_err_set(err, MW_ERR_IO,
                          "journal '%s' corrupt at offset "
                          "%lld: bad magic",
                          jr->path, (long long)*off);
    }
    /* A length no append can produce is damage, not a torn write (which
     * leaves a true prefix of the record): checked before "short". */
    len = jr_get32(hdr + 4);
    if (len < JR_BODY_HDR_LEN || len > 2 * REG_STORE_RECORD_MAX_BYTES + 8)
        return mw_err_set(err, MW_ERR_IO,
                          "journal '%s' corrupt at offset "
                          "%lld: bad length %u",
                          jr->path, (long long)*off, len);
    if ((off_t)len > size - *off - (off_t)JR_HDR_LEN)
        return jr_cut(jr, *off, size, "short record", err);
    if (!(body = malloc((size_t)len + 2)))
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory replaying '%s'",
                          jr->path);
    rc = jr_read_at(jr, body, len, *off + (off_t)JR_HDR_LEN, err);
    if (rc == 1 && jr_crc32c(body, len) != jr_get32(hdr + 8)) {
        rc = *off + (off_t)JR_HDR_LEN + (off_t)len == size
                 ? jr_cut(jr, *off, size, "bad checksum on last record", err)
                 : mw_err_set(err, MW_ERR_IO,
                              "journal '%s' corrupt at "
                              "offset %lld: bad checksum",
                              jr->path, (long long)*off);
    } else if (rc == 1 &&
               !(rc = jr_apply_body(jr, body, len, ordinal, *off, err))) {
        *off += (off_t)JR_HDR_LEN + (off_t)len;
        rc = 1;
    } else if (rc == 0) {
        rc = jr_cut(jr, *off, size, "short record", err);
    }
    free(body);
    return rc;
}

static int jr_replay(reg_journal_t *jr, mw_err_t *err)
{
    struct stat st;
    off_t off = 0;
    int rc;

    if (fstat(jr->fd, &st) != 0) {
        int e = errno;
        return mw_err_set(err, MW_ERR_IO, "cannot stat '%s': %s", jr->path,
                          strerror(e));
    }
    while ((rc = jr_replay_one(jr, &off, st.st_size, jr->next_offset, err)) ==
           1)
        jr->next_offset++;
    if (rc < 0)
        return rc;
    mw_log_info(REG_STORE_COMPONENT, "journal replayed",
                "path=%s records=%lld "
                "bytes=%lld",
                mw_log_q(jr->path), (long long)jr->next_offset, (long long)off);
    return 0;
}

/* ------------------------------------------------------------ writer */

static void jr_list_push(jr_list_t *l, jr_item_t *it)
{
    it->next = NULL;
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
}

/* Appends l2 to l and empties l2. */
static void jr_list_splice(jr_list_t *l, jr_list_t *l2)
{
    if (!l2->head)
        return;
    if (l->tail)
        l->tail->next = l2->head;
    else
        l->head = l2->head;
    l->tail = l2->tail;
    l2->head = l2->tail = NULL;
}

/* Frames every item of batch into one buffer.  NULL on ENOMEM. */
static unsigned char *jr_encode(const jr_item_t *batch, size_t *len)
{
    size_t total = 0, pos = 0;
    unsigned char *buf;

    for (const jr_item_t *it = batch; it; it = it->next)
        total += JR_HDR_LEN + JR_BODY_HDR_LEN + it->key_len + it->value_len;
    if (!(buf = malloc(total ? total : 1)))
        return NULL;
    for (const jr_item_t *it = batch; it; it = it->next) {
        unsigned char *rec = buf + pos, *body = rec + JR_HDR_LEN;
        uint32_t body_len =
            (uint32_t)(JR_BODY_HDR_LEN + it->key_len + it->value_len);
        jr_put32(body, (uint32_t)it->key_len);
        jr_put32(body + 4, it->value ? (uint32_t)it->value_len : 0xFFFFFFFFu);
        memcpy(body + JR_BODY_HDR_LEN, it->key, it->key_len);
        if (it->value)
            memcpy(body + JR_BODY_HDR_LEN + it->key_len, it->value,
                   it->value_len);
        jr_put32(rec, JR_MAGIC);
        jr_put32(rec + 4, body_len);
        jr_put32(rec + 8, jr_crc32c(body, body_len));
        pos += JR_HDR_LEN + body_len;
    }
    *len = total;
    return buf;
}

static int jr_write_all(int fd, const unsigned char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writer thread: one write and one fdatasync for the whole batch.  Returns
 * 0 or MW_ERR_IO with jr->broken_msg set (lock not held; broken_msg is
 * only read after broken is seen under the lock). */
static int jr_write_batch(reg_journal_t *jr, const jr_item_t *batch, char *msg,
                          size_t msg_size)
{
    size_t len = 0;
    unsigned char *buf = jr_encode(batch, &len);
    double t0 = mw_time_mono_s();
    int rc = 0;

    if (!buf) {
        snprintf(msg, msg_size, "out of memory writing '%s'", jr->path);
        return MW_ERR_NOMEM;
    }
    if (jr_write_all(jr->fd, buf, len) != 0 || fdatasync(jr->fd) != 0) {
        int e = errno;
        snprintf(msg, msg_size, "cannot write '%s': %s", jr->path, strerror(e));
        rc = MW_ERR_IO;
    } else {
        mw_histogram_observe(jr->fsync_seconds, mw_time_mono_s() - t0);
        mw_counter_add(jr->bytes_total, len);
    }
    free(buf);
    return rc;
}

/* Writer thread: takes everything pending, writes it, hands it to the loop.
 * Returns false once told to stop with nothing left. */
static bool jr_writer_step(reg_journal_t *jr)
{
    jr_list_t batch;
    char msg[MW_ERR_MSG_MAX] = "";
    int code;
    uint64_t one = 1;

    pthread_mutex_lock(&jr->lock);
    while (!jr->pending.head && !jr->stop)
        pthread_cond_wait(&jr->work, &jr->lock);
    if (!jr->pending.head) {
        pthread_mutex_unlock(&jr->lock);
        return false;
    }
    batch = jr->pending;
    jr->pending.head = jr->pending.tail = NULL;
    jr->busy = true;
    code = jr->broken ? jr->broken : jr->abandon ? MW_ERR_TIMEOUT : 0;
    pthread_mutex_unlock(&jr->lock);

    if (!code && (code = jr_write_batch(jr, batch.head, msg, sizeof(msg))))
        mw_log_error(REG_STORE_COMPONENT, "journal write failed", "reason=%s",
                     mw_log_q(msg));
    for (jr_item_t *it = batch.head; it; it = it->next)
        it->code = code;

    pthread_mutex_lock(&jr->lock);
    if (code && code != MW_ERR_TIMEOUT && !jr->broken) {
        jr->broken = code;
        snprintf(jr->broken_msg, sizeof(jr->broken_msg), "%s", msg);
    }
    jr_list_splice(&jr->done, &batch);
    jr->busy = false;
    pthread_cond_broadcast(&jr->idle);
    pthread_mutex_unlock(&jr->lock);
    if (write(jr->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        mw_log_error(REG_STORE_COMPONENT, "journal wake-up failed", "errno=%d",
                     errno);
    return true;
}

static void *jr_writer_main(void *arg)
{
    reg_journal_t *jr = arg;

    while (jr_writer_step(jr))
        ;
    return NULL;
}

/* ------------------------------------------------------------ loop side */

static void jr_item_free(jr_item_t *it)
{
    free(it->key);
    free(it->value);
    free(it);
}

/* Loop thread: applies and acknowledges what the writer finished, in
 * append order.  Also called by close after the writer stopped. */
static void jr_deliver(reg_journal_t *jr)
{
    jr_list_t done;
    jr_item_t *it, *next;

    pthread_mutex_lock(&jr->lock);
    done = jr->done;
    jr->done.head = jr->done.tail = NULL;
    pthread_mutex_unlock(&jr->lock);
    for (it = done.head; it; it = next) {
        next = it->next;
        jr->inflight--;
        mw_histogram_observe(jr->append_seconds,
                             mw_time_mono_s() - it->start_s);
        if (it->code == 0) {
            reg_store_record_t rec = {.key = it->key,
                                      .key_len = it->key_len,
                                      .value = it->value,
                                      .value_len = it->value_len,
                                      .offset = it->offset};
            jr->env.apply(jr->env.opaque, &rec);
            it->done(it->opaque, it->offset, NULL);
        } else {
            mw_err_t err;
            mw_counter_inc(jr->errors_total);
            mw_err_set(&err, it->code,
                       it->code == MW_ERR_TIMEOUT
                           ? "store closed before the record was written"
                           : "journal '%s' is not writable",
                       jr->path);
            it->done(it->opaque, -1, &err);
        }
        jr_item_free(it);
    }
}

static void jr_on_done(evutil_socket_t fd, short what, void *arg)
{
    uint64_t cnt;

    (void)what;
    if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
        mw_log_error(REG_STORE_COMPONENT, "journal wake-up read failed",
                     "errno=%d", errno);
    jr_deliver(arg);
}

static int jr_append(void *be, const char *key, const char *value,
                     reg_store_done_cb *done, void *opaque, mw_err_t *err)
{
    reg_journal_t *jr = be;
    jr_item_t *it;
    int broken;

    if (jr->closing)
        return mw_err_set(err, MW_ERR_STATE, "store is closing");
    if (jr->inflight >= REG_STORE_INFLIGHT_MAX)
        return mw_err_set(err, MW_ERR_FULL, "%u journal appends in flight",
                          (unsigned)REG_STORE_INFLIGHT_MAX);
    pthread_mutex_lock(&jr->lock);
    broken = jr->broken;
    pthread_mutex_unlock(&jr->lock);
    if (broken)
        return mw_err_set(err, broken,
                          "journal '%s' is not writable after "
                          "an earlier error",
                          jr->path);
    if (!(it = calloc(1, sizeof(*it))) || !(it->key = strdup(key)) ||
        (value && !(it->value = strdup(value)))) {
        if (it)
            jr_item_free(it);
        return mw_err_set(err, MW_ERR_NOMEM, "out of memory for an append");
    }
    it->key_len = strlen(key);
    it->value_len = value ? strlen(value) : 0;
    it->done = done;
    it->opaque = opaque;
    it->start_s = mw_time_mono_s();
    it->offset = jr->next_offset++;
    jr->inflight++;
    mw_counter_inc(jr->appends_total);
    pthread_mutex_lock(&jr->lock);
    jr_list_push(&jr->pending, it);
    pthread_cond_signal(&jr->work);
    pthread_mutex_unlock(&jr->lock);
    return 0;
}

static int jr_is_ready(const void *be)
{
    (void)be;
    return 1;
}

/* ------------------------------------------------------------ lifecycle */

static void jr_metrics(reg_journal_t *jr, const reg_store_env_t *env)
{
    const char *l = "storage=\"journal\"";
    mw_metrics_t *m = env->metrics;

    jr->appends_total = env->stats.appends_total;
    jr->errors_total = env->stats.errors_total;
    jr->append_seconds = env->stats.append_seconds;
    if (!m)
        return;
    jr->bytes_total =
        mw_metrics_counter(m, "mesh_registry_store_written_bytes_total",
                           "Bytes written to the journal.", l);
    jr->fsync_seconds = mw_metrics_histogram(
        m, "mesh_registry_store_fsync_seconds",
        "Duration of one group commit (write + fdatasync).", l, NULL, 0);
}

/* Opens the journal file and the lock; replays.  Loop thread. */
static int jr_open_files(reg_journal_t *jr, const char *dir, mw_err_t *err)
{
    struct stat st;
    bool created;
    int rc;

    if (mw_daemon_mkdirs(dir, err) != 0)
        return mw_err_prefix(err, "key 'data.dir'");
    if ((rc = jr_lock(jr, dir, err)))
        return rc;
    created = stat(jr->path, &st) != 0;
    jr->fd = open(jr->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (jr->fd < 0) {
        int e = errno;
        return mw_err_set(err, MW_ERR_IO, "cannot open '%s': %s", jr->path,
                          strerror(e));
    }
    if (created)
        jr_sync_dir(dir);
    return jr_replay(jr, err);
}

static void jr_destroy(reg_journal_t *jr)
{
    if (jr->done_ev)
        event_free(jr->done_ev);
    if (jr->efd >= 0)
        close(jr->efd);
    if (jr->fd >= 0)
        close(jr->fd);
    if (jr->lock_fd >= 0)
        close(jr->lock_fd); /* releases the flock */
    pthread_cond_destroy(&jr->idle);
    pthread_cond_destroy(&jr->work);
    pthread_mutex_destroy(&jr->lock);
    free(jr->path);
    free(jr);
}

static void *jr_open(const reg_store_env_t *env, mw_err_t *err)
{
    const char *dir = mw_conf_get_str(env->conf, "data.dir");
    reg_journal_t *jr = calloc(1, sizeof(*jr));

    if (!dir)
        dir = ""; /* refused by mkdirs, naming the key */
    if (!jr) {
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the journal");
        return NULL;
    }
    jr->env = *env;
    jr->fd = jr->lock_fd = jr->efd = -1;
    pthread_mutex_init(&jr->lock, NULL);
    pthread_cond_init(&jr->work, NULL);
    pthread_cond_init(&jr->idle, NULL);
    jr_metrics(jr, env);
    if (asprintf(&jr->path, "%s/%s", dir, env->log->journal_file) < 0) {
        jr->path = NULL;
        mw_err_set(err, MW_ERR_NOMEM, "out of memory for the journal");
        goto fail;
    }
    if (jr_open_files(jr, dir, err) != 0)
        goto fail;
    jr->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    jr->done_ev = jr->efd < 0 ? NULL
                              : event_new(env->base, jr->efd,
                                          EV_READ | EV_PERSIST, jr_on_done, jr);
    if (!jr->done_ev || event_add(jr->done_ev, NULL) != 0 ||
        pthread_create(&jr->writer, NULL, jr_writer_main, jr) != 0) {
        mw_err_set(err, MW_ERR_IO, "cannot start the journal writer");
        goto fail;
    }
    jr->writer_started = true;
    return jr;
fail:
    jr_destroy(jr);
    return NULL;
}

/* Waits until the writer has nothing pending or the deadline passes; in
 * the latter case the rest is failed with MW_ERR_TIMEOUT.  Lock held. */
static void jr_drain_locked(reg_journal_t *jr, int timeout_ms)
{
    struct timespec dl;

    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    while (jr->pending.head || jr->busy)
        if (pthread_cond_timedwait(&jr->idle, &jr->lock, &dl) == ETIMEDOUT)
            break;
    if (jr->pending.head || jr->busy) {
        jr->abandon = true;
        mw_log_warn(REG_STORE_COMPONENT, "journal close timed out",
                    "timeout_ms=%d", timeout_ms);
    }
}

static void jr_close(void *be, int timeout_ms)
{
    reg_journal_t *jr = be;

    jr->closing = true;
    if (jr->writer_started) {
        pthread_mutex_lock(&jr->lock);
        jr_drain_locked(jr, timeout_ms > 0 ? timeout_ms : 0);
        jr->stop = true;
        pthread_cond_signal(&jr->work);
        pthread_mutex_unlock(&jr->lock);
        /* Bounded by one write + fdatasync of what was already taken. */
        pthread_join(jr->writer, NULL);
    }
    jr_deliver(jr);
    jr_destroy(jr);
}

/* The journal has no keys of its own: it lives in the program's data.dir
 * (shared with the url file). */
const reg_store_ops_t reg_store_journal_ops = {
    .conf = {.name = "journal",
             .doc = "an fsynced, checksummed file under data.dir"},
    .open = jr_open,
    .append = jr_append,
    .is_ready = jr_is_ready,
    .close = jr_close,
};
