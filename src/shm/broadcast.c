/*
 * broadcast.c - pattern=broadcast: every subscriber receives every message
 * sent after it joined.
 *
 * Senders reserve and commit records exactly as in a queue. No record is
 * claimed: each subscriber has its own read position, sub in its peer slot
 * (position + 1), which it moves by compare-and-swap after copying a
 * message out. Room comes back when a sender that finds the ring full
 * moves the release cursor rel over the oldest record itself (reclaims
 * it). With policy=block a sender does not reclaim a message while some
 * subscriber's position is on it: the slowest subscriber holds senders
 * back. With policy=overwrite it moves such a subscriber on (the same
 * compare-and-swap the subscriber would do, so exactly one of them wins)
 * and adds one to the subscriber's lost counter. A receive that finds a
 * message and a lost count reports the count as -EOVERFLOW first and
 * leaves the message for the next receive, so each report sits exactly
 * where its gap is. Such a sender sets its bit in the subscriber's movers
 * mask from before its move until after its addition, so a subscriber that
 * sees no mover knows every move that brought it where it is is counted.
 * A sender that dies in between leaves its bit set and, if its move won,
 * an intent (overtook) for the count it owes: its reaper clears the bit
 * and adds the count (peer.c, ipcx__shmq_bc_forget_mover).
 *
 * A sender moves subscribers before it moves rel, and writes a reclaimed
 * place only after rel passed it. A subscriber copies a message, then
 * checks that rel has not passed it (a seqlock read) before moving on.
 *
 * A typed receive (System V semantics) may take a message ahead of the
 * subscriber's position, which stays where it is: the messages it passed
 * over are still to come. The subscriber keeps the taken message's
 * position in a private set and steps over it once its position gets
 * there. Under policy=block its position keeps senders off everything
 * ahead of it; under overwrite a sender may overtake it past a taken
 * message, counting it lost as any other: the subscriber finds it behind
 * its position and takes it off the count it reports.
 */
#include "shmq.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Orders a seqlock reader's plain copy before its re-check. ThreadSanitizer
 * does not model fences (GCC refuses them under it); its test does not use
 * broadcast queues.
 */
#if defined(__SANITIZE_THREAD__)
#define ipcx__read_fence() ((void)0)
#else
#define ipcx__read_fence() atomic_thread_fence(memory_order_acquire)
#endif

/* How often a joining subscriber retries while senders keep moving the tail. */
#define IPCX__JOIN_TRIES 1000

/*
 * How long a subscriber spins for senders in the middle of moving it (a
 * few instructions each). Only a sender that stalls there (preempted, or
 * stopped), or dies and is not yet reaped, outlasts it.
 */
#define IPCX__MOVER_TRIES 10000
/* Then it naps this many times, this long in all, letting a preempted sender finish. */
#define IPCX__MOVER_NAPS 1000u
#define IPCX__MOVER_WAIT_NS (100 * 1000 * 1000L)

static bool ipcx__overwrite(const struct ipcx__shmq *q)
{
	return q->map->flags & IPCX__SHM_OVERWRITE;
}

void ipcx__shmq_bc_join(struct ipcx__shmq *q)
{
	/*
	 * A tail unchanged after our position is visible means that any sender
	 * reclaiming the first message we may read reserved it after that, so
	 * it sees us.
	 */
	for (unsigned n = 0; n < IPCX__JOIN_TRIES; n++) {
		uint64_t t = atomic_load(&q->hdr->tail);
		atomic_store(&q->me->sub, t + 1);
		if (atomic_load(&q->hdr->tail) == t)
			return;
	}
}

/*
 * The record at r, the oldest not yet reclaimed: 1 with *next after it and
 * *msg telling a message from a pad, 0 when it is not committed yet,
 * -EAGAIN when another sender reclaimed it meanwhile, -EPROTO.
 */
