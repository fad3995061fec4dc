/* Base images: streamed into the pool with their SHA-256 computed on the way,
 * recorded in a small JSON manifest next to the pool (atomic replacement,
 * flock for concurrent imports), and re-hashed before use. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef VIRT_HAVE_CURL
#include <curl/curl.h>
#endif

#include "lib/bytes.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "virt/virt-internal.h"

#define INDEX_MAX (1024 * 1024)
#define SUMS_MAX (1024 * 1024)
#define QCOW2_MAGIC "QFI\xfb"
#define QCOW2_MAX_SIZE (1ULL << 56)

static bool image_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= VIRT_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789.-_") == n;
}

static int lock_index(struct virt_host *h)
{
	char path[PATH_MAX + 8];
	int fd;

	snprintf(path, sizeof(path), "%s.lock", h->image_manifest);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return virt_fail(h, -errno, "%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX) < 0) {
		int ret = -errno;

		close(fd);
		return virt_fail(h, ret, "%s: lock: %s", path, strerror(-ret));
	}
	return fd;
}

static int parse_entry(json_t *e, struct virt_image *im)
{
	const char *name, *volume, *format, *sha, *source;
	json_int_t bytes, vbytes, imported;

	if (json_unpack(e, "{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:s !}", "name", &name,
			"volume", &volume, "format", &format, "bytes", &bytes, "virtual_bytes", &vbytes,
			"sha256", &sha, "imported", &imported, "source", &source) < 0)
		return -EINVAL;
	if (!image_name_ok(name) || strlen(volume) >= sizeof(im->volume) ||
	    (strcmp(format, "raw") && strcmp(format, "qcow2")) || strlen(sha) != 64 ||
	    bytes < 0 || vbytes < 0)
		return -EINVAL;
	memset(im, 0, sizeof(*im));
	strcpy(im->name, name);
	strcpy(im->volume, volume);
	strcpy(im->format, format);
	strcpy(im->sha256, sha);
	snprintf(im->source, sizeof(im->source), "%s", source);
	im->bytes = (uint64_t)bytes;
	im->virtual_bytes = (uint64_t)vbytes;
	im->imported = imported;
	return 0;
}

/* A missing index is an empty one. */
static int index_load(struct virt_host *h, struct virt_image **out, size_t *n)
{
	struct virt_image *v = NULL;
	json_t *root = NULL, *arr, *e;
	json_error_t je;
	char *text = NULL;
	size_t len, i;
	int ret;

	*out = NULL;
	*n = 0;
	ret = read_file(h->image_manifest, INDEX_MAX, &text, &len);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return virt_fail(h, ret, "%s: %s", h->image_manifest, strerror(-ret));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	arr = root ? json_object_get(root, "images") : NULL;
	if (!json_is_array(arr)) {
		ret = virt_fail(h, -EINVAL, "%s: not an image index", h->image_manifest);
		goto cleanup;
	}
	v = calloc(json_array_size(arr) + 1, sizeof(*v));
	if (!v) {
		ret = -ENOMEM;
		goto cleanup;
	}
	json_array_foreach(arr, i, e) {
		if (parse_entry(e, &v[i]) < 0) {
			ret = virt_fail(h, -EINVAL, "%s: entry %zu is malformed", h->image_manifest, i);
			goto cleanup;
		}
	}
	*out = v;
	*n = json_array_size(arr);
	v = NULL;
cleanup:
	free(v);
	json_decref(root);
	free(text);
	return ret;
}

static int index_save(struct virt_host *h, const struct virt_image *v, size_t n)
{
	json_t *arr = json_array(), *root = json_pack("{s:i, s:o}", "version", 1, "images", arr);
	char *text = NULL;
	int ret = -ENOMEM;

	if (!root)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:s}", "name", v[i].name,
				      "volume", v[i].volume, "format", v[i].format,
				      "bytes", (json_int_t)v[i].bytes,
				      "virtual_bytes", (json_int_t)v[i].virtual_bytes,
				      "sha256", v[i].sha256, "imported", (json_int_t)v[i].imported,
				      "source", v[i].source);
		if (!e || json_array_append_new(arr, e) < 0)
			goto cleanup;
	}
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		goto cleanup;
	ret = atomic_write_file(h->image_manifest, text, strlen(text), 0644);
	if (ret < 0)
		virt_fail(h, ret, "%s: %s", h->image_manifest, strerror(-ret));
