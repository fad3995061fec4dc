#include "service-vm-fleet/adopt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/guest-ops.h"
#include "lib/log.h"
#include "service-vm-fleet/fleet.h"

#define CONFLICTS_MAX 64

/* Conflicts already reported in this run, so that a report every few
 * seconds does not fill the events. */
static char conflicts[CONFLICTS_MAX][GUEST_NAME_MAX + NODE_NAME_MAX + 2];
static unsigned nconflicts;

/* Guests this fleet destroyed lately, per node: a node's inventory comes
 * from its last probe, which may predate the destroy, and must not bring
 * the guest back. A ring: the oldest goes first. */
#define FORGOTTEN_MAX 64
static struct {
	char name[GUEST_NAME_MAX + 1], node[NODE_NAME_MAX + 1];
	int64_t at;
} forgotten[FORGOTTEN_MAX];
static unsigned nforgotten;

void adopt_forget(const char *node, const char *name, int64_t wall)
{
	unsigned i = nforgotten++ % FORGOTTEN_MAX;

	snprintf(forgotten[i].name, sizeof(forgotten[i].name), "%s", name);
	snprintf(forgotten[i].node, sizeof(forgotten[i].node), "%s", node);
	forgotten[i].at = wall;
}

static bool forgotten_lately(const char *node, const char *name, int64_t wall)
{
	for (unsigned i = 0; i < FORGOTTEN_MAX && i < nforgotten; i++)
		if (!strcmp(forgotten[i].name, name) && !strcmp(forgotten[i].node, node) &&
		    wall - forgotten[i].at < ADOPT_FORGOTTEN_S)
			return true;
	return false;
}

static int copy_word(const json_t *entry, const char *key, char *out, size_t len)
{
	const char *s = json_string_value(json_object_get(entry, key));

	if (!s || !s[0] || strlen(s) >= len)
		return -EBADMSG;
	for (const char *p = s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return -EBADMSG;
	strcpy(out, s);
	return 0;
}

int adopt_parse(const json_t *entry, struct adopt_vm *out)
{
	const json_t *vcpus = json_object_get(entry, "vcpus");
	const json_t *mem = json_object_get(entry, "memory_kib");
	char state[16];

	memset(out, 0, sizeof(*out));
	if (!json_is_object(entry) || !json_is_integer(vcpus) || !json_is_integer(mem) ||
	    copy_word(entry, "name", out->name, sizeof(out->name)) < 0 ||
	    copy_word(entry, "type", out->type, sizeof(out->type)) < 0 ||
	    copy_word(entry, "state", state, sizeof(state)) < 0 ||
	    copy_word(entry, "owner", out->owner, sizeof(out->owner)) < 0 ||
	    copy_word(entry, "instance_id", out->instance_id, sizeof(out->instance_id)) < 0)
		return -EBADMSG;
	if (!guest_name_valid(out->name) || !guest_type_find(out->type) ||
	    json_integer_value(vcpus) < 0 || json_integer_value(vcpus) > GUEST_VCPUS_MAX ||
	    json_integer_value(mem) < 0 ||
	    (uint64_t)json_integer_value(mem) > GUEST_MEM_MAX / 1024)
		return -EBADMSG;
	out->vcpus = (uint32_t)json_integer_value(vcpus);
	out->memory_bytes = (uint64_t)json_integer_value(mem) * 1024;
	if (!guest_size_valid(out->memory_bytes, out->vcpus))
		return -EBADMSG;
	if (!strcmp(state, "running"))
		out->state = GS_RUNNING;
	else if (!strcmp(state, "stopped"))
		out->state = GS_STOPPED;
	else
		return -EBADMSG;
	return 0;
}

enum adopt_verdict adopt_judge(const struct guests *g, const char *node, const struct adopt_vm *v)
{
	const struct guest *known = guests_find(g, v->name);

	if (!known)
		return ADOPT_NEW;
	return strcmp(known->node, node) ? ADOPT_CONFLICT : ADOPT_KNOWN;
}

/* True the first time name on node is seen in conflict. */
static bool conflict_is_new(const char *name, const char *node)
{
	char key[sizeof(conflicts[0])];

	snprintf(key, sizeof(key), "%s/%s", name, node);
	for (unsigned i = 0; i < nconflicts; i++)
		if (!strcmp(conflicts[i], key))
			return false;
	if (nconflicts < CONFLICTS_MAX)
		strcpy(conflicts[nconflicts++], key);
	return true;
}

static int adopt(struct fleet *f, const char *node, const struct adopt_vm *v, int64_t wall)
{
	struct guest gu = { .vcpus = v->vcpus, .memory_bytes = v->memory_bytes, .state = v->state,
			    .created = wall, .updated = wall };
	struct store_guest row;
	int ret;

	snprintf(gu.name, sizeof(gu.name), "%s", v->name);
	snprintf(gu.type, sizeof(gu.type), "%s", v->type);
	snprintf(gu.node, sizeof(gu.node), "%s", node);
	snprintf(gu.detail, sizeof(gu.detail), "adopted from %s's libvirt: owner %s, instance-id %s",
		 node, v->owner, v->instance_id);
	ret = guests_add(&f->guests, &gu);
	if (ret < 0)
		return ret;
	row = (struct store_guest){ .name = gu.name, .type = gu.type, .node = gu.node,
				    .state = guest_state_name(gu.state), .detail = gu.detail,
				    .memory_bytes = gu.memory_bytes, .vcpus = gu.vcpus,
				    .created = wall, .updated = wall };
	if (store_guest(f->store, &row, "adopted", gu.detail, wall) < 0) {
		f->store_errors++;
		log_err("store: cannot record adopted guest %s: %s", gu.name, store_errmsg(f->store));
	}
	log_info("guest %s on %s: %s", gu.name, node, gu.detail);
	return 0;
}

static void conflict(struct fleet *f, const char *node, const struct adopt_vm *v, int64_t wall)
{
	const struct guest *known = guests_find(&f->guests, v->name);
	char detail[400];

	const struct move *mv = moves_find(&f->moves, v->name);

	if (mv && (!strcmp(mv->source, node) || !strcmp(mv->target, node)))
		return; /* a recorded move: its steps settle which copy stays */
	if (!known || !conflict_is_new(v->name, node))
		return;
	snprintf(detail, sizeof(detail),
		 "guest %s reported by %s (owner %s, instance-id %s) is recorded on %s: "
		 "kept there, not adopted", v->name, node, v->owner, v->instance_id, known->node);
	log_warn("%s", detail);
	if (store_event(f->store, "conflict", node, detail, wall, NULL) < 0)
		log_err("store: cannot record a conflict: %s", store_errmsg(f->store));
}

int fleet_adopt_report(struct fleet *f, const char *node, const json_t *list, int64_t wall)
{
	struct adopt_vm v;
	size_t i;
	json_t *e;
	int adopted = 0;

	if (!json_is_array(list))
		return -EBADMSG;
	json_array_foreach(list, i, e)
		if (adopt_parse(e, &v) < 0)
			return -EBADMSG;
	json_array_foreach(list, i, e) {
		adopt_parse(e, &v);
		switch (adopt_judge(&f->guests, node, &v)) {
		case ADOPT_NEW:
			if (forgotten_lately(node, v.name, wall))
				log_debug("guest %s on %s: destroyed lately, not adopted", v.name, node);
			else
				adopted += adopt(f, node, &v, wall) == 0;
			break;
		case ADOPT_CONFLICT:
			conflict(f, node, &v, wall);
			break;
		case ADOPT_KNOWN:
			break;
		}
	}
	return adopted;
}
