/*
 * sysvshm.c - sysvshm://KEY (also 0xKEY, /path?proj=N): seed 001's textbook
 * pair, a System V shared memory segment holding a ring of fixed slots and
 * a System V semaphore set of three under the same key:
 *
 *   sem 0  mutex  1 when nobody is inside the ring
 *   sem 1  empty  free slots  (senders take one)
 *   sem 2  full   used slots  (receivers take one)
 *
 * A send is one semop taking empty and mutex together, a copy into the
 * slot at tail, and one semop giving back mutex and adding to full; a
 * receive mirrors it. Every take carries SEM_UNDO, so a process killed
 * inside the critical section has its takes reverted by the kernel and
 * the others go on (the ring indices move only after the copy). The
 * closing semop cancels those undo records without changing the values:
 * it adds 1 with SEM_UNDO and takes 1 without, on the semaphore taken.
 *
 * ?maxmsg= is the slot size (default 4096), ?cap= the ring's bytes
 * (default 16 slots; at most SEMVMX slots). The header is checked on open
 * and every slot length before it is followed: a corrupt segment is -EPROTO.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
#include <sys/shm.h>

#define IPCX__SYSVSHM_CAPS                                                     \
	(IPCX_CAP_MANY_SENDERS | IPCX_CAP_MANY_RECEIVERS | IPCX_CAP_SURVIVES_EXIT | \
	 IPCX_CAP_NAMED | IPCX_CAP_RELIABLE | IPCX_CAP_FLOW_CONTROL)

#define IPCX__SYSVSHM_MAGIC 0x49585356u /* "IXSV" */
#define IPCX__SYSVSHM_VERSION 1
#define IPCX__SYSVSHM_SLOT_DEFAULT 4096
#define IPCX__SYSVSHM_SLOTS_DEFAULT 16
#define IPCX__SYSVSHM_SLOTS_MAX 32767 /* SEMVMX: the empty count must fit */

enum { IPCX__SEM_MUTEX, IPCX__SEM_EMPTY, IPCX__SEM_FULL, IPCX__SEM_N };

struct ipcx__sysvshm_hdr {
	uint32_t magic, version;
	uint32_t nslots, slot_size;
	uint32_t head, tail; /* changed only under the mutex */
};

struct ipcx__sysvshm_slot {
	uint64_t len;
	int64_t type;
	unsigned char data[];
};

struct ipcx__sysvshm_chan {
	struct ipcx_chan base;
	int semid, shmid;
	struct ipcx__sysvshm_hdr *hdr;
	size_t stride; /* bytes per slot, header included */
	/*
	 * The geometry checked at open, kept here: another process can write
	 * the header at any time, so the live nslots and slot_size are never
	 * used to index or bound a copy.
	 */
	uint32_t nslots, slot_size;
};

static struct ipcx__sysvshm_slot *ipcx__sysvshm_slot(struct ipcx__sysvshm_chan *c, uint32_t i)
{
	return (struct ipcx__sysvshm_slot *)((unsigned char *)(c->hdr + 1) + (size_t)i * c->stride);
}

static size_t ipcx__sysvshm_stride(size_t slot_size)
{
	return (sizeof(struct ipcx__sysvshm_slot) + slot_size + 7) & ~(size_t)7;
}

/* ---- the two semops around each copy --------------------------------- */

/*
 * ipcx__sysvshm_enter takes one of `take` and the mutex, both undone if we
 * die. With timeout 0 only `take` is IPC_NOWAIT: a message or a free slot
 * that is there is taken even while another process briefly holds the
 * mutex for its copy.
 */
static int ipcx__sysvshm_enter(struct ipcx__sysvshm_chan *c, unsigned short take,
			       struct ipcx__deadline d)
{
	short nowait = d.timeout_ms == 0 ? IPC_NOWAIT : 0;
	struct sembuf ops[2] = {{take, -1, (short)(SEM_UNDO | nowait)},
				{IPCX__SEM_MUTEX, -1, SEM_UNDO}};
	return ipcx__semtimedop(c->semid, ops, 2, d);
}

/*
 * ipcx__sysvshm_leave gives the mutex back and adds one to give; with
 * commit false it puts back what enter took instead. Either way the undo
 * records of enter are cancelled.
 */
