/*
 * lanes.c - pattern=mpsc: many senders and one receiver, each sender in a
 * lane of its own.
 *
 * In one ring shared by many senders every send takes the tail's cache
 * line from the sender before it, and past a few senders that line, not
 * the receiver, sets the pace. An mpsc queue NAME gives each sender a
 * one-to-one queue of its own, NAME#i (a lane: made by the first sender
 * that needs it, with the queue's cap, maxmsg and mode), and its one
 * receiver takes from the lanes in turn, on the one-to-one fast path of
 * ring.c. The queue's own segment, the master, has no ring: it holds the
 * peer slots (one receiver at a time), the mask of the lanes that exist,
 * and the receiver's futex. A lane's sender wakes the receiver there
 * (ipcx__shm_map.wake_recv), so the receiver sleeps on one word for all
 * lanes, and polls on the master's descriptor.
 *
 * Order is kept per sender, not across senders. A sender that dies leaves
 * its lane, and what it committed there, to the receiver and to the next
 * sender that takes the lane over (which reaps it, peer.c).
 */
#include "shmq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many messages in a row the receiver takes from one lane before the next lane's turn. */
#define IPCX__LANE_STREAK 256u

struct ipcx__shm_lane {
	struct ipcx__shm_map map;
	struct ipcx__shmq q;
};

struct ipcx__shm_lanes {
	char name[256]; /* the queue's */
	const struct ipcx__shm_map *master;
	struct ipcx__shmq *mq; /* the channel's handle on the master */
	int role;
	struct ipcx__shm_lane *lane[IPCX__SHM_MAX_LANES];
	uint64_t joined; /* lanes with a handle in lane[] */
	uint64_t broken; /* lanes that could not be joined: reported once, then left alone */
	unsigned own;    /* a sender's lane */
	unsigned next;   /* the lane the receiver looks at first */
	unsigned streak; /* messages taken from it in a row */
	int loan_lane;   /* the lane of the receive loan, -1 = none */
};

/* Maps lane i of l, creating it when create says so. */
static int ipcx__lane_map(struct ipcx__shm_lanes *l, unsigned i, bool create,
			  struct ipcx__shm_lane **out)
{
	const struct ipcx__shm_map *m = l->master;
	char name[280];
	snprintf(name, sizeof(name), "%s%c%u", l->name, IPCX__SHM_LANE_SEP, i);
	struct ipcx__shm_lane *ln = calloc(1, sizeof(*ln));
	if (!ln)
		return -ENOMEM;
	struct ipcx__shm_params p = {
	    .cap = (m->flags & IPCX__SHM_UNBOUNDED) ? 0 : m->cap,
	    .max_msg = m->max_msg,
	    .pattern = IPCX__SHM_SPSC,
	    .flags = m->flags & IPCX__SHM_UNBOUNDED,
	    .mode = m->mode & 0777,
	};
	int rc = create ? ipcx__shm_map_create(&ln->map, name, &p) : -EEXIST;
	if (rc == -EEXIST)
		rc = ipcx__shm_map_open(&ln->map, name);
	if (rc == 0 && (ln->map.pattern != IPCX__SHM_SPSC || ln->map.max_msg != m->max_msg ||
			(ln->map.flags & IPCX__SHM_UNBOUNDED) != (m->flags & IPCX__SHM_UNBOUNDED))) {
		ipcx__shm_map_close(&ln->map);
		rc = ipcx__fail(-EPROTO, "lane %u of shm://%s does not match its queue", i, l->name);
	}
	if (rc < 0) {
		free(ln);
		return rc;
	}
	ln->map.wake_recv = m;
	*out = ln;
	return 0;
}

static void ipcx__lane_drop(struct ipcx__shm_lane *ln)
{
	ipcx__shmq_detach(&ln->q);
	ipcx__shm_map_close(&ln->map);
	free(ln);
}

/* Joins lane i of l in role, mapping it first. */
static int ipcx__lane_join(struct ipcx__shm_lanes *l, unsigned i, bool create, int role)
{
	struct ipcx__shm_lane *ln;
	int rc = ipcx__lane_map(l, i, create, &ln);
	if (rc < 0)
		return rc;
	rc = ipcx__shmq_attach(&ln->q, &ln->map, role);
	if (rc < 0) {
		ipcx__shm_map_close(&ln->map);
		free(ln);
		return rc;
	}
	if (role & IPCX_SEND) /* a sender's own lane, at its open; the receiver maps lanes as met */
		ipcx__shm_populate(&ln->map);
	l->lane[i] = ln;
	l->joined |= 1ull << i;
	return 0;
}

