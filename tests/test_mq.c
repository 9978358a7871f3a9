/*
 * test_mq.c - mq:/// against real POSIX message queues, across processes.
 */
#include "testutil.h"

#include <mqueue.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>

/* mq_url makes a queue name unique to this test; removed at the end. */
static const char *mq_url(char *buf, size_t size, const char *opts)
{
	char name[64], plain[96];
	test_unique(name, sizeof(name), "ipcx-test-mq");
	snprintf(plain, sizeof(plain), "mq:///%s", name);
	return test_url_opts(buf, size, plain, opts);
}

/* Higher types overtake; equal types keep their order (type = priority + 1). */
static void test_priority_order(void)
{
	char url[128];
	mq_url(url, sizeof(url), "");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *tx = open_ok(url, IPCX_SEND);
		CHECK_RC(ipcx_send(tx, "low-a", 5, 1, 1000), 0);
		CHECK_RC(ipcx_send(tx, "high", 4, 9, 1000), 0);
		CHECK_RC(ipcx_send(tx, "low-b", 5, 1, 1000), 0);
		CHECK_RC(ipcx_send(tx, "mid", 3, 5, 1000), 0);
		ipcx_close(tx);
		_exit(0);
	}
	wait_child_ok(pid);
	expect_msg(rx, 0, "high", 9);
	expect_msg(rx, 0, "mid", 5);
	expect_msg(rx, 0, "low-a", 1);
	expect_msg(rx, 0, "low-b", 1);
	char buf[16];
	CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), 3, NULL, 0), -ENOTSUP);
	ipcx_close(rx);
}

static void test_timeouts(void)
{
	char url[128];
	ipcx_chan *ch = open_ok(mq_url(url, sizeof(url), "?maxmsg=64&cap=128"),
				IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	char buf[64];
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0), -ENOMSG);
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 20), -ETIMEDOUT);
	CHECK_RC(ipcx_send(ch, "a", 1, 1, 0), 0);
	CHECK_RC(ipcx_send(ch, "b", 1, 1, 0), 0);
	CHECK_RC(ipcx_send(ch, "c", 1, 1, 0), -EAGAIN);
	CHECK_RC(ipcx_send(ch, "c", 1, 1, 20), -ETIMEDOUT);
	ipcx_close(ch);
}

/* A receiver blocked without a timeout wakes for a message from another process. */
static void test_blocking_wakeup(void)
{
	char url[128];
	mq_url(url, sizeof(url), "");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
		ipcx_chan *tx = open_ok(url, IPCX_SEND);
		CHECK_RC(ipcx_send(tx, "wake", 4, 2, 1000), 0);
		ipcx_close(tx);
		_exit(0);
	}
	char buf[8192];
	long type;
	CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), 0, &type, -1), 4);
	CHECK(memcmp(buf, "wake", 4) == 0 && type == 2);
	wait_child_ok(pid);
	ipcx_close(rx);
}

static void test_limits_reported(void)
{
	char url[128];
	ipcx_chan *ch = open_ok(mq_url(url, sizeof(url), "?maxmsg=100&cap=1000"),
				IPCX_SEND | IPCX_CREATE);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(ch, &caps), 0);
	CHECK(caps.max_msg == 100 && caps.capacity == 1000);
	CHECK(caps.flags & IPCX_CAP_PRIORITY);
	char big[101] = {0};
	CHECK_RC(ipcx_send(ch, big, sizeof(big), 1, 0), -EMSGSIZE);
	CHECK(strstr(ipcx_errmsg(), "mq_msgsize") != NULL);
	CHECK_RC(ipcx_send(ch, big, 1, 32769, 0), -EINVAL);
	CHECK_RC(ipcx_send(ch, big, 1, 32768, 0), 0);
	ipcx_close(ch);
	/* Far above every limit, even a privileged one: the error names it. */
	ipcx_chan *none = NULL;
	CHECK_RC(ipcx_open(&none, mq_url(url, sizeof(url), "?maxmsg=1G"), IPCX_SEND | IPCX_CREATE, 0),
		 -EMSGSIZE);
	CHECK(strstr(ipcx_errmsg(), "msgsize_max") != NULL);
}

