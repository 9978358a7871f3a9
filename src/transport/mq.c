/*
 * mq.c - mq:///name : a POSIX message queue (mq_overview(7)).
 *
 * Types are priorities. A message of type t is sent with priority t - 1,
 * so the default type 1 is priority 0 and types run from 1 to MQ_PRIO_MAX
 * (32768 on Linux); the kernel hands out the highest priority first and,
 * within one priority, the oldest. A received message's type is its
 * priority + 1. Receive cannot select by type (IPCX_CAP_PRIORITY, not
 * IPCX_CAP_TYPED).
 *
 * Deadlines are the kernel's own: mq_timedsend/mq_timedreceive against
 * CLOCK_REALTIME; timeout 0 passes a deadline already past, which the
 * kernel answers at once. The descriptor is the mqd_t, pollable.
 *
 * Sizes: ?maxmsg= is mq_msgsize and ?cap= (bytes) sets mq_maxmsg to
 * cap / msgsize when creating; otherwise the kernel's defaults apply
 * (fs.mqueue.msgsize_default, msg_default). Above fs.mqueue.msgsize_max or
 * msg_max, creating needs CAP_SYS_RESOURCE; the error names the limit.
 *
 * The kernel refuses a receive buffer smaller than mq_msgsize. A buffer
 * that small receives through the channel's own buffer; when the message
 * does not fit it stays there (-EMSGSIZE) and the next receive on this
 * channel with room gets it first. Poll may not show such a kept message.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IPCX__MQ_CAPS                                                          \
	(IPCX_CAP_PRIORITY | IPCX_CAP_MANY_SENDERS | IPCX_CAP_MANY_RECEIVERS |  \
	 IPCX_CAP_SURVIVES_EXIT | IPCX_CAP_NAMED | IPCX_CAP_RELIABLE |           \
	 IPCX_CAP_FLOW_CONTROL | IPCX_CAP_POLLABLE)

#define IPCX__MQ_PROC "/proc/sys/fs/mqueue/"

struct ipcx__mq_chan {
	struct ipcx_chan base;
	mqd_t mqd;
	size_t msgsize;   /* mq_msgsize: the kernel's minimum receive buffer */
	char *kept;       /* msgsize bytes, for receives into smaller buffers */
	size_t kept_len;  /* a message waiting in kept when has_kept */
	unsigned kept_prio;
	bool has_kept;
};

static int ipcx__mq_name(const struct ipcx__url *u)
{
	const char *n = u->address;
	if (n[0] != '/' || !n[1] || strchr(n + 1, '/'))
		return ipcx__fail(-EINVAL, "mq:// needs one name after a slash, as in mq:///orders "
					   "(got '%s')", n);
	if (strlen(n) > NAME_MAX)
		return ipcx__fail(-ENAMETOOLONG, "mq name '%s' is longer than %d", n, NAME_MAX);
	return 0;
}

/* ---- send and receive ------------------------------------------------ */

/* ipcx__mq_err turns a failed mq_(timed)send/receive errno into ipcx's answer. */
static int ipcx__mq_err(const struct ipcx__mq_chan *c, int err, struct ipcx__deadline d,
			const char *what)
{
	if (err == ETIMEDOUT || err == EAGAIN)
		return ipcx__fail(ipcx__deadline_err(d), "%s: %s", c->base.url, what);
	return ipcx__fail(-err, "%s: %s", c->base.url, ipcx_strerror(-err));
}

static int ipcx__mq_send(ipcx_chan *ch, const void *data, size_t len, long type,
			 struct ipcx__deadline d)
{
	struct ipcx__mq_chan *c = (struct ipcx__mq_chan *)ch;
	long prio_max = sysconf(_SC_MQ_PRIO_MAX);
	if (type > prio_max)
		return ipcx__fail(-EINVAL, "type %ld: mq:// types are 1..%ld (priority = type - 1)",
				  type, prio_max);
	struct timespec at = ipcx__deadline_realtime(d);
	for (;;) {
		int rc = d.at_ns == INT64_MAX ? mq_send(c->mqd, data, len, (unsigned)(type - 1))
					     : mq_timedsend(c->mqd, data, len, (unsigned)(type - 1), &at);
		if (rc == 0)
			return 0;
		if (errno != EINTR)
			return ipcx__mq_err(c, errno, d, "the queue is full");
	}
}

