/* Packing the chain ending at one backup of this node's store into a backup
 * copy's tar (virt/virt-backup-copy.h). Every link is listed, the files the
 * receiver holds are left out (the offer hook), and the others hashed before
 * a byte is written; the bytes written are read from the descriptors that
 * were hashed. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lib/bytes.h"
#include "lib/errbuf.h"
#include "virt/virt-backup-copy.h"

#define COPY_BLOCK (1 << 20)
#define TAR_OVERHEAD (1u << 20) /* headers and padding, generously */

struct link {
	const struct backup_entry *e;
	char *json, *sig;
	size_t json_len, sig_len;
	int fds[EXPORT_VOLUMES_MAX];
	bool skip[EXPORT_VOLUMES_MAX];  /* left out: the receiver holds it */
};

struct packing {
	const char *gdir;
	struct backup_entry *e;
	size_t n, len, *chain;
	struct link *l;
	uint64_t need;          /* the bytes of the files that go */
	uint64_t bound;         /* what the tar may be: as offered, less what is skipped */
	char *keys;             /* the ID.keys entry, or NULL */
	size_t keys_len;
	char *err;
	size_t errlen;
};

/* Reads name of gdir: ours, no symlink (backup_read_small). */
static int text_of(struct packing *p, const char *id, const char *what, size_t max, char **text,
		   size_t *len)
{
	char name[BACKUP_FILE_MAX];
	int ret;

	backup_file_name(id, what, name, sizeof(name));
	if ((ret = backup_read_small(p->gdir, name, max, text, len, p->err, p->errlen)) < 0 &&
	    ret != -EPERM)
		errbuf_set(p->err, p->errlen, "%s/%s: %s", p->gdir, name, strerror(-ret));
	return ret;
}

/* A link's manifest and signature as they are on disk: the signature over
 * these bytes, the manifest the one the listing checked. */
static int texts(struct packing *p, struct link *l)
{
	struct backup_manifest m;
	struct export_sig s;
	char why[160];
	int ret;

	if ((ret = text_of(p, l->e->m.id, "json", BACKUP_MANIFEST_MAX, &l->json, &l->json_len)) < 0 ||
	    (ret = text_of(p, l->e->m.id, "sig", EXPORT_SIG_MAX, &l->sig, &l->sig_len)) < 0)
		return ret;
	if (backup_sig_parse(l->sig, l->sig_len, &s, why, sizeof(why)) < 0 ||
	    !backup_sig_valid(&s, l->json, l->json_len) ||
	    backup_manifest_parse(l->json, l->json_len, &m, why, sizeof(why)) < 0 || strcmp(m.id, l->e->m.id) ||
	    m.nvol != l->e->m.nvol)
		return errbuf_fail(-EBADMSG, p->err, p->errlen, "backup %s changed while it was packed",
				   l->e->m.id);
	for (unsigned i = 0; i < m.nvol; i++)
		if (strcmp(m.vol[i].disk, l->e->m.vol[i].disk) || strcmp(m.vol[i].sha256, l->e->m.vol[i].sha256))
			return errbuf_fail(-EBADMSG, p->err, p->errlen, "backup %s changed while it was "
					   "packed", l->e->m.id);
	p->need += l->json_len + l->sig_len;
	return 0;
}

static int verify(struct packing *p, const char *id)
{
	ssize_t at = backup_find(p->e, p->n, id);
	int ret;

	if (at < 0)
		return errbuf_fail(-ENOENT, p->err, p->errlen, "there is no backup %s in %s", id, p->gdir);
	if (!(p->chain = calloc(p->n, sizeof(*p->chain))) || !(p->l = calloc(p->n, sizeof(*p->l))))
		return -ENOMEM;
	if ((ret = backup_chain(p->e, p->n, (size_t)at, p->chain, &p->len, p->err, p->errlen)) < 0)
		return ret;
	for (size_t k = 0; k < p->len; k++) {
		struct link *l = &p->l[k];

		l->e = &p->e[p->chain[k]];
		for (unsigned i = 0; i < EXPORT_VOLUMES_MAX; i++)
			l->fds[i] = -1;
		if ((ret = texts(p, l)) < 0)
			return ret;
	}
	return 0;
}

/* The chain's volume files to the offer hook, which says which to leave
 * out; the bound counts every file and the keys at their largest. */