/* A buffer smaller than mq_msgsize works; a too-small one keeps the message. */
static void test_small_buffers(void)
{
	char url[128];
	ipcx_chan *ch = open_ok(mq_url(url, sizeof(url), "?maxmsg=256"),
				IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	CHECK_RC(ipcx_send(ch, "0123456789", 10, 3, 0), 0);
	CHECK_RC(ipcx_send(ch, "xy", 2, 1, 0), 0);
	char buf[16];
	long type = 0;
	CHECK_RC(ipcx_recv(ch, buf, 4, 0, &type, 0), -EMSGSIZE);
	CHECK_RC(ipcx_recv(ch, buf, 4, 0, &type, 0), -EMSGSIZE);
	CHECK_RC(ipcx_recv(ch, buf, 10, 0, &type, 0), 10);
	CHECK(memcmp(buf, "0123456789", 10) == 0 && type == 3);
	CHECK_RC(ipcx_recv(ch, buf, 2, 0, &type, 0), 2);
	CHECK(memcmp(buf, "xy", 2) == 0 && type == 1);
	ipcx_close(ch);
}

static void test_pollable_fd(void)
{
	char url[128];
	ipcx_chan *ch = open_ok(mq_url(url, sizeof(url), ""), IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	int fd = ipcx_fd(ch);
	CHECK(fd >= 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	CHECK(poll(&p, 1, 0) == 0);
	CHECK_RC(ipcx_send(ch, "m", 1, 1, 0), 0);
	CHECK(poll(&p, 1, 1000) == 1 && (p.revents & POLLIN));
	ipcx_close(ch);
}

/* Mode 0600 unless ?mode=; IPCX_EXCL; a missing queue is -ENOENT. */
static void test_objects(void)
{
	char url[128], path[160];
	ipcx_chan *ch = NULL;
	mq_url(url, sizeof(url), "");
	CHECK_RC(ipcx_open(&ch, url, IPCX_RECV, 0), -ENOENT);
	ch = open_ok(url, IPCX_RECV | IPCX_CREATE | IPCX_EXCL);
	ipcx_chan *again = NULL;
	CHECK_RC(ipcx_open(&again, url, IPCX_RECV | IPCX_CREATE | IPCX_EXCL, 0), -EEXIST);
	ipcx_close(ch);
	CHECK_RC(ipcx_open(&ch, "mq://noslash", IPCX_RECV, 0), -EINVAL);
	CHECK_RC(ipcx_open(&ch, "mq:///a/b", IPCX_RECV, 0), -EINVAL);
	if (access("/dev/mqueue", F_OK) != 0 && getuid() == 0) {
		mkdir("/dev/mqueue", 0755);
		mount("none", "/dev/mqueue", "mqueue", 0, NULL);
	}
	struct stat st;
	snprintf(path, sizeof(path), "/dev/mqueue/%s", url + strlen("mq:///"));
	if (stat("/dev/mqueue", &st) != 0 || stat(path, &st) != 0)
		SKIP("/dev/mqueue is not mounted, so the mode cannot be seen");
	CHECK((st.st_mode & 0777) == 0600);
	ch = open_ok(mq_url(url, sizeof(url), "?mode=0640"), IPCX_RECV | IPCX_CREATE);
	snprintf(path, sizeof(path), "/dev/mqueue/%s", url + strlen("mq:///"));
	*strchr(path, '?') = '\0';
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	ipcx_close(ch);
}

static const struct test_case tests[] = {
	{"priority_order", test_priority_order},
	{"timeouts", test_timeouts},
	{"blocking_wakeup", test_blocking_wakeup},
	{"limits_reported", test_limits_reported},
	{"small_buffers", test_small_buffers},
	{"pollable_fd", test_pollable_fd},
	{"objects", test_objects},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
