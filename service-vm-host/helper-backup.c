#include "service-vm-host/helper-backup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "lib/backup-trust.h"
#include "lib/clock.h"
#include "lib/backup-keys.h"
#include "lib/errbuf.h"
#include "lib/identity.h"
#include "lib/log.h"
#include "lib/mesh.h"
#include "lib/seal-key.h"
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

/* What an encrypted chain's keys are made with: the guest's volumes'
 * secrets here, the target's ledger key, this node's identity. */
struct keys_out {
	const struct host_config *c;
	const char *guest, *target, *gdir;
	struct ledger *l;
};

/* The target, a live member of this node's ledger: its Ed25519 key. */
static int target_key(struct keys_out *o, uint8_t pk[SIGN_PK_BYTES], char *err, size_t errlen)
{
	struct trust_set ts = { 0 };
	const struct trust_entry *e;
	int ret = mesh_trust_from_ledger(o->l, &ts);

	if (ret < 0)
		return errbuf_fail(-EPERM, err, errlen, "cannot read the ledger's members: %s",
				   strerror(-ret));
	if ((e = trust_find(&ts, o->target)))
		memcpy(pk, e->sign_pk, SIGN_PK_BYTES);
	trust_free(&ts);
	return e ? 0 : errbuf_fail(-EPERM, err, errlen, "the target %s is not a live member of this "
				   "node's ledger", o->target);
}

/* The keys kept here with the chain (FULL.keys: it came here as a copy,
 * or a restore that put a volume under another key since added the one
 * it had), opened with the seal key into *kept and sk; false when there
 * are none. */
static bool kept_here(struct keys_out *o, const struct backup_manifest *full,
		      const struct backup_manifest *top, struct backup_keys *kept, struct seal_key *sk)
{
	char name[BACKUP_FILE_MAX], *text = NULL, why[256] = "";
	size_t len;
	int ret;

	backup_file_name(full->id, "keys", name, sizeof(name));
	if ((ret = backup_read_small(o->gdir, name, BACKUP_KEYS_MAX, &text, &len, why, sizeof(why))) == 0 &&
	    (ret = backup_keys_parse(text, len, kept, why, sizeof(why))) == 0 &&
	    (ret = kept->local ? 0 : -EBADMSG) == 0 &&
	    (ret = backup_keys_match(kept, top, full, why, sizeof(why))) == 0 &&
	    (ret = seal_key_load(o->c->seal_key, 0, sk)) < 0)
		snprintf(why, sizeof(why), "seal key %.150s: %s", o->c->seal_key, strerror(-ret));
	free(text);
	if (ret < 0 && ret != -ENOENT)
		log_warn("backup copy of %s: %s/%s is not used: %s", o->guest, o->gdir, name,
			 why[0] ? why : strerror(-ret));
	return ret == 0;
}

/* What this node has of an encrypted chain's keys. */
struct chain_keys {
	struct virt_host h;
	struct backup_keys kept;
	struct seal_key sk;
	bool have;	  /* kept: the chain's FULL.keys, opened */
	int own;	  /* the guest here is the chain's; -1 until asked */
	char other[256];  /* why not, or why its key is not had */
};

/* The guest here is the chain's (its instance-id): its volumes' keys are
 * the chain's. One made again is another instance: none of them is. */
static bool chain_guest(struct keys_out *o, struct chain_keys *ck, const struct backup_manifest *top)
{
	struct virt_guest g;

	if (virt_guest_get(&ck->h, o->guest, &g) < 0) {
		snprintf(ck->other, sizeof(ck->other), "%.200s", ck->h.err);
		return false;
	}
	if (!strcmp(g.instance_id, top->instance_id))
		return true;
	snprintf(ck->other, sizeof(ck->other), "the guest here is instance %.64s, the chain's is %.64s",
		 g.instance_id, top->instance_id);
	return false;
}

/* Whether key opens the full's file of disk here (-1: cannot be told,
 * logged). */
