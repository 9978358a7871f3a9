/*
 * peer.c - who is attached to a queue, whether they still live, and
 * cleaning up after those that died.
 *
 * A process is identified by a token: its pid and its start time (field 22
 * of /proc/PID/stat, in clock ticks since boot) packed in one 64-bit word,
 * so a recycled pid never passes for the dead process that had it. A peer
 * is dead when /proc has no such process, when it is a zombie, or when the
 * start time differs.
 *
 * Reaping a dead peer runs under the header's reclaim lock (whose holder
 * is a token too, so a lock left by a dead process is taken over) and is
 * idempotent: a reaper that dies half way leaves work the next one redoes.
 */
#include "shmq.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IPCX__PID_BITS 22
#define IPCX__PID_MASK ((1ull << IPCX__PID_BITS) - 1)
#define IPCX__START_MASK ((1ull << 40) - 1)

static _Atomic uint64_t ipcx__token_cache;

/*
 * Reads the state letter and start time of pid from /proc. -ENOENT when
 * there is no such process, another negative errno when /proc cannot say.
 */
static int ipcx__proc_stat(pid_t pid, char *state, uint64_t *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ENOENT;
	buf[n] = '\0';
	/* The command name may hold spaces and ')': the fields start after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EPROTO;
	p += 2;
	*state = *p;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EPROTO;
		p++;
	}
	*start = strtoull(p, NULL, 10);
	return 0;
}

uint64_t ipcx__shm_self_token(void)
{
	pid_t pid = getpid();
	uint64_t t = atomic_load_explicit(&ipcx__token_cache, memory_order_relaxed);
	if (t && (pid_t)(t & IPCX__PID_MASK) == pid)
		return t;
	char state;
	uint64_t start = 0;
	if (ipcx__proc_stat(pid, &state, &start) < 0)
		start = 0;
	t = (start & IPCX__START_MASK) << IPCX__PID_BITS | (uint64_t)pid;
	atomic_store_explicit(&ipcx__token_cache, t, memory_order_relaxed);
	return t;
}

bool ipcx__shm_token_alive(uint64_t token)
{
	pid_t pid = (pid_t)(token & IPCX__PID_MASK);
	if (pid <= 0)
		return false;
	char state;
	uint64_t start;
	int rc = ipcx__proc_stat(pid, &state, &start);
	if (rc == -ENOENT || rc == -ESRCH)
		return false;
	if (rc < 0) /* no /proc: the pid alone must do */
		return kill(pid, 0) == 0 || errno == EPERM;
	if (state == 'Z' || state == 'X' || state == 'x')
		return false;
	return (start & IPCX__START_MASK) == token >> IPCX__PID_BITS;
}

/* ---- the reclaim lock ------------------------------------------------ */

/*
 * How long a live holder may keep the lock (another process, or another
 * thread of ours): its critical sections take microseconds. One that
 * holds it longer is stopped inside (SIGSTOP, a debugger) or was never
 * there (a live process's token, or ours, written into the lock by a
 * corrupt peer); the lock is then taken over rather than waited for
 * forever.
 */
#define IPCX__LOCK_PATIENCE_NS (1000 * 1000 * 1000LL)

/* Who holds the lock, as a waiter last saw, and since when. */
struct ipcx__lock_watch {
	uint64_t holder;
	int64_t since;
};

/* May the lock, held by cur, be taken over? Asked every 64th look. */
static bool ipcx__lock_abandoned(uint64_t cur, uint64_t me, struct ipcx__lock_watch *w)
{
	if (cur != me && !ipcx__shm_token_alive(cur))
		return true;
	int64_t now = ipcx__now_ns();
	if (cur != w->holder) {
		*w = (struct ipcx__lock_watch){.holder = cur, .since = now};
		return false;
	}
	return now - w->since > IPCX__LOCK_PATIENCE_NS;
}

