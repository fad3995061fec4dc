#include "service-vm-host/helper-move.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/identity.h"
#include "lib/log.h"
#include "lib/mesh.h"
#include "lib/trust.h"
#include "service-vm-host/helper-net.h"
#include "service-vm-host/move-checks.h"
#include "virt/virt-export.h"
#include "virt/virt-move.h"

#define QUIESCE_S 300
#define MOVES_DIR "moves"

static int fail(struct virt_host *h, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct virt_host *h, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->err, sizeof(h->err), fmt, ap);
	va_end(ap);
	return ret;
}

/* <state_dir>/moves/<what>.<name>, the directory made root's 0700 first. */
static int marker_path(struct virt_host *h, const struct host_config *c, const char *what,
		       const char *name, char path[PATH_MAX])
{
	char dir[PATH_MAX];
	struct stat st;

	if (snprintf(dir, sizeof(dir), "%s/%s", c->state_dir, MOVES_DIR) >= (int)sizeof(dir))
		return fail(h, -ENAMETOOLONG, "%s: path too long", c->state_dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(h, -errno, "%s: %s", dir, strerror(errno));
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077))
		return fail(h, -EPERM, "%s must be a directory of the helper's user, mode 0700", dir);
	if (snprintf(path, PATH_MAX, "%s/%s.%s", dir, what, name) >= PATH_MAX)
		return fail(h, -ENAMETOOLONG, "%s: path too long", dir);
	return 0;
}

