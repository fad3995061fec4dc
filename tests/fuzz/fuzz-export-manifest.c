/* export_manifest_parse (with its volumes' sealed keys), export_sig_parse and export_volume_header_check on arbitrary bytes: whatever is
 * accepted checks, encodes, and parses back to the same fields. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/export-manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct export_manifest m, back;
	struct export_sig s;
	char err[256], *text;
	size_t len;

	if (export_manifest_parse((const char *)data, size, &m, err, sizeof(err)) == 0) {
		assert(export_manifest_check(&m, err, sizeof(err)) == 0);
		assert(m.nvol <= EXPORT_VOLUMES_MAX);
		assert(export_manifest_encode(&m, &text, &len, err, sizeof(err)) == 0);
		assert(export_manifest_parse(text, len, &back, err, sizeof(err)) == 0);
		assert(!strcmp(back.name, m.name) && back.nvol == m.nvol && back.version == m.version);
		assert(!strcmp(back.user_data, m.user_data));
		for (unsigned i = 0; i < m.nvol; i++) {
			assert(!strcmp(back.vol[i].sha256, m.vol[i].sha256) &&
			       back.vol[i].bytes == m.vol[i].bytes);
			/* the sealed keys: one per recipient, only on an encrypted volume */
			assert(back.vol[i].encrypted == m.vol[i].encrypted &&
			       back.vol[i].nkeys == m.vol[i].nkeys &&
			       m.vol[i].nkeys <= EXPORT_RECIPIENTS_MAX &&
			       (m.vol[i].nkeys > 0) == m.vol[i].encrypted);
			for (unsigned k = 0; k < m.vol[i].nkeys; k++)
				assert(!strcmp(back.vol[i].keys[k].recipient, m.vol[i].keys[k].recipient) &&
				       !memcmp(back.vol[i].keys[k].sealed, m.vol[i].keys[k].sealed,
					       KEY_SEAL_BYTES));
		}
		free(text);
		export_manifest_free(&back);
		export_manifest_free(&m);
	} else {
		assert(memchr(err, '\0', sizeof(err)) && !m.user_data);
	}
	if (export_sig_parse((const char *)data, size, &s, err, sizeof(err)) == 0)
		assert(s.signer[0] && memchr(s.signer, '\0', sizeof(s.signer)));
	if (!export_volume_header_check(data, size))
		assert(size >= 72 && !memcmp(data, "QFI\xfb", 4));
	return 0;
}
