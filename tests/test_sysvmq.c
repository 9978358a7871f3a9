/*
 * test_sysvmq.c - sysvmq:// against real System V queues, across processes,
 * and with util-linux ipcmk/ipcs.
 */
#include "testutil.h"

#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/msg.h>

/* sysv_url makes a URL for a key unique to this test process; removed at the end. */
static const char *sysv_url(char *buf, size_t size, const char *opts)
{
	test_sysv_url(buf, size, "sysvmq", 0x5e000000u, opts);
	return buf;
}

/* A child sends three types; the parent selects them the three msgrcv ways. */
static void test_typed_selectors(void)
{
	char url[96];
	sysv_url(url, sizeof(url), "");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *tx = open_ok(url, IPCX_SEND);
		CHECK_RC(ipcx_send(tx, "three", 5, 3, 1000), 0);
		CHECK_RC(ipcx_send(tx, "one", 3, 1, 1000), 0);
		CHECK_RC(ipcx_send(tx, "two", 3, 2, 1000), 0);
		CHECK_RC(ipcx_send(tx, "ten", 3, 10, 1000), 0);
		ipcx_close(tx);
		_exit(0);
	}
	wait_child_ok(pid);
	expect_msg(rx, 2, "two", 2);    /* > 0: the oldest of that type */
	expect_msg(rx, -5, "one", 1);   /* < 0: the lowest type <= 5 */
	expect_msg(rx, 0, "three", 3);  /* 0: the oldest */
	expect_msg(rx, 0, "ten", 10);
	ipcx_close(rx);
}

/* Seed 001: receiving with IPC_NOWAIT on an empty queue is ENOMSG. */
static void test_nowait_enomsg(void)
{
	char url[96];
	ipcx_chan *ch = open_ok(sysv_url(url, sizeof(url), ""), IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	char buf[16];
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 123, NULL, 0), -ENOMSG);
	CHECK(strstr(ipcx_errmsg(), "no message of desired type") != NULL);
	CHECK_RC(ipcx_send(ch, "x", 1, 7, 0), 0);
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 123, NULL, 0), -ENOMSG); /* wrong type */
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 7, NULL, 0), 1);
	ipcx_close(ch);
}

static void test_timeout_expires(void)
{
	char url[96];
	ipcx_chan *ch = open_ok(sysv_url(url, sizeof(url), ""), IPCX_RECV | IPCX_CREATE);
	char buf[16];
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 30), -ETIMEDOUT);
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 4, NULL, 1), -ETIMEDOUT);
	ipcx_close(ch);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/*
 * A timed receive keeps waiting through signals (the program's handler has
 * no SA_RESTART) and takes the message the child sends after them.
 */
static void test_eintr_resumed(void)
{
	char url[96];
	sysv_url(url, sizeof(url), "");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = {0, 5 * 1000 * 1000};
		for (int i = 0; i < 10; i++) {
			kill(parent, SIGUSR1);
			nanosleep(&ts, NULL);
		}
		ipcx_chan *tx = open_ok(url, IPCX_SEND);
		CHECK_RC(ipcx_send(tx, "after signals", 13, 9, 1000), 0);
		ipcx_close(tx);
		_exit(0);
	}
	expect_msg(rx, 9, "after signals", 9);
	wait_child_ok(pid);
	ipcx_close(rx);
}

/* A blocked sender (cap= makes the queue tiny) is released by a receiver. */
static void test_full_queue(void)
{
	char url[96];
	ipcx_chan *ch = open_ok(sysv_url(url, sizeof(url), "?cap=16"),
				IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(ch, &caps), 0);
	CHECK(caps.capacity == 16 && caps.max_msg == 16);
	CHECK_RC(ipcx_send(ch, "0123456789abcdef", 16, 1, 0), 0);
	CHECK_RC(ipcx_send(ch, "x", 1, 1, 0), -EAGAIN);
	CHECK_RC(ipcx_send(ch, "x", 1, 1, 20), -ETIMEDOUT);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		char buf[32];
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
		CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), 0, NULL, 1000), 16);
		ipcx_close(rx);
		_exit(0);
	}
	CHECK_RC(ipcx_send(ch, "late", 4, 2, 5000), 0);
	wait_child_ok(pid);
	expect_msg(ch, 0, "late", 2);
	ipcx_close(ch);
}

static void test_sizes(void)
{
	char url[96];
	ipcx_chan *ch = open_ok(sysv_url(url, sizeof(url), ""), IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(ch, &caps), 0);
	FILE *f = fopen("/proc/sys/kernel/msgmax", "r");
	size_t msgmax = 0;
	CHECK(f && fscanf(f, "%zu", &msgmax) == 1);
	fclose(f);
	CHECK(caps.max_msg == msgmax);
	char *big = calloc(1, msgmax + 1);
	CHECK(big);
	CHECK_RC(ipcx_send(ch, big, msgmax + 1, 1, 0), -EMSGSIZE);
	CHECK(strstr(ipcx_errmsg(), "kernel.msgmax") != NULL);
	memset(big, 'z', msgmax);
	CHECK_RC(ipcx_send(ch, big, msgmax, 1, 0), 0);
	CHECK_RC(ipcx_send(ch, "", 0, 5, 0), 0);
	/* Too small a buffer keeps the message for the next, larger one. */
	char small[8];
	CHECK_RC(ipcx_recv(ch, small, sizeof(small), 0, NULL, 0), -EMSGSIZE);
	char *back = malloc(msgmax);
	CHECK(back);
	CHECK_RC(ipcx_recv(ch, back, msgmax, 0, NULL, 0), (long)msgmax);
	CHECK(memcmp(back, big, msgmax) == 0);
	long type = 0;
	CHECK_RC(ipcx_recv(ch, small, 0, 0, &type, 0), 0);
	CHECK(type == 5);
	free(big);
	free(back);
	ipcx_close(ch);
}

