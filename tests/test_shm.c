/*
 * test_shm.c - the shm:// engine through the public API: two processes
 * over one queue, timeouts, typed receive, sizes, options, loans, a
 * corrupt or hostile segment, and peers that die holding work.
 */
#include "harness.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/membarrier.h>
#include <sys/epoll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "../src/shm/layout.h" /* to leave a dead peer's state in a segment */

/* A fresh queue URL ("shm://NAME?opts"), removed when the test ends. */
static const char *new_queue(char *url, size_t size, const char *opts)
{
	char name[96];
	test_unique(name, sizeof(name), "shmt");
	snprintf(url, size, "shm://%s%s%s", name, opts && *opts ? "?" : "", opts ? opts : "");
	char plain[160];
	snprintf(plain, sizeof(plain), "shm://%s", name);
	test_cleanup_url(plain);
	return url;
}

/* A channel a child process leaves open as it dies: still reachable, not a leak to valgrind. */
static ipcx_chan *left_open;

static ipcx_chan *open_ok(const char *url, int flags)
{
	ipcx_chan *ch = NULL;
	CHECK_RC(ipcx_open(&ch, url, flags, 1000), 0);
	return ch;
}

/*
 * A receiver in a child process that opened url (with a pollable
 * descriptor when asked) and stops there until it is killed: its pid.
 */
static pid_t stopped_receiver(const char *url, bool with_fd)
{
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		left_open = open_ok(url, IPCX_RECV);
		CHECK(!with_fd || ipcx_fd(left_open) >= 0);
		CHECK(write(ready[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	char c;
	CHECK(pid > 0 && read(ready[0], &c, 1) == 1);
	close(ready[0]);
	close(ready[1]);
	return pid;
}

/* Message i: length and bytes that say which message it is. */
static size_t fill(unsigned char *buf, unsigned i, size_t max)
{
	size_t len = (i * 37u) % (max + 1);
	for (size_t k = 0; k < len; k++)
		buf[k] = (unsigned char)(i * 131u + k * 7u);
	return len;
}

static int wait_child(pid_t pid)
{
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A child process sends n messages; the parent receives and compares every byte. */
static void two_process_stream(const char *opts, unsigned n, size_t max)
{
	char url[256];
	new_queue(url, sizeof(url), opts);
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_close(rx); /* the parent's; its mapping would be read by valgrind's leak check */
		ipcx_chan *tx = open_ok(url, IPCX_SEND);
		unsigned char buf[4096];
		for (unsigned i = 0; i < n; i++) {
			size_t len = fill(buf, i, max);
			CHECK_RC(ipcx_send(tx, buf, len, 1 + i % 9, -1), 0);
		}
		ipcx_close(tx);
		_exit(0);
	}
	unsigned char want[4096], got[4096];
	for (unsigned i = 0; i < n; i++) {
		long type = 0;
		size_t len = fill(want, i, max);
		CHECK_RC(ipcx_recv(rx, got, sizeof(got), 0, &type, 5000), len);
		CHECK(type == 1 + (long)(i % 9));
		CHECK(memcmp(want, got, len) == 0);
	}
	CHECK_RC(ipcx_recv(rx, got, sizeof(got), 0, NULL, 0), -ENOMSG);
	CHECK(wait_child(pid) == 0);
	ipcx_close(rx);
}

static void test_stream_queue(void)
{
	two_process_stream("cap=8KiB&maxmsg=1000", 20000, 1000);
}

static void test_stream_spsc(void)
{
	two_process_stream("cap=8KiB&maxmsg=1000&pattern=spsc", 20000, 1000);
}

static void test_stream_default(void)
{
	two_process_stream("", 5000, 4096);
}

/* Unbounded queues: the ring is backed and given back chunk by chunk while both sides run. */
static void test_stream_unbounded(void)
{
	two_process_stream("cap=unbounded", 20000, 4000);
	two_process_stream("cap=unbounded&pattern=spsc", 20000, 4000);
}

static void test_bare_name(void)
{
	char name[96], url[128];
	test_unique(name, sizeof(name), "shmbare");
	snprintf(url, sizeof(url), "shm://%s", name);
	test_cleanup_url(url);
	ipcx_chan *ch = open_ok(name, IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	CHECK(strcmp(ipcx_url(ch), url) == 0);
	CHECK_RC(ipcx_send(ch, "hello helios", 12, 123, 0), 0);
	char buf[32];
	long type;
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 123, &type, 0), 12);
	CHECK(type == 123 && memcmp(buf, "hello helios", 12) == 0);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(ch, &caps), 0);
	CHECK(caps.flags & IPCX_CAP_TYPED);
	CHECK(caps.flags & IPCX_CAP_MANY_RECEIVERS);
	CHECK(caps.capacity == 1u << 20 && caps.max_msg == (1u << 20) / 4);
	ipcx_close(ch);
	CHECK_RC(ipcx_unlink(name), 0);
	CHECK_RC(ipcx_unlink(name), -ENOENT);
}

static void test_timeouts(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=1KiB&maxmsg=100");
	ipcx_chan *ch = open_ok(url, IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	char buf[100] = {0};
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0), -ENOMSG);
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 30), -ETIMEDOUT);
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 7, NULL, 30), -ETIMEDOUT);
	int sent = 0;
	while (ipcx_send(ch, buf, 100, 1, 0) == 0)
		sent++;
	CHECK(sent >= 1024 / 128 && sent <= 1024 / 128 + 1);
	CHECK_RC(ipcx_send(ch, buf, 100, 1, 0), -EAGAIN);
	CHECK_RC(ipcx_send(ch, buf, 100, 1, 30), -ETIMEDOUT);
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0), 100);
	CHECK_RC(ipcx_send(ch, buf, 100, 1, 0), 0);
	ipcx_close(ch);
}

/*
 * Receivers give freed room to senders in batches. A sender must still
 * get the room of one message taken from a full queue by a receiver that
 * then stays idle: at once with timeout 0, and by a wake-up when it was
 * already asleep.
 */
static void room_after_one_receive(const char *opts)
{
	char url[256];
	new_queue(url, sizeof(url), opts);
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	unsigned char buf[100];
	unsigned sent = 0;
	while (memset(buf, (int)sent, sizeof(buf)), ipcx_send(tx, buf, sizeof(buf), 1, 0) == 0)
		sent++;
	int took[2], done[2];
	CHECK(pipe(took) == 0 && pipe(done) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		unsigned char got[100], want[100];
		for (unsigned i = 0; i < 2; i++) {
			if (i == 1)
				nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
			CHECK_RC(ipcx_recv(rx, got, sizeof(got), 0, NULL, 0), sizeof(got));
			memset(want, (int)i, sizeof(want));
			CHECK(memcmp(got, want, sizeof(got)) == 0);
			CHECK(write(took[1], "t", 1) == 1);
		}
		char c;
		CHECK(read(done[0], &c, 1) == 1); /* idle, channel open, until the parent is done */
		ipcx_close(rx);
		_exit(0);
	}
	close(took[1]), close(done[0]); /* a child that fails ends the reads below */
	char c;
	CHECK(read(took[0], &c, 1) == 1);
	CHECK_RC(ipcx_send(tx, buf, sizeof(buf), 1, 0), 0);
	CHECK_RC(ipcx_send(tx, buf, sizeof(buf), 1, 0), -EAGAIN);
	CHECK_RC(ipcx_send(tx, buf, sizeof(buf), 1, 5000), 0); /* sleeps until the second receive */
	CHECK(read(took[0], &c, 1) == 1);
	CHECK(write(done[1], "d", 1) == 1);
	CHECK(wait_child(pid) == 0);
	ipcx_close(tx);
	close(took[0]), close(done[1]);
}

static void test_room_after_one_receive(void)
{
	room_after_one_receive("cap=1KiB&maxmsg=100");
	room_after_one_receive("cap=1KiB&maxmsg=100&pattern=spsc");
}

static void test_sizes(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB&maxmsg=1000");
	ipcx_chan *ch = open_ok(url, IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	char big[1001] = {0}, small[10];
	CHECK_RC(ipcx_send(ch, big, 1001, 1, 0), -EMSGSIZE);
	CHECK_RC(ipcx_send(ch, "", 0, 2, 0), 0);
	CHECK_RC(ipcx_send(ch, big, 1000, 3, 0), 0);
	long type;
	CHECK_RC(ipcx_recv(ch, small, sizeof(small), 0, &type, 0), 0);
	CHECK(type == 2);
	CHECK_RC(ipcx_recv(ch, small, sizeof(small), 0, &type, 0), -EMSGSIZE);
	CHECK_RC(ipcx_recv(ch, small, sizeof(small), 3, &type, 0), -EMSGSIZE);
	CHECK_RC(ipcx_recv(ch, big, sizeof(big), 0, &type, 0), 1000);
	CHECK(type == 3);
	ipcx_close(ch);
}

static void test_typed(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB&maxmsg=64");
	ipcx_chan *ch = open_ok(url, IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	static const long types[] = {5, 3, 7, 3, 1, 9, 2};
	for (unsigned i = 0; i < 7; i++)
		CHECK_RC(ipcx_send(ch, &i, sizeof(i), types[i], 0), 0);
	unsigned v;
	long type;
	/* > 0: the oldest of that type. */
	CHECK_RC(ipcx_recv(ch, &v, sizeof(v), 3, &type, 0), sizeof(v));
	CHECK(v == 1 && type == 3);
	CHECK_RC(ipcx_recv(ch, &v, sizeof(v), 4, &type, 0), -ENOMSG);
	/* < 0: the oldest of the lowest type <= |selector|. */
	CHECK_RC(ipcx_recv(ch, &v, sizeof(v), -4, &type, 0), sizeof(v));
	CHECK(v == 4 && type == 1);
	CHECK_RC(ipcx_recv(ch, &v, sizeof(v), -4, &type, 0), sizeof(v));
	CHECK(v == 6 && type == 2);
	CHECK_RC(ipcx_recv(ch, &v, sizeof(v), -4, &type, 0), sizeof(v));
	CHECK(v == 3 && type == 3);
	CHECK_RC(ipcx_recv(ch, &v, sizeof(v), LONG_MIN, &type, 0), sizeof(v));
	CHECK(v == 0 && type == 5);
	/* 0: the oldest left, past the holes typed receives made. */
	CHECK_RC(ipcx_recv(ch, &v, sizeof(v), 0, &type, 0), sizeof(v));
	CHECK(v == 2 && type == 7);
	CHECK_RC(ipcx_recv(ch, &v, sizeof(v), 0, &type, 0), sizeof(v));
	CHECK(v == 5 && type == 9);
	CHECK_RC(ipcx_recv(ch, &v, sizeof(v), 0, &type, 0), -ENOMSG);
	/* The room taken out of order came back: the queue fills as much again. */
	int sent = 0;
	while (ipcx_send(ch, &v, sizeof(v), 4, 0) == 0)
		sent++;
	CHECK(sent == 4096 / 32);
	ipcx_close(ch);
}

/* A typed receiver in another process waits for its type while others pass by. */
static void test_typed_wait(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB&maxmsg=64");
	ipcx_chan *ch = open_ok(url, IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		unsigned v;
		long type;
		CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 42, &type, 10000), sizeof(v));
		CHECK(v == 99 && type == 42);
		ipcx_close(rx);
		_exit(0);
	}
	for (unsigned i = 0; i < 50; i++)
		CHECK_RC(ipcx_send(ch, &i, sizeof(i), 1, -1), 0);
	unsigned v = 99;
	CHECK_RC(ipcx_send(ch, &v, sizeof(v), 42, -1), 0);
	CHECK(wait_child(pid) == 0);
	for (unsigned i = 0; i < 50; i++) {
		CHECK_RC(ipcx_recv(ch, &v, sizeof(v), 0, NULL, 0), sizeof(v));
		CHECK(v == i);
	}
	ipcx_close(ch);
}

/*
 * A broadcast subscriber in another process waits for type 42 while 50
 * messages of type 1 come, some after pauses long enough for it to sleep:
 * each wakes it, none is taken, and 42 is; the 50 stay for it, in order.
 */
static void test_typed_wait_broadcast(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB&maxmsg=64&pattern=broadcast");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_close(tx);
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		CHECK(write(ready[1], "r", 1) == 1);
		unsigned v;
		long type;
		CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 42, &type, 10000), sizeof(v));
		CHECK(v == 99 && type == 42);
		for (unsigned i = 0; i < 50; i++) {
			CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, &type, 0), sizeof(v));
			CHECK(v == i && type == 1);
		}
		CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, NULL, 0), -ENOMSG);
		ipcx_close(rx);
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	for (unsigned i = 0; i < 50; i++) {
		if (i % 10 == 0)
			usleep(5000);
		CHECK_RC(ipcx_send(tx, &i, sizeof(i), 1, -1), 0);
	}
	unsigned v = 99;
	CHECK_RC(ipcx_send(tx, &v, sizeof(v), 42, -1), 0);
	CHECK(wait_child(pid) == 0);
	ipcx_close(tx);
}

