/*
 * lease.c - the sole-receiver and sole-sender leases of a queue
 * (pattern=queue), and the sole-sender lease of a broadcast queue.
 *
 * A queue may have many receivers, so a receiver claims each message by
 * compare-and-swap on its state before it copies it out; and many senders,
 * so a sender reserves room by compare-and-swap on the tail. With one
 * receiver, or one sender, that atomic step is pure cost: the claim takes
 * the record's cache line for writing right after reading it, and a
 * locked instruction waits for every store before it, on the path of
 * every message. So while a queue has exactly one receiver, that receiver
 * holds a lease (the header's solo names its slot) and receives as the
 * receiver of a one-to-one queue does (ring.c, "the sole receiver": no
 * claim, the room given back in batches); and while it has exactly one
 * sender, that sender holds the other lease (solo_send) and reserves with
 * a plain store of the tail, as a one-to-one sender does. Rendezvous
 * queues have no leases (their senders take messages back).
 *
 * Granting. Under the reclaim lock, whenever a peer joins, leaves or is
 * reaped (ipcx__shmq_lease_settle): a lease whose holder is gone is
 * cleared, and a queue with exactly one peer in a role grants that one its
 * lease, where the kernel has membarrier (the process could register,
 * futex.c).
 *
 * Giving it back. A second peer of the role that wants to receive (or to
 * send) while another holds the lease sets IPCX__SOLO_REVOKE and waits, as
 * for a message (or for room), until the lease is gone. The holder checks
 * the lease at each try; seeing the revoke, it gives back what it holds
 * (a receiver its position, to head and rel) and clears the lease. A
 * holder outside a receive (send) call cannot look: the second peer then
 * clears the lease itself. Each peer marks the time it spends inside a
 * call of the role (its slot's in_recv, in_send) and reads the lease after
 * that mark; the second peer reads the mark after its revoke. Store then
 * load on both sides, so a fence on both: the holder's is a compiler
 * barrier when this process is registered for membarrier, the second
 * peer's a membarrier, made only when it found the holder outside and is
 * about to take over. Either the holder's look sees the revoke, or the
 * second peer sees the holder inside a call and waits for it: never does
 * a peer use the atomic step while the holder goes without it. What a
 * receiving holder took without claims is marked released in the ring, so
 * a receiver that takes over from a holder that did not give its position
 * back skips it and reads nothing twice.
 */
#include "shmq.h"

/* A peer waiting for a lease checks every this many looks whether its holder still lives. */
#define IPCX__LEASE_LIVENESS 64u

/*
 * Does a queue of m's kind have a lease for role? Senders of a broadcast
 * queue too: they reserve as in a queue (broadcast.c reads the
 * subscribers after a fence of its own where that needed the tail's
 * compare-and-swap); its subscribers claim nothing anyway.
 */
static bool ipcx__leasable(const struct ipcx__shm_map *m, int role)
{
	if (m->flags & IPCX__SHM_RENDEZVOUS)
		return false;
	return m->pattern == IPCX__SHM_QUEUE ||
	       (m->pattern == IPCX__SHM_BROADCAST && role == IPCX_SEND);
}

static _Atomic uint64_t *ipcx__lease_word(struct ipcx__shm_hdr *h, int role)
{
	return role == IPCX_RECV ? &h->solo : &h->solo_send;
}

static _Atomic uint32_t *ipcx__lease_mark(struct ipcx__shm_slot *s, int role)
{
	return role == IPCX_RECV ? &s->in_recv : &s->in_send;
}

/* The futex the peers of role wait on. */
static unsigned ipcx__lease_wait(int role)
{
	return role == IPCX_RECV ? IPCX__WAIT_RECV : IPCX__WAIT_SEND;
}

/* The slot a lease value names, or -1. */
static int ipcx__lease_slot(const struct ipcx__shm_map *m, uint64_t solo)
{
	unsigned s = (unsigned)(solo & IPCX__SOLO_SLOT);
	return s >= 1 && s <= m->max_peers ? (int)s - 1 : -1;
}

static bool ipcx__plays(const struct ipcx__shm_slot *s, int role)
{
	return atomic_load(&s->owner) && (atomic_load(&s->role) & (unsigned)role);
}

