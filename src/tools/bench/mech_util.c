/*
 * mech_util.c - helpers the mechanisms share: reasons, whole reads and
 * writes on blocking descriptors, unique names, kernel limits.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

int bench_fail(int err, char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return err;
}

int bench_errno_fail(char *why, size_t n, const char *what)
{
	int err = errno;
	return bench_fail(-err, why, n, "%s: %s", what, strerror(err));
}

int bench_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int bench_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t r = read(fd, p, len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EPIPE;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

void bench_unique_name(char *out, size_t n, const char *tag)
{
	snprintf(out, n, "ipcx-bench-%ld-%s", (long)getpid(), tag);
}

long bench_sysctl_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

int bench_fd_send(struct bench_link *l, const void *buf)
{
	return bench_write_all(l->fd[1], buf, l->size);
}

int bench_fd_recv(struct bench_link *l, void *buf)
{
	return bench_read_all(l->fd[0], buf, l->size);
}

void bench_fd_use(struct bench_link *l, int rfd, int wfd)
{
	for (size_t i = 0; i < sizeof(l->fd) / sizeof(l->fd[0]); i++)
		if (l->fd[i] >= 0 && l->fd[i] != rfd && l->fd[i] != wfd)
			close(l->fd[i]);
	l->fd[0] = rfd;
	l->fd[1] = wfd;
	l->fd[2] = l->fd[3] = -1;
}

void bench_fd_close(struct bench_link *l)
{
	bench_fd_use(l, -1, -1);
}

void bench_unlink_names(const struct bench_shared *s)
{
	for (size_t i = 0; i < 2; i++)
		if (s->name[i][0] == '/')
			unlink(s->name[i]);
}

int bench_sock_listen(struct bench_link *l, const void *addr, unsigned len, char *why,
		      size_t n)
{
	const struct sockaddr *sa = addr;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return bench_errno_fail(why, n, "socket");
	l->fd[2] = fd;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, sa, len) < 0)
		return bench_errno_fail(why, n, "bind");
	if (listen(fd, 1) < 0)
		return bench_errno_fail(why, n, "listen");
	return 0;
}

/* bench_sock_connect connects a new socket to the address the listener has. */
static int bench_sock_connect(int listener, char *why, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(listener, (struct sockaddr *)&ss, &len) < 0)
		return bench_errno_fail(why, n, "getsockname");
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return bench_errno_fail(why, n, "socket");
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		int rc = bench_errno_fail(why, n, "connect");
		close(fd);
		return rc;
	}
	return fd;
}

int bench_sock_open(struct bench_link *l, char *why, size_t n)
{
	int listener = l->fd[2];
	int fd = l->side == 1 ? accept4(listener, NULL, NULL, SOCK_CLOEXEC)
			      : bench_sock_connect(listener, why, n);
	if (fd < 0)
		return l->side == 1 ? bench_errno_fail(why, n, "accept") : fd;
	int one = 1;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bench_fd_use(l, fd, fd);
	return 0;
}
