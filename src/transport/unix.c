/*
 * unix.c - unix:///abs/path and unix://@abstract : a Unix domain stream
 * socket (seed 000 §7, seed 004). The channel opened with IPCX_CREATE
 * binds and listens, accepting any number of peers; one opened without it
 * connects. Messages are framed as on every byte stream (docs/wire.md),
 * after the handshake; ?frame=line and ?frame=raw have no handshake, so
 * socat, nc and other plain tools can talk to ipcx.
 */
#include "sock.h"

#include <sys/socket.h>

#define IPCX__UNIX_CAPS                                                        \
	(IPCX_CAP_MANY_SENDERS | IPCX_CAP_BIDIRECTIONAL | IPCX_CAP_POLLABLE |  \
	 IPCX_CAP_NAMED | IPCX_CAP_CONNECTED | IPCX_CAP_BYTE_STREAM |          \
	 IPCX_CAP_RELIABLE | IPCX_CAP_FLOW_CONTROL)

static int ipcx__unix_open(ipcx_chan **out, const struct ipcx__url *u, int flags,
			   struct ipcx__deadline d)
{
	struct ipcx__sockchan_cfg cfg = {.wire = IPCX__WIRE_STREAM, .caps = IPCX__UNIX_CAPS};
	int fd;
	int rc = ipcx__stream_max_msg(u, IPCX__STREAM_MAX_MSG, &cfg.max_msg);
	if (rc == 0)
		rc = ipcx__sock_cap(u, &cfg.sndbuf);
	if (rc == 0)
		rc = ipcx__unix_socket(u, SOCK_STREAM, flags, d, &fd);
	if (rc < 0)
		return rc;
	return ipcx__sockchan_new(out, fd, flags & IPCX_CREATE, u, &cfg);
}

const struct ipcx__transport ipcx__unix_transport = {
	.scheme = "unix",
	.options = "cap mode maxmsg frame",
	.caps = {.flags = IPCX__UNIX_CAPS, .max_msg = IPCX__STREAM_DEFAULT_MAX_MSG},
	.open = ipcx__unix_open,
	.send = ipcx__sockchan_send,
	.recv = ipcx__sockchan_recv,
	.close = ipcx__sockchan_close,
	.unlink = ipcx__unix_unlink,
	.fd = ipcx__sockchan_fd,
};
