#include "os-infrastructure/client.h"
#include "lib/mesh.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "os-infrastructure/format.h"
#include "lib/units.h"

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n = poll(&p, 1, timeout_ms);

	if (n < 0)
		return -errno;
	return n ? 0 : -ETIMEDOUT;
}

/* The socket is non-blocking so that an unanswered SYN costs at most the
 * connect timeout, not the kernel's two minutes. */
static int connect_fd(int fd, const struct sockaddr *sa, socklen_t salen)
{
	int soerr = 0, ret;
	socklen_t len = sizeof(soerr);

	if (!connect(fd, sa, salen))
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	ret = wait_fd(fd, POLLOUT, CLIENT_CONNECT_TIMEOUT_MS);
	if (ret)
		return ret;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len))
		return -errno;
	return -soerr;
}

static int open_unix(struct client *c, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return -errno;
	return connect_fd(c->fd, (const struct sockaddr *)&sun, sizeof(sun));
}

static int open_tcp(struct client *c, const char *hostport, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL, *ai;
	char host[256], port[8];
	uint16_t portnum;
	int ret;

	if (parse_hostport(hostport, host, sizeof(host), &portnum) < 0) {
		snprintf(err, errlen, "--fleet wants HOST:PORT, not '%s'", hostport);
		return -EINVAL;
	}
	snprintf(port, sizeof(port), "%u", portnum);
	ret = getaddrinfo(host, port, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	ret = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			       ai->ai_protocol);
		if (c->fd < 0) {
			ret = -errno;
			continue;
		}
		ret = connect_fd(c->fd, ai->ai_addr, ai->ai_addrlen);
		if (!ret)
			break;
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	return ret;
}

static int load_identity(struct client *c, const char *dir, char *err, size_t errlen)
{
	int ret = identity_load(dir, &c->id);

	if (ret == -ENOENT)
		snprintf(err, errlen, "no identity in %s to sign requests with (create one with '"
			 PROG_NAME " keygen --name NAME')", dir);
	else if (ret == -EPERM)
		snprintf(err, errlen, "%s/" IDENTITY_FILE " is readable by group or others; "
			 "refusing to use it (chmod 600 it)", dir);
	else if (ret)
		snprintf(err, errlen, "cannot load the identity in %s: %s", dir, strerror(-ret));
	return ret;
}

