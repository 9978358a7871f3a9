/*
 * ring.c - sending into and receiving from the ring of a shared queue.
 *
 * Positions are 64-bit byte counts that only grow; a position's place in
 * the ring is pos & mask. Three cursors live in the header: tail (the end
 * of what senders reserved), head (a hint: no message lies before it) and
 * rel (everything before it is free for senders). A sender reserves
 * [tail, tail + need) by compare-and-swap (or a plain store in a one-to-one
 * queue), writes the record and stores its state last. A receiver claims a
 * committed record by compare-and-swap on its state, copies it, marks it
 * released and moves rel over every released record it can. docs/shm.md
 * has the whole protocol.
 */
#include "shmq.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>

/* Spins before a waiter goes to sleep, and attempts before a stuck position is checked for a dead owner. */
#define IPCX__SPINS 512
#define IPCX__STUCK_CHECK 256
/* The most a wait spins, after waits of its kind met while spinning (ipcx__waited). */
#define IPCX__SPINS_MAX 65536u
/*
 * A sleep shorter than this was a wait that spinning a little longer would
 * have met (a wake-up costs both sides about as much on a VM); after such
 * sleeps a wait spins longer, up to IPCX__SPINS_SHORT_MAX (ipcx__waited).
 */
#define IPCX__SHORT_SLEEP_NS (64 * 1000)
#define IPCX__SPINS_SHORT_MAX 4096u
/*
 * A receiver spinning for a message reads the shared tail only every this
 * many spins (ipcx__below_tail_cached): in between it waits on the next
 * record's line alone, and leaves the tail's to the senders.
 */
#define IPCX__THOROUGH_EVERY 16u
/* How far ahead of the record it copies the sole receiver prefetches. */
#define IPCX__PREFETCH_AHEAD 256u
/* A waiter that may be waiting on a dead peer looks again this often. */
#define IPCX__SLICE_NS (20 * 1000 * 1000LL)
#define IPCX__NONE UINT64_MAX
/* The "stuck position" of a peer waiting for another's lease (lease.c): no record's. */
#define IPCX__LEASE_WAIT (UINT64_MAX - 1)

struct ipcx__claim {
	uint64_t pos;
	uint32_t len, span;
	long type;
	bool copied; /* the payload is in the caller's buffer already, nothing is held */
};

static bool ipcx__broadcast(const struct ipcx__shmq *q)
{
	return q->map->pattern == IPCX__SHM_BROADCAST;
}

struct ipcx__shm_rec *ipcx__shmq_rec(const struct ipcx__shm_map *m, uint64_t pos)
{
	if (ipcx__shmq_room(m, pos) < IPCX__SHM_REC_HDR)
		return NULL;
	/*
	 * Positions are multiples of 8; one that is not was written by a
	 * corrupt or hostile peer. Its record is the one below it, whose
	 * state (stamped with an aligned position) is never at it.
	 */
	return (struct ipcx__shm_rec *)(m->ring + (pos & m->mask & ~(uint64_t)7));
}

static bool ipcx__stage_ok(uint64_t st)
{
	unsigned stage = ipcx__st_stage(st);
	return stage >= IPCX__ST_COMMITTED && stage <= IPCX__ST_RELEASED;
}

int ipcx__shmq_corrupt(uint64_t pos, const char *what)
{
	return ipcx__fail(-EPROTO, "shared queue is corrupt: %s at position %llu", what,
			  (unsigned long long)pos);
}

static bool ipcx__one_to_one(const struct ipcx__shmq *q)
{
	return q->map->pattern == IPCX__SHM_SPSC;
}

/* ---- statistics ------------------------------------------------------ */

static int64_t ipcx__realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int32_t ipcx__pid_of(const struct ipcx__shmq *q)
{
	return (int32_t)((q->owner >> 2) & ((1u << 22) - 1));
}

static void ipcx__bump(_Atomic uint64_t *c, uint64_t by)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
			      memory_order_relaxed);
}

/* Counts in our own slot; the last-activity fields every 256 messages. */
static void ipcx__count_sent(struct ipcx__shmq *q, size_t len)
{
	uint64_t n = atomic_load_explicit(&q->me->msgs_sent, memory_order_relaxed);
	ipcx__bump(&q->me->msgs_sent, 1);
	ipcx__bump(&q->me->bytes_sent, len);
	if (n % 256 == 0) {
		atomic_store_explicit(&q->hdr->last_sender_pid, ipcx__pid_of(q), memory_order_relaxed);
		atomic_store_explicit(&q->hdr->last_send_ns, ipcx__realtime_ns(), memory_order_relaxed);
	}
}

static void ipcx__count_recv(struct ipcx__shmq *q, size_t len)
{
	uint64_t n = atomic_load_explicit(&q->me->msgs_recv, memory_order_relaxed);
	ipcx__bump(&q->me->msgs_recv, 1);
	ipcx__bump(&q->me->bytes_recv, len);
	if (n % 256 == 0) {
		atomic_store_explicit(&q->hdr->last_receiver_pid, ipcx__pid_of(q), memory_order_relaxed);
		atomic_store_explicit(&q->hdr->last_recv_ns, ipcx__realtime_ns(), memory_order_relaxed);
	}
}

/* ---- waiting --------------------------------------------------------- */

/*
 * Called each time an attempt found nothing to do while pos (IPCX__NONE
 * for none) looked stuck: every IPCX__STUCK_CHECK attempts at the same
 * position, the peer holding it is checked and reaped when dead.
 */
static void ipcx__note_stuck(struct ipcx__shmq *q, uint64_t pos, uint64_t *last,
			     unsigned *count)
{
	if (pos == IPCX__NONE)
		return;
	if (pos != *last) {
		*last = pos;
		*count = 0;
	}
	if (++*count % IPCX__STUCK_CHECK == 0)
		ipcx__shmq_reap_dead(q, pos);
}

/*
 * One step of waiting after a failed attempt: spin, or sleep on the futex
 * once the attempt (retried after announcing ourselves) still fails.
 * Returns 0 to try again, a result of attempt, or the timeout error.
 */
struct ipcx__waiter {
	unsigned which;
	unsigned spins;
	unsigned spin_limit;
	bool slept;
	bool slept_long; /* a sleep of IPCX__SHORT_SLEEP_NS or more */
	unsigned stuck_count;
	uint64_t stuck_last;
	struct ipcx__deadline d;
};

static int ipcx__wait_step(struct ipcx__shmq *q, struct ipcx__waiter *w, uint64_t stuck)
{
	ipcx__note_stuck(q, stuck, &w->stuck_last, &w->stuck_count);
	if (w->spins < w->spin_limit) {
		w->spins++;
		ipcx__cpu_relax();
		return 0;
	}
	return 1;
}

