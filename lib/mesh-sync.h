/* Ledger sync between members: TCP on each member's mesh address, port 7105
 * (MESH_SYNC_PORT), served by service-vm-host. One request per connection,
 * one reply, then the server closes. Frames as in wire-frame.h, version 2:
 *
 *   frame     = u32be n | payload[n]
 *   CHALLENGE 0x04 | u8 version (2) | nonce[32]          server -> client, first
 *   GET       0x01 | u8 version | u8 k | name[k] | sig[64]            client -> server
 *   PUSH      0x02 | u8 version | u8 k | name[k] | sig[64] | ledger   "take this copy"
 *   REPLY     0x03 | u8 status | u32be added | ledger    server -> client
 *
 * name is the sender's member name, sig its Ed25519 signature by the
 * member's signing key over sync_sign's transcript (lib/auth.h): the
 * server's nonce, the type, the name and a hash of the ledger. The nonce is
 * fresh per connection, so a request recorded on one connection is worth
 * nothing on another. The server checks the signature against the key its
 * own ledger holds for name, before it sends its ledger or parses a pushed
 * one: an unknown name, a revoked member, a bad signature or a request that
 * does not parse gets REPLY status 6 (denied) with no ledger, and nothing
 * else. Pushes are signed by the member that wrote the new entries (the
 * admitting or revoking admin), who is in every receiver's ledger; a member
 * admitted a moment ago pulls, and the sequencer, which took its admission
 * first, knows it (a refusal from another member just moves the pull on).
 *
 * ledger is the file format of ledger.h. A reply to an authenticated
 * request always carries the server's ledger after the request, so a
 * refused pusher learns what it missed. status: 0 ok (added: entries the
 * server took), 1 stale (the push was an older prefix), 2 fork (a different
 * entry at the same index: the sequencer rule of ledger.h), 3 another mesh,
 * 4 invalid (does not parse or verify), 5 server error, 6 denied.
 *
 * The ledger also authenticates itself (every entry is signed by an admin of
 * the chain back to a genesis the server already holds, and ledger_extend
 * takes nothing else); the request signature keeps the membership list from
 * non-members and spares the server parsing their pushes. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/auth.h"
#include "lib/identity.h"
#include "lib/ledger.h"

#define MESH_SYNC_VERSION 2
#define MESH_SYNC_GET 0x01
#define MESH_SYNC_PUSH 0x02
#define MESH_SYNC_REPLY 0x03
#define MESH_SYNC_CHALLENGE 0x04
#define MESH_SYNC_CHALLENGE_LEN (2 + SYNC_NONCE_BYTES)
/* A request's bytes before the ledger, at most. */
#define MESH_SYNC_REQUEST_HEAD_MAX (3 + NODE_NAME_MAX + SIG_BYTES)
#define MESH_SYNC_FRAME_MAX (LEDGER_FILE_MAX + MESH_SYNC_REQUEST_HEAD_MAX)
#define MESH_SYNC_TIMEOUT_MS 3000

enum mesh_sync_status {
	MESH_SYNC_OK = 0,
	MESH_SYNC_STALE = 1,
	MESH_SYNC_FORK = 2,
	MESH_SYNC_OTHER_MESH = 3,
	MESH_SYNC_INVALID = 4,
	MESH_SYNC_ERROR = 5,
	MESH_SYNC_DENIED = 6,
};

struct mesh_sync_request {
	uint8_t type; /* MESH_SYNC_GET or MESH_SYNC_PUSH */
	char name[NODE_NAME_MAX + 1];
	uint8_t sig[SIG_BYTES];
	const uint8_t *ledger; /* PUSH: within the parsed payload; GET: NULL */
	size_t len;
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

/* Codec (the server, the client and the fuzzer). Payloads without the
 * frame header; built frames are whole (header included) and malloc'd.
 * -EBADMSG if malformed, -EPROTO for another version. */
int mesh_sync_build_challenge(const uint8_t nonce[SYNC_NONCE_BYTES], uint8_t **out,
			      size_t *outlen);
int mesh_sync_parse_challenge(const uint8_t *p, size_t len, uint8_t nonce[SYNC_NONCE_BYTES]);
int mesh_sync_parse_request(const uint8_t *p, size_t len, struct mesh_sync_request *req);
int mesh_sync_encode_request(const struct mesh_sync_request *req, uint8_t **out,
			     size_t *outlen);
/* GET (ledger NULL) or PUSH, signed by id for the server's nonce. */
int mesh_sync_build_request(const struct identity *id, const uint8_t nonce[SYNC_NONCE_BYTES],
			    const uint8_t *ledger, size_t len, uint8_t **out, size_t *outlen);
/* 0 if req is signed for nonce by a live member of the verified ledger l;
 * -ENOENT (no such member), -EKEYREVOKED (revoked), -EACCES (bad signature). */
int mesh_sync_authorize(const struct ledger *l, const uint8_t nonce[SYNC_NONCE_BYTES],
			const struct mesh_sync_request *req);
int mesh_sync_build_reply(int status, uint32_t added, const uint8_t *ledger, size_t len,
			  uint8_t **out, size_t *outlen);
int mesh_sync_parse_reply(const uint8_t *p, size_t len, struct mesh_sync_reply *r);
void mesh_sync_reply_free(struct mesh_sync_reply *r);

/* Blocking client: GET (ledger NULL) or PUSH to host:port within timeout_ms
 * (0: MESH_SYNC_TIMEOUT_MS), signed by id. 0 and *r filled (a refusal is
 * r->status MESH_SYNC_DENIED), or -errno with err. */
int mesh_sync_call(const char *host, uint16_t port, const struct identity *id,
		   const uint8_t *ledger, size_t len, unsigned timeout_ms,
		   struct mesh_sync_reply *r, char *err, size_t errlen);

/* The server's work for one request payload, received on a connection that
 * was sent nonce: authorizes it against <state_dir>/ledger, then serves a
 * GET or merges a PUSH (mesh_sync_merge). out->frame is the reply to send.
 * Returns 0, or -errno when no reply could be built (close the connection). */
struct mesh_sync_served {
	bool push;
	int denied;           /* 0, or why the request was refused (-errno) */
	char signer[NODE_NAME_MAX + 1];
	int status;
	uint32_t added;
	uint8_t *frame;       /* malloc'd */
	size_t frame_len;
};
int mesh_sync_serve(const char *state_dir, const uint8_t nonce[SYNC_NONCE_BYTES],
		    const uint8_t *p, size_t len, struct mesh_sync_served *out, char *err,
		    size_t errlen);

/* Merges a copy (file format) into <state_dir>/ledger under its lock and
 * saves it if it grew. *status and *added as in a reply; *cur (if not NULL)
 * gets the state's ledger afterwards, encoded and malloc'd. Returns 0 when a
 * status was reached, -errno when the local ledger cannot be read or saved. */
int mesh_sync_merge(const char *state_dir, const uint8_t *bytes, size_t len, int *status,
		    uint32_t *added, uint8_t **cur, size_t *cur_len, char *err, size_t errlen);

/* Pushes l, signed by id, to every live member's mesh address but skip's
 * (NULL: none) and, unless include_self, id's. report (may be NULL) hears
 * every outcome. The number of members that took it or already had it. */
typedef void (*mesh_sync_report_fn)(void *ctx, const struct ledger_member *m, int ret,
				    const struct mesh_sync_reply *r, const char *err);
int mesh_sync_push_all(const struct ledger *l, const struct identity *id, bool include_self,
		       const char *skip, uint16_t port, unsigned timeout_ms,
		       mesh_sync_report_fn report, void *ctx);
