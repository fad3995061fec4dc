/* A data volume kept aside while a restore replaces it
 * (virt/virt-backup-internal.h): a hard link to its file in the pool,
 * <pool>/.osi-restore-VOL, and, when its key changes, that key sealed to
 * the node's seal key in <pool>/.osi-restore-VOL.key (root's, 0600,
 * written atomically). Both stay until the new volume is in place, or the
 * old one is back under its name with its key; one left over is never
 * removed here (it may hold the only copy of the volume's data or key). */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/errbuf.h"
#include "lib/fileio.h"
#include "lib/json-fields.h"
#include "lib/key-seal.h"
#include "virt/virt-backup-internal.h"

int backup_aside_names(const char *pool_dir, const char *vol, struct backup_aside *a)
{
	memset(a, 0, sizeof(*a));
	if (!pool_dir[0] ||
	    snprintf(a->path, sizeof(a->path), "%s/%s", pool_dir, vol) >= (int)sizeof(a->path) ||
	    snprintf(a->kept, sizeof(a->kept), "%s/.osi-restore-%s", pool_dir, vol) >=
		    (int)sizeof(a->kept) ||
	    snprintf(a->keyf, sizeof(a->keyf), "%s.key", a->kept) >= (int)sizeof(a->keyf))
		return -ENAMETOOLONG;
	return 0;
}

static int key_file(struct backup_aside *a, const char *secret, const uint8_t seal_pk[32],
		    const uint8_t key[KEY_SEAL_KEY_BYTES])
{
	uint8_t sealed[KEY_SEAL_BYTES];
	char b64[KEY_SEAL_B64_MAX], *text = NULL;
	json_t *o;
	int ret;

	if (key_seal_x25519(seal_pk, key, sealed) < 0)
		return -EINVAL;
	key_seal_b64(sealed, b64);
	o = json_pack("{s:s, s:s, s:s, s:s}", "format", BACKUP_ASIDE_KEY_FORMAT, "file", a->kept,
		      "secret", secret, "sealed", b64);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!text)
		return -ENOMEM;
	ret = atomic_create_file(a->keyf, text, strlen(text), 0600);
	free(text);
	return ret;
}

int backup_aside_refuse(const struct backup_aside *a, const char *guest, char *err, size_t errlen)
{
	struct stat st;
	bool key = lstat(a->keyf, &st) == 0;

	if (!key && lstat(a->kept, &st) < 0)
		return 0;
	return errbuf_fail(-EEXIST, err, errlen, "%s%s remains from a restore that did not finish (it "
			   "holds the volume's data%s from before it): nothing is removed; put it back "
			   "with os-infrastructure vm restore %s --put-back (docs/operator.md, \"A "
			   "restore that failed\"), then restore again", a->kept, key ? " and .key" : "",
			   key ? " and key" : "", guest);
}

int backup_aside_set(struct backup_aside *a, const char *guest, const char *secret,
		     const uint8_t *seal_pk, const uint8_t *key, char *err, size_t errlen)
{
	int ret;

	if ((ret = backup_aside_refuse(a, guest, err, errlen)) < 0)
		return ret;
	if (link(a->path, a->kept) < 0)
		return errbuf_fail(-errno, err, errlen, "keeping %s until its replacement is in place: %s",
				   a->path, strerror(errno));
	a->linked = true;
	if (!key)
		return 0;
	if ((ret = key_file(a, secret, seal_pk, key)) < 0) {
		unlink(a->kept); /* the same file as the volume's, which nothing changed yet */
		a->linked = false;
		return errbuf_fail(ret, err, errlen, "keeping the key of %s in %s: %s", a->path, a->keyf,
				   strerror(-ret));
	}
	a->keyed = true;
	return 0;
}

int backup_aside_put_back(struct backup_aside *a)
{
	struct stat x, y;

	/* the same file under both names (its deletion failed): rename would
	 * leave both */
	if (stat(a->path, &x) == 0 && stat(a->kept, &y) == 0 && x.st_dev == y.st_dev &&
	    x.st_ino == y.st_ino) {
		if (unlink(a->kept) < 0)
			return -errno;
	} else if (rename(a->kept, a->path) < 0) {
		return -errno;
	}
	a->linked = false; /* it is the volume's file again */
	return 0;
}

