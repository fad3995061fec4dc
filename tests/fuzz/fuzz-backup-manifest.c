/* backup_manifest_parse and backup_sig_parse on arbitrary bytes (a backup
 * directory is read back by restore): whatever is accepted checks, encodes,
 * and parses back to the same fields. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/backup-manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct backup_manifest m, back;
	struct export_sig s;
	char err[256], *text;
	size_t len;

	if (backup_manifest_parse((const char *)data, size, &m, err, sizeof(err)) == 0) {
		assert(backup_manifest_check(&m, err, sizeof(err)) == 0);
		assert(m.nvol >= 1 && m.nvol <= EXPORT_VOLUMES_MAX);
		assert(backup_id_valid(m.id) && (!m.incremental || strcmp(m.parent, m.id) < 0));
		assert(backup_manifest_encode(&m, &text, &len, err, sizeof(err)) == 0);
		assert(backup_manifest_parse(text, len, &back, err, sizeof(err)) == 0);
		assert(!strcmp(back.id, m.id) && !strcmp(back.parent, m.parent) && back.nvol == m.nvol);
		for (unsigned i = 0; i < m.nvol; i++)
			assert(!strcmp(back.vol[i].sha256, m.vol[i].sha256) &&
			       back.vol[i].bytes == m.vol[i].bytes);
		free(text);
	} else {
		assert(memchr(err, '\0', sizeof(err)));
	}
	if (backup_sig_parse((const char *)data, size, &s, err, sizeof(err)) == 0)
		assert(s.signer[0] && memchr(s.signer, '\0', sizeof(s.signer)));
	return 0;
}
