/*
 * futex.c - sleeping and waking across processes on a word of the shared
 * segment.
 *
 * The protocol (docs/shm.md, "Waiting"): a waiter marks itself in its slot,
 * increments the waiter count (a sequentially consistent read-modify-write),
 * reads the futex word, checks its condition again, and sleeps only if the
 * word still holds that value. A publisher stores its change, then reads
 * the waiter count with a read-modify-write (adding 0), which orders it
 * after the store as a full fence would, and in a way ThreadSanitizer
 * understands; only when the count is non-zero does it bump the word and
 * call FUTEX_WAKE. The two read-modify-writes on the count are ordered one
 * way or the other: either the publisher sees the waiter, or the waiter's
 * re-check sees the change. No wake-up is lost, and with no waiter the
 * publisher makes no system call. Receivers waiting in poll(2) count in
 * the same word, above IPCX__SLEEPERS (poll.c). The futexes are shared
 * (no FUTEX_PRIVATE_FLAG): the word lives in memory of several processes.
 */
#include "shmq.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void ipcx__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static _Atomic uint32_t *ipcx__wait_word(struct ipcx__shm_hdr *h, unsigned which)
{
	return which == IPCX__WAIT_RECV ? &h->data_seq : &h->space_seq;
}

static _Atomic uint32_t *ipcx__wait_count(struct ipcx__shm_hdr *h, unsigned which)
{
	return which == IPCX__WAIT_RECV ? &h->recv_waiters : &h->send_waiters;
}

uint32_t ipcx__shmq_wait_prepare(struct ipcx__shmq *q, unsigned which)
{
	atomic_store_explicit(&q->me->waiting, which, memory_order_relaxed);
	atomic_fetch_add_explicit(ipcx__wait_count(q->hdr, which), 1, memory_order_seq_cst);
	return atomic_load_explicit(ipcx__wait_word(q->hdr, which), memory_order_seq_cst);
}

/*
 * Whoever clears the slot's waiting mark (the waiter, or a reaper after the
 * waiter died) takes the waiter out of the count, so the count never keeps
 * a dead process's increment.
 */
void ipcx__shmq_wait_cancel(struct ipcx__shmq *q, unsigned which)
{
	uint32_t expect = which;
	if (atomic_compare_exchange_strong(&q->me->waiting, &expect, 0))
		atomic_fetch_sub_explicit(ipcx__wait_count(q->hdr, which), 1,
					  memory_order_relaxed);
}

void ipcx__shmq_wait_sleep(struct ipcx__shmq *q, unsigned which, uint32_t seq,
			   int64_t until_ns)
{
	struct timespec ts, *tp = NULL;
	if (until_ns != INT64_MAX) {
		ts.tv_sec = until_ns / 1000000000;
		ts.tv_nsec = until_ns % 1000000000;
		tp = &ts;
	}
	/*
	 * FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, the clock
	 * of our deadlines. EINTR, EAGAIN and ETIMEDOUT all send the caller
	 * back to re-check its condition against the same deadline.
	 */
	syscall(SYS_futex, (uint32_t *)ipcx__wait_word(q->hdr, which), FUTEX_WAIT_BITSET, seq,
		tp, NULL, FUTEX_BITSET_MATCH_ANY);
	ipcx__shmq_wait_cancel(q, which);
}

void ipcx__shmq_notify(const struct ipcx__shm_map *m, unsigned which)
{
	struct ipcx__shm_hdr *h = m->hdr;
	uint32_t n = atomic_fetch_add_explicit(ipcx__wait_count(h, which), 0, memory_order_seq_cst);
	if (n == 0)
		return;
	if (n >= IPCX__POLLER)
		ipcx__shmq_poll_wake(m); /* receivers waiting in poll(2), poll.c */
	if ((n & IPCX__SLEEPERS) == 0)
		return;
	_Atomic uint32_t *word = ipcx__wait_word(h, which);
	atomic_fetch_add_explicit(word, 1, memory_order_seq_cst);
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}
