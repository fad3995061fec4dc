/* lib/guest-policy.c: the manifests' "ports" and the nftables text they
 * compile to. The text is checked by what it does: a small evaluator below
 * runs a packet through the rules it renders (the subset of nft(8) syntax
 * the compiler writes), so the tests say "orchestration reaches totebox on
 * 9190", not "this line is present". */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "lib/firewall.h"
#include "lib/guest-policy.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

/* The ports of the four manifests in images/. */
static const char *const manifest_ports[GUEST_TYPE_COUNT][2] = {
	{ "totebox", "[{\"port\": 9190, \"from\": [\"orchestration\"]}]" },
	{ "mediakit", "[{\"port\": 80, \"from\": [\"public\"]}, {\"port\": 443, \"from\": [\"public\"]}]" },
	{ "orchestration", "[]" },
	{ "privategit", "[{\"port\": 3000, \"from\": [\"members\"]}, {\"port\": 22, \"proto\": \"tcp\", "
			"\"from\": [\"members\"]}]" },
};

/* node 1 (10.77.0.1): tb1, orch; node 2: tb2, git; node 3: mk */
static const struct guest_policy_guest inventory[] = {
	{ "tb1", 0, IP(10, 78, 1, 10) },
	{ "orch", 2, IP(10, 78, 1, 11) },
	{ "tb2", 0, IP(10, 78, 2, 10) },
	{ "git", 3, IP(10, 78, 2, 11) },
	{ "mk", 1, IP(10, 78, 3, 10) },
};
static const uint32_t members[] = { IP(10, 77, 0, 1), IP(10, 77, 0, 2), IP(10, 77, 0, 3) };

static int parse(const char *text, struct guest_port *ports, unsigned *n, char *err, size_t errlen)
{
	json_error_t je;
	json_t *arr = json_loads(text, 0, &je);
	int ret;

	assert_non_null(arr);
	ret = guest_ports_parse(arr, ports, n, err, errlen);
	json_decref(arr);
	return ret;
}

struct fx {
	struct guest_net net;
	struct guest_service services[GUEST_TYPE_COUNT];
	struct guest_policy_spec spec;
	char text[16384];
};

/* node 1's view */
static void build(struct fx *f)
{
	char err[160];

	memset(f, 0, sizeof(*f));
	assert_int_equal(guest_net_default(&f->net, IP(10, 77, 0, 0), 16, NULL, 0), 0);
	for (unsigned t = 0; t < GUEST_TYPE_COUNT; t++) {
		assert_string_equal(guest_type_at(t)->name, manifest_ports[t][0]);
		f->services[t].type = t;
		if (parse(manifest_ports[t][1], f->services[t].ports, &f->services[t].nports, err,
			  sizeof(err)) < 0)
			fail_msg("%s: %s", manifest_ports[t][0], err);
	}
	f->spec = (struct guest_policy_spec){ .net = &f->net, .own_subnet = IP(10, 78, 1, 0),
		.services = f->services, .nservices = GUEST_TYPE_COUNT, .guests = inventory,
		.nguests = sizeof(inventory) / sizeof(inventory[0]), .members = members,
		.nmembers = 3 };
	strcpy(f->spec.bridge, GUEST_POLICY_BRIDGE);
	if (guest_policy_render(&f->spec, f->text, sizeof(f->text), err, sizeof(err)) < 0)
		fail_msg("render: %s", err);
}

/* ---- a packet through the rendered rules ---- */

struct pkt {
	const char *iif;
	uint32_t saddr, daddr;
	const char *proto;
	unsigned dport;
	bool established;
};

static bool in_set(const char *text, const char *name, uint32_t a)
{
	char head[96], ip[16];
	const char *p;

	snprintf(head, sizeof(head), "add element inet osi %s { ", name);
	ledger_addr_format(a, ip);
	for (p = text; (p = strstr(p, head)); p++) {
		const char *end = strchr(p, '}');
		size_t n = strlen(ip);

		for (const char *q = p + strlen(head); q && q < end; q = strstr(q, ", "), q = q ? q + 2 : q)
			if (!strncmp(q, ip, n) && (q[n] == ',' || q[n] == ' '))
				return true;
	}
	return false;
}

static bool addr_match(const char *text, const char *tok, uint32_t a)
{
	char buf[32];
	uint32_t net;
	uint8_t len = 32;
	char *slash;

	if (tok[0] == '@')
		return in_set(text, tok + 1, a);
	snprintf(buf, sizeof(buf), "%s", tok);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		len = (uint8_t)atoi(slash + 1);
	}
	assert_int_equal(inet_pton(AF_INET, buf, &net), 1);
	net = ntohl(net);
	return len == 0 || ((a ^ net) >> (32 - len)) == 0;
}

