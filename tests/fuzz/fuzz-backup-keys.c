/* backup_keys_verify and backup_keys_parse on arbitrary bytes (the keys a
 * backup's copy carries come from a peer; the kept form is read back by
 * restore): whatever parses checks, encodes and parses back the same. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/backup-keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct backup_keys k, back;
	struct export_sig s;
	char err[256], *text;
	size_t len;

	if (backup_keys_parse((const char *)data, size, &k, err, sizeof(err)) == 0) {
		assert(backup_keys_check(&k, err, sizeof(err)) == 0);
		assert(k.nvol >= 1 && k.nvol <= EXPORT_VOLUMES_MAX);
		assert(backup_keys_encode(&k, &text, &len, err, sizeof(err)) == 0);
		assert(backup_keys_parse(text, len, &back, err, sizeof(err)) == 0);
		assert(back.local == k.local && back.nvol == k.nvol && !strcmp(back.backup, k.backup));
		for (unsigned i = 0; i < k.nvol; i++)
			assert(!memcmp(back.vol[i].sealed, k.vol[i].sealed, KEY_SEAL_BYTES));
		free(text);
	} else {
		assert(memchr(err, '\0', sizeof(err)));
	}
	if (backup_keys_verify((const char *)data, size, &k, &s, err, sizeof(err)) == 0)
		assert(!k.local && !strcmp(s.signer, k.node));
	return 0;
}
