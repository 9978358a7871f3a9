/*
 * rtnl.c - link and address events from rtnetlink (RTM_NEWLINK,
 * RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR), decoded and printed for
 * "ipcx watch netlink:route".
 */
#include "rtnl.h"

#include "cli.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>

/* rtnl_name copies an attribute holding a name, which need not end with NUL. */
static void rtnl_name(char *dst, size_t size, const struct rtattr *rta)
{
	size_t len = RTA_PAYLOAD(rta);
	const char *src = RTA_DATA(rta);
	const char *nul = memchr(src, '\0', len);
	if (nul)
		len = (size_t)(nul - src);
	if (len >= size)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/*
 * rtnl_link reads an ifinfomsg and its attributes. A new link comes with
 * every flag marked changed (ifi_change all ones); a later RTM_NEWLINK
 * reports a change.
 */
static int rtnl_link(const struct nlmsghdr *h, struct rtnl_event *ev)
{
	if (h->nlmsg_len < NLMSG_SPACE(sizeof(struct ifinfomsg)))
		return -EPROTO;
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	ev->kind = RTNL_LINK;
	ev->action = h->nlmsg_type == RTM_DELLINK ? "del"
		     : ifi->ifi_change == ~0u ? "add"
					       : "change";
	ev->index = ifi->ifi_index;
	ev->up = ifi->ifi_flags & IFF_UP;
	ev->running = ifi->ifi_flags & IFF_RUNNING;
	int len = (int)IFLA_PAYLOAD(h);
	for (const struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, len);
	     rta = RTA_NEXT(rta, len))
		if (rta->rta_type == IFLA_IFNAME)
			rtnl_name(ev->ifname, sizeof(ev->ifname), rta);
	return 1;
}

/* rtnl_addr_text writes an address attribute of the event's family as text. */
static int rtnl_addr_text(struct rtnl_event *ev, const struct rtattr *rta)
{
	size_t want = ev->family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
	if (RTA_PAYLOAD(rta) != want)
		return -EPROTO;
	inet_ntop(ev->family, RTA_DATA(rta), ev->addr, sizeof(ev->addr));
	return 0;
}

/*
 * rtnl_addr reads an ifaddrmsg and its attributes. IFA_LOCAL is the
 * interface's own address; on a point-to-point link IFA_ADDRESS is the
 * peer's, so IFA_LOCAL wins when both are there.
 */
static int rtnl_addr(const struct nlmsghdr *h, struct rtnl_event *ev)
{
	if (h->nlmsg_len < NLMSG_SPACE(sizeof(struct ifaddrmsg)))
		return -EPROTO;
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return 0;
	ev->kind = RTNL_ADDR;
	ev->action = h->nlmsg_type == RTM_DELADDR ? "del" : "add";
	ev->index = (int)ifa->ifa_index;
	ev->family = ifa->ifa_family;
	ev->prefixlen = ifa->ifa_prefixlen;
	bool local = false;
	int len = (int)IFA_PAYLOAD(h);
	for (const struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len);
	     rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == IFA_LABEL)
			rtnl_name(ev->ifname, sizeof(ev->ifname), rta);
		if ((rta->rta_type == IFA_LOCAL || (rta->rta_type == IFA_ADDRESS && !local)) &&
		    rtnl_addr_text(ev, rta) < 0)
			return -EPROTO;
		local |= rta->rta_type == IFA_LOCAL;
	}
	/* IPv6 addresses carry no label: name the interface by its index. */
	if (!ev->ifname[0] && !if_indextoname((unsigned)ev->index, ev->ifname))
		ev->ifname[0] = '\0';
	return ev->addr[0] ? 1 : -EPROTO;
}

int rtnl_decode(const struct nlmsghdr *h, struct rtnl_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	switch (h->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		return rtnl_link(h, ev);
	case RTM_NEWADDR:
	case RTM_DELADDR:
		return rtnl_addr(h, ev);
	default:
		return 0;
	}
}

/* rtnl_print_json writes ev as one JSON object on one line. */
static void rtnl_print_json(const struct rtnl_event *ev)
{
	printf("{\"event\":\"%s\",\"action\":\"%s\",\"index\":%d,\"ifname\":",
	       ev->kind == RTNL_LINK ? "link" : "addr", ev->action, ev->index);
	const unsigned char *name = (const unsigned char *)ev->ifname;
	size_t len = strlen(ev->ifname);
	cli_json_string(stdout, name, len, !cli_utf8_valid(name, len));
	if (ev->kind == RTNL_LINK)
		printf(",\"up\":%s,\"running\":%s}\n", ev->up ? "true" : "false",
		       ev->running ? "true" : "false");
	else
		printf(",\"family\":\"%s\",\"address\":\"%s\",\"prefixlen\":%u}\n",
		       ev->family == AF_INET ? "inet" : "inet6", ev->addr, ev->prefixlen);
}

/*
 * rtnl_put_name writes an interface name, "?" when it is unknown. The
 * kernel refuses names with spaces, but not other control characters:
 * those are written as '?' so that the event stays one line.
 */
static void rtnl_put_name(const char *name)
{
	if (!*name)
		putchar('?');
	for (const char *c = name; *c; c++)
		putchar(iscntrl((unsigned char)*c) ? '?' : *c);
}

/* rtnl_print_text writes ev as one line: "link add dummy0 index 5 up". */
static void rtnl_print_text(const struct rtnl_event *ev)
{
	if (ev->kind == RTNL_LINK) {
		printf("link %s ", ev->action);
		rtnl_put_name(ev->ifname);
		printf(" index %d %s%s\n", ev->index, ev->up ? "up" : "down",
		       ev->running ? " running" : "");
	} else {
		printf("addr %s %s/%u dev ", ev->action, ev->addr, ev->prefixlen);
		rtnl_put_name(ev->ifname);
		printf(" index %d\n", ev->index);
	}
}

void rtnl_print(const struct rtnl_event *ev, bool json)
{
	if (json)
		rtnl_print_json(ev);
	else
		rtnl_print_text(ev);
}
