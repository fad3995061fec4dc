/* What genesis, join and invite share: the operator's side of the SAS, the
 * inviter's admission (address, signed entry, the sequencer, the push), the
 * ceremony's TCP in either direction, the mesh coming up, and the services.
 *
 * The ceremony's TCP direction does not matter to the protocol, so either
 * side may be the one that listens: an inviter behind NAT connects out to a
 * joiner that listens (`invite --connect` with `--join CODE --listen`), and
 * otherwise the joiner connects to the inviter (`--join CODE --via`). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "genesis/ceremony.h"
#include "os-infrastructure/cmd.h"
#include "lib/identity.h"
#include "lib/ledger.h"

/* How the operator confirms the SAS: typed on the terminal (or piped on
 * stdin), or given in advance (expect), or read from a file another script
 * writes (from_file: waits for it until the SAS deadline). */
struct sas_opts {
	const char *expect;
	const char *from_file;
};

struct invite_opts {
	const char *listen;   /* "host:port" to listen on; NULL: ":7104" */
	const char *connect;  /* connect out to a listening joiner instead */
	uint64_t ttl_ms;      /* 0: CEREMONY_INVITE_TTL_MS */
	uint64_t linger_ms;   /* keep refusing after the invitation died */
	unsigned allow_roles; /* roles a joiner may ask for: the default and --grant */
	const char *for_name; /* invite --for: re-admit this live member (reinstate) */
	struct sas_opts sas;
};

/* What any joiner may take: fleet and admin carry authority (the agents obey
 * the fleet's key), so only an explicit --grant gives them. */
#define PAIRING_DEFAULT_ROLES (LEDGER_ROLE_NODE | LEDGER_ROLE_RELAY)

/* The options genesis, join and invite share; pairing_option() takes them. */
struct pairing_opts {
	const char *name;
	const char *endpoint;  /* this node's WireGuard endpoint, for the ledger */
	const char *ifname;
	uint64_t port;         /* 0: the endpoint's port, else 51820 */
	unsigned roles;        /* extra roles (genesis) or requested ones (join) */
	bool no_start;
	struct invite_opts invite;
};

#define PAIRING_OPTIONS                                                   \
	{ "name", required_argument, NULL, 'n' },                         \
	{ "endpoint", required_argument, NULL, 'e' },                     \
	{ "interface", required_argument, NULL, 'i' },                    \
	{ "port", required_argument, NULL, 'p' },                         \
	{ "role", required_argument, NULL, 'r' },                         \
	{ "no-start", no_argument, NULL, 'N' },                           \
	{ "listen", required_argument, NULL, 'l' },                       \
	{ "connect", required_argument, NULL, 'c' },                      \
	{ "ttl", required_argument, NULL, 'T' },                          \
	{ "linger", required_argument, NULL, 'L' },                       \
	{ "grant", required_argument, NULL, 'g' },                        \
	{ "sas-from", required_argument, NULL, 'S' },                     \
	{ "expect-sas", required_argument, NULL, 'E' },                   \
	{ "help", no_argument, NULL, 'h' }

#define PAIRING_HELP_SAS \
	"  --expect-sas SAS   confirm only this SAS (digits or words) instead of asking\n" \
	"  --sas-from FILE    wait for FILE and confirm the SAS written in it (scripts\n" \
	"                     pass the SAS the other side printed)\n"
#define PAIRING_HELP_INVITE \
	"  --listen ADDR:PORT serve the ceremony there (default :7104, every address)\n" \
	"  --connect HOST:PORT connect out to a joiner that listens (--join --listen):\n" \
	"                     for an inviter behind NAT\n" \
	"  --ttl DURATION     the code's lifetime (default 10m)\n" \
	"  --linger DURATION  after the code died, keep refusing attempts this long\n" \
	"  --grant ROLES      roles a joiner may take besides node and relay (which any\n" \
	"                     may): fleet, admin; without it, asking for them is refused\n"

void pairing_opts_init(struct pairing_opts *o);
/* 0 when opt was one of PAIRING_OPTIONS and its value is good, 1 when it is
 * not one of them, else the exit status of a usage error. */
int pairing_option(const struct cmd *c, struct pairing_opts *o, int opt, const char *arg);
/* The node name: --name, else the hostname's first label. */
int pairing_default_name(const struct pairing_opts *o, char name[NODE_NAME_MAX + 1]);
uint16_t pairing_listen_port(const struct pairing_opts *o);

int pairing_confirm(void *ctx, const struct ceremony_sas_info *info);

/* Creates an invitation, prints its code and serves the ceremony until one
 * joiner is admitted (pushing the new ledger to every member), or the code
 * dies. id must be a live admin of the ledger in state_dir. Exit status. */
int pairing_invite(const char *state_dir, const struct identity *id, const struct invite_opts *o);

/* Loads (or, with name, creates) the identity and makes sure it has a
 * WireGuard key; prints why not and returns an exit status. */
int pairing_identity(const char *state_dir, const char *name, struct identity *id);

/* Writes mesh.conf and brings the interface up from the stored ledger;
 * prints what happened. Exit status. */
int pairing_mesh_up(const char *state_dir, const struct identity *id, const char *ifname,
		    uint16_t listen_port);

/* Writes host.conf (and fleet.conf on a fleet member) into state_dir unless
 * they exist; with start, starts the services with systemd when it runs,
 * else (or without start) prints how to start them. */
void pairing_services(const char *state_dir, const struct ledger *l, const char *self, bool start);

/* Appends one entry to l (loaded, under the lock) signed by id. */
typedef int (*pairing_append_fn)(struct ledger *l, const struct identity *id, void *arg,
				 char *err, size_t errlen);
/* Loads the ledger under its lock, appends and makes the entry final (ledger.h,
 * "Concurrent admissions": the sequencer takes it first unless we are the
 * sequencer; after a refusal the sequencer's copy is merged and append runs
 * again), saves. l holds the result. 0 or -errno with err. */
int pairing_commit(const char *state_dir, const struct identity *id, struct ledger *l,
		   pairing_append_fn append, void *arg, char *err, size_t errlen);
/* After a change made here: this node's peers follow at once, its agent is
 * told, and every other live member but skip gets the ledger pushed. */
void pairing_publish(const char *state_dir, const struct ledger *l, const struct identity *id,
		     const char *skip);
/* A mesh_sync_report_fn that prints one line per member. */
struct mesh_sync_reply;
void pairing_report_push(void *ctx, const struct ledger_member *m, int ret,
			 const struct mesh_sync_reply *r, const char *err);

/* "host:port" split for the ceremony's own sockets; port defaults to 7104. */
int pairing_connect(const char *host_port, uint64_t deadline_ns);
int pairing_listen(const char *host_port);
int pairing_accept(int listen_fd, uint64_t deadline_ns);