static void test_options(void)
{
	char url[256], other[300];
	ipcx_chan *ch = NULL;
	new_queue(url, sizeof(url), "pattern=ring");
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND | IPCX_CREATE, 0), -EINVAL);
	new_queue(url, sizeof(url), "cap=1KiB&maxmsg=1000");
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND | IPCX_CREATE, 0), -EINVAL);
	new_queue(url, sizeof(url), "cap=unbounded&pattern=broadcast");
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND | IPCX_CREATE, 0), -EINVAL);
	CHECK(strstr(ipcx_errmsg(), "unbounded") != NULL);
	new_queue(url, sizeof(url), "cap=unbounded&maxmsg=3GiB");
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND | IPCX_CREATE, 0), -EINVAL);
	new_queue(url, sizeof(url), "policy=overwrite");
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND | IPCX_CREATE, 0), -EINVAL);
	new_queue(url, sizeof(url), "pattern=broadcast&policy=sometimes");
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND | IPCX_CREATE, 0), -EINVAL);
	new_queue(url, sizeof(url), "pattern=broadcast&cap=0");
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND | IPCX_CREATE, 0), -EINVAL);
	new_queue(url, sizeof(url), "capp=1");
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND | IPCX_CREATE, 0), -EINVAL);
	CHECK(strstr(ipcx_errmsg(), "capp") != NULL);
	CHECK_RC(ipcx_open(&ch, "shm://", IPCX_SEND | IPCX_CREATE, 0), -EINVAL);

	new_queue(url, sizeof(url), "cap=64KiB&mode=0640");
	ch = open_ok(url, IPCX_SEND | IPCX_CREATE | IPCX_EXCL);
	ipcx_chan *again = NULL;
	CHECK_RC(ipcx_open(&again, url, IPCX_SEND | IPCX_CREATE | IPCX_EXCL, 0), -EEXIST);
	snprintf(other, sizeof(other), "%s", url);
	*strchr(other, '?') = '\0';
	strcat(other, "?cap=32KiB");
	CHECK_RC(ipcx_open(&again, other, IPCX_SEND, 0), -EINVAL);
	*strchr(other, '?') = '\0';
	again = open_ok(other, IPCX_RECV);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(again, &caps), 0);
	CHECK(caps.capacity == 64 * 1024);
	char path[320];
	snprintf(path, sizeof(path), "/dev/shm/ipcx.%s", other + strlen("shm://"));
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	ipcx_close(again);
	ipcx_close(ch);
	char missing[256];
	new_queue(missing, sizeof(missing), NULL);
	CHECK_RC(ipcx_open(&ch, missing, IPCX_RECV, 0), -ENOENT);
}

static void test_spsc_one_each(void)
{
	char url[256];
	new_queue(url, sizeof(url), "pattern=spsc");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE), *other = NULL;
	CHECK_RC(ipcx_open(&other, url, IPCX_SEND, 0), -EBUSY);
	ipcx_chan *rx = open_ok(url, IPCX_RECV);
	CHECK_RC(ipcx_open(&other, url, IPCX_RECV, 0), -EBUSY);
	ipcx_close(tx);
	/* A sender that dies is replaced. */
	pid_t pid = fork();
	if (pid == 0) {
		left_open = open_ok(url, IPCX_SEND);
		raise(SIGKILL);
	}
	CHECK(wait_child(pid) == 128 + SIGKILL);
	tx = open_ok(url, IPCX_SEND);
	CHECK_RC(ipcx_send(tx, "x", 1, 1, 0), 0);
	char c;
	CHECK_RC(ipcx_recv(rx, &c, 1, 0, NULL, 0), 1);
	ipcx_close(tx);
	ipcx_close(rx);
}

/* The header of the queue behind url, as it is now. */
static struct ipcx__shm_hdr header_of(const char *url)
{
	char path[300];
	const char *name = strstr(url, "://") + 3;
	snprintf(path, sizeof(path), "/dev/shm/ipcx.%.*s", (int)strcspn(name, "?"), name);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	struct ipcx__shm_hdr h;
	CHECK(pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h));
	close(fd);
	return h;
}

/* The sole-receiver lease of the queue behind url (layout.h: slot + 1, 0 = none). */
static uint64_t lease_of(const char *url)
{
	return header_of(url).solo;
}

static uint64_t send_lease_of(const char *url)
{
	return header_of(url).solo_send;
}

static void recv_is(ipcx_chan *rx, const char *want, int timeout_ms)
{
	char buf[64] = {0};
	CHECK_RC(ipcx_recv(rx, buf, sizeof(buf) - 1, 0, NULL, timeout_ms), (ssize_t)strlen(want));
	CHECK(strcmp(buf, want) == 0);
}

/*
 * A queue's only receiver holds the sole-receiver lease; a second receiver
 * takes it back from a holder outside a receive, or from one that died
 * inside a receive, and the lease returns when one receiver is left. The
 * same for the sole-sender lease.
 */
/* Does the kernel have what leases need (membarrier GLOBAL_EXPEDITED)? */
static bool have_leases(void)
{
	long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	return cmds >= 0 && (cmds & MEMBARRIER_CMD_GLOBAL_EXPEDITED);
}

static void need_leases(void)
{
	if (!have_leases())
		SKIP("no membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) here: queues grant no lease");
}

static void test_queue_lease(void)
{
	need_leases();
	char url[256];
	new_queue(url, sizeof(url), "cap=16KiB&maxmsg=256");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	CHECK(lease_of(url) == 0);
	ipcx_chan *rx1 = open_ok(url, IPCX_RECV);
	uint64_t first = lease_of(url);
	CHECK(first != 0);
	for (int i = 0; i < 3; i++)
		CHECK_RC(ipcx_send(tx, (const char *[]){"m0", "m1", "m2"}[i], 2, 1, 0), 0);
	recv_is(rx1, "m0", 0);
	ipcx_chan *rx2 = open_ok(url, IPCX_RECV);
	CHECK(lease_of(url) == first);
	recv_is(rx2, "m1", 1000); /* rx1 is outside a receive: rx2 takes the lease away */
	CHECK(lease_of(url) == 0);
	recv_is(rx1, "m2", 0);
	ipcx_close(rx2);
	CHECK(lease_of(url) == first);
	ipcx_close(rx1);
	CHECK(lease_of(url) == 0);

	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		CHECK(write(ready[1], "r", 1) == 1);
		char buf[8];
		ipcx_recv(rx, buf, sizeof(buf), 0, NULL, -1); /* killed in here, holding the lease */
		_exit(1);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
	CHECK(lease_of(url) != 0);
	ipcx_chan *rx3 = open_ok(url, IPCX_RECV);
	kill(pid, SIGKILL);
	CHECK(wait_child(pid) == 128 + SIGKILL);
	CHECK_RC(ipcx_send(tx, "late", 4, 1, 0), 0);
	recv_is(rx3, "late", 3000);
	CHECK(lease_of(url) != 0); /* granted to rx3, the one receiver left */

	/* The same for senders: the only one holds the sole-sender lease. */
	uint64_t sender = send_lease_of(url);
	CHECK(sender != 0);
	ipcx_chan *tx2 = open_ok(url, IPCX_SEND);
	CHECK(send_lease_of(url) == sender);
	CHECK_RC(ipcx_send(tx2, "tx2", 3, 1, 0), 0); /* tx is outside a send: tx2 takes the lease away */
	CHECK(send_lease_of(url) == 0);
	CHECK_RC(ipcx_send(tx, "tx", 2, 1, 0), 0);
	recv_is(rx3, "tx2", 0);
	recv_is(rx3, "tx", 0);
	ipcx_close(tx2);
	CHECK(send_lease_of(url) == sender);
	ipcx_close(rx3);
	ipcx_close(tx);
	close(ready[0]);
	close(ready[1]);
}

/*
 * Fills the empty 1 KiB ring of a queue through tx with 4-byte messages
 * (32-byte records: exactly 32 fit when every record before was given
 * back) and drains it through a and b in turn, each message once.
 */
static void fill_and_drain(ipcx_chan *tx, ipcx_chan *a, ipcx_chan *b)
{
	unsigned sent = 0, v;
	while (ipcx_send(tx, &sent, sizeof(sent), 1, 0) == 0)
		sent++;
	CHECK(sent == 1024 / 32);
	for (unsigned i = 0; i < sent; i++) {
		CHECK_RC(ipcx_recv(i % 2 ? b : a, &v, sizeof(v), 0, NULL, 0), sizeof(v));
		CHECK(v == i);
	}
	CHECK_RC(ipcx_recv(a, &v, sizeof(v), 0, NULL, 0), -ENOMSG);
	CHECK_RC(ipcx_recv(b, &v, sizeof(v), 0, NULL, 0), -ENOMSG);
}

/*
 * A receive loan the lease holder took (without a claim's compare-and-swap)
 * stays its own when a second receiver takes the lease away: that one
 * skips it, and the release, whether the lease is gone or back by then,
 * gives its room back.
 */
static void test_queue_lease_loan(void)
{
	need_leases();
	char url[256];
	new_queue(url, sizeof(url), "cap=1KiB&maxmsg=100");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	ipcx_chan *rx1 = open_ok(url, IPCX_RECV);
	CHECK(lease_of(url) != 0);
	for (int round = 0; round < 2; round++) {
		CHECK_RC(ipcx_send(tx, "m0", 2, 1, 0), 0);
		CHECK_RC(ipcx_send(tx, "m1", 2, 1, 0), 0);
		const void *loan;
		CHECK_RC(ipcx_recv_loan(rx1, &loan, 0, NULL, 0), 2);
		CHECK(memcmp(loan, "m0", 2) == 0);
		ipcx_chan *rx2 = open_ok(url, IPCX_RECV);
		recv_is(rx2, "m1", 1000); /* takes the lease away, passing the loaned m0 */
		CHECK(lease_of(url) == 0);
		char buf[8];
		CHECK_RC(ipcx_recv(rx2, buf, sizeof(buf), 0, NULL, 0), -ENOMSG);
		if (round == 1) {
			ipcx_close(rx2); /* the lease comes back to rx1 before it releases */
			CHECK(lease_of(url) != 0);
			rx2 = open_ok(url, IPCX_RECV);
		}
		CHECK(memcmp(loan, "m0", 2) == 0);
		CHECK_RC(ipcx_release(rx1), 0);
		fill_and_drain(tx, rx1, rx2);
		ipcx_close(rx2);
		CHECK(lease_of(url) != 0);
	}
	ipcx_close(rx1);
	ipcx_close(tx);
}

/* How many lanes of the mpsc queue behind url exist in /dev/shm. */
static int lane_files(const char *url)
{
	const char *name = strstr(url, "://") + 3;
	int n = 0;
	for (int i = 0; i < 64; i++) {
		char path[300];
		snprintf(path, sizeof(path), "/dev/shm/ipcx.%.*s#%d", (int)strcspn(name, "?"), name,
			 i);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/*
 * pattern=mpsc: sender processes each get a lane of their own, the one
 * receiver gets every message once and each sender's in order, and
 * removing the queue removes its lanes.
 */
static void test_mpsc_lanes(void)
{
	enum { SENDERS = 4, EACH = 3000 };
	char url[256];
	new_queue(url, sizeof(url), "pattern=mpsc&cap=16KiB&maxmsg=256");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE), *other = NULL;
	CHECK_RC(ipcx_open(&other, url, IPCX_RECV, 0), -EBUSY);
	pid_t pids[SENDERS];
	for (unsigned k = 0; k < SENDERS; k++) {
		pids[k] = fork();
		if (pids[k] == 0) {
			ipcx_chan *tx = open_ok(url, IPCX_SEND);
			unsigned char buf[256];
			for (unsigned i = 0; i < EACH; i++) {
				size_t len = fill(buf + 8, i, sizeof(buf) - 8) + 8;
				memcpy(buf, &k, 4);
				memcpy(buf + 4, &i, 4);
				CHECK_RC(ipcx_send(tx, buf, len, 1 + k, -1), 0);
			}
			ipcx_close(tx);
			_exit(0);
		}
	}
	unsigned next[SENDERS] = {0};
	unsigned char got[256], want[256];
	for (unsigned n = 0; n < SENDERS * EACH; n++) {
		long type;
		ssize_t len = ipcx_recv(rx, got, sizeof(got), 0, &type, 5000);
		CHECK(len >= 8 && ipcx_errmsg()[0] == '\0');
		unsigned k, i;
		memcpy(&k, got, 4);
		memcpy(&i, got + 4, 4);
		CHECK(k < SENDERS && i == next[k] && type == 1 + (long)k);
		next[k]++;
		CHECK((size_t)len == fill(want, i, sizeof(want) - 8) + 8);
		CHECK(memcmp(got + 8, want, (size_t)len - 8) == 0);
	}
	CHECK_RC(ipcx_recv(rx, got, sizeof(got), 0, NULL, 0), -ENOMSG);
	for (unsigned k = 0; k < SENDERS; k++)
		CHECK(wait_child(pids[k]) == 0);
	CHECK(lane_files(url) >= 2 && lane_files(url) <= SENDERS);
	ipcx_close(rx);
	CHECK_RC(ipcx_unlink(url), 0);
	CHECK(lane_files(url) == 0);
}

/* A typed receive on an mpsc queue picks across lanes: selector < 0 the lowest type of all. */
static void test_mpsc_typed(void)
{
	char url[256];
	new_queue(url, sizeof(url), "pattern=mpsc");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	ipcx_chan *a = open_ok(url, IPCX_SEND), *b = open_ok(url, IPCX_SEND);
	CHECK(lane_files(url) == 2);
	CHECK_RC(ipcx_send(a, "a5", 2, 5, 0), 0);
	CHECK_RC(ipcx_send(a, "a3", 2, 3, 0), 0);
	CHECK_RC(ipcx_send(b, "b4", 2, 4, 0), 0);
	CHECK_RC(ipcx_send(b, "b2", 2, 2, 0), 0);
	char buf[8];
	long type;
	CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), 4, &type, 0), 2);
	CHECK(memcmp(buf, "b4", 2) == 0 && type == 4);
	const void *loan;
	CHECK_RC(ipcx_recv_loan(rx, &loan, -10, &type, 0), 2);
	CHECK(memcmp(loan, "b2", 2) == 0 && type == 2);
	CHECK_RC(ipcx_recv_loan(rx, &loan, 0, &type, 0), -EBUSY);
	CHECK_RC(ipcx_release(rx), 0);
	CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), -10, &type, 0), 2);
	CHECK(memcmp(buf, "a3", 2) == 0 && type == 3);
	CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), -4, &type, 0), -ENOMSG);
	CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), 0, &type, 0), 2);
	CHECK(memcmp(buf, "a5", 2) == 0 && type == 5);
	ipcx_close(a);
	ipcx_close(b);
	ipcx_close(rx);
}

