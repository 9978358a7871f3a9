/*
 * grow.c - backing the ring of an unbounded queue (cap=unbounded) with
 * memory as it fills, and giving the memory back as it drains.
 *
 * The ring of an unbounded queue is IPCX__SHM_UNBOUNDED_RING bytes of a
 * sparse file, mapped with MAP_NORESERVE: a page costs memory only once it
 * is allocated. Two cursors in the header, positions like the others, say
 * which part is backed: [trimmed, grown), both multiples of
 * IPCX__SHM_CHUNK. A sender allocates the chunks up to the end of its
 * reservation with fallocate(2) before it reserves, so nobody ever writes
 * to (or reads from, between rel and the tail) a page that is not there:
 * a full /dev/shm is a clean -ENOMEM from fallocate, never a SIGBUS from a
 * store. Receivers punch the chunks wholly behind the release cursor back
 * into holes. docs/shm.md, "Unbounded queues", tells the whole story.
 */
#include "shmq.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/statvfs.h>

/* A trim lock held by a process that may be dead is checked once the trim lags this far. */
#define IPCX__TRIM_TAKEOVER (16 * IPCX__SHM_CHUNK)

/* fallocate(2) on the ring's place of [pos, pos + len), which does not cross the end of the ring. */
static int ipcx__falloc(const struct ipcx__shm_map *m, int mode, uint64_t pos, uint64_t len)
{
	int rc;
	do
		rc = fallocate(m->fd, mode, (off_t)(m->ring_off + (pos & m->mask)), (off_t)len);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? errno : 0;
}

/* Explains why the ring could not grow: the file system is full, or memory is. */
static int ipcx__grow_fail(const struct ipcx__shm_map *m, int err)
{
	struct statvfs v;
	if (err == ENOSPC && fstatvfs(m->fd, &v) == 0)
		return ipcx__fail(-ENOMEM,
				  "cannot grow the unbounded queue: /dev/shm is full (size=%lluKiB, %lluKiB free)",
				  (unsigned long long)v.f_blocks * v.f_frsize / 1024,
				  (unsigned long long)v.f_bavail * v.f_frsize / 1024);
	if (err == ENOSPC || err == ENOMEM)
		return ipcx__fail(-ENOMEM, "cannot grow the unbounded queue: out of memory");
	return ipcx__fail(-err, "cannot grow the unbounded queue: %s", ipcx_strerror(-err));
}

int ipcx__shmq_grow(struct ipcx__shmq *q, uint64_t end, uint64_t *stuck)
{
	const struct ipcx__shm_map *m = q->map;
	struct ipcx__shm_hdr *h = q->hdr;
	/*
	 * rel, then grown: rel <= grown held when we read rel, and grown only
	 * grows. A grow cursor a whole chunk behind it was written by a
	 * corrupt peer, and growing from there to end could back gigabytes.
	 */
	uint64_t r = atomic_load_explicit(&h->rel, memory_order_acquire);
	uint64_t g = atomic_load_explicit(&h->grown, memory_order_acquire);
	if (g < end && g + IPCX__SHM_CHUNK <= r)
		return ipcx__shmq_corrupt(g, "grow cursor behind the release cursor");
	while (g < end) {
		if (g % IPCX__SHM_CHUNK != 0)
			return ipcx__shmq_corrupt(g, "bad grow cursor");
		/*
		 * trimmed <= rel <= tail <= grown at every moment, and all four
		 * only grow, so a trim cursor past the grown one we read means
		 * ours is stale: read it again, once.
		 */
		uint64_t t = atomic_load_explicit(&h->trimmed, memory_order_acquire);
		if (t > g) {
			g = atomic_load_explicit(&h->grown, memory_order_acquire);
			if (t > g)
				return ipcx__shmq_corrupt(t, "trim cursor ahead of the grow cursor");
			continue;
		}
		/*
		 * The backed window [trimmed, grown) must stay shorter than the
		 * ring, or a chunk we allocate could be the place of one a trim
		 * is punching. The trim punches before it moves trimmed
		 * (release, read above with acquire), so every chunk behind t is
		 * done with. Only a trim lagging by half the ring stops us here.
		 */
		if (g + IPCX__SHM_CHUNK - t > m->ring_size) {
			*stuck = atomic_load_explicit(&h->rel, memory_order_acquire);
			return 0;
		}
		int err = ipcx__falloc(m, 0, g, IPCX__SHM_CHUNK);
		if (err)
			return ipcx__grow_fail(m, err);
		/* Two senders may allocate the same chunk: fallocate is idempotent, one moves the cursor. */
		uint64_t want = g;
		if (atomic_compare_exchange_strong(&h->grown, &want, g + IPCX__SHM_CHUNK))
			g += IPCX__SHM_CHUNK;
		else
			g = want;
	}
	return 1;
}

