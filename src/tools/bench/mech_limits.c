/*
 * mech_limits.c - the physical limits every mechanism is compared with:
 * a cache-line ping-pong through shared memory with both sides spinning
 * (no system call at all), and a single-core memcpy for bandwidth.
 */
#include "bench.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define CACHE_LINE 64

/*
 * One slot per direction: a flag (0 empty, 1 full) and the message right
 * behind it, so that a small message shares the flag's cache line.
 */
struct cacheline_slot {
	_Alignas(CACHE_LINE) atomic_int full;
	unsigned char data[];
};

static size_t cacheline_slot_size(size_t size)
{
	size_t s = sizeof(struct cacheline_slot) + size;
	return (s + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
}

static struct cacheline_slot *cacheline_slot(struct bench_link *l, int d)
{
	return (struct cacheline_slot *)((char *)l->p[0] + (size_t)d * cacheline_slot_size(l->size));
}

static int cacheline_setup(struct bench_link *l, char *why, size_t n)
{
	size_t len = 2 * cacheline_slot_size(l->size);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return bench_errno_fail(why, n, "mmap");
	l->p[0] = p;
	return 0;
}

/* cacheline_wait spins until the slot's flag equals want. */
static void cacheline_wait(struct cacheline_slot *s, int want)
{
	while (atomic_load_explicit(&s->full, memory_order_acquire) != want)
		__builtin_ia32_pause();
}

static int cacheline_send(struct bench_link *l, const void *buf)
{
	struct cacheline_slot *s = cacheline_slot(l, l->side);
	cacheline_wait(s, 0);
	memcpy(s->data, buf, l->size);
	atomic_store_explicit(&s->full, 1, memory_order_release);
	return 0;
}

static int cacheline_recv(struct bench_link *l, void *buf)
{
	struct cacheline_slot *s = cacheline_slot(l, 1 - l->side);
	cacheline_wait(s, 1);
	memcpy(buf, s->data, l->size);
	atomic_store_explicit(&s->full, 0, memory_order_release);
	return 0;
}

static void no_teardown(const struct bench_shared *s)
{
}

const struct bench_mech bench_mech_cacheline = {
	.name = "cache-line spin",
	.group = "limit",
	.setup = cacheline_setup,
	.send = cacheline_send,
	.recv = cacheline_recv,
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
