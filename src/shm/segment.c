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

int ipcx__shm_name_check(const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return ipcx__fail(-EINVAL, "shm:// needs a queue name, as in shm://orders");
	if (n > 200)
		return ipcx__fail(-ENAMETOOLONG, "queue name of %zu bytes (at most 200)", n);
	if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return ipcx__fail(-EINVAL, "queue name '%s' must not contain '/' or be a dot", name);
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
	if (cap < IPCX__SHM_MIN_RING || cap > IPCX__SHM_MAX_RING)
		return ipcx__fail(-EINVAL, "cap=%llu is out of range (%u bytes to 4GiB)",
				  (unsigned long long)cap, IPCX__SHM_MIN_RING);
	if (max_msg > cap || 2 * ipcx__shm_span(max_msg) > cap)
		return ipcx__fail(-EINVAL,
				  "cap=%llu must hold two messages of maxmsg=%llu (%llu bytes each with the record header)",
				  (unsigned long long)cap, (unsigned long long)max_msg,
				  (unsigned long long)ipcx__shm_span(max_msg));
	g->layout = IPCX__SHM_LAYOUT_VERSION;
	g->hdr_size = sizeof(struct ipcx__shm_hdr);
	g->slot_off = sizeof(struct ipcx__shm_hdr);
	g->slot_size = sizeof(struct ipcx__shm_slot);
	g->max_peers = IPCX__SHM_MAX_PEERS;
	uint64_t slots_end = g->slot_off + (uint64_t)g->max_peers * g->slot_size;
	g->ring_off = (slots_end + 4095) & ~(uint64_t)4095;
	g->ring_size = ipcx__pow2_at_least(cap);
	g->seg_size = g->ring_off + g->ring_size;
	g->cap = cap;
	g->max_msg = max_msg;
	g->pattern = p->pattern ? p->pattern : IPCX__SHM_QUEUE;
	g->flags = p->flags;
	g->creator_pid = getpid();
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	g->created_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	return 0;
}

/* Rendezvous goes with a queue or spsc pattern, overwrite with broadcast only. */
static bool ipcx__shm_flags_ok(uint32_t pattern, uint32_t flags)
{
	if (flags & ~(uint32_t)(IPCX__SHM_RENDEZVOUS | IPCX__SHM_OVERWRITE))
		return false;
	if (pattern == IPCX__SHM_BROADCAST)
		return !(flags & IPCX__SHM_RENDEZVOUS);
	return !(flags & IPCX__SHM_OVERWRITE);
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
	uint64_t slots_end = g->slot_off + (uint64_t)g->max_peers * g->slot_size;
	bool ok = g->hdr_size == sizeof(struct ipcx__shm_hdr) &&
		  g->slot_size == sizeof(struct ipcx__shm_slot) && g->seg_size == file_size &&
		  g->max_peers >= 1 && g->max_peers <= (1u << IPCX__ST_SLOT_BITS) &&
		  g->slot_off >= g->hdr_size && g->slot_off % IPCX__SHM_LINE == 0 &&
		  g->ring_off % IPCX__SHM_LINE == 0 && slots_end <= g->ring_off &&
		  ipcx__is_pow2(g->ring_size) && g->ring_size >= IPCX__SHM_MIN_RING &&
		  g->ring_size <= IPCX__SHM_MAX_RING && g->ring_off + g->ring_size == file_size &&
		  g->cap >= IPCX__SHM_MIN_RING && g->cap <= g->ring_size &&
		  g->max_msg <= g->cap && 2 * ipcx__shm_span(g->max_msg) <= g->cap &&
		  g->pattern >= IPCX__SHM_QUEUE && g->pattern <= IPCX__SHM_BROADCAST &&
		  ipcx__shm_flags_ok(g->pattern, g->flags);
	if (!ok)
		return ipcx__fail(-EPROTO, "shm://%s has a corrupt header (inconsistent sizes)", name);
	m->seg_size = g->seg_size;
	m->slots = (struct ipcx__shm_slot *)(m->base + g->slot_off);
	m->ring = m->base + g->ring_off;
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

int ipcx__shm_map_create(struct ipcx__shm_map *m, const char *name,
			 const struct ipcx__shm_params *p)
{
	memset(m, 0, sizeof(*m));
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
	rc = fchmod(fd, p->mode) < 0 ? -errno : -posix_fallocate(fd, 0, (off_t)g.seg_size);
	void *base = MAP_FAILED;
	if (rc == 0) {
		base = mmap(NULL, g.seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (base == MAP_FAILED)
			rc = -errno;
	}
	close(fd);
	if (rc < 0) {
		shm_unlink(path);
		return ipcx__fail(rc, "cannot size shm://%s to %llu bytes: %s", name,
				  (unsigned long long)g.seg_size, ipcx_strerror(rc));
	}
	m->base = base;
	m->hdr = base;
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
		if ((uint64_t)st.st_size >= sizeof(struct ipcx__shm_hdr)) {
			void *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
					  MAP_SHARED, fd, 0);
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
	char path[256];
	ipcx__shm_path(path, sizeof(path), name);
	int fd = shm_open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0)
		return ipcx__fail(-errno, "cannot open shm://%s: %s", name, ipcx_strerror(-errno));
	int rc = ipcx__shm_map_ready(m, fd, name);
	close(fd);
	if (rc < 0)
		ipcx__shm_map_close(m);
	return rc;
}

void ipcx__shm_map_close(struct ipcx__shm_map *m)
{
	if (m->base)
		munmap(m->base, m->seg_size);
	m->base = NULL;
	m->hdr = NULL;
}

int ipcx__shm_unlink(const char *name)
{
	char path[256];
	ipcx__shm_path(path, sizeof(path), name);
	if (shm_unlink(path) < 0)
		return ipcx__fail(-errno, "cannot remove shm://%s: %s", name, ipcx_strerror(-errno));
	return 0;
}