cleanup:
	free(text);
	json_decref(root);
	return ret;
}

int virt_image_list(struct virt_host *h, struct virt_image **out, size_t *n)
{
	return index_load(h, out, n);
}

int virt_image_get(struct virt_host *h, const char *name, struct virt_image *out)
{
	struct virt_image *v;
	size_t n;
	int ret = index_load(h, &v, &n);

	if (ret < 0)
		return ret;
	ret = virt_fail(h, -ENOENT, "no base image %s (image import FILE --name %s, or image fetch)",
			name, name);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].name, name)) {
			*out = v[i];
			h->err[0] = '\0';
			ret = 0;
			break;
		}
	}
	free(v);
	return ret;
}

/* Reads the file being imported, hashing it and keeping its first bytes so
 * the format can be told without asking anyone. */
struct file_reader {
	int fd;
	crypto_hash_sha256_state sha;
	unsigned char head[512];
	size_t head_len;
};

static ssize_t file_read(void *ctx, void *buf, size_t len)
{
	struct file_reader *r = ctx;
	ssize_t n;

	do
		n = read(r->fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	crypto_hash_sha256_update(&r->sha, buf, (size_t)n);
	if (r->head_len < sizeof(r->head)) {
		size_t k = sizeof(r->head) - r->head_len;

		if (k > (size_t)n)
			k = (size_t)n;
		memcpy(r->head + r->head_len, buf, k);
		r->head_len += k;
	}
	return n;
}

/* qcow2 by its magic, version and size; anything else is raw. */
static int sniff(const struct file_reader *r, struct virt_image *im)
{
	uint64_t version, size;

	strcpy(im->format, "raw");
	im->virtual_bytes = im->bytes;
	if (r->head_len < 4 || memcmp(r->head, QCOW2_MAGIC, 4))
		return 0;
	version = r->head_len >= 32 ? get_be32(r->head + 4) : 0;
	size = r->head_len >= 32 ? get_be64(r->head + 24) : 0;
	if ((version != 2 && version != 3) || size == 0 || size > QCOW2_MAX_SIZE)
		return -EINVAL;
	strcpy(im->format, "qcow2");
	im->virtual_bytes = size;
	return 0;
}

static int stream_file(struct virt_host *h, virStorageVolPtr vol, int fd, struct virt_image *im)
{
	struct file_reader r = { .fd = fd };
	unsigned char digest[crypto_hash_sha256_BYTES];
	char err[256] = "";
	int ret;

	crypto_hash_sha256_init(&r.sha);
	ret = h->ops.upload(vol, im->bytes, file_read, &r, h->ops.opaque, err, sizeof(err));
	if (ret < 0)
		return virt_fail(h, ret, "upload of %s: %s", im->name, err[0] ? err : strerror(-ret));
	crypto_hash_sha256_final(&r.sha, digest);
	sodium_bin2hex(im->sha256, sizeof(im->sha256), digest, sizeof(digest));
	if (sniff(&r, im) < 0)
		return virt_fail(h, -EINVAL, "%s: a qcow2 magic with an invalid header", im->name);
	return 0;
}

static int index_add(struct virt_host *h, const struct virt_image *im)
{
	struct virt_image *v = NULL, *nv;
	size_t n;
	int ret = index_load(h, &v, &n);

	if (ret < 0)
		return ret;
	nv = realloc(v, (n + 1) * sizeof(*v));
	if (!nv) {
		free(v);
		return -ENOMEM;
	}
	nv[n] = *im;
	ret = index_save(h, nv, n + 1);
	free(nv);
	return ret;
}

static int check_new(struct virt_host *h, const char *name)
{
	struct virt_image im;
	int ret = virt_image_get(h, name, &im);

	if (ret == 0)
		return virt_fail(h, -EEXIST, "base image %s exists (sha256 %.16s...)", name, im.sha256);
	if (ret != -ENOENT)
		return ret;
	h->err[0] = '\0';
	return 0;
}

static int open_source(struct virt_host *h, const char *path, uint64_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return virt_fail(h, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return virt_fail(h, -EINVAL, "%s: not a non-empty regular file", path);
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static int import(struct virt_host *h, const char *path, const char *name,
		  const char *expect_sha256, const char *source, struct virt_image *out)
{
	struct virt_image im = { 0 };
	virStorageVolPtr vol = NULL;
	char *xml = NULL;
	int lock, fd = -1, ret;
	bool created = false;

	if (!image_name_ok(name))
		return virt_fail(h, -EINVAL, "image name \"%s\": [a-z0-9._-] expected", name);
	lock = lock_index(h);
	if (lock < 0)
		return lock;
	if ((ret = check_new(h, name)) < 0 || (ret = virt_pool_ensure(h)) < 0)
		goto cleanup;
	fd = open_source(h, path, &im.bytes);
	if (fd < 0) {
		ret = fd;
		goto cleanup;
	}
	strcpy(im.name, name);
	snprintf(im.volume, sizeof(im.volume), "base-%s.img", name);
	snprintf(im.source, sizeof(im.source), "%s", source);
	im.imported = time(NULL);
	ret = virt_xml_volume(im.volume, im.bytes, "raw", NULL, NULL, &xml);
	if (ret < 0 || (ret = virt_vol_create(h, xml, &vol)) < 0) {
		virt_fail(h, ret, "base image %s: cannot create volume %s: %s", name, im.volume, h->err);
		goto cleanup;
	}
	created = true;
	if ((ret = stream_file(h, vol, fd, &im)) < 0)
		goto cleanup;
	if (expect_sha256 && strcmp(expect_sha256, im.sha256)) {
		ret = virt_fail(h, -EBADMSG, "%s: sha256 %s, expected %s", path, im.sha256, expect_sha256);
		goto cleanup;
	}
	if ((ret = index_add(h, &im)) < 0)
		goto cleanup;
	log_info("base image %s imported: %s, %" PRIu64 " bytes, sha256 %s", name, im.format,
		 im.bytes, im.sha256);
	if (out)
		*out = im;
	created = false;
cleanup:
	if (created && virStorageVolDelete(vol, 0) < 0)
		log_warn("base image %s: cannot remove volume %s: %s", name, im.volume, virt_lv_error());
	if (vol)
		virStorageVolFree(vol);
	if (fd >= 0)
		close(fd);
	free(xml);
	close(lock);
	return ret;
}

int virt_image_import(struct virt_host *h, const char *path, const char *name,
		      const char *expect_sha256, struct virt_image *out)
{
	char source[PATH_MAX];

	/* Recorded as given when it is already absolute. */
	if (path[0] == '/' || !realpath(path, source))
		snprintf(source, sizeof(source), "%s", path);
	return import(h, path, name, expect_sha256, source, out);
}

static int in_use(struct virt_host *h, const char *name)
{
	struct virt_guest *g;
	size_t n;
	int ret = virt_guest_list(h, &g, &n);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n && !ret; i++) {
		if (!strcmp(g[i].base, name))
			ret = virt_fail(h, -EBUSY, "base image %s is in use by guest %s", name, g[i].name);
	}
	free(g);
	return ret;
}

int virt_image_remove(struct virt_host *h, const char *name)
{
	struct virt_image *v = NULL;
	size_t n, k = 0;
	int lock, ret;

	lock = lock_index(h);
	if (lock < 0)
		return lock;
	if ((ret = index_load(h, &v, &n)) < 0 || (ret = in_use(h, name)) < 0)
		goto cleanup;
	ret = virt_fail(h, -ENOENT, "no base image %s", name);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, name)) {
			v[k++] = v[i];
			continue;
		}
		ret = virt_vol_delete(h, v[i].volume);
		if (ret < 0 && ret != -ENOENT)
			goto cleanup;
	}
	if (k == n)
		goto cleanup;
	ret = index_save(h, v, k);
	if (ret == 0) {
		h->err[0] = '\0';
		log_info("base image %s removed", name);
	}
