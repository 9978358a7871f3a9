/*
 * rtnl.h - link and address events decoded from rtnetlink messages, for
 * "ipcx watch netlink:route". The decoder trusts no length the kernel
 * sends: every header and attribute is checked against the bytes that
 * were received before it is read.
 */
#ifndef IPCX_CLI_RTNL_H
#define IPCX_CLI_RTNL_H

#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

/* What happened. */
enum rtnl_kind {
	RTNL_LINK, /* an interface appeared, changed or went away */
	RTNL_ADDR, /* an address was added to an interface or removed */
};

/* One event. */
struct rtnl_event {
	enum rtnl_kind kind;
	const char *action;           /* "add", "change" (links only) or "del" */
	int index;                    /* the interface index */
	char ifname[IF_NAMESIZE];     /* the interface name; "" when unknown */
	bool up;                      /* RTNL_LINK: IFF_UP */
	bool running;                 /* RTNL_LINK: IFF_RUNNING (the carrier is there) */
	int family;                   /* RTNL_ADDR: AF_INET or AF_INET6 */
	unsigned prefixlen;           /* RTNL_ADDR */
	char addr[INET6_ADDRSTRLEN];  /* RTNL_ADDR: the address as text */
};

/*
 * rtnl_decode reads one message that NLMSG_OK accepted, so that its
 * nlmsg_len bytes were received, into ev. Returns 1 for an event, 0 for a message that
 * is no link or address event (NLMSG_DONE, another family), or -EPROTO
 * when the message is shorter than what it claims to hold.
 */
int rtnl_decode(const struct nlmsghdr *h, struct rtnl_event *ev);

/* rtnl_print writes ev as one line of text, or of JSON with json. */
void rtnl_print(const struct rtnl_event *ev, bool json);

#endif /* IPCX_CLI_RTNL_H */
