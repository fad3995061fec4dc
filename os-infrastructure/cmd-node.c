#include <getopt.h>
#include <string.h>

#include "client.h"
#include "cmd.h"
#include "render.h"

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
	if (nargs == 1)
		return show(cli, argv[0], fmt);
	return cmd_usage_error(&cmd_node, nargs ? "too many arguments" : "which node?");
}

const struct cmd cmd_node = {
	.name = "node",
	.fn = node,
	.usage = "node [--format table|json|yaml|csv] [show] NAME\n"
		 "       " PROG_NAME " node hold-override",
	.description = "Show one node in detail, or release held evictions",
	.help = "  --format F     table (default), json, yaml or csv\n\n"
		"hold-override evicts the nodes whose eviction the fleet is holding (it\n"
		"holds them when it suddenly hears from no one, being more likely cut off\n"
		"itself). 'show' is only needed for a node named show or hold-override.\n",
};
