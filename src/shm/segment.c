/*
 * segment.c - creating, opening and validating the POSIX shared-memory
 * segment of a queue.
 */
#include "shmq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long an opener waits for a creator to finish initialising. */
#define IPCX__SHM_INIT_WAIT_NS (1000 * 1000 * 1000LL)
/* The largest ring an open maps in full at once (ipcx__shm_populate). */
#define IPCX__SHM_POPULATE_MAX ((uint64_t)64 << 20)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

int ipcx__shm_name_check(const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return ipcx__fail(-EINVAL, "shm:// needs a queue name, as in shm://orders");
	if (n > 200)
		return ipcx__fail(-ENAMETOOLONG, "queue name of %zu bytes (at most 200)", n);
	if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return ipcx__fail(-EINVAL, "queue name '%s' must not contain '/' or be a dot", name);
	if (strchr(name, IPCX__SHM_LANE_SEP))
		return ipcx__fail(-EINVAL, "queue name '%s' must not contain '%c' (it names the lanes of mpsc queues)",
				  name, IPCX__SHM_LANE_SEP);
	return 0;
}

static void ipcx__shm_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s%s", IPCX__SHM_NAME_PREFIX, name);
}

static uint64_t ipcx__pow2_at_least(uint64_t v)
{
	uint64_t p = IPCX__SHM_MIN_RING;
	while (p < v)
		p <<= 1;
	return p;
}

static bool ipcx__is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* The bytes of the ring in the segment: none for the master of an mpsc queue, whose lanes hold the rings. */
static uint64_t ipcx__shm_ring_bytes(const struct ipcx__shm_hdr *g)
{
	return g->pattern == IPCX__SHM_MPSC ? 0 : g->ring_size;
}

