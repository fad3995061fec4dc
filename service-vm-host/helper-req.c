#include "service-vm-host/helper-req.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "lib/backup-manifest.h"

_Static_assert(sizeof(struct helper_req) == 104, "the request's size is part of the protocol");

/* The node's verbs: about the node's guest network or all its guests, so
 * no guest name. */
static bool node_verb(const struct guest_op_def *d)
{
	return d->op == GOP_FABRIC || d->op == GOP_NAMES || d->op == GOP_AGENT_ADDRESSES;
}

/* The verbs the helper does: dispatched, never refused, not the agent's own;
 * and the node's verbs. */
static const struct guest_op_def *helper_op(uint32_t op)
{
	const struct guest_op_def *d;

	for (unsigned i = 0; (d = guest_op_at(i)); i++)
		if ((uint32_t)d->op == op)
			return node_verb(d) || (d->dispatched && !d->refusal && d->helper_args) ? d : NULL;
	return NULL;
}

/* The verbs whose record carries the guest's type and size: a create, and a
 * move-in (the fleet's approved spec, which the archive must match). */
static bool sized(uint32_t op)
{
	return op == GOP_CREATE || op == GOP_MOVE_IN;
}

static int put(char *field, size_t size, const char *text)
{
	size_t len = text ? strlen(text) : 0;

	if (len >= size)
		return -EINVAL;
	memcpy(field, text ? text : "", len);
	return 0;
}

int helper_req_build(struct helper_req *r, const struct guest_op_def *op, const char *name,
		     const char *type, uint64_t memory_bytes, uint64_t vcpus)
{
	memset(r, 0, sizeof(*r));
	if (!op || helper_op((uint32_t)op->op) != op)
		return -EINVAL;
	r->magic = HELPER_REQ_MAGIC;
	r->op = (uint32_t)op->op;
	if (node_verb(op))
		return name && name[0] ? -EINVAL : 0;
	if (put(r->name, sizeof(r->name), name) < 0)
		return -EINVAL;
	if (!sized((uint32_t)op->op))
		return 0;
	r->memory_bytes = memory_bytes;
	r->vcpus = vcpus;
	return put(r->type, sizeof(r->type), type);
}

/* A NUL-terminated string followed by nothing but NULs. */
static bool padded(const char *field, size_t size)
{
	size_t len = strnlen(field, size);

	if (len == size)
		return false;
	for (size_t i = len; i < size; i++)
		if (field[i])
			return false;
	return true;
}

static const char *check_spec(const struct helper_req *r)
{
	if (!padded(r->type, sizeof(r->type)) || !guest_type_find(r->type))
		return "unknown guest type";
	if (!guest_size_valid(r->memory_bytes, r->vcpus))
		return "memory or vCPUs out of range";
	return NULL;
}

static const char *check_other(const struct helper_req *r)
{
	static const char zero[sizeof(r->type)];

	if (memcmp(r->type, zero, sizeof(zero)) || r->memory_bytes || r->vcpus)
		return "type and size are for a create or move-in only";
	return NULL;
}

static const char *node_req(const struct helper_req *r, const struct guest_op_def **op)
{
	static const char zero[sizeof(r->name)];
	const char *why = check_other(r);

	if (!why && memcmp(r->name, zero, sizeof(zero)))
		why = "this verb takes no guest name";
	if (!why)
		*op = helper_op(r->op);
	return why;
}

const char *helper_req_check(const void *buf, size_t len, struct helper_req *out,
			     const struct guest_op_def **op)
{
	const char *why;

	*op = NULL;
	if (len != sizeof(*out))
		return "the request is not one fixed-size record";
	memcpy(out, buf, sizeof(*out));
	if (out->magic != HELPER_REQ_MAGIC)
		return "bad magic";
	if (!helper_op(out->op))
		return "unknown verb";
	if (node_verb(helper_op(out->op)))
		return node_req(out, op);
	if (!padded(out->name, sizeof(out->name)) || !guest_name_valid(out->name))
		return "a guest name of a-z, 0-9 and '-' is required";
	why = sized(out->op) ? check_spec(out) : check_other(out);
	if (!why)
		*op = helper_op(out->op);
	return why;
}

/* One fixed-size, NUL-padded second record into out; NULL or why not. */
static const char *second_record(const void *buf, size_t len, char out[HELPER_MOVE_TO_BYTES])
{
	const char *p = buf;
	size_t n;

	if (len != HELPER_MOVE_TO_BYTES)
		return "the second record is not one fixed-size record";
	n = strnlen(p, len);
	if (n == len)
		return "the second record is not NUL-terminated";
	for (size_t i = n; i < len; i++)
		if (p[i])
			return "the second record is not NUL-padded";
	memcpy(out, p, len);
	return NULL;
}

const char *helper_move_to_check(const void *buf, size_t len, char to[HELPER_MOVE_TO_BYTES])
{
	const char *why = second_record(buf, len, to);

	return why ?: node_name_valid(to) ? NULL : "the target is not a valid node name";
}

const char *helper_restore_id_check(const void *buf, size_t len, char id[HELPER_MOVE_TO_BYTES])
{
	const char *why = second_record(buf, len, id);

	return why ?: !id[0] || backup_id_valid(id) ? NULL : "the backup id is not YYYYMMDDTHHMMSSZ";
}

const char *helper_backup_id_check(const void *buf, size_t len, char id[HELPER_MOVE_TO_BYTES])
{
	const char *why = second_record(buf, len, id);

	return why ?: backup_id_valid(id) ? NULL : "the backup id is not YYYYMMDDTHHMMSSZ";
}
