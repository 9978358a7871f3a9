/*
 * ipcx.h - the whole public API of ipcx.
 *
 * ipcx is inter-process communication for Linux behind one message-passing
 * API: every channel is opened from a URL, carries messages (a byte string
 * with a type), and follows the same rules for blocking, timeouts and errors
 * whatever the kernel mechanism underneath.
 *
 * This header is the only API. Everything under src/ is internal and may
 * change without notice; symbols that are not declared here are hidden.
 *
 * Conventions that hold for every function below:
 *  - Functions return 0 (or a byte count) on success and a negative errno on
 *    failure. ipcx_strerror() names every value. A failed call leaves a
 *    one-line explanation for the calling thread in ipcx_errmsg().
 *  - Timeouts are in milliseconds: -1 waits for ever, 0 never waits, > 0
 *    waits at most that long. A wait interrupted by a signal is resumed
 *    against the same deadline.
 *  - The library never prints, never exits and never raises SIGPIPE.
 */
#ifndef IPCX_H
#define IPCX_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(IPCX_BUILDING) && defined(__GNUC__)
#define IPCX_API __attribute__((visibility("default")))
#else
#define IPCX_API
#endif

#define IPCX_VERSION_MAJOR 0
#define IPCX_VERSION_MINOR 1

/* A channel: one end of a communication path, opened from a URL. */
typedef struct ipcx_chan ipcx_chan;

/*
 * Flags for ipcx_open(). At least one of IPCX_SEND and IPCX_RECV is needed.
 *
 * IPCX_CREATE creates the object when it does not exist. For socket
 * transports creating the address means listening on it: a channel opened
 * with IPCX_CREATE binds and accepts peers, one opened without it connects.
 * IPCX_EXCL, with IPCX_CREATE, fails with -EEXIST when the object exists.
 */
enum ipcx_open_flag {
	IPCX_SEND = 1 << 0,
	IPCX_RECV = 1 << 1,
	IPCX_CREATE = 1 << 2,
	IPCX_EXCL = 1 << 3,
};

/* What a transport can do; reported in struct ipcx_caps.flags. */
enum ipcx_cap_flag {
	IPCX_CAP_TYPED = 1 << 0,          /* receive selects by type natively */
	IPCX_CAP_PRIORITY = 1 << 1,       /* higher priority overtakes */
	IPCX_CAP_MANY_SENDERS = 1 << 2,   /* several senders, frames never mix */
	IPCX_CAP_MANY_RECEIVERS = 1 << 3, /* several receivers, each message once */
	IPCX_CAP_BROADCAST = 1 << 4,      /* every receiver gets every message */
	IPCX_CAP_ZERO_COPY = 1 << 5,      /* loan/commit without copying */
	IPCX_CAP_CROSS_HOST = 1 << 6,     /* peers may be on other machines */
	IPCX_CAP_SURVIVES_EXIT = 1 << 7,  /* queued messages outlive the sender */
	IPCX_CAP_SURVIVES_REBOOT = 1 << 8,
	IPCX_CAP_BIDIRECTIONAL = 1 << 9,  /* one channel both sends and receives */
	IPCX_CAP_POLLABLE = 1 << 10,      /* ipcx_fd() gives a pollable fd */
	IPCX_CAP_NAMED = 1 << 11,         /* addressed by a name, not a pair */
	IPCX_CAP_CONNECTED = 1 << 12,     /* a listener accepts connecting peers */
	IPCX_CAP_BYTE_STREAM = 1 << 13,   /* bytes are framed by ipcx (docs/wire.md) */
	IPCX_CAP_RELIABLE = 1 << 14,      /* nothing is dropped silently */
	IPCX_CAP_FLOW_CONTROL = 1 << 15,  /* a full queue makes the sender wait */
};

/* The capabilities and limits of a transport, or of one open channel. */
struct ipcx_caps {
	unsigned flags;  /* enum ipcx_cap_flag bits */
	size_t max_msg;  /* largest message payload in bytes */
	size_t capacity; /* bytes the channel buffers; 0 when unknown */
};

/*
 * ipcx_open opens the channel named by url (see docs/urls.md) with flags
 * from enum ipcx_open_flag. timeout_ms bounds the wait for the other side
 * when opening needs one (a FIFO writer waiting for a reader, a connect
 * waiting for a listener to appear). On success *out owns the channel until
 * ipcx_close(). A malformed URL or unknown option is -EINVAL and
 * ipcx_errmsg() names the offending part.
 */
