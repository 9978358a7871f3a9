/*
 * unixseq.c - unixseq:///abs/path and unixseq://@abstract : a Unix domain
 * SOCK_SEQPACKET socket, connection-oriented like unix:// but keeping
 * record boundaries in the kernel, so each message is one record (the
 * frame header and the payload; docs/wire.md). The largest message is
 * bounded by the socket's send buffer: 64 KiB less the header unless
 * ?maxmsg= or ?cap= asks for more (net.core.wmem_max caps it).
 */
#include "sock.h"

#include <sys/socket.h>

#define IPCX__UNIXSEQ_CAPS                                                     \
	(IPCX_CAP_MANY_SENDERS | IPCX_CAP_BIDIRECTIONAL | IPCX_CAP_POLLABLE |  \
	 IPCX_CAP_NAMED | IPCX_CAP_CONNECTED | IPCX_CAP_RELIABLE |             \
	 IPCX_CAP_FLOW_CONTROL)

static int ipcx__unixseq_open(ipcx_chan **out, const struct ipcx__url *u, int flags,
			      struct ipcx__deadline d)
{
	struct ipcx__sockchan_cfg cfg = {.wire = IPCX__WIRE_RECORD, .caps = IPCX__UNIXSEQ_CAPS};
	int fd;
	int rc = ipcx__rec_limits(SOCK_SEQPACKET, u, &cfg.sndbuf, &cfg.max_msg);
	if (rc == 0)
		rc = ipcx__unix_socket(u, SOCK_SEQPACKET, flags, d, &fd);
	if (rc < 0)
		return rc;
	return ipcx__sockchan_new(out, fd, flags & IPCX_CREATE, u, &cfg);
}

const struct ipcx__transport ipcx__unixseq_transport = {
	.scheme = "unixseq",
	.options = "cap mode maxmsg frame",
	.caps = {.flags = IPCX__UNIXSEQ_CAPS, .max_msg = IPCX__REC_DEFAULT_RECORD - IPCX__FRAME_HDR},
	.open = ipcx__unixseq_open,
	.send = ipcx__sockchan_send,
	.recv = ipcx__sockchan_recv,
	.close = ipcx__sockchan_close,
	.unlink = ipcx__unix_unlink,
	.fd = ipcx__sockchan_fd,
};
