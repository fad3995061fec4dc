/* config_parse and config_override on arbitrary text, plus the unit parsers
 * they rely on. Errors must name a line; strings must stay terminated. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct cfg {
	char name[8];
	uint64_t count;
	uint64_t ram;
	uint64_t timeout;
	uint64_t margin;
	char path[64];
};

static const struct config_key keys[] = {
	{ "name", CFG_STRING, offsetof(struct cfg, name), 8, "a", "" },
	{ "count", CFG_UINT, offsetof(struct cfg, count), 0, "1", "" },
	{ "ram", CFG_SIZE, offsetof(struct cfg, ram), 0, "1G", "" },
	{ "timeout", CFG_DURATION_MS, offsetof(struct cfg, timeout), 0, "30s", "" },
	{ "margin", CFG_PERCENT, offsetof(struct cfg, margin), 0, "10", "" },
	{ "path", CFG_STRING, offsetof(struct cfg, path), 64, "", "" },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static void check_cfg(const struct cfg *c)
{
	if (!memchr(c->name, '\0', sizeof(c->name)) || !memchr(c->path, '\0', sizeof(c->path)))
		abort();
	if (c->margin > 100)
		abort();
}

static void fuzz_units(const char *text)
{
	char host[64], buf[32];
	uint64_t v;
	uint16_t port;

	if (parse_size(text, &v) == 0)
		format_size(v, buf, sizeof(buf));
	parse_duration_ms(text, &v);
	if (parse_hostport(text, host, sizeof(host), &port) == 0 && (port == 0 || !host[0]))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg c;
	char err[256], *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_defaults(keys, NKEYS, &c, err, sizeof(err)) != 0)
		abort();
	if (config_parse(keys, NKEYS, &c, text, err, sizeof(err)) != 0 && strncmp(err, "line ", 5))
		abort();
	check_cfg(&c);
	config_override(keys, NKEYS, &c, text, err, sizeof(err));
	check_cfg(&c);
	fuzz_units(text);
	free(text);
	return 0;
}
