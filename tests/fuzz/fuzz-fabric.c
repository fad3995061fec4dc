/* fabric_parse on arbitrary bytes: an accepted table holds valid names,
 * no control-plane host port, and dumps to text that parses to the same. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/fabric-msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fabric f, g;
	char err[160], *text;
	json_t *o;

	if (fabric_parse((const char *)data, size, &f, err, sizeof(err)) < 0) {
		assert(memchr(err, '\0', sizeof(err)));
		assert(!f.guests && !f.pubs);
		return 0;
	}
	assert(f.nguests <= FABRIC_GUESTS_MAX && f.npubs <= FABRIC_PUBLISHED_MAX);
	for (size_t i = 0; i < f.npubs; i++) {
		assert(!fabric_host_port_reserved(f.pubs[i].proto, f.pubs[i].host_port));
		assert(fabric_find(&f, f.pubs[i].guest));
	}
	o = fabric_to_json(&f);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text) {
		assert(fabric_parse(text, strlen(text), &g, err, sizeof(err)) == 0);
		assert(g.nguests == f.nguests && g.npubs == f.npubs);
		fabric_free(&g);
	}
	free(text);
	json_decref(o);
	fabric_free(&f);
	return 0;
}
