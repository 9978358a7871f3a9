/*
 * shm.c - shm://NAME, ipcx's own shared-memory queue (src/shm/), and the
 * default transport of a bare name.
 *
 * Options: cap (bytes of messages the queue holds, default 1MiB; 0 for a
 * rendezvous; unbounded for a queue that grows with memory), maxmsg
 * (default cap/4, 16MiB when unbounded), mode (0600), pattern=queue (many
 * senders and receivers, the default), pattern=spsc (one sender and one
 * receiver at a time, the fastest), pattern=mpsc (many senders, one
 * receiver: each sender in a lane of its own, order kept per sender) or
 * pattern=broadcast (every subscriber gets every message) with
 * policy=block or policy=overwrite. They matter
 * when the queue is created; opening an existing queue with options that
 * disagree with it is -EINVAL. types=LIST is a broadcast subscriber's
 * own: it receives only messages of those types (1,3-5).
 */
#include "ipcx_impl.h"
#include "../shm/shmq.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IPCX__SHM_BASE_CAPS                                                               \
	(IPCX_CAP_TYPED | IPCX_CAP_ZERO_COPY | IPCX_CAP_SURVIVES_EXIT | IPCX_CAP_NAMED |  \
	 IPCX_CAP_RELIABLE | IPCX_CAP_FLOW_CONTROL)
#define IPCX__SHM_MANY (IPCX_CAP_MANY_SENDERS | IPCX_CAP_MANY_RECEIVERS)

struct ipcx__shm_chan {
	struct ipcx_chan base;
	struct ipcx__shm_map map;
	struct ipcx__shmq q;
	struct ipcx__shm_lanes *lanes; /* pattern=mpsc; NULL otherwise */
};

/* policy=block (the default) or overwrite, for pattern=broadcast only. */
static int ipcx__shm_policy(const struct ipcx__url *u, struct ipcx__shm_params *p)
{
	const char *policy = ipcx__url_opt(u, "policy");
	if (p->pattern == IPCX__SHM_BROADCAST && (p->flags & IPCX__SHM_UNBOUNDED))
		return ipcx__fail(-EINVAL, "cap=unbounded does not go with pattern=broadcast "
					   "(subscribers read at their own pace: give a cap)");
	if (p->pattern != IPCX__SHM_BROADCAST) {
		if (policy)
			return ipcx__fail(-EINVAL, "policy= goes with pattern=broadcast only");
		return 0;
	}
	if (p->flags & IPCX__SHM_RENDEZVOUS)
		return ipcx__fail(-EINVAL, "cap=0 (rendezvous) does not go with pattern=broadcast");
	if (policy && strcmp(policy, "overwrite") == 0)
		p->flags |= IPCX__SHM_OVERWRITE;
	else if (policy && strcmp(policy, "block") != 0)
		return ipcx__fail(-EINVAL, "bad policy '%s' (block or overwrite)", policy);
	return 0;
}

/*
 * types=LIST, a broadcast subscriber's filter: types and ranges of types,
 * as in types=1,3-5, into r; *n of them, none without the option.
 */
static int ipcx__shm_types(const struct ipcx__url *u, struct ipcx__type_range *r, unsigned *n)
{
	const char *list = ipcx__url_opt(u, "types"), *s = list;
	*n = 0;
	while (list) {
		char *end;
		errno = 0;
		long lo = strtol(s, &end, 10), hi = lo;
		if (end != s && *end == '-') {
			const char *from = end + 1;
			hi = strtol(from, &end, 10);
			if (end == from)
				break;
		}
		if (end == s || errno || lo < 1 || hi < lo || *n == IPCX__MAX_TYPE_RANGES ||
		    (*end && *end != ','))
			break;
		r[(*n)++] = (struct ipcx__type_range){.lo = lo, .hi = hi};
		if (!*end)
			return 0;
		s = end + 1;
	}
	if (!list)
		return 0;
	return ipcx__fail(-EINVAL,
			  "bad types '%s' at '%s' (up to %u types >= 1 or ranges, as in types=1,3-5)",
			  list, s, IPCX__MAX_TYPE_RANGES);
}