/*
 * Takes the trim lock, without waiting: a live holder is trimming for us.
 * A holder that died is replaced, but its token is checked only once the
 * trim lags IPCX__TRIM_TAKEOVER behind, so that a receiver finding the
 * lock busy does not read /proc on every release.
 */
static bool ipcx__trim_lock(struct ipcx__shm_hdr *h, uint64_t lag)
{
	uint64_t me = ipcx__shm_self_token(), cur = 0;
	if (atomic_compare_exchange_strong(&h->trim_lock, &cur, me))
		return true;
	return lag >= IPCX__TRIM_TAKEOVER && cur != me && !ipcx__shm_token_alive(cur) &&
	       atomic_compare_exchange_strong(&h->trim_lock, &cur, me);
}

/*
 * Punches [from, to) into holes, in at most two pieces (it may cross the
 * end of the ring). A failure is not reported: the memory then comes back
 * when the next trim or the next lap of the ring covers the chunk again.
 */
static void ipcx__punch(const struct ipcx__shm_map *m, uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t len = ipcx__shmq_room(m, from);
		if (len > to - from)
			len = to - from;
		(void)ipcx__falloc(m, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, from, len);
		from += len;
	}
}

/*
 * Where a trim may punch up to: the start of the chunk before the one that
 * holds rel, and below every position a claiming receiver reads from
 * (ipcx__trim_hazards). Receivers read record headers optimistically at
 * positions rel may have just passed (docs/shm.md, "Races by design");
 * touching a punched page would allocate it again, or fault when /dev/shm
 * is full.
 */
static uint64_t ipcx__trim_to(struct ipcx__shm_hdr *h)
{
	/* Sequentially consistent, before the positions (ipcx__trim_hazards). */
	uint64_t at = atomic_load(&h->rel) & ~(IPCX__SHM_CHUNK - 1);
	return at >= IPCX__SHM_CHUNK ? at - IPCX__SHM_CHUNK : 0;
}

/*
 * Lowers to below the chunk of every position a claiming receiver reads
 * from (ring.c, ipcx__hazard_set). Our load of rel, then of the positions,
 * and the receiver's exchange of its position, then its load of rel, are
 * all sequentially consistent: a receiver whose position we miss loads
 * rel after we did, and starts past to. A position that lags IPCX__TRIM_TAKEOVER behind
 * belongs to a receiver stopped inside a receive, or dead: a dead one is
 * reaped (its position goes with it); a stopped one holds the trim back
 * until it goes on.
 */
static uint64_t ipcx__trim_hazards(struct ipcx__shmq *q, uint64_t to)
{
	const struct ipcx__shm_map *m = q->map;
	for (unsigned i = 0; i < m->max_peers; i++) {
		uint64_t r = atomic_load(&m->slots[i].reading);
		if (!r || !atomic_load_explicit(&m->slots[i].owner, memory_order_relaxed))
			continue; /* none, or a free slot's leftover */
		uint64_t at = (r - 1) & ~(IPCX__SHM_CHUNK - 1);
		if (at >= to)
			continue;
		if (to - at >= IPCX__TRIM_TAKEOVER && ipcx__shmq_reap_slot(q, i))
			continue;
		to = at;
	}
	return to;
}

void ipcx__shmq_trim(struct ipcx__shmq *q)
{
	struct ipcx__shm_hdr *h = q->hdr;
	const struct ipcx__shm_map *m = q->map;
	uint64_t to = ipcx__trim_to(h);
	uint64_t from = atomic_load_explicit(&h->trimmed, memory_order_acquire);
	if (to <= from || !ipcx__trim_lock(h, to - from))
		return;
	to = ipcx__trim_hazards(q, to);
	/*
	 * Under the lock trimmed is ours to move. Everything behind rel is
	 * free, and the live part [to, grown) is at most cap plus three
	 * chunks long, so punching at most the cap minus three chunks behind
	 * to never reaches it, even when a corrupt trim cursor lies far back.
	 */
	from = atomic_load_explicit(&h->trimmed, memory_order_acquire);
	if (from < to && from % IPCX__SHM_CHUNK == 0) {
		uint64_t reach = m->cap - 3 * IPCX__SHM_CHUNK;
		ipcx__punch(m, to - from > reach ? to - reach : from, to);
		/* Release: a sender that reads the new cursor (acquire) comes after the punch. */
		atomic_store_explicit(&h->trimmed, to, memory_order_release);
	}
	atomic_store_explicit(&h->trim_lock, 0, memory_order_release);
}
