/*
 * shmq.h - the shared-memory queue engine behind shm:// (internal).
 *
 * A map is one process's validated view of a segment (segment.c). A queue
 * handle (struct ipcx__shmq) is one peer on a map: it owns a peer slot and
 * the local caches of the shared indexes. Several handles may share a map
 * (threads of one process); one handle is used by one thread at a time.
 */
#ifndef IPCX_SHMQ_H
#define IPCX_SHMQ_H

#include "ipcx_impl.h"
#include "layout.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A rendezvous queue (cap=0) holds no message, but the message of each
 * sender waiting for a receiver lies in its ring: room for this many
 * senders' messages of maxmsg bytes, 64KiB by default.
 */
#define IPCX__SHM_RENDEZVOUS_SENDERS 4u
#define IPCX__SHM_RENDEZVOUS_MSG ((uint64_t)65536 - IPCX__SHM_REC_HDR)

/* What to create a segment with; zero fields take the defaults. */
struct ipcx__shm_params {
	uint64_t cap;     /* bytes of records; 0 = IPCX__SHM_DEFAULT_CAP; ignored when unbounded */
	uint64_t max_msg; /* 0 = cap / 4 */
	unsigned pattern; /* enum ipcx__shm_pattern; 0 = IPCX__SHM_QUEUE */
	unsigned flags;   /* enum ipcx__shm_flag */
	unsigned mode;    /* permission bits */
};

/* A validated mapping. Every field is a private copy, not shared memory. */
struct ipcx__shm_map {
	unsigned char *base;
	uint64_t seg_size;
	struct ipcx__shm_hdr *hdr;
	struct ipcx__shm_slot *slots;
	unsigned char *ring;
	uint64_t ring_off, ring_size, mask, cap, max_msg;
	unsigned max_peers;
	unsigned pattern;
	unsigned flags;
	pid_t creator_pid;
	int64_t created_ns;
	unsigned mode; /* permission bits of the segment file */
	int fd; /* the segment, kept open to grow and trim an unbounded ring; -1 otherwise */
	/* A lane of an mpsc queue: its master, where the receiver waits; NULL otherwise. */
	const struct ipcx__shm_map *wake_recv;
};

/* One peer on a map. */
/* Message types lo to hi, both >= 1: a piece of a subscriber's filter. */
struct ipcx__type_range {
	long lo, hi;
};
#define IPCX__MAX_TYPE_RANGES 16u

struct ipcx__shmq {
	const struct ipcx__shm_map *map;
	struct ipcx__shm_hdr *hdr;
	struct ipcx__shm_slot *me;
	unsigned slot;
	uint64_t owner; /* the value of me->owner while we hold it */
	int role;       /* IPCX_SEND | IPCX_RECV */
	uint64_t tail_cache; /* last tail seen by a receiver */
	uint64_t rel_cache;  /* last release cursor seen by a sender */
	uint64_t loan_send;  /* position + 1 of an uncommitted send loan, 0 = none */
	uint64_t loan_send_end;
	size_t loan_send_len; /* the bytes it was asked for, at most what a commit publishes */
	uint64_t loan_recv;  /* position + 1 of an unreleased receive loan */
	bool loan_sole;      /* that loan was taken as the sole receiver (ring.c) */
	uint64_t sole_pos;   /* a sole receiver's next position (ring.c), 0 = not yet known */
	uint64_t sole_pub;   /* the position it last published as head and rel */
	bool walk_owed;      /* released records wait for a walk of rel (ring.c) */
	int poll_fd;         /* read end of our FIFO (poll.c), -1 = none */
	bool fenced;         /* the last wait_prepare fenced every publisher (futex.c) */
	bool spinning;       /* a receive is spinning: it looks at records, not the tail (ring.c) */
	unsigned room_spins; /* how long a wait for room spins before it sleeps (ring.c) */
	unsigned data_spins; /* how long a wait for a message does */
	unsigned lease_waits; /* looks spent waiting for another receiver's lease (lease.c) */
	/*
	 * A broadcast subscriber's messages taken by typed receives ahead of
	 * its position, ascending (broadcast.c), and how many of those
	 * senders counted lost when they moved it past them.
	 */
	uint64_t *taken;
	size_t ntaken, taken_cap;
	uint64_t taken_lost;
	uint64_t movers_stale; /* a subscriber's movers mask it waited for in full (broadcast.c) */
	/* A broadcast subscriber's filter (types=): the types it receives; none = all (broadcast.c). */
	struct ipcx__type_range types[IPCX__MAX_TYPE_RANGES];
	unsigned ntypes;
};

