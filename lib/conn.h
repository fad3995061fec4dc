/* Framed connections on libuv: one stream (TCP or a Unix socket) that reads
 * lib/wire-frame.h frames and hands each whole one to a callback, writes
 * whole frames, and enforces the limits every server and client of the
 * project needs. A connection owns its handles; it is freed after the last
 * one closes, right after its closed() callback.
 *
 * The limits (0 = none):
 *   first_frame_ms  absolute: from accept or connect until the first whole
 *                   frame; bytes that arrive do not move it
 *   idle_ms         after the first frame: the longest gap without a whole
 *                   frame in or a write finished
 *   lifetime_ms     absolute: the whole connection
 *   frame_max       the largest payload accepted (frame_reader's max)
 *   write_queue_max while more unsent bytes than this are queued, nothing is
 *                   read (and no buffered frame is handed out); reading
 *                   resumes when the queue drains below it
 * A listener also caps its connections, and a TCP listener those from one
 * source address. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#define CONN_READ_BYTES 16384

struct conn;
struct conn_listener;

struct conn_limits {
	uint64_t first_frame_ms;
	uint64_t idle_ms;
	uint64_t lifetime_ms;
	size_t frame_max;
	size_t write_queue_max;
};

struct conn_cbs {
	/* A whole frame's payload, valid during the call only. */
	void (*frame)(struct conn *c, const uint8_t *p, size_t len);
	/* Optional: a frame announced more than frame_max. Reading has stopped;
	 * the callback may send a last frame (conn_send(..., true)). Without
	 * it, or if it sends nothing, the connection closes. */
	void (*oversized)(struct conn *c);
	/* Optional, clients: the connect finished (status < 0: it failed and the
	 * connection closes). Reading starts after it returns. */
	void (*connected)(struct conn *c, int status);
	/* Once, after every handle closed: why it ended (0 after conn_close,
	 * -ETIMEDOUT, -EMSGSIZE, UV_EOF or another libuv error). */
	void (*closed)(struct conn *c, int why);
};

struct conn_listener_opts {
	unsigned max_conns;       /* connections open at once on this listener */
	unsigned max_per_source;  /* TCP: from one address (0 = no limit) */
	/* At a cap, a newcomer takes the place of the oldest connection (of
	 * that address, for the per-source cap) that has not sent one whole
	 * frame yet, so idle connections cannot keep a real client out; it is
	 * refused only when every holder has spoken. */
	bool evict_silent;
	int backlog;
	struct conn_limits limits;
	struct conn_cbs cbs;
	/* A connection within the caps; reading starts after it returns unless
	 * it was closed. ctx is the listener's. */
	void (*accepted)(struct conn *c, void *ctx);
	/* Optional: a connection over a cap, not counted against them; it may
	 * be sent a refusal (then is closed once written). Else closed. */
	void (*over_cap)(struct conn *c, void *ctx, const char *why);
	/* Optional: the listener and all its connections are closed. */
	void (*stopped)(void *ctx);
	void *ctx;
};

int conn_listen_tcp(uv_loop_t *loop, const struct sockaddr *addr,
		    const struct conn_listener_opts *o, struct conn_listener **out);
/* Binds path (which must not exist) and listens; the caller sets its mode. */
int conn_listen_unix(uv_loop_t *loop, const char *path, const struct conn_listener_opts *o,
		     struct conn_listener **out);
/* Closes the listener and every connection it accepted; stopped() runs when
 * all are gone. Safe with NULL. */
void conn_listener_close(struct conn_listener *l);
unsigned conn_listener_count(const struct conn_listener *l);
/* TCP: the bound address (a port 0 bind learns its port here). */
int conn_listener_sockname(const struct conn_listener *l, struct sockaddr_storage *ss);

/* A client connection; cbs->closed runs even if the connect fails. */
int conn_connect_tcp(uv_loop_t *loop, const struct sockaddr *addr, const struct conn_limits *lim,
		     const struct conn_cbs *cbs, void *data, struct conn **out);

/* Takes the malloc'd frame (header included) whatever happens. With
 * close_after, nothing more is read and the connection closes once the
 * frame is written. -errno if the connection is closing or the write fails
 * (then it closes). */
int conn_send(struct conn *c, uint8_t *frame, size_t len, bool close_after);
/* Before any byte is read (in accepted()): a cap for this connection only. */
void conn_set_frame_max(struct conn *c, size_t frame_max);
/* Stops reading for good: no more frames are handed out. */
void conn_read_stop(struct conn *c);
/* Keeps reading (to see the peer leave) but drops what arrives; frees the
 * buffered bytes, so not before a frame callback is done with its payload. */
void conn_ignore_input(struct conn *c);
/* The peer proved who it is: this connection stops counting against its
 * address's cap (it still counts against the listener's). */
void conn_uncap(struct conn *c);
/* The lifetime counted again from now: a long transfer that still makes
 * progress is not cut at lifetime_ms, one that stalls is. */
void conn_renew(struct conn *c);
void conn_close(struct conn *c);
bool conn_closing(const struct conn *c);

void conn_set_data(struct conn *c, void *data);
void *conn_data(const struct conn *c);
uv_stream_t *conn_stream(struct conn *c);
uv_loop_t *conn_loop(const struct conn *c);
/* TCP: the peer's address; -ENOTCONN otherwise. */
int conn_peer(const struct conn *c, struct sockaddr_storage *ss);
size_t conn_write_queue(const struct conn *c);
bool conn_reading(const struct conn *c);
