#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/auth.h"
#include "os-infrastructure/cmd.h"
#include "osi-config.h"
#include "os-infrastructure/panel.h"

static const struct cmd *const commands[] = {
	&cmd_status, &cmd_place, &cmd_events, &cmd_node, &cmd_vm, &cmd_image, &cmd_keygen, &cmd_trust, &cmd_panel,
	&cmd_genesis, &cmd_join, &cmd_invite, &cmd_mesh, &cmd_fleet,
};

static void show_usage(FILE *f)
{
	fputs("Usage: " PROG_NAME " [GLOBAL OPTIONS] COMMAND [ARGS]\n\n"
	      "Operate the fleet: see its nodes, ask where a guest fits, read its events,\n"
	      "and manage this node's identity and trust file.\n\nCommands:\n", f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->description);
	fputs("\nGlobal options (before COMMAND):\n"
	      "  --state-dir DIR    identity and trust file (default " OSI_STATE_DIR ")\n"
	      "  --socket PATH      the fleet's local socket (default " OSI_RUN_DIR "/fleet.sock)\n"
	      "  --fleet HOST:PORT  reach the fleet over TCP, signing with this node's identity\n"
	      "  --trust-file PATH  the trust file (default STATE-DIR/trust)\n"
	      "  --help, --version\n\n"
	      "'" PROG_NAME " COMMAND --help' describes a command.\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n", f);
}

int cmd_help(const struct cmd *c)
{
	printf("Usage: " PROG_NAME " %s\n\n%s.\n", c->usage, c->description);
	if (c->help)
		printf("\n%s", c->help);
	return EXIT_OK;
}

int cmd_usage_error(const struct cmd *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG_NAME " %s: ", c->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: " PROG_NAME " %s\n", c->usage);
	return EXIT_USAGE;
}

int cmd_bad_option(const struct cmd *c, int opt, char *argv[])
{
	if (opt == ':')
		return cmd_usage_error(c, "%s needs a value", argv[optind - 1]);
	if (optopt)
		return cmd_usage_error(c, "unknown option -%c", optopt);
	return cmd_usage_error(c, "unknown option %s", argv[optind - 1]);
}

int cmd_fail(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

int cmd_parse_format(const struct cmd *c, const char *text, enum format *fmt)
{
	if (format_parse(text, fmt) < 0)
		return cmd_usage_error(c, "unknown format '%s' (table, json, yaml or csv)", text);
	return 0;
}

int parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* On the fleet's own node a look is one request over its Unix socket, made
 * every 100 ms (a move's end was seen up to 0.5 s late); from another
 * member each is a signed connection over the mesh, made every 500 ms. */
void cmd_follow_tick(const struct cli *cli)
{
	bool local = !cli->fleet && access(cli->socket, F_OK) == 0;
	struct timespec tick = { 0, local ? 100000000 : 500000000 };

	nanosleep(&tick, NULL);
}

int cmd_output(int render_ret)
{
	if (fflush(stdout) || render_ret < 0)
		return cmd_fail("cannot write the output: %s",
				strerror(render_ret < 0 ? -render_ret : errno));
	return EXIT_OK;
}

/* "--genesis" and "--join[=CODE]" stand for their commands. */
static const struct cmd *top_level_form(const char *arg)
{
	if (!strcmp(arg, "--genesis"))
		return &cmd_genesis;
	if (!strcmp(arg, "--join") || !strncmp(arg, "--join=", 7))
		return &cmd_join;
	return NULL;
}

static const struct cmd *find_command(const char *name)
{
	if (top_level_form(name))
		return top_level_form(name);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	}
	return NULL;
}

static int global_options(int argc, char *argv[], struct cli *cli)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "fleet", required_argument, NULL, 'f' },
		{ "trust-file", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': cli->state_dir = optarg; break;
		case 's': cli->socket = optarg; break;
		case 'f': cli->fleet = optarg; break;
		case 't': cli->trust_file = optarg; break;
		case 'h': show_usage(stdout); return EXIT_OK;
		case 'V': puts(PROG_NAME " " OSI_VERSION); return EXIT_OK;
		default:
			if (top_level_form(argv[optind - 1])) {
				optind--;
				return -1;
			}
			fprintf(stderr, PROG_NAME ": %s %s\n", c == ':' ? "missing value for" :
				"unknown global option", argv[optind - 1]);
			show_usage(stderr);
			return EXIT_USAGE;
		}
	}
	return -1;
}

/* Installed under its own name (a symlink), the binary is the panel. */
static bool called_as_panel(const char *argv0)
{
	const char *base = strrchr(argv0, '/');

	return !strcmp(base ? base + 1 : argv0, PANEL_ALIAS);
}

int main(int argc, char *argv[])
{
	struct cli cli = { .state_dir = OSI_STATE_DIR, .socket = OSI_RUN_DIR "/fleet.sock" };
	static char trust_path[PATH_MAX];
	const struct cmd *cmd;
	bool alias = called_as_panel(argv[0]);
	int ret;

	ret = global_options(argc, argv, &cli);
	if (ret >= 0)
		return ret;
	if (!alias && (optind >= argc || !strcmp(argv[optind], "help"))) {
		show_usage(optind >= argc ? stderr : stdout);
		return optind >= argc ? EXIT_USAGE : EXIT_OK;
	}
	/* As the alias, what follows the global options is the panel's. */
	cmd = alias ? &cmd_panel : find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr, PROG_NAME ": unknown command '%s'\n", argv[optind]);
		show_usage(stderr);
		return EXIT_USAGE;
	}
	if (!cli.trust_file) {
		if ((size_t)snprintf(trust_path, sizeof(trust_path), "%s/trust", cli.state_dir) >=
		    sizeof(trust_path))
			return cmd_fail("state directory path too long");
		cli.trust_file = trust_path;
	}
	if (auth_init() < 0)
		return cmd_fail("libsodium failed to initialise");
	return cmd->fn(&cli, argc - optind + alias, argv + optind - alias);
}
