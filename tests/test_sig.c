/*
 * test_sig.c - the signal API and sig://: names, realtime signals queued
 * (N sent, N received, in order, up to RLIMIT_SIGPENDING with a clear error
 * beyond), standard signals merged, payloads, and the channel's limits.
 */
#include "testutil.h"

#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

/* Every signal's name parses back to it; other spellings and bad names too. */
static void test_names(void)
{
	CHECK(strcmp(ipcx_signal_name(SIGUSR1), "SIGUSR1") == 0);
	CHECK(strcmp(ipcx_signal_name(SIGRTMIN), "SIGRTMIN") == 0);
	CHECK(strcmp(ipcx_signal_name(SIGRTMIN + 3), "SIGRTMIN+3") == 0);
	CHECK(ipcx_signal_name(0) == NULL && ipcx_signal_name(SIGRTMAX + 1) == NULL);
	for (int s = 1; s <= SIGRTMAX; s++) {
		const char *name = ipcx_signal_name(s);
		if (name)
			CHECK_RC(ipcx_signal_parse(name), s);
	}
	CHECK_RC(ipcx_signal_parse("usr2"), SIGUSR2);
	CHECK_RC(ipcx_signal_parse("SigTerm"), SIGTERM);
	CHECK_RC(ipcx_signal_parse("10"), 10);
	CHECK_RC(ipcx_signal_parse("RTMIN+3"), SIGRTMIN + 3);
	CHECK_RC(ipcx_signal_parse("SIGRTMAX-1"), SIGRTMAX - 1);
	CHECK_RC(ipcx_signal_parse("SIGRTMAX"), SIGRTMAX);
	static const char *const bad[] = {"", "SIGFOO", "0", "-5", "RTMIN+99", "RTMIN-1",
					  "SIGRTMAX+1", "10x", "SIG"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_RC(ipcx_signal_parse(bad[i]), -EINVAL);
		CHECK(strstr(ipcx_errmsg(), "not a signal") != NULL);
	}
}

#define QUEUED 50

/*
 * Realtime signals queue: a sender that has exited before anyone receives
 * still gets all QUEUED messages across, each once, in order, with its length.
 */
static void test_realtime_queued(void)
{
	ipcx_chan *r = open_ok("sig://self?signo=SIGRTMIN+2", IPCX_RECV);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(r, &caps), 0);
	CHECK((caps.flags & IPCX_CAP_RELIABLE) && caps.max_msg == sizeof(union sigval));
	pid_t pid = fork();
	if (pid == 0) {
		char url[64];
		snprintf(url, sizeof(url), "sig://%d?signo=RTMIN+2", (int)getppid());
		ipcx_chan *w = open_ok(url, IPCX_SEND);
		for (unsigned i = 0; i < QUEUED; i++) {
			unsigned char msg[8];
			memset(msg, (int)i, sizeof(msg));
			CHECK_RC(ipcx_send(w, msg, i % 9, 1, 0), 0);
		}
		ipcx_close(w);
		_exit(0);
	}
	wait_child_ok(pid);
	for (unsigned i = 0; i < QUEUED; i++) {
		unsigned char buf[8];
		long type = 0;
		ssize_t n = ipcx_recv(r, buf, sizeof(buf), 0, &type, 0);
		CHECK_RC(n, (ssize_t)(i % 9));
		CHECK(type == 1);
		for (ssize_t k = 0; k < n; k++)
			CHECK(buf[k] == (unsigned char)i);
	}
	char buf[8];
	CHECK_RC(ipcx_recv(r, buf, sizeof(buf), 0, NULL, 0), -ENOMSG);
	CHECK_RC(ipcx_recv(r, buf, sizeof(buf), 0, NULL, 20), -ETIMEDOUT);
	ipcx_close(r);
}

