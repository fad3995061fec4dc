/* Reading a backup copy's tar from a peer (virt/virt-backup-copy.h): each
 * header checked before a byte of its entry is used, the order enforced so
 * that a link's files come together and no name comes twice. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/errbuf.h"
#include "lib/fileio.h"
#include "lib/sanitize.h"
#include "virt/virt-backup-copy.h"

#define READ_BLOCK (256 * 1024)

enum step { NO_LINK, HAD_JSON, HAD_SIG };

struct backup_tar {
	struct archive *a;
	int fd;
	uint64_t size, off, total, cur; /* the file's size, where pread is, entries so far, this one */
	uint8_t *in, *out;
	char id[BACKUP_ID_LEN + 1];     /* the current link */
	unsigned links, ndisks;
	enum step step;
	bool keys;                      /* ID.keys came: nothing may follow */
	char disks[EXPORT_VOLUMES_MAX][EXPORT_DISK_MAX + 1];
};

static bool disk_ok(const char *s, size_t n)
{
	if (n < 1 || n > EXPORT_DISK_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

bool backup_copy_name_parse(const char *name, struct backup_copy_entry *e)
{
	size_t n = strnlen(name, BACKUP_FILE_MAX);
	const char *rest = name + BACKUP_ID_LEN;

	memset(e, 0, sizeof(*e));
	if (n >= BACKUP_FILE_MAX || n <= BACKUP_ID_LEN || *rest != '.')
		return false;
	memcpy(e->id, name, BACKUP_ID_LEN);
	if (!backup_id_valid(e->id))
		return false;
	memcpy(e->name, name, n + 1);
	rest++;
	if (!strcmp(rest, "json"))
		return e->kind = BACKUP_COPY_JSON, true;
	if (!strcmp(rest, "sig"))
		return e->kind = BACKUP_COPY_SIG, true;
	if (!strcmp(rest, "keys"))
		return e->kind = BACKUP_COPY_KEYS, true;
	n = strlen(rest);
	if (n <= 6 || strcmp(rest + n - 6, ".qcow2") || !disk_ok(rest, n - 6))
		return false;
	memcpy(e->disk, rest, n - 6);
	e->kind = BACKUP_COPY_VOLUME;
	return true;
}

static la_ssize_t on_read(struct archive *a, void *opaque, const void **buf)
{
	struct backup_tar *t = opaque;
	size_t want = t->size - t->off < READ_BLOCK ? (size_t)(t->size - t->off) : READ_BLOCK;
	ssize_t n;

	do /* never past the bound: the sender may still grow the file */
		n = pread(t->fd, t->in, want, (off_t)t->off);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "%s", strerror(errno));
		return -1;
	}
	t->off += (uint64_t)n;
	*buf = t->in;
	return n;
}

int backup_tar_open(int fd, uint64_t size, struct backup_tar **out, char *err, size_t errlen)
{
	struct backup_tar *t = calloc(1, sizeof(*t));
	struct stat st;

	*out = NULL;
	if (!t || !(t->in = malloc(READ_BLOCK)) || !(t->out = malloc(READ_BLOCK)) ||
	    !(t->a = archive_read_new())) {
		backup_tar_close(t);
		return -ENOMEM;
	}
	t->fd = fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		backup_tar_close(t);
		return errbuf_fail(-EBADF, err, errlen, "the copy is not a regular file");
	}
	t->size = size;
	archive_read_support_format_tar(t->a); /* no filter: a compressed tar is refused */
	if (archive_read_open(t->a, t, NULL, on_read, NULL) != ARCHIVE_OK) {
		errbuf_set(err, errlen, "the copy is not a tar: %s", archive_error_string(t->a));
		backup_tar_close(t);
		return -EBADMSG;
	}
	*out = t;
	return 0;
}

void backup_tar_close(struct backup_tar *t)
{
	if (!t)
		return;
	if (t->a)
		archive_read_free(t->a);
	free(t->in);
	free(t->out);
	free(t);
}

static int damaged(struct backup_tar *t, char *err, size_t errlen)
{
	const char *why = archive_error_string(t->a);

	return errbuf_fail(-EBADMSG, err, errlen, "the copy is damaged or truncated: %s",
			   why ? why : "unexpected end");
}

/* Where e may come: a link's manifest starts it, its signature follows,
 * then its volumes, each once. */
