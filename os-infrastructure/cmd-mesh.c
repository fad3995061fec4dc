/* os-infrastructure mesh: the WireGuard interface as `wg show` draws it,
 * with the ledger's names; the members; the interface up or down. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "os-infrastructure/cmd.h"
#include "lib/mesh-wg.h"
#include "lib/mesh.h"
#include "os-infrastructure/pairing.h"
#include "lib/units.h"
#include "lib/wg-if.h"
#include "lib/wg.h"

static const struct ledger_member *by_wg_key(const struct ledger *l, const uint8_t *key)
{
	const struct ledger_member *m;
	size_t n;

	if (ledger_members(l, &m, &n) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!memcmp(m[i].wg_pk, key, LEDGER_WG_KEY_BYTES))
			return &m[i];
	return NULL;
}

static json_t *peer_json(const struct ledger *l, const struct wg_peer *p)
{
	const struct ledger_member *m = by_wg_key(l, p->public_key);
	char key[WG_KEY_B64_LEN], text[WG_ENDPOINT_STRLEN], roles[64] = "";
	json_t *o = json_object(), *ips = json_array();

	wg_key_to_base64(key, p->public_key);
	if (m)
		ledger_roles_format(m->roles, roles, sizeof(roles));
	json_object_set_new(o, "name", m ? json_string(m->name) : json_null());
	json_object_set_new(o, "roles", json_string(roles));
	json_object_set_new(o, "revoked", json_boolean(m && m->revoked));
	json_object_set_new(o, "public_key", json_string(key));
	if (p->endpoint.addr.sa_family != AF_UNSPEC &&
	    !wg_endpoint_format(&p->endpoint, text, sizeof(text)))
		json_object_set_new(o, "endpoint", json_string(text));
	else
		json_object_set_new(o, "endpoint", json_null());
	for (size_t i = 0; i < p->allowedips_len; i++)
		if (!wg_allowedip_format(&p->allowedips[i], text, sizeof(text)))
			json_array_append_new(ips, json_string(text));
	json_object_set_new(o, "allowed_ips", ips);
	json_object_set_new(o, "latest_handshake", p->last_handshake.tv_sec ?
			    json_integer(p->last_handshake.tv_sec) : json_null());
	json_object_set_new(o, "keepalive", json_integer(p->persistent_keepalive));
	json_object_set_new(o, "rx_bytes", json_integer((json_int_t)p->rx_bytes));
	json_object_set_new(o, "tx_bytes", json_integer((json_int_t)p->tx_bytes));
	return o;
}

static json_t *device_json(const struct ledger *l, const char *self, const struct wg_device *d)
{
	const struct ledger_member *me = ledger_find(l, self);
	char key[WG_KEY_B64_LEN], addr[16] = "";
	json_t *o = json_object(), *peers = json_array();

	wg_key_to_base64(key, d->public_key);
	if (me)
		ledger_addr_format(me->addr, addr);
	json_object_set_new(o, "interface", json_string(d->name));
	json_object_set_new(o, "backend", json_string(wg_backend_name(d->name)));
	json_object_set_new(o, "node", json_string(self));
	json_object_set_new(o, "address", json_string(addr));
	json_object_set_new(o, "public_key", json_string(key));
	json_object_set_new(o, "listen_port", json_integer(d->listen_port));
	for (size_t i = 0; i < d->peers_len; i++)
		json_array_append_new(peers, peer_json(l, &d->peers[i]));
	json_object_set_new(o, "peers", peers);
	return o;
}

static void print_handshake(json_t *hs)
{
	long long ago = (long long)time(NULL) - (long long)json_integer_value(hs);

	if (json_is_null(hs))
		printf("  latest handshake: never\n");
	else
		printf("  latest handshake: %lld second%s ago\n", ago, ago == 1 ? "" : "s");
}

/* The layout of `wg show`, names from the ledger. */
static void print_text(const json_t *d)
{
	const json_t *p;
	char rx[16], tx[16];
	size_t i;

	printf("interface: %s (%s)\n  node: %s %s\n  public key: %s\n  listening port: %lld\n",
	       json_string_value(json_object_get(d, "interface")),
	       json_string_value(json_object_get(d, "backend")),
	       json_string_value(json_object_get(d, "node")),
	       json_string_value(json_object_get(d, "address")),
	       json_string_value(json_object_get(d, "public_key")),
	       json_integer_value(json_object_get(d, "listen_port")));
	json_array_foreach(json_object_get(d, "peers"), i, p) {
		const json_t *ips = json_object_get(p, "allowed_ips"), *ip;
		const char *name = json_string_value(json_object_get(p, "name"));
		size_t k;

		printf("\npeer: %s", name ? name : "(not in the ledger)");
		if (name)
			printf(" (%s%s)", json_string_value(json_object_get(p, "roles")),
			       json_is_true(json_object_get(p, "revoked")) ? ", revoked" : "");
		printf("\n  public key: %s\n", json_string_value(json_object_get(p, "public_key")));
		if (json_string_value(json_object_get(p, "endpoint")))
			printf("  endpoint: %s\n", json_string_value(json_object_get(p, "endpoint")));
		printf("  allowed ips: ");
		json_array_foreach(ips, k, ip)
			printf("%s%s", k ? ", " : "", json_string_value(ip));
		printf("%s\n", json_array_size(ips) ? "" : "(none)");
		print_handshake(json_object_get(p, "latest_handshake"));
		format_size((uint64_t)json_integer_value(json_object_get(p, "rx_bytes")), rx, sizeof(rx));
		format_size((uint64_t)json_integer_value(json_object_get(p, "tx_bytes")), tx, sizeof(tx));
		printf("  transfer: %s received, %s sent\n", rx, tx);
		if (json_integer_value(json_object_get(p, "keepalive")))
			printf("  persistent keepalive: every %lld seconds\n",
			       json_integer_value(json_object_get(p, "keepalive")));
	}
}

