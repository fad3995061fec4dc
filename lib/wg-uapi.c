/* UAPI backend. The protocol (https://www.wireguard.com/xplatform/): a request
 * is "get=1\n\n" or "set=1\n" followed by key=value lines and an empty line;
 * the reply is key=value lines, then "errno=N" and an empty line. Keys are
 * hex. A line's key says whether it belongs to the device or to the peer
 * opened by the last public_key line. wireguard-go answers errors with a
 * negative errno, the spec with a positive one: both are taken. */
#include "lib/wg-uapi.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/textbuf.h"

#define UAPI_TIMEOUT_SEC 5
#define UAPI_REPLY_MAX (64U << 20)
#define LINE_MAX_LEN 256

void wg_uapi_text_free(char *text, size_t len)
{
	if (!text)
		return;
	sodium_memzero(text, len);
	free(text);
}

/* Text buffers (lib/textbuf.h) are sized once up front, so the private key
 * is never left behind in memory that realloc gave back. */
static void tb_add_key(struct textbuf *tb, const char *name, const uint8_t key[WG_KEY_LEN])
{
	textbuf_add(tb, "%s=", name);
	if (tb->err || tb->cap - tb->len < WG_KEY_HEX_LEN + 1) {
		tb->err = -EMSGSIZE;
		return;
	}
	wg_key_to_hex(tb->p + tb->len, key);
	tb->len += WG_KEY_HEX_LEN - 1;
	textbuf_add(tb, "\n");
}

static void format_peer(struct textbuf *tb, const struct wg_peer *peer)
{
	char text[WG_ENDPOINT_STRLEN];

	tb_add_key(tb, "public_key", peer->public_key);
	if (peer->flags & WG_PEER_REMOVE_ME) {
		textbuf_add(tb, "remove=true\n");
		return;
	}
	if (peer->flags & WG_PEER_UPDATE_ONLY)
		textbuf_add(tb, "update_only=true\n");
	if (peer->flags & WG_PEER_HAS_PRESHARED_KEY)
		tb_add_key(tb, "preshared_key", peer->preshared_key);
	if (peer->endpoint.addr.sa_family != AF_UNSPEC) {
		if (wg_endpoint_format(&peer->endpoint, text, sizeof(text)))
			tb->err = -EINVAL;
		textbuf_add(tb, "endpoint=%s\n", text);
	}
	if (peer->flags & WG_PEER_HAS_KEEPALIVE)
		textbuf_add(tb, "persistent_keepalive_interval=%u\n", peer->persistent_keepalive);
	if (peer->flags & WG_PEER_REPLACE_ALLOWEDIPS)
		textbuf_add(tb, "replace_allowed_ips=true\n");
	for (size_t i = 0; i < peer->allowedips_len; i++) {
		if (wg_allowedip_format(&peer->allowedips[i], text, sizeof(text)))
			tb->err = -EINVAL;
		textbuf_add(tb, "allowed_ip=%s\n", text);
	}
}

int wg_uapi_format_set(const struct wg_device *dev, char **text, size_t *len)
{
	struct textbuf tb = { .cap = 256 };

	*text = NULL;
	*len = 0;
	for (size_t i = 0; i < dev->peers_len; i++) {
		tb.cap += 320 + WG_ENDPOINT_STRLEN;
		tb.cap += dev->peers[i].allowedips_len * (16 + WG_ALLOWEDIP_STRLEN);
	}
	tb.p = malloc(tb.cap);
	if (!tb.p)
		return -ENOMEM;
	textbuf_add(&tb, "set=1\n");
	if (dev->flags & WG_DEVICE_HAS_PRIVATE_KEY)
		tb_add_key(&tb, "private_key", dev->private_key);
	if (dev->flags & WG_DEVICE_HAS_LISTEN_PORT)
		textbuf_add(&tb, "listen_port=%u\n", dev->listen_port);
	if (dev->flags & WG_DEVICE_HAS_FWMARK)
		textbuf_add(&tb, "fwmark=%u\n", dev->fwmark);
	if (dev->flags & WG_DEVICE_REPLACE_PEERS)
		textbuf_add(&tb, "replace_peers=true\n");
	for (size_t i = 0; i < dev->peers_len; i++)
		format_peer(&tb, &dev->peers[i]);
	textbuf_add(&tb, "\n");
	if (tb.err) {
		wg_uapi_text_free(tb.p, tb.cap);
		return tb.err;
	}
	*text = tb.p;
	*len = tb.len;
	return 0;
}

