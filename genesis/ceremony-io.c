#include "genesis/ceremony-io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"

int cio_wait(int fd, short events, uint64_t deadline_ns)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		uint64_t now = clock_mono_ns(), ms = 0;
		int n;

		if (now < deadline_ns) {
			ms = (deadline_ns - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC;
			if (ms > INT_MAX)
				ms = INT_MAX;
		}
		n = poll(&p, 1, (int)ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n > 0)
			return 0;
		if (clock_mono_ns() >= deadline_ns)
			return -ETIMEDOUT;
	}
}

int cio_send_all(int fd, const void *data, size_t len, uint64_t deadline_ns)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			int ret;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			ret = cio_wait(fd, POLLOUT, deadline_ns);
			if (ret < 0)
				return ret;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t cio_recv(int fd, void *buf, size_t len, uint64_t deadline_ns)
{
	for (;;) {
		ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
		int ret;

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ret = cio_wait(fd, POLLIN, deadline_ns);
		if (ret < 0)
			return ret;
	}
}

/* Byte by byte, so nothing after the newline is consumed; poll() first, so a
 * terminal in blocking mode does not hold us past the deadline. */
int cio_read_line(int fd, char *line, size_t size, uint64_t deadline_ns)
{
	size_t n = 0;
	bool any = false;

	if (!size)
		return -EINVAL;
	for (;;) {
		char c;
		ssize_t r;
		int ret = cio_wait(fd, POLLIN, deadline_ns);

		if (ret < 0)
			return ret;
		r = read(fd, &c, 1);
		if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (r < 0)
			return -errno;
		if (r == 0 && !any)
			return -ENODATA;
		if (r == 0 || c == '\n')
			break;
		any = true;
		if (n + 1 < size)
			line[n++] = c;
	}
	line[n] = '\0';
	return 0;
}

static int copy(char *out, size_t size, const char *s, size_t n)
{
	if (n >= size)
		return -EINVAL;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

int cio_split(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon;
	int ret;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || (end[1] && end[1] != ':'))
			return -EINVAL;
		ret = copy(host, hostlen, s + 1, (size_t)(end - s - 1));
		if (ret < 0 || !end[1])
			return ret;
		return copy(port, portlen, end + 2, strlen(end + 2));
	}
	colon = strchr(s, ':');
	/* No colon, or a bare IPv6 address: all host. */
	if (!colon || strchr(colon + 1, ':'))
		return copy(host, hostlen, s, strlen(s));
	ret = copy(host, hostlen, s, (size_t)(colon - s));
	if (ret < 0)
		return ret;
	return copy(port, portlen, colon + 1, strlen(colon + 1));
}

static void nodelay(int fd)
{
	int one = 1;

	/* Small messages back to back must not wait for an ACK. Not a TCP
	 * socket (a test's socketpair): nothing to do. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int connect_one(const struct addrinfo *ai, uint64_t deadline_ns)
{
	int fd, ret, soerr = 0;
	socklen_t len = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		ret = -errno;
		goto cleanup;
	}
	ret = cio_wait(fd, POLLOUT, deadline_ns);
	if (ret < 0)
		goto cleanup;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) {
		ret = -errno;
		goto cleanup;
	}
	if (soerr) {
		ret = -soerr;
		goto cleanup;
	}
	nodelay(fd);
	return fd;
cleanup:
	close(fd);
	return ret;
}

static int resolve(const char *host, const char *port, int flags, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = flags };
	int ret = getaddrinfo(host && host[0] ? host : NULL, port, &hints, res);

	if (ret == 0)
		return 0;
	if (ret == EAI_SYSTEM)
		return errno ? -errno : -EIO;
	if (ret == EAI_MEMORY)
		return -ENOMEM;
	return -EHOSTUNREACH;
}

int cio_connect(const char *host, const char *port, uint64_t deadline_ns)
{
	struct addrinfo *res, *ai;
	int ret;

	if (!host || !host[0])
		return -EINVAL;
	ret = resolve(host, port, AI_NUMERICSERV, &res);
	if (ret < 0)
		return ret;
	ret = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		ret = connect_one(ai, deadline_ns);
		if (ret >= 0 || ret == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	return ret;
}

static int listen_one(const struct addrinfo *ai)
{
	int fd, one = 1, zero = 0, ret;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	/* The wildcard on IPv6 takes IPv4 too where the host allows it. */
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 8) < 0)
		goto fail;
	return fd;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

int cio_listen(const char *host, const char *port)
{
	struct addrinfo *res, *ai;
	int ret;

	ret = resolve(host, port, AI_PASSIVE | AI_NUMERICSERV, &res);
	if (ret < 0)
		return ret;
	ret = -EADDRNOTAVAIL;
	/* IPv6 first: its wildcard usually serves both families. */
	for (int pass = 0; pass < 2 && ret < 0; ++pass) {
		for (ai = res; ai && ret < 0; ai = ai->ai_next) {
			if ((ai->ai_family == AF_INET6) == (pass == 0))
				ret = listen_one(ai);
		}
	}
	freeaddrinfo(res);
	return ret;
}

int cio_accept(int listen_fd, uint64_t deadline_ns)
{
	for (;;) {
		int fd, ret = cio_wait(listen_fd, POLLIN, deadline_ns);

		if (ret < 0)
			return ret;
		fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			nodelay(fd);
			return fd;
		}
		/* The peer may have gone between poll and accept. */
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != ECONNABORTED)
			return -errno;
	}
}
