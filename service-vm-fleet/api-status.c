#include "service-vm-fleet/api-status.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"

struct text {
	char *buf;
	size_t len, cap;
	bool oom;
	int real_permille;     /* the last cpu_percent written, -1 for none */
	char real[40];
};

static void put(struct text *t, const char *s, size_t n)
{
	size_t cap = t->cap ? t->cap : 1 << 16;
	char *buf;

	if (t->oom)
		return;
	if (n > t->cap - t->len) {
		while (cap - t->len < n)
			cap *= 2;
		buf = realloc(t->buf, cap);
		if (!buf) {
			t->oom = true;
			return;
		}
		t->buf = buf;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
}

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

/* As jansson writes it: a json_t, compact, through a bounded buffer. */
static void put_json(struct text *t, json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	if (!s)
		t->oom = true;
	else
		puts_(t, s);
	free(s);
}

static void put_int(struct text *t, json_int_t v)
{
	char buf[24], *p = buf + sizeof(buf);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	put(t, p, (size_t)(buf + sizeof(buf) - p));
}

static bool plain(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
			return false;
	return true;
}

/* Node names are [a-z0-9-], states fixed words: jansson only for the odd one. */
static void key_str(struct text *t, const char *key, const char *s)
{
	json_t *v;

	puts_(t, key);
	if (!plain(s)) {
		v = json_string(s);
		put_json(t, v);
		json_decref(v);
		return;
	}
	put(t, "\"", 1);
	puts_(t, s);
	put(t, "\"", 1);
}

static void key_int(struct text *t, const char *key, bool have, json_int_t v)
{
	puts_(t, key);
	if (have)
		put_int(t, v);
	else
		put(t, "null", 4);
}

static void key_cpu(struct text *t, bool have, unsigned permille)
{
	puts_(t, ",\"cpu_percent\":");
	if (!have) {
		put(t, "null", 4);
		return;
	}
	if (t->real_permille != (int)permille) {
		json_t *v = json_real(permille / 10.0);
		size_t n = v ? json_dumpb(v, t->real, sizeof(t->real) - 1,
					   JSON_COMPACT | JSON_ENCODE_ANY) : 0;

		json_decref(v);
		if (!n || n > sizeof(t->real) - 1) {
			t->oom = true;
			return;
		}
		t->real[n] = '\0';
		t->real_permille = (int)permille;
	}
	puts_(t, t->real);
}

/* Field for field what node_json() packs. */
static void node_text(struct text *t, const struct registry *r, const struct node *n,
		      uint64_t now)
{
	const struct heartbeat *s = &n->last;
	bool have = n->has_sample;

	key_str(t, "{\"name\":", n->name);
	key_str(t, ",\"state\":", registry_state_name(r, n, now));
	key_int(t, ",\"last_seen\":", n->last_seen_wall, n->last_seen_wall);
	key_int(t, ",\"last_seen_age_ms\":", n->heard, (json_int_t)(now > n->last_seen_ns ?
		(now - n->last_seen_ns) / NSEC_PER_MSEC : 0));
	key_cpu(t, have, s->cpu_busy_permille);
	key_int(t, ",\"ncpu\":", have, s->ncpu);
	key_int(t, ",\"mem_total_bytes\":", have, (json_int_t)kib_to_bytes(s->mem_total_kib));
	key_int(t, ",\"mem_available_bytes\":", have, (json_int_t)node_available_bytes(n));
	key_int(t, ",\"mem_reported_available_bytes\":", have,
		(json_int_t)kib_to_bytes(s->mem_available_kib));
	key_int(t, ",\"pending_bytes\":", true, (json_int_t)n->pending_bytes);
	key_int(t, ",\"guests\":", have, s->guests_running);
	key_int(t, ",\"guest_mem_bytes\":", have, (json_int_t)kib_to_bytes(s->guest_mem_kib));
	puts_(t, ",\"libvirt\":");
	puts_(t, !have ? "null" : s->flags & HB_FLAG_LIBVIRT ? "true" : "false");
	key_int(t, ",\"registered\":", true, (json_int_t)n->registered_wall);
	put(t, "}", 1);
}

char *status_text_join(const json_t *head, const json_t *guests, const struct registry *r,
		       const struct node *const *nodes, uint64_t now, size_t *len)
{
	struct text t = { .real_permille = -1 };

	put_json(&t, (json_t *)head);
	if (t.oom || t.len < 2)
		goto fail;
	t.len--;        /* reopen the object: its members follow */
	puts_(&t, ",\"nodes\":[");
	for (size_t i = 0; i < r->count; i++) {
		if (i)
			put(&t, ",", 1);
		node_text(&t, r, nodes[i], now);
	}
	put(&t, "]", 1);
	if (guests) {
		puts_(&t, ",\"guests\":");
		put_json(&t, (json_t *)guests);
	}
	put(&t, "}", 2);   /* and the terminating NUL */
	if (t.oom)
		goto fail;
	*len = t.len - 1;
	return t.buf;
fail:
	free(t.buf);
	return NULL;
}
