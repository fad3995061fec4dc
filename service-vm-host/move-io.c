#include "service-vm-host/move-io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

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

/* What the socket carried, whole into out: the wait for a slow reader (this
 * node's helper, or its disk) is not the source's. */
static int put_all(int out, const uint8_t *p, size_t n, uint64_t *deadline_ns)
{
	uint64_t t0 = move_now_ns();

	while (n) {
		ssize_t w = write(out, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO; /* EPIPE: out's reader went away */
		p += w, n -= (size_t)w;
	}
	*deadline_ns += move_now_ns() - t0;
	return 0;
}

/* Read into buf (MSG_WAITALL, a run of the mesh's segments in one call) and
 * written on in full pages. Not splice: the segments wireguard-go's TUN
 * device delivers are small and linear, and a socket-to-pipe splice copied
 * each into a pipe buffer of its own, which cost the target's mover more
 * system time than this copy, and its helper more reads. */
int move_pass_by(int sock, int out, uint8_t *buf, size_t cap, size_t len, uint64_t deadline_ns)
{
	if (!cap && len)
		return -EINVAL;
	while (len) {
		size_t n = len < cap ? len : cap;
		int ret = move_read_by(sock, buf, n, deadline_ns);

		if (ret < 0)
			return ret == -EPIPE ? -ECONNRESET : ret;
		if ((ret = put_all(out, buf, n, &deadline_ns)) < 0)
			return ret;
		len -= n;
	}
	return 0;
}