/*
 * ipcx__shm_caps is what a channel in role (IPCX_SEND, IPCX_RECV or both)
 * on a queue of pattern and flags can do (src/transport/shm.c).
 */
unsigned ipcx__shm_caps(unsigned pattern, unsigned shm_flags, int role);

/* ---- segment.c ------------------------------------------------------- */

/*
 * ipcx__shm_map_create creates the segment name (a bare name, no '/') with
 * O_EXCL and maps it; -EEXIST when it exists. ipcx__shm_map_open maps an
 * existing one and validates its header: -ENOENT when absent, -EPROTO for a
 * segment that is not an ipcx queue of this layout, -EACCES for one owned
 * by another user. Both leave an explanation in ipcx_errmsg().
 */
int ipcx__shm_map_create(struct ipcx__shm_map *m, const char *name,
			 const struct ipcx__shm_params *p);
int ipcx__shm_map_open(struct ipcx__shm_map *m, const char *name);
/*
 * ipcx__shm_populate maps every page of a bounded ring into this process
 * now, so that the first lap of messages does not take a page fault every
 * 4 KiB (about 6 us each on the 2-CPU VM: that was the p99.9 of a 64 B
 * round trip, 5 us through a fresh queue's first lap, 0.3 us after,
 * docs/shm.md). The pages exist already (allocated at creation); this
 * only fills page tables, about 0.25 ms for 1 MiB. Openers call it (a
 * channel's open, a sender joining its lane), not the receiver of an mpsc
 * queue meeting a new lane mid-stream, which would stall every lane for
 * that long. Rings larger than 64 MiB fault in as they are used, so that
 * an open stays quick; an unbounded ring is backed as it grows. Failure is
 * harmless: the pages then fault in as before.
 */
void ipcx__shm_populate(const struct ipcx__shm_map *m);
/* ipcx__shm_map_close unmaps; the segment stays. */
void ipcx__shm_map_close(struct ipcx__shm_map *m);
/* ipcx__shm_unlink removes the segment name (-ENOENT when absent). */
int ipcx__shm_unlink(const char *name);
/* ipcx__shm_name_check accepts a queue name: 1..200 bytes, no '/', not "." or "..". */
int ipcx__shm_name_check(const char *name);

/* ---- peer.c ---------------------------------------------------------- */

/*
 * ipcx__shm_self_token identifies this process: pid and start time packed
 * in one word, so a recycled pid never passes for the old process.
 */
uint64_t ipcx__shm_self_token(void);
/* ipcx__shm_token_alive is true while the process behind token runs. */
bool ipcx__shm_token_alive(uint64_t token);

/*
 * ipcx__shmq_attach takes a free peer slot on m for a peer with role
 * (IPCX_SEND and/or IPCX_RECV), first reaping slots of dead processes.
 * -EBUSY when all slots are held, or when a one-to-one queue already has a
 * live peer in that role.
 */
int ipcx__shmq_attach(struct ipcx__shmq *q, const struct ipcx__shm_map *m, int role);
/*
 * ipcx__shmq_detach releases what q still holds (a receive loan is
 * released, a send loan dropped), folds its counters into the header and
 * frees the slot. In a child that inherited q across fork() it leaves the
 * parent's slot alone.
 */
void ipcx__shmq_detach(struct ipcx__shmq *q);
/*
 * ipcx__shmq_reap_dead finds the peer owning the intent at position pos
 * (or, with pos UINT64_MAX, every slot) and reaps the dead: their pending
 * reservations become pads, their claims are released, their slots freed.
 * Returns how many slots it reaped.
 */
int ipcx__shmq_reap_dead(struct ipcx__shmq *q, uint64_t pos);
/* ipcx__shmq_reap_slot reaps slot i if its owner is dead; 1 when reaped. */
int ipcx__shmq_reap_slot(struct ipcx__shmq *q, unsigned i);