static int ipcx__sleep(struct ipcx__shmq *q, struct ipcx__waiter *w, uint32_t seq, bool stuck)
{
	int64_t now = ipcx__now_ns();
	if (now >= w->d.at_ns) {
		ipcx__shmq_wait_cancel(q, w->which);
		return ipcx__deadline_err(w->d);
	}
	int64_t until = w->d.at_ns;
	if (stuck && until - now > IPCX__SLICE_NS)
		until = now + IPCX__SLICE_NS;
	ipcx__shmq_wait_sleep(q, w->which, seq, until);
	w->spins = 0;
	w->slept = true;
	if (ipcx__now_ns() - now >= IPCX__SHORT_SLEEP_NS)
		w->slept_long = true;
	return 0;
}

/* ---- the release cursor ---------------------------------------------- */

/* The position after the free record or pad at r, or IPCX__NONE when r holds something live. */
static int ipcx__free_next(struct ipcx__shmq *q, uint64_t r, uint64_t *next)
{
	const struct ipcx__shm_map *m = q->map;
	struct ipcx__shm_rec *rec = ipcx__shmq_rec(m, r);
	*next = IPCX__NONE;
	if (!rec) {
		*next = r + ipcx__shmq_room(m, r);
		return 0;
	}
	uint64_t st = atomic_load(&rec->state);
	unsigned stage = ipcx__st_stage(st);
	if (!ipcx__st_is_at(st, r) || (stage != IPCX__ST_RELEASED && stage != IPCX__ST_PAD))
		return 0;
	uint64_t span = atomic_load_explicit(&rec->span, memory_order_relaxed);
	if (ipcx__shmq_span_ok(m, r, span)) {
		*next = r + span;
		return 0;
	}
	/* A span read after rel moved on may belong to a newer record. */
	return atomic_load(&q->hdr->rel) == r ? ipcx__shmq_corrupt(r, "bad record span") : 0;
}

/*
 * Is pos below the tail? The tail only grows, so a position below a tail
 * we saw is below the real one: *t starts as the receive path's cached
 * tail, and the shared tail, which every send writes, is read only when
 * *t cannot answer. What we read is not stored back into the cache, so
 * that the receive path learns of new reservations only when it runs dry,
 * as before: learning of one here would send the receiver to a record
 * the sender may still be writing (the version that stored it back was
 * slower one to one in some runs, docs/shm.md "Performance").
 */
static bool ipcx__below_tail(struct ipcx__shmq *q, uint64_t pos, uint64_t *t)
{
	if (pos < *t)
		return true;
	/* Acquire, pairing with a one-to-one sender's release of the tail: the records below it are written. */
	*t = atomic_load_explicit(&q->hdr->tail, memory_order_acquire);
	return pos < *t;
}

int ipcx__shmq_advance_rel(struct ipcx__shmq *q)
{
	struct ipcx__shm_hdr *h = q->hdr;
	if (!q->map->ring)
		return 0; /* the master of an mpsc queue: its lanes hold the records */
	bool moved = false;
	uint64_t t = q->tail_cache;
	for (uint64_t n = 0; n <= q->map->ring_size / 8; n++) {
		uint64_t r = atomic_load(&h->rel);
		if (!ipcx__below_tail(q, r, &t))
			break;
		uint64_t next;
		int rc = ipcx__free_next(q, r, &next);
		if (rc < 0)
			return rc;
		if (next == IPCX__NONE)
			break;
		if (!ipcx__below_tail(q, next - 1, &t))
			return ipcx__shmq_corrupt(r, "record runs past the tail");
		if (atomic_compare_exchange_strong(&h->rel, &r, next))
			moved = true;
	}
	if (!moved)
		return 0;
	if (q->map->flags & IPCX__SHM_UNBOUNDED)
		ipcx__shmq_trim(q);
	ipcx__shmq_notify(q->map, IPCX__WAIT_SEND);
	return 0;
}

/* Marks the claimed record at pos released and gives its room back. */
/*
 * Is this handle the only peer that changes a committed record's state: the
 * receiver of a one-to-one queue, where no sender retracts (no rendezvous)?
 * Then a claim is a plain store, not a compare-and-swap, and a release
 * needs no full fence (no other receiver moves rel).
 */
static bool ipcx__sole_receiver(const struct ipcx__shmq *q)
{
	return ipcx__one_to_one(q) && !(q->map->flags & IPCX__SHM_RENDEZVOUS);
}

/*
 * Marks the claimed record at pos released. The walk that gives its room
 * to senders waits until a batch of bytes (ipcx__shmq_batch) lies between
 * rel and the end of the record, or the receiver runs dry or leaves
 * (ipcx__shmq_publish), so that the rel cache line moves once a batch, not
 * once a message; but not while a sender sleeps for room. The release is published before the
 * waiter count is read, as any publish (futex.c): either the receiver sees
 * the sleeper, or the sleeper's own walk before it sleeps sees the record
 * released. A sender that gives up or sleeps walks first (ipcx__try_reserve).
 */
static int ipcx__release_rec(struct ipcx__shmq *q, uint64_t pos, unsigned ci)
{
	struct ipcx__shm_rec *rec = ipcx__shmq_rec(q->map, pos);
	uint64_t span = atomic_load_explicit(&rec->span, memory_order_relaxed);
	atomic_store_explicit(&rec->state, ipcx__st(pos, 0, IPCX__ST_RELEASED),
			      ipcx__sole_receiver(q) ? memory_order_release : memory_order_seq_cst);
	atomic_store_explicit(&q->me->claim[ci], 0, memory_order_relaxed);
	uint64_t rel = atomic_load_explicit(&q->hdr->rel, memory_order_relaxed);
	if (pos + span - rel < ipcx__shmq_batch(q->map) &&
	    !ipcx__shmq_waiting(q->map, IPCX__WAIT_SEND)) {
		q->walk_owed = true;
		return 0;
	}
	q->walk_owed = false;
	return ipcx__shmq_advance_rel(q);
}

/* ---- sending --------------------------------------------------------- */

/* Bytes to reserve at t for a record of span: the rest of the ring first when it does not fit. */
static uint64_t ipcx__need(const struct ipcx__shm_map *m, uint64_t t, uint64_t span)
{
	uint64_t room = ipcx__shmq_room(m, t);
	return room < span ? room + span : span;
}

/*
 * Is there room for need bytes at t? Refreshes the cached release cursor
 * when the cached one says no. Sets *stuck to rel when the queue is full.
 */
