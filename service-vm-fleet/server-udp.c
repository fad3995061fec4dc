#include <errno.h>
#include <string.h>

#include "lib/clock.h"
#include "service-vm-fleet/fleet.h"
#include "lib/log.h"
#include "service-vm-fleet/servers.h"
#include "lib/units.h"

/* recvmmsg fills the buffer in 64 KiB slots, one datagram each. */
#define SLOT (64u * 1024)
#define SLOTS 16

static uv_udp_t udp;
static bool udp_started;
static uint8_t rxbuf[SLOT * SLOTS];

int server_resolve(const char *hostport, struct sockaddr_storage *ss)
{
	char host[64];
	uint16_t port;

	if (parse_hostport(hostport, host, sizeof(host), &port) < 0)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return -EINVAL;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	*buf = uv_buf_init((char *)rxbuf, sizeof(rxbuf));
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
		    const struct sockaddr *addr, unsigned flags)
{
	struct fleet *f = h->data;

	if (nread < 0) {
		log_debug("heartbeat socket: %s", uv_strerror((int)nread));
		return;
	}
	if (!addr || (flags & UV_UDP_MMSG_FREE))
		return;
	/* A datagram longer than its slot arrives cut; it can only be oversized. */
	if (flags & UV_UDP_PARTIAL) {
		f->ingest.rejected[HB_REJECT_OVERSIZED]++;
		return;
	}
	fleet_datagram(f, (const uint8_t *)buf->base, (size_t)nread, addr, clock_mono_ns(),
		       clock_wall_s());
}

int server_udp_start(uv_loop_t *loop, struct fleet *f)
{
	struct sockaddr_storage ss;
	int size = 4 << 20, ret;

	if (server_resolve(f->cfg.heartbeat_listen, &ss) < 0) {
		log_err("heartbeat_listen '%s' is not a numeric host:port", f->cfg.heartbeat_listen);
		return -EINVAL;
	}
	ret = uv_udp_init_ex(loop, &udp, ss.ss_family | UV_UDP_RECVMMSG);
	if (ret < 0)
		goto fail;
	udp.data = f;
	udp_started = true;
	ret = uv_udp_bind(&udp, (const struct sockaddr *)&ss, 0);
	if (ret < 0)
		goto fail;
	uv_recv_buffer_size((uv_handle_t *)&udp, &size);
	ret = uv_udp_recv_start(&udp, on_alloc, on_recv);
	if (ret < 0)
		goto fail;
	log_info("heartbeats on udp %s", f->cfg.heartbeat_listen);
	return 0;
fail:
	log_err("cannot listen for heartbeats on %s: %s", f->cfg.heartbeat_listen, uv_strerror(ret));
	return ret;
}

void server_udp_close(void)
{
	if (udp_started && !uv_is_closing((uv_handle_t *)&udp))
		uv_close((uv_handle_t *)&udp, NULL);
}
