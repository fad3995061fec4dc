#include "service-vm-host/helper-resolved.h"

#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include <systemd/sd-bus.h>

#include "lib/log.h"

#define RESOLVE_DEST "org.freedesktop.resolve1"
#define RESOLVE_PATH "/org/freedesktop/resolve1"
#define RESOLVE_IFACE "org.freedesktop.resolve1.Manager"

static int set_dns(sd_bus *bus, int ifindex, uint32_t dns, sd_bus_error *e)
{
	uint8_t a[4] = { dns >> 24, dns >> 16 & 0xff, dns >> 8 & 0xff, dns & 0xff };
	sd_bus_message *m = NULL, *reply = NULL;
	int ret;

	ret = sd_bus_message_new_method_call(bus, &m, RESOLVE_DEST, RESOLVE_PATH, RESOLVE_IFACE,
					     "SetLinkDNS");
	if (ret >= 0)
		ret = sd_bus_message_append(m, "i", ifindex);
	if (ret >= 0)
		ret = sd_bus_message_open_container(m, 'a', "(iay)");
	if (ret >= 0)
		ret = sd_bus_message_open_container(m, 'r', "iay");
	if (ret >= 0)
		ret = sd_bus_message_append(m, "i", AF_INET);
	if (ret >= 0)
		ret = sd_bus_message_append_array(m, 'y', a, sizeof(a));
	if (ret >= 0)
		ret = sd_bus_message_close_container(m);
	if (ret >= 0)
		ret = sd_bus_message_close_container(m);
	if (ret >= 0)
		ret = sd_bus_call(bus, m, 0, e, &reply);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(m);
	return ret;
}

static bool not_running(const sd_bus_error *e)
{
	return sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
	       sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER);
}

int resolved_link_dns(const char *ifname, uint32_t dns, const char *zone)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int ifindex = (int)if_nametoindex(ifname), ret;
	sd_bus *bus = NULL;

	if (!ifindex) {
		log_warn("%s: no such interface here; per-link DNS not set", ifname);
		return -ENODEV;
	}
	ret = sd_bus_open_system(&bus);
	if (ret < 0) {
		log_info("no system bus (%s): systemd-resolved is not running; per-link DNS for %s "
			 "not set", strerror(-ret), ifname);
		return 1;
	}
	ret = set_dns(bus, ifindex, dns, &e);
	if (ret >= 0)
		ret = sd_bus_call_method(bus, RESOLVE_DEST, RESOLVE_PATH, RESOLVE_IFACE, "SetLinkDomains",
					 &e, NULL, "ia(sb)", ifindex, 1, zone, 1);
	if (ret < 0 && not_running(&e)) {
		log_info("systemd-resolved is not running: per-link DNS for %s not set", ifname);
		ret = 1;
	} else if (ret < 0) {
		log_warn("systemd-resolved: per-link DNS for %s: %s", ifname,
			 e.message ? e.message : strerror(-ret));
	} else {
		log_info("systemd-resolved: %s answers ~%s", ifname, zone);
		ret = 0;
	}
	sd_bus_error_free(&e);
	sd_bus_unref(bus);
	return ret;
}
