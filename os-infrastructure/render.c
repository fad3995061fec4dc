#include "os-infrastructure/render.h"

#include <errno.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *const node_keys[] = {
	"name", "state", "last_seen", "last_seen_age_ms", "cpu_percent", "ncpu",
	"mem_total_bytes", "mem_available_bytes", "mem_reported_available_bytes",
	"pending_bytes", "guests", "guest_mem_bytes", "libvirt", "registered",
};

/* JSON and YAML show the reply as the API gave it, minus "ok". */
static json_t *reply_body(const json_t *reply)
{
	json_t *body = json_copy((json_t *)reply);

	if (body)
		json_object_del(body, "ok");
	return body;
}

static int render_body(FILE *f, const json_t *reply, enum format fmt)
{
	json_t *body = reply_body(reply);
	int ret;

	if (!body)
		return -ENOMEM;
	ret = fmt == FORMAT_JSON ? format_json(f, body) : format_yaml(f, body);
	json_decref(body);
	return ret;
}

static const char *str_or(const json_t *obj, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : def;
}

static json_int_t int_or(const json_t *obj, const char *key, json_int_t def)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

static void cell_age(const json_t *row, const char *key, char *buf, size_t len)
{
	format_age_json(json_object_get(row, key), buf, len);
}

static void cell_cpu(const json_t *row, const char *key, char *buf, size_t len)
{
	format_cpu(json_object_get(row, "cpu_percent"), json_object_get(row, "ncpu"), buf, len);
}

static void cell_ram(const json_t *row, const char *key, char *buf, size_t len)
{
	format_mem_pair(json_object_get(row, "mem_available_bytes"),
			json_object_get(row, "mem_total_bytes"), buf, len);
}

static void cell_bytes(const json_t *row, const char *key, char *buf, size_t len)
{
	format_bytes_json(json_object_get(row, key), buf, len);
}

static void cell_time(const json_t *row, const char *key, char *buf, size_t len)
{
	format_time(json_object_get(row, key), buf, len);
}

static void print_hold(FILE *f, const json_t *fleet)
{
	json_int_t due = int_or(fleet, "held_due", 0);
	const char *why = json_string_value(json_object_get(fleet, "hold_reason"));

	if (!json_is_true(json_object_get(fleet, "holding")))
		return;
	fputs("Evictions are on hold", f);
	if (why) {
		fputs(" (", f);
		fputs_clean(why, f);
		fputc(')', f);
	}
	fprintf(f, ": %lld node%s due for eviction but kept.\n", (long long)due,
		due == 1 ? " is" : "s are");
	if (due)
		fputs("Run 'os-infrastructure node hold-override' to evict them.\n", f);
}

static void print_summary(FILE *f, const json_t *nodes)
{
	static const char *const states[] = { "live", "awaiting", "held", "evicted", "revoked" };
	size_t count[ARRAY_SIZE(states)] = { 0 }, i;
	json_t *node;

	json_array_foreach(nodes, i, node) {
		for (size_t s = 0; s < ARRAY_SIZE(states); s++)
			count[s] += !strcmp(str_or(node, "state", ""), states[s]);
	}
	fprintf(f, "%zu node%s", json_array_size(nodes), json_array_size(nodes) == 1 ? "" : "s");
	for (size_t s = 0, n = 0; s < ARRAY_SIZE(states); s++) {
		if (count[s])
			fprintf(f, "%s %zu %s", n++ ? "," : ":", count[s], states[s]);
	}
	fputs(".\n", f);
}

