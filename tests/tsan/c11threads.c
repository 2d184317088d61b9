/*
 * c11threads: C11 <threads.h> on top of pthreads, linked into the
 * ThreadSanitizer build only (make tsan).
 *
 * Debian 12's librdkafka runs its threads through glibc's C11 API
 * (thrd_create, mtx_lock, cnd_wait, ...).  GCC 12's TSan intercepts the
 * pthread calls but not those: a thread started by thrd_create has no TSan
 * state, and its first malloc crashes the process (SIGSEGV inside
 * __tsan::user_alloc_internal); its mutexes would be invisible too and every
 * lock-protected access inside librdkafka would look like a race.  Defining
 * the C11 functions in the executable interposes them for librdkafka, and
 * forwarding each to its pthread twin routes librdkafka's threads and locks
 * through TSan's interceptors.
 *
 * glibc's C11 objects are its pthread objects (thrd_t is pthread_t, mtx_t
 * and cnd_t wrap pthread_mutex_t and pthread_cond_t, once_flag is
 * pthread_once_t), so the casts below are the same ones glibc makes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t layout");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t layout");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag");

static int c11_result(int rc)
{
    switch (rc) {
    case 0:
        return thrd_success;
    case ETIMEDOUT:
        return thrd_timedout;
    case EBUSY:
        return thrd_busy;
    case ENOMEM:
        return thrd_nomem;
    default:
        return thrd_error;
    }
}

struct c11_start {
    thrd_start_t func;
    void *arg;
};

static void *c11_trampoline(void *p)
{
    struct c11_start start = *(struct c11_start *)p;
    free(p);
    return (void *)(intptr_t)start.func(start.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
    struct c11_start *start = malloc(sizeof(*start));
    if (!start)
        return thrd_nomem;
    start->func = func;
    start->arg = arg;
    int rc = pthread_create((pthread_t *)thr, NULL, c11_trampoline, start);
    if (rc != 0)
        free(start);
    return c11_result(rc);
}

int thrd_join(thrd_t thr, int *res)
{
    void *ret = NULL;
    int rc = pthread_join((pthread_t)thr, &ret);
    if (rc == 0 && res)
        *res = (int)(intptr_t)ret;
    return c11_result(rc);
}

thrd_t thrd_current(void)
{
    return (thrd_t)pthread_self();
}

int mtx_init(mtx_t *mtx, int type)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init((pthread_mutex_t *)mtx, &attr);
    pthread_mutexattr_destroy(&attr);
    return c11_result(rc);
}

void mtx_destroy(mtx_t *mtx)
{
    pthread_mutex_destroy((pthread_mutex_t *)mtx);
}

int mtx_lock(mtx_t *mtx)
{
    return c11_result(pthread_mutex_lock((pthread_mutex_t *)mtx));
}

int mtx_unlock(mtx_t *mtx)
{
    return c11_result(pthread_mutex_unlock((pthread_mutex_t *)mtx));
}

int cnd_init(cnd_t *cond)
{
    return c11_result(pthread_cond_init((pthread_cond_t *)cond, NULL));
}

void cnd_destroy(cnd_t *cond)
{
    pthread_cond_destroy((pthread_cond_t *)cond);
}

int cnd_signal(cnd_t *cond)
{
    return c11_result(pthread_cond_signal((pthread_cond_t *)cond));
}

int cnd_broadcast(cnd_t *cond)
{
    return c11_result(pthread_cond_broadcast((pthread_cond_t *)cond));
}

int cnd_wait(cnd_t *cond, mtx_t *mtx)
{
    return c11_result(
        pthread_cond_wait((pthread_cond_t *)cond, (pthread_mutex_t *)mtx));
}

int cnd_timedwait(cnd_t *restrict cond, mtx_t *restrict mtx,
                  const struct timespec *restrict ts)
{
    return c11_result(pthread_cond_timedwait((pthread_cond_t *)cond,
                                             (pthread_mutex_t *)mtx, ts));
}

void call_once(once_flag *flag, void (*func)(void))
{
    pthread_once((pthread_once_t *)flag, func);
}
