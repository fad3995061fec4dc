/* service-vm-host-virt: the agent's privileged half. It takes one verb with
 * fixed arguments on its command line, checks each again, does the libvirt
 * work through os-infrastructure/virt.h, and reports on stdout one JSON line
 * per step: {"state":S,"detail":S?,"accel":S?}. The network-facing agent
 * never touches libvirt itself (the ntpd/bgpd split).
 *
 *   service-vm-host-virt [OPTIONS] create NAME TYPE MEMORY_BYTES VCPUS
 *   service-vm-host-virt [OPTIONS] start|stop|destroy NAME
 *
 *   --uri U --images DIR --pool-dir DIR --console-dir DIR --net none|user|network:N
 *   --base IMAGE --owner NAME
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/guest-ops.h"
#include "lib/guest-types.h"
#include "virt/virt.h"

struct opts {
	struct virt_config cfg;
	const char *images, *net, *base, *owner;
};

static void report(const char *state, const char *detail, const char *accel)
{
	json_t *m = json_pack("{s:s, s:s?, s:s?}", "state", state, "detail", detail, "accel", accel);
	char *line = m ? json_dumps(m, JSON_COMPACT) : NULL;

	if (line)
		printf("%s\n", line);
	fflush(stdout);
	free(line);
	json_decref(m);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	char msg[VIRT_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report("failed", msg, NULL);
	return 1;
}

static int on_step(enum virt_step step, const char *guest, void *opaque)
{
	/* The fleet's states: volumes, seed and definition are "defining". */
	if (step == VIRT_STEP_VOLUMES)
		report("defining", "volumes and NoCloud seed", NULL);
	else if (step == VIRT_STEP_BOOT)
		report("booting", NULL, NULL);
	return 0;
}

static int parse_net(const char *text, struct virt_spec *s)
{
	if (!text || !strcmp(text, "none"))
		s->net = VIRT_NET_NONE;
	else if (!strcmp(text, "user"))
		s->net = VIRT_NET_USER;
	else if (!strncmp(text, "network:", 8) && strlen(text + 8) < sizeof(s->net_source))
		s->net = VIRT_NET_NETWORK, strcpy(s->net_source, text + 8);
	else if (!strncmp(text, "bridge:", 7) && strlen(text + 7) < sizeof(s->net_source))
		s->net = VIRT_NET_BRIDGE, strcpy(s->net_source, text + 7);
	else
		return -EINVAL;
	return 0;
}

static int create(struct virt_host *h, const struct opts *o, char **argv)
{
	const struct guest_type *t = guest_type_find(argv[1]);
	enum virt_guest_type vt;
	struct virt_manifest m;
	struct virt_guest g;
	struct virt_spec s;
	char *user_data = NULL, *end;
	uint64_t mem = strtoull(argv[2], &end, 10);
	unsigned long cpus = strtoul(argv[3], NULL, 10);
	int ret;

	if (!t || virt_type_parse(argv[1], &vt) < 0 || *end || !guest_size_valid(mem, cpus))
		return fail("bad create arguments for '%s'", argv[0]);
	ret = virt_manifest_load(o->images, vt, &m, &user_data, h->err, sizeof(h->err));
	if (ret < 0)
		return fail("%s", h->err);
	virt_spec_from_manifest(&s, &m, argv[0], o->owner);
	s.memory_bytes = mem;
	s.vcpus = (unsigned)cpus;
	s.user_data = user_data;
	s.start = true;
	if (o->base)
		snprintf(s.base, sizeof(s.base), "%s", o->base);
	if (parse_net(o->net, &s) < 0) {
		free(user_data);
		return fail("unknown guest network '%s'", o->net);
	}
	ret = virt_pool_ensure(h);
	if (ret == 0)
		ret = virt_guest_create(h, &s, &g);
	free(user_data);
	if (ret < 0)
		return fail("%s", h->err);
	report("running", g.existed ? "already defined with this spec" : NULL, g.kvm ? "kvm" : "tcg");
	return 0;
}

static int act(struct virt_host *h, const struct guest_op_def *op, const char *name)
{
	unsigned kept = 0;
	char detail[96] = "";
	int ret;

	switch (op->op) {
	case GOP_START: ret = virt_guest_start(h, name); break;
	case GOP_STOP: ret = virt_guest_stop(h, name, false); break;
	case GOP_DESTROY: ret = virt_guest_destroy(h, name, &kept); break;
	default: return fail("the helper does not do '%s'", op->verb);
	}
	if (ret < 0)
		return fail("%s", h->err);
	if (kept)
		snprintf(detail, sizeof(detail), "%u data volume%s kept; deleting one is a separate step",
			 kept, kept == 1 ? "" : "s");
	report(op->done_state, kept ? detail : NULL, NULL);
	return 0;
}

/* Only the dispatched verbs reach the helper, each with its own count of
 * arguments; a verb the table does not know, or refuses, never gets here. */
static const struct guest_op_def *helper_op(const char *verb, int nargs)
{
	const struct guest_op_def *op = guest_op_find(verb);

	if (!op || !op->dispatched || op->refusal || nargs < 0 || (unsigned)nargs != op->helper_args)
		return NULL;
	return op;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "uri", 1, NULL, 'u' }, { "images", 1, NULL, 'i' }, { "pool-dir", 1, NULL, 'p' },
		{ "console-dir", 1, NULL, 'c' }, { "net", 1, NULL, 'n' }, { "base", 1, NULL, 'b' },
		{ "owner", 1, NULL, 'o' }, { 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'u': o->cfg.uri = optarg; break;
		case 'i': o->images = optarg; break;
		case 'p': o->cfg.pool_dir = optarg; break;
		case 'c': o->cfg.console_dir = optarg; break;
		case 'n': o->net = optarg; break;
		case 'b': o->base = optarg[0] ? optarg : NULL; break;
		case 'o': o->owner = optarg; break;
		default: return -EINVAL;
		}
	}
	return o->images ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	struct opts o = { .owner = "os-infrastructure" };
	const struct guest_op_def *op;
	struct virt_host h;
	const char *verb;
	int nargs, ret;

	if (parse(argc, argv, &o) < 0 || optind >= argc)
		return fail("usage: %s [options] create|start|stop|destroy NAME ...", "service-vm-host-virt");
	verb = argv[optind];
	nargs = argc - optind - 1;
	if (nargs < 1 || !guest_name_valid(argv[optind + 1]))
		return fail("a guest name of a-z, 0-9 and '-' is required");
	op = helper_op(verb, nargs);
	if (!op)
		return fail("unknown verb or wrong arguments: '%s'", verb);
	if (virt_host_open(&h, &o.cfg) < 0)
		return fail("%s", h.err);
	h.ops.progress = on_step;
	ret = op->op == GOP_CREATE ? create(&h, &o, argv + optind + 1) : act(&h, op, argv[optind + 1]);
	virt_host_close(&h);
	return ret;
}