int render_status(FILE *f, const json_t *reply, enum format fmt)
{
	static const struct column cols[] = {
		{ .title = "NAME", .key = "name" },
		{ .title = "STATE", .key = "state" },
		{ .title = "LAST SEEN", .key = "last_seen_age_ms", .cell = cell_age },
		{ .title = "CPU", .cell = cell_cpu },
		{ .title = "RAM", .cell = cell_ram },
		{ .title = "GUESTS", .key = "guests", .right = true },
	};
	const json_t *nodes = json_object_get(reply, "nodes");
	int ret = 0;

	if (fmt == FORMAT_JSON || fmt == FORMAT_YAML)
		return render_body(f, reply, fmt);
	if (fmt == FORMAT_CSV)
		return format_csv(f, nodes, node_keys, ARRAY_SIZE(node_keys), true);
	print_hold(f, json_object_get(reply, "fleet"));
	if (!json_array_size(nodes)) {
		fputs("No node has registered with the fleet yet.\n", f);
		return ferror(f) ? -EIO : 0;
	}
	ret = format_table(f, nodes, cols, ARRAY_SIZE(cols));
	print_summary(f, nodes);
	if (!ret && json_array_size(json_object_get(reply, "guests"))) {
		fputs("\nGuests:\n", f);
		ret = render_guests(f, reply, FORMAT_TABLE);
	}
	return ret ? ret : ferror(f) ? -EIO : 0;
}

static void print_field(FILE *f, const char *label, const char *value)
{
	fprintf(f, "%-12s ", label);
	fputs_clean(value, f);
	fputc('\n', f);
}

static const char *libvirt_text(const json_t *v)
{
	if (json_is_true(v))
		return "answering";
	return json_is_false(v) ? "not answering" : "unknown";
}

static void print_node(FILE *f, const json_t *node)
{
	char a[64], b[64], c[64], line[256];

	print_field(f, "Name:", str_or(node, "name", "-"));
	print_field(f, "State:", str_or(node, "state", "-"));
	format_age_json(json_object_get(node, "last_seen_age_ms"), a, sizeof(a));
	format_time(json_object_get(node, "last_seen"), b, sizeof(b));
	snprintf(line, sizeof(line), strcmp(b, "-") ? "%s (%s)" : "%s", a, b);
	print_field(f, "Last seen:", line);
	format_cpu(json_object_get(node, "cpu_percent"), json_object_get(node, "ncpu"), a, sizeof(a));
	print_field(f, "CPU:", a);
	format_bytes_json(json_object_get(node, "mem_available_bytes"), a, sizeof(a));
	format_bytes_json(json_object_get(node, "mem_total_bytes"), b, sizeof(b));
	format_bytes_json(json_object_get(node, "pending_bytes"), c, sizeof(c));
	snprintf(line, sizeof(line), "%s available of %s (%s reserved for pending guests)", a, b, c);
	print_field(f, "Memory:", line);
	format_bytes_json(json_object_get(node, "mem_reported_available_bytes"), a, sizeof(a));
	snprintf(line, sizeof(line), "%s available in the last heartbeat", a);
	print_field(f, "Reported:", strcmp(a, "-") ? line : a);
	format_scalar(json_object_get(node, "guests"), a, sizeof(a));
	format_bytes_json(json_object_get(node, "guest_mem_bytes"), b, sizeof(b));
	snprintf(line, sizeof(line), "%s running, %s committed", *a ? a : "-", b);
	print_field(f, "Guests:", line);
	print_field(f, "Libvirt:", libvirt_text(json_object_get(node, "libvirt")));
	format_time(json_object_get(node, "registered"), a, sizeof(a));
	print_field(f, "Registered:", a);
}

int render_node(FILE *f, const json_t *reply, enum format fmt)
{
	const json_t *node = json_object_get(reply, "node");
	json_t *rows;
	int ret;

	if (fmt == FORMAT_JSON || fmt == FORMAT_YAML)
		return render_body(f, reply, fmt);
	if (fmt == FORMAT_TABLE) {
		print_node(f, node);
		return ferror(f) ? -EIO : 0;
	}
	rows = json_pack("[O]", node);
	if (!rows)
		return -ENOMEM;
	ret = format_csv(f, rows, node_keys, ARRAY_SIZE(node_keys), true);
	json_decref(rows);
	return ret;
}

