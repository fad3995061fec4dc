#include "service-vm-host/move-io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

/* Waits, without the deadline, until the pipe p takes a byte: the time is
 * added to *deadline_ns, so only the socket's silences count against the
 * source, never this node's own helper or disk. -EPIPE: its reader went. */
static int pipe_room(int p, uint64_t *deadline_ns)
{
	struct pollfd pf = { .fd = p, .events = POLLOUT };
	uint64_t t0 = move_now_ns();
	int r;

	while ((r = poll(&pf, 1, -1)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return -errno;
	if (pf.revents & POLLERR)
		return -EPIPE;
	*deadline_ns += move_now_ns() - t0;
	return 0;
}

/* The kernel moves the bytes (splice): socket to pipe by page reference,
 * so a frame never passes through this process. The pipe never blocks the
 * splice (it has room first, SPLICE_F_NONBLOCK); the socket's wait is
 * bounded by the deadline (SO_RCVTIMEO). */
int move_splice_by(int sock, int out, const int via[2], size_t len, uint64_t deadline_ns)
{
	int to = via ? via[1] : out;

	while (len) {
		uint64_t t0;
		int ret;
		ssize_t n;

		if ((ret = pipe_room(to, &deadline_ns)) < 0 || (ret = rcv_deadline(sock, deadline_ns)) < 0)
			return ret;
		n = splice(sock, NULL, to, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue; /* the deadline is checked above */
		if (n < 0)
			return -errno; /* EPIPE: out's reader went away */
		if (n == 0)
			return -ECONNRESET;
		t0 = move_now_ns();
		if (via && (ret = move_drain(via[0], out, (size_t)n)) < 0)
			return ret;
		deadline_ns += move_now_ns() - t0;
		len -= (size_t)n;
	}
	return 0;
}
