#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "os-infrastructure/cmd.h"
#include "lib/trust.h"

/* Serializes editors: the file itself is replaced by rename, so the lock is
 * on its directory. Returns the fd to close, or -errno. */
static int lock_dir(const char *path)
{
	char copy[PATH_MAX];
	int fd;

	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return -ENAMETOOLONG;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* A missing file is an empty set. */
static int load(const char *path, struct trust_set *set)
{
	char err[256];
	int ret;

	memset(set, 0, sizeof(*set));
	ret = trust_load(path, set, err, sizeof(err));
	if (ret == -ENOENT)
		return 0;
	if (ret == -EBADMSG)
		return cmd_fail("%s: %s", path, err);
	if (ret < 0)
		return cmd_fail("cannot read %s: %s", path, strerror(-ret));
	return 0;
}

static int save(const char *path, const struct trust_set *set)
{
	int ret = trust_save(path, set);

	return ret < 0 ? cmd_fail("cannot write %s: %s", path, strerror(-ret)) : 0;
}

static bool one_word(const char *s)
{
	return *s && !strpbrk(s, " \t\r\n#");
}

/* The positional form is joined into a line so that one parser checks both. */
static int entry_from_args(int n, char *args[], const char *line, struct trust_set *one)
{
	char buf[512], err[256];

	if (!line && n != 4)
		return cmd_usage_error(&cmd_trust, "add wants NAME ROLES ED25519HEX X25519HEX or --line");
	if (line && n)
		return cmd_usage_error(&cmd_trust, "give either --line or the four fields, not both");
	for (int i = 0; !line && i < n; i++) {
		if (!one_word(args[i]))
			return cmd_usage_error(&cmd_trust, "'%s' is not a single word", args[i]);
	}
	if (!line) {
		snprintf(buf, sizeof(buf), "%s %s %s %s", args[0], args[1], args[2], args[3]);
		line = buf;
	}
	if (strpbrk(line, "\r\n"))
		return cmd_usage_error(&cmd_trust, "--line takes one line");
	if (trust_parse(line, one, err, sizeof(err)) < 0)
		return cmd_usage_error(&cmd_trust, "not a trust line: %s", err);
	if (one->count != 1) {
		trust_free(one);
		return cmd_usage_error(&cmd_trust, "not a trust line: it holds no member");
	}
	return 0;
}

static int add(const struct cli *cli, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "line", required_argument, NULL, 'l' },
		{ 0 }
	};
	struct trust_set one = { 0 }, set = { 0 };
	const char *line = NULL;
	char roles[64];
	int c, fd, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c != 'l')
			return cmd_bad_option(&cmd_trust, c, argv);
		line = optarg;
	}
	ret = entry_from_args(argc - optind, argv + optind, line, &one);
	if (ret)
		return ret;
	fd = lock_dir(cli->trust_file);
	if (fd < 0) {
		ret = cmd_fail("cannot lock %s: %s", cli->trust_file, strerror(-fd));
		goto cleanup;
	}
	ret = load(cli->trust_file, &set);
	if (ret)
		goto cleanup;
	if (trust_add(&set, &one.entries[0]) == -EEXIST) {
		ret = cmd_fail("'%s' is already in %s; 'trust remove %s' first to replace it",
			       one.entries[0].name, cli->trust_file, one.entries[0].name);
		goto cleanup;
	}
	ret = save(cli->trust_file, &set);
	if (ret)
		goto cleanup;
	trust_roles_format(one.entries[0].roles, roles, sizeof(roles));
	printf("Trusted '%s' (%s) in %s.\n", one.entries[0].name, roles, cli->trust_file);
	ret = cmd_output(0);
cleanup:
	if (fd >= 0)
		close(fd);
	trust_free(&set);
	trust_free(&one);
	return ret;
}

static int remove_member(const struct cli *cli, int argc, char *argv[])
{
	struct trust_set set = { 0 };
	int fd, ret;

	if (argc != 2)
		return cmd_usage_error(&cmd_trust, "remove wants one NAME");
	fd = lock_dir(cli->trust_file);
	if (fd < 0)
		return cmd_fail("cannot lock %s: %s", cli->trust_file, strerror(-fd));
	ret = load(cli->trust_file, &set);
	if (!ret && trust_remove(&set, argv[1]) == -ENOENT)
		ret = cmd_fail("'%s' is not in %s", argv[1], cli->trust_file);
	if (!ret)
		ret = save(cli->trust_file, &set);
	if (!ret) {
		printf("Removed '%s' from %s.\n", argv[1], cli->trust_file);
		ret = cmd_output(0);
	}
	close(fd);
	trust_free(&set);
	return ret;
}

