/*
 * mech_posixmq.c - two POSIX message queues, one per direction, sized to
 * the message and to fs.mqueue.msg_max.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>

/* The deepest queue asked for; the kernel's fs.mqueue.msg_max may cut it. */
#define POSIXMQ_DEPTH 10

static bool posixmq_check(const struct bench_mech *m, size_t size, char *why, size_t n)
{
	long max = bench_sysctl_long("/proc/sys/fs/mqueue/msgsize_max");
	if (max >= 0 && size > (size_t)max) {
		snprintf(why, n, "message > fs.mqueue.msgsize_max=%ld", max);
		return false;
	}
	return true;
}

static int posixmq_setup(struct bench_link *l, char *why, size_t n)
{
	long depth = bench_sysctl_long("/proc/sys/fs/mqueue/msg_max");
	struct mq_attr attr = {.mq_maxmsg = depth > 0 && depth < POSIXMQ_DEPTH ? depth : POSIXMQ_DEPTH,
			       .mq_msgsize = (long)l->size};
	for (int i = 0; i < 2; i++) {
		char base[96];
		bench_unique_name(base, sizeof(base), i == 0 ? "mq-a" : "mq-b");
		snprintf(l->shared->name[i], sizeof(l->shared->name[i]), "/%s", base);
		mqd_t q = mq_open(l->shared->name[i], O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
		if (q == (mqd_t)-1)
			return bench_errno_fail(why, n, "mq_open");
		l->fd[i] = q;
	}
	return 0;
}

/* Queue 0 carries side 0 to side 1, queue 1 the answers. */
static int posixmq_open(struct bench_link *l, char *why, size_t n)
{
	if (l->side == 0)
		bench_fd_use(l, l->fd[1], l->fd[0]);
	else
		bench_fd_use(l, l->fd[0], l->fd[1]);
	return 0;
}

static int posixmq_send(struct bench_link *l, const void *buf)
{
	while (mq_send(l->fd[1], buf, l->size, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int posixmq_recv(struct bench_link *l, void *buf)
{
	ssize_t r;
	while ((r = mq_receive(l->fd[0], buf, l->size, NULL)) < 0)
		if (errno != EINTR)
			return -errno;
	return (size_t)r == l->size ? 0 : -EPROTO;
}

static void posixmq_teardown(const struct bench_shared *s)
{
	for (int i = 0; i < 2; i++)
		if (s->name[i][0] == '/')
			mq_unlink(s->name[i]);
}

const struct bench_mech bench_mech_posixmq = {
	.name = "posix mq",
	.group = "raw",
	.fan = BENCH_FAN_IN,
	.check = posixmq_check,
	.setup = posixmq_setup,
	.open = posixmq_open,
	.send = posixmq_send,
	.recv = posixmq_recv,
	.close = bench_fd_close,
	.teardown = posixmq_teardown,
};