static bool marked(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int mark(struct virt_host *h, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0 || fsync(fd) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return fail(h, -e, "%s: %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

/* The in-marker's lock: held by a move-in for as long as it imports, so an
 * abort that arrives meanwhile (the fleet lost the target, then heard it
 * again) is tried again later instead of removing volumes under it. -EBUSY
 * if held, else the locked descriptor. */
static int lock_marker(struct virt_host *h, const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return fail(h, -errno, "%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	close(fd);
	if (errno == EWOULDBLOCK)
		return fail(h, -EBUSY, "a move-in is still importing here (%s): the abort is tried "
			    "again once it ends", path);
	return fail(h, -errno, "%s: lock: %s", path, strerror(errno));
}

/* A move-in's marker, made and locked by this helper alone: -EBUSY while
 * another move-in of the guest holds it. The file is never unlinked before
 * it is locked, and a lock on an inode that left the path meanwhile (its
 * holder ended and removed it) is let go and taken again on the new one. */
static int mark_locked(struct virt_host *h, const char *path)
{
	for (int tries = 0; tries < 3; tries++) {
		int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		struct stat held, now;

		if (fd < 0)
			return fail(h, -errno, "%s: %s", path, strerror(errno));
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;

			close(fd);
			return e == EWOULDBLOCK ? fail(h, -EBUSY, "a move-in of this guest is still running "
						       "here (%s)", path) : fail(h, -e, "%s: lock: %s", path, strerror(e));
		}
		if (fstat(fd, &held) == 0 && lstat(path, &now) == 0 && held.st_ino == now.st_ino &&
		    held.st_dev == now.st_dev)
			return fsync(fd) == 0 ? fd : (close(fd), fail(h, -EIO, "%s: fsync", path));
		close(fd);
	}
	return fail(h, -EBUSY, "%s: the marker changes under this helper", path);
}

/* The target, a live member of this node's ledger, to seal volume keys to. */
static int recipient_of(struct virt_host *h, const struct host_config *c, const char *to,
			struct export_recipient *r)
{
	struct trust_set set = { 0 };
	const struct trust_entry *e;
	char source[PATH_MAX + 8], err[256];
	int ret = mesh_trust_load(c->state_dir, c->trust_file, &set, source, sizeof(source), err,
				  sizeof(err));

	if (ret < 0)
		return fail(h, -EPERM, "no ledger or trust file to find the target %s in", to);
	e = trust_find(&set, to);
	if (e) {
		snprintf(r->name, sizeof(r->name), "%s", e->name);
		memcpy(r->sign_pk, e->sign_pk, sizeof(r->sign_pk));
	}
	trust_free(&set);
	return e ? 0 : fail(h, -EPERM, "the target %s is not a live member of this node's %s", to,
			    source);
}

/* The cloud-config and mounts of the guest's type, as vm export takes them. */
static char *template_of(struct virt_host *h, const struct host_config *c, const char *name,
			 const char **mounts)
{
	static struct virt_manifest vm;
	struct virt_guest g;
	char *ud = NULL, err[256];

	if (virt_guest_get(h, name, &g) < 0 ||
	    virt_manifest_load(c->images_dir, g.type, &vm, &ud, err, sizeof(err)) < 0)
		return NULL;
	for (unsigned i = 0; i < g.ndata && i < VIRT_MAX_DATA_DISKS; i++)
		for (unsigned j = 0; j < vm.ndata; j++)
			if (!strcmp(vm.data[j].name, g.data[i]))
				mounts[i] = vm.data[j].mount;
	return ud;
}

/* The export's source: signed by this node, keys sealed to the target r. */
static int source_of(struct virt_host *h, const struct host_config *c, const char *name,
		     const struct export_recipient *r, struct identity *id, struct export_source *src)
{
	int ret = identity_load(c->state_dir, id);

	if (ret < 0)
		return fail(h, ret, "cannot load this node's identity to sign the move: %s",
			    strerror(-ret));
	memset(src, 0, sizeof(*src));
	src->user_data = template_of(h, c, name, src->mounts);
	src->signer = id;
	src->node = id->name;
	src->recipients = r;
	src->nrecipients = 1;
	return 0;
}

/* Described, then streamed into a pipe whose read end goes to ready first. */
static int export_to(struct virt_host *h, const struct host_config *c, const char *name,
		     const char *to, const struct move_out_sink *sink, uint64_t *bytes)
{
	struct export_source src;
	struct export_recipient r;
	struct export_manifest m;
	struct identity id;
	int p[2], ret = recipient_of(h, c, to, &r);

	if (ret < 0 || (ret = source_of(h, c, name, &r, &id, &src)) < 0)
		return ret;
	ret = virt_export_describe(h, name, &src, &m);
	if (ret == 0 && pipe2(p, O_CLOEXEC) < 0)
		ret = fail(h, -errno, "a pipe: %s", strerror(errno));
	if (ret == 0) {
		fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
		ret = sink->ready(p[0], export_archive_bound(&m), sink->ctx);
		close(p[0]);
		if (ret < 0)
			fail(h, ret, "cannot hand the export's stream over: %s", strerror(-ret));
		else
			ret = virt_export_stream(h, &src, p[1], &m, bytes);
		close(p[1]);
	}
	export_manifest_free(&m);
	free((char *)src.user_data);
	identity_wipe(&id);
	return ret;
}

int helper_move_out(struct virt_host *h, const struct host_config *c, const char *name,
		    const char *to, const struct move_out_sink *sink, uint64_t *bytes)
{
	char path[PATH_MAX], why[VIRT_ERR_MAX];
	int ret;

	if ((ret = marker_path(h, c, "out", name, path)) < 0)
		return ret;
	unlink(path); /* an earlier version's staging file, cut off */
	if ((ret = virt_move_quiesce(h, name, QUIESCE_S)) < 0)
		return ret;
	ret = export_to(h, c, name, to, sink, bytes);
	if (ret < 0) {
		snprintf(why, sizeof(why), "%s", h->err);
		virt_move_autostart(h, name, true);
		snprintf(h->err, sizeof(h->err), "%s", why);
	}
	return ret;
}

struct move_in_ctx {
	const struct host_config *c;
	const char *name;
	const struct move_spec *spec; /* what the fleet approved */
	move_verdict_fn verdict;
};

/* The signer must be a live member of this node's ledger (or trust file). */
static int trust_member(const struct export_sig *s, void *ctx, char *err, size_t errlen)
{
	const struct host_config *c = ((const struct move_in_ctx *)ctx)->c;
	struct trust_set set = { 0 };
	const struct trust_entry *e;
	char source[PATH_MAX + 8];
	int ret = mesh_trust_load(c->state_dir, c->trust_file, &set, source, sizeof(source), err,
				  errlen);

	if (ret < 0)
		return snprintf(err, errlen, "no ledger or trust file to check the source node"), -EPERM;
	e = trust_find(&set, s->signer);
	ret = e && sodium_memcmp(e->sign_pk, s->key, SIGN_PK_BYTES) == 0 ? 0 : -EPERM;
	if (ret < 0)
		snprintf(err, errlen, "signed by %s, not a live member of this node's %s", s->signer,
			 source);
	trust_free(&set);
	return ret;
}

static const char *const net_kinds[] = {
	[VIRT_NET_NONE] = "none", [VIRT_NET_NETWORK] = "network", [VIRT_NET_BRIDGE] = "bridge",
	[VIRT_NET_USER] = "user", [VIRT_NET_FABRIC] = "fabric",
};

int helper_move_fit(struct export_manifest *m, const struct host_config *c, char *err,
		    size_t errlen)
{
	struct virt_spec net = { 0 };
	struct virt_manifest t;
	enum virt_guest_type type;
	char *user_data = NULL;
	unsigned i, k;

	if (virt_type_parse(m->type, &type) < 0 ||
	    virt_manifest_load(c->images_dir, type, &t, &user_data, err, errlen) < 0)
		return -EBADMSG;
	free(user_data);
	if (m->disk_bytes > t.disk_bytes)
		return snprintf(err, errlen, "the archive's root disk (%llu bytes) is larger than a %s's "
				"(%llu)", (unsigned long long)m->disk_bytes, m->type,
				(unsigned long long)t.disk_bytes), -EBADMSG;
	for (i = 0; i < m->nvol; i++) {
		for (k = 0; k < t.ndata && strcmp(t.data[k].name, m->vol[i].disk); k++)
			;
		if (k == t.ndata || m->vol[i].capacity > t.data[k].bytes)
			return snprintf(err, errlen, "the archive's data volume %s (%llu bytes) is not "
					"one a %s has here", m->vol[i].disk,
					(unsigned long long)m->vol[i].capacity, m->type), -EBADMSG;
	}
	if (helper_guest_net(c->guest_network, &net) < 0)
		return snprintf(err, errlen, "unknown guest network '%s'", c->guest_network), -EINVAL;
	snprintf(m->net, sizeof(m->net), "%s", net_kinds[net.net]);
	snprintf(m->net_source, sizeof(m->net_source), "%s",
		 net.net == VIRT_NET_FABRIC ? VIRT_FABRIC_NETWORK : net.net_source);
	return 0;
}

/* Before anything is made: the archive is of the guest the move is of, as
 * the fleet approved and placed it (its type, memory and vCPUs), fitted to
 * this node. */
static int the_guest(struct export_manifest *m, void *ctx, char *err, size_t errlen)
{
	const struct move_in_ctx *x = ctx;

	if (move_manifest_check(m, x->name, x->spec, err, errlen))
		return -EBADMSG;
	return helper_move_fit(m, x->c, err, errlen);
}

/* The most a stream of a guest of the approved type can bring: each of its
 * data volumes at its type's capacity here, qcow2's own tables (under 1/64
 * of it) and 16 MiB each, and 1 MiB of manifest. A bound past it is
 * refused before the pool is looked at. */
static int stream_cap(struct virt_host *h, const struct host_config *c, const char *type,
		      uint64_t *cap)
{
	struct virt_manifest t;
	enum virt_guest_type gt;
	char *user_data = NULL, err[256];

	if (virt_type_parse(type, &gt) < 0 ||
	    virt_manifest_load(c->images_dir, gt, &t, &user_data, err, sizeof(err)) < 0)
		return fail(h, -EBADMSG, "the approved type %s: %s", type, err);
	free(user_data);
	*cap = 1ull << 20;
	for (unsigned i = 0; i < t.ndata; i++)
		*cap += t.data[i].bytes + t.data[i].bytes / 64 + (16ull << 20);
	return 0;
}

static int verdict_of(void *ctx, char *err, size_t errlen)
{
	return ((const struct move_in_ctx *)ctx)->verdict(err, errlen);
}

int helper_move_in(struct virt_host *h, const struct host_config *c, const char *name,
		   const struct move_spec *spec, int fd, uint64_t bound, move_verdict_fn verdict)
{
	struct export_manifest m;
	struct virt_guest g;
	struct identity id;
	struct move_in_ctx ctx = { c, name, spec, verdict };
	struct import_stream o = { .name = name, .bound = bound, .trust = trust_member,
				   .check = the_guest, .verdict = verdict_of, .ctx = &ctx, .id = &id };
	char path[PATH_MAX], held[VIRT_NAME_MAX * 2 + 16];
	const char *why = move_pipe_check(fd);
	uint64_t cap = 0;
	int ret, lock;

	if (fd < 0)
		return fail(h, -EINVAL, "move-in needs the stream of the archive");
	if (why)
		return fail(h, -EBADF, "refused: the archive's stream is %s", why);
	ret = virt_guest_get(h, name, &g); /* refused before its marker is touched */
	if (ret == 0 || ret == -EPERM) /* -EPERM: a domain of that name not ours */
		return fail(h, -EEXIST, "a guest named %s is already defined here", name);
	if (ret != -ENOENT)
		return ret;
	if ((ret = stream_cap(h, c, spec->type, &cap)) < 0)
		return ret;
	if (bound > cap)
		return fail(h, -EFBIG, "refused: the source announces %llu bytes, more than a %s's "
			    "volumes can hold here (%llu)", (unsigned long long)bound, spec->type,
			    (unsigned long long)cap);
	/* a move's abort removes all of the guest's volumes under the marker:
	 * none may be here before it (kept from an earlier guest of that name) */
	if ((ret = virt_move_volumes_here(h, name, held, sizeof(held))) != 0)
		return ret < 0 ? ret : fail(h, -EEXIST, "volume %s of an earlier %s is kept here: remove "
					    "it first (vm data-delete), or move elsewhere", held, name);
	if ((ret = marker_path(h, c, "in", name, path)) < 0 || (lock = ret = mark_locked(h, path)) < 0)
		return ret;
	if ((ret = identity_load(c->state_dir, &id)) < 0) {
		unlink(path);
		close(lock);
		return fail(h, ret, "cannot load this node's identity to open the volumes' keys: %s",
			    strerror(-ret));
	}
	ret = virt_import_stream(h, fd, &o, &m);
	identity_wipe(&id);
	if (ret < 0) {
		char reason[VIRT_ERR_MAX];

		snprintf(reason, sizeof(reason), "%s", h->err);
		if (virt_move_volumes_here(h, name, NULL, 0) == 0)
			unlink(path); /* the import removed what it made; else the abort will */
		snprintf(h->err, sizeof(h->err), "%s", reason);
		close(lock);
		return ret;
	}
	export_manifest_free(&m);
	ret = virt_move_autostart(h, name, false);
	close(lock);
	return ret; /* a failure here leaves the marked copy for move-abort */
}

/* move-abort: a copy a move brought in goes (only with its marker); on
 * the source, the guest is set to start with the host again. */
static int abort_move(struct virt_host *h, const struct host_config *c, const char *name,
		      char *detail, size_t len)
{
	char path[PATH_MAX];
	unsigned removed = 0;
	int lock, ret = marker_path(h, c, "in", name, path);

	if (ret < 0)
		return ret;
	if (!marked(path)) {
		struct virt_guest g;

		ret = virt_move_autostart(h, name, true);
		if (ret == 0 && virt_guest_get(h, name, &g) == 0)
			snprintf(detail, len, "%s stays here (%s), autostart on", name,
				 g.state == VIRT_STATE_RUNNING ? "running" : "stopped");
		else
			snprintf(detail, len, "nothing of a move of %s here", name);
		h->err[0] = '\0';
		return 0;
	}
	if ((lock = lock_marker(h, path)) < 0)
		return lock;
	virt_guest_stop(h, name, true);
	if (virt_guest_destroy(h, name, NULL) < 0 && !strstr(h->err, "no guest"))
		log_warn("%s", h->err);
	if ((ret = virt_move_remove_volumes(h, name, &removed)) < 0) {
		close(lock);
		return ret;
	}
	unlink(path);
	close(lock);
	snprintf(detail, len, "the copy a move brought here is removed (%u volume%s)", removed,
		 removed == 1 ? "" : "s");
	return 0;
}

static int undefine(struct virt_host *h, const struct host_config *c, const char *name,
		    char *detail, size_t len)
{
	char path[PATH_MAX];
	int ret = marker_path(h, c, "moved", name, path);

	if (ret < 0 || (ret = mark(h, path)) < 0)
		return ret;
	ret = virt_move_undefine(h, name);
	if (ret == -ENOENT) { /* undefined before: the answer was lost */
		h->err[0] = '\0';
		ret = 0;
	}
	if (ret == 0)
		snprintf(detail, len, "its volumes stay until release-source");
	return ret;
}

static int release(struct virt_host *h, const struct host_config *c, const char *name,
		   char *detail, size_t len)
{
	char path[PATH_MAX];
	unsigned removed = 0;
	int ret = marker_path(h, c, "moved", name, path);

	if (ret < 0)
		return ret;
	if (!marked(path))
		return fail(h, -ENOENT, "no copy of %s that moved away is kept here", name);
	if ((ret = virt_move_remove_volumes(h, name, &removed)) < 0)
		return ret;
	unlink(path);
	snprintf(detail, len, "%u volume%s removed", removed, removed == 1 ? "" : "s");
	return 0;
}

/* move-commit (target): the copy is the guest now; it starts with the host. */
static int commit(struct virt_host *h, const struct host_config *c, const char *name)
{
	char path[PATH_MAX];
	int ret = marker_path(h, c, "in", name, path);

	if (ret == 0)
		ret = virt_move_autostart(h, name, true);
	if (ret == 0)
		unlink(path);
	return ret;
}

int helper_move_act(struct virt_host *h, const struct host_config *c, const struct guest_op_def *op,
		    const char *name, char *detail, size_t len)
{
	detail[0] = '\0';
	switch (op->op) {
	case GOP_MOVE_ABORT: return abort_move(h, c, name, detail, len);
	case GOP_MOVE_UNDEFINE: return undefine(h, c, name, detail, len);
	case GOP_RELEASE_SOURCE: return release(h, c, name, detail, len);
	case GOP_MOVE_COMMIT: return commit(h, c, name);
	default: return fail(h, -EINVAL, "not a move verb");
	}
}