static int ipcx__has_room(struct ipcx__shmq *q, uint64_t t, uint64_t need, uint64_t *stuck)
{
	const struct ipcx__shm_map *m = q->map;
	if (t - q->rel_cache <= m->cap - need)
		return 1;
	q->rel_cache = atomic_load_explicit(&q->hdr->rel, memory_order_acquire);
	if (q->rel_cache > t)
		return atomic_load_explicit(&q->hdr->tail, memory_order_acquire) < q->rel_cache
			       ? ipcx__shmq_corrupt(t, "release cursor ahead of the tail")
			       : 0;
	if (t - q->rel_cache <= m->cap - need)
		return 1;
	*stuck = q->rel_cache;
	return 0;
}

/* An unbounded queue never waits for room: full is its address-space reservation spent. */
static int ipcx__unbounded_full(const struct ipcx__shm_map *m)
{
	return ipcx__fail(-ENOMEM,
			  "the unbounded queue holds %llu MiB, all its ring of %llu MiB of address space may hold",
			  (unsigned long long)(m->cap >> 20), (unsigned long long)(m->ring_size >> 20));
}

/*
 * One attempt to reserve span bytes: 1 with [*start, *end) ours, 0 when
 * there is no room (or another sender won the race), or -EPROTO. The last
 * attempt before the sender gives up or sleeps walks the release cursor
 * itself over what receivers released (ipcx__release_rec).
 */
static int ipcx__try_reserve(struct ipcx__shmq *q, uint64_t span, bool last, uint64_t *start,
			     uint64_t *end, uint64_t *stuck)
{
	struct ipcx__shm_hdr *h = q->hdr;
	int lease = ipcx__one_to_one(q) ? 1 : ipcx__shmq_lease_check(q, IPCX_SEND);
	if (lease < 0) {
		*stuck = IPCX__LEASE_WAIT; /* another sender holds the lease: wait for it to go */
		return 0;
	}
	uint64_t t = atomic_load_explicit(&h->tail, memory_order_acquire);
	uint64_t need = ipcx__need(q->map, t, span);
	int rc = ipcx__has_room(q, t, need, stuck);
	if (rc == 0 && ipcx__broadcast(q)) {
		rc = ipcx__shmq_bc_reclaim(q, t + need - q->map->cap, stuck);
		if (rc == 0)
			rc = ipcx__has_room(q, t, need, stuck);
	} else if (rc == 0 && last) {
		/* Before giving up or sleeping: the room receivers released but have not yet given. */
		rc = ipcx__shmq_advance_rel(q);
		if (rc == 0)
			rc = ipcx__has_room(q, t, need, stuck);
		if (rc == 0 && (q->map->flags & IPCX__SHM_UNBOUNDED))
			return ipcx__unbounded_full(q->map);
	}
	/* An unbounded ring is backed before it is reserved: a reaper may pad what we reserve. */
	if (rc > 0 && (q->map->flags & IPCX__SHM_UNBOUNDED))
		rc = ipcx__shmq_grow(q, t + need, stuck);
	if (rc <= 0)
		return rc;
	*start = t;
	*end = t + need;
	/* The intent is visible before the reservation: a survivor of our death finds it. */
	atomic_store_explicit(&q->me->res_start, t, memory_order_relaxed);
	atomic_store_explicit(&q->me->res_end, t + need, memory_order_relaxed);
	if (lease > 0) { /* the only sender: nobody races for the tail */
		atomic_store_explicit(&h->tail, t + need, memory_order_release);
		return 1;
	}
	if (atomic_compare_exchange_strong(&h->tail, &t, t + need))
		return 1;
	atomic_store_explicit(&q->me->res_end, 0, memory_order_relaxed);
	return 0;
}

static int ipcx__reserve_wait(struct ipcx__shmq *q, uint64_t span, struct ipcx__waiter *w,
			      uint64_t *start, uint64_t *end)
{
	struct ipcx__deadline d = w->d;
	for (;;) {
		uint64_t stuck = IPCX__NONE;
		bool giving_up = d.timeout_ms == 0 && !d.first_try;
		int rc = ipcx__try_reserve(q, span, giving_up, start, end, &stuck);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		if (stuck == IPCX__NONE)
			continue; /* lost a race with another sender: not a wait */
		if (d.first_try)
			return -EAGAIN; /* the call that may wait walks and waits */
		if (d.timeout_ms == 0) {
			/* A lease holder inside a send is out in a moment: timeout 0 still waits for that. */
			if (stuck == IPCX__LEASE_WAIT && ++w->spins < IPCX__SPINS) {
				ipcx__cpu_relax();
				continue;
			}
			return -EAGAIN;
		}
		if (!ipcx__wait_step(q, w, stuck))
			continue;
		uint32_t seq = ipcx__shmq_wait_prepare(q, w->which);
		stuck = IPCX__NONE;
		rc = ipcx__try_reserve(q, span, true, start, end, &stuck);
		if (rc != 0) {
			ipcx__shmq_wait_cancel(q, w->which);
			return rc < 0 ? rc : 0;
		}
		rc = ipcx__sleep(q, w, seq, true);
		if (rc < 0)
			return rc;
	}
}

/*
 * A wait ended: one met while spinning lets the next wait of its kind
 * spin twice as long (up to IPCX__SPINS_MAX), one that had to sleep long
 * halves it (down to IPCX__SPINS). A peer that outruns a busy one then
 * spins through the other's batches instead of sleeping and being woken
 * for each (a wake-up costs both sides system calls, and a sleep a
 * barrier on every CPU, futex.c); one facing a peer that stays away soon
 * sleeps at once again. Only short sleeps let it spin twice as long too,
 * up to IPCX__SPINS_SHORT_MAX: a wait a little longer than the spin (the
 * answer to a large message, which takes tens of microseconds to copy)
 * is then met spinning, not by a wake-up that costs as much again: a
 * 1 MiB round trip on the 2-CPU VM took 145 us, now 77-80 us, as the
 * hand-written ring's (docs/shm.md).
 */
static void ipcx__waited(unsigned *budget, const struct ipcx__waiter *w)
{
	if (w->slept_long)
		*budget = *budget / 2 > IPCX__SPINS ? *budget / 2 : IPCX__SPINS;
	else if (w->slept && *budget < IPCX__SPINS_SHORT_MAX)
		*budget *= 2;
	else if (!w->slept && w->spins && *budget < IPCX__SPINS_MAX)
		*budget *= 2;
}

/* A waiter for which, spinning as long as budget says. */
static struct ipcx__waiter ipcx__waiter_for(unsigned which, unsigned *budget,
					    struct ipcx__deadline d)
{
	if (*budget < IPCX__SPINS)
		*budget = IPCX__SPINS;
	return (struct ipcx__waiter){
	    .which = which, .spin_limit = *budget, .stuck_last = IPCX__NONE, .d = d};
}

