#include "service-vm-host/dispatch-check.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "lib/backup-manifest.h"
#include "lib/guest-types.h"

static bool hex64(const char *t)
{
	if (!t || strlen(t) != 64)
		return false;
	for (; *t; t++)
		if (!((*t >= '0' && *t <= '9') || (*t >= 'a' && *t <= 'f')))
			return false;
	return true;
}

static bool ipv4_port(const char *t)
{
	const char *colon = t ? strrchr(t, ':') : NULL;
	char host[16], *end;
	struct in_addr a;
	long port;

	if (!colon || colon - t >= (long)sizeof(host) || !colon[1])
		return false;
	memcpy(host, t, (size_t)(colon - t));
	host[colon - t] = '\0';
	port = strtol(colon + 1, &end, 10);
	return !*end && port >= 1 && port <= 65535 && colon[1] != '0' &&
	       inet_pton(AF_INET, host, &a) == 1;
}

/* Whether op sends (move-out, backup-out) or receives (move-in, backup-in)
 * a transfer; false for every other verb. */
bool dispatch_transfer_out(enum guest_op op)
{
	return op == GOP_MOVE_OUT || op == GOP_BACKUP_OUT;
}

bool dispatch_transfer(enum guest_op op)
{
	return dispatch_transfer_out(op) || op == GOP_MOVE_IN || op == GOP_BACKUP_IN;
}

/* "move":{"token","peer","target"} (move-out), {"token","peer","backup"}
 * (backup-out), {"token","listen"} (move-in, backup-in) or
 * {"token","listen","restore"} (a backup-in that then restores). */
static const char *check_move(const json_t *req, struct dispatch_req *out)
{
	const json_t *m = json_object_get(req, "move");
	bool sends = dispatch_transfer_out(out->op->op), copy = out->op->op == GOP_BACKUP_OUT;
	bool restore = out->op->op == GOP_BACKUP_IN && json_object_get(m, "restore");
	const char *key = sends ? "peer" : "listen";

	out->token = json_string_value(json_object_get(m, "token"));
	out->addr = json_string_value(json_object_get(m, key));
	out->target = sends && !copy ? json_string_value(json_object_get(m, "target")) : NULL;
	out->backup = json_string_value(json_object_get(m, copy ? "backup" : "restore"));
	if (!json_is_object(m) || json_object_size(m) != (sends || restore ? 3u : 2u) ||
	    !hex64(out->token))
		return "a transfer needs its token (64 hex digits)";
	if (sends && !copy && (!out->target || !node_name_valid(out->target)))
		return "a move-out needs its target node's name";
	if (copy && (!out->backup || !backup_id_valid(out->backup)))
		return "a backup-out needs the id of its backup";
	if (restore && (!out->backup || !backup_id_valid(out->backup)))
		return "a backup-in restores only a backup's id";
	if (!ipv4_port(out->addr))
		return "a transfer needs an IPv4 address and port";
	return NULL;
}

/* The guest's "type", "memory_bytes" and "vcpus": a create's, and a
 * move-in's (what the fleet approved and placed; the archive must match). */
static const char *check_spec(const json_t *g, struct dispatch_req *out)
{
	json_int_t mem = json_integer_value(json_object_get(g, "memory_bytes"));
	json_int_t cpus = json_integer_value(json_object_get(g, "vcpus"));

	out->type = json_string_value(json_object_get(g, "type"));
	if (!guest_type_find(out->type))
		return "unknown guest type";
	if (mem < 0 || cpus < 0 || !guest_size_valid((uint64_t)mem, (uint64_t)cpus))
		return "guest size out of range";
	out->memory_bytes = (uint64_t)mem;
	out->vcpus = (uint64_t)cpus;
	return NULL;
}

const char *dispatch_check_request(const json_t *req, const char *self, struct dispatch_req *out)
{
	const char *node = json_string_value(json_object_get(req, "node"));
	const json_t *g = json_object_get(req, "guest");
	const char *why = NULL;

	memset(out, 0, sizeof(*out));
	if (!node || strcmp(node, self))
		return "request is for another node";
	out->op = guest_op_find(json_string_value(json_object_get(req, "op")));
	out->name = json_string_value(json_object_get(g, "name"));
	if (!out->op || !out->op->dispatched)
		return "unknown operation";
	if (!out->op->helper_args) /* the agent's own answer, about no one guest */
		return NULL;
	if (!out->name || !guest_name_valid(out->name))
		return "invalid guest name";
	if (dispatch_transfer(out->op->op))
		why = check_move(req, out);
	if (why || (out->op->op != GOP_CREATE && out->op->op != GOP_MOVE_IN))
		return why;
	return check_spec(g, out);
}

/* Only the fleet this node reports to may dispatch to it: the first member
 * holding the fleet role, the one its heartbeats are keyed for (agent.c)
 * and sent to (mesh_fleet_address). Another fleet-role member, a second
 * fleet or one admitted by mistake, is refused. NULL and *out if s may. */
static const char *our_fleet(const struct trust_set *ts, const char *name,
			     const struct trust_entry **out)
{
	const struct trust_entry *m = trust_find(ts, name);

	*out = NULL;
	if (!m || !(m->roles & TRUST_ROLE_FLEET))
		return "signer is not a fleet this node trusts";
	if (m != trust_find_role(ts, TRUST_ROLE_FLEET))
		return "signer holds the fleet role but is not the fleet this node reports to";
	*out = m;
	return NULL;
}

const char *dispatch_check_signer(struct trust_set *cached, const struct frame_signed *s,
				  const uint8_t nonce[API_NONCE_BYTES], bool may_load,
				  dispatch_trust_load_fn load, void *ctx)
{
	const struct trust_entry *m;
	const char *why = our_fleet(cached, s->name, &m);
	struct trust_set fresh = { 0 };

	if (why && may_load && load(ctx, &fresh) == 0) {
		trust_free(cached);
		*cached = fresh;
		why = our_fleet(cached, s->name, &m);
	} else if (why && may_load) {
		return "this node cannot read its ledger or trust file";
	}
	if (why)
		return why;
	if (!api_verify(s->sig, m->sign_pk, nonce, s->seq, s->name, s->body, s->body_len))
		return "bad signature";
	return NULL;
}
