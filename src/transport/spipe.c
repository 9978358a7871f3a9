/*
 * spipe.c - spipe:// : a stream pipe, socketpair(AF_UNIX, SOCK_STREAM),
 * both ends sending and receiving, made before fork() (seed 000 §3.2).
 */
#include "sock.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#define IPCX__SPIPE_CAPS                                                       \
	(IPCX_CAP_POLLABLE | IPCX_CAP_BYTE_STREAM | IPCX_CAP_RELIABLE |        \
	 IPCX_CAP_FLOW_CONTROL | IPCX_CAP_BIDIRECTIONAL)

static int ipcx__spipe_pair(ipcx_chan *ends[2], const struct ipcx__url *u)
{
	int fds[2], sndbuf;
	size_t max_msg, capacity = 0;
	int rc = ipcx__stream_max_msg(u, IPCX__STREAM_MAX_MSG, &max_msg);
	if (rc == 0)
		rc = ipcx__sock_cap(u, &sndbuf);
	if (rc < 0)
		return rc;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return ipcx__errno_fail("socketpair");
	for (int i = 0; i < 2 && rc == 0; i++)
		rc = ipcx__sock_sndbuf(fds[i], sndbuf, &capacity);
	if (rc < 0) {
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	rc = ipcx__stream_pair_new(ends, fds, u, IPCX__SPIPE_CAPS, max_msg);
	if (rc < 0)
		return rc;
	for (int i = 0; i < 2; i++) {
		ends[i]->flags = IPCX_SEND | IPCX_RECV;
		ends[i]->caps.capacity = capacity;
	}
	return 0;
}

const struct ipcx__transport ipcx__spipe_transport = {
	.scheme = "spipe",
	.options = "cap maxmsg frame",
	.caps = {.flags = IPCX__SPIPE_CAPS, .max_msg = IPCX__STREAM_DEFAULT_MAX_MSG},
	.pair = ipcx__spipe_pair,
	.send = ipcx__stream_send,
	.recv = ipcx__stream_recv,
	.close = ipcx__stream_close,
	.fd = ipcx__stream_fd,
};