/* Whether one rule's matches hold; *verdict set when they do. */
static bool rule_matches(const char *text, char **tok, const struct pkt *p, int *verdict)
{
	for (size_t i = 0; tok[i]; i++) {
		const char *t = tok[i];

		if (!strcmp(t, "iifname")) {
			char q[32];

			snprintf(q, sizeof(q), "\"%s\"", p->iif);
			if (strcmp(tok[++i], q))
				return false;
		} else if (!strcmp(t, "ip")) {
			bool src = !strcmp(tok[++i], "saddr"), neg = !strcmp(tok[i + 1], "!=");

			i += neg ? 2 : 1;
			if (addr_match(text, tok[i], src ? p->saddr : p->daddr) == neg)
				return false;
		} else if (!strcmp(t, "meta")) {
			i += 2; /* l4proto { tcp, udp } */
			if (strcmp(p->proto, "tcp") && strcmp(p->proto, "udp"))
				return false;
			while (strcmp(tok[i], "}"))
				i++;
		} else if (!strcmp(t, "th")) {
			unsigned lo, hi;

			assert_int_equal(sscanf(tok[i += 2], "%u-%u", &lo, &hi), 2);
			if (p->dport < lo || p->dport > hi)
				return false;
		} else if (!strcmp(t, "tcp") || !strcmp(t, "udp")) {
			bool hit = false;

			if (strcmp(p->proto, t))
				return false;
			i += 2;
			if (!strcmp(tok[i], "{")) {
				while (strcmp(tok[++i], "}"))
					hit |= (unsigned)atoi(tok[i]) == p->dport;
			} else {
				hit = (unsigned)atoi(tok[i]) == p->dport;
			}
			if (!hit)
				return false;
		} else if (!strcmp(t, "ct")) {
			i += 3; /* state established related */
			if (!p->established)
				return false;
		} else if (!strcmp(t, "accept")) {
			*verdict = 1;
		} else if (!strcmp(t, "drop")) {
			*verdict = 0;
		} else if (!strcmp(t, "counter")) {
			assert_string_equal(tok[i + 2], "\"" GUEST_POLICY_COUNTER "\"");
			i += 2;
		} else {
			fail_msg("unexpected token '%s'", t);
		}
	}
	return true;
}

/* 1 accept, 0 drop (counted), -1 no rule decided (the chain's policy: accept). */
static int eval(const char *text, const char *chain, const struct pkt *p)
{
	char head[64], line[512], *tok[64];
	const char *s = text;

	snprintf(head, sizeof(head), "add rule inet osi %s ", chain);
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s), k = 0;
		int verdict = -1;

		assert_true(n < sizeof(line));
		memcpy(line, s, n);
		line[n] = '\0';
		s += n + (nl ? 1 : 0);
		if (strncmp(line, head, strlen(head)))
			continue;
		for (char *save, *w = strtok_r(line + strlen(head), " ,", &save); w;
		     w = strtok_r(NULL, " ,", &save))
			tok[k++] = w;
		tok[k] = NULL;
		if (rule_matches(text, tok, p, &verdict) && verdict >= 0)
			return verdict;
	}
	return -1;
}

/* A packet a guest or a member sends to a guest on another node: this
 * node's forward chain (it routes between its bridge and the mesh). */
static int fwd(const struct fx *f, const char *iif, uint32_t s, uint32_t d, const char *proto,
	       unsigned port)
{
	struct pkt p = { iif, s, d, proto, port, false };

	return eval(f->text, "forward", &p);
}

#define TB1 IP(10, 78, 1, 10)
#define ORCH IP(10, 78, 1, 11)
#define TB2 IP(10, 78, 2, 10)
#define GIT IP(10, 78, 2, 11)
#define MK IP(10, 78, 3, 10)
#define BR GUEST_POLICY_BRIDGE

static void test_orchestration_reaches_totebox_port_only(void **state)
{
	struct fx *f = *state;

	build(f);
	assert_int_equal(fwd(f, BR, ORCH, TB2, "tcp", 9190), 1);
	assert_int_equal(fwd(f, "osi0", ORCH, TB1, "tcp", 9190), 1); /* from another node */
	assert_int_equal(fwd(f, BR, ORCH, TB2, "tcp", 22), 0);
	assert_int_equal(fwd(f, BR, ORCH, TB2, "udp", 9190), 0);
	assert_int_equal(fwd(f, BR, ORCH, TB2, "tcp", 9191), 0);
}

