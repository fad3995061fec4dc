#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "os-infrastructure/cmd.h"
#include "lib/fileio.h"
#include "lib/identity.h"
#include "lib/trust.h"

/* "<name> <roles> <ed25519-hex> <x25519-hex>": public halves only. */
static int print_trust_line(const struct identity *id, unsigned roles)
{
	char ed[SIGN_PK_BYTES * 2 + 1], x[KX_PK_BYTES * 2 + 1], r[64];

	sodium_bin2hex(ed, sizeof(ed), id->sign_pk, sizeof(id->sign_pk));
	sodium_bin2hex(x, sizeof(x), id->kx_pk, sizeof(id->kx_pk));
	trust_roles_format(roles, r, sizeof(r));
	printf("%s %s %s %s\n", id->name, r, ed, x);
	return cmd_output(0);
}

static int load_failed(const char *dir, int ret)
{
	if (ret == -ENOENT)
		return cmd_fail("no identity in %s (create one with 'keygen --name NAME')", dir);
	if (ret == -EPERM)
		return cmd_fail("%s/" IDENTITY_FILE " is readable by group or others; chmod 600 it", dir);
	return cmd_fail("cannot load the identity in %s: %s", dir, strerror(-ret));
}

static int create(const char *dir, const char *name, struct identity *id)
{
	struct identity old;
	int ret = mkdir_p(dir, 0700);

	if (ret < 0)
		return cmd_fail("cannot create %s: %s", dir, strerror(-ret));
	ret = identity_create(dir, name, id);
	if (ret == -EEXIST && !identity_load(dir, &old)) {
		ret = cmd_fail("%s already holds the identity of node '%s'; it is never replaced "
			       "('keygen --show' prints its trust line)", dir, old.name);
		identity_wipe(&old);
		return ret;
	}
	if (ret == -EEXIST)
		return cmd_fail("%s already holds an identity; it is never replaced", dir);
	if (ret < 0)
		return cmd_fail("cannot create an identity in %s: %s", dir, strerror(-ret));
	fprintf(stderr, PROG_NAME ": created %s/" IDENTITY_FILE " for '%s'; give the line below "
		"to 'trust add --line' where the fleet runs\n", dir, name);
	return EXIT_OK;
}

static int keygen(const struct cli *cli, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "role", required_argument, NULL, 'r' },
		{ "show", no_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *dir = cli->state_dir, *name = NULL, *role = "node";
	struct identity id = { 0 };
	unsigned roles;
	bool show = false;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'r': role = optarg; break;
		case 's': show = true; break;
		case 'd': dir = optarg; break;
		case 'h': return cmd_help(&cmd_keygen);
		default: return cmd_bad_option(&cmd_keygen, c, argv);
		}
	}
	if (optind < argc)
		return cmd_usage_error(&cmd_keygen, "unexpected argument '%s'", argv[optind]);
	if (trust_roles_parse(role, &roles) < 0 || !roles)
		return cmd_usage_error(&cmd_keygen, "unknown role in '%s' (node, fleet, admin)", role);
	if (!show && !name)
		return cmd_usage_error(&cmd_keygen, "--name is required");
	if (!show && !node_name_valid(name))
		return cmd_usage_error(&cmd_keygen, "'%s' is not a node name: 1 to %d of a-z, 0-9 "
				       "and '-', not starting or ending with '-'", name, NODE_NAME_MAX);
	if (show) {
		ret = identity_load(dir, &id);
		ret = ret < 0 ? load_failed(dir, ret) : EXIT_OK;
	} else {
		ret = create(dir, name, &id);
	}
	if (!ret)
		ret = print_trust_line(&id, roles);
	identity_wipe(&id);
	return ret;
}

const struct cmd cmd_keygen = {
	.name = "keygen",
	.fn = keygen,
	.usage = "keygen --name NAME [--role ROLES] [--state-dir DIR]\n"
		 "       " PROG_NAME " keygen --show [--role ROLES] [--state-dir DIR]",
	.description = "Create this node's identity and print its trust line",
	.help = "  --name NAME     the node's name: a-z, 0-9 and '-', at most 31\n"
		"  --role ROLES    roles for the trust line: node, fleet, admin, comma-separated\n"
		"                  (default node)\n"
		"  --show          print the trust line of the existing identity\n"
		"  --state-dir DIR where the identity lives (default: the global --state-dir)\n\n"
		"The identity file holds private keys (mode 0600); only the public halves\n"
		"are printed: \"NAME ROLES ED25519-HEX X25519-HEX\". An existing identity\n"
		"is never replaced.\n",
};