/*
 * A sender takes the first lane without a live sender, making it when it
 * does not exist yet. A lane left unfinished by a creator that died is
 * -EPROTO: skipped. The lane's bit in the master tells the receiver.
 */
static int ipcx__lanes_take_own(struct ipcx__shm_lanes *l)
{
	for (unsigned i = 0; i < IPCX__SHM_MAX_LANES; i++) {
		int rc = ipcx__lane_join(l, i, true, IPCX_SEND | (l->role & IPCX_RECV));
		if (rc == 0) {
			l->own = i;
			atomic_fetch_or(&l->master->hdr->lanes, 1ull << i);
			return 0;
		}
		if (rc != -EBUSY && rc != -EPROTO)
			return rc;
	}
	return ipcx__fail(-EBUSY, "all %u lanes of shm://%s are held by live senders",
			  IPCX__SHM_MAX_LANES, l->name);
}

/* A receiver joins the lanes that appeared since it last looked. */
static int ipcx__lanes_sync(struct ipcx__shm_lanes *l)
{
	uint64_t all = atomic_load_explicit(&l->master->hdr->lanes, memory_order_acquire);
	uint64_t fresh = all & ~(l->joined | l->broken);
	while (fresh) {
		unsigned i = (unsigned)__builtin_ctzll(fresh);
		fresh &= fresh - 1;
		int rc = ipcx__lane_join(l, i, false, IPCX_RECV);
		if (rc < 0) {
			/* A lane removed by hand is no error; a damaged one is told once. */
			l->broken |= 1ull << i;
			if (rc != -ENOENT)
				return rc;
		}
	}
	return 0;
}

int ipcx__shm_lanes_open(struct ipcx__shm_lanes **out, const char *name,
			 const struct ipcx__shm_map *master, struct ipcx__shmq *mq, int role)
{
	struct ipcx__shm_lanes *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->master = master;
	l->mq = mq;
	l->role = role;
	l->loan_lane = -1;
	int rc = (role & IPCX_SEND) ? ipcx__lanes_take_own(l) : 0;
	if (rc == 0 && (role & IPCX_RECV))
		rc = ipcx__lanes_sync(l);
	if (rc < 0) {
		ipcx__shm_lanes_close(l);
		return rc;
	}
	*out = l;
	return 0;
}

void ipcx__shm_lanes_close(struct ipcx__shm_lanes *l)
{
	for (unsigned i = 0; i < IPCX__SHM_MAX_LANES; i++)
		if (l->lane[i])
			ipcx__lane_drop(l->lane[i]);
	free(l);
}

struct ipcx__shmq *ipcx__shm_lanes_sender(struct ipcx__shm_lanes *l)
{
	return &l->lane[l->own]->q;
}

void ipcx__shm_lanes_unlink(const char *name)
{
	for (unsigned i = 0; i < IPCX__SHM_MAX_LANES; i++) {
		char lane[280];
		snprintf(lane, sizeof(lane), "%s%c%u", name, IPCX__SHM_LANE_SEP, i);
		(void)ipcx__shm_unlink(lane);
	}
}

/* ---- receiving ------------------------------------------------------- */

/* One receive from the lanes, as an attempt of ipcx__shmq_await. */
struct ipcx__lanes_attempt {
	struct ipcx__attempt base;
	struct ipcx__shm_lanes *l;
	void *buf; /* NULL for a receive loan */
	size_t size;
	const void **loan;
	long selector;
	long *type;
	ssize_t len;
};

/* Takes from lane i what the attempt asks for: its length, -ENOMSG when none, or an error. */
static ssize_t ipcx__lane_take(struct ipcx__lanes_attempt *a, unsigned i)
{
	struct ipcx__shmq *q = &a->l->lane[i]->q;
	q->spinning = a->l->mq->spinning; /* as the wait on the master goes */
	ssize_t n = ipcx__shmq_take(q, a->buf, a->size, a->loan, a->selector, a->type);
	q->spinning = false;
	return n;
}