static void test_totebox_to_totebox_denied(void **state)
{
	struct fx *f = *state;

	build(f);
	assert_int_equal(fwd(f, BR, TB1, TB2, "tcp", 9190), 0);
	assert_int_equal(fwd(f, "osi0", TB2, TB1, "tcp", 9190), 0);
	/* nor a member's host, nor a MediaKit */
	assert_int_equal(fwd(f, "osi0", IP(10, 77, 0, 2), TB1, "tcp", 9190), 0);
	assert_int_equal(fwd(f, "osi0", MK, TB1, "tcp", 9190), 0);
}

static void test_public_reaches_mediakit(void **state)
{
	struct fx *f = *state;

	build(f);
	assert_int_equal(fwd(f, "eth0", IP(198, 51, 100, 7), MK, "tcp", 443), 1);
	assert_int_equal(fwd(f, "eth0", IP(198, 51, 100, 7), MK, "tcp", 80), 1);
	assert_int_equal(fwd(f, BR, TB1, MK, "tcp", 443), 1);
	assert_int_equal(fwd(f, "osi0", IP(10, 77, 0, 2), MK, "tcp", 80), 1);
	assert_int_equal(fwd(f, "eth0", IP(198, 51, 100, 7), MK, "tcp", 22), 0);
	/* the outside reaches nothing else */
	assert_int_equal(fwd(f, "eth0", IP(198, 51, 100, 7), GIT, "tcp", 3000), 0);
	assert_int_equal(fwd(f, "eth0", IP(198, 51, 100, 7), TB1, "tcp", 9190), 0);
}

static void test_members_reach_privategit(void **state)
{
	struct fx *f = *state;

	build(f);
	assert_int_equal(fwd(f, "osi0", IP(10, 77, 0, 3), GIT, "tcp", 3000), 1);
	assert_int_equal(fwd(f, "osi0", IP(10, 77, 0, 2), GIT, "tcp", 22), 1);
	/* a guest is not a member; a stranger's mesh-looking address neither */
	assert_int_equal(fwd(f, BR, ORCH, GIT, "tcp", 3000), 0);
	assert_int_equal(fwd(f, "osi0", IP(10, 77, 0, 9), GIT, "tcp", 3000), 0);
	/* orchestration serves nothing */
	assert_int_equal(fwd(f, "osi0", IP(10, 77, 0, 2), ORCH, "tcp", 9180), 0);
}

static void test_control_plane_never(void **state)
{
	struct fx *f = *state;
	const uint32_t guests[] = { TB1, ORCH, TB2, GIT, MK };
	struct pkt p = { BR, TB1, IP(10, 77, 0, 1), "tcp", 0, false };

	build(f);
	for (unsigned port = FW_PORT_FIRST; port <= FW_PORT_LAST; port++)
		for (size_t g = 0; g < 5; g++)
			for (int est = 0; est < 2; est++) {
				const char *proto = est ? "udp" : "tcp";

				p = (struct pkt){ BR, guests[g], IP(10, 77, 0, 2), proto, port, est };
				assert_int_equal(eval(f->text, "forward", &p), 0);
				p.iif = "osi0";
				p.daddr = IP(10, 77, 0, 1);
				assert_int_equal(eval(f->text, "guest_input", &p), 0);
				p.iif = BR;
				p.daddr = IP(10, 78, 1, 1);
				assert_int_equal(eval(f->text, "guest_input", &p), 0);
			}
	/* the host's other services neither; DHCP and DNS from its bridge do */
	p = (struct pkt){ BR, TB1, IP(10, 78, 1, 1), "tcp", 22, false };
	assert_int_equal(eval(f->text, "guest_input", &p), 0);
	p = (struct pkt){ "osi0", TB2, IP(10, 77, 0, 1), "tcp", 22, false };
	assert_int_equal(eval(f->text, "guest_input", &p), 0);
	p = (struct pkt){ BR, 0, 0xffffffffu, "udp", 67, false };
	assert_int_equal(eval(f->text, "guest_input", &p), 1);
	p = (struct pkt){ BR, TB1, IP(10, 78, 1, 1), "udp", 53, false };
	assert_int_equal(eval(f->text, "guest_input", &p), 1);
	/* a guest of this node forging another node's source is dropped */
	assert_int_equal(fwd(f, BR, IP(10, 78, 9, 5), TB2, "tcp", 9190), 0);
	/* replies of allowed flows pass; other traffic is not the policy's */
	p = (struct pkt){ "osi0", TB2, ORCH, "tcp", 40000, true };
	assert_int_equal(eval(f->text, "forward", &p), 1);
	assert_int_equal(fwd(f, "eth0", IP(192, 0, 2, 1), IP(192, 0, 2, 2), "tcp", 22), -1);
	assert_non_null(strstr(f->text, "add counter inet osi " GUEST_POLICY_COUNTER "\n"));
}

