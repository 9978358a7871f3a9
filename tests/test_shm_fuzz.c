/*
 * test_shm_fuzz.c - the shm:// engine against corrupt shared memory.
 *
 * docs/shm.md promises that every index, length and offset read from the
 * shared header or a record header is checked before use: a corrupt queue
 * gives -EPROTO, never an access out of bounds, and never a hang. Each
 * round of this fuzzer creates a fresh queue, brings it into a random
 * state (sends, receives of every selector, send and receive loans, some
 * left pending), scribbles on its segment (immutable and moving header
 * fields, peer slots, record headers in the ring, with random, extreme and
 * plausible values), and carries on with random calls on the channels it
 * has and on fresh ones, every one with timeout 0 or a few milliseconds.
 * Every call must return, with a success or an error a corrupt queue may
 * give, and what it hands out must lie where it should: a received length
 * within the buffer and maxmsg, a loan inside the ring of one of the
 * queue's segments. ASan and UBSan watch every access in between.
 *
 * A round runs in a process of its own, every call under a watchdog, so a
 * crash or a hang ends that round only and is reported with its seed.
 * Rounds are deterministic: round i of a configuration uses the seed
 * FUZZ_SEED_BASE + i, and
 *
 *   IPCX_FUZZ_SEED=0x5eed0011 IPCX_FUZZ_VERBOSE=1 ./test_shm_fuzz fuzz_queue
 *
 * runs that one round again, printing every call. IPCX_FUZZ_ROUNDS=N runs
 * N rounds per configuration, IPCX_FUZZ_FIRST=F starts them at round F
 * (new seeds for a longer campaign, with IPCX_TEST_TIMEOUT raised), and
 * IPCX_FUZZ_WATCHDOG=S lets a call run S seconds before it counts as hung
 * (long enough to attach gdb).
 */
#include "harness.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/time.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

#include "../src/shm/layout.h" /* the bytes to scribble on */

#define FUZZ_COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

#define FUZZ_SEED_BASE 0x5eed0000ull
/* Every configuration's maxmsg (its URL says maxmsg=200). */
#define FUZZ_MAX_MSG 200u
#define FUZZ_MAX_CHANS 8
/* The queue's own segment and up to four lanes of an mpsc queue. */
#define FUZZ_MAX_SEGS 5
#define FUZZ_MAX_LANES 4
/* Of an unbounded queue's sparse ring only this much is mapped and scribbled on. */
#define FUZZ_UNBOUNDED_MAP ((uint64_t)1 << 20)
/* Real record positions a walk from the head collects, as targets and values. */
#define FUZZ_MAX_POSITIONS 64
/*
 * Seconds a call may take before it counts as hung (every call's own
 * timeout is <= 4 ms, but a reclaim lock a scribble left held is taken
 * over only after 1 s: src/shm/peer.c, IPCX__LOCK_PATIENCE_NS).
 */
#define FUZZ_CALL_LIMIT_S 3
/* The watchdog looks this often (ms) while a call runs. */
#define FUZZ_TICK_MS 10
/*
 * Memory an unbounded queue's segment may hold (its messages take a few
 * KiB, its backed window a few 1 MiB chunks). A corrupt cursor must not
 * make a call back the ring without bound: the watchdog stops a call that
 * goes past this, so that the fuzzer never fills /dev/shm.
 */
#define FUZZ_BACKED_MAX ((uint64_t)64 << 20)
/*
 * Milliseconds a round's calls may overrun their timeouts in all: a call
 * with timeout 0 takes microseconds, but one that naps on every call (a
 * stall that corruption made permanent) is no better than a hang. Two
 * reclaim locks scribbled on (an mpsc queue's master and a lane) cost a
 * second each.
 */
#define FUZZ_LATE_LIMIT_MS 3000
/*
 * Seconds a round may take beyond one call's limit before its process is
 * killed (its calls take a few ms each, with FUZZ_LATE_LIMIT_MS to spare:
 * this is for a watchdog that failed).
 */
#define FUZZ_ROUND_SLACK_S 8
/* Exit status of a round whose call hung, or backed an unbounded ring past FUZZ_BACKED_MAX. */
#define FUZZ_HANG_STATUS 86
#define FUZZ_BACKED_STATUS 87
/* Pollable descriptors (a FIFO each, removed after the round) one round may make. */
#define FUZZ_MAX_FIFOS 16
/* Failing rounds told in full per configuration; the others by seed only. */
#define FUZZ_TELL_MAX 10
/*
 * Seconds before the harness's limit (IPCX_TEST_TIMEOUT, 30 s) at which a
 * configuration stops starting rounds, so that even its last round ends
 * (or is killed) and has its queue removed before the harness kills it.
 */
#define FUZZ_SPARE_S (FUZZ_CALL_LIMIT_S + FUZZ_ROUND_SLACK_S + 2)

/* One configuration: a queue kind and how a round uses it. */
struct fuzz_config {
	const char *name;
	const char *opts;   /* URL options of the queue a round creates */
	unsigned rounds;
	int extra_role;     /* the role of the third channel a round may open at the start */
	bool lanes;         /* pattern=mpsc: senders write into lane segments NAME#i */
	bool unbounded;     /* a sparse ring: only its first MiB is mapped and corrupted */
};

/*
 * The call a round's process is making, in memory shared with the process
 * that runs the rounds, so that a round that crashed or hung is told with
 * the call it was in.
 */
struct fuzz_trace {
	unsigned call;
	char what[240];
	struct timespec start; /* when the call began */
};
static struct fuzz_trace *fuzz_trace;

/* A channel of the round: what it is for, and the loans it holds. */
struct fuzz_chan {
	ipcx_chan *ch;
	int role;
	size_t max_msg;   /* what it was opened with (a corrupt header may say less) */
	bool typed;       /* it selects by type (a corrupt pattern may say broadcast) */
	size_t send_loan; /* bytes of the outstanding send loan + 1, 0 = none */
	bool recv_loan;
	bool fifo;        /* its pollable descriptor exists and is registered for removal */
};

/* A segment of the queue as this fuzzer maps it, with its geometry as created. */
struct fuzz_seg {
	char name[128];
	unsigned char *base;
	size_t len;           /* bytes mapped: header, slots and ring_mapped bytes of ring */
	uint64_t slot_off, ring_off, ring_size, cap;
	uint64_t ring_mapped; /* 0 for the master of an mpsc queue, which has no ring */
	unsigned max_peers;
};

struct fuzz_round {
	const struct fuzz_config *cfg;
	unsigned index;
	uint64_t seed, rng;
	bool verbose;
	int timeout;        /* of the call under way, in ms */
	long long late_us;  /* how far the round's calls overran their timeouts, in all */
	const char *name;
	char url[256];   /* with the options: creates the queue */
	char plain[160]; /* without: opens it as it is */
	uint64_t ring_off; /* of every segment of the queue, as created */
	struct fuzz_chan chans[FUZZ_MAX_CHANS];
	struct fuzz_seg segs[FUZZ_MAX_SEGS];
	unsigned fifos;
	uint64_t positions[FUZZ_MAX_POSITIONS];
	unsigned npositions;
	unsigned next; /* the first of them committed, the next a receiver takes (or the tail) */
};

/* ---- randomness ------------------------------------------------------- */

/* xorshift64*: small, fast, and the same sequence on every machine. */
static uint64_t fuzz_next(struct fuzz_round *r)
{
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 0x2545f4914f6cdd1dull;
}

/* A number in [0, n), 0 for n == 0. */
static uint64_t fuzz_below(struct fuzz_round *r, uint64_t n)
{
	return n ? fuzz_next(r) % n : 0;
}

static bool fuzz_one_in(struct fuzz_round *r, unsigned n)
{
	return fuzz_below(r, n) == 0;
}

/* splitmix64 spreads neighbouring seeds apart; the state is never 0. */
static uint64_t fuzz_seed_state(uint64_t seed)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return z ? z : 1;
}

/* ---- calls and their results ------------------------------------------ */

