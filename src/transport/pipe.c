/*
 * pipe.c - pipe:// : an anonymous pipe(2), one way, made before fork().
 * ends[0] receives and ends[1] sends, as with pipe(2).
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#define IPCX__PIPE_CAPS                                                        \
	(IPCX_CAP_POLLABLE | IPCX_CAP_BYTE_STREAM | IPCX_CAP_RELIABLE |        \
	 IPCX_CAP_FLOW_CONTROL)

/*
 * The capacity a pipe asks for when the URL gives no ?cap=: the kernel's
 * default of 64 KiB splits every frame of a 64 KiB message in two, which
 * costs the receiver an extra wake-up per message. Pages are allocated
 * only as data arrives, so the larger ring costs nothing while it is idle.
 */
#define IPCX__PIPE_DEFAULT_CAP (1 << 20)

/*
 * ipcx__pipe_size applies ?cap= with F_SETPIPE_SZ and reports the capacity.
 * Without ?cap= it asks for IPCX__PIPE_DEFAULT_CAP and keeps the kernel's
 * size when that is refused (fs.pipe-max-size, fs.pipe-user-pages-soft).
 */
static int ipcx__pipe_size(int fd, const struct ipcx__url *u, size_t *capacity)
{
	if (u->has_cap) {
		if (u->cap == 0 || u->cap > INT_MAX)
			return ipcx__fail(-EINVAL, "pipe:// cap=%s: the kernel takes 1 byte to "
						   "/proc/sys/fs/pipe-max-size",
					  u->cap ? "unbounded or above 2 GiB" : "0");
		if (fcntl(fd, F_SETPIPE_SZ, (int)u->cap) < 0)
			return ipcx__errno_fail("F_SETPIPE_SZ (see /proc/sys/fs/pipe-max-size)");
	} else {
		(void)fcntl(fd, F_SETPIPE_SZ, IPCX__PIPE_DEFAULT_CAP);
	}
	int sz = fcntl(fd, F_GETPIPE_SZ);
	*capacity = sz > 0 ? (size_t)sz : 0;
	return 0;
}

static int ipcx__pipe_pair(ipcx_chan *ends[2], const struct ipcx__url *u)
{
	int fds[2];
	size_t max_msg, capacity;
	int rc = ipcx__stream_max_msg(u, IPCX__STREAM_MAX_MSG, &max_msg);
	if (rc < 0)
		return rc;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return ipcx__errno_fail("pipe2");
	rc = ipcx__pipe_size(fds[1], u, &capacity);
	if (rc < 0) {
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	rc = ipcx__stream_pair_new(ends, fds, u, IPCX__PIPE_CAPS, max_msg);
	if (rc < 0)
		return rc;
	ends[0]->flags = IPCX_RECV;
	ends[1]->flags = IPCX_SEND;
	ends[0]->caps.capacity = ends[1]->caps.capacity = capacity;
	return 0;
}

const struct ipcx__transport ipcx__pipe_transport = {
	.scheme = "pipe",
	.options = "cap maxmsg frame",
	.caps = {.flags = IPCX__PIPE_CAPS, .max_msg = IPCX__STREAM_DEFAULT_MAX_MSG},
	.pair = ipcx__pipe_pair,
	.send = ipcx__stream_send,
	.recv = ipcx__stream_recv,
	.close = ipcx__stream_close,
	.fd = ipcx__stream_fd,
};