static int ipcx__sysvshm_leave(struct ipcx__sysvshm_chan *c, unsigned short took,
			       unsigned short give, bool commit)
{
	struct sembuf ops[4] = {{IPCX__SEM_MUTEX, 1, SEM_UNDO},
				{took, 1, SEM_UNDO},
				{took, -1, IPC_NOWAIT},
				{give, 1, 0}};
	return semop(c->semid, ops, commit ? 4 : 2) < 0 ? -errno : 0;
}

static int ipcx__sysvshm_err(const struct ipcx__sysvshm_chan *c, int rc, const char *full)
{
	if (rc == -EIDRM || rc == -EINVAL)
		return ipcx__fail(-EPIPE, "the semaphore set of %s was removed", c->base.url);
	if (rc == -EAGAIN || rc == -ETIMEDOUT)
		return ipcx__fail(rc, "%s: %s", c->base.url, full);
	return ipcx__fail(rc, "semop: %s", ipcx_strerror(rc));
}

static int ipcx__sysvshm_send(ipcx_chan *ch, const void *data, size_t len, long type,
			      struct ipcx__deadline d)
{
	struct ipcx__sysvshm_chan *c = (struct ipcx__sysvshm_chan *)ch;
	int rc = ipcx__sysvshm_enter(c, IPCX__SEM_EMPTY, d);
	if (rc < 0)
		return ipcx__sysvshm_err(c, rc, "the ring is full");
	uint32_t tail = __atomic_load_n(&c->hdr->tail, __ATOMIC_RELAXED);
	if (tail >= c->nslots) {
		ipcx__sysvshm_leave(c, IPCX__SEM_EMPTY, IPCX__SEM_FULL, false);
		return ipcx__fail(-EPROTO, "%s: corrupt ring tail %u", c->base.url, tail);
	}
	struct ipcx__sysvshm_slot *s = ipcx__sysvshm_slot(c, tail);
	s->len = len;
	s->type = type;
	if (len)
		memcpy(s->data, data, len);
	c->hdr->tail = (tail + 1) % c->nslots;
	rc = ipcx__sysvshm_leave(c, IPCX__SEM_EMPTY, IPCX__SEM_FULL, true);
	return rc < 0 ? ipcx__sysvshm_err(c, rc, "") : 0;
}

static ssize_t ipcx__sysvshm_recv(ipcx_chan *ch, void *buf, size_t size, long selector,
				  long *type, struct ipcx__deadline d)
{
	struct ipcx__sysvshm_chan *c = (struct ipcx__sysvshm_chan *)ch;
	int rc = ipcx__sysvshm_enter(c, IPCX__SEM_FULL, d);
	if (rc < 0)
		return ipcx__sysvshm_err(c, rc, "the ring is empty");
	uint32_t head = __atomic_load_n(&c->hdr->head, __ATOMIC_RELAXED);
	struct ipcx__sysvshm_slot *s = head < c->nslots ? ipcx__sysvshm_slot(c, head) : NULL;
	/* Each field is read once: what was checked is what is used. */
	uint64_t len = s ? __atomic_load_n(&s->len, __ATOMIC_RELAXED) : 0;
	int64_t t = s ? __atomic_load_n(&s->type, __ATOMIC_RELAXED) : 0;
	if (!s || len > c->slot_size || t < 1 || t > LONG_MAX) {
		ipcx__sysvshm_leave(c, IPCX__SEM_FULL, IPCX__SEM_EMPTY, false);
		return ipcx__fail(-EPROTO, "%s: corrupt ring slot %u", c->base.url, head);
	}
	if (len > size) {
		ipcx__sysvshm_leave(c, IPCX__SEM_FULL, IPCX__SEM_EMPTY, false);
		return ipcx__fail(-EMSGSIZE, "the next message has %zu bytes, more than the %zu-byte "
					     "buffer; it stays queued", (size_t)len, size);
	}
	size_t n = (size_t)len;
	memcpy(buf, s->data, n);
	*type = (long)t;
	c->hdr->head = (head + 1) % c->nslots;
	rc = ipcx__sysvshm_leave(c, IPCX__SEM_FULL, IPCX__SEM_EMPTY, true);
	return rc < 0 ? ipcx__sysvshm_err(c, rc, "") : (ssize_t)n;
}

