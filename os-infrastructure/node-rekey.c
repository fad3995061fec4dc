#include "os-infrastructure/node-rekey.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/errbuf.h"
#include "lib/identity.h"
#include "lib/ledger.h"
#include "lib/mesh-sync.h"
#include "lib/mesh-wg.h"
#include "lib/mesh.h"
#include "lib/wg-if.h"
#include "os-infrastructure/pairing.h"

/* name, three keys, endpoint, request signature (the entry's fields) */
#define REQUEST_MAX (1 + NODE_NAME_MAX + SIGN_PK_BYTES + KX_PK_BYTES + LEDGER_WG_KEY_BYTES + \
		     1 + LEDGER_ENDPOINT_MAX + SIG_BYTES)
#define INSTALL_TRIES 5

struct rekey_req {
	struct ledger_member m;
	uint8_t sig[SIG_BYTES];
};

static int stage_dir(const char *state_dir, char dir[PATH_MAX])
{
	return mesh_path(state_dir, REKEY_STAGE_DIR, dir);
}

/* The staged identity, made on first use: a second run reuses it, so a
 * request already signed stays the one the ledger may hold. */
static int stage_keys(const char *state_dir, const char *name, bool create,
		      struct identity *fresh)
{
	char dir[PATH_MAX];
	int ret = stage_dir(state_dir, dir);

	if (ret == 0)
		ret = identity_load(dir, fresh);
	if (ret == -ENOENT && create)
		ret = identity_create(dir, name, fresh);
	if (ret == 0 && (strcmp(fresh->name, name) || !fresh->has_wg))
		ret = -EXDEV;
	return ret;
}

static void new_record(const struct identity *fresh, const char *endpoint,
		       struct ledger_member *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->name, fresh->name, strlen(fresh->name));
	memcpy(m->sign_pk, fresh->sign_pk, sizeof(m->sign_pk));
	memcpy(m->kx_pk, fresh->kx_pk, sizeof(m->kx_pk));
	memcpy(m->wg_pk, fresh->wg_pk, sizeof(m->wg_pk));
	if (endpoint)
		memcpy(m->endpoint, endpoint, strlen(endpoint));
}

static bool holds_keys(const struct ledger *l, const struct identity *id)
{
	const struct ledger_member *m = ledger_find(l, id->name);

	return m && !m->revoked && !memcmp(m->sign_pk, id->sign_pk, sizeof(m->sign_pk)) &&
	       !memcmp(m->kx_pk, id->kx_pk, sizeof(m->kx_pk)) &&
	       !memcmp(m->wg_pk, id->wg_pk, sizeof(m->wg_pk));
}

/* ---- the request line ---- */

static void put_str(uint8_t *b, size_t *n, const char *s)
{
	size_t len = strlen(s);

	b[(*n)++] = (uint8_t)len;
	memcpy(b + *n, s, len);
	*n += len;
}

static void request_print(const struct rekey_req *r)
{
	uint8_t b[REQUEST_MAX];
	char hex[REQUEST_MAX * 2 + 1];
	size_t n = 0;

	put_str(b, &n, r->m.name);
	memcpy(b + n, r->m.sign_pk, SIGN_PK_BYTES);
	n += SIGN_PK_BYTES;
	memcpy(b + n, r->m.kx_pk, KX_PK_BYTES);
	n += KX_PK_BYTES;
	memcpy(b + n, r->m.wg_pk, LEDGER_WG_KEY_BYTES);
	n += LEDGER_WG_KEY_BYTES;
	put_str(b, &n, r->m.endpoint);
	memcpy(b + n, r->sig, SIG_BYTES);
	n += SIG_BYTES;
	sodium_bin2hex(hex, sizeof(hex), b, n);
	printf(REKEY_REQUEST_PREFIX "%s\n", hex);
}

static int get_str(const uint8_t *b, size_t len, size_t *n, char *out, size_t max)
{
	size_t l;

	if (*n >= len)
		return -EINVAL;
	l = b[(*n)++];
	if (l > max || len - *n < l || memchr(b + *n, '\0', l))
		return -EINVAL;
	memcpy(out, b + *n, l);
	*n += l;
	return 0;
}

static int get_bytes(const uint8_t *b, size_t len, size_t *n, uint8_t *out, size_t want)
{
	if (len - *n < want)
		return -EINVAL;
	memcpy(out, b + *n, want);
	*n += want;
	return 0;
}

