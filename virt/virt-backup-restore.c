/* Restoring a shut-off guest's data volumes from a backup chain
 * (virt/virt-backup.h). Every link's signature, trust and file SHA-256 are
 * checked first; then qemu-img reads the chain (the full at the bottom,
 * each incremental over the one before, named explicitly so that no backing
 * file a header names is ever opened) into one new qcow2 per volume in the
 * backup directory; only then is each volume replaced through libvirt: the
 * old one deleted (every one kept aside first, put back if any fails), a
 * new one of the same name and capacity created and the rebuilt file
 * uploaded. The guest's checkpoints go (their bitmaps are not in the new
 * volumes), so the next backup is a full. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/backup-keys.h"
#include "lib/bytes.h"
#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/key-seal.h"
#include "lib/log.h"
#include "lib/seal-key.h"
#include "lib/spawn-confined.h"
#include "virt/virt-backup-internal.h"
#include "virt/virt-internal.h"

struct restoring {
	struct virt_host *h;
	const struct identity *id;      /* opens an encrypted volume's sealed key */
	const char *guest;
	char gdir[PATH_MAX];
	struct backup_entry *e;
	size_t n, *chain, len;
	char luks[EXPORT_VOLUMES_MAX][40]; /* each target volume's secret, "" if plain */
	uint8_t key[EXPORT_VOLUMES_MAX][KEY_SEAL_KEY_BYTES]; /* an encrypted chain's, per volume */
	uint8_t old[EXPORT_VOLUMES_MAX][KEY_SEAL_KEY_BYTES]; /* the volume's own now */
	bool rekey[EXPORT_VOLUMES_MAX]; /* the volume goes under the chain's key (kept with it) */
	int *fds;                       /* [link * EXPORT_VOLUMES_MAX + vol]: what was hashed */
	char vol[EXPORT_VOLUMES_MAX][VIRT_VOL_NAME_MAX]; /* each disk's volume here */
	int src[EXPORT_VOLUMES_MAX];    /* what is uploaded into it */
	uint64_t size[EXPORT_VOLUMES_MAX];
	struct backup_aside aside[EXPORT_VOLUMES_MAX];
};

/* Link k's file of volume disk, opened (and hashed) once; -1 if it has none. */
static int link_fd(const struct restoring *r, size_t k, const char *disk)
{
	const struct backup_manifest *m = &r->e[r->chain[k]].m;

	for (unsigned i = 0; i < m->nvol; i++)
		if (!strcmp(m->vol[i].disk, disk))
			return r->fds[k * EXPORT_VOLUMES_MAX + i];
	return -1;
}

/* json: of the chain's files for volume disk, top first, each link's backing
 * the one below it and the full's none. */
static char *chain_json(const struct restoring *r, const char *disk, bool luks)
{
	json_t *below = json_null(), *node = NULL;
	char path[32], *text;

	for (size_t k = 0; k < r->len; k++) {
		snprintf(path, sizeof(path), "/dev/fd/%d", link_fd(r, k, disk));
		node = json_pack("{s:s, s:{s:s, s:s}, s:o}", "driver", "qcow2", "file", "driver", "file",
				 "filename", path, "backing", below);
		if (node && luks) /* each link opens under the volume's key */
			json_object_set_new(node, "encrypt", json_pack("{s:s, s:s}", "format", "luks",
								       "key-secret", "k0"));
		if (!node)
			return NULL;
		below = node;
	}
	text = json_dumps(node, JSON_COMPACT);
	json_decref(node);
	return text;
}

unsigned backup_key_check_limit_s = 60;
unsigned backup_convert_floor_s = 600;

/* Waits for pid; past limit_s seconds (0: none) it is killed (*killed). */
static int reap(pid_t pid, unsigned limit_s, int *status, bool *killed)
{
	uint64_t until = clock_mono_ns() + (uint64_t)limit_s * 1000000000ull;
	struct timespec tick = { 0, 20000000 };
	pid_t r;

	*killed = false;
	while ((r = waitpid(pid, status, limit_s && !*killed ? WNOHANG : 0)) != pid) {
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0 && clock_mono_ns() >= until) {
			kill(pid, SIGKILL);
			*killed = true;
		} else if (r == 0) {
			nanosleep(&tick, NULL);
		}
	}
	return 0;
}

/* qemu-img, confined (lib/spawn-confined.h: it may parse a peer's file),
 * with the descriptors keep[0..nkeep) inherited, under o (its stderr,
 * what it may write), killed after limit_s seconds (0: none, -ETIMEDOUT);
 * its exit status into *code (-1 if killed). */
