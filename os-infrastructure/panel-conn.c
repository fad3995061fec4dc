/* The fleet is asked from a thread of its own so that a slow or vanished
 * fleet never freezes the keyboard: the screen thread only hands requests
 * over and picks replies up, under one lock. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "os-infrastructure/client.h"
#include "lib/clock.h"
#include "os-infrastructure/panel.h"

#define STOP_WAIT_MS 500

struct job {
	json_t *request;
	uint64_t tag;
};

struct panel_conn {
	struct cli cli;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pipe[2];
	unsigned interval_ms;

	/* under lock */
	bool stop, refresh;
	int busy_fd;                    /* shut down to cut a call short */
	struct job jobs[JOB__COUNT];
	struct panel_result results[JOB__COUNT];
	bool ready[JOB__COUNT];
	struct panel_snapshot snap;
	bool snap_ready;

	/* the thread's own */
	struct client client;
	bool connected, no_vmlist;
	char vmlist_error[256];
	unsigned attempts;
};

static uint64_t now_ms(void)
{
	return clock_mono_ns() / NSEC_PER_MSEC;
}

static void notify(struct panel_conn *c)
{
	ssize_t n = write(c->pipe[1], "", 1);

	(void)n; /* a full pipe already says "look" */
}

void panel_snapshot_free(struct panel_snapshot *s)
{
	json_decref(s->status);
	json_decref(s->vmlist);
	json_decref(s->events);
	memset(s, 0, sizeof(*s));
}

static void disconnect(struct panel_conn *c)
{
	if (!c->connected)
		return;
	pthread_mutex_lock(&c->lock);
	c->busy_fd = -1;
	pthread_mutex_unlock(&c->lock);
	client_close(&c->client);
	c->connected = false;
}

static int connect_fleet(struct panel_conn *c, char *err, size_t len)
{
	int ret = client_open(&c->client, &c->cli, err, len);

	if (ret)
		return ret;
	pthread_mutex_lock(&c->lock);
	c->busy_fd = c->client.fd;
	pthread_mutex_unlock(&c->lock);
	c->connected = true;
	c->no_vmlist = false;
	return 0;
}

/* One request; a connection that breaks is reopened once, so that a fleet
 * restarted since the last call costs no failed round. */
static int call(struct panel_conn *c, const json_t *req, json_t **reply, char *err, size_t len)
{
	bool fresh = !c->connected;
	int ret;

	*reply = NULL;
	if (!req) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		if (!c->connected && (ret = connect_fleet(c, err, len)))
			return ret;
		ret = client_call(&c->client, req, reply, err, len);
		if (!ret || ret == -EREMOTEIO)
			return ret;
		disconnect(c);
		if (fresh)
			return ret;
		fresh = true;
	}
}

static void fetch_guests(struct panel_conn *c, struct panel_snapshot *s)
{
	json_t *req;
	int ret;

	if (c->no_vmlist) {
		snprintf(s->vmlist_error, sizeof(s->vmlist_error), "%s", c->vmlist_error);
		return;
	}
	req = json_pack("{s:s}", "op", "vm-list");
	ret = call(c, req, &s->vmlist, s->vmlist_error, sizeof(s->vmlist_error));
	json_decref(req);
	if (ret == -EREMOTEIO && panel_unknown_op(s->vmlist_error)) {
		c->no_vmlist = true;
		snprintf(c->vmlist_error, sizeof(c->vmlist_error), "%s", s->vmlist_error);
	}
}

static void fetch(struct panel_conn *c, struct panel_snapshot *s)
{
	char err[256];
	json_t *req = json_pack("{s:s}", "op", "status");
	int ret;

	snprintf(s->where, sizeof(s->where), "%s", c->cli.fleet ? c->cli.fleet : c->cli.socket);
	ret = call(c, req, &s->status, s->error, sizeof(s->error));
	json_decref(req);
	s->reachable = !ret || ret == -EREMOTEIO;
	if (!s->reachable) {
		s->attempts = ++c->attempts;
		return;
	}
	c->attempts = 0;
	if (ret)
		snprintf(s->status_error, sizeof(s->status_error), "status: %.480s", s->error);
	s->error[0] = '\0';
	fetch_guests(c, s);
	req = json_pack("{s:s, s:i}", "op", "events", "limit", PANEL_EVENTS);
	call(c, req, &s->events, err, sizeof(err));
	json_decref(req);
}

/* Called and returns with the lock held. */
static void run_refresh(struct panel_conn *c)
{
	struct panel_snapshot s = { 0 };

	c->refresh = false;
	pthread_mutex_unlock(&c->lock);
	fetch(c, &s);
	pthread_mutex_lock(&c->lock);
	panel_snapshot_free(&c->snap);
	c->snap = s;
	c->snap_ready = true;
	notify(c);
}

