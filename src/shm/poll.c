/*
 * poll.c - the pollable descriptor of a receiving queue handle.
 *
 * A receiver that asks for a descriptor gets the read end of its own FIFO,
 * /dev/shm/ipcx-poll.ID, where ID is a random 64-bit number it publishes
 * in its peer slot (poll_id). Waiting in poll(2) is announced like a futex
 * wait (futex.c): when a receive with timeout 0 finds nothing, the handle
 * empties its FIFO, sets polling in its slot, adds IPCX__POLLER to the
 * receivers' waiter count (a sequentially consistent read-modify-write) and
 * tries once more. A sender's notify, which already reads that count after
 * publishing, finds the poller, clears polling (only one sender wins) and
 * writes one byte into the FIFO. Either the sender sees the poller or the
 * receiver's retry sees the message; while nobody polls a sender makes no
 * system call. A byte may be left over (a wake-up, not a promise).
 *
 * Only processes of the queue's owner can map it (segment.c), and the FIFO
 * is created 0600 with a name no one can guess in advance; the writer
 * opens it with O_NOFOLLOW | O_NONBLOCK and checks it is a FIFO of ours.
 */
#include "shmq.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static void ipcx__poll_path(char *out, size_t size, uint64_t id)
{
	snprintf(out, size, "/dev/shm/ipcx-poll.%016" PRIx64, id);
}

/* Reads every byte out of fd (non-blocking). */
static void ipcx__poll_drain(int fd)
{
	char buf[64];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int ipcx__shmq_poll_fd(struct ipcx__shmq *q)
{
	if (q->poll_fd >= 0)
		return q->poll_fd;
	if (!(q->role & IPCX_RECV))
		return ipcx__fail(-ENOTSUP, "a sending shm:// channel has no pollable descriptor");
	uint64_t id = 0;
	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			return ipcx__errno_fail("getrandom");
	char path[64];
	ipcx__poll_path(path, sizeof(path), id);
	if (mkfifo(path, 0600) < 0)
		return ipcx__fail(-errno, "mkfifo %s: %s", path, ipcx_strerror(-errno));
	/* Read-write: the FIFO always has a writer, so poll(2) never reports a hang-up. */
	int fd = open(path, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int rc = ipcx__fail(-errno, "open %s: %s", path, ipcx_strerror(-errno));
		unlink(path);
		return rc;
	}
	q->poll_fd = fd;
	atomic_store_explicit(&q->me->poll_id, id, memory_order_release);
	/* Readable at once: the first receive with timeout 0 arms it for real. */
	(void)!write(fd, "", 1);
	return fd;
}

void ipcx__shmq_poll_arm(struct ipcx__shmq *q)
{
	ipcx__poll_drain(q->poll_fd);
	uint32_t was = 0;
	if (atomic_compare_exchange_strong(&q->me->polling, &was, 1)) {
		atomic_fetch_add_explicit(&q->hdr->recv_waiters, IPCX__POLLER,
					  memory_order_seq_cst);
		/* Where this fails, publishers could not register either, and fence themselves. */
		(void)ipcx__shmq_fence_publishers();
	}
}

bool ipcx__shmq_poll_disarm(struct ipcx__shm_hdr *h, struct ipcx__shm_slot *s)
{
	if (!atomic_exchange(&s->polling, 0))
		return false;
	atomic_fetch_sub(&h->recv_waiters, IPCX__POLLER);
	return true;
}

/* Writes the wake-up byte into the FIFO of poll_id, if it is still a FIFO of ours. */
static void ipcx__poll_signal(uint64_t id)
{
	char path[64];
	ipcx__poll_path(path, sizeof(path), id);
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return; /* gone, or its reader has closed it: nobody to wake */
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_uid == geteuid())
		(void)!write(fd, "", 1); /* EAGAIN: full, hence readable already */
	close(fd);
}

void ipcx__shmq_poll_wake(const struct ipcx__shm_map *m)
{
	for (unsigned i = 0; i < m->max_peers; i++) {
		struct ipcx__shm_slot *s = &m->slots[i];
		if (!atomic_load_explicit(&s->polling, memory_order_relaxed))
			continue;
		uint64_t id = atomic_load_explicit(&s->poll_id, memory_order_acquire);
		if (ipcx__shmq_poll_disarm(m->hdr, s) && id)
			ipcx__poll_signal(id);
	}
}

void ipcx__shmq_poll_forget(struct ipcx__shm_hdr *h, struct ipcx__shm_slot *s)
{
	ipcx__shmq_poll_disarm(h, s);
	uint64_t id = atomic_exchange(&s->poll_id, 0);
	if (!id)
		return;
	char path[64];
	ipcx__poll_path(path, sizeof(path), id);
	unlink(path);
}

void ipcx__shmq_poll_forget_dead(const struct ipcx__shm_map *m)
{
	for (unsigned i = 0; i < m->max_peers; i++) {
		struct ipcx__shm_slot *s = &m->slots[i];
		uint64_t owner = atomic_load(&s->owner);
		if (atomic_load(&s->poll_id) && (!owner || !ipcx__shm_token_alive(owner >> 2)))
			ipcx__shmq_poll_forget(m->hdr, s);
	}
}
