/* Clocks. Deadlines, eviction and expiry use the monotonic clock only;
 * wall-clock time is for display and the event log. */
#pragma once
#include <stdint.h>

#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_SEC 1000000000ULL

uint64_t clock_mono_ns(void);
/* Seconds since the epoch, for display and stored records only. */
int64_t clock_wall_s(void);
