#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os-infrastructure/client.h"
#include "os-infrastructure/cmd.h"
#include "lib/errbuf.h"
#include "lib/mesh-sync.h"
#include "lib/mesh.h"
#include "os-infrastructure/node-rekey.h"
#include "os-infrastructure/pairing.h"
#include "os-infrastructure/render.h"

static int hold_override(const struct cli *cli)
{
	json_t *req = json_pack("{s:s}", "op", "hold-override"), *reply;
	json_int_t n;
	int ret;

	ret = fleet_request(cli, req, &reply);
	if (!ret) {
		n = json_integer_value(json_object_get(reply, "evicting"));
		printf("Evictions resumed: evicting %lld held node%s.\n", (long long)n, n == 1 ? "" : "s");
		ret = cmd_output(0);
	}
	json_decref(reply);
	json_decref(req);
	return ret;
}

static int show(const struct cli *cli, const char *name, enum format fmt)
{
	json_t *req = json_pack("{s:s, s:s}", "op", "node", "name", name), *reply;
	int ret;

	ret = fleet_request(cli, req, &reply);
	if (!ret)
		ret = cmd_output(render_node(stdout, reply, fmt));
	json_decref(reply);
	json_decref(req);
	return ret;
}

static int append_revoke(struct ledger *l, const struct identity *id, void *arg, char *err,
			 size_t errlen)
{
	return ledger_append_revoke(l, id, arg, err, errlen);
}

/* The revoked member hears it first, while the others still route to it;
 * then every live member drops it. */
static void push_revocation(const char *state_dir, const struct ledger *l,
			    const struct identity *id, const char *name)
{
	const struct ledger_member *m = ledger_find(l, name);
	struct mesh_sync_reply r;
	uint8_t *bytes = NULL;
	char addr[16], err[256] = "";
	size_t len;
	int ret;

	ledger_addr_format(m->addr, addr);
	ret = ledger_encode(l, &bytes, &len);
	if (ret == 0 && strcmp(name, id->name)) {
		ret = mesh_sync_call(addr, MESH_SYNC_PORT, id, bytes, len, 0, &r, err, sizeof(err));
		pairing_report_push(NULL, m, ret, ret == 0 ? &r : NULL, err);
		mesh_sync_reply_free(&r);
	}
	free(bytes);
	pairing_publish(state_dir, l, id, name);
}

/* "node revoke NAME": a revoke entry signed by this admin, made final by the
 * sequencer, pushed to every member. */
static int revoke(const struct cli *cli, const char *name)
{
	struct identity id = { 0 };
	struct ledger l;
	char err[256] = "";
	int ret;

	ledger_init(&l);
	ret = identity_load(cli->state_dir, &id);
	if (ret < 0) {
		ret = cmd_fail("no identity in %s: %s", cli->state_dir, strerror(-ret));
		goto cleanup;
	}
	ret = pairing_commit(cli->state_dir, &id, &l, append_revoke, (void *)name, err, sizeof(err));
	if (ret < 0) {
		ret = cmd_fail("cannot revoke '%s': %s", name, err[0] ? err : strerror(-ret));
		goto cleanup;
	}
	printf("'%s' revoked (ledger entry %zu); it has no peers once the members hear it\n", name,
	       l.count - 1);
	fflush(stdout);
	push_revocation(cli->state_dir, &l, &id, name);
	ret = cmd_output(0);
cleanup:
	ledger_free(&l);
	identity_wipe(&id);
	return ret;
}

struct role_change {
	const char *name;
	unsigned roles;
	bool grant;
	bool force; /* ungrant: even the fleet role of the mesh's fleet */
};

/* What the CLI refuses before the ledger's own rules (the last admin, a
 * member left without roles) are asked: each role must change something. */
