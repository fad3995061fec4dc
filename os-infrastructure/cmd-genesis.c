/* os-infrastructure --genesis: the first member creates the mesh. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "os-infrastructure/cmd.h"
#include "lib/mesh.h"
#include "os-infrastructure/pairing.h"

static int create_ledger(const char *dir, const struct identity *id, const char *prefix_text,
			 const struct pairing_opts *o, struct ledger *l)
{
	unsigned roles = LEDGER_ROLE_NODE | LEDGER_ROLE_ADMIN | o->roles;
	char err[256], r[64];
	uint32_t prefix;
	uint8_t len;
	int lock, ret;

	if (ledger_prefix_parse(prefix_text, &prefix, &len) < 0)
		return cmd_usage_error(&cmd_genesis, "--mesh-prefix '%s': an IPv4 network, /%d to /%d, "
				       "host bits zero", prefix_text, LEDGER_PREFIX_MIN,
				       LEDGER_PREFIX_MAX);
	lock = mesh_ledger_lock(dir);
	if (lock < 0)
		return cmd_fail("cannot lock the ledger in %s: %s", dir, strerror(-lock));
	if (mesh_has_ledger(dir)) {
		ret = cmd_fail("%s already holds a mesh ledger: this node is a member ('invite' adds "
			       "others; 'mesh up' restarts the interface)", dir);
		goto cleanup;
	}
	ret = ledger_genesis(l, id, NULL, prefix, len, id->wg_pk, o->endpoint ? o->endpoint : "",
			     roles, err, sizeof(err));
	if (ret < 0) {
		ret = cmd_fail("genesis: %s", err);
		goto cleanup;
	}
	ret = mesh_ledger_save(dir, l);
	if (ret < 0) {
		ret = cmd_fail("cannot save the ledger in %s: %s", dir, strerror(-ret));
		goto cleanup;
	}
	ledger_roles_format(roles, r, sizeof(r));
	printf("mesh %s created; '%s' is its founder (%s)\n", prefix_text, id->name, r);
cleanup:
	mesh_ledger_unlock(lock);
	return ret;
}

static int genesis(const struct cli *cli, int argc, char *argv[])
{
	static const struct option opts[] = {
		PAIRING_OPTIONS,
		{ "mesh-prefix", required_argument, NULL, 'M' },
		{ "no-invite", no_argument, NULL, 'I' },
		{ 0 }
	};
	const char *prefix = MESH_DEFAULT_PREFIX;
	char name[NODE_NAME_MAX + 1];
	struct pairing_opts o;
	struct identity id = { 0 };
	struct ledger l;
	bool invite = true;
	int c, ret;

	pairing_opts_init(&o);
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h')
			return cmd_help(&cmd_genesis);
		if (c == 'M')
			prefix = optarg;
		else if (c == 'I')
			invite = false;
		else if ((ret = pairing_option(&cmd_genesis, &o, c, optarg)) == 1)
			return cmd_bad_option(&cmd_genesis, c, argv);
		else if (ret)
			return ret;
	}
	if (optind < argc)
		return cmd_usage_error(&cmd_genesis, "unexpected argument '%s'", argv[optind]);
	if (pairing_default_name(&o, name) < 0)
		return cmd_usage_error(&cmd_genesis, "the hostname is not a node name: give --name");
	setvbuf(stdout, NULL, _IOLBF, 0);
	ledger_init(&l);
	ret = pairing_identity(cli->state_dir, name, &id);
	if (ret == 0)
		ret = create_ledger(cli->state_dir, &id, prefix, &o, &l);
	if (ret == 0)
		ret = pairing_mesh_up(cli->state_dir, &id, o.ifname, pairing_listen_port(&o));
	if (ret == 0)
		pairing_services(cli->state_dir, &l, id.name, !o.no_start);
	if (ret == 0 && invite)
		ret = pairing_invite(cli->state_dir, &id, &o.invite);
	ledger_free(&l);
	identity_wipe(&id);
	return ret;
}

const struct cmd cmd_genesis = {
	.name = "genesis",
	.fn = genesis,
	.usage = "--genesis [--name N] [--mesh-prefix CIDR] [--endpoint HOST:PORT] [--role fleet]\n"
		 "       [--listen ADDR:PORT | --connect HOST:PORT] [OPTIONS]",
	.description = "Create the mesh on its first machine and invite the next one",
	.help = "  --name N           this node's name (default: the hostname)\n"
		"  --mesh-prefix CIDR the mesh's IPv4 network (default " MESH_DEFAULT_PREFIX ")\n"
		"  --endpoint H:P     where other members reach this node's WireGuard (omit\n"
		"                     behind NAT: it then keeps its peers alive itself)\n"
		"  --role ROLES       roles besides node and admin: fleet (this node runs\n"
		"                     service-vm-fleet), relay\n"
		"  --interface IF     WireGuard interface (default " MESH_DEFAULT_IFNAME ")\n"
		"  --port N           WireGuard UDP port (default: the endpoint's, else 51820)\n"
		"  --no-invite        stop after creating the mesh ('invite' later)\n"
		"  --no-start         write the services' configuration, do not start them\n"
		PAIRING_HELP_INVITE PAIRING_HELP_SAS "\n"
		"Creates the identity (Ed25519, X25519 and WireGuard keys) unless the state\n"
		"directory holds one, the ledger's genesis entry, and the WireGuard interface\n"
		"(kernel, else wireguard-go) at the prefix's first address; starts the\n"
		"services, then prints a short code and serves the pairing ceremony on TCP\n"
		"7104 until one machine has joined. Both screens then show a SAS: confirm\n"
		"only if they match.\n",
};