static int opens_full(struct keys_out *o, struct chain_keys *ck, const struct backup_manifest *full,
		      const char *disk, const uint8_t key[KEY_SEAL_KEY_BYTES])
{
	char name[BACKUP_FILE_MAX], path[PATH_MAX];
	bool yes;

	backup_volume_file(full->id, disk, name, sizeof(name));
	if (snprintf(path, sizeof(path), "%s/%s", o->gdir, name) >= (int)sizeof(path) ||
	    virt_backup_key_opens(&ck->h, path, key, &yes) < 0) {
		log_warn("backup copy of %s to %s: a key of volume %s cannot be checked against %s: %s",
			 o->guest, o->target, disk, name, ck->h.err);
		return -1;
	}
	return yes;
}

/* Volume disk's key for the chain, of the key kept with it (FULL.keys)
 * and, when the guest here is the chain's instance, the volume's own:
 * when there is one of them (or both are the same), that one, as it is
 * (the receiver checks that it opens the full's file, and leaves it out if
 * not); when both are there and differ (a restore put the volume under
 * another key since, or the kept one is wrong: kept by an older build, or
 * brought by a member's copy before keys were checked), the one that opens
 * the full's file here, the kept one tried first. -ENOENT (logged) when
 * none. */
static int volume_key(struct keys_out *o, struct chain_keys *ck, const struct identity *id,
		      const struct backup_manifest *full, const struct backup_manifest *top,
		      const char *disk, uint8_t key[KEY_SEAL_KEY_BYTES])
{
	uint8_t own[KEY_SEAL_KEY_BYTES];
	int kept = ck->have ? backup_keys_kept_open(&ck->kept, disk, ck->sk.pk, ck->sk.sk, key) : -ENOENT;
	bool have_own;
	int which;     /* 0: the kept key, 1: the volume's own, -1: none */

	if (kept != 0 && kept != -ENOENT)
		log_warn("backup copy of %s to %s: the key kept with the chain for volume %s is sealed "
			 "to another key than this node's seal key %s", o->guest, o->target, disk,
			 o->c->seal_key);
	if (ck->own < 0)
		ck->own = chain_guest(o, ck, top);
	have_own = ck->own && virt_backup_volume_key(&ck->h, o->guest, disk, id, own) == 0;
	if (ck->own && !have_own)
		snprintf(ck->other, sizeof(ck->other), "%.200s", ck->h.err);
	if (kept == 0 && (!have_own || !sodium_memcmp(own, key, sizeof(own))))
		which = 0;
	else if (kept != 0)
		which = have_own ? 1 : -1;
	else if (opens_full(o, ck, full, disk, key) == 1)
		which = 0;
	else
		which = opens_full(o, ck, full, disk, own) == 1 ? 1 : -1;
	if (which == 1 && kept == 0)
		log_warn("backup copy of %s to %s: the key kept with the chain for volume %s does not "
			 "open its full's file: the volume's own, which does, is carried", o->guest,
			 o->target, disk);
	if (which == 1)
		memcpy(key, own, sizeof(own));
	sodium_memzero(own, sizeof(own));
	if (which >= 0)
		return 0;
	sodium_memzero(key, KEY_SEAL_KEY_BYTES);
	if (kept == 0)
		log_warn("backup copy of %s to %s: the key of volume %s is not carried: neither the key "
			 "kept with the chain nor the volume's own opens its full's file here", o->guest,
			 o->target, disk);
	else
		log_warn("backup copy of %s to %s: the key of volume %s is not carried: %s%s", o->guest,
			 o->target, disk, ck->other, ck->own ? "" : ": its volumes' keys are not "
			 "carried, and none is kept with the chain");
	return -ENOENT;
}

/* Each encrypted volume's key sealed to the target (volume_key); a volume
 * with none (the guest gone or made again, or made without a seal key,
 * and no key kept with the chain) is left out, and the copy says so on
 * the other side. */