static void fuzz_fail(const struct fuzz_round *r, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

/* Reports what went wrong in the call under way, with the round's seed, and ends the round. */
static void fuzz_fail(const struct fuzz_round *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "  %s round %u (seed %#llx), call %u, %s: ", r->cfg->name, r->index,
		(unsigned long long)r->seed, fuzz_trace->call, fuzz_trace->what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	_exit(1);
}

/* What the watchdog watches during a call: the ticks it has left, and an unbounded segment. */
static volatile sig_atomic_t fuzz_ticks_left;
static int fuzz_backed_fd = -1;

/* The bytes of memory the segment open as fd holds (tmpfs counts what is allocated). */
static uint64_t fuzz_backed(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

/* Ends the round from the watchdog, telling where the call was (symbolized when ASan can). */
static void fuzz_stop(const char *why, size_t len, int status)
{
	(void)!write(STDERR_FILENO, why, len);
#ifdef __SANITIZE_ADDRESS__
	__sanitizer_print_stack_trace();
#endif
	_exit(status);
}

/*
 * The watchdog, every FUZZ_TICK_MS while a call runs: a call that did not
 * return within its limit hangs, and one that made an unbounded queue's
 * segment hold more than FUZZ_BACKED_MAX allocates without bound.
 */
static void fuzz_on_tick(int sig)
{
	static const char hung[] = "  watchdog: a call did not return; where it was:\n";
	static const char backed[] = "  watchdog: a call backs the unbounded ring without bound; "
				     "where it was:\n";
	(void)sig;
	if (fuzz_backed_fd >= 0 && fuzz_backed(fuzz_backed_fd) > FUZZ_BACKED_MAX)
		fuzz_stop(backed, sizeof(backed) - 1, FUZZ_BACKED_STATUS);
	if (--fuzz_ticks_left <= 0)
		fuzz_stop(hung, sizeof(hung) - 1, FUZZ_HANG_STATUS);
}

/* Starts (ms > 0) or stops (0) the watchdog's ticks. */
static void fuzz_ticking(long ms)
{
	struct itimerval t = {{0, ms * 1000}, {0, ms * 1000}};
	setitimer(ITIMER_REAL, &t, NULL);
}

static unsigned fuzz_call_limit_s(void)
{
	const char *s = getenv("IPCX_FUZZ_WATCHDOG");
	return s && atoi(s) > 0 ? (unsigned)atoi(s) : FUZZ_CALL_LIMIT_S;
}

static void fuzz_begin(struct fuzz_round *r, int timeout, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Records the call about to be made, which may wait timeout ms, and arms
 * the watchdog for it.
 */
static void fuzz_begin(struct fuzz_round *r, int timeout, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fuzz_trace->call++;
	vsnprintf(fuzz_trace->what, sizeof(fuzz_trace->what), fmt, ap);
	va_end(ap);
	if (r->verbose)
		fprintf(stderr, "    %u: %s", fuzz_trace->call, fuzz_trace->what);
	r->timeout = timeout;
	clock_gettime(CLOCK_MONOTONIC, &fuzz_trace->start);
	fuzz_ticks_left = (sig_atomic_t)(fuzz_call_limit_s() * 1000 / FUZZ_TICK_MS);
	fuzz_ticking(FUZZ_TICK_MS);
}

/* The errors a call on a corrupt queue may give; -EINVAL only for a misuse of the API. */
static bool fuzz_error_allowed(long rc, bool misuse)
{
	switch (-rc) {
	case EPROTO:
	case ENOMSG:
	case EAGAIN:
	case ETIMEDOUT:
	case EMSGSIZE:
	case EOVERFLOW:
	case EBUSY:
	case ENOMEM:
	case EPIPE:
	case EACCES:
	case ENOENT:
	case EEXIST:
		return true;
	case EINVAL:
		return misuse;
	}
	return false;
}

/*
 * Ends the call begun last: stops the watchdog and checks its result, how
 * long it took, and what an unbounded queue's segment holds after it.
 * misuse says the call broke the API's rules on purpose (a release with
 * nothing on loan): it must fail, -EINVAL being one way.
 */
static void fuzz_end(struct fuzz_round *r, long rc, bool misuse)
{
	fuzz_ticking(0);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long us = (now.tv_sec - fuzz_trace->start.tv_sec) * 1000000LL +
		       (now.tv_nsec - fuzz_trace->start.tv_nsec) / 1000;
	if (r->verbose)
		fprintf(stderr, " = %ld%s%s (%lld us)\n", rc, rc < 0 ? " " : "",
			rc < 0 ? ipcx_errname((int)rc) : "", us);
	if (us > r->timeout * 1000LL)
		r->late_us += us - r->timeout * 1000LL;
	if (r->late_us > FUZZ_LATE_LIMIT_MS * 1000LL)
		fuzz_fail(r, "the round's calls overran their timeouts by %lld ms in all (this one "
			     "took %lld ms)", r->late_us / 1000, us / 1000);
	if (fuzz_backed_fd >= 0 && fuzz_backed(fuzz_backed_fd) > FUZZ_BACKED_MAX)
		fuzz_fail(r, "the unbounded queue's segment holds %llu MiB after it",
			  (unsigned long long)(fuzz_backed(fuzz_backed_fd) >> 20));
	if (rc >= 0 && misuse)
		fuzz_fail(r, "a misuse succeeded (%ld)", rc);
	if (rc < 0 && !fuzz_error_allowed(rc, misuse))
		fuzz_fail(r, "returned %ld (%s): %s", rc, ipcx_errname((int)rc), ipcx_errmsg());
}

/* ---- the segments ----------------------------------------------------- */

/*
 * Maps the segment name (the queue's, or a lane "NAME#i") read-write, as
 * it was created: its geometry is read now, before this round scribbles on
 * it, and never again. Of the ring only the first FUZZ_UNBOUNDED_MAP bytes
 * of an unbounded queue are mapped. NULL when there is no such segment.
 */
static struct fuzz_seg *fuzz_seg(struct fuzz_round *r, const char *name)
{
	struct fuzz_seg *s = NULL;
	for (unsigned i = 0; i < FUZZ_MAX_SEGS; i++) {
		if (r->segs[i].base && strcmp(r->segs[i].name, name) == 0)
			return &r->segs[i];
		if (!s && !r->segs[i].base)
			s = &r->segs[i];
	}
	if (!s)
		return NULL;
	char path[200];
	snprintf(path, sizeof(path), "/dev/shm/ipcx.%s", name);
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	struct ipcx__shm_hdr h;
	bool ok = fstat(fd, &st) == 0 && pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
		  h.magic == IPCX__SHM_MAGIC && h.ring_off <= (uint64_t)st.st_size &&
		  h.slot_off + (uint64_t)h.max_peers * sizeof(struct ipcx__shm_slot) <= h.ring_off;
	if (!ok) {
		close(fd);
		return NULL;
	}
	uint64_t ring = (uint64_t)st.st_size - h.ring_off;
	if (ring > h.ring_size)
		ring = h.ring_size;
	if (r->cfg->unbounded && ring > FUZZ_UNBOUNDED_MAP)
		ring = FUZZ_UNBOUNDED_MAP;
	size_t len = (size_t)(h.ring_off + ring);
	void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return NULL;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->base = base;
	s->len = len;
	s->slot_off = h.slot_off;
	s->ring_off = h.ring_off;
	s->ring_size = h.ring_size;
	s->cap = h.cap;
	s->ring_mapped = ring;
	s->max_peers = h.max_peers;
	return s;
}

static struct ipcx__shm_hdr *fuzz_hdr(const struct fuzz_seg *s)
{
	return (struct ipcx__shm_hdr *)s->base;
}

static struct ipcx__shm_slot *fuzz_slot(const struct fuzz_seg *s, unsigned i)
{
	return (struct ipcx__shm_slot *)(s->base + s->slot_off) + i;
}

/* The segment a mutation goes to: the queue's, or one of its lanes that exists. */
static struct fuzz_seg *fuzz_pick_seg(struct fuzz_round *r)
{
	if (r->cfg->lanes && !fuzz_one_in(r, 3)) {
		char lane[128];
		unsigned i = (unsigned)fuzz_below(r, FUZZ_MAX_LANES);
		snprintf(lane, sizeof(lane), "%s#%u", r->name, i);
		struct fuzz_seg *s = fuzz_seg(r, lane);
		if (s)
			return s;
	}
	return fuzz_seg(r, r->name);
}

/*
 * Collects the positions of the records from the head to the tail (at
 * most FUZZ_MAX_POSITIONS), and the tail, as targets and plausible values,
 * and which is the first committed one (a sole receiver publishes its
 * position only now and then: those before it are mostly released). It
 * reads what may already be corrupt: it stops at anything odd.
 */
static void fuzz_walk(struct fuzz_round *r, const struct fuzz_seg *s)
{
	r->npositions = 0;
	r->next = 0;
	if (!s->ring_mapped)
		return;
	struct ipcx__shm_hdr *h = fuzz_hdr(s);
	uint64_t head = atomic_load(&h->head), rel = atomic_load(&h->rel);
	uint64_t tail = atomic_load(&h->tail), pos = head > rel ? head : rel;
	uint64_t mask = s->ring_size - 1;
	while (pos < tail && pos % 8 == 0 && r->npositions < FUZZ_MAX_POSITIONS - 1) {
		uint64_t off = pos & mask, room = s->ring_size - off;
		if (room < IPCX__SHM_REC_HDR) {
			pos += room;
			continue;
		}
		if (off + IPCX__SHM_REC_HDR > s->ring_mapped)
			break;
		struct ipcx__shm_rec *rec = (struct ipcx__shm_rec *)(s->base + s->ring_off + off);
		uint32_t span = atomic_load(&rec->span);
		uint64_t st = atomic_load(&rec->state);
		if (r->next == r->npositions &&
		    !(ipcx__st_is_at(st, pos) && ipcx__st_stage(st) == IPCX__ST_COMMITTED))
			r->next++;
		r->positions[r->npositions++] = pos;
		if (span < IPCX__SHM_REC_HDR || span % 8 != 0 || span > room)
			break;
		pos += span;
	}
	r->positions[r->npositions++] = tail;
}

/* Where a loan lies: the segment (the queue's or a lane) and the offset in its ring. */
struct fuzz_place {
	char seg[256];
	uint64_t off;
};

/*
 * Does [p, p + len) lie in the ring of one of the round's segments, as
 * this process's channels mapped them? /proc/self/maps names the file of
 * every mapping; a segment is mapped from its start. *at tells where.
 */
static bool fuzz_in_ring(const struct fuzz_round *r, const void *p, size_t len,
			 struct fuzz_place *at)
{
	static const char dir[] = "/dev/shm/ipcx.";
	char prefix[200], line[512];
	snprintf(prefix, sizeof(prefix), "%s%s", dir, r->name);
	size_t plen = strlen(prefix);
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return false;
	uintptr_t a = (uintptr_t)p;
	bool inside = false;
	while (!inside && fgets(line, sizeof(line), f)) {
		unsigned long start, end, off;
		char path[256] = "";
		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %255s", &start, &end, &off, path) != 4)
			continue;
		if (strncmp(path, prefix, plen) != 0 || (path[plen] != '\0' && path[plen] != '#'))
			continue;
		inside = off == 0 && a >= start + r->ring_off && a <= end && len <= end - a;
		if (inside) {
			snprintf(at->seg, sizeof(at->seg), "%s", path + sizeof(dir) - 1);
			at->off = a - start - r->ring_off;
		}
	}
	fclose(f);
	return inside;
}

/*
 * The span of the record whose payload begins at at, read through our own
 * mapping of its segment; 0 when we cannot tell (not mapped).
 */
static uint32_t fuzz_span_before(struct fuzz_round *r, const struct fuzz_place *at)
{
	struct fuzz_seg *s = fuzz_seg(r, at->seg);
	if (!s || at->off < IPCX__SHM_REC_HDR || at->off > s->ring_mapped)
		return 0;
	const struct ipcx__shm_rec *rec =
		(const struct ipcx__shm_rec *)(s->base + s->ring_off + at->off) - 1;
	return atomic_load(&rec->span);
}

/* ---- corruption ------------------------------------------------------- */

/* What values fit a field, beyond random and extreme ones. */
enum fuzz_kind {
	FUZZ_COUNT,  /* a counter, flag or small number */
	FUZZ_POS,    /* a ring position */
	FUZZ_POS1,   /* a position + 1 (claims, sub, reading) */
	FUZZ_STATE,  /* a record state */
	FUZZ_SIZE,   /* a byte count: sizes, offsets, len, span */
	FUZZ_TOKEN,  /* a process token (the locks) */
	FUZZ_OWNER,  /* a slot's owner: token << 2 | live */
	FUZZ_SLOT,   /* a slot index + 1, maybe with IPCX__SOLO_REVOKE */
	FUZZ_MASK,   /* a bit mask of slots or lanes */
	FUZZ_TYPE,   /* a message type */
};

struct fuzz_field {
	const char *name;
	size_t off, size;
	enum fuzz_kind kind;
};

#define FUZZ_FIELD(type, f, k) {#f, offsetof(type, f), sizeof(((type *)0)->f), k}
#define FUZZ_HDR(f, k) FUZZ_FIELD(struct ipcx__shm_hdr, f, k)
#define FUZZ_SLOT(f, k) FUZZ_FIELD(struct ipcx__shm_slot, f, k)
#define FUZZ_REC(f, k) FUZZ_FIELD(struct ipcx__shm_rec, f, k)

/* Header fields fixed at creation: an opener checks them, a channel open keeps its own copy. */
static const struct fuzz_field fuzz_fixed_fields[] = {
	FUZZ_HDR(ring_size, FUZZ_SIZE), FUZZ_HDR(cap, FUZZ_SIZE),
	FUZZ_HDR(max_msg, FUZZ_SIZE),   FUZZ_HDR(ring_off, FUZZ_SIZE),
	FUZZ_HDR(slot_off, FUZZ_SIZE),  FUZZ_HDR(pattern, FUZZ_COUNT),
	FUZZ_HDR(flags, FUZZ_COUNT),    FUZZ_HDR(max_peers, FUZZ_COUNT),
	FUZZ_HDR(seg_size, FUZZ_SIZE),  FUZZ_HDR(layout, FUZZ_COUNT),
	FUZZ_HDR(hdr_size, FUZZ_SIZE),  FUZZ_HDR(slot_size, FUZZ_SIZE),
};

/* Header words every peer reads and writes. */
static const struct fuzz_field fuzz_moving_fields[] = {
	FUZZ_HDR(tail, FUZZ_POS),
	FUZZ_HDR(head, FUZZ_POS),
	FUZZ_HDR(rel, FUZZ_POS),
	FUZZ_HDR(data_seq, FUZZ_COUNT),
	FUZZ_HDR(recv_waiters, FUZZ_COUNT),
	FUZZ_HDR(data_woken, FUZZ_COUNT),
	FUZZ_HDR(space_seq, FUZZ_COUNT),
	FUZZ_HDR(send_waiters, FUZZ_COUNT),
	FUZZ_HDR(space_woken, FUZZ_COUNT),
	FUZZ_HDR(reclaim_lock, FUZZ_TOKEN),
	FUZZ_HDR(grown, FUZZ_POS),
	FUZZ_HDR(trimmed, FUZZ_POS),
	FUZZ_HDR(trim_lock, FUZZ_TOKEN),
	FUZZ_HDR(lanes, FUZZ_MASK),
	FUZZ_HDR(solo, FUZZ_SLOT),
	FUZZ_HDR(solo_send, FUZZ_SLOT),
};

static const struct fuzz_field fuzz_slot_fields[] = {
	FUZZ_SLOT(owner, FUZZ_OWNER),
	FUZZ_SLOT(res_start, FUZZ_POS),
	FUZZ_SLOT(res_end, FUZZ_POS),
	{"claim[0]", offsetof(struct ipcx__shm_slot, claim), sizeof(uint64_t), FUZZ_POS1},
	{"claim[1]", offsetof(struct ipcx__shm_slot, claim) + sizeof(uint64_t), sizeof(uint64_t),
	 FUZZ_POS1},
	FUZZ_SLOT(waiting, FUZZ_COUNT),
	FUZZ_SLOT(role, FUZZ_COUNT),
	FUZZ_SLOT(sub, FUZZ_POS1),
	FUZZ_SLOT(polling, FUZZ_COUNT),
	FUZZ_SLOT(overtook, FUZZ_SLOT),
	FUZZ_SLOT(poll_id, FUZZ_COUNT),
	FUZZ_SLOT(lost, FUZZ_COUNT),
	FUZZ_SLOT(movers, FUZZ_MASK),
	FUZZ_SLOT(in_recv, FUZZ_COUNT),
	FUZZ_SLOT(in_send, FUZZ_COUNT),
	FUZZ_SLOT(reading, FUZZ_POS1),
};

static const struct fuzz_field fuzz_rec_fields[] = {
	FUZZ_REC(state, FUZZ_STATE),
	FUZZ_REC(type, FUZZ_TYPE),
	FUZZ_REC(len, FUZZ_SIZE),
	FUZZ_REC(span, FUZZ_SIZE),
};

static uint64_t fuzz_peek(const void *at, size_t size)
{
	uint64_t v = 0;
	memcpy(&v, at, size); /* little-endian: the low bytes */
	return v;
}

static void fuzz_poke(void *at, size_t size, uint64_t v)
{
	memcpy(at, &v, size);
}

/*
 * A position near the live part of the ring: the tail, head, release
 * cursor or a real record's, moved by a few records, a lap, to the next
 * lap's start, or off the 8-byte grid; or one at the top of the 64-bit
 * range, where a position plus a record wraps to 0.
 */
static uint64_t fuzz_position(struct fuzz_round *r, const struct fuzz_seg *s)
{
	struct ipcx__shm_hdr *h = fuzz_hdr(s);
	uint64_t pos;
	switch (fuzz_below(r, 4)) {
	case 0:
		pos = atomic_load(&h->tail);
		break;
	case 1:
		pos = atomic_load(&h->head);
		break;
	case 2:
		pos = atomic_load(&h->rel);
		break;
	default:
		pos = r->npositions ? r->positions[fuzz_below(r, r->npositions)] : 0;
		break;
	}
	int64_t k = (int64_t)fuzz_below(r, 17) - 8;
	switch (fuzz_below(r, 9)) {
	case 0:
	case 1:
		return pos;
	case 2:
	case 3:
		return pos + (uint64_t)(k * 8);
	case 4:
		return pos + s->ring_size;
	case 5:
		return pos - s->ring_size;
	case 6:
		return pos + s->ring_size - (pos & (s->ring_size - 1)); /* the next lap's start */
	case 7:
		return pos + 1 + fuzz_below(r, 7); /* misaligned */
	default:
		return ~(uint64_t)7 - 8 * fuzz_below(r, 4);
	}
}

/*
 * The owner word of a live peer: an open channel's slot holds ours (this
 * process's token, peer.c). Without one, our pid with no start time,
 * which reads as a dead process.
 */
static uint64_t fuzz_live_owner(const struct fuzz_seg *s)
{
	for (unsigned i = 0; i < s->max_peers; i++) {
		uint64_t o = atomic_load(&fuzz_slot(s, i)->owner);
		if (o)
			return o;
	}
	return (uint64_t)getpid() << 2 | IPCX__SLOT_LIVE;
}

/* A value that makes sense for a field of kind, to get past the first checks. */
static uint64_t fuzz_plausible(struct fuzz_round *r, const struct fuzz_seg *s,
			       enum fuzz_kind kind, uint64_t cur)
{
	const uint64_t sizes[] = {
		8, 16, IPCX__SHM_REC_HDR - 1, IPCX__SHM_REC_HDR, IPCX__SHM_REC_HDR + 8,
		FUZZ_MAX_MSG, FUZZ_MAX_MSG + 1, ipcx__shm_span(FUZZ_MAX_MSG),
		ipcx__shm_span(FUZZ_MAX_MSG) + 8, s->cap, s->cap + 8, s->ring_size,
		s->ring_size - 8, s->ring_size + 8, 2 * s->ring_size, s->ring_off, s->len,
		(uint64_t)1 << 32, UINT32_MAX,
	};
	switch (kind) {
	case FUZZ_POS:
		return fuzz_position(r, s);
	case FUZZ_POS1:
		return fuzz_position(r, s) + 1;
	case FUZZ_STATE: {
		unsigned slot = fuzz_one_in(r, 4) ? (unsigned)fuzz_below(r, 256)
						  : (unsigned)fuzz_below(r, 4);
		return ipcx__st(fuzz_position(r, s), slot, (unsigned)fuzz_below(r, 6));
	}
	case FUZZ_SIZE:
		return sizes[fuzz_below(r, FUZZ_COUNT_OF(sizes))];
	case FUZZ_TOKEN:
		/*
		 * Mostly a dead process's (ours with another start time), now
		 * and then ours: a lock a live process seems to hold costs a
		 * second's patience (peer.c), and the rounds would crawl.
		 */
		return (fuzz_live_owner(s) >> 2) ^ (fuzz_one_in(r, 32) ? 0 : (uint64_t)1 << 22);
	case FUZZ_OWNER:
		return fuzz_one_in(r, 2) ? fuzz_live_owner(s) : fuzz_live_owner(s) & ~(uint64_t)3;
	case FUZZ_SLOT:
		return (1 + fuzz_below(r, s->max_peers + 1)) |
		       (fuzz_one_in(r, 3) ? IPCX__SOLO_REVOKE : 0);
	case FUZZ_MASK:
		return cur ^ (uint64_t)1 << fuzz_below(r, 64);
	case FUZZ_TYPE: {
		const int64_t types[] = {0, -1, 1, 2, 3, 4, 5, 6, LONG_MAX, LONG_MIN};
		return (uint64_t)types[fuzz_below(r, FUZZ_COUNT_OF(types))];
	}
	case FUZZ_COUNT:
		break;
	}
	const uint64_t counts[] = {1, 2, IPCX__POLLER, IPCX__POLLER - 1, 0xffffffffull, cur + 1,
				   cur - 1};
	return counts[fuzz_below(r, FUZZ_COUNT_OF(counts))];
}

/* A new value for field of kind whose value is cur: random, extreme, nearby or plausible. */
static uint64_t fuzz_value(struct fuzz_round *r, const struct fuzz_seg *s, enum fuzz_kind kind,
			   uint64_t cur)
{
	const int64_t deltas[] = {1, 7, 8, 16, 24, 64, 4096};
	int64_t delta = deltas[fuzz_below(r, FUZZ_COUNT_OF(deltas))];
	switch (fuzz_below(r, 8)) {
	case 0:
		return fuzz_next(r);
	case 1:
		return 0;
	case 2:
		return ~(uint64_t)0;
	case 3:
		return 1 + fuzz_below(r, 16);
	case 4:
		return cur + (uint64_t)(fuzz_one_in(r, 2) ? delta : -delta);
	default:
		return fuzz_plausible(r, s, kind, cur);
	}
}

/* Writes a new value into field at base, telling what it did when verbose. */
static void fuzz_mutate_field(struct fuzz_round *r, const struct fuzz_seg *s, unsigned char *base,
			      const struct fuzz_field *f, const char *where)
{
	uint64_t cur = fuzz_peek(base + f->off, f->size);
	fuzz_poke(base + f->off, f->size, fuzz_value(r, s, f->kind, cur));
	uint64_t now = fuzz_peek(base + f->off, f->size);
	if (r->verbose)
		fprintf(stderr, "    corrupt %s %s%s: %#llx -> %#llx\n", s->name, where, f->name,
			(unsigned long long)cur, (unsigned long long)now);
}

/*
 * The record header a mutation goes to: the next one a receiver reads, a
 * real record's further on (found by the walk), one near the end of the
 * ring, or any 8-aligned place mapped. Returns its offset in the ring.
 */
static uint64_t fuzz_record_offset(struct fuzz_round *r, const struct fuzz_seg *s)
{
	uint64_t mask = s->ring_size - 1;
	switch (r->npositions ? fuzz_below(r, 6) : 4 + fuzz_below(r, 2)) {
	case 0:
	case 1:
		return r->positions[r->next] & mask;
	case 2:
	case 3:
		return r->positions[fuzz_below(r, r->npositions)] & mask;
	case 4:
		if (s->ring_mapped == s->ring_size) /* the end of an unbounded ring is not mapped */
			return s->ring_size - 8 * (1 + fuzz_below(r, 6));
		return 8 * fuzz_below(r, s->ring_mapped / 8);
	default:
		return 8 * fuzz_below(r, s->ring_mapped / 8);
	}
}

/* A random entry of a table of fields. */
#define FUZZ_ANY(r, table) (&(table)[fuzz_below(r, FUZZ_COUNT_OF(table))])

/*
 * Copies a record header over another place in the ring (or onto
 * itself): a record that looks whole but lies where its state does not
 * say, or a second copy of one.
 */
static void fuzz_copy_record(struct fuzz_round *r, struct fuzz_seg *s)
{
	uint64_t from = fuzz_record_offset(r, s), to = fuzz_record_offset(r, s);
	if (from + IPCX__SHM_REC_HDR > s->ring_mapped || to + IPCX__SHM_REC_HDR > s->ring_mapped)
		return;
	unsigned char *ring = s->base + s->ring_off;
	memmove(ring + to, ring + from, IPCX__SHM_REC_HDR);
	if (r->verbose)
		fprintf(stderr, "    corrupt %s: the record header at ring offset %llu "
			"copied to %llu\n", s->name, (unsigned long long)from,
			(unsigned long long)to);
}

/*
 * One mutation of the segment s: a header field, a slot field, a record
 * header field, or a record header copied elsewhere.
 */
static void fuzz_mutate(struct fuzz_round *r, struct fuzz_seg *s)
{
	fuzz_walk(r, s);
	unsigned what = (unsigned)fuzz_below(r, 100);
	if (what < 10) {
		fuzz_mutate_field(r, s, s->base, FUZZ_ANY(r, fuzz_fixed_fields), "header ");
	} else if (what < 35) {
		fuzz_mutate_field(r, s, s->base, FUZZ_ANY(r, fuzz_moving_fields), "header ");
	} else if (what < 60 || !s->ring_mapped) {
		/* Mostly the slots in use (the first few), sometimes any. */
		unsigned i = (unsigned)fuzz_below(r, fuzz_one_in(r, 4) ? s->max_peers : 6);
		char where[32];
		snprintf(where, sizeof(where), "slot %u ", i);
		unsigned char *slot = (unsigned char *)fuzz_slot(s, i);
		fuzz_mutate_field(r, s, slot, FUZZ_ANY(r, fuzz_slot_fields), where);
	} else if (what < 92) {
		uint64_t off = fuzz_record_offset(r, s);
		const struct fuzz_field *f = FUZZ_ANY(r, fuzz_rec_fields);
		if (off + f->off + f->size > s->ring_mapped)
			return; /* a field past the end of the ring (the gap of its last bytes) */
		char where[48];
		snprintf(where, sizeof(where), "record at ring offset %llu ",
			 (unsigned long long)off);
		fuzz_mutate_field(r, s, s->base + s->ring_off + off, f, where);
	} else {
		fuzz_copy_record(r, s);
	}
}

/* A burst of 1 to 4 mutations, each on a segment of the queue. */
static void fuzz_corrupt(struct fuzz_round *r)
{
	unsigned n = 1 + (unsigned)fuzz_below(r, 4);
	for (unsigned i = 0; i < n; i++) {
		struct fuzz_seg *s = fuzz_pick_seg(r);
		if (s)
			fuzz_mutate(r, s);
	}
}

/* ---- the calls -------------------------------------------------------- */

static unsigned fuzz_index(const struct fuzz_round *r, const struct fuzz_chan *c)
{
	return (unsigned)(c - r->chans);
}

/* Does c hold a loan of the kind role says (a send loan, or a receive loan)? */
static bool fuzz_holds_loan(const struct fuzz_chan *c, int role)
{
	return role == IPCX_SEND ? c->send_loan != 0 : c->recv_loan;
}

/*
 * A random open channel that plays role (any, for 0), or NULL. With
 * loaned, mostly one that holds a loan of that role, so that loans are
 * given back more often than not.
 */
static struct fuzz_chan *fuzz_pick_for(struct fuzz_round *r, int role, bool loaned)
{
	struct fuzz_chan *found[FUZZ_MAX_CHANS], *holding[FUZZ_MAX_CHANS];
	unsigned n = 0, h = 0;
	for (unsigned i = 0; i < FUZZ_MAX_CHANS; i++) {
		struct fuzz_chan *c = &r->chans[i];
		if (!c->ch || (role && !(c->role & role)))
			continue;
		found[n++] = c;
		if (loaned && fuzz_holds_loan(c, role))
			holding[h++] = c;
	}
	if (h && !fuzz_one_in(r, 4))
		return holding[fuzz_below(r, h)];
	return n ? found[fuzz_below(r, n)] : NULL;
}

static struct fuzz_chan *fuzz_pick(struct fuzz_round *r, int role)
{
	return fuzz_pick_for(r, role, false);
}

static const char *fuzz_role_name(int role)
{
	return role == IPCX_SEND ? "send" : role == IPCX_RECV ? "recv" : "send+recv";
}

/* 0 mostly, else a few milliseconds (each such wait on an empty or full queue lasts that long). */
static int fuzz_timeout(struct fuzz_round *r)
{
	return fuzz_one_in(r, 12) ? 1 + (int)fuzz_below(r, 4) : 0;
}

/* A message length: 0 to maxmsg, now and then one past it. */
static size_t fuzz_length(struct fuzz_round *r)
{
	switch (fuzz_below(r, 16)) {
	case 0:
	case 1:
		return 0;
	case 2:
	case 3:
		return FUZZ_MAX_MSG;
	case 4:
		return FUZZ_MAX_MSG + 1 + fuzz_below(r, 64);
	default:
		return fuzz_below(r, FUZZ_MAX_MSG + 1);
	}
}

/* A message type: 1 to 5, now and then the largest. */
static long fuzz_type(struct fuzz_round *r)
{
	return fuzz_one_in(r, 32) ? LONG_MAX : 1 + (long)fuzz_below(r, 5);
}

/* A receive selector for c: 0, a type, a bound, or an extreme; 0 only without typed receive. */
static long fuzz_selector(struct fuzz_round *r, const struct fuzz_chan *c)
{
	if (!c->typed)
		return 0;
	switch (fuzz_below(r, 10)) {
	case 0:
	case 1:
	case 2:
	case 3:
		return 0;
	case 4:
	case 5:
	case 6:
		return 1 + (long)fuzz_below(r, 6);
	case 7:
	case 8:
		return -1 - (long)fuzz_below(r, 6);
	default:
		return fuzz_one_in(r, 2) ? LONG_MIN : LONG_MAX;
	}
}

/* Is type what selector may pick (System V rules)? */
static bool fuzz_type_fits(long selector, long type)
{
	if (type < 1)
		return false;
	if (selector > 0)
		return type == selector;
	if (selector < 0)
		return (unsigned long)type <= (unsigned long)(-(selector + 1)) + 1;
	return true;
}

/* Opens a channel in role (creating the queue with create); a failure must be a clean error. */
static struct fuzz_chan *fuzz_open(struct fuzz_round *r, int role, bool create)
{
	struct fuzz_chan *c = NULL;
	for (unsigned i = 0; i < FUZZ_MAX_CHANS && !c; i++)
		if (!r->chans[i].ch)
			c = &r->chans[i];
	if (!c)
		return NULL;
	const char *url = create ? r->url : r->plain;
	fuzz_begin(r, 0, "open ch%u %s %s", fuzz_index(r, c), fuzz_role_name(role), url);
	ipcx_chan *ch = NULL;
	int rc = ipcx_open(&ch, url, role | (create ? IPCX_CREATE | IPCX_EXCL : 0), 0);
	struct ipcx_caps caps = {0};
	if (rc == 0)
		rc = ipcx_caps_of(ch, &caps);
	fuzz_end(r, rc, false);
	if (rc < 0)
		return NULL;
	*c = (struct fuzz_chan){.ch = ch, .role = role, .max_msg = caps.max_msg,
				.typed = caps.flags & IPCX_CAP_TYPED};
	return c;
}

static void fuzz_open_any(struct fuzz_round *r)
{
	const int roles[] = {IPCX_SEND, IPCX_RECV, IPCX_SEND | IPCX_RECV};
	fuzz_open(r, roles[fuzz_below(r, FUZZ_COUNT_OF(roles))], false);
}

/* Closes a channel, with whatever loans it still holds. */
static void fuzz_close(struct fuzz_round *r, struct fuzz_chan *c)
{
	fuzz_begin(r, 0, "close ch%u%s%s", fuzz_index(r, c), c->send_loan ? " (send loan out)" : "",
		   c->recv_loan ? " (receive loan out)" : "");
	ipcx_close(c->ch);
	fuzz_end(r, 0, false);
	*c = (struct fuzz_chan){0};
}

static void fuzz_close_any(struct fuzz_round *r)
{
	struct fuzz_chan *c = fuzz_pick(r, 0);
	if (c)
		fuzz_close(r, c);
}

/* A send on c from a buffer of exactly len bytes (ASan sees a read past it). */
static int fuzz_send_on(struct fuzz_round *r, struct fuzz_chan *c, size_t len, long type,
			int timeout)
{
	unsigned char *data = malloc(len);
	if (!data)
		return -ENOMEM;
	memset(data, 0x5a, len);
	fuzz_begin(r, timeout, "send ch%u len %zu type %ld timeout %d", fuzz_index(r, c), len, type,
		   timeout);
	int rc = ipcx_send(c->ch, data, len, type, timeout);
	fuzz_end(r, rc, type < 1);
	free(data);
	return rc;
}

static void fuzz_send(struct fuzz_round *r)
{
	struct fuzz_chan *c = fuzz_pick(r, IPCX_SEND);
	if (c)
		fuzz_send_on(r, c, fuzz_length(r), fuzz_one_in(r, 64) ? 0 : fuzz_type(r),
			     fuzz_timeout(r));
}

/* Sends up to n messages, until the queue is full (or something else stops it). */
static void fuzz_send_some(struct fuzz_round *r, unsigned n)
{
	struct fuzz_chan *c = fuzz_pick(r, IPCX_SEND);
	for (unsigned i = 0; c && i < n; i++)
		if (fuzz_send_on(r, c, fuzz_below(r, FUZZ_MAX_MSG + 1), fuzz_type(r), 0) < 0)
			break;
}

/* Fills the queue, so that the ring laps. */
static void fuzz_fill(struct fuzz_round *r)
{
	fuzz_send_some(r, 64);
}

/*
 * A receive on c into a buffer of exactly size bytes (ASan sees a write
 * past it): the length within the buffer and maxmsg, the type one the
 * selector may pick, and -EMSGSIZE only for a buffer smaller than maxmsg
 * (a record that claims more than maxmsg is corrupt: -EPROTO).
 */
static ssize_t fuzz_recv_on(struct fuzz_round *r, struct fuzz_chan *c, size_t size,
			    long selector, int timeout)
{
	unsigned char *buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	long type = 0;
	fuzz_begin(r, timeout, "recv ch%u size %zu selector %ld timeout %d", fuzz_index(r, c), size,
		   selector, timeout);
	ssize_t n = ipcx_recv(c->ch, buf, size, selector, &type, timeout);
	fuzz_end(r, n, false);
	if (n >= 0 && ((size_t)n > size || (size_t)n > c->max_msg))
		fuzz_fail(r, "received %zd bytes into a buffer of %zu (maxmsg %zu)", n, size,
			  c->max_msg);
	if (n == -EMSGSIZE && size >= c->max_msg)
		fuzz_fail(r, "-EMSGSIZE for a buffer of maxmsg (%zu) bytes or more: %s", c->max_msg,
			  ipcx_errmsg());
	if (n >= 0 && !fuzz_type_fits(selector, type))
		fuzz_fail(r, "received type %ld for selector %ld", type, selector);
	free(buf);
	return n;
}

static void fuzz_recv(struct fuzz_round *r)
{
	struct fuzz_chan *c = fuzz_pick(r, IPCX_RECV);
	size_t size = fuzz_one_in(r, 2) ? fuzz_below(r, FUZZ_MAX_MSG + 1)
					: FUZZ_MAX_MSG + (fuzz_one_in(r, 2) ? 0 : 64);
	if (c)
		fuzz_recv_on(r, c, size, fuzz_selector(r, c), fuzz_timeout(r));
}

/* Receives until the queue is empty (a loss report of policy=overwrite goes on). */
static void fuzz_drain(struct fuzz_round *r)
{
	struct fuzz_chan *c = fuzz_pick(r, IPCX_RECV);
	for (unsigned i = 0; c && i < 64; i++) {
		ssize_t n = fuzz_recv_on(r, c, FUZZ_MAX_MSG, 0, 0);
		if (n < 0 && n != -EOVERFLOW)
			break;
	}
}

/* A send loan: it must lie in the ring; it is filled, and committed later (or never). */
static void fuzz_loan(struct fuzz_round *r)
{
	struct fuzz_chan *c = fuzz_pick(r, IPCX_SEND);
	if (!c)
		return;
	size_t len = fuzz_length(r);
	int timeout = fuzz_timeout(r);
	void *buf = NULL;
	fuzz_begin(r, timeout, "loan ch%u len %zu timeout %d%s", fuzz_index(r, c), len, timeout,
		   c->send_loan ? " (a loan is out)" : "");
	int rc = ipcx_loan(c->ch, len, &buf, timeout);
	fuzz_end(r, rc, false);
	if (rc < 0)
		return;
	if (c->send_loan)
		fuzz_fail(r, "a second send loan was granted");
	struct fuzz_place at;
	if (!fuzz_in_ring(r, buf, len, &at))
		fuzz_fail(r, "the loan %p of %zu bytes lies outside the queue's rings", buf, len);
	memset(buf, 0xa5, len);
	c->send_loan = len + 1;
}

static void fuzz_commit(struct fuzz_round *r)
{
	struct fuzz_chan *c = fuzz_pick_for(r, IPCX_SEND, true);
	if (!c)
		return;
	size_t loaned = c->send_loan ? c->send_loan - 1 : 0;
	size_t len = fuzz_one_in(r, 8) ? loaned + 1 : fuzz_below(r, loaned + 1);
	long type = fuzz_one_in(r, 32) ? 0 : fuzz_type(r);
	fuzz_begin(r, 0, "commit ch%u len %zu type %ld%s", fuzz_index(r, c), len, type,
		   c->send_loan ? "" : " (nothing on loan)");
	int rc = ipcx_commit(c->ch, len, type);
	fuzz_end(r, rc, !c->send_loan || type < 1 || len > loaned);
	if (rc == 0)
		c->send_loan = 0;
}

/* A receive loan: its length at most maxmsg, its bytes in a ring, every one read. */
static void fuzz_recv_loan(struct fuzz_round *r)
{
	struct fuzz_chan *c = fuzz_pick(r, IPCX_RECV);
	if (!c)
		return;
	long selector = fuzz_selector(r, c), type = 0;
	int timeout = fuzz_timeout(r);
	const void *buf = NULL;
	fuzz_begin(r, timeout, "recv_loan ch%u selector %ld timeout %d%s", fuzz_index(r, c),
		   selector, timeout, c->recv_loan ? " (a loan is out)" : "");
	ssize_t n = ipcx_recv_loan(c->ch, &buf, selector, &type, timeout);
	fuzz_end(r, n, false);
	if (n < 0)
		return;
	if (c->recv_loan)
		fuzz_fail(r, "a second receive loan was granted");
	if ((size_t)n > c->max_msg)
		fuzz_fail(r, "a loan of %zd bytes, beyond maxmsg %zu", n, c->max_msg);
	struct fuzz_place at;
	if (!fuzz_in_ring(r, buf, (size_t)n, &at))
		fuzz_fail(r, "the loan %p of %zd bytes lies outside the queue's rings", buf, n);
	uint32_t span = fuzz_span_before(r, &at);
	if (span && (uint64_t)n + IPCX__SHM_REC_HDR > span)
		fuzz_fail(r, "a loan of %zd bytes out of a record of %u", n, span);
	if (!fuzz_type_fits(selector, type))
		fuzz_fail(r, "received type %ld for selector %ld", type, selector);
	unsigned sum = 0;
	for (ssize_t i = 0; i < n; i++)
		sum += ((const volatile unsigned char *)buf)[i];
	(void)sum;
	c->recv_loan = true;
}

static void fuzz_release(struct fuzz_round *r)
{
	struct fuzz_chan *c = fuzz_pick_for(r, IPCX_RECV, true);
	if (!c)
		return;
	fuzz_begin(r, 0, "release ch%u%s", fuzz_index(r, c),
		   c->recv_loan ? "" : " (nothing on loan)");
	int rc = ipcx_release(c->ch);
	fuzz_end(r, rc, !c->recv_loan);
	c->recv_loan = false; /* given back, or lost to an overwrite or corruption */
}

static void fuzz_caps(struct fuzz_round *r)
{
	struct fuzz_chan *c = fuzz_pick(r, 0);
	if (!c)
		return;
	struct ipcx_caps caps;
	fuzz_begin(r, 0, "caps_of ch%u", fuzz_index(r, c));
	int rc = ipcx_caps_of(c->ch, &caps);
	fuzz_end(r, rc, false);
	if (rc == 0 && caps.max_msg != c->max_msg)
		fuzz_fail(r, "max_msg %zu, not the %zu it was opened with", caps.max_msg,
			  c->max_msg);
}

/*
 * Registers the FIFO behind the pollable descriptor fd for removal after
 * the round: a round that dies, a peer killed holding it, or a corrupt
 * poll_id would leave it behind.
 */
static void fuzz_register_fifo(int fd)
{
	char link[64], path[256];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n > 0) {
		path[n] = '\0';
		test_cleanup_path(path);
	}
}

/* The pollable descriptor, looked at with poll(2) and timeout 0. */
static void fuzz_poll(struct fuzz_round *r)
{
	struct fuzz_chan *c = fuzz_pick(r, IPCX_RECV);
	if (!c || (!c->fifo && r->fifos >= FUZZ_MAX_FIFOS))
		return;
	fuzz_begin(r, 0, "fd ch%u", fuzz_index(r, c));
	int fd = ipcx_fd(c->ch);
	if (fd >= 0 && !c->fifo) { /* first, in case the round ends at the check */
		fuzz_register_fifo(fd);
		c->fifo = true;
		r->fifos++;
	}
	fuzz_end(r, fd, false);
	if (fd < 0)
		return;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	fuzz_begin(r, 0, "poll ch%u fd %d", fuzz_index(r, c), fd);
	int n = poll(&p, 1, 0);
	fuzz_end(r, n < 0 ? -errno : 0, false);
}

/* In a peer process: a call's result must be a success or a clean error, else the peer fails. */
static void fuzz_peer_check(long rc, const char *what)
{
	if (rc < 0 && !fuzz_error_allowed(rc, false)) {
		fprintf(stderr, "  the dying peer's %s returned %ld (%s): %s\n", what, rc,
			ipcx_errname((int)rc), ipcx_errmsg());
		_exit(1);
	}
}

/*
 * A peer that dies holding work: a process of its own opens a channel,
 * sends a few messages, maybe takes a send loan, a receive loan and a
 * pollable descriptor, and is killed with them (SIGKILL), so that the
 * survivors find a dead owner's slot, reservation, claim, subscriber
 * position or lane, on a queue that may be corrupt already.
 */
static void fuzz_peer_dies(struct fuzz_round *r)
{
	const int roles[] = {IPCX_SEND, IPCX_RECV, IPCX_SEND | IPCX_RECV};
	int role = roles[fuzz_below(r, FUZZ_COUNT_OF(roles))];
	unsigned sends = (unsigned)fuzz_below(r, 4), loans = (unsigned)fuzz_below(r, 4);
	bool poll_fd = (role & IPCX_RECV) && r->fifos < FUZZ_MAX_FIFOS && fuzz_one_in(r, 3);
	r->fifos += poll_fd;
	fuzz_begin(r, 0, "a peer opens %s, sends %u, takes loans (%s%s)%s and dies",
		   fuzz_role_name(role), sends, loans & 1 ? "send " : "",
		   loans & 2 ? "receive" : "", poll_fd ? ", a descriptor" : "");
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		/*
		 * A call that hangs here ends the peer at the alarm (not by
		 * SIGKILL), a second before the watchdog of the round waiting.
		 */
		unsigned limit = fuzz_call_limit_s();
		fuzz_ticks_left = 1;
		alarm(limit > 1 ? limit - 1 : 1);
		ipcx_chan *ch = NULL;
		int rc = ipcx_open(&ch, r->plain, role, 0);
		fuzz_peer_check(rc, "open");
		for (unsigned i = 0; rc == 0 && i < sends && (role & IPCX_SEND); i++) {
			char msg[FUZZ_MAX_MSG] = {0};
			size_t len = fuzz_below(r, sizeof(msg) + 1);
			fuzz_peer_check(ipcx_send(ch, msg, len, fuzz_type(r), 0), "send");
		}
		if (rc == 0 && (loans & 1) && (role & IPCX_SEND)) {
			void *buf;
			size_t len = fuzz_below(r, FUZZ_MAX_MSG + 1);
			if (ipcx_loan(ch, len, &buf, 0) == 0)
				memset(buf, 0xdd, len);
		}
		if (rc == 0 && (loans & 2) && (role & IPCX_RECV)) {
			const void *buf;
			fuzz_peer_check(ipcx_recv_loan(ch, &buf, 0, NULL, 0), "recv_loan");
		}
		if (rc == 0 && poll_fd) {
			int fd = ipcx_fd(ch);
			fuzz_peer_check(fd, "fd");
			if (fd >= 0)
				fuzz_register_fifo(fd);
		}
		raise(SIGKILL);
	}
	int status = 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	fuzz_end(r, pid < 0 ? -errno : 0, false);
	if (WIFEXITED(status) && WEXITSTATUS(status) == FUZZ_HANG_STATUS)
		fuzz_fail(r, "a call of the peer hung (its stack above)");
	if (WIFEXITED(status))
		fuzz_fail(r, "the peer failed (exit status %d, its report above)",
			  WEXITSTATUS(status));
	if (WTERMSIG(status) != SIGKILL)
		fuzz_fail(r, "the peer was killed by signal %d", WTERMSIG(status));
}

/* The calls a round makes at random, and how often (in every hundred). */
struct fuzz_op {
	unsigned weight;
	void (*call)(struct fuzz_round *r);
};

static const struct fuzz_op fuzz_ops[] = {
	{18, fuzz_send},      {18, fuzz_recv},      {7, fuzz_loan},       {7, fuzz_commit},
	{7, fuzz_recv_loan},  {6, fuzz_release},    {5, fuzz_fill},       {5, fuzz_drain},
	{2, fuzz_caps},       {4, fuzz_poll},       {4, fuzz_close_any},  {7, fuzz_open_any},
	{2, fuzz_peer_dies},  {4, fuzz_corrupt},    /* only once the queue is corrupt */
};

/* One random call (or, once corrupt, now and then another burst of corruption). */
static void fuzz_step(struct fuzz_round *r, bool corrupt)
{
	unsigned total = 0;
	for (unsigned i = 0; i < FUZZ_COUNT_OF(fuzz_ops); i++)
		if (corrupt || fuzz_ops[i].call != fuzz_corrupt)
			total += fuzz_ops[i].weight;
	unsigned w = (unsigned)fuzz_below(r, total);
	for (unsigned i = 0; i < FUZZ_COUNT_OF(fuzz_ops); i++) {
		if (!corrupt && fuzz_ops[i].call == fuzz_corrupt)
			continue;
		if (w < fuzz_ops[i].weight) {
			fuzz_ops[i].call(r);
			return;
		}
		w -= fuzz_ops[i].weight;
	}
}

/*
 * One round, in its own process: a fresh queue name with a sender and a
 * receiver (and maybe a third channel), 0-30 calls to get somewhere (and
 * often a few messages more), a burst of corruption (maybe followed at
 * once by an open), 10-50 calls more, and every channel closed.
 */
static void fuzz_round(const struct fuzz_config *cfg, const char *name, unsigned index,
		       uint64_t seed, bool verbose)
{
	static struct fuzz_round round;
	struct fuzz_round *r = &round;
	*r = (struct fuzz_round){.cfg = cfg, .index = index, .seed = seed, .verbose = verbose,
				 .name = name, .rng = fuzz_seed_state(seed)};
	snprintf(r->url, sizeof(r->url), "shm://%s?%s", name, cfg->opts);
	snprintf(r->plain, sizeof(r->plain), "shm://%s", name);
	if (!fuzz_open(r, IPCX_SEND, true) || !fuzz_open(r, IPCX_RECV, false))
		fuzz_fail(r, "the fresh queue cannot be opened: %s", ipcx_errmsg());
	if (fuzz_one_in(r, 2))
		fuzz_open(r, cfg->extra_role, false);
	struct fuzz_seg *s = fuzz_seg(r, name);
	if (!s)
		fuzz_fail(r, "cannot map the fresh queue's segment");
	r->ring_off = s->ring_off;
	if (cfg->unbounded) {
		char path[200];
		snprintf(path, sizeof(path), "/dev/shm/ipcx.%s", name);
		fuzz_backed_fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	unsigned n = (unsigned)fuzz_below(r, 31);
	for (unsigned i = 0; i < n; i++)
		fuzz_step(r, false);
	if (fuzz_one_in(r, 2)) /* messages for the corruption to hit */
		fuzz_send_some(r, 1 + (unsigned)fuzz_below(r, 8));
	fuzz_corrupt(r);
	if (fuzz_one_in(r, 3))
		fuzz_open_any(r);
	n = 10 + (unsigned)fuzz_below(r, 41);
	for (unsigned i = 0; i < n; i++)
		fuzz_step(r, true);
	for (unsigned i = 0; i < FUZZ_MAX_CHANS; i++)
		if (r->chans[i].ch)
			fuzz_close(r, &r->chans[i]);
}

/* ---- running the rounds ----------------------------------------------- */

/*
 * Waits for the round's process, at most a call's limit and
 * FUZZ_ROUND_SLACK_S seconds (its watchdog should have ended a hung call
 * long before); SIGCHLD is blocked, so that sigtimedwait() says when it
 * ended. Returns its status, or -1 when it had to be killed.
 */
static int fuzz_wait(pid_t pid)
{
	const long long limit_ms = (fuzz_call_limit_s() + FUZZ_ROUND_SLACK_S) * 1000LL;
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long left_ms = limit_ms - ((now.tv_sec - start.tv_sec) * 1000LL +
						(now.tv_nsec - start.tv_nsec) / 1000000);
		if (left_ms <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		struct timespec wait = {left_ms / 1000, (left_ms % 1000) * 1000000};
		sigtimedwait(&chld, NULL, &wait);
	}
}

/* Says how the round ended, when it failed; true when it passed. */
static bool fuzz_verdict(const struct fuzz_config *cfg, unsigned index, uint64_t seed,
			 int status, bool tell)
{
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	if (!tell)
		return false;
	char how[64];
	if (status == -1)
		snprintf(how, sizeof(how), "was killed after %u s",
			 fuzz_call_limit_s() + FUZZ_ROUND_SLACK_S);
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(status));
	else if (WEXITSTATUS(status) == FUZZ_HANG_STATUS)
		snprintf(how, sizeof(how), "hung for %u s", fuzz_call_limit_s());
	else if (WEXITSTATUS(status) == FUZZ_BACKED_STATUS)
		snprintf(how, sizeof(how), "backed the unbounded ring with over %llu MiB",
			 (unsigned long long)(FUZZ_BACKED_MAX >> 20));
	else
		snprintf(how, sizeof(how), "failed (exit status %d)", WEXITSTATUS(status));
	fprintf(stderr, "  %s round %u %s in call %u, %s\n", cfg->name, index, how,
		fuzz_trace->call, fuzz_trace->what);
	fprintf(stderr, "  again: IPCX_FUZZ_SEED=%#llx IPCX_FUZZ_VERBOSE=1 ./test_shm_fuzz %s\n",
		(unsigned long long)seed, cfg->name);
	return false;
}

/*
 * Removes what a round made as a user would, with ipcx_unlink() of the
 * queue (and its lanes), and the FIFOs of pollable descriptors the round
 * registered (harness.h) in case it could not close them: in a process of
 * its own, since removing a corrupt queue must not crash either. What a
 * removal that failed left goes by path. False when it crashed or hung.
 */
static bool fuzz_remove(const char *name)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		test_run_cleanups();
		_exit(0);
	}
	int status = pid > 0 ? fuzz_wait(pid) : -1;
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	char seg[160];
	snprintf(seg, sizeof(seg), "%s%s", IPCX__SHM_NAME_PREFIX, name);
	shm_unlink(seg);
	for (unsigned i = 0; i < IPCX__SHM_MAX_LANES; i++) {
		snprintf(seg, sizeof(seg), "%s%s%c%u", IPCX__SHM_NAME_PREFIX, name,
			 IPCX__SHM_LANE_SEP, i);
		shm_unlink(seg);
	}
	for (int i = 0; i < test_cleanups->n; i++)
		if (!test_cleanups->items[i].is_url)
			unlink(test_cleanups->items[i].name);
	test_cleanups->n = 0;
	return false;
}

