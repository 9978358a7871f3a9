/*
 * mech_socketpair.c - socketpair(AF_UNIX, SOCK_STREAM): the raw stream pipe
 * underneath spipe:// (seed 000 §3.2).
 */
#include "bench.h"

#include <sys/socket.h>

static int socketpair_setup(struct bench_link *l, char *why, size_t n)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, l->fd) < 0)
		return bench_errno_fail(why, n, "socketpair");
	return 0;
}

static int socketpair_open(struct bench_link *l, char *why, size_t n)
{
	int fd = l->fd[l->side];
	bench_fd_use(l, fd, fd);
	return 0;
}

const struct bench_mech bench_mech_socketpair = {
	.name = "socketpair",
	.group = "raw",
	.setup = socketpair_setup,
	.open = socketpair_open,
	.send = bench_fd_send,
	.recv = bench_fd_recv,
	.close = bench_fd_close,
	.teardown = bench_unlink_names,
};
