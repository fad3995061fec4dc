#include "lib/bulk-priority.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* linux/ioprio.h's values (glibc has no wrapper for ioprio_set). */
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_BE 2
#define IOPRIO_CLASS_SHIFT 13

int bulk_priority(void)
{
	int now;

	errno = 0;
	now = getpriority(PRIO_PROCESS, 0);
	if (errno)
		return -errno;
	if (now < BULK_NICE && setpriority(PRIO_PROCESS, 0, BULK_NICE) < 0)
		return -errno;
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0,
		    IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT | BULK_IOPRIO_LEVEL) < 0)
		return -errno;
	return 0;
}