static int ipcx__reserve(struct ipcx__shmq *q, uint64_t span, struct ipcx__deadline d,
			 uint64_t *start, uint64_t *end)
{
	struct ipcx__waiter w = ipcx__waiter_for(IPCX__WAIT_SEND, &q->room_spins, d);
	ipcx__shmq_lease_enter(q, IPCX_SEND);
	int rc = ipcx__reserve_wait(q, span, &w, start, end);
	ipcx__shmq_lease_leave(q, IPCX_SEND);
	ipcx__waited(&q->room_spins, &w);
	return rc;
}
static void ipcx__write_pad(const struct ipcx__shm_map *m, uint64_t pos, uint64_t span)
{
	struct ipcx__shm_rec *rec = ipcx__shmq_rec(m, pos);
	if (!rec)
		return; /* too close to the end for a header: every peer skips it */
	atomic_store_explicit(&rec->type, 0, memory_order_relaxed);
	atomic_store_explicit(&rec->len, 0, memory_order_relaxed);
	atomic_store_explicit(&rec->span, (uint32_t)span, memory_order_relaxed);
	atomic_store_explicit(&rec->state, ipcx__st(pos, 0, IPCX__ST_PAD), memory_order_release);
}

/* The record of span bytes that ends the reservation [start, end); the pad before it is written. */
static struct ipcx__shm_rec *ipcx__place(struct ipcx__shmq *q, uint64_t start, uint64_t end,
					 uint64_t span)
{
	if (end - start > span)
		ipcx__write_pad(q->map, start, end - start - span);
	return ipcx__shmq_rec(q->map, end - span);
}

/* Publishes the record at end - span, written in full, and wakes receivers. */
static void ipcx__publish(struct ipcx__shmq *q, struct ipcx__shm_rec *rec, uint64_t end,
			  uint64_t span, size_t len, long type)
{
	atomic_store_explicit(&rec->type, type, memory_order_relaxed);
	atomic_store_explicit(&rec->len, (uint32_t)len, memory_order_relaxed);
	atomic_store_explicit(&rec->span, (uint32_t)span, memory_order_relaxed);
	atomic_store_explicit(&rec->state, ipcx__st(end - span, 0, IPCX__ST_COMMITTED),
			      memory_order_release);
	atomic_store_explicit(&q->me->res_end, 0, memory_order_release);
	ipcx__count_sent(q, len);
	ipcx__shmq_notify(q->map, IPCX__WAIT_RECV);
}

/* Has a receiver taken (claimed) the record we committed at pos? */
static bool ipcx__taken(struct ipcx__shmq *q, uint64_t pos)
{
	uint64_t st = atomic_load(&ipcx__shmq_rec(q->map, pos)->state);
	return !ipcx__st_is_at(st, pos) || ipcx__st_stage(st) != IPCX__ST_COMMITTED;
}

/*
 * Takes back the message committed at pos that no receiver took before the
 * deadline: it becomes a pad, unless a receiver claims it in the meantime.
 * Returns err, or 0 when a receiver won.
 */
static int ipcx__retract(struct ipcx__shmq *q, uint64_t pos, int err)
{
	uint64_t st = ipcx__st(pos, 0, IPCX__ST_COMMITTED);
	if (!atomic_compare_exchange_strong(&ipcx__shmq_rec(q->map, pos)->state, &st,
					    ipcx__st(pos, 0, IPCX__ST_PAD)))
		return 0;
	int rc = ipcx__shmq_advance_rel(q);
	return rc < 0 ? rc : err;
}

/* Rendezvous (cap=0): waits until a receiver takes the message at pos, or retracts it. */
static int ipcx__await_taken(struct ipcx__shmq *q, uint64_t pos, struct ipcx__deadline d)
{
	struct ipcx__waiter w = {
	    .which = IPCX__WAIT_SEND, .spin_limit = IPCX__SPINS, .stuck_last = IPCX__NONE, .d = d};
	for (;;) {
		if (ipcx__taken(q, pos))
			return 0;
		if (!ipcx__wait_step(q, &w, IPCX__NONE))
			continue;
		uint32_t seq = ipcx__shmq_wait_prepare(q, w.which);
		if (ipcx__taken(q, pos)) {
			ipcx__shmq_wait_cancel(q, w.which);
			return 0;
		}
		int rc = ipcx__sleep(q, &w, seq, false);
		if (rc < 0)
			return ipcx__retract(q, pos, rc);
	}
}

int ipcx__shmq_send(struct ipcx__shmq *q, const void *data, size_t len, long type,
		    struct ipcx__deadline d)
{
	if (q->loan_send)
		return ipcx__fail(-EBUSY, "commit the loaned message before sending another");
	uint64_t span = ipcx__shm_span(len), start, end;
	int rc = ipcx__reserve(q, span, d, &start, &end);
	if (rc < 0)
		return rc;
	struct ipcx__shm_rec *rec = ipcx__place(q, start, end, span);
	memcpy(ipcx__shmq_payload(rec), data, len);
	ipcx__publish(q, rec, end, span, len, type);
	if (q->map->flags & IPCX__SHM_RENDEZVOUS)
		return ipcx__await_taken(q, end - span, d);
	return 0;
}

int ipcx__shmq_loan(struct ipcx__shmq *q, size_t len, void **out, struct ipcx__deadline d)
{
	if (q->loan_send)
		return ipcx__fail(-EBUSY, "a loaned message is already waiting for its commit");
	uint64_t span = ipcx__shm_span(len), start, end;
	int rc = ipcx__reserve(q, span, d, &start, &end);
	if (rc < 0)
		return rc;
	*out = ipcx__shmq_payload(ipcx__place(q, start, end, span));
	q->loan_send = end - span + 1;
	q->loan_send_end = end;
	q->loan_send_len = len;
	return 0;
}

int ipcx__shmq_commit(struct ipcx__shmq *q, size_t len, long type)
{
	if (!q->loan_send)
		return ipcx__fail(-EINVAL, "commit without a loaned message");
	uint64_t pos = q->loan_send - 1, span = q->loan_send_end - pos;
	if (len > q->loan_send_len)
		return ipcx__fail(-EMSGSIZE, "commit of %zu bytes into a loan of %zu", len,
				  q->loan_send_len);
	q->loan_send = 0;
	ipcx__publish(q, ipcx__shmq_rec(q->map, pos), q->loan_send_end, span, len, type);
	return 0;
}

/* ---- receiving ------------------------------------------------------- */

/* The oldest position that may hold a message: head, or rel when a typed receive moved rel past it. */
static uint64_t ipcx__head(struct ipcx__shmq *q, uint64_t *seen)
{
	*seen = atomic_load_explicit(&q->hdr->head, memory_order_acquire);
	uint64_t r = atomic_load_explicit(&q->hdr->rel, memory_order_acquire);
	return r > *seen ? r : *seen;
}

