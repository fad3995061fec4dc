#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os-infrastructure/client.h"
#include "os-infrastructure/cmd.h"
#include "lib/mesh-sync.h"
#include "lib/mesh.h"
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

/* "node NAME", "node show NAME" (for nodes named show or hold-override),
 * "node hold-override". */
static int node(const struct cli *cli, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	enum format fmt = FORMAT_TABLE;
	int c, nargs;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
		if (c == 'h')
			return cmd_help(&cmd_node);
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
	if (nargs == 2 && !strcmp(argv[0], "revoke"))
		return revoke(cli, argv[1]);
	if (nargs == 1)
		return show(cli, argv[0], fmt);
	return cmd_usage_error(&cmd_node, nargs ? "too many arguments" : "which node?");
}

const struct cmd cmd_node = {
	.name = "node",
	.fn = node,
	.usage = "node [--format table|json|yaml|csv] [show] NAME\n"
		 "       " PROG_NAME " node hold-override\n"
		 "       " PROG_NAME " node revoke NAME",
	.description = "Show one node in detail, release held evictions, or revoke a member",
	.help = "  --format F     table (default), json, yaml or csv\n\n"
		"hold-override evicts the nodes whose eviction the fleet is holding (it\n"
		"holds them when it suddenly hears from no one, being more likely cut off\n"
		"itself). 'show' is only needed for a node named show or hold-override.\n\n"
		"revoke (on an admin of the mesh) appends a revocation to the ledger, has the\n"
		"sequencer accept it and pushes it to every member: they drop the node's\n"
		"WireGuard peer, and the fleet rejects its heartbeats as revoked.\n",
};