/*
 * A sender killed with messages in its lane: the receiver still gets
 * them, and the next sender takes the lane over instead of making one.
 */
static void test_mpsc_dead_sender(void)
{
	char url[256];
	new_queue(url, sizeof(url), "pattern=mpsc");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE), *bad = NULL;
	char hashed[300];
	snprintf(hashed, sizeof(hashed), "%s#1", strtok(strcpy(hashed, url), "?"));
	CHECK_RC(ipcx_open(&bad, hashed, IPCX_SEND | IPCX_CREATE, 0), -EINVAL);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *tx = open_ok(url, IPCX_SEND);
		CHECK_RC(ipcx_send(tx, "one", 3, 1, 0), 0);
		CHECK_RC(ipcx_send(tx, "two", 3, 1, 0), 0);
		raise(SIGKILL);
	}
	CHECK(wait_child(pid) == 128 + SIGKILL);
	ipcx_chan *tx = open_ok(url, IPCX_SEND);
	CHECK(lane_files(url) == 1);
	CHECK_RC(ipcx_send(tx, "three", 5, 1, 0), 0);
	const char *want[] = {"one", "two", "three"};
	for (int i = 0; i < 3; i++) {
		char buf[8] = {0};
		CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), 0, NULL, 1000), (ssize_t)strlen(want[i]));
		CHECK(strcmp(buf, want[i]) == 0);
	}
	ipcx_close(tx);
	ipcx_close(rx);
}

static void test_loans(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=64KiB&maxmsg=8KiB");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *tx = open_ok(url, IPCX_SEND);
		void *buf;
		CHECK_RC(ipcx_loan(tx, 13, &buf, -1), 0); /* 13 bytes, in a record with room for 16 */
		CHECK_RC(ipcx_commit(tx, 14, 1), -EMSGSIZE);
		memcpy(buf, "thirteen byte", 13);
		CHECK_RC(ipcx_commit(tx, 13, 1), 0);
		for (unsigned i = 0; i < 2000; i++) {
			CHECK_RC(ipcx_loan(tx, 8192, &buf, -1), 0);
			CHECK_RC(ipcx_send(tx, "x", 1, 1, 0), -EBUSY);
			size_t len = fill(buf, i, 4096);
			CHECK_RC(ipcx_commit(tx, len, 1 + i % 3), 0);
		}
		ipcx_close(tx);
		_exit(0);
	}
	unsigned char want[4096];
	CHECK_RC(ipcx_recv(rx, want, sizeof(want), 0, NULL, 5000), 13);
	CHECK(memcmp(want, "thirteen byte", 13) == 0);
	for (unsigned i = 0; i < 2000; i++) {
		const void *buf;
		long type;
		size_t len = fill(want, i, 4096);
		CHECK_RC(ipcx_recv_loan(rx, &buf, 0, &type, 5000), len);
		CHECK(ipcx_errmsg()[0] == '\0'); /* no trace of a try that found nothing */
		CHECK(type == 1 + (long)(i % 3) && memcmp(buf, want, len) == 0);
		CHECK_RC(ipcx_recv_loan(rx, &buf, 0, &type, 0), -EBUSY);
		CHECK_RC(ipcx_release(rx), 0);
	}
	CHECK_RC(ipcx_release(rx), -EINVAL);
	CHECK(wait_child(pid) == 0);
	ipcx_close(rx);

	ipcx_chan *ends[2];
	CHECK_RC(ipcx_pair("pipe://", ends), 0);
	void *buf;
	CHECK_RC(ipcx_loan(ends[1], 10, &buf, 0), -ENOTSUP);
	ipcx_close(ends[0]);
	ipcx_close(ends[1]);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* A receiver asleep on the futex is woken by a send, and signals do not end its wait. */
static void test_wakeup_and_signals(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB&maxmsg=64");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct sigaction sa = {.sa_handler = on_usr1};
		sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART */
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		CHECK(write(ready[1], "r", 1) == 1);
		char buf[64];
		long type;
		CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), 0, &type, -1), 5);
		CHECK(memcmp(buf, "wake!", 5) == 0 && type == 77);
		ipcx_close(rx);
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	for (int i = 0; i < 5; i++) {
		nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
		kill(pid, SIGUSR1);
	}
	CHECK_RC(ipcx_send(tx, "wake!", 5, 77, 0), 0);
	CHECK(wait_child(pid) == 0);
	ipcx_close(tx);
}

/*
 * Round trips between two processes where each side pauses a random few
 * tens of microseconds before it answers, so that the other side often
 * runs out of spins and sleeps just as the answer is published: a lost
 * wake-up shows as a receive that times out.
 */
static void ping_pong_with_pauses(const char *opts, unsigned rounds)
{
	char ping[256], pong[256];
	new_queue(ping, sizeof(ping), opts);
	new_queue(pong, sizeof(pong), opts);
	ipcx_chan *tx = open_ok(ping, IPCX_SEND | IPCX_CREATE);
	ipcx_chan *rx = open_ok(pong, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *crx = open_ok(ping, IPCX_RECV), *ctx = open_ok(pong, IPCX_SEND);
		unsigned seed = 7;
		for (unsigned i = 0; i < rounds; i++) {
			unsigned v;
			CHECK_RC(ipcx_recv(crx, &v, sizeof(v), 0, NULL, 10000), sizeof(v));
			CHECK(v == i);
			nanosleep(&(struct timespec){.tv_nsec = rand_r(&seed) % 60000}, NULL);
			v = ~i;
			CHECK_RC(ipcx_send(ctx, &v, sizeof(v), 1, -1), 0);
		}
		ipcx_close(crx);
		ipcx_close(ctx);
		_exit(0);
	}
	unsigned seed = 11;
	for (unsigned i = 0; i < rounds; i++) {
		if (i % 2)
			nanosleep(&(struct timespec){.tv_nsec = rand_r(&seed) % 60000}, NULL);
		CHECK_RC(ipcx_send(tx, &i, sizeof(i), 1, -1), 0);
		unsigned v;
		CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, NULL, 10000), sizeof(v));
		CHECK(v == ~i);
	}
	CHECK(wait_child(pid) == 0);
	ipcx_close(tx);
	ipcx_close(rx);
}

static void test_no_lost_wakeups(void)
{
	ping_pong_with_pauses("", 1500);
	ping_pong_with_pauses("pattern=spsc", 1500);
}

/* Writes len bytes at off of the segment file of url. */
static void poke(const char *url, off_t off, const void *bytes, size_t len)
{
	char path[300];
	const char *name = strstr(url, "://") + 3;
	snprintf(path, sizeof(path), "/dev/shm/ipcx.%.*s", (int)strcspn(name, "?"), name);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, bytes, len, off) == (ssize_t)len);
	close(fd);
}

static void test_corrupt_header(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB");
	ipcx_chan *ch = open_ok(url, IPCX_SEND | IPCX_CREATE), *other = NULL;
	ipcx_close(ch);
	uint32_t v = 99;
	poke(url, 8, &v, sizeof(v)); /* layout version */
	CHECK_RC(ipcx_open(&other, url, IPCX_RECV, 0), -EPROTO);
	CHECK(strstr(ipcx_errmsg(), "version") != NULL);
	v = IPCX__SHM_LAYOUT_VERSION; /* the right version again: each check below is on its own */
	poke(url, 8, &v, sizeof(v));
	ch = open_ok(url, IPCX_RECV);
	ipcx_close(ch);
	/* slot_off + the slots wraps around to a value that looked right */
	uint64_t slot_off = header_of(url).slot_off, wrapped = slot_off - 0x1000;
	CHECK(offsetof(struct ipcx__shm_hdr, slot_off) == 24);
	poke(url, 24, &wrapped, sizeof(wrapped));
	CHECK_RC(ipcx_open(&other, url, IPCX_RECV, 0), -EPROTO);
	poke(url, 24, &slot_off, sizeof(slot_off));
	uint64_t ring = 1ull << 40; /* ring size past the end of the file */
	poke(url, 48, &ring, sizeof(ring));
	CHECK_RC(ipcx_open(&other, url, IPCX_RECV, 0), -EPROTO);
	uint64_t magic = 0x1234;
	poke(url, 0, &magic, sizeof(magic));
	CHECK_RC(ipcx_open(&other, url, IPCX_RECV, 0), -EPROTO);
	CHECK(strstr(ipcx_errmsg(), "magic") != NULL);
}

/* The ring's offset in the segment: read from the header like any opener. */
static off_t ring_offset(const char *url)
{
	char path[300];
	const char *name = strstr(url, "://") + 3;
	snprintf(path, sizeof(path), "/dev/shm/ipcx.%.*s", (int)strcspn(name, "?"), name);
	int fd = open(path, O_RDONLY);
	uint64_t off = 0;
	CHECK(fd >= 0 && pread(fd, &off, sizeof(off), 40) == sizeof(off));
	close(fd);
	return (off_t)off;
}

static void test_corrupt_records(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB&maxmsg=64");
	ipcx_chan *ch = open_ok(url, IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	off_t ring = ring_offset(url);
	char buf[64];
	/* A length beyond maxmsg. */
	CHECK_RC(ipcx_send(ch, "abc", 3, 1, 0), 0);
	uint32_t len = 1u << 30;
	poke(url, ring + 16, &len, sizeof(len));
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0), -EPROTO);
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), -5, NULL, 0), -EPROTO);
	/* A span running off the end of the ring. */
	len = 3;
	poke(url, ring + 16, &len, sizeof(len));
	uint32_t span = 1u << 20;
	poke(url, ring + 20, &span, sizeof(span));
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0), -EPROTO);
	span = 32;
	poke(url, ring + 20, &span, sizeof(span));
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0), 3);
	/* A hostile tail far ahead: errors or nothing, never a stray access. */
	uint64_t tail = 1ull << 62;
	poke(url, 128, &tail, sizeof(tail));
	ssize_t r = ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0);
	CHECK(r == -EPROTO || r == -ENOMSG);
	r = ipcx_send(ch, "abc", 3, 1, 0);
	CHECK(r == -EPROTO || r == -EAGAIN || r == 0);
	ipcx_close(ch);
}

/* A sender killed between loan and commit never wedges the queue. */
static void test_dead_sender_mid_message(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB&maxmsg=200");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *tx = open_ok(url, IPCX_SEND);
		void *buf;
		CHECK_RC(ipcx_loan(tx, 100, &buf, 0), 0);
		memset(buf, 0xee, 50);
		raise(SIGKILL);
	}
	CHECK(wait_child(pid) == 128 + SIGKILL);
	ipcx_chan *tx = open_ok(url, IPCX_SEND);
	/* Enough to wrap the ring many times over the dead reservation. */
	for (unsigned i = 0; i < 500; i++) {
		CHECK_RC(ipcx_send(tx, &i, sizeof(i), 1, 2000), 0);
		unsigned v;
		CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, NULL, 2000), sizeof(v));
		CHECK(v == i);
	}
	ipcx_close(tx);
	ipcx_close(rx);
}

