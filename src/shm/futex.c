/*
 * futex.c - sleeping and waking across processes on a word of the shared
 * segment.
 *
 * The protocol (docs/shm.md, "Waiting"): a waiter marks itself in its slot,
 * increments the waiter count, makes sure every publisher sees that before
 * it looks again (the fence below), reads the futex word, checks its
 * condition again, and sleeps only if the word still holds that value. A
 * publisher stores its change, then reads the waiter count; only when it is
 * non-zero does it bump the word and call FUTEX_WAKE. Either the publisher
 * sees the waiter, or the waiter's re-check sees the change: no wake-up is
 * lost, and with no waiter the publisher makes no system call. Between a
 * wake-up and the next waiter's prepare, publishers make none either (the
 * woken flag): the sleepers it woke (FUTEX_WAKE wakes them all) are on
 * their way, and one that sleeps again clears the flag first. Receivers
 * waiting in poll(2) count in the same word, above IPCX__SLEEPERS
 * (poll.c). The futexes are shared (no FUTEX_PRIVATE_FLAG): the word lives
 * in memory of several processes.
 *
 * The store-then-load on each side needs a full fence between the two,
 * and a fence on every publish costs more than the rest of a small
 * message's send (it waits for the record's cache lines). So the fence is
 * asymmetric where the kernel allows (membarrier(2), as userspace RCU
 * does): a process registers for MEMBARRIER_CMD_GLOBAL_EXPEDITED when it
 * attaches, and from then on its publishers read the count with a plain
 * load, while a waiter, about to sleep anyway, has the kernel run a full
 * barrier on every CPU that runs a registered process. A publisher's load
 * then either follows that barrier and sees the waiter, or its store
 * preceded it and the waiter's re-check sees the change. A process that
 * could not register (an old kernel, a seccomp filter, valgrind) fences its
 * own publishes with a read-modify-write; a waiter whose membarrier fails
 * cannot rely on unfenced publishers and sleeps in short slices.
 */
#include "shmq.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
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

/* A waiter that could not fence every publisher wakes this often to look again. */
#define IPCX__UNFENCED_SLICE_NS (1000 * 1000LL)

/* Is this process registered, so that its publishes need no fence? Cleared in a forked child. */
static _Atomic bool ipcx__registered;
static pthread_once_t ipcx__atfork_once = PTHREAD_ONCE_INIT;

static void ipcx__forget_registration(void)
{
	atomic_store_explicit(&ipcx__registered, false, memory_order_relaxed);
}

static void ipcx__install_atfork(void)
{
	pthread_atfork(NULL, NULL, ipcx__forget_registration);
}

static long ipcx__membarrier(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

void ipcx__shmq_fence_register(void)
{
	if (atomic_load_explicit(&ipcx__registered, memory_order_acquire))
		return;
	pthread_once(&ipcx__atfork_once, ipcx__install_atfork);
	if (ipcx__membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0)
		atomic_store_explicit(&ipcx__registered, true, memory_order_release);
}

bool ipcx__shmq_fence_publishers(void)
{
	return ipcx__membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0;
}

/* The publisher's side: reads a waiter count after the change it published. */
static uint32_t ipcx__read_waiters(_Atomic uint32_t *count)
{
	if (atomic_load_explicit(&ipcx__registered, memory_order_relaxed)) {
		atomic_signal_fence(memory_order_seq_cst); /* the compiler keeps the order */
		return atomic_load_explicit(count, memory_order_relaxed);
	}
	return atomic_fetch_add_explicit(count, 0, memory_order_seq_cst);
}

bool ipcx__shmq_fence_registered(void)
{
	return atomic_load_explicit(&ipcx__registered, memory_order_relaxed);
}

void ipcx__shmq_publisher_fence(void)
{
	if (atomic_load_explicit(&ipcx__registered, memory_order_relaxed))
		atomic_signal_fence(memory_order_seq_cst);
	else
		atomic_thread_fence(memory_order_seq_cst);
}

static _Atomic uint32_t *ipcx__wait_word(struct ipcx__shm_hdr *h, unsigned which)
{
	return which == IPCX__WAIT_RECV ? &h->data_seq : &h->space_seq;
}

static _Atomic uint32_t *ipcx__wait_count(struct ipcx__shm_hdr *h, unsigned which)
{
	return which == IPCX__WAIT_RECV ? &h->recv_waiters : &h->send_waiters;
}

static _Atomic uint32_t *ipcx__woken(struct ipcx__shm_hdr *h, unsigned which)
{
	return which == IPCX__WAIT_RECV ? &h->data_woken : &h->space_woken;
}

uint32_t ipcx__shmq_wait_prepare(struct ipcx__shmq *q, unsigned which)
{
	atomic_store_explicit(&q->me->waiting, which, memory_order_relaxed);
	atomic_store_explicit(ipcx__woken(q->hdr, which), 0, memory_order_relaxed);
	atomic_fetch_add_explicit(ipcx__wait_count(q->hdr, which), 1, memory_order_seq_cst);
	q->fenced = ipcx__shmq_fence_publishers();
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
	if (!q->fenced) {
		int64_t slice = ipcx__now_ns() + IPCX__UNFENCED_SLICE_NS;
		until_ns = slice < until_ns ? slice : until_ns;
	}
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

/* Where waiters for which on m sleep: a lane's receiver waits on its mpsc queue's master. */
static const struct ipcx__shm_map *ipcx__wait_map(const struct ipcx__shm_map *m, unsigned which)
{
	return which == IPCX__WAIT_RECV && m->wake_recv ? m->wake_recv : m;
}

bool ipcx__shmq_waiting(const struct ipcx__shm_map *m, unsigned which)
{
	m = ipcx__wait_map(m, which);
	return ipcx__read_waiters(ipcx__wait_count(m->hdr, which)) != 0;
}

void ipcx__shmq_notify(const struct ipcx__shm_map *m, unsigned which)
{
	m = ipcx__wait_map(m, which);
	struct ipcx__shm_hdr *h = m->hdr;
	uint32_t n = ipcx__read_waiters(ipcx__wait_count(h, which));
	if (n == 0)
		return;
	if (n >= IPCX__POLLER)
		ipcx__shmq_poll_wake(m); /* receivers waiting in poll(2), poll.c */
	if ((n & IPCX__SLEEPERS) == 0)
		return;
	/* One wake-up per sleep: until a sleeper prepares again, those it woke are on their way. */
	if (atomic_exchange_explicit(ipcx__woken(h, which), 1, memory_order_seq_cst))
		return;
	_Atomic uint32_t *word = ipcx__wait_word(h, which);
	atomic_fetch_add_explicit(word, 1, memory_order_seq_cst);
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}
