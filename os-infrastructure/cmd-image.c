/* image: base images in this node's libvirt storage pool. Imports are for
 * air-gapped hosts (a file carried in); fetch downloads a published image and
 * checks it against its SHA256SUMS. Every image's SHA-256 is recorded and
 * checked again before a guest is built on it. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "os-infrastructure/cmd.h"
#include "virt/virt.h"

struct image_args {
	struct virt_config cfg;
	const char *name, *sha256;
	enum format fmt;
	bool help;
};

static int parse(int argc, char *argv[], struct image_args *a)
{
	static const struct option opts[] = {
		{ "uri", required_argument, NULL, 'u' }, { "pool-dir", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' }, { "sha256", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	int c;

	a->cfg.uri = "qemu:///system";
	optind = 0;
	while ((c = getopt_long(argc, argv, ":u:p:n:s:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': a->cfg.uri = optarg; break;
		case 'p': a->cfg.pool_dir = optarg; break;
		case 'n': a->name = optarg; break;
		case 's': a->sha256 = optarg; break;
		case 'f':
			if (cmd_parse_format(&cmd_image, optarg, &a->fmt))
				return EXIT_USAGE;
			break;
		case 'h': a->help = true; break;
		default: return cmd_bad_option(&cmd_image, c, argv);
		}
	}
	return 0;
}

static json_t *image_json(const struct virt_image *im)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:s}", "name", im->name,
			 "volume", im->volume, "format", im->format, "bytes", (json_int_t)im->bytes,
			 "virtual_bytes", (json_int_t)im->virtual_bytes, "sha256", im->sha256,
			 "imported", (json_int_t)im->imported, "source", im->source);
}

static int list(struct virt_host *h, enum format fmt)
{
	static const struct column cols[] = {
		{ .title = "NAME", .key = "name" }, { .title = "FORMAT", .key = "format" },
		{ .title = "SIZE", .key = "bytes", .right = true }, { .title = "SHA256", .key = "sha256" },
		{ .title = "SOURCE", .key = "source" },
	};
	static const char *const keys[] = { "name", "volume", "format", "bytes", "virtual_bytes",
					    "sha256", "imported", "source" };
	struct virt_image *ims = NULL;
	json_t *rows = json_array();
	size_t n = 0;
	int ret = virt_image_list(h, &ims, &n);

	if (ret < 0) {
		json_decref(rows);
		return cmd_fail("%s", h->err);
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(rows, image_json(&ims[i]));
	free(ims);
	if (fmt == FORMAT_JSON)
		ret = format_json(stdout, rows);
	else if (fmt == FORMAT_YAML)
		ret = format_yaml(stdout, rows);
	else if (fmt == FORMAT_CSV)
		ret = format_csv(stdout, rows, keys, ARRAY_SIZE(keys), true);
	else if (!n)
		ret = puts("No base images: use 'image import FILE --name NAME' or 'image fetch'.") < 0;
	else
		ret = format_table(stdout, rows, cols, ARRAY_SIZE(cols));
	json_decref(rows);
	return cmd_output(ret);
}

static int run(struct virt_host *h, const char *sub, int nargs, char **args, const struct image_args *a)
{
	struct virt_image im;
	int ret;

	if (!strcmp(sub, "list") && nargs == 0)
		return list(h, a->fmt);
	if (!strcmp(sub, "import") && nargs == 1 && a->name)
		ret = virt_image_import(h, args[0], a->name, a->sha256, &im);
	else if (!strcmp(sub, "fetch") && nargs == 1)
		ret = virt_image_fetch(h, args[0], &im);
	else if (!strcmp(sub, "verify") && nargs == 1)
		return virt_image_verify(h, args[0]) < 0 ? cmd_fail("%s", h->err)
			: (printf("%s: checksum matches the record\n", args[0]), cmd_output(0));
	else
		return cmd_usage_error(&cmd_image, "image import FILE --name NAME | fetch NAME | list | verify NAME");
	if (ret < 0)
		return cmd_fail("%s", h->err);
	printf("%s: %s, %llu bytes, sha256 %s\n", im.name, im.format, (unsigned long long)im.bytes,
	       im.sha256);
	return cmd_output(0);
}

static int image(const struct cli *cli, int argc, char *argv[])
{
	struct image_args a = { .fmt = FORMAT_TABLE };
	struct virt_host h;
	const char *sub;
	int ret = parse(argc, argv, &a);

	if (ret)
		return ret;
	if (a.help)
		return cmd_help(&cmd_image);
	/* getopt moved the operands to the end: the subcommand, then its arguments. */
	if (optind >= argc)
		return cmd_usage_error(&cmd_image, "which image command?");
	sub = argv[optind];
	if (virt_host_open(&h, &a.cfg) < 0)
		return cmd_fail("%s", h.err);
	ret = virt_pool_ensure(&h) < 0 ? cmd_fail("%s", h.err)
				       : run(&h, sub, argc - optind - 1, argv + optind + 1, &a);
	virt_host_close(&h);
	return ret;
}

const struct cmd cmd_image = {
	.name = "image",
	.fn = image,
	.usage = "image [--uri U] [--pool-dir D] import FILE --name NAME [--sha256 HEX]\n"
		 "       " PROG_NAME " image fetch ubuntu-24.04 | list [--format F] | verify NAME",
	.description = "Base images in this node's storage pool: import, fetch, list, verify",
	.help = "  --uri U        libvirt URI (default qemu:///system)\n"
		"  --pool-dir D   the pool's directory (default " "/var/lib/os-infrastructure/images)\n"
		"  --sha256 HEX   refuse an import whose checksum differs\n\n"
		"import streams a file into the pool and records its SHA-256, for hosts\n"
		"without internet. fetch downloads a published image and checks it\n"
		"against its SHA256SUMS; offline it says so. Guests are built only on\n"
		"images whose checksum still matches the record.\n",
};
