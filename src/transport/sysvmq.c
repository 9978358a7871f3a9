/*
 * sysvmq.c - sysvmq://KEY, sysvmq://0xKEY, sysvmq://id=N, sysvmq:///path?proj=N :
 * a System V message queue (seed 001: ftok, msgget, msgsnd, msgrcv, msgctl).
 *
 * Typed receive is the kernel's own: the selector is msgrcv's msgtyp. A
 * receive with timeout 0 is msgrcv(IPC_NOWAIT) and answers -ENOMSG, "no
 * message of desired type", as in the seed. The kernel has no timed msgrcv
 * or msgsnd, so a finite timeout blocks in the real call and a timer signal
 * to this thread ends it at the deadline (src/core/interrupt.c explains the
 * choice); every call first tries IPC_NOWAIT, so a queue with a message
 * ready costs one system call.
 *
 * Limits: a message is at most kernel.msgmax bytes and never more than the
 * queue's msg_qbytes (it could never fit). ?cap= sets msg_qbytes, which
 * needs CAP_SYS_RESOURCE above kernel.msgmnb; ?maxmsg= lowers max_msg.
 * A queue that is removed while in use ends every call with -EPIPE.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>

#define IPCX__SYSVMQ_CAPS                                                      \
	(IPCX_CAP_TYPED | IPCX_CAP_MANY_SENDERS | IPCX_CAP_MANY_RECEIVERS |     \
	 IPCX_CAP_SURVIVES_EXIT | IPCX_CAP_NAMED | IPCX_CAP_RELIABLE |           \
	 IPCX_CAP_FLOW_CONTROL)

#define IPCX__MSGMAX_PATH "/proc/sys/kernel/msgmax"

struct ipcx__msgbuf {
	long mtype;
	char mtext[];
};

struct ipcx__sysvmq_chan {
	struct ipcx_chan base;
	int id;
	size_t kernel_max;         /* kernel.msgmax: no queued message is larger */
	struct ipcx__msgbuf *buf;  /* staging for the mtype header */
	size_t buf_size;           /* mtext bytes buf holds */
};

/* ---- the two system calls, in the shape ipcx__interruptible wants ---- */

struct ipcx__sysvmq_call {
	int id;
	struct ipcx__msgbuf *buf;
	size_t len;
	long selector;
	int flags;
};

static ssize_t ipcx__sysvmq_msgsnd(void *arg)
{
	struct ipcx__sysvmq_call *c = arg;
	return msgsnd(c->id, c->buf, c->len, c->flags) < 0 ? -errno : 0;
}

static ssize_t ipcx__sysvmq_msgrcv(void *arg)
{
	struct ipcx__sysvmq_call *c = arg;
	ssize_t n = msgrcv(c->id, c->buf, c->len, c->selector, c->flags);
	return n < 0 ? -errno : n;
}

/*
 * ipcx__sysvmq_do tries the call without waiting, then waits until the
 * deadline when that would block and the caller allows waiting.
 */
static ssize_t ipcx__sysvmq_do(ssize_t (*call)(void *), struct ipcx__sysvmq_call *c,
			       int would_block, struct ipcx__deadline d)
{
	c->flags = IPC_NOWAIT;
	ssize_t rc = call(c);
	if (rc != would_block || d.timeout_ms == 0)
		return rc;
	c->flags = 0;
	return ipcx__interruptible(call, c, d);
}

static int ipcx__sysvmq_gone(const struct ipcx__sysvmq_chan *c)
{
	return ipcx__fail(-EPIPE, "message queue id %d was removed", c->id);
}

/* ipcx__sysvmq_reserve makes buf hold at least len bytes of mtext. */
static int ipcx__sysvmq_reserve(struct ipcx__sysvmq_chan *c, size_t len)
{
	if (c->buf && len <= c->buf_size)
		return 0;
	struct ipcx__msgbuf *b = realloc(c->buf, sizeof(*b) + len);
	if (!b)
		return ipcx__fail(-ENOMEM, "no memory for a %zu-byte message", len);
	c->buf = b;
	c->buf_size = len;
	return 0;
}

static int ipcx__sysvmq_send(ipcx_chan *ch, const void *data, size_t len, long type,
			     struct ipcx__deadline d)
{
	struct ipcx__sysvmq_chan *c = (struct ipcx__sysvmq_chan *)ch;
	int rc = ipcx__sysvmq_reserve(c, len);
	if (rc < 0)
		return rc;
	c->buf->mtype = type;
	if (len)
		memcpy(c->buf->mtext, data, len);
	struct ipcx__sysvmq_call call = {.id = c->id, .buf = c->buf, .len = len};
	rc = (int)ipcx__sysvmq_do(ipcx__sysvmq_msgsnd, &call, -EAGAIN, d);
	if (rc == -EIDRM || rc == -EINVAL)
		return ipcx__sysvmq_gone(c);
	if (rc == -EAGAIN || rc == -ETIMEDOUT)
		return ipcx__fail(rc, "message queue id %d is full", c->id);
	return rc < 0 ? ipcx__fail(rc, "msgsnd: %s", ipcx_strerror(rc)) : 0;
}