void backup_aside_release(struct backup_aside *a)
{
	if (a->keyed && unlink(a->keyf) == 0)
		a->keyed = false;
	if (a->linked && unlink(a->kept) == 0)
		a->linked = false;
}

/* The temporaries of a->keyf in its directory: NAME.key.tmp.DIGITS. */
static int temporaries(const struct backup_aside *a, struct backup_aside_left *l, char *err,
		       size_t errlen)
{
	const char *base = strrchr(a->keyf, '/') + 1;
	size_t dlen = (size_t)(base - a->keyf), blen = strlen(base);
	char dir[PATH_MAX];
	struct dirent *d;
	DIR *dp;
	int ret = 0;

	snprintf(dir, sizeof(dir), "%.*s", (int)dlen, a->keyf);
	if (!(dp = opendir(dir)))
		return errbuf_fail(-errno, err, errlen, "%s: %s", dir, strerror(errno));
	while (!ret && (d = readdir(dp))) {
		const char *pid;

		if (strncmp(d->d_name, base, blen) || strncmp(d->d_name + blen, ".tmp.", 5))
			continue;
		pid = d->d_name + blen + 5;
		if (!*pid || strspn(pid, "0123456789") != strlen(pid))
			continue;
		if (l->ntmp == BACKUP_ASIDE_TMP_MAX)
			ret = errbuf_fail(-EINVAL, err, errlen, "more than %d temporaries of %s: not what "
					  "restores leave", BACKUP_ASIDE_TMP_MAX, a->keyf);
		else if (snprintf(l->tmp[l->ntmp++], PATH_MAX, "%s%s", dir, d->d_name) >= PATH_MAX)
			ret = errbuf_fail(-ENAMETOOLONG, err, errlen, "%s%s: name too long", dir, d->d_name);
	}
	closedir(dp);
	return ret;
}

int backup_aside_left(const struct backup_aside *a, struct backup_aside_left *l, char *err,
		      size_t errlen)
{
	struct stat st;

	memset(l, 0, sizeof(*l));
	if (lstat(a->kept, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return errbuf_fail(-EINVAL, err, errlen, "%s is not a regular file: not what a "
					   "restore leaves", a->kept);
		l->kept = true;
	}
	l->keyf = lstat(a->keyf, &st) == 0;
	return temporaries(a, l, err, errlen);
}

int backup_aside_key_parse(const char *text, size_t len, struct backup_aside_key *k, char *err,
			   size_t errlen)
{
	static const char *const keys[] = { "file", "format", "secret", "sealed", NULL };
	char format[32], b64[KEY_SEAL_B64_MAX];
	json_error_t jerr;
	json_t *o;
	int ret;

	memset(k, 0, sizeof(*k));
	if (!(o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)))
		return errbuf_fail(-EBADMSG, err, errlen, "not JSON: %s", jerr.text);
	if (!json_is_object(o))
		ret = errbuf_fail(-EBADMSG, err, errlen, "not a JSON object");
	else if (!(ret = json_fields_exact(o, keys, "", err, errlen)) &&
		 !(ret = json_field_text(o, "", "format", format, sizeof(format), err, errlen)) &&
		 strcmp(format, BACKUP_ASIDE_KEY_FORMAT))
		ret = errbuf_fail(-EBADMSG, err, errlen, "format: '%s', this version reads %s", format,
				  BACKUP_ASIDE_KEY_FORMAT);
	if (!ret && !(ret = json_field_text(o, "", "file", k->file, sizeof(k->file), err, errlen)) &&
	    !(ret = json_field_text(o, "", "secret", k->secret, sizeof(k->secret), err, errlen)) &&
	    !(ret = json_field_text(o, "", "sealed", b64, sizeof(b64), err, errlen)) &&
	    key_seal_unb64(b64, k->sealed) < 0)
		ret = errbuf_fail(-EBADMSG, err, errlen, "sealed: not the base64 of %d bytes",
				  KEY_SEAL_BYTES);
	json_decref(o);
	return ret ? -EBADMSG : 0;
}

