/*
 * tcp.c - tcp://host:port and tcp://[v6]:port : TCP, the path beyond one
 * machine (seed 002). The channel opened with IPCX_CREATE listens
 * (SO_REUSEADDR; an empty host, tcp://:port, listens on every address) and
 * accepts any number of peers; one opened without it connects, trying
 * every address the host resolves to. Every connection has TCP_NODELAY.
 * Framing and handshake are those of every byte stream (docs/wire.md); a
 * peer that closes is end of stream (-EPIPE on a connecting channel).
 */
#include "sock.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#define IPCX__TCP_CAPS                                                         \
	(IPCX_CAP_MANY_SENDERS | IPCX_CAP_BIDIRECTIONAL | IPCX_CAP_POLLABLE |  \
	 IPCX_CAP_NAMED | IPCX_CAP_CONNECTED | IPCX_CAP_BYTE_STREAM |          \
	 IPCX_CAP_RELIABLE | IPCX_CAP_FLOW_CONTROL | IPCX_CAP_CROSS_HOST)

/* A host name resolves to at most this many addresses that are tried. */
#define IPCX__TCP_MAX_ADDRS 8

/* ipcx__tcp_listen listens on the first resolved address that binds. */
static int ipcx__tcp_listen(const struct ipcx__url *u, const struct ipcx__sockaddr *a, int n,
			    int *fd)
{
	int rc = 0, one = 1;
	for (int i = 0; i < n; i++) {
		*fd = socket(a[i].ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (*fd < 0) {
			rc = ipcx__errno_fail("socket");
			continue;
		}
		if (setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(*fd, (const struct sockaddr *)&a[i].ss, a[i].len) == 0 &&
		    listen(*fd, SOMAXCONN) == 0)
			return 0;
		rc = -errno;
		close(*fd);
		*fd = -1;
	}
	if (rc == -EADDRINUSE)
		return ipcx__fail(rc, "someone is listening on tcp://%s already", u->address);
	return ipcx__fail(rc, "listen on tcp://%s: %s", u->address, ipcx_strerror(rc));
}

static int ipcx__tcp_open(ipcx_chan **out, const struct ipcx__url *u, int flags,
			  struct ipcx__deadline d)
{
	struct ipcx__sockchan_cfg cfg = {
		.wire = IPCX__WIRE_STREAM, .caps = IPCX__TCP_CAPS, .nodelay = true};
	struct ipcx__sockaddr addrs[IPCX__TCP_MAX_ADDRS];
	bool listening = flags & IPCX_CREATE;
	int fd;
	int rc = ipcx__stream_max_msg(u, IPCX__STREAM_MAX_MSG, &cfg.max_msg);
	if (rc == 0)
		rc = ipcx__sock_cap(u, &cfg.sndbuf);
	int n = rc < 0 ? rc : ipcx__tcp_resolve(u, listening, addrs, IPCX__TCP_MAX_ADDRS);
	if (n < 0)
		return n;
	if (listening)
		rc = ipcx__tcp_listen(u, addrs, n, &fd);
	else
		rc = ipcx__sock_connect(addrs, n, SOCK_STREAM, 0, d, u->address, &fd);
	if (rc < 0)
		return rc;
	return ipcx__sockchan_new(out, fd, listening, u, &cfg);
}

const struct ipcx__transport ipcx__tcp_transport = {
	.scheme = "tcp",
	.options = "cap maxmsg frame",
	.caps = {.flags = IPCX__TCP_CAPS, .max_msg = IPCX__STREAM_DEFAULT_MAX_MSG},
	.open = ipcx__tcp_open,
	.send = ipcx__sockchan_send,
	.recv = ipcx__sockchan_recv,
	.close = ipcx__sockchan_close,
	.fd = ipcx__sockchan_fd,
};
