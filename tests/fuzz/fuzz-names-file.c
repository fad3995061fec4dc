/* names_file_parse on arbitrary bytes: every accepted entry must be inside
 * a prefix, terminated, under the zone, and the count within the limit. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/names-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct names_scope s = { "osi.internal", 0x0a4e0000, 16, 0x0a4d0000, 16 };
	struct names_entry *e;
	char err[128];
	size_t n;

	if (names_file_parse((const char *)data, size, &s, &e, &n, err, sizeof(err)) == 0) {
		assert(n <= NAMES_FILE_LINES);
		for (size_t i = 0; i < n; i++) {
			size_t len = strnlen(e[i].name, sizeof(e[i].name));

			assert(len < sizeof(e[i].name) && len > 13);
			assert(!strcmp(e[i].name + len - 13, ".osi.internal"));
			assert((e[i].addr >> 16) == 0x0a4e || (e[i].addr >> 16) == 0x0a4d);
		}
	} else {
		assert(memchr(err, '\0', sizeof(err)));
	}
	free(e);
	return 0;
}