/*
 * Runs one round in a process of its own, then removes what it made
 * (fuzz_remove). True when both went well.
 */
static bool fuzz_run_round(const struct fuzz_config *cfg, unsigned index, uint64_t seed,
			   bool verbose, bool tell)
{
	char name[96], url[160];
	test_unique(name, sizeof(name), "shmfz");
	snprintf(url, sizeof(url), "shm://%s", name);
	test_cleanup_url(url);
	memset(fuzz_trace, 0, sizeof(*fuzz_trace));
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t chld;
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		struct sigaction tick = {.sa_handler = fuzz_on_tick, .sa_flags = SA_RESTART};
		sigaction(SIGALRM, &tick, NULL);
		fuzz_round(cfg, name, index, seed, verbose);
		fflush(NULL);
		_exit(0);
	}
	CHECK(pid > 0);
	bool passed = fuzz_verdict(cfg, index, seed, fuzz_wait(pid), tell);
	if (fuzz_remove(name))
		return passed;
	if (tell)
		fprintf(stderr, "  %s round %u: removing its queue with ipcx_unlink() crashed or "
				"hung (above); again: IPCX_FUZZ_SEED=%#llx ./test_shm_fuzz %s\n",
			cfg->name, index, (unsigned long long)seed, cfg->name);
	return false;
}

