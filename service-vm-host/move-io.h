/* Reads of a move's transfer bounded by an absolute deadline, so a peer
 * sending a byte now and then cannot hold the mover past it; and the
 * splices that carry its DATA without copying it through the mover. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* len bytes from the socket fd by deadline_ns (CLOCK_MONOTONIC): 0,
 * -ETIMEDOUT, -EPIPE (closed) or another -errno. */
int move_read_by(int fd, void *buf, size_t len, uint64_t deadline_ns);
/* len bytes from the socket sock into out by deadline_ns, moved by the
 * kernel: out is a pipe, or, given via (an empty pipe of the caller's), any
 * file, the bytes passing through via. The deadline counts the socket's
 * waits only: waits for out (a slow helper, a slow disk) push it back.
 * 0, -ETIMEDOUT, -ECONNRESET (the peer closed the connection), -EPIPE (out's
 * reader went away), or another -errno (the socket's or out's). */
int move_splice_by(int sock, int out, const int via[2], size_t len, uint64_t deadline_ns);
/* n bytes that are in the pipe from, whole into out (a socket, a file or a
 * pipe): 0 or -errno. */
int move_drain(int from, int out, size_t n);
/* CLOCK_MONOTONIC now, in ns. */
uint64_t move_now_ns(void);
