/*
 * mech_sysvmq.c - one System V message queue (seeds 001, 003): side 0
 * sends type 1 and side 1 answers with type 2, as the seeds' send/recv
 * programs select by type.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

static bool sysvmq_check(const struct bench_mech *m, size_t size, char *why, size_t n)
{
	long msgmax = bench_sysctl_long("/proc/sys/kernel/msgmax");
	long msgmnb = bench_sysctl_long("/proc/sys/kernel/msgmnb");
	if (msgmax >= 0 && size > (size_t)msgmax) {
		snprintf(why, n, "message > kernel.msgmax=%ld", msgmax);
		return false;
	}
	if (msgmnb >= 0 && size > (size_t)msgmnb) {
		snprintf(why, n, "message > kernel.msgmnb=%ld", msgmnb);
		return false;
	}
	return true;
}

static int sysvmq_setup(struct bench_link *l, char *why, size_t n)
{
	l->shared->id[0] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (l->shared->id[0] < 0)
		return bench_errno_fail(why, n, "msgget");
	return 0;
}

/* p[0] is this process's struct msgbuf: the type, then the text. */
static int sysvmq_open(struct bench_link *l, char *why, size_t n)
{
	l->p[0] = malloc(sizeof(long) + l->size);
	if (!l->p[0])
		return bench_fail(-ENOMEM, why, n, "out of memory");
	return 0;
}

static int sysvmq_send(struct bench_link *l, const void *buf)
{
	long *mb = l->p[0];
	mb[0] = l->side + 1;
	memcpy(mb + 1, buf, l->size);
	while (msgsnd(l->shared->id[0], mb, l->size, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int sysvmq_recv(struct bench_link *l, void *buf)
{
	long *mb = l->p[0];
	ssize_t r;
	while ((r = msgrcv(l->shared->id[0], mb, l->size, 2 - l->side, 0)) < 0)
		if (errno != EINTR)
			return errno == EIDRM ? -EPIPE : -errno;
	if ((size_t)r != l->size)
		return -EPROTO;
	memcpy(buf, mb + 1, l->size);
	return 0;
}

static void sysvmq_close(struct bench_link *l)
{
	free(l->p[0]);
	l->p[0] = NULL;
}

static void sysvmq_teardown(const struct bench_shared *s)
{
	if (s->id[0] >= 0)
		msgctl(s->id[0], IPC_RMID, NULL);
}

const struct bench_mech bench_mech_sysvmq = {
	.name = "sysv msgq",
	.group = "raw",
	.fan = BENCH_FAN_IN,
	.check = sysvmq_check,
	.setup = sysvmq_setup,
	.open = sysvmq_open,
	.send = sysvmq_send,
	.recv = sysvmq_recv,
	.close = sysvmq_close,
	.teardown = sysvmq_teardown,
};