/* Moves the head hint from seen to to; losing the race to another receiver is fine. */
static void ipcx__head_to(struct ipcx__shmq *q, uint64_t seen, uint64_t to)
{
	if (ipcx__one_to_one(q))
		atomic_store_explicit(&q->hdr->head, to, memory_order_release);
	else
		atomic_compare_exchange_strong(&q->hdr->head, &seen, to);
}

/*
 * Claims the committed record at pos whose state is st for us, slot claim
 * ci, after checking its header. 1 when claimed (c filled), 0 when another
 * receiver took it first or it changed, -EMSGSIZE when it is larger than
 * size, -EPROTO.
 */
static int ipcx__claim_at(struct ipcx__shmq *q, struct ipcx__shm_rec *rec, uint64_t pos,
			  uint64_t st, size_t size, unsigned ci, struct ipcx__claim *c)
{
	/* Acquire loads: the re-check of the state below cannot move before them. */
	uint32_t len = atomic_load_explicit(&rec->len, memory_order_acquire);
	int64_t type = atomic_load_explicit(&rec->type, memory_order_acquire);
	uint32_t span = atomic_load_explicit(&rec->span, memory_order_acquire);
	/*
	 * Once rel has passed pos the place may hold a newer record, whose
	 * bytes (a payload ending inside our old state word, over stale bytes)
	 * can even look like our state: nothing read here counts.
	 */
	if (atomic_load(&q->hdr->rel) > pos)
		return 0;
	bool ok = len <= q->map->max_msg && ipcx__shm_span(len) <= span && type >= 1 &&
		  type <= LONG_MAX && ipcx__shmq_span_ok(q->map, pos, span);
	if (!ok || len > size) {
		/* Only a record still committed at pos makes what we read meaningful. */
		if (atomic_load_explicit(&rec->state, memory_order_relaxed) != st)
			return 0;
		if (!ok)
			return ipcx__shmq_corrupt(pos, "bad message header");
		return ipcx__fail(-EMSGSIZE, "message of %u bytes does not fit a buffer of %zu",
				  len, size);
	}
	atomic_store_explicit(&q->me->claim[ci], pos + 1, memory_order_relaxed);
	uint64_t claimed = ipcx__st(pos, q->slot, IPCX__ST_CLAIMED);
	if (ipcx__sole_receiver(q))
		atomic_store_explicit(&rec->state, claimed, memory_order_release);
	else if (!atomic_compare_exchange_strong(&rec->state, &st, claimed))
		return 0;
	if (q->map->flags & IPCX__SHM_RENDEZVOUS)
		ipcx__shmq_notify(q->map, IPCX__WAIT_SEND); /* the sender waits for this claim */
	*c = (struct ipcx__claim){.pos = pos, .len = len, .span = span, .type = (long)type};
	return 1;
}

/* ---- looking at the head --------------------------------------------- */

bool ipcx__shmq_below_tail(struct ipcx__shmq *q, uint64_t pos)
{
	if (pos < q->tail_cache)
		return true;
	if (q->spinning)
		return false; /* the tail's line stays with the senders, who move it */
	q->tail_cache = atomic_load_explicit(&q->hdr->tail, memory_order_acquire);
	return pos < q->tail_cache;
}

/*
 * The state of the record rec at pos, 0 for none. A receiver looks at the
 * record before the tail: a record's state, stamped with its position, says
 * by itself whether it was committed there, so a receiver that keeps up
 * waits on the record's cache line alone, not on the tail's and then the
 * record's. Past the tail of an unbounded ring the page may not be backed
 * (grow.c), so there the tail comes first.
 */
static uint64_t ipcx__state_at(struct ipcx__shmq *q, struct ipcx__shm_rec *rec, uint64_t pos)
{
	if (!rec || ((q->map->flags & IPCX__SHM_UNBOUNDED) && !ipcx__shmq_below_tail(q, pos)))
		return 0;
	return atomic_load_explicit(&rec->state, memory_order_acquire);
}

/*
 * One attempt at the oldest message. 1 with c filled, -EAGAIN when there is
 * none (with *stuck set when an unfinished record blocks the head), or an
 * error.
 */
static int ipcx__claim_head(struct ipcx__shmq *q, size_t size, unsigned ci,
			    struct ipcx__claim *c, uint64_t *stuck)
{
	const struct ipcx__shm_map *m = q->map;
	for (uint64_t n = 0; n <= m->ring_size / 8; n++) {
		uint64_t seen, h = ipcx__head(q, &seen);
		struct ipcx__shm_rec *rec = ipcx__shmq_rec(m, h);
		uint64_t st = ipcx__state_at(q, rec, h);
		if (!rec || !ipcx__st_is_at(st, h)) {
			if (!ipcx__shmq_below_tail(q, h))
				return -EAGAIN;
			if (!rec) {
				ipcx__head_to(q, seen, h + ipcx__shmq_room(m, h));
				continue;
			}
			*stuck = h; /* reserved, not yet committed */
			return -EAGAIN;
		}
		if (ipcx__st_stage(st) == IPCX__ST_COMMITTED) {
			int rc = ipcx__claim_at(q, rec, h, st, size, ci, c);
			if (rc == 0)
				continue;
			if (rc > 0)
				ipcx__head_to(q, seen, h + c->span);
			return rc;
		}
		uint32_t span = atomic_load_explicit(&rec->span, memory_order_acquire);
		/*
		 * A released record's place may be recycled as soon as rel passes
		 * it; the span we read then may be a newer record's, and moving
		 * the head by it would land between records: look again.
		 */
		if (atomic_load(&q->hdr->rel) > h)
			continue;
		if (!ipcx__shmq_span_ok(m, h, span) || !ipcx__stage_ok(st)) {
			if (atomic_load_explicit(&rec->state, memory_order_acquire) == st)
				return ipcx__shmq_corrupt(h, "bad record");
			continue;
		}
		ipcx__head_to(q, seen, h + span);
	}
	return ipcx__shmq_corrupt(0, "endless chain of records");
}

/* ---- the sole receiver ------------------------------------------------ */

/*
 * The receiver of a one-to-one queue without rendezvous is the only peer
 * that changes a committed record, and so is the receiver of a queue that
 * holds the sole-receiver lease (lease.c): a plain receive (selector 0,
 * no receive loan held) takes a shorter path: it claims nothing, copies the
 * message out, marks the record released, and tells senders about the
 * room it freed (the head and release cursors) only once a batch of bytes
 * (ipcx__shmq_batch) is free, when a sender sleeps for room, when it runs
 * dry, or when it leaves, like any receiver (ipcx__release_rec). What lies between rel
 * and its position is released records, which every walk skips: a
 * receiver killed before it published leaves nothing to be read twice.
 * A receiver killed while copying leaves the message committed, for the
 * next receiver.
 */