/* ---- futex.c --------------------------------------------------------- */

/*
 * The wait protocol. A waiter calls ipcx__shmq_wait_prepare (which counts
 * it as a waiter and returns the futex word's value), checks its condition
 * once more, then either ipcx__shmq_wait_cancel or ipcx__shmq_wait_sleep.
 * The side that makes the condition true calls ipcx__shmq_notify after
 * publishing, which costs no system call when nobody waits.
 */
uint32_t ipcx__shmq_wait_prepare(struct ipcx__shmq *q, unsigned which);
/*
 * ipcx__shmq_fence_register lets this process publish without a fence
 * (membarrier(2)); every attach calls it. ipcx__shmq_fence_publishers is
 * the waiter's side: after it, every publisher's next read of a waiter
 * count sees what the caller stored before; false when the kernel refused.
 */
void ipcx__shmq_fence_register(void);
bool ipcx__shmq_fence_publishers(void);
/* ipcx__shmq_publisher_fence orders a store before a load on the publisher's side of that scheme. */
void ipcx__shmq_publisher_fence(void);
/* ipcx__shmq_fence_registered tells whether this process could register (the kernel has membarrier). */
bool ipcx__shmq_fence_registered(void);
void ipcx__shmq_wait_cancel(struct ipcx__shmq *q, unsigned which);
/* Sleeps until woken, until_ns (CLOCK_MONOTONIC, INT64_MAX = never) or a signal. */
void ipcx__shmq_wait_sleep(struct ipcx__shmq *q, unsigned which, uint32_t seq,
			   int64_t until_ns);
void ipcx__shmq_notify(const struct ipcx__shm_map *m, unsigned which);
/* ipcx__shmq_waiting reads, as a publisher does, whether anyone sleeps or polls on which. */
bool ipcx__shmq_waiting(const struct ipcx__shm_map *m, unsigned which);
/* ipcx__cpu_relax tells the CPU we are spinning. */
void ipcx__cpu_relax(void);

/* ---- poll.c ---------------------------------------------------------- */

/*
 * ipcx__shmq_poll_fd returns the handle's pollable descriptor, creating
 * its FIFO on the first call (readable at once); -ENOTSUP for a handle
 * that does not receive. The handle keeps and closes it.
 */
int ipcx__shmq_poll_fd(struct ipcx__shmq *q);
/*
 * ipcx__shmq_poll_arm empties the FIFO and declares the handle a poller:
 * the next publisher writes into the FIFO. The caller then checks for a
 * message once more.
 */
void ipcx__shmq_poll_arm(struct ipcx__shmq *q);
/* ipcx__shmq_poll_disarm takes slot s out of the pollers; true when it was one. */
bool ipcx__shmq_poll_disarm(struct ipcx__shm_hdr *h, struct ipcx__shm_slot *s);
/* ipcx__shmq_poll_wake disarms every poller of m and writes into its FIFO. */
void ipcx__shmq_poll_wake(const struct ipcx__shm_map *m);
/* ipcx__shmq_poll_forget disarms slot s and removes its FIFO (the owner left or died). */
void ipcx__shmq_poll_forget(struct ipcx__shm_hdr *h, struct ipcx__shm_slot *s);
/*
 * ipcx__shmq_poll_forget_dead removes the FIFOs of m's slots whose owner is
 * dead or gone: the queue is being removed, and nobody would reap them.
 */
void ipcx__shmq_poll_forget_dead(const struct ipcx__shm_map *m);

/* ---- broadcast.c ----------------------------------------------------- */

/* What a receive took: the payload's length and its type, and where its record lies. */
struct ipcx__shmq_msg {
	uint32_t len, span;
	long type;
	uint64_t pos;
};

/* ipcx__shmq_bc_join places a new subscriber at the tail: it reads what is sent from now on. */
void ipcx__shmq_bc_join(struct ipcx__shmq *q);
/*
 * ipcx__shmq_bc_reclaim moves the release cursor over the oldest records
 * until it reaches want, as the policy allows; where it cannot (a
 * subscriber has not read a message, a record is not committed) it sets
 * *stuck to that position and returns 0. -EPROTO on corruption.
 */
