#include "lib/bulk-priority.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* linux/ioprio.h's values (glibc has no wrapper for ioprio_set). */
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_BE 2
#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_CLASS_SHIFT 13

/* Lower than best-effort's lowest already (the idle class): left alone. */
static bool io_lower_already(void)
{
	long now = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);

	return now >= 0 && now >> IOPRIO_CLASS_SHIFT == IOPRIO_CLASS_IDLE;
}

int bulk_priority(void)
{
	int now;

	errno = 0;
	now = getpriority(PRIO_PROCESS, 0);
	if (errno)
		return -errno;
	if (now < BULK_NICE && setpriority(PRIO_PROCESS, 0, BULK_NICE) < 0)
		return -errno;
	if (!io_lower_already() &&
	    syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0,
		    IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT | BULK_IOPRIO_LEVEL) < 0)
		return -errno;
	return 0;
}