/* Gives a broadcast subscriber its filter: types= goes with nothing else. */
static int ipcx__shm_filter(struct ipcx__shm_chan *c, const struct ipcx__type_range *r, unsigned n)
{
	if (!n)
		return 0;
	if (c->map.pattern != IPCX__SHM_BROADCAST || !(c->q.role & IPCX_RECV))
		return ipcx__fail(-EINVAL, "types= filters what a subscriber of a "
					   "pattern=broadcast queue receives: this channel is none");
	memcpy(c->q.types, r, n * sizeof(*r));
	c->q.ntypes = n;
	return 0;
}

static int ipcx__shm_params(const struct ipcx__url *u, struct ipcx__shm_params *p)
{
	memset(p, 0, sizeof(*p));
	p->mode = ipcx__url_mode(u);
	if (u->has_cap && u->cap == SIZE_MAX)
		p->flags |= IPCX__SHM_UNBOUNDED;
	if (u->has_cap && u->cap == 0)
		p->flags |= IPCX__SHM_RENDEZVOUS;
	p->cap = u->has_cap ? u->cap : 0;
	if (u->has_maxmsg && u->maxmsg == 0)
		return ipcx__fail(-EINVAL, "maxmsg=0 leaves no room for a message");
	p->max_msg = u->has_maxmsg ? u->maxmsg : 0;
	const char *pattern = ipcx__url_opt(u, "pattern");
	if (!pattern || strcmp(pattern, "queue") == 0)
		p->pattern = IPCX__SHM_QUEUE;
	else if (strcmp(pattern, "spsc") == 0)
		p->pattern = IPCX__SHM_SPSC;
	else if (strcmp(pattern, "broadcast") == 0)
		p->pattern = IPCX__SHM_BROADCAST;
	else if (strcmp(pattern, "mpsc") == 0)
		p->pattern = IPCX__SHM_MPSC;
	else
		return ipcx__fail(-EINVAL, "bad pattern '%s' (queue, spsc, mpsc or broadcast)",
				  pattern);
	if (p->pattern == IPCX__SHM_MPSC && (p->flags & IPCX__SHM_RENDEZVOUS))
		return ipcx__fail(-EINVAL, "cap=0 (rendezvous) does not go with pattern=mpsc");
	return ipcx__shm_policy(u, p);
}

/*
 * The cap a queue was asked for: 0 for a rendezvous queue, whose ring only
 * passes messages on, and SIZE_MAX (what cap=unbounded parses to) for an
 * unbounded one, which holds what memory allows.
 */
static uint64_t ipcx__shm_capacity(const struct ipcx__shm_map *m)
{
	if (m->flags & IPCX__SHM_UNBOUNDED)
		return SIZE_MAX;
	return m->flags & IPCX__SHM_RENDEZVOUS ? 0 : m->cap;
}

/* Options given when opening an existing queue must agree with it. */
static int ipcx__shm_agree(const struct ipcx__url *u, const struct ipcx__shm_params *p,
			   const struct ipcx__shm_map *m)
{
	uint64_t cap = ipcx__shm_capacity(m);
	if (u->has_cap && p->cap != cap)
		return ipcx__fail(-EINVAL, "shm://%s exists with cap=%llu, not %llu", u->address,
				  (unsigned long long)cap, (unsigned long long)p->cap);
	if (u->has_maxmsg && p->max_msg != m->max_msg)
		return ipcx__fail(-EINVAL, "shm://%s exists with maxmsg=%llu, not %llu", u->address,
				  (unsigned long long)m->max_msg, (unsigned long long)p->max_msg);
	if (ipcx__url_opt(u, "pattern") && p->pattern != m->pattern)
		return ipcx__fail(-EINVAL, "shm://%s exists with another pattern", u->address);
	if (ipcx__url_opt(u, "policy") &&
	    (p->flags & IPCX__SHM_OVERWRITE) != (m->flags & IPCX__SHM_OVERWRITE))
		return ipcx__fail(-EINVAL, "shm://%s exists with another policy", u->address);
	return 0;
}

