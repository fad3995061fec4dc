/* virt-tool: drives the provisioning library for tests/integration/virt-tcg.sh
 * (the operator CLI is elsewhere). One command per run; machine-friendly
 * output; exit 0 on success, 1 with libvirt's reason on stderr otherwise.
 *
 *   virt-tool [--uri U] [--pool-dir D] [--index F] [--consoles D] [--fetch-url U] COMMAND
 *     image-import FILE NAME | image-list | image-verify NAME | image-fetch NAME
 *     create --type T --name N [--images DIR] [--base B] [--memory SIZE]
 *            [--vcpus N] [--net none|user|network:NAME] [--owner O]
 *            [--no-start] [--fail-at seed-upload|STEP]
 *     show N | list | start N | stop [--force] N | destroy N
 *     data-delete N DISK REASON | volumes | domains
 *
 * --fail-at seed-upload sends half of the seed through the real stream and
 * then fails; --fail-at STEP (volumes, seed, defining, booting, running)
 * stops as that step begins. Either must leave nothing behind. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/units.h"
#include "virt/virt.h"

struct tool {
	struct virt_host h;
	const char *fail_at;
	uint64_t sent, limit;
	virt_read_fn real_read;
	void *real_ctx;
	/* the library's own stream upload, wrapped */
	int (*real_upload)(virStorageVolPtr, uint64_t, virt_read_fn, void *, void *, char *, size_t);
};

static int usage(void)
{
	fprintf(stderr, "usage: virt-tool [--uri U] [--pool-dir D] [--index F] [--consoles D] [--seal-key FILE] COMMAND ...\n");
	return 2;
}

static int fail(struct tool *t, const char *what)
{
	fprintf(stderr, "virt-tool: %s: %s\n", what, t->h.err[0] ? t->h.err : "failed");
	return 1;
}

static ssize_t failing_read(void *ctx, void *buf, size_t len)
{
	struct tool *t = ctx;
	ssize_t n;

	if (t->sent >= t->limit)
		return -EIO;
	if (len > t->limit - t->sent)
		len = (size_t)(t->limit - t->sent);
	n = t->real_read(t->real_ctx, buf, len);
	if (n > 0)
		t->sent += (uint64_t)n;
	return n;
}

static int upload(virStorageVolPtr vol, uint64_t len, virt_read_fn source, void *rctx,
		  void *opaque, char *err, size_t errlen)
{
	struct tool *t = opaque;
	const char *name = virStorageVolGetName(vol);
	size_t n = strlen(name);

	if (!t->fail_at || strcmp(t->fail_at, "seed-upload") || n < 9 || strcmp(name + n - 9, ".seed.iso"))
		return t->real_upload(vol, len, source, rctx, NULL, err, errlen);
	t->real_read = source;
	t->real_ctx = rctx;
	t->sent = 0;
	t->limit = len / 2;
	fprintf(stderr, "virt-tool: failing the upload of %s after %" PRIu64 " of %" PRIu64 " bytes\n",
		name, t->limit, len);
	return t->real_upload(vol, len, failing_read, t, NULL, err, errlen);
}

static int progress(enum virt_step step, const char *guest, void *opaque)
{
	struct tool *t = opaque;

	fprintf(stderr, "virt-tool: %s: %s\n", guest, virt_step_name(step));
	if (t->fail_at && !strcmp(t->fail_at, virt_step_name(step)))
		return -ECANCELED;
	return 0;
}

static void print_guest(const struct virt_guest *g)
{
	printf("name=%s type=%s owner=%s instance-id=%s state=%s accel=%s autostart=%d vcpus=%u "
	       "memory=%" PRIu64 " base=%s existed=%d data=", g->name, virt_type_name(g->type), g->owner,
	       g->instance_id, virt_state_name(g->state), g->kvm ? "kvm" : "tcg", g->autostart, g->vcpus,
	       g->memory_bytes, g->base, g->existed);
	for (unsigned i = 0; i < g->ndata; i++)
		printf("%s%s", i ? "," : "", g->data[i]);
	if (g->address[0])
		printf(" address=%s", g->address);
	printf("\n");
}

