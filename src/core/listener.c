/*
 * listener.c - the channel of a connection-oriented socket (unix, unixseq,
 * tcp): a set of peers behind one epoll descriptor. A listening channel
 * holds the listening socket and every peer it accepted; a connecting
 * channel holds its one connection. Receiving takes a message from any
 * peer in turn, reading the handshake of a new peer on the way, so a slow
 * or silent client never holds up the others.
 */
#include "sock.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/*
 * Readiness is refreshed from epoll at least every this many messages, so
 * a peer that never stops sending cannot starve the others or the accept.
 */
#define IPCX__FAIR_BUDGET 64
#define IPCX__EPOLL_BATCH 16

/* One connection. */
struct ipcx__peer {
	struct ipcx__conn conn; /* the record wire uses fd, frame, max_msg, broken */
	bool greeted;           /* the peer's handshake arrived (or none is expected) */
	bool hello_due;         /* ours is still to be sent */
	bool readable;          /* epoll said so, and no read has drained it since */
};

struct ipcx__sockchan {
	struct ipcx_chan base;
	struct ipcx__sockchan_cfg cfg;
	enum ipcx__frame frame;
	int ep;  /* epoll: the listening socket (data NULL) and every peer */
	int lfd; /* listening socket, -1 for a connecting channel */
	struct ipcx__peer **peers;
	size_t npeers, cap;
	size_t next;             /* where the next receive starts looking */
	struct ipcx__peer *last; /* the peer the last message came from */
	int budget;              /* messages left before readiness is refreshed */
};

static bool ipcx__sockchan_listening(const struct ipcx__sockchan *sc)
{
	return sc->lfd >= 0;
}

/* ipcx__peer_free closes a peer; dropped is true when its unsent tail is to be discarded. */
static void ipcx__peer_free(struct ipcx__peer *p, bool dropped)
{
	if (dropped)
		p->conn.wstart = p->conn.wend;
	ipcx__conn_fini(&p->conn);
	free(p);
}

/*
 * ipcx__peer_send_hello sends our handshake, the first bytes ever written
 * on the connection, so an empty socket buffer always takes them whole.
 */
