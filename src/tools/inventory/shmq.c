/*
 * shmq.c - what an ipcx shared-memory queue (shm://NAME) holds and who uses
 * it, read from its segment in /dev/shm with the layout of
 * src/shm/layout.h.
 *
 * The segment is shared memory that any process of its owner may scribble
 * on, so nothing read from it is trusted: the file is opened read-only
 * without following links or blocking, must be a regular file whose size
 * the header agrees with, every offset and count is checked before use, a
 * walk of the ring is bounded by the ring's size, and the segment is never
 * written (pread(2), no mapping, so a truncated file cannot raise SIGBUS).
 * The queue moves while it is read: the result is a snapshot that may be a
 * message or two off.
 */
#include "inventory.h"
#include "../../shm/shmq.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * A slot's owner is a process token shifted left by two (layout.h); the
 * token keeps the pid in its low bits, as src/shm/peer.c packs it.
 */
#define INV_SHM_TOKEN_SHIFT 2
#define INV_SHM_TOKEN_PID_BITS 22

/* inv_shm_geometry_ok checks the header's fixed fields against each other and the file size. */
static bool inv_shm_geometry_ok(const struct ipcx__shm_hdr *h, uint64_t file_size)
{
	if (h->magic != IPCX__SHM_MAGIC || h->layout != IPCX__SHM_LAYOUT_VERSION ||
	    h->hdr_size != sizeof(struct ipcx__shm_hdr) ||
	    h->slot_size != sizeof(struct ipcx__shm_slot) || h->seg_size != file_size)
		return false;
	/* The master of an mpsc queue has no ring in its file: its lanes have. */
	uint64_t ring_bytes = h->pattern == IPCX__SHM_MPSC ? 0 : h->ring_size;
	/* An unbounded queue's ring is virtual and may be larger than any bounded ring. */
	uint64_t max_ring =
		h->flags & IPCX__SHM_UNBOUNDED ? IPCX__SHM_UNBOUNDED_RING : IPCX__SHM_MAX_RING;
	bool ring_ok = h->ring_size >= IPCX__SHM_MIN_RING && h->ring_size <= max_ring &&
		       (h->ring_size & (h->ring_size - 1)) == 0 && h->ring_off <= file_size &&
		       ring_bytes == file_size - h->ring_off && h->cap <= h->ring_size;
	bool slots_ok = h->max_peers >= 1 && h->max_peers <= INV_SHM_MAX_PEERS &&
			h->slot_off >= h->hdr_size && h->slot_off <= h->ring_off &&
			(h->ring_off - h->slot_off) / h->slot_size >= h->max_peers;
	return ring_ok && slots_ok && h->pattern >= IPCX__SHM_QUEUE &&
	       h->pattern <= IPCX__SHM_MPSC;
}

/*
 * inv_shm_open opens the segment at path read-only and reads its header
 * into h. Returns the descriptor, or -1 when the file is not a valid ipcx
 * queue of this layout.
 */
static int inv_shm_open(const char *path, struct ipcx__shm_hdr *h)
{
	/* Anyone may write /dev/shm: a FIFO put in the file's place must not hang us. */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    pread(fd, h, sizeof(*h), 0) == (ssize_t)sizeof(*h) &&
	    inv_shm_geometry_ok(h, (uint64_t)st.st_size))
		return fd;
	close(fd);
	return -1;
}

/* inv_shm_slot reads peer slot i; false when it cannot be read. */
static bool inv_shm_slot(int fd, const struct ipcx__shm_hdr *h, unsigned i,
			 struct ipcx__shm_slot *s)
{
	off_t at = (off_t)(h->slot_off + (uint64_t)i * h->slot_size);
	return pread(fd, s, sizeof(*s), at) == (ssize_t)sizeof(*s);
}