static int load_state(const struct cli *cli, struct identity *id, struct ledger *l,
		      struct mesh_conf *c)
{
	char err[256];
	int ret;

	ret = identity_load(cli->state_dir, id);
	if (ret < 0)
		return cmd_fail("no identity in %s: %s", cli->state_dir, strerror(-ret));
	ret = mesh_ledger_load(cli->state_dir, l, err, sizeof(err));
	if (ret == -ENOENT)
		return cmd_fail("%s holds no mesh ledger: --genesis or --join first", cli->state_dir);
	if (ret < 0)
		return cmd_fail("%s", err);
	ret = mesh_conf_load(cli->state_dir, c, err, sizeof(err));
	return ret < 0 ? cmd_fail("%s", err) : 0;
}

static int show(const struct identity *id, const struct ledger *l, const struct mesh_conf *c,
		enum format fmt)
{
	struct wg_device *dev = NULL;
	json_t *d, *peers;
	int ret = wg_get_device(c->interface, &dev);

	if (ret < 0)
		return cmd_fail("%s: %s%s", c->interface, strerror(-ret),
				ret == -ENODEV ? " ('" PROG_NAME " mesh up' brings it up)" : "");
	d = device_json(l, id->name, dev);
	wg_device_free(dev);
	peers = json_object_get(d, "peers");
	if (fmt == FORMAT_TABLE) {
		print_text(d);
		ret = 0;
	} else if (fmt == FORMAT_JSON) {
		ret = format_json(stdout, d);
	} else if (fmt == FORMAT_YAML) {
		ret = format_yaml(stdout, d);
	} else {
		static const char *const keys[] = { "name", "public_key", "endpoint", "allowed_ips",
						     "latest_handshake", "rx_bytes", "tx_bytes" };

		ret = format_csv(stdout, peers, keys, ARRAY_SIZE(keys), true);
	}
	json_decref(d);
	return cmd_output(ret);
}

static int members(const struct ledger *l, enum format fmt)
{
	static const struct column cols[] = {
		{ "NAME", "name", NULL, false }, { "ADDRESS", "address", NULL, false },
		{ "ROLES", "roles", NULL, false }, { "ENDPOINT", "endpoint", NULL, false },
		{ "STATE", "state", NULL, false },
	};
	static const char *const keys[] = { "name", "address", "roles", "endpoint", "state" };
	const struct ledger_member *m;
	char addr[16], roles[64];
	json_t *rows = json_array();
	size_t n;
	int ret;

	ledger_members(l, &m, &n);
	for (size_t i = 0; i < n; i++) {
		ledger_addr_format(m[i].addr, addr);
		ledger_roles_format(m[i].roles, roles, sizeof(roles));
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s?, s:s}", "name", m[i].name,
						      "address", addr, "roles", roles, "endpoint",
						      m[i].endpoint[0] ? m[i].endpoint : NULL,
						      "state", m[i].revoked ? "revoked" : "live"));
	}
	if (fmt == FORMAT_TABLE)
		ret = format_table(stdout, rows, cols, ARRAY_SIZE(cols));
	else if (fmt == FORMAT_JSON)
		ret = format_json(stdout, rows);
	else if (fmt == FORMAT_YAML)
		ret = format_yaml(stdout, rows);
	else
		ret = format_csv(stdout, rows, keys, ARRAY_SIZE(keys), true);
	json_decref(rows);
	return cmd_output(ret);
}

