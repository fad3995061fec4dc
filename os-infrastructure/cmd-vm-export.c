/* vm export NAME FILE and vm import FILE: on the guest's node, against its
 * libvirt, like vm data-delete. The archive is signed with this member's
 * identity (the one in the state directory, which is in the ledger); import
 * trusts a live member of the verified ledger whose key signed, or the key
 * the operator names with --trust-key. */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "os-infrastructure/cmd-vm-export.h"
#include "lib/conf-path.h"
#include "lib/host-conf.h"
#include "lib/identity.h"
#include "lib/ledger.h"
#include "lib/mesh.h"
#include "osi-config.h"
#include "virt/virt-export.h"

struct node_args {
	const char *config, *node, *trust_key;
	const char *recipient[EXPORT_RECIPIENTS_MAX];
	unsigned nrecipient;
	struct virt_config vc;
	struct host_config hc;
	bool have_conf;
};

static int parse(int argc, char *argv[], struct node_args *a, int want, const char *usage)
{
	static const struct option opts[] = {
		{ "uri", required_argument, NULL, 'u' }, { "pool-dir", required_argument, NULL, 'p' },
		{ "config", required_argument, NULL, 'C' }, { "node", required_argument, NULL, 'N' },
		{ "trust-key", required_argument, NULL, 'k' }, { "recipient", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":u:p:C:N:k:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': a->vc.uri = optarg; break;
		case 'p': a->vc.pool_dir = optarg; break;
		case 'C': a->config = optarg; break;
		case 'N': a->node = optarg; break;
		case 'k': a->trust_key = optarg; break;
		case 'r':
			if (a->nrecipient == EXPORT_RECIPIENTS_MAX)
				return cmd_usage_error(&cmd_vm, "--recipient: at most %d", EXPORT_RECIPIENTS_MAX);
			a->recipient[a->nrecipient++] = optarg;
			break;
		case 'h': return cmd_help(&cmd_vm);
		default: return cmd_bad_option(&cmd_vm, c, argv);
		}
	}
	return argc - optind == want ? 0 : cmd_usage_error(&cmd_vm, "%s", usage);
}

/* host.conf's libvirt URI, pool, console and images directories. */
static int settings(struct node_args *a)
{
	char path[PATH_MAX], err[512];

	if (host_conf_lookup(&a->hc, a->config, CONF_ETC_DIR, OSI_STATE_DIR, path, err, sizeof(err)) < 0)
		return cmd_fail("%s", err);
	if (!a->vc.uri)
		a->vc.uri = a->hc.virt_uri;
	if (!a->vc.pool_dir && a->hc.pool_dir[0])
		a->vc.pool_dir = a->hc.pool_dir;
	if (a->hc.console_dir[0]) /* an imported guest logs its console where the helper's do */
		a->vc.console_dir = a->hc.console_dir;
	a->vc.seal_key = a->hc.seal_key;
	return 0;
}

static char *template_of(const struct node_args *a, const char *guest, struct virt_host *h,
			 const char **mounts)
{
	static struct virt_manifest vm;
	struct virt_guest g;
	char *ud = NULL, err[256];
	const char *dir = a->hc.images_dir[0] ? a->hc.images_dir : OSI_IMAGES_DIR;

	if (virt_guest_get(h, guest, &g) < 0 ||
	    virt_manifest_load(dir, g.type, &vm, &ud, err, sizeof(err)) < 0)
		return NULL;
	for (unsigned i = 0; i < g.ndata && i < VIRT_MAX_DATA_DISKS; i++)
		for (unsigned j = 0; j < vm.ndata; j++)
			if (!strcmp(vm.data[j].name, g.data[i]))
				mounts[i] = vm.data[j].mount;
	return ud;
}

/* Each --recipient: a live admin of this node's verified ledger, by name. */
static int recipients(const struct cli *cli, const struct node_args *a, struct export_recipient *r)
{
	struct ledger l;
	const struct ledger_member *mb;
	char err[256];
	int ret = 0;

	if (!a->nrecipient)
		return 0;
	ledger_init(&l);
	if (!mesh_has_ledger(cli->state_dir))
		return cmd_fail("--recipient names an admin of the ledger, and %s has none", cli->state_dir);
	if (mesh_ledger_load(cli->state_dir, &l, err, sizeof(err)) < 0 ||
	    ledger_verify(&l, err, sizeof(err)) < 0) {
		ledger_free(&l);
		return cmd_fail("the ledger in %s: %s", cli->state_dir, err);
	}
	for (unsigned i = 0; i < a->nrecipient && !ret; i++) {
		mb = ledger_find(&l, a->recipient[i]);
		if (!mb || mb->revoked || !(mb->roles & LEDGER_ROLE_ADMIN))
			ret = cmd_fail("--recipient %s: not a live admin member of the ledger", a->recipient[i]);
		for (unsigned j = 0; j < i && !ret; j++)
			if (!strcmp(a->recipient[j], a->recipient[i]))
				ret = cmd_usage_error(&cmd_vm, "--recipient %s given twice", a->recipient[i]);
		if (!ret) {
			snprintf(r[i].name, sizeof(r[i].name), "%s", mb->name);
			memcpy(r[i].sign_pk, mb->sign_pk, sizeof(r[i].sign_pk));
		}
	}
	ledger_free(&l);
	return ret;
}

static void print_sealed(const struct export_manifest *m)
{
	for (unsigned i = 0; i < m->nvol; i++) {
		if (!m->vol[i].encrypted)
			continue;
		printf("  %s: encrypted, key sealed to", m->vol[i].disk);
		for (unsigned k = 0; k < m->vol[i].nkeys; k++)
			printf(" %s (key id %s)", m->vol[i].keys[k].recipient, m->vol[i].keys[k].key_id);
		printf("\n");
	}
}