/* Reply parsing: one handler per key, each told whether it is for the device
 * or for the current peer. */
struct reply_state {
	struct wg_device *dev;
	struct wg_peer *peer;
	bool have_errno;
	int remote_errno;
};

static int parse_number(const char *value, unsigned long long max, unsigned long long *out)
{
	return wg_parse_uint(value, max, out) ? -EBADMSG : 0;
}

static int key_private(struct reply_state *st, const char *value)
{
	struct wg_device *dev = st->dev;

	dev->flags &= ~(uint32_t)(WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_PUBLIC_KEY);
	sodium_memzero(dev->public_key, WG_KEY_LEN);
	if (wg_key_from_hex(dev->private_key, value))
		return -EBADMSG;
	/* All zeros means no key, as in the kernel's interface. */
	if (wg_key_is_zero(dev->private_key))
		return 0;
	dev->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
	if (!wg_generate_public_key(dev->public_key, dev->private_key))
		dev->flags |= WG_DEVICE_HAS_PUBLIC_KEY;
	return 0;
}

static int key_listen_port(struct reply_state *st, const char *value)
{
	unsigned long long v;

	if (parse_number(value, UINT16_MAX, &v))
		return -EBADMSG;
	st->dev->listen_port = (uint16_t)v;
	st->dev->flags |= WG_DEVICE_HAS_LISTEN_PORT;
	return 0;
}

static int key_fwmark(struct reply_state *st, const char *value)
{
	unsigned long long v;

	if (parse_number(value, UINT32_MAX, &v))
		return -EBADMSG;
	st->dev->fwmark = (uint32_t)v;
	st->dev->flags |= WG_DEVICE_HAS_FWMARK;
	return 0;
}

static int key_public(struct reply_state *st, const char *value)
{
	uint8_t key[WG_KEY_LEN];

	if (wg_key_from_hex(key, value))
		return -EBADMSG;
	return wg_device_add_peer(st->dev, key, &st->peer);
}

static int key_preshared(struct reply_state *st, const char *value)
{
	if (wg_key_from_hex(st->peer->preshared_key, value))
		return -EBADMSG;
	st->peer->flags &= ~(uint32_t)WG_PEER_HAS_PRESHARED_KEY;
	if (!wg_key_is_zero(st->peer->preshared_key))
		st->peer->flags |= WG_PEER_HAS_PRESHARED_KEY;
	return 0;
}

static int key_endpoint(struct reply_state *st, const char *value)
{
	return wg_endpoint_parse(&st->peer->endpoint, value) ? -EBADMSG : 0;
}

static int key_handshake_sec(struct reply_state *st, const char *value)
{
	unsigned long long v;

	if (parse_number(value, INT64_MAX, &v))
		return -EBADMSG;
	st->peer->last_handshake.tv_sec = (time_t)v;
	return 0;
}

static int key_handshake_nsec(struct reply_state *st, const char *value)
{
	unsigned long long v;

	if (parse_number(value, 999999999, &v))
		return -EBADMSG;
	st->peer->last_handshake.tv_nsec = (long)v;
	return 0;
}

static int key_rx_bytes(struct reply_state *st, const char *value)
{
	unsigned long long v;

	if (parse_number(value, UINT64_MAX, &v))
		return -EBADMSG;
	st->peer->rx_bytes = v;
	return 0;
}

static int key_tx_bytes(struct reply_state *st, const char *value)
{
	unsigned long long v;

	if (parse_number(value, UINT64_MAX, &v))
		return -EBADMSG;
	st->peer->tx_bytes = v;
	return 0;
}

static int key_keepalive(struct reply_state *st, const char *value)
{
	unsigned long long v;

	if (parse_number(value, UINT16_MAX, &v))
		return -EBADMSG;
	st->peer->persistent_keepalive = (uint16_t)v;
	st->peer->flags &= ~(uint32_t)WG_PEER_HAS_KEEPALIVE;
	if (v)
		st->peer->flags |= WG_PEER_HAS_KEEPALIVE;
	return 0;
}

static int key_allowed_ip(struct reply_state *st, const char *value)
{
	struct wg_allowedip ip;

	if (wg_allowedip_parse(&ip, value))
		return -EBADMSG;
	return wg_peer_add_allowedip(st->peer, &ip);
}