IPCX_API int ipcx_open(ipcx_chan **out, const char *url, int flags, int timeout_ms);

/*
 * ipcx_pair creates an anonymous connected pair for use across fork():
 * "pipe://" gives ends[0] for receiving and ends[1] for sending, like
 * pipe(2); "spipe://" gives two bidirectional ends. Each process closes
 * the end it does not use.
 */
IPCX_API int ipcx_pair(const char *url, ipcx_chan *ends[2]);

/*
 * ipcx_send sends len bytes with the given type (>= 1). Returns 0 when the
 * message is accepted whole: a receiver will get all of it or none. Errors:
 * -EMSGSIZE when len exceeds the channel's max_msg, -EINVAL for type < 1,
 * -EAGAIN (timeout 0) or -ETIMEDOUT when there is no room in time, -EPIPE
 * when no receiver can ever read it.
 */
IPCX_API int ipcx_send(ipcx_chan *ch, const void *data, size_t len, long type,
		       int timeout_ms);

/*
 * ipcx_recv receives one message into buf and returns its length. selector
 * follows System V msgrcv: 0 takes the oldest message, > 0 the oldest of
 * that type, < 0 the oldest of the lowest type <= |selector|. A channel
 * whose transport cannot select fails a selector other than 0 with
 * -ENOTSUP. When type is not NULL it receives the message type.
 *
 * Errors: -ENOMSG when timeout_ms is 0 and no matching message is there,
 * -ETIMEDOUT when none came in time, -EPIPE when every sender is gone and
 * nothing is left, -EPROTO when a peer broke the wire format, and
 * -EMSGSIZE when the message is larger than size: the message is kept and
 * the next call with a large enough buffer gets it.
 */
IPCX_API ssize_t ipcx_recv(ipcx_chan *ch, void *buf, size_t size, long selector,
			   long *type, int timeout_ms);

/*
 * ipcx_close releases the channel and everything it holds, flushing what
 * an earlier send accepted. Named objects stay; see ipcx_unlink(). NULL is
 * ignored.
 */
IPCX_API void ipcx_close(ipcx_chan *ch);

/* ipcx_unlink removes the named object behind url (-ENOENT if absent). */
IPCX_API int ipcx_unlink(const char *url);

/*
 * ipcx_caps_of fills *caps for an open channel: the transport's flags with
 * the limits this channel negotiated.
 */
IPCX_API int ipcx_caps_of(const ipcx_chan *ch, struct ipcx_caps *caps);

/*
 * ipcx_transport_caps fills *caps with what the transport of scheme ("unix",
 * or a whole URL) can do. -ENOENT for an unknown scheme.
 */
IPCX_API int ipcx_transport_caps(const char *scheme, struct ipcx_caps *caps);

/*
 * ipcx_transport_name returns the scheme of the i-th registered transport,
 * or NULL past the last one, so a program can list them all.
 */
IPCX_API const char *ipcx_transport_name(size_t i);

/*
 * ipcx_fd returns a descriptor that polls readable when a message may be
 * waiting (a wake-up, not a promise: drain with timeout 0 until -ENOMSG).
 * -ENOTSUP when the transport has no such descriptor.
 */
IPCX_API int ipcx_fd(const ipcx_chan *ch);

/* ipcx_url returns the canonical URL the channel was opened with. */
IPCX_API const char *ipcx_url(const ipcx_chan *ch);

/* ipcx_strerror names a negative errno value in words. */
IPCX_API const char *ipcx_strerror(int err);

/* ipcx_errname gives the symbolic name of a negative errno ("EMSGSIZE"). */
IPCX_API const char *ipcx_errname(int err);

/*
 * ipcx_errmsg returns a sentence about the last failure in this thread,
 * naming what went wrong ("unknown option 'capp' in ..."), or "" after a
 * call that set none.
 */
IPCX_API const char *ipcx_errmsg(void);

/* Capability flag names, for printing: ipcx_cap_name(IPCX_CAP_TYPED). */
IPCX_API const char *ipcx_cap_name(unsigned flag);

#ifdef __cplusplus
}
#endif
#endif /* IPCX_H */
