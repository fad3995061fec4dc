/* The front: picks a backend per interface. */
#include "lib/wg.h"

#include <errno.h>
#include <string.h>

#include "lib/wg-netlink.h"
#include "lib/wg-uapi.h"

static bool use_uapi(const char *ifname)
{
	return wg_uapi_has_interface(ifname) || wgnl_family_id() < 0;
}

int wg_set_device(const struct wg_device *dev)
{
	if (!dev->name[0])
		return -EINVAL;
	if (use_uapi(dev->name))
		return wg_uapi_set_device(dev);
	return wgnl_set_device(dev);
}

int wg_get_device(const char *ifname, struct wg_device **out)
{
	*out = NULL;
	if (!ifname[0] || strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	if (use_uapi(ifname))
		return wg_uapi_get_device(ifname, out);
	return wgnl_get_device(ifname, out);
}

const char *wg_backend_name(const char *ifname)
{
	return use_uapi(ifname) ? "uapi" : "netlink";
}
