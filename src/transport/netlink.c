/*
 * netlink.c - netlink://PORTID over NETLINK_USERSOCK (seed 003): datagrams
 * between processes addressed by a 32-bit port id, the direct Send(P, msg)
 * of seed 004, and multicast groups for one-to-many.
 *
 * Each message is one datagram holding one nlmsghdr: nlmsg_type is the
 * message type (1..65535), nlmsg_seq counts the channel's sends from 1,
 * and nlmsg_pid is 0: the sender's port arrives as the datagram's source
 * address (nl_pid of recvfrom). A receiver binds PORTID; a sender sends
 * to it. With ?group=N (1..32) senders send to the group and every
 * receiver that joined it gets every message (PORTID is then optional: 0
 * or empty lets the kernel pick the receiver's port).
 *
 * Unicast waits for room in the receiver's socket buffer, so nothing is
 * dropped; a port nobody holds is -EPIPE. Multicast never waits: a
 * receiver that falls behind loses messages, and its next receive reports
 * that with -ENOBUFS rather than hiding it.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IPCX__NL_CAPS (IPCX_CAP_NAMED | IPCX_CAP_MANY_SENDERS | IPCX_CAP_POLLABLE)
#define IPCX__NL_UNICAST_CAPS (IPCX_CAP_RELIABLE | IPCX_CAP_FLOW_CONTROL)
#define IPCX__NL_MAX_MSG ((size_t)65536 - NLMSG_HDRLEN)
#define IPCX__NL_GROUPS 32

struct ipcx__nl_chan {
	struct ipcx_chan base;
	int fd;
	uint32_t port;  /* the destination port (unicast) */
	unsigned group; /* 0 for unicast */
	uint32_t seq;   /* nlmsg_seq of the last send */
	unsigned char *rbuf; /* the last datagram received; NULL when not receiving */
	size_t roff, rend;   /* its messages not yet taken */
};

static int ipcx__nl_parse(const struct ipcx__url *u, uint32_t *port, unsigned *group)
{
	const char *g = ipcx__url_opt(u, "group");
	char *end;
	*group = 0;
	if (g) {
		unsigned long v = strtoul(g, &end, 10);
		if (*g < '1' || *g > '9' || *end || v > IPCX__NL_GROUPS)
			return ipcx__fail(-EINVAL, "bad group '%s' (1 to %d)", g, IPCX__NL_GROUPS);
		*group = (unsigned)v;
	}
	const char *a = u->address;
	unsigned long long v = strtoull(a, &end, 10);
	if ((*a && (*a < '0' || *a > '9')) || *end || v > UINT32_MAX)
		return ipcx__fail(-EINVAL, "netlink:// needs a port id (a number), as in "
					   "netlink://4242 or netlink://?group=3 (got '%s')", a);
	*port = (uint32_t)v;
	if (*port == 0 && !*group)
		return ipcx__fail(-EINVAL, "netlink://0 is the kernel: name a port id (> 0), "
					   "or a ?group= to multicast");
	return 0;
}