/* ---- open ------------------------------------------------------------ */

static int ipcx__sysvshm_geometry(const struct ipcx__url *u, uint32_t *nslots, uint32_t *slot)
{
	size_t s = u->has_maxmsg ? u->maxmsg : IPCX__SYSVSHM_SLOT_DEFAULT;
	if (s == 0 || s > ((size_t)1 << 30))
		return ipcx__fail(-EINVAL, "maxmsg=%zu: a slot holds 1 byte to 1 GiB", s);
	size_t n = u->has_cap ? u->cap / s : IPCX__SYSVSHM_SLOTS_DEFAULT;
	if (u->has_cap && (u->cap == 0 || u->cap == SIZE_MAX))
		return ipcx__fail(-ENOTSUP, "sysvshm:// is a bounded ring: cap=0 and cap=unbounded "
					    "are not possible");
	if (n == 0 || n > IPCX__SYSVSHM_SLOTS_MAX)
		return ipcx__fail(-EINVAL, "cap=%zu gives %zu slots of %zu bytes; 1 to %d fit",
				  u->cap, n, s, IPCX__SYSVSHM_SLOTS_MAX);
	*nslots = (uint32_t)n;
	*slot = (uint32_t)s;
	return 0;
}

/* ipcx__sysvshm_create makes both objects, or neither; -EEXIST when the key is taken. */
static int ipcx__sysvshm_create(struct ipcx__sysvshm_chan *c, key_t key,
				const struct ipcx__url *u)
{
	uint32_t nslots, slot;
	int rc = ipcx__sysvshm_geometry(u, &nslots, &slot);
	if (rc < 0)
		return rc;
	int mode = (int)ipcx__url_mode(u);
	c->semid = semget(key, IPCX__SEM_N, IPC_CREAT | IPC_EXCL | mode);
	if (c->semid < 0)
		return errno == EEXIST ? -EEXIST : ipcx__errno_fail("semget");
	c->stride = ipcx__sysvshm_stride(slot);
	c->nslots = nslots;
	c->slot_size = slot;
	size_t bytes = sizeof(struct ipcx__sysvshm_hdr) + nslots * c->stride;
	c->shmid = shmget(key, bytes, IPC_CREAT | IPC_EXCL | mode);
	c->hdr = c->shmid < 0 ? (void *)-1 : shmat(c->shmid, NULL, 0);
	unsigned short vals[IPCX__SEM_N] = {1, (unsigned short)nslots, 0};
	if (c->hdr == (void *)-1)
		rc = ipcx__fail(-errno, "shmget/shmat key 0x%08x, %zu bytes: %s", (unsigned)key,
				bytes, ipcx_strerror(-errno));
	else {
		*c->hdr = (struct ipcx__sysvshm_hdr){.magic = IPCX__SYSVSHM_MAGIC,
						     .version = IPCX__SYSVSHM_VERSION,
						     .nslots = nslots, .slot_size = slot};
		rc = ipcx__sysvsem_setall(c->semid, vals);
	}
	if (rc < 0) {
		if (c->hdr != (void *)-1)
			shmdt(c->hdr);
		if (c->shmid >= 0)
			shmctl(c->shmid, IPC_RMID, NULL);
		semctl(c->semid, 0, IPC_RMID);
		c->hdr = NULL;
	} else {
		(void)ipcx__object_register_sysv("sysvshm", c->shmid);
	}
	return rc;
}