static uint64_t fuzz_env_u64(const char *name, uint64_t otherwise)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : otherwise;
}

/*
 * Runs the rounds of cfg (or the one round IPCX_FUZZ_SEED names) and fails
 * when any failed, listing the seeds of those not told in full.
 */
static void fuzz_run(const struct fuzz_config *cfg)
{
	fuzz_trace = mmap(NULL, sizeof(*fuzz_trace), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(fuzz_trace != MAP_FAILED);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	CHECK(sigprocmask(SIG_BLOCK, &chld, NULL) == 0);
	bool verbose = getenv("IPCX_FUZZ_VERBOSE") != NULL;
	if (getenv("IPCX_FUZZ_SEED")) {
		uint64_t seed = fuzz_env_u64("IPCX_FUZZ_SEED", 0);
		CHECK(fuzz_run_round(cfg, (unsigned)(seed - FUZZ_SEED_BASE), seed, verbose, true));
		return;
	}
	unsigned rounds = (unsigned)fuzz_env_u64("IPCX_FUZZ_ROUNDS", cfg->rounds), failed = 0, i;
	unsigned first = (unsigned)fuzz_env_u64("IPCX_FUZZ_FIRST", 0);
	char others[1024] = "";
	int budget_s = test_timeout_s - FUZZ_SPARE_S;
	time_t stop = time(NULL) + (budget_s > FUZZ_SPARE_S ? budget_s : FUZZ_SPARE_S);
	for (i = 0; i < rounds && time(NULL) < stop; i++) {
		uint64_t seed = FUZZ_SEED_BASE + first + i;
		if (fuzz_run_round(cfg, first + i, seed, verbose, failed < FUZZ_TELL_MAX))
			continue;
		size_t used = strlen(others);
		if (failed++ >= FUZZ_TELL_MAX && used + 24 < sizeof(others))
			snprintf(others + used, sizeof(others) - used, " %#llx%s",
				 (unsigned long long)seed, used + 48 < sizeof(others) ? "" : " ...");
	}
	if (failed > FUZZ_TELL_MAX)
		fprintf(stderr, "  also failed, seeds:%s\n", others);
	if (failed || i < rounds)
		test_fail(__FILE__, __LINE__, "%u of %u rounds of %s failed, %u not run (no time)",
			  failed, i, cfg->name, rounds - i);
}

/* ---- the configurations ----------------------------------------------- */

static const struct fuzz_config fuzz_queue = {
	.name = "fuzz_queue", .opts = "cap=4KiB&maxmsg=200", .rounds = 300,
	.extra_role = IPCX_RECV,
};
static const struct fuzz_config fuzz_spsc = {
	.name = "fuzz_spsc", .opts = "pattern=spsc&cap=4KiB&maxmsg=200", .rounds = 300,
	.extra_role = IPCX_RECV,
};
static const struct fuzz_config fuzz_broadcast_block = {
	.name = "fuzz_broadcast_block", .opts = "pattern=broadcast&cap=4KiB&maxmsg=200",
	.rounds = 300, .extra_role = IPCX_RECV,
};
static const struct fuzz_config fuzz_broadcast_overwrite = {
	.name = "fuzz_broadcast_overwrite",
	.opts = "pattern=broadcast&policy=overwrite&cap=4KiB&maxmsg=200", .rounds = 300,
	.extra_role = IPCX_RECV,
};
static const struct fuzz_config fuzz_mpsc = {
	.name = "fuzz_mpsc", .opts = "pattern=mpsc&cap=4KiB&maxmsg=200", .rounds = 300,
	.extra_role = IPCX_SEND, .lanes = true,
};
static const struct fuzz_config fuzz_unbounded = {
	.name = "fuzz_unbounded", .opts = "cap=unbounded&maxmsg=200", .rounds = 300,
	.extra_role = IPCX_RECV, .unbounded = true,
};
static const struct fuzz_config fuzz_rendezvous = {
	.name = "fuzz_rendezvous", .opts = "cap=0&maxmsg=200", .rounds = 300,
	.extra_role = IPCX_RECV,
};

#define FUZZ_TEST(cfg)                                                                     \
	static void test_##cfg(void)                                                       \
	{                                                                                  \
		fuzz_run(&cfg);                                                            \
	}
FUZZ_TEST(fuzz_queue)
FUZZ_TEST(fuzz_spsc)
FUZZ_TEST(fuzz_broadcast_block)
FUZZ_TEST(fuzz_broadcast_overwrite)
FUZZ_TEST(fuzz_mpsc)
FUZZ_TEST(fuzz_unbounded)
FUZZ_TEST(fuzz_rendezvous)

static const struct test_case tests[] = {
	{"fuzz_queue", test_fuzz_queue},
	{"fuzz_spsc", test_fuzz_spsc},
	{"fuzz_broadcast_block", test_fuzz_broadcast_block},
	{"fuzz_broadcast_overwrite", test_fuzz_broadcast_overwrite},
	{"fuzz_mpsc", test_fuzz_mpsc},
	{"fuzz_unbounded", test_fuzz_unbounded},
	{"fuzz_rendezvous", test_fuzz_rendezvous},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
