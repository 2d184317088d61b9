/*
 * mw_time: the clocks every module reads.
 *
 * Durations, deadlines and timeouts use the monotonic clock (never the wall
 * clock, which NTP and operators move); event timestamps that leave the
 * process (ts_ms in an envelope, log lines, freshness against a producer's
 * time) use the wall clock.  The coarse clock is for hot paths that only
 * need milliseconds-ish resolution (a per-record freshness stamp): it is a
 * vDSO read without the TSC calibration.  Any thread.
 */
#ifndef MW_TIME_H
#define MW_TIME_H

#include <stdint.h>

/* Monotonic time since an arbitrary start, in ns, us or ms. */
int64_t mw_time_mono_ns(void);
int64_t mw_time_mono_us(void);
int64_t mw_time_mono_ms(void);
/* Monotonic, in seconds, for durations observed into _seconds histograms. */
double mw_time_mono_s(void);
/* Monotonic, coarse (a few ms of resolution), in ms. */
int64_t mw_time_coarse_ms(void);
/* Wall clock: milliseconds since the Unix epoch. */
int64_t mw_time_wall_ms(void);

#endif /* MW_TIME_H */
