/* The fleet's listeners on one libuv loop. Each start function logs its own
 * failure and returns -errno; close functions are safe on unstarted servers. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct conn;
struct fleet;

/* Sends text as the conversation's one request, signed by the fleet for
 * the agent's nonce (server-sign.c). 0 or -errno. */
int server_send_signed(const struct fleet *f, struct conn *c, const uint8_t nonce[32],
		       const char *text);

/* A transfer's reply that reports 64 MiB more than *renewed_at renews the
 * conversation's lifetime (server-progress.c, move_transfer_renews). */
void server_renew_on_progress(struct conn *c, const json_t *reply, uint64_t *renewed_at);

/* "host:port" with a numeric IPv4 or IPv6 host into a sockaddr. */
int server_resolve(const char *hostport, struct sockaddr_storage *ss);

int server_udp_start(uv_loop_t *loop, struct fleet *f);
void server_udp_close(void);

int server_api_start(uv_loop_t *loop, struct fleet *f);
void server_api_close(void);

/* Installs the dispatcher: guest actions go to the nodes' agents over TCP. */
void server_dispatch_init(uv_loop_t *loop, struct fleet *f);
/* Installs the sender of cold moves' steps and its timer (server-move.c). */
void server_move_init(uv_loop_t *loop, struct fleet *f);
/* Installs the sender of backups' copies and its timer (server-backup-copy.c). */
void server_backup_copy_init(uv_loop_t *loop, struct fleet *f);

/* Pushes the fabric table to every live node when it changes, to a node
 * heard again after the fleet's or its own restart or eviction, and again
 * after a failed push. */
void server_fabric_init(uv_loop_t *loop, struct fleet *f);
int server_metrics_start(uv_loop_t *loop, struct fleet *f);
void server_metrics_close(void);
