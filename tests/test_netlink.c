/*
 * test_netlink.c - netlink:// over NETLINK_USERSOCK: unicast by port id
 * between processes, the nlmsghdr on the wire (type, sequence, sender
 * port), multicast groups delivering to every member, and the errors.
 */
#include "testutil.h"

#include <linux/netlink.h>
#include <stdint.h>
#include <sys/socket.h>

/* A port id no other test uses: our pid with the high bit set, plus n. */
static unsigned test_port(unsigned n)
{
	return 0x80000000u | ((unsigned)getpid() << 4) | n;
}

/* Unicast from a child to our port: payloads and types arrive in order. */
static void test_unicast(void)
{
	char url[64];
	snprintf(url, sizeof(url), "netlink://%u", test_port(0));
	ipcx_chan *r = open_ok(url, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *w = open_ok(url, IPCX_SEND);
		for (long i = 1; i <= 100; i++) {
			char msg[32];
			int n = snprintf(msg, sizeof(msg), "message %ld", i);
			CHECK_RC(ipcx_send(w, msg, (size_t)n, 100 + i, -1), 0);
		}
		ipcx_close(w);
		_exit(0);
	}
	for (long i = 1; i <= 100; i++) {
		char want[32], got[32];
		long type;
		int n = snprintf(want, sizeof(want), "message %ld", i);
		CHECK_RC(ipcx_recv(r, got, sizeof(got), 0, &type, 5000), n);
		CHECK(memcmp(got, want, (size_t)n) == 0 && type == 100 + i);
	}
	wait_child_ok(pid);
	char buf[8];
	CHECK_RC(ipcx_recv(r, buf, sizeof(buf), 0, NULL, 0), -ENOMSG);
	ipcx_close(r);
}

/* The bytes on the wire: one nlmsghdr per message, nlmsg_seq 1, 2, 3, nlmsg_pid the sender's port. */
static void test_wire_format(void)
{
	unsigned port = test_port(1);
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_USERSOCK);
	CHECK(s >= 0);
	struct sockaddr_nl a = {.nl_family = AF_NETLINK, .nl_pid = port};
	CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	char url[64];
	snprintf(url, sizeof(url), "netlink://%u", port);
	ipcx_chan *w = open_ok(url, IPCX_SEND);
	for (int i = 0; i < 3; i++)
		CHECK_RC(ipcx_send(w, "abcde", 5, 7 + i, 0), 0);
	uint32_t sender = 0;
	for (uint32_t i = 0; i < 3; i++) {
		unsigned char buf[256];
		struct sockaddr_nl from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
		CHECK(n == (ssize_t)NLMSG_LENGTH(5));
		struct nlmsghdr h;
		memcpy(&h, buf, sizeof(h));
		CHECK(h.nlmsg_len == NLMSG_LENGTH(5) && h.nlmsg_type == 7 + i);
		CHECK(h.nlmsg_seq == i + 1);
		CHECK(memcmp(buf + NLMSG_HDRLEN, "abcde", 5) == 0);
		CHECK(from.nl_pid != 0 && (i == 0 || from.nl_pid == sender));
		sender = from.nl_pid;
	}
	ipcx_close(w);
	close(s);
}

#define MEMBERS 2
#define CAST 20

/* Every member of a group gets every message, sent once by a process outside it. */
static void test_multicast(void)
{
	static const char url[] = "netlink://?group=7";
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t kids[MEMBERS];
	for (int k = 0; k < MEMBERS; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			ipcx_chan *r = open_ok(url, IPCX_RECV);
			struct ipcx_caps caps;
			CHECK_RC(ipcx_caps_of(r, &caps), 0);
			CHECK((caps.flags & IPCX_CAP_BROADCAST) && !(caps.flags & IPCX_CAP_RELIABLE));
			CHECK(write(ready[1], "r", 1) == 1);
			for (int i = 0; i < CAST; i++) {
				int got;
				CHECK_RC(ipcx_recv(r, &got, sizeof(got), 0, NULL, 5000), sizeof(got));
				CHECK(got == i);
			}
			ipcx_close(r);
			_exit(0);
		}
	}
	for (int k = 0; k < MEMBERS; k++) {
		char c;
		CHECK(read(ready[0], &c, 1) == 1);
	}
	ipcx_chan *w = open_ok(url, IPCX_SEND);
	for (int i = 0; i < CAST; i++)
		CHECK_RC(ipcx_send(w, &i, sizeof(i), 1, 0), 0);
	for (int k = 0; k < MEMBERS; k++)
		wait_child_ok(kids[k]);
	ipcx_close(w);
}

/* A port nobody holds is -EPIPE; a taken port is -EADDRINUSE; bad URLs are -EINVAL. */
static void test_errors(void)
{
	char url[64];
	snprintf(url, sizeof(url), "netlink://%u", test_port(2));
	ipcx_chan *w = open_ok(url, IPCX_SEND);
	CHECK_RC(ipcx_send(w, "x", 1, 1, 0), -EPIPE);
	CHECK_RC(ipcx_send(w, "x", 1, 70000, 0), -ENOTSUP);
	ipcx_chan *r = open_ok(url, IPCX_RECV);
	ipcx_chan *again = NULL;
	CHECK_RC(ipcx_open(&again, url, IPCX_RECV, 0), -EADDRINUSE);
	char small[2];
	CHECK_RC(ipcx_send(w, "hello", 5, 1, 0), 0);
	CHECK_RC(ipcx_recv(r, small, sizeof(small), 0, NULL, 1000), -EMSGSIZE);
	CHECK_RC(ipcx_recv(r, small, sizeof(small), 1, NULL, 0), -ENOTSUP);
	char big[8];
	CHECK_RC(ipcx_recv(r, big, sizeof(big), 0, NULL, 0), 5);
	ipcx_close(r);
	ipcx_close(w);
	static const char *const bad[] = {"netlink://0", "netlink://abc", "netlink://",
					  "netlink://5?group=0", "netlink://5?group=33",
					  "netlink://99999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_RC(ipcx_open(&again, bad[i], IPCX_SEND, 0), -EINVAL);
}

static const struct test_case tests[] = {
	{"unicast", test_unicast},
	{"wire_format", test_wire_format},
	{"multicast", test_multicast},
	{"errors", test_errors},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
