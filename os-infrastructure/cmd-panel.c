/* os-infrastructure panel (app-network-admin): the loop. It waits on the
 * keyboard, on the connection thread and on signals, and redraws after each
 * wake-up; curses sends the terminal only what changed. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "lib/clock.h"
#include "os-infrastructure/format.h"
#include "os-infrastructure/panel.h"

#define WAKE_MS 250
#define KEYS_PER_TURN 64

static volatile sig_atomic_t got_winch, got_quit;
static int sig_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	ssize_t n;

	if (sig == SIGWINCH)
		got_winch = 1;
	else
		got_quit = 1;
	n = write(sig_pipe[1], "", 1);
	(void)n;
	errno = saved;
}

/* Installed before curses starts, so that curses keeps its hands off them. */
static int catch_signals(void)
{
	static const int sigs[] = { SIGWINCH, SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_signal };

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	return 0;
}

static void release_signals(void)
{
	static const int sigs[] = { SIGWINCH, SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = SIG_DFL };

	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	for (int i = 0; i < 2; i++) {
		if (sig_pipe[i] >= 0)
			close(sig_pipe[i]);
		sig_pipe[i] = -1;
	}
}

void panel_message(struct panel *p, enum tone tone, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->message, sizeof(p->message), fmt, ap);
	va_end(ap);
	format_sanitize(p->message); /* names and errors come from the network */
	p->message_tone = tone;
}

static uint64_t now_ms(void)
{
	return clock_mono_ns() / NSEC_PER_MSEC;
}

/* Says so when the fleet goes away or comes back, and when a guest the
 * panel created moves on. */
static void take_snapshot(struct panel *p, struct panel_snapshot *s)
{
	bool was = p->model.reachable, ever = p->model.ever_reached;
	char text[512];
	enum tone tone;

	if (panel_model_take(&p->model, s, now_ms()) < 0)
		panel_message(p, TONE_BAD, "out of memory");
	panel_snapshot_free(s);
	if (was && !p->model.reachable)
		panel_message(p, TONE_BAD, "Lost the fleet at %s; reconnecting every second.",
			      p->model.where);
	else if (!was && ever && p->model.reachable)
		panel_message(p, TONE_GOOD, "Connected to the fleet at %s again.", p->model.where);
	if (panel_model_progress(&p->model, text, sizeof(text), &tone))
		panel_message(p, tone, "%s", text);
	if (p->model.reachable && p->model.error[0])
		panel_message(p, TONE_BAD, "%s", p->model.error);
}

static void take_from_fleet(struct panel *p)
{
	struct panel_snapshot s;
	struct panel_result r;

	panel_conn_drain(p->conn);
	while (panel_conn_result(p->conn, &r))
		panel_on_result(p, &r);
	if (panel_conn_snapshot(p->conn, &s))
		take_snapshot(p, &s);
}

static void read_keys(struct panel *p)
{
	struct panel_input in;
	wint_t wch;
	int ret;

	/* Bounded, so that a flood of input cannot starve the screen. */
	for (int n = 0; n < KEYS_PER_TURN && !p->quit && (ret = get_wch(&wch)) != ERR; n++) {
		in = panel_input_from_curses(ret, (uint32_t)wch);
		if (in.key != PK_NONE)
			panel_on_key(p, &in);
	}
}

static void drain_signals(void)
{
	char buf[16];

	while (read(sig_pipe[0], buf, sizeof(buf)) > 0)
		;
}

static void loop(struct panel *p)
{
	struct pollfd fds[] = {
		{ .fd = STDIN_FILENO, .events = POLLIN },
		{ .fd = panel_conn_fd(p->conn), .events = POLLIN },
		{ .fd = sig_pipe[0], .events = POLLIN },
	};

	while (!p->quit && !got_quit) {
		if (got_winch) {
			got_winch = 0;
			panel_view_resize();
		}
		take_from_fleet(p);
		read_keys(p);
		if (p->quit)
			break;
		panel_form_tick(p, now_ms());
		panel_view_draw(p);
		for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
			fds[i].revents = 0;
		if (poll(fds, ARRAY_SIZE(fds), WAKE_MS) > 0 && (fds[2].revents & POLLIN))
			drain_signals();
		if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			p->quit = true; /* the terminal went away */
	}
}

static int parse_args(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h')
			return cmd_help(&cmd_panel), -1;
		return cmd_bad_option(&cmd_panel, c, argv);
	}
	if (optind < argc)
		return cmd_usage_error(&cmd_panel, "unexpected argument '%s'", argv[optind]);
	return 0;
}

static int panel_main(const struct cli *cli, int argc, char *argv[])
{
	struct panel p = { .mode = MODE_MAIN };
	int ret = parse_args(argc, argv);

	if (ret)
		return ret < 0 ? EXIT_OK : ret;
	setlocale(LC_CTYPE, "");
	panel_model_init(&p.model);
	ret = catch_signals();
	if (!ret)
		ret = panel_conn_start(&p.conn, cli, PANEL_REFRESH_MS);
	if (!ret)
		ret = panel_view_open(&p);
	if (!ret) {
		loop(&p);
		panel_view_close();
	}
	panel_conn_stop(p.conn);
	release_signals();
	form_free(&p.form);
	panel_model_free(&p.model);
	if (ret == -ENOTTY)
		return cmd_fail("the panel needs a terminal (stdin and stdout)");
	if (ret == -ENOENT)
		return cmd_fail("curses does not know the terminal type '%s'",
				getenv("TERM") ? getenv("TERM") : "");
	if (ret)
		return cmd_fail("cannot start the panel: %s", strerror(-ret));
	return EXIT_OK;
}

const struct cmd cmd_panel = {
	.name = "panel",
	.fn = panel_main,
	.usage = "panel",
	.description = "Watch the fleet full screen; create a VM with F2, confirm it with F9",
	.help =
	"The admin panel, also installed as " PANEL_ALIAS ". It refreshes from the\n"
	"fleet every second and reconnects by itself when the fleet goes away.\n\n"
	"  Up/Down, k/j   move          Enter  details         F1, ?  help\n"
	"  F2             new VM form   F5     refresh now     F9     confirm the plan\n"
	"  Esc            cancel/close  F10, q quit\n\n"
	"NO_COLOR (set and not empty) turns colours off.\n",
};
