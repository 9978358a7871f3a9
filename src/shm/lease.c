/*
 * lease.c - the sole-receiver lease of a queue (pattern=queue).
 *
 * A queue may have many receivers, so a receiver claims each message by
 * compare-and-swap on its state before it copies it out. With one receiver
 * that claim is pure cost: it takes the record's cache line for writing
 * right after reading it, on the path of every message. So while a queue
 * has exactly one receiver, that receiver holds a lease (the header's
 * solo names its slot) and receives as the receiver of a one-to-one queue
 * does (ring.c, "the sole receiver"): no claim, the room given back in
 * batches. Rendezvous queues have no lease (their senders take messages
 * back).
 *
 * Granting. Under the reclaim lock, whenever a peer joins, leaves or is
 * reaped (ipcx__shmq_lease_settle): a lease whose holder is gone is
 * cleared, and a queue with exactly one receiver grants it to that one,
 * where the kernel has membarrier (the process could register, futex.c).
 *
 * Giving it back. A second receiver that wants a message while another
 * holds the lease sets IPCX__SOLO_REVOKE and waits, as for a message, until
 * the lease is gone. The holder checks the lease at each look for a
 * message; seeing the revoke, it gives its progress to the queue (head and
 * rel) and clears the lease. A holder that is not inside a receive call
 * cannot look: the second receiver then clears the lease itself. The
 * holder marks the time it spends inside a receive (its slot's in_recv)
 * and reads the lease after that mark; the second receiver reads the mark
 * after its revoke. Store then load on both sides, so a fence on both: the
 * holder's is a compiler barrier when this process is registered for
 * membarrier (futex.c), the second receiver's a membarrier, made only when
 * it found the holder outside and is about to take over. Either the
 * holder's look sees the revoke, or the second receiver sees the holder
 * inside a receive and waits for it: never does a receiver claim while
 * the holder receives without claims. What the holder took without claims is
 * marked released in the ring, so a receiver that takes over from a holder
 * that did not give its progress back skips it and reads nothing twice.
 */
#include "shmq.h"

/* A receiver waiting for a lease checks every this many looks whether its holder still lives. */
#define IPCX__LEASE_LIVENESS 64u

static bool ipcx__leasable(const struct ipcx__shm_map *m)
{
	return m->pattern == IPCX__SHM_QUEUE && !(m->flags & IPCX__SHM_RENDEZVOUS);
}

/* The slot a lease value names, or -1. */
static int ipcx__lease_slot(const struct ipcx__shm_map *m, uint64_t solo)
{
	unsigned s = (unsigned)(solo & IPCX__SOLO_SLOT);
	return s >= 1 && s <= m->max_peers ? (int)s - 1 : -1;
}

static bool ipcx__receives(const struct ipcx__shm_slot *s)
{
	return atomic_load(&s->owner) && (atomic_load(&s->role) & IPCX_RECV);
}

void ipcx__shmq_lease_settle(const struct ipcx__shm_map *m)
{
	if (!ipcx__leasable(m))
		return;
	struct ipcx__shm_hdr *h = m->hdr;
	int holder = ipcx__lease_slot(m, atomic_load(&h->solo));
	if (holder >= 0 && ipcx__receives(&m->slots[holder]))
		return;
	int only = -1, receivers = 0;
	for (unsigned i = 0; i < m->max_peers; i++)
		if (ipcx__receives(&m->slots[i])) {
			receivers++;
			only = (int)i;
		}
	/* Without membarrier a holder outside a receive could not be asked: no lease. */
	bool grant = receivers == 1 && ipcx__shmq_fence_registered();
	atomic_store(&h->solo, grant ? (uint64_t)only + 1 : 0);
}

void ipcx__shmq_lease_enter(struct ipcx__shmq *q)
{
	if (!ipcx__leasable(q->map))
		return;
	atomic_store_explicit(&q->me->in_recv, 1, memory_order_relaxed);
	ipcx__shmq_publisher_fence(); /* the mark before the look at the lease */
}

void ipcx__shmq_lease_leave(struct ipcx__shmq *q)
{
	if (ipcx__leasable(q->map))
		atomic_store_explicit(&q->me->in_recv, 0, memory_order_release);
}

/* The holder saw the revoke: it gives its progress back, then the lease. */
static void ipcx__lease_give_back(struct ipcx__shmq *q, uint64_t solo)
{
	ipcx__shmq_publish(q);
	atomic_compare_exchange_strong(&q->hdr->solo, &solo, 0);
	ipcx__shmq_notify(q->map, IPCX__WAIT_RECV); /* the receiver waiting for it */
}

/*
 * Another receiver holds the lease: ask for it back, and clear it when the
 * holder is outside a receive call (or gone). true when the lease is gone.
 */
static bool ipcx__lease_ask(struct ipcx__shmq *q, uint64_t solo, int holder)
{
	struct ipcx__shm_hdr *h = q->hdr;
	if (!(solo & IPCX__SOLO_REVOKE)) {
		uint64_t asked = solo | IPCX__SOLO_REVOKE;
		if (!atomic_compare_exchange_strong(&h->solo, &solo, asked))
			return false; /* it changed: look again */
		solo = asked;
		ipcx__shmq_notify(q->map, IPCX__WAIT_RECV); /* a holder asleep in a receive looks */
	}
	struct ipcx__shm_slot *s = &q->map->slots[holder];
	if (ipcx__receives(s) && atomic_load_explicit(&s->in_recv, memory_order_acquire)) {
		/* It will see the revoke at its next look, unless it died inside a receive. */
		if (++q->lease_waits % IPCX__LEASE_LIVENESS == 0 && ipcx__shmq_reap_slot(q, (unsigned)holder))
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
	if (ipcx__receives(s) && atomic_load_explicit(&s->in_recv, memory_order_acquire))
		return false;
	atomic_compare_exchange_strong(&h->solo, &solo, 0);
	return true;
}

int ipcx__shmq_lease_check(struct ipcx__shmq *q)
{
	if (!ipcx__leasable(q->map))
		return 0;
	uint64_t solo = atomic_load_explicit(&q->hdr->solo, memory_order_acquire);
	int holder = ipcx__lease_slot(q->map, solo);
	if (holder < 0)
		return 0;
	if ((unsigned)holder == q->slot) {
		if (!(solo & IPCX__SOLO_REVOKE))
			return 1;
		ipcx__lease_give_back(q, solo);
		return 0;
	}
	return ipcx__lease_ask(q, solo, holder) ? 0 : -EAGAIN;
}
