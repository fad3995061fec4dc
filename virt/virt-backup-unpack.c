/* Storing a backup copy from a peer (virt/virt-backup-copy.h). Under the
 * guest directory's lock: the tar is written into a staging directory of
 * root's (<gdir>/.incoming.XXXXXX, never listed: not an ID.json), checked
 * there as the listing and restore check the store (a volume file the copy
 * leaves out, since the store holds it, linked in from the store first and
 * checked with the rest), compared with what the
 * store holds (a damaged link it holds gets the copy's files), and only
 * then moved in link by link, its manifest last (the listing finds a backup
 * by its manifest). Any failure removes what this copy moved in and the
 * staging directory. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lib/backup-keys.h"
#include "lib/bytes.h"
#include "lib/errbuf.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/units.h"
#include "virt/virt-backup-copy.h"
#include "virt/virt-backup-internal.h"

struct unpacking {
	const char *guest;
	char gdir[PATH_MAX], staging[PATH_MAX];
	bool staged;                                   /* staging was made */
	uint64_t size, written;                        /* the copy's (one fstat), staged so far */
	int gfd, sfd;
	char ids[BACKUP_CHAIN_MAX][BACKUP_ID_LEN + 1]; /* the tar's links, oldest first */
	unsigned nvol[BACKUP_CHAIN_MAX];               /* their volume files */
	size_t nlinks, stored;
	bool fresh[BACKUP_CHAIN_MAX];                  /* the store lacks it */
	bool repair[BACKUP_CHAIN_MAX];                 /* the store's is damaged */
	unsigned linked[BACKUP_CHAIN_MAX];             /* volume files taken from the store */
	size_t taken;                                  /* all of them, */
	uint64_t taken_bytes;                          /* and their bytes */
	size_t repaired;
	bool encrypted;                                /* a volume file is LUKS qcow2 */
	bool full_luks[EXPORT_VOLUMES_MAX];            /* the full's volume i is */
	const struct backup_copy_keys_in *kin;
	char keys_name[BACKUP_FILE_MAX];               /* the copy's ID.keys, "" if none */
	char kept_name[BACKUP_FILE_MAX];               /* FULL.keys to keep, "" if none */
	char ignored[480];                             /* "; " and which keys were left out */
	struct backup_entry *e, *held;                 /* the copy's links, the store's */
	size_t n, nheld;
	bool listed;                                   /* held is the store's listing */
	backup_trust_fn trust;
	void *ctx;
	char *err;
	size_t errlen;
};

int (*backup_copy_free_for_tests)(int dirfd, uint64_t *bytes);

static int free_bytes(int fd, uint64_t *bytes)
{
	struct statvfs vfs;

	if (backup_copy_free_for_tests)
		return backup_copy_free_for_tests(fd, bytes);
	if (fstatvfs(fd, &vfs) < 0)
		return -errno;
	*bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	return 0;
}

/* Room for size more bytes and the margin: asked before the copy is staged,
 * then again before each entry, for what of it is still to come. */
static int room(struct unpacking *u, uint64_t size)
{
	uint64_t avail, need = size + BACKUP_COPY_ROOM_MARGIN;
	char a[32], b[32], c[32];
	int ret;

	if ((ret = free_bytes(u->gfd, &avail)) < 0)
		return errbuf_fail(ret, u->err, u->errlen, "%s: %s", u->gdir, strerror(-ret));
	if (avail >= need)
		return 0;
	format_size(avail, a, sizeof(a));
	format_size(need, b, sizeof(b));
	format_size(size, c, sizeof(c));
	if (u->written)
		return errbuf_fail(-ENOSPC, u->err, u->errlen, "%s has %s free while the copy is stored, "
				   "the rest of it needs %s (%s and %llu MiB)", u->gdir, a, b, c,
				   (unsigned long long)(BACKUP_COPY_ROOM_MARGIN >> 20));
	return errbuf_fail(-ENOSPC, u->err, u->errlen, "%s has %s free, the copy needs %s (its %s and "
			   "%llu MiB)", u->gdir, a, b, c,
			   (unsigned long long)(BACKUP_COPY_ROOM_MARGIN >> 20));
}