/* Standard signals sent while blocked merge into one; realtime ones each arrive, with payloads. */
static void test_standard_merged_realtime_not(void)
{
	int sigs[] = {SIGUSR1, SIGRTMIN + 1};
	CHECK_RC(ipcx_signal_block(sigs, 2), 0);
	pid_t pid = fork();
	if (pid == 0) {
		for (long i = 0; i < 5; i++) {
			CHECK_RC(ipcx_signal_send(getppid(), SIGUSR1, 100 + i), 0);
			CHECK_RC(ipcx_signal_send(getppid(), SIGRTMIN + 1, 200 + i), 0);
		}
		_exit(0);
	}
	wait_child_ok(pid);
	struct ipcx_siginfo info;
	CHECK_RC(ipcx_signal_wait(&sigs[0], 1, &info, 0), SIGUSR1);
	CHECK(info.pid == pid && info.uid == getuid() && info.code == SI_QUEUE);
	CHECK(info.value == 100);
	CHECK_RC(ipcx_signal_wait(&sigs[0], 1, &info, 0), -EAGAIN);
	for (long i = 0; i < 5; i++) {
		CHECK_RC(ipcx_signal_wait(&sigs[1], 1, &info, 0), SIGRTMIN + 1);
		CHECK(info.pid == pid && info.value == 200 + i);
	}
	CHECK_RC(ipcx_signal_wait(sigs, 2, &info, 20), -ETIMEDOUT);
}

#define PENDING_LIMIT 64

/*
 * pending_receiver lowers its RLIMIT_SIGPENDING, opens its channel and takes
 * a user id of its own (so no other process's signals count against the
 * limit), says so on ready, then takes as many messages as plan announces.
 */
static void pending_receiver(int ready, int plan)
{
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_SIGPENDING, &rl) == 0);
	rl.rlim_cur = PENDING_LIMIT;
	CHECK(setrlimit(RLIMIT_SIGPENDING, &rl) == 0);
	ipcx_chan *r = open_ok("sig://self?signo=SIGRTMIN+3", IPCX_RECV);
	uid_t uid = 3000000000u + (uid_t)getpid();
	CHECK(setresuid(uid, uid, uid) == 0);
	CHECK(write(ready, "r", 1) == 1);
	unsigned sent;
	CHECK(read(plan, &sent, sizeof(sent)) == (ssize_t)sizeof(sent));
	for (unsigned i = 0; i < sent; i++) {
		unsigned got;
		CHECK_RC(ipcx_recv(r, &got, sizeof(got), 0, NULL, 0), (ssize_t)sizeof(got));
		CHECK(got == i);
	}
	CHECK_RC(ipcx_recv(r, &sent, sizeof(sent), 0, NULL, 0), -ENOMSG);
	ipcx_close(r);
	_exit(0);
}

/*
 * A receiver with RLIMIT_SIGPENDING at 64: exactly 64 messages queue, the
 * next send is -EAGAIN (-ETIMEDOUT with a timeout) naming the limit, and
 * all 64 come out in order.
 */
static void test_sigpending_limit(void)
{
	if (geteuid() != 0)
		SKIP("needs root to give the receiver a user id of its own");
	int ready[2], plan[2];
	CHECK(pipe(ready) == 0 && pipe(plan) == 0);
	pid_t pid = fork();
	if (pid == 0)
		pending_receiver(ready[1], plan[0]);
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	char url[64];
	snprintf(url, sizeof(url), "sig://%d?signo=SIGRTMIN+3", (int)pid);
	ipcx_chan *w = open_ok(url, IPCX_SEND);
	unsigned sent = 0;
	int rc;
	while (sent <= PENDING_LIMIT && (rc = ipcx_send(w, &sent, sizeof(sent), 1, 0)) == 0)
		sent++;
	CHECK_RC(rc, -EAGAIN);
	CHECK(strstr(ipcx_errmsg(), "RLIMIT_SIGPENDING") != NULL);
	CHECK_RC(ipcx_send(w, &sent, sizeof(sent), 1, 20), -ETIMEDOUT);
	CHECK(sent == PENDING_LIMIT);
	CHECK(write(plan[1], &sent, sizeof(sent)) == (ssize_t)sizeof(sent));
	wait_child_ok(pid);
	ipcx_close(w);
}

