#include "lib/mesh.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/fileio.h"

int mesh_path(const char *state_dir, const char *file, char path[PATH_MAX])
{
	int n = snprintf(path, PATH_MAX, "%s/%s", state_dir, file);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

bool mesh_has_ledger(const char *state_dir)
{
	char path[PATH_MAX];

	return !mesh_path(state_dir, MESH_LEDGER_FILE, path) && access(path, F_OK) == 0;
}

int mesh_ledger_lock(const char *state_dir)
{
	char path[PATH_MAX];
	int fd, ret;

	ret = mesh_path(state_dir, MESH_LEDGER_LOCK, path);
	if (ret < 0)
		return ret;
	/* An existing lock opened without O_CREAT: in the sticky state directory
	 * fs.protected_regular=2 refuses O_CREAT on another user's file, root too. */
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

void mesh_ledger_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int mesh_ledger_load(const char *state_dir, struct ledger *l, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int ret = mesh_path(state_dir, MESH_LEDGER_FILE, path);

	return ret < 0 ? ret : ledger_load(path, l, err, errlen);
}

int mesh_ledger_save(const char *state_dir, const struct ledger *l)
{
	char path[PATH_MAX];
	int ret = mesh_path(state_dir, MESH_LEDGER_FILE, path);

	return ret < 0 ? ret : ledger_save(path, l);
}

/* ---- trust ---- */

int mesh_trust_from_ledger(const struct ledger *l, struct trust_set *out)
{
	const unsigned trust_roles = TRUST_ROLE_NODE | TRUST_ROLE_FLEET | TRUST_ROLE_ADMIN;
	const struct ledger_member *m;
	struct trust_set set = { 0 };
	size_t n;
	int ret;

	_Static_assert((unsigned)LEDGER_ROLE_NODE == TRUST_ROLE_NODE &&
		       (unsigned)LEDGER_ROLE_FLEET == TRUST_ROLE_FLEET &&
		       (unsigned)LEDGER_ROLE_ADMIN == TRUST_ROLE_ADMIN, "role bits");
	ret = ledger_members(l, &m, &n);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n && ret == 0; i++) {
		struct trust_entry e = { .roles = m[i].roles & trust_roles };

		if (m[i].revoked || !e.roles)
			continue;
		memcpy(e.name, m[i].name, sizeof(e.name));
		memcpy(e.sign_pk, m[i].sign_pk, sizeof(e.sign_pk));
		memcpy(e.kx_pk, m[i].kx_pk, sizeof(e.kx_pk));
		ret = trust_add(&set, &e);
	}
	if (ret < 0) {
		trust_free(&set);
		return ret;
	}
	*out = set;
	return 0;
}

int mesh_trust_load(const char *state_dir, const char *trust_file, struct trust_set *out,
		    char *source, size_t sourcelen, char *err, size_t errlen)
{
	struct ledger l;
	char path[PATH_MAX];
	int ret;

	ret = mesh_path(state_dir, MESH_LEDGER_FILE, path);
	if (ret < 0)
		return ret;
	if (access(path, F_OK) < 0) {
		snprintf(source, sourcelen, "%s", trust_file);
		return trust_load(trust_file, out, err, errlen);
	}
	snprintf(source, sourcelen, "ledger %s", path);
	ledger_init(&l);
	ret = ledger_load(path, &l, err, errlen);
	if (ret == 0)
		ret = mesh_trust_from_ledger(&l, out);
	else if (ret == -ENOENT)
		ret = -EIO; /* it was there a moment ago: never fall back silently */
	ledger_free(&l);
	return ret;
}

/* ---- mesh.conf ---- */

#define KEY(n, t, f, d, doc) { n, t, offsetof(struct mesh_conf, f), \
	sizeof(((struct mesh_conf *)0)->f), d, doc }
static const struct config_key conf_keys[] = {
	KEY("interface", CFG_STRING, interface, MESH_DEFAULT_IFNAME, "WireGuard interface"),
	KEY("listen_port", CFG_UINT, listen_port, "51820", "WireGuard UDP port"),
};
#define NCONF (sizeof(conf_keys) / sizeof(conf_keys[0]))

int mesh_conf_load(const char *state_dir, struct mesh_conf *c, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int ret;

	ret = mesh_path(state_dir, MESH_CONF_FILE, path);
	if (ret == 0)
		ret = config_defaults(conf_keys, NCONF, c, err, errlen);
	if (ret == 0)
		ret = config_load(conf_keys, NCONF, c, path, 1, err, errlen);
	if (ret == 0 && (!c->interface[0] || c->listen_port > 65535)) {
		snprintf(err, errlen, "%s: bad interface or listen_port", path);
		ret = -EINVAL;
	}
	return ret;
}

int mesh_conf_save(const char *state_dir, const struct mesh_conf *c)
{
	char path[PATH_MAX], text[128];
	int ret, n;

	ret = mesh_path(state_dir, MESH_CONF_FILE, path);
	if (ret < 0)
		return ret;
	n = snprintf(text, sizeof(text), "interface = %s\nlisten_port = %llu\n", c->interface,
		     (unsigned long long)c->listen_port);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -ENOBUFS;
	return atomic_write_file(path, text, (size_t)n, 0644);
}

/* ---- peers ---- */

static bool live(const struct ledger_member *m)
{
	return !m->revoked;
}

static const struct ledger_member *find_relay(const struct ledger_member *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (live(&m[i]) && (m[i].roles & LEDGER_ROLE_RELAY) && m[i].endpoint[0])
			return &m[i];
	return NULL;
}