static void print_request(FILE *f, const json_t *req)
{
	char mem[32];
	const char *type = json_string_value(json_object_get(req, "type"));
	const char *node = json_string_value(json_object_get(req, "node"));
	json_int_t vcpus = int_or(req, "vcpus", 0);

	format_bytes_json(json_object_get(req, "memory_bytes"), mem, sizeof(mem));
	fprintf(f, "Request: %s memory, %lld vCPU%s", mem, (long long)vcpus, vcpus == 1 ? "" : "s");
	if (type) {
		fputs(", type ", f);
		fputs_clean(type, f);
	}
	if (node) {
		fputs(", on node ", f);
		fputs_clean(node, f);
	}
	fputs(".\n", f);
}

static void print_excluded(FILE *f, const json_t *excluded)
{
	json_t *e;
	size_t i;

	if (!json_array_size(excluded))
		return;
	fprintf(f, "Excluded (%zu):\n", json_array_size(excluded));
	json_array_foreach(excluded, i, e) {
		fputs("  ", f);
		fputs_clean(str_or(e, "name", "-"), f);
		fputs(" [", f);
		fputs_clean(str_or(e, "reason", "-"), f);
		fputs("]: ", f);
		fputs_clean(str_or(e, "why", ""), f);
		fputc('\n', f);
	}
}

static void print_verdict(FILE *f, const json_t *reply)
{
	const char *best = json_string_value(json_object_get(reply, "suggestion"));
	const json_t *id = json_object_get(reply, "placement_id");

	if (!json_is_true(json_object_get(reply, "fits")) || !best) {
		fputs("No node fits this request.\n", f);
		return;
	}
	fputs(json_is_integer(id) ? "Reserved: " : "Suggestion: ", f);
	fputs_clean(best, f);
	if (json_is_integer(id))
		fprintf(f, " (placement %lld)\n", (long long)json_integer_value(id));
	else
		fputs(" (advisory: nothing is reserved)\n", f);
}

static int place_csv(FILE *f, const json_t *reply)
{
	static const char *const keys[] = {
		"rank", "name", "available_bytes", "margin_bytes", "after_bytes", "guests",
		"reason", "why",
	};
	json_t *rows = json_array();
	int ret = -ENOMEM;

	if (!rows || json_array_extend(rows, json_object_get(reply, "candidates")) ||
	    json_array_extend(rows, json_object_get(reply, "excluded")))
		goto cleanup;
	ret = format_csv(f, rows, keys, ARRAY_SIZE(keys), true);
cleanup:
	json_decref(rows);
	return ret;
}

int render_place(FILE *f, const json_t *reply, enum format fmt)
{
	static const struct column cols[] = {
		{ .title = "RANK", .key = "rank", .right = true },
		{ .title = "NAME", .key = "name" },
		{ .title = "AVAILABLE", .key = "available_bytes", .cell = cell_bytes, .right = true },
		{ .title = "MARGIN", .key = "margin_bytes", .cell = cell_bytes, .right = true },
		{ .title = "LEFT-AFTER", .key = "after_bytes", .cell = cell_bytes, .right = true },
		{ .title = "GUESTS", .key = "guests", .right = true },
	};
	const json_t *cand = json_object_get(reply, "candidates");
	int ret = 0;

	if (fmt == FORMAT_JSON || fmt == FORMAT_YAML)
		return render_body(f, reply, fmt);
	if (fmt == FORMAT_CSV)
		return place_csv(f, reply);
	print_request(f, json_object_get(reply, "request"));
	print_verdict(f, reply);
	if (json_array_size(cand))
		ret = format_table(f, cand, cols, ARRAY_SIZE(cols));
	print_excluded(f, json_object_get(reply, "excluded"));
	return ret ? ret : ferror(f) ? -EIO : 0;
}

static const char *const event_keys[] = { "id", "time", "kind", "node", "detail" };