/* Syntax only: the ledger's rules judge the rest. */
static int request_parse(const char *line, struct rekey_req *r)
{
	const size_t plen = sizeof(REKEY_REQUEST_PREFIX) - 1;
	uint8_t b[REQUEST_MAX];
	size_t len, n = 0;
	int ret;

	memset(r, 0, sizeof(*r));
	if (strncmp(line, REKEY_REQUEST_PREFIX, plen) ||
	    sodium_hex2bin(b, sizeof(b), line + plen, strlen(line + plen), NULL, &len, NULL))
		return -EINVAL;
	ret = get_str(b, len, &n, r->m.name, NODE_NAME_MAX);
	if (!ret)
		ret = get_bytes(b, len, &n, r->m.sign_pk, SIGN_PK_BYTES);
	if (!ret)
		ret = get_bytes(b, len, &n, r->m.kx_pk, KX_PK_BYTES);
	if (!ret)
		ret = get_bytes(b, len, &n, r->m.wg_pk, LEDGER_WG_KEY_BYTES);
	if (!ret)
		ret = get_str(b, len, &n, r->m.endpoint, LEDGER_ENDPOINT_MAX);
	if (!ret)
		ret = get_bytes(b, len, &n, r->sig, SIG_BYTES);
	if (!ret && (n != len || !node_name_valid(r->m.name)))
		ret = -EINVAL;
	return ret;
}

/* ---- installing ---- */

/* Gives the mesh interface id's WireGuard key; peers as l says. */
static int set_wg_key(const char *state_dir, const struct ledger *l, const struct identity *id,
		      char *err, size_t errlen)
{
	struct mesh_plan plan;
	struct mesh_conf c;
	int ret = mesh_conf_load(state_dir, &c, err, errlen);

	if (ret < 0 || !wg_if_exists(c.interface))
		return ret;
	ret = mesh_plan(l, id->name, &plan);
	if (ret < 0)
		return ret;
	ret = mesh_apply(c.interface, &plan, id, (uint16_t)c.listen_port, err, errlen);
	mesh_plan_free(&plan);
	return ret;
}

