#include "service-vm-host/helper-path.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "osi-config.h"

static int join(char *path, size_t size, const char *dir, const char *name)
{
	int n = snprintf(path, size, "%s/%s", dir, name);

	return n < 0 ? -EINVAL : (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int host_helper_path_in(const char *exe_dir, const char *name, char *path, size_t size)
{
	int ret = join(path, size, exe_dir, name);

	if (ret == 0 && access(path, X_OK) == 0)
		return 0;
	return join(path, size, OSI_LIBEXEC_DIR, name);
}

int host_helper_path(const char *name, char *path, size_t size)
{
	char exe[PATH_MAX];
	size_t len = sizeof(exe);
	char *slash;
	int ret;

	ret = uv_exepath(exe, &len);
	if (ret < 0)
		return ret;
	slash = strrchr(exe, '/');
	if (!slash)
		return join(path, size, OSI_LIBEXEC_DIR, name);
	*slash = '\0';
	return host_helper_path_in(exe, name, path, size);
}