int ipcx__shmq_bc_reclaim(struct ipcx__shmq *q, uint64_t want, uint64_t *stuck);
/*
 * ipcx__shmq_bc_take copies the subscriber's next message into buf: 1 with
 * out filled, -EAGAIN when there is none (with *stuck set when an
 * unfinished record is next), -EOVERFLOW when messages were lost before
 * the next one (it stays next), -EMSGSIZE (it stays next), -EPROTO. With
 * buf NULL it lends the message instead: the subscriber stays on it until
 * ipcx__shmq_bc_release() moves it past the message at pos. No
 * policy=block sender reclaims it meanwhile; a policy=overwrite sender
 * may, and the release then fails with -EOVERFLOW.
 */
int ipcx__shmq_bc_take(struct ipcx__shmq *q, void *buf, size_t size, long selector,
		       struct ipcx__shmq_msg *out, uint64_t *stuck);
int ipcx__shmq_bc_release(struct ipcx__shmq *q, uint64_t pos);
/*
 * A typed receive (selector != 0, System V semantics) takes the message
 * the selector picks from the subscriber's position on, which may lie
 * ahead of it: the subscriber keeps such a message's position in q->taken
 * and steps over it when it gets there. A subscriber with a filter
 * (q->types) steps over the messages of other types. ipcx__shmq_bc_skips
 * tells whether a typed receive passes over the message at pos, of type:
 * taken, or filtered out. ipcx__shmq_bc_forget frees the set (the channel
 * closes).
 */
bool ipcx__shmq_bc_skips(const struct ipcx__shmq *q, uint64_t pos, long type);
void ipcx__shmq_bc_forget(struct ipcx__shmq *q);

/* A message a typed receive picks: its position, state and type (ring.c). */
struct ipcx__scan {
	uint64_t pos, st;
	long type;
};
/*
 * ipcx__shmq_scan_typed walks the records from position from to the tail
 * (or to the first unfinished one, reported in *stuck) looking for the
 * message selector picks, passing over a subscriber's taken ones. 1 with
 * *found filled, 0 when none, -EAGAIN when the walk must restart because
 * records were recycled under it, -EPROTO.
 */
int ipcx__shmq_scan_typed(struct ipcx__shmq *q, uint64_t from, long selector,
			  struct ipcx__scan *found, uint64_t *stuck);
/*
 * ipcx__shmq_bc_forget_mover finishes what the dead sender in slot dead
 * may have left half done while overtaking a subscriber: adds the loss its
 * intent says it owes and clears its bit in every movers mask. Runs under
 * the reclaim lock.
 */
void ipcx__shmq_bc_forget_mover(const struct ipcx__shm_map *m, unsigned dead);

/* ---- lease.c -------------------------------------------------------- */

/*
 * ipcx__shmq_lease_settle clears the sole-receiver and sole-sender leases
 * of peers that are gone and grants each to the only peer of its role, if
 * there is exactly one. Runs under the reclaim lock, after a peer joined,
 * left or was reaped; nothing for a queue without leases.
 */
void ipcx__shmq_lease_settle(const struct ipcx__shm_map *m);
/* A receive (role IPCX_RECV) or a reservation (IPCX_SEND) begins (the peer marks it) and ends. */
void ipcx__shmq_lease_enter(struct ipcx__shmq *q, int role);
void ipcx__shmq_lease_leave(struct ipcx__shmq *q, int role);
/*
 * ipcx__shmq_lease_check, at each try: 1 when q holds the lease of role
 * (it receives without claims, or reserves with a plain store), 0 when
 * nobody does, -EAGAIN while another peer holds it (asked to give it
 * back: wait, looking again every 20 ms at the latest). The holder's look,
 * on every message, is inline: its slot in the lease word and no revoke
 * bit; anything else goes to ipcx__shmq_lease_look (lease.c).
 */