static int keep_identity(const char *state_dir)
{
	char dir[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	int ret = stage_dir(state_dir, dir);

	if (ret == 0)
		ret = mesh_path(dir, IDENTITY_FILE, from);
	if (ret == 0)
		ret = mesh_path(state_dir, IDENTITY_FILE, to);
	if (ret == 0 && rename(from, to) < 0)
		ret = -errno;
	if (ret == 0)
		rmdir(dir); /* best effort: an identity.lock may remain */
	return ret;
}

/* The ledger holds fresh's keys: the interface and the identity file follow. */
static int finish(const char *state_dir, const struct ledger *l, const struct identity *fresh)
{
	char err[256] = "";
	int ret = set_wg_key(state_dir, l, fresh, err, sizeof(err));

	if (ret < 0)
		printf("mesh: cannot set the new WireGuard key: %s\n", err[0] ? err : strerror(-ret));
	ret = keep_identity(state_dir);
	if (ret < 0)
		return cmd_fail("cannot install %s/" REKEY_STAGE_DIR "/" IDENTITY_FILE ": %s",
				state_dir, strerror(-ret));
	printf("'%s' now holds its new keys; restart service-vm-host (and service-vm-fleet "
	       "where it runs): they sign with the identity they loaded\n", fresh->name);
	return cmd_output(0);
}

/* GET from the sequencer, signed by fresh (only a ledger holding the new
 * keys lets it in), merged into ours. */
static int pull_as(const char *state_dir, const struct ledger *l, const struct identity *fresh,
		   char *err, size_t errlen)
{
	const struct ledger_member *seq = ledger_sequencer(l);
	struct mesh_sync_reply r = { 0 };
	char addr[16];
	int ret = -ENOENT, status;
	uint32_t added;

	if (!seq)
		return errbuf_fail(-ENOENT, err, errlen, "the ledger names no sequencer");
	ledger_addr_format(seq->addr, addr);
	for (int i = 0; i < INSTALL_TRIES; i++) {
		ret = mesh_sync_call(addr, MESH_SYNC_PORT, fresh, NULL, 0, 0, &r, err, errlen);
		if (ret == 0 && r.status == MESH_SYNC_DENIED)
			ret = errbuf_fail(-EACCES, err, errlen,
				"the sequencer '%s' does not know the new key", seq->name);
		if (ret == 0 || ret == -EACCES)
			break;
	}
	if (ret == 0 && r.ledger)
		ret = mesh_sync_merge(state_dir, r.ledger, r.len, &status, &added, NULL, NULL, err,
				      errlen);
	mesh_sync_reply_free(&r);
	return ret;
}

int node_rekey_install(const struct cli *cli)
{
	struct identity old = { 0 }, fresh = { 0 };
	struct ledger l;
	char err[256] = "";
	int ret;

	ledger_init(&l);
	ret = identity_load(cli->state_dir, &old);
	if (ret == 0)
		ret = stage_keys(cli->state_dir, old.name, false, &fresh);
	if (ret < 0) {
		ret = cmd_fail("nothing to install in %s/" REKEY_STAGE_DIR ": %s", cli->state_dir,
			       strerror(-ret));
		goto cleanup;
	}
	ret = mesh_ledger_load(cli->state_dir, &l, err, sizeof(err));
	if (ret == 0 && !holds_keys(&l, &fresh)) {
		ret = set_wg_key(cli->state_dir, &l, &fresh, err, sizeof(err));
		if (ret == 0)
			ret = pull_as(cli->state_dir, &l, &fresh, err, sizeof(err));
		if (ret == 0)
			ret = mesh_ledger_load(cli->state_dir, &l, err, sizeof(err));
		if (ret == 0 && !holds_keys(&l, &fresh))
			ret = errbuf_fail(-ENOENT, err, sizeof(err), "%s",
				"the ledger holds no rekey for the staged keys");
	}
	if (ret < 0) {
		char ignored[64];

		set_wg_key(cli->state_dir, &l, &old, ignored, sizeof(ignored));
		ret = cmd_fail("cannot install the new keys: %s (has an admin run 'node "
			       "rekey-approve'?); the old keys stay", err[0] ? err : strerror(-ret));
		goto cleanup;
	}
	ret = finish(cli->state_dir, &l, &fresh);
cleanup:
	ledger_free(&l);
	identity_wipe(&old);
	identity_wipe(&fresh);
	return ret;
}

/* ---- rekey and approve ---- */

static int append_rekey(struct ledger *l, const struct identity *id, void *arg, char *err,
			size_t errlen)
{
	const struct rekey_req *r = arg;

	return ledger_append_rekey(l, id, &r->m, r->sig, err, errlen);
}

/* The request is final, pushed (by the admin id, whose key the members
 * still know), then the new keys are installed when id is the member. */
static int commit(const struct cli *cli, const struct identity *id, struct rekey_req *r,
		  const struct identity *fresh)
{
	struct ledger l;
	char err[320] = "";
	int ret;

	ledger_init(&l);
	ret = pairing_commit(cli->state_dir, id, &l, append_rekey, r, err, sizeof(err));
	if (ret < 0) {
		ret = cmd_fail("cannot rekey '%s': %s", r->m.name, err[0] ? err : strerror(-ret));
		goto cleanup;
	}
	printf("'%s' re-keyed (ledger entry %zu); its name, address and roles stay\n", r->m.name,
	       l.count - 1);
	fflush(stdout);
	pairing_publish(cli->state_dir, &l, id, NULL);
	if (fresh)
		ret = finish(cli->state_dir, &l, fresh);
	else
		ret = printf("now run '" PROG_NAME " node rekey --install' on '%s'\n",
			     r->m.name) < 0 ? EXIT_FAIL : cmd_output(0);
cleanup:
	ledger_free(&l);
	return ret;
}

int node_rekey_approve(const struct cli *cli, const char *line)
{
	struct identity id = { 0 };
	struct rekey_req r;
	int ret;

	if (request_parse(line, &r) < 0)
		return cmd_fail("not a rekey request (it starts with " REKEY_REQUEST_PREFIX ")");
	ret = identity_load(cli->state_dir, &id);
	if (ret < 0)
		return cmd_fail("no identity in %s: %s", cli->state_dir, strerror(-ret));
	ret = commit(cli, &id, &r, NULL);
	identity_wipe(&id);
	return ret;
}

int node_rekey(const struct cli *cli, const char *endpoint, bool request_only)
{
	struct identity old = { 0 }, fresh = { 0 };
	const struct ledger_member *me;
	struct rekey_req r;
	struct ledger l;
	char err[256] = "";
	int ret;

	if (endpoint && !ledger_endpoint_valid(endpoint))
		return cmd_fail("'%s' is not HOST:PORT", endpoint);
	ledger_init(&l);
	ret = identity_load(cli->state_dir, &old);
	if (ret == 0)
		ret = mesh_ledger_load(cli->state_dir, &l, err, sizeof(err));
	if (ret < 0) {
		ret = cmd_fail("no identity or ledger in %s: %s", cli->state_dir,
			       err[0] ? err : strerror(-ret));
		goto cleanup;
	}
	me = ledger_find(&l, old.name);
	if (!me || me->revoked || !holds_keys(&l, &old)) {
		ret = cmd_fail("'%s' is not a live member with this identity%s", old.name,
			       me && !me->revoked ? " (a rekey under way? try --install)" : "");
		goto cleanup;
	}
	ret = stage_keys(cli->state_dir, old.name, true, &fresh);
	if (ret < 0) {
		ret = cmd_fail("cannot make the new keys in %s/" REKEY_STAGE_DIR ": %s",
			       cli->state_dir, strerror(-ret));
		goto cleanup;
	}
	new_record(&fresh, endpoint, &r.m);
	ret = ledger_rekey_request(&l, &old, &r.m, r.sig);
	if (ret < 0) {
		ret = cmd_fail("cannot sign the request: %s", strerror(-ret));
		goto cleanup;
	}
	if (request_only || !(me->roles & LEDGER_ROLE_ADMIN)) {
		printf("On an admin of the mesh, run:\n  " PROG_NAME " node rekey-approve ");
		request_print(&r);
		printf("then here: " PROG_NAME " node rekey --install\n");
		ret = cmd_output(0);
		goto cleanup;
	}
	ret = commit(cli, &old, &r, &fresh);
cleanup:
	ledger_free(&l);
	identity_wipe(&old);
	identity_wipe(&fresh);
	return ret;
}