/* Moves the shared cursor c up to pos, never back: a reaper may have moved rel over a pad beyond it. */
static void ipcx__move_up(_Atomic uint64_t *c, uint64_t pos)
{
	uint64_t v = atomic_load_explicit(c, memory_order_relaxed);
	while (v < pos && !atomic_compare_exchange_weak_explicit(c, &v, pos, memory_order_release,
								  memory_order_relaxed))
		;
}

void ipcx__shmq_publish(struct ipcx__shmq *q)
{
	if (q->walk_owed) {
		q->walk_owed = false;
		ipcx__shmq_advance_rel(q);
	}
	uint64_t pos = q->sole_pos;
	if (pos == q->sole_pub)
		return;
	ipcx__move_up(&q->hdr->head, pos);
	ipcx__move_up(&q->hdr->rel, pos);
	q->sole_pub = pos;
	if (q->map->flags & IPCX__SHM_UNBOUNDED)
		ipcx__shmq_trim(q);
	ipcx__shmq_notify(q->map, IPCX__WAIT_SEND);
}

/* The sole receiver ran dry at pos: it publishes, so that no sender waits on room it freed. */
static int ipcx__sole_dry(struct ipcx__shmq *q, uint64_t pos)
{
	q->sole_pos = pos;
	ipcx__shmq_publish(q);
	return -EAGAIN;
}

/*
 * Gives back the record at pos that the sole receiver took: marks it
 * released and moves past it, telling senders in batches.
 */
static void ipcx__sole_done(struct ipcx__shmq *q, struct ipcx__shm_rec *rec, uint64_t pos,
			    uint64_t span)
{
	atomic_store_explicit(&rec->state, ipcx__st(pos, 0, IPCX__ST_RELEASED),
			      memory_order_release);
	q->sole_pos = pos + span;
	if (q->sole_pos - q->sole_pub >= ipcx__shmq_batch(q->map) ||
	    ipcx__shmq_waiting(q->map, IPCX__WAIT_SEND))
		ipcx__shmq_publish(q);
}

/*
 * Takes the committed record at pos: copies it out to buf and gives it
 * back, or, for a receive loan (buf NULL), marks it claimed by slot claim
 * ci, as any receiver's claim, so that a receiver taking the lease over
 * skips it and a reaper releases it if we die holding it. The loan's
 * release gives it back (ipcx__shmq_release); until then the position
 * stays on it, so that nothing published passes it.
 */
static int ipcx__sole_take_at(struct ipcx__shmq *q, struct ipcx__shm_rec *rec, uint64_t pos,
			      uint64_t span, void *buf, size_t size, unsigned ci,
			      struct ipcx__claim *c)
{
	uint32_t len = atomic_load_explicit(&rec->len, memory_order_relaxed);
	int64_t type = atomic_load_explicit(&rec->type, memory_order_relaxed);
	if (len > q->map->max_msg || ipcx__shm_span(len) > span || type < 1 || type > LONG_MAX)
		return ipcx__shmq_corrupt(pos, "bad message header");
	if (len > size)
		return ipcx__fail(-EMSGSIZE, "message of %u bytes does not fit a buffer of %zu",
				  len, size);
	*c = (struct ipcx__claim){
	    .pos = pos, .len = len, .span = (uint32_t)span, .type = (long)type, .copied = buf != NULL};
	if (!buf) {
		atomic_store_explicit(&q->me->claim[ci], pos + 1, memory_order_relaxed);
		atomic_store_explicit(&rec->state, ipcx__st(pos, q->slot, IPCX__ST_CLAIMED),
				      memory_order_release);
		q->sole_pos = pos;
		q->loan_sole = true;
		return 1;
	}
	/*
	 * Records known to be written lie ahead (below the tail last read):
	 * fetch a few lines early. Many senders to one receiver, 8 -> 1 on 16
	 * cores, in paired runs: 15-21 M msg/s with it, 13-17 M without.
	 */
	if (pos + span + IPCX__PREFETCH_AHEAD < q->tail_cache)
		__builtin_prefetch(q->map->ring + ((pos + span + IPCX__PREFETCH_AHEAD) & q->map->mask));
	memcpy(buf, ipcx__shmq_payload(rec), len);
	ipcx__sole_done(q, rec, pos, span);
	return 1;
}

/*
 * One attempt of the sole receiver: 1 with the next message copied into
 * buf (or, buf NULL, lent from slot claim ci) and c filled, -EAGAIN when
 * there is none (*stuck set when a record it cannot read is next),
 * -EMSGSIZE (the message stays next), -EPROTO.
 */
static int ipcx__sole_take(struct ipcx__shmq *q, void *buf, size_t size, unsigned ci,
			   struct ipcx__claim *c, uint64_t *stuck)
{
	const struct ipcx__shm_map *m = q->map;
	uint64_t seen, h = ipcx__head(q, &seen);
	if (q->sole_pos > h)
		h = q->sole_pos;
	for (uint64_t n = 0; n <= m->ring_size / 8; n++) {
		struct ipcx__shm_rec *rec = ipcx__shmq_rec(m, h);
		uint64_t st = ipcx__state_at(q, rec, h);
		if (!rec || !ipcx__st_is_at(st, h)) {
			if (!ipcx__shmq_below_tail(q, h))
				return ipcx__sole_dry(q, h);
			if (!rec) {
				h += ipcx__shmq_room(m, h);
				continue;
			}
		}
		unsigned stage = ipcx__st_stage(st);
		if (!ipcx__st_is_at(st, h) || stage == IPCX__ST_CLAIMED) {
			*stuck = h; /* a claim of a receiver that died, until it is reaped */
			return ipcx__sole_dry(q, h);
		}
		uint64_t span = atomic_load_explicit(&rec->span, memory_order_relaxed);
		if (!ipcx__stage_ok(st) || !ipcx__shmq_span_ok(m, h, span))
			return ipcx__shmq_corrupt(h, "bad record");
		if (stage == IPCX__ST_COMMITTED)
			return ipcx__sole_take_at(q, rec, h, span, buf, size, ci, c);
		h += span;
	}
	return ipcx__shmq_corrupt(h, "endless chain of records");
}

/* Does a message of type match selector < 0 better than the best so far? */
static bool ipcx__better(long selector, long type, long best)
{
	unsigned long limit = (unsigned long)(-(selector + 1)) + 1;
	return (unsigned long)type <= limit && (best == 0 || type < best);
}