/* The lane whose message a selector < 0 takes first: the lowest type of all. -ENOMSG when none. */
static int ipcx__lanes_lowest(struct ipcx__shm_lanes *l, long selector)
{
	int best = -ENOMSG;
	long best_type = 0;
	for (uint64_t m = l->joined; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctzll(m);
		long t = ipcx__shmq_peek_type(&l->lane[i]->q, selector);
		if (t < 0)
			return (int)t;
		if (t > 0 && (best_type == 0 || t < best_type)) {
			best_type = t;
			best = (int)i;
		}
	}
	return best;
}

/* Lane i gave a message: it keeps the first look for a streak, then the next lane has it. */
static void ipcx__lanes_took(struct ipcx__shm_lanes *l, unsigned i)
{
	if (i != l->next) {
		l->next = i;
		l->streak = 0;
	}
	if (++l->streak >= IPCX__LANE_STREAK) {
		l->next = (i + 1) % IPCX__SHM_MAX_LANES;
		l->streak = 0;
	}
}

/* One try at lane i: 1 with a->len set, -EAGAIN when it has nothing, or an error. */
static int ipcx__lanes_take_from(struct ipcx__lanes_attempt *a, unsigned i)
{
	a->len = ipcx__lane_take(a, i);
	if (a->len == -ENOMSG)
		return -EAGAIN;
	if (a->len < 0)
		return (int)a->len;
	if (!a->buf)
		a->l->loan_lane = (int)i;
	ipcx__lanes_took(a->l, i);
	return 1;
}

static int ipcx__lanes_try(struct ipcx__attempt *base, uint64_t *stuck)
{
	(void)stuck; /* a lane's own receive looks after its stuck records */
	struct ipcx__lanes_attempt *a = (struct ipcx__lanes_attempt *)base;
	struct ipcx__shm_lanes *l = a->l;
	int rc = ipcx__lanes_sync(l);
	if (rc < 0)
		return rc;
	if (a->selector < 0) {
		int i = ipcx__lanes_lowest(l, a->selector);
		if (i < 0)
			return i == -ENOMSG ? -EAGAIN : i;
		return ipcx__lanes_take_from(a, (unsigned)i);
	}
	/* The lanes from next on, then those before it. */
	uint64_t from_next = l->joined & (~0ull << l->next);
	uint64_t order[2] = {from_next, l->joined & ~from_next};
	for (int k = 0; k < 2; k++)
		for (uint64_t m = order[k]; m; m &= m - 1) {
			rc = ipcx__lanes_take_from(a, (unsigned)__builtin_ctzll(m));
			if (rc != -EAGAIN)
				return rc;
		}
	return -EAGAIN;
}

static ssize_t ipcx__lanes_await(struct ipcx__lanes_attempt *a, struct ipcx__deadline d)
{
	struct ipcx__shm_lanes *l = a->l;
	/* The lane whose turn it is, without setting up a wait, as long as it has messages. */
	if (a->selector >= 0 && (l->joined >> l->next & 1)) {
		int rc = ipcx__lanes_take_from(a, l->next);
		if (rc != -EAGAIN)
			return rc < 0 ? rc : a->len;
	}
	a->base.try_once = ipcx__lanes_try;
	int rc = ipcx__shmq_await(l->mq, &a->base, d);
	return rc < 0 ? rc : a->len;
}

ssize_t ipcx__shm_lanes_recv(struct ipcx__shm_lanes *l, void *buf, size_t size, long selector,
			     long *type, struct ipcx__deadline d)
{
	struct ipcx__lanes_attempt a = {
	    .l = l, .buf = buf, .size = size, .selector = selector, .type = type};
	return ipcx__lanes_await(&a, d);
}

ssize_t ipcx__shm_lanes_recv_loan(struct ipcx__shm_lanes *l, const void **out, long selector,
				  long *type, struct ipcx__deadline d)
{
	if (l->loan_lane >= 0)
		return ipcx__fail(-EBUSY, "release the loaned message before taking another");
	struct ipcx__lanes_attempt a = {.l = l, .loan = out, .selector = selector, .type = type};
	return ipcx__lanes_await(&a, d);
}

int ipcx__shm_lanes_release(struct ipcx__shm_lanes *l)
{
	if (l->loan_lane < 0)
		return ipcx__fail(-EINVAL, "release without a loaned message");
	struct ipcx__shmq *q = &l->lane[l->loan_lane]->q;
	l->loan_lane = -1;
	return ipcx__shmq_release(q);
}
