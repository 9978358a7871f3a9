/*
 * unixdgram.c - unixdgram:///abs/path and unixdgram://@abstract : a Unix
 * domain datagram socket (seed 000 §7). The receiver (IPCX_CREATE) binds
 * the address and takes datagrams from any number of senders; its send
 * replies to the sender of the last datagram it received. A sender binds
 * an autobind abstract name, so it can be answered, and connects to the
 * receiver. Each message is one datagram (docs/wire.md).
 *
 * Unix datagrams are never dropped: a sender whose receiver's queue is
 * full waits (net.unix.max_dgram_qlen datagrams). There is no connection,
 * so a sender's receive cannot tell that the receiver exited; it waits
 * until its deadline. Its send can: -EPIPE.
 */
#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * IPCX_CAP_CONNECTED: as with the connection sockets, the receiver binds
 * (IPCX_CREATE) and senders connect(2) to it, so tools pick the roles the
 * same way (`ipcx recv` binds, `ipcx send` connects).
 */
#define IPCX__UNIXDGRAM_CAPS                                                   \
	(IPCX_CAP_MANY_SENDERS | IPCX_CAP_BIDIRECTIONAL | IPCX_CAP_POLLABLE |  \
	 IPCX_CAP_NAMED | IPCX_CAP_CONNECTED | IPCX_CAP_RELIABLE |             \
	 IPCX_CAP_FLOW_CONTROL)

struct ipcx__dgram_chan {
	struct ipcx_chan base;
	int fd;
	enum ipcx__frame frame;
	bool receiver;              /* bound the address (IPCX_CREATE) */
	bool has_last;              /* last holds an address a reply can reach */
	struct ipcx__sockaddr last; /* sender of the last datagram received */
};

static int ipcx__unixdgram_open(ipcx_chan **out, const struct ipcx__url *u, int flags,
				struct ipcx__deadline d)
{
	int sndbuf, fd;
	size_t max_msg, capacity;
	int rc = ipcx__rec_limits(SOCK_DGRAM, u, &sndbuf, &max_msg);
	if (rc == 0)
		rc = ipcx__unix_socket(u, SOCK_DGRAM, flags, d, &fd);
	if (rc < 0)
		return rc;
	struct ipcx__dgram_chan *dc = ipcx__chan_alloc(sizeof(*dc));
	rc = dc ? ipcx__sock_sndbuf(fd, sndbuf, &capacity) : -ENOMEM;
	if (rc < 0) {
		free(dc);
		close(fd);
		return rc;
	}
	dc->fd = fd;
	dc->frame = u->frame;
	dc->receiver = flags & IPCX_CREATE;
	dc->base.caps.flags = IPCX__UNIXDGRAM_CAPS;
	dc->base.caps.max_msg = max_msg;
	dc->base.caps.capacity = capacity;
	*out = &dc->base;
	return 0;
}

static int ipcx__unixdgram_send(ipcx_chan *ch, const void *data, size_t len, long type,
				struct ipcx__deadline d)
{
	struct ipcx__dgram_chan *dc = (struct ipcx__dgram_chan *)ch;
	if (!dc->receiver)
		return ipcx__rec_send(dc->fd, dc->frame, data, len, type, NULL, d);
	if (!dc->has_last)
		return ipcx__fail(-ENOTCONN, "a unixdgram receiver replies to the sender of the last "
					     "datagram, and none with a return address came yet");
	return ipcx__rec_send(dc->fd, dc->frame, data, len, type, &dc->last, d);
}

static ssize_t ipcx__unixdgram_recv(ipcx_chan *ch, void *buf, size_t size, long selector,
				    long *type, struct ipcx__deadline d)
{
	struct ipcx__dgram_chan *dc = (struct ipcx__dgram_chan *)ch;
	struct ipcx__sockaddr from;
	for (;;) {
		ssize_t n = ipcx__rec_recv(dc->fd, dc->frame, false, buf, size, type,
					   dc->receiver ? &from : NULL);
		if (n >= 0 && dc->receiver) {
			/* An unbound sender's address is the family alone: it cannot be answered. */
			dc->has_last = from.len > sizeof(sa_family_t);
			dc->last = from;
		}
		if (n != -EAGAIN)
			return n;
		int rc = ipcx__wait_fd(dc->fd, POLLIN, d);
		if (rc < 0)
			return rc;
	}
}

static void ipcx__unixdgram_close(ipcx_chan *ch)
{
	close(((struct ipcx__dgram_chan *)ch)->fd);
	free(ch);
}

static int ipcx__unixdgram_fd(const ipcx_chan *ch)
{
	return ((const struct ipcx__dgram_chan *)ch)->fd;
}

const struct ipcx__transport ipcx__unixdgram_transport = {
	.scheme = "unixdgram",
	.options = "cap mode maxmsg frame",
	.caps = {.flags = IPCX__UNIXDGRAM_CAPS,
		 .max_msg = IPCX__REC_DEFAULT_RECORD - IPCX__FRAME_HDR},
	.open = ipcx__unixdgram_open,
	.send = ipcx__unixdgram_send,
	.recv = ipcx__unixdgram_recv,
	.close = ipcx__unixdgram_close,
	.unlink = ipcx__unix_unlink,
	.fd = ipcx__unixdgram_fd,
};
