#include "service-vm-fleet/move-room.h"

#include <stdio.h>
#include <string.h>

#include "lib/export-manifest.h"
#include "lib/room.h"
#include "lib/units.h"
#include "service-vm-fleet/fleet.h"

uint64_t move_room_need(uint32_t nvol, uint64_t data_bytes)
{
	uint64_t bound = export_archive_bound_of(nvol, data_bytes);

	return bound > UINT64_MAX - IMPORT_ROOM_SLACK ? UINT64_MAX : bound + IMPORT_ROOM_SLACK;
}

/* A byte count as the agent sends it: a non-negative integer. */
static bool bytes_of(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static void take_guest(struct fleet *f, const char *node, const json_t *e, int64_t wall)
{
	const char *name = json_string_value(json_object_get(e, "name"));
	struct guest *g = name ? guests_find(&f->guests, name) : NULL;
	const json_t *nvol = json_object_get(e, "data_volumes");
	uint64_t bytes;

	if (!g || strcmp(g->node, node))
		return;
	g->data_known = json_is_integer(nvol) && json_integer_value(nvol) >= 0 &&
			json_integer_value(nvol) <= EXPORT_VOLUMES_MAX &&
			bytes_of(json_object_get(e, "data_bytes"), &bytes);
	g->data_volumes = g->data_known ? (uint32_t)json_integer_value(nvol) : 0;
	g->data_bytes = g->data_known ? bytes : 0;
	g->data_wall = g->data_known ? wall : 0;
}

void fleet_room_report(struct fleet *f, const char *node, const json_t *m, int64_t wall)
{
	struct node *n = registry_find(&f->reg, node);
	const json_t *list = json_object_get(m, "guests"), *e;
	size_t i;

	if (n) {
		n->pool_known = bytes_of(json_object_get(m, "pool_free_bytes"), &n->pool_free_bytes);
		if (!n->pool_known)
			n->pool_free_bytes = 0;
		n->pool_wall = n->pool_known ? wall : 0;
	}
	for (i = 0; i < f->guests.count; i++) {
		struct guest *g = &f->guests.list[i];

		if (!strcmp(g->node, node))
			g->data_known = false, g->data_volumes = 0, g->data_bytes = 0;
	}
	json_array_foreach(list, i, e)
		take_guest(f, node, e, wall);
}

static int64_t age(bool known, int64_t when, int64_t now)
{
	return known ? (now > when ? now - when : 0) : -1;
}

const char *move_room_check(const struct fleet *f, const struct guest *g, const char *to,
			    int64_t now, struct move_room *r, char *buf, size_t len)
{
	const struct node *n = registry_find(&f->reg, to);
	char a[32], b[32], c[32], d[32];

	memset(r, 0, sizeof(*r));
	r->pool_age = age(n && n->pool_known, n ? n->pool_wall : 0, now);
	r->data_age = age(g->data_known, g->data_wall, now);
	r->pool_known = r->pool_age >= 0 && r->pool_age <= ROOM_FRESH_S;
	r->pool_free = r->pool_known ? n->pool_free_bytes : 0;
	r->data_known = r->data_age >= 0 && r->data_age <= ROOM_FRESH_S;
	r->data_volumes = g->data_volumes;
	r->data_bytes = g->data_bytes;
	if (!r->data_known)
		return NULL;
	r->need = move_room_need(g->data_volumes, g->data_bytes);
	if (!r->pool_known || r->pool_free >= r->need)
		return NULL; /* one transfer at a time to a node (api-move.c): nothing else is under way */
	format_size(r->pool_free, a, sizeof(a));
	format_size(r->data_bytes, b, sizeof(b));
	format_size(r->need, c, sizeof(c));
	format_size(IMPORT_ROOM_SLACK, d, sizeof(d));
	snprintf(buf, len, "%s's storage pool has %s free; moving %s needs %s there (%u data "
		 "volume(s) of %s, and %s for the root overlay and seed): nothing was shut down; "
		 "free space there or choose another node", to, a, g->name, c, g->data_volumes, b, d);
	return buf;
}

void move_room_text(const struct move_room *r, const struct guest *g, const char *to,
		    char *buf, size_t len)
{
	char a[32], c[32];

	format_size(r->pool_free, a, sizeof(a));
	format_size(r->need, c, sizeof(c));
	if (r->data_age > ROOM_FRESH_S)
		snprintf(buf, len, "not checked now: %s's agent last reported the size of %s's data "
			 "volumes %lld s ago; %s checks its room as the transfer begins", g->node, g->name,
			 (long long)r->data_age, to);
	else if (!r->data_known)
		snprintf(buf, len, "not checked now: %s's agent has not reported the size of %s's data "
			 "volumes (an older agent, or no report yet); %s checks its room as the "
			 "transfer begins", g->node, g->name, to);
	else if (r->pool_age > ROOM_FRESH_S)
		snprintf(buf, len, "not checked now: %s's agent last reported its pool's free space "
			 "%lld s ago; it checks its room as the transfer begins", to, (long long)r->pool_age);
	else if (!r->pool_known)
		snprintf(buf, len, "not checked now: %s's agent has not reported its pool's free space "
			 "(an older agent, or no report yet); it checks its room as the transfer "
			 "begins", to);
	else
		snprintf(buf, len, "%s's pool has %s free, the move needs %s there (checked again as "
			 "the transfer begins)", to, a, c);
}