/* Takes the reclaim lock, taking it over from a holder that died or holds it for too long. */
static void ipcx__lock(struct ipcx__shm_hdr *h)
{
	uint64_t me = ipcx__shm_self_token();
	struct ipcx__lock_watch w = {0};
	for (unsigned n = 1;; n++) {
		uint64_t cur = 0;
		if (atomic_compare_exchange_strong(&h->reclaim_lock, &cur, me))
			return;
		if (n % 64 == 0 && ipcx__lock_abandoned(cur, me, &w) &&
		    atomic_compare_exchange_strong(&h->reclaim_lock, &cur, me))
			return;
		if (n < 64)
			ipcx__cpu_relax();
		else
			nanosleep(&(struct timespec){.tv_nsec = 50000}, NULL);
	}
}

static void ipcx__unlock(struct ipcx__shm_hdr *h)
{
	atomic_store_explicit(&h->reclaim_lock, 0, memory_order_release);
}

/* ---- undoing a dead peer's work -------------------------------------- */

/* Turns [pos, pos + len) into a pad unless its record was already written. */
static void ipcx__pad_piece(const struct ipcx__shm_map *m, uint64_t pos, uint64_t len)
{
	struct ipcx__shm_rec *rec = ipcx__shmq_rec(m, pos);
	if (!rec || ipcx__st_is_at(atomic_load(&rec->state), pos))
		return;
	atomic_store_explicit(&rec->type, 0, memory_order_relaxed);
	atomic_store_explicit(&rec->len, 0, memory_order_relaxed);
	atomic_store_explicit(&rec->span, (uint32_t)len, memory_order_relaxed);
	atomic_store_explicit(&rec->state, ipcx__st(pos, 0, IPCX__ST_PAD), memory_order_release);
}

/*
 * Does a reservation plausibly end at end: at the tail, or where a record
 * or another reservation begins? Used only when two dead peers claim the
 * same start (one of them died between a failed reservation and clearing
 * its intent).
 */
static bool ipcx__boundary(struct ipcx__shmq *q, uint64_t end, uint64_t tail)
{
	const struct ipcx__shm_map *m = q->map;
	if (end == tail)
		return true;
	struct ipcx__shm_rec *rec = ipcx__shmq_rec(m, end);
	if (rec && ipcx__st_is_at(atomic_load(&rec->state), end))
		return true;
	for (unsigned j = 0; j < m->max_peers; j++)
		if (atomic_load(&m->slots[j].res_end) &&
		    atomic_load(&m->slots[j].res_start) == end)
			return true;
	return false;
}

static bool ipcx__shared_start(struct ipcx__shmq *q, unsigned i, uint64_t start)
{
	const struct ipcx__shm_map *m = q->map;
	for (unsigned j = 0; j < m->max_peers; j++)
		if (j != i && atomic_load(&m->slots[j].res_end) &&
		    atomic_load(&m->slots[j].res_start) == start)
			return true;
	return false;
}

/*
 * Finishes the reservation [start, end) of slot i whose owner is gone:
 * whatever part was not committed becomes pad, so receivers move past it.
 * Runs under the reclaim lock.
 */
static void ipcx__undo_reservation(struct ipcx__shmq *q, unsigned i)
{
	const struct ipcx__shm_map *m = q->map;
	struct ipcx__shm_slot *s = &m->slots[i];
	uint64_t end = atomic_load(&s->res_end), start = atomic_load(&s->res_start);
	atomic_store(&s->res_end, 0);
	if (!end || !m->ring)
		return; /* nothing, or an mpsc master, which has no ring */
	uint64_t tail = atomic_load(&q->hdr->tail), rel = atomic_load(&q->hdr->rel);
	/* Not reserved, already recycled, or nonsense: nothing of ours to finish. */
	if (end <= rel || start >= tail || end <= start || end > tail || end - start > m->cap)
		return;
	if (ipcx__shared_start(q, i, start) && !ipcx__boundary(q, end, tail))
		return;
	/*
	 * A reservation that wraps is a pad to the end of the ring, then the
	 * record at its start. Receivers may have passed the pad already (rel
	 * beyond it): its place may then hold a newer record, and only the
	 * record's piece is ours to finish.
	 */
	uint64_t room = m->ring_size - (start & m->mask);
	uint64_t cut = end - start > room ? start + room : end;
	if (start >= rel)
		ipcx__pad_piece(m, start, cut - start);
	if (cut < end)
		ipcx__pad_piece(m, cut, end - cut);
}

