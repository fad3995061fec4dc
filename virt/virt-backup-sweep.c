/* What an interrupted copy or backup left in a guest's backup directory
 * (virt/virt-backup-copy.h): a backup is whole or absent, its manifest its
 * commit point, so the files of an id without ID.json are leftovers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "virt/virt-backup-copy.h"

void backup_copy_remove_dir(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(fd, de->d_name, 0);
	closedir(d);
	unlinkat(parent, name, AT_REMOVEDIR);
}

/* A backup's signature or volume file whose manifest is not there. */
static bool orphan(int gfd, const char *name)
{
	struct backup_copy_entry e;
	char json[BACKUP_FILE_MAX];
	struct stat st;

	if (!backup_copy_name_parse(name, &e) || e.kind == BACKUP_COPY_JSON ||
	    backup_file_name(e.id, "json", json, sizeof(json)) < 0)
		return false;
	return fstatat(gfd, json, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

size_t backup_copy_sweep(int gfd, const char *gdir)
{
	int fd = openat(gfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	size_t n = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, BACKUP_COPY_STAGING, strlen(BACKUP_COPY_STAGING))) {
			backup_copy_remove_dir(gfd, de->d_name);
		} else if (orphan(gfd, de->d_name) && unlinkat(gfd, de->d_name, 0) == 0) {
			log_info("removed %s/%s: its backup has no manifest (an interrupted backup or "
				 "copy)", gdir, de->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}
