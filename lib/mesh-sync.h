/* Ledger sync between members: TCP on each member's mesh address, port 7105
 * (MESH_SYNC_PORT), served by service-vm-host. One request per connection,
 * one reply, then the server closes. Frames as in wire-frame.h:
 *
 *   frame   = u32be n | payload[n]        1 <= n <= 1 + LEDGER_FILE_MAX + 5
 *   GET     0x01                           client -> server
 *   PUSH    0x02 | ledger                  client -> server: "take this copy"
 *   REPLY   0x03 | u8 status | u32be added | ledger   server -> client
 *
 * ledger is the file format of ledger.h. The reply always carries the
 * server's ledger after the request, so a refused pusher learns what it
 * missed. status: 0 ok (added: entries the server took), 1 stale (the push
 * was an older prefix), 2 fork (a different entry at the same index: the
 * sequencer rule of ledger.h), 3 another mesh, 4 invalid (does not parse or
 * verify), 5 server error.
 *
 * No authentication: the ledger authenticates itself (every entry is signed
 * by an admin of the chain back to a genesis the server already holds, and
 * ledger_extend takes nothing else), and only the mesh reaches the port. A
 * peer can at worst send garbage (refused) or withhold entries (the next
 * pull from another member fills the gap). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/ledger.h"

#define MESH_SYNC_GET 0x01
#define MESH_SYNC_PUSH 0x02
#define MESH_SYNC_REPLY 0x03
#define MESH_SYNC_FRAME_MAX (LEDGER_FILE_MAX + 6)
#define MESH_SYNC_TIMEOUT_MS 3000

enum mesh_sync_status {
	MESH_SYNC_OK = 0,
	MESH_SYNC_STALE = 1,
	MESH_SYNC_FORK = 2,
	MESH_SYNC_OTHER_MESH = 3,
	MESH_SYNC_INVALID = 4,
	MESH_SYNC_ERROR = 5,
};

struct mesh_sync_reply {
	int status;
	uint32_t added;
	uint8_t *ledger; /* malloc'd */
	size_t len;
};

const char *mesh_sync_status_text(int status);
/* ledger_extend's result as a status. */
int mesh_sync_status_of(int extend_ret);

/* Codec (the server and the fuzzer). A request payload: *ledger is NULL for
 * GET. -EBADMSG if malformed. */
int mesh_sync_parse_request(const uint8_t *p, size_t len, bool *push, const uint8_t **ledger,
			    size_t *ledger_len);
/* Whole frames, header included, malloc'd. */
int mesh_sync_build_request(const uint8_t *ledger, size_t len, uint8_t **out, size_t *outlen);
int mesh_sync_build_reply(int status, uint32_t added, const uint8_t *ledger, size_t len,
			  uint8_t **out, size_t *outlen);
int mesh_sync_parse_reply(const uint8_t *p, size_t len, struct mesh_sync_reply *r);
void mesh_sync_reply_free(struct mesh_sync_reply *r);

/* Blocking client: GET (ledger NULL) or PUSH to host:port within timeout_ms
 * (0: MESH_SYNC_TIMEOUT_MS). 0 and *r filled, or -errno with err. */
int mesh_sync_call(const char *host, uint16_t port, const uint8_t *ledger, size_t len,
		   unsigned timeout_ms, struct mesh_sync_reply *r, char *err, size_t errlen);

/* Merges a copy (file format) into <state_dir>/ledger under its lock and
 * saves it if it grew. *status and *added as in a reply; *cur (if not NULL)
 * gets the state's ledger afterwards, encoded and malloc'd. Returns 0 when a
 * status was reached, -errno when the local ledger cannot be read or saved. */
int mesh_sync_merge(const char *state_dir, const uint8_t *bytes, size_t len, int *status,
		    uint32_t *added, uint8_t **cur, size_t *cur_len, char *err, size_t errlen);

/* Pushes l to every live member's mesh address but skip's (NULL: none) and,
 * unless include_self, self's. report (may be NULL) hears every outcome. The
 * number of members that took it or already had it. */
typedef void (*mesh_sync_report_fn)(void *ctx, const struct ledger_member *m, int ret,
				    const struct mesh_sync_reply *r, const char *err);
int mesh_sync_push_all(const struct ledger *l, const char *self, bool include_self,
		       const char *skip, uint16_t port, unsigned timeout_ms,
		       mesh_sync_report_fn report, void *ctx);
