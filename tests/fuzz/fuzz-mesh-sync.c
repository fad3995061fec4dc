/* The ledger sync messages (lib/mesh-sync.h) on arbitrary bytes, as a server
 * and a client receive them: a challenge, request or reply that parses
 * re-encodes to the same frame; a request's signature is checked against a
 * fixed key (as the server does before anything else), and a pushed ledger
 * is then parsed as ledger.h's format. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mesh-sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_challenge(const uint8_t *data, size_t size)
{
	uint8_t nonce[SYNC_NONCE_BYTES], *frame;
	size_t flen;

	if (mesh_sync_parse_challenge(data, size, nonce) < 0)
		return;
	if (mesh_sync_build_challenge(nonce, &frame, &flen) < 0)
		abort();
	if (flen != size + 4 || memcmp(frame + 4, data, size))
		abort();
	free(frame);
}

static void check_request(const uint8_t *data, size_t size)
{
	static const uint8_t nonce[SYNC_NONCE_BYTES], pk[SIGN_PK_BYTES] = { 1 };
	struct mesh_sync_request req;
	uint8_t *frame;
	size_t flen;
	struct ledger l;
	char err[256];

	if (mesh_sync_parse_request(data, size, &req) < 0)
		return;
	if ((req.type == MESH_SYNC_PUSH) != (req.ledger != NULL) ||
	    mesh_sync_encode_request(&req, &frame, &flen) < 0)
		abort();
	if (flen != size + 4 || memcmp(frame + 4, data, size))
		abort();
	free(frame);
	sync_verify(req.sig, pk, nonce, req.type, req.name, req.ledger, req.len);
	ledger_init(&l);
	if (req.ledger && ledger_parse(req.ledger, req.len, &l, err, sizeof(err)) == 0)
		ledger_verify(&l, err, sizeof(err));
	ledger_free(&l);
}

static void check_reply(const uint8_t *data, size_t size)
{
	struct mesh_sync_reply r;
	uint8_t *frame;
	size_t flen;

	if (mesh_sync_parse_reply(data, size, &r) < 0)
		return;
	if (mesh_sync_build_reply(r.status, r.added, r.ledger, r.len, &frame, &flen) < 0)
		abort();
	if (flen != size + 4 || memcmp(frame + 4, data, size))
		abort();
	free(frame);
	mesh_sync_reply_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_challenge(data, size);
	check_request(data, size);
	check_reply(data, size);
	return 0;
}
