/* sanitize_text on arbitrary bytes: the result holds no control character
 * (C0, DEL, or C1 as UTF-8), its length is the one returned, escaping it
 * again changes nothing, and a short buffer gets a prefix of it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/sanitize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *src = malloc(size + 1), *out = NULL, *again = NULL, *cut = NULL;
	size_t need, cap = size % 17;

	if (!src)
		abort();
	memcpy(src, data, size);
	src[size] = '\0';
	need = sanitize_text(NULL, 0, src);
	out = malloc(need + 1);
	again = malloc(need + 1);
	cut = malloc(cap + 1);
	if (!out || !again || !cut)
		abort();
	if (sanitize_text(out, need + 1, src) != need || strlen(out) != need)
		abort();
	for (size_t i = 0; i < need; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == 0x7f || (c == 0xc2 && (unsigned char)out[i + 1] >= 0x80 &&
					      (unsigned char)out[i + 1] <= 0x9f))
			abort();
	}
	if (sanitize_text(again, need + 1, out) != need || strcmp(again, out))
		abort();
	sanitize_text(cut, cap + 1, src);
	if (strncmp(cut, out, strlen(cut)))
		abort();
	free(cut);
	free(again);
	free(out);
	free(src);
	return 0;
}