cleanup:
	free(v);
	close(lock);
	return ret;
}

struct hash_sink {
	crypto_hash_sha256_state sha;
	uint64_t bytes;
};

static int hash_sink(void *ctx, const void *buf, size_t len)
{
	struct hash_sink *s = ctx;

	crypto_hash_sha256_update(&s->sha, buf, len);
	s->bytes += len;
	return 0;
}

int virt_image_verify(struct virt_host *h, const char *name)
{
	struct hash_sink s = { .bytes = 0 };
	unsigned char digest[crypto_hash_sha256_BYTES];
	char hex[65], err[256] = "";
	struct virt_image im;
	virStorageVolPtr vol;
	int ret = virt_image_get(h, name, &im);

	if (ret < 0)
		return ret;
	vol = virt_vol_lookup(h, im.volume);
	if (!vol)
		return virt_fail_lv(h, -ENOENT, "base image %s: volume %s", name, im.volume);
	crypto_hash_sha256_init(&s.sha);
	ret = h->ops.download(vol, hash_sink, &s, h->ops.opaque, err, sizeof(err));
	virStorageVolFree(vol);
	if (ret < 0)
		return virt_fail(h, ret, "base image %s: reading %s: %s", name, im.volume,
				 err[0] ? err : strerror(-ret));
	crypto_hash_sha256_final(&s.sha, digest);
	sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
	if (s.bytes != im.bytes || strcmp(hex, im.sha256))
		return virt_fail(h, -EBADMSG, "base image %s: volume %s changed since import (sha256 %s, recorded %s)",
				 name, im.volume, hex, im.sha256);
	return 0;
}

