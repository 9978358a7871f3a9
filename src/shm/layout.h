/*
 * layout.h - the bytes of an ipcx shared-memory queue, as every process
 * that maps one sees them (docs/shm.md draws the picture).
 *
 * A segment is [header][peer slots][ring]. The header starts with fields
 * that never change after creation (each opener validates them once and
 * keeps its own copy, so a later scribble cannot move a bound), then the
 * moving indexes, each group on its own cache line. The ring holds records
 * back to back; a record never wraps, a pad record fills the end of the
 * ring when the next one does not fit.
 *
 * Nothing read from the segment is trusted: positions are masked into the
 * ring, spans and lengths are checked against the ring before use, and a
 * value that breaks the format yields -EPROTO.
 */
#ifndef IPCX_SHM_LAYOUT_H
#define IPCX_SHM_LAYOUT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#define IPCX__SHM_MAGIC 0x3151534d58435049ull /* "IPCXSMQ1" little-endian */
#define IPCX__SHM_LAYOUT_VERSION 8u
#define IPCX__SHM_LINE 64
/* A slot index must fit IPCX__ST_SLOT_BITS, and a bit of a slot's movers mask. */
#define IPCX__SHM_MAX_PEERS 64u
#define IPCX__SHM_MIN_RING 256u
#define IPCX__SHM_MAX_RING (1ull << 32)
#define IPCX__SHM_DEFAULT_CAP ((uint64_t)1 << 20)
/*
 * An unbounded queue (cap=unbounded) has a virtual ring of up to this size
 * in a sparse file: only the part between the trim and grow cursors is
 * backed by memory, allocated and given back a chunk at a time. A creator
 * whose address space cannot take that much (RLIMIT_AS, valgrind) shrinks
 * it down to IPCX__SHM_UNBOUNDED_MIN_RING or four times the largest
 * record. It holds at most half the ring, so the backed window never
 * wraps onto itself.
 */
#define IPCX__SHM_UNBOUNDED_RING ((uint64_t)1 << 38)
#define IPCX__SHM_UNBOUNDED_MIN_RING ((uint64_t)1 << 28)
#define IPCX__SHM_UNBOUNDED_MSG ((uint64_t)16 << 20)
#define IPCX__SHM_CHUNK ((uint64_t)1 << 20)
#define IPCX__SHM_NAME_PREFIX "/ipcx."

/* Patterns a queue is created with (header field pattern). */
enum ipcx__shm_pattern {
	IPCX__SHM_QUEUE = 1, /* many senders, many receivers, each message once */
	IPCX__SHM_SPSC = 2,  /* one sender and one receiver at a time */
	IPCX__SHM_BROADCAST = 3, /* every subscriber receives every message */
	IPCX__SHM_MPSC = 4,  /* many senders, one receiver: each sender its own lane (lanes.c) */
};

/*
 * The lanes of an mpsc queue NAME are one-to-one queues named NAME#0 to
 * NAME#63, so '#' is not allowed in a queue name. The queue NAME itself
 * (the master) has no ring: its cap and maxmsg are each lane's.
 */
#define IPCX__SHM_LANE_SEP '#'
#define IPCX__SHM_MAX_LANES 64u

/* Header flags, fixed at creation. */
enum ipcx__shm_flag {
	IPCX__SHM_RENDEZVOUS = 1, /* cap=0: a send returns once a receiver took the message */
	IPCX__SHM_OVERWRITE = 2,  /* broadcast: senders never wait, slow subscribers lose */
	IPCX__SHM_UNBOUNDED = 4,  /* cap=unbounded: the ring is backed as it fills (grow.c) */
};

/*
 * A record header, 8-aligned in the ring. span is the record's stride in
 * bytes (header and payload, rounded up to 8); len <= span - header is the
 * payload. state is written last by the writer (release) and encodes the
 * record's position, so a state left over from an earlier lap never looks
 * current.
 */
struct ipcx__shm_rec {
	_Atomic uint64_t state;
	_Atomic int64_t type;
	_Atomic uint32_t len;
	_Atomic uint32_t span;
};
#define IPCX__SHM_REC_HDR ((uint64_t)sizeof(struct ipcx__shm_rec))

/* ipcx__shm_span is the stride of a record with len payload bytes. */
static inline uint64_t ipcx__shm_span(uint64_t len)
{
	return (IPCX__SHM_REC_HDR + len + 7) & ~(uint64_t)7;
}

