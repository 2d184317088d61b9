/*
 * mw_time: thin wrappers over clock_gettime, so that no module repeats the
 * timespec arithmetic (and none gets its carry wrong).  A clock that cannot
 * be read is not a case worth handling: Linux guarantees these clocks.
 */
#include "mw_time.h"

#include <time.h>

static int64_t time_ns(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t mw_time_mono_ns(void)
{
    return time_ns(CLOCK_MONOTONIC);
}

int64_t mw_time_mono_us(void)
{
    return time_ns(CLOCK_MONOTONIC) / 1000;
}

int64_t mw_time_mono_ms(void)
{
    return time_ns(CLOCK_MONOTONIC) / 1000000;
}

double mw_time_mono_s(void)
{
    return (double)time_ns(CLOCK_MONOTONIC) / 1e9;
}

int64_t mw_time_coarse_ms(void)
{
    return time_ns(CLOCK_MONOTONIC_COARSE) / 1000000;
}

int64_t mw_time_wall_ms(void)
{
    return time_ns(CLOCK_REALTIME) / 1000000;
}