static int parse_net(const char *text, struct virt_spec *s)
{
	if (!strcmp(text, "none"))
		s->net = VIRT_NET_NONE;
	else if (!strcmp(text, "user"))
		s->net = VIRT_NET_USER;
	else if (!strncmp(text, "network:", 8) && text[8])
		s->net = VIRT_NET_NETWORK, snprintf(s->net_source, sizeof(s->net_source), "%s", text + 8);
	else
		return -EINVAL;
	return 0;
}

static int cmd_create(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' }, { "name", required_argument, NULL, 'n' },
		{ "images", required_argument, NULL, 'i' }, { "base", required_argument, NULL, 'b' },
		{ "memory", required_argument, NULL, 'm' }, { "vcpus", required_argument, NULL, 'c' },
		{ "net", required_argument, NULL, 'N' }, { "owner", required_argument, NULL, 'o' },
		{ "no-start", no_argument, NULL, 'S' }, { "fail-at", required_argument, NULL, 'F' },
		{ 0 }
	};
	const char *type = NULL, *name = NULL, *images = "images", *base = NULL, *owner = "virt-tool";
	const char *memory = NULL, *net = "none", *vcpus = NULL;
	struct virt_manifest m;
	struct virt_spec s;
	struct virt_guest g;
	enum virt_guest_type ty;
	char err[512], *ud = NULL;
	bool start = true;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': type = optarg; break;
		case 'n': name = optarg; break;
		case 'i': images = optarg; break;
		case 'b': base = optarg; break;
		case 'm': memory = optarg; break;
		case 'c': vcpus = optarg; break;
		case 'N': net = optarg; break;
		case 'o': owner = optarg; break;
		case 'S': start = false; break;
		case 'F': t->fail_at = optarg; break;
		default: return usage();
		}
	}
	if (!type || !name || virt_type_parse(type, &ty) < 0)
		return usage();
	if (virt_manifest_load(images, ty, &m, &ud, err, sizeof(err)) < 0) {
		fprintf(stderr, "virt-tool: %s\n", err);
		return 1;
	}
	virt_spec_from_manifest(&s, &m, name, owner);
	s.user_data = ud;
	s.start = start;
	if (base)
		snprintf(s.base, sizeof(s.base), "%s", base);
	if (vcpus)
		s.vcpus = (unsigned)strtoul(vcpus, NULL, 10);
	if ((memory && parse_size(memory, &s.memory_bytes) < 0) || parse_net(net, &s) < 0) {
		free(ud);
		return usage();
	}
	ret = virt_guest_create(&t->h, &s, &g);
	free(ud);
	if (ret < 0)
		return fail(t, "create");
	print_guest(&g);
	return 0;
}

static int cmd_images(struct tool *t)
{
	struct virt_image *v;
	size_t n;

	if (virt_image_list(&t->h, &v, &n) < 0)
		return fail(t, "image-list");
	for (size_t i = 0; i < n; i++)
		printf("name=%s volume=%s format=%s bytes=%" PRIu64 " sha256=%s\n", v[i].name, v[i].volume,
		       v[i].format, v[i].bytes, v[i].sha256);
	free(v);
	return 0;
}

static int cmd_list(struct tool *t)
{
	struct virt_guest *g;
	size_t n;

	if (virt_guest_list(&t->h, &g, &n) < 0)
		return fail(t, "list");
	for (size_t i = 0; i < n; i++)
		print_guest(&g[i]);
	free(g);
	return 0;
}

static int cmd_refresh(struct tool *t)
{
	virStoragePoolPtr p = virStoragePoolLookupByName(t->h.conn, t->h.pool);
	int ret = p && virStoragePoolRefresh(p, 0) == 0 ? 0 : fail(t, "refresh");

	if (p)
		virStoragePoolFree(p);
	return ret;
}

static int cmd_volumes(struct tool *t)
{
	virStoragePoolPtr p = virStoragePoolLookupByName(t->h.conn, t->h.pool);
	virStorageVolPtr *vols = NULL;
	int n;

	if (!p)
		return 0; /* no pool, no volumes */
	n = virStoragePoolListAllVolumes(p, &vols, 0);
	virStoragePoolFree(p);
	if (n < 0)
		return fail(t, "volumes");
	for (int i = 0; i < n; i++) {
		printf("%s\n", virStorageVolGetName(vols[i]));
		virStorageVolFree(vols[i]);
	}
	free(vols);
	return 0;
}

