/* identity_parse on arbitrary text: an accepted identity has consistent
 * public keys; a rejected one leaves nothing behind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t pk[32];
	struct identity id;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (identity_parse(text, &id) == 0) {
		if (!node_name_valid(id.name))
			abort();
		crypto_sign_ed25519_sk_to_pk(pk, id.sign_sk);
		if (memcmp(pk, id.sign_pk, sizeof(pk)))
			abort();
		if (crypto_scalarmult_base(pk, id.kx_sk) != 0 || memcmp(pk, id.kx_pk, sizeof(pk)))
			abort();
		identity_wipe(&id);
	}
	if (!sodium_is_zero((const unsigned char *)&id, sizeof(id)))
		abort();
	free(text);
	return 0;
}
