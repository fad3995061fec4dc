#include "service-vm-host/move-checks.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

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

const char *move_manifest_check(const struct export_manifest *m, const char *name)
{
	return strcmp(m->name, name) ? "the archive holds another guest" : NULL;
}
