/* The operator's side of the SAS comparison, on a terminal or a pipe. */
#include "genesis/ceremony.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "genesis/ceremony-io.h"

static void roles_text(unsigned int roles, char *out, size_t len)
{
	static const char *const names[] = { "node", "fleet", "admin", "relay" };
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); ++i) {
		int n;

		if (!(roles & (1u << i)))
			continue;
		n = snprintf(out + used, len - used, "%s%s", used ? "," : "", names[i]);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
	if (!used)
		snprintf(out, len, "none");
}

static void trim(char *s)
{
	size_t n = strlen(s), start = 0;

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	while (s[start] == ' ' || s[start] == '\t')
		++start;
	memmove(s, s + start, n - start + 1);
}

int ceremony_confirm_prompt(int in_fd, int out_fd, const struct ceremony_sas_info *info)
{
	const struct ceremony_joiner *j = info->joiner;
	char line[128], roles[32];
	int ret;

	if (j)
		roles_text(j->roles, roles, sizeof(roles));
	if (info->inviter && j)
		dprintf(out_fd, "'%s' asks to join (roles: %s%s%s)\n", j->name, roles,
			j->endpoint[0] ? ", reachable at " : "", j->endpoint);
	else if (j)
		dprintf(out_fd, "asking to join as '%s' (roles: %s)\n", j->name, roles);
	dprintf(out_fd, "SAS: %s  (%s)\n"
		"Type y if the other screen shows the same, or type the SAS it shows: ",
		info->digits, info->words);
	ret = cio_read_line(in_fd, line, sizeof(line), info->deadline_ns);
	if (ret == -ENODATA)
		return CEREMONY_DECLINE;
	if (ret < 0)
		return ret;
	trim(line);
	if (!strcasecmp(line, "y") || !strcasecmp(line, "yes"))
		return CEREMONY_CONFIRM;
	ret = sas_check(&info->sas, line);
	if (ret == 0)
		return CEREMONY_CONFIRM;
	return ret == -EBADMSG ? CEREMONY_MISMATCH : CEREMONY_DECLINE;
}