int ipcx__shmq_scan_typed(struct ipcx__shmq *q, uint64_t from, long selector,
			  struct ipcx__scan *found, uint64_t *stuck)
{
	const struct ipcx__shm_map *m = q->map;
	uint64_t p = from;
	uint64_t t = atomic_load_explicit(&q->hdr->tail, memory_order_acquire);
	found->type = 0;
	for (uint64_t n = 0; p < t; n++) {
		if (n > m->ring_size / 8)
			return ipcx__shmq_corrupt(p, "endless chain of records");
		if (p > UINT64_MAX - m->ring_size)
			return ipcx__shmq_corrupt(p, "position at the end of the numbers");
		struct ipcx__shm_rec *rec = ipcx__shmq_rec(m, p);
		if (!rec) {
			p += ipcx__shmq_room(m, p);
			continue;
		}
		uint64_t st = atomic_load_explicit(&rec->state, memory_order_acquire);
		if (!ipcx__st_is_at(st, p)) {
			*stuck = p;
			break;
		}
		uint32_t span = atomic_load_explicit(&rec->span, memory_order_acquire);
		long type = (long)atomic_load_explicit(&rec->type, memory_order_acquire);
		if (atomic_load_explicit(&q->hdr->rel, memory_order_relaxed) > p)
			return -EAGAIN; /* what we read may be a newer record's */
		if (!ipcx__shmq_span_ok(m, p, span) || !ipcx__stage_ok(st))
			return ipcx__shmq_corrupt(p, "bad record");
		if (ipcx__st_stage(st) == IPCX__ST_COMMITTED &&
		    !((q->ntaken || q->ntypes) && ipcx__shmq_bc_skips(q, p, type))) {
			bool take = selector > 0 ? type == selector
						 : ipcx__better(selector, type, found->type);
			if (take) {
				*found = (struct ipcx__scan){.pos = p, .st = st, .type = type};
				if (selector > 0 || type == 1)
					break;
			}
		}
		p += span;
	}
	return found->type != 0;
}

long ipcx__shmq_peek_type(struct ipcx__shmq *q, long selector)
{
	for (;;) {
		struct ipcx__scan f = {0};
		uint64_t stuck = IPCX__NONE;
		uint64_t seen;
		int rc = ipcx__shmq_scan_typed(q, ipcx__head(q, &seen), selector, &f, &stuck);
		if (rc != -EAGAIN)
			return rc < 0 ? rc : rc ? f.type : 0;
	}
}

static int ipcx__claim_typed(struct ipcx__shmq *q, size_t size, long selector, unsigned ci,
			     struct ipcx__claim *c, uint64_t *stuck)
{
	for (;;) {
		struct ipcx__scan f = {0};
		*stuck = IPCX__NONE;
		uint64_t seen;
		int rc = ipcx__shmq_scan_typed(q, ipcx__head(q, &seen), selector, &f, stuck);
		if (rc == 0)
			return -EAGAIN;
		if (rc == -EAGAIN)
			continue; /* others made progress; walk again */
		if (rc < 0)
			return rc;
		rc = ipcx__claim_at(q, ipcx__shmq_rec(q->map, f.pos), f.pos, f.st, size, ci, c);
		if (rc != 0)
			return rc;
	}
}

/*
 * Before a claiming receiver of an unbounded queue reads record headers
 * from the head on, where other receivers may move rel past them while it
 * reads, it publishes where it starts, then loads rel, both sequentially
 * consistent: a trim, which loads rel and then the positions the same way,
 * either sees ours and leaves its chunk backed, or loaded rel before we
 * do, so that our walk (from a head or rel no lower than that load) starts
 * past what it punches (grow.c, ipcx__trim_hazards). Reading a punched
 * page would back it again, or raise SIGBUS when /dev/shm is full. The
 * sole receiver needs none: nobody moves rel past it while it receives.
 */
static void ipcx__hazard_set(struct ipcx__shmq *q)
{
	uint64_t seen;
	atomic_exchange(&q->me->reading, ipcx__head(q, &seen) + 1);
	(void)atomic_load(&q->hdr->rel);
}

/*
 * One attempt at the message selector picks: 1 with c filled, -EAGAIN when
 * none, or an error. A broadcast subscriber claims nothing: its next
 * message is copied into buf at once, or lent.
 */
static int ipcx__claim_once(struct ipcx__shmq *q, void *buf, size_t size, long selector,
			    unsigned ci, struct ipcx__claim *c, uint64_t *stuck)
{
	*stuck = IPCX__NONE;
	if (ipcx__broadcast(q)) {
		struct ipcx__shmq_msg msg;
		int rc = ipcx__shmq_bc_take(q, buf, size, selector, &msg, stuck);
		*c = (struct ipcx__claim){
		    .pos = msg.pos, .len = msg.len, .span = msg.span, .type = msg.type,
		    .copied = buf != NULL};
		return rc;
	}
	int lease = ipcx__sole_receiver(q) ? 1 : ipcx__shmq_lease_check(q, IPCX_RECV);
	if (lease < 0) {
		*stuck = IPCX__LEASE_WAIT; /* sleep in slices: the holder may die */
		return -EAGAIN; /* another receiver holds the lease: wait for it to go */
	}
	if (lease > 0 && selector == 0 && !q->loan_recv)
		return ipcx__sole_take(q, buf, size, ci, c, stuck);
	bool hazard = q->map->flags & IPCX__SHM_UNBOUNDED;
	if (hazard)
		ipcx__hazard_set(q);
	int rc = selector == 0 ? ipcx__claim_head(q, size, ci, c, stuck)
			       : ipcx__claim_typed(q, size, selector, ci, c, stuck);
	if (hazard) /* a claimed record stops rel, and with it the trim */
		atomic_store_explicit(&q->me->reading, 0, memory_order_release);
	if (rc == -EAGAIN)
		ipcx__shmq_publish(q); /* dry: nothing to wait for behind rel */
	return rc;
}

static int ipcx__await_with(struct ipcx__shmq *q, struct ipcx__attempt *a, struct ipcx__waiter *w)
{
	struct ipcx__deadline d = w->d;
	uint64_t seen_stuck = IPCX__NONE;
	for (;;) {
		uint64_t stuck = IPCX__NONE;
		/* Between the thorough looks, spinning looks at the next record only. */
		q->spinning = w->spins % IPCX__THOROUGH_EVERY != 0;
		int rc = a->try_once(a, &stuck);
		if (q->spinning)
			stuck = seen_stuck; /* a light look cannot tell: the last thorough one said */
		else
			seen_stuck = stuck;
		q->spinning = false;
		if (rc != -EAGAIN)
			return rc;
		if (d.first_try)
			return -ENOMSG; /* the call that may wait does the rest */
		if (d.timeout_ms == 0) {
			ipcx__note_stuck(q, stuck, &w->stuck_last, &w->stuck_count);
			if (q->poll_fd < 0)
				return -ENOMSG;
			/* Empty: the caller goes back to poll(2); declare it, then look once more. */
			ipcx__shmq_poll_arm(q);
			rc = a->try_once(a, &stuck);
			return rc == -EAGAIN ? -ENOMSG : rc;
		}
		if (!ipcx__wait_step(q, w, stuck))
			continue;
		uint32_t seq = ipcx__shmq_wait_prepare(q, w->which);
		stuck = IPCX__NONE;
		rc = a->try_once(a, &stuck);
		if (rc != -EAGAIN) {
			ipcx__shmq_wait_cancel(q, w->which);
			return rc;
		}
		rc = ipcx__sleep(q, w, seq, stuck != IPCX__NONE);
		if (rc < 0)
			return rc;
	}
}

