/*
 * conn.c - messages over a byte stream: the binary frame, line and raw
 * framing, the connection handshake, and the buffered read/write paths
 * that every stream transport (pipe, spipe, fifo, unix, tcp) shares.
 * docs/wire.md describes the bytes.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Reads ask for at least this much room, so small messages batch up. */
#define IPCX__READ_CHUNK ((size_t)64 << 10)

static void ipcx__put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t ipcx__get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* CRC-8 (polynomial 0x07) of the header bytes other than the check byte. */
static unsigned char ipcx__frame_check(const unsigned char hdr[IPCX__FRAME_HDR])
{
	unsigned crc = 0;
	for (int i = 0; i < IPCX__FRAME_HDR; i++) {
		if (i == 3)
			continue;
		crc ^= hdr[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x80) ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
	}
	return (unsigned char)crc;
}

void ipcx__frame_encode(unsigned char hdr[IPCX__FRAME_HDR], size_t len, long type)
{
	hdr[0] = IPCX__FRAME_MAGIC0;
	hdr[1] = IPCX__FRAME_MAGIC1;
	hdr[2] = IPCX__FRAME_VERSION;
	ipcx__put_le(hdr + 4, len, 4);
	ipcx__put_le(hdr + 8, (uint64_t)type, 8);
	hdr[3] = ipcx__frame_check(hdr);
}

int ipcx__frame_decode(const unsigned char hdr[IPCX__FRAME_HDR], size_t max_msg, size_t *len,
		       long *type)
{
	if (hdr[0] != IPCX__FRAME_MAGIC0 || hdr[1] != IPCX__FRAME_MAGIC1)
		return ipcx__fail(-EPROTO, "garbage on the stream: bad frame magic 0x%02x%02x",
				  hdr[0], hdr[1]);
	if (hdr[2] != IPCX__FRAME_VERSION)
		return ipcx__fail(-EPROTO, "frame version %u, this ipcx speaks %u", hdr[2],
				  IPCX__FRAME_VERSION);
	if (hdr[3] != ipcx__frame_check(hdr))
		return ipcx__fail(-EPROTO, "garbage on the stream: frame check byte mismatch");
	uint64_t n = ipcx__get_le(hdr + 4, 4);
	int64_t t = (int64_t)ipcx__get_le(hdr + 8, 8);
	if (t < 1 || t > (int64_t)__LONG_MAX__)
		return ipcx__fail(-EPROTO, "frame carries message type %lld (types are >= 1)",
				  (long long)t);
	if (n > max_msg)
		return ipcx__fail(-EPROTO, "frame of %llu bytes exceeds the agreed limit of %zu",
				  (unsigned long long)n, max_msg);
	*len = (size_t)n;
	*type = (long)t;
	return 0;
}

static const unsigned char ipcx__hello_magic[4] = {'I', 'P', 'C', 'X'};

void ipcx__hello_encode(unsigned char out[IPCX__HELLO_LEN], size_t max_msg)
{
	memset(out, 0, IPCX__HELLO_LEN);
	memcpy(out, ipcx__hello_magic, 4);
	out[4] = IPCX__FRAME_VERSION;
	ipcx__put_le(out + 8, max_msg, 4);
}

int ipcx__hello_decode(const unsigned char in[IPCX__HELLO_LEN], size_t our_max, size_t *agreed)
{
	if (memcmp(in, ipcx__hello_magic, 4) != 0)
		return ipcx__fail(-EPROTO, "peer is not an ipcx endpoint (bad handshake)");
	if (in[4] != IPCX__FRAME_VERSION)
		return ipcx__fail(-EPROTO, "peer speaks ipcx wire version %u, this one %u", in[4],
				  IPCX__FRAME_VERSION);
	size_t theirs = (size_t)ipcx__get_le(in + 8, 4);
	*agreed = theirs < our_max ? theirs : our_max;
	return 0;
}

void ipcx__conn_init(struct ipcx__conn *c, int fd, enum ipcx__frame frame, size_t max_msg)
{
	struct stat st;
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->frame = frame;
	c->max_msg = max_msg;
	c->is_socket = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
	struct sigaction sa;
	c->sigpipe_ignored = sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN;
}

