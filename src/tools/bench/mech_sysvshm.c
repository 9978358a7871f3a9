/*
 * mech_sysvshm.c - a System V shared memory segment with one slot per
 * direction, guarded by System V semaphores (seeds 001, 003): the sender
 * waits for "empty", copies in and posts "full"; the receiver the reverse.
 */
#include "bench.h"

#include <errno.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

/* Semaphore 2d is "slot d empty", 2d + 1 is "slot d full". */
#define SHM_SEMS 4

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static int sysvshm_setup(struct bench_link *l, char *why, size_t n)
{
	l->shared->id[0] = shmget(IPC_PRIVATE, 2 * l->size, IPC_CREAT | 0600);
	if (l->shared->id[0] < 0)
		return bench_errno_fail(why, n, "shmget");
	l->p[0] = shmat(l->shared->id[0], NULL, 0);
	if (l->p[0] == (void *)-1) {
		l->p[0] = NULL;
		return bench_errno_fail(why, n, "shmat");
	}
	l->shared->id[1] = semget(IPC_PRIVATE, SHM_SEMS, IPC_CREAT | 0600);
	if (l->shared->id[1] < 0)
		return bench_errno_fail(why, n, "semget");
	unsigned short init[SHM_SEMS] = {1, 0, 1, 0};
	if (semctl(l->shared->id[1], 0, SETALL, (union semun){.array = init}) < 0)
		return bench_errno_fail(why, n, "semctl SETALL");
	return 0;
}

/* sysvshm_op adds delta to semaphore num, retrying after a signal. */
static int sysvshm_op(struct bench_link *l, int num, int delta)
{
	struct sembuf op = {.sem_num = (unsigned short)num, .sem_op = (short)delta};
	while (semop(l->shared->id[1], &op, 1) < 0)
		if (errno != EINTR)
			return errno == EIDRM ? -EPIPE : -errno;
	return 0;
}

static int sysvshm_send(struct bench_link *l, const void *buf)
{
	int d = l->side;
	int rc = sysvshm_op(l, 2 * d, -1);
	if (rc < 0)
		return rc;
	memcpy((char *)l->p[0] + (size_t)d * l->size, buf, l->size);
	return sysvshm_op(l, 2 * d + 1, 1);
}

static int sysvshm_recv(struct bench_link *l, void *buf)
{
	int d = 1 - l->side;
	int rc = sysvshm_op(l, 2 * d + 1, -1);
	if (rc < 0)
		return rc;
	memcpy(buf, (char *)l->p[0] + (size_t)d * l->size, l->size);
	return sysvshm_op(l, 2 * d, 1);
}

static void sysvshm_close(struct bench_link *l)
{
	if (l->p[0])
		shmdt(l->p[0]);
	l->p[0] = NULL;
}

static void sysvshm_teardown(const struct bench_shared *s)
{
	if (s->id[0] >= 0)
		shmctl(s->id[0], IPC_RMID, NULL);
	if (s->id[1] >= 0)
		semctl(s->id[1], 0, IPC_RMID);
}

const struct bench_mech bench_mech_sysvshm = {
	.name = "sysv shm+sem",
	.group = "raw",
	.setup = sysvshm_setup,
	.send = sysvshm_send,
	.recv = sysvshm_recv,
	.close = sysvshm_close,
	.teardown = sysvshm_teardown,
};