int ipcx__shmq_await(struct ipcx__shmq *q, struct ipcx__attempt *a, struct ipcx__deadline d)
{
	struct ipcx__waiter w = ipcx__waiter_for(IPCX__WAIT_RECV, &q->data_spins, d);
	int rc = ipcx__await_with(q, a, &w);
	ipcx__waited(&q->data_spins, &w);
	return rc;
}

/* A claim of the message selector picks, as an attempt of ipcx__shmq_await. */
struct ipcx__claim_attempt {
	struct ipcx__attempt base;
	struct ipcx__shmq *q;
	void *buf;
	size_t size;
	long selector;
	unsigned ci;
	struct ipcx__claim *c;
};

static int ipcx__claim_try(struct ipcx__attempt *a, uint64_t *stuck)
{
	struct ipcx__claim_attempt *t = (struct ipcx__claim_attempt *)a;
	return ipcx__claim_once(t->q, t->buf, t->size, t->selector, t->ci, t->c, stuck);
}

static int ipcx__claim(struct ipcx__shmq *q, void *buf, size_t size, long selector, unsigned ci,
		       struct ipcx__claim *c, struct ipcx__deadline d)
{
	/* A message that is there is taken without setting up a wait. */
	uint64_t stuck;
	int rc = ipcx__claim_once(q, buf, size, selector, ci, c, &stuck);
	if (rc != -EAGAIN)
		return rc;
	struct ipcx__claim_attempt t = {.base = {.try_once = ipcx__claim_try},
					.q = q,
					.buf = buf,
					.size = size,
					.selector = selector,
					.ci = ci,
					.c = c};
	return ipcx__shmq_await(q, &t.base, d);
}

/* Finishes a receive of the message c claimed: copies it out and releases it (unless done). */
static ssize_t ipcx__recv_done(struct ipcx__shmq *q, void *buf, const struct ipcx__claim *c,
			       long *type)
{
	*type = c->type;
	ipcx__count_recv(q, c->len);
	if (c->copied)
		return (ssize_t)c->len;
	memcpy(buf, ipcx__shmq_payload(ipcx__shmq_rec(q->map, c->pos)), c->len);
	int rc = ipcx__release_rec(q, c->pos, 0);
	return rc < 0 ? rc : (ssize_t)c->len;
}

ssize_t ipcx__shmq_recv(struct ipcx__shmq *q, void *buf, size_t size, long selector,
			long *type, struct ipcx__deadline d)
{
	struct ipcx__claim c;
	ipcx__shmq_lease_enter(q, IPCX_RECV);
	int rc = ipcx__claim(q, buf, size, selector, 0, &c, d);
	ssize_t n = rc < 0 ? rc : ipcx__recv_done(q, buf, &c, type);
	ipcx__shmq_lease_leave(q, IPCX_RECV);
	return n;
}

/* Finishes a receive loan of the message c claimed. */
static ssize_t ipcx__loan_done(struct ipcx__shmq *q, const void **out, const struct ipcx__claim *c,
			       long *type)
{
	*out = ipcx__shmq_payload(ipcx__shmq_rec(q->map, c->pos));
	*type = c->type;
	q->loan_recv = c->pos + 1;
	ipcx__count_recv(q, c->len);
	return (ssize_t)c->len;
}

static int ipcx__loan_check(const struct ipcx__shmq *q)
{
	if (q->loan_recv)
		return ipcx__fail(-EBUSY, "release the loaned message before taking another");
	return 0;
}

ssize_t ipcx__shmq_recv_loan(struct ipcx__shmq *q, const void **out, long selector,
			     long *type, struct ipcx__deadline d)
{
	int rc = ipcx__loan_check(q);
	if (rc < 0)
		return rc;
	struct ipcx__claim c;
	ipcx__shmq_lease_enter(q, IPCX_RECV);
	rc = ipcx__claim(q, NULL, SIZE_MAX, selector, 1, &c, d);
	ssize_t n = rc < 0 ? rc : ipcx__loan_done(q, out, &c, type);
	ipcx__shmq_lease_leave(q, IPCX_RECV);
	return n;
}

ssize_t ipcx__shmq_take(struct ipcx__shmq *q, void *buf, size_t size, const void **out,
			long selector, long *type)
{
	int rc = buf ? 0 : ipcx__loan_check(q);
	if (rc < 0)
		return rc;
	struct ipcx__claim c;
	uint64_t stuck;
	ipcx__shmq_lease_enter(q, IPCX_RECV);
	rc = ipcx__claim_once(q, buf, buf ? size : SIZE_MAX, selector, buf ? 0 : 1, &c, &stuck);
	ssize_t n = rc == -EAGAIN ? -ENOMSG
		    : rc < 0      ? rc
		    : buf         ? ipcx__recv_done(q, buf, &c, type)
				  : ipcx__loan_done(q, out, &c, type);
	ipcx__shmq_lease_leave(q, IPCX_RECV);
	return n;
}

/*
 * A loan the sole receiver took is given back as it took it, without a
 * fence, while it still is the sole receiver; a holder that lost the lease
 * since gives it back as any receiver.
 */
int ipcx__shmq_release(struct ipcx__shmq *q)
{
	if (!q->loan_recv)
		return ipcx__fail(-EINVAL, "release without a loaned message");
	uint64_t pos = q->loan_recv - 1;
	bool sole = q->loan_sole;
	q->loan_recv = 0;
	q->loan_sole = false;
	if (ipcx__broadcast(q))
		return ipcx__shmq_bc_release(q, pos);
	if (!sole)
		return ipcx__release_rec(q, pos, 1);
	ipcx__shmq_lease_enter(q, IPCX_RECV);
	int rc = ipcx__sole_receiver(q) ? 1 : ipcx__shmq_lease_check(q, IPCX_RECV);
	if (rc > 0) {
		/* Released before the claim is cleared: a reaper finds one or the other. */
		struct ipcx__shm_rec *rec = ipcx__shmq_rec(q->map, pos);
		ipcx__sole_done(q, rec, pos, atomic_load_explicit(&rec->span, memory_order_relaxed));
		atomic_store_explicit(&q->me->claim[1], 0, memory_order_relaxed);
		rc = 0;
	} else {
		rc = ipcx__release_rec(q, pos, 1);
	}
	ipcx__shmq_lease_leave(q, IPCX_RECV);
	return rc;
}