static int key_protocol_version(struct reply_state *st, const char *value)
{
	unsigned long long v;

	return parse_number(value, UINT32_MAX, &v);
}

static int key_errno(struct reply_state *st, const char *value)
{
	unsigned long long v;
	bool negative = value[0] == '-';

	if (parse_number(value + negative, 4095, &v))
		return -EBADMSG;
	st->have_errno = true;
	st->remote_errno = -(int)v;
	return 0;
}

enum key_scope { SCOPE_DEVICE, SCOPE_PEER, SCOPE_ANY };

static const struct {
	const char *name;
	enum key_scope scope;
	int (*fn)(struct reply_state *st, const char *value);
} reply_keys[] = {
	{ "private_key", SCOPE_DEVICE, key_private },
	{ "listen_port", SCOPE_DEVICE, key_listen_port },
	{ "fwmark", SCOPE_DEVICE, key_fwmark },
	{ "public_key", SCOPE_ANY, key_public },
	{ "preshared_key", SCOPE_PEER, key_preshared },
	{ "endpoint", SCOPE_PEER, key_endpoint },
	{ "last_handshake_time_sec", SCOPE_PEER, key_handshake_sec },
	{ "last_handshake_time_nsec", SCOPE_PEER, key_handshake_nsec },
	{ "rx_bytes", SCOPE_PEER, key_rx_bytes },
	{ "tx_bytes", SCOPE_PEER, key_tx_bytes },
	{ "persistent_keepalive_interval", SCOPE_PEER, key_keepalive },
	{ "allowed_ip", SCOPE_PEER, key_allowed_ip },
	{ "protocol_version", SCOPE_PEER, key_protocol_version },
	{ "errno", SCOPE_ANY, key_errno },
};

static bool key_syntax_ok(const char *key)
{
	if (!*key)
		return false;
	for (; *key; key++)
		if ((*key < 'a' || *key > 'z') && *key != '_')
			return false;
	return true;
}

/* Unknown keys are skipped: a newer engine may report more than we know. */
static int parse_line(struct reply_state *st, char *line)
{
	char *value = strchr(line, '=');

	if (!value || st->have_errno)
		return -EBADMSG;
	*value++ = '\0';
	if (!key_syntax_ok(line))
		return -EBADMSG;
	for (size_t i = 0; i < sizeof(reply_keys) / sizeof(reply_keys[0]); i++) {
		if (strcmp(line, reply_keys[i].name))
			continue;
		if ((reply_keys[i].scope == SCOPE_DEVICE && st->peer) ||
		    (reply_keys[i].scope == SCOPE_PEER && !st->peer))
			return -EBADMSG;
		return reply_keys[i].fn(st, value);
	}
	return 0;
}

/* Calls parse_line on each line up to the empty one, which must end text. */
static int parse_reply(const char *text, size_t len, struct reply_state *st)
{
	char line[LINE_MAX_LEN];
	size_t pos = 0;
	int ret = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - text) - pos : len - pos;

		if (!nl || n >= sizeof(line) || memchr(text + pos, '\0', n)) {
			ret = -EBADMSG;
			break;
		}
		if (!n) {
			ret = pos + 1 == len ? 0 : -EBADMSG;
			break;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		ret = parse_line(st, line);
		if (ret)
			break;
		pos += n + 1;
	}
	sodium_memzero(line, sizeof(line));
	if (!ret && !st->have_errno)
		ret = -EBADMSG;
	return ret ? ret : st->remote_errno;
}

int wg_uapi_parse_get(const char *text, size_t len, struct wg_device *dev)
{
	struct reply_state st = { .dev = dev };
	int ret;

	memset(dev, 0, sizeof(*dev));
	ret = parse_reply(text, len, &st);
	if (ret)
		wg_device_clear(dev);
	return ret;
}