/* ipcx__nl_bind binds the receiving port (0: the kernel picks) and joins the group. */
static int ipcx__nl_bind(struct ipcx__nl_chan *nc, uint32_t port, bool recv)
{
	struct sockaddr_nl a = {.nl_family = AF_NETLINK, .nl_pid = recv ? port : 0};
	if (bind(nc->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return errno == EADDRINUSE
			       ? ipcx__fail(-EADDRINUSE, "netlink port %u is taken by another socket",
					    (unsigned)port)
			       : ipcx__errno_fail("bind netlink");
	if (!recv || !nc->group)
		return 0;
	int g = (int)nc->group;
	if (setsockopt(nc->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0)
		return ipcx__errno_fail("join netlink group");
	return 0;
}

static void ipcx__nl_close(ipcx_chan *ch)
{
	struct ipcx__nl_chan *nc = (struct ipcx__nl_chan *)ch;
	if (nc->fd >= 0)
		close(nc->fd);
	free(nc->rbuf);
	free(nc);
}

static int ipcx__nl_open(ipcx_chan **out, const struct ipcx__url *u, int flags,
			 struct ipcx__deadline d)
{
	uint32_t port;
	unsigned group;
	size_t max_msg;
	int rc = ipcx__nl_parse(u, &port, &group);
	if (rc == 0)
		rc = ipcx__stream_max_msg(u, IPCX__NL_MAX_MSG, &max_msg);
	if (rc < 0)
		return rc;
	struct ipcx__nl_chan *nc = ipcx__chan_alloc(sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	nc->port = port;
	nc->group = group;
	nc->base.caps = (struct ipcx_caps){.flags = IPCX__NL_CAPS, .max_msg = max_msg};
	nc->base.caps.flags |= group ? IPCX_CAP_BROADCAST : IPCX__NL_UNICAST_CAPS;
	nc->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_USERSOCK);
	rc = nc->fd < 0 ? ipcx__errno_fail("socket(AF_NETLINK, NETLINK_USERSOCK)")
			: ipcx__nl_bind(nc, port, flags & IPCX_RECV);
	if (rc == 0 && (flags & IPCX_RECV))
		rc = (nc->rbuf = malloc(NLMSG_SPACE(IPCX__NL_MAX_MSG))) ? 0 : -ENOMEM;
	if (rc < 0) {
		ipcx__nl_close(&nc->base);
		return rc;
	}
	*out = &nc->base;
	return 0;
}

static int ipcx__nl_send(ipcx_chan *ch, const void *data, size_t len, long type,
			 struct ipcx__deadline d)
{
	struct ipcx__nl_chan *nc = (struct ipcx__nl_chan *)ch;
	if (type > UINT16_MAX)
		return ipcx__fail(-ENOTSUP, "netlink types are 1..65535 (nlmsg_type); got %ld", type);
	struct nlmsghdr h = {.nlmsg_len = (uint32_t)NLMSG_LENGTH(len), .nlmsg_type = (uint16_t)type,
			     .nlmsg_seq = ++nc->seq};
	struct sockaddr_nl to = {.nl_family = AF_NETLINK, .nl_pid = nc->group ? 0 : nc->port,
				 .nl_groups = nc->group ? 1u << (nc->group - 1) : 0};
	struct iovec iov[2] = {{&h, NLMSG_HDRLEN}, {(void *)data, len}};
	struct msghdr m = {.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = iov,
			   .msg_iovlen = 2};
	long backoff_us = 50;
	for (;;) {
		if (sendmsg(nc->fd, &m, MSG_DONTWAIT) >= 0)
			return 0;
		/* After the multicast the kernel also unicasts to port 0, which USERSOCK lacks. */
		if (errno == ECONNREFUSED && nc->group && nc->port == 0)
			return 0;
		if (errno == ECONNREFUSED)
			return ipcx__fail(-EPIPE, "no socket holds netlink port %u", (unsigned)nc->port);
		if (errno != EAGAIN && errno != EINTR && errno != ENOBUFS)
			return ipcx__errno_fail("send netlink");
		/* The receiver's buffer is full; the kernel tells nobody when it drains. */
		if (ipcx__deadline_poll_ms(d) == 0) {
			nc->seq--;
			return ipcx__fail(ipcx__deadline_err(d), "netlink port %u is full",
					  (unsigned)nc->port);
		}
		(void)ipcx__backoff_sleep(&backoff_us, d);
	}
}

/* ipcx__nl_fill reads one datagram into rbuf: 0, -EAGAIN, -ENOBUFS (messages were lost). */
static int ipcx__nl_fill(struct ipcx__nl_chan *nc)
{
	ssize_t n = recv(nc->fd, nc->rbuf, NLMSG_SPACE(IPCX__NL_MAX_MSG), MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -EAGAIN;
	if (n < 0 && errno == ENOBUFS)
		return ipcx__fail(-ENOBUFS, "this receiver fell behind: the kernel dropped "
					    "messages of netlink group %u", nc->group);
	if (n < 0)
		return ipcx__errno_fail("recv netlink");
	if ((size_t)n > NLMSG_SPACE(IPCX__NL_MAX_MSG))
		return ipcx__fail(-EPROTO, "netlink datagram of %zd bytes is larger than any "
					   "ipcx message", n);
	nc->roff = 0;
	nc->rend = (size_t)n;
	return 0;
}

/* ipcx__nl_take takes the next nlmsghdr from rbuf, or -EAGAIN when it is empty. */
static ssize_t ipcx__nl_take(struct ipcx__nl_chan *nc, void *buf, size_t size, long *type)
{
	if (nc->roff >= nc->rend)
		return -EAGAIN;
	struct nlmsghdr h;
	size_t left = nc->rend - nc->roff;
	if (left >= NLMSG_HDRLEN)
		memcpy(&h, nc->rbuf + nc->roff, sizeof(h));
	if (left < NLMSG_HDRLEN || h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > left ||
	    h.nlmsg_type == 0) {
		nc->roff = nc->rend;
		return ipcx__fail(-EPROTO, "malformed netlink message (%zu bytes)", left);
	}
	size_t len = h.nlmsg_len - NLMSG_HDRLEN;
	if (len > size)
		return ipcx__fail(-EMSGSIZE, "message of %zu bytes does not fit in %zu", len, size);
	memcpy(buf, nc->rbuf + nc->roff + NLMSG_HDRLEN, len);
	nc->roff += NLMSG_ALIGN(h.nlmsg_len);
	*type = h.nlmsg_type;
	return (ssize_t)len;
}

static ssize_t ipcx__nl_recv(ipcx_chan *ch, void *buf, size_t size, long selector, long *type,
			     struct ipcx__deadline d)
{
	struct ipcx__nl_chan *nc = (struct ipcx__nl_chan *)ch;
	for (;;) {
		ssize_t n = ipcx__nl_take(nc, buf, size, type);
		if (n != -EAGAIN)
			return n;
		int rc = ipcx__nl_fill(nc);
		if (rc == -EAGAIN)
			rc = ipcx__wait_fd(nc->fd, POLLIN, d);
		if (rc < 0)
			return rc;
	}
}

static int ipcx__nl_fd(const ipcx_chan *ch)
{
	return ((const struct ipcx__nl_chan *)ch)->fd;
}

const struct ipcx__transport ipcx__netlink_transport = {
	.scheme = "netlink",
	.options = "group maxmsg",
	.caps = {.flags = IPCX__NL_CAPS | IPCX__NL_UNICAST_CAPS, .max_msg = IPCX__NL_MAX_MSG},
	.open = ipcx__nl_open,
	.send = ipcx__nl_send,
	.recv = ipcx__nl_recv,
	.close = ipcx__nl_close,
	.fd = ipcx__nl_fd,
};
