#include "lib/guest-types.h"
#include "lib/names.h"

#include <stdio.h>
#include <string.h>

#define GIB (1024ULL * 1024 * 1024)

static const struct guest_type types[] = {
	{ "totebox", "Totebox", 2, 4 * GIB, true, "totebox.json",
	  "per-entity data vault; append-only archive on its own data volume" },
	{ "mediakit", "MediaKit", 2, 2 * GIB, false, "mediakit.json",
	  "public web appliance: websites and knowledge portals" },
	{ "orchestration", "Orchestration", 2, 2 * GIB, false, "orchestration.json",
	  "stateless aggregator across Toteboxes; holds no data of its own" },
	{ "privategit", "PrivateGit", 2, 2 * GIB, false, "privategit.json",
	  "sovereign source control (Gitea)" },
};

_Static_assert(sizeof(types) / sizeof(types[0]) == GUEST_TYPE_COUNT, "GUEST_TYPE_COUNT");

const struct guest_type *guest_type_find(const char *name)
{
	for (unsigned i = 0; name && i < GUEST_TYPE_COUNT; i++)
		if (!strcmp(types[i].name, name))
			return &types[i];
	return NULL;
}

const struct guest_type *guest_type_at(unsigned i)
{
	return i < GUEST_TYPE_COUNT ? &types[i] : NULL;
}

unsigned guest_type_index(const struct guest_type *t)
{
	return (unsigned)(t - types);
}

const char *guest_type_names(void)
{
	static char names[128];
	size_t n = 0;

	if (names[0])
		return names;
	for (unsigned i = 0; i < GUEST_TYPE_COUNT && n < sizeof(names); i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "", types[i].name);
	return names;
}

bool guest_name_valid(const char *name)
{
	return name_label_valid(name, GUEST_NAME_MAX);
}