/* Releases the records slot i had claimed. Runs under the reclaim lock. */
static void ipcx__undo_claims(struct ipcx__shmq *q, unsigned i)
{
	struct ipcx__shm_slot *s = &q->map->slots[i];
	for (unsigned ci = 0; ci < 2; ci++) {
		uint64_t v = atomic_exchange(&s->claim[ci], 0);
		if (!v || !q->map->ring)
			continue;
		struct ipcx__shm_rec *rec = ipcx__shmq_rec(q->map, v - 1);
		uint64_t st = ipcx__st(v - 1, i, IPCX__ST_CLAIMED);
		if (rec)
			atomic_compare_exchange_strong(&rec->state, &st,
						       ipcx__st(v - 1, 0, IPCX__ST_RELEASED));
	}
}

/* Moves slot i's counters into the header's totals and clears the slot's intents. */
static void ipcx__retire(struct ipcx__shm_hdr *h, struct ipcx__shm_slot *s)
{
	atomic_fetch_add(&h->retired_msgs_sent, atomic_exchange(&s->msgs_sent, 0));
	atomic_fetch_add(&h->retired_bytes_sent, atomic_exchange(&s->bytes_sent, 0));
	atomic_fetch_add(&h->retired_msgs_recv, atomic_exchange(&s->msgs_recv, 0));
	atomic_fetch_add(&h->retired_bytes_recv, atomic_exchange(&s->bytes_recv, 0));
	ipcx__shmq_poll_forget(h, s);
	atomic_store(&s->sub, 0);
	atomic_store(&s->lost, 0);
	uint32_t w = atomic_exchange(&s->waiting, 0);
	if (w == IPCX__WAIT_RECV)
		atomic_fetch_sub(&h->recv_waiters, 1);
	else if (w == IPCX__WAIT_SEND)
		atomic_fetch_sub(&h->send_waiters, 1);
	atomic_store(&s->res_end, 0);
	atomic_store(&s->claim[0], 0);
	atomic_store(&s->claim[1], 0);
	atomic_store(&s->overtook, 0);
	atomic_store(&s->in_recv, 0);
	atomic_store(&s->reading, 0);
	atomic_store(&s->role, 0);
}

int ipcx__shmq_reap_slot(struct ipcx__shmq *q, unsigned i)
{
	struct ipcx__shm_slot *s = &q->map->slots[i];
	uint64_t o = atomic_load(&s->owner);
	if (!o || ipcx__shm_token_alive(o >> 2))
		return 0;
	ipcx__lock(q->hdr);
	bool reaped = atomic_load(&s->owner) == o;
	if (reaped) {
		ipcx__undo_reservation(q, i);
		ipcx__undo_claims(q, i);
		if (q->map->pattern == IPCX__SHM_BROADCAST)
			ipcx__shmq_bc_forget_mover(q->map, i);
		ipcx__retire(q->hdr, s);
		atomic_store(&s->owner, 0);
		ipcx__shmq_lease_settle(q->map);
	}
	ipcx__unlock(q->hdr);
	if (reaped) {
		ipcx__shmq_advance_rel(q);
		ipcx__shmq_notify(q->map, IPCX__WAIT_RECV);
		ipcx__shmq_notify(q->map, IPCX__WAIT_SEND);
	}
	return reaped;
}

/* Is slot i the one holding position pos: a claim on it, or a reservation around it? */
static bool ipcx__holds(const struct ipcx__shm_slot *s, uint64_t pos)
{
	uint64_t end = atomic_load(&s->res_end), start = atomic_load(&s->res_start);
	if (end && start <= pos && pos < end)
		return true;
	return atomic_load(&s->claim[0]) == pos + 1 || atomic_load(&s->claim[1]) == pos + 1 ||
	       atomic_load(&s->sub) == pos + 1;
}