static int in_order(struct backup_tar *t, const struct backup_copy_entry *e, char *err, size_t errlen)
{
	if (t->keys)
		return errbuf_fail(-EBADMSG, err, errlen, "%s after the keys: they come last", e->name);
	if (e->kind == BACKUP_COPY_JSON) {
		if (t->links && t->step == HAD_JSON)
			return errbuf_fail(-EBADMSG, err, errlen, "backup %s has no signature in the copy", t->id);
		if (t->links && strcmp(e->id, t->id) <= 0)
			return errbuf_fail(-EBADMSG, err, errlen, "%s after backup %s: the links must come "
					   "once each, oldest first", e->name, t->id);
		if (t->links == BACKUP_CHAIN_MAX)
			return errbuf_fail(-EBADMSG, err, errlen, "more than %d backups: a chain has at most %d",
					   BACKUP_CHAIN_MAX, BACKUP_CHAIN_MAX);
		memcpy(t->id, e->id, sizeof(t->id));
		t->links++;
		t->ndisks = 0;
		t->step = HAD_JSON;
		return 0;
	}
	if (!t->links)
		return errbuf_fail(-EBADMSG, err, errlen, "%s first: the copy starts with a manifest",
				   e->name);
	if (strcmp(e->id, t->id))
		return errbuf_fail(-EBADMSG, err, errlen, "%s where a file of backup %s or a manifest was "
				   "due: each link's files come together, its manifest first", e->name, t->id);
	if (e->kind == BACKUP_COPY_KEYS) { /* the last link's id; the tar ends after it */
		if (t->step != HAD_SIG)
			return errbuf_fail(-EBADMSG, err, errlen, "%s before its backup's signature", e->name);
		t->keys = true;
		return 0;
	}
	if (e->kind == BACKUP_COPY_SIG) {
		if (t->step != HAD_JSON)
			return errbuf_fail(-EBADMSG, err, errlen, "%s twice or after a volume", e->name);
		t->step = HAD_SIG;
		return 0;
	}
	if (t->step != HAD_SIG)
		return errbuf_fail(-EBADMSG, err, errlen, "%s before its backup's signature", e->name);
	for (unsigned i = 0; i < t->ndisks; i++)
		if (!strcmp(t->disks[i], e->disk))
			return errbuf_fail(-EBADMSG, err, errlen, "%s twice", e->name);
	if (t->ndisks == EXPORT_VOLUMES_MAX)
		return errbuf_fail(-EBADMSG, err, errlen, "backup %s has more than %d volumes", t->id,
				   EXPORT_VOLUMES_MAX);
	memcpy(t->disks[t->ndisks++], e->disk, sizeof(t->disks[0]));
	return 0;
}

static int sized(struct backup_tar *t, const struct backup_copy_entry *e, char *err, size_t errlen)
{
	uint64_t max = e->kind == BACKUP_COPY_JSON ? BACKUP_MANIFEST_MAX :
		       e->kind == BACKUP_COPY_SIG ? EXPORT_SIG_MAX :
		       e->kind == BACKUP_COPY_KEYS ? BACKUP_KEYS_MAX : UINT64_MAX;

	if (e->size > max)
		return errbuf_fail(-EBADMSG, err, errlen, "%s has %llu bytes, above %llu", e->name,
				   (unsigned long long)e->size, (unsigned long long)max);
	if (e->size > t->size - t->total)
		return errbuf_fail(-EBADMSG, err, errlen, "%s says %llu bytes, more than the copy holds "
				   "(%llu bytes in all)", e->name, (unsigned long long)e->size,
				   (unsigned long long)t->size);
	t->total += e->size;
	return 0;
}

/* A regular file in a ustar or pax header, nothing more. */
static int plain(struct backup_tar *t, struct archive_entry *ae, const char *shown, char *err,
		 size_t errlen)
{
	int f = archive_format(t->a);

	if (f != ARCHIVE_FORMAT_TAR_USTAR && f != ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE &&
	    f != ARCHIVE_FORMAT_TAR_PAX_RESTRICTED)
		return errbuf_fail(-EBADMSG, err, errlen, "the entry %s is not in a ustar or pax header "
				   "(%s)", shown, archive_format_name(t->a) ?: "?");
	if (archive_entry_filetype(ae) != AE_IFREG || archive_entry_hardlink(ae) ||
	    archive_entry_symlink(ae))
		return errbuf_fail(-EBADMSG, err, errlen, "the entry %s is not a regular file", shown);
	if (!archive_entry_size_is_set(ae) || archive_entry_size(ae) < 0 ||
	    archive_entry_sparse_count(ae) > 0)
		return errbuf_fail(-EBADMSG, err, errlen, "the entry %s has no plain size", shown);
	return 0;
}

int backup_tar_next(struct backup_tar *t, struct backup_copy_entry *e, char *err, size_t errlen)
{
	struct archive_entry *ae;
	char shown[2 * BACKUP_FILE_MAX];
	int r = archive_read_next_header(t->a, &ae);

	t->cur = 0;
	if (r == ARCHIVE_EOF) {
		if (!t->links)
			return errbuf_fail(-EBADMSG, err, errlen, "the copy holds no backup");
		if (t->step == HAD_JSON)
			return errbuf_fail(-EBADMSG, err, errlen, "backup %s has no signature in the copy", t->id);
		return 1;
	}
	if (r != ARCHIVE_OK)
		return damaged(t, err, errlen);
	sanitize_text(shown, sizeof(shown), archive_entry_pathname(ae) ?: "(unnamed)");
	if ((r = plain(t, ae, shown, err, errlen)) < 0)
		return r;
	if (!backup_copy_name_parse(archive_entry_pathname(ae) ?: "", e))
		return errbuf_fail(-EBADMSG, err, errlen, "unexpected entry %s: only ID.json, ID.sig, "
				   "ID.DISK.qcow2 and ID.keys of backups", shown);
	e->size = (uint64_t)archive_entry_size(ae);
	if ((r = in_order(t, e, err, errlen)) < 0 || (r = sized(t, e, err, errlen)) < 0)
		return r;
	t->cur = e->size;
	return 0;
}

int backup_tar_copy(struct backup_tar *t, int out, char *err, size_t errlen)
{
	uint64_t got = 0;
	la_ssize_t n;
	int ret;

	while ((n = archive_read_data(t->a, t->out, READ_BLOCK)) > 0) {
		got += (uint64_t)n;
		if (got > t->cur)
			break;
		if (out >= 0 && (ret = fd_write_all(out, t->out, (size_t)n)) < 0)
			return errbuf_fail(ret, err, errlen, "writing the copy: %s", strerror(-ret));
	}
	if (n < 0 || got != t->cur)
		return damaged(t, err, errlen);
	return 0;
}