static int offer(struct packing *p, const struct backup_copy_hooks *h)
{
	struct backup_copy_file f[BACKUP_COPY_FILES_MAX];
	bool skip[BACKUP_COPY_FILES_MAX] = { false };
	size_t n = 0, at = 0;
	int ret = 0;

	p->bound = p->need + BACKUP_KEYS_MAX + TAR_OVERHEAD;
	for (size_t k = 0; k < p->len; k++)
		for (unsigned i = 0; i < p->l[k].e->m.nvol && n < BACKUP_COPY_FILES_MAX; i++, n++) {
			const struct backup_manifest *m = &p->l[k].e->m;

			memcpy(f[n].id, m->id, sizeof(f[n].id));
			memcpy(f[n].disk, m->vol[i].disk, sizeof(f[n].disk));
			memcpy(f[n].sha256, m->vol[i].sha256, sizeof(f[n].sha256));
			f[n].bytes = m->vol[i].bytes;
			p->bound += f[n].bytes;
		}
	if (h && h->offer)
		ret = h->offer(h->octx, f, n, p->bound, skip, p->err, p->errlen);
	for (size_t k = 0; !ret && k < p->len; k++)
		for (unsigned i = 0; i < p->l[k].e->m.nvol; i++, at++)
			if ((p->l[k].skip[i] = skip[at]))
				p->bound -= f[at].bytes;
	return ret;
}

/* Each file that goes, hashed against its manifest: its descriptor kept. */
static int hash(struct packing *p)
{
	int ret = 0;

	for (size_t k = 0; k < p->len && !ret; k++) {
		struct link *l = &p->l[k];

		for (unsigned i = 0; i < l->e->m.nvol && !ret; i++)
			if (!l->skip[i] && !(ret = backup_verify_file(p->gdir, &l->e->m, i, &l->fds[i],
								      p->err, p->errlen)))
				p->need += l->e->m.vol[i].bytes;
	}
	return ret;
}

/* The first bytes of the full's volume file i: from the descriptor hashed,
 * or, for one left out, from the file (whether it is LUKS decides only
 * whether keys go; the receiver checks them against the full's hash). */
