/* Reads of a move's transfer bounded by an absolute deadline, so a peer
 * sending a byte now and then cannot hold the mover past it; and how its
 * DATA passes on: received into the mover and written on, or (the
 * source's) spliced by the kernel. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* len bytes from the socket fd by deadline_ns (CLOCK_MONOTONIC): 0,
 * -ETIMEDOUT, -EPIPE (closed) or another -errno. */
int move_read_by(int fd, void *buf, size_t len, uint64_t deadline_ns);
/* len bytes from the socket sock into out (the helper's pipe, or a file)
 * by deadline_ns, through buf (cap bytes). The deadline counts the
 * socket's waits only: waits for out (a slow helper, a slow disk) push it
 * back. 0, -ETIMEDOUT, -ECONNRESET (the peer closed the connection), -EPIPE
 * (out's reader went away), or another -errno (the socket's or out's). */
int move_pass_by(int sock, int out, uint8_t *buf, size_t cap, size_t len, uint64_t deadline_ns);
/* n bytes that are in the pipe from, whole into out (a socket, a file or a
 * pipe): 0 or -errno. */
int move_drain(int from, int out, size_t n);
/* CLOCK_MONOTONIC now, in ns. */
uint64_t move_now_ns(void);
