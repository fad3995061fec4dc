/* The backup copy's tar reader (virt/virt-backup-copy.h) on arbitrary
 * bytes, as a peer could send them: whatever entry it accepts has a flat
 * name of a backup's file, comes in order, and its bytes are exactly its
 * size, within the input. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virt/virt-backup-copy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int input(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-backup-copy", MFD_CLOEXEC);

	assert(fd >= 0);
	assert(write(fd, data, size) == (ssize_t)size);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct backup_copy_entry e, again;
	struct backup_tar *t;
	char err[256] = "", last[BACKUP_ID_LEN + 1] = "";
	uint64_t total = 0;
	unsigned links = 0;
	int fd = input(data, size), ret;

	if (backup_tar_open(fd, size, &t, err, sizeof(err)) == 0) {
		while ((ret = backup_tar_next(t, &e, err, sizeof(err))) == 0) {
			assert(!strchr(e.name, '/') && strcmp(e.name, "..") && backup_id_valid(e.id));
			assert(backup_copy_name_parse(e.name, &again) && again.kind == e.kind);
			if (e.kind == BACKUP_COPY_JSON) {
				assert(strcmp(e.id, last) > 0 && ++links <= BACKUP_CHAIN_MAX);
				memcpy(last, e.id, sizeof(last));
				assert(e.size <= BACKUP_MANIFEST_MAX);
			}
			assert(!strcmp(e.id, last));
			total += e.size;
			assert(total <= size);
			if (backup_tar_copy(t, -1, err, sizeof(err)) < 0)
				break;
		}
		assert(ret != 1 || links >= 1);
		assert(memchr(err, '\0', sizeof(err)));
		backup_tar_close(t);
	}
	close(fd);
	return 0;
}