static int seal_keys(struct keys_out *o, const struct identity *id, const uint8_t pk[SIGN_PK_BYTES],
		     const struct backup_manifest *full, const struct backup_manifest *top,
		     const bool *encrypted, struct backup_keys *k, char *err, size_t errlen)
{
	struct virt_config vc = { .uri = o->c->virt_uri, .seal_key = o->c->seal_key };
	struct chain_keys ck = { .sk = { { 0 }, { 0 } }, .own = -1 };
	uint8_t key[KEY_SEAL_KEY_BYTES];
	int ret = 0;

	vc.pool_dir = o->c->pool_dir[0] ? o->c->pool_dir : NULL;
	if (virt_host_open(&ck.h, &vc) < 0)
		return errbuf_fail(-EIO, err, errlen, "libvirt, for the volumes' keys: %s", ck.h.err);
	ck.have = kept_here(o, full, top, &ck.kept, &ck.sk);
	for (unsigned i = 0; i < full->nvol && !ret; i++) {
		struct backup_key *v = &k->vol[k->nvol];
		const char *disk = full->vol[i].disk;

		if (!encrypted[i] || volume_key(o, &ck, id, full, top, disk, key) < 0)
			continue;
		snprintf(v->disk, sizeof(v->disk), "%s", disk);
		memcpy(v->sha256, full->vol[i].sha256, sizeof(v->sha256));
		if (key_seal_ed25519(pk, key, v->sealed) < 0)
			ret = errbuf_fail(-EINVAL, err, errlen, "the target %s's key cannot be sealed to",
					  o->target);
		k->nvol++;
	}
	sodium_memzero(key, sizeof(key));
	seal_key_wipe(&ck.sk);
	virt_host_close(&ck.h);
	return ret;
}

static int make_keys(void *ctx, const struct backup_manifest *full, const struct backup_manifest *top,
		     const bool *encrypted, char **text, size_t *len, char *err, size_t errlen)
{
	struct keys_out *o = ctx;
	struct backup_keys k = { .nvol = 0 };
	uint8_t pk[SIGN_PK_BYTES];
	struct identity id;
	int ret;

	*text = NULL;
	if (!o->target[0]) {
		log_warn("backup copy of %s: the fleet named no target (an older fleet), so no key of "
			 "its encrypted volumes is carried", o->guest);
		return 0;
	}
	if ((ret = target_key(o, pk, err, errlen)) < 0)
		return ret;
	if ((ret = identity_load(o->c->state_dir, &id)) < 0)
		return errbuf_fail(ret, err, errlen, "cannot load this node's identity to sign the keys: "
				   "%s", strerror(-ret));
	snprintf(k.backup, sizeof(k.backup), "%s", top->id);
	snprintf(k.guest, sizeof(k.guest), "%s", top->guest);
	snprintf(k.instance_id, sizeof(k.instance_id), "%s", top->instance_id);
	snprintf(k.node, sizeof(k.node), "%s", id.name);
	snprintf(k.recipient, sizeof(k.recipient), "%s", o->target);
	key_seal_id(pk, k.key_id);
	ret = seal_keys(o, &id, pk, full, top, encrypted, &k, err, errlen);
	if (!ret && k.nvol)
		ret = backup_keys_sign(&id, &k, text, len, err, errlen);
	identity_wipe(&id);
	return ret;
}

_Static_assert(MOVE_OFFER_MAX == BACKUP_COPY_FILES_MAX, "an offer holds a whole chain's files");

/* The chain's files as the wire carries them, and back. */
static int to_offer(const struct backup_copy_file *f, size_t n, struct move_offer *o)
{
	o->n = (unsigned)n;
	for (size_t k = 0; k < n; k++) {
		memcpy(o->f[k].id, f[k].id, sizeof(o->f[k].id));
		memcpy(o->f[k].disk, f[k].disk, sizeof(o->f[k].disk));
		o->f[k].bytes = f[k].bytes;
		if (sodium_hex2bin(o->f[k].sha256, sizeof(o->f[k].sha256), f[k].sha256, 64, NULL, NULL,
				   NULL) < 0)
			return -EINVAL;
	}
	return n <= MOVE_OFFER_MAX ? 0 : -EINVAL;
}

static void from_offer(const struct move_offer *o, struct backup_copy_file *f)
{
	for (unsigned k = 0; k < o->n; k++) {
		memcpy(f[k].id, o->f[k].id, sizeof(f[k].id));
		memcpy(f[k].disk, o->f[k].disk, sizeof(f[k].disk));
		f[k].bytes = o->f[k].bytes;
		sodium_bin2hex(f[k].sha256, sizeof(f[k].sha256), o->f[k].sha256, sizeof(o->f[k].sha256));
	}
}

struct offering {
	helper_offer_fn fn;
	void *ctx;
};

