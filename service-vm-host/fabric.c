#include "service-vm-host/fabric.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/fileio.h"
#include "lib/firewall.h"
#include "lib/guest-net.h"
#include "lib/guest-policy.h"
#include "lib/ledger.h"
#include "lib/log.h"
#include "lib/mesh.h"
#include "lib/textbuf.h"
#include "service-vm-host/helper-req.h"

#define HELPER_TIMEOUT_S 60
#define POLICY_MAX (1u << 20)
#define MANIFEST_MAX (256u * 1024)

struct fabric_node {
	uv_loop_t *loop;
	const struct host_config *cfg;
	uv_work_t work;
	bool busy, stopping;
	struct fabric doing, next;  /* applied by the worker; waiting for it */
	bool have_next;
};

/* ---- the names file ---- */

bool fabric_guest_placed(const struct fabric_guest *g, const struct guest_net *net,
			 const struct ledger *l)
{
	const struct ledger_member *m = l ? guest_net_owner(net, l, g->addr) : NULL;

	return m && !strcmp(m->name, g->node);
}

int fabric_names_text(const struct fabric *f, const struct guest_net *net,
		      const struct ledger *l, char **out, size_t *len)
{
	const struct ledger_member *m = NULL;
	size_t nm = 0, cap;
	struct textbuf o = { 0 };
	char addr[16];

	if (l && ledger_members(l, &m, &nm) < 0)
		nm = 0;
	cap = (f->nguests + nm) * (16 + NAMES_FQDN_MAX + 2) + 1;
	o.p = malloc(cap);
	o.cap = cap;
	if (!o.p)
		return -ENOMEM;
	o.p[0] = '\0';
	for (size_t i = 0; i < f->nguests; i++) {
		if (!fabric_guest_placed(&f->guests[i], net, l))
			continue;
		ledger_addr_format(f->guests[i].addr, addr);
		textbuf_add(&o, "%s %s.%s\n", addr, f->guests[i].name, f->zone);
	}
	/* a guest named like a member keeps the name */
	for (size_t i = 0; i < nm; i++) {
		if (m[i].revoked || fabric_find(f, m[i].name))
			continue;
		ledger_addr_format(m[i].addr, addr);
		textbuf_add(&o, "%s %s.%s\n", addr, m[i].name, f->zone);
	}
	if (o.err) {
		free(o.p);
		return -ENOSPC;
	}
	*out = o.p;
	*len = o.len;
	return 0;
}

/* ---- the helper's node verbs ---- */

/* One request, then its lines until an end state; the helper's own
 * failure text is logged. Blocking: runs on the worker thread. */
static int ask_helper(const struct host_config *cfg, const char *verb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = HELPER_TIMEOUT_S };
	struct helper_req req;
	char line[2048];
	ssize_t n;
	int fd, ret = -EIO;

	if (helper_req_build(&req, guest_op_find(verb), NULL, NULL, 0, 0) < 0 ||
	    strlen(cfg->virt_socket) >= sizeof(sa.sun_path))
		return -EINVAL;
	strcpy(sa.sun_path, cfg->virt_socket);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req)) {
		ret = -errno;
		log_warn("fabric: cannot ask the helper at %s for %s: %s", cfg->virt_socket, verb,
			 strerror(-ret));
		goto cleanup;
	}
	while ((n = recv(fd, line, sizeof(line) - 1, 0)) > 0) {
		json_t *m = json_loadb(line, (size_t)n, 0, NULL);
		const char *st = json_string_value(json_object_get(m, "state"));

		if (st && !strcmp(st, verb))
			ret = 0;
		else if (st && !strcmp(st, "failed"))
			log_warn("fabric: the helper's %s: %s", verb,
				 json_string_value(json_object_get(m, "detail")) ?: "failed");
		json_decref(m);
		if (st && (ret == 0 || !strcmp(st, "failed")))
			break;
	}
	if (n < 0)
		log_warn("fabric: no answer from the helper's %s: %s", verb, strerror(errno));
cleanup:
	close(fd);
	return ret;
}

/* ---- the policy ---- */

/* Each type's manifest "ports"; a manifest without them serves nothing, an
 * unreadable or bad one is logged and serves nothing. */