static int up(const struct cli *cli, const struct identity *id, const struct mesh_conf *c)
{
	return pairing_mesh_up(cli->state_dir, id, c->interface, (uint16_t)c->listen_port);
}

static int down(const struct mesh_conf *c)
{
	int ret = wg_if_delete(c->interface);

	if (ret < 0)
		return cmd_fail("%s: %s", c->interface, strerror(-ret));
	printf("mesh: %s deleted\n", c->interface);
	return cmd_output(0);
}

/* Reads the stored ledger and checks every entry's signature, chain link
 * and rule back to genesis; needs no identity, interface or mesh.conf. */
static int verify(const struct cli *cli)
{
	uint8_t head[LEDGER_HASH_BYTES];
	char err[256], hex[2 * LEDGER_HASH_BYTES + 1], prefix[16];
	const struct ledger_member *m;
	struct ledger l;
	size_t n, live = 0;
	int ret;

	ledger_init(&l);
	ret = mesh_ledger_load(cli->state_dir, &l, err, sizeof(err));
	if (ret == -ENOENT)
		ret = cmd_fail("%s holds no mesh ledger: --genesis or --join first", cli->state_dir);
	else if (ret < 0)
		ret = cmd_fail("ledger does NOT verify: %s", err);
	if (ret)
		goto cleanup;
	ledger_members(&l, &m, &n);
	for (size_t i = 0; i < n; i++)
		live += !m[i].revoked;
	ledger_head_hash(&l, head);
	sodium_bin2hex(hex, sizeof(hex), head, sizeof(head));
	ledger_addr_format(l.entries[0].prefix_addr, prefix);
	printf("ledger verified: %zu entries, signatures and chain back to the genesis of mesh "
	       "%s/%u; %zu members (%zu live); head %s\n", l.count, prefix,
	       l.entries[0].prefix_len, n, live, hex);
	ret = cmd_output(0);
cleanup:
	ledger_free(&l);
	return ret;
}

static int mesh(const struct cli *cli, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	enum format fmt = FORMAT_TABLE;
	const char *verb = "show";
	struct identity id = { 0 };
	struct mesh_conf c;
	struct ledger l;
	int opt, ret;

	optind = 0;
	while ((opt = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
		if (opt == 'h')
			return cmd_help(&cmd_mesh);
		if (opt != 'f')
			return cmd_bad_option(&cmd_mesh, opt, argv);
		if (cmd_parse_format(&cmd_mesh, optarg, &fmt))
			return EXIT_USAGE;
	}
	if (optind < argc)
		verb = argv[optind++];
	if (optind < argc)
		return cmd_usage_error(&cmd_mesh, "unexpected argument '%s'", argv[optind]);
	if (strcmp(verb, "show") && strcmp(verb, "members") && strcmp(verb, "up") &&
	    strcmp(verb, "down") && strcmp(verb, "verify"))
		return cmd_usage_error(&cmd_mesh, "unknown verb '%s'", verb);
	if (!strcmp(verb, "verify"))
		return verify(cli);
	setvbuf(stdout, NULL, _IOLBF, 0);
	ledger_init(&l);
	ret = load_state(cli, &id, &l, &c);
	if (ret == 0 && !strcmp(verb, "show"))
		ret = show(&id, &l, &c, fmt);
	else if (ret == 0 && !strcmp(verb, "members"))
		ret = members(&l, fmt);
	else if (ret == 0 && !strcmp(verb, "up"))
		ret = up(cli, &id, &c);
	else if (ret == 0)
		ret = down(&c);
	ledger_free(&l);
	identity_wipe(&id);
	return ret;
}

const struct cmd cmd_mesh = {
	.name = "mesh",
	.fn = mesh,
	.usage = "mesh [show|members|up|down|verify] [--format table|json|yaml|csv]",
	.description = "Show the mesh's WireGuard peers by name; bring the interface up",
	.help = "  show (default)  the interface and its peers, as `wg show` draws them,\n"
		"                  with each peer's name and roles from the ledger\n"
		"  members         every member the ledger ever admitted, live or revoked\n"
		"  up              bring the interface up from the stored identity, ledger\n"
		"                  and mesh.conf (after a reboot or if wireguard-go died):\n"
		"                  no ceremony\n"
		"  down            delete the interface (wireguard-go exits with it)\n"
		"  verify          check the stored ledger: every signature and chain link\n"
		"                  back to genesis; exits non-zero if it does not verify\n"
		"  --format F      table (default), json, yaml or csv\n",
};