static int check_role_change(const struct ledger *l, const struct identity *id,
			     const struct ledger_member *m, const struct role_change *rc,
			     char *err, size_t errlen)
{
	const struct ledger_member *me = ledger_find(l, id->name);
	unsigned wrong = rc->grant ? rc->roles & m->roles : rc->roles & ~m->roles;
	char roles[40];

	if (!me || me->revoked || !(me->roles & LEDGER_ROLE_ADMIN))
		return errbuf_fail(-EPERM, err, errlen,
			"'%s' is not a live admin of this mesh: only admins change roles", id->name);
	ledger_roles_format(wrong, roles, sizeof(roles));
	if (wrong)
		return errbuf_fail(rc->grant ? -EEXIST : -ENOENT, err, errlen, "'%s' %s %s",
			m->name, rc->grant ? "already holds" : "does not hold", roles);
	if (!rc->grant && !rc->force && (rc->roles & LEDGER_ROLE_FLEET) && ledger_sequencer(l) == m)
		return errbuf_fail(-EPERM, err, errlen,
			"'%s' is the mesh's fleet: the agents report to it and it sequences the "
			"ledger; removing its fleet role leaves the mesh without a fleet until "
			"another one runs (--force does it anyway)", m->name);
	return 0;
}

static int append_role_change(struct ledger *l, const struct identity *id, void *arg, char *err,
			      size_t errlen)
{
	const struct role_change *rc = arg;
	const struct ledger_member *m = ledger_find(l, rc->name);
	int ret;

	if (!m)
		return errbuf_fail(-ENOENT, err, errlen, "no member named '%s'", rc->name);
	if (m->revoked)
		return errbuf_fail(-ENOENT, err, errlen,
			"'%s' was revoked at entry %u: a revoked member takes no role", m->name,
			m->revoked_at);
	ret = check_role_change(l, id, m, rc, err, errlen);
	if (ret < 0)
		return ret;
	if (rc->grant)
		return ledger_append_grant(l, id, rc->name, rc->roles, err, errlen);
	return ledger_append_ungrant(l, id, rc->name, rc->roles, err, errlen);
}

/* "node grant NAME ROLES", "node ungrant NAME ROLES": an entry signed by
 * this admin, made final by the sequencer, pushed to every member; the
 * fleet and the agents take their trust from it. */
static int change_roles(const struct cli *cli, struct role_change *rc, const char *roles)
{
	struct identity id = { 0 };
	struct ledger l;
	char err[320] = "", now[40];
	int ret;

	if (ledger_roles_parse(roles, &rc->roles) < 0 || !rc->roles)
		return cmd_usage_error(&cmd_node, "unknown role '%s' (node, fleet, admin, relay)",
				       roles);
	ledger_init(&l);
	ret = identity_load(cli->state_dir, &id);
	if (ret < 0) {
		ret = cmd_fail("no identity in %s: %s", cli->state_dir, strerror(-ret));
		goto cleanup;
	}
	ret = pairing_commit(cli->state_dir, &id, &l, append_role_change, rc, err, sizeof(err));
	if (ret < 0) {
		ret = cmd_fail("cannot %s %s %s '%s': %s", rc->grant ? "grant" : "ungrant", roles,
			       rc->grant ? "to" : "from", rc->name, err[0] ? err : strerror(-ret));
		goto cleanup;
	}
	ledger_roles_format(ledger_find(&l, rc->name)->roles, now, sizeof(now));
	printf("'%s' %s %s (ledger entry %zu); its roles are now %s\n", rc->name,
	       rc->grant ? "was granted" : "no longer holds", roles, l.count - 1, now);
	fflush(stdout);
	pairing_publish(cli->state_dir, &l, &id, NULL);
	ret = cmd_output(0);
cleanup:
	ledger_free(&l);
	identity_wipe(&id);
	return ret;
}

/* "node NAME", "node show NAME" (for nodes named show or hold-override),
 * "node hold-override". */