static size_t load_services(const struct host_config *cfg, struct guest_service *sv)
{
	size_t n = 0;

	for (unsigned t = 0; t < GUEST_TYPE_COUNT; t++) {
		char path[PATH_MAX + 64], err[256], *text = NULL;
		json_t *m = NULL, *ports;
		size_t len;

		sv[n] = (struct guest_service){ .type = t };
		snprintf(path, sizeof(path), "%s/%s", cfg->images_dir, guest_type_at(t)->manifest);
		if (read_file(path, MANIFEST_MAX, &text, &len) == 0)
			m = json_loadb(text, len, 0, NULL);
		ports = json_object_get(m, "ports");
		if (!m)
			log_warn("fabric: %s unreadable; %s guests serve nothing", path,
				 guest_type_at(t)->name);
		else if (ports && guest_ports_parse(ports, sv[n].ports, &sv[n].nports, err,
						    sizeof(err)) < 0)
			log_warn("fabric: %s: %s", path, err);
		n += sv[n].nports > 0;
		json_decref(m);
		free(text);
	}
	return n;
}

struct view {
	struct guest_net net;
	uint32_t own_subnet;
	uint32_t *members;
	size_t nmembers;
};

static int ledger_view(const struct host_config *cfg, struct ledger *l, struct view *v)
{
	const struct ledger_member *m;
	char err[256];
	size_t n;
	int ret = mesh_ledger_load(cfg->state_dir, l, err, sizeof(err));

	if (ret == 0)
		ret = guest_net_from_ledger(&v->net, l, err, sizeof(err));
	if (ret == 0)
		ret = ledger_members(l, &m, &n);
	if (ret < 0) {
		log_warn("fabric: no usable ledger: %s", err);
		return ret;
	}
	v->members = calloc(n + 1, sizeof(*v->members));
	if (!v->members)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (m[i].revoked)
			continue;
		v->members[v->nmembers++] = m[i].addr;
		if (!strcmp(m[i].name, cfg->name) &&
		    guest_net_subnet(&v->net, m[i].addr, &v->own_subnet, err, sizeof(err)) < 0)
			v->own_subnet = 0;
	}
	return 0;
}

static int apply_policy(const struct host_config *cfg, const struct fabric *f,
			const struct view *v, const struct ledger *l)
{
	struct guest_service sv[GUEST_TYPE_COUNT];
	struct guest_policy_guest *g = calloc(f->nguests + 1, sizeof(*g));
	struct fw_published *p = calloc(f->npubs + 1, sizeof(*p));
	struct guest_policy_spec s = { .net = &v->net, .bridge = GUEST_POLICY_BRIDGE,
				       .own_subnet = v->own_subnet, .services = sv,
				       .members = v->members, .nmembers = v->nmembers, .guests = g };
	char *text = malloc(POLICY_MAX), err[256] = "";
	size_t np = 0;
	int ret = -ENOMEM;

	if (!g || !p || !text)
		goto cleanup;
	s.nservices = load_services(cfg, sv);
	for (size_t i = 0; i < f->nguests; i++) {
		if (!fabric_guest_placed(&f->guests[i], &v->net, l))
			continue;
		strcpy(g[s.nguests].name, f->guests[i].name);
		g[s.nguests].type = f->guests[i].type;
		g[s.nguests++].addr = f->guests[i].addr;
	}
	for (size_t i = 0; i < f->npubs; i++) {
		const struct fabric_guest *fg = fabric_find(f, f->pubs[i].guest);

		if (fg && !strcmp(fg->node, cfg->name))
			p[np++] = (struct fw_published){ fg->addr, f->pubs[i].port,
							 f->pubs[i].host_port,
							 f->pubs[i].proto == GUEST_PROTO_UDP };
	}
	ret = guest_policy_render(&s, text, POLICY_MAX, err, sizeof(err));
	if (ret == 0)
		ret = fw_apply_fabric(text, GUEST_POLICY_BRIDGE, p, np, err, sizeof(err));
	if (ret < 0)
		log_warn("fabric: policy not applied: %s", err);
	else
		log_info("fabric: policy applied (%zu guests, %zu published here)", s.nguests, np);
cleanup:
	free(g);
	free(p);
	free(text);
	return ret;
}

