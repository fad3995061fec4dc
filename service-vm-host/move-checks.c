#include "service-vm-host/move-checks.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/units.h"

const char *move_fd_check(int fd)
{
	struct stat st;
	int fl = fd < 0 ? -1 : fcntl(fd, F_GETFL);

	if (fl < 0)
		return "no open descriptor";
	if (fl & O_PATH)
		return "an O_PATH descriptor";
	if ((fl & O_ACCMODE) != O_RDONLY && (fl & O_ACCMODE) != O_RDWR)
		return "a descriptor not open for reading";
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return "not a regular file";
	return NULL;
}

const char *move_pipe_check(int fd)
{
	struct stat st;
	int fl = fd < 0 ? -1 : fcntl(fd, F_GETFL);

	if (fl < 0)
		return "no open descriptor";
	if ((fl & O_ACCMODE) != O_RDONLY)
		return "not a descriptor open only for reading";
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
		return "not a pipe";
	return NULL;
}

/* Both sizes in human units, or in bytes when those read the same. */
static void sizes(uint64_t a, uint64_t b, char *sa, char *sb, size_t len)
{
	format_size(a, sa, len);
	format_size(b, sb, len);
	if (a != b && !strcmp(sa, sb)) {
		snprintf(sa, len, "%" PRIu64 " bytes", a);
		snprintf(sb, len, "%" PRIu64 " bytes", b);
	}
}

const char *move_manifest_check(const struct export_manifest *m, const char *name,
				const struct move_spec *spec, char *buf, size_t len)
{
	char got[32], want[32];

	if (strcmp(m->name, name)) {
		snprintf(buf, len, "refused: the archive holds guest %s, not %s", m->name, name);
		return buf;
	}
	if (!spec || !spec->type)
		return snprintf(buf, len, "refused: the fleet's approved spec is missing"), buf;
	/* memory in KiB, what a libvirt definition holds: a fleet's record of
	 * 1000000000 bytes defines, and so exports, 976562 KiB */
	if (!strcmp(m->type, spec->type) && m->memory_bytes / 1024 == spec->memory_bytes / 1024 &&
	    m->vcpus == spec->vcpus)
		return NULL;
	sizes(m->memory_bytes, spec->memory_bytes, got, want, sizeof(got));
	snprintf(buf, len, "the archive describes a %s of %s and %u vCPU%s; the fleet approved "
		 "a %s of %s and %" PRIu64 " vCPU%s: refused, nothing was defined", m->type, got,
		 m->vcpus, m->vcpus == 1 ? "" : "s", spec->type, want, spec->vcpus,
		 spec->vcpus == 1 ? "" : "s");
	return buf;
}
