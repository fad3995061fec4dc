/* One descriptor per subcommand, dispatched by main.c (the wg.c table). A
 * command's fn returns the process exit status: 0 success, 1 failure (one
 * line on stderr says why), 2 usage error. */
#pragma once
#include <stdint.h>

#include "os-infrastructure/format.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define PROG_NAME "os-infrastructure"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Global options, given before the subcommand. */
struct cli {
	const char *state_dir;
	const char *socket;     /* the local Unix socket */
	const char *fleet;      /* HOST:PORT; when set, TCP with signed requests */
	const char *trust_file;
};

struct cmd {
	const char *name;
	/* argv[0] is the command's name; getopt must be reset (optind = 0). */
	int (*fn)(const struct cli *cli, int argc, char *argv[]);
	const char *usage;       /* the synopsis after "Usage: os-infrastructure " */
	const char *description; /* one line for the command list */
	const char *help;        /* options and details for --help, or NULL */
};

extern const struct cmd cmd_status, cmd_place, cmd_events, cmd_node, cmd_keygen, cmd_trust, cmd_vm,
	cmd_image;
extern const struct cmd cmd_genesis, cmd_join, cmd_invite, cmd_mesh;
extern const struct cmd cmd_fleet;

/* Helpers for commands (main.c). */
int cmd_help(const struct cmd *c);
int cmd_usage_error(const struct cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* For getopt_long's '?' and ':' (the optstring starts with ':'). */
int cmd_bad_option(const struct cmd *c, int opt, char *argv[]);
int cmd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cmd_parse_format(const struct cmd *c, const char *text, enum format *fmt);
/* A decimal integer in [min, max]; -EINVAL otherwise. */
int parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out);
/* The wait between two looks at something the fleet follows: 100 ms over
 * the local socket, 500 ms over the mesh. */
void cmd_follow_tick(const struct cli *cli);
/* Flushes stdout and turns a render result into an exit status. */
int cmd_output(int render_ret);
