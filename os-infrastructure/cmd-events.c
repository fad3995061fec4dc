#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <time.h>

#include "os-infrastructure/client.h"
#include "os-infrastructure/cmd.h"
#include "os-infrastructure/render.h"
#include "lib/api-limits.h"

#define STR(x) #x
#define XSTR(x) STR(x)
#define FOLLOW_BATCH 1000
#define FOLLOW_RETRY_S 30

struct events_args {
	uint64_t since, limit;
	bool has_since, follow;
	enum format fmt;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	stopping = 1;
}

static int parse_args(int argc, char *argv[], struct events_args *a)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		{ "follow", no_argument, NULL, 'F' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_u64(optarg, 0, INT64_MAX, &a->since) < 0)
				return cmd_usage_error(&cmd_events, "--since wants an event id, not '%s'", optarg);
			a->has_since = true;
			break;
		case 'l':
			/* The fleet's own limit: refused here, before asking. */
			if (parse_u64(optarg, 1, API_EVENTS_LIMIT_MAX, &a->limit) < 0)
				return cmd_usage_error(&cmd_events, "--limit wants 1..%d, not '%s'",
						       API_EVENTS_LIMIT_MAX, optarg);
			break;
		case 'F': a->follow = true; break;
		case 'f':
			if (cmd_parse_format(&cmd_events, optarg, &a->fmt))
				return EXIT_USAGE;
			break;
		case 'h':
			cmd_help(&cmd_events);
			return -1; /* done, successfully */
		default: return cmd_bad_option(&cmd_events, c, argv);
		}
	}
	if (optind < argc)
		return cmd_usage_error(&cmd_events, "unexpected argument '%s'", argv[optind]);
	return 0;
}

static json_t *events_request(bool has_since, uint64_t since, uint64_t limit)
{
	json_t *req = json_pack("{s:s}", "op", "events");

	if (req && has_since && json_object_set_new(req, "since", json_integer((json_int_t)since)))
		goto fail;
	if (req && limit && json_object_set_new(req, "limit", json_integer((json_int_t)limit)))
		goto fail;
	return req;
fail:
	json_decref(req);
	return NULL;
}

/* Prints a batch as it streams and returns how many events it held. */
static size_t print_batch(const json_t *reply, enum format fmt, bool *first, uint64_t *last)
{
	const json_t *events = json_object_get(reply, "events");
	json_t *e;
	json_int_t id;
	size_t i;

	json_array_foreach(events, i, e) {
		render_event_stream(stdout, e, fmt, *first);
		*first = false;
		id = json_integer_value(json_object_get(e, "id"));
		if (id > 0 && (uint64_t)id > *last)
			*last = (uint64_t)id;
	}
	return json_array_size(events);
}

static void pause_a_second(void)
{
	struct timespec ts = { .tv_sec = 1 };

	nanosleep(&ts, NULL); /* a signal cuts it short: the loop checks */
}

/* Reconnects when the connection breaks: errors on a fresh connection are
 * final, but a fleet that restarts is waited for, up to FOLLOW_RETRY_S. */
static int reconnect(struct client *c, const struct cli *cli, unsigned *retries,
		     char *err, size_t errlen)
{
	int ret;

	while (!stopping) {
		ret = client_open(c, cli, err, errlen);
		if (!ret || *retries >= FOLLOW_RETRY_S)
			return ret;
		if (!(*retries)++)
			fprintf(stderr, PROG_NAME ": %s; retrying for %d s\n", err, FOLLOW_RETRY_S);
		pause_a_second();
	}
	return -EINTR;
}

/* One connection for the whole session, asking for events after the last
 * one seen. */
static int follow(const struct cli *cli, const struct events_args *a)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART */
	struct client c = { .fd = -1 };
	bool connected = false, fresh = false, first = true, have_last = a->has_since;
	unsigned retries = FOLLOW_RETRY_S; /* the first connection gets no grace */
	uint64_t last = a->since;
	json_t *req, *reply;
	char err[512];
	size_t n;
	int ret = 0;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stopping) {
		if (!connected) {
			ret = reconnect(&c, cli, &retries, err, sizeof(err));
			if (ret)
				break;
			connected = fresh = true;
		}
		req = events_request(have_last, last, have_last ? FOLLOW_BATCH : a->limit);
		ret = req ? client_call(&c, req, &reply, err, sizeof(err)) : -ENOMEM;
		json_decref(req);
		if (ret && ret != -EREMOTEIO && !fresh) {
			client_close(&c);
			connected = false;
			continue;
		}
		if (ret)
			break;
		fresh = false;
		retries = 0;
		n = print_batch(reply, a->fmt, &first, &last);
		have_last = have_last || n;
		json_decref(reply);
		if (fflush(stdout))
			break;
		if (n < FOLLOW_BATCH)
			pause_a_second();
	}
	if (connected)
		client_close(&c);
	if (stopping)
		return cmd_output(0);
	if (ret == -ENOMEM)
		return cmd_fail("out of memory");
	return ret ? cmd_fail("%s", err) : cmd_output(0);
}

static int events(const struct cli *cli, int argc, char *argv[])
{
	struct events_args a = { .fmt = FORMAT_TABLE };
	json_t *req, *reply;
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret)
		return ret < 0 ? EXIT_OK : ret;
	if (a.follow)
		return follow(cli, &a);
	req = events_request(a.has_since, a.since, a.limit);
	ret = fleet_request(cli, req, &reply);
	if (!ret)
		ret = cmd_output(render_events(stdout, reply, a.fmt));
	json_decref(reply);
	json_decref(req);
	return ret;
}

const struct cmd cmd_events = {
	.name = "events",
	.fn = events,
	.usage = "events [--since ID] [--limit N] [--follow] [--format table|json|yaml|csv]",
	.description = "Show the fleet's event log: registrations, evictions, placements",
	.help = "  --since ID     only events after this id (default: the latest ones)\n"
		"  --limit N      at most N events, 1.." XSTR(API_EVENTS_LIMIT_MAX)
		" (the fleet's default is " XSTR(API_EVENTS_LIMIT_DEFAULT) ")\n"
		"  --follow       keep watching: ask every second for newer events, one\n"
		"                 line each (json: one object per line); waits up to 30 s\n"
		"                 for a fleet that restarts; Ctrl-C stops\n"
		"  --format F     table (default), json, yaml or csv\n",
};
