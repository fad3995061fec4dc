#include "lib/mesh-firewall.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "lib/firewall.h"

int mesh_firewall_apply(const char *ifname, const struct ledger *l, char *err, size_t errlen)
{
	const struct ledger_member *m;
	struct fw_spec s = { 0 };
	uint32_t *addrs = NULL;
	size_t count, n = 0;
	int ret;

	ret = ledger_members(l, &m, &count);
	if (ret < 0)
		return ret;
	addrs = calloc(count ? count : 1, sizeof(*addrs));
	if (!addrs)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++)
		if (!m[i].revoked)
			addrs[n++] = m[i].addr;
	snprintf(s.mesh_if, sizeof(s.mesh_if), "%s", ifname);
	s.members = addrs;
	s.nmembers = n;
	ret = fw_apply(&s, err, errlen);
	free(addrs);
	return ret;
}
