/*
 * fifo.c - fifo:///path : a named pipe (seed 000 §3.3, seed 001).
 *
 * Creating is mkfifo(3); an existing FIFO is reused unless IPCX_EXCL. A
 * receiver opens at once (O_NONBLOCK) and its receive waits for data, so
 * the classic blocking open of the reader becomes the receive's timeout. A
 * sender's open waits for a reader up to the open timeout, as a blocking
 * open(O_WRONLY) does; with timeout 0 it is the O_NONBLOCK open, and no
 * reader is -ENXIO. Binary and line messages fit in PIPE_BUF so that each
 * is one atomic write and many senders never interleave.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IPCX__FIFO_CAPS                                                        \
	(IPCX_CAP_POLLABLE | IPCX_CAP_BYTE_STREAM | IPCX_CAP_RELIABLE |        \
	 IPCX_CAP_FLOW_CONTROL | IPCX_CAP_NAMED)

static int ipcx__fifo_path(const struct ipcx__url *u)
{
	if (u->address[0] != '/')
		return ipcx__fail(-EINVAL, "fifo:// needs an absolute path, as in fifo:///tmp/name "
					   "(got '%s')", u->address);
	if (strlen(u->address) >= PATH_MAX)
		return ipcx__fail(-ENAMETOOLONG, "fifo path is too long");
	return 0;
}

/* The largest message whose whole frame fits in one atomic pipe write. */
static size_t ipcx__fifo_limit(enum ipcx__frame frame)
{
	switch (frame) {
	case IPCX__FRAME_BINARY:
		return PIPE_BUF - IPCX__FRAME_HDR;
	case IPCX__FRAME_LINE:
		return PIPE_BUF - 1;
	case IPCX__FRAME_RAW:
		break;
	}
	return IPCX__STREAM_MAX_MSG;
}

/* ipcx__fifo_open_writer waits for a reader until the deadline (seed 000 §3.3). */
static int ipcx__fifo_open_writer(const char *path, int oflags, struct ipcx__deadline d)
{
	long backoff_us = 200;
	for (;;) {
		if (d.at_ns == INT64_MAX) {
			int fd = open(path, oflags);
			if (fd >= 0 || errno != EINTR)
				return fd;
			continue;
		}
		int fd = open(path, oflags | O_NONBLOCK);
		if (fd >= 0 || errno != ENXIO)
			return fd;
		int left = ipcx__deadline_poll_ms(d);
		if (left == 0)
			return -1; /* errno is ENXIO: no reader */
		struct timespec ts = {0, backoff_us * 1000};
		nanosleep(&ts, NULL);
		if (backoff_us < 20000)
			backoff_us *= 2;
	}
}

static int ipcx__fifo_create(const struct ipcx__url *u, int flags, bool *created)
{
	*created = false;
	if (!(flags & IPCX_CREATE))
		return 0;
	if (mkfifo(u->address, ipcx__url_mode(u)) == 0) {
		*created = true;
		(void)ipcx__object_register_url(u);
		return 0;
	}
	if (errno == EEXIST && !(flags & IPCX_EXCL))
		return 0;
	return ipcx__fail(-errno, "mkfifo %s: %s", u->address, ipcx_strerror(-errno));
}

static int ipcx__fifo_open(ipcx_chan **out, const struct ipcx__url *u, int flags,
			   struct ipcx__deadline d)
{
	size_t max_msg;
	bool created;
	int rc = ipcx__fifo_path(u);
	if (rc == 0)
		rc = ipcx__stream_max_msg(u, ipcx__fifo_limit(u->frame), &max_msg);
	if (rc == 0)
		rc = ipcx__fifo_create(u, flags, &created);
	if (rc < 0)
		return rc;
	int oflags = O_CLOEXEC | O_NOFOLLOW;
	int fd;
	if ((flags & IPCX_SEND) && (flags & IPCX_RECV))
		fd = open(u->address, oflags | O_RDWR | O_NONBLOCK);
	else if (flags & IPCX_RECV)
		fd = open(u->address, oflags | O_RDONLY | O_NONBLOCK);
	else
		fd = ipcx__fifo_open_writer(u->address, oflags | O_WRONLY, d);
	if (fd < 0) {
		if (errno == ENXIO)
			return ipcx__fail(-ENXIO, "no reader has %s open", u->address);
		return ipcx__fail(-errno, "open %s: %s", u->address, ipcx_strerror(-errno));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		close(fd);
		return ipcx__fail(-ENOTTY, "%s exists and is not a FIFO", u->address);
	}
	/* mkfifo applied the umask; a mode asked for is the mode given. */
	if (created && u->has_mode && fchmod(fd, u->mode) < 0) {
		close(fd);
		return ipcx__errno_fail("fchmod");
	}
	rc = ipcx__stream_new(out, fd, u, IPCX__FIFO_CAPS, max_msg);
	if (rc < 0)
		return rc;
	struct ipcx__stream_chan *sc = (struct ipcx__stream_chan *)*out;
	sc->conn.poll_first = true;
	sc->conn.no_read_ahead = true;
	if (u->frame != IPCX__FRAME_RAW)
		(*out)->caps.flags |= IPCX_CAP_MANY_SENDERS;
	int sz = fcntl(fd, F_GETPIPE_SZ);
	(*out)->caps.capacity = sz > 0 ? (size_t)sz : 0;
	return 0;
}

static int ipcx__fifo_unlink(const struct ipcx__url *u)
{
	struct stat st;
	int rc = ipcx__fifo_path(u);
	if (rc < 0)
		return rc;
	if (lstat(u->address, &st) < 0)
		return ipcx__fail(-errno, "%s: %s", u->address, ipcx_strerror(-errno));
	if (!S_ISFIFO(st.st_mode))
		return ipcx__fail(-ENOTTY, "%s is not a FIFO; not removing it", u->address);
	if (unlink(u->address) < 0)
		return ipcx__errno_fail("unlink");
	ipcx__object_forget_url(u);
	return 0;
}

const struct ipcx__transport ipcx__fifo_transport = {
	.scheme = "fifo",
	.options = "mode maxmsg frame",
	.caps = {.flags = IPCX__FIFO_CAPS | IPCX_CAP_MANY_SENDERS,
		 .max_msg = PIPE_BUF - IPCX__FRAME_HDR},
	.open = ipcx__fifo_open,
	.send = ipcx__stream_send,
	.recv = ipcx__stream_recv,
	.close = ipcx__stream_close,
	.unlink = ipcx__fifo_unlink,
	.fd = ipcx__stream_fd,
};