static int cmd_domains(struct tool *t)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(t->h.conn, &doms, 0);

	if (n < 0)
		return fail(t, "domains");
	for (int i = 0; i < n; i++) {
		printf("%s\n", virDomainGetName(doms[i]));
		virDomainFree(doms[i]);
	}
	free(doms);
	return 0;
}

static int run(struct tool *t, int argc, char **argv)
{
	const char *cmd = argv[0];
	struct virt_guest g;
	struct virt_image im;
	unsigned kept;

	if (!strcmp(cmd, "create"))
		return cmd_create(t, argc, argv);
	if (!strcmp(cmd, "image-list") && argc == 1)
		return cmd_images(t);
	if (!strcmp(cmd, "list") && argc == 1)
		return cmd_list(t);
	if (!strcmp(cmd, "refresh") && argc == 1) /* files written into the pool directory */
		return cmd_refresh(t);
	if (!strcmp(cmd, "volumes") && argc == 1)
		return cmd_volumes(t);
	if (!strcmp(cmd, "domains") && argc == 1)
		return cmd_domains(t);
	if (!strcmp(cmd, "image-import") && argc == 3) {
		if (virt_image_import(&t->h, argv[1], argv[2], NULL, &im) < 0)
			return fail(t, "image-import");
		printf("name=%s format=%s bytes=%" PRIu64 " sha256=%s\n", im.name, im.format, im.bytes, im.sha256);
		return 0;
	}
	if (!strcmp(cmd, "image-verify") && argc == 2)
		return virt_image_verify(&t->h, argv[1]) < 0 ? fail(t, "image-verify") : 0;
	if (!strcmp(cmd, "image-fetch") && argc == 2)
		return virt_image_fetch(&t->h, argv[1], NULL) < 0 ? fail(t, "image-fetch") : 0;
	if (!strcmp(cmd, "show") && argc == 2) {
		if (virt_guest_get(&t->h, argv[1], &g) < 0)
			return fail(t, "show");
		print_guest(&g);
		return 0;
	}
	if (!strcmp(cmd, "start") && argc == 2)
		return virt_guest_start(&t->h, argv[1]) < 0 ? fail(t, "start") : 0;
	if (!strcmp(cmd, "stop") && argc == 2)
		return virt_guest_stop(&t->h, argv[1], false) < 0 ? fail(t, "stop") : 0;
	if (!strcmp(cmd, "stop") && argc == 3 && !strcmp(argv[1], "--force"))
		return virt_guest_stop(&t->h, argv[2], true) < 0 ? fail(t, "stop") : 0;
	if (!strcmp(cmd, "destroy") && argc == 2) {
		if (virt_guest_destroy(&t->h, argv[1], &kept) < 0)
			return fail(t, "destroy");
		printf("destroyed=%s kept=%u\n", argv[1], kept);
		return 0;
	}
	if (!strcmp(cmd, "data-delete") && argc == 4)
		return virt_data_delete(&t->h, argv[1], argv[2], argv[3]) < 0 ? fail(t, "data-delete") : 0;
	return usage();
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "uri", required_argument, NULL, 'u' }, { "pool-dir", required_argument, NULL, 'p' },
		{ "index", required_argument, NULL, 'x' }, { "consoles", required_argument, NULL, 'c' },
		{ "fetch-url", required_argument, NULL, 'f' }, { "seal-key", required_argument, NULL, 'k' }, { 0 }
	};
	struct virt_config cfg = { 0 };
	static struct tool t;
	int c, ret;

	log_init("virt-tool");
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'u': cfg.uri = optarg; break;
		case 'p': cfg.pool_dir = optarg; break;
		case 'x': cfg.image_manifest = optarg; break;
		case 'c': cfg.console_dir = optarg; break;
		case 'f': cfg.fetch_url = optarg; break;
		case 'k': cfg.seal_key = optarg; break; /* seals new volume keys to it */
		default: return usage();
		}
	}
	if (optind >= argc)
		return usage();
	if (virt_host_open(&t.h, &cfg) < 0) {
		fprintf(stderr, "virt-tool: %s\n", t.h.err);
		virt_host_close(&t.h);
		return 1;
	}
	t.real_upload = t.h.ops.upload;
	t.h.ops.upload = upload;
	t.h.ops.progress = progress;
	t.h.ops.opaque = &t;
	ret = run(&t, argc - optind, argv + optind);
	virt_host_close(&t.h);
	return ret;
}
