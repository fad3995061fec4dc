#include "lib/mesh-sync.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/bytes.h"
#include "lib/clock.h"
#include "lib/mesh.h"

static const char *const status_texts[] = {
	[MESH_SYNC_OK] = "ok",
	[MESH_SYNC_STALE] = "stale copy",
	[MESH_SYNC_FORK] = "fork refused",
	[MESH_SYNC_OTHER_MESH] = "another mesh",
	[MESH_SYNC_INVALID] = "invalid ledger",
	[MESH_SYNC_ERROR] = "server error",
};

const char *mesh_sync_status_text(int status)
{
	if (status < 0 || status > MESH_SYNC_ERROR)
		return "unknown status";
	return status_texts[status];
}

int mesh_sync_status_of(int extend_ret)
{
	switch (extend_ret) {
	case -ESTALE: return MESH_SYNC_STALE;
	case -EEXIST: return MESH_SYNC_FORK;
	case -EXDEV: return MESH_SYNC_OTHER_MESH;
	case -EBADMSG: return MESH_SYNC_INVALID;
	default: return extend_ret >= 0 ? MESH_SYNC_OK : MESH_SYNC_ERROR;
	}
}

int mesh_sync_parse_request(const uint8_t *p, size_t len, bool *push, const uint8_t **ledger,
			    size_t *ledger_len)
{
	*ledger = NULL;
	*ledger_len = 0;
	if (len == 1 && p[0] == MESH_SYNC_GET) {
		*push = false;
		return 0;
	}
	if (len < 2 || len > 1 + LEDGER_FILE_MAX || p[0] != MESH_SYNC_PUSH)
		return -EBADMSG;
	*push = true;
	*ledger = p + 1;
	*ledger_len = len - 1;
	return 0;
}

static int build(const uint8_t *head, size_t headlen, const uint8_t *body, size_t len,
		 uint8_t **out, size_t *outlen)
{
	size_t n = headlen + len;
	uint8_t *f;

	if (n > MESH_SYNC_FRAME_MAX)
		return -EMSGSIZE;
	f = malloc(4 + n);
	if (!f)
		return -ENOMEM;
	put_be32(f, (uint32_t)n);
	memcpy(f + 4, head, headlen);
	if (len)
		memcpy(f + 4 + headlen, body, len);
	*out = f;
	*outlen = 4 + n;
	return 0;
}

int mesh_sync_build_request(const uint8_t *ledger, size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t type = ledger ? MESH_SYNC_PUSH : MESH_SYNC_GET;

	if (ledger && (!len || len > LEDGER_FILE_MAX))
		return -EINVAL;
	return build(&type, 1, ledger, ledger ? len : 0, out, outlen);
}

int mesh_sync_build_reply(int status, uint32_t added, const uint8_t *ledger, size_t len,
			  uint8_t **out, size_t *outlen)
{
	uint8_t head[6] = { MESH_SYNC_REPLY, (uint8_t)status };

	if (status < 0 || status > MESH_SYNC_ERROR || len > LEDGER_FILE_MAX)
		return -EINVAL;
	put_be32(head + 2, added);
	return build(head, sizeof(head), ledger, len, out, outlen);
}

int mesh_sync_parse_reply(const uint8_t *p, size_t len, struct mesh_sync_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (len < 6 || len > MESH_SYNC_FRAME_MAX || p[0] != MESH_SYNC_REPLY ||
	    p[1] > MESH_SYNC_ERROR)
		return -EBADMSG;
	r->status = p[1];
	r->added = get_be32(p + 2);
	r->len = len - 6;
	if (!r->len)
		return 0;
	r->ledger = malloc(r->len);
	if (!r->ledger)
		return -ENOMEM;
	memcpy(r->ledger, p + 6, r->len);
	return 0;
}

void mesh_sync_reply_free(struct mesh_sync_reply *r)
{
	free(r->ledger);
	memset(r, 0, sizeof(*r));
}

/* ---- blocking client ---- */

static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		uint64_t now = clock_mono_ns();
		int n;

		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)((deadline - now) / NSEC_PER_MSEC + 1));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int connect_to(const char *host, uint16_t port, uint64_t deadline)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST |
				  AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char service[8];
	int fd = -1, ret, one = 1, soerr = 0;
	socklen_t sl = sizeof(soerr);

	snprintf(service, sizeof(service), "%u", port);
	if (getaddrinfo(host, service, &hints, &ai))
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto cleanup;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ret = connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS ? -errno : 0;
	if (ret == 0)
		ret = wait_fd(fd, POLLOUT, deadline);
	if (ret == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		ret = -errno;
	if (ret == 0 && soerr)
		ret = -soerr;
cleanup:
	freeaddrinfo(ai);
	if (ret < 0 && fd >= 0)
		close(fd);
	return ret < 0 ? ret : fd;
}