/*
 * ipcx__write_nosig writes without ever raising SIGPIPE: sockets say so
 * with MSG_NOSIGNAL. A pipe write is a plain writev when the process
 * ignored SIGPIPE when the channel was opened (the cheap case, one system
 * call; docs/wire.md says to reopen after restoring the default action);
 * otherwise the signal is blocked around the write and a SIGPIPE it caused
 * is taken back before the mask is restored.
 */
static ssize_t ipcx__write_nosig(const struct ipcx__conn *c, struct iovec *iov, int iovcnt)
{
	if (c->is_socket) {
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
		return sendmsg(c->fd, &m, MSG_NOSIGNAL);
	}
	if (c->sigpipe_ignored)
		return writev(c->fd, iov, iovcnt);
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	bool was_pending = sigismember(&pending, SIGPIPE);
	ssize_t n = writev(c->fd, iov, iovcnt);
	int saved = errno;
	if (n < 0 && errno == EPIPE && !was_pending) {
		struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

static void ipcx__conn_drop_tail(struct ipcx__conn *c)
{
	free(c->wbuf);
	c->wbuf = NULL;
	c->wstart = c->wend = 0;
}

/*
 * ipcx__conn_write_all writes the iovcnt (at most 2) buffers in order
 * before the deadline, adding each byte written to *done, counted across
 * the buffers. 0 once everything is written; else the error that stopped
 * it: -EPIPE when the reader is gone, the deadline's error when it passed.
 */
static int ipcx__conn_write_all(struct ipcx__conn *c, const struct iovec *iov, int iovcnt,
				size_t *done, struct ipcx__deadline d)
{
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	while (*done < total) {
		struct iovec rest[2];
		int restcnt = 0;
		size_t skip = *done;
		for (int i = 0; i < iovcnt; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			rest[restcnt++] = (struct iovec){(char *)iov[i].iov_base + skip,
							 iov[i].iov_len - skip};
			skip = 0;
		}
		ssize_t n = ipcx__write_nosig(c, rest, restcnt);
		if (n > 0) {
			*done += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EPIPE || errno == ECONNRESET)
			return ipcx__fail(-EPIPE, "the receiver is gone");
		if (errno != EAGAIN)
			return ipcx__errno_fail("write");
		int ev = ipcx__wait_fd(c->fd, POLLOUT, d);
		if (ev < 0)
			return ev;
	}
	return 0;
}

/* ipcx__conn_flush writes the unsent tail of an earlier message. */
static int ipcx__conn_flush(struct ipcx__conn *c, struct ipcx__deadline d)
{
	if (c->wstart == c->wend)
		return 0;
	struct iovec iov = {c->wbuf + c->wstart, c->wend - c->wstart};
	size_t done = 0;
	int rc = ipcx__conn_write_all(c, &iov, 1, &done, d);
	c->wstart += done;
	if (rc == 0)
		ipcx__conn_drop_tail(c);
	return rc;
}

/* ipcx__conn_keep copies what send could not write yet into the tail buffer. */
static int ipcx__conn_keep(struct ipcx__conn *c, const struct iovec *iov, int iovcnt,
			   size_t skip)
{
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	c->wbuf = malloc(total - skip);
	if (!c->wbuf)
		return -ENOMEM;
	c->wstart = 0;
	c->wend = 0;
	for (int i = 0; i < iovcnt; i++) {
		size_t len = iov[i].iov_len;
		size_t off = skip < len ? skip : len;
		skip -= off;
		memcpy(c->wbuf + c->wend, (const char *)iov[i].iov_base + off, len - off);
		c->wend += len - off;
	}
	return 0;
}

/* ipcx__conn_check_plain refuses what line and raw framing cannot carry. */
static int ipcx__conn_check_plain(const struct ipcx__conn *c, const void *data, size_t len,
				  long type)
{
	const char *name = c->frame == IPCX__FRAME_LINE ? "line" : "raw";
	if (type != 1)
		return ipcx__fail(-EINVAL, "frame=%s carries no message type (type %ld given)", name,
				  type);
	if (c->frame == IPCX__FRAME_LINE && memchr(data, '\n', len))
		return ipcx__fail(-EINVAL, "frame=line messages cannot contain a newline");
	if (c->frame == IPCX__FRAME_RAW && len == 0)
		return ipcx__fail(-EINVAL, "frame=raw cannot carry an empty message");
	return 0;
}

int ipcx__conn_send(struct ipcx__conn *c, const void *data, size_t len, long type,
		    struct ipcx__deadline d)
{
	unsigned char hdr[IPCX__FRAME_HDR];
	struct iovec iov[2];
	int iovcnt = 0;
	int rc = ipcx__conn_flush(c, d);
	if (rc < 0)
		return rc;
	if (c->frame == IPCX__FRAME_BINARY) {
		ipcx__frame_encode(hdr, len, type);
		iov[iovcnt++] = (struct iovec){hdr, sizeof(hdr)};
		iov[iovcnt++] = (struct iovec){(void *)data, len};
	} else {
		rc = ipcx__conn_check_plain(c, data, len, type);
		if (rc < 0)
			return rc;
		iov[iovcnt++] = (struct iovec){(void *)data, len};
		if (c->frame == IPCX__FRAME_LINE)
			iov[iovcnt++] = (struct iovec){"\n", 1};
	}
	size_t done = 0;
	rc = ipcx__conn_write_all(c, iov, iovcnt, &done, d);
	/* Out of time: nothing written is nothing sent; a started frame is finished later. */
	if (done > 0 && (rc == -EAGAIN || rc == -ETIMEDOUT))
		return ipcx__conn_keep(c, iov, iovcnt, done);
	return rc;
}

/* ipcx__conn_room makes room for want more bytes after rend. */
static int ipcx__conn_room(struct ipcx__conn *c, size_t want)
{
	if (c->rstart == c->rend)
		c->rstart = c->rend = 0;
	if (c->rcap - c->rend >= want)
		return 0;
	size_t used = c->rend - c->rstart;
	if (c->rstart > 0) {
		memmove(c->rbuf, c->rbuf + c->rstart, used);
		c->rstart = 0;
		c->rend = used;
		if (c->rcap - c->rend >= want)
			return 0;
	}
	size_t cap = c->rcap ? c->rcap : IPCX__READ_CHUNK;
	while (cap - used < want)
		cap *= 2;
	unsigned char *p = realloc(c->rbuf, cap);
	if (!p)
		return -ENOMEM;
	c->rbuf = p;
	c->rcap = cap;
	return 0;
}

/*
 * ipcx__conn_frame_len reads the payload length of the binary frame at the
 * head of the buffer, when its whole header is there and the length is one
 * we accept. It only sizes reads, so it records no error: take() checks
 * the header in full and reports what is wrong.
 */
static bool ipcx__conn_frame_len(const struct ipcx__conn *c, size_t *len)
{
	if (c->frame != IPCX__FRAME_BINARY || c->rend - c->rstart < IPCX__FRAME_HDR)
		return false;
	*len = (size_t)ipcx__get_le(c->rbuf + c->rstart + 4, 4);
	return *len <= c->max_msg;
}

/* How many bytes the next whole message needs in the buffer, at least. */
static size_t ipcx__conn_need(const struct ipcx__conn *c)
{
	size_t have = c->rend - c->rstart;
	size_t len;
	if (!ipcx__conn_frame_len(c, &len))
		return IPCX__READ_CHUNK;
	size_t frame = IPCX__FRAME_HDR + len;
	return frame > have + IPCX__READ_CHUNK ? frame - have : IPCX__READ_CHUNK;
}

/*
 * ipcx__conn_read_max is how much one read may take. Without read-ahead it
 * is the rest of the binary frame being read, or one byte of a line: a
 * pipe cannot be peeked at, and bytes read are gone from it.
 */
static size_t ipcx__conn_read_max(const struct ipcx__conn *c)
{
	size_t room = c->rcap - c->rend;
	size_t have = c->rend - c->rstart;
	size_t len, want = room;
	if (!c->no_read_ahead)
		return room;
	if (c->frame == IPCX__FRAME_LINE)
		want = 1;
	else if (c->frame == IPCX__FRAME_BINARY && have < IPCX__FRAME_HDR)
		want = IPCX__FRAME_HDR - have;
	else if (ipcx__conn_frame_len(c, &len))
		want = IPCX__FRAME_HDR + len - have;
	return want < room ? want : room;
}

int ipcx__conn_fill(struct ipcx__conn *c)
{
	int rc = ipcx__conn_room(c, ipcx__conn_need(c));
	if (rc < 0)
		return rc;
	for (;;) {
		size_t want = ipcx__conn_read_max(c);
		ssize_t n = read(c->fd, c->rbuf + c->rend, want);
		if (n > 0) {
			c->rend += (size_t)n;
			c->drained = (size_t)n < want;
			return (int)(n > INT32_MAX ? INT32_MAX : n);
		}
		if (n == 0 || errno == ECONNRESET) {
			c->eof = true;
			return -EPIPE;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return -EAGAIN;
		return ipcx__errno_fail("read");
	}
}

/* ipcx__conn_deliver copies a message of len bytes at rstart + skip out of the buffer. */
static ssize_t ipcx__conn_deliver(struct ipcx__conn *c, size_t skip, size_t len, size_t consumed,
				  void *buf, size_t size)
{
	if (len > size)
		return ipcx__fail(-EMSGSIZE, "message of %zu bytes does not fit the %zu-byte buffer",
				  len, size);
	memcpy(buf, c->rbuf + c->rstart + skip, len);
	c->rstart += consumed;
	return (ssize_t)len;
}

static ssize_t ipcx__conn_end(const struct ipcx__conn *c)
{
	size_t left = c->rend - c->rstart;
	if (left)
		return ipcx__fail(-EPIPE, "peer closed the stream inside a message (%zu bytes lost)",
				  left);
	return ipcx__fail(-EPIPE, "peer closed the stream");
}

ssize_t ipcx__conn_take(struct ipcx__conn *c, void *buf, size_t size, long *type)
{
	size_t have = c->rend - c->rstart;
	const unsigned char *p = c->rbuf + c->rstart;
	if (c->broken)
		return c->broken;
	switch (c->frame) {
	case IPCX__FRAME_BINARY: {
		size_t len;
		if (have >= IPCX__FRAME_HDR) {
			int rc = ipcx__frame_decode(p, c->max_msg, &len, type);
			if (rc < 0)
				return c->broken = rc;
			if (have >= IPCX__FRAME_HDR + len)
				return ipcx__conn_deliver(c, IPCX__FRAME_HDR, len,
							  IPCX__FRAME_HDR + len, buf, size);
		}
		break;
	}
	case IPCX__FRAME_LINE: {
		const unsigned char *nl = have ? memchr(p, '\n', have) : NULL;
		*type = 1;
		if (nl)
			return ipcx__conn_deliver(c, 0, (size_t)(nl - p), (size_t)(nl - p) + 1, buf,
						  size);
		if (c->eof && have)
			return ipcx__conn_deliver(c, 0, have, have, buf, size);
		if (have > c->max_msg)
			return c->broken = ipcx__fail(-EPROTO, "line longer than maxmsg=%zu",
						      c->max_msg);
		break;
	}
	case IPCX__FRAME_RAW:
		*type = 1;
		if (have) {
			size_t n = have < size ? have : size;
			if (size == 0)
				return ipcx__fail(-EMSGSIZE, "a zero-byte buffer cannot take raw bytes");
			return ipcx__conn_deliver(c, 0, n, n, buf, size);
		}
		break;
	}
	return c->eof ? ipcx__conn_end(c) : -EAGAIN;
}

/*
 * ipcx__conn_wait_readable waits until fd is readable. Meanwhile it writes
 * the unsent tail of an earlier send as room appears, so a sender that
 * waits for a reply never holds back the message the reply depends on. A
 * tail the peer can no longer take (it is gone) is dropped.
 */
static int ipcx__conn_wait_readable(struct ipcx__conn *c, struct ipcx__deadline d)
{
	for (;;) {
		short events = POLLIN;
		if (c->wstart < c->wend) {
			int rc = ipcx__conn_flush(c, ipcx__deadline_in(0));
			if (rc < 0 && rc != -EAGAIN)
				ipcx__conn_drop_tail(c);
			if (c->wstart < c->wend)
				events |= POLLOUT;
		}
		int ev = ipcx__wait_fd(c->fd, events, d);
		if (ev < 0 || (ev & ~POLLOUT))
			return ev;
	}
}

ssize_t ipcx__conn_recv(struct ipcx__conn *c, void *buf, size_t size, long *type,
			struct ipcx__deadline d)
{
	/* After a short read the next one would most likely find nothing: poll first. */
	bool readable = !c->poll_first && !c->drained;
	for (;;) {
		ssize_t n = ipcx__conn_take(c, buf, size, type);
		if (n != -EAGAIN)
			return n;
		int rc = readable ? ipcx__conn_fill(c) : -EAGAIN;
		if (rc > 0 || rc == -EPIPE)
			continue;
		if (rc != -EAGAIN)
			return rc;
		rc = ipcx__conn_wait_readable(c, d);
		if (rc < 0)
			return rc;
		readable = true;
		c->drained = false;
	}
}

void ipcx__conn_fini(struct ipcx__conn *c)
{
	if (c->wstart < c->wend)
		ipcx__conn_flush(c, ipcx__deadline_in(-1));
	if (c->fd >= 0)
		close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int ipcx__stream_max_msg(const struct ipcx__url *u, size_t limit, size_t *out)
{
	if (limit > IPCX__STREAM_MAX_MSG)
		limit = IPCX__STREAM_MAX_MSG;
	if (!u->has_maxmsg) {
		*out = limit < IPCX__STREAM_DEFAULT_MAX_MSG ? limit : IPCX__STREAM_DEFAULT_MAX_MSG;
		return 0;
	}
	if (u->maxmsg > limit)
		return ipcx__fail(-EINVAL, "maxmsg=%zu is above the %s:// limit of %zu", u->maxmsg,
				  u->scheme, limit);
	*out = u->maxmsg;
	return 0;
}

int ipcx__stream_new(ipcx_chan **out, int fd, const struct ipcx__url *u, unsigned cap_flags,
		     size_t max_msg)
{
	int rc = ipcx__set_nonblock(fd);
	struct ipcx__stream_chan *sc = rc < 0 ? NULL : ipcx__chan_alloc(sizeof(*sc));
	if (!sc) {
		close(fd);
		return rc < 0 ? rc : -ENOMEM;
	}
	ipcx__conn_init(&sc->conn, fd, u->frame, max_msg);
	sc->base.caps.flags = cap_flags;
	sc->base.caps.max_msg = max_msg;
	*out = &sc->base;
	return 0;
}

int ipcx__stream_send(ipcx_chan *ch, const void *data, size_t len, long type,
		      struct ipcx__deadline d)
{
	return ipcx__conn_send(&((struct ipcx__stream_chan *)ch)->conn, data, len, type, d);
}

ssize_t ipcx__stream_recv(ipcx_chan *ch, void *buf, size_t size, long selector, long *type,
			  struct ipcx__deadline d)
{
	return ipcx__conn_recv(&((struct ipcx__stream_chan *)ch)->conn, buf, size, type, d);
}

void ipcx__stream_close(ipcx_chan *ch)
{
	ipcx__conn_fini(&((struct ipcx__stream_chan *)ch)->conn);
	free(ch);
}

int ipcx__stream_fd(const ipcx_chan *ch)
{
	return ((const struct ipcx__stream_chan *)ch)->conn.fd;
}

int ipcx__stream_pair_new(ipcx_chan *ends[2], int fds[2], const struct ipcx__url *u,
			  unsigned cap_flags, size_t max_msg)
{
	int rc = ipcx__stream_new(&ends[0], fds[0], u, cap_flags, max_msg);
	if (rc < 0) {
		close(fds[1]);
		return rc;
	}
	rc = ipcx__stream_new(&ends[1], fds[1], u, cap_flags, max_msg);
	if (rc < 0) {
		ipcx__stream_close(ends[0]);
		ends[0] = NULL;
	}
	return rc;
}