static int ipcx__bc_next(struct ipcx__shmq *q, uint64_t r, uint64_t *next, bool *msg)
{
	const struct ipcx__shm_map *m = q->map;
	struct ipcx__shm_rec *rec = ipcx__shmq_rec(m, r);
	*msg = false;
	if (!rec) {
		*next = r + ipcx__shmq_room(m, r);
		return 1;
	}
	uint64_t st = atomic_load(&rec->state);
	if (!ipcx__st_is_at(st, r))
		return atomic_load(&q->hdr->rel) == r ? 0 : -EAGAIN;
	uint32_t span = atomic_load(&rec->span);
	unsigned stage = ipcx__st_stage(st);
	if ((stage != IPCX__ST_COMMITTED && stage != IPCX__ST_PAD) ||
	    !ipcx__shmq_span_ok(m, r, span))
		return atomic_load(&q->hdr->rel) == r ? ipcx__shmq_corrupt(r, "bad record") : -EAGAIN;
	*msg = stage == IPCX__ST_COMMITTED;
	*next = r + span;
	return 1;
}

/* ---- messages taken ahead of the position -------------------------- */

/* Where pos is or belongs in the ascending set of taken positions. */
static size_t ipcx__taken_index(const struct ipcx__shmq *q, uint64_t pos)
{
	size_t lo = 0, hi = q->ntaken;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (q->taken[mid] < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool ipcx__taken_has(const struct ipcx__shmq *q, uint64_t pos)
{
	size_t i = ipcx__taken_index(q, pos);
	return i < q->ntaken && q->taken[i] == pos;
}

/* Does our filter let messages of type through? */
static bool ipcx__bc_wanted(const struct ipcx__shmq *q, long type)
{
	if (!q->ntypes)
		return true;
	for (unsigned i = 0; i < q->ntypes; i++)
		if (type >= q->types[i].lo && type <= q->types[i].hi)
			return true;
	return false;
}

bool ipcx__shmq_bc_skips(const struct ipcx__shmq *q, uint64_t pos, long type)
{
	return !ipcx__bc_wanted(q, type) || (q->ntaken && ipcx__taken_has(q, pos));
}

static int ipcx__taken_add(struct ipcx__shmq *q, uint64_t pos)
{
	if (q->ntaken == q->taken_cap) {
		size_t cap = q->taken_cap ? 2 * q->taken_cap : 16;
		uint64_t *grown = realloc(q->taken, cap * sizeof(*grown));
		if (!grown)
			return ipcx__fail(-ENOMEM, "out of memory for a typed receive's bookkeeping");
		q->taken = grown;
		q->taken_cap = cap;
	}
	size_t i = ipcx__taken_index(q, pos);
	memmove(q->taken + i + 1, q->taken + i, (q->ntaken - i) * sizeof(*q->taken));
	q->taken[i] = pos;
	q->ntaken++;
	return 1;
}

/* Forgets the taken positions below pos: how many there were. */
static size_t ipcx__taken_drop(struct ipcx__shmq *q, uint64_t pos)
{
	size_t n = ipcx__taken_index(q, pos);
	memmove(q->taken, q->taken + n, (q->ntaken - n) * sizeof(*q->taken));
	q->ntaken -= n;
	return n;
}

/*
 * Forgets the taken positions a sender moved us past: it counted each of
 * them lost, and the report takes them off.
 */
static void ipcx__taken_overtaken(struct ipcx__shmq *q, uint64_t sub)
{
	if (q->ntaken && sub)
		q->taken_lost += ipcx__taken_drop(q, sub - 1);
}

void ipcx__shmq_bc_forget(struct ipcx__shmq *q)
{
	free(q->taken);
	q->taken = NULL;
	q->ntaken = q->taken_cap = 0;
	q->taken_lost = 0;
}

/* Our bit in a subscriber's movers mask. */
static uint64_t ipcx__bc_mover_bit(const struct ipcx__shmq *q)
{
	return (uint64_t)1 << q->slot;
}

/*
 * Moves the subscriber in slot i from at (position + 1) past the message
 * there to next, counting the message lost. All seq_cst: a subscriber that
 * loads its position after our compare-and-swap and then sees movers back
 * at zero also sees our addition (ipcx__bc_report); our intent is visible
 * to a reaper before the addition it stands for, and cleared only after.
 */
static void ipcx__bc_overtake(struct ipcx__shmq *q, unsigned i, uint64_t at, uint64_t next)
{
	struct ipcx__shm_slot *s = &q->map->slots[i];
	atomic_fetch_or(&s->movers, ipcx__bc_mover_bit(q));
	if (atomic_compare_exchange_strong(&s->sub, &at, next + 1)) {
		atomic_store(&q->me->overtook, i + 1);
		atomic_fetch_add(&s->lost, 1);
		atomic_store(&q->me->overtook, 0);
	}
	atomic_fetch_and(&s->movers, ~ipcx__bc_mover_bit(q));
}

void ipcx__shmq_bc_forget_mover(const struct ipcx__shm_map *m, unsigned dead)
{
	/*
	 * An exchange, before the addition: a reaper that dies in between
	 * leaves at most an uncounted loss, never one the next reaper counts
	 * again.
	 */
	uint32_t owed = atomic_exchange(&m->slots[dead].overtook, 0);
	/* Nonsense, or a subscriber that left meanwhile (its count went with it). */
	if (owed >= 1 && owed <= m->max_peers && atomic_load(&m->slots[owed - 1].sub) != 0)
		atomic_fetch_add(&m->slots[owed - 1].lost, 1);
	/* seq_cst, after the addition: a subscriber that sees the bit gone sees the count. */
	for (unsigned j = 0; j < m->max_peers; j++)
		atomic_fetch_and(&m->slots[j].movers, ~((uint64_t)1 << dead));
}

/*
 * Moves every subscriber at r to next before r is reclaimed, counting the
 * message as lost for those that had not read it. False when the policy
 * is block and a subscriber has yet to read the message at r.
 */
static bool ipcx__bc_move_subs(struct ipcx__shmq *q, uint64_t r, uint64_t next, bool msg)
{
	const struct ipcx__shm_map *m = q->map;
	for (unsigned i = 0; i < m->max_peers; i++) {
		struct ipcx__shm_slot *s = &m->slots[i];
		uint64_t at = r + 1;
		if (atomic_load(&s->sub) != at)
			continue;
		if (msg && !ipcx__overwrite(q))
			return false;
		if (msg)
			ipcx__bc_overtake(q, i, at, next);
		else /* a pad: nothing lost, so no count to wait for */
			atomic_compare_exchange_strong(&s->sub, &at, next + 1);
	}
	return true;
}

/* The lowest subscriber position: every record that ends at or below it was read by all. */
static uint64_t ipcx__bc_lowest(const struct ipcx__shm_map *m)
{
	uint64_t low = UINT64_MAX;
	for (unsigned i = 0; i < m->max_peers; i++) {
		uint64_t sub = atomic_load(&m->slots[i].sub);
		if (sub && sub - 1 < low)
			low = sub - 1;
	}
	return low;
}

/*
 * Moves rel up to want, and on over what every subscriber has read, up to
 * a batch further, so that the next sends find room without looking at
 * the subscribers again. The tail is read before the subscribers: a
 * subscriber our scan misses joined after that (ipcx__shmq_bc_join), at
 * a tail no lower, and we reclaim nothing at or past it. The fence first:
 * the holder of the sole-sender lease moves the tail with a plain store
 * (lease.c), and our store of the tail must be visible before we read the
 * subscribers, as the compare-and-swap of many senders makes it: either
 * a joining subscriber sees our tail and joins past it, or we see it.
 */
int ipcx__shmq_bc_reclaim(struct ipcx__shmq *q, uint64_t want, uint64_t *stuck)
{
	struct ipcx__shm_hdr *h = q->hdr;
	atomic_thread_fence(memory_order_seq_cst);
	uint64_t t = atomic_load(&h->tail), low = ipcx__bc_lowest(q->map);
	uint64_t ahead = want + ipcx__shmq_batch(q->map);
	for (uint64_t n = 0; n <= q->map->ring_size / 8; n++) {
		uint64_t r = atomic_load(&h->rel);
		if (r >= t || r >= ahead || (r >= want && r >= low))
			return 0;
		uint64_t next = r;
		bool msg;
		int rc = ipcx__bc_next(q, r, &next, &msg);
		if (rc == -EAGAIN)
			continue;
		if (rc < 0)
			return rc;
		if (rc > 0 && next > t)
			return ipcx__shmq_corrupt(r, "record runs past the tail");
		bool read_by_all = rc > 0 && next <= low;
		if (!read_by_all && r >= want)
			return 0; /* room enough: the rest waits for its readers */
		if (rc == 0 || (!read_by_all && !ipcx__bc_move_subs(q, r, next, msg))) {
			*stuck = r;
			return 0;
		}
		atomic_compare_exchange_strong(&h->rel, &r, next);
	}
	return ipcx__shmq_corrupt(0, "endless chain of records");
}

/*
 * Moves our position from pos to next; lost counts a message we could not
 * read. False when a sender moved us first (and counted the loss).
 */
static bool ipcx__bc_step(struct ipcx__shmq *q, uint64_t pos, uint64_t next, bool lost)
{
	uint64_t at = pos + 1;
	if (!atomic_compare_exchange_strong(&q->me->sub, &at, next + 1))
		return false;
	if (q->ntaken)
		ipcx__taken_drop(q, next); /* we stepped over them: nobody counted them lost */
	if (lost)
		atomic_fetch_add(&q->me->lost, 1);
	if (!ipcx__overwrite(q))
		ipcx__shmq_notify(q->map, IPCX__WAIT_SEND); /* a sender may wait for us */
	return true;
}

/* Has a sender reclaimed pos? Then what we read there may belong to a newer record. */
static bool ipcx__bc_passed(struct ipcx__shmq *q, uint64_t pos)
{
	return atomic_load(&q->hdr->rel) > pos;
}

/*
 * Steps our position over the committed record at pos without delivering
 * it: 0 (done, or a sender moves us on), or -EPROTO. The span is read
 * before rel is: not passed, it is the record's own.
 */
static int ipcx__bc_step_over(struct ipcx__shmq *q, uint64_t pos)
{
	struct ipcx__shm_rec *rec = ipcx__shmq_rec(q->map, pos);
	uint32_t span = rec ? atomic_load(&rec->span) : 0;
	if (ipcx__bc_passed(q, pos))
		return 0;
	if (!rec || !ipcx__shmq_span_ok(q->map, pos, span))
		return ipcx__shmq_corrupt(pos, "bad record");
	ipcx__bc_step(q, pos, pos + span, false);
	return 0;
}

/*
 * Steps our position over the messages we took ahead of it, as long as it
 * is on one, so that their room comes back now. -EPROTO, or 0.
 */
static int ipcx__bc_pass_taken(struct ipcx__shmq *q)
{
	for (uint64_t n = 0; q->ntaken && n <= q->map->ring_size / 8; n++) {
		uint64_t sub = atomic_load(&q->me->sub);
		ipcx__taken_overtaken(q, sub);
		if (!q->ntaken || q->taken[0] != sub - 1)
			return 0;
		int rc = ipcx__bc_step_over(q, sub - 1);
		if (rc < 0)
			return rc;
	}
	return q->ntaken ? ipcx__shmq_corrupt(0, "endless chain of records") : 0;
}

/*
 * Reads and checks the header of the committed message at pos, whose
 * state is st: 1 with out filled, 0 to look again (a sender reclaimed it
 * meanwhile: what we read may be a newer record's), -EMSGSIZE when it is
 * larger than size, -EPROTO.
 */
static int ipcx__bc_header(struct ipcx__shmq *q, struct ipcx__shm_rec *rec, uint64_t pos,
			   uint64_t st, size_t size, struct ipcx__shmq_msg *out)
{
	uint32_t len = atomic_load_explicit(&rec->len, memory_order_acquire);
	int64_t type = atomic_load_explicit(&rec->type, memory_order_acquire);
	uint32_t span = atomic_load_explicit(&rec->span, memory_order_acquire);
	if (ipcx__bc_passed(q, pos))
		return 0;
	bool ok = len <= q->map->max_msg && ipcx__shm_span(len) <= span && type >= 1 &&
		  type <= LONG_MAX && ipcx__shmq_span_ok(q->map, pos, span);
	if (!ok || len > size) {
		if (atomic_load(&rec->state) != st)
			return 0;
		if (!ok)
			return ipcx__shmq_corrupt(pos, "bad message header");
		return ipcx__fail(-EMSGSIZE, "message of %u bytes does not fit a buffer of %zu",
				  len, size);
	}
	*out = (struct ipcx__shmq_msg){.len = len, .span = span, .type = (long)type, .pos = pos};
	return 1;
}

/*
 * Copies the committed message at pos, whose state is st, into buf, or
 * lends it (buf NULL). 1 when it is ours, 0 to look again (we were
 * overtaken), -EMSGSIZE, -EPROTO.
 */
static int ipcx__bc_copy(struct ipcx__shmq *q, struct ipcx__shm_rec *rec, uint64_t pos,
			 uint64_t st, void *buf, size_t size, struct ipcx__shmq_msg *out)
{
	int rc = ipcx__bc_header(q, rec, pos, st, buf ? size : SIZE_MAX, out);
	if (rc <= 0 || !buf)
		return rc;
	memcpy(buf, ipcx__shmq_payload(rec), out->len);
	ipcx__read_fence();
	if (ipcx__bc_passed(q, pos)) {
		/* Overwritten while we copied; unless a sender moved us, we count it. */
		ipcx__bc_step(q, pos, atomic_load(&q->hdr->rel), true);
		return 0;
	}
	if (!ipcx__bc_step(q, pos, pos + out->span, false))
		return 0;
	return 1;
}

/*
 * Our position stayed on the lent message. A policy=block sender never
 * passes it, so the record is as we lent it. A policy=overwrite sender may
 * have overtaken us (moved our position past it, counting it lost) and
 * then written over it: what was read may be torn, and the release says
 * so. Overtaken before we load our position, or before our step, either
 * way we see it; overtaken after the step, the message was read whole.
 */
static int ipcx__bc_overtaken(void)
{
	return ipcx__fail(-EOVERFLOW, "the loaned message was overwritten while on loan: what "
				      "was read may be torn (it counts among the messages lost)");
}

int ipcx__shmq_bc_release(struct ipcx__shmq *q, uint64_t pos)
{
	uint64_t sub = atomic_load(&q->me->sub);
	if (sub && sub < pos + 1) {
		/* Lent by a typed receive ahead of us: whole unless rel passed it. */
		if (ipcx__bc_passed(q, pos))
			return ipcx__bc_overtaken();
		int rc = ipcx__taken_add(q, pos);
		return rc < 0 ? rc : 0;
	}
	if (sub != pos + 1)
		return ipcx__bc_overtaken();
	struct ipcx__shm_rec *rec = ipcx__shmq_rec(q->map, pos);
	uint32_t span = rec ? atomic_load(&rec->span) : 0;
	if (!rec || !ipcx__shmq_span_ok(q->map, pos, span)) {
		if (atomic_load(&q->me->sub) != pos + 1)
			return ipcx__bc_overtaken(); /* the span we read was a newer record's */
		return ipcx__shmq_corrupt(pos, "bad record under a receive loan");
	}
	if (!ipcx__bc_step(q, pos, pos + span, false))
		return ipcx__bc_overtaken();
	return ipcx__bc_pass_taken(q);
}

/*
 * Reaps the senders still marked as moving us after the spin, if dead: a
 * reaper adds what they owe to our lost before it clears their bits.
 */
static void ipcx__bc_reap_movers(struct ipcx__shmq *q)
{
	uint64_t mask = atomic_load(&q->me->movers);
	for (unsigned j = 0; j < q->map->max_peers; j++)
		if (mask >> j & 1)
			ipcx__shmq_reap_slot(q, j);
}

/*
 * Called with a message at our position, loaded before: -EOVERFLOW with
 * the messages lost since we last delivered or reported, or 0. Counts
 * that come in later belong to moves after our load; those make the
 * step that would deliver the message fail, so they are reported before
 * the next message we deliver, not this one.
 */
static int ipcx__bc_report(struct ipcx__shmq *q)
{
	/*
	 * seq_cst, after our position's load: a sender whose move we loaded
	 * set its bit before it, so zero here means it has added its count.
	 */
	unsigned tries = 0;
	uint64_t movers;
	while (tries < IPCX__MOVER_TRIES && (movers = atomic_load(&q->me->movers)) != 0 &&
	       movers != q->movers_stale) {
		ipcx__cpu_relax();
		tries++;
	}
	/*
	 * A mover still there was most likely preempted between its move and
	 * its count (two processes on one CPU): give it the CPU, and reap it
	 * if it died, for up to IPCX__MOVER_WAIT_NS before going on. Bits
	 * that outlast that wait (a sender stopped there, or a mask a corrupt
	 * peer wrote) are not waited for again.
	 */
	for (unsigned n = 0; n < IPCX__MOVER_NAPS && (movers = atomic_load(&q->me->movers)) != 0 &&
			     movers != q->movers_stale;
	     n++) {
		ipcx__bc_reap_movers(q);
		nanosleep(&(struct timespec){.tv_nsec = IPCX__MOVER_WAIT_NS / IPCX__MOVER_NAPS}, NULL);
	}
	q->movers_stale = atomic_load(&q->me->movers);
	if (atomic_load(&q->me->lost) == 0)
		return 0;
	/* An exchange: a count added meanwhile is reported now, not twice. */
	unsigned long long n = atomic_exchange(&q->me->lost, 0);
	/* Taken ahead, then overtaken: counted lost, but we have them. A move counted is seen. */
	ipcx__taken_overtaken(q, atomic_load(&q->me->sub));
	uint64_t had = n < q->taken_lost ? n : q->taken_lost;
	q->taken_lost -= had;
	n -= had;
	if (n == 0)
		return 0;
	return ipcx__fail(-EOVERFLOW,
			  "%llu message(s) were overwritten before this subscriber read them", n);
}

/*
 * Copies the committed message at pos, ahead of our position, into buf,
 * or lends it (buf NULL): 1 when it is ours, 0 to look again (a sender
 * reclaimed it while we copied, after moving us past it and counting it
 * lost), -EMSGSIZE, -EPROTO, -ENOMEM.
 */
static int ipcx__bc_copy_ahead(struct ipcx__shmq *q, uint64_t pos, uint64_t st, void *buf,
			       size_t size, struct ipcx__shmq_msg *out)
{
	struct ipcx__shm_rec *rec = ipcx__shmq_rec(q->map, pos);
	int rc = ipcx__bc_header(q, rec, pos, st, buf ? size : SIZE_MAX, out);
	if (rc <= 0 || !buf)
		return rc; /* a loan is marked taken at its release (ipcx__shmq_bc_release) */
	memcpy(buf, ipcx__shmq_payload(rec), out->len);
	ipcx__read_fence();
	if (ipcx__bc_passed(q, pos))
		return 0;
	return ipcx__taken_add(q, pos);
}

/*
 * A typed receive with our position at pos, on a committed message: takes
 * the message selector picks, there or ahead. As ipcx__bc_copy, or
 * -EAGAIN when there is none.
 */
static int ipcx__bc_take_typed(struct ipcx__shmq *q, uint64_t pos, long selector, void *buf,
			       size_t size, struct ipcx__shmq_msg *out, uint64_t *stuck)
{
	struct ipcx__scan f = {0};
	int rc = ipcx__shmq_scan_typed(q, pos, selector, &f, stuck);
	if (rc <= 0)
		return rc == 0 ? -EAGAIN : rc == -EAGAIN ? 0 : rc;
	rc = ipcx__bc_report(q);
	if (rc == 0)
		rc = f.pos == pos ? ipcx__bc_copy(q, ipcx__shmq_rec(q->map, pos), pos, f.st, buf,
						  size, out)
				  : ipcx__bc_copy_ahead(q, f.pos, f.st, buf, size, out);
	return rc;
}


int ipcx__shmq_bc_take(struct ipcx__shmq *q, void *buf, size_t size, long selector,
		       struct ipcx__shmq_msg *out, uint64_t *stuck)
{
	const struct ipcx__shm_map *m = q->map;
	for (uint64_t n = 0; n <= m->ring_size / 8; n++) {
		uint64_t sub = atomic_load_explicit(&q->me->sub, memory_order_acquire);
		if (sub == 0)
			return ipcx__shmq_corrupt(0, "subscriber without a position");
		uint64_t pos = sub - 1;
		ipcx__taken_overtaken(q, sub);
		/* The record before the tail, as a queue's receiver looks (ring.c, ipcx__state_at). */
		struct ipcx__shm_rec *rec = ipcx__shmq_rec(m, pos);
		uint64_t st = rec ? atomic_load_explicit(&rec->state, memory_order_acquire) : 0;
		if (!rec || !ipcx__st_is_at(st, pos)) {
			if (!ipcx__shmq_below_tail(q, pos))
				return -EAGAIN;
			if (!rec) {
				ipcx__bc_step(q, pos, pos + ipcx__shmq_room(m, pos), false);
				continue;
			}
		}
		uint64_t r = atomic_load(&q->hdr->rel);
		if (r > pos) {
			/* Reclaimed under us, unless a sender moved us on (and counted it). */
			ipcx__bc_step(q, pos, r, true);
			continue;
		}
		if (!ipcx__st_is_at(st, pos)) {
			*stuck = pos; /* reserved, not yet committed */
			return -EAGAIN;
		}
		if (ipcx__st_stage(st) == IPCX__ST_COMMITTED) {
			int rc;
			if (q->ntaken && q->taken[0] == pos)
				rc = ipcx__bc_pass_taken(q);
			else if (q->ntypes && !ipcx__bc_wanted(q, (long)atomic_load(&rec->type)))
				rc = ipcx__bc_step_over(q, pos); /* filtered out: not lost */
			else if (selector != 0)
				rc = ipcx__bc_take_typed(q, pos, selector, buf, size, out, stuck);
			else if ((rc = ipcx__bc_report(q)) == 0)
				rc = ipcx__bc_copy(q, rec, pos, st, buf, size, out);
			if (rc > 0 && buf && q->ntaken) {
				int passed = ipcx__bc_pass_taken(q);
				rc = passed < 0 ? passed : rc;
			}
			if (rc != 0)
				return rc;
			continue;
		}
		uint32_t span = atomic_load(&rec->span);
		if (ipcx__bc_passed(q, pos))
			continue;
		if (ipcx__st_stage(st) == IPCX__ST_PAD && ipcx__shmq_span_ok(m, pos, span))
			ipcx__bc_step(q, pos, pos + span, false);
		else if (atomic_load(&rec->state) == st)
			return ipcx__shmq_corrupt(pos, "bad record");
	}
	return ipcx__shmq_corrupt(0, "endless chain of records");
}
