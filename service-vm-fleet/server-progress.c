/* A transfer's conversation with an agent (a move's step, a backup copy's
 * part) lives as long as its bytes still grow (move_transfer_renews): its
 * lifetime counts again from each reply that reported 64 MiB more, so a
 * large volume over a slow link is not cut, and one that stalls is. */
#include <jansson.h>

#include "lib/conn.h"
#include "service-vm-fleet/moves.h"
#include "service-vm-fleet/servers.h"

void server_renew_on_progress(struct conn *c, const json_t *reply, uint64_t *renewed_at)
{
	json_int_t b = json_integer_value(json_object_get(reply, "bytes"));

	if (b > 0 && move_transfer_renews(renewed_at, (uint64_t)b))
		conn_renew(c);
}
