#include <getopt.h>

#include "os-infrastructure/client.h"
#include "os-infrastructure/cmd.h"
#include "os-infrastructure/render.h"

static int status(const struct cli *cli, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	enum format fmt = FORMAT_TABLE;
	json_t *req, *reply;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
		if (c == 'h')
			return cmd_help(&cmd_status);
		if (c != 'f')
			return cmd_bad_option(&cmd_status, c, argv);
		if (cmd_parse_format(&cmd_status, optarg, &fmt))
			return EXIT_USAGE;
	}
	if (optind < argc)
		return cmd_usage_error(&cmd_status, "unexpected argument '%s'", argv[optind]);
	req = json_pack("{s:s}", "op", "status");
	ret = fleet_request(cli, req, &reply);
	if (!ret)
		ret = cmd_output(render_status(stdout, reply, fmt));
	json_decref(reply);
	json_decref(req);
	return ret;
}

const struct cmd cmd_status = {
	.name = "status",
	.fn = status,
	.usage = "status [--format table|json|yaml|csv]",
	.description = "Show every node the fleet knows: state, last heartbeat, CPU, RAM, guests",
	.help = "  --format F     table (default), json, yaml or csv\n",
};