/*
 * Record states. A record goes COMMITTED -> CLAIMED (by the receiver whose
 * slot is in the state) -> RELEASED, or is a PAD (skipped by everyone).
 * Zero is no state at all: a reserved record not yet committed.
 */
enum ipcx__shm_stage {
	IPCX__ST_COMMITTED = 1,
	IPCX__ST_PAD = 2,
	IPCX__ST_CLAIMED = 3,
	IPCX__ST_RELEASED = 4,
};
#define IPCX__ST_STAGE_BITS 3
#define IPCX__ST_SLOT_BITS 8
#define IPCX__ST_POS_SHIFT (IPCX__ST_STAGE_BITS + IPCX__ST_SLOT_BITS)

/*
 * ipcx__st packs a record state: position stamp, slot and stage. The stamp
 * is (pos / 8 + 1) truncated to 53 bits, never 0, so that the zeroes of a
 * fresh ring are no record's state.
 */
static inline uint64_t ipcx__st(uint64_t pos, unsigned slot, unsigned stage)
{
	return ((pos >> 3) + 1) << IPCX__ST_POS_SHIFT | (uint64_t)slot << IPCX__ST_STAGE_BITS |
	       stage;
}

/* ipcx__st_is_at tells whether state st was written for position pos. */
static inline int ipcx__st_is_at(uint64_t st, uint64_t pos)
{
	return (st >> IPCX__ST_POS_SHIFT) == (ipcx__st(pos, 0, 0) >> IPCX__ST_POS_SHIFT) &&
	       pos % 8 == 0;
}

static inline unsigned ipcx__st_stage(uint64_t st)
{
	return (unsigned)(st & ((1u << IPCX__ST_STAGE_BITS) - 1));
}

static inline unsigned ipcx__st_slot(uint64_t st)
{
	return (unsigned)(st >> IPCX__ST_STAGE_BITS) & ((1u << IPCX__ST_SLOT_BITS) - 1);
}

/*
 * A peer slot: one per open channel. owner is the process token (pid and
 * start time, see peer.c) shifted left by two, with IPCX__SLOT_LIVE; 0 is
 * a free slot. The intents say what the owner may be in the middle of, so
 * that a survivor can finish or undo it when the owner dies: a reservation
 * [res_start, res_end) not yet committed (res_end 0 = none), and claimed
 * records (position + 1, 0 = none). waiting says which waiter count the
 * owner added itself to. polling is 1 while the owner waits in poll(2) on
 * the FIFO named by poll_id (poll.c). In a broadcast queue, sub is the
 * subscriber's read position + 1 (0 = not a subscriber), lost counts
 * messages overwritten before it could read them (not yet reported), and
 * movers has bit j set while the sender in slot j may be between moving
 * the subscriber on and adding the message it overwrote to lost (not
 * cleared with the slot: each sender clears its own bit, or its reaper
 * does). overtook is a sender's intent: the subscriber slot index + 1
 * whose move it won and has not yet counted in lost (0 = none).
 */
struct ipcx__shm_slot {
	alignas(IPCX__SHM_LINE) _Atomic uint64_t owner;
	_Atomic uint64_t res_start;
	_Atomic uint64_t res_end;
	_Atomic uint64_t claim[2];
	_Atomic uint32_t waiting; /* 0, IPCX__WAIT_RECV or IPCX__WAIT_SEND */
	_Atomic uint32_t role;    /* IPCX_SEND | IPCX_RECV of the owner */
	_Atomic uint64_t sub;
	_Atomic uint32_t polling;
	_Atomic uint32_t overtook;
	/* Counters: written by the owner only, but for lost and movers (senders). */
	alignas(IPCX__SHM_LINE) _Atomic uint64_t msgs_sent;
	_Atomic uint64_t bytes_sent;
	_Atomic uint64_t msgs_recv;
	_Atomic uint64_t bytes_recv;
	_Atomic uint64_t poll_id; /* 0 = no FIFO */
	_Atomic uint64_t lost;
	_Atomic uint64_t movers;
	_Atomic uint32_t in_recv; /* 1 while the owner is inside a receive call (lease.c) */
	_Atomic uint32_t in_send; /* 1 while it is inside a send (a reservation) */
	/*
	 * Unbounded queues: position + 1 from which a claiming receiver reads
	 * record headers during one attempt, 0 = none; no trim punches it
	 * (grow.c).
	 */
	alignas(IPCX__SHM_LINE) _Atomic uint64_t reading;
};
_Static_assert(IPCX__SHM_MAX_PEERS <= 64 && IPCX__SHM_MAX_PEERS <= (1u << IPCX__ST_SLOT_BITS),
	       "a slot index must fit a record state and a movers mask");
