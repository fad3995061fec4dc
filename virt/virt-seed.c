/* The NoCloud seed: meta-data, user-data and network-config on an ISO9660
 * volume labelled cidata, built in memory with libarchive. (libarchive's
 * ISO writer spools file bodies to an unlinked temporary file while it lays
 * out the image; nothing of ours touches the file system.) */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "virt/virt-internal.h"
#include "lib/names.h"

#define SEED_MAX (16 * 1024 * 1024)

int virt_seed_meta_data(const char *instance_id, const char *hostname, char **out)
{
	struct vbuf b = { 0 };

	/* Both are [a-z0-9._-]: plain YAML scalars, no quoting needed. */
	if (!name_label_valid(hostname, 63) || !instance_id[0] || strpbrk(instance_id, " :#\n\"'"))
		return -EINVAL;
	vbuf_printf(&b, "instance-id: %s\nlocal-hostname: %s\n", instance_id, hostname);
	return vbuf_take(&b, out);
}

int virt_seed_network_config(enum virt_net net, char **out)
{
	struct vbuf b = { 0 };

	if (net == VIRT_NET_NONE)
		vbuf_printf(&b, "network:\n  config: disabled\n");
	else
		vbuf_printf(&b, "version: 2\n"
			    "ethernets:\n"
			    "  primary:\n"
			    "    match:\n"
			    "      name: \"e*\"\n"
			    "    dhcp4: true\n"
			    "    dhcp6: true\n");
	return vbuf_take(&b, out);
}

struct membuf {
	unsigned char *p;
	size_t len, cap;
};

static la_ssize_t mem_write(struct archive *a, void *ctx, const void *data, size_t len)
{
	struct membuf *m = ctx;

	if (m->len + len > SEED_MAX) {
		archive_set_error(a, EFBIG, "seed larger than %d bytes", SEED_MAX);
		return -1;
	}
	if (m->len + len > m->cap) {
		size_t ncap = m->cap ? m->cap : 64 * 1024;
		unsigned char *np;

		while (ncap < m->len + len)
			ncap *= 2;
		np = realloc(m->p, ncap);
		if (!np) {
			archive_set_error(a, ENOMEM, "out of memory");
			return -1;
		}
		m->p = np;
		m->cap = ncap;
	}
	memcpy(m->p + m->len, data, len);
	m->len += len;
	return (la_ssize_t)len;
}

static int add_file(struct archive *a, const struct virt_seed_file *f, time_t now)
{
	struct archive_entry *e = archive_entry_new();
	int ret = 0;

	if (!e)
		return -ENOMEM;
	archive_entry_set_pathname(e, f->name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0444);
	archive_entry_set_size(e, (la_int64_t)f->len);
	archive_entry_set_mtime(e, now, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (f->len && archive_write_data(a, f->data, f->len) != (la_ssize_t)f->len))
		ret = -EIO;
	archive_entry_free(e);
	return ret;
}

static int set_options(struct archive *a, const char *label)
{
	/* Rock Ridge and Joliet keep "meta-data" lowercase with its dash; no
	 * 300 KiB of padding, the seed is read, never burnt. */
	if (archive_write_set_format_iso9660(a) != ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "volume-id", label) != ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "rockridge", "useful") != ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "joliet", "1") != ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "pad", NULL) != ARCHIVE_OK)
		return -EINVAL;
	return 0;
}

int virt_seed_iso(const struct virt_seed_file *files, size_t n, const char *label,
		  void **iso, size_t *len, char *err, size_t errlen)
{
	struct membuf m = { 0 };
	struct archive *a = archive_write_new();
	time_t now = time(NULL);
	int ret;

	if (!a)
		return -ENOMEM;
	ret = set_options(a, label);
	if (ret < 0)
		goto cleanup;
	if (archive_write_open2(a, &m, NULL, mem_write, NULL, NULL) != ARCHIVE_OK) {
		ret = -EIO;
		goto cleanup;
	}
	for (size_t i = 0; i < n && !ret; i++)
		ret = add_file(a, &files[i], now);
	if (!ret && archive_write_close(a) != ARCHIVE_OK)
		ret = -EIO;
cleanup:
	if (ret < 0 && err && errlen)
		snprintf(err, errlen, "seed image: %s",
			 archive_error_string(a) ? archive_error_string(a) : strerror(-ret));
	archive_write_free(a);
	if (ret < 0) {
		free(m.p);
		return ret;
	}
	*iso = m.p;
	*len = m.len;
	return 0;
}

int virt_seed_build(const char *instance_id, const char *hostname, const char *user_data,
		    enum virt_net net, void **iso, size_t *len, char *err, size_t errlen)
{
	char *meta = NULL, *netcfg = NULL;
	int ret;

	if (!user_data)
		user_data = "#cloud-config\n";
	ret = virt_seed_meta_data(instance_id, hostname, &meta);
	if (ret < 0) {
		snprintf(err, errlen, "seed: bad instance-id or hostname");
		goto cleanup;
	}
	ret = virt_seed_network_config(net, &netcfg);
	if (ret < 0)
		goto cleanup;
	const struct virt_seed_file files[] = {
		{ "meta-data", meta, strlen(meta) },
		{ "user-data", user_data, strlen(user_data) },
		{ "network-config", netcfg, strlen(netcfg) },
	};
	ret = virt_seed_iso(files, 3, "cidata", iso, len, err, errlen);
cleanup:
	free(meta);
	free(netcfg);
	return ret;
}
