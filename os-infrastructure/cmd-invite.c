/* os-infrastructure invite: a new code on a member allowed to admit. */
#include <getopt.h>
#include <string.h>

#include "os-infrastructure/cmd.h"
#include "os-infrastructure/pairing.h"

static int invite(const struct cli *cli, int argc, char *argv[])
{
	static const struct option opts[] = {
		PAIRING_OPTIONS, { "for", required_argument, NULL, 'F' }, { 0 }
	};
	struct identity id = { 0 };
	struct pairing_opts o;
	int c, ret, idx = -1;

	pairing_opts_init(&o);
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
		if (c == 'h')
			return cmd_help(&cmd_invite);
		if (c == 'F') {
			if (!node_name_valid(optarg))
				return cmd_usage_error(&cmd_invite, "--for: '%s' is not a node name",
						       optarg);
			o.invite.for_name = optarg;
			idx = -1;
			continue;
		}
		if (idx >= 0 && !strchr("lcTLgSE", c))
			return cmd_usage_error(&cmd_invite, "--%s is not an option of invite",
					       opts[idx].name);
		if (!strchr("lcTLgSE", c))
			return cmd_bad_option(&cmd_invite, c, argv);
		idx = -1;
		ret = pairing_option(&cmd_invite, &o, c, optarg);
		if (ret)
			return ret;
	}
	if (optind < argc)
		return cmd_usage_error(&cmd_invite, "unexpected argument '%s'", argv[optind]);
	if (o.invite.listen && o.invite.connect)
		return cmd_usage_error(&cmd_invite, "--listen or --connect, not both");
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = pairing_identity(cli->state_dir, NULL, &id);
	if (ret == 0)
		ret = pairing_invite(cli->state_dir, &id, &o.invite);
	identity_wipe(&id);
	return ret;
}

const struct cmd cmd_invite = {
	.name = "invite",
	.fn = invite,
	.usage = "invite [--listen ADDR:PORT | --connect HOST:PORT] [--ttl DURATION] [--grant ROLES]\n"
		 "       [--for NAME] [--expect-sas SAS | --sas-from FILE]",
	.description = "Print a short code and admit the machine that joins with it",
	.help = PAIRING_HELP_INVITE PAIRING_HELP_SAS "\n"
		"Only an admin of the mesh invites. The code is good for one machine, for\n"
		"--ttl, and dies after 3 wrong attempts; it lives only in this process.\n"
		"The command serves the pairing ceremony in the foreground until a machine\n"
		"has joined, then signs its admission (assigning the next free address),\n"
		"has the sequencer accept it, and pushes the new ledger to every member.\n\n"
		"--for NAME brings back a live member whose keys are lost (a reinstalled\n"
		"machine): only a joiner named NAME is taken, and instead of an admission\n"
		"a reinstate entry gives NAME the joiner's keys at NAME's address, with\n"
		"its roles; the old keys are refused everywhere from then on.\n",
};
