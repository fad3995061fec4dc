/* A transfer's conversation with an agent (a move's step, a backup copy's
 * part) lives as long as its bytes still grow: its lifetime counts from the
 * last reply that reported more bytes than any before, so a large volume
 * over a slow link is not cut, and a transfer that stalls is. */
#include <jansson.h>

#include "lib/conn.h"
#include "service-vm-fleet/servers.h"

void server_renew_on_progress(struct conn *c, const json_t *reply, uint64_t *bytes_seen)
{
	json_int_t b = json_integer_value(json_object_get(reply, "bytes"));

	if (b > 0 && (uint64_t)b > *bytes_seen) {
		*bytes_seen = (uint64_t)b;
		conn_renew(c);
	}
}
