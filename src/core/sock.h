/*
 * sock.h - internal interfaces shared by the socket transports (unix,
 * unixseq, unixdgram, tcp): addresses, records, and the peer set of a
 * connection-oriented channel.
 *
 * Nothing here is API.
 */
#ifndef IPCX_SOCK_H
#define IPCX_SOCK_H

#include "ipcx_impl.h"

#include <sys/socket.h>

/* A socket address of any family, with its length. */
struct ipcx__sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* ---- addresses and setup (src/core/sockaddr.c) ----------------------- */

/*
 * ipcx__unix_socket opens the socket of a unix-family channel of the given
 * type (SOCK_STREAM, SOCK_SEQPACKET or SOCK_DGRAM). With IPCX_CREATE it
 * binds the address (and listens, for connection types): a socket file
 * nobody listens on any more is replaced, a live one is -EADDRINUSE, a path
 * that is not a socket is -EEXIST and is never removed, and IPCX_EXCL makes
 * any existing address -EEXIST. The file is created with ?mode= (0600 by
 * default). Without IPCX_CREATE it connects, retrying until the deadline
 * while nobody listens (see ipcx__sock_connect); a datagram socket is first
 * bound to an autobind abstract name so that replies can reach it. On
 * success *fd is a non-blocking, close-on-exec socket.
 */
int ipcx__unix_socket(const struct ipcx__url *u, int type, int flags, struct ipcx__deadline d,
		      int *fd);

/*
 * ipcx__unix_unlink removes the socket file of a unix-family URL, refusing
 * with -ENOTSOCK anything that is not a socket. Abstract names have no file
 * and vanish with their socket: -ENOTSUP.
 */
int ipcx__unix_unlink(const struct ipcx__url *u);

/*
 * ipcx__tcp_resolve reads "host:port" or "[v6]:port" and resolves it into
 * at most max addresses (numeric hosts need no lookup; names go through
 * getaddrinfo). passive (listening) allows an empty host, meaning every
 * local address. Returns how many addresses it found, or a negative errno:
 * -EINVAL for a malformed address, -ENOENT for a name that does not resolve.
 */
int ipcx__tcp_resolve(const struct ipcx__url *u, bool passive, struct ipcx__sockaddr *out,
		      int max);

/* Flags for ipcx__sock_connect. */
enum ipcx__connect_flag {
	IPCX__CONNECT_AUTOBIND = 1 << 0, /* bind a unix socket to an autobind name first */
};

/*
 * ipcx__sock_connect connects a new non-blocking socket of type to the
 * first of the n addresses that accepts. While every address refuses
 * (ECONNREFUSED, ENOENT, or a unix listener with a full backlog) it retries
 * with a growing pause until the deadline, so a sender may start before its
 * receiver; with timeout 0 it tries once. At the deadline the last refusal
 * is returned (-ECONNREFUSED, -ENOENT), or -ETIMEDOUT / -EAGAIN when a
 * connection was still in progress. what names the address in messages.
 */
int ipcx__sock_connect(const struct ipcx__sockaddr *to, int n, int type, int cflags,
		       struct ipcx__deadline d, const char *what, int *fd);

/*
 * ipcx__sock_cap reads ?cap= as the SO_SNDBUF to ask for (0 when not given).
 * A socket buffer can be neither unbounded nor zero: -ENOTSUP.
 */
int ipcx__sock_cap(const struct ipcx__url *u, int *sndbuf);

/*
 * ipcx__sock_sndbuf asks for a send buffer of sndbuf bytes (when > 0) and
 * reports the one the kernel granted in *granted. The receive buffer gets
 * the same size: setting a buffer also stops the kernel from growing it,
 * so a TCP connection with ?cap= holds at most what cap says on each side
 * instead of taking more room as the window grows.
 */
int ipcx__sock_sndbuf(int fd, int sndbuf, size_t *granted);

/* ---- records over SEQPACKET and DGRAM sockets (src/core/record.c) ---- */

/* A record socket's largest record when the URL gives no ?maxmsg=. */
#define IPCX__REC_DEFAULT_RECORD ((size_t)64 << 10)