/* A receiver killed holding a loan gives its room back; the rest is delivered once. */
static void test_dead_receiver_with_loan(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=1KiB&maxmsg=100");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	unsigned sent = 0;
	while (ipcx_send(tx, &sent, sizeof(sent), 1, 0) == 0)
		sent++;
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		const void *buf;
		CHECK_RC(ipcx_recv_loan(rx, &buf, 0, NULL, 0), sizeof(unsigned));
		raise(SIGKILL);
	}
	CHECK(wait_child(pid) == 128 + SIGKILL);
	ipcx_chan *rx = open_ok(url, IPCX_RECV);
	unsigned v;
	for (unsigned i = 1; i < sent; i++) {
		CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, NULL, 0), sizeof(v));
		CHECK(v == i);
	}
	CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, NULL, 0), -ENOMSG);
	/* The dead receiver's message was dropped, its room is free again. */
	for (unsigned i = 0; i < sent; i++)
		CHECK_RC(ipcx_send(tx, &i, sizeof(i), 1, 1000), 0);
	ipcx_close(rx);
	ipcx_close(tx);
}

/* A child closing the channel it inherited leaves the parent's peer slot alone. */
static void test_fork_inherited_close(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB&maxmsg=64");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_close(rx);
		ipcx_chan *tx = open_ok(url, IPCX_SEND);
		for (unsigned i = 0; i < 300; i++)
			CHECK_RC(ipcx_send(tx, &i, sizeof(i), 1, 5000), 0);
		ipcx_close(tx);
		_exit(0);
	}
	for (unsigned i = 0; i < 300; i++) {
		unsigned v;
		CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, NULL, 5000), sizeof(v));
		CHECK(v == i);
	}
	CHECK(wait_child(pid) == 0);
	ipcx_close(rx);
}

/* Bytes waiting in the pollable descriptor's FIFO. */
static int fifo_bytes(int fd)
{
	int n = -1;
	CHECK(ioctl(fd, FIONREAD, &n) == 0);
	return n;
}

static bool readable_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n = poll(&p, 1, ms);
	CHECK(n >= 0);
	return n == 1 && (p.revents & POLLIN);
}

/*
 * The descriptor of a receiver: readable at first, quiet once a receive
 * with timeout 0 found the queue empty, readable again after one send
 * from another process, and written once however many sends follow.
 */
static void test_poll_fd_basics(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB&maxmsg=100");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	ipcx_chan *tx = open_ok(url, IPCX_SEND);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(rx, &caps), 0);
	CHECK(caps.flags & IPCX_CAP_POLLABLE);
	CHECK_RC(ipcx_caps_of(tx, &caps), 0);
	CHECK(!(caps.flags & IPCX_CAP_POLLABLE));
	CHECK_RC(ipcx_fd(tx), -ENOTSUP);
	int fd = ipcx_fd(rx);
	CHECK(fd >= 0 && ipcx_fd(rx) == fd);
	CHECK(readable_within(fd, 0));
	char buf[128];
	CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), 0, NULL, 0), -ENOMSG);
	CHECK(!readable_within(fd, 50));
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *c = open_ok(url, IPCX_SEND);
		for (int i = 0; i < 5; i++)
			CHECK_RC(ipcx_send(c, "abc", 3, 1 + i, 0), 0);
		ipcx_close(c);
		_exit(0);
	}
	CHECK(wait_child(pid) == 0);
	CHECK(readable_within(fd, 2000));
	CHECK(fifo_bytes(fd) == 1); /* one wake-up for five sends: the later ones made no call */
	for (long i = 0; i < 5; i++) {
		long type = 0;
		CHECK(readable_within(fd, 0)); /* stays readable until a receive finds nothing */
		CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), 0, &type, 0), 3);
		CHECK(type == 1 + i && memcmp(buf, "abc", 3) == 0);
	}
	CHECK_RC(ipcx_recv(rx, buf, sizeof(buf), 0, NULL, 0), -ENOMSG);
	CHECK(!readable_within(fd, 20));
	CHECK_RC(ipcx_send(tx, "x", 1, 7, 0), 0);
	CHECK(readable_within(fd, 0));
	ipcx_close(tx);
	ipcx_close(rx);
}

/*
 * A child streams bursts with pauses; the parent waits only in epoll on
 * the descriptor, drains with timeout 0, and compares every byte.
 */
static void test_poll_fd_epoll_stream(void)
{
	enum { N = 3000 };
	char url[256];
	new_queue(url, sizeof(url), "cap=8KiB&maxmsg=1000");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	int fd = ipcx_fd(rx);
	CHECK(fd >= 0);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *tx = open_ok(url, IPCX_SEND);
		unsigned char buf[1000];
		for (unsigned i = 0; i < N; i++) {
			CHECK_RC(ipcx_send(tx, buf, fill(buf, i, sizeof(buf)), 1, -1), 0);
			if (i % 500 == 0)
				usleep(2000); /* let the receiver go back to sleep in epoll */
		}
		ipcx_close(tx);
		_exit(0);
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
	unsigned char want[1000], got[1000];
	unsigned i = 0, wakeups = 0;
	while (i < N) {
		CHECK(epoll_wait(ep, &ev, 1, 5000) == 1);
		wakeups++;
		ssize_t n;
		while ((n = ipcx_recv(rx, got, sizeof(got), 0, NULL, 0)) >= 0) {
			CHECK((size_t)n == fill(want, i, sizeof(want)));
			CHECK(memcmp(want, got, (size_t)n) == 0);
			i++;
		}
		CHECK_RC(n, -ENOMSG);
	}
	CHECK(wakeups >= 2 && wakeups <= N + 1);
	close(ep);
	CHECK(wait_child(pid) == 0);
	ipcx_close(rx);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * cap=0: a send returns only once a receiver in another process took the
 * message; unmet, it times out and the message is taken back.
 */
static void test_rendezvous(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=0&maxmsg=1000");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(tx, &caps), 0);
	CHECK(caps.capacity == 0 && caps.max_msg == 1000);
	char buf[1000];
	CHECK_RC(ipcx_send(tx, "now", 3, 1, 0), -EAGAIN);
	int64_t t0 = now_ms();
	CHECK_RC(ipcx_send(tx, "late", 4, 1, 100), -ETIMEDOUT);
	CHECK(now_ms() - t0 >= 100);
	ipcx_chan *probe = open_ok(url, IPCX_RECV);
	CHECK_RC(ipcx_recv(probe, buf, sizeof(buf), 0, NULL, 0), -ENOMSG); /* both taken back */
	ipcx_close(probe);
	enum { N = 300 };
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		usleep(200 * 1000);
		unsigned char want[1000], got[1000];
		for (unsigned i = 0; i < N; i++) {
			size_t len = fill(want, i, sizeof(want));
			CHECK_RC(ipcx_recv(rx, got, sizeof(got), 0, NULL, 5000), len);
			CHECK(memcmp(want, got, len) == 0);
		}
		ipcx_close(rx);
		_exit(0);
	}
	t0 = now_ms();
	unsigned char msg[1000];
	CHECK_RC(ipcx_send(tx, msg, fill(msg, 0, sizeof(msg)), 1, 5000), 0);
	CHECK(now_ms() - t0 >= 150); /* held until the receiver came */
	for (unsigned i = 1; i < N; i++)
		CHECK_RC(ipcx_send(tx, msg, fill(msg, i, sizeof(msg)), 1, 5000), 0);
	CHECK(wait_child(pid) == 0);
	ipcx_chan *again = NULL;
	CHECK_RC(ipcx_open(&again, url, IPCX_RECV, 0), 0);
	ipcx_close(again);
	char other[300];
	snprintf(other, sizeof(other), "%s", url);
	strcpy(strstr(other, "cap=0"), "cap=4096");
	CHECK_RC(ipcx_open(&again, other, IPCX_RECV, 0), -EINVAL);
	ipcx_close(tx);
}

/* Broadcast message i: its sequence number, then bytes that say which it is. */
static size_t fill_seq(unsigned char *buf, unsigned i, size_t max)
{
	size_t len = sizeof(i) + fill(buf + sizeof(i), i, max - sizeof(i));
	memcpy(buf, &i, sizeof(i));
	return len;
}

/* Receives n broadcast messages from first on, each in order and intact; the exit status says. */
static int subscriber_expect(ipcx_chan *rx, unsigned first, unsigned n, bool slow)
{
	unsigned char want[256], got[256];
	for (unsigned i = first; i < first + n; i++) {
		size_t len = fill_seq(want, i, sizeof(want));
		ssize_t got_len = ipcx_recv(rx, got, sizeof(got), 0, NULL, 5000);
		if (got_len != (ssize_t)len || memcmp(want, got, len) != 0) {
			fprintf(stderr, "subscriber: message %u: %zd bytes (%s)\n", i, got_len,
				ipcx_errmsg());
			return 1;
		}
		if (slow && i % 256 == 0)
			usleep(1000);
	}
	return ipcx_recv(rx, got, sizeof(got), 0, NULL, 0) == -ENOMSG ? 0 : 2;
}

/* The type of broadcast message i in the typed tests: 1, 2, 3, 1, ... */
static long typed_type(unsigned i)
{
	return 1 + (long)(i % 3);
}

/* Message i of the typed tests: 40 bytes (a 64-byte record) that say which message it is. */
enum { TYPED_LEN = 40 };
static void typed_fill(unsigned char *buf, unsigned i)
{
	memcpy(buf, &i, sizeof(i));
	for (unsigned k = sizeof(i); k < TYPED_LEN; k++)
		buf[k] = (unsigned char)(i * 7u + k);
}

/* Sends messages from..to-1 with timeout 0, each of its typed_type(): how many went. */
static unsigned typed_send(ipcx_chan *tx, unsigned from, unsigned to, int *rc)
{
	unsigned char msg[TYPED_LEN];
	for (unsigned i = from; i < to; i++) {
		typed_fill(msg, i);
		*rc = ipcx_send(tx, msg, TYPED_LEN, typed_type(i), 0);
		if (*rc < 0)
			return i - from;
	}
	*rc = 0;
	return to - from;
}

/* Checks that got is message id, whole, with its type. */
static void typed_check(const unsigned char *got, ssize_t len, long type, unsigned id)
{
	unsigned char want[TYPED_LEN];
	typed_fill(want, id);
	unsigned got_id = 0;
	if (len >= (ssize_t)sizeof(got_id))
		memcpy(&got_id, got, sizeof(got_id));
	if (len != TYPED_LEN || memcmp(got, want, TYPED_LEN) != 0 || type != typed_type(id))
		test_fail(__FILE__, __LINE__, "want message %u, got %zd bytes of message %u, type %ld",
			  id, len, got_id, type);
}

/* Receives with selector (timeout 0): it must be message id. */
static void typed_expect(ipcx_chan *rx, long selector, unsigned id)
{
	unsigned char got[TYPED_LEN];
	long type = 0;
	ssize_t n = ipcx_recv(rx, got, sizeof(got), selector, &type, 0);
	if (n < 0)
		test_fail(__FILE__, __LINE__, "selector %ld, want message %u: %s", selector, id,
			  ipcx_errmsg());
	typed_check(got, n, type, id);
}

/* One step of a two-process test: tells the other side, then waits for its answer. */
static void handshake(int tell, int hear)
{
	char c = 's';
	CHECK(write(tell, &c, 1) == 1);
	CHECK(read(hear, &c, 1) == 1);
}

/* The subscriber process of test_broadcast_typed, steps as the comments there say. */
static void typed_subscriber(const char *url, int tell, int hear)
{
	ipcx_chan *rx = open_ok(url, IPCX_RECV);
	char c;
	handshake(tell, hear); /* 0-5 sent */
	typed_expect(rx, 3, 2);
	typed_expect(rx, -2, 0);
	typed_expect(rx, 2, 1);
	typed_expect(rx, 0, 3); /* 2 was taken */
	typed_expect(rx, 3, 5);
	CHECK_RC(ipcx_recv(rx, &c, 1, -1, NULL, 0), -ENOMSG); /* 4 is of type 2, 5 taken */
	typed_expect(rx, 0, 4);
	CHECK_RC(ipcx_recv(rx, &c, 1, 0, NULL, 0), -ENOMSG);
	handshake(tell, hear); /* 6-8 sent */
	const void *loan;
	long type;
	ssize_t n = ipcx_recv_loan(rx, &loan, 3, &type, 0);
	typed_check(loan, n, type, 8);
	CHECK_RC(ipcx_release(rx), 0);
	typed_expect(rx, 0, 6);
	typed_expect(rx, 0, 7);
	CHECK_RC(ipcx_recv(rx, &c, 1, 0, NULL, 0), -ENOMSG);
	handshake(tell, hear); /* 9-24 sent: the ring is full */
	for (unsigned i = 10; i < 25; i += 3) {
		typed_expect(rx, 2, i);
		typed_expect(rx, 3, i + 1);
	}
	CHECK_RC(ipcx_recv(rx, &c, 1, 2, NULL, 0), -ENOMSG);
	handshake(tell, hear); /* still full: 9 holds the sender back */
	typed_expect(rx, 1, 9);
	handshake(tell, hear); /* room for 9, 10 and 11: 25-27 sent */
	for (unsigned i = 12; i < 25; i += 3)
		typed_expect(rx, 0, i);
	for (unsigned i = 25; i < 28; i++)
		typed_expect(rx, 0, i);
	CHECK_RC(ipcx_recv(rx, &c, 1, 0, NULL, 0), -ENOMSG);
	ipcx_close(rx);
}

