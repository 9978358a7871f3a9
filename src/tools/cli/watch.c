/*
 * watch.c - "ipcx watch netlink:route": the kernel's link and address
 * events, printed as they happen (seed 003: netlink multicast groups, here
 * the kernel's own). The messages are decoded by rtnl.c.
 */
#include "cli.h"
#include "rtnl.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The one source there is. */
#define WATCH_ROUTE "netlink:route"

/* Room for the largest datagram rtnetlink sends a listener. */
#define WATCH_BUF ((size_t)64 << 10)

/* watch_parse fills a from the command line; returns -1 or the exit status. */
static int watch_parse(struct cli_event_opts *a, int argc, char **argv)
{
	struct cli_opts o;
	if (!cli_event_opts_parse(&o, &cli_watch_command, argc, argv, a))
		return o.status;
	const char *source = cli_one_operand(&o, "SOURCE");
	if (!source)
		return o.status;
	if (strcmp(source, WATCH_ROUTE) != 0)
		return cli_usage(o.cmd->name, "unknown source '%s' (there is %s)", source,
				 WATCH_ROUTE);
	return -1;
}

/* watch_open opens a NETLINK_ROUTE socket in the link and address groups. */
static int watch_open(int *fd)
{
	static const int groups[] = {RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR};
	struct sockaddr_nl a = {.nl_family = AF_NETLINK};
	*fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (*fd < 0)
		return -errno;
	if (bind(*fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (setsockopt(*fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i],
			       sizeof(groups[i])) < 0)
			return -errno;
	return 0;
}

/*
 * watch_wait waits for the socket to become readable within the deadline,
 * in slices. Returns 0, -EAGAIN (timeout 0), -ETIMEDOUT, or -EINTR when a
 * signal asks the command to stop.
 */
static int watch_wait(int fd, const struct cli_deadline *d)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int rc = poll(&p, 1, cli_slice_ms(d));
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (!cli_wait_more(d, -ETIMEDOUT))
			return cli_signal ? -EINTR : d->timeout_ms == 0 ? -EAGAIN : -ETIMEDOUT;
	}
}

/*
 * watch_recv receives one datagram from the kernel into buf. Datagrams
 * from other processes, which may send to our port, are dropped. Returns
 * its length or a negative errno: -ENOBUFS when the kernel dropped events
 * because we fell behind.
 */
static ssize_t watch_recv(int fd, unsigned char *buf, const struct cli_deadline *d)
{
	for (;;) {
		struct sockaddr_nl from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(fd, buf, WATCH_BUF, MSG_TRUNC, (struct sockaddr *)&from,
				     &fromlen);
		if (n > (ssize_t)WATCH_BUF)
			return -EMSGSIZE;
		if (n >= 0 && from.nl_pid == 0)
			return n;
		if (n >= 0 || errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		int rc = watch_wait(fd, d);
		if (rc < 0)
			return rc;
	}
}

/*
 * watch_datagram prints the events among the messages of one datagram of
 * len bytes, counting them in *got and stopping at a->count. Returns 0, or
 * -EPROTO for a message that claims more bytes than there are.
 */
static int watch_datagram(const struct cli_event_opts *a, unsigned char *buf, size_t len,
			  long *got)
{
	int left = (int)len; /* int: NLMSG_NEXT may step past the end */
	for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left);
	     h = NLMSG_NEXT(h, left)) {
		struct rtnl_event ev;
		int rc = rtnl_decode(h, &ev);
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		rtnl_print(&ev, a->json);
		if (++*got == a->count)
			return 0;
	}
	/* A partial header left over means the datagram was cut or forged. */
	return left <= 0 ? 0 : -EPROTO;
}

/* watch_fail reports why watching stopped, or nothing when a signal stopped it. */
static int watch_fail(ssize_t err)
{
	const char *name = cli_watch_command.name;
	if (cli_signal)
		return CLI_EXIT_FAIL;
	if (err == -ENOBUFS)
		return cli_failf(name, WATCH_ROUTE, "the kernel dropped events: this watcher "
						    "fell behind");
	if (err == -EAGAIN)
		return cli_failf(name, WATCH_ROUTE, "no event is pending");
	return cli_failf(name, WATCH_ROUTE, "%s", ipcx_strerror((int)err));
}

/* watch_loop prints a->count events, or with count 0 until the timeout. */
static int watch_loop(int fd, const struct cli_event_opts *a)
{
	static unsigned char buf[WATCH_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));
	long got = 0;
	while (a->count == 0 || got < a->count) {
		struct cli_deadline d = cli_deadline_in(a->timeout_ms);
		ssize_t n = watch_recv(fd, buf, &d);
		if (n >= 0)
			n = watch_datagram(a, buf, (size_t)n, &got);
		if (n < 0)
			return watch_fail(n);
		int status = cli_flush_output(cli_watch_command.name, WATCH_ROUTE);
		if (status || cli_signal)
			return status ? status : CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static int watch_run(int argc, char **argv)
{
	struct cli_event_opts a = {0};
	int fd = -1;
	int status = watch_parse(&a, argc, argv);
	if (status < 0) {
		cli_catch_signals();
		int rc = watch_open(&fd);
		status = rc < 0 ? cli_failf(cli_watch_command.name, WATCH_ROUTE,
					    "opening a NETLINK_ROUTE socket: %s", ipcx_strerror(rc))
				: watch_loop(fd, &a);
	}
	if (fd >= 0)
		close(fd);
	if (cli_signal)
		cli_signal_exit(cli_signal);
	return status;
}

const struct cli_command cli_watch_command = {
	.name = "watch",
	.summary = "print the kernel's network interface events as they happen",
	.usage = "netlink:route [-n COUNT] [--json] [--timeout MS]",
	.help = "Listens to the kernel's rtnetlink multicast groups for links (RTNLGRP_LINK)\n"
		"and IPv4 and IPv6 addresses (RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR)\n"
		"and prints each event on its own line as it comes:\n"
		"  link add dummy0 index 5 down\n"
		"  link change dummy0 index 5 up running\n"
		"  addr add 10.1.2.3/24 dev dummy0 index 5\n"
		"  link del dummy0 index 5 down\n"
		"A link is added, changed (flags, name, state) or deleted; an address\n"
		"is added or deleted. Only events of the network namespace ipcx runs in\n"
		"are seen, and only those after it started. A --timeout that expires\n"
		"ends it with exit status 1 after printing what it got.\n"
		"\n"
		"With --json each event is one line: {\"event\":\"link\",\"action\":\"add\",\n"
		"\"index\":5,\"ifname\":\"dummy0\",\"up\":false,\"running\":false} or\n"
		"{\"event\":\"addr\",\"action\":\"add\",\"index\":5,\"ifname\":\"dummy0\",\n"
		"\"family\":\"inet\",\"address\":\"10.1.2.3\",\"prefixlen\":24}.\n"
		"\n"
		"Arguments:\n"
		"  SOURCE              netlink:route, the one source there is\n"
		"\n"
		"Options:\n"
		"  -n, --count COUNT   print COUNT events, then end (default 0: until the\n"
		"                      timeout or Ctrl-C)\n"
		"      --json          print each event as one JSON object\n"
		"      --timeout MS    wait at most MS milliseconds for each event: -1\n"
		"                      waits for ever (default), 0 never waits\n",
	.run = watch_run,
};