static int spawn_qemu_img(struct virt_host *h, char *const argv[], const int *keep, size_t nkeep,
			  const struct spawn_confined_opts *o, unsigned limit_s, int *code)
{
	const char *step;
	bool killed;
	pid_t pid;
	int status, ret = spawn_confined("qemu-img", argv, keep, nkeep, o, &pid, &step);

	if (ret < 0 && step)
		return virt_fail(h, ret, "qemu-img not run: its confinement failed (%s: %s)", step,
				 strerror(-ret));
	if (ret < 0)
		return virt_fail(h, ret, "qemu-img: %s", strerror(-ret));
	if ((ret = reap(pid, limit_s, &status, &killed)) < 0)
		return virt_fail(h, ret, "qemu-img: %s", strerror(-ret));
	*code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (killed)
		return virt_fail(h, -ETIMEDOUT, "qemu-img took more than %u s and was stopped", limit_s);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ)
		return virt_fail(h, -EFBIG, "qemu-img wrote past its %llu-byte limit and was stopped",
				 (unsigned long long)o->max_file_bytes);
	return 0;
}

/* A convert's output: its volume's capacity, and qcow2's metadata over it
 * (8-byte L2 and 2-byte refcount entries per 64 KiB cluster: 1/6554 of
 * it; 1/64 leaves room for other cluster sizes), a LUKS header (about 2
 * MiB) and the headers and tables; written over a copy of the full (-n),
 * what that copy already holds on top (clusters it frees stay in the
 * file). */
uint64_t backup_convert_max_bytes(uint64_t capacity, uint64_t base)
{
	return base + capacity + capacity / 64 + (64ull << 20);
}

/* How long a convert may take: 20 MiB/s of capacity (a slow disk's, and
 * LUKS decrypted and encrypted again) or, for small volumes, 10 minutes. */
unsigned backup_convert_limit_s(uint64_t capacity)
{
	uint64_t s = capacity / (20ull << 20);

	return s > backup_convert_floor_s ? (s > UINT_MAX ? UINT_MAX : (unsigned)s) : backup_convert_floor_s;
}

static int run_qemu_img(struct virt_host *h, char *const argv[], const int *keep, size_t nkeep,
			uint64_t capacity, uint64_t base)
{
	struct spawn_confined_opts o = { .max_file_bytes = backup_convert_max_bytes(capacity, base) };
	int code, ret = spawn_qemu_img(h, argv, keep, nkeep, &o, backup_convert_limit_s(capacity), &code);

	if (!ret && code)
		return virt_fail(h, -EIO, "qemu-img convert of the chain failed (status %d)", code);
	return ret;
}

/* What is uploaded: a full's own file, else the chain rebuilt beside it. */
static void rebuilt_path(const struct restoring *r, const char *disk, char *buf, size_t len)
{
	char name[BACKUP_FILE_MAX];

	backup_volume_file(r->e[r->chain[0]].m.id, disk, name, sizeof(name));
	if (snprintf(buf, len, r->len == 1 ? "%s/%s" : "%s/.restore-%s.qcow2", r->gdir,
		     r->len == 1 ? name : disk) >= (int)len)
		buf[0] = '\0';
}

/* A key for qemu-img in a memfd (never on a disk nor its command line):
 * the hex text that is the libvirt secret's value. */
static int key_memfd(struct virt_host *h, const uint8_t key[KEY_SEAL_KEY_BYTES], int *fd)
{
	char hex[2 * KEY_SEAL_KEY_BYTES + 1];
	int ret = 0;

	sodium_bin2hex(hex, sizeof(hex), key, KEY_SEAL_KEY_BYTES);
	if ((*fd = memfd_create("osi-restore-key", MFD_CLOEXEC)) < 0) {
		ret = virt_fail(h, -errno, "memfd_create: %s", strerror(errno));
	} else if (write(*fd, hex, strlen(hex)) != (ssize_t)strlen(hex)) {
		ret = virt_fail(h, -EIO, "writing the key to a memfd: %s", strerror(errno));
		close(*fd);
		*fd = -1;
	}
	sodium_memzero(hex, sizeof(hex));
	return ret;
}

static int key_fd(struct restoring *r, unsigned i, int *fd)
{
	return key_memfd(r->h, r->key[i], fd);
}

/* Every descriptor qemu-img reads for disk: each link's file and the key. */
static size_t inherited(const struct restoring *r, const char *disk, int key, int *keep)
{
	size_t n = 0;

	for (size_t k = 0; k < r->len; k++)
		keep[n++] = link_fd(r, k, disk);
	keep[n++] = key;
	return n;
}

/* An encrypted chain is rebuilt into a copy of its full's file, written
 * over in place (-n): a LUKS header already under the volume's key, so
 * qemu-img never makes one. Making one times its key derivation in thread
 * CPU time, which a host whose ticks go to steal time shows as none
 * ("Unable to get accurate CPU usage"), failing try after try when busy. */
