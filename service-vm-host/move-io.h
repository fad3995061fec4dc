/* Reads of a move's transfer bounded by an absolute deadline, so a peer
 * sending a byte now and then cannot hold the mover past it. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* len bytes from the socket fd by deadline_ns (CLOCK_MONOTONIC): 0,
 * -ETIMEDOUT, -EPIPE (closed) or another -errno. */
int move_read_by(int fd, void *buf, size_t len, uint64_t deadline_ns);
/* CLOCK_MONOTONIC now, in ns. */
uint64_t move_now_ns(void);
