/* vm move NAME --to NODE [--yes] [--no-wait]: a cold move, planned by the
 * fleet and confirmed by the operator like a creation; the CLI then follows
 * the move's phases and the transfer's progress (vm-move-show) to its end.
 * vm release-source NAME: removes the copy a move kept on its source.
 * vm move-show NAME: the guest's recorded move, if any, in one line. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "os-infrastructure/cmd.h"
#include "os-infrastructure/client.h"
#include "os-infrastructure/cmd-vm-move.h"
#include "lib/units.h"

struct move_args {
	const char *to;
	bool yes, wait;
};

static int parse(int argc, char *argv[], struct move_args *a, const char *usage)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' }, { "yes", no_argument, NULL, 'y' },
		{ "no-wait", no_argument, NULL, 'W' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	int c;

	a->wait = true;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":t:yh", opts, NULL)) != -1) {
		switch (c) {
		case 't': a->to = optarg; break;
		case 'y': a->yes = true; break;
		case 'W': a->wait = false; break;
		case 'h': return cmd_help(&cmd_vm);
		default: return cmd_bad_option(&cmd_vm, c, argv);
		}
	}
	return argc - optind == 1 ? 0 : cmd_usage_error(&cmd_vm, "%s", usage);
}

static int call(const struct cli *cli, json_t *req, json_t **reply)
{
	int ret = req ? fleet_request(cli, req, reply) : cmd_fail("out of memory");

	json_decref(req);
	return ret;
}

/* y/N from the terminal itself, so a pipe on stdin cannot confirm. */
static bool ask(void)
{
	char line[16] = "";
	FILE *tty = fopen("/dev/tty", "r+");

	if (!tty)
		return false;
	fputs("Move this guest? [y/N] ", tty);
	fflush(tty);
	if (!fgets(line, sizeof(line), tty))
		line[0] = '\0';
	fclose(tty);
	return line[0] == 'y' || line[0] == 'Y';
}

/* The data volumes' size and the target's room, from a fleet that says
 * (an older one does not: nothing is printed). */
static void show_room(const json_t *p)
{
	const json_t *bytes = json_object_get(p, "data_bytes");
	const char *room = json_string_value(json_object_get(p, "room"));
	char size[32];

	if (!room)
		return;
	if (json_is_integer(bytes)) {
		format_size((uint64_t)json_integer_value(bytes), size, sizeof(size));
		printf("  Data volumes: %lld, %s in all (as %s last reported them).\n",
		       (long long)json_integer_value(json_object_get(p, "data_volumes")), size,
		       json_string_value(json_object_get(p, "source")));
	} else {
		printf("  Data volumes: their size is not known.\n");
	}
	printf("  Room: %s.\n", room);
}

static void show_plan(const json_t *p)
{
	char size[32];

	format_size((uint64_t)json_integer_value(json_object_get(p, "memory_bytes")), size, sizeof(size));
	printf("Move %s (%s, %s, %lld vCPU) from %s to %s, offline:\n"
	       "  it is shut down cleanly on %s, its volumes sent over the mesh and verified\n"
	       "  (SHA-256), then defined and started on %s; %s's copy stays, undefined,\n"
	       "  until 'vm release-source %s'.\n  Volumes: %s.\n",
	       json_string_value(json_object_get(p, "name")), json_string_value(json_object_get(p, "type")),
	       size, (long long)json_integer_value(json_object_get(p, "vcpus")),
	       json_string_value(json_object_get(p, "source")), json_string_value(json_object_get(p, "target")),
	       json_string_value(json_object_get(p, "source")), json_string_value(json_object_get(p, "target")),
	       json_string_value(json_object_get(p, "source")), json_string_value(json_object_get(p, "name")),
	       json_string_value(json_object_get(p, "volumes")));
	show_room(p);
	fflush(stdout);
}

static void show_progress(const json_t *mv, char *last, size_t len)
{
	const char *phase = json_string_value(json_object_get(mv, "phase"));
	const char *detail = json_string_value(json_object_get(mv, "detail"));
	uint64_t bytes = (uint64_t)json_integer_value(json_object_get(mv, "bytes"));
	uint64_t total = (uint64_t)json_integer_value(json_object_get(mv, "total"));
	char line[400], a[32], b[32];

	if (total && !strcmp(phase, "transfer")) {
		format_size(bytes, a, sizeof(a));
		format_size(total, b, sizeof(b));
		snprintf(line, sizeof(line), "%s: %s of %s — %s", phase, a, b, detail ? detail : "");
	} else {
		snprintf(line, sizeof(line), "%s%s%s", phase, detail && detail[0] ? " — " : "",
			 detail ? detail : "");
	}
	if (strcmp(line, last)) {
		printf("%s\n", line);
		fflush(stdout);
		snprintf(last, len, "%s", line);
	}
}