static ssize_t ipcx__sysvmq_recv(ipcx_chan *ch, void *buf, size_t size, long selector,
				 long *type, struct ipcx__deadline d)
{
	struct ipcx__sysvmq_chan *c = (struct ipcx__sysvmq_chan *)ch;
	/* No queued message exceeds kernel.msgmax, so a larger buffer is never needed. */
	size_t want = size < c->kernel_max ? size : c->kernel_max;
	int rc = ipcx__sysvmq_reserve(c, want);
	if (rc < 0)
		return rc;
	struct ipcx__sysvmq_call call = {
		.id = c->id, .buf = c->buf, .len = want, .selector = selector};
	ssize_t n = ipcx__sysvmq_do(ipcx__sysvmq_msgrcv, &call, -ENOMSG, d);
	if (n == -E2BIG)
		return ipcx__fail(-EMSGSIZE, "the next message (selector %ld) is larger than the "
					     "%zu-byte buffer; it stays queued", selector, size);
	if (n == -EIDRM || n == -EINVAL)
		return ipcx__sysvmq_gone(c);
	if (n == -ENOMSG)
		return ipcx__fail(-ENOMSG, "no message of desired type (selector %ld) in queue id %d",
				  selector, c->id);
	if (n == -ETIMEDOUT)
		return ipcx__fail(-ETIMEDOUT, "no message (selector %ld) came in time", selector);
	if (n < 0)
		return ipcx__fail((int)n, "msgrcv: %s", ipcx_strerror((int)n));
	/* msgrcv never returns more than it was asked for; a result that does is not copied. */
	if ((size_t)n > want)
		return ipcx__fail(-EPROTO, "msgrcv returned %zd bytes for a %zu-byte buffer", n,
				  want);
	memcpy(buf, c->buf->mtext, (size_t)n);
	*type = c->buf->mtype;
	return n;
}

/* ---- open ------------------------------------------------------------ */

static int ipcx__sysvmq_by_id(const struct ipcx__sysv_addr *a, int flags)
{
	struct msqid_ds ds;
	if (msgctl(a->id, IPC_STAT, &ds) < 0) {
		if (errno == EINVAL || errno == EIDRM)
			return ipcx__fail(-ENOENT, "no message queue with id %d", a->id);
		return ipcx__fail(-errno, "message queue id %d: %s", a->id, ipcx_strerror(-errno));
	}
	if (flags & IPCX_EXCL)
		return ipcx__fail(-EEXIST, "message queue id %d exists (IPCX_EXCL)", a->id);
	return a->id;
}

/* ipcx__sysvmq_get returns the queue id, creating it as flags ask. */
static int ipcx__sysvmq_get(const struct ipcx__sysv_addr *a, const struct ipcx__url *u,
			    int flags, bool *created)
{
	*created = false;
	if (a->by_id)
		return ipcx__sysvmq_by_id(a, flags);
	int id = -1;
	if (flags & IPCX_CREATE) {
		id = msgget(a->key, IPC_CREAT | IPC_EXCL | (int)ipcx__url_mode(u));
		*created = id >= 0;
		if (id < 0 && (errno != EEXIST || (flags & IPCX_EXCL)))
			return ipcx__fail(-errno, "msgget key 0x%08x: %s", (unsigned)a->key,
					  ipcx_strerror(-errno));
	}
	if (id < 0)
		id = msgget(a->key, 0);
	if (id < 0 && errno == ENOENT)
		return ipcx__fail(-ENOENT, "no message queue with key 0x%08x", (unsigned)a->key);
	if (id < 0)
		return ipcx__fail(-errno, "msgget key 0x%08x: %s", (unsigned)a->key,
				  ipcx_strerror(-errno));
	return id;
}

