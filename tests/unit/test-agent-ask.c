/* The unprivileged agent's ask of its helper for the guest agents'
 * addresses (service-vm-host/agent-ask.c) against a fake helper on a
 * SOCK_SEQPACKET socket: the exact request, when it asks, what it keeps,
 * and the merge into the addresses reply. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "service-vm-host/agent-ask.h"
#include "service-vm-host/helper-req.h"

static char dir[64], path[128];
static int listener = -1;

static int setup(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test-agent-ask.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/virt.sock", dir);
	strcpy(sa.sun_path, path);
	listener = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listener, 4) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(listener);
	unlink(path);
	rmdir(dir);
	return 0;
}

/* A helper answering one connection with reply (NULL: hang up at once);
 * exits 0 only if the request was exactly the agent-addresses record. */
static pid_t fake_helper(const char *reply)
{
	pid_t pid = fork();
	uint8_t buf[sizeof(struct helper_req) + 8];
	const struct guest_op_def *op;
	struct helper_req r;
	ssize_t n;
	int c;

	if (pid)
		return pid;
	c = accept(listener, NULL, NULL);
	n = c < 0 ? -1 : recv(c, buf, sizeof(buf), MSG_TRUNC);
	if (n < 0 || helper_req_check(buf, (size_t)n, &r, &op) || op->op != GOP_AGENT_ADDRESSES)
		_exit(1);
	if (reply)
		send(c, reply, strlen(reply), 0);
	_exit(0);
}

static void run_ask(struct agent_ask *k, const struct probe_result *last, const char *reply)
{
	pid_t pid = fake_helper(reply);
	int st;

	agent_ask_maybe(k, last);
	assert_true(k->busy);
	while (k->busy)
		uv_run(k->loop, UV_RUN_ONCE);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void last_probe(struct probe_result *last, unsigned channels)
{
	memset(last, 0, sizeof(*last));
	last->ok = true;
	last->running = 2;
	last->agent_channels = channels;
	last->nvms = 2;
	strcpy(last->vms[0].name, "web1");
	strcpy(last->vms[0].state, "running");
	strcpy(last->vms[1].name, "db1");
	strcpy(last->vms[1].state, "stopped");
}

static void asks_and_merges(void **state)
{
	static struct agent_ask k;
	static struct probe_result last;
	static struct probe_agent out[PROBE_AGENT_MAX];
	uv_loop_t loop;

	(void)state;
	uv_loop_init(&loop);
	assert_int_equal(agent_ask_init(&k, &loop), 0);
	agent_ask_set_socket(&k, path);
	k.root = false; /* as the packaged agent, user osi */
	last_probe(&last, 1);
	run_ask(&k, &last, "{\"state\":\"agent\",\"ga\":\" ga=web1:eth0:10.78.1.2 "
			   "ga=web1:eth0:fe80::1 ga=db1:eth0:10.78.1.3\"}\n");
	assert_true(k.have);
	/* db1 is stopped in the last probe: left out */
	assert_int_equal(agent_ask_merge(&k, &last, out), 2);
	assert_string_equal(out[0].name, "web1");
	assert_string_equal(out[1].a.addr, "fe80::1");
	/* a guest the probe reported itself keeps the probe's word */
	last.nagent = 1;
	strcpy(last.agent[0].name, "web1");
	strcpy(last.agent[0].a.ifname, "eth1");
	strcpy(last.agent[0].a.addr, "10.0.0.9");
	assert_int_equal(agent_ask_merge(&k, &last, out), 1);
	assert_string_equal(out[0].a.ifname, "eth1");
	last.nagent = 0;
	/* within the period: not asked again */
	agent_ask_maybe(&k, &last);
	assert_false(k.busy);
	/* no connected channel: nothing asked, the answer forgotten */
	last_probe(&last, 0);
	agent_ask_maybe(&k, &last);
	assert_false(k.busy);
	assert_int_equal(agent_ask_merge(&k, &last, out), 0);
	/* a malformed answer, a failure, a hang-up: none kept, logged once */
	last_probe(&last, 1);
	k.started_once = false; /* as if the period had passed */
	run_ask(&k, &last, "{\"state\":\"agent\",\"ga\":\" ga=web1:eth0:10.78.1.02\"}\n");
	assert_false(k.have);
	assert_true(k.failing);
	assert_int_equal(agent_ask_merge(&k, &last, out), 0);
	k.started_once = false; /* as if the period had passed */
	run_ask(&k, &last, "{\"state\":\"failed\",\"detail\":\"no libvirt\"}\n");
	assert_false(k.have);
	k.started_once = false; /* as if the period had passed */
	run_ask(&k, &last, NULL);
	assert_false(k.have);
	k.started_once = false; /* as if the period had passed */
	run_ask(&k, &last, "{\"state\":\"agent\",\"ga\":\"\"}\n");
	assert_true(k.have);
	assert_false(k.failing);
	assert_int_equal(agent_ask_merge(&k, &last, out), 0);
	/* as root the probe asks libvirt itself: the helper is never asked */
	k.root = true;
	k.started_once = false; /* as if the period had passed */
	agent_ask_maybe(&k, &last);
	assert_false(k.busy);
	agent_ask_close(&k);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(asks_and_merges),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
