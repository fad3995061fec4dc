/* Sends heartbeats as a node would, fast or forged: the load generator of
 * bench/run.sh and the forger of tests/integration/fleet-forged.sh.
 *
 *   bench-heartbeat-send --state-dir DIR --trust FILE --fleet HOST:PORT
 *        [--count N] [--rate PER_S] [--seq-start S]
 *        [--mode good|replay|wrong-key|truncated|random|garbage|unknown] [--names N]
 *
 * --names N: datagram i speaks for "<name>-<i mod N>" (with the node's own
 * keys), so one sender fills a fleet with N nodes whose trust lines repeat its
 * keys under those names (bench/run.sh's status benchmark).
 *
 * random: 65507 random bytes (oversized); garbage: 128 random bytes.
 *
 * It prints one line: "sent N datagrams in S s (R/s)". */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/auth.h"
#include "lib/clock.h"
#include "lib/identity.h"
#include "lib/trust.h"
#include "lib/units.h"
#include "lib/wire-heartbeat.h"

#define BATCH 64

struct opts {
	const char *state_dir, *trust, *fleet, *mode;
	uint64_t count, rate, seq, names;
};

static int connect_udp(const char *hostport)
{
	char host[64];
	uint16_t port;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd;

	if (parse_hostport(hostport, host, sizeof(host), &port) < 0 ||
	    inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -EINVAL;
	sin.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int load_key(const struct opts *o, struct identity *id, uint8_t key[HB_KEY_BYTES])
{
	struct trust_set ts = { 0 };
	const struct trust_entry *fleet;
	char err[256];
	int ret = identity_load(o->state_dir, id);

	if (ret < 0) {
		fprintf(stderr, "identity in %s: %s\n", o->state_dir, strerror(-ret));
		return ret;
	}
	ret = trust_load(o->trust, &ts, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "trust %s: %s\n", o->trust, ret == -EBADMSG ? err : strerror(-ret));
		return ret;
	}
	fleet = trust_find_role(&ts, TRUST_ROLE_FLEET);
	ret = fleet ? hb_key_node(key, id->kx_pk, id->kx_sk, fleet->kx_pk) : -ENOENT;
	if (!fleet)
		fprintf(stderr, "no member with the fleet role in %s\n", o->trust);
	trust_free(&ts);
	return ret;
}

static void fill(struct heartbeat *hb, const char *name, uint64_t seq)
{
	memset(hb, 0, sizeof(*hb));
	snprintf(hb->name, sizeof(hb->name), "%s", name);
	hb->seq = seq;
	hb->cpu_busy_permille = 125;
	hb->ncpu = 2;
	hb->mem_total_kib = 8ULL << 20;
	hb->mem_available_kib = 6ULL << 20;
	hb->interval_ms = 10000;
}

/* Builds datagram i of the run; returns its length. */
static size_t build(const struct opts *o, const struct identity *id, const uint8_t key[HB_KEY_BYTES],
		    uint64_t i, uint8_t *out)
{
	struct heartbeat hb;
	uint8_t bad[HB_KEY_BYTES];
	bool replay = !strcmp(o->mode, "replay");
	char name[NODE_NAME_MAX + 1];
	int len;

	if (!strcmp(o->mode, "random")) {
		randombytes_buf(out, 65507);
		return 65507;
	}
	if (!strcmp(o->mode, "garbage")) {
		randombytes_buf(out, HB_SIZE);
		return HB_SIZE;
	}
	len = o->names ? snprintf(name, sizeof(name), "%s-%llu", id->name,
				  (unsigned long long)(i % o->names))
		       : snprintf(name, sizeof(name), "%s", id->name);

	if (len < 0 || (size_t)len >= sizeof(name))
		return 0; /* a name too long for the wire: nothing to send */
	fill(&hb, !strcmp(o->mode, "unknown") ? "ghost-node" : name, replay ? o->seq : o->seq + i);
	hb_encode(&hb, out);
	if (!strcmp(o->mode, "wrong-key") || !strcmp(o->mode, "unknown")) {
		randombytes_buf(bad, sizeof(bad));
		hb_auth_seal(out, bad);
	} else {
		hb_auth_seal(out, key);
	}
	return !strcmp(o->mode, "truncated") ? HB_SIZE - 28 : HB_SIZE;
}

static void pace(const struct opts *o, uint64_t sent, uint64_t t0)
{
	uint64_t due, now;

	if (!o->rate)
		return;
	due = t0 + sent * NSEC_PER_SEC / o->rate;
	now = clock_mono_ns();
	if (due > now) {
		struct timespec ts = { (time_t)((due - now) / NSEC_PER_SEC), (long)((due - now) % NSEC_PER_SEC) };
		nanosleep(&ts, NULL);
	}
}

static int run(const struct opts *o, int fd, const struct identity *id, const uint8_t key[HB_KEY_BYTES])
{
	static uint8_t bufs[BATCH][65536];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint64_t sent = 0, t0 = clock_mono_ns();
	double secs;

	while (sent < o->count) {
		unsigned n = 0;

		while (n < BATCH && sent + n < o->count && (n == 0 || !o->rate)) {
			iov[n] = (struct iovec){ bufs[n], build(o, id, key, sent + n, bufs[n]) };
			msgs[n] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[n], .msg_iovlen = 1 } };
			n++;
		}
		int r = sendmmsg(fd, msgs, n, 0);
		if (r < 0 && errno != ECONNREFUSED && errno != ENOBUFS) {
			perror("sendmmsg");
			return 1;
		}
		sent += r > 0 ? (unsigned)r : n;
		pace(o, sent, t0);
	}
	secs = (double)(clock_mono_ns() - t0) / 1e9;
	printf("sent %llu datagrams in %.3f s (%.0f/s)\n", (unsigned long long)sent, secs,
	       secs > 0 ? (double)sent / secs : 0.0);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "state-dir", 1, NULL, 'd' }, { "trust", 1, NULL, 't' }, { "fleet", 1, NULL, 'f' },
		{ "count", 1, NULL, 'n' }, { "rate", 1, NULL, 'r' }, { "seq-start", 1, NULL, 's' },
		{ "mode", 1, NULL, 'm' }, { "names", 1, NULL, 'N' }, { 0 },
	};
	struct opts o = { .fleet = "127.0.0.1:7101", .mode = "good", .count = 1, .seq = 1ULL << 40 };
	struct identity id;
	uint8_t key[HB_KEY_BYTES];
	int c, fd, ret;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o.state_dir = optarg; break;
		case 't': o.trust = optarg; break;
		case 'f': o.fleet = optarg; break;
		case 'n': o.count = strtoull(optarg, NULL, 10); break;
		case 'r': o.rate = strtoull(optarg, NULL, 10); break;
		case 's': o.seq = strtoull(optarg, NULL, 10); break;
		case 'm': o.mode = optarg; break;
		case 'N': o.names = strtoull(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (!o.state_dir || !o.trust || auth_init() < 0) {
		fprintf(stderr, "usage: see the comment at the top of bench/heartbeat-send.c\n");
		return 2;
	}
	if (load_key(&o, &id, key) < 0)
		return 1;
	fd = connect_udp(o.fleet);
	if (fd < 0) {
		fprintf(stderr, "fleet address %s: %s\n", o.fleet, strerror(-fd));
		return 1;
	}
	ret = run(&o, fd, &id, key);
	identity_wipe(&id);
	sodium_memzero(key, sizeof(key));
	close(fd);
	return ret;
}