int ipcx__shmq_lease_look(struct ipcx__shmq *q, int role);
static inline int ipcx__shmq_lease_check(struct ipcx__shmq *q, int role)
{
	_Atomic uint64_t *word = role == IPCX_RECV ? &q->hdr->solo : &q->hdr->solo_send;
	if (atomic_load_explicit(word, memory_order_acquire) == (uint64_t)q->slot + 1)
		return 1;
	return ipcx__shmq_lease_look(q, role);
}

/* ---- lanes.c -------------------------------------------------------- */

/* The lanes of one channel on an mpsc queue (lanes.c). */
struct ipcx__shm_lanes;

/*
 * ipcx__shm_lanes_open joins the lanes of the mpsc queue name, whose
 * master is mapped as master with the channel's handle mq on it: a sender
 * takes a lane of its own (creating it when none is free), a receiver
 * joins every lane there is, and later ones as they appear. -EBUSY when
 * all lanes are held by live senders.
 */
int ipcx__shm_lanes_open(struct ipcx__shm_lanes **out, const char *name,
			 const struct ipcx__shm_map *master, struct ipcx__shmq *mq, int role);
void ipcx__shm_lanes_close(struct ipcx__shm_lanes *l);
/* ipcx__shm_lanes_sender is the handle of the sender's own lane. */
struct ipcx__shmq *ipcx__shm_lanes_sender(struct ipcx__shm_lanes *l);
/*
 * The receive calls of ring.c over every lane: the lanes take turns (a
 * few messages in a row each), a typed receive with selector < 0 takes the
 * lowest type of all lanes, and the receiver waits on the master.
 */
ssize_t ipcx__shm_lanes_recv(struct ipcx__shm_lanes *l, void *buf, size_t size, long selector,
			     long *type, struct ipcx__deadline d);
ssize_t ipcx__shm_lanes_recv_loan(struct ipcx__shm_lanes *l, const void **out, long selector,
				  long *type, struct ipcx__deadline d);
int ipcx__shm_lanes_release(struct ipcx__shm_lanes *l);
/* ipcx__shm_lanes_unlink removes the lanes of the queue name (there may be none). */
void ipcx__shm_lanes_unlink(const char *name);

/* ---- grow.c --------------------------------------------------------- */

/*
 * ipcx__shmq_grow backs the ring of an unbounded queue with memory up to
 * position end before a sender reserves it: 1 when it is backed, 0 when
 * the backed window may not move yet (the trim lags; *stuck is set to the
 * release cursor), -ENOMEM when the system has no memory to give, -EPROTO.
 */
int ipcx__shmq_grow(struct ipcx__shmq *q, uint64_t end, uint64_t *stuck);
/*
 * ipcx__shmq_trim gives the chunks of an unbounded ring that lie wholly
 * behind the release cursor back to the system. Any receiver may call it;
 * it does nothing while another one is at it.
 */
void ipcx__shmq_trim(struct ipcx__shmq *q);

/* ---- ring.c ---------------------------------------------------------- */

/*
 * ipcx__shmq_send copies one message in, waiting for room until the
 * deadline. 0, or -EAGAIN / -ETIMEDOUT when no room came, -EPROTO when the
 * segment is corrupt.
 */
int ipcx__shmq_send(struct ipcx__shmq *q, const void *data, size_t len, long type,
		    struct ipcx__deadline d);
/*
 * ipcx__shmq_recv takes the message selector picks (System V rules) and
 * copies it to buf: its length, -ENOMSG (timeout 0) or -ETIMEDOUT when none
 * came, -EMSGSIZE when it is larger than size (it stays queued), -EPROTO.
 * buf is never NULL here (NULL means a loan inside the engine), nor for
 * ipcx__shm_lanes_recv.
 */
ssize_t ipcx__shmq_recv(struct ipcx__shmq *q, void *buf, size_t size, long selector,
			long *type, struct ipcx__deadline d);

/*
 * ipcx__shmq_loan reserves room for a message of up to len bytes and
 * returns a pointer to write it in place; ipcx__shmq_commit publishes the
 * first len bytes with type. One loan at a time per handle.
 */
int ipcx__shmq_loan(struct ipcx__shmq *q, size_t len, void **out, struct ipcx__deadline d);
int ipcx__shmq_commit(struct ipcx__shmq *q, size_t len, long type);
/*
 * ipcx__shmq_recv_loan claims the selected message and points *out at its
 * payload in shared memory; ipcx__shmq_release gives it back. One receive
 * loan at a time per handle.
 */