/*
 * Typed receive on a policy=block broadcast queue, System V semantics per
 * subscriber (another process): a selector takes the oldest message it
 * picks, ahead of the subscriber's position if need be, and what it passed
 * over stays for the next receives, in order; a typed loan ahead is passed
 * over once released. A message passed over holds the senders back, as in
 * a System V queue; once it is taken, the room of everything taken behind
 * it comes back at once. A plain subscriber beside it gets all, in order.
 */
static void test_broadcast_typed(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=1KiB&maxmsg=64&pattern=broadcast");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE), *plain = open_ok(url, IPCX_RECV);
	int to_child[2], to_parent[2];
	CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_close(tx);
		ipcx_close(plain);
		typed_subscriber(url, to_parent[1], to_child[0]);
		_exit(0);
	}
	char c;
	int rc;
	unsigned next = 0;
	CHECK(read(to_parent[0], &c, 1) == 1);
	static const unsigned steps[] = {6, 9, 25};
	for (unsigned k = 0; k < 3; k++) {
		CHECK(typed_send(tx, next, steps[k], &rc) == steps[k] - next);
		for (; next < steps[k]; next++)
			typed_expect(plain, 0, next);
		handshake(to_child[1], to_parent[0]);
	}
	CHECK(typed_send(tx, 25, 26, &rc) == 0 && rc == -EAGAIN);
	handshake(to_child[1], to_parent[0]);
	CHECK(typed_send(tx, 25, 29, &rc) == 3 && rc == -EAGAIN);
	for (; next < 28; next++)
		typed_expect(plain, 0, next);
	CHECK(write(to_child[1], "s", 1) == 1);
	CHECK(wait_child(pid) == 0);
	ipcx_close(plain);
	ipcx_close(tx);
}

/* What the subscriber of test_broadcast_typed_overwrite has seen. */
struct typed_tally {
	unsigned char *seen; /* per message */
	unsigned n, delivered;
	unsigned long lost;
	long last_of[4]; /* the last message taken with selector 0 and with 1..3, -1 = none */
};

/* Counts one receive's outcome: a message (copied out of buf), a loss report, or nothing. */
static void typed_tally_add(struct typed_tally *t, long selector, ssize_t n,
			    const unsigned char *buf, long type)
{
	if (n == -EOVERFLOW) {
		unsigned long lost = strtoul(ipcx_errmsg(), NULL, 10);
		CHECK(lost > 0);
		t->lost += lost;
		return;
	}
	if (n == -ENOMSG)
		return;
	unsigned id;
	CHECK(n == TYPED_LEN);
	memcpy(&id, buf, sizeof(id));
	CHECK(id < t->n && !t->seen[id]);
	typed_check(buf, n, type, id);
	CHECK(selector > 0 ? type == selector : type <= (selector ? -selector : type));
	unsigned which = selector > 0 ? (unsigned)selector : selector == 0 ? 0 : 4;
	if (which < 4) {
		CHECK((long)id > t->last_of[which]); /* the oldest first: never one older */
		t->last_of[which] = id;
	}
	t->seen[id] = 1;
	t->delivered++;
}

/*
 * Typed receives and loans on a policy=overwrite broadcast queue, against
 * a sender in another process that never waits: every message is either
 * delivered once (whole, of a type the selector allows, never older than
 * one the same selector took before) or counted lost once. A message a
 * typed receive took ahead and a sender then overtook is not counted lost.
 */
static void test_broadcast_typed_overwrite(void)
{
	enum { N = 30000 };
	char url[256];
	new_queue(url, sizeof(url), "cap=1KiB&maxmsg=64&pattern=broadcast&policy=overwrite");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	_Atomic int *done = mmap(NULL, sizeof(*done), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(done != MAP_FAILED);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_close(tx);
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		CHECK(write(ready[1], "r", 1) == 1);
		static unsigned char seen[N];
		struct typed_tally t = {.seen = seen, .n = N, .last_of = {-1, -1, -1, -1}};
		static const long selectors[] = {0, 0, 0, 1, 2, 3, -1, -2};
		uint64_t rng = 88172645463325252ull;
		unsigned char buf[TYPED_LEN];
		while (!atomic_load(done)) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			long sel = selectors[rng % 8];
			long type = 0;
			if (rng >> 8 & 1) {
				ssize_t n = ipcx_recv(rx, buf, sizeof(buf), sel, &type, 0);
				typed_tally_add(&t, sel, n, buf, type);
				continue;
			}
			const void *loan;
			ssize_t n = ipcx_recv_loan(rx, &loan, sel, &type, 0);
			if (n >= 0) {
				memcpy(buf, loan, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf));
				int rc = ipcx_release(rx);
				CHECK(rc == 0 || rc == -EOVERFLOW);
				if (rc < 0)
					continue; /* overwritten on loan: it counts among the lost */
			}
			typed_tally_add(&t, sel, n, buf, type);
		}
		ssize_t n;
		long type = 0;
		while ((n = ipcx_recv(rx, buf, sizeof(buf), 0, &type, 0)) != -ENOMSG)
			typed_tally_add(&t, 0, n, buf, type);
		if (t.delivered + t.lost != N)
			test_fail(__FILE__, __LINE__, "%u delivered + %lu lost, %u sent", t.delivered,
				  t.lost, (unsigned)N);
		CHECK(t.lost > 0 && t.delivered > 100);
		ipcx_close(rx);
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	int rc;
	CHECK(typed_send(tx, 0, N, &rc) == N);
	atomic_store(done, 1);
	CHECK(wait_child(pid) == 0);
	munmap(done, sizeof(*done));
	ipcx_close(tx);
}

/* Does the filter types=2,4-5 of test_broadcast_filter let type through? */
static bool filter_wants(long type)
{
	return type == 2 || type == 4 || type == 5;
}

/* The subscriber of test_broadcast_filter: n messages of types 1..6 come, 3 first. */
static void filter_subscriber(const char *url, int ready, int go, unsigned n)
{
	char with_types[300];
	snprintf(with_types, sizeof(with_types), "%s&types=2,4-5", url);
	ipcx_chan *rx = open_ok(with_types, IPCX_RECV);
	CHECK(write(ready, "r", 1) == 1);
	unsigned v;
	long type;
	CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 2, &type, 5000), sizeof(v)); /* 0-2 sent */
	CHECK(v == 1 && type == 2);
	CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 1, &type, 0), -ENOMSG); /* 0 is filtered out */
	CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, &type, 0), -ENOMSG); /* and so are 0 and 2 */
	handshake(ready, go);
	for (unsigned i = 3; i < n; i++) {
		long want = 1 + (long)(i % 6);
		if (!filter_wants(want))
			continue;
		long selector = i % 7 == 0 ? want : 0;
		CHECK_RC(ipcx_recv(rx, &v, sizeof(v), selector, &type, 5000), sizeof(v));
		if (v != i || type != want)
			test_fail(__FILE__, __LINE__, "want %u of type %ld, got %u of type %ld", i,
				  want, v, type);
	}
	CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, NULL, 100), -ETIMEDOUT);
	ipcx_close(rx);
}

/*
 * A broadcast subscriber with types=2,4-5 receives only those types, in
 * order, by selector 0 or its type: the others pass it by, neither
 * delivered nor lost, and their room comes back, so a sender that sends
 * twenty rings' worth with a 1 KiB ring (policy=block) never waits for
 * good. A selector outside the filter finds nothing. A bad list, or
 * types= on anything but a subscriber, is -EINVAL.
 */
static void test_broadcast_filter(void)
{
	enum { N = 600 };
	char url[256], bad[300];
	new_queue(url, sizeof(url), "cap=1KiB&maxmsg=64&pattern=broadcast");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE), *other = NULL;
	static const char *const bad_lists[] = {"0", "3-1", "a", "1,,2", "2-", "-3", "1;2",
						"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"};
	for (unsigned k = 0; k < sizeof(bad_lists) / sizeof(bad_lists[0]); k++) {
		snprintf(bad, sizeof(bad), "%s&types=%s", url, bad_lists[k]);
		CHECK_RC(ipcx_open(&other, bad, IPCX_RECV, 0), -EINVAL);
		CHECK(strstr(ipcx_errmsg(), "bad types") != NULL);
	}
	snprintf(bad, sizeof(bad), "%s&types=2", url);
	CHECK_RC(ipcx_open(&other, bad, IPCX_SEND, 0), -EINVAL);
	CHECK(strstr(ipcx_errmsg(), "types=") != NULL);
	char queue[256];
	new_queue(queue, sizeof(queue), "types=2");
	CHECK_RC(ipcx_open(&other, queue, IPCX_RECV | IPCX_CREATE, 0), -EINVAL);
	int ready[2], go[2];
	CHECK(pipe(ready) == 0 && pipe(go) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_close(tx);
		filter_subscriber(url, ready[1], go[0], N);
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	for (unsigned i = 0; i < N; i++) {
		if (i == 3)
			handshake(go[1], ready[0]);
		CHECK_RC(ipcx_send(tx, &i, sizeof(i), 1 + (long)(i % 6), 5000), 0);
	}
	CHECK(wait_child(pid) == 0);
	ipcx_close(tx);
}

/*
 * One sender, three subscriber processes (one slow), policy=block: every
 * subscriber gets every message, in order, byte for byte; the slowest
 * holds the sender back instead of losing anything.
 */
static void test_broadcast_block(void)
{
	enum { N = 4000, SUBS = 3 };
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB&maxmsg=256&pattern=broadcast");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(tx, &caps), 0);
	CHECK((caps.flags & IPCX_CAP_BROADCAST) && (caps.flags & IPCX_CAP_RELIABLE));
	CHECK(caps.flags & IPCX_CAP_TYPED);
	unsigned char msg[256];
	CHECK_RC(ipcx_send(tx, msg, fill_seq(msg, 0, sizeof(msg)), 1, 0), 0); /* nobody hears it */
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pids[SUBS];
	for (int k = 0; k < SUBS; k++) {
		pids[k] = fork();
		if (pids[k] == 0) {
			ipcx_chan *rx = open_ok(url, IPCX_RECV);
			CHECK(write(ready[1], "r", 1) == 1);
			_exit(subscriber_expect(rx, 1, N, k == 0));
		}
	}
	for (int k = 0; k < SUBS; k++) {
		char c;
		CHECK(read(ready[0], &c, 1) == 1);
	}
	for (unsigned i = 1; i <= N; i++)
		CHECK_RC(ipcx_send(tx, msg, fill_seq(msg, i, sizeof(msg)), 1, 5000), 0);
	for (int k = 0; k < SUBS; k++)
		CHECK(wait_child(pids[k]) == 0);
	/* With a subscriber that reads nothing, the ring fills and the sender waits. */
	ipcx_chan *idle = open_ok(url, IPCX_RECV);
	int rc = 0;
	for (unsigned i = 0; i < 100 && rc == 0; i++)
		rc = ipcx_send(tx, msg, 200, 1, 0);
	CHECK_RC(rc, -EAGAIN);
	CHECK_RC(ipcx_send(tx, msg, 200, 1, 30), -ETIMEDOUT);
	ipcx_close(idle);
	CHECK_RC(ipcx_send(tx, msg, 200, 1, 0), 0); /* its leaving gave the room back */
	close(ready[0]);
	close(ready[1]);
	ipcx_close(tx);
}

/*
 * policy=overwrite: the sender never waits; a subscriber in another
 * process that fell behind learns once, by -EOVERFLOW, how many it lost,
 * then reads the newest messages in order; lost + read = sent. A
 * subscriber that joins later hears only what follows.
 */
static void test_broadcast_overwrite(void)
{
	enum { N = 500 };
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB&maxmsg=256&pattern=broadcast&policy=overwrite");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(tx, &caps), 0);
	CHECK(!(caps.flags & IPCX_CAP_RELIABLE) && !(caps.flags & IPCX_CAP_FLOW_CONTROL));
	int sync[2];
	CHECK(pipe(sync) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		char c;
		CHECK(write(sync[1], "r", 1) == 1);
		usleep(100 * 1000);
		CHECK(read(sync[0], &c, 1) == 1); /* the sender is done */
		unsigned char got[256], want[256];
		CHECK_RC(ipcx_recv(rx, got, sizeof(got), 0, NULL, 0), -EOVERFLOW);
		unsigned long lost = strtoul(ipcx_errmsg(), NULL, 10);
		CHECK(lost > 0 && lost < N);
		unsigned i = (unsigned)lost, nread = 0;
		ssize_t n;
		while ((n = ipcx_recv(rx, got, sizeof(got), 0, NULL, 0)) >= 0) {
			CHECK((size_t)n == fill_seq(want, i, sizeof(want)));
			CHECK(memcmp(got, want, (size_t)n) == 0);
			i++;
			nread++;
		}
		CHECK_RC(n, -ENOMSG);
		CHECK(lost + nread == N + 1); /* and the one sent after the late join */
		ipcx_close(rx);
		_exit(0);
	}
	char c;
	CHECK(read(sync[0], &c, 1) == 1);
	unsigned char msg[256];
	for (unsigned i = 0; i < N; i++)
		CHECK_RC(ipcx_send(tx, msg, fill_seq(msg, i, sizeof(msg)), 1, 0), 0);
	ipcx_chan *late = open_ok(url, IPCX_RECV);
	CHECK_RC(ipcx_send(tx, msg, fill_seq(msg, N, sizeof(msg)), 1, 0), 0);
	CHECK(write(sync[1], "d", 1) == 1);
	CHECK(subscriber_expect(late, N, 1, false) == 0);
	CHECK(wait_child(pid) == 0);
	close(sync[0]);
	close(sync[1]);
	ipcx_close(late);
	ipcx_close(tx);
}