static json_t *entry_json(const struct trust_entry *e)
{
	char ed[SIGN_PK_BYTES * 2 + 1], x[KX_PK_BYTES * 2 + 1], roles[64];

	sodium_bin2hex(ed, sizeof(ed), e->sign_pk, sizeof(e->sign_pk));
	sodium_bin2hex(x, sizeof(x), e->kx_pk, sizeof(e->kx_pk));
	trust_roles_format(e->roles, roles, sizeof(roles));
	return json_pack("{s:s, s:s, s:s, s:s}", "name", e->name, "roles", roles,
			 "ed25519", ed, "x25519", x);
}

static int render(const json_t *rows, const char *path, enum format fmt)
{
	static const struct column cols[] = {
		{ .title = "NAME", .key = "name" },
		{ .title = "ROLES", .key = "roles" },
		{ .title = "ED25519", .key = "ed25519" },
		{ .title = "X25519", .key = "x25519" },
	};
	static const char *const keys[] = { "name", "roles", "ed25519", "x25519" };
	json_t *body;
	int ret;

	if (fmt == FORMAT_CSV)
		return format_csv(stdout, rows, keys, ARRAY_SIZE(keys), true);
	if (fmt == FORMAT_TABLE && !json_array_size(rows)) {
		printf("No one is trusted in %s.\n", path);
		return 0;
	}
	if (fmt == FORMAT_TABLE)
		return format_table(stdout, rows, cols, ARRAY_SIZE(cols));
	body = json_pack("{s:O}", "trust", rows);
	if (!body)
		return -ENOMEM;
	ret = fmt == FORMAT_JSON ? format_json(stdout, body) : format_yaml(stdout, body);
	json_decref(body);
	return ret;
}

static int list(const struct cli *cli, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ 0 }
	};
	enum format fmt = FORMAT_TABLE;
	struct trust_set set;
	json_t *rows = NULL;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c != 'f')
			return cmd_bad_option(&cmd_trust, c, argv);
		if (cmd_parse_format(&cmd_trust, optarg, &fmt))
			return EXIT_USAGE;
	}
	if (optind < argc)
		return cmd_usage_error(&cmd_trust, "unexpected argument '%s'", argv[optind]);
	ret = load(cli->trust_file, &set);
	if (ret)
		return ret;
	rows = json_array();
	for (size_t i = 0; rows && i < set.count; i++) {
		if (json_array_append_new(rows, entry_json(&set.entries[i]))) {
			json_decref(rows);
			rows = NULL;
		}
	}
	ret = rows ? cmd_output(render(rows, cli->trust_file, fmt)) : cmd_fail("out of memory");
	json_decref(rows);
	trust_free(&set);
	return ret;
}

static int trust(const struct cli *cli, int argc, char *argv[])
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (!strcmp(sub, "--help") || !strcmp(sub, "-h"))
		return cmd_help(&cmd_trust);
	if (!strcmp(sub, "add"))
		return add(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "list"))
		return list(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "remove"))
		return remove_member(cli, argc - 1, argv + 1);
	if (*sub)
		return cmd_usage_error(&cmd_trust, "unknown subcommand '%s'", sub);
	return cmd_usage_error(&cmd_trust, "add, list or remove?");
}

const struct cmd cmd_trust = {
	.name = "trust",
	.fn = trust,
	.usage = "trust add NAME ROLES ED25519HEX X25519HEX\n"
		 "       " PROG_NAME " trust add --line \"NAME ROLES ED25519HEX X25519HEX\"\n"
		 "       " PROG_NAME " trust list [--format table|json|yaml|csv]\n"
		 "       " PROG_NAME " trust remove NAME",
	.description = "Edit the trust file: which nodes the fleet and its clients trust",
	.help = "ROLES is node, fleet or admin, comma-separated. 'keygen' prints the line\n"
		"for a node. Changes replace the file atomically (global --trust-file,\n"
		"default STATE-DIR/trust); a name already present must be removed first.\n",
};