static int add_allowed(struct mesh_peer *p, uint32_t addr)
{
	uint32_t *a = realloc(p->allowed, (p->nallowed + 1) * sizeof(*a));

	if (!a)
		return -ENOMEM;
	a[p->nallowed++] = addr;
	p->allowed = a;
	return 0;
}

/* 0 when m has no guest subnet (no layout, or past its capacity). */
static uint32_t guest_subnet(const struct mesh_plan *plan, const struct ledger_member *m)
{
	uint32_t subnet;

	if (!plan->has_guest || guest_net_subnet(&plan->guest, m->addr, &subnet, NULL, 0) < 0)
		return 0;
	return subnet;
}

/* m's /32 and guest subnet, to the peer that carries them. */
static int add_member(struct mesh_plan *plan, struct mesh_peer *p, const struct ledger_member *m)
{
	uint32_t subnet = guest_subnet(plan, m), *g;
	int ret = add_allowed(p, m->addr);

	if (ret < 0 || !subnet)
		return ret;
	g = realloc(p->guests, (p->nguests + 1) * sizeof(*g));
	if (!g)
		return -ENOMEM;
	g[p->nguests++] = subnet;
	p->guests = g;
	return 0;
}

static int add_direct(struct mesh_plan *plan, const struct ledger_member *m)
{
	struct mesh_peer *p = &plan->peers[plan->count];

	memset(p, 0, sizeof(*p));
	memcpy(p->name, m->name, sizeof(p->name));
	memcpy(p->wg_pk, m->wg_pk, sizeof(p->wg_pk));
	memcpy(p->endpoint, m->endpoint, sizeof(p->endpoint));
	p->keepalive = plan->self->endpoint[0] ? 0 : MESH_KEEPALIVE_S;
	plan->count++;
	return add_member(plan, p, m);
}

static struct mesh_peer *find_by_name(struct mesh_plan *plan, const char *name)
{
	for (size_t i = 0; i < plan->count; i++)
		if (!strcmp(plan->peers[i].name, name))
			return &plan->peers[i];
	return NULL;
}

static int fill_plan(struct mesh_plan *plan, const struct ledger_member *m, size_t n,
		     const struct ledger_member *relay)
{
	const struct ledger_member *self = plan->self;
	struct mesh_peer *via;
	int ret = 0;

	for (size_t i = 0; i < n && ret == 0; i++)
		if (live(&m[i]) && &m[i] != self && (m[i].endpoint[0] || self->endpoint[0]))
			ret = add_direct(plan, &m[i]);
	for (size_t i = 0; i < n && ret == 0; i++) {
		if (!live(&m[i]) || &m[i] == self || m[i].endpoint[0] || self->endpoint[0])
			continue;
		via = relay ? find_by_name(plan, relay->name) : NULL;
		if (via)
			ret = add_member(plan, via, &m[i]);
		else
			plan->unreachable++;
	}
	return ret;
}

int mesh_plan(const struct ledger *l, const char *self, struct mesh_plan *out)
{
	const struct ledger_member *m, *relay;
	size_t n;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = ledger_members(l, &m, &n);
	if (ret < 0)
		return ret;
	out->prefix_addr = l->entries[0].prefix_addr;
	out->prefix_len = l->entries[0].prefix_len;
	for (size_t i = 0; i < n; i++)
		if (live(&m[i]) && !strcmp(m[i].name, self))
			out->self = &m[i];
	if (!out->self)
		return 0;
	relay = find_relay(m, n);
	if (relay) {
		memcpy(out->relay_name, relay->name, sizeof(out->relay_name));
		out->relay = relay == out->self;
	}
	out->peers = calloc(n, sizeof(*out->peers));
	out->members = calloc(n, sizeof(*out->members));
	if (!out->peers || !out->members) {
		mesh_plan_free(out);
		return -ENOMEM;
	}
	out->has_guest = guest_net_from_ledger(&out->guest, l, NULL, 0) == 0;
	out->guest_subnet = guest_subnet(out, out->self);
	for (size_t i = 0; i < n; i++) {
		if (!live(&m[i]))
			continue;
		out->members[out->nmembers++] = m[i].addr;
		out->no_guest_subnet += out->has_guest && !guest_subnet(out, &m[i]);
	}
	ret = fill_plan(out, m, n, relay);
	if (ret < 0)
		mesh_plan_free(out);
	return ret;
}

const struct mesh_peer *mesh_plan_find(const struct mesh_plan *p, const uint8_t *wg_pk)
{
	for (size_t i = 0; i < p->count; i++)
		if (!memcmp(p->peers[i].wg_pk, wg_pk, LEDGER_WG_KEY_BYTES))
			return &p->peers[i];
	return NULL;
}

void mesh_plan_free(struct mesh_plan *p)
{
	for (size_t i = 0; p->peers && i < p->count; i++) {
		free(p->peers[i].allowed);
		free(p->peers[i].guests);
	}
	free(p->peers);
	free(p->members);
	memset(p, 0, sizeof(*p));
}

int mesh_fleet_address(const struct ledger *l, char *buf, size_t len)
{
	const struct ledger_member *m;
	char addr[16];
	size_t n;
	int ret = ledger_members(l, &m, &n);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		if (m[i].revoked || !(m[i].roles & LEDGER_ROLE_FLEET))
			continue;
		ledger_addr_format(m[i].addr, addr);
		ret = snprintf(buf, len, "%s:%d", addr, MESH_HEARTBEAT_PORT);
		return ret < 0 || (size_t)ret >= len ? -ENOBUFS : 0;
	}
	return -ENOENT;
}
