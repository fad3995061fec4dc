/* The operator API of a backup's copy to another node (backup-copies.h):
 * vm-backup-copy {"name","backup","to","from"?,"restore"?} starts one,
 * vm-backup-copy-show {"name"} reports the guest's last. The backup is in
 * the store of "from" (default: the guest's node, where vm backup made it),
 * so only its id travels here. With "restore", "to" must be the guest's
 * node, which restores the guest's data volumes from it once stored. */
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "service-vm-fleet/api-internal.h"
#include "service-vm-fleet/fleet.h"

bool api_transfer_port_busy(const struct fleet *f, const char *node)
{
	for (size_t i = 0; i < f->moves.count; i++)
		if (f->moves.list[i].phase == MP_TRANSFER && !strcmp(f->moves.list[i].target, node))
			return true;
	return backup_copy_receiving(&f->copies, node);
}

/* Why the guest's backup cannot be copied from `from` to `to` now, or NULL. */
static const char *why_not(const struct fleet *f, const struct guest *g, const char *from,
			   const char *to, bool restore, char *buf, size_t len)
{
	const struct move *mv = moves_find(&f->moves, g->name);
	const struct backup_copy *bc = backup_copy_find(&f->copies, g->name);

	if (!g->node[0] || guest_state_pending(g->state))
		snprintf(buf, len, "%s is %s: it has no node whose backups could be copied", g->name,
			 guest_state_name(g->state));
	else if (restore && strcmp(g->node, to))
		snprintf(buf, len, "%s runs on %s, not %s: a restore goes to the guest's node", g->name,
			 g->node, to);
	else if (!strcmp(from, to))
		snprintf(buf, len, "the backup is on %s already: name another node", to);
	else if (mv && move_busy(mv))
		snprintf(buf, len, "%s is being moved from %s to %s", g->name, mv->source, mv->target);
	else if (bc && bc->state == COPY_SENDING)
		snprintf(buf, len, "a copy of %s's backup %s to %s is under way", g->name, bc->id,
			 bc->target);
	else if (!api_node_live(f, from) || !fleet_node_addr(f, from))
		snprintf(buf, len, "%s, where the backup is, is not a live node the fleet has heard "
			 "since it started", from);
	else if (!api_node_live(f, to) || !fleet_node_addr(f, to))
		snprintf(buf, len, "%s is not a live node the fleet has heard since it started", to);
	else if (api_transfer_port_busy(f, to))
		snprintf(buf, len, "%s is receiving another transfer: try again when it ends", to);
	else
		return NULL;
	return buf;
}

json_t *op_vm_backup_copy(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *id = json_string_value(json_object_get(req, "backup"));
	const char *to = json_string_value(json_object_get(req, "to"));
	const char *from = json_string_value(json_object_get(req, "from"));
	const json_t *restore = json_object_get(req, "restore"), *keep = json_object_get(req, "keep");
	const struct guest *g = name ? guests_find(&f->guests, name) : NULL;
	struct backup_copy *bc;
	char why[256];

	(void)now;
	if (!name || !id || !to || !backup_id_valid(id) || !node_name_valid(to) ||
	    (json_object_get(req, "from") && (!from || !node_name_valid(from))) ||
	    (restore && !json_is_boolean(restore)) ||
	    (keep && (!json_is_integer(keep) || json_integer_value(keep) < 0 ||
		      json_integer_value(keep) > 10000)))
		return api_fail("\"name\", \"backup\" (an id YYYYMMDDTHHMMSSZ) and \"to\" (a node) are "
				"required; \"from\" is a node, \"restore\" true or false, \"keep\" 0 to 10000");
	if (!g)
		return api_fail("no guest named '%s'", name);
	from = from ? from : g->node;
	if (why_not(f, g, from, to, json_is_true(restore), why, sizeof(why)))
		return api_fail("%s", why);
	if (backup_copy_begin(&f->copies, g->name, id, from, to, json_is_true(restore),
			      (unsigned)json_integer_value(keep), clock_wall_s(), &bc) < 0)
		return api_fail("cannot record the copy of %s's backup", g->name);
	log_info("%s of %s's backup %s from %s to %s asked by %s", bc->restore[0] ? "restore" : "copy",
		 g->name, id, from, to, caller);
	if (!f->copy_send || f->copy_send(f, bc) < 0)
		backup_copy_fail(bc, to, "cannot reach the node's agent", clock_wall_s());
	return json_pack("{s:b, s:o}", "ok", 1, "copy", backup_copy_json(bc));
}

json_t *op_vm_backup_copy_show(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const struct backup_copy *bc = name ? backup_copy_find(&f->copies, name) : NULL;

	(void)caller;
	(void)now;
	if (!bc && !(name && guests_find(&f->guests, name)))
		return api_fail("no guest named '%s'", name ? name : "");
	return json_pack("{s:b, s:o}", "ok", 1, "copy", bc ? backup_copy_json(bc) : json_null());
}
