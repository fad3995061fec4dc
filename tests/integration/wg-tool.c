/* A small driver of lib/wg.h and lib/wg-if.h for the integration tests.
 *
 *   wg-tool genkey FILE           new private key to FILE (base64, 0600),
 *                                 its public key on stdout
 *   wg-tool up IF [--log FILE] ADDR/LEN... [--route NET/LEN]...
 *                                 create IF, address it, bring it up, add
 *                                 routes; prints the wireguard-go PID (0 when
 *                                 the kernel made the interface); its output
 *                                 goes to FILE
 *   wg-tool set IF [--private-key FILE] [--listen-port N] [--replace-peers]
 *                  [--peer PUB [--endpoint E] [--allowed-ip NET/LEN]...
 *                   [--keepalive N] [--remove]]...
 *   wg-tool show IF               backend, then one line per peer
 *   wg-tool down IF
 *
 * The private key only ever travels in a file, never on the command line. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/fileio.h"
#include "lib/wg-if.h"
#include "lib/wg.h"

static int fail(const char *what, int err)
{
	fprintf(stderr, "wg-tool: %s: %s\n", what, strerror(-err));
	return 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: wg-tool genkey|up|set|show|down ... (see wg-tool.c)\n");
	return 2;
}

static int cmd_genkey(int argc, char **argv)
{
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];
	char b64[WG_KEY_B64_LEN + 1];
	int ret;

	if (argc != 2)
		return usage();
	wg_generate_private_key(priv);
	ret = wg_generate_public_key(pub, priv);
	wg_key_to_base64(b64, priv);
	sodium_memzero(priv, sizeof(priv));
	strcat(b64, "\n");
	if (!ret)
		ret = atomic_write_file(argv[1], b64, strlen(b64), 0600);
	sodium_memzero(b64, sizeof(b64));
	if (ret)
		return fail(argv[1], ret);
	wg_key_to_base64(b64, pub);
	printf("%s\n", b64);
	return 0;
}

static int read_private_key(const char *path, uint8_t key[WG_KEY_LEN])
{
	char *text;
	size_t len;
	int ret = read_file(path, 256, &text, &len);

	if (ret)
		return ret;
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		text[--len] = '\0';
	ret = wg_key_from_base64(key, text);
	sodium_memzero(text, len);
	free(text);
	return ret;
}

static int parse_prefix(const char *text, struct wg_allowedip *ip)
{
	int ret = wg_allowedip_parse(ip, text);

	if (ret)
		fprintf(stderr, "wg-tool: bad address/prefix: %s\n", text);
	return ret;
}

static int cmd_up(int argc, char **argv)
{
	struct wg_allowedip ip;
	const char *ifname;
	int log_fd = -1, ret;
	pid_t pid;

	if (argc < 2)
		return usage();
	ifname = argv[1];
	if (argc > 3 && !strcmp(argv[2], "--log")) {
		log_fd = open(argv[3], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (log_fd < 0)
			return fail(argv[3], -errno);
		argv += 2;
		argc -= 2;
	}
	ret = wg_if_create(ifname, log_fd, &pid);
	if (log_fd >= 0)
		close(log_fd);
	if (ret)
		return fail("create", ret);
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--route")) {
			i++;
			continue;
		}
		if (parse_prefix(argv[i], &ip))
			return 2;
		if ((ret = wg_if_add_address(ifname, &ip)))
			return fail("address", ret);
	}
	/* Routes need the link up. */
	if ((ret = wg_if_set_up(ifname, 0)))
		return fail("link up", ret);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--route"))
			continue;
		if (++i == argc || parse_prefix(argv[i], &ip))
			return 2;
		if ((ret = wg_if_add_route(ifname, &ip)))
			return fail("route", ret);
	}
	printf("%d\n", (int)pid);
	return 0;
}

