#include "service-vm-host/fleet-approval.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define HEAD (API_NONCE_BYTES + SIG_BYTES + 1)

int approval_pack(const uint8_t nonce[API_NONCE_BYTES], const struct frame_signed *s, uint8_t *out,
		  size_t cap)
{
	size_t n = strlen(s->name), len = HEAD + n + s->body_len;

	if (len > cap || len > APPROVAL_MAX || n > NODE_NAME_MAX)
		return -ENOSPC;
	memcpy(out, nonce, API_NONCE_BYTES);
	memcpy(out + API_NONCE_BYTES, s->sig, SIG_BYTES);
	out[HEAD - 1] = (uint8_t)n;
	memcpy(out + HEAD, s->name, n);
	memcpy(out + HEAD + n, s->body, s->body_len);
	return (int)len;
}

/* The body's verb, node, guest and id are the ones asked of the helper. */
static const char *same_request(const json_t *req, const char *self, const char *op,
				const char *guest, const char *backup, int64_t now, unsigned *keep)
{
	json_int_t issued = json_integer_value(json_object_get(req, "issued"));
	const json_t *k = json_object_get(req, "keep");
	struct dispatch_req r;
	const char *why = dispatch_check_request(req, self, &r);

	if (why)
		return why;
	if (strcmp(r.op->verb, op) || strcmp(r.name, guest))
		return "the fleet signed another operation or guest";
	if ((backup || r.backup) && (!backup || !r.backup || strcmp(backup, r.backup)))
		return "the fleet signed another backup";
	if (!json_is_integer(json_object_get(req, "issued")) || issued < now - APPROVAL_FRESH_S ||
	    issued > now + APPROVAL_FRESH_S)
		return "the fleet's request is stale (or its clock is far off)";
	if (k && (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > 10000))
		return "the fleet's keep is not a count of 1 to 10000";
	if (keep)
		*keep = k ? (unsigned)json_integer_value(k) : 0;
	return NULL;
}

const char *approval_check(const uint8_t *blob, size_t len, const struct trust_set *ts,
			   const char *self, const char *op, const char *guest, const char *backup,
			   int64_t now, unsigned *keep)
{
	struct frame_signed s = { .seq = 1 };
	struct trust_set cached = *ts;
	const char *why;
	json_t *req;
	size_t n;

	if (len < HEAD || len > APPROVAL_MAX || (n = blob[HEAD - 1]) == 0 || n > NODE_NAME_MAX ||
	    HEAD + n >= len)
		return "the fleet's approval is malformed";
	memcpy(s.name, blob + HEAD, n);
	s.name[n] = '\0';
	s.sig = blob + API_NONCE_BYTES;
	s.body = blob + HEAD + n;
	s.body_len = len - HEAD - n;
	why = dispatch_check_signer(&cached, &s, blob, false, NULL, NULL);
	if (why)
		return why;
	req = json_loadb((const char *)s.body, s.body_len, JSON_REJECT_DUPLICATES, NULL);
	why = req ? same_request(req, self, op, guest, backup, now, keep) : "the fleet's request is not JSON";
	json_decref(req);
	return why;
}

int approval_target(const uint8_t *blob, size_t len, char out[NODE_NAME_MAX + 1])
{
	size_t n = len > HEAD ? blob[HEAD - 1] : 0;
	json_t *req = n && HEAD + n < len ? json_loadb((const char *)blob + HEAD + n, len - HEAD - n,
						      JSON_REJECT_DUPLICATES, NULL) : NULL;
	const json_t *t = json_object_get(req, "target");
	int ret = 0;

	out[0] = '\0';
	if (!req)
		ret = -EINVAL;
	else if (t && (!json_is_string(t) || !node_name_valid(json_string_value(t))))
		ret = -EINVAL;
	else if (t)
		snprintf(out, NODE_NAME_MAX + 1, "%s", json_string_value(t));
	json_decref(req);
	return ret;
}
