/* A guest's backup directory (virt/virt-backup.h): DIR/GUEST/ID.json,
 * ID.sig and ID.DISK.qcow2, all 0600 in 0700 directories. A backup exists
 * once its signature file does: the volume files come first, then the
 * manifest, then the signature, each written aside and renamed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "virt/virt-backup.h"
#include "lib/sha256.h"

#define READ_BLOCK (1 << 20)

const char *backup_link_header_check(const uint8_t *b, size_t n)
{
	uint64_t incompat = 0;

	if (n < 8 || memcmp(b, "QFI\xfb", 4))
		return "not a qcow2 file";
	if (b[4] | b[5] | b[6] || (b[7] != 2 && b[7] != 3))
		return "not qcow2 version 2 or 3";
	if (b[7] == 3 && n < 80)
		return "a short qcow2 header";
	for (unsigned k = 72; b[7] == 3 && k < 80; k++)
		incompat = incompat << 8 | b[k];
	if (incompat & 4) /* qcow2.txt: "external data file" */
		return "its header names an external data file";
	return NULL;
}

int backup_owned(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (st->st_uid != geteuid())
		return snprintf(err, errlen, "%s is owned by uid %u, not uid %u: refused (the backup "
				"store must be root's alone)", path, (unsigned)st->st_uid, (unsigned)geteuid()),
		       -EPERM;
	if (st->st_mode & 022)
		return snprintf(err, errlen, "%s is writable by its group or others (mode %04o): refused",
				path, (unsigned)(st->st_mode & 07777)), -EPERM;
	return 0;
}

/* An existing directory of the store: not a symlink, ours, 0700 (made so
 * when it was ours but looser); -ENOENT when absent. */
static int dir_private(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), ret;

	if (fd < 0) {
		ret = -errno;
		if (ret == -ELOOP || ret == -ENOTDIR)
			snprintf(err, errlen, "%s: not a directory (a symlink?): refused", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0)
		ret = -errno, snprintf(err, errlen, "%s: %s", path, strerror(-ret));
	else if (st.st_uid != geteuid())
		ret = backup_owned(path, &st, err, errlen);
	else if ((st.st_mode & 077) && fchmod(fd, 0700) < 0)
		ret = -errno, snprintf(err, errlen, "%s: chmod: %s", path, strerror(-ret));
	else
		ret = 0;
	close(fd);
	return ret;
}

static int mkdir_private(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -errno;
	return dir_private(path, err, errlen);
}

int backup_guest_dir(const char *dir, const char *guest, bool create, char *out, size_t len,
		     char *err, size_t errlen)
{
	int ret;

	if (!guest_name_valid(guest))
		return snprintf(err, errlen, "'%s' is not a guest name", guest), -EINVAL;
	if (snprintf(out, len, "%s/%s", dir, guest) >= (int)len)
		return snprintf(err, errlen, "%s: name too long", dir), -ENAMETOOLONG;
	if (!create) { /* absent is fine here: the caller then finds no backups */
		if ((ret = dir_private(dir, err, errlen)) < 0 || (ret = dir_private(out, err, errlen)) < 0)
			return ret == -ENOENT ? 0 : ret;
		return 0;
	}
	if ((ret = mkdir_private(dir, err, errlen)) < 0)
		return ret;
	return mkdir_private(out, err, errlen);
}