static int offer_files(void *ctx, const struct backup_copy_file *f, size_t n, uint64_t bound,
		       bool *skip, char *err, size_t errlen)
{
	struct offering *of = ctx;
	struct move_offer o;

	if (to_offer(f, n, &o) < 0)
		return errbuf_fail(-EINVAL, err, errlen, "the chain's files do not fit an offer");
	return of->fn(of->ctx, &o, bound, skip, err, errlen);
}

/* Packed into an unnamed file of the state directory (root's). */
static int pack(const struct host_config *c, const char *gdir, const char *id, struct keys_out *o,
		struct offering *of, int *tmp, uint64_t *bytes, char *err, size_t errlen)
{
	struct backup_copy_hooks hooks = { .keys = make_keys, .kctx = o,
					   .offer = of->fn ? offer_files : NULL, .octx = of };

	*tmp = open(c->state_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*tmp < 0)
		return errbuf_fail(-errno, err, errlen, "%s: an unnamed file to pack into: %s",
				   c->state_dir, strerror(errno));
	return backup_copy_pack(gdir, id, trust_ledger, o->l, &hooks, *tmp, bytes, err, errlen);
}

int helper_backup_out(const struct host_config *c, const char *guest, const char *id,
		      const char *target, helper_offer_fn offer, void *octx, int *fd,
		      uint64_t *bytes, char *err, size_t errlen)
{
	char dir[PATH_MAX], gdir[PATH_MAX], self[32];
	struct ledger l;
	struct keys_out o = { .c = c, .guest = guest, .target = target, .gdir = gdir, .l = &l };
	struct offering of = { offer, octx };
	int tmp = -1, ret = store_of(c, dir, &l, err, errlen);

	*fd = -1;
	if (ret < 0)
		return ret;
	ret = backup_guest_dir(dir, guest, false, gdir, sizeof(gdir), err, errlen);
	if (ret == 0)
		ret = pack(c, gdir, id, &o, &of, &tmp, bytes, err, errlen);
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

int helper_backup_held(const struct host_config *c, const char *guest, const struct move_offer *o,
		       bool *held, uint64_t *bytes, char *err, size_t errlen)
{
	struct backup_copy_file f[MOVE_OFFER_MAX];
	char dir[PATH_MAX];
	struct ledger l;
	int ret = store_of(c, dir, &l, err, errlen);

	*bytes = 0;
	if (ret < 0)
		return ret;
	from_offer(o, f);
	ret = backup_copy_held(dir, guest, trust_ledger, &l, f, o->n, held, bytes, err, errlen);
	ledger_free(&l);
	return ret;
}

int helper_backup_in(const struct host_config *c, const char *guest, int fd, char *summary,
		     size_t slen, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *why = fd < 0 ? "absent" : move_fd_check(fd);
	struct seal_key sk = { { 0 }, { 0 } };
	struct identity id = { .name = "" };
	struct backup_copy_keys_in kin = { .seal_pk = sk.pk, .seal_sk = sk.sk };
	struct ledger l;
	int ret;

	summary[0] = '\0';
	if (why)
		return errbuf_fail(-EBADF, err, errlen, "the received copy is %s", why);
	if ((ret = store_of(c, dir, &l, err, errlen)) < 0)
		return ret;
	if ((ret = identity_load(c->state_dir, &id)) < 0)
		log_warn("no identity in %s (%s): a copy with keys is refused", c->state_dir,
			 strerror(-ret));
	else if ((ret = seal_key_load(c->seal_key, 1, &sk)) < 0)
		log_warn("seal key %s: %s: a copy with keys is refused", c->seal_key, strerror(-ret));
	else
		kin.self = &id;
	ret = backup_copy_unpack(dir, guest, fd, trust_ledger, &l, kin.self ? &kin : NULL, summary, slen,
				 err, errlen);
	ledger_free(&l);
	identity_wipe(&id);
	seal_key_wipe(&sk);
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
			   char target[NODE_NAME_MAX + 1], char *err, size_t errlen)
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
	if (target && approval_target(blob, len, target) < 0)
		return errbuf_fail(-EPERM, err, errlen, "not approved by the fleet: its target is not a "
				   "member name");
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
