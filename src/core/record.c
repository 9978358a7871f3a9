/*
 * record.c - one message per record over sockets that keep record
 * boundaries (SOCK_SEQPACKET, SOCK_DGRAM). A record is the binary frame
 * header and the payload, or the bare payload with frame=raw/line; see
 * docs/wire.md. A record of unknown size is peeked at before it is taken,
 * so one too large for the caller's buffer stays queued.
 */
#include "sock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* The kernel refuses a record above the send buffer less this much. */
#define IPCX__REC_SKB_OVERHEAD 32

/* Bytes a record carries besides the payload. */
static size_t ipcx__rec_overhead(enum ipcx__frame frame)
{
	switch (frame) {
	case IPCX__FRAME_BINARY:
		return IPCX__FRAME_HDR;
	case IPCX__FRAME_LINE:
		return 1;
	case IPCX__FRAME_RAW:
		break;
	}
	return 0;
}

int ipcx__rec_limits(int type, const struct ipcx__url *u, int *sndbuf, size_t *max_msg)
{
	size_t overhead = ipcx__rec_overhead(u->frame) + IPCX__REC_SKB_OVERHEAD;
	size_t granted;
	int rc = ipcx__sock_cap(u, sndbuf);
	if (rc < 0)
		return rc;
	if (!*sndbuf && u->has_maxmsg)
		*sndbuf = u->maxmsg > INT_MAX / 2 - overhead ? INT_MAX / 2 : (int)(u->maxmsg + overhead);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ipcx__errno_fail("socket");
	rc = ipcx__sock_sndbuf(fd, *sndbuf, &granted);
	close(fd);
	if (rc < 0)
		return rc;
	size_t limit = granted > overhead ? granted - overhead : 0;
	if (u->has_maxmsg && u->maxmsg > limit)
		return ipcx__fail(-EINVAL, "maxmsg=%zu is above the %zu bytes a %s:// record can "
					   "carry with a %zu-byte send buffer (net.core.wmem_max "
					   "bounds it)",
				  u->maxmsg, limit, u->scheme, granted);
	if (u->has_maxmsg)
		*max_msg = u->maxmsg;
	else
		*max_msg = IPCX__REC_DEFAULT_RECORD - ipcx__rec_overhead(u->frame);
	if (*max_msg > limit)
		*max_msg = limit;
	return 0;
}

/* ipcx__rec_check refuses what the plain record framings cannot carry. */
static int ipcx__rec_check(enum ipcx__frame frame, const void *data, size_t len, long type)
{
	if (frame == IPCX__FRAME_BINARY)
		return 0;
	if (type != 1)
		return ipcx__fail(-EINVAL, "frame=%s carries no message type (type %ld given)",
				  frame == IPCX__FRAME_LINE ? "line" : "raw", type);
	if (frame == IPCX__FRAME_LINE && len && memchr(data, '\n', len))
		return ipcx__fail(-EINVAL, "frame=line messages cannot contain a newline");
	return 0;
}

/* ipcx__rec_send_error turns a failed sendmsg into the channel's error. */
static int ipcx__rec_send_error(int err)
{
	switch (err) {
	case EPIPE:
	case ECONNREFUSED:
	case ECONNRESET:
	case ENOENT:
	case ENOTCONN:
		return ipcx__fail(-EPIPE, "the receiver is gone");
	case EMSGSIZE:
		return ipcx__fail(-EMSGSIZE, "the record is larger than the socket's send buffer "
					     "allows");
	default:
		return ipcx__fail(-err, "sendmsg: %s", ipcx_strerror(-err));
	}
}

