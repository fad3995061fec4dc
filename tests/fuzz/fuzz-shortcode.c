/* Whatever is typed, parsing either fails with a reason or yields a code
 * that formats back to text parsing to the same code and secret. The same
 * bytes are also offered to sas_check() as a typed SAS. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "genesis/sas.h"
#include "genesis/shortcode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const struct shortcode *a, const struct shortcode *b)
{
	return a->slot == b->slot && !memcmp(a->word, b->word, sizeof(a->word));
}

static void check_code(const char *typed)
{
	struct shortcode code, again;
	char err[SHORTCODE_ERR_MAX], text[SHORTCODE_TEXT_MAX];
	uint8_t a[SHORTCODE_PRS_LEN], b[SHORTCODE_PRS_LEN];
	size_t la = sizeof(a), lb = sizeof(b);

	err[0] = '\0';
	if (shortcode_parse(typed, &code, err, sizeof(err)) < 0) {
		if (!err[0] || strlen(err) >= sizeof(err))
			abort();
		return;
	}
	if (code.slot < 1 || code.slot > SHORTCODE_SLOT_MAX)
		abort();
	if (shortcode_format(&code, text, sizeof(text)) < 0 ||
	    shortcode_parse(text, &again, err, sizeof(err)) < 0 ||
	    !same(&code, &again) ||
	    shortcode_secret(&code, a, &la) < 0 || shortcode_secret(&again, b, &lb) < 0 ||
	    la != lb || memcmp(a, b, la))
		abort();
	shortcode_wipe(&code);
	shortcode_wipe(&again);
}

static void check_sas(const char *typed)
{
	static const struct sas sas = { .number = 292765, .word = { 117, 656, 209 } };
	int ret = sas_check(&sas, typed);

	if (ret != 0 && ret != -EBADMSG && ret != -EINVAL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *typed = malloc(size + 1);

	if (!typed)
		return 0;
	memcpy(typed, data, size);
	typed[size] = '\0';
	check_code(typed);
	check_sas(typed);
	free(typed);
	return 0;
}