/* ipcx__sysvshm_attach opens both existing objects and checks the header. */
static int ipcx__sysvshm_attach(struct ipcx__sysvshm_chan *c, key_t key)
{
	c->semid = semget(key, 0, 0);
	c->shmid = c->semid < 0 ? -1 : shmget(key, 0, 0);
	if (c->shmid < 0)
		return ipcx__fail(errno == ENOENT ? -ENOENT : -errno, "no sysvshm ring with key "
				  "0x%08x (%s)", (unsigned)key, ipcx_strerror(-errno));
	struct semid_ds sds;
	int rc = ipcx__sysvsem_await(c->semid, &sds);
	struct shmid_ds ds;
	if (rc == 0 && shmctl(c->shmid, IPC_STAT, &ds) < 0)
		rc = ipcx__errno_fail("shmctl IPC_STAT");
	if (rc < 0)
		return rc;
	void *p = shmat(c->shmid, NULL, 0);
	if (p == (void *)-1)
		return ipcx__errno_fail("shmat");
	c->hdr = p;
	struct ipcx__sysvshm_hdr h = {0};
	if (ds.shm_segsz >= sizeof(h))
		memcpy(&h, p, sizeof(h));
	c->stride = ipcx__sysvshm_stride(h.slot_size);
	c->nslots = h.nslots;
	c->slot_size = h.slot_size;
	if (ds.shm_segsz < sizeof(h) || h.magic != IPCX__SYSVSHM_MAGIC ||
	    h.version != IPCX__SYSVSHM_VERSION || h.nslots == 0 ||
	    h.nslots > IPCX__SYSVSHM_SLOTS_MAX || h.slot_size == 0 ||
	    h.slot_size > ((size_t)1 << 30) ||
	    sizeof(h) + (size_t)h.nslots * c->stride > ds.shm_segsz) {
		shmdt(c->hdr);
		c->hdr = NULL;
		return ipcx__fail(-EPROTO, "key 0x%08x is not an ipcx sysvshm ring", (unsigned)key);
	}
	return 0;
}

static int ipcx__sysvshm_open(ipcx_chan **out, const struct ipcx__url *u, int flags,
			      struct ipcx__deadline d)
{
	struct ipcx__sysv_addr a;
	int rc = ipcx__sysv_addr_parse(u, false, &a);
	if (rc < 0)
		return rc;
	struct ipcx__sysvshm_chan *c = ipcx__chan_alloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	rc = -EEXIST;
	if (flags & IPCX_CREATE)
		rc = ipcx__sysvshm_create(c, a.key, u);
	if (rc == -EEXIST && (flags & IPCX_EXCL))
		rc = ipcx__fail(-EEXIST, "a sysvshm ring with key 0x%08x exists", (unsigned)a.key);
	else if (rc == -EEXIST)
		rc = ipcx__sysvshm_attach(c, a.key);
	if (rc < 0) {
		free(c);
		return rc;
	}
	c->base.caps.flags = IPCX__SYSVSHM_CAPS;
	c->base.caps.max_msg = c->slot_size;
	c->base.caps.capacity = (size_t)c->slot_size * c->nslots;
	c->base.max_msg_limit = "the ring's slot size";
	*out = &c->base;
	return 0;
}

static void ipcx__sysvshm_close(ipcx_chan *ch)
{
	struct ipcx__sysvshm_chan *c = (struct ipcx__sysvshm_chan *)ch;
	shmdt(c->hdr);
	free(c);
}

static int ipcx__sysvshm_unlink(const struct ipcx__url *u)
{
	struct ipcx__sysv_addr a;
	int rc = ipcx__sysv_addr_parse(u, false, &a);
	if (rc < 0)
		return rc;
	int semid = semget(a.key, 0, 0), shmid = shmget(a.key, 0, 0);
	if (semid < 0 && shmid < 0)
		return ipcx__fail(-ENOENT, "no sysvshm ring with key 0x%08x", (unsigned)a.key);
	if (semid >= 0 && semctl(semid, 0, IPC_RMID) < 0)
		return ipcx__errno_fail("semctl IPC_RMID");
	if (shmid >= 0 && shmctl(shmid, IPC_RMID, NULL) < 0)
		return ipcx__errno_fail("shmctl IPC_RMID");
	if (shmid >= 0)
		ipcx__object_forget_sysv("sysvshm", shmid);
	return 0;
}

const struct ipcx__transport ipcx__sysvshm_transport = {
	.scheme = "sysvshm",
	.options = "mode cap maxmsg proj",
	.caps = {.flags = IPCX__SYSVSHM_CAPS, .max_msg = IPCX__SYSVSHM_SLOT_DEFAULT},
	.open = ipcx__sysvshm_open,
	.send = ipcx__sysvshm_send,
	.recv = ipcx__sysvshm_recv,
	.close = ipcx__sysvshm_close,
	.unlink = ipcx__sysvshm_unlink,
};