/* Settles the lease of role: cleared when its holder is gone, granted to a lone peer. */
static void ipcx__lease_settle_role(const struct ipcx__shm_map *m, int role)
{
	_Atomic uint64_t *word = ipcx__lease_word(m->hdr, role);
	int holder = ipcx__lease_slot(m, atomic_load(word));
	if (holder >= 0 && ipcx__plays(&m->slots[holder], role))
		return;
	int only = -1, peers = 0;
	for (unsigned i = 0; i < m->max_peers; i++)
		if (ipcx__plays(&m->slots[i], role)) {
			peers++;
			only = (int)i;
		}
	/* Without membarrier a holder outside a call could not be asked: no lease. */
	bool grant = peers == 1 && ipcx__shmq_fence_registered();
	atomic_store(word, grant ? (uint64_t)only + 1 : 0);
}

void ipcx__shmq_lease_settle(const struct ipcx__shm_map *m)
{
	if (ipcx__leasable(m, IPCX_RECV))
		ipcx__lease_settle_role(m, IPCX_RECV);
	if (ipcx__leasable(m, IPCX_SEND))
		ipcx__lease_settle_role(m, IPCX_SEND);
}

void ipcx__shmq_lease_enter(struct ipcx__shmq *q, int role)
{
	if (!ipcx__leasable(q->map, role))
		return;
	atomic_store_explicit(ipcx__lease_mark(q->me, role), 1, memory_order_relaxed);
	ipcx__shmq_publisher_fence(); /* the mark before the look at the lease */
}

void ipcx__shmq_lease_leave(struct ipcx__shmq *q, int role)
{
	if (ipcx__leasable(q->map, role))
		atomic_store_explicit(ipcx__lease_mark(q->me, role), 0, memory_order_release);
}

/* The holder saw the revoke: it gives back what it holds, then the lease. */
static void ipcx__lease_give_back(struct ipcx__shmq *q, int role, uint64_t solo)
{
	if (role == IPCX_RECV)
		ipcx__shmq_publish(q);
	atomic_compare_exchange_strong(ipcx__lease_word(q->hdr, role), &solo, 0);
	ipcx__shmq_notify(q->map, ipcx__lease_wait(role)); /* the peer waiting for it */
}

/*
 * Another peer holds the lease of role: ask for it back, and clear it when
 * the holder is outside a call of the role (or gone). true when the lease
 * is gone.
 */
static bool ipcx__lease_ask(struct ipcx__shmq *q, int role, uint64_t solo, int holder)
{
	_Atomic uint64_t *word = ipcx__lease_word(q->hdr, role);
	if (!(solo & IPCX__SOLO_REVOKE)) {
		uint64_t asked = solo | IPCX__SOLO_REVOKE;
		if (!atomic_compare_exchange_strong(word, &solo, asked))
			return false; /* it changed: look again */
		solo = asked;
		ipcx__shmq_notify(q->map, ipcx__lease_wait(role)); /* a holder asleep in a call looks */
	}
	struct ipcx__shm_slot *s = &q->map->slots[holder];
	_Atomic uint32_t *mark = ipcx__lease_mark(s, role);
	if (ipcx__plays(s, role) && atomic_load_explicit(mark, memory_order_acquire)) {
		/* It will see the revoke at its next look, unless it died inside a call. */
		if (++q->lease_waits % IPCX__LEASE_LIVENESS == 0 &&
		    ipcx__shmq_reap_slot(q, (unsigned)holder))
			return true;
		return false;
	}
	/*
	 * After the barrier, a holder's look that comes later sees the revoke,
	 * and one that came earlier has its mark visible: read it again. Where
	 * the kernel refuses the barrier, wait for the holder to give it back.
	 */
	if (!ipcx__shmq_fence_publishers())
		return false;
	if (ipcx__plays(s, role) && atomic_load_explicit(mark, memory_order_acquire))
		return false;
	atomic_compare_exchange_strong(word, &solo, 0);
	return true;
}

int ipcx__shmq_lease_look(struct ipcx__shmq *q, int role)
{
	if (!ipcx__leasable(q->map, role))
		return 0;
	uint64_t solo = atomic_load_explicit(ipcx__lease_word(q->hdr, role), memory_order_acquire);
	int holder = ipcx__lease_slot(q->map, solo);
	if (holder < 0)
		return 0;
	if ((unsigned)holder == q->slot) {
		if (!(solo & IPCX__SOLO_REVOKE))
			return 1;
		ipcx__lease_give_back(q, role, solo);
		return 0;
	}
	return ipcx__lease_ask(q, role, solo, holder) ? 0 : -EAGAIN;
}