/*
 * ipcx__rec_limits decides, on a scratch socket of type, the send buffer
 * of a record socket from ?cap= and ?maxmsg=, and the largest message:
 * ?maxmsg= when the buffer can hold it (else -EINVAL naming the limit),
 * otherwise IPCX__REC_DEFAULT_RECORD less the frame overhead. *sndbuf gets
 * the SO_SNDBUF to ask for on every socket of the channel.
 */
int ipcx__rec_limits(int type, const struct ipcx__url *u, int *sndbuf, size_t *max_msg);

/*
 * ipcx__rec_send sends one message as one record: the 16-byte frame header
 * and the payload (frame=binary), the payload and a newline (frame=line)
 * or the payload alone (frame=raw). to is the destination of an unconnected
 * socket, NULL for a connected one. It waits for room until the deadline;
 * a receiver that is gone is -EPIPE.
 */
int ipcx__rec_send(int fd, enum ipcx__frame frame, const void *data, size_t len, long type,
		   const struct ipcx__sockaddr *to, struct ipcx__deadline d);

/*
 * ipcx__rec_retry says whether a failed receive on a record socket is to be
 * repeated at once: EINTR, and ECONNRESET, which a SEQPACKET socket reports
 * once, ahead of the records still queued, when its peer closed without
 * reading everything; the records and then the end of file follow.
 */
bool ipcx__rec_retry(int err);

/*
 * ipcx__rec_recv takes the next record without waiting and returns its
 * payload length. -EAGAIN when none is queued; -EMSGSIZE when the payload
 * does not fit in size (the record stays queued); -EPROTO when a binary
 * record is malformed (it is consumed); -EPIPE when zero_is_eof and the peer
 * closed (a SEQPACKET socket reads 0 then). from, when not NULL, receives
 * the sender's address.
 */
ssize_t ipcx__rec_recv(int fd, enum ipcx__frame frame, bool zero_is_eof, void *buf, size_t size,
		       long *type, struct ipcx__sockaddr *from);

/* ---- connection-oriented channels (src/core/listener.c) -------------- */

/* How messages cross one connection. */
enum ipcx__wire {
	IPCX__WIRE_STREAM, /* a byte stream framed by struct ipcx__conn */
	IPCX__WIRE_RECORD, /* SEQPACKET records (ipcx__rec_send/_recv) */
};

/* What a transport tells ipcx__sockchan_new about its connections. */
struct ipcx__sockchan_cfg {
	enum ipcx__wire wire;
	unsigned caps;  /* enum ipcx_cap_flag bits of the channel */
	size_t max_msg; /* our limit, offered in the handshake */
	int sndbuf;     /* SO_SNDBUF for every connection, 0 for the default */
	bool nodelay;   /* set TCP_NODELAY on every connection */
};

/*
 * ipcx__sockchan_new makes a channel of fd: a listening socket (listening
 * true), whose channel accepts any number of peers, or one connected
 * socket. The handshake of docs/wire.md is sent at once on every
 * connection when the frame is binary; the peer's is read as part of
 * receiving, so a slow client never blocks a listener. fd is owned by the
 * channel, or closed on failure.
 */
int ipcx__sockchan_new(ipcx_chan **out, int fd, bool listening, const struct ipcx__url *u,
		       const struct ipcx__sockchan_cfg *cfg);

/*
 * The ops of such a channel. A receive takes from any peer, in turn; a peer
 * that leaves is dropped (a connecting channel gets -EPIPE instead), and a
 * peer that breaks the wire format is dropped with -EPROTO once. A send of
 * a listener goes to the peer of the last message received, else to the
 * only peer (waiting for one to connect until the deadline); with several
 * peers and none heard from yet it is -ENOTCONN.
 */
int ipcx__sockchan_send(ipcx_chan *ch, const void *data, size_t len, long type,
			struct ipcx__deadline d);
ssize_t ipcx__sockchan_recv(ipcx_chan *ch, void *buf, size_t size, long selector, long *type,
			    struct ipcx__deadline d);
void ipcx__sockchan_close(ipcx_chan *ch);
/* ipcx__sockchan_fd is an epoll descriptor holding the listener and every peer. */
int ipcx__sockchan_fd(const ipcx_chan *ch);

#endif /* IPCX_SOCK_H */