int vm_export(const struct cli *cli, int argc, char *argv[])
{
	static struct export_recipient rcpt[EXPORT_RECIPIENTS_MAX];
	static struct node_args a;
	struct export_source src = { 0 };
	struct export_manifest m;
	struct identity id;
	struct virt_host h;
	char *ud = NULL;
	int ret = parse(argc, argv, &a, 2, "vm export NAME FILE [--recipient ADMIN]... [--config F] "
			"[--uri U] [--pool-dir D]");

	if (ret || (ret = settings(&a)) || (ret = recipients(cli, &a, rcpt)))
		return ret;
	if ((ret = identity_load(cli->state_dir, &id)) < 0)
		return cmd_fail("cannot load the identity in %s to sign the export: %s", cli->state_dir,
				strerror(-ret));
	if (virt_host_open(&h, &a.vc) < 0) {
		identity_wipe(&id);
		return cmd_fail("%s", h.err);
	}
	ud = template_of(&a, argv[optind], &h, src.mounts);
	src.signer = &id;
	src.node = id.name;
	src.user_data = ud;
	src.recipients = rcpt;
	src.nrecipients = a.nrecipient;
	if (virt_export(&h, argv[optind], &src, argv[optind + 1], &m) < 0) {
		ret = cmd_fail("%s", h.err);
	} else {
		printf("Exported %s to %s: %u data volume(s), signed by %s.\n", m.name, argv[optind + 1],
		       m.nvol, id.name);
		print_sealed(&m);
		export_manifest_free(&m);
		ret = cmd_output(0);
	}
	free(ud);
	virt_host_close(&h);
	identity_wipe(&id);
	return ret;
}

struct trust_ctx {
	struct ledger l;
	bool have_ledger, have_key;
	uint8_t key[SIGN_PK_BYTES];
};

static int trust(const struct export_sig *s, void *ctx, char *err, size_t errlen)
{
	struct trust_ctx *t = ctx;
	const struct ledger_member *mb;

	if (t->have_key)
		return sodium_memcmp(t->key, s->key, SIGN_PK_BYTES) == 0 ? 0 :
		       (snprintf(err, errlen, "its key is not the one given with --trust-key"), -EPERM);
	if (!t->have_ledger)
		return snprintf(err, errlen, "this node has no ledger: name the signer's key with "
				"--trust-key HEX"), -EPERM;
	mb = ledger_find(&t->l, s->signer);
	if (!mb || mb->revoked)
		return snprintf(err, errlen, "not a live member of the ledger"), -EPERM;
	if (sodium_memcmp(mb->sign_pk, s->key, SIGN_PK_BYTES))
		return snprintf(err, errlen, "the key does not match the ledger's"), -EPERM;
	return 0;
}

static int trust_setup(const struct cli *cli, const struct node_args *a, struct trust_ctx *t)
{
	char err[256];

	ledger_init(&t->l);
	if (a->trust_key) {
		if (strlen(a->trust_key) != SIGN_PK_BYTES * 2 ||
		    sodium_hex2bin(t->key, sizeof(t->key), a->trust_key, strlen(a->trust_key), NULL, NULL,
				   NULL) != 0)
			return cmd_usage_error(&cmd_vm, "--trust-key: 64 hex digits (an Ed25519 public key)");
		t->have_key = true;
		return 0;
	}
	if (!mesh_has_ledger(cli->state_dir))
		return 0;
	if (mesh_ledger_load(cli->state_dir, &t->l, err, sizeof(err)) < 0 ||
	    ledger_verify(&t->l, err, sizeof(err)) < 0)
		return cmd_fail("the ledger in %s: %s", cli->state_dir, err);
	t->have_ledger = true;
	return 0;
}

int vm_import(const struct cli *cli, int argc, char *argv[])
{
	static struct node_args a;
	static struct trust_ctx t;
	static struct identity id;
	struct export_manifest m;
	struct virt_host h;
	bool have_id;
	int ret = parse(argc, argv, &a, 1, "vm import FILE --node NODE [--trust-key HEX] [--config F] "
			"[--uri U] [--pool-dir D]   (on that node)");

	if (ret || (ret = settings(&a)) || (ret = trust_setup(cli, &a, &t)))
		return ret;
	if (!a.node)
		return cmd_usage_error(&cmd_vm, "vm import needs --node NODE (this node: run it there)");
	if (a.hc.name[0] && strcmp(a.node, a.hc.name))
		return cmd_fail("this is %s, not %s: run vm import on the node that is to hold the guest",
				a.hc.name, a.node);
	/* opens encrypted volumes' keys, if this member is a recipient */
	have_id = identity_load(cli->state_dir, &id) == 0;
	if (virt_host_open(&h, &a.vc) < 0) {
		identity_wipe(&id);
		return cmd_fail("%s", h.err);
	}
	if (virt_import_as(&h, argv[optind], trust, &t, have_id ? &id : NULL, &m) < 0) {
		ret = cmd_fail("import refused, nothing was defined: %s", h.err);
	} else {
		printf("Imported %s (instance %s) from %s onto %s: %u data volume(s), defined, not "
		       "started.\n", m.name, m.instance_id, argv[optind], a.node, m.nvol);
		print_sealed(&m);
		export_manifest_free(&m);
		ret = cmd_output(0);
	}
	virt_host_close(&h);
	identity_wipe(&id);
	ledger_free(&t.l);
	return ret;
}