static bool full_head(struct packing *p, unsigned i, uint8_t head[36])
{
	const struct backup_manifest *m = &p->l[0].e->m;
	char name[BACKUP_FILE_MAX], path[PATH_MAX];
	int fd = p->l[0].fds[i];
	bool ok;

	if (fd < 0) {
		backup_volume_file(m->id, m->vol[i].disk, name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s", p->gdir, name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	ok = fd >= 0 && pread(fd, head, 36, 0) == 36;
	if (fd >= 0 && fd != p->l[0].fds[i])
		close(fd);
	return ok;
}

/* The keys entry, when the chain's full has an encrypted volume file
 * (its qcow2 header's crypt_method: LUKS) and the caller makes one. */
static int keys_of(struct packing *p, backup_copy_keys_fn keys, void *kctx)
{
	const struct backup_manifest *full = &p->l[0].e->m, *top = &p->l[p->len - 1].e->m;
	bool encrypted[EXPORT_VOLUMES_MAX] = { false }, any = false;
	uint8_t head[36];
	int ret;

	if (!keys)
		return 0;
	for (unsigned i = 0; i < full->nvol; i++) {
		encrypted[i] = full_head(p, i, head) && get_be32(head + 32) == 2;
		any |= encrypted[i];
	}
	if (!any)
		return 0;
	if ((ret = keys(kctx, full, top, encrypted, &p->keys, &p->keys_len, p->err, p->errlen)) < 0)
		return ret;
	p->need += p->keys ? p->keys_len : 0;
	return 0;
}

static int room(struct packing *p, int out)
{
	struct statvfs vfs;
	struct stat st;
	uint64_t free_bytes, need = p->need + TAR_OVERHEAD;

	if (fstat(out, &st) < 0 || !S_ISREG(st.st_mode) || fstatvfs(out, &vfs) < 0 || !vfs.f_blocks)
		return 0; /* no figure to go by (a memfd's has none) */
	free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (free_bytes < need)
		return errbuf_fail(-ENOSPC, p->err, p->errlen, "no room to pack the chain: it needs %llu "
				   "bytes, %llu are free where it is written", (unsigned long long)need,
				   (unsigned long long)free_bytes);
	return 0;
}

/* What an interrupted copy or backup left, while gdir's lock is free to
 * take (its holder may be making a backup there: left for later). */
static void sweep(const char *gdir)
{
	char why[256];
	int lock;

	if (backup_lock(gdir, &lock, why, sizeof(why)) < 0)
		return;
	backup_copy_sweep(lock, gdir);
	backup_unlock(lock);
}

static int header(struct archive *a, const char *name, uint64_t size, int64_t mtime)
{
	struct archive_entry *ae = archive_entry_new();
	int r;

	if (!ae)
		return -ENOMEM;
	archive_entry_set_pathname(ae, name);
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0600);
	archive_entry_set_size(ae, (la_int64_t)size);
	archive_entry_set_mtime(ae, mtime, 0);
	r = archive_write_header(a, ae);
	archive_entry_free(ae);
	return r == ARCHIVE_OK ? 0 : -EIO;
}

static int put_text(struct archive *a, const char *id, const char *what, const char *text,
		    size_t len, int64_t mtime)
{
	char name[BACKUP_FILE_MAX];
	int ret = backup_file_name(id, what, name, sizeof(name));

	if (!ret)
		ret = header(a, name, len, mtime);
	if (!ret && archive_write_data(a, text, len) != (la_ssize_t)len)
		ret = -EIO;
	return ret;
}

/* A volume file, from the descriptor that was hashed, exactly its size. */
static int put_volume(struct packing *p, struct archive *a, const struct backup_manifest *m,
		      unsigned i, int fd, uint8_t *buf)
{
	char name[BACKUP_FILE_MAX];
	uint64_t off = 0, size = m->vol[i].bytes;
	int ret = backup_volume_file(m->id, m->vol[i].disk, name, sizeof(name));

	if (!ret)
		ret = header(a, name, size, m->created);
	while (!ret && off < size) {
		size_t want = size - off < COPY_BLOCK ? (size_t)(size - off) : COPY_BLOCK;
		ssize_t got = pread(fd, buf, want, (off_t)off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return errbuf_fail(got < 0 ? -errno : -EIO, p->err, p->errlen, "%s: %s", name,
					   got < 0 ? strerror(errno) : "shorter than its manifest says");
		if (archive_write_data(a, buf, (size_t)got) != got)
			ret = -EIO;
		off += (uint64_t)got;
	}
	return ret;
}

static int write_tar(struct packing *p, int out)
{
	struct archive *a = archive_write_new();
	uint8_t *buf = malloc(COPY_BLOCK);
	int ret = a && buf ? 0 : -ENOMEM;

	if (!ret && (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
		     archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
		     archive_write_open_fd(a, out) != ARCHIVE_OK))
		ret = -EIO;
	for (size_t k = 0; !ret && k < p->len; k++) {
		const struct link *l = &p->l[k];
		const struct backup_manifest *m = &l->e->m;

		ret = put_text(a, m->id, "json", l->json, l->json_len, m->created);
		if (!ret)
			ret = put_text(a, m->id, "sig", l->sig, l->sig_len, m->created);
		for (unsigned i = 0; !ret && i < m->nvol; i++)
			if (!l->skip[i])
				ret = put_volume(p, a, m, i, l->fds[i], buf);
	}
	if (!ret && p->keys) /* the newest link's id: after it, nothing */
		ret = put_text(a, p->l[p->len - 1].e->m.id, "keys", p->keys, p->keys_len,
			       p->l[p->len - 1].e->m.created);
	if (!ret && archive_write_close(a) != ARCHIVE_OK)
		ret = -EIO;
	if (ret == -EIO && a && !p->err[0])
		errbuf_set(p->err, p->errlen, "writing the copy: %s",
			   archive_error_string(a) ?: "short write");
	if (a)
		archive_write_free(a);
	free(buf);
	return ret;
}

static void done(struct packing *p)
{
	for (size_t k = 0; p->l && k < p->len; k++) {
		for (unsigned i = 0; i < EXPORT_VOLUMES_MAX; i++)
			if (p->l[k].fds[i] >= 0)
				close(p->l[k].fds[i]);
		free(p->l[k].json);
		free(p->l[k].sig);
	}
	free(p->l);
	free(p->chain);
	free(p->keys);
	free(p->e);
}

int backup_copy_pack(const char *gdir, const char *id, backup_trust_fn trust, void *ctx,
		     const struct backup_copy_hooks *hooks, int out, uint64_t *bytes, char *err,
		     size_t errlen)
{
	struct packing p = { .gdir = gdir, .err = err, .errlen = errlen };
	off_t start = lseek(out, 0, SEEK_CUR), end;
	int ret;

	*bytes = 0;
	if (errlen)
		err[0] = '\0';
	sweep(gdir);
	if ((ret = backup_list(gdir, trust, ctx, &p.e, &p.n, err, errlen)) < 0 ||
	    (ret = verify(&p, id)) < 0 || (ret = offer(&p, hooks)) < 0 || (ret = hash(&p)) < 0 ||
	    (ret = keys_of(&p, hooks ? hooks->keys : NULL, hooks ? hooks->kctx : NULL)) < 0 ||
	    (ret = room(&p, out)) < 0 || (ret = write_tar(&p, out)) < 0)
		goto cleanup;
	if (start >= 0 && (end = lseek(out, 0, SEEK_CUR)) >= start)
		*bytes = (uint64_t)(end - start);
	if (*bytes > p.bound) /* the offer's bound is what the receiver takes */
		ret = errbuf_fail(-EFBIG, err, errlen, "the packed copy's %llu bytes exceed its bound "
				  "of %llu", (unsigned long long)*bytes, (unsigned long long)p.bound);
cleanup:
	done(&p);
	if (ret == -ENOMEM && errlen && !err[0])
		errbuf_set(err, errlen, "out of memory");
	return ret;
}