/*
 * The senders of test_broadcast_overwrite_gaps number their messages under
 * one process-shared lock, so that the ring holds them in number order.
 */
struct gap_order {
	pthread_mutex_t lock;
	unsigned next;
	_Atomic bool done;
};

/* Sender k of the gap test: n messages, each numbered under the lock. */
static void gap_sender(const char *url, struct gap_order *o, unsigned n)
{
	ipcx_chan *tx = open_ok(url, IPCX_SEND);
	unsigned char msg[256];
	for (unsigned i = 0; i < n; i++) {
		CHECK(pthread_mutex_lock(&o->lock) == 0);
		size_t len = fill_seq(msg, o->next++, sizeof(msg));
		CHECK_RC(ipcx_send(tx, msg, len, 1, 0), 0); /* never waits */
		CHECK(pthread_mutex_unlock(&o->lock) == 0);
	}
	ipcx_close(tx);
	_exit(0);
}

/*
 * The slow subscriber of the gap test: every gap between two messages it
 * reads must be announced by the -EOVERFLOW report(s) just before the
 * second, with exactly the gap's count; read + reported = total.
 */
static void gap_subscriber(ipcx_chan *rx, struct gap_order *o, unsigned total)
{
	unsigned char got[256], want[256];
	unsigned long reported = 0, pending = 0, nread = 0, gaps = 0;
	long last = -1;
	for (;;) {
		ssize_t n = ipcx_recv(rx, got, sizeof(got), 0, NULL, 0);
		if (n == -EOVERFLOW) {
			unsigned long c = strtoul(ipcx_errmsg(), NULL, 10);
			CHECK(c > 0);
			pending += c;
			continue;
		}
		if (n == -ENOMSG && atomic_load(&o->done) && last + 1 == (long)total)
			break;
		if (n == -ENOMSG) {
			usleep(100);
			continue;
		}
		unsigned seq;
		CHECK(n >= (ssize_t)sizeof(seq));
		memcpy(&seq, got, sizeof(seq));
		CHECK((long)seq > last && seq < total);
		CHECK((size_t)n == fill_seq(want, seq, sizeof(want)) && memcmp(got, want, (size_t)n) == 0);
		if ((unsigned long)((long)seq - last - 1) != pending) {
			fprintf(stderr, "subscriber: %lu lost before message %u, %lu reported\n",
				(unsigned long)((long)seq - last - 1), seq, pending);
			_exit(1);
		}
		gaps += pending != 0;
		reported += pending;
		pending = 0;
		last = seq;
		if (++nread % 4 == 0)
			usleep(200); /* slow: the senders overtake it */
	}
	CHECK(gaps > 0 && nread + reported == total);
	ipcx_close(rx);
	_exit(0);
}

/*
 * policy=overwrite with several sender processes and one slow subscriber
 * process: each -EOVERFLOW comes right before the first message after the
 * gap it counts, so the subscriber knows where every gap was.
 */
static void test_broadcast_overwrite_gaps(void)
{
	enum { SENDERS = 3, EACH = 2000 };
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB&maxmsg=256&pattern=broadcast&policy=overwrite");
	struct gap_order *o = mmap(NULL, sizeof(*o), PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(o != MAP_FAILED);
	pthread_mutexattr_t a;
	CHECK(pthread_mutexattr_init(&a) == 0);
	CHECK(pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0);
	CHECK(pthread_mutex_init(&o->lock, &a) == 0);
	o->next = 0;
	atomic_init(&o->done, false);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t sub = fork();
	if (sub == 0) {
		ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
		CHECK(write(ready[1], "r", 1) == 1);
		gap_subscriber(rx, o, SENDERS * EACH);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1); /* it joined before any send */
	close(ready[0]);
	close(ready[1]);
	pid_t senders[SENDERS];
	for (unsigned k = 0; k < SENDERS; k++) {
		senders[k] = fork();
		if (senders[k] == 0)
			gap_sender(url, o, EACH);
	}
	for (unsigned k = 0; k < SENDERS; k++)
		CHECK(wait_child(senders[k]) == 0);
	atomic_store(&o->done, true);
	CHECK(wait_child(sub) == 0);
	munmap(o, sizeof(*o));
}

/*
 * policy=block: a subscriber killed without reading holds the sender back
 * only until a stuck sender finds it dead and reaps it.
 */
static void test_broadcast_dead_subscriber(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=1KiB&maxmsg=100&pattern=broadcast");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	pid_t pid = stopped_receiver(url, false);
	unsigned char msg[128], got[128];
	int rc = 0;
	unsigned sent = 0;
	for (; sent < 100 && rc == 0; sent++)
		rc = ipcx_send(tx, msg, fill_seq(msg, sent, 100), 1, 0);
	CHECK_RC(rc, -EAGAIN);
	sent--;
	kill(pid, SIGKILL);
	CHECK(wait_child(pid) == 128 + SIGKILL);
	CHECK_RC(ipcx_send(tx, msg, fill_seq(msg, sent, 100), 1, 2000), 0);
	ipcx_chan *rx = open_ok(url, IPCX_RECV);
	for (unsigned i = 0; i < 5; i++)
		CHECK_RC(ipcx_send(tx, msg, fill_seq(msg, i, 100), 1, 0), 0);
	for (unsigned i = 0; i < 5; i++) {
		size_t len = fill_seq(msg, i, 100);
		CHECK_RC(ipcx_recv(rx, got, sizeof(got), 0, NULL, 0), len);
		CHECK(memcmp(msg, got, len) == 0);
	}
	ipcx_close(rx);
	ipcx_close(tx);
}

/* The segment of url mapped shared, as any peer maps it; *size gets its size. */
static struct ipcx__shm_hdr *map_segment(const char *url, size_t *size)
{
	char path[300];
	const char *name = strstr(url, "://") + 3;
	snprintf(path, sizeof(path), "/dev/shm/ipcx.%.*s", (int)strcspn(name, "?"), name);
	int fd = open(path, O_RDWR);
	struct stat st;
	CHECK(fd >= 0 && fstat(fd, &st) == 0);
	*size = (size_t)st.st_size;
	void *p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	CHECK(p != MAP_FAILED);
	return p;
}

static struct ipcx__shm_slot *slot_at(struct ipcx__shm_hdr *h, unsigned i)
{
	return (struct ipcx__shm_slot *)((char *)h + h->slot_off + (size_t)i * h->slot_size);
}

/* The index of the slot whose owner is pid (the token's low 22 bits), or of the subscriber. */
static unsigned find_slot(struct ipcx__shm_hdr *h, pid_t pid)
{
	for (unsigned i = 0; i < h->max_peers; i++) {
		struct ipcx__shm_slot *s = slot_at(h, i);
		uint64_t o = atomic_load(&s->owner);
		if (pid ? o && ((o >> 2) & ((1u << 22) - 1)) == (uint64_t)pid
			: atomic_load(&s->sub) != 0)
			return i;
	}
	CHECK(!"no such slot");
	return 0;
}

/* A sender process that opened url and died without closing: its slot index. */
static unsigned dead_sender(const char *url, struct ipcx__shm_hdr *h)
{
	pid_t pid = fork();
	if (pid == 0) {
		left_open = open_ok(url, IPCX_SEND);
		_exit(0);
	}
	CHECK(wait_child(pid) == 0);
	return find_slot(h, pid);
}

/*
 * Sends n numbered messages from first, receiving each: returns the losses
 * reported on the way (each message is delivered, in order).
 */
static unsigned long send_recv(ipcx_chan *tx, ipcx_chan *rx, unsigned first, unsigned n)
{
	unsigned long lost = 0;
	for (unsigned i = first; i < first + n; i++) {
		CHECK_RC(ipcx_send(tx, &i, sizeof(i), 1, 0), 0);
		unsigned v;
		ssize_t rc = ipcx_recv(rx, &v, sizeof(v), 0, NULL, 0);
		if (rc == -EOVERFLOW) {
			lost += strtoul(ipcx_errmsg(), NULL, 10);
			rc = ipcx_recv(rx, &v, sizeof(v), 0, NULL, 0);
		}
		CHECK_RC(rc, sizeof(v));
		CHECK(v == i);
	}
	return lost;
}

/*
 * policy=overwrite: a sender that died while overtaking a subscriber (its
 * bit in the subscriber's movers mask still set) is reaped by the
 * subscriber's next receive, which then no longer waits for it. The dead
 * sender's state is left in the segment as SIGKILL would leave it: once
 * before its move (bit only), once after winning it but before counting
 * the loss (bit, position moved on, intent).
 */
static void test_broadcast_dead_mover(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=64KiB&maxmsg=64&pattern=broadcast&policy=overwrite");
	ipcx_chan *rx = open_ok(url, IPCX_RECV | IPCX_CREATE);
	ipcx_chan *tx = open_ok(url, IPCX_SEND);
	size_t size;
	struct ipcx__shm_hdr *h = map_segment(url, &size);
	struct ipcx__shm_slot *sub = slot_at(h, find_slot(h, 0));

	/* Died before its move: nothing lost, nothing owed. */
	unsigned dead = dead_sender(url, h);
	atomic_fetch_or(&sub->movers, (uint64_t)1 << dead);
	CHECK(send_recv(tx, rx, 0, 10) == 0);
	CHECK(atomic_load(&sub->movers) == 0);
	CHECK(atomic_load(&slot_at(h, dead)->owner) == 0);

	/* Died after moving the subscriber past message 10, before counting it. */
	dead = dead_sender(url, h);
	unsigned ten = 10;
	CHECK_RC(ipcx_send(tx, &ten, sizeof(ten), 1, 0), 0);
	atomic_fetch_or(&sub->movers, (uint64_t)1 << dead);
	atomic_store(&sub->sub, atomic_load(&h->tail) + 1);
	atomic_store(&slot_at(h, dead)->overtook, find_slot(h, 0) + 1);
	unsigned long lost = send_recv(tx, rx, 11, 989);
	unsigned delivered = 10 + 989, sent = 1000;
	CHECK(lost == 1 && lost + delivered == sent);
	CHECK(atomic_load(&sub->movers) == 0);
	CHECK(atomic_load(&sub->lost) == 0);
	CHECK(atomic_load(&slot_at(h, dead)->owner) == 0);
	CHECK(atomic_load(&slot_at(h, dead)->overtook) == 0);
	munmap(h, size);
	ipcx_close(tx);
	ipcx_close(rx);
}

/*
 * policy=block with two sender processes and two subscriber processes:
 * each subscriber sees each sender's messages complete and in order.
 */
static void test_broadcast_two_senders(void)
{
	enum { N = 3000, SENDERS = 2, SUBS = 2 };
	char url[256];
	new_queue(url, sizeof(url), "cap=2KiB&maxmsg=256&pattern=broadcast");
	ipcx_chan *keep = open_ok(url, IPCX_SEND | IPCX_CREATE);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pids[SENDERS + SUBS];
	for (int k = 0; k < SUBS; k++) {
		pids[k] = fork();
		if (pids[k] == 0) {
			ipcx_chan *rx = open_ok(url, IPCX_RECV);
			CHECK(write(ready[1], "r", 1) == 1);
			unsigned next[SENDERS] = {0};
			unsigned char want[256], got[256];
			for (unsigned i = 0; i < SENDERS * N; i++) {
				long type = 0;
				ssize_t n = ipcx_recv(rx, got, sizeof(got), 0, &type, 5000);
				CHECK(n >= 0 && type >= 1 && type <= SENDERS);
				unsigned *seq = &next[type - 1];
				CHECK((size_t)n == fill_seq(want, *seq, sizeof(want)));
				CHECK(memcmp(want, got, (size_t)n) == 0);
				(*seq)++;
			}
			_exit(next[0] == N && next[1] == N ? 0 : 1);
		}
	}
	for (int k = 0; k < SUBS; k++) {
		char c;
		CHECK(read(ready[0], &c, 1) == 1);
	}
	for (int k = 0; k < SENDERS; k++) {
		pids[SUBS + k] = fork();
		if (pids[SUBS + k] == 0) {
			ipcx_chan *tx = open_ok(url, IPCX_SEND);
			unsigned char msg[256];
			for (unsigned i = 0; i < N; i++)
				CHECK_RC(ipcx_send(tx, msg, fill_seq(msg, i, sizeof(msg)), 1 + k, 5000), 0);
			_exit(0);
		}
	}
	for (int k = 0; k < SENDERS + SUBS; k++)
		CHECK(wait_child(pids[k]) == 0);
	close(ready[0]);
	close(ready[1]);
	ipcx_close(keep);
}

/*
 * policy=block: subscribers joining while the only sender streams into a
 * small ring (holding the sole-sender lease, so its tail moves by a plain
 * store) hear every message from the one they joined at, with no gap; a
 * second sender takes the lease away and both are heard.
 */
static void test_broadcast_join_streaming(void)
{
	enum { JOINERS = 24, EACH = 3000 };
	char url[256];
	new_queue(url, sizeof(url), "cap=1KiB&maxmsg=64&pattern=broadcast");
	ipcx_close(open_ok(url, IPCX_SEND | IPCX_CREATE));
	bool leases = have_leases();
	int stop[2];
	CHECK(pipe(stop) == 0);
	pid_t sender = fork();
	if (sender == 0) {
		ipcx_chan *tx = open_ok(url, IPCX_SEND);
		CHECK(!leases || send_lease_of(url) != 0);
		close(stop[1]);
		CHECK(fcntl(stop[0], F_SETFL, O_NONBLOCK) == 0);
		char c;
		for (uint64_t i = 0;; i++) {
			CHECK_RC(ipcx_send(tx, &i, sizeof(i), 1, 5000), 0);
			if (i % 256 == 0 && read(stop[0], &c, 1) == 0)
				_exit(0);
		}
	}
	close(stop[0]);
	pid_t joiner[JOINERS];
	for (int k = 0; k < JOINERS; k++) {
		joiner[k] = fork();
		if (joiner[k] == 0) {
			usleep((useconds_t)(k % 4) * 700);
			ipcx_chan *rx = open_ok(url, IPCX_RECV);
			uint64_t v, prev = 0;
			for (unsigned i = 0; i < EACH; i++) {
				CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, NULL, 5000), sizeof(v));
				if (i > 0 && v != prev + 1) {
					fprintf(stderr, "joiner %d: %llu after %llu\n", k,
						(unsigned long long)v, (unsigned long long)prev);
					_exit(1);
				}
				prev = v;
			}
			_exit(0);
		}
		if (k % 4 == 3) /* four at a time, joining at different moments */
			for (int j = k - 3; j <= k; j++)
				CHECK(wait_child(joiner[j]) == 0);
	}
	close(stop[1]);
	CHECK(wait_child(sender) == 0);
	/* A second sender: the lease goes, and a subscriber hears both. */
	ipcx_chan *tx = open_ok(url, IPCX_SEND);
	CHECK(!leases || send_lease_of(url) != 0);
	ipcx_chan *rx = open_ok(url, IPCX_RECV), *tx2 = open_ok(url, IPCX_SEND);
	CHECK_RC(ipcx_send(tx2, "b", 1, 2, 0), 0);
	CHECK(send_lease_of(url) == 0);
	CHECK_RC(ipcx_send(tx, "a", 1, 1, 0), 0);
	char got[8];
	long type;
	CHECK_RC(ipcx_recv(rx, got, sizeof(got), 0, &type, 0), 1);
	CHECK(got[0] == 'b' && type == 2);
	CHECK_RC(ipcx_recv(rx, got, sizeof(got), 0, &type, 0), 1);
	CHECK(got[0] == 'a' && type == 1);
	ipcx_close(rx);
	ipcx_close(tx2);
	ipcx_close(tx);
}

