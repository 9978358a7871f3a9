/*
 * mech_unix.c - Unix domain sockets (seed 000 §7, seed 004): a stream
 * connection through a listening socket bound to a path, and a connected
 * datagram pair.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int unix_stream_setup(struct bench_link *l, char *why, size_t n)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char base[96];
	bench_unique_name(base, sizeof(base), "sock");
	snprintf(l->shared->name[0], sizeof(l->shared->name[0]), "/tmp/%s", base);
	if (strlen(l->shared->name[0]) >= sizeof(sun.sun_path))
		return bench_fail(-ENAMETOOLONG, why, n, "socket path too long");
	memcpy(sun.sun_path, l->shared->name[0], strlen(l->shared->name[0]) + 1);
	return bench_sock_listen(l, &sun, sizeof(sun), why, n);
}

const struct bench_mech bench_mech_unix_stream = {
	.name = "unix stream",
	.group = "raw",
	.setup = unix_stream_setup,
	.open = bench_sock_open,
	.send = bench_fd_send,
	.recv = bench_fd_recv,
	.close = bench_fd_close,
	.teardown = bench_unlink_names,
};

/*
 * A datagram must fit in the socket's send buffer, which SO_SNDBUF raises
 * to at most net.core.wmem_max (the kernel doubles the value it is given).
 */
#define UNIX_DGRAM_OVERHEAD 1024

static bool unix_dgram_check(const struct bench_mech *m, size_t size, char *why, size_t n)
{
	long wmem_max = bench_sysctl_long("/proc/sys/net/core/wmem_max");
	if (wmem_max > 0 && size + UNIX_DGRAM_OVERHEAD > 2 * (size_t)wmem_max) {
		snprintf(why, n, "datagram > 2 x net.core.wmem_max=%ld", wmem_max);
		return false;
	}
	return true;
}

static int unix_dgram_setup(struct bench_link *l, char *why, size_t n)
{
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, l->fd) < 0)
		return bench_errno_fail(why, n, "socketpair");
	int buf = (int)(l->size + UNIX_DGRAM_OVERHEAD);
	for (int i = 0; i < 2; i++)
		if (setsockopt(l->fd[i], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf)) < 0)
			return bench_errno_fail(why, n, "SO_SNDBUF");
	return 0;
}

static int unix_dgram_open(struct bench_link *l, char *why, size_t n)
{
	int fd = l->fd[l->side];
	bench_fd_use(l, fd, fd);
	return 0;
}

static int unix_dgram_send(struct bench_link *l, const void *buf)
{
	for (;;) {
		ssize_t w = send(l->fd[1], buf, l->size, 0);
		if (w == (ssize_t)l->size)
			return 0;
		if (w >= 0)
			return -EPROTO;
		if (errno != EINTR)
			return -errno;
	}
}

static int unix_dgram_recv(struct bench_link *l, void *buf)
{
	for (;;) {
		ssize_t r = recv(l->fd[0], buf, l->size, MSG_TRUNC);
		if (r == (ssize_t)l->size)
			return 0;
		if (r >= 0)
			return r == 0 ? -EPIPE : -EPROTO;
		if (errno != EINTR)
			return -errno;
	}
}

const struct bench_mech bench_mech_unix_dgram = {
	.name = "unix dgram",
	.group = "raw",
	.fan = BENCH_FAN_IN,
	.check = unix_dgram_check,
	.setup = unix_dgram_setup,
	.open = unix_dgram_open,
	.send = unix_dgram_send,
	.recv = unix_dgram_recv,
	.close = bench_fd_close,
	.teardown = bench_unlink_names,
};