/* ipcx__mq_take receives one message into buf (size >= msgsize). */
static ssize_t ipcx__mq_take(struct ipcx__mq_chan *c, char *buf, size_t size, unsigned *prio,
			     struct ipcx__deadline d)
{
	struct timespec at = ipcx__deadline_realtime(d);
	for (;;) {
		ssize_t n = d.at_ns == INT64_MAX ? mq_receive(c->mqd, buf, size, prio)
						: mq_timedreceive(c->mqd, buf, size, prio, &at);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return ipcx__mq_err(c, errno, d, "no message in the queue");
	}
}

/* ipcx__mq_give hands the kept message over when it fits in size. */
static ssize_t ipcx__mq_give(struct ipcx__mq_chan *c, void *buf, size_t size, long *type)
{
	if (c->kept_len > size)
		return ipcx__fail(-EMSGSIZE, "the next message has %zu bytes, more than the %zu-byte "
					     "buffer; it is kept for the next receive", c->kept_len, size);
	memcpy(buf, c->kept, c->kept_len);
	*type = (long)c->kept_prio + 1;
	c->has_kept = false;
	return (ssize_t)c->kept_len;
}

static ssize_t ipcx__mq_recv(ipcx_chan *ch, void *buf, size_t size, long selector, long *type,
			     struct ipcx__deadline d)
{
	struct ipcx__mq_chan *c = (struct ipcx__mq_chan *)ch;
	if (c->has_kept)
		return ipcx__mq_give(c, buf, size, type);
	unsigned prio;
	if (size >= c->msgsize) {
		ssize_t n = ipcx__mq_take(c, buf, size, &prio, d);
		if (n >= 0)
			*type = (long)prio + 1;
		return n;
	}
	if (!c->kept && !(c->kept = malloc(c->msgsize)))
		return ipcx__fail(-ENOMEM, "no memory for a %zu-byte receive buffer", c->msgsize);
	ssize_t n = ipcx__mq_take(c, c->kept, c->msgsize, &c->kept_prio, d);
	if (n < 0)
		return n;
	c->kept_len = (size_t)n;
	c->has_kept = true;
	return ipcx__mq_give(c, buf, size, type);
}

/* ---- open ------------------------------------------------------------ */

/* ipcx__mq_attr fills the attributes to create with; *given is false for the kernel's defaults. */
static int ipcx__mq_attr(const struct ipcx__url *u, struct mq_attr *attr, bool *given)
{
	long msgsize, nmsg;
	*given = u->has_cap || u->has_maxmsg;
	if (!*given)
		return 0;
	if (u->has_cap && (u->cap == 0 || u->cap == SIZE_MAX))
		return ipcx__fail(-ENOTSUP, "mq:// holds a bounded number of messages: "
					    "cap=0 and cap=unbounded are not possible");
	int rc = ipcx__proc_limit(IPCX__MQ_PROC "msgsize_default", &msgsize);
	if (rc == 0)
		rc = ipcx__proc_limit(IPCX__MQ_PROC "msg_default", &nmsg);
	if (rc < 0)
		return rc;
	if (u->has_maxmsg)
		msgsize = u->maxmsg > LONG_MAX ? LONG_MAX : (long)u->maxmsg;
	if (msgsize == 0)
		return ipcx__fail(-EINVAL, "maxmsg=0: a POSIX queue's messages hold at least 1 byte");
	if (u->has_cap)
		nmsg = u->cap / (size_t)msgsize ? (long)(u->cap / (size_t)msgsize) : 1;
	*attr = (struct mq_attr){.mq_maxmsg = nmsg, .mq_msgsize = msgsize};
	return 0;
}

/* ipcx__mq_create_err explains a refused mq_open(O_CREAT) with the limit it hit. */
static int ipcx__mq_create_err(const struct ipcx__url *u, int err, const struct mq_attr *attr)
{
	long msg_max = 0, msgsize_max = 0;
	ipcx__proc_limit(IPCX__MQ_PROC "msg_max", &msg_max);
	ipcx__proc_limit(IPCX__MQ_PROC "msgsize_max", &msgsize_max);
	if (err == EINVAL && attr && attr->mq_msgsize > msgsize_max)
		return ipcx__fail(-EMSGSIZE, "mq %s: message size %ld exceeds fs.mqueue.msgsize_max "
					     "= %ld", u->address, attr->mq_msgsize, msgsize_max);
	if (err == EINVAL && attr && attr->mq_maxmsg > msg_max)
		return ipcx__fail(-EINVAL, "mq %s: %ld messages exceed fs.mqueue.msg_max = %ld",
				  u->address, attr->mq_maxmsg, msg_max);
	if (err == EMFILE || err == ENOMEM || err == ENOSPC)
		return ipcx__fail(-err, "mq %s: %s (RLIMIT_MSGQUEUE or fs.mqueue.queues_max)",
				  u->address, ipcx_strerror(-err));
	return ipcx__fail(-err, "mq_open %s: %s", u->address, ipcx_strerror(-err));
}

