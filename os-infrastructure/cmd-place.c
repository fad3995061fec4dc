#include <getopt.h>
#include <string.h>

#include "os-infrastructure/client.h"
#include "os-infrastructure/cmd.h"
#include "os-infrastructure/render.h"
#include "lib/guest-types.h"
#include "lib/units.h"

#define VCPUS_MAX 1024

struct place_args {
	uint64_t memory, vcpus;
	const struct guest_type *type;
	const char *node, *guest;
	bool reserve;
	enum format fmt;
};

static int parse_args(int argc, char *argv[], struct place_args *a)
{
	static const struct option opts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "vcpus", required_argument, NULL, 'c' },
		{ "type", required_argument, NULL, 't' },
		{ "node", required_argument, NULL, 'n' },
		{ "reserve", no_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'g' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_size(optarg, &a->memory) < 0 || !a->memory)
				return cmd_usage_error(&cmd_place, "--memory wants a size like 2G, not '%s'", optarg);
			break;
		case 'c':
			if (parse_u64(optarg, 1, VCPUS_MAX, &a->vcpus) < 0)
				return cmd_usage_error(&cmd_place, "--vcpus wants 1..%d, not '%s'", VCPUS_MAX, optarg);
			break;
		case 't':
			a->type = guest_type_find(optarg);
			if (!a->type)
				return cmd_usage_error(&cmd_place, "unknown guest type '%s'", optarg);
			break;
		case 'n': a->node = optarg; break;
		case 'r': a->reserve = true; break;
		case 'g': a->guest = optarg; break;
		case 'f':
			if (cmd_parse_format(&cmd_place, optarg, &a->fmt))
				return EXIT_USAGE;
			break;
		case 'h':
			cmd_help(&cmd_place);
			return -1; /* done, successfully */
		default: return cmd_bad_option(&cmd_place, c, argv);
		}
	}
	if (optind < argc)
		return cmd_usage_error(&cmd_place, "unexpected argument '%s'", argv[optind]);
	if (a->reserve != !!a->guest)
		return cmd_usage_error(&cmd_place, "--reserve and --name GUEST go together");
	/* The fleet records what kind of guest a reservation is for. */
	if (a->reserve && !a->type)
		return cmd_usage_error(&cmd_place, "--reserve needs --type TYPE (%s)", guest_type_names());
	if (!a->memory && !a->type)
		return cmd_usage_error(&cmd_place, "--memory SIZE or --type TYPE is required "
				       "(a type brings its default size)");
	if (!a->memory)
		a->memory = a->type->memory_bytes;
	if (!a->vcpus)
		a->vcpus = a->type ? a->type->vcpus : 1;
	if (a->reserve && a->type && a->type->named_node_only && !a->node)
		return cmd_usage_error(&cmd_place, "a %s goes only on a node you name: add --node NAME",
				       a->type->name);
	return 0;
}

static json_t *build_request(const struct place_args *a)
{
	json_t *req = json_pack("{s:s, s:I, s:I}", "op", "place",
				"memory_bytes", (json_int_t)a->memory, "vcpus", (json_int_t)a->vcpus);

	if (req && a->type && json_object_set_new(req, "type", json_string(a->type->name)))
		goto fail;
	if (req && a->node && json_object_set_new(req, "node", json_string(a->node)))
		goto fail;
	if (req && a->reserve && (json_object_set_new(req, "commit", json_true()) ||
				  json_object_set_new(req, "guest_name", json_string(a->guest))))
		goto fail;
	return req;
fail:
	json_decref(req);
	return NULL;
}

static int place(const struct cli *cli, int argc, char *argv[])
{
	struct place_args a = { .fmt = FORMAT_TABLE }; /* vcpus 0: the type's, else 1 */
	json_t *req = NULL, *reply = NULL;
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret)
		return ret < 0 ? EXIT_OK : ret;
	if (a.memory > INT64_MAX)
		return cmd_usage_error(&cmd_place, "--memory is too large");
	req = build_request(&a);
	ret = fleet_request(cli, req, &reply);
	if (!ret)
		ret = cmd_output(render_place(stdout, reply, a.fmt));
	if (!ret && a.reserve && !json_is_integer(json_object_get(reply, "placement_id")))
		ret = cmd_fail("nothing reserved: no node fits");
	json_decref(reply);
	json_decref(req);
	return ret;
}

const struct cmd cmd_place = {
	.name = "place",
	.fn = place,
	.usage = "place (--memory SIZE | --type TYPE) [--vcpus N] [--node NAME]\n"
		 "                         [--reserve --type TYPE --name GUEST] [--format table|json|yaml|csv]",
	.description = "Ask the fleet which node should take a new guest",
	.help = "  --memory SIZE  the guest's memory: 512M, 2G, 1.5G (default: the type's)\n"
		"  --vcpus N      virtual CPUs (default: the type's, else 1)\n"
		"  --type TYPE    totebox, mediakit, orchestration or privategit; required\n"
		"                 with --reserve, and enough alone: its default size\n"
		"  --node NAME    the node you want (a totebox is reserved only this way)\n"
		"  --reserve      record the placement (the suggestion, or --node) so the\n"
		"                 next request counts its memory as taken; needs --type\n"
		"  --name GUEST   the guest's name, with --reserve\n"
		"  --format F     table (default), json, yaml or csv\n\n"
		"Without --reserve this is a dry run and the answer is advisory. \"No node\n"
		"fits\" is an answer: exit status 0, or 1 with --reserve (nothing reserved).\n",
};