ssize_t ipcx__shmq_recv_loan(struct ipcx__shmq *q, const void **out, long selector,
			     long *type, struct ipcx__deadline d);
int ipcx__shmq_release(struct ipcx__shmq *q);
/*
 * ipcx__shmq_take is one try of ipcx__shmq_recv (buf) or, with buf NULL,
 * of ipcx__shmq_recv_loan (out), without waiting: -ENOMSG when nothing
 * is there.
 */
ssize_t ipcx__shmq_take(struct ipcx__shmq *q, void *buf, size_t size, const void **out,
			long selector, long *type);
/*
 * ipcx__shmq_publish gives senders the room the handle freed and has not
 * yet given (ring.c: receivers release in batches); nothing for a handle
 * that owes nothing.
 */
void ipcx__shmq_publish(struct ipcx__shmq *q);

/*
 * An attempt at something a receiver waits for: try_once returns -EAGAIN
 * while there is nothing (setting *stuck to a position an unfinished
 * record blocks, when it knows one), else its result.
 * ipcx__shmq_await runs it until it has a result, spinning, then sleeping
 * on q's receive futex, until the deadline (-ENOMSG for timeout 0,
 * -ETIMEDOUT); with timeout 0 and a pollable descriptor it arms q for
 * poll(2) before its last try.
 */
struct ipcx__attempt {
	int (*try_once)(struct ipcx__attempt *a, uint64_t *stuck);
};
int ipcx__shmq_await(struct ipcx__shmq *q, struct ipcx__attempt *a, struct ipcx__deadline d);
/*
 * ipcx__shmq_peek_type is the type of the message a receive with selector
 * (not 0) would take now, 0 when none, or -EPROTO; nothing is claimed.
 */
long ipcx__shmq_peek_type(struct ipcx__shmq *q, long selector);

/*
 * Room given back in one go: a receiver lets this many bytes of released
 * records gather behind rel before it walks them (ring.c), and a broadcast
 * sender reclaims this far ahead of what it needs (broadcast.c), so that
 * the rel cache line moves once a batch, not once a message.
 */
static inline uint64_t ipcx__shmq_batch(const struct ipcx__shm_map *m)
{
	const uint64_t most = (uint64_t)16 << 10;
	return m->cap / 4 < most ? m->cap / 4 : most;
}

/* Bytes from pos to the end of the ring. */
static inline uint64_t ipcx__shmq_room(const struct ipcx__shm_map *m, uint64_t pos)
{
	return m->ring_size - (pos & m->mask);
}

/* Is span a possible stride for a record at pos: whole, aligned, inside the ring? */
static inline bool ipcx__shmq_span_ok(const struct ipcx__shm_map *m, uint64_t pos, uint64_t span)
{
	return span >= IPCX__SHM_REC_HDR && span % 8 == 0 && span <= ipcx__shmq_room(m, pos) &&
	       span <= m->cap;
}

static inline unsigned char *ipcx__shmq_payload(struct ipcx__shm_rec *r)
{
	return (unsigned char *)(r + 1);
}

/* ipcx__shmq_corrupt records and returns -EPROTO for what was found at pos. */
int ipcx__shmq_corrupt(uint64_t pos, const char *what);

/*
 * Ring internals shared with peer.c. ipcx__shmq_rec returns the record
 * header at pos, or NULL when fewer than a header's bytes remain before the
 * end of the ring (a position every peer skips). ipcx__shmq_advance_rel
 * moves the release cursor over released records and pads.
 */
struct ipcx__shm_rec *ipcx__shmq_rec(const struct ipcx__shm_map *m, uint64_t pos);

/*
 * Is pos below the tail? A receiver's cached tail answers when it can; the
 * shared one, which every send writes, is read only when it cannot, and
 * not at all while the receiver spins (it looks at the record instead).
 */
bool ipcx__shmq_below_tail(struct ipcx__shmq *q, uint64_t pos);
int ipcx__shmq_advance_rel(struct ipcx__shmq *q);

#endif /* IPCX_SHMQ_H */
