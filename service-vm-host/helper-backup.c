#include "service-vm-host/helper-backup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/backup-trust.h"
#include "lib/clock.h"
#include "lib/errbuf.h"
#include "lib/mesh.h"
#include "osi-config.h"
#include "service-vm-host/approval-spent.h"
#include "service-vm-host/fleet-approval.h"
#include "service-vm-host/move-checks.h"
#include "virt/virt-backup-copy.h"
#include "virt/virt-backup.h"

int helper_backup_dir(const struct host_config *c, char *buf, size_t len)
{
	int n = c->backup_dir[0] ? snprintf(buf, len, "%s", c->backup_dir) :
		snprintf(buf, len, "%s/backups", c->state_dir[0] ? c->state_dir : OSI_STATE_DIR);

	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

static int trust_ledger(const struct export_sig *s, void *ctx, char *err, size_t errlen)
{
	return backup_trust_ledger(ctx, s, err, errlen);
}

/* This node's verified ledger: whom a backup's signer must be. */
static int load_ledger(const struct host_config *c, struct ledger *l, char *err, size_t errlen)
{
	char why[256];

	ledger_init(l);
	if (!mesh_has_ledger(c->state_dir))
		return errbuf_fail(-EPERM, err, errlen, "no ledger in %s to check the backups' signer "
				   "against", c->state_dir);
	if (mesh_ledger_load(c->state_dir, l, why, sizeof(why)) < 0 ||
	    ledger_verify(l, why, sizeof(why)) < 0) {
		ledger_free(l);
		return errbuf_fail(-EPERM, err, errlen, "the ledger in %s: %s", c->state_dir, why);
	}
	return 0;
}

/* This node's store, and the ledger its backups' signers are checked in. */
static int store_of(const struct host_config *c, char dir[PATH_MAX], struct ledger *l, char *err,
		    size_t errlen)
{
	if (helper_backup_dir(c, dir, PATH_MAX) < 0)
		return errbuf_fail(-ENAMETOOLONG, err, errlen, "the backup directory's name is too long");
	return load_ledger(c, l, err, errlen);
}

/* Packed into an unnamed file of the state directory (root's). */
static int pack(const struct host_config *c, const char *gdir, const char *id, struct ledger *l,
		int *tmp, uint64_t *bytes, char *err, size_t errlen)
{
	*tmp = open(c->state_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*tmp < 0)
		return errbuf_fail(-errno, err, errlen, "%s: an unnamed file to pack into: %s",
				   c->state_dir, strerror(errno));
	return backup_copy_pack(gdir, id, trust_ledger, l, NULL, NULL, *tmp, bytes, err, errlen);
}

int helper_backup_out(const struct host_config *c, const char *guest, const char *id, int *fd,
		      uint64_t *bytes, char *err, size_t errlen)
{
	char dir[PATH_MAX], gdir[PATH_MAX], self[32];
	struct ledger l;
	int tmp = -1, ret = store_of(c, dir, &l, err, errlen);

	*fd = -1;
	if (ret < 0)
		return ret;
	ret = backup_guest_dir(dir, guest, false, gdir, sizeof(gdir), err, errlen);
	if (ret == 0)
		ret = pack(c, gdir, id, &l, &tmp, bytes, err, errlen);
	ledger_free(&l);
	if (ret == 0) { /* what the caller gets can only read it */
		snprintf(self, sizeof(self), "/proc/self/fd/%d", tmp);
		if ((*fd = open(self, O_RDONLY | O_CLOEXEC)) < 0)
			ret = errbuf_fail(-errno, err, errlen, "reopening the packed copy: %s",
					  strerror(errno));
	}
	if (tmp >= 0)
		close(tmp);
	return ret;
}

int helper_backup_in(const struct host_config *c, const char *guest, int fd, char *summary,
		     size_t slen, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *why = fd < 0 ? "absent" : move_fd_check(fd);
	struct ledger l;
	int ret;

	summary[0] = '\0';
	if (why)
		return errbuf_fail(-EBADF, err, errlen, "the received copy is %s", why);
	if ((ret = store_of(c, dir, &l, err, errlen)) < 0)
		return ret;
	ret = backup_copy_unpack(dir, guest, fd, trust_ledger, &l, NULL, summary, slen, err, errlen);
	ledger_free(&l);
	return ret;
}

int helper_backup_restore(struct virt_host *h, const struct host_config *c, const char *guest,
			  const char *id, size_t *links, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct ledger l;
	struct backup_request r = { .dir = dir, .trust = trust_ledger, .ctx = &l };
	int ret = store_of(c, dir, &l, err, errlen);

	if (ret < 0)
		return ret;
	if ((ret = virt_restore(h, guest, id, &r, links)) < 0)
		errbuf_fail(ret, err, errlen, "%s", h->err);
	ledger_free(&l);
	return ret;
}

int helper_backup_approved(const struct host_config *c, const uint8_t *blob, size_t len,
			   const char *verb, const char *guest, const char *id, unsigned *keep,
			   char *err, size_t errlen)
{
	struct trust_set ts = { 0 };
	const char *why;
	struct ledger l;
	int ret = load_ledger(c, &l, err, errlen);

	if (ret < 0)
		return ret;
	ret = mesh_trust_from_ledger(&l, &ts);
	ledger_free(&l);
	if (ret < 0)
		return errbuf_fail(-EPERM, err, errlen, "cannot read the ledger's members: %s",
				   strerror(-ret));
	why = approval_check(blob, len, &ts, c->name, verb, guest, id, clock_wall_s(), keep);
	trust_free(&ts);
	if (why)
		return errbuf_fail(-EPERM, err, errlen, "not approved by the fleet: %s", why);
	return approval_spend(c->state_dir, blob + API_NONCE_BYTES, clock_wall_s(), err, errlen);
}

int helper_backup_prune(const struct host_config *c, const char *guest, unsigned keep,
			size_t *pruned, char *err, size_t errlen)
{
	char dir[PATH_MAX], gdir[PATH_MAX];
	struct ledger l;
	int lock = -1, ret = store_of(c, dir, &l, err, errlen);

	*pruned = 0;
	if (ret < 0)
		return ret;
	if ((ret = backup_guest_dir(dir, guest, false, gdir, sizeof(gdir), err, errlen)) == 0 &&
	    (ret = backup_lock(gdir, &lock, err, errlen)) == 0) {
		ret = backup_prune_store(gdir, keep, trust_ledger, &l, pruned, err, errlen);
		backup_unlock(lock);
	}
	ledger_free(&l);
	return ret;
}