static void test_ports_parse_refusals(void **state)
{
	struct guest_port ports[GUEST_PORTS_MAX];
	unsigned n = 9;
	char err[160];

	(void)state;
	assert_int_equal(parse("[{\"port\": 1, \"from\": [\"nosuchtype\"]}]", ports, &n, err,
			       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown guest type \"nosuchtype\""));
	assert_int_equal(n, 0);
	assert_int_equal(parse("[{\"port\": 1, \"from\": []}]", ports, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(parse("[{\"port\": 0, \"from\": [\"public\"]}]", ports, &n, err, sizeof(err)),
			 -ERANGE);
	assert_int_equal(parse("[{\"port\": 65536, \"from\": [\"public\"]}]", ports, &n, err,
			       sizeof(err)), -ERANGE);
	assert_int_equal(parse("[{\"port\": 1, \"proto\": \"sctp\", \"from\": [\"public\"]}]", ports,
			       &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(parse("[{\"port\": 1, \"from\": [\"public\", \"members\"]}]", ports, &n, err,
			       sizeof(err)), -EINVAL);
	assert_int_equal(parse("[{\"port\": 1, \"from\": [\"members\", \"members\"]}]", ports, &n, err,
			       sizeof(err)), -EINVAL);
	assert_int_equal(parse("[{\"port\": 1, \"from\": [\"members\"], \"x\": 1}]", ports, &n, err,
			       sizeof(err)), -EINVAL);
	assert_int_equal(parse("[{\"port\": 1, \"from\": [\"members\"]}, {\"port\": 1, "
			       "\"from\": [\"public\"]}]", ports, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(parse("[1,2,3,4,5,6,7,8,9]", ports, &n, err, sizeof(err)), -E2BIG);
	assert_int_equal(parse("{}", ports, &n, err, sizeof(err)), -EINVAL);
	/* the same port on tcp and udp is two ports */
	assert_int_equal(parse("[{\"port\": 53, \"from\": [\"members\"]}, {\"port\": 53, \"proto\": "
			       "\"udp\", \"from\": [\"totebox\", \"mediakit\"]}]", ports, &n, err,
			       sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ports[1].proto, GUEST_PROTO_UDP);
	assert_int_equal(ports[1].types, 3u);
}

static void test_render_refusals(void **state)
{
	struct fx *f = *state;
	struct guest_policy_guest bad = { "x", 0, IP(10, 77, 0, 5) };
	struct guest_service twice[2];
	char small[64], err[160];

	build(f);
	f->spec.guests = &bad;
	f->spec.nguests = 1;
	assert_int_equal(guest_policy_render(&f->spec, f->text, sizeof(f->text), err, sizeof(err)),
			 -EINVAL); /* a guest outside the guest prefix */
	f->spec.nguests = 0;
	f->services[1].type = 0;
	assert_int_equal(guest_policy_render(&f->spec, f->text, sizeof(f->text), err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "two manifests"));
	f->services[1].type = 1;
	f->services[1].ports[0].types = 1u << GUEST_TYPE_COUNT; /* an unknown type */
	assert_int_equal(guest_policy_render(&f->spec, f->text, sizeof(f->text), err, sizeof(err)),
			 -EINVAL);
	memset(twice, 0, sizeof(twice));
	f->spec.services = twice;
	f->spec.nservices = 0;
	strcpy(f->spec.bridge, "bad name");
	assert_int_equal(guest_policy_render(&f->spec, f->text, sizeof(f->text), err, sizeof(err)),
			 -EINVAL);
	strcpy(f->spec.bridge, BR);
	f->spec.own_subnet = IP(10, 78, 1, 5);
	assert_int_equal(guest_policy_render(&f->spec, f->text, sizeof(f->text), err, sizeof(err)),
			 -EINVAL);
	f->spec.own_subnet = 0;
	assert_int_equal(guest_policy_render(&f->spec, small, sizeof(small), err, sizeof(err)),
			 -ENOSPC);
	assert_int_equal(guest_policy_render(&f->spec, f->text, sizeof(f->text), err, sizeof(err)), 0);
}

static int setup(void **state)
{
	*state = calloc(1, sizeof(struct fx));
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_orchestration_reaches_totebox_port_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_totebox_to_totebox_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_public_reaches_mediakit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_members_reach_privategit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_plane_never, setup, teardown),
		cmocka_unit_test(test_ports_parse_refusals),
		cmocka_unit_test_setup_teardown(test_render_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