int render_events(FILE *f, const json_t *reply, enum format fmt)
{
	static const struct column cols[] = {
		{ .title = "ID", .key = "id", .right = true },
		{ .title = "TIME", .key = "time", .cell = cell_time },
		{ .title = "KIND", .key = "kind" },
		{ .title = "NODE", .key = "node" },
		{ .title = "DETAIL", .key = "detail" },
	};
	const json_t *events = json_object_get(reply, "events");

	if (fmt == FORMAT_JSON || fmt == FORMAT_YAML)
		return render_body(f, reply, fmt);
	if (fmt == FORMAT_CSV)
		return format_csv(f, events, event_keys, ARRAY_SIZE(event_keys), true);
	if (!json_array_size(events)) {
		fputs("No events.\n", f);
		return ferror(f) ? -EIO : 0;
	}
	return format_table(f, events, cols, ARRAY_SIZE(cols));
}

void render_event_stream(FILE *f, const json_t *event, enum format fmt, bool first)
{
	json_t *one;
	char when[32], id[32];

	switch (fmt) {
	case FORMAT_JSON:
		json_dumpf(event, f, JSON_COMPACT | JSON_REAL_PRECISION(15));
		fputc('\n', f);
		break;
	case FORMAT_YAML:
		one = json_pack("[O]", event);
		if (one)
			format_yaml(f, one);
		json_decref(one);
		break;
	case FORMAT_CSV:
		one = json_pack("[O]", event);
		if (one)
			format_csv(f, one, event_keys, ARRAY_SIZE(event_keys), first);
		json_decref(one);
		break;
	default:
		format_time(json_object_get(event, "time"), when, sizeof(when));
		format_scalar(json_object_get(event, "id"), id, sizeof(id));
		fprintf(f, "%s #%s ", when, id);
		fputs_clean(str_or(event, "kind", "-"), f);
		fputc(' ', f);
		fputs_clean(str_or(event, "node", "-"), f);
		fputs(": ", f);
		fputs_clean(str_or(event, "detail", ""), f);
		fputc('\n', f);
	}
}

static const char *const guest_keys[] = {
	"name", "type", "node", "state", "address", "memory_bytes", "vcpus", "accel", "detail", "created",
	"updated",
};
/* A fleet that names guests in the fabric's zone (issue 11) adds fqdn. */
static const char *const guest_keys_fqdn[] = {
	"name", "type", "node", "state", "address", "fqdn", "memory_bytes", "vcpus", "accel", "detail",
	"created", "updated",
};

/* vm show: the guest's published ports under its table. */
static void render_published(FILE *f, const json_t *guest)
{
	const json_t *list = json_object_get(guest, "published"), *p;
	size_t i;

	json_array_foreach(list, i, p)
		fprintf(f, "%s %s/%lld on %s's host port %lld\n", i ? "          " : "Published:",
			str_or(p, "proto", "tcp"), (long long)json_integer_value(json_object_get(p, "port")),
			str_or(guest, "node", "?"),
			(long long)json_integer_value(json_object_get(p, "host_port")));
}

/* vm show: one "agent:" line per address the guest's agent reports (the
 * fleet checked each: interface names of [A-Za-z0-9_.-], IP addresses). */
static void render_agent(FILE *f, const json_t *guest)
{
	const json_t *agent = json_object_get(guest, "agent"), *list, *a;
	const char *ifname;
	size_t i;

	json_object_foreach((json_t *)agent, ifname, list)
		json_array_foreach(list, i, a)
			fprintf(f, "agent: %s %s\n", ifname, json_string_value(a) ?: "?");
}

/* vm show: the guest's recorded move, if any (vm move-show has the same). */
static void render_move(FILE *f, const json_t *guest)
{
	char line[512];

	if (format_move(json_object_get(guest, "move"), line, sizeof(line)))
		fprintf(f, "move: %s\n", line);
}