static mqd_t ipcx__mq_open_fd(const struct ipcx__url *u, int flags, int *err)
{
	int oflag = O_CLOEXEC;
	if ((flags & IPCX_SEND) && (flags & IPCX_RECV))
		oflag |= O_RDWR;
	else
		oflag |= (flags & IPCX_SEND) ? O_WRONLY : O_RDONLY;
	struct mq_attr attr;
	bool given;
	*err = ipcx__mq_attr(u, &attr, &given);
	if (*err < 0)
		return (mqd_t)-1;
	mqd_t q = (mqd_t)-1;
	if (flags & IPCX_CREATE) {
		q = mq_open(u->address, oflag | O_CREAT | O_EXCL, (mode_t)ipcx__url_mode(u),
			    given ? &attr : NULL);
		if (q == (mqd_t)-1 && (errno != EEXIST || (flags & IPCX_EXCL))) {
			*err = ipcx__mq_create_err(u, errno, given ? &attr : NULL);
			return q;
		}
		/* mq_open applied the umask; a mode asked for is the mode given. */
		if (q != (mqd_t)-1 && u->has_mode && fchmod(q, u->mode) < 0) {
			*err = ipcx__errno_fail("fchmod");
			mq_close(q);
			mq_unlink(u->address);
			return (mqd_t)-1;
		}
		if (q != (mqd_t)-1)
			(void)ipcx__object_register_url(u);
	}
	if (q == (mqd_t)-1)
		q = mq_open(u->address, oflag);
	if (q == (mqd_t)-1)
		*err = ipcx__fail(-errno, "mq_open %s: %s", u->address, ipcx_strerror(-errno));
	return q;
}

static int ipcx__mq_open(ipcx_chan **out, const struct ipcx__url *u, int flags,
			 struct ipcx__deadline d)
{
	int rc = ipcx__mq_name(u);
	if (rc < 0)
		return rc;
	mqd_t q = ipcx__mq_open_fd(u, flags, &rc);
	if (q == (mqd_t)-1)
		return rc;
	struct mq_attr attr;
	struct ipcx__mq_chan *c = NULL;
	if (mq_getattr(q, &attr) < 0)
		rc = ipcx__errno_fail("mq_getattr");
	else if (!(c = ipcx__chan_alloc(sizeof(*c))))
		rc = -ENOMEM;
	if (rc < 0) {
		mq_close(q);
		return rc;
	}
	c->mqd = q;
	c->msgsize = (size_t)attr.mq_msgsize;
	c->base.caps.flags = IPCX__MQ_CAPS;
	c->base.caps.max_msg = c->msgsize;
	c->base.caps.capacity = c->msgsize * (size_t)attr.mq_maxmsg;
	c->base.max_msg_limit = "the queue's mq_msgsize";
	*out = &c->base;
	return 0;
}

static void ipcx__mq_close(ipcx_chan *ch)
{
	struct ipcx__mq_chan *c = (struct ipcx__mq_chan *)ch;
	mq_close(c->mqd);
	free(c->kept);
	free(c);
}

static int ipcx__mq_unlink(const struct ipcx__url *u)
{
	int rc = ipcx__mq_name(u);
	if (rc == 0 && mq_unlink(u->address) < 0)
		rc = ipcx__fail(-errno, "mq_unlink %s: %s", u->address, ipcx_strerror(-errno));
	if (rc == 0)
		ipcx__object_forget_url(u);
	return rc;
}

static int ipcx__mq_fd(const ipcx_chan *ch)
{
	return ((const struct ipcx__mq_chan *)ch)->mqd;
}

const struct ipcx__transport ipcx__mq_transport = {
	.scheme = "mq",
	.options = "mode cap maxmsg",
	.caps = {.flags = IPCX__MQ_CAPS, .max_msg = 8192 /* the default fs.mqueue.msgsize_max */},
	.open = ipcx__mq_open,
	.send = ipcx__mq_send,
	.recv = ipcx__mq_recv,
	.close = ipcx__mq_close,
	.unlink = ipcx__mq_unlink,
	.fd = ipcx__mq_fd,
};
