/*
 * test_rtnl.c - the rtnetlink decoder behind "ipcx watch netlink:route"
 * (src/tools/cli/rtnl.c): link and address messages built by hand, and
 * messages whose lengths lie, which must be refused without reading past
 * them (ASan watches every byte).
 */
#include "harness.h"

#include "../src/tools/cli/rtnl.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

/* A message being built: a header, a fixed part, then attributes. */
struct msg {
	unsigned char *buf;
	size_t len;
};

/* msg_new starts a message of type with a fixed part of size bytes (zeroed). */
static struct msg msg_new(uint16_t type, const void *fixed, size_t size)
{
	struct msg m = {.buf = calloc(1, 4096), .len = NLMSG_SPACE(size)};
	CHECK(m.buf != NULL);
	struct nlmsghdr h = {.nlmsg_len = (uint32_t)m.len, .nlmsg_type = type};
	memcpy(m.buf, &h, sizeof(h));
	memcpy(m.buf + NLMSG_HDRLEN, fixed, size);
	return m;
}

/* msg_attr appends one attribute and updates nlmsg_len. */
static void msg_attr(struct msg *m, uint16_t type, const void *data, size_t size)
{
	struct rtattr a = {.rta_len = (unsigned short)RTA_LENGTH(size), .rta_type = type};
	memcpy(m->buf + m->len, &a, sizeof(a));
	memcpy(m->buf + m->len + RTA_LENGTH(0), data, size);
	m->len += RTA_SPACE(size);
	((struct nlmsghdr *)m->buf)->nlmsg_len = (uint32_t)m->len;
}

/*
 * msg_exact copies the message into a buffer of exactly nlmsg_len bytes,
 * so that ASan reports any read past what the message claims to hold.
 */
static struct nlmsghdr *msg_exact(const struct msg *m)
{
	uint32_t len = ((const struct nlmsghdr *)m->buf)->nlmsg_len;
	struct nlmsghdr *h = malloc(len);
	CHECK(h != NULL);
	memcpy(h, m->buf, len);
	return h;
}

static int decode(const struct msg *m, struct rtnl_event *ev)
{
	struct nlmsghdr *h = msg_exact(m);
	int rc = rtnl_decode(h, ev);
	free(h);
	return rc;
}

static void test_link(void)
{
	struct ifinfomsg ifi = {.ifi_index = 5, .ifi_flags = IFF_UP, .ifi_change = ~0u};
	struct msg m = msg_new(RTM_NEWLINK, &ifi, sizeof(ifi));
	msg_attr(&m, IFLA_IFNAME, "dummy0", 7);
	struct rtnl_event ev;
	CHECK_RC(decode(&m, &ev), 1);
	CHECK(ev.kind == RTNL_LINK && strcmp(ev.action, "add") == 0 && ev.index == 5);
	CHECK(strcmp(ev.ifname, "dummy0") == 0 && ev.up && !ev.running);
	((struct ifinfomsg *)NLMSG_DATA(m.buf))->ifi_change = IFF_UP;
	CHECK_RC(decode(&m, &ev), 1);
	CHECK(strcmp(ev.action, "change") == 0);
	((struct nlmsghdr *)m.buf)->nlmsg_type = RTM_DELLINK;
	CHECK_RC(decode(&m, &ev), 1);
	CHECK(strcmp(ev.action, "del") == 0);
	free(m.buf);
}

static void test_addr(void)
{
	struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = 24, .ifa_index = 5};
	struct in_addr local, peer;
	inet_pton(AF_INET, "10.1.2.3", &local);
	inet_pton(AF_INET, "10.1.2.254", &peer);
	struct msg m = msg_new(RTM_NEWADDR, &ifa, sizeof(ifa));
	msg_attr(&m, IFA_ADDRESS, &peer, sizeof(peer));
	msg_attr(&m, IFA_LOCAL, &local, sizeof(local));
	msg_attr(&m, IFA_LABEL, "dummy0", 7);
	struct rtnl_event ev;
	CHECK_RC(decode(&m, &ev), 1);
	CHECK(ev.kind == RTNL_ADDR && strcmp(ev.action, "add") == 0 && ev.index == 5);
	/* IFA_LOCAL is the interface's own address, whatever the order. */
	CHECK(strcmp(ev.addr, "10.1.2.3") == 0 && ev.prefixlen == 24);
	CHECK(strcmp(ev.ifname, "dummy0") == 0);
	free(m.buf);
}

/* A name without its NUL, and one longer than any interface name, are cut. */
static void test_name_bounds(void)
{
	struct ifinfomsg ifi = {.ifi_index = 1};
	char longname[40];
	memset(longname, 'x', sizeof(longname));
	struct msg m = msg_new(RTM_NEWLINK, &ifi, sizeof(ifi));
	msg_attr(&m, IFLA_IFNAME, longname, sizeof(longname));
	struct rtnl_event ev;
	CHECK_RC(decode(&m, &ev), 1);
	CHECK(strlen(ev.ifname) == IF_NAMESIZE - 1);
	free(m.buf);
}

/* Lengths that lie: short fixed parts, attributes past the end, wrong sizes. */
static void test_lies(void)
{
	struct rtnl_event ev;
	struct ifaddrmsg ifa = {.ifa_family = AF_INET6, .ifa_prefixlen = 64, .ifa_index = 2};
	struct in_addr v4 = {0};
	struct msg m = msg_new(RTM_NEWADDR, &ifa, sizeof(ifa));
	msg_attr(&m, IFA_ADDRESS, &v4, sizeof(v4));
	CHECK_RC(decode(&m, &ev), -EPROTO); /* an IPv6 event with a 4-byte address */
	free(m.buf);

	m = msg_new(RTM_NEWADDR, &ifa, sizeof(ifa));
	CHECK_RC(decode(&m, &ev), -EPROTO); /* no address at all */
	((struct nlmsghdr *)m.buf)->nlmsg_len = NLMSG_LENGTH(sizeof(ifa)) - 1;
	CHECK_RC(decode(&m, &ev), -EPROTO); /* shorter than its ifaddrmsg */
	free(m.buf);

	struct ifinfomsg ifi = {.ifi_index = 1};
	m = msg_new(RTM_NEWLINK, &ifi, sizeof(ifi));
	msg_attr(&m, IFLA_IFNAME, "lo", 3);
	/* The attribute claims more than the message holds: it is not read. */
	((struct rtattr *)(m.buf + NLMSG_SPACE(sizeof(ifi))))->rta_len = 200;
	CHECK_RC(decode(&m, &ev), 1);
	CHECK(ev.ifname[0] == '\0');
	((struct nlmsghdr *)m.buf)->nlmsg_len = NLMSG_HDRLEN;
	CHECK_RC(decode(&m, &ev), -EPROTO); /* no room for the ifinfomsg */
	free(m.buf);
}

/* Messages that are no link or address event are passed over. */
static void test_other(void)
{
	struct ifaddrmsg ifa = {.ifa_family = AF_PACKET};
	struct rtnl_event ev;
	struct msg m = msg_new(RTM_NEWADDR, &ifa, sizeof(ifa));
	CHECK_RC(decode(&m, &ev), 0);
	((struct nlmsghdr *)m.buf)->nlmsg_type = NLMSG_DONE;
	CHECK_RC(decode(&m, &ev), 0);
	free(m.buf);
}

static const struct test_case tests[] = {
	{"link", test_link},
	{"addr", test_addr},
	{"name_bounds", test_name_bounds},
	{"lies", test_lies},
	{"other", test_other},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
