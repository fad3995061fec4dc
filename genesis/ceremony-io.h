/* Sockets for the ceremony: every wait is a poll() against a CLOCK_MONOTONIC
 * deadline, so nothing blocks past it. Internal to genesis/. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Waits until fd is ready for events (POLLIN, POLLOUT). Past the deadline it
 * still looks once without waiting. -ETIMEDOUT, or -errno. */
int cio_wait(int fd, short events, uint64_t deadline_ns);
/* Sends everything (MSG_NOSIGNAL), or -ETIMEDOUT / -errno. */
int cio_send_all(int fd, const void *data, size_t len, uint64_t deadline_ns);
/* Receives at most len bytes: the count, 0 at end of stream, or -errno. */
ssize_t cio_recv(int fd, void *buf, size_t len, uint64_t deadline_ns);
/* One line from fd (terminal or pipe) without its newline, cut to fit; 0,
 * -ENODATA at end of input before any byte, -ETIMEDOUT or -errno. */
int cio_read_line(int fd, char *line, size_t size, uint64_t deadline_ns);

/* Splits "host:port", "[v6]:port", "host", "[v6]", ":port" or a bare IPv6
 * address; missing parts stay as given in host/port defaults ("" host). */
int cio_split(const char *s, char *host, size_t hostlen, char *port, size_t portlen);
/* A TCP connection to host:port within the deadline, non-blocking and with
 * TCP_NODELAY; the fd or -errno. */
int cio_connect(const char *host, const char *port, uint64_t deadline_ns);
/* A listening TCP socket ("" host: every address); the fd or -errno. */
int cio_listen(const char *host, const char *port);
/* accept() before the deadline; the connection gets TCP_NODELAY. */
int cio_accept(int listen_fd, uint64_t deadline_ns);