/* Known images: where they live and what their checksum file calls them. */
static const struct {
	const char *name, *dir, *file;
} known[] = {
	{ "ubuntu-24.04", "https://cloud-images.ubuntu.com/releases/24.04/release/",
	  "ubuntu-24.04-server-cloudimg-amd64.img" },
};

/* "<64 hex> *file" or "<64 hex>  file", one per line. */
static int sums_find(const char *sums, const char *file, char hex[65])
{
	size_t flen = strlen(file);

	for (const char *line = sums; *line;) {
		const char *end = strchr(line, '\n'), *p = line + 64;

		if (strspn(line, "0123456789abcdef") == 64 && *p == ' ') {
			p += (p[1] == '*' || p[1] == ' ') ? 2 : 1;
			if (!strncmp(p, file, flen) && strchr("\r\n", p[flen])) {
				memcpy(hex, line, 64);
				hex[64] = '\0';
				return 0;
			}
		}
		if (!end)
			break;
		line = end + 1;
	}
	return -ENOENT;
}

#ifdef VIRT_HAVE_CURL
struct dl {
	FILE *fp;       /* to a file, or */
	struct vbuf mem; /* into memory */
	size_t max;
	size_t got;
};

static size_t dl_write(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct dl *d = ctx;
	size_t n = size * nmemb;

	d->got += n;
	if (d->got > d->max)
		return 0;
	if (d->fp)
		return fwrite(p, 1, n, d->fp);
	vbuf_printf(&d->mem, "%.*s", (int)n, p);
	return d->mem.err ? 0 : n;
}

static int host_of(const char *url, char *out, size_t len)
{
	const char *a = strstr(url, "://"), *z;

	a = a ? a + 3 : url;
	z = a + strcspn(a, "/:");
	snprintf(out, len, "%.*s", (int)(z - a), a);
	return 0;
}