static int write_names(const struct host_config *cfg, const struct fabric *f,
		       const struct view *v, const struct ledger *l)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	int ret = fabric_names_text(f, &v->net, l, &text, &len);

	if (ret == 0)
		ret = mesh_path(cfg->state_dir, FABRIC_NAMES_FILE, path);
	if (ret == 0)
		ret = atomic_write_file(path, text, len, 0640);
	if (ret < 0)
		log_warn("fabric: cannot write the names file: %s", strerror(-ret));
	free(text);
	return ret;
}

/* The whole apply; blocking, on the worker thread. */
static void apply(const struct host_config *cfg, const struct fabric *f)
{
	struct view v = { 0 };
	struct ledger l;

	ledger_init(&l);
	if (ledger_view(cfg, &l, &v) < 0)
		goto cleanup;
	if (write_names(cfg, f, &v, &l) == 0) {
		ask_helper(cfg, "fabric");
		ask_helper(cfg, "names");
	}
	apply_policy(cfg, f, &v, &l);
cleanup:
	free(v.members);
	ledger_free(&l);
}

/* ---- the worker ---- */

static void on_work(uv_work_t *w)
{
	struct fabric_node *n = w->data;

	apply(n->cfg, &n->doing);
}

static void start_next(struct fabric_node *n);

static void after_work(uv_work_t *w, int status)
{
	struct fabric_node *n = w->data;

	(void)status;
	n->busy = false;
	fabric_free(&n->doing);
	if (n->stopping) {
		fabric_free(&n->next);
		free(n);
		return;
	}
	start_next(n);
}

static void start_next(struct fabric_node *n)
{
	if (n->busy || !n->have_next)
		return;
	n->doing = n->next;
	memset(&n->next, 0, sizeof(n->next));
	n->have_next = false;
	n->work.data = n;
	if (uv_queue_work(n->loop, &n->work, on_work, after_work) == 0)
		n->busy = true;
	else
		fabric_free(&n->doing);
}

static void queue(struct fabric_node *n, struct fabric *f)
{
	fabric_free(&n->next);
	n->next = *f;
	memset(f, 0, sizeof(*f));
	n->have_next = true;
	start_next(n);
}

int fabric_node_push(struct fabric_node *n, struct fabric *f, char *err, size_t errlen)
{
	json_t *o = fabric_to_json(f);
	char path[PATH_MAX], *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int ret = text ? mesh_path(n->cfg->state_dir, FABRIC_FILE, path) : -ENOMEM;

	if (ret == 0)
		ret = atomic_write_file(path, text, strlen(text), 0600);
	if (ret < 0)
		snprintf(err, errlen, "cannot store the fabric table: %s", strerror(-ret));
	else
		queue(n, f);
	free(text);
	json_decref(o);
	return ret;
}

int fabric_node_start(uv_loop_t *loop, const struct host_config *cfg, struct fabric_node **out)
{
	struct fabric_node *n = calloc(1, sizeof(*n));
	char path[PATH_MAX], err[256], *text = NULL;
	struct fabric f;
	size_t len;
	int ret;

	*out = NULL;
	if (!n)
		return -ENOMEM;
	n->loop = loop;
	n->cfg = cfg;
	*out = n;
	if (mesh_path(cfg->state_dir, FABRIC_FILE, path) < 0 ||
	    read_file(path, FABRIC_FILE_MAX, &text, &len) < 0)
		return 0;
	ret = fabric_parse(text, len, &f, err, sizeof(err));
	free(text);
	if (ret < 0) {
		log_warn("%s ignored: %s", path, err);
		return 0;
	}
	log_info("fabric: applying the cached table (%zu guests)", f.nguests);
	queue(n, &f);
	return 0;
}

/* A worker under way finishes first (after_work frees n). */
void fabric_node_stop(struct fabric_node *n)
{
	if (!n)
		return;
	n->stopping = true;
	fabric_free(&n->next);
	n->have_next = false;
	if (!n->busy)
		free(n);
}
