#include "service-vm-host/helper-net.h"

#include <errno.h>
#include <string.h>

int helper_guest_net(const char *text, struct virt_spec *s)
{
	if (!text[0] || !strcmp(text, "none"))
		s->net = VIRT_NET_NONE;
	else if (!strcmp(text, "fabric"))
		s->net = VIRT_NET_FABRIC;
	else if (!strcmp(text, "user"))
		s->net = VIRT_NET_USER;
	else if (!strncmp(text, "network:", 8) && strlen(text + 8) < sizeof(s->net_source))
		s->net = VIRT_NET_NETWORK, strcpy(s->net_source, text + 8);
	else if (!strncmp(text, "bridge:", 7) && strlen(text + 7) < sizeof(s->net_source))
		s->net = VIRT_NET_BRIDGE, strcpy(s->net_source, text + 7);
	else
		return -EINVAL;
	return 0;
}