/* A small file of gdir into *text (malloc'd, NUL-terminated). */
int backup_read_small(const char *gdir, const char *name, size_t max, char **text, size_t *len,
		      char *why, size_t whylen)
{
	char path[PATH_MAX];
	struct stat st;
	ssize_t got;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", gdir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max)
		ret = -EFBIG;
	else if ((ret = backup_owned(name, &st, why, whylen)) < 0)
		;
	else if (!(*text = malloc((size_t)st.st_size + 1)))
		ret = -ENOMEM;
	else if ((got = read(fd, *text, (size_t)st.st_size)) != st.st_size)
		ret = -EIO;
	close(fd);
	if (ret) {
		if (ret != -EFBIG && ret != -ENOMEM && ret != -EPERM)
			free(*text);
		*text = NULL;
		return ret;
	}
	(*text)[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	return 0;
}

static bool check_files(const char *gdir, struct backup_entry *e)
{
	char name[BACKUP_FILE_MAX], path[PATH_MAX];
	struct stat st;

	for (unsigned i = 0; i < e->m.nvol; i++) {
		backup_volume_file(e->m.id, e->m.vol[i].disk, name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s", gdir, name);
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
			return snprintf(e->why, sizeof(e->why), "%s is missing", name), false;
		if (backup_owned(name, &st, e->why, sizeof(e->why)) < 0)
			return false;
		if ((uint64_t)st.st_size != e->m.vol[i].bytes)
			return snprintf(e->why, sizeof(e->why), "%s has %llu bytes, its manifest says %llu",
					name, (unsigned long long)st.st_size,
					(unsigned long long)e->m.vol[i].bytes), false;
	}
	return true;
}

/* One backup's manifest, signature and files; a damaged one is listed too. */
static int load_one(const char *gdir, const char *id, backup_trust_fn trust, void *ctx,
		    struct backup_entry *e)
{
	char name[BACKUP_FILE_MAX], *text = NULL, *sig = NULL, why[160] = "";
	size_t len, slen;
	struct export_sig s;
	int ret;

	memset(e, 0, sizeof(*e));
	snprintf(e->m.id, sizeof(e->m.id), "%s", id);
	backup_file_name(id, "json", name, sizeof(name));
	if ((ret = backup_read_small(gdir, name, BACKUP_MANIFEST_MAX, &text, &len, e->why,
			      sizeof(e->why))) < 0) {
		if (ret != -EPERM)
			snprintf(e->why, sizeof(e->why), "%s: %s", name, strerror(-ret));
		return ret == -ENOMEM ? ret : 0;
	}
	backup_file_name(id, "sig", name, sizeof(name));
	if ((ret = backup_read_small(gdir, name, EXPORT_SIG_MAX, &sig, &slen, why, sizeof(why))) < 0) {
		if (ret != -EPERM)
			snprintf(why, sizeof(why), "no signature (%s)", strerror(-ret));
	}
	else if (backup_sig_parse(sig, slen, &s, why, sizeof(why)) < 0)
		;
	else if (!backup_sig_valid(&s, text, len))
		snprintf(why, sizeof(why), "the signature does not verify: the manifest was altered");
	else if (trust && trust(&s, ctx, why, sizeof(why)) < 0)
		;
	else if (backup_manifest_parse(text, len, &e->m, why, sizeof(why)) < 0)
		snprintf(e->m.id, sizeof(e->m.id), "%s", id);
	else if (strcmp(e->m.id, id))
		snprintf(why, sizeof(why), "its manifest names backup %s", e->m.id);
	else
		e->intact = check_files(gdir, e);
	if (why[0])
		snprintf(e->why, sizeof(e->why), "%s", why);
	free(text);
	free(sig);
	return 0;
}

int backup_list(const char *gdir, backup_trust_fn trust, void *ctx, struct backup_entry **out,
		size_t *n, char *err, size_t errlen)
{
	DIR *d = opendir(gdir);
	struct dirent *de;
	struct backup_entry *e = NULL, *grown;
	size_t cap = 0;
	int ret = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", gdir, strerror(errno)), -errno);
	while (!ret && (de = readdir(d))) {
		char id[BACKUP_ID_LEN + 1];

		if (strlen(de->d_name) != BACKUP_ID_LEN + 5 || strcmp(de->d_name + BACKUP_ID_LEN, ".json"))
			continue;
		snprintf(id, sizeof(id), "%.*s", BACKUP_ID_LEN, de->d_name);
		if (!backup_id_valid(id))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			if (!(grown = realloc(e, cap * sizeof(*e)))) {
				ret = -ENOMEM;
				break;
			}
			e = grown;
		}
		if (!(ret = load_one(gdir, id, trust, ctx, &e[*n])))
			(*n)++;
	}
	closedir(d);
	if (ret) {
		free(e);
		*n = 0;
		return snprintf(err, errlen, "%s: %s", gdir, strerror(-ret)), ret;
	}
	backup_sort(e, *n);
	*out = e;
	return 0;
}

int backup_lock(const char *gdir, int *fd, char *err, size_t errlen)
{
	*fd = open(gdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0)
		return snprintf(err, errlen, "%s: %s", gdir, strerror(errno)), -errno;
	if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	close(*fd);
	*fd = -1;
	if (errno == EWOULDBLOCK)
		return snprintf(err, errlen, "another backup or restore of this guest is running (%s is "
				"locked): try again when it ends", gdir), -EBUSY;
	return snprintf(err, errlen, "%s: lock: %s", gdir, strerror(errno)), -errno;
}

void backup_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

static int hash_fd(int fd, char out[65])
{
	struct sha256 *s = sha256_new();
	char *buf = malloc(READ_BLOCK);
	ssize_t got = 0;
	int ret = 0;

	if (!s || !buf)
		ret = -ENOMEM;
	while (!ret && (got = read(fd, buf, READ_BLOCK)) != 0)
		if (got < 0 && errno != EINTR)
			ret = -errno;
		else if (got > 0)
			sha256_update(s, buf, (size_t)got);
	if (!ret)
		sha256_hex(s, out);
	else
		sha256_free(s);
	free(buf);
	return ret;
}

/* One volume file opened once: not a symlink, ours, its hash the manifest's. */
static int verify_one(const char *gdir, const struct backup_manifest *m, unsigned i, int *fd,
		      char *err, size_t errlen)
{
	char name[BACKUP_FILE_MAX], path[PATH_MAX], sum[65];
	struct stat st;
	int ret;

	backup_volume_file(m->id, m->vol[i].disk, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", gdir, name);
	if ((*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(*fd, &st) < 0)
		return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -errno;
	if (!S_ISREG(st.st_mode))
		return snprintf(err, errlen, "%s: not a regular file", path), -EINVAL;
	if ((ret = backup_owned(path, &st, err, errlen)) < 0)
		return ret;
	if ((ret = hash_fd(*fd, sum)) < 0)
		return snprintf(err, errlen, "%s: %s", path, strerror(-ret)), ret;
	if (strcmp(sum, m->vol[i].sha256))
		return snprintf(err, errlen, "%s: altered (on its disk, or in transit): SHA-256 "
				"%s, its manifest says %s", name, sum, m->vol[i].sha256), -EBADMSG;
	return 0;
}

int backup_verify_file(const char *gdir, const struct backup_manifest *m, unsigned i, int *fd,
		       char *err, size_t errlen)
{
	int ret = verify_one(gdir, m, i, fd, err, errlen);

	if (ret < 0 && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return ret;
}

int backup_verify_files(const char *gdir, const struct backup_entry *e, int *fds, char *err,
			size_t errlen)
{
	int ret = 0, fd;

	for (unsigned i = 0; i < e->m.nvol && !ret; i++) {
		ret = verify_one(gdir, &e->m, i, &fd, err, errlen);
		if (fds && !ret)
			fds[i] = fd;
		else if (fd >= 0)
			close(fd);
	}
	return ret;
}

static int write_file(const char *gdir, const char *name, const char *text, size_t len,
		      char *err, size_t errlen)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", gdir, name);
	ret = atomic_create_file(path, text, len, 0600);
	if (ret < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
	return ret;
}

int backup_store_manifest(const char *gdir, const struct backup_manifest *m,
			  const struct identity *signer, char *err, size_t errlen)
{
	char *text = NULL, *sig = NULL, name[BACKUP_FILE_MAX];
	size_t len, slen;
	int ret = backup_manifest_encode(m, &text, &len, err, errlen);

	if (!ret)
		ret = backup_sign(signer, text, len, &sig, &slen);
	if (!ret && !(ret = backup_file_name(m->id, "json", name, sizeof(name))))
		ret = write_file(gdir, name, text, len, err, errlen);
	if (!ret && !(ret = backup_file_name(m->id, "sig", name, sizeof(name))))
		ret = write_file(gdir, name, sig, slen, err, errlen);
	free(text);
	free(sig);
	return ret;
}

int backup_remove(const char *gdir, const struct backup_manifest *m)
{
	char name[BACKUP_FILE_MAX], path[PATH_MAX];
	const char *what[] = { "keys", "sig", "json" };
	int ret = 0;

	for (unsigned i = 0; i < 3; i++) {
		backup_file_name(m->id, what[i], name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s", gdir, name);
		if (unlink(path) < 0 && errno != ENOENT)
			ret = -errno;
	}
	for (unsigned i = 0; i < m->nvol; i++) {
		backup_volume_file(m->id, m->vol[i].disk, name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s", gdir, name);
		if (unlink(path) < 0 && errno != ENOENT)
			ret = -errno;
	}
	return ret;
}