static int read_frame(struct client *c, const uint8_t **payload, size_t *len)
{
	uint8_t buf[64 * 1024];
	ssize_t n;
	int ret;

	while (!(ret = frame_reader_next(&c->reader, payload, len))) {
		ret = wait_fd(c->fd, POLLIN, CLIENT_READ_TIMEOUT_MS);
		if (ret)
			return ret;
		n = read(c->fd, buf, sizeof(buf));
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n < 0)
			return -errno;
		ret = frame_reader_feed(&c->reader, buf, (size_t)n);
		if (ret < 0)
			return ret;
	}
	return ret < 0 ? ret : 0;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;
	int ret;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n < 0) {
			ret = wait_fd(fd, POLLOUT, CLIENT_READ_TIMEOUT_MS);
			if (ret)
				return ret;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Errors once connected: say what the fleet did rather than quote errno. */
static void io_error(const struct client *c, int ret, char *err, size_t errlen)
{
	if (ret == -ECONNRESET)
		snprintf(err, errlen, "the fleet at %s closed the connection", c->where);
	else if (ret == -ETIMEDOUT)
		snprintf(err, errlen, "the fleet at %s did not answer within %d s", c->where,
			 CLIENT_READ_TIMEOUT_MS / 1000);
	else if (ret == -EMSGSIZE)
		snprintf(err, errlen, "the fleet at %s sent a frame larger than %u bytes", c->where,
			 FRAME_REPLY_MAX);
	else if (ret == -EPROTO || ret == -EBADMSG)
		snprintf(err, errlen, "the fleet at %s does not speak the operator API (version %d)",
			 c->where, FRAME_VERSION);
	else
		snprintf(err, errlen, "talking to the fleet at %s: %s", c->where, strerror(-ret));
}

/* On a member without the fleet's local socket, the ledger says where the
 * fleet is: its mesh address and the operator API's port. */
static const char *fleet_from_ledger(const struct cli *cli, char *buf, size_t len)
{
	struct ledger l = { 0 };
	char err[128], *colon;
	int ret;

	if (cli->fleet || access(cli->socket, F_OK) == 0 || !mesh_has_ledger(cli->state_dir))
		return cli->fleet;
	if (mesh_ledger_load(cli->state_dir, &l, err, sizeof(err)) < 0) {
		ledger_free(&l);
		return NULL;
	}
	ret = mesh_fleet_address(&l, buf, len);
	ledger_free(&l);
	colon = ret == 0 ? strrchr(buf, ':') : NULL;
	if (!colon || (size_t)(colon - buf) + 6 >= len)
		return NULL;
	snprintf(colon, len - (size_t)(colon - buf), ":%d", MESH_API_PORT);
	return buf;
}

int client_open(struct client *c, const struct cli *cli, char *err, size_t errlen)
{
	char from_ledger[80];
	const char *fleet = fleet_from_ledger(cli, from_ledger, sizeof(from_ledger));
	const uint8_t *p;
	size_t len;
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->sign = fleet != NULL;
	frame_reader_init(&c->reader, FRAME_REPLY_MAX);
	snprintf(c->where, sizeof(c->where), "%s", c->sign ? fleet : cli->socket);
	err[0] = '\0';
	if (c->sign) {
		ret = load_identity(c, cli->state_dir, err, errlen);
		if (!ret)
			ret = open_tcp(c, fleet, err, errlen);
	} else {
		ret = open_unix(c, cli->socket);
	}
	if (ret) {
		if (!err[0])
			snprintf(err, errlen, "cannot reach the fleet at %s: %s", c->where, strerror(-ret));
		goto cleanup;
	}
	ret = read_frame(c, &p, &len);
	if (!ret && (p[0] != FRAME_HELLO || frame_parse_hello(p, len, c->nonce) < 0))
		ret = -EPROTO;
	if (ret)
		io_error(c, ret, err, errlen);
cleanup:
	if (ret)
		client_close(c);
	return ret;
}

static int build_request(struct client *c, const char *body, uint8_t **out, size_t *len)
{
	uint8_t sig[SIG_BYTES];
	size_t n = strlen(body);
	int ret;

	if (!c->sign)
		return frame_build_plain(FRAME_LOCAL, body, n, out, len);
	ret = api_sign(sig, c->id.sign_sk, c->nonce, c->seq + 1, c->id.name,
		       (const uint8_t *)body, n);
	if (!ret)
		ret = frame_build_signed(c->seq + 1, c->id.name, sig, body, n, out, len);
	if (!ret)
		c->seq++;
	return ret;
}

static int check_reply(const struct client *c, json_t *r, char *err, size_t errlen)
{
	const json_t *ok = json_object_get(r, "ok");
	const char *why;

	if (!json_is_boolean(ok)) {
		snprintf(err, errlen, "the fleet at %s sent a reply that is not an API object",
			 c->where);
		return -EBADMSG;
	}
	if (json_is_true(ok))
		return 0;
	why = json_string_value(json_object_get(r, "error"));
	snprintf(err, errlen, "%s", why ? why : "the fleet refused without giving a reason");
	format_sanitize(err);
	return -EREMOTEIO;
}

int client_call(struct client *c, const json_t *request, json_t **reply, char *err, size_t errlen)
{
	char *body = json_dumps(request, JSON_COMPACT);
	uint8_t *frame = NULL;
	const uint8_t *p;
	size_t flen, plen;
	json_t *r = NULL;
	int ret = -ENOMEM;

	*reply = NULL;
	if (!body) {
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	ret = build_request(c, body, &frame, &flen);
	if (ret) {
		snprintf(err, errlen, "cannot build the request: %s", strerror(-ret));
		goto cleanup;
	}
	ret = write_all(c->fd, frame, flen);
	if (!ret)
		ret = read_frame(c, &p, &plen);
	if (!ret && p[0] != FRAME_REPLY)
		ret = -EPROTO;
	if (ret) {
		io_error(c, ret, err, errlen);
		goto cleanup;
	}
	r = json_loadb((const char *)p + 1, plen - 1, 0, NULL);
	ret = check_reply(c, r, err, errlen);
	if (!ret) {
		*reply = r;
		r = NULL;
	}
cleanup:
	json_decref(r);
	free(frame);
	free(body);
	return ret;
}

void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	frame_reader_free(&c->reader);
	identity_wipe(&c->id);
}

int fleet_request(const struct cli *cli, const json_t *request, json_t **reply)
{
	struct client c;
	char err[512];
	int ret;

	*reply = NULL;
	if (!request)
		return cmd_fail("out of memory");
	ret = client_open(&c, cli, err, sizeof(err));
	if (!ret) {
		ret = client_call(&c, request, reply, err, sizeof(err));
		client_close(&c);
	}
	return ret ? cmd_fail("%s", err) : EXIT_OK;
}