/* ipcx__sysvmq_qbytes sets msg_qbytes from ?cap= and gives the queue's value. */
static int ipcx__sysvmq_qbytes(int id, const struct ipcx__url *u, size_t *qbytes)
{
	struct msqid_ds ds;
	if (msgctl(id, IPC_STAT, &ds) < 0)
		return ipcx__errno_fail("msgctl IPC_STAT");
	if (u->has_cap && (u->cap == 0 || u->cap == SIZE_MAX))
		return ipcx__fail(-ENOTSUP, "sysvmq:// holds a bounded number of bytes: "
					    "cap=0 and cap=unbounded are not possible");
	if (u->has_cap && u->cap != ds.msg_qbytes) {
		long mnb = 0;
		ds.msg_qbytes = u->cap;
		if (msgctl(id, IPC_SET, &ds) < 0) {
			int err = -errno;
			ipcx__proc_limit("/proc/sys/kernel/msgmnb", &mnb);
			return ipcx__fail(err, "cannot set msg_qbytes to %zu: %s (above kernel.msgmnb "
					       "= %ld needs CAP_SYS_RESOURCE)", u->cap,
					  ipcx_strerror(err), mnb);
		}
	}
	*qbytes = ds.msg_qbytes;
	return 0;
}

/* ipcx__sysvmq_limits fills max_msg and capacity, naming the tightest limit. */
static int ipcx__sysvmq_limits(struct ipcx__sysvmq_chan *c, const struct ipcx__url *u)
{
	long msgmax;
	size_t qbytes = 0;
	int rc = ipcx__proc_limit(IPCX__MSGMAX_PATH, &msgmax);
	if (rc == 0)
		rc = ipcx__sysvmq_qbytes(c->id, u, &qbytes);
	if (rc < 0)
		return rc;
	c->kernel_max = (size_t)msgmax;
	c->base.caps.capacity = qbytes;
	c->base.caps.max_msg = (size_t)msgmax;
	c->base.max_msg_limit = "kernel.msgmax";
	if (qbytes < c->base.caps.max_msg) {
		c->base.caps.max_msg = qbytes;
		c->base.max_msg_limit = "the queue's msg_qbytes";
	}
	if (u->has_maxmsg && u->maxmsg > c->base.caps.max_msg)
		return ipcx__fail(-EINVAL, "maxmsg=%zu exceeds the limit of %zu (%s)", u->maxmsg,
				  c->base.caps.max_msg, c->base.max_msg_limit);
	if (u->has_maxmsg) {
		c->base.caps.max_msg = u->maxmsg;
		c->base.max_msg_limit = "?maxmsg=";
	}
	return 0;
}

static int ipcx__sysvmq_open(ipcx_chan **out, const struct ipcx__url *u, int flags,
			     struct ipcx__deadline d)
{
	struct ipcx__sysv_addr a;
	bool created;
	int rc = ipcx__sysv_addr_parse(u, true, &a);
	if (rc < 0)
		return rc;
	int id = ipcx__sysvmq_get(&a, u, flags, &created);
	if (id < 0)
		return id;
	struct ipcx__sysvmq_chan *c = ipcx__chan_alloc(sizeof(*c));
	if (!c)
		rc = -ENOMEM;
	else {
		c->id = id;
		c->base.caps.flags = IPCX__SYSVMQ_CAPS;
		rc = ipcx__sysvmq_limits(c, u);
	}
	if (rc < 0) {
		if (created)
			msgctl(id, IPC_RMID, NULL);
		free(c);
		return rc;
	}
	if (created)
		(void)ipcx__object_register_sysv("sysvmq", id);
	*out = &c->base;
	return 0;
}

static void ipcx__sysvmq_close(ipcx_chan *ch)
{
	struct ipcx__sysvmq_chan *c = (struct ipcx__sysvmq_chan *)ch;
	free(c->buf);
	free(c);
}

static int ipcx__sysvmq_unlink(const struct ipcx__url *u)
{
	struct ipcx__sysv_addr a;
	bool created;
	int rc = ipcx__sysv_addr_parse(u, true, &a);
	if (rc < 0)
		return rc;
	int id = ipcx__sysvmq_get(&a, u, 0, &created);
	if (id < 0)
		return id;
	if (msgctl(id, IPC_RMID, NULL) < 0)
		return ipcx__fail(-errno, "msgctl IPC_RMID id %d: %s", id, ipcx_strerror(-errno));
	ipcx__object_forget_sysv("sysvmq", id);
	return 0;
}

const struct ipcx__transport ipcx__sysvmq_transport = {
	.scheme = "sysvmq",
	.options = "mode cap maxmsg proj",
	.caps = {.flags = IPCX__SYSVMQ_CAPS, .max_msg = 8192 /* the default kernel.msgmax */},
	.open = ipcx__sysvmq_open,
	.send = ipcx__sysvmq_send,
	.recv = ipcx__sysvmq_recv,
	.close = ipcx__sysvmq_close,
	.unlink = ipcx__sysvmq_unlink,
};