/*
 * policy=block subscribers read in place: a subscriber process takes
 * every message on loan, intact, while the sender streams; a loan holds
 * its message's room until the release, or until its holder, killed, is
 * reaped; an overwrite subscriber's loan that a sender overtook fails its
 * release with -EOVERFLOW.
 */
static void test_broadcast_loans(void)
{
	enum { N = 3000 };
	char url[256];
	new_queue(url, sizeof(url), "cap=1KiB&maxmsg=200&pattern=broadcast");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		CHECK(write(ready[1], "r", 1) == 1);
		unsigned char want[200];
		for (unsigned i = 0; i < N; i++) {
			const void *buf;
			long type;
			size_t len = fill_seq(want, i, sizeof(want));
			CHECK_RC(ipcx_recv_loan(rx, &buf, 0, &type, 5000), len);
			CHECK_RC(ipcx_recv_loan(rx, &buf, 0, &type, 0), -EBUSY);
			if (i % 500 == 0)
				usleep(2000); /* the sender waits: the loan holds its room */
			CHECK(type == 1 + (long)(i % 3) && memcmp(buf, want, len) == 0);
			CHECK_RC(ipcx_release(rx), 0);
		}
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	unsigned char msg[200];
	for (unsigned i = 0; i < N; i++)
		CHECK_RC(ipcx_send(tx, msg, fill_seq(msg, i, sizeof(msg)), 1 + i % 3, 5000), 0);
	CHECK(wait_child(pid) == 0);

	ipcx_chan *rx = open_ok(url, IPCX_RECV);
	unsigned sent = 0;
	while (ipcx_send(tx, &sent, sizeof(sent), 1, 0) == 0)
		sent++;
	CHECK(sent > 2);
	const void *loan;
	CHECK_RC(ipcx_recv_loan(rx, &loan, 0, NULL, 0), sizeof(unsigned));
	CHECK_RC(ipcx_send(tx, &sent, sizeof(sent), 1, 0), -EAGAIN); /* the loaned one's room is held */
	CHECK(memcmp(loan, &(unsigned){0}, sizeof(unsigned)) == 0);
	CHECK_RC(ipcx_release(rx), 0);
	CHECK_RC(ipcx_send(tx, &sent, sizeof(sent), 1, 0), 0);
	for (unsigned i = 1; i <= sent; i++) {
		unsigned v;
		CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, NULL, 0), sizeof(v));
		CHECK(v == i);
	}
	CHECK_RC(ipcx_send(tx, "x", 1, 1, 0), 0);
	CHECK_RC(ipcx_recv_loan(rx, &loan, 0, NULL, 0), 1);
	ipcx_close(rx); /* closing with a loan held releases it */

	/* A subscriber killed holding a loan holds the sender back only until it is reaped. */
	pid = fork();
	if (pid == 0) {
		ipcx_chan *sub = open_ok(url, IPCX_RECV);
		CHECK(write(ready[1], "r", 1) == 1);
		CHECK_RC(ipcx_recv_loan(sub, &loan, 0, NULL, 5000), 1);
		CHECK(write(ready[1], "l", 1) == 1);
		pause();
		_exit(0);
	}
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK_RC(ipcx_send(tx, "y", 1, 1, 0), 0);
	CHECK(read(ready[0], &c, 1) == 1 && c == 'l');
	int rc = 0;
	for (unsigned i = 0; i < 100 && rc == 0; i++)
		rc = ipcx_send(tx, &i, sizeof(i), 1, 0);
	CHECK_RC(rc, -EAGAIN);
	kill(pid, SIGKILL);
	CHECK(wait_child(pid) == 128 + SIGKILL);
	CHECK_RC(ipcx_send(tx, "z", 1, 1, 2000), 0);
	close(ready[0]);
	close(ready[1]);
	ipcx_close(tx);

	/*
	 * policy=overwrite: a loan nobody overtook is released as usual; one a
	 * sender overtook (and wrote over) says so at the release, and counts
	 * among the losses the next receive reports.
	 */
	new_queue(url, sizeof(url), "cap=1KiB&maxmsg=200&pattern=broadcast&policy=overwrite");
	tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	rx = open_ok(url, IPCX_RECV);
	CHECK_RC(ipcx_send(tx, "a", 1, 1, 0), 0);
	CHECK_RC(ipcx_recv_loan(rx, &loan, 0, NULL, 0), 1);
	CHECK(memcmp(loan, "a", 1) == 0);
	CHECK_RC(ipcx_release(rx), 0);
	CHECK_RC(ipcx_send(tx, "b", 1, 1, 0), 0);
	CHECK_RC(ipcx_recv_loan(rx, &loan, 0, NULL, 0), 1);
	unsigned i = 0;
	for (; i < 100; i++) /* a few laps of the 1 KiB ring: "b" is overwritten */
		CHECK_RC(ipcx_send(tx, &i, sizeof(i), 1, 0), 0);
	CHECK_RC(ipcx_release(rx), -EOVERFLOW);
	CHECK(strstr(ipcx_errmsg(), "overwritten while on loan") != NULL);
	unsigned v, lost;
	CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, NULL, 0), -EOVERFLOW);
	lost = (unsigned)strtoul(ipcx_errmsg(), NULL, 10);
	CHECK_RC(ipcx_recv(rx, &v, sizeof(v), 0, NULL, 0), sizeof(v));
	CHECK(lost >= 1 && v == lost - 1); /* "b" and the messages before v */
	ipcx_close(rx);
	ipcx_close(tx);
}

/*
 * Opening a bounded queue maps its whole ring at once: a first lap of
 * messages through a fresh 1 MiB ring takes no page fault (it took one
 * every 4 KiB in each mapping, 6 us each on the development VM: the
 * p99.9 of a round trip).
 */
static void test_ring_populated(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=1MiB&maxmsg=64");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE), *rx = open_ok(url, IPCX_RECV);
	unsigned char msg[64] = {0}, got[64];
	struct rusage before, after;
	CHECK(getrusage(RUSAGE_SELF, &before) == 0);
	for (unsigned i = 0; i < 2 * (1u << 20) / 88; i++) { /* two laps of 88-byte records */
		memcpy(msg, &i, sizeof(i));
		CHECK_RC(ipcx_send(tx, msg, sizeof(msg), 1, 0), 0);
		CHECK_RC(ipcx_recv(rx, got, sizeof(got), 0, NULL, 0), sizeof(got));
		CHECK(memcmp(got, msg, sizeof(msg)) == 0);
	}
	CHECK(getrusage(RUSAGE_SELF, &after) == 0);
	/* Unmapped, each of the two mappings faults 256 times; the sanitizers add about 64. */
	long faults = after.ru_minflt - before.ru_minflt;
	if (faults >= 256)
		test_fail(__FILE__, __LINE__, "%ld page faults in two laps of a 1 MiB ring", faults);
	ipcx_close(rx);
	ipcx_close(tx);
}

/* ---- unbounded queues ---------------------------------------------- */

#define UNB_MSG (64u * 1024u)

/* Message i of the unbounded tests: UNB_MSG bytes that say which message it is. */
static void unb_fill(unsigned char *buf, unsigned i)
{
	for (size_t k = 0; k < UNB_MSG; k += 8) {
		uint64_t v = (uint64_t)i * 0x9e3779b97f4a7c15ull ^ k;
		memcpy(buf + k, &v, 8);
	}
}

/* Bytes of memory the segment of url holds now. */
static uint64_t unb_allocated(const char *url)
{
	char path[320];
	snprintf(path, sizeof(path), "/dev/shm/ipcx.%s", strchr(url, '/') + 2);
	*strchr(path, '?') = '\0';
	struct stat st;
	CHECK(stat(path, &st) == 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Sends messages from..to-1 with timeout 0; returns how many went before the first failure. */
static unsigned unb_send(ipcx_chan *tx, unsigned from, unsigned to, int *rc)
{
	static unsigned char buf[UNB_MSG];
	*rc = 0;
	for (unsigned i = from; i < to; i++) {
		unb_fill(buf, i);
		*rc = ipcx_send(tx, buf, UNB_MSG, 1 + i % 5, 0);
		if (*rc < 0)
			return i - from;
	}
	return to - from;
}

/* Receives messages from..to-1 in order, comparing every byte; then the queue is empty. */
static void unb_drain(ipcx_chan *rx, unsigned from, unsigned to)
{
	static unsigned char want[UNB_MSG], got[UNB_MSG];
	for (unsigned i = from; i < to; i++) {
		long type = 0;
		unb_fill(want, i);
		CHECK_RC(ipcx_recv(rx, got, sizeof(got), 0, &type, 5000), UNB_MSG);
		CHECK(type == 1 + (long)(i % 5) && memcmp(want, got, UNB_MSG) == 0);
	}
	CHECK_RC(ipcx_recv(rx, got, sizeof(got), 0, NULL, 0), -ENOMSG);
}

/*
 * A sender in one process queues 64MiB (64 times the default cap) with
 * timeout 0 while nobody reads: every send succeeds and the segment grows.
 * A receiver in another process drains it all in order, and the memory
 * goes back.
 */
static void test_unbounded_backlog(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=unbounded");
	ipcx_chan *ch = open_ok(url, IPCX_SEND | IPCX_CREATE);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(ch, &caps), 0);
	CHECK(caps.capacity == SIZE_MAX && !(caps.flags & IPCX_CAP_FLOW_CONTROL));
	CHECK(caps.max_msg == 16u << 20);
	uint64_t empty = unb_allocated(url);
	CHECK(empty < (1u << 20));
	enum { N = 1024 };
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_close(ch);
		ipcx_chan *tx = open_ok(url, IPCX_SEND);
		int rc;
		CHECK(unb_send(tx, 0, N, &rc) == N);
		ipcx_close(tx);
		_exit(0);
	}
	CHECK(wait_child(pid) == 0);
	CHECK(unb_allocated(url) >= (uint64_t)N * UNB_MSG);
	pid = fork();
	if (pid == 0) {
		ipcx_close(ch);
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		unb_drain(rx, 0, N);
		ipcx_close(rx);
		_exit(0);
	}
	CHECK(wait_child(pid) == 0);
	/* Only the header, the slots, the chunk under the release cursor and the one before stay. */
	CHECK(unb_allocated(url) <= empty + (3u << 20));
	ipcx_close(ch);
}

