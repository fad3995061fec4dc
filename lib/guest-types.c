#include "lib/guest-types.h"

#include <string.h>

#define GIB (1024ULL * 1024 * 1024)

static const struct guest_type types[] = {
	{ "totebox", "Totebox", 2, 4 * GIB, true,
	  "per-entity data vault; append-only archive on its own data volume" },
	{ "mediakit", "MediaKit", 2, 2 * GIB, false,
	  "public web appliance: websites and knowledge portals" },
	{ "orchestration", "Orchestration", 2, 2 * GIB, false,
	  "stateless aggregator across Toteboxes; holds no data of its own" },
	{ "privategit", "PrivateGit", 2, 2 * GIB, false,
	  "sovereign source control (Gitea)" },
};

const struct guest_type *guest_type_find(const char *name)
{
	for (unsigned i = 0; name && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(types[i].name, name))
			return &types[i];
	return NULL;
}

const struct guest_type *guest_type_at(unsigned i)
{
	return i < sizeof(types) / sizeof(types[0]) ? &types[i] : NULL;
}

const char *guest_type_names(void)
{
	return "totebox, mediakit, orchestration, privategit";
}

bool guest_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > GUEST_NAME_MAX || name[0] == '-' || name[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '-'))
			return false;
	return true;
}
