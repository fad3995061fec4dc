/* The fleet's approval the root helper reads from the agent before a backup
 * verb (service-vm-host/fleet-approval.c): any blob, checked against a set
 * whose fleet key is fixed. The signature decides first, so the harness also
 * feeds the JSON checks: the blob's body is re-signed with the test key (the
 * nonce, signer and body as they came) and checked again, and a
 * backup-out's target read from what passes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "lib/auth.h"
#include "service-vm-host/fleet-approval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct trust_set ts;
static uint8_t sk[SIGN_SK_BYTES];

static void setup(void)
{
	struct trust_entry e = { .roles = TRUST_ROLE_FLEET };
	uint8_t seed[32] = { 7 };

	if (ts.count)
		return;
	if (sodium_init() < 0)
		return;
	crypto_sign_seed_keypair(e.sign_pk, sk, seed);
	strcpy(e.name, "fleet");
	trust_add(&ts, &e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t blob[APPROVAL_MAX];
	size_t head = API_NONCE_BYTES + SIG_BYTES + 1, n;
	char target[NODE_NAME_MAX + 1];
	unsigned keep;

	setup();
	approval_check(data, size, &ts, "node-a", "backup-in", "vault1", NULL, 1796400000, &keep);
	if (size < head || size > APPROVAL_MAX || (n = data[head - 1]) == 0 || n > NODE_NAME_MAX ||
	    head + n >= size)
		return 0;
	memcpy(blob, data, size);
	blob[head - 1] = 5;
	memcpy(blob + head, "fleet", 5);
	memmove(blob + head + 5, data + head + n, size - head - n);
	size = size - n + 5;
	api_sign(blob + API_NONCE_BYTES, sk, blob, 1, "fleet", blob + head + 5, size - head - 5);
	approval_check(blob, size, &ts, "node-a", "backup-in", "vault1", NULL, 1796400000, &keep);
	if (!approval_check(blob, size, &ts, "node-a", "backup-out", "vault1", "20261204T172500Z",
			    1796400000, &keep) &&
	    approval_target(blob, size, target) == 0 && target[0] && !node_name_valid(target))
		__builtin_trap(); /* a target it hands on is a member name */
	return 0;
}