/* inv_shm_peer_of describes the channel that owns slot s (owner not 0). */
static struct inv_shm_peer inv_shm_peer_of(const struct ipcx__shm_hdr *h,
					   const struct ipcx__shm_slot *s)
{
	uint64_t token = s->owner >> INV_SHM_TOKEN_SHIFT;
	return (struct inv_shm_peer){
		.pid = (pid_t)(token & ((1ull << INV_SHM_TOKEN_PID_BITS) - 1)),
		.role = s->role & (IPCX_SEND | IPCX_RECV),
		.subscriber = h->pattern == IPCX__SHM_BROADCAST && s->sub != 0,
		.alive = ipcx__shm_token_alive(token),
		.msgs_sent = s->msgs_sent,
		.bytes_sent = s->bytes_sent,
		.msgs_recv = s->msgs_recv,
		.bytes_recv = s->bytes_recv,
		.lost = s->lost,
	};
}

/*
 * inv_shm_first_unread is where waiting messages begin: the release cursor
 * of a queue, and for a broadcast queue the read position of its slowest
 * subscriber (the tail when there is none: a late subscriber hears only
 * what follows). Positions outside [rel, tail] are not trusted.
 */
static uint64_t inv_shm_first_unread(int fd, const struct ipcx__shm_hdr *h, uint64_t rel,
				     uint64_t tail)
{
	if (h->pattern != IPCX__SHM_BROADCAST)
		return rel;
	uint64_t first = tail;
	struct ipcx__shm_slot s;
	for (unsigned i = 0; i < h->max_peers && inv_shm_slot(fd, h, i, &s); i++) {
		uint64_t sub = s.sub;
		if (s.owner != 0 && sub != 0 && sub - 1 - rel <= tail - rel && sub - 1 < first)
			first = sub - 1;
	}
	return first;
}

/*
 * inv_shm_count walks the ring from pos to tail and counts the committed
 * records (messages no receiver has taken) and their payload bytes. The
 * walk stops at a record reserved but not yet committed, as receivers do;
 * a record that breaks the format makes the counts unknown (false).
 */
static bool inv_shm_count(int fd, const struct ipcx__shm_hdr *h, uint64_t pos, uint64_t tail,
			  long long *msgs, long long *bytes)
{
	uint64_t mask = h->ring_size - 1;
	*msgs = *bytes = 0;
	if (tail - pos > h->ring_size)
		return false;
	while (pos != tail) {
		uint64_t room = h->ring_size - (pos & mask);
		if (room < IPCX__SHM_REC_HDR) { /* a gap every peer skips by arithmetic */
			if (room > tail - pos)
				return false;
			pos += room;
			continue;
		}
		struct ipcx__shm_rec r;
		off_t at = (off_t)(h->ring_off + (pos & mask));
		if (pread(fd, &r, sizeof(r), at) != (ssize_t)sizeof(r))
			return false;
		uint64_t st = r.state, span = r.span, len = r.len;
		if (!ipcx__st_is_at(st, pos))
			return true;
		if (span < IPCX__SHM_REC_HDR || span % 8 || span > room || span > tail - pos ||
		    len > span - IPCX__SHM_REC_HDR)
			return false;
		if (ipcx__st_stage(st) == IPCX__ST_COMMITTED) {
			++*msgs;
			*bytes += (long long)len;
		}
		pos += span;
	}
	return true;
}

/* inv_shm_pattern_name names the pattern and flags: "queue", "broadcast+overwrite". */
static void inv_shm_pattern_name(const struct ipcx__shm_hdr *h, char *buf, size_t size)
{
	static const char *const names[] = {"", "queue", "spsc", "broadcast", "mpsc"};
	snprintf(buf, size, "%s%s%s", names[h->pattern],
		 h->flags & IPCX__SHM_RENDEZVOUS ? "+rendezvous" : "",
		 h->flags & IPCX__SHM_OVERWRITE ? "+overwrite" : "");
}