static int copy_full(struct restoring *r, const char *disk, uint64_t capacity, const char *out,
		     int *outfd)
{
	int in = link_fd(r, 0, disk), fd;
	uint8_t head[64];
	struct stat st;
	off_t from = 0;
	ssize_t n = 0;
	int ret = 0;

	/* What the copy keeps of the full's header: its size must be the
	 * chain's (-n leaves a larger one, and what lies past the chain's
	 * end), and no internal snapshot rides along (qcow2.txt: size at 24,
	 * nb_snapshots at 60). */
	if (pread(in, head, sizeof(head), 0) != (ssize_t)sizeof(head) || get_be64(head + 24) != capacity ||
	    get_be32(head + 60) != 0)
		return virt_fail(r->h, -EBADMSG, "the full of %s: its qcow2 header is not of a %llu-byte "
				 "disk without snapshots, as the chain's manifests say", disk,
				 (unsigned long long)capacity);
	if ((fd = open(out, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 || fstat(in, &st) < 0)
		ret = -errno;
	while (!ret && from < st.st_size &&
	       (n = copy_file_range(in, &from, fd, NULL, (size_t)(st.st_size - from), 0)) > 0)
		;
	if (!ret && n < 0)
		ret = -errno;
	else if (!ret && from < st.st_size)
		ret = -EIO;
	if (ret && fd >= 0)
		close(fd);
	*outfd = ret ? -1 : fd; /* qemu-img writes it as /dev/fd/N: no name to parse */
	return ret ? virt_fail(r->h, ret, "copying the full of %s to %s: %s", disk, out, strerror(-ret)) : 0;
}

static int rebuild(struct restoring *r, const char *disk, unsigned i)
{
	char out[PATH_MAX], *spec = NULL, *input = NULL, *object = NULL, *target = NULL;
	uint64_t capacity = r->e[r->chain[r->len - 1]].m.vol[i].capacity;
	bool luks = r->luks[i][0];
	int ret, key = -1, outfd = -1, *keep = NULL;
	struct stat base = { 0 };
	size_t nkeep;

	if (r->len == 1) /* a full is uploaded as it is: plain or encrypted */
		return 0;
	if (luks && (ret = key_fd(r, i, &key)) < 0)
		goto cleanup;
	spec = chain_json(r, disk, luks);
	rebuilt_path(r, disk, out, sizeof(out));
	unlink(out);
	if (luks && (ret = copy_full(r, disk, capacity, out, &outfd)) < 0)
		goto cleanup;
	if (outfd >= 0 && fstat(outfd, &base) < 0) {
		ret = virt_fail(r->h, -errno, "%s: %s", out, strerror(errno));
		goto cleanup;
	}
	if (!spec || asprintf(&input, "json:%s", spec) < 0 ||
	    asprintf(&object, "secret,id=k0,file=/dev/fd/%d", key) < 0 ||
	    asprintf(&target, "driver=qcow2,file.filename=/dev/fd/%d,encrypt.key-secret=k0", outfd) < 0 ||
	    !(keep = calloc(r->len + 2, sizeof(*keep)))) {
		ret = -ENOMEM;
		goto cleanup;
	}
	nkeep = inherited(r, disk, key, keep);
	keep[nkeep++] = outfd;
	char *plain[] = { "qemu-img", "convert", "-q", "-O", "qcow2", "-o", "compat=1.1", input, out, NULL };
	char *enc[] = { "qemu-img", "convert", "-q", "-n", "--object", object, "--target-image-opts",
			input, target, NULL };
	ret = run_qemu_img(r->h, luks ? enc : plain, keep, nkeep, capacity, outfd >= 0 ? base.st_size : 0);
cleanup:
	if (outfd >= 0)
		close(outfd);
	if (key >= 0)
		close(key);
	free(keep);
	free(spec);
	free(input);
	free(object);
	free(target);
	return ret;
}

char *backup_key_check_spec(int fd)
{
	char *spec;

	if (asprintf(&spec, "json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":"
		     "\"/dev/fd/%d\"},\"backing\":null,\"encrypt\":{\"format\":\"luks\","
		     "\"key-secret\":\"k0\"}}", fd) < 0)
		return NULL;
	return spec;
}

int backup_key_check(struct virt_host *h, int fd, const uint8_t key[KEY_SEAL_KEY_BYTES], int *code)
{
	uint8_t head[EXPORT_QCOW2_HEAD];
	ssize_t got = pread(fd, head, sizeof(head), 0);
	const char *why = export_volume_header_check(head, got > 0 ? (size_t)got : 0);
	char *spec = NULL, *object = NULL;
	struct spawn_confined_opts o = { .quiet = true, .max_file_bytes = 0 };
	int k = -1, keep[2], ret;

	*code = -1;
	if (why)
		return virt_fail(h, -EBADMSG, "%s", why);
	if ((ret = key_memfd(h, key, &k)) < 0)
		return ret;
	if (!(spec = backup_key_check_spec(fd)) ||
	    asprintf(&object, "secret,id=k0,file=/dev/fd/%d", k) < 0) {
		object = NULL;
		ret = virt_fail(h, -ENOMEM, "out of memory");
		goto cleanup;
	}
	keep[0] = fd;
	keep[1] = k;
	char *argv[] = { "qemu-img", "check", "-q", "--object", object, spec, NULL };
	ret = spawn_qemu_img(h, argv, keep, 2, &o, backup_key_check_limit_s, code); /* writes nothing */
cleanup:
	close(k);
	free(spec);
	free(object);
	return ret;
}

int virt_backup_key_opens(struct virt_host *h, const char *path, const uint8_t key[32], bool *opens)
{
	int code = -1, ret, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	*opens = false;
	if (fd < 0)
		return virt_fail(h, -errno, "%s: %s", path, strerror(errno));
	ret = backup_key_check(h, fd, key, &code);
	close(fd);
	*opens = !ret && (code == 0 || code == 3);
	return ret;
}

/* Whether key i opens the full's file of disk (backup_key_check). */
static int key_opens(struct restoring *r, unsigned i, const char *disk, bool *opens)
{
	char why[VIRT_ERR_MAX];
	int code, ret = backup_key_check(r->h, link_fd(r, 0, disk), r->key[i], &code);

	*opens = false;
	if (ret == -EBADMSG) {
		memcpy(why, r->h->err, sizeof(why));
		return virt_fail(r->h, ret, "backup %s of %s: %.200s", r->e[r->chain[0]].m.id, disk, why);
	}
	if (ret == 0 && code == 2)
		ret = virt_fail(r->h, -EBADMSG, "qemu-img check finds the full's file of %s corrupt", disk);
	*opens = code == 0 || code == 3;
	return ret;
}

/* The keys kept with the chain's full (a copy brought them, lib/backup-keys.h),
 * if any: -ENOENT when none. */
static int kept_keys(struct restoring *r, const struct backup_manifest *top, struct backup_keys *k)
{
	const struct backup_manifest *full = &r->e[r->chain[0]].m;
	char name[BACKUP_FILE_MAX], *text = NULL, why[200] = "";
	size_t len;
	int ret;

	backup_file_name(full->id, "keys", name, sizeof(name));
	if ((ret = backup_read_small(r->gdir, name, BACKUP_KEYS_MAX, &text, &len, why, sizeof(why))) < 0) {
		if (ret == -ENOENT)
			return ret;
		return virt_fail(r->h, ret, "%s/%s: %s", r->gdir, name, why[0] ? why : strerror(-ret));
	}
	ret = backup_keys_parse(text, len, k, why, sizeof(why));
	free(text);
	if (!ret && !k->local)
		ret = virt_fail(r->h, -EBADMSG, "%s/%s: not the kept form", r->gdir, name);
	if (!ret && (ret = backup_keys_match(k, top, full, why, sizeof(why))) < 0)
		ret = virt_fail(r->h, -EBADMSG, "%s/%s: %s", r->gdir, name, why);
	else if (ret == -EINVAL)
		ret = virt_fail(r->h, -EBADMSG, "%s/%s: %s", r->gdir, name, why);
	return ret;
}

/* The key kept with the chain for volume i (disk), opened into r->key[i]:
 * -ENOENT when none is kept. */
static int kept_key(struct restoring *r, const struct backup_manifest *top, unsigned i,
		    const char *disk)
{
	const char *fid = r->e[r->chain[0]].m.id;
	struct backup_keys k;
	int j, ret = kept_keys(r, top, &k);

	if (ret < 0)
		return ret;
	if ((j = backup_keys_find(&k, disk)) < 0)
		return -ENOENT;
	if ((ret = virt_seal_open(r->h, k.vol[j].sealed, r->key[i])) == -EPERM)
		return virt_fail(r->h, ret, "the key kept with backup %s for %s is sealed to another key "
				 "than this node's seal key %s", fid, disk, r->h->seal_key);
	return ret;
}

/* Volume i's key for the chain: its own if that opens the full's file
 * (qemu-img check), else the one kept with the chain (FULL.keys, a copy
 * brought it), which must open it: the volume then goes under it. Its
 * own key must open here either way (to put it back). */
static int chain_key(struct restoring *r, const struct backup_manifest *top, unsigned i)
{
	const char *fid = r->e[r->chain[0]].m.id, *disk = top->vol[i].disk;
	char why[VIRT_ERR_MAX];
	bool opens = false;
	int ret;

	if ((ret = virt_secret_key(r->h, r->luks[i], r->id, r->old[i])) < 0) {
		memcpy(why, r->h->err, sizeof(why));
		if (r->len == 1 && kept_key(r, top, i, disk) == -ENOENT) {
			log_warn("restore of %s: the key of its volume %s cannot be opened here, so backup %s "
				 "is not checked to open with it", r->guest, disk, fid);
			return 0; /* a full goes in as it is, under the volume's secret, as before keys */
		}
		return virt_fail(r->h, ret, "%s's volume %s: its own key cannot be opened here, so it could "
				 "not be put back if the restore failed: %.120s", r->guest, disk, why);
	}
	memcpy(r->key[i], r->old[i], KEY_SEAL_KEY_BYTES);
	if ((ret = key_opens(r, i, disk, &opens)) < 0 || opens)
		return ret;
	if ((ret = kept_key(r, top, i, disk)) == -ENOENT)
		return virt_fail(r->h, -ENOKEY, "backup %s of %s is encrypted under another key than %s's "
				 "volume %s here, and no key came with it (a copy made by a node of an "
				 "older version, or the volume made again since the backup)", fid, disk,
				 r->guest, disk);
	if (ret < 0)
		return ret;
	if (sodium_memcmp(r->key[i], r->old[i], KEY_SEAL_KEY_BYTES) &&
	    (ret = key_opens(r, i, disk, &opens)) < 0)
		return ret;
	if (!opens)
		return virt_fail(r->h, -EKEYREJECTED, "neither %s's volume %s's own key nor the key kept "
				 "with backup %s for it (it came with a copy) opens it", r->guest, disk, fid);
	r->rekey[i] = true;
	return 0;
}

/* Each encrypted volume's key for the chain, checked to open the full's
 * file before anything is written. */
static int chain_keys(struct restoring *r, const struct backup_manifest *top)
{
	int ret = 0;

	for (unsigned i = 0; i < top->nvol && !ret; i++)
		if (r->luks[i][0])
			ret = chain_key(r, top, i);
	return ret;
}

struct file_read {
	int fd;
};

static ssize_t file_read(void *ctx, void *buf, size_t len)
{
	struct file_read *f = ctx;
	ssize_t n;

	while ((n = read(f->fd, buf, len)) < 0 && errno == EINTR)
		;
	return n < 0 ? -errno : n;
}

/* The volume replaced by the rebuilt file (checked: no backing file). */
/* The volume's definition: qcow2, 0600, under its old secret if it had one. */
static int volume_xml(const char *vol, uint64_t capacity, const char *luks, char **out)
{
	struct vbuf b = { 0 };

	vbuf_printf(&b, "<volume><name>");
	vbuf_xml(&b, vol);
	vbuf_printf(&b, "</name><capacity unit='bytes'>%llu</capacity><allocation unit='bytes'>0"
		    "</allocation><target><format type='qcow2'/><permissions><mode>0600</mode>"
		    "</permissions>", (unsigned long long)capacity);
	if (luks[0]) {
		vbuf_printf(&b, "<encryption format='luks'><secret type='passphrase' uuid='");
		vbuf_xml(&b, luks);
		vbuf_printf(&b, "'/></encryption>");
	}
	vbuf_printf(&b, "</target></volume>");
	return vbuf_take(&b, out);
}

/* Deleted by libvirt, keeping its secret: the new volume opens under it. */
static int drop_volume(struct restoring *r, const char *vol)
{
	virStorageVolPtr v = virt_vol_lookup(r->h, vol);
	int ret = v && virStorageVolDelete(v, 0) == 0 ? 0 : virt_fail_lv(r->h, -EIO, "deleting %s", vol);

	if (v)
		virStorageVolFree(v);
	return ret;
}

static void refused(struct virt_host *h, int ret)
{
	char why[VIRT_ERR_MAX];

	memcpy(why, h->err, sizeof(why));
	virt_fail(h, ret, "refused, nothing was written: %.*s", (int)sizeof(why) - 40, why);
}

/* Volume i's file to upload, opened and its header checked (no backing
 * file, no external data file) before any volume is touched. */
static int source(struct restoring *r, const struct backup_volume *v, unsigned i)
{
	char path[PATH_MAX];
	uint8_t head[EXPORT_QCOW2_HEAD];
	const char *why;
	struct stat st;
	ssize_t got;
	int ret;

	rebuilt_path(r, v->disk, path, sizeof(path));
	if (r->len == 1) /* the full's own file, through the descriptor that was hashed */
		r->src[i] = fcntl(link_fd(r, 0, v->disk), F_DUPFD_CLOEXEC, 0);
	else
		r->src[i] = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (r->src[i] < 0 || fstat(r->src[i], &st) < 0 || lseek(r->src[i], 0, SEEK_SET) < 0) {
		ret = -errno;
		return virt_fail(r->h, ret, "%s: %s", path, strerror(-ret));
	}
	r->size[i] = (uint64_t)st.st_size;
	got = pread(r->src[i], head, sizeof(head), 0);
	if ((why = export_volume_header_check(head, got > 0 ? (size_t)got : 0)))
		return virt_fail(r->h, -EBADMSG, "the rebuilt %s: %s", v->disk, why);
	return backup_data_vol(r->h, r->guest, v->disk, r->vol[i], sizeof(r->vol[i]));
}

/* Every volume kept under another name (a hard link in the pool) before
 * any is deleted, and the old key of each whose key changes sealed to the
 * seal key beside it: a failure at any volume, or a restore killed, leaves
 * each one's data and key. A leftover of an earlier restore refuses. */
static int set_aside(struct restoring *r, unsigned nvol)
{
	struct seal_key sk = { { 0 }, { 0 } };
	bool rekey = false;
	int ret = 0;

	for (unsigned i = 0; i < nvol; i++)
		rekey |= r->rekey[i];
	if (rekey && (ret = seal_key_load(r->h->seal_key, 0, &sk)) < 0)
		return virt_fail(r->h, ret, "seal key %s: %s", r->h->seal_key, strerror(-ret));
	for (unsigned i = 0; i < nvol && !ret; i++) {
		struct backup_aside *a = &r->aside[i];

		if (backup_aside_names(r->h->pool_dir, r->vol[i], a) < 0)
			ret = virt_fail(r->h, -ENAMETOOLONG, "%s: no pool directory to keep it in", r->vol[i]);
		else
			ret = backup_aside_set(a, r->guest, r->luks[i], sk.pk,
					       r->rekey[i] ? r->old[i] : NULL, r->h->err, sizeof(r->h->err));
	}
	seal_key_wipe(&sk);
	for (unsigned i = 0; ret < 0 && i < nvol; i++) /* nothing changed yet: links to the volumes */
		backup_aside_release(&r->aside[i]);
	return ret;
}

/* Whether the volume's file is still the one kept aside (the same inode). */
static bool unchanged(const struct backup_aside *a)
{
	struct stat x, y;

	return stat(a->path, &x) == 0 && stat(a->kept, &y) == 0 && x.st_dev == y.st_dev &&
	       x.st_ino == y.st_ino;
}

/* Volume i as it was: the new one deleted, the old file renamed back over
 * whatever is at its path, the old key back in its secret. What could not
 * be put back stays aside and is named in why. */
static bool put_back(struct restoring *r, unsigned i, struct vbuf *why)
{
	struct backup_aside *a = &r->aside[i];
	bool key = true;
	int file;

	if (!a->linked)
		return true;
	if (!a->dropped && unchanged(a)) {
		backup_aside_release(a);
		return true;
	}
	if (a->created)
		drop_volume(r, r->vol[i]);
	if ((file = backup_aside_put_back(a)) < 0)
		vbuf_printf(why, "; %s: its old file is kept at %s (%s)", r->vol[i], a->kept,
			    strerror(-file));
	if (a->rekeyed && virt_secret_rekey(r->h, r->luks[i], a->path, r->old[i]) < 0) {
		key = false;
		vbuf_printf(why, "; %s: its old key is not back in secret %s: it is kept in %s, sealed "
			    "to this node's seal key", r->vol[i], r->luks[i], a->keyf);
	}
	if (!file && key)
		backup_aside_release(a);
	return !file && key;
}

/* A restore failed at some volume: every one is put back; h->err says
 * what failed and in what state the guest is. */
static void put_back_all(struct restoring *r, unsigned nvol)
{
	char first[VIRT_ERR_MAX], *left = NULL;
	struct vbuf why = { 0 };
	virStoragePoolPtr pool;
	bool all = true;

	memcpy(first, r->h->err, sizeof(first));
	for (unsigned i = 0; i < nvol; i++)
		all &= put_back(r, i, &why);
	if ((pool = virStoragePoolLookupByName(r->h->conn, r->h->pool))) {
		virt_pool_refresh(r->h, pool); /* a refusal: the volumes are back all the same */
		virStoragePoolFree(pool);
	}
	vbuf_take(&why, &left);
	if (!all) /* whole here: the error below is cut to fit */
		log_err("restore of %s: not every volume was put back%s", r->guest, left ? left : "");
	if (all)
		virt_fail(r->h, -EIO, "failed, every data volume was put back as it was, under its old "
			  "key (the backup is intact: restore again): %.300s", first);
	else
		virt_fail(r->h, -EIO, "failed, NOT all put back, nothing of it removed (vm restore %s "
			  "--put-back puts back what is left, docs/operator.md, \"A restore that failed\"; "
			  "each volume's kept file and key are named in the log)%.200s: %.100s", r->guest,
			  left ? left : "", first);
	free(left);
}

/* The old volume deleted (kept aside), a new one made in its place under
 * the volume's secret, which holds the chain's key first if it changes. */
static int remake(struct restoring *r, const struct backup_volume *v, unsigned i,
		  virStorageVolPtr *sv)
{
	struct backup_aside *a = &r->aside[i];
	char *xml = NULL;
	int ret;

	if ((ret = drop_volume(r, r->vol[i])) < 0)
		return ret;
	a->dropped = true;
	a->rekeyed = r->rekey[i]; /* put back even if only half changed */
	if (r->rekey[i] && (ret = virt_secret_rekey(r->h, r->luks[i], a->path, r->key[i])) < 0)
		return ret;
	if ((ret = volume_xml(r->vol[i], v->capacity, r->luks[i], &xml)) == 0 &&
	    (ret = virt_vol_create(r->h, xml, sv)) == 0)
		a->created = true;
	free(xml);
	return ret;
}

static int replace(struct restoring *r, const struct backup_volume *v, unsigned i)
{
	struct file_read f = { .fd = r->src[i] };
	virStorageVolPtr sv = NULL;
	char err[256] = "";
	int ret;

	if ((ret = remake(r, v, i, &sv)) < 0)
		return ret;
	ret = r->h->ops.upload(sv, r->size[i], file_read, &f, r->h->ops.opaque, err, sizeof(err));
	virStorageVolFree(sv);
	if (ret < 0)
		virt_fail(r->h, ret, "writing %s: %s", r->vol[i], err[0] ? err : strerror(-ret));
	return ret;
}

/* The own key of each volume whose key changes, kept with this node's
 * other chains encrypted under it (their FULL.keys) before it is replaced:
 * the guest's local backups still open after the restore. */
static int keep_old_keys(struct restoring *r, const struct backup_manifest *top)
{
	unsigned kept;
	int ret = 0;

	for (unsigned i = 0; i < top->nvol && !ret; i++) {
		if (!r->rekey[i])
			continue;
		ret = backup_keep_key(r->h, r->gdir, r->e, r->n, r->e[r->chain[0]].m.id, top->vol[i].disk,
				      r->old[i], &kept);
		if (!ret && kept)
			log_info("restore of %s: the key its volume %s has now is kept with %u other "
				 "backup chain(s) here, which it opens", r->guest, top->vol[i].disk, kept);
	}
	return ret;
}

/* Each volume replaced, all set aside first and released only when every
 * one is in place; a failure puts every one back. */
static int replace_all(struct restoring *r, const struct backup_manifest *top)
{
	int ret = 0;

	for (unsigned i = 0; i < top->nvol && !ret; i++)
		ret = source(r, &top->vol[i], i);
	if (!ret)
		ret = set_aside(r, top->nvol);
	if (ret) {
		refused(r->h, ret);
		return ret;
	}
	for (unsigned i = 0; i < top->nvol && !ret; i++)
		ret = replace(r, &top->vol[i], i);
	if (ret < 0) {
		put_back_all(r, top->nvol);
		return ret;
	}
	for (unsigned i = 0; i < top->nvol; i++) {
		backup_aside_release(&r->aside[i]);
		if (r->aside[i].linked || r->aside[i].keyed)
			log_warn("restore of %s: %s (or its .key) could not be removed: remove it before the "
				 "next restore", r->guest, r->aside[i].kept);
	}
	return 0;
}

static int verify_chain(struct restoring *r, const char *id)
{
	struct virt_host *h = r->h;
	ssize_t at = backup_find(r->e, r->n, id);
	int ret;

	if (at < 0)
		return virt_fail(h, -ENOENT, "%s has no backup %s (vm backups %s lists them)", r->guest, id,
				 r->guest);
	if (!(r->chain = calloc(r->n, sizeof(*r->chain))))
		return -ENOMEM;
	if ((ret = backup_chain(r->e, r->n, (size_t)at, r->chain, &r->len, h->err, sizeof(h->err))) < 0)
		return ret;
	if (!(r->fds = malloc(r->len * EXPORT_VOLUMES_MAX * sizeof(*r->fds))))
		return -ENOMEM;
	for (size_t k = 0; k < r->len * EXPORT_VOLUMES_MAX; k++)
		r->fds[k] = -1;
	for (size_t k = 0; k < r->len; k++)
		if ((ret = backup_verify_files(r->gdir, &r->e[r->chain[k]], r->fds + k * EXPORT_VOLUMES_MAX,
					       h->err, sizeof(h->err))) < 0)
			return ret;
	return 0;
}

/* The volume's LUKS secret into uuid ("" when plain). */
static int encrypted(struct restoring *r, const char *disk, char *uuid, size_t len)
{
	char vol[VIRT_VOL_NAME_MAX], *xml = NULL;
	virStorageVolPtr v;
	int ret;

	if ((ret = backup_data_vol(r->h, r->guest, disk, vol, sizeof(vol))) < 0)
		return ret;
	if (!(v = virt_vol_lookup(r->h, vol)) || !(xml = virStorageVolGetXMLDesc(v, 0)))
		ret = virt_fail_lv(r->h, -EIO, "volume %s", vol);
	if (!ret && backup_luks_uuid(xml, uuid, len) == -EINVAL)
		ret = virt_fail(r->h, -ENOTSUP, "%s: an encryption other than LUKS under one secret", vol);
	free(xml);
	if (v)
		virStorageVolFree(v);
	return ret;
}

int virt_backup_volume_key(struct virt_host *h, const char *guest, const char *disk,
			   const struct identity *id, uint8_t key[32])
{
	char vol[VIRT_VOL_NAME_MAX], uuid[VIRT_UUID_LEN];
	int ret = backup_data_vol(h, guest, disk, vol, sizeof(vol));

	if (ret < 0)
		return ret;
	virt_secret_of(h, vol, uuid);
	if (!uuid[0])
		return virt_fail(h, -ENOENT, "%s's volume %s is plain here", guest, disk);
	return virt_secret_key(h, uuid, id, key);
}

/* 1 when link k's file of disk is a LUKS-encrypted qcow2 (its header's
 * crypt_method), 0 if plain; refused when its header names an external data
 * file (qemu-img would open it; a backing file is named by restore itself). */
static int file_encrypted(struct restoring *r, size_t k, const char *disk)
{
	uint8_t head[EXPORT_QCOW2_HEAD];
	ssize_t got = pread(link_fd(r, k, disk), head, sizeof(head), 0);
	const char *why = backup_link_header_check(head, got > 0 ? (size_t)got : 0);

	if (why)
		return virt_fail(r->h, -EBADMSG, "backup %s of %s: %s", r->e[r->chain[k]].m.id, disk, why);
	return (head[32] | head[33] | head[34] | head[35]) != 0;
}

/* Plain backups go into plain volumes, encrypted ones (fulls only) into
 * volumes under a secret (the backup's key is the volume's). */
static int same_crypt(struct restoring *r, const struct backup_volume *v, unsigned i)
{
	for (size_t k = 0; k < r->len; k++) {
		int enc = file_encrypted(r, k, v->disk);

		if (enc < 0)
			return enc;
		if (enc != (r->luks[i][0] != 0))
			return virt_fail(r->h, -EINVAL, "backup %s of %s is %s, the volume is %s now",
					 r->e[r->chain[k]].m.id, v->disk, enc ? "encrypted" : "plain",
					 enc ? "plain" : "encrypted");
	}
	return 0;
}

/* The guest's data disks are the backup's, encrypted where the backup is. */
static int same_disks(struct restoring *r, const struct virt_guest *g, const struct backup_manifest *m)
{
	int ret;

	for (unsigned i = 0; i < m->nvol; i++) {
		unsigned j = 0;

		while (j < g->ndata && strcmp(g->data[j], m->vol[i].disk))
			j++;
		if (j == g->ndata)
			return virt_fail(r->h, -EINVAL, "%s has no data disk %s, which backup %s holds",
					 r->guest, m->vol[i].disk, m->id);
		if ((ret = encrypted(r, m->vol[i].disk, r->luks[i], sizeof(r->luks[i]))) < 0 ||
		    (ret = same_crypt(r, &m->vol[i], i)) < 0)
			return ret;
	}
	return 0;
}


int virt_restore(struct virt_host *h, const char *guest, const char *id,
		 const struct backup_request *req, size_t *links)
{
	struct restoring r = { .h = h, .guest = guest, .id = req->signer, .src = { -1, -1, -1, -1 } };
	const struct backup_manifest *top;
	char path[PATH_MAX];
	struct virt_guest g;
	virDomainPtr dom;
	int ret, lock = -1;

	if ((ret = virt_guest_get(h, guest, &g)) < 0)
		return ret;
	if (g.state != VIRT_STATE_DEFINED)
		return virt_fail(h, -EBUSY, "%s is %s: stop it first (vm stop %s), a restore replaces its "
				 "data volumes", guest, virt_state_name(g.state), guest);
	if ((ret = backup_guest_dir(req->dir, guest, false, r.gdir, sizeof(r.gdir), h->err, sizeof(h->err))) < 0 ||
	    (ret = backup_lock(r.gdir, &lock, h->err, sizeof(h->err))) < 0 ||
	    (ret = backup_leftovers(h, guest, &g)) < 0 ||
	    (ret = backup_list(r.gdir, req->trust, req->ctx, &r.e, &r.n, h->err, sizeof(h->err))) < 0 ||
	    (ret = verify_chain(&r, id)) < 0 ||
	    (ret = same_disks(&r, &g, (top = &r.e[r.chain[r.len - 1]].m))) < 0 ||
	    (ret = chain_keys(&r, top)) < 0) {
		if (ret == -ENOENT && lock < 0)
			virt_fail(h, ret, "there are no backups of %s in %s", guest, req->dir);
		refused(h, ret);
		goto cleanup;
	}
	for (unsigned i = 0; i < top->nvol && !ret; i++)
		ret = rebuild(&r, top->vol[i].disk, i);
	if (!ret)
		ret = keep_old_keys(&r, top);
	if (ret)
		refused(h, ret);
	if (!ret)
		ret = replace_all(&r, top);
	if (!ret && (dom = virDomainLookupByName(h->conn, guest))) {
		backup_checkpoints_drop(h, dom, NULL, VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY);
		virDomainFree(dom);
	}
	if (!ret) {
		*links = r.len;
		for (unsigned i = 0; i < top->nvol; i++)
			if (r.rekey[i])
				log_info("guest %s: data volume %s is under the key kept with backup %s now",
					 guest, top->vol[i].disk, r.e[r.chain[0]].m.id);
		log_info("guest %s restored from backup %s (%zu link(s))", guest, id, r.len);
	}
	for (unsigned i = 0; r.len > 1 && i < top->nvol; i++) {
		rebuilt_path(&r, top->vol[i].disk, path, sizeof(path));
		unlink(path);
	}
cleanup:
	sodium_memzero(r.key, sizeof(r.key));
	sodium_memzero(r.old, sizeof(r.old));
	backup_unlock(lock);
	for (size_t k = 0; r.fds && k < r.len * EXPORT_VOLUMES_MAX; k++)
		if (r.fds[k] >= 0)
			close(r.fds[k]);
	for (unsigned i = 0; i < EXPORT_VOLUMES_MAX; i++)
		if (r.src[i] >= 0)
			close(r.src[i]);
	free(r.fds);
	free(r.chain);
	free(r.e);
	return ret;
}