/* Fills the immutable part of g for a ring of ring_size bytes holding cap. */
static void ipcx__shm_fill(const struct ipcx__shm_params *p, struct ipcx__shm_hdr *g,
			   uint64_t ring_size, uint64_t cap, uint64_t max_msg)
{
	g->layout = IPCX__SHM_LAYOUT_VERSION;
	g->hdr_size = sizeof(struct ipcx__shm_hdr);
	g->slot_off = sizeof(struct ipcx__shm_hdr);
	g->slot_size = sizeof(struct ipcx__shm_slot);
	g->max_peers = IPCX__SHM_MAX_PEERS;
	uint64_t slots_end = g->slot_off + (uint64_t)g->max_peers * g->slot_size;
	g->ring_off = (slots_end + 4095) & ~(uint64_t)4095;
	g->ring_size = ring_size;
	g->cap = cap;
	g->max_msg = max_msg;
	g->pattern = p->pattern ? p->pattern : IPCX__SHM_QUEUE;
	g->seg_size = g->ring_off + ipcx__shm_ring_bytes(g);
	g->flags = p->flags;
	g->creator_pid = getpid();
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	g->created_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* Is max_msg a possible largest message of an unbounded queue (its span fits a record's 32 bits)? */
static bool ipcx__unbounded_msg_ok(uint64_t max_msg)
{
	return max_msg >= 1 && ipcx__shm_span(max_msg) <= IPCX__SHM_MAX_RING / 2;
}

/* The smallest virtual ring an unbounded queue may fall back to: four of its largest records. */
static uint64_t ipcx__unbounded_min_ring(uint64_t max_msg)
{
	uint64_t ring = ipcx__pow2_at_least(4 * ipcx__shm_span(max_msg));
	return ring > IPCX__SHM_UNBOUNDED_MIN_RING ? ring : IPCX__SHM_UNBOUNDED_MIN_RING;
}

/* Gives an unbounded geometry a virtual ring of ring bytes, holding half of it. */
static void ipcx__unbounded_ring(struct ipcx__shm_hdr *g, uint64_t ring)
{
	g->ring_size = ring;
	g->cap = ring / 2;
	g->seg_size = g->ring_off + ipcx__shm_ring_bytes(g);
}

/*
 * Fits an unbounded geometry's virtual ring to the address space: where
 * the whole ring cannot be mapped now (RLIMIT_AS, valgrind), it takes an
 * eighth of the largest power of two that can, leaving the rest to other
 * channels, and no less than its smallest ring.
 */
static void ipcx__unbounded_fit(struct ipcx__shm_hdr *g)
{
	uint64_t min = ipcx__unbounded_min_ring(g->max_msg), ring = g->ring_size;
	for (; ring > min; ring /= 2) {
		size_t len = (size_t)(g->ring_off + ring);
		void *probe = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				   -1, 0);
		if (probe != MAP_FAILED) {
			munmap(probe, len);
			break;
		}
	}
	if (ring < g->ring_size)
		ipcx__unbounded_ring(g, ring / 8 > min ? ring / 8 : min);
}

/* An unbounded queue: a virtual ring the address space can take, backed as it fills (grow.c). */
static int ipcx__shm_geometry_unbounded(const struct ipcx__shm_params *p,
					struct ipcx__shm_hdr *g)
{
	uint64_t max_msg = p->max_msg ? p->max_msg : IPCX__SHM_UNBOUNDED_MSG;
	if (!ipcx__unbounded_msg_ok(max_msg))
		return ipcx__fail(-EINVAL, "maxmsg=%llu is too large (at most 2GiB)",
				  (unsigned long long)max_msg);
	ipcx__shm_fill(p, g, IPCX__SHM_UNBOUNDED_RING, IPCX__SHM_UNBOUNDED_RING / 2, max_msg);
	ipcx__unbounded_fit(g);
	return 0;
}

/* Fills the immutable part of g from the creation parameters. */
static int ipcx__shm_geometry(const struct ipcx__shm_params *p, struct ipcx__shm_hdr *g)
{
	uint64_t cap = p->cap ? p->cap : IPCX__SHM_DEFAULT_CAP;
	uint64_t max_msg = p->max_msg ? p->max_msg : cap / 4;
	if (p->flags & IPCX__SHM_RENDEZVOUS) {
		/* Nothing is held, but each waiting sender's message lies in the ring. */
		max_msg = p->max_msg ? p->max_msg : IPCX__SHM_RENDEZVOUS_MSG;
		cap = IPCX__SHM_RENDEZVOUS_SENDERS * ipcx__shm_span(max_msg);
	}
	if (p->flags & IPCX__SHM_UNBOUNDED)
		return ipcx__shm_geometry_unbounded(p, g);
	if (cap < IPCX__SHM_MIN_RING || cap > IPCX__SHM_MAX_RING)
		return ipcx__fail(-EINVAL, "cap=%llu is out of range (%u bytes to 4GiB)",
				  (unsigned long long)cap, IPCX__SHM_MIN_RING);
	if (max_msg > cap || 2 * ipcx__shm_span(max_msg) > cap)
		return ipcx__fail(-EINVAL,
				  "cap=%llu must hold two messages of maxmsg=%llu (%llu bytes each with the record header)",
				  (unsigned long long)cap, (unsigned long long)max_msg,
				  (unsigned long long)ipcx__shm_span(max_msg));
	ipcx__shm_fill(p, g, ipcx__pow2_at_least(cap), cap, max_msg);
	return 0;
}

/*
 * Rendezvous goes with a queue or spsc pattern, overwrite with broadcast
 * only, unbounded with a queue, spsc or mpsc pattern and not with
 * rendezvous.
 */
static bool ipcx__shm_flags_ok(uint32_t pattern, uint32_t flags)
{
	if (flags & ~(uint32_t)(IPCX__SHM_RENDEZVOUS | IPCX__SHM_OVERWRITE | IPCX__SHM_UNBOUNDED))
		return false;
	if ((flags & IPCX__SHM_UNBOUNDED) &&
	    (pattern == IPCX__SHM_BROADCAST || (flags & IPCX__SHM_RENDEZVOUS)))
		return false;
	if (pattern == IPCX__SHM_BROADCAST)
		return !(flags & IPCX__SHM_RENDEZVOUS);
	if (pattern == IPCX__SHM_MPSC && (flags & IPCX__SHM_RENDEZVOUS))
		return false;
	return !(flags & IPCX__SHM_OVERWRITE);
}

/* The ring and cap sizes: a bounded ring up to 4GiB, or the virtual ring of an unbounded one. */
static bool ipcx__shm_sizes_ok(const struct ipcx__shm_hdr *g)
{
	if (g->flags & IPCX__SHM_UNBOUNDED)
		return ipcx__unbounded_msg_ok(g->max_msg) && ipcx__is_pow2(g->ring_size) &&
		       g->ring_size <= IPCX__SHM_UNBOUNDED_RING &&
		       g->ring_size >= ipcx__unbounded_min_ring(g->max_msg) && g->cap == g->ring_size / 2;
	return ipcx__is_pow2(g->ring_size) && g->ring_size >= IPCX__SHM_MIN_RING &&
	       g->ring_size <= IPCX__SHM_MAX_RING && g->cap >= IPCX__SHM_MIN_RING &&
	       g->cap <= g->ring_size && g->max_msg <= g->cap &&
	       2 * ipcx__shm_span(g->max_msg) <= g->cap;
}

void ipcx__shm_populate(const struct ipcx__shm_map *m)
{
	if (!m->ring || (m->flags & IPCX__SHM_UNBOUNDED) || m->ring_size > IPCX__SHM_POPULATE_MAX)
		return;
	if (madvise(m->ring, m->ring_size, MADV_POPULATE_WRITE) == 0)
		return;
	/* Before Linux 5.14: a read of each page maps it (tmpfs maps shared pages writable). */
	for (uint64_t off = 0; off < m->ring_size; off += 4096)
		(void)*(volatile unsigned char *)(m->ring + off);
}

/*
 * Checks the immutable header fields (a private snapshot) against each
 * other and the segment's real size, and fills the map's copy of them.
 */
static int ipcx__shm_validate(struct ipcx__shm_map *m, const struct ipcx__shm_hdr *g,
			      uint64_t file_size, const char *name)
{
	if (g->layout != IPCX__SHM_LAYOUT_VERSION)
		return ipcx__fail(-EPROTO, "shm://%s has layout version %u; this ipcx reads %u", name,
				  g->layout, IPCX__SHM_LAYOUT_VERSION);
	/* No sum of header fields: a corrupt one must not wrap around into a pass. */
	bool ok = g->hdr_size == sizeof(struct ipcx__shm_hdr) &&
		  g->slot_size == sizeof(struct ipcx__shm_slot) && g->seg_size == file_size &&
		  g->max_peers >= 1 && g->max_peers <= IPCX__SHM_MAX_PEERS &&
		  g->slot_off >= g->hdr_size && g->slot_off % IPCX__SHM_LINE == 0 &&
		  g->ring_off % IPCX__SHM_LINE == 0 && g->slot_off <= g->ring_off &&
		  (uint64_t)g->max_peers * g->slot_size <= g->ring_off - g->slot_off &&
		  g->ring_off <= file_size && ipcx__shm_sizes_ok(g) &&
		  ipcx__shm_ring_bytes(g) == file_size - g->ring_off &&
		  g->pattern >= IPCX__SHM_QUEUE && g->pattern <= IPCX__SHM_MPSC &&
		  ipcx__shm_flags_ok(g->pattern, g->flags);
	if (!ok)
		return ipcx__fail(-EPROTO, "shm://%s has a corrupt header (inconsistent sizes)", name);
	m->seg_size = g->seg_size;
	m->slots = (struct ipcx__shm_slot *)(m->base + g->slot_off);
	m->ring = ipcx__shm_ring_bytes(g) ? m->base + g->ring_off : NULL;
	m->ring_off = g->ring_off;
	m->ring_size = g->ring_size;
	m->mask = g->ring_size - 1;
	m->cap = g->cap;
	m->max_msg = g->max_msg;
	m->max_peers = g->max_peers;
	m->pattern = g->pattern;
	m->flags = g->flags;
	m->creator_pid = g->creator_pid;
	m->created_ns = g->created_ns;
	return 0;
}

/*
 * Gives the new segment its size. A bounded one is allocated in full, so
 * that no store into it can fault. An unbounded one is a sparse file of
 * the whole virtual ring: only the header and slots are allocated here,
 * the ring as it fills (grow.c).
 */
static int ipcx__shm_size(int fd, const struct ipcx__shm_hdr *g)
{
	if (!(g->flags & IPCX__SHM_UNBOUNDED))
		return -posix_fallocate(fd, 0, (off_t)g->seg_size);
	if (ftruncate(fd, (off_t)g->seg_size) < 0)
		return -errno;
	return -posix_fallocate(fd, 0, (off_t)g->ring_off);
}

/* The map keeps the descriptor of an unbounded segment, to grow and trim its ring; others are closed. */
static void ipcx__shm_keep_fd(struct ipcx__shm_map *m, const struct ipcx__shm_hdr *g, int fd)
{
	if (g->flags & IPCX__SHM_UNBOUNDED)
		m->fd = fd;
	else
		close(fd);
}

int ipcx__shm_map_create(struct ipcx__shm_map *m, const char *name,
			 const struct ipcx__shm_params *p)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	struct ipcx__shm_hdr g = {0};
	int rc = ipcx__shm_geometry(p, &g);
	if (rc < 0)
		return rc;
	char path[256];
	ipcx__shm_path(path, sizeof(path), name);
	int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, p->mode);
	if (fd < 0)
		return ipcx__fail(-errno, "cannot create shm://%s: %s", name, ipcx_strerror(-errno));
	/* The mode asked for is the mode given, whatever the umask. */
	rc = fchmod(fd, p->mode) < 0 ? -errno : ipcx__shm_size(fd, &g);
	void *base = MAP_FAILED;
	if (rc == 0) {
		base = mmap(NULL, g.seg_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			    fd, 0);
		if (base == MAP_FAILED)
			rc = -errno;
	}
	ipcx__shm_keep_fd(m, &g, fd);
	if (rc < 0) {
		ipcx__shm_map_close(m);
		shm_unlink(path);
		return ipcx__fail(rc, "cannot size and map shm://%s (%llu bytes): %s", name,
				  (unsigned long long)g.seg_size, ipcx_strerror(rc));
	}
	m->base = base;
	m->hdr = base;
	m->mode = p->mode;
	rc = ipcx__shm_validate(m, &g, g.seg_size, name);
	if (rc < 0) {
		ipcx__shm_map_close(m);
		shm_unlink(path);
		return rc;
	}
	struct ipcx__shm_hdr *h = m->hdr;
	h->layout = g.layout;
	h->hdr_size = g.hdr_size;
	h->seg_size = g.seg_size;
	h->slot_off = g.slot_off;
	h->slot_size = g.slot_size;
	h->max_peers = g.max_peers;
	h->ring_off = g.ring_off;
	h->ring_size = g.ring_size;
	h->cap = g.cap;
	h->max_msg = g.max_msg;
	h->pattern = g.pattern;
	h->flags = g.flags;
	h->creator_pid = g.creator_pid;
	h->created_ns = g.created_ns;
	atomic_store_explicit(&h->magic, IPCX__SHM_MAGIC, memory_order_release);
	return 0;
}