unsigned ipcx__shm_caps(unsigned pattern, unsigned shm_flags, int role)
{
	unsigned caps = IPCX__SHM_BASE_CAPS;
	if (pattern == IPCX__SHM_QUEUE)
		caps |= IPCX__SHM_MANY;
	if (pattern == IPCX__SHM_MPSC)
		caps |= IPCX_CAP_MANY_SENDERS;
	if (pattern == IPCX__SHM_BROADCAST)
		caps |= IPCX_CAP_BROADCAST | IPCX_CAP_MANY_SENDERS;
	if (shm_flags & IPCX__SHM_OVERWRITE)
		caps &= ~(unsigned)(IPCX_CAP_RELIABLE | IPCX_CAP_FLOW_CONTROL);
	if (shm_flags & IPCX__SHM_RENDEZVOUS)
		caps |= IPCX_CAP_RENDEZVOUS;
	/* A sender of an unbounded queue never waits for room. */
	if (shm_flags & IPCX__SHM_UNBOUNDED)
		caps &= ~(unsigned)IPCX_CAP_FLOW_CONTROL;
	if (role & IPCX_RECV)
		caps |= IPCX_CAP_POLLABLE;
	return caps;
}

/* Maps the queue, creating it when flags ask and it is not there. */
static int ipcx__shm_map(struct ipcx__shm_map *m, const struct ipcx__url *u, int flags,
			 const struct ipcx__shm_params *p)
{
	/* Creation and removal by others can race with us: try a few times. */
	for (int tries = 0; tries < 3; tries++) {
		if (flags & IPCX_CREATE) {
			int rc = ipcx__shm_map_create(m, u->address, p);
			if (rc == 0) {
				(void)ipcx__object_register_url(u);
				ipcx__shm_populate(m);
				return 0;
			}
			if (rc != -EEXIST || (flags & IPCX_EXCL))
				return rc;
		}
		int rc = ipcx__shm_map_open(m, u->address);
		if (rc == 0)
			rc = ipcx__shm_agree(u, p, m);
		if (rc == 0)
			ipcx__shm_populate(m);
		if (rc != -ENOENT || !(flags & IPCX_CREATE))
			return rc;
	}
	return ipcx__fail(-EAGAIN, "shm://%s keeps being created and removed", u->address);
}

static int ipcx__shm_open(ipcx_chan **out, const struct ipcx__url *u, int flags,
			  struct ipcx__deadline d)
{
	struct ipcx__shm_params p;
	struct ipcx__type_range types[IPCX__MAX_TYPE_RANGES];
	unsigned ntypes = 0;
	int rc = ipcx__shm_name_check(u->address);
	if (rc == 0)
		rc = ipcx__shm_params(u, &p);
	if (rc == 0)
		rc = ipcx__shm_types(u, types, &ntypes);
	if (rc < 0)
		return rc;
	struct ipcx__shm_chan *c = ipcx__chan_alloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	int role = flags & (IPCX_SEND | IPCX_RECV);
	rc = ipcx__shm_map(&c->map, u, flags, &p);
	if (rc == 0)
		rc = ipcx__shmq_attach(&c->q, &c->map, role);
	if (rc == 0 && (rc = ipcx__shm_filter(c, types, ntypes)) < 0)
		ipcx__shmq_detach(&c->q);
	if (rc == 0 && c->map.pattern == IPCX__SHM_MPSC) {
		rc = ipcx__shm_lanes_open(&c->lanes, u->address, &c->map, &c->q, role);
		if (rc < 0)
			ipcx__shmq_detach(&c->q);
	}
	if (rc < 0) {
		ipcx__shm_map_close(&c->map);
		free(c);
		return rc;
	}
	c->base.caps.flags = ipcx__shm_caps(c->map.pattern, c->map.flags, flags);
	c->base.caps.max_msg = c->map.max_msg;
	c->base.caps.capacity = ipcx__shm_capacity(&c->map);
	c->base.max_msg_limit = "the queue's maxmsg";
	/* A rendezvous send that tried would publish and take its message back: no try there. */
	c->base.try_first = !(c->map.flags & IPCX__SHM_RENDEZVOUS);
	*out = &c->base;
	return 0;
}

