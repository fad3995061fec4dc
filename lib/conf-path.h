/* Which configuration file a service reads when not given --config. genesis
 * and join write host.conf (and fleet.conf) into the state directory; the
 * system's /etc/os-infrastructure/<file>, when an administrator put one
 * there, comes first. Several nodes on one machine (tests) each pass their
 * own --config, so nothing here is shared between them. */
#pragma once
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#define CONF_ETC_DIR "/etc/os-infrastructure"

/* <etc_dir>/<file> if it exists, else <state_dir>/<file> if that exists,
 * else NULL (the service runs on its defaults and says so). */
static inline const char *conf_default_path(const char *etc_dir, const char *state_dir,
					    const char *file, char path[PATH_MAX])
{
	const char *dirs[] = { etc_dir, state_dir };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int n = snprintf(path, PATH_MAX, "%s/%s", dirs[i], file);

		if (n > 0 && n < PATH_MAX && access(path, F_OK) == 0)
			return path;
	}
	return NULL;
}