/* Plain kill() is an empty message, plain sigqueue() the whole sigval; standard signals are not reliable. */
static void test_foreign_senders(void)
{
	ipcx_chan *r = open_ok("sig://self?signo=SIGUSR2", IPCX_RECV);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(r, &caps), 0);
	CHECK(!(caps.flags & IPCX_CAP_RELIABLE));
	CHECK(kill(getpid(), SIGUSR2) == 0);
	char buf[8];
	CHECK_RC(ipcx_recv(r, buf, sizeof(buf), 0, NULL, 0), 0);
	union sigval v = {.sival_ptr = (void *)(intptr_t)0x1122334455667788LL};
	CHECK(sigqueue(getpid(), SIGUSR2, v) == 0);
	struct pollfd p = {.fd = ipcx_fd(r), .events = POLLIN};
	CHECK(poll(&p, 1, 5000) == 1);
	CHECK_RC(ipcx_recv(r, buf, sizeof(buf), 0, NULL, 0), (ssize_t)sizeof(v));
	CHECK(memcmp(buf, &v, sizeof(v)) == 0);
	ipcx_close(r);
}

/* The limits: 8 bytes, type 1 only, no selector; a small buffer keeps the message. */
static void test_limits(void)
{
	ipcx_chan *ch = open_ok("sig://self?signo=SIGRTMIN+4", IPCX_SEND | IPCX_RECV);
	char nine[9] = "12345678";
	CHECK_RC(ipcx_send(ch, nine, 9, 1, 0), -EMSGSIZE);
	CHECK_RC(ipcx_send(ch, nine, 4, 2, 0), -ENOTSUP);
	CHECK_RC(ipcx_send(ch, "abcdef", 6, 1, 0), 0);
	char small[2], big[8];
	CHECK_RC(ipcx_recv(ch, big, sizeof(big), 1, NULL, 0), -ENOTSUP);
	CHECK_RC(ipcx_recv(ch, small, sizeof(small), 0, NULL, 0), -EMSGSIZE);
	CHECK_RC(ipcx_recv(ch, big, sizeof(big), 0, NULL, 0), 6);
	CHECK(memcmp(big, "abcdef", 6) == 0);
	ipcx_close(ch);
}

/* A process that is gone: -ENOENT to open, -EPIPE to send to. */
static void test_peer_gone(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	char url[64];
	snprintf(url, sizeof(url), "sig://%d?signo=SIGRTMIN", (int)pid);
	ipcx_chan *w = open_ok(url, IPCX_SEND);
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(waitpid(pid, NULL, 0) == pid);
	CHECK_RC(ipcx_send(w, "x", 1, 1, 0), -EPIPE);
	ipcx_close(w);
	ipcx_chan *ch = NULL;
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND, 0), -ENOENT);
	CHECK_RC(ipcx_signal_send(pid, SIGUSR1, 0), -ENOENT);
}

/* Bad addresses and signals are -EINVAL, naming what is wrong. */
static void test_bad_urls(void)
{
	char other[64];
	snprintf(other, sizeof(other), "sig://%d", (int)getppid());
	static const char *const bad[] = {"sig://abc", "sig://-1", "sig://0",
					  "sig://self?signo=SIGKILL", "sig://self?signo=BOGUS",
					  "sig://self?colour=red"};
	ipcx_chan *ch = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_RC(ipcx_open(&ch, bad[i], IPCX_SEND, 0), -EINVAL);
	CHECK_RC(ipcx_open(&ch, other, IPCX_RECV, 0), -EINVAL);
	CHECK(strstr(ipcx_errmsg(), "the process itself") != NULL);
	int kill_sig = SIGKILL;
	CHECK_RC(ipcx_signal_block(&kill_sig, 1), -EINVAL);
	CHECK_RC(ipcx_signal_send(getpid(), 0, 0), 0);
}

static const struct test_case tests[] = {
	{"names", test_names},
	{"realtime_queued", test_realtime_queued},
	{"standard_merged_realtime_not", test_standard_merged_realtime_not},
	{"sigpending_limit", test_sigpending_limit},
	{"foreign_senders", test_foreign_senders},
	{"limits", test_limits},
	{"peer_gone", test_peer_gone},
	{"bad_urls", test_bad_urls},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