int ipcx__rec_send(int fd, enum ipcx__frame frame, const void *data, size_t len, long type,
		   const struct ipcx__sockaddr *to, struct ipcx__deadline d)
{
	unsigned char hdr[IPCX__FRAME_HDR];
	struct iovec iov[2];
	struct msghdr m = {.msg_iov = iov};
	int rc = ipcx__rec_check(frame, data, len, type);
	if (rc < 0)
		return rc;
	if (frame == IPCX__FRAME_BINARY) {
		ipcx__frame_encode(hdr, len, type);
		iov[m.msg_iovlen++] = (struct iovec){hdr, sizeof(hdr)};
	}
	iov[m.msg_iovlen++] = (struct iovec){(void *)data, len};
	if (frame == IPCX__FRAME_LINE)
		iov[m.msg_iovlen++] = (struct iovec){"\n", 1};
	if (to) {
		m.msg_name = (void *)&to->ss;
		m.msg_namelen = to->len;
	}
	long pause_us = 100;
	for (;;) {
		if (sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != ENOBUFS)
			return ipcx__rec_send_error(errno);
		/*
		 * A connected socket polls writable when its peer has room; an
		 * unconnected one cannot tell, so it retries after a pause.
		 */
		rc = to ? ipcx__backoff_sleep(&pause_us, d) : ipcx__wait_fd(fd, POLLOUT, d);
		if (rc < 0)
			return rc;
	}
}

/*
 * ipcx__rec_payload works out the payload of a peeked record of rec bytes
 * whose first bytes went to hdr (binary), buf and tail: its length, or
 * -EPROTO for a malformed binary record.
 */
static ssize_t ipcx__rec_payload(enum ipcx__frame frame, size_t rec, const unsigned char *hdr,
				 const unsigned char *buf, size_t size, unsigned char tail,
				 long *type)
{
	size_t len;
	switch (frame) {
	case IPCX__FRAME_BINARY: {
		if (rec < IPCX__FRAME_HDR)
			return ipcx__fail(-EPROTO, "record of %zu bytes is shorter than the frame "
						   "header", rec);
		int rc = ipcx__frame_decode(hdr, IPCX__STREAM_MAX_MSG, &len, type);
		if (rc < 0)
			return rc;
		if (len != rec - IPCX__FRAME_HDR)
			return ipcx__fail(-EPROTO, "frame says %zu bytes, its record carries %zu", len,
					  rec - IPCX__FRAME_HDR);
		return (ssize_t)len;
	}
	case IPCX__FRAME_LINE:
		*type = 1;
		/* The last byte is in buf, or in tail when the payload exactly fills buf. */
		if (rec > 0 && rec - 1 <= size && (rec - 1 < size ? buf[rec - 1] : tail) == '\n')
			return (ssize_t)(rec - 1);
		return (ssize_t)rec;
	case IPCX__FRAME_RAW:
		break;
	}
	*type = 1;
	return (ssize_t)rec;
}

bool ipcx__rec_retry(int err)
{
	return err == EINTR || err == ECONNRESET;
}

/* ipcx__rec_discard drops the record at the head of the queue. */
static void ipcx__rec_discard(int fd)
{
	while (recv(fd, NULL, 0, MSG_DONTWAIT) < 0 && ipcx__rec_retry(errno))
		;
}

ssize_t ipcx__rec_recv(int fd, enum ipcx__frame frame, bool zero_is_eof, void *buf, size_t size,
		       long *type, struct ipcx__sockaddr *from)
{
	unsigned char hdr[IPCX__FRAME_HDR], tail = 0;
	struct iovec iov[3];
	struct msghdr m = {.msg_iov = iov};
	if (frame == IPCX__FRAME_BINARY)
		iov[m.msg_iovlen++] = (struct iovec){hdr, sizeof(hdr)};
	iov[m.msg_iovlen++] = (struct iovec){buf, size};
	iov[m.msg_iovlen++] = (struct iovec){&tail, 1};
	if (from) {
		m.msg_name = &from->ss;
		m.msg_namelen = sizeof(from->ss);
	}
	ssize_t n;
	while ((n = recvmsg(fd, &m, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT)) < 0 &&
	       ipcx__rec_retry(errno))
		;
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : ipcx__errno_fail("recvmsg");
	if (n == 0 && zero_is_eof)
		return ipcx__fail(-EPIPE, "peer closed the connection");
	ssize_t len = ipcx__rec_payload(frame, (size_t)n, hdr, buf, size, tail, type);
	if (len >= 0 && (size_t)len > size)
		return ipcx__fail(-EMSGSIZE, "message of %zd bytes does not fit the %zu-byte buffer",
				  len, size);
	ipcx__rec_discard(fd);
	if (from)
		from->len = m.msg_namelen;
	return len;
}