/* The handle a channel sends with: its own lane's in an mpsc queue. */
static struct ipcx__shmq *ipcx__shm_tx(struct ipcx__shm_chan *c)
{
	return c->lanes ? ipcx__shm_lanes_sender(c->lanes) : &c->q;
}

static int ipcx__shm_send(ipcx_chan *ch, const void *data, size_t len, long type,
			  struct ipcx__deadline d)
{
	return ipcx__shmq_send(ipcx__shm_tx((struct ipcx__shm_chan *)ch), data, len, type, d);
}

static ssize_t ipcx__shm_recv(ipcx_chan *ch, void *buf, size_t size, long selector,
			      long *type, struct ipcx__deadline d)
{
	struct ipcx__shm_chan *c = (struct ipcx__shm_chan *)ch;
	/* The engine takes a NULL buffer for a receive loan: a copy into none gets a place. */
	static char none;
	if (!buf)
		buf = &none;
	if (c->lanes)
		return ipcx__shm_lanes_recv(c->lanes, buf, size, selector, type, d);
	return ipcx__shmq_recv(&c->q, buf, size, selector, type, d);
}

/* The descriptor is made on the first call; the channel is ours to change. */
static int ipcx__shm_fd(const ipcx_chan *ch)
{
	return ipcx__shmq_poll_fd(&((struct ipcx__shm_chan *)(uintptr_t)ch)->q);
}

static void ipcx__shm_close(ipcx_chan *ch)
{
	struct ipcx__shm_chan *c = (struct ipcx__shm_chan *)ch;
	if (c->lanes)
		ipcx__shm_lanes_close(c->lanes);
	ipcx__shmq_detach(&c->q);
	ipcx__shm_map_close(&c->map);
	free(c);
}

static int ipcx__shm_unlink_url(const struct ipcx__url *u)
{
	int rc = ipcx__shm_name_check(u->address);
	if (rc < 0)
		return rc;
	ipcx__shm_lanes_unlink(u->address); /* an mpsc queue's; the queue's own error is the one told */
	rc = ipcx__shm_unlink(u->address);
	if (rc == 0)
		ipcx__object_forget_url(u);
	return rc;
}

const struct ipcx__transport ipcx__shm_transport = {
	.scheme = "shm",
	.options = "cap maxmsg mode pattern policy types",
	.caps = {.flags = IPCX__SHM_BASE_CAPS | IPCX__SHM_MANY,
		 .max_msg = (size_t)(IPCX__SHM_MAX_RING / 2 - IPCX__SHM_REC_HDR),
		 .capacity = (size_t)IPCX__SHM_DEFAULT_CAP},
	.open = ipcx__shm_open,
	.send = ipcx__shm_send,
	.recv = ipcx__shm_recv,
	.close = ipcx__shm_close,
	.unlink = ipcx__shm_unlink_url,
	.fd = ipcx__shm_fd,
};

/* ---- the zero-copy calls of ipcx.h ----------------------------------- */

/* The shm channel behind ch, or NULL (with the error in *rc) for another transport. */
static struct ipcx__shmq *ipcx__shm_q(ipcx_chan *ch, int dir, int *rc)
{
	ipcx__clear_errmsg();
	if (!ch) {
		*rc = ipcx__fail(-EINVAL, "no channel");
		return NULL;
	}
	if (ch->tp != &ipcx__shm_transport) {
		*rc = ipcx__fail(-ENOTSUP, "%s has no zero-copy loans (shm:// has)", ch->url);
		return NULL;
	}
	if (!(ch->flags & dir)) {
		*rc = ipcx__fail(-EBADF, "%s was not opened for %s", ch->url,
				 dir == IPCX_SEND ? "sending" : "receiving");
		return NULL;
	}
	return &((struct ipcx__shm_chan *)ch)->q;
}

