/* Reading an export archive. Order: format (from version 2 on),
 * volumes/data-DISK.qcow2 entries, manifest.json, manifest.sig, end. A file is verified whole first, then its
 * volumes read again for the upload; a stream (a move) is read once, each
 * volume handed on as it passes and hashed on the way, the manifest's
 * verdict coming after them. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virt/virt-export.h"
#include "lib/sha256-tree.h"

#define READ_BLOCK (256 * 1024)

struct seen {
	char name[EXPORT_VOLUME_ENTRY_MAX];
	uint64_t bytes;
	char sha256[65];
};

struct verify {
	struct archive *a;
	struct seen vol[EXPORT_VOLUMES_MAX];
	unsigned nvol;
	char *manifest, *sig;
	size_t manifest_len, sig_len;
	char *err;
	size_t errlen;
	export_take_fn take; /* a stream's volumes: handed on as they pass */
	void *ctx;
	enum sha256_tree_kind hash; /* the pieces' list when a format entry came first */
	bool format;
	struct sha256_tree *t; /* the volume passing */
	uint64_t got;
	bool broken;            /* the archive failed under a read */
};

static int bad(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bad(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

static int damaged(struct archive *a, char *err, size_t errlen)
{
	return bad(err, errlen, -EBADMSG, "the archive is damaged or truncated: %s",
		   archive_error_string(a) ? archive_error_string(a) : "unexpected end");
}

int export_archive_open(const char *path, struct archive **a, char *err, size_t errlen)
{
	*a = archive_read_new();
	if (!*a)
		return -ENOMEM;
	archive_read_support_format_tar(*a);
	if (archive_read_open_filename(*a, path, READ_BLOCK) != ARCHIVE_OK) {
		int ret = bad(err, errlen, -EBADMSG, "%s: %s", path, archive_error_string(*a));

		archive_read_free(*a);
		*a = NULL;
		return ret;
	}
	return 0;
}

void export_archive_close(struct archive *a)
{
	if (a)
		archive_read_free(a);
}

/* The next header, which must be a regular file of a sane size. */
static int next_file(struct archive *a, struct archive_entry **e, char *err, size_t errlen)
{
	int r = archive_read_next_header(a, e);

	if (r == ARCHIVE_EOF)
		return 1;
	if (r != ARCHIVE_OK)
		return damaged(a, err, errlen);
	if (archive_entry_filetype(*e) != AE_IFREG || !archive_entry_size_is_set(*e) ||
	    archive_entry_size(*e) < 0)
		return bad(err, errlen, -EBADMSG, "the archive entry %s is not a regular file",
			   archive_entry_pathname(*e) ?: "(unnamed)");
	return 0;
}

static int read_small(struct archive *a, struct archive_entry *e, size_t max, char **out,
		      size_t *len, char *err, size_t errlen)
{
	int64_t size = archive_entry_size(e);
	la_ssize_t n;

	if (size > (int64_t)max)
		return bad(err, errlen, -EBADMSG, "%s is above %zu bytes", archive_entry_pathname(e), max);
	*out = malloc((size_t)size + 1);
	if (!*out)
		return -ENOMEM;
	n = archive_read_data(a, *out, (size_t)size);
	if (n != size)
		return damaged(a, err, errlen);
	(*out)[size] = '\0';
	*len = (size_t)size;
	return 0;
}

/* A virt_read_fn over the passing volume's data that hashes what it reads. */
static ssize_t hashing_read(void *ctx, void *buf, size_t len)
{
	struct verify *v = ctx;
	la_ssize_t n = archive_read_data(v->a, buf, len);

	if (n < 0) {
		v->broken = true;
		return -EIO;
	}
	sha256_tree_update(v->t, buf, (size_t)n);
	v->got += (uint64_t)n;
	return (ssize_t)n;
}

static int skip_rest(void *ctx, const char *entry, uint64_t bytes, virt_read_fn read, void *rctx)
{
	unsigned char *buf = malloc(READ_BLOCK);
	ssize_t n;

	(void)ctx, (void)entry, (void)bytes;
	if (!buf)
		return -ENOMEM;
	while ((n = read(rctx, buf, READ_BLOCK)) > 0)
		;
	free(buf);
	return n < 0 ? -EIO : 0;
}

static int hash_entry(struct verify *v, struct archive_entry *e)
{
	struct seen *s = &v->vol[v->nvol];
	uint64_t size = (uint64_t)archive_entry_size(e);
	const char *name = archive_entry_pathname(e);
	int ret;

	if (!(v->t = sha256_tree_new(v->hash)))
		return -ENOMEM;
	v->got = 0;
	v->broken = false;
	ret = v->take ? v->take(v->ctx, name, size, hashing_read, v) : 0;
	if (!ret) /* what the taker left of the entry is hashed too */
		ret = skip_rest(NULL, name, size, hashing_read, v);
	if (v->broken || (!ret && v->got != size)) {
		sha256_tree_free(v->t);
		return damaged(v->a, v->err, v->errlen);
	}
	if (ret < 0) {
		sha256_tree_free(v->t);
		return ret;
	}
	if (sha256_tree_hex(v->t, s->sha256) < 0)
		return -ENOMEM;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->bytes = size;
	v->nvol++;
	return 0;
}

/* The first entry when it is the format's: its volumes are hashed as its
 * manifest will say (which check() holds it to). */
static int read_format(struct verify *v, struct archive_entry *e)
{
	char *text = NULL;
	size_t len;
	int ret = read_small(v->a, e, 64, &text, &len, v->err, v->errlen);

	if (!ret && (len != strlen(EXPORT_FORMAT) + 1 || strcmp(text, EXPORT_FORMAT "\n")))
		ret = bad(v->err, v->errlen, -EBADMSG, "the archive's format entry is not %s: this version "
			  "reads %s and %s", EXPORT_FORMAT, EXPORT_FORMAT, EXPORT_FORMAT_V1);
	free(text);
	v->format = true;
	v->hash = SHA256_TREE_PIECES;
	return ret;
}

/* Every entry, in order; volumes hashed as they pass. */
static int read_all(struct verify *v)
{
	struct archive_entry *e;
	bool first = true;
	int ret;

	v->hash = SHA256_TREE_PLAIN; /* until a format entry says otherwise */
	while ((ret = next_file(v->a, &e, v->err, v->errlen)) == 0) {
		const char *p = archive_entry_pathname(e) ?: "";

		if (first && !strcmp(p, EXPORT_FORMAT_ENTRY)) {
			ret = read_format(v, e);
		} else if (!strncmp(p, "volumes/", 8) && !v->manifest) {
			if (v->nvol == EXPORT_VOLUMES_MAX || strlen(p) >= EXPORT_VOLUME_ENTRY_MAX)
				return bad(v->err, v->errlen, -EBADMSG, "unexpected archive entry %s", p);
			ret = hash_entry(v, e);
		} else if (!strcmp(p, EXPORT_MANIFEST_ENTRY) && !v->manifest) {
			ret = read_small(v->a, e, EXPORT_MANIFEST_MAX, &v->manifest, &v->manifest_len,
					 v->err, v->errlen);
		} else if (!strcmp(p, EXPORT_SIG_ENTRY) && v->manifest && !v->sig) {
			ret = read_small(v->a, e, EXPORT_SIG_MAX, &v->sig, &v->sig_len, v->err, v->errlen);
		} else {
			return bad(v->err, v->errlen, -EBADMSG, "unexpected archive entry %s "
				   "(volumes, then %s, then %s)", p, EXPORT_MANIFEST_ENTRY, EXPORT_SIG_ENTRY);
		}
		if (ret)
			return ret;
		first = false;
	}
	if (ret < 0)
		return ret;
	if (!v->sig)
		return bad(v->err, v->errlen, -EBADMSG, "the archive is truncated: no %s",
			   v->manifest ? EXPORT_SIG_ENTRY : EXPORT_MANIFEST_ENTRY);
	return 0;
}

/* The manifest's volumes are exactly the entries seen, in that order. */
static int match(const struct verify *v, const struct export_manifest *m)
{
	char name[EXPORT_VOLUME_ENTRY_MAX];

	if (m->nvol != v->nvol)
		return bad(v->err, v->errlen, -EBADMSG, "the manifest lists %u volume(s), the archive "
			   "holds %u", m->nvol, v->nvol);
	for (unsigned i = 0; i < m->nvol; i++) {
		if (export_volume_entry(&m->vol[i], name, sizeof(name)) || strcmp(name, v->vol[i].name))
			return bad(v->err, v->errlen, -EBADMSG, "volume %u: the archive holds %s where "
				   "the manifest says %s", i, v->vol[i].name, name);
		if (m->vol[i].bytes != v->vol[i].bytes)
			return bad(v->err, v->errlen, -EBADMSG, "%s: %llu bytes, the manifest says %llu",
				   name, (unsigned long long)v->vol[i].bytes,
				   (unsigned long long)m->vol[i].bytes);
		if (strcmp(m->vol[i].sha256, v->vol[i].sha256))
			return bad(v->err, v->errlen, -EBADMSG, "%s: altered (in the archive, or in "
				   "transit): SHA-256 %s, the manifest says %s", name, v->vol[i].sha256, m->vol[i].sha256);
	}
	return 0;
}

static int check(struct verify *v, export_trust_fn trust, void *ctx, struct export_manifest *m)
{
	struct export_sig s;
	char why[256] = "";
	int ret = export_sig_parse(v->sig, v->sig_len, &s, why, sizeof(why));

	if (ret)
		return bad(v->err, v->errlen, -EBADMSG, "%s: %s", EXPORT_SIG_ENTRY, why);
	if (!export_sig_valid(&s, v->manifest, v->manifest_len))
		return bad(v->err, v->errlen, -EBADMSG, "the manifest's signature does not verify: "
			   "the manifest was altered or the signature is not %s's", s.signer);
	if ((ret = trust(&s, ctx, why, sizeof(why))))
		return bad(v->err, v->errlen, ret, "signed by %s, who is not trusted here: %s",
			   s.signer, why);
	if ((ret = export_manifest_parse(v->manifest, v->manifest_len, m, why, sizeof(why))))
		return bad(v->err, v->errlen, -EBADMSG, "%s: %s", EXPORT_MANIFEST_ENTRY, why);
	if ((m->version != 1) != v->format) /* an entry added or taken away */
		ret = bad(v->err, v->errlen, -EBADMSG, "the manifest's format is %s, the archive %s",
			  m->version == 1 ? EXPORT_FORMAT_V1 : EXPORT_FORMAT,
			  v->format ? "begins with a format entry" : "has no format entry");
	if (ret || (ret = match(v, m)))
		export_manifest_free(m);
	return ret;
}

int export_archive_verify(const char *path, export_trust_fn trust, void *ctx,
			  struct export_manifest *m, char *err, size_t errlen)
{
	struct verify v = { .err = err, .errlen = errlen };
	int ret;

	memset(m, 0, sizeof(*m));
	ret = export_archive_open(path, &v.a, err, errlen);
	if (!ret)
		ret = read_all(&v);
	if (!ret)
		ret = check(&v, trust, ctx, m);
	export_archive_close(v.a);
	free(v.manifest);
	free(v.sig);
	return ret;
}

/* A stream's reads: a pipe silent for EXPORT_STREAM_IDLE_S ends the read, so
 * a writer that holds it open and sends nothing cannot keep the reader (a
 * root helper holding a move's marker) forever. */
struct pipe_in {
	int fd;
	char buf[READ_BLOCK];
};

static la_ssize_t pipe_read(struct archive *a, void *ctx, const void **out)
{
	struct pipe_in *p = ctx;
	struct pollfd pf = { .fd = p->fd, .events = POLLIN };
	ssize_t n;
	int r;

	while ((r = poll(&pf, 1, EXPORT_STREAM_IDLE_S * 1000)) < 0 && errno == EINTR)
		;
	if (r == 0) {
		archive_set_error(a, ETIMEDOUT, "nothing arrived for %d s", EXPORT_STREAM_IDLE_S);
		return -1;
	}
	while ((n = read(p->fd, p->buf, sizeof(p->buf))) < 0 && errno == EINTR)
		;
	if (n < 0)
		archive_set_error(a, errno, "%s", strerror(errno));
	*out = p->buf;
	return n;
}

int export_archive_stream(int fd, export_take_fn take, void *take_ctx, export_trust_fn trust,
			  void *ctx, struct export_manifest *m, bool *whole, char *err, size_t errlen)
{
	struct verify v = { .err = err, .errlen = errlen, .take = take, .ctx = take_ctx };
	struct pipe_in *in = malloc(sizeof(*in));
	int ret = 0;

	memset(m, 0, sizeof(*m));
	*whole = false;
	if (!in || !(v.a = archive_read_new())) {
		free(in);
		return -ENOMEM;
	}
	in->fd = fd;
	archive_read_support_format_tar(v.a);
	if (archive_read_open(v.a, in, NULL, pipe_read, NULL) != ARCHIVE_OK)
		ret = bad(err, errlen, -EBADMSG, "the stream: %s", archive_error_string(v.a));
	if (!ret)
		ret = read_all(&v);
	*whole = !ret;
	if (!ret)
		ret = check(&v, trust, ctx, m);
	export_archive_close(v.a);
	free(in);
	free(v.manifest);
	free(v.sig);
	return ret;
}

int export_archive_next(struct archive *a, const struct export_volume *v, char *err, size_t errlen)
{
	struct archive_entry *e;
	char name[EXPORT_VOLUME_ENTRY_MAX];
	int ret = next_file(a, &e, err, errlen);

	if (!ret && !strcmp(archive_entry_pathname(e) ?: "", EXPORT_FORMAT_ENTRY)) /* checked before */
		ret = next_file(a, &e, err, errlen);

	if (ret > 0)
		return bad(err, errlen, -EBADMSG, "the archive changed while it was imported");
	if (ret < 0)
		return ret;
	if (export_volume_entry(v, name, sizeof(name)) || strcmp(name, archive_entry_pathname(e) ?: "") ||
	    (uint64_t)archive_entry_size(e) != v->bytes)
		return bad(err, errlen, -EBADMSG, "the archive changed while it was imported");
	return 0;
}

ssize_t export_archive_read(void *a, void *buf, size_t len)
{
	la_ssize_t n = archive_read_data(a, buf, len);

	return n < 0 ? -EIO : (ssize_t)n;
}