#define IPCX__SLOT_LIVE 1u
#define IPCX__WAIT_RECV 1u
#define IPCX__WAIT_SEND 2u
/* recv_waiters counts sleepers in its low 16 bits and pollers above. */
#define IPCX__POLLER (1u << 16)
#define IPCX__SLEEPERS (IPCX__POLLER - 1)

/*
 * The segment header. The first group is immutable after creation; magic
 * is stored last, with release, once everything else is in place.
 */
struct ipcx__shm_hdr {
	_Atomic uint64_t magic;
	uint32_t layout;     /* IPCX__SHM_LAYOUT_VERSION */
	uint32_t hdr_size;   /* sizeof(struct ipcx__shm_hdr) */
	uint64_t seg_size;   /* bytes in the segment */
	uint64_t slot_off;   /* offset of the peer slots */
	uint32_t slot_size;  /* sizeof(struct ipcx__shm_slot) */
	uint32_t max_peers;
	uint64_t ring_off;   /* offset of the ring */
	uint64_t ring_size;  /* power of two */
	uint64_t cap;        /* bytes of records the queue holds, <= ring_size */
	uint64_t max_msg;
	uint32_t pattern;    /* enum ipcx__shm_pattern */
	uint32_t flags;      /* enum ipcx__shm_flag */
	int32_t creator_pid;
	int64_t created_ns;  /* CLOCK_REALTIME */

	/* Written by senders. */
	alignas(IPCX__SHM_LINE) _Atomic uint64_t tail;
	/* Written by receivers: the oldest position that may hold a message, and the release cursor. */
	alignas(IPCX__SHM_LINE) _Atomic uint64_t head;
	_Atomic uint64_t rel;
	/*
	 * The wait protocol (futex.c): a futex word and a waiter count for
	 * receivers waiting for messages, and the same for senders waiting
	 * for room, each pair on its own line.
	 */
	alignas(IPCX__SHM_LINE) _Atomic uint32_t data_seq;
	_Atomic uint32_t recv_waiters;
	_Atomic uint32_t data_woken; /* 1 once a wake-up went out, until a receiver prepares to sleep */
	alignas(IPCX__SHM_LINE) _Atomic uint32_t space_seq;
	_Atomic uint32_t send_waiters;
	_Atomic uint32_t space_woken;
	/* Held while a peer joins, leaves, or is reaped (peer.c). */
	alignas(IPCX__SHM_LINE) _Atomic uint64_t reclaim_lock;
	/* Statistics: counters of peers that have left, and the last activity. */
	alignas(IPCX__SHM_LINE) _Atomic uint64_t retired_msgs_sent;
	_Atomic uint64_t retired_bytes_sent;
	_Atomic uint64_t retired_msgs_recv;
	_Atomic uint64_t retired_bytes_recv;
	_Atomic int32_t last_sender_pid;
	_Atomic int32_t last_receiver_pid;
	_Atomic int64_t last_send_ns; /* CLOCK_REALTIME */
	_Atomic int64_t last_recv_ns;
	/*
	 * Unbounded queues only (grow.c): the ring is backed by memory in
	 * [trimmed, grown), both multiples of IPCX__SHM_CHUNK that only grow.
	 * Senders move grown after allocating; a receiver holding trim_lock
	 * (a process token, taken over from a dead holder) gives back the
	 * chunks behind rel and then moves trimmed.
	 */
	alignas(IPCX__SHM_LINE) _Atomic uint64_t grown;
	_Atomic uint64_t trimmed;
	_Atomic uint64_t trim_lock;
	/* pattern=mpsc: bit i is set once lane i exists (lanes.c). */
	alignas(IPCX__SHM_LINE) _Atomic uint64_t lanes;
	/*
	 * pattern=queue: the receiver that holds the sole-receiver lease and
	 * the sender that holds the sole-sender lease (slot + 1, 0 = none),
	 * with IPCX__SOLO_REVOKE once another peer asked for it back (lease.c).
	 */
	_Atomic uint64_t solo;
	_Atomic uint64_t solo_send;
};
#define IPCX__SOLO_SLOT 0xffu
#define IPCX__SOLO_REVOKE 0x100u

#endif /* IPCX_SHM_LAYOUT_H */