/* inv_shm_count_peers counts the slots in use. */
static int inv_shm_count_peers(int fd, const struct ipcx__shm_hdr *h)
{
	int n = 0;
	struct ipcx__shm_slot s;
	for (unsigned i = 0; i < h->max_peers && inv_shm_slot(fd, h, i, &s); i++)
		n += s.owner != 0;
	return n;
}

/* The waiting messages and their bytes of the queue fd, whose header is h; false when unknown. */
static bool inv_shm_waiting(int fd, const struct ipcx__shm_hdr *h, long long *msgs,
			    long long *bytes)
{
	uint64_t tail = h->tail, rel = h->rel;
	return inv_shm_count(fd, h, inv_shm_first_unread(fd, h, rel, tail), tail, msgs, bytes);
}

/* Keeps in *last the later of it and the activity (pid, ns) of a lane. */
static void inv_shm_later(struct inv_pid_time *last, int32_t pid, int64_t ns)
{
	if (ns / 1000000000 >= last->time)
		*last = (struct inv_pid_time){pid, ns / 1000000000};
}

/*
 * An mpsc queue's messages wait in its lanes, path#0 to path#63: o gets
 * their sum (unknown when a lane's cannot be read), capacity and last
 * activity.
 */
static void inv_shm_add_lanes(struct inv_obj *o)
{
	long long cap = 0;
	for (unsigned i = 0; i < IPCX__SHM_MAX_LANES; i++) {
		char path[sizeof(o->path) + 8];
		snprintf(path, sizeof(path), "%s%c%u", o->path, IPCX__SHM_LANE_SEP, i);
		struct ipcx__shm_hdr h;
		int fd = inv_shm_open(path, &h);
		if (fd < 0)
			continue;
		long long msgs, bytes;
		if (o->messages >= 0 && inv_shm_waiting(fd, &h, &msgs, &bytes)) {
			o->messages += msgs;
			o->size += bytes;
		} else {
			o->messages = o->size = -1;
		}
		cap += (long long)h.cap;
		inv_shm_later(&o->last_send, h.last_sender_pid, h.last_send_ns);
		inv_shm_later(&o->last_recv, h.last_receiver_pid, h.last_recv_ns);
		close(fd);
	}
	o->capacity = cap;
}

bool inv_shm_read(struct inv_obj *o)
{
	struct ipcx__shm_hdr h;
	int fd = inv_shm_open(o->path, &h);
	if (fd < 0)
		return false;
	const long long ns = 1000000000;
	o->capacity = (long long)h.cap;
	if (!inv_shm_waiting(fd, &h, &o->messages, &o->size))
		o->messages = o->size = -1;
	o->peers = inv_shm_count_peers(fd, &h);
	inv_shm_pattern_name(&h, o->pattern, sizeof(o->pattern));
	o->caps = ipcx__shm_caps(h.pattern, h.flags, IPCX_SEND | IPCX_RECV);
	o->creator = (struct inv_pid_time){h.creator_pid, h.created_ns / ns};
	o->last_send = (struct inv_pid_time){h.last_sender_pid, h.last_send_ns / ns};
	o->last_recv = (struct inv_pid_time){h.last_receiver_pid, h.last_recv_ns / ns};
	close(fd);
	if (h.pattern == IPCX__SHM_MPSC)
		inv_shm_add_lanes(o);
	return true;
}

int inv_shm_peers(const struct inv_obj *o, struct inv_shm_peer *out, size_t max)
{
	struct ipcx__shm_hdr h;
	int fd = inv_shm_open(o->path, &h);
	if (fd < 0)
		return -ENOENT;
	int n = 0;
	struct ipcx__shm_slot s;
	for (unsigned i = 0; i < h.max_peers && (size_t)n < max && inv_shm_slot(fd, &h, i, &s); i++)
		if (s.owner != 0)
			out[n++] = inv_shm_peer_of(&h, &s);
	close(fd);
	return n;
}