/* Until the move is kept (done) or forgotten (undone: the guest's detail
 * says why). */
static int follow(const struct cli *cli, const char *name, const char *target, bool release)
{
	char last[400] = "";

	for (;;) {
		json_t *r, *g = NULL;
		const json_t *mv;
		int ret = call(cli, json_pack("{s:s, s:s}", "op", "vm-move-show", "name", name), &r);

		if (ret)
			return ret;
		mv = json_object_get(r, "move");
		if (json_is_object(mv) && !release)
			show_progress(mv, last, sizeof(last));
		if (json_is_object(mv) && !release && !strcmp(json_string_value(json_object_get(mv, "phase")), "kept")) {
			printf("%s moved to %s and runs there.\n", name, target);
			json_decref(r);
			return cmd_output(0);
		}
		if (!json_is_object(mv)) {
			json_decref(r);
			if (release) {
				printf("The copy of %s kept on its source is removed.\n", name);
				return cmd_output(0);
			}
			ret = call(cli, json_pack("{s:s, s:s}", "op", "vm-show", "name", name), &g);
			if (ret)
				return ret;
			ret = cmd_fail("%s", json_string_value(json_object_get(json_object_get(g, "guest"),
									     "detail")));
			json_decref(g);
			return ret;
		}
		if (release && json_is_object(mv)) { /* a failed release says so in the detail */
			const char *d = json_string_value(json_object_get(mv, "detail"));

			if (!last[0])
				snprintf(last, sizeof(last), "%s", d ? d : "");
			else if (d && strcmp(d, last)) {
				ret = cmd_fail("the release failed: %s", d);
				json_decref(r);
				return ret;
			}
		}
		json_decref(r);
		cmd_follow_tick(cli);
	}
}

int vm_move(const struct cli *cli, int argc, char *argv[])
{
	struct move_args a = { 0 };
	char token[80], target[80];
	const char *how;
	json_t *r;
	int ret = parse(argc, argv, &a, "vm move NAME --to NODE [--yes] [--no-wait]");

	if (ret)
		return ret;
	if (!a.to)
		return cmd_usage_error(&cmd_vm, "vm move needs --to NODE (the node you name)");
	ret = call(cli, json_pack("{s:s, s:s, s:s}", "op", "vm-move", "name", argv[optind], "to", a.to), &r);
	if (ret)
		return ret;
	show_plan(json_object_get(r, "plan"));
	snprintf(token, sizeof(token), "%s",
		 json_string_value(json_object_get(json_object_get(r, "plan"), "token")));
	snprintf(target, sizeof(target), "%s", a.to);
	json_decref(r);
	if (!a.yes && !ask()) {
		call(cli, json_pack("{s:s, s:s}", "op", "vm-move-cancel", "token", token), &r);
		json_decref(r);
		return cmd_fail("not confirmed: nothing moved%s",
				isatty(STDIN_FILENO) ? "" : " (no terminal to ask: pass --yes to confirm)");
	}
	how = a.yes ? "cli-yes" : "cli-interactive";
	ret = call(cli, json_pack("{s:s, s:s, s:s}", "op", "vm-move-confirm", "token", token, "how", how), &r);
	if (ret)
		return ret;
	json_decref(r);
	printf("Confirmed (%s); the fleet is moving %s to %s.\n", how, argv[optind], target);
	return a.wait ? follow(cli, argv[optind], target, false) : cmd_output(0);
}

int vm_release_source(const struct cli *cli, int argc, char *argv[])
{
	struct move_args a = { 0 };
	json_t *r;
	int ret = parse(argc, argv, &a, "vm release-source NAME [--no-wait]");

	if (ret || (ret = call(cli, json_pack("{s:s, s:s}", "op", "vm-release-source", "name",
					      argv[optind]), &r)))
		return ret;
	printf("Releasing the copy of %s kept on %s.\n", argv[optind],
	       json_string_value(json_object_get(json_object_get(r, "move"), "source")));
	json_decref(r);
	return a.wait ? follow(cli, argv[optind], NULL, true) : cmd_output(0);
}

int vm_move_show(const struct cli *cli, int argc, char *argv[])
{
	const json_t *mv;
	json_t *r;
	char last[400] = "";
	int ret;

	if (argc != 2)
		return cmd_usage_error(&cmd_vm, "vm move-show NAME");
	if ((ret = call(cli, json_pack("{s:s, s:s}", "op", "vm-move-show", "name", argv[1]), &r)))
		return ret;
	mv = json_object_get(r, "move");
	if (!json_is_object(mv)) {
		printf("%s: no move recorded\n", argv[1]);
	} else {
		printf("move of %s from %s to %s: ", argv[1], json_string_value(json_object_get(mv, "source")),
		       json_string_value(json_object_get(mv, "target")));
		show_progress(mv, last, sizeof(last));
	}
	json_decref(r);
	return cmd_output(0);
}