int ipcx__shmq_reap_dead(struct ipcx__shmq *q, uint64_t pos)
{
	int n = 0;
	for (unsigned i = 0; i < q->map->max_peers; i++) {
		struct ipcx__shm_slot *s = &q->map->slots[i];
		if (atomic_load(&s->owner) && (pos == UINT64_MAX || ipcx__holds(s, pos)))
			n += ipcx__shmq_reap_slot(q, i);
	}
	return n;
}

/* ---- joining and leaving --------------------------------------------- */

/* In a one-to-one queue, does a live peer other than us already have a role we want? */
static bool ipcx__role_taken(const struct ipcx__shm_map *m, int role)
{
	for (unsigned i = 0; i < m->max_peers; i++)
		if (atomic_load(&m->slots[i].owner) &&
		    (atomic_load(&m->slots[i].role) & (unsigned)role))
			return true;
	return false;
}

int ipcx__shmq_attach(struct ipcx__shmq *q, const struct ipcx__shm_map *m, int role)
{
	memset(q, 0, sizeof(*q));
	q->map = m;
	q->hdr = m->hdr;
	q->role = role;
	q->owner = ipcx__shm_self_token() << 2 | IPCX__SLOT_LIVE;
	q->poll_fd = -1;
	ipcx__shmq_fence_register();
	ipcx__shmq_reap_dead(q, UINT64_MAX);
	ipcx__lock(q->hdr);
	int rc = -EBUSY;
	if (m->pattern == IPCX__SHM_SPSC && ipcx__role_taken(m, role)) {
		ipcx__unlock(q->hdr);
		return ipcx__fail(-EBUSY, "this one-to-one queue already has a %s",
				  role & IPCX_SEND ? "sender" : "receiver");
	}
	if (m->pattern == IPCX__SHM_MPSC && (role & IPCX_RECV) && ipcx__role_taken(m, IPCX_RECV)) {
		ipcx__unlock(q->hdr);
		return ipcx__fail(-EBUSY, "this mpsc queue already has a receiver");
	}
	for (unsigned i = 0; i < m->max_peers && rc < 0; i++) {
		struct ipcx__shm_slot *s = &m->slots[i];
		uint64_t free_slot = 0;
		if (!atomic_compare_exchange_strong(&s->owner, &free_slot, q->owner))
			continue;
		ipcx__retire(q->hdr, s); /* fold anything a hostile writer left */
		atomic_store(&s->role, (uint32_t)role);
		q->me = s;
		q->slot = i;
		rc = 0;
	}
	if (rc == 0 && m->pattern == IPCX__SHM_BROADCAST && (role & IPCX_RECV))
		ipcx__shmq_bc_join(q);
	if (rc == 0)
		ipcx__shmq_lease_settle(m);
	ipcx__unlock(q->hdr);
	if (rc < 0)
		return ipcx__fail(rc, "all %u peer slots of the queue are held by live processes",
				  m->max_peers);
	return 0;
}

void ipcx__shmq_detach(struct ipcx__shmq *q)
{
	if (!q->me)
		return;
	if (q->poll_fd >= 0)
		close(q->poll_fd);
	q->poll_fd = -1;
	/* A handle inherited across fork() is closed in the child: the slot is the parent's. */
	if (q->owner >> 2 != ipcx__shm_self_token()) {
		ipcx__shmq_bc_forget(q);
		q->me = NULL;
		return;
	}
	if (q->loan_recv)
		ipcx__shmq_release(q);
	ipcx__shmq_bc_forget(q);
	ipcx__shmq_publish(q);
	ipcx__lock(q->hdr);
	if (q->loan_send)
		ipcx__undo_reservation(q, q->slot);
	ipcx__retire(q->hdr, q->me);
	atomic_store(&q->me->owner, 0);
	ipcx__shmq_lease_settle(q->map);
	ipcx__unlock(q->hdr);
	if (q->loan_send) {
		ipcx__shmq_advance_rel(q);
		ipcx__shmq_notify(q->map, IPCX__WAIT_RECV);
	}
	if (q->map->pattern == IPCX__SHM_BROADCAST && (q->role & IPCX_RECV))
		ipcx__shmq_notify(q->map, IPCX__WAIT_SEND); /* a subscriber no longer holds senders back */
	q->me = NULL;
}