/* Takes one private snapshot of the immutable header fields. */
static void ipcx__shm_snapshot(struct ipcx__shm_hdr *g, struct ipcx__shm_hdr *h)
{
	g->layout = h->layout;
	g->hdr_size = h->hdr_size;
	g->seg_size = h->seg_size;
	g->slot_off = h->slot_off;
	g->slot_size = h->slot_size;
	g->max_peers = h->max_peers;
	g->ring_off = h->ring_off;
	g->ring_size = h->ring_size;
	g->cap = h->cap;
	g->max_msg = h->max_msg;
	g->pattern = h->pattern;
	g->flags = h->flags;
	g->creator_pid = h->creator_pid;
	g->created_ns = h->created_ns;
}

/*
 * Maps the open segment once its creator has stored the magic, waiting up
 * to IPCX__SHM_INIT_WAIT_NS for a creator still initialising.
 */
static int ipcx__shm_map_ready(struct ipcx__shm_map *m, int fd, const char *name)
{
	int64_t give_up = ipcx__now_ns() + IPCX__SHM_INIT_WAIT_NS;
	for (;;) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			return ipcx__errno_fail("fstat");
		if (st.st_uid != geteuid())
			return ipcx__fail(-EACCES, "shm://%s belongs to uid %u, not to us (uid %u)",
					  name, (unsigned)st.st_uid, (unsigned)geteuid());
		m->mode = st.st_mode & 07777;
		if ((uint64_t)st.st_size >= sizeof(struct ipcx__shm_hdr)) {
			void *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
					  MAP_SHARED | MAP_NORESERVE, fd, 0);
			if (base == MAP_FAILED)
				return ipcx__errno_fail("mmap");
			m->base = base;
			m->hdr = base;
			m->seg_size = (uint64_t)st.st_size;
			uint64_t magic = atomic_load_explicit(&m->hdr->magic, memory_order_acquire);
			if (magic == IPCX__SHM_MAGIC) {
				struct ipcx__shm_hdr g;
				ipcx__shm_snapshot(&g, m->hdr);
				return ipcx__shm_validate(m, &g, (uint64_t)st.st_size, name);
			}
			ipcx__shm_map_close(m);
			if (magic != 0)
				return ipcx__fail(-EPROTO, "shm://%s is not an ipcx queue (bad magic)",
						  name);
		}
		if (ipcx__now_ns() > give_up)
			return ipcx__fail(-EPROTO,
					  "shm://%s was never initialised (did its creator die?); remove it",
					  name);
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
}

