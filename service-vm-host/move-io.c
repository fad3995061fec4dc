#include "service-vm-host/move-io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

uint64_t move_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The socket's receive timeout set to what is left of the deadline
 * (SO_RCVTIMEO, which the kernel counts down across one call's waits). */
static int rcv_deadline(int fd, uint64_t deadline_ns)
{
	uint64_t now = move_now_ns(), left = deadline_ns > now ? deadline_ns - now : 0;
	struct timeval tv = { .tv_sec = (time_t)(left / 1000000000ull),
			      .tv_usec = (suseconds_t)(left % 1000000000ull / 1000) };

	if (!left)
		return -ETIMEDOUT;
	if (!tv.tv_sec && !tv.tv_usec)
		tv.tv_usec = 1; /* zero would mean no timeout */
	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ? -errno : 0;
}

/* One blocking recv for all of len (MSG_WAITALL), its wait bounded by what
 * is left of the deadline: a frame costs a few system calls, not one poll
 * and one recv for each segment the mesh delivers. */
int move_read_by(int fd, void *buf, size_t len, uint64_t deadline_ns)
{
	uint8_t *p = buf;

	while (len) {
		int ret = rcv_deadline(fd, deadline_ns);
		ssize_t n;

		if (ret < 0)
			return ret;
		n = recv(fd, p, len, MSG_WAITALL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue; /* the deadline is checked above */
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		p += n, len -= (size_t)n;
	}
	return 0;
}

int move_drain(int from, int out, size_t n)
{
	while (n) {
		ssize_t m = splice(from, NULL, out, NULL, n, SPLICE_F_MOVE | SPLICE_F_MORE);

		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			return m == 0 ? -EIO : -errno;
		n -= (size_t)m;
	}
	return 0;
}

/* The kernel moves the bytes (splice): socket to pipe by page reference,
 * so a frame never passes through this process. */
int move_splice_by(int sock, int out, const int via[2], size_t len, uint64_t deadline_ns)
{
	while (len) {
		int ret = rcv_deadline(sock, deadline_ns);
		ssize_t n;

		if (ret < 0)
			return ret;
		n = splice(sock, NULL, via ? via[1] : out, NULL, len, SPLICE_F_MOVE);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0 && errno == EPIPE)
			return -EPIPE; /* out's reader went away */
		if (n <= 0)
			return -ECONNRESET;
		if (via && (ret = move_drain(via[0], out, (size_t)n)) < 0)
			return ret;
		len -= (size_t)n;
	}
	return 0;
}
