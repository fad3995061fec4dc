/* The ledger sync messages (lib/mesh-sync.h) on arbitrary bytes, as a server
 * and a client receive them: a request or reply that parses re-encodes to
 * the same frame; a pushed ledger is then parsed as ledger.h's format. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mesh-sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const uint8_t *data, size_t size)
{
	const uint8_t *ledger;
	uint8_t *frame;
	size_t len, flen;
	struct ledger l;
	char err[256];
	bool push;

	if (mesh_sync_parse_request(data, size, &push, &ledger, &len) < 0)
		return;
	if (push != (ledger != NULL) || mesh_sync_build_request(ledger, len, &frame, &flen) < 0)
		abort();
	if (flen != size + 4 || memcmp(frame + 4, data, size))
		abort();
	free(frame);
	ledger_init(&l);
	if (push && ledger_parse(ledger, len, &l, err, sizeof(err)) == 0)
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
	check_request(data, size);
	check_reply(data, size);
	return 0;
}