static int node(const struct cli *cli, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "force", no_argument, NULL, 'F' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "request", no_argument, NULL, 'R' },
		{ "install", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct role_change rc = { 0 };
	const char *endpoint = NULL;
	bool request = false, install = false;
	enum format fmt = FORMAT_TABLE;
	int c, nargs;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
		if (c == 'h')
			return cmd_help(&cmd_node);
		if (c == 'F') {
			rc.force = true;
			continue;
		}
		if (c == 'e' || c == 'R' || c == 'I') {
			endpoint = c == 'e' ? optarg : endpoint;
			request |= c == 'R';
			install |= c == 'I';
			continue;
		}
		if (c != 'f')
			return cmd_bad_option(&cmd_node, c, argv);
		if (cmd_parse_format(&cmd_node, optarg, &fmt))
			return EXIT_USAGE;
	}
	argv += optind;
	nargs = argc - optind;
	if (nargs == 1 && !strcmp(argv[0], "hold-override"))
		return hold_override(cli);
	if (nargs == 2 && !strcmp(argv[0], "show"))
		return show(cli, argv[1], fmt);
	if (nargs == 1 && !strcmp(argv[0], "rekey"))
		return install ? node_rekey_install(cli) : node_rekey(cli, endpoint, request);
	if (nargs == 2 && !strcmp(argv[0], "rekey-approve"))
		return node_rekey_approve(cli, argv[1]);
	if (nargs == 2 && !strcmp(argv[0], "revoke"))
		return revoke(cli, argv[1]);
	if (nargs == 3 && (!strcmp(argv[0], "grant") || !strcmp(argv[0], "ungrant"))) {
		rc.name = argv[1];
		rc.grant = argv[0][0] == 'g';
		return change_roles(cli, &rc, argv[2]);
	}
	if (nargs == 1)
		return show(cli, argv[0], fmt);
	return cmd_usage_error(&cmd_node, nargs ? "too many arguments" : "which node?");
}

const struct cmd cmd_node = {
	.name = "node",
	.fn = node,
	.usage = "node [--format table|json|yaml|csv] [show] NAME\n"
		 "       " PROG_NAME " node hold-override\n"
		 "       " PROG_NAME " node revoke NAME\n"
		 "       " PROG_NAME " node grant NAME ROLE[,ROLE]\n"
		 "       " PROG_NAME " node ungrant [--force] NAME ROLE[,ROLE]\n"
		 "       " PROG_NAME " node rekey [--endpoint HOST:PORT] [--request | --install]\n"
		 "       " PROG_NAME " node rekey-approve REQUEST",
	.description = "Show one node in detail, release held evictions, revoke a member or "
		       "change its roles",
	.help = "  --format F     table (default), json, yaml or csv\n"
		"  --force        ungrant: remove the fleet role even from the mesh's fleet\n"
		"  --endpoint E   rekey: the member's new HOST:PORT (default: unchanged)\n"
		"  --request      rekey: only print the request, even on an admin\n"
		"  --install      rekey: take the approved keys into use\n\n"
		"hold-override evicts the nodes whose eviction the fleet is holding (it\n"
		"holds them when it suddenly hears from no one, being more likely cut off\n"
		"itself). 'show' is only needed for a node named show or hold-override.\n\n"
		"revoke (on an admin of the mesh) appends a revocation to the ledger, has the\n"
		"sequencer accept it and pushes it to every member: they drop the node's\n"
		"WireGuard peer, and the fleet rejects its heartbeats as revoked.\n\n"
		"grant and ungrant (on an admin) add or remove roles (node, fleet, admin,\n"
		"relay) the same way: the fleet and the agents trust what the ledger says.\n"
		"Granting a role the member holds, removing one it lacks, removing its last\n"
		"role or the last admin's admin role, and any role for a revoked member are\n"
		"refused. Removing fleet from the mesh's fleet takes --force.\n\n"
		"rekey (on the member itself) replaces its identity and WireGuard keys,\n"
		"keeping its name, mesh address, guest subnet and guests. On an admin it is\n"
		"done at once; elsewhere it prints a request for 'rekey-approve' on an\n"
		"admin, after which 'rekey --install' here takes the new keys into use. The\n"
		"old keys are refused by every member as soon as it holds the entry.\n",
};