static int get(struct virt_host *h, const char *url, struct dl *d)
{
	CURL *c = curl_easy_init();
	char cerr[CURL_ERROR_SIZE] = "", host[128];
	long status = 0;
	CURLcode rc;

	if (!c)
		return virt_fail(h, -ENOMEM, "curl_easy_init failed");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http,file");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	host_of(url, host, sizeof(host));
	switch (rc) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
		return virt_fail(h, -ENETUNREACH, "cannot reach %s: offline? use image import (%s)",
				 host[0] ? host : url, cerr[0] ? cerr : curl_easy_strerror(rc));
	case CURLE_WRITE_ERROR:
		return virt_fail(h, d->got > d->max ? -EFBIG : -EIO, "%s: cannot store the download", url);
	default:
		return virt_fail(h, -EIO, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
	}
	if (status >= 400)
		return virt_fail(h, -EIO, "%s: HTTP %ld", url, status);
	return 0;
}

static int join_url(struct virt_host *h, char *out, size_t len, const char *dir, const char *file)
{
	int n = snprintf(out, len, "%s%s", dir, file);

	if (n < 0 || (size_t)n >= len)
		return virt_fail(h, -ENAMETOOLONG, "%s: URL too long", dir);
	return 0;
}

static int fetch_sums(struct virt_host *h, const char *dir, const char *file, char hex[65])
{
	struct dl d = { .max = SUMS_MAX };
	char url[512], *sums = NULL;
	int ret;

	ret = join_url(h, url, sizeof(url), dir, "SHA256SUMS");
	if (ret == 0)
		ret = get(h, url, &d);
	if (ret < 0 || (ret = vbuf_take(&d.mem, &sums)) < 0) {
		vbuf_free(&d.mem);
		return ret;
	}
	ret = sums_find(sums, file, hex);
	free(sums);
	if (ret < 0)
		return virt_fail(h, ret, "%s does not list %s", url, file);
	return 0;
}

static int fetch_image(struct virt_host *h, const char *dir, const char *file, const char *tmp)
{
	struct dl d = { .max = SIZE_MAX };
	char url[512];
	int ret;

	ret = join_url(h, url, sizeof(url), dir, file);
	if (ret < 0)
		return ret;
	d.fp = fopen(tmp, "wbx");
	if (!d.fp)
		return virt_fail(h, -errno, "%s: %s", tmp, strerror(errno));
	log_info("fetching %s", url);
	ret = get(h, url, &d);
	if (fclose(d.fp) != 0 && ret == 0)
		ret = virt_fail(h, -EIO, "%s: %s", tmp, strerror(errno));
	return ret;
}

int virt_image_fetch(struct virt_host *h, const char *name, struct virt_image *out)
{
	const char *dir = NULL, *file = NULL;
	char hex[65], tmp[PATH_MAX], copy[PATH_MAX], dirbuf[512], url[512];
	int ret;

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!strcmp(known[i].name, name)) {
			dir = known[i].dir;
			file = known[i].file;
		}
	}
	if (!dir)
		return virt_fail(h, -ENOENT, "no known image %s (known: ubuntu-24.04); use image import", name);
	if (h->fetch_url[0]) {
		ret = join_url(h, dirbuf, sizeof(dirbuf), h->fetch_url,
			       h->fetch_url[strlen(h->fetch_url) - 1] == '/' ? "" : "/");
		if (ret < 0)
			return ret;
		dir = dirbuf;
	}
	if ((ret = check_new(h, name)) < 0 || (ret = fetch_sums(h, dir, file, hex)) < 0)
		return ret;
	snprintf(copy, sizeof(copy), "%s", h->image_manifest);
	ret = snprintf(tmp, sizeof(tmp), "%s/.fetch-%s.%d", dirname(copy), name, (int)getpid());
	if (ret < 0 || ret >= (int)sizeof(tmp))
		return virt_fail(h, -ENAMETOOLONG, "%s: path too long", copy);
	ret = fetch_image(h, dir, file, tmp);
	if (ret == 0 && (ret = join_url(h, url, sizeof(url), dir, file)) == 0)
		ret = import(h, tmp, name, hex, url, out);
	unlink(tmp);
	return ret;
}
#else
int virt_image_fetch(struct virt_host *h, const char *name, struct virt_image *out)
{
	(void)sums_find;
	(void)known;
	return virt_fail(h, -ENOSYS, "image fetch is not built in (no libcurl): download %s and its "
			 "SHA256SUMS on a connected machine, check them, then use image import", name);
}
#endif
