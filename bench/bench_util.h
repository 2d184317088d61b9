/*
 * bench_util: the clock and the fatal exit every C benchmark in bench/
 * shares, so their timed windows are measured the same way.  Header-only:
 * each benchmark is one program built from one .c file.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mw_time.h"

/* Monotonic seconds (arbitrary start), for timed windows. */
static inline double bench_now_s(void)
{
    return (double)mw_time_mono_ns() / 1e9;
}

/* "<program>: what: why" on stderr, then exit 1: a benchmark that cannot
 * do its work has no figure to report. */
static inline _Noreturn void bench_die(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, why);
    exit(1);
}

#endif /* BENCH_UTIL_H */
