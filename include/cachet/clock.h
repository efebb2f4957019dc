/* clock.h - cachet's one monotonic clock. Timers, timeouts, reload timings and rate limits all
 * read it, so every duration in the server is measured the same way. */
#ifndef CACHET_CLOCK_H
#define CACHET_CLOCK_H

#include <stdint.h>
#include <time.h>

/** Monotonic nanoseconds (CLOCK_MONOTONIC: never jumps with the wall clock). */
static inline int64_t cachet_clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/** The same clock at the resolution of the scheduler tick (about 1-4 ms), without a vDSO
 *  read of the TSC: for the workers' per-batch timer bookkeeping, which needs no more. */
static inline int64_t cachet_clock_coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