static int ipcx__peer_send_hello(const struct ipcx__sockchan *sc, struct ipcx__peer *p)
{
	unsigned char hello[IPCX__HELLO_LEN];
	ipcx__hello_encode(hello, sc->cfg.max_msg);
	ssize_t n;
	while ((n = send(p->conn.fd, hello, sizeof(hello), MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 &&
	       errno == EINTR)
		;
	if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
		return ipcx__fail(-EPIPE, "the peer is gone");
	if (n != (ssize_t)sizeof(hello))
		return n < 0 ? ipcx__errno_fail("send") : ipcx__fail(-EIO, "short handshake write");
	p->hello_due = false;
	return 0;
}

/* ipcx__sockchan_tune applies the per-connection socket options. */
static int ipcx__sockchan_tune(const struct ipcx__sockchan *sc, int fd, size_t *granted)
{
	int one = 1;
	if (sc->cfg.nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return ipcx__errno_fail("TCP_NODELAY");
	return ipcx__sock_sndbuf(fd, sc->cfg.sndbuf, granted);
}

/*
 * ipcx__sockchan_add makes fd a peer: it tunes it (*granted gets its send
 * buffer) and watches it. fd is owned by the peer, or closed on failure.
 *
 * A connecting channel sends its handshake now. A listener sends its own
 * with the first message to that peer instead: a TCP peer that closes with
 * unread bytes resets the connection and loses what it had not sent yet,
 * so nothing reaches a peer that has not asked for it by talking to us.
 */
static int ipcx__sockchan_add(struct ipcx__sockchan *sc, int fd, size_t *granted)
{
	struct ipcx__peer *p = NULL;
	int rc = ipcx__sockchan_tune(sc, fd, granted);
	if (rc == 0 && sc->npeers == sc->cap) {
		size_t cap = sc->cap ? 2 * sc->cap : 4;
		struct ipcx__peer **grown = realloc(sc->peers, cap * sizeof(*grown));
		if (grown) {
			sc->peers = grown;
			sc->cap = cap;
		} else {
			rc = -ENOMEM;
		}
	}
	if (rc == 0 && !(p = calloc(1, sizeof(*p))))
		rc = -ENOMEM;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	ipcx__conn_init(&p->conn, fd, sc->frame, sc->cfg.max_msg);
	p->greeted = sc->frame != IPCX__FRAME_BINARY;
	p->hello_due = !p->greeted;
	p->readable = true;
	/* A listener that has gone already still has what it sent read. */
	if (p->hello_due && !ipcx__sockchan_listening(sc)) {
		rc = ipcx__peer_send_hello(sc, p);
		if (rc == -EPIPE)
			rc = 0;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};
	if (rc == 0 && epoll_ctl(sc->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		rc = ipcx__errno_fail("epoll_ctl");
	if (rc < 0) {
		ipcx__peer_free(p, true);
		return rc;
	}
	sc->peers[sc->npeers++] = p;
	return 0;
}

/* ipcx__sockchan_drop closes peer i; the receive order of the others is kept. */
static void ipcx__sockchan_drop(struct ipcx__sockchan *sc, size_t i)
{
	struct ipcx__peer *p = sc->peers[i];
	if (sc->last == p)
		sc->last = NULL;
	memmove(&sc->peers[i], &sc->peers[i + 1], (sc->npeers - i - 1) * sizeof(sc->peers[0]));
	sc->npeers--;
	if (sc->next > i)
		sc->next--;
	ipcx__peer_free(p, true);
}

static size_t ipcx__sockchan_index(const struct ipcx__sockchan *sc, const struct ipcx__peer *p)
{
	size_t i = 0;
	while (sc->peers[i] != p)
		i++;
	return i;
}

/* ipcx__sockchan_accept takes every connection waiting on the listening socket. */
static int ipcx__sockchan_accept(struct ipcx__sockchan *sc)
{
	for (;;) {
		int fd = accept4(sc->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN)
				return 0;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return ipcx__errno_fail("accept");
		}
		size_t granted;
		int rc = ipcx__sockchan_add(sc, fd, &granted);
		if (rc < 0)
			return rc;
	}
}

/*
 * ipcx__sockchan_wait waits until the deadline for epoll to report
 * something, then marks the peers it names readable and accepts what the
 * listening socket holds. A zero deadline only refreshes.
 */
static int ipcx__sockchan_wait(struct ipcx__sockchan *sc, struct ipcx__deadline d)
{
	struct epoll_event ev[IPCX__EPOLL_BATCH];
	int n;
	while ((n = epoll_wait(sc->ep, ev, IPCX__EPOLL_BATCH, ipcx__deadline_poll_ms(d))) < 0)
		if (errno != EINTR)
			return ipcx__errno_fail("epoll_wait");
	if (n == 0)
		return ipcx__deadline_err(d);
	bool incoming = false;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.ptr)
			((struct ipcx__peer *)ev[i].data.ptr)->readable = true;
		else
			incoming = true;
	}
	return incoming ? ipcx__sockchan_accept(sc) : 0;
}

/*
 * ipcx__peer_hello checks the n bytes of a peer's handshake that arrived:
 * 0 once all 16 are there and good (the agreed max_msg is in force),
 * -EAGAIN while they agree with a handshake so far, -EPROTO as soon as
 * they do not. Missing bytes are filled in from our own handshake, so the
 * first wrong byte is caught and a text client is refused at once.
 */
static int ipcx__peer_hello(struct ipcx__sockchan *sc, struct ipcx__peer *p,
			    const unsigned char *in, size_t n)
{
	unsigned char full[IPCX__HELLO_LEN];
	size_t agreed;
	ipcx__hello_encode(full, sc->cfg.max_msg);
	if (n)
		memcpy(full, in, n < sizeof(full) ? n : sizeof(full));
	int rc = ipcx__hello_decode(full, sc->cfg.max_msg, &agreed);
	if (rc < 0)
		return p->conn.broken = rc;
	if (n < sizeof(full))
		return -EAGAIN;
	p->conn.max_msg = agreed;
	p->greeted = true;
	if (!ipcx__sockchan_listening(sc))
		sc->base.caps.max_msg = agreed;
	return 0;
}

/* ipcx__peer_greet_stream reads a stream peer's handshake; force reads even when not readable. */
static int ipcx__peer_greet_stream(struct ipcx__sockchan *sc, struct ipcx__peer *p, bool force)
{
	struct ipcx__conn *c = &p->conn;
	for (;;) {
		size_t have = c->rend - c->rstart;
		int rc = ipcx__peer_hello(sc, p, have ? c->rbuf + c->rstart : NULL, have);
		if (rc == 0)
			c->rstart += IPCX__HELLO_LEN;
		if (rc != -EAGAIN)
			return rc;
		if (c->eof)
			return ipcx__fail(-EPIPE, "peer closed the connection during the handshake");
		if (!force && !p->readable)
			return -EAGAIN;
		rc = ipcx__conn_fill(c);
		if (rc == -EAGAIN)
			p->readable = false;
		if (rc < 0 && rc != -EPIPE)
			return rc;
	}
}

/* ipcx__peer_greet_record reads a record peer's handshake, one 16-byte record. */
static int ipcx__peer_greet_record(struct ipcx__sockchan *sc, struct ipcx__peer *p, bool force)
{
	unsigned char in[IPCX__HELLO_LEN + 1];
	ssize_t n;
	if (!force && !p->readable)
		return -EAGAIN;
	while ((n = recv(p->conn.fd, in, sizeof(in), MSG_DONTWAIT | MSG_TRUNC)) < 0 &&
	       ipcx__rec_retry(errno))
		;
	if (n < 0 && errno == EAGAIN) {
		p->readable = false;
		return -EAGAIN;
	}
	if (n == 0)
		return ipcx__fail(-EPIPE, "peer closed the connection during the handshake");
	if (n < 0)
		return ipcx__errno_fail("recv");
	if (n != IPCX__HELLO_LEN)
		return p->conn.broken = ipcx__fail(-EPROTO, "peer is not an ipcx endpoint "
							    "(handshake record of %zd bytes, 16 "
							    "expected)", n);
	return ipcx__peer_hello(sc, p, in, IPCX__HELLO_LEN);
}

static int ipcx__peer_greet(struct ipcx__sockchan *sc, struct ipcx__peer *p, bool force)
{
	if (p->conn.broken)
		return p->conn.broken;
	if (sc->cfg.wire == IPCX__WIRE_STREAM)
		return ipcx__peer_greet_stream(sc, p, force);
	return ipcx__peer_greet_record(sc, p, force);
}

/*
 * ipcx__peer_take takes one message from a peer without waiting: its
 * length, -EAGAIN when none is complete, or the peer's error.
 */
static ssize_t ipcx__peer_take(struct ipcx__sockchan *sc, struct ipcx__peer *p, void *buf,
			       size_t size, long *type)
{
	struct ipcx__conn *c = &p->conn;
	int rc = p->greeted ? 0 : ipcx__peer_greet(sc, p, false);
	if (rc < 0)
		return rc;
	if (sc->cfg.wire == IPCX__WIRE_RECORD) {
		if (c->broken)
			return c->broken;
		if (!p->readable)
			return -EAGAIN;
		ssize_t n = ipcx__rec_recv(c->fd, c->frame, true, buf, size, type, NULL);
		if (n == -EAGAIN)
			p->readable = false;
		else if (n == -EPROTO)
			c->broken = -EPROTO;
		return n;
	}
	for (;;) {
		ssize_t n = ipcx__conn_take(c, buf, size, type);
		if (n != -EAGAIN || !p->readable)
			return n;
		rc = ipcx__conn_fill(c);
		if (rc == -EAGAIN)
			p->readable = false;
		else if (rc < 0 && rc != -EPIPE)
			return rc;
	}
}

/*
 * ipcx__sockchan_scan looks at every peer once, starting where the last
 * receive left off, and takes the first message there is. A listener drops
 * a peer that left and goes on; one that failed is dropped and its error
 * returned. A message too large for buf stays first in line.
 */
static ssize_t ipcx__sockchan_scan(struct ipcx__sockchan *sc, void *buf, size_t size, long *type)
{
	for (size_t k = 0; k < sc->npeers;) {
		size_t i = (sc->next + k) % sc->npeers;
		struct ipcx__peer *p = sc->peers[i];
		ssize_t n = ipcx__peer_take(sc, p, buf, size, type);
		if (n >= 0) {
			sc->last = p;
			sc->next = i + 1;
			sc->budget--;
			return n;
		}
		if (n == -EAGAIN) {
			k++;
			continue;
		}
		if (n == -EMSGSIZE || !ipcx__sockchan_listening(sc)) {
			sc->next = i;
			return n;
		}
		ipcx__sockchan_drop(sc, i);
		if (n != -EPIPE)
			return n;
		ipcx__clear_errmsg(); /* a peer leaving is no failure of this call */
	}
	return -EAGAIN;
}

ssize_t ipcx__sockchan_recv(ipcx_chan *ch, void *buf, size_t size, long selector, long *type,
			    struct ipcx__deadline d)
{
	struct ipcx__sockchan *sc = (struct ipcx__sockchan *)ch;
	if (sc->budget <= 0) {
		sc->budget = IPCX__FAIR_BUDGET;
		int rc = ipcx__sockchan_wait(sc, ipcx__deadline_in(0));
		if (rc < 0 && rc != -EAGAIN)
			return rc;
	}
	for (;;) {
		ssize_t n = ipcx__sockchan_scan(sc, buf, size, type);
		if (n != -EAGAIN)
			return n;
		int rc = ipcx__sockchan_wait(sc, d);
		if (rc < 0)
			return rc;
	}
}

/*
 * ipcx__sockchan_target picks the peer a send goes to, waiting until the
 * deadline for one to connect when a listener has none.
 */
static int ipcx__sockchan_target(struct ipcx__sockchan *sc, struct ipcx__deadline d,
				 struct ipcx__peer **out)
{
	if (sc->last) {
		*out = sc->last;
		return 0;
	}
	for (;;) {
		int rc = ipcx__sockchan_listening(sc) ? ipcx__sockchan_accept(sc) : 0;
		if (rc < 0)
			return rc;
		if (sc->npeers == 1) {
			*out = sc->peers[0];
			return 0;
		}
		if (sc->npeers > 1)
			return ipcx__fail(-ENOTCONN, "%zu peers are connected and none has sent a "
						     "message yet: a listener replies to the peer "
						     "of the last message it received",
					  sc->npeers);
		rc = ipcx__wait_fd(sc->lfd, POLLIN, d);
		if (rc < 0)
			return ipcx__fail(rc, "no peer connected to send to");
	}
}

/*
 * ipcx__sockchan_greet_wait makes sure the handshake of the peer a send
 * goes to is in: a listener waits for it until the deadline (it arrives
 * with the connection), a connecting channel only reads what is there.
 */
static int ipcx__sockchan_greet_wait(struct ipcx__sockchan *sc, struct ipcx__peer *p,
				     struct ipcx__deadline d)
{
	for (;;) {
		int rc = p->greeted ? 0 : ipcx__peer_greet(sc, p, true);
		if (rc != -EAGAIN)
			return rc;
		if (!ipcx__sockchan_listening(sc))
			return 0;
		rc = ipcx__wait_fd(p->conn.fd, POLLIN, d);
		if (rc < 0)
			return rc;
	}
}

/* ipcx__sockchan_send_to sends one message to peer p. */
static int ipcx__sockchan_send_to(struct ipcx__sockchan *sc, struct ipcx__peer *p,
				  const void *data, size_t len, long type, struct ipcx__deadline d)
{
	int rc = ipcx__sockchan_greet_wait(sc, p, d);
	if (rc < 0)
		return rc;
	if (len > p->conn.max_msg)
		return ipcx__fail(-EMSGSIZE, "message of %zu bytes exceeds the %zu bytes this peer "
					     "accepts", len, p->conn.max_msg);
	if (p->hello_due && (rc = ipcx__peer_send_hello(sc, p)) < 0)
		return rc;
	if (sc->cfg.wire == IPCX__WIRE_STREAM)
		return ipcx__conn_send(&p->conn, data, len, type, d);
	if (len == 0 && sc->frame == IPCX__FRAME_RAW)
		return ipcx__fail(-EINVAL, "frame=raw cannot send an empty record: the peer would "
					   "read it as the end of the connection");
	return ipcx__rec_send(p->conn.fd, sc->frame, data, len, type, NULL, d);
}

int ipcx__sockchan_send(ipcx_chan *ch, const void *data, size_t len, long type,
			struct ipcx__deadline d)
{
	struct ipcx__sockchan *sc = (struct ipcx__sockchan *)ch;
	struct ipcx__peer *p;
	int rc = ipcx__sockchan_target(sc, d, &p);
	if (rc < 0)
		return rc;
	rc = ipcx__sockchan_send_to(sc, p, data, len, type, d);
	if ((rc == -EPIPE || rc == -EPROTO) && ipcx__sockchan_listening(sc))
		ipcx__sockchan_drop(sc, ipcx__sockchan_index(sc, p));
	return rc;
}

void ipcx__sockchan_close(ipcx_chan *ch)
{
	struct ipcx__sockchan *sc = (struct ipcx__sockchan *)ch;
	for (size_t i = 0; i < sc->npeers; i++)
		ipcx__peer_free(sc->peers[i], false);
	free(sc->peers);
	if (sc->lfd >= 0)
		close(sc->lfd);
	if (sc->ep >= 0)
		close(sc->ep);
	free(sc);
}

int ipcx__sockchan_fd(const ipcx_chan *ch)
{
	return ((const struct ipcx__sockchan *)ch)->ep;
}

int ipcx__sockchan_new(ipcx_chan **out, int fd, bool listening, const struct ipcx__url *u,
		       const struct ipcx__sockchan_cfg *cfg)
{
	struct ipcx__sockchan *sc = ipcx__chan_alloc(sizeof(*sc));
	if (!sc) {
		close(fd);
		return -ENOMEM;
	}
	sc->cfg = *cfg;
	sc->frame = u->frame;
	sc->lfd = -1;
	sc->budget = IPCX__FAIR_BUDGET;
	sc->base.caps.flags = cfg->caps;
	sc->base.caps.max_msg = cfg->max_msg;
	sc->ep = epoll_create1(EPOLL_CLOEXEC);
	int rc = sc->ep < 0 ? ipcx__errno_fail("epoll_create1") : 0;
	if (rc == 0 && listening) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		sc->lfd = fd;
		rc = ipcx__sockchan_tune(sc, fd, &sc->base.caps.capacity);
		if (rc == 0 && epoll_ctl(sc->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			rc = ipcx__errno_fail("epoll_ctl");
	} else if (rc == 0) {
		rc = ipcx__sockchan_add(sc, fd, &sc->base.caps.capacity);
	} else {
		close(fd);
	}
	if (rc < 0) {
		ipcx__sockchan_close(&sc->base);
		return rc;
	}
	*out = &sc->base;
	return 0;
}
