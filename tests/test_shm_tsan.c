/*
 * test_shm_tsan.c - the shm engine under ThreadSanitizer: sender and
 * receiver threads, each with its own peer handle on one mapping, stream
 * messages with ids and checksums through a small queue (copy calls and
 * loans, selector 0 and typed receives): 3 senders and 3 receivers, then
 * one of each on a queue (the sole-sender and sole-receiver leases) and on
 * a one-to-one queue. Every message must arrive exactly
 * once, and TSan must find no data race in the engine's protocol.
 *
 * Built against the engine sources directly (not the library), with
 * -fsanitize=thread; see tests/CMakeLists.txt.
 */
#include "shmq.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SENDERS 3
#define RECEIVERS 3
#define PER_SENDER 20000
#define TOTAL (SENDERS * PER_SENDER)

static struct ipcx__shm_map map;
static _Atomic unsigned char seen[TOTAL];
static _Atomic unsigned received, bad;
static _Atomic int senders_done;

struct msg {
	uint32_t id, sum;
	unsigned char body[200];
};

static uint32_t sum_of(const struct msg *m, size_t n)
{
	uint32_t h = 2166136261u ^ m->id;
	for (size_t i = 0; i < n; i++)
		h = (h ^ m->body[i]) * 16777619u;
	return h;
}

static size_t body_len(uint32_t id)
{
	return (id * 2654435761u) % sizeof(((struct msg *)0)->body);
}

static void die(const char *what, long rc)
{
	fprintf(stderr, "%s: %ld (%s) %s\n", what, rc, ipcx_errname((int)rc), ipcx_errmsg());
	exit(1);
}

static void *sender(void *arg)
{
	unsigned first = (unsigned)(uintptr_t)arg * PER_SENDER;
	struct ipcx__shmq q;
	int rc = ipcx__shmq_attach(&q, &map, IPCX_SEND);
	if (rc < 0)
		die("attach", rc);
	for (unsigned id = first; id < first + PER_SENDER; id++) {
		struct msg m = {.id = id};
		size_t n = body_len(id);
		for (size_t i = 0; i < n; i++)
			m.body[i] = (unsigned char)(id + i);
		m.sum = sum_of(&m, n);
		size_t len = offsetof(struct msg, body) + n;
		long type = 1 + id % 4;
		if (id % 3 == 0) {
			void *buf;
			rc = ipcx__shmq_loan(&q, len, &buf, ipcx__deadline_in(-1));
			if (rc == 0) {
				memcpy(buf, &m, len);
				rc = ipcx__shmq_commit(&q, len, type);
			}
		} else {
			rc = ipcx__shmq_send(&q, &m, len, type, ipcx__deadline_in(-1));
		}
		if (rc < 0)
			die("send", rc);
	}
	ipcx__shmq_detach(&q);
	return NULL;
}

static void take(const struct msg *m, size_t n)
{
	if (n < offsetof(struct msg, body) || m->id >= TOTAL ||
	    n != offsetof(struct msg, body) + body_len(m->id) ||
	    sum_of(m, n - offsetof(struct msg, body)) != m->sum) {
		atomic_fetch_add(&bad, 1);
		return;
	}
	atomic_fetch_add(&seen[m->id], 1);
	atomic_fetch_add(&received, 1);
}

static void *receiver(void *arg)
{
	long selector = (long)(intptr_t)arg;
	struct ipcx__shmq q;
	int rc = ipcx__shmq_attach(&q, &map, IPCX_RECV);
	if (rc < 0)
		die("attach", rc);
	for (unsigned i = 0;; i++) {
		struct msg m;
		long type;
		ssize_t n;
		if (i % 2) {
			const void *buf;
			n = ipcx__shmq_recv_loan(&q, &buf, selector, &type, ipcx__deadline_in(20));
			if (n >= 0) {
				memcpy(&m, buf, (size_t)n <= sizeof(m) ? (size_t)n : sizeof(m));
				rc = ipcx__shmq_release(&q);
				if (rc < 0)
					die("release", rc);
			}
		} else {
			n = ipcx__shmq_recv(&q, &m, sizeof(m), selector, &type,
					    ipcx__deadline_in(20));
		}
		if (n >= 0)
			take(&m, (size_t)n);
		else if (n == -ETIMEDOUT && atomic_load(&senders_done))
			break;
		else if (n != -ETIMEDOUT)
			die("recv", n);
	}
	ipcx__shmq_detach(&q);
	return NULL;
}

/*
 * One stream: the pattern, senders sender threads and a receiver thread
 * per selector. Returns 1 when a message was lost, duplicated or corrupt.
 */
static int run(const char *what, unsigned pattern, int senders, const long *selectors,
	       int receivers)
{
	char name[64];
	snprintf(name, sizeof(name), "shmtsan-%d", (int)getpid());
	struct ipcx__shm_params p = {.cap = 4096, .max_msg = 512, .mode = 0600, .pattern = pattern};
	int rc = ipcx__shm_map_create(&map, name, &p);
	if (rc < 0)
		die("create", rc);
	ipcx__shm_unlink(name); /* the mapping stays; nothing is left behind */
	for (unsigned id = 0; id < TOTAL; id++)
		atomic_store(&seen[id], 0);
	atomic_store(&received, 0);
	atomic_store(&bad, 0);
	atomic_store(&senders_done, 0);
	pthread_t s[SENDERS], r[RECEIVERS];
	for (int i = 0; i < receivers; i++)
		pthread_create(&r[i], NULL, receiver, (void *)(intptr_t)selectors[i]);
	for (int i = 0; i < senders; i++)
		pthread_create(&s[i], NULL, sender, (void *)(uintptr_t)i);
	for (int i = 0; i < senders; i++)
		pthread_join(s[i], NULL);
	atomic_store(&senders_done, 1);
	for (int i = 0; i < receivers; i++)
		pthread_join(r[i], NULL);
	ipcx__shm_map_close(&map);
	unsigned dup = 0, lost = 0, total = (unsigned)senders * PER_SENDER;
	for (unsigned id = 0; id < total; id++) {
		dup += seen[id] > 1;
		lost += seen[id] == 0;
	}
	printf("%s: %u received, %u lost, %u duplicated, %u corrupt\n", what, received, lost, dup,
	       bad);
	return dup || lost || bad ? 1 : 0;
}

int main(void)
{
	static const long three[RECEIVERS] = {0, 0, -2}, one[1] = {0};
	int failed = run("queue, 3 x 3", IPCX__SHM_QUEUE, SENDERS, three, RECEIVERS);
	/* One of each: both hold their leases (plain reservations, no claims). */
	failed |= run("queue, 1 x 1", IPCX__SHM_QUEUE, 1, one, 1);
	failed |= run("spsc", IPCX__SHM_SPSC, 1, one, 1);
	return failed;
}
