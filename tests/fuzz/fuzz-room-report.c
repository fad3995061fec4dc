/* A node's addresses reply as the fleet reads it for a move's room
 * (service-vm-fleet/move-room.h): any JSON value. What is taken must be a
 * figure the plan can trust (a count an export can hold, no negative size),
 * and what is not taken must be forgotten. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/export-manifest.h"
#include "service-vm-fleet/fleet.h"
#include "service-vm-fleet/move-room.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fleet fleet;

static void init(void)
{
	struct guest g = { .name = "vault1", .type = "totebox", .node = "alpha",
			   .memory_bytes = 256ull << 20, .vcpus = 1, .state = GS_RUNNING };
	struct heartbeat hb = { .name = "alpha", .seq = 1, .ncpu = 4, .mem_total_kib = 1 << 20,
				.mem_available_kib = 1 << 20 };

	if (registry_init(&fleet.reg, NULL, 0, NULL, NULL) < 0 ||
	    registry_heartbeat(&fleet.reg, &hb, 1, 1) < 0)
		abort();
	guests_init(&fleet.guests);
	if (guests_add(&fleet.guests, &g) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *m = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	const struct node *n;
	const struct guest *g;

	if (!fleet.reg.count)
		init();
	if (!m)
		return 0;
	fleet_room_report(&fleet, "alpha", m, 7);
	json_decref(m);
	n = registry_find(&fleet.reg, "alpha");
	g = guests_find(&fleet.guests, "vault1");
	if (n->pool_known ? n->pool_free_bytes > INT64_MAX || n->pool_wall != 7 : n->pool_wall != 0)
		abort();
	if (g->data_known ? g->data_volumes > EXPORT_VOLUMES_MAX || g->data_bytes > INT64_MAX
			  : g->data_volumes || g->data_bytes)
		abort();
	return 0;
}
