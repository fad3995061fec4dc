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
	[MESH_SYNC_DENIED] = "denied: not a live member, or a bad signature",
};

const char *mesh_sync_status_text(int status)
{
	if (status < 0 || status > MESH_SYNC_DENIED)
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

int mesh_sync_build_challenge(const uint8_t nonce[SYNC_NONCE_BYTES], uint8_t **out,
			      size_t *outlen)
{
	uint8_t head[2] = { MESH_SYNC_CHALLENGE, MESH_SYNC_VERSION };

	return build(head, sizeof(head), nonce, SYNC_NONCE_BYTES, out, outlen);
}

int mesh_sync_parse_challenge(const uint8_t *p, size_t len, uint8_t nonce[SYNC_NONCE_BYTES])
{
	if (len != MESH_SYNC_CHALLENGE_LEN || p[0] != MESH_SYNC_CHALLENGE)
		return -EBADMSG;
	if (p[1] != MESH_SYNC_VERSION)
		return -EPROTO;
	memcpy(nonce, p + 2, SYNC_NONCE_BYTES);
	return 0;
}

int mesh_sync_parse_request(const uint8_t *p, size_t len, struct mesh_sync_request *req)
{
	size_t k;

	memset(req, 0, sizeof(*req));
	if (len < 3 || (p[0] != MESH_SYNC_GET && p[0] != MESH_SYNC_PUSH))
		return -EBADMSG;
	if (p[1] != MESH_SYNC_VERSION)
		return -EPROTO;
	k = p[2];
	if (!k || k > NODE_NAME_MAX || len < 3 + k + SIG_BYTES)
		return -EBADMSG;
	memcpy(req->name, p + 3, k);
	if (strlen(req->name) != k || !node_name_valid(req->name))
		return -EBADMSG;
	req->type = p[0];
	memcpy(req->sig, p + 3 + k, SIG_BYTES);
	req->len = len - (3 + k + SIG_BYTES);
	if ((req->type == MESH_SYNC_GET) != !req->len || req->len > LEDGER_FILE_MAX)
		return -EBADMSG;
	req->ledger = req->len ? p + 3 + k + SIG_BYTES : NULL;
	return 0;
}

int mesh_sync_encode_request(const struct mesh_sync_request *req, uint8_t **out, size_t *outlen)
{
	uint8_t head[MESH_SYNC_REQUEST_HEAD_MAX];
	size_t k = strnlen(req->name, sizeof(req->name));

	if ((req->type != MESH_SYNC_GET && req->type != MESH_SYNC_PUSH) ||
	    !node_name_valid(req->name) || (req->type == MESH_SYNC_GET) != !req->len ||
	    (req->len && !req->ledger) || req->len > LEDGER_FILE_MAX)
		return -EINVAL;
	head[0] = req->type;
	head[1] = MESH_SYNC_VERSION;
	head[2] = (uint8_t)k;
	memcpy(head + 3, req->name, k);
	memcpy(head + 3 + k, req->sig, SIG_BYTES);
	return build(head, 3 + k + SIG_BYTES, req->ledger, req->len, out, outlen);
}

int mesh_sync_build_request(const struct identity *id, const uint8_t nonce[SYNC_NONCE_BYTES],
			    const uint8_t *ledger, size_t len, uint8_t **out, size_t *outlen)
{
	struct mesh_sync_request req = {
		.type = ledger ? MESH_SYNC_PUSH : MESH_SYNC_GET,
		.ledger = ledger,
		.len = ledger ? len : 0,
	};
	int ret;

	if (ledger && (!len || len > LEDGER_FILE_MAX))
		return -EINVAL;
	snprintf(req.name, sizeof(req.name), "%s", id->name);
	ret = sync_sign(req.sig, id->sign_sk, nonce, req.type, req.name, req.ledger, req.len);
	return ret < 0 ? ret : mesh_sync_encode_request(&req, out, outlen);
}

int mesh_sync_authorize(const struct ledger *l, const uint8_t nonce[SYNC_NONCE_BYTES],
			const struct mesh_sync_request *req)
{
	const struct ledger_member *m = ledger_find(l, req->name);

	if (!m)
		return -ENOENT;
	if (m->revoked)
		return -EKEYREVOKED;
	if (!sync_verify(req->sig, m->sign_pk, nonce, req->type, req->name, req->ledger, req->len))
		return -EACCES;
	return 0;
}

int mesh_sync_build_reply(int status, uint32_t added, const uint8_t *ledger, size_t len,
			  uint8_t **out, size_t *outlen)
{
	uint8_t head[6] = { MESH_SYNC_REPLY, (uint8_t)status };

	if (status < 0 || status > MESH_SYNC_DENIED || len > LEDGER_FILE_MAX ||
	    (status == MESH_SYNC_DENIED && len))
		return -EINVAL;
	put_be32(head + 2, added);
	return build(head, sizeof(head), ledger, len, out, outlen);
}

int mesh_sync_parse_reply(const uint8_t *p, size_t len, struct mesh_sync_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (len < 6 || len > 6 + LEDGER_FILE_MAX || p[0] != MESH_SYNC_REPLY ||
	    p[1] > MESH_SYNC_DENIED || (p[1] == MESH_SYNC_DENIED && len > 6))
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

/* One frame of at least min and at most max bytes, malloc'd. */
static int recv_frame(int fd, size_t min, size_t max, uint64_t deadline, uint8_t **out,
		      size_t *outlen)
{
	uint8_t head[4], *payload;
	uint32_t n;
	int ret;

	ret = recv_exact(fd, head, sizeof(head), deadline);
	if (ret < 0)
		return ret;
	n = get_be32(head);
	if (n < min || n > max)
		return -EBADMSG;
	payload = malloc(n);
	if (!payload)
		return -ENOMEM;
	ret = recv_exact(fd, payload, n, deadline);
	if (ret < 0) {
		free(payload);
		return ret;
	}
	*out = payload;
	*outlen = n;
	return 0;
}

/* The server speaks first: its nonce, which the request's signature binds. */
static int exchange(int fd, const struct identity *id, const uint8_t *ledger, size_t len,
		    uint64_t deadline, struct mesh_sync_reply *r)
{
	uint8_t nonce[SYNC_NONCE_BYTES], *in = NULL, *req = NULL;
	size_t inlen, reqlen;
	int ret;

	ret = recv_frame(fd, MESH_SYNC_CHALLENGE_LEN, MESH_SYNC_CHALLENGE_LEN, deadline, &in,
			 &inlen);
	if (ret == 0)
		ret = mesh_sync_parse_challenge(in, inlen, nonce);
	free(in);
	in = NULL;
	if (ret == 0)
		ret = mesh_sync_build_request(id, nonce, ledger, len, &req, &reqlen);
	if (ret == 0)
		ret = send_all(fd, req, reqlen, deadline);
	if (ret == 0)
		ret = recv_frame(fd, 6, 6 + LEDGER_FILE_MAX, deadline, &in, &inlen);
	if (ret == 0)
		ret = mesh_sync_parse_reply(in, inlen, r);
	free(in);
	free(req);
	return ret;
}

int mesh_sync_call(const char *host, uint16_t port, const struct identity *id,
		   const uint8_t *ledger, size_t len, unsigned timeout_ms,
		   struct mesh_sync_reply *r, char *err, size_t errlen)
{
	uint64_t deadline = clock_mono_ns() +
			    (uint64_t)(timeout_ms ? timeout_ms : MESH_SYNC_TIMEOUT_MS) * NSEC_PER_MSEC;
	int fd, ret;

	memset(r, 0, sizeof(*r));
	ret = fd = connect_to(host, port, deadline);
	if (ret >= 0)
		ret = exchange(fd, id, ledger, len, deadline, r);
	if (ret < 0)
		snprintf(err, errlen, "%s:%u: %s", host, port,
			 ret == -EBADMSG ? "malformed reply"
			 : ret == -EPROTO ? "another version of ledger sync"
			 : strerror(-ret));
	if (fd >= 0)
		close(fd);
	return ret < 0 ? ret : 0;
}

/* ---- serving ---- */

static int serve_authorized(const char *state_dir, const struct ledger *l,
			    const struct mesh_sync_request *req, struct mesh_sync_served *out,
			    uint8_t **cur, size_t *curlen, char *err, size_t errlen)
{
	int ret;

	if (req->type == MESH_SYNC_PUSH)
		return mesh_sync_merge(state_dir, req->ledger, req->len, &out->status,
				       &out->added, cur, curlen, err, errlen);
	ret = ledger_encode(l, cur, curlen);
	out->status = ret < 0 ? MESH_SYNC_ERROR : MESH_SYNC_OK;
	return ret;
}

int mesh_sync_serve(const char *state_dir, const uint8_t nonce[SYNC_NONCE_BYTES],
		    const uint8_t *p, size_t len, struct mesh_sync_served *out, char *err,
		    size_t errlen)
{
	struct mesh_sync_request req;
	struct ledger l;
	uint8_t *cur = NULL;
	size_t curlen = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	out->status = MESH_SYNC_DENIED;
	ledger_init(&l);
	ret = mesh_sync_parse_request(p, len, &req);
	if (ret == 0) {
		out->push = req.type == MESH_SYNC_PUSH;
		memcpy(out->signer, req.name, sizeof(out->signer));
		ret = mesh_ledger_load(state_dir, &l, err, errlen);
		if (ret < 0)
			out->status = MESH_SYNC_ERROR;
		else if ((ret = mesh_sync_authorize(&l, nonce, &req)) < 0)
			snprintf(err, errlen, "%s: %s", req.name, strerror(-ret));
	} else {
		snprintf(err, errlen, "%s request", ret == -EPROTO ? "another version's"
								   : "malformed (or unsigned)");
	}
	if (ret == 0)
		ret = serve_authorized(state_dir, &l, &req, out, &cur, &curlen, err, errlen);
	else if (out->status == MESH_SYNC_DENIED)
		out->denied = ret;
	ledger_free(&l);
	ret = mesh_sync_build_reply(out->status, out->added, cur, out->denied ? 0 : curlen,
				    &out->frame, &out->frame_len);
	free(cur);
	return ret;
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

int mesh_sync_push_all(const struct ledger *l, const struct identity *id, bool include_self,
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
		    (!include_self && !strcmp(m[i].name, id->name)))
			continue;
		ledger_addr_format(m[i].addr, addr);
		err[0] = '\0';
		ret = mesh_sync_call(addr, port, id, bytes, len, timeout_ms, &r, err, sizeof(err));
		if (ret == 0 && (r.status == MESH_SYNC_OK || r.status == MESH_SYNC_STALE))
			reached++;
		if (report)
			report(ctx, &m[i], ret, ret == 0 ? &r : NULL, err);
		mesh_sync_reply_free(&r);
	}
	free(bytes);
	return reached;
}
