/* Ledger parsing and verification on untrusted bytes. Beyond "no crash",
 * it checks the properties the rest of the code relies on: what parses
 * re-encodes byte for byte, a verified ledger always has a live admin to
 * serialize appends, addresses of members are distinct, and a verified
 * ledger extends a copy of its own prefix. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_members(const struct ledger *l)
{
	const struct ledger_member *m;
	uint8_t head[LEDGER_HASH_BYTES];
	uint32_t addr;
	size_t n;

	if (ledger_members(l, &m, &n) != 0 || n == 0 || !ledger_sequencer(l))
		abort();
	for (size_t i = 0; i < n && i < 64; i++) {
		for (size_t j = i + 1; j < n && j < 64; j++) {
			if (m[i].addr == m[j].addr)
				abort();
		}
	}
	/* A fresh address is never one a member ever held. */
	if (ledger_next_address(l, &addr) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (m[i].addr == addr)
				abort();
		}
	}
	if (ledger_find(l, m[0].name) != &m[0])
		abort();
	if (ledger_head_hash(l, head) != 0)
		abort();
}

static void check_extend(struct ledger *l, const uint8_t *data, size_t size)
{
	struct ledger older;
	size_t count = l->count;
	char err[256];

	ledger_init(&older);
	if (ledger_parse(data, size, &older, err, sizeof(err)) != 0 ||
	    ledger_verify(&older, err, sizeof(err)) != 0 ||
	    ledger_truncate(&older, 1) != 0)
		abort();
	if (ledger_extend(&older, l, err, sizeof(err)) != (int)count - 1 || older.count != count)
		abort();
	ledger_free(&older);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ledger l;
	uint8_t *out = NULL;
	size_t len;
	char err[256];

	ledger_init(&l);
	if (ledger_parse(data, size, &l, err, sizeof(err)) != 0)
		goto cleanup;
	if (ledger_encode(&l, &out, &len) != 0 || len != size || memcmp(out, data, size))
		abort();
	if (ledger_verify(&l, err, sizeof(err)) != 0)
		goto cleanup;
	check_members(&l);
	check_extend(&l, data, size);
cleanup:
	free(out);
	ledger_free(&l);
	return 0;
}