/* The lanes of ch's mpsc queue, or NULL. */
static struct ipcx__shm_lanes *ipcx__shm_lanes_of(ipcx_chan *ch)
{
	return ((struct ipcx__shm_chan *)ch)->lanes;
}

int ipcx_loan(ipcx_chan *ch, size_t len, void **buf, int timeout_ms)
{
	int rc;
	struct ipcx__shmq *q = ipcx__shm_q(ch, IPCX_SEND, &rc);
	if (!q)
		return rc;
	if (!buf)
		return ipcx__fail(-EINVAL, "loan needs a place for the buffer");
	if (len > ch->caps.max_msg)
		return ipcx__fail(-EMSGSIZE, "loan of %zu bytes exceeds maxmsg %zu of %s", len,
				  ch->caps.max_msg, ch->url);
	struct ipcx__shmq *tx = ipcx__shm_tx((struct ipcx__shm_chan *)ch);
	if (ch->try_first && timeout_ms > 0) { /* as ipcx_send() does */
		rc = ipcx__shmq_loan(tx, len, buf, IPCX__FIRST_TRY);
		if (rc != -EAGAIN)
			return rc;
		ipcx__clear_errmsg();
	}
	return ipcx__shmq_loan(tx, len, buf, ipcx__call_deadline(ch, timeout_ms));
}

int ipcx_commit(ipcx_chan *ch, size_t len, long type)
{
	int rc;
	struct ipcx__shmq *q = ipcx__shm_q(ch, IPCX_SEND, &rc);
	if (!q)
		return rc;
	if (type < 1)
		return ipcx__fail(-EINVAL, "message type %ld: types are >= 1", type);
	return ipcx__shmq_commit(ipcx__shm_tx((struct ipcx__shm_chan *)ch), len, type);
}

/* A receive loan from the queue q of ch, or from its lanes. */
static ssize_t ipcx__shm_recv_loan_by(ipcx_chan *ch, struct ipcx__shmq *q, const void **buf,
				      long selector, long *type, struct ipcx__deadline d)
{
	struct ipcx__shm_lanes *lanes = ipcx__shm_lanes_of(ch);
	return lanes ? ipcx__shm_lanes_recv_loan(lanes, buf, selector, type, d)
		     : ipcx__shmq_recv_loan(q, buf, selector, type, d);
}

ssize_t ipcx_recv_loan(ipcx_chan *ch, const void **buf, long selector, long *type,
		       int timeout_ms)
{
	int rc;
	struct ipcx__shmq *q = ipcx__shm_q(ch, IPCX_RECV, &rc);
	if (!q)
		return rc;
	if (!buf)
		return ipcx__fail(-EINVAL, "recv_loan needs a place for the buffer");
	long ignored, *t = type ? type : &ignored;
	/* A look first, as ipcx_recv() does; the deadline only when it found nothing. */
	if (ch->try_first && timeout_ms > 0) {
		ssize_t n = ipcx__shm_recv_loan_by(ch, q, buf, selector, t, IPCX__FIRST_TRY);
		if (n != -ENOMSG)
			return n;
		ipcx__clear_errmsg();
	}
	return ipcx__shm_recv_loan_by(ch, q, buf, selector, t, ipcx__call_deadline(ch, timeout_ms));
}

int ipcx_release(ipcx_chan *ch)
{
	int rc;
	struct ipcx__shmq *q = ipcx__shm_q(ch, IPCX_RECV, &rc);
	if (!q)
		return rc;
	struct ipcx__shm_lanes *lanes = ipcx__shm_lanes_of(ch);
	return lanes ? ipcx__shm_lanes_release(lanes) : ipcx__shmq_release(q);
}