/* Bytes of address space this process has mapped (VmSize). */
static uint64_t address_space_used(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	CHECK(f != NULL);
	char line[256];
	unsigned long long kib = 0;
	while (fgets(line, sizeof(line), f) && sscanf(line, "VmSize: %llu kB", &kib) != 1)
		;
	fclose(f);
	CHECK(kib > 0);
	return (uint64_t)kib << 10;
}

/*
 * A creator whose address space cannot take the 256GiB ring (here
 * RLIMIT_AS leaves it 400MiB; valgrind leaves 32GiB) gets the largest ring
 * that fits, down to 256MiB. Such a queue holds half its ring: a send past
 * that is -ENOMEM at once, timeout or not, saying so. A process without
 * the limit opens it and takes every message, byte for byte.
 */
static void test_unbounded_address_space(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=unbounded");
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit lim;
		lim.rlim_cur = lim.rlim_max = address_space_used() + (400u << 20);
		CHECK(setrlimit(RLIMIT_AS, &lim) == 0);
		ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
		int rc;
		unsigned sent = unb_send(tx, 0, 4096, &rc);
		CHECK_RC(rc, -ENOMEM);
		CHECK(strstr(ipcx_errmsg(), "unbounded queue holds 128 MiB") != NULL);
		CHECK(sent > 2000 && sent < 2048);
		static unsigned char buf[UNB_MSG];
		CHECK_RC(ipcx_send(tx, buf, UNB_MSG, 1, 5000), -ENOMEM);
		ipcx_close(tx);
		_exit(0);
	}
	CHECK(wait_child(pid) == 0);
	struct ipcx__shm_hdr h = header_of(url);
	CHECK(h.ring_size == IPCX__SHM_UNBOUNDED_MIN_RING && h.cap == h.ring_size / 2);
	ipcx_chan *rx = open_ok(url, IPCX_RECV);
	static unsigned char want[UNB_MSG], got[UNB_MSG];
	unsigned n = 0;
	int rc;
	while ((rc = ipcx_recv(rx, got, sizeof(got), 0, NULL, 0)) == UNB_MSG) {
		unb_fill(want, n++);
		CHECK(memcmp(want, got, UNB_MSG) == 0);
	}
	CHECK_RC(rc, -ENOMSG);
	CHECK(n > 2000 && n < 2048);
	ipcx_chan *tx = open_ok(url, IPCX_SEND);
	CHECK(unb_send(tx, n, n + 64, &rc) == 64);
	unb_drain(rx, n, n + 64);
	ipcx_close(tx);
	ipcx_close(rx);
}

/* Maps the header and the peer slots of the queue behind url, writable, for a test to poke. */
static struct ipcx__shm_hdr *unb_map_slots(const char *url, size_t *len)
{
	struct ipcx__shm_hdr h = header_of(url);
	*len = h.slot_off + (size_t)h.max_peers * h.slot_size;
	char path[320];
	snprintf(path, sizeof(path), "/dev/shm/ipcx.%s", strchr(url, '/') + 2);
	*strchr(path, '?') = '\0';
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	void *p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	CHECK(p != MAP_FAILED);
	return p;
}

static struct ipcx__shm_slot *unb_slot(struct ipcx__shm_hdr *h, unsigned i)
{
	return (struct ipcx__shm_slot *)((char *)h + h->slot_off + (size_t)i * h->slot_size);
}

/*
 * A receiver of an unbounded queue that stopped while reading record
 * headers (its slot's reading position, set here as a receive sets it)
 * keeps the trim behind that position however far the others go; once it
 * is dead and the trim lags 16 chunks, it is reaped and the trim goes on.
 */
static void test_unbounded_trim_hazard(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=unbounded");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE), *rx = open_ok(url, IPCX_RECV);
	size_t len;
	struct ipcx__shm_hdr *h = unb_map_slots(url, &len);
	uint64_t owned = 0;
	for (unsigned i = 0; i < h->max_peers; i++)
		owned |= (uint64_t)(atomic_load(&unb_slot(h, i)->owner) != 0) << i;
	pid_t pid = stopped_receiver(url, false);
	struct ipcx__shm_slot *stopped = NULL;
	for (unsigned i = 0; i < h->max_peers && !stopped; i++)
		if (!(owned >> i & 1) && atomic_load(&unb_slot(h, i)->owner))
			stopped = unb_slot(h, i);
	CHECK(stopped != NULL);
	enum { PER_MIB = (1u << 20) / UNB_MSG };
	int rc;
	CHECK(unb_send(tx, 0, 2 * PER_MIB, &rc) == 2 * PER_MIB);
	unb_drain(rx, 0, 2 * PER_MIB);
	uint64_t at = atomic_load(&h->rel);
	atomic_store(&stopped->reading, at + 1);
	for (unsigned i = 2; i < 24; i++) { /* 22 MiB through, a MiB at a time */
		CHECK(unb_send(tx, i * PER_MIB, (i + 1) * PER_MIB, &rc) == PER_MIB);
		unb_drain(rx, i * PER_MIB, (i + 1) * PER_MIB);
	}
	CHECK(atomic_load(&h->rel) >= at + (20u << 20));
	CHECK(atomic_load(&h->trimmed) <= (at & ~(uint64_t)((1u << 20) - 1)));
	kill(pid, SIGKILL);
	CHECK(wait_child(pid) == 128 + SIGKILL);
	CHECK(unb_send(tx, 24 * PER_MIB, 26 * PER_MIB, &rc) == 2 * PER_MIB);
	unb_drain(rx, 24 * PER_MIB, 26 * PER_MIB);
	CHECK(atomic_load(&stopped->owner) == 0); /* reaped by the trim */
	CHECK(atomic_load(&h->trimmed) >= at + (20u << 20));
	munmap(h, len);
	ipcx_close(rx);
	ipcx_close(tx);
}

/*
 * In a mount namespace of its own, /dev/shm is an 8MiB tmpfs: sends past
 * it fail with -ENOMEM and a clear message, nothing crashes, and once a
 * receiver in another process drained the queue it takes messages again.
 */
static void test_unbounded_enomem(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		SKIP("needs a mount namespace (root): unshare: %s", strerror(errno));
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("none", "/dev/shm", "tmpfs", 0, "size=8m") < 0)
		SKIP("cannot mount a small tmpfs on /dev/shm: %s", strerror(errno));
	char url[256];
	snprintf(url, sizeof(url), "shm://unbounded-enomem?cap=unbounded&pattern=spsc");
	ipcx_chan *tx = open_ok(url, IPCX_SEND | IPCX_CREATE);
	int rc;
	unsigned sent = unb_send(tx, 0, 1000, &rc);
	CHECK_RC(rc, -ENOMEM);
	CHECK(strstr(ipcx_errmsg(), "/dev/shm is full") != NULL);
	CHECK(sent >= 64 && sent < 128);
	CHECK_RC(unb_send(tx, sent, sent + 1, &rc), 0);
	CHECK_RC(rc, -ENOMEM);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_close(tx);
		ipcx_chan *rx = open_ok(url, IPCX_RECV);
		unb_drain(rx, 0, sent);
		ipcx_close(rx);
		_exit(0);
	}
	CHECK(wait_child(pid) == 0);
	/* The memory came back, but for the two chunks a trim keeps (32 messages). */
	unsigned again = unb_send(tx, sent, 3 * sent, &rc);
	CHECK_RC(rc, -ENOMEM);
	CHECK(again + 34 >= sent && again > 16);
	ipcx_chan *rx = open_ok(url, IPCX_RECV);
	unb_drain(rx, sent, sent + again);
	ipcx_close(rx);
	ipcx_close(tx);
}

/*
 * A receiver killed while it has a pollable descriptor leaves its FIFO in
 * /dev/shm until it is reaped; removing the queue first removes the FIFO
 * with it. A live poller's FIFO stays (it still waits on it).
 */
static void test_poll_fifo_removed_with_queue(void)
{
	char url[256];
	new_queue(url, sizeof(url), "cap=4KiB");
	ipcx_chan *live = open_ok(url, IPCX_RECV | IPCX_CREATE);
	CHECK(ipcx_fd(live) >= 0);
	pid_t pid = stopped_receiver(url, true);
	size_t size;
	struct ipcx__shm_hdr *h = map_segment(url, &size);
	uint64_t dead_id = atomic_load(&slot_at(h, find_slot(h, pid))->poll_id);
	uint64_t live_id = atomic_load(&slot_at(h, find_slot(h, getpid()))->poll_id);
	munmap(h, size);
	kill(pid, SIGKILL);
	CHECK(wait_child(pid) == 128 + SIGKILL);
	char dead_fifo[64], live_fifo[64];
	snprintf(dead_fifo, sizeof(dead_fifo), "/dev/shm/ipcx-poll.%016llx", (unsigned long long)dead_id);
	snprintf(live_fifo, sizeof(live_fifo), "/dev/shm/ipcx-poll.%016llx", (unsigned long long)live_id);
	CHECK(dead_id && live_id && access(dead_fifo, F_OK) == 0 && access(live_fifo, F_OK) == 0);
	CHECK_RC(ipcx_unlink(url), 0);
	CHECK(access(dead_fifo, F_OK) < 0 && errno == ENOENT);
	CHECK(access(live_fifo, F_OK) == 0);
	ipcx_close(live);
	CHECK(access(live_fifo, F_OK) < 0 && errno == ENOENT);
}

static const struct test_case tests[] = {
	{"broadcast_two_senders", test_broadcast_two_senders},
	{"broadcast_join_streaming", test_broadcast_join_streaming},
	{"broadcast_loans", test_broadcast_loans},
	{"broadcast_typed", test_broadcast_typed},
	{"broadcast_typed_overwrite", test_broadcast_typed_overwrite},
	{"broadcast_filter", test_broadcast_filter},
	{"broadcast_dead_subscriber", test_broadcast_dead_subscriber},
	{"broadcast_dead_mover", test_broadcast_dead_mover},
	{"broadcast_block", test_broadcast_block},
	{"broadcast_overwrite", test_broadcast_overwrite},
	{"broadcast_overwrite_gaps", test_broadcast_overwrite_gaps},
	{"rendezvous", test_rendezvous},
	{"poll_fd_basics", test_poll_fd_basics},
	{"poll_fd_epoll_stream", test_poll_fd_epoll_stream},
	{"poll_fifo_removed_with_queue", test_poll_fifo_removed_with_queue},
	{"fork_inherited_close", test_fork_inherited_close},
	{"stream_queue", test_stream_queue},
	{"stream_spsc", test_stream_spsc},
	{"stream_default", test_stream_default},
	{"bare_name", test_bare_name},
	{"timeouts", test_timeouts},
	{"sizes", test_sizes},
	{"typed", test_typed},
	{"typed_wait", test_typed_wait},
	{"typed_wait_broadcast", test_typed_wait_broadcast},
	{"options", test_options},
	{"spsc_one_each", test_spsc_one_each},
	{"queue_lease", test_queue_lease},
	{"queue_lease_loan", test_queue_lease_loan},
	{"mpsc_lanes", test_mpsc_lanes},
	{"mpsc_typed", test_mpsc_typed},
	{"mpsc_dead_sender", test_mpsc_dead_sender},
	{"loans", test_loans},
	{"wakeup_and_signals", test_wakeup_and_signals},
	{"no_lost_wakeups", test_no_lost_wakeups},
	{"room_after_one_receive", test_room_after_one_receive},
	{"corrupt_header", test_corrupt_header},
	{"corrupt_records", test_corrupt_records},
	{"dead_sender_mid_message", test_dead_sender_mid_message},
	{"dead_receiver_with_loan", test_dead_receiver_with_loan},
	{"stream_unbounded", test_stream_unbounded},
	{"ring_populated", test_ring_populated},
	{"unbounded_backlog", test_unbounded_backlog},
	{"unbounded_trim_hazard", test_unbounded_trim_hazard},
	{"unbounded_enomem", test_unbounded_enomem},
	{"unbounded_address_space", test_unbounded_address_space},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