/* Applies one option of `set` to dev; *peer is the peer being described. */
static int set_option(struct wg_device *dev, struct wg_peer **peer, const char *opt,
		      const char *val)
{
	uint8_t key[WG_KEY_LEN];
	struct wg_allowedip ip;

	if (!strcmp(opt, "--private-key")) {
		dev->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
		return read_private_key(val, dev->private_key);
	}
	if (!strcmp(opt, "--listen-port")) {
		dev->flags |= WG_DEVICE_HAS_LISTEN_PORT;
		dev->listen_port = (uint16_t)atoi(val);
		return 0;
	}
	if (!strcmp(opt, "--peer"))
		return wg_key_from_base64(key, val) ?: wg_device_add_peer(dev, key, peer);
	if (!*peer)
		return -EINVAL;
	if (!strcmp(opt, "--endpoint"))
		return wg_endpoint_parse(&(*peer)->endpoint, val);
	if (!strcmp(opt, "--allowed-ip"))
		return wg_allowedip_parse(&ip, val) ?: wg_peer_add_allowedip(*peer, &ip);
	if (!strcmp(opt, "--keepalive")) {
		(*peer)->flags |= WG_PEER_HAS_KEEPALIVE;
		(*peer)->persistent_keepalive = (uint16_t)atoi(val);
		return 0;
	}
	return -EINVAL;
}

static int cmd_set(int argc, char **argv)
{
	struct wg_device dev = { 0 };
	struct wg_peer *peer = NULL;
	int ret;

	if (argc < 2)
		return usage();
	ret = wg_device_set_name(&dev, argv[1]);
	for (int i = 2; i < argc && !ret; i++) {
		if (!strcmp(argv[i], "--replace-peers")) {
			dev.flags |= WG_DEVICE_REPLACE_PEERS;
		} else if (!strcmp(argv[i], "--remove") && peer) {
			peer->flags |= WG_PEER_REMOVE_ME;
		} else if (i + 1 < argc) {
			ret = set_option(&dev, &peer, argv[i], argv[i + 1]);
			i++;
		} else {
			ret = -EINVAL;
		}
		if (ret)
			fprintf(stderr, "wg-tool: set: bad argument %s\n", argv[i]);
	}
	if (!ret)
		ret = wg_set_device(&dev);
	wg_device_clear(&dev);
	return ret ? fail("set", ret) : 0;
}

static void show_peer(const struct wg_peer *p)
{
	char key[WG_KEY_B64_LEN], text[WG_ENDPOINT_STRLEN];

	wg_key_to_base64(key, p->public_key);
	printf("peer=%s", key);
	if (!wg_endpoint_format(&p->endpoint, text, sizeof(text)))
		printf(" endpoint=%s", text);
	printf(" last_handshake=%lld rx_bytes=%llu tx_bytes=%llu keepalive=%u allowed_ips=",
	       (long long)p->last_handshake.tv_sec, (unsigned long long)p->rx_bytes,
	       (unsigned long long)p->tx_bytes, p->persistent_keepalive);
	for (size_t i = 0; i < p->allowedips_len; i++) {
		wg_allowedip_format(&p->allowedips[i], text, sizeof(text));
		printf("%s%s", i ? "," : "", text);
	}
	printf("\n");
}

static int cmd_show(int argc, char **argv)
{
	struct wg_device *dev;
	char key[WG_KEY_B64_LEN] = "(none)";
	int ret;

	if (argc != 2)
		return usage();
	ret = wg_get_device(argv[1], &dev);
	if (ret)
		return fail("get", ret);
	if (dev->flags & WG_DEVICE_HAS_PUBLIC_KEY)
		wg_key_to_base64(key, dev->public_key);
	printf("interface=%s backend=%s public_key=%s listen_port=%u peers=%zu\n", dev->name,
	       wg_backend_name(argv[1]), key, dev->listen_port, dev->peers_len);
	for (size_t i = 0; i < dev->peers_len; i++)
		show_peer(&dev->peers[i]);
	wg_device_free(dev);
	return 0;
}

static int cmd_down(int argc, char **argv)
{
	int ret;

	if (argc != 2)
		return usage();
	ret = wg_if_delete(argv[1]);
	return ret ? fail("delete", ret) : 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "genkey", cmd_genkey }, { "up", cmd_up }, { "set", cmd_set },
		{ "show", cmd_show }, { "down", cmd_down },
	};

	if (sodium_init() < 0)
		return 1;
	if (argc < 2)
		return usage();
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	return usage();
}