static int stage_one(struct unpacking *u, struct backup_tar *t, const struct backup_copy_entry *e)
{
	int out = openat(u->sfd, e->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int ret;

	if (out < 0)
		return errbuf_fail(-errno, u->err, u->errlen, "%s/%s: %s", u->staging, e->name,
				   strerror(errno));
	if (e->kind == BACKUP_COPY_JSON)
		memcpy(u->ids[u->nlinks++], e->id, BACKUP_ID_LEN + 1);
	else if (e->kind == BACKUP_COPY_KEYS)
		memcpy(u->keys_name, e->name, sizeof(u->keys_name));
	else if (e->kind == BACKUP_COPY_VOLUME)
		u->nvol[u->nlinks - 1]++;
	ret = backup_tar_copy(t, out, u->err, u->errlen);
	if (!ret && fsync(out) < 0)
		ret = errbuf_fail(-errno, u->err, u->errlen, "%s/%s: %s", u->staging, e->name,
				  strerror(errno));
	close(out);
	u->written += e->size;
	return ret;
}

/* The tar's files into a new staging directory, each header checked first;
 * no more than the copy's size that the room was checked for. */
static int stage(struct unpacking *u, int fd)
{
	struct backup_copy_entry e;
	struct backup_tar *t;
	int ret;

	if (snprintf(u->staging, sizeof(u->staging), "%s/" BACKUP_COPY_STAGING "XXXXXX", u->gdir) >=
	    (int)sizeof(u->staging))
		return errbuf_fail(-ENAMETOOLONG, u->err, u->errlen, "%s: name too long", u->gdir);
	if (!mkdtemp(u->staging))
		return errbuf_fail(-errno, u->err, u->errlen, "%s: %s", u->gdir, strerror(errno));
	u->staged = true;
	if ((u->sfd = open(u->staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errbuf_fail(-errno, u->err, u->errlen, "%s: %s", u->staging, strerror(errno));
	if ((ret = backup_tar_open(fd, u->size, &t, u->err, u->errlen)) < 0)
		return ret;
	while ((ret = backup_tar_next(t, &e, u->err, u->errlen)) == 0)
		if ((ret = room(u, u->size - u->written)) < 0 || (ret = stage_one(u, t, &e)) < 0)
			break;
	backup_tar_close(t);
	return ret < 0 ? ret : 0;
}

/* Each volume file's first bytes: a qcow2 restore may read (the hash was
 * checked on the same descriptors). */
static int headers(struct unpacking *u, const struct backup_entry *e)
{
	int fds[EXPORT_VOLUMES_MAX] = { -1, -1, -1, -1 }, ret;
	uint8_t head[EXPORT_QCOW2_HEAD];

	ret = backup_verify_files(u->staging, e, fds, u->err, u->errlen);
	for (unsigned i = 0; i < e->m.nvol; i++) {
		ssize_t got = fds[i] < 0 ? -1 : pread(fds[i], head, sizeof(head), 0);
		const char *why = backup_link_header_check(head, got > 0 ? (size_t)got : 0);

		if (!ret && why)
			ret = errbuf_fail(-EBADMSG, u->err, u->errlen, "backup %s, volume %s: %s", e->m.id,
					  e->m.vol[i].disk, why);
		if (!why && got >= 36 && get_be32(head + 32) == 2) { /* qcow2 crypt_method: LUKS */
			u->encrypted = true;
			u->full_luks[i] |= e == &u->e[0];
		}
		if (fds[i] >= 0)
			close(fds[i]);
	}
	return ret;
}

/* Link k's volume file name, left out of the copy: a hard link to the
 * store's, which must hold link k under the same manifest, byte for byte
 * (text, the staged one). */
static int take_held(struct unpacking *u, size_t k, const char *text, size_t len, const char *name)
{
	char json[BACKUP_FILE_MAX], *mine = NULL;
	size_t mlen;
	int ret;

	backup_file_name(u->ids[k], "json", json, sizeof(json));
	ret = backup_read_small(u->gdir, json, BACKUP_MANIFEST_MAX, &mine, &mlen, u->err, u->errlen);
	if (ret == 0 && (mlen != len || memcmp(mine, text, len)))
		ret = -EEXIST;
	free(mine);
	if (ret == 0 && linkat(u->gfd, name, u->sfd, name, 0) < 0)
		ret = -errno;
	if (ret < 0)
		return errbuf_fail(-EBADMSG, u->err, u->errlen, "the copy leaves out %s, which the store "
				   "here does not hold with backup %s's manifest (%s)", name, u->ids[k],
				   ret == -EEXIST ? "it holds another" : strerror(-ret));
	return 0;
}

/* The volume files the copy leaves out (its sender was told the store
 * holds them: move-offer.h), each taken from the store into the staging
 * directory; check() then hashes them against the copy's signed manifests
 * as if they had come. A manifest that does not parse is left to check(). */
static int fill(struct unpacking *u)
{
	char name[BACKUP_FILE_MAX], *text = NULL;
	struct backup_manifest m;
	size_t len;
	int ret = 0;

	for (size_t k = 0; k < u->nlinks && !ret; k++) {
		backup_file_name(u->ids[k], "json", name, sizeof(name));
		if ((ret = backup_read_small(u->staging, name, BACKUP_MANIFEST_MAX, &text, &len, u->err,
					     u->errlen)) < 0)
			break;
		if (backup_manifest_parse(text, len, &m, name, sizeof(name)) < 0 || m.nvol == u->nvol[k])
			m.nvol = 0;
		for (unsigned i = 0; i < m.nvol && !ret; i++) {
			backup_volume_file(m.id, m.vol[i].disk, name, sizeof(name));
			if (faccessat(u->sfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
				continue;
			if ((ret = take_held(u, k, text, len, name)) == 0) {
				u->nvol[k]++;
				u->linked[k]++;
				u->taken++;
				u->taken_bytes += m.vol[i].bytes;
			}
		}
		free(text);
		text = NULL;
	}
	return ret;
}

/* As the listing and restore check the store: signed by whom trust
 * accepts, every file its manifest's, each of this guest, one whole chain. */
static int check(struct unpacking *u)
{
	size_t chain[BACKUP_CHAIN_MAX], len;
	int ret = backup_list(u->staging, u->trust, u->ctx, &u->e, &u->n, u->err, u->errlen);

	if (ret < 0)
		return ret;
	if (u->n != u->nlinks)
		return errbuf_fail(-EBADMSG, u->err, u->errlen, "the copy's %zu manifests are not its "
				   "%zu backups", u->n, u->nlinks);
	for (size_t i = 0; i < u->n; i++) {
		const struct backup_entry *e = &u->e[i];

		if (!e->intact)
			return errbuf_fail(-EBADMSG, u->err, u->errlen, "backup %s in the copy: %s",
					   e->m.id, e->why);
		if (strcmp(e->m.guest, u->guest))
			return errbuf_fail(-EBADMSG, u->err, u->errlen, "backup %s in the copy is of guest "
					   "%s, not %s", e->m.id, e->m.guest, u->guest);
		if (strcmp(e->m.id, u->ids[i]) || e->m.nvol != u->nvol[i])
			return errbuf_fail(-EBADMSG, u->err, u->errlen, "backup %s in the copy: %u volume "
					   "file(s), its manifest lists %u", e->m.id, u->nvol[i], e->m.nvol);
	}
	if ((ret = backup_chain(u->e, u->n, u->n - 1, chain, &len, u->err, u->errlen)) < 0)
		return ret;
	if (len != u->n)
		return errbuf_fail(-EBADMSG, u->err, u->errlen, "the copy holds backups outside the "
				   "chain of %s", u->e[u->n - 1].m.id);
	for (size_t i = 0; i < u->n; i++)
		if ((ret = headers(u, &u->e[i])) < 0)
			return ret;
	return 0;
}

static int write_kept(struct unpacking *u, const char *text, size_t len)
{
	int fd, ret = 0;

	if (unlinkat(u->sfd, u->keys_name, 0) < 0)
		return errbuf_fail(-errno, u->err, u->errlen, "%s/%s: %s", u->staging, u->keys_name,
				   strerror(errno));
	fd = openat(u->sfd, u->kept_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fd_write_all(fd, text, len) < 0 || fsync(fd) < 0)
		ret = errbuf_fail(-errno ? -errno : -EIO, u->err, u->errlen, "%s/%s: %s", u->staging,
				  u->kept_name, strerror(errno));
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Whether kept entries a and b hold the same key (false when either does
 * not open with the seal key). */
static bool same_key(const struct unpacking *u, const struct backup_key *a, const struct backup_key *b)
{
	uint8_t x[KEY_SEAL_KEY_BYTES], y[KEY_SEAL_KEY_BYTES];
	bool same = u->kin->seal_sk &&
		    crypto_box_seal_open(x, a->sealed, KEY_SEAL_BYTES, u->kin->seal_pk, u->kin->seal_sk) == 0 &&
		    crypto_box_seal_open(y, b->sealed, KEY_SEAL_BYTES, u->kin->seal_pk, u->kin->seal_sk) == 0 &&
		    sodium_memcmp(x, y, sizeof(x)) == 0;

	sodium_memzero(x, sizeof(x));
	sodium_memzero(y, sizeof(y));
	return same;
}

/* What the summary says of the volumes in list (disk names): "; " head,
 * each name, tail. */
static void say(struct unpacking *u, const char *head, const char *list, const char *tail)
{
	size_t at = strlen(u->ignored);

	if (list[0] && at < sizeof(u->ignored))
		snprintf(u->ignored + at, sizeof(u->ignored) - at, "; %s %s %s", head, list, tail);
}

static void add_name(char *list, size_t len, const char *disk)
{
	size_t at = strlen(list);

	if (at < len)
		snprintf(list + at, len - at, "%s%s", at ? "," : "", disk);
}

/* The FULL.keys the store holds for this chain, if any, with the copy's
 * (kept, each checked to open the full's file: opening()): a volume's the
 * store has none of is added; one kept there that differs is replaced (a
 * LUKS header made here has one key slot: the kept one does not open the
 * chain, it came from an older build or a member's copy that was wrong),
 * and the summary says so. */
static int merge(struct unpacking *u, const char *name, const struct backup_manifest *top,
		 const struct backup_manifest *full, struct backup_keys *kept)
{
	struct backup_keys old;
	char *text = NULL, why[256] = "", replaced[160] = "";
	size_t len;
	int ret = backup_read_small(u->gdir, name, BACKUP_KEYS_MAX, &text, &len, why, sizeof(why));

	if (ret == -ENOENT)
		return 0;
	if (!ret && !(ret = backup_keys_parse(text, len, &old, why, sizeof(why))) && !old.local)
		ret = errbuf_fail(-EBADMSG, why, sizeof(why), "not the kept form");
	if (!ret)
		ret = backup_keys_match(&old, top, full, why, sizeof(why));
	free(text);
	if (ret < 0)
		return errbuf_fail(-EBADMSG, u->err, u->errlen, "%s/%s, the keys kept with this chain: %s: "
				   "the copy is refused, and that file stays as it is", u->gdir, name,
				   why[0] ? why : strerror(-ret));
	for (unsigned j = 0; j < kept->nvol; j++) {
		int i = backup_keys_find(&old, kept->vol[j].disk);

		if (i < 0) {
			backup_keys_add(&old, &kept->vol[j]);
		} else if (!same_key(u, &old.vol[i], &kept->vol[j])) {
			old.vol[i] = kept->vol[j];
			add_name(replaced, sizeof(replaced), kept->vol[j].disk);
		}
	}
	say(u, "the key it brought for volume(s)", replaced, "opens the full's file and replaces the "
	    "differing one kept here");
	*kept = old;
	return 0;
}

/* Whether key opens the staged full's file of disk (backup_key_check, a
 * qemu-img check: about 2 s of key derivation). */
static int key_opens(struct unpacking *u, struct virt_host *h, const char *disk,
		     const uint8_t key[KEY_SEAL_KEY_BYTES], bool *opens)
{
	const struct backup_manifest *full = &u->e[0].m;
	char name[BACKUP_FILE_MAX];
	unsigned i;
	int fd, code = -1, ret;

	*opens = false;
	for (i = 0; i < full->nvol && strcmp(full->vol[i].disk, disk); i++)
		;
	if (i == full->nvol || !u->full_luks[i])
		return 0; /* no encrypted file of that disk: nothing it opens */
	backup_volume_file(full->id, disk, name, sizeof(name));
	if ((fd = openat(u->sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errbuf_fail(-errno, u->err, u->errlen, "%s/%s: %s", u->staging, name,
				   strerror(errno));
	ret = backup_key_check(h, fd, key, &code);
	close(fd);
	if (ret == -EBADMSG)
		return 0; /* a header restore refuses anyway: the key opens nothing here */
	if (ret < 0)
		return errbuf_fail(ret, u->err, u->errlen, "the key the copy brought for volume %s cannot "
				   "be checked against the full's file: %s", disk, h->err);
	*opens = code == 0 || code == 3;
	return 0;
}

/* The copy's keys (k, carried; kept, the same resealed) that do not open
 * the full's file of their volume left out of kept, and the summary says
 * so: they would make a restore here fail, and every copy onward carry
 * them. */
static int opening(struct unpacking *u, const struct backup_keys *k, struct backup_keys *kept)
{
	struct virt_host *h = calloc(1, sizeof(*h));
	uint8_t key[KEY_SEAL_KEY_BYTES];
	char wrong[160] = "";
	unsigned n = 0;
	bool opens;
	int ret = h ? 0 : errbuf_fail(-ENOMEM, u->err, u->errlen, "out of memory");

	for (unsigned j = 0; j < k->nvol && !ret; j++) {
		if (key_unseal(u->kin->self, k->vol[j].sealed, KEY_SEAL_BYTES, key) < 0)
			ret = errbuf_fail(-EPERM, u->err, u->errlen, "the key of volume %s does not open "
					  "with this node's identity", k->vol[j].disk);
		else if ((ret = key_opens(u, h, k->vol[j].disk, key, &opens)) == 0 && opens)
			kept->vol[n++] = kept->vol[j];
		else if (!ret)
			add_name(wrong, sizeof(wrong), k->vol[j].disk);
	}
	sodium_memzero(key, sizeof(key));
	free(h);
	kept->nvol = n;
	say(u, "the key it brought for volume(s)", wrong, "does not open the full's file (it was left "
	    "out)");
	return ret;
}

/* The full's encrypted volumes the copy's keys k leave out (the sender
 * had none of them: its guest gone or made again), for the summary. */
static void missing(struct unpacking *u, const struct backup_keys *k)
{
	const struct backup_manifest *full = &u->e[0].m;
	size_t at = strlen(u->ignored), n = 0;

	for (unsigned i = 0; i < full->nvol; i++)
		if (u->full_luks[i] && backup_keys_find(k, full->vol[i].disk) < 0 && at < sizeof(u->ignored))
			at += (size_t)snprintf(u->ignored + at, sizeof(u->ignored) - at, "%s %s",
					       n++ ? "," : "; no key came for volume(s)", full->vol[i].disk);
	if (n && at < sizeof(u->ignored))
		snprintf(u->ignored + at, sizeof(u->ignored) - at, " (restorable here only into a volume "
			 "under the same key)");
}

/* The copy's keys, if it has any: signed by whom trust accepts, of this
 * chain, sealed to this node, each opening the full's file (else left
 * out); staged again as FULL.keys, sealed to the seal key, the form
 * restore reads. */
static int keys(struct unpacking *u)
{
	const struct backup_manifest *full = &u->e[0].m, *top = &u->e[u->n - 1].m;
	struct backup_keys k, kept;
	struct export_sig s;
	char *text = NULL, *local = NULL, why[256];
	size_t len, llen;
	int ret;

	if (!u->keys_name[0])
		return 0;
	if (!u->kin)
		return errbuf_fail(-EBADMSG, u->err, u->errlen, "the copy carries keys, which this "
				   "receiver cannot keep");
	if ((ret = backup_read_small(u->staging, u->keys_name, BACKUP_KEYS_MAX, &text, &len, u->err,
				     u->errlen)) < 0)
		return ret;
	ret = backup_keys_verify(text, len, &k, &s, u->err, u->errlen);
	if (!ret && u->trust(&s, u->ctx, why, sizeof(why)) < 0)
		ret = errbuf_fail(-EBADMSG, u->err, u->errlen, "the copy's keys: %s", why);
	if (!ret)
		ret = backup_keys_match(&k, top, full, u->err, u->errlen);
	if (!ret)
		ret = backup_keys_reseal(&k, full->id, u->kin->self, u->kin->seal_pk, &kept, u->err,
					 u->errlen);
	if (!ret)
		missing(u, &k);
	if (!ret)
		ret = opening(u, &k, &kept);
	if (!ret && !(ret = backup_file_name(full->id, "keys", u->kept_name, sizeof(u->kept_name))))
		ret = merge(u, u->kept_name, top, full, &kept);
	if (!ret && kept.nvol) /* none opens, none kept before: no FULL.keys */
		ret = backup_keys_encode(&kept, &local, &llen, u->err, u->errlen);
	if (!ret && kept.nvol)
		ret = write_kept(u, local, llen);
	if (ret < 0 || !kept.nvol)
		u->kept_name[0] = '\0';
	free(text);
	free(local);
	return ret;
}

/* Link i, which the store holds with the copy's manifest: intact as the
 * listing and restore check it (signature, signer, every file's size and
 * SHA-256), else its files are to be replaced from the copy's, checked
 * against the same manifest. */
static int sound(struct unpacking *u, size_t i)
{
	char why[256] = "";
	ssize_t at;
	int ret;

	if (!u->listed && (ret = backup_list(u->gdir, u->trust, u->ctx, &u->held, &u->nheld, u->err,
					     u->errlen)) < 0)
		return ret;
	u->listed = true;
	at = backup_find(u->held, u->nheld, u->e[i].m.id);
	if (at < 0)
		snprintf(why, sizeof(why), "not listed");
	else if (!u->held[at].intact)
		snprintf(why, sizeof(why), "%s", u->held[at].why);
	else if (u->linked[i] < u->e[i].m.nvol) /* all linked: check() hashed these very files */
		backup_verify_files(u->gdir, &u->held[at], NULL, why, sizeof(why));
	if ((u->repair[i] = why[0] != '\0'))
		log_info("backup %s in %s is damaged (%s): its files are replaced from the copy",
			 u->e[i].m.id, u->gdir, why);
	return 0;
}

/* Which links the store lacks; one it holds must be the same, byte for
 * byte, and is repaired from the copy where it is damaged. */
static int compare(struct unpacking *u)
{
	char name[BACKUP_FILE_MAX], *mine = NULL, *theirs = NULL;
	size_t mlen, tlen;
	int ret = 0;

	for (size_t i = 0; i < u->n && !ret; i++) {
		backup_file_name(u->e[i].m.id, "json", name, sizeof(name));
		ret = backup_read_small(u->gdir, name, BACKUP_MANIFEST_MAX, &mine, &mlen, u->err, u->errlen);
		if (ret == -ENOENT) {
			u->fresh[i] = true;
			ret = 0;
			continue;
		}
		if (ret == 0)
			ret = backup_read_small(u->staging, name, BACKUP_MANIFEST_MAX, &theirs, &tlen,
						u->err, u->errlen);
		if (ret < 0 && ret != -EPERM)
			errbuf_set(u->err, u->errlen, "%s: %s", name, strerror(-ret));
		else if (ret == 0 && (mlen != tlen || memcmp(mine, theirs, mlen)))
			ret = errbuf_fail(-EEXIST, u->err, u->errlen, "the store already holds a different "
					  "backup %s of %s", u->e[i].m.id, u->guest);
		else if (ret == 0)
			ret = sound(u, i);
		free(mine);
		free(theirs);
		mine = theirs = NULL;
	}
	return ret;
}

static int move_in(struct unpacking *u, const char *name, unsigned flags)
{
	if (renameat2(u->sfd, name, u->gfd, name, flags) < 0)
		return errbuf_fail(-errno, u->err, u->errlen, "moving %s into %s: %s", name, u->gdir,
				   strerror(errno));
	return 0;
}

/* One link: its volume files, its signature, its manifest (never over
 * one); a damaged one the store holds (manifest false): all but the
 * manifest, which is the same. */
static int commit_one(struct unpacking *u, const struct backup_manifest *m, bool manifest)
{
	char name[BACKUP_FILE_MAX];
	int ret = 0;

	for (unsigned i = 0; i < m->nvol && !ret; i++) {
		backup_volume_file(m->id, m->vol[i].disk, name, sizeof(name));
		ret = move_in(u, name, 0);
	}
	if (!ret) {
		backup_file_name(m->id, "sig", name, sizeof(name));
		ret = move_in(u, name, 0);
	}
	if (!ret && manifest) {
		backup_file_name(m->id, "json", name, sizeof(name));
		ret = move_in(u, name, RENAME_NOREPLACE);
	}
	return ret;
}

static int commit(struct unpacking *u)
{
	int ret = 0;
	size_t i;

	for (i = 0; i < u->n && !ret; i++) {
		if (u->fresh[i] || u->repair[i])
			ret = commit_one(u, &u->e[i].m, u->fresh[i]);
		if (!ret) {
			u->stored += u->fresh[i];
			u->repaired += u->repair[i];
		}
	}
	if (!ret && u->kept_name[0]) /* over what an earlier copy kept: merged with it */
		ret = move_in(u, u->kept_name, 0);
	if (!ret && fsync(u->gfd) < 0)
		ret = errbuf_fail(-errno, u->err, u->errlen, "%s: %s", u->gdir, strerror(errno));
	if (!ret)
		return 0;
	/* i went one past the link that failed: it and each one moved in go
	 * (a repaired one stays: its files are now its manifest's) */
	while (i-- > 0)
		if (u->fresh[i])
			backup_remove(u->gdir, &u->e[i].m);
	u->stored = 0;
	return ret;
}

int backup_copy_unpack(const char *dir, const char *guest, int fd, backup_trust_fn trust,
		       void *ctx, const struct backup_copy_keys_in *kin, char *summary, size_t slen,
		       char *err, size_t errlen)
{
	struct unpacking u = { .guest = guest, .gfd = -1, .sfd = -1, .trust = trust, .ctx = ctx,
			       .kin = kin, .err = err, .errlen = errlen };
	char fixed[64] = "", kept[128] = "", size[32];
	struct stat st;
	int ret, lock = -1;

	summary[0] = '\0';
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return errbuf_fail(-EBADF, err, errlen, "the copy is not a regular file");
	if ((ret = backup_guest_dir(dir, guest, true, u.gdir, sizeof(u.gdir), err, errlen)) < 0)
		return ret;
	if ((u.gfd = open(u.gdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errbuf_fail(-errno, err, errlen, "%s: %s", u.gdir, strerror(errno));
	u.size = (uint64_t)st.st_size; /* the only look at it: the sender may still grow it */
	if ((ret = backup_lock(u.gdir, &lock, err, errlen)) < 0)
		goto cleanup;
	backup_copy_sweep(u.gfd, u.gdir); /* the lock is ours: no copy or backup is under way */
	if ((ret = room(&u, u.size)) < 0 || (ret = stage(&u, fd)) < 0 || (ret = fill(&u)) < 0 ||
	    (ret = check(&u)) < 0 ||
	    (ret = keys(&u)) < 0 || (ret = compare(&u)) < 0 || (ret = commit(&u)) < 0)
		goto cleanup;
	if (u.repaired)
		snprintf(fixed, sizeof(fixed), ", %zu of them damaged there and repaired", u.repaired);
	format_size(u.taken_bytes, size, sizeof(size));
	if (u.taken)
		snprintf(kept, sizeof(kept), "; %zu volume file(s) (%s) held here already, checked, "
			 "not sent again", u.taken, size);
	snprintf(summary, slen, "%zu backup(s) of %s stored in %s, %zu already there%s (the chain "
		 "ending at %s)%s%s%s", u.stored, guest, u.gdir, u.n - u.stored, fixed, u.e[u.n - 1].m.id, kept,
		 !u.encrypted ? "" : u.kept_name[0] ?
		 "; LUKS-encrypted, its volumes' keys kept here sealed to this node's seal key: "
		 "restorable here into a guest made again too" :
		 u.keys_name[0] ? "; LUKS-encrypted, no key it brought opens it: restorable here only "
		 "into a volume under the same key" :
		 "; LUKS-encrypted, no key came with it (the sender holds none for these volumes: the "
		 "guest gone or made again there, or it runs an older build): restorable here only "
		 "into a volume under the same key",
		 u.ignored);
cleanup:
	if (u.sfd >= 0)
		close(u.sfd);
	if (u.staged)
		backup_copy_remove_dir(u.gfd, strrchr(u.staging, '/') + 1);
	if (ret < 0 && lock >= 0) /* made for this copy: an empty one goes, while it is ours */
		rmdir(u.gdir);
	backup_unlock(lock);
	close(u.gfd);
	free(u.e);
	free(u.held);
	return ret;
}