int wg_uapi_parse_set_reply(const char *text, size_t len)
{
	struct wg_device dev = { 0 };
	int ret = wg_uapi_parse_get(text, len, &dev);

	/* A set reply carries nothing but errno. */
	if (!ret && (dev.flags || dev.peers_len))
		ret = -EBADMSG;
	wg_device_clear(&dev);
	return ret;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static bool reply_complete(const char *buf, size_t len)
{
	return (len == 1 && buf[0] == '\n') ||
	       (len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n');
}

/* Like realloc, but the old block is wiped before it is freed. */
static char *grow_wiped(char *old, size_t used, size_t old_cap, size_t new_cap)
{
	char *p = malloc(new_cap);

	if (p && used)
		memcpy(p, old, used);
	if (p)
		wg_uapi_text_free(old, old_cap);
	return p;
}

int wg_uapi_transact(int fd, const char *req, size_t req_len, size_t max,
		     char **reply, size_t *reply_len)
{
	char *buf = NULL;
	size_t used = 0, cap = 0;
	int ret;

	*reply = NULL;
	*reply_len = 0;
	ret = write_all(fd, req, req_len);
	if (ret)
		return ret;
	while (!reply_complete(buf, used)) {
		ssize_t n;

		if (used == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *p;

			if (cap >= max) {
				ret = -EMSGSIZE;
				goto cleanup;
			}
			if (ncap > max)
				ncap = max;
			p = grow_wiped(buf, used, cap, ncap);
			if (!p) {
				ret = -ENOMEM;
				goto cleanup;
			}
			buf = p;
			cap = ncap;
		}
		n = recv(fd, buf + used, cap - used, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto cleanup;
		}
		if (n == 0) {
			ret = -EPIPE;
			goto cleanup;
		}
		used += (size_t)n;
	}
	if (!buf) {
		ret = -EPIPE;
		goto cleanup;
	}
	/* Callers get exactly the reply; the slack past it was never written. */
	*reply = buf;
	*reply_len = used;
	sodium_memzero(buf + used, cap - used);
	return 0;
cleanup:
	wg_uapi_text_free(buf, cap);
	return ret;
}

static int socket_path(struct sockaddr_un *addr, const char *ifname)
{
	int n;

	if (!ifname[0] || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/') ||
	    ifname[0] == '.')
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	n = snprintf(addr->sun_path, sizeof(addr->sun_path), "%s/%s.sock", WG_UAPI_DIR, ifname);
	return n < 0 || (size_t)n >= sizeof(addr->sun_path) ? -ENAMETOOLONG : 0;
}

bool wg_uapi_has_interface(const char *ifname)
{
	struct sockaddr_un addr;
	struct stat st;

	return !socket_path(&addr, ifname) && !stat(addr.sun_path, &st) && S_ISSOCK(st.st_mode);
}

static int uapi_connect(const char *ifname)
{
	struct timeval tv = { .tv_sec = UAPI_TIMEOUT_SEC };
	struct sockaddr_un addr;
	int fd, ret;

	ret = socket_path(&addr, ifname);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		ret = errno == ENOENT ? -ENODEV : -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int wg_uapi_set_device(const struct wg_device *dev)
{
	char *req = NULL, *reply = NULL;
	size_t req_len = 0, reply_len = 0;
	int fd = -1, ret;

	ret = wg_uapi_format_set(dev, &req, &req_len);
	if (ret)
		goto cleanup;
	fd = uapi_connect(dev->name);
	if (fd < 0) {
		ret = fd;
		goto cleanup;
	}
	ret = wg_uapi_transact(fd, req, req_len, 4096, &reply, &reply_len);
	if (!ret)
		ret = wg_uapi_parse_set_reply(reply, reply_len);
cleanup:
	if (fd >= 0)
		close(fd);
	wg_uapi_text_free(req, req_len);
	wg_uapi_text_free(reply, reply_len);
	return ret;
}

int wg_uapi_get_device(const char *ifname, struct wg_device **out)
{
	static const char req[] = "get=1\n\n";
	struct wg_device *dev = NULL;
	char *reply = NULL;
	size_t reply_len = 0;
	int fd, ret;

	*out = NULL;
	fd = uapi_connect(ifname);
	if (fd < 0)
		return fd;
	ret = wg_uapi_transact(fd, req, sizeof(req) - 1, UAPI_REPLY_MAX, &reply, &reply_len);
	close(fd);
	if (ret)
		goto cleanup;
	dev = malloc(sizeof(*dev));
	if (!dev) {
		ret = -ENOMEM;
		goto cleanup;
	}
	ret = wg_uapi_parse_get(reply, reply_len, dev);
	if (ret)
		goto cleanup;
	wg_device_set_name(dev, ifname);
	*out = dev;
	dev = NULL;
cleanup:
	free(dev);
	wg_uapi_text_free(reply, reply_len);
	return ret;
}