int ipcx__shm_map_open(struct ipcx__shm_map *m, const char *name)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	char path[256];
	ipcx__shm_path(path, sizeof(path), name);
	int fd = shm_open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0)
		return ipcx__fail(-errno, "cannot open shm://%s: %s", name, ipcx_strerror(-errno));
	int rc = ipcx__shm_map_ready(m, fd, name);
	if (rc == 0 && (m->flags & IPCX__SHM_UNBOUNDED))
		m->fd = fd;
	else
		close(fd);
	if (rc < 0)
		ipcx__shm_map_close(m);
	return rc;
}

void ipcx__shm_map_close(struct ipcx__shm_map *m)
{
	if (m->base)
		munmap(m->base, m->seg_size);
	if (m->fd >= 0)
		close(m->fd);
	m->base = NULL;
	m->hdr = NULL;
	m->fd = -1;
}

int ipcx__shm_unlink(const char *name)
{
	/* The FIFOs of receivers that died polling go with the queue (a corrupt one keeps them). */
	struct ipcx__shm_map m;
	if (ipcx__shm_map_open(&m, name) == 0) {
		ipcx__shmq_poll_forget_dead(&m);
		ipcx__shm_map_close(&m);
	}
	ipcx__clear_errmsg();
	char path[256];
	ipcx__shm_path(path, sizeof(path), name);
	if (shm_unlink(path) < 0)
		return ipcx__fail(-errno, "cannot remove shm://%s: %s", name, ipcx_strerror(-errno));
	return 0;
}