static int small_read(int fd, size_t size, char **text, size_t *len)
{
	ssize_t n;

	if (!(*text = malloc(size + 1)))
		return -ENOMEM;
	while ((n = pread(fd, *text, size, 0)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -errno;
	*len = (size_t)n;
	return 0;
}

/* One key file: root's, not a symlink, of a's kept file and secret,
 * opened with the seal key; *cut when it is all that but does not parse
 * (a temporary cut short by a writer killed before it synced it). */
static int open_one(const struct backup_aside *a, const char *path, const char *secret,
		    const uint8_t pk[32], const uint8_t sk[32], uint8_t key[KEY_SEAL_KEY_BYTES],
		    bool *cut, char *err, size_t errlen)
{
	struct backup_aside_key k;
	char *text = NULL, why[256] = "";
	size_t len = 0;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ret = 0;

	*cut = false;
	if (fd < 0 || fstat(fd, &st) < 0)
		ret = errbuf_fail(-errno, why, sizeof(why), "%s", strerror(errno));
	else if (!S_ISREG(st.st_mode) || st.st_size > 4096)
		ret = errbuf_fail(-EBADMSG, why, sizeof(why), "not a small regular file");
	else if (!(ret = backup_owned("it", &st, why, sizeof(why))) &&
		 !(ret = small_read(fd, (size_t)st.st_size, &text, &len)))
		*cut = (ret = backup_aside_key_parse(text, len, &k, why, sizeof(why))) < 0;
	if (fd >= 0)
		close(fd);
	free(text);
	if (!ret && strcmp(k.file, a->kept))
		ret = errbuf_fail(-EBADMSG, why, sizeof(why), "it is the key of %s, not of %s", k.file,
				  a->kept);
	else if (!ret && strcmp(k.secret, secret))
		ret = errbuf_fail(-EBADMSG, why, sizeof(why), "it names secret %s, the volume's is %s",
				  k.secret, secret[0] ? secret : "none (a plain volume)");
	else if (!ret && crypto_box_seal_open(key, k.sealed, KEY_SEAL_BYTES, pk, sk) < 0)
		ret = errbuf_fail(-EPERM, why, sizeof(why), "it is sealed to another key than this "
				  "node's seal key");
	return ret ? errbuf_fail(ret, err, errlen, "%s: %s", path, why) : 0;
}

int backup_aside_key_open(const struct backup_aside *a, const struct backup_aside_left *l,
			  const char *secret, const uint8_t seal_pk[32], const uint8_t seal_sk[32],
			  uint8_t key[KEY_SEAL_KEY_BYTES], char *err, size_t errlen)
{
	uint8_t other[KEY_SEAL_KEY_BYTES];
	const char *first = a->keyf;
	bool have = false, cut = false;
	int ret = 0;

	if (l->keyf && !(ret = open_one(a, a->keyf, secret, seal_pk, seal_sk, key, &cut, err, errlen)))
		have = true;
	for (unsigned i = 0; !ret && i < l->ntmp; i++) {
		ret = open_one(a, l->tmp[i], secret, seal_pk, seal_sk, have ? other : key, &cut, err,
			       errlen);
		if (ret && cut && !l->keyf) { /* the key file was never whole: nothing changed since */
			ret = 0;
			continue;
		}
		if (!ret && have && sodium_memcmp(other, key, sizeof(other)))
			ret = errbuf_fail(-EBADMSG, err, errlen, "%s holds another key than %s", l->tmp[i],
					  first);
		if (!have)
			first = l->tmp[i];
		have = true;
	}
	sodium_memzero(other, sizeof(other));
	if (ret)
		sodium_memzero(key, KEY_SEAL_KEY_BYTES);
	return ret ? ret : have ? 0 : -ENOENT;
}

int backup_aside_key_drop(const struct backup_aside *a, const struct backup_aside_left *l)
{
	for (unsigned i = 0; i < l->ntmp; i++)
		if (unlink(l->tmp[i]) < 0 && errno != ENOENT)
			return -errno;
	if (l->keyf && unlink(a->keyf) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}
