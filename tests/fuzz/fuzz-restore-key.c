/* backup_aside_key_parse on arbitrary bytes (the key file a restore that
 * did not finish left in the pool, read back by vm restore --put-back):
 * whatever parses has its exact fields, else a NUL-terminated reason. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "virt/virt-backup-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct backup_aside_key k;
	char err[256];

	if (backup_aside_key_parse((const char *)data, size, &k, err, sizeof(err)) == 0)
		assert(memchr(k.file, '\0', sizeof(k.file)) && memchr(k.secret, '\0', sizeof(k.secret)));
	else
		assert(memchr(err, '\0', sizeof(err)));
	return 0;
}