/* The queue removed under a waiting receiver ends the wait with -EPIPE. */
static void test_removed_while_waiting(void)
{
	char url[96];
	sysv_url(url, sizeof(url), "");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
		CHECK_RC(ipcx_unlink(url), 0);
		_exit(0);
	}
	char buf[8];
	CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), 0, NULL, -1), -EPIPE);
	wait_child_ok(pid);
	ipcx_close(rx);
}

static void test_open_flags(void)
{
	char url[96];
	ipcx_chan *ch = NULL;
	sysv_url(url, sizeof(url), "");
	CHECK_RC(ipcx_open(&ch, url, IPCX_RECV, 0), -ENOENT);
	ch = open_ok(url, IPCX_RECV | IPCX_CREATE | IPCX_EXCL);
	ipcx_chan *again = NULL;
	CHECK_RC(ipcx_open(&again, url, IPCX_RECV | IPCX_CREATE | IPCX_EXCL, 0), -EEXIST);
	ipcx_close(ch);
	CHECK_RC(ipcx_open(&ch, "sysvmq://0", IPCX_RECV | IPCX_CREATE, 0), -EINVAL);
	CHECK_RC(ipcx_open(&ch, "sysvmq://0x12zz", IPCX_RECV, 0), -EINVAL);
	CHECK_RC(ipcx_open(&ch, "sysvmq://12?bogus=1", IPCX_RECV, 0), -EINVAL);
	CHECK_RC(ipcx_open(&ch, "sysvmq://12?proj=1", IPCX_RECV, 0), -EINVAL);
	CHECK_RC(ipcx_open(&ch, "sysvmq://id=2147483000", IPCX_RECV, 0), -ENOENT);
}

/* An ftok path and project id name the same queue as ftok(3)'s key. */
static void test_ftok_address(void)
{
	char path[96], url[160];
	test_unique(path, sizeof(path), "/tmp/ipcx-ftok");
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
	test_cleanup_path(path);
	snprintf(url, sizeof(url), "sysvmq://%s?proj=1024", path);
	test_cleanup_url(url);
	ipcx_chan *ch = open_ok(url, IPCX_SEND | IPCX_CREATE | IPCX_EXCL);
	CHECK_RC(ipcx_send(ch, "hello helios", 12, 123, 0), 0);
	int id = msgget(ftok(path, 1024), 0);
	CHECK(id >= 0);
	struct msqid_ds ds;
	CHECK(msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qnum == 1);
	ipcx_close(ch);
}

/* A queue made by util-linux ipcmk, used through sysvmq://id=N. */
static void test_ipcmk_queue(void)
{
	char out[256], url[64];
	int id;
	if (run_capture("ipcmk -Q 2>/dev/null", out, sizeof(out)) != 0)
		SKIP("ipcmk (util-linux) is not available");
	CHECK(sscanf(out, "Message queue id: %d", &id) == 1);
	snprintf(url, sizeof(url), "sysvmq://id=%d", id);
	test_cleanup_url(url);
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	ipcx_chan *rx = open_ok(url, IPCX_RECV);
	CHECK_RC(ipcx_send(tx, "hello helios", 12, 123, 0), 0);
	expect_msg(rx, 123, "hello helios", 123);
	char buf[16];
	CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), 123, NULL, 0), -ENOMSG);
	ipcx_close(tx);
	ipcx_close(rx);
	CHECK_RC(ipcx_unlink(url), 0);
	CHECK(msgctl(id, IPC_STAT, &(struct msqid_ds){0}) < 0);
}

/* ipcs lists what ipcx creates, mode 600 by default and ?mode= otherwise. */
static void test_ipcs_mode(void)
{
	char url[96], cmd[160], out[512];
	const char *modes[][2] = {{"", "600"}, {"?mode=0640", "640"}};
	for (int i = 0; i < 2; i++) {
		ipcx_chan *ch = open_ok(sysv_url(url, sizeof(url), modes[i][0]),
					IPCX_RECV | IPCX_CREATE);
		const char *key = strstr(url, "0x");
		snprintf(cmd, sizeof(cmd), "ipcs -q 2>/dev/null | grep -i '^%.10s '", key);
		if (run_capture(cmd, out, sizeof(out)) == 127)
			SKIP("ipcs (util-linux) is not available");
		char k[32], owner[64], perms[16];
		int id;
		CHECK(sscanf(out, "%31s %d %63s %15s", k, &id, owner, perms) == 4);
		CHECK(strcmp(perms, modes[i][1]) == 0);
		ipcx_close(ch);
	}
}

static const struct test_case tests[] = {
	{"typed_selectors", test_typed_selectors},
	{"nowait_enomsg", test_nowait_enomsg},
	{"timeout_expires", test_timeout_expires},
	{"eintr_resumed", test_eintr_resumed},
	{"full_queue", test_full_queue},
	{"sizes", test_sizes},
	{"removed_while_waiting", test_removed_while_waiting},
	{"open_flags", test_open_flags},
	{"ftok_address", test_ftok_address},
	{"ipcmk_queue", test_ipcmk_queue},
	{"ipcs_mode", test_ipcs_mode},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
