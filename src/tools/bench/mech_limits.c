/*
 * mech_limits.c - the references every mechanism is compared with, all on
 * one shared-memory ring per direction, written by hand without framing:
 *
 *  - "cache-line spin", the physical limit: both sides spin, no system
 *    call at all. A small message shares its slot's cache line with the
 *    slot's flag, so a round trip moves that one line there and back.
 *  - "futex ring", the raw futex: the same ring, but a side that must wait
 *    sleeps in futex(2) and every post wakes it, as the simplest
 *    hand-written futex channel does.
 *  - "memcpy 1 core", the bandwidth limit: one process copying.
 *
 * Each slot has its own flag (0 empty, 1 full), so the sender and the
 * receiver share no index: each keeps its own position, in a cache line
 * only it writes.
 */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CACHE_LINE 64
/* A ring holds at most this many slots, and about this many bytes. */
#define RING_SLOTS 64
#define RING_BYTES ((size_t)1 << 20)

struct ring_slot {
	_Alignas(CACHE_LINE) atomic_int full;
	unsigned char data[];
};

/* The positions: pos[d][0] written by direction d's sender, pos[d][1] by its receiver. */
struct ring_head {
	_Alignas(CACHE_LINE) size_t pos;
};

struct ring_map {
	struct ring_head pos[2][2];
};

static size_t slot_size(size_t size)
{
	size_t s = sizeof(struct ring_slot) + size;
	return (s + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
}

static size_t ring_slots(size_t size)
{
	size_t n = RING_BYTES / slot_size(size);
	return n < 1 ? 1 : n > RING_SLOTS ? RING_SLOTS : n;
}

static size_t ring_len(size_t size)
{
	return sizeof(struct ring_map) + 2 * ring_slots(size) * slot_size(size);
}

/* ring_next returns the slot of direction d at the position role keeps, and advances it. */
static struct ring_slot *ring_next(struct bench_link *l, int d, int role)
{
	struct ring_map *m = l->p[0];
	size_t n = ring_slots(l->size);
	size_t i = m->pos[d][role].pos++ % n;
	char *slots = (char *)l->p[0] + sizeof(*m);
	return (struct ring_slot *)(slots + ((size_t)d * n + i) * slot_size(l->size));
}

static int ring_setup(struct bench_link *l, char *why, size_t n)
{
	void *p = mmap(NULL, ring_len(l->size), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return bench_errno_fail(why, n, "mmap");
	l->p[0] = p;
	return 0;
}

static void ring_close(struct bench_link *l)
{
	munmap(l->p[0], ring_len(l->size));
	l->p[0] = NULL;
}

static void spin_wait(atomic_int *flag, int want)
{
	while (atomic_load_explicit(flag, memory_order_acquire) != want)
		__builtin_ia32_pause();
}

static void futex_wait(atomic_int *flag, int want)
{
	int v;
	while ((v = atomic_load_explicit(flag, memory_order_acquire)) != want)
		syscall(SYS_futex, flag, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void futex_wake(atomic_int *flag)
{
	syscall(SYS_futex, flag, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* ring_send and ring_recv move one message; futex says how to wait. */
static int ring_send(struct bench_link *l, const void *buf, bool futex)
{
	struct ring_slot *s = ring_next(l, l->side, 0);
	(futex ? futex_wait : spin_wait)(&s->full, 0);
	memcpy(s->data, buf, l->size);
	atomic_store_explicit(&s->full, 1, memory_order_release);
	if (futex)
		futex_wake(&s->full);
	return 0;
}

static int ring_recv(struct bench_link *l, void *buf, bool futex)
{
	struct ring_slot *s = ring_next(l, 1 - l->side, 1);
	(futex ? futex_wait : spin_wait)(&s->full, 1);
	memcpy(buf, s->data, l->size);
	atomic_store_explicit(&s->full, 0, memory_order_release);
	if (futex)
		futex_wake(&s->full);
	return 0;
}

static int spin_send(struct bench_link *l, const void *buf)
{
	return ring_send(l, buf, false);
}

static int spin_recv(struct bench_link *l, void *buf)
{
	return ring_recv(l, buf, false);
}

static int futex_send(struct bench_link *l, const void *buf)
{
	return ring_send(l, buf, true);
}

static int futex_recv(struct bench_link *l, void *buf)
{
	return ring_recv(l, buf, true);
}

static void no_teardown(const struct bench_shared *s)
{
}

const struct bench_mech bench_mech_cacheline = {
	.name = "cache-line spin",
	.group = "limit",
	.setup = ring_setup,
	.send = spin_send,
	.recv = spin_recv,
	.close = ring_close,
	.teardown = no_teardown,
};

const struct bench_mech bench_mech_futex = {
	.name = "futex ring",
	.group = "raw",
	.setup = ring_setup,
	.send = futex_send,
	.recv = futex_recv,
	.close = ring_close,
	.teardown = no_teardown,
};

static int memcpy_setup(struct bench_link *l, char *why, size_t n)
{
	return 0;
}

static void memcpy_solo(struct bench_link *l, void *dst, const void *src)
{
	memcpy(dst, src, l->size);
}

const struct bench_mech bench_mech_memcpy = {
	.name = "memcpy 1 core",
	.group = "limit",
	.setup = memcpy_setup,
	.teardown = no_teardown,
	.solo = memcpy_solo,
};
