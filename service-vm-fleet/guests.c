#include "service-vm-fleet/guests.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static const char *const names[GS__COUNT] = {
	[GS_PLANNED] = "planned", [GS_DISPATCHED] = "dispatched", [GS_DEFINING] = "defining",
	[GS_BOOTING] = "booting", [GS_RUNNING] = "running", [GS_STOPPED] = "stopped",
	[GS_FAILED] = "failed", [GS_DESTROYED] = "destroyed",
};

const char *guest_state_name(enum guest_state s)
{
	return s < GS__COUNT ? names[s] : "invalid";
}

int guest_state_parse(const char *text, enum guest_state *out)
{
	for (int i = 0; i < GS__COUNT; i++) {
		if (!strcmp(text, names[i])) {
			*out = (enum guest_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *guest_op_state_name(enum guest_op_state s)
{
	static const char *const ops[] = { "none", "pending", "done", "failed" };

	return s <= GOPS_FAILED ? ops[s] : "invalid";
}

bool guest_set_address(struct guest *gu, const char *addr)
{
	char back[INET_ADDRSTRLEN] = "";
	struct in_addr in;

	if (addr && inet_pton(AF_INET, addr, &in) == 1)
		inet_ntop(AF_INET, &in, back, sizeof(back));
	if (!strcmp(back, gu->address))
		return false;
	snprintf(gu->address, sizeof(gu->address), "%s", back);
	return true;
}

bool guest_name_reusable(const struct guest *gu)
{
	return gu->state == GS_DESTROYED || gu->state == GS_FAILED;
}

bool guest_state_pending(enum guest_state s)
{
	return s == GS_PLANNED || s == GS_DISPATCHED || s == GS_DEFINING || s == GS_BOOTING;
}

void guests_init(struct guests *g)
{
	memset(g, 0, sizeof(*g));
}

void guests_free(struct guests *g)
{
	free(g->list);
	if (g->plans)
		sodium_memzero(g->plans, g->capplans * sizeof(*g->plans));
	free(g->plans);
	memset(g, 0, sizeof(*g));
}

struct guest *guests_find(const struct guests *g, const char *name)
{
	for (size_t i = 0; i < g->count; i++)
		if (!strcmp(g->list[i].name, name))
			return &g->list[i];
	return NULL;
}

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 8;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int guests_add(struct guests *g, const struct guest *gu)
{
	struct guest *old = guests_find(g, gu->name);

	if (old && !guest_name_reusable(old))
		return -EEXIST;
	if (old) {
		*old = *gu;
		return 0;
	}
	if (grow((void **)&g->list, &g->cap, g->count + 1, sizeof(*g->list)) < 0)
		return -ENOMEM;
	g->list[g->count++] = *gu;
	return 0;
}

int guests_remove(struct guests *g, const char *name)
{
	struct guest *gu = guests_find(g, name);

	if (!gu)
		return -ENOENT;
	*gu = g->list[--g->count];
	memset(&g->list[g->count], 0, sizeof(g->list[0]));
	return 0;
}

static void remove_plan(struct guests *g, size_t i)
{
	g->plans[i] = g->plans[--g->nplans];
	sodium_memzero(&g->plans[g->nplans], sizeof(g->plans[0]));
}

int guests_plan(struct guests *g, const struct guest *gu, bool advisory, uint64_t now,
		uint64_t ttl_ns, struct plan **out)
{
	uint8_t raw[PLAN_TOKEN_HEX / 2];
	const struct guest *old;
	struct plan *p;

	guests_expire_plans(g, now);
	old = guests_find(g, gu->name);
	if (old && !guest_name_reusable(old))
		return -EEXIST;
	/* A newer plan for the same name replaces the older one (the operator
	 * changed the node or the size): only the latest token confirms. */
	for (size_t i = 0; i < g->nplans; i++) {
		if (!strcmp(g->plans[i].guest.name, gu->name)) {
			remove_plan(g, i);
			break;
		}
	}
	if (grow((void **)&g->plans, &g->capplans, g->nplans + 1, sizeof(*g->plans)) < 0)
		return -ENOMEM;
	p = &g->plans[g->nplans++];
	memset(p, 0, sizeof(*p));
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(p->token, sizeof(p->token), raw, sizeof(raw));
	p->expires_ns = now + ttl_ns;
	p->advisory = advisory;
	p->guest = *gu;
	p->guest.state = GS_PLANNED;
	*out = p;
	return 0;
}

int guests_take_plan(struct guests *g, const char *token, uint64_t now, struct plan *out)
{
	for (size_t i = 0; i < g->nplans; i++) {
		struct plan *p = &g->plans[i];
		bool expired = now >= p->expires_ns;

		if (strlen(token) != PLAN_TOKEN_HEX || sodium_memcmp(p->token, token, PLAN_TOKEN_HEX))
			continue;
		*out = *p;
		remove_plan(g, i);
		return expired ? -ETIMEDOUT : 0;
	}
	return -ENOENT;
}

size_t guests_expire_plans(struct guests *g, uint64_t now)
{
	size_t n = 0;

	for (size_t i = 0; i < g->nplans;) {
		if (now >= g->plans[i].expires_ns) {
			remove_plan(g, i);
			n++;
		} else {
			i++;
		}
	}
	return n;
}
