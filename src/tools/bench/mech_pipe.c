/*
 * mech_pipe.c - two anonymous pipes, one per direction, made before fork:
 * the raw pipe(2) underneath pipe://.
 */
#include "bench.h"

#include <fcntl.h>
#include <unistd.h>

/* fd[0..1] carry side 0 to side 1, fd[2..3] side 1 to side 0. */
static int pipe_setup(struct bench_link *l, char *why, size_t n)
{
	if (pipe2(&l->fd[0], O_CLOEXEC) < 0 || pipe2(&l->fd[2], O_CLOEXEC) < 0)
		return bench_errno_fail(why, n, "pipe2");
	return 0;
}

static int pipe_open(struct bench_link *l, char *why, size_t n)
{
	if (l->side == 0)
		bench_fd_use(l, l->fd[2], l->fd[1]);
	else
		bench_fd_use(l, l->fd[0], l->fd[3]);
	return 0;
}

const struct bench_mech bench_mech_pipe = {
	.name = "pipe",
	.group = "raw",
	.fan = BENCH_FAN_IN,
	.setup = pipe_setup,
	.open = pipe_open,
	.send = bench_fd_send,
	.recv = bench_fd_recv,
	.close = bench_fd_close,
	.teardown = bench_unlink_names,
};
