#include "service-vm-host/dispatch-check.h"

#include <string.h>

#include "lib/guest-types.h"

const char *dispatch_check_request(const json_t *req, const char *self, struct dispatch_req *out)
{
	const char *node = json_string_value(json_object_get(req, "node"));
	const json_t *g = json_object_get(req, "guest");
	json_int_t mem, cpus;

	memset(out, 0, sizeof(*out));
	if (!node || strcmp(node, self))
		return "request is for another node";
	out->op = guest_op_find(json_string_value(json_object_get(req, "op")));
	out->name = json_string_value(json_object_get(g, "name"));
	if (!out->op || !out->op->dispatched)
		return "unknown operation";
	if (!out->name || !guest_name_valid(out->name))
		return "invalid guest name";
	if (out->op->op != GOP_CREATE)
		return NULL;
	out->type = json_string_value(json_object_get(g, "type"));
	mem = json_integer_value(json_object_get(g, "memory_bytes"));
	cpus = json_integer_value(json_object_get(g, "vcpus"));
	if (!guest_type_find(out->type))
		return "unknown guest type";
	if (mem < 0 || cpus < 0 || !guest_size_valid((uint64_t)mem, (uint64_t)cpus))
		return "guest size out of range";
	out->memory_bytes = (uint64_t)mem;
	out->vcpus = (uint64_t)cpus;
	return NULL;
}

static const struct trust_entry *fleet_named(const struct trust_set *ts, const char *name)
{
	const struct trust_entry *m = trust_find(ts, name);

	return m && (m->roles & TRUST_ROLE_FLEET) ? m : NULL;
}

const char *dispatch_check_signer(struct trust_set *cached, const struct frame_signed *s,
				  const uint8_t nonce[API_NONCE_BYTES], bool may_load,
				  dispatch_trust_load_fn load, void *ctx)
{
	const struct trust_entry *m = fleet_named(cached, s->name);
	struct trust_set fresh = { 0 };

	if (!m && may_load && load(ctx, &fresh) == 0) {
		trust_free(cached);
		*cached = fresh;
		m = fleet_named(cached, s->name);
	} else if (!m && may_load) {
		return "this node cannot read its ledger or trust file";
	}
	if (!m)
		return "signer is not a fleet this node trusts";
	if (!api_verify(s->sig, m->sign_pk, nonce, s->seq, s->name, s->body, s->body_len))
		return "bad signature";
	return NULL;
}