static int send_all(int fd, const uint8_t *p, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		int ret;

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		ret = wait_fd(fd, POLLOUT, deadline);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int recv_exact(int fd, uint8_t *p, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t n = recv(fd, p, len, 0);
		int ret;

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		ret = wait_fd(fd, POLLIN, deadline);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int exchange(int fd, const uint8_t *req, size_t reqlen, uint64_t deadline,
		    struct mesh_sync_reply *r)
{
	uint8_t head[4], *payload = NULL;
	uint32_t n;
	int ret;

	ret = send_all(fd, req, reqlen, deadline);
	if (ret == 0)
		ret = recv_exact(fd, head, sizeof(head), deadline);
	if (ret < 0)
		return ret;
	n = get_be32(head);
	if (n < 6 || n > MESH_SYNC_FRAME_MAX)
		return -EBADMSG;
	payload = malloc(n);
	if (!payload)
		return -ENOMEM;
	ret = recv_exact(fd, payload, n, deadline);
	if (ret == 0)
		ret = mesh_sync_parse_reply(payload, n, r);
	free(payload);
	return ret;
}

int mesh_sync_call(const char *host, uint16_t port, const uint8_t *ledger, size_t len,
		   unsigned timeout_ms, struct mesh_sync_reply *r, char *err, size_t errlen)
{
	uint64_t deadline = clock_mono_ns() +
			    (uint64_t)(timeout_ms ? timeout_ms : MESH_SYNC_TIMEOUT_MS) * NSEC_PER_MSEC;
	uint8_t *req = NULL;
	size_t reqlen;
	int fd = -1, ret;

	memset(r, 0, sizeof(*r));
	ret = mesh_sync_build_request(ledger, len, &req, &reqlen);
	if (ret == 0)
		ret = fd = connect_to(host, port, deadline);
	if (ret >= 0)
		ret = exchange(fd, req, reqlen, deadline, r);
	if (ret < 0)
		snprintf(err, errlen, "%s:%u: %s", host, port,
			 ret == -EBADMSG ? "malformed reply" : strerror(-ret));
	if (fd >= 0)
		close(fd);
	free(req);
	return ret < 0 ? ret : 0;
}

/* ---- merging into the state ---- */

static int merge_locked(const char *state_dir, const uint8_t *bytes, size_t len, int *status,
			uint32_t *added, struct ledger *local, char *err, size_t errlen)
{
	struct ledger remote;
	int ret;

	ledger_init(&remote);
	ret = mesh_ledger_load(state_dir, local, err, errlen);
	if (ret < 0)
		goto cleanup;
	if (ledger_parse(bytes, len, &remote, err, errlen) < 0) {
		*status = MESH_SYNC_INVALID;
		goto cleanup;
	}
	ret = ledger_extend(local, &remote, err, errlen);
	*status = mesh_sync_status_of(ret);
	*added = ret > 0 ? (uint32_t)ret : 0;
	if (ret > 0) {
		ret = mesh_ledger_save(state_dir, local);
		if (ret < 0)
			snprintf(err, errlen, "cannot save the ledger: %s", strerror(-ret));
	} else {
		ret = 0;
	}
cleanup:
	ledger_free(&remote);
	return ret;
}

int mesh_sync_merge(const char *state_dir, const uint8_t *bytes, size_t len, int *status,
		    uint32_t *added, uint8_t **cur, size_t *cur_len, char *err, size_t errlen)
{
	struct ledger local;
	int lock, ret;

	*status = MESH_SYNC_ERROR;
	*added = 0;
	if (cur)
		*cur = NULL;
	ledger_init(&local);
	lock = mesh_ledger_lock(state_dir);
	if (lock < 0) {
		snprintf(err, errlen, "cannot lock the ledger: %s", strerror(-lock));
		return lock;
	}
	ret = merge_locked(state_dir, bytes, len, status, added, &local, err, errlen);
	mesh_ledger_unlock(lock);
	if (ret == 0 && cur && ledger_verified(&local))
		ret = ledger_encode(&local, cur, cur_len);
	ledger_free(&local);
	return ret;
}

int mesh_sync_push_all(const struct ledger *l, const char *self, bool include_self,
		       const char *skip, uint16_t port, unsigned timeout_ms,
		       mesh_sync_report_fn report, void *ctx)
{
	const struct ledger_member *m;
	struct mesh_sync_reply r;
	uint8_t *bytes = NULL;
	char addr[16], err[256];
	size_t n, len;
	int ret, reached = 0;

	ret = ledger_members(l, &m, &n);
	if (ret == 0)
		ret = ledger_encode(l, &bytes, &len);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		if (m[i].revoked || (skip && !strcmp(m[i].name, skip)) ||
		    (!include_self && !strcmp(m[i].name, self)))
			continue;
		ledger_addr_format(m[i].addr, addr);
		err[0] = '\0';
		ret = mesh_sync_call(addr, port, bytes, len, timeout_ms, &r, err, sizeof(err));
		if (ret == 0 && (r.status == MESH_SYNC_OK || r.status == MESH_SYNC_STALE))
			reached++;
		if (report)
			report(ctx, &m[i], ret, ret == 0 ? &r : NULL, err);
		mesh_sync_reply_free(&r);
	}
	free(bytes);
	return reached;
}