int render_guests(FILE *f, const json_t *reply, enum format fmt)
{
	static const struct column cols[] = {
		{ .title = "NAME", .key = "name" },
		{ .title = "TYPE", .key = "type" },
		{ .title = "NODE", .key = "node" },
		{ .title = "STATE", .key = "state" },
		{ .title = "ADDRESS", .key = "address" }, /* "-" until the node reports one */
		{ .title = "MEMORY", .key = "memory_bytes", .cell = cell_bytes, .right = true },
		{ .title = "VCPUS", .key = "vcpus", .right = true },
		{ .title = "ACCEL", .key = "accel" },
		{ .title = "DETAIL", .key = "detail" },
	};
	static const struct column cols_fqdn[] = {
		{ .title = "NAME", .key = "name" },
		{ .title = "TYPE", .key = "type" },
		{ .title = "NODE", .key = "node" },
		{ .title = "STATE", .key = "state" },
		{ .title = "ADDRESS", .key = "address" },
		{ .title = "FQDN", .key = "fqdn" },
		{ .title = "MEMORY", .key = "memory_bytes", .cell = cell_bytes, .right = true },
		{ .title = "VCPUS", .key = "vcpus", .right = true },
		{ .title = "ACCEL", .key = "accel" },
		{ .title = "DETAIL", .key = "detail" },
	};
	const json_t *guests = json_object_get(reply, "guests");
	json_t *rows = NULL;
	bool fqdn;
	int ret;

	if (fmt == FORMAT_JSON || fmt == FORMAT_YAML)
		return render_body(f, reply, fmt);
	if (!guests) {
		rows = json_pack("[O]", json_object_get(reply, "guest"));
		if (!rows)
			return -ENOMEM;
		guests = rows;
	}
	fqdn = json_is_string(json_object_get(json_array_get(guests, 0), "fqdn"));
	if (fmt == FORMAT_CSV && fqdn)
		ret = format_csv(f, guests, guest_keys_fqdn, ARRAY_SIZE(guest_keys_fqdn), true);
	else if (fmt == FORMAT_CSV)
		ret = format_csv(f, guests, guest_keys, ARRAY_SIZE(guest_keys), true);
	else if (!json_array_size(guests))
		ret = fputs("No guests.\n", f) < 0 ? -EIO : 0;
	else if (fqdn)
		ret = format_table(f, guests, cols_fqdn, ARRAY_SIZE(cols_fqdn));
	else
		ret = format_table(f, guests, cols, ARRAY_SIZE(cols));
	if (!ret && rows && fmt == FORMAT_TABLE) {
		render_agent(f, json_array_get(guests, 0));
		render_move(f, json_array_get(guests, 0));
		render_published(f, json_array_get(guests, 0));
	}
	json_decref(rows);
	return ret ? ret : ferror(f) ? -EIO : 0;
}

int render_plan(FILE *f, const json_t *reply)
{
	const json_t *plan = json_object_get(reply, "plan");
	char mem[32];
	int ret;

	format_bytes_json(json_object_get(plan, "memory_bytes"), mem, sizeof(mem));
	fprintf(f, "Plan: %s '%s' (%s, %lld vCPU) on node %s — ", str_or(plan, "type", "?"),
		str_or(plan, "name", "?"), mem, (long long)json_integer_value(json_object_get(plan, "vcpus")),
		str_or(plan, "node", "?"));
	fputs(json_is_true(json_object_get(plan, "advisory"))
		      ? "the fleet's advisory choice (pass --node to choose another).\n"
		      : "the node you named.\n", f);
	ret = render_place(f, json_object_get(plan, "ranking"), FORMAT_TABLE);
	fprintf(f, "This plan expires in %lld s; nothing is created until you confirm it.\n",
		(long long)json_integer_value(json_object_get(plan, "expires_in_s")));
	return ret ? ret : ferror(f) ? -EIO : 0;
}
