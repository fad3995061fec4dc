#include "service-vm-host/move-io.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

uint64_t move_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One blocking recv for all of len (MSG_WAITALL), its wait bounded by what
 * is left of the deadline (SO_RCVTIMEO, which the kernel counts down across
 * the call's waits): a frame costs a few system calls, not one poll and one
 * recv for each segment the mesh delivers. */
int move_read_by(int fd, void *buf, size_t len, uint64_t deadline_ns)
{
	uint8_t *p = buf;

	while (len) {
		uint64_t now = move_now_ns(), left = deadline_ns > now ? deadline_ns - now : 0;
		struct timeval tv = { .tv_sec = (time_t)(left / 1000000000ull),
				      .tv_usec = (suseconds_t)(left % 1000000000ull / 1000) };
		ssize_t n;

		if (!left)
			return -ETIMEDOUT;
		if (!tv.tv_sec && !tv.tv_usec)
			tv.tv_usec = 1; /* zero would mean no timeout */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
			return -errno;
		n = recv(fd, p, len, MSG_WAITALL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue; /* the deadline is checked above */
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		p += n, len -= (size_t)n;
	}
	return 0;
}
