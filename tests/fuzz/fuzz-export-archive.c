/* A move's stream reader (export_archive_stream, virt/virt-export.h) on
 * arbitrary bytes, as a source could send them: every volume it hands on
 * has a name whose disk parses back to the same name and passes with
 * exactly its size; an archive accepted (by a trust that takes any signer)
 * has as many volumes as its manifest, of the sizes it says. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virt/virt-export.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	unsigned n;
	uint64_t bytes[EXPORT_VOLUMES_MAX + 1];
};

static int take(void *ctx, const char *entry, uint64_t bytes, virt_read_fn read, void *rctx)
{
	struct seen *s = ctx;
	struct export_volume v = { .bytes = bytes };
	char back[EXPORT_VOLUME_ENTRY_MAX], buf[997]; /* odd reads */
	uint64_t got = 0;
	ssize_t n;

	assert(s->n < EXPORT_VOLUMES_MAX);
	if (export_volume_entry_disk(entry, v.disk, sizeof(v.disk)) == 0) {
		assert(export_volume_entry(&v, back, sizeof(back)) == 0 && !strcmp(back, entry));
	}
	while ((n = read(rctx, buf, sizeof(buf))) > 0)
		got += (uint64_t)n;
	if (n == 0)
		assert(got == bytes);
	s->bytes[s->n++] = bytes;
	return 0;
}

static int any(const struct export_sig *sig, void *ctx, char *err, size_t errlen)
{
	(void)sig, (void)ctx, (void)err, (void)errlen;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct export_manifest m;
	struct seen s = { 0 };
	char err[256] = "";
	bool whole = false;
	int fd = memfd_create("fuzz-export-archive", MFD_CLOEXEC);

	assert(fd >= 0);
	assert(write(fd, data, size) == (ssize_t)size && lseek(fd, 0, SEEK_SET) == 0);
	if (export_archive_stream(fd, take, &s, any, NULL, &m, &whole, err, sizeof(err)) == 0) {
		assert(whole && m.nvol == s.n);
		for (unsigned i = 0; i < m.nvol; i++)
			assert(m.vol[i].bytes == s.bytes[i]);
		export_manifest_free(&m);
	} else {
		assert(memchr(err, '\0', sizeof(err)) && err[0] && !m.user_data);
	}
	close(fd);
	return 0;
}