static void run_job(struct panel_conn *c, enum panel_job j)
{
	struct job job = c->jobs[j];
	struct panel_result r = { .job = j, .tag = job.tag };

	c->jobs[j].request = NULL;
	pthread_mutex_unlock(&c->lock);
	r.ret = call(c, job.request, &r.reply, r.error, sizeof(r.error));
	json_decref(job.request);
	pthread_mutex_lock(&c->lock);
	json_decref(c->results[j].reply);
	c->results[j] = r;
	c->ready[j] = true;
	if (j == JOB_CONFIRM)
		c->refresh = true; /* show the new guest now, not in a second */
	notify(c);
}

static int pending_job(const struct panel_conn *c)
{
	for (int j = 0; j < JOB__COUNT; j++)
		if (c->jobs[j].request)
			return j;
	return -1;
}

static void wait_until(struct panel_conn *c, uint64_t deadline_ms)
{
	uint64_t now = now_ms(), left = deadline_ms > now ? deadline_ms - now : 0;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(left / 1000);
	ts.tv_nsec += (long)(left % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&c->cond, &c->lock, &ts);
}

static void *worker(void *arg)
{
	struct panel_conn *c = arg;
	uint64_t next = 0;
	int j;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		j = pending_job(c);
		if (j >= 0) {
			run_job(c, (enum panel_job)j);
		} else if (c->refresh || now_ms() >= next) {
			run_refresh(c);
			next = now_ms() + c->interval_ms;
		} else {
			wait_until(c, next);
		}
	}
	pthread_mutex_unlock(&c->lock);
	disconnect(c);
	return NULL;
}

static void conn_free(struct panel_conn *c)
{
	for (int j = 0; j < JOB__COUNT; j++) {
		json_decref(c->jobs[j].request);
		json_decref(c->results[j].reply);
	}
	panel_snapshot_free(&c->snap);
	close(c->pipe[0]);
	close(c->pipe[1]);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int init_sync(struct panel_conn *c)
{
	pthread_condattr_t attr;
	int ret;

	ret = pthread_condattr_init(&attr);
	if (!ret)
		ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!ret)
		ret = pthread_cond_init(&c->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (ret)
		return -ret;
	ret = pthread_mutex_init(&c->lock, NULL);
	if (ret) {
		pthread_cond_destroy(&c->cond);
		return -ret;
	}
	return 0;
}

int panel_conn_start(struct panel_conn **out, const struct cli *cli, unsigned interval_ms)
{
	struct panel_conn *c = calloc(1, sizeof(*c));
	sigset_t all, old;
	int ret;

	if (!c)
		return -ENOMEM;
	c->cli = *cli;
	c->interval_ms = interval_ms;
	c->busy_fd = -1;
	c->client.fd = -1;
	if (pipe2(c->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		ret = -errno;
		free(c);
		return ret;
	}
	ret = init_sync(c);
	if (ret) {
		close(c->pipe[0]);
		close(c->pipe[1]);
		free(c);
		return ret;
	}
	/* Signals (resize, quit) belong to the screen thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&c->thread, NULL, worker, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		conn_free(c);
		return ret;
	}
	*out = c;
	return 0;
}

void panel_conn_stop(struct panel_conn *c)
{
	struct timespec ts;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	if (c->busy_fd >= 0)
		shutdown(c->busy_fd, SHUT_RDWR);
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	/* A connect to a silent address cannot be cut short; the process is
	 * leaving, so it is left behind rather than waited for. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += STOP_WAIT_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	if (pthread_timedjoin_np(c->thread, NULL, &ts) == 0)
		conn_free(c);
}

int panel_conn_fd(const struct panel_conn *c)
{
	return c->pipe[0];
}

void panel_conn_drain(struct panel_conn *c)
{
	char buf[64];

	while (read(c->pipe[0], buf, sizeof(buf)) > 0)
		;
}

void panel_conn_refresh(struct panel_conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->refresh = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void panel_conn_submit(struct panel_conn *c, enum panel_job job, json_t *request, uint64_t tag)
{
	pthread_mutex_lock(&c->lock);
	json_decref(c->jobs[job].request);
	c->jobs[job].request = request;
	c->jobs[job].tag = tag;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

bool panel_conn_snapshot(struct panel_conn *c, struct panel_snapshot *out)
{
	bool ready;

	pthread_mutex_lock(&c->lock);
	ready = c->snap_ready;
	if (ready) {
		*out = c->snap;
		memset(&c->snap, 0, sizeof(c->snap));
		c->snap_ready = false;
	}
	pthread_mutex_unlock(&c->lock);
	return ready;
}

bool panel_conn_result(struct panel_conn *c, struct panel_result *out)
{
	bool found = false;

	pthread_mutex_lock(&c->lock);
	for (int j = 0; j < JOB__COUNT && !found; j++) {
		if (!c->ready[j])
			continue;
		*out = c->results[j];
		memset(&c->results[j], 0, sizeof(c->results[j]));
		c->ready[j] = false;
		found = true;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}
