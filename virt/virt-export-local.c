/* virt/virt-export-local.h: libvirt's stream moves a volume in 256 KiB
 * messages through its iohelper, the daemon and a socket; on the node itself
 * the file is right there, to read for an export or write for an import. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virt/virt-export-local.h"

#include "lib/fileio.h"

#define LOCAL_CHUNK (4 << 20)

static bool uri_local(virConnectPtr conn)
{
	char *uri = virConnectGetURI(conn);
	const char *p = uri ? strstr(uri, "://") : NULL;
	bool local = p && p[3] == '/';

	free(uri);
	return local;
}

/* The target directory of vol's pool when it is a dir pool. */
static int pool_dir(virStorageVolPtr vol, char *out, size_t len)
{
	virStoragePoolPtr pool = virStoragePoolLookupByVolume(vol);
	char *xml = pool ? virStoragePoolGetXMLDesc(pool, 0) : NULL;
	const char *t = xml ? strstr(xml, "<target>") : NULL;
	const char *p = t ? strstr(t, "<path>") : NULL, *q = p ? strstr(p, "</path>") : NULL;
	int ret = -ENOTSUP;

	if (xml && !strncmp(xml, "<pool type='dir'", 16) && q && q - p - 6 > 1 &&
	    snprintf(out, len, "%.*s", (int)(q - p - 6), p + 6) < (int)len)
		ret = 0;
	free(xml);
	if (pool)
		virStoragePoolFree(pool);
	return ret;
}

/* vol's file opened with flags (O_RDONLY: it must be of bytes bytes). */
static int open_in_pool(virStorageVolPtr vol, int flags, uint64_t bytes)
{
	char dir[PATH_MAX], *path = NULL;
	size_t n;
	struct stat st;
	int fd = -1;

	if (!uri_local(virStorageVolGetConnect(vol)) || pool_dir(vol, dir, sizeof(dir)) < 0 ||
	    !(path = virStorageVolGetPath(vol)))
		goto cleanup;
	n = strlen(dir);
	if (strncmp(path, dir, n) || path[n] != '/' || strchr(path + n + 1, '/'))
		goto cleanup;
	fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
			(flags == O_RDONLY && (uint64_t)st.st_size != bytes))) {
		close(fd);
		fd = -1;
	}
cleanup:
	free(path);
	return fd < 0 ? -ENOTSUP : fd;
}

int virt_export_local_open(virStorageVolPtr vol, uint64_t bytes)
{
	int fd = open_in_pool(vol, O_RDONLY, bytes);

	if (fd >= 0)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return fd;
}

int virt_export_local_read(virStorageVolPtr vol, uint64_t bytes, virt_sink_fn sink, void *sctx,
			   char *err, size_t errlen)
{
	int fd = virt_export_local_open(vol, bytes), ret = 0;
	char *buf;
	ssize_t n;

	if (fd < 0)
		return fd;
	if (!(buf = malloc(LOCAL_CHUNK))) {
		close(fd);
		return -ENOMEM;
	}
	while ((n = read(fd, buf, LOCAL_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(err, errlen, "%s", strerror(errno));
			break;
		}
		if ((ret = sink(sctx, buf, (size_t)n)) < 0)
			break;
	}
	free(buf);
	close(fd);
	return ret;
}

/* Written back as it goes (SYNC_FILE_RANGE_WRITE every WRITEBACK bytes), so
 * the closing fdatasync waits for little. */
#define WRITEBACK (32ull << 20)

int virt_import_local_write(virStorageVolPtr vol, uint64_t bytes, virt_read_fn read, void *rctx,
			    char *err, size_t errlen)
{
	int fd = open_in_pool(vol, O_WRONLY, 0), ret = 0;
	uint64_t done = 0, synced = 0;
	char *buf;
	ssize_t n;

	if (fd < 0)
		return fd;
	if (!(buf = malloc(LOCAL_CHUNK)) || ftruncate(fd, 0) < 0) {
		ret = buf ? -errno : -ENOMEM;
		goto out;
	}
	while (done < bytes) {
		size_t want = bytes - done < LOCAL_CHUNK ? (size_t)(bytes - done) : LOCAL_CHUNK;

		if ((n = read(rctx, buf, want)) <= 0) {
			ret = n < 0 ? -EIO : -EPIPE;
			break;
		}
		if ((ret = fd_write_all(fd, buf, (size_t)n)) < 0)
			break;
		done += (uint64_t)n;
		if (done - synced >= WRITEBACK) {
			sync_file_range(fd, (off_t)synced, (off_t)(done - synced), SYNC_FILE_RANGE_WRITE);
			synced = done;
		}
	}
	if (!ret && fdatasync(fd) < 0)
		ret = -errno;
out:
	if (ret < 0 && ret != -EIO && ret != -EPIPE)
		snprintf(err, errlen, "%s", strerror(-ret));
	free(buf);
	close(fd);
	return ret;
}
