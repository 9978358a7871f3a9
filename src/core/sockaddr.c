/*
 * sockaddr.c - socket addresses and the setup every socket transport
 * shares: unix paths and abstract names, binding over a stale socket file,
 * tcp host:port resolution, connecting with retry, and buffer sizes.
 */
#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Pauses between connect attempts start at 1 ms (ipcx__backoff_sleep). */
#define IPCX__BACKOFF_FIRST_US 1000L

/*
 * ipcx__unix_addr reads the address of a unix-family URL: "/abs/path" for a
 * socket file or "@name" for the abstract namespace. -EINVAL for anything
 * else, -ENAMETOOLONG when it does not fit in sun_path.
 */
static int ipcx__unix_addr(const struct ipcx__url *u, struct ipcx__sockaddr *sa)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&sa->ss;
	const char *a = u->address;
	size_t n = strlen(a);
	memset(sa, 0, sizeof(*sa));
	un->sun_family = AF_UNIX;
	if (a[0] != '/' && !(a[0] == '@' && a[1]))
		return ipcx__fail(-EINVAL, "%s:// needs an absolute path (%s:///tmp/name) or an "
					   "abstract name (%s://@name), got '%s'",
				  u->scheme, u->scheme, u->scheme, a);
	if (n >= sizeof(un->sun_path))
		return ipcx__fail(-ENAMETOOLONG, "socket address '%s' is longer than the %zu bytes "
						 "of sun_path", a, sizeof(un->sun_path) - 1);
	memcpy(un->sun_path, a, n);
	if (a[0] == '@')
		un->sun_path[0] = '\0'; /* abstract: no terminator, the length says where it ends */
	else
		n++;
	sa->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	return 0;
}

static bool ipcx__unix_abstract(const struct ipcx__sockaddr *sa)
{
	return ((const struct sockaddr_un *)&sa->ss)->sun_path[0] == '\0';
}

/*
 * ipcx__unix_stale decides about an existing path that bind found in the
 * way: 0 when it is gone or was a socket file nobody listens on (removed
 * now, so bind may retry); -EADDRINUSE when a socket answers; -EEXIST when
 * it is not a socket at all. A socket of another type that answers counts
 * as in use. The check and the unlink are not atomic: a listener that binds
 * between them loses its file, as with any tool that replaces stale sockets.
 */
static int ipcx__unix_stale(const struct ipcx__url *u, int type, const struct ipcx__sockaddr *sa)
{
	const char *path = u->address;
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : ipcx__fail(-errno, "%s: %s", path, ipcx_strerror(-errno));
	if (!S_ISSOCK(st.st_mode))
		return ipcx__fail(-EEXIST, "%s exists and is not a socket; not removing it", path);
	int probe = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return ipcx__errno_fail("socket");
	int rc = connect(probe, (const struct sockaddr *)&sa->ss, sa->len);
	int err = rc < 0 ? errno : 0;
	close(probe);
	if (err != ECONNREFUSED && err != ENOENT)
		return ipcx__fail(-EADDRINUSE, "someone is listening on %s already", path);
	if (err == ECONNREFUSED && unlink(path) < 0 && errno != ENOENT)
		return ipcx__fail(-errno, "removing the stale socket %s: %s", path,
				  ipcx_strerror(-errno));
	return 0;
}

/*
 * ipcx__unix_chmod gives the file the ?mode= asked for when the umask took
 * bits away at bind. The socket's own mode was set before bind (Linux
 * creates the file with it, less the umask), so the file is never more
 * open than asked, even for a moment.
 */
static int ipcx__unix_chmod(const struct ipcx__url *u)
{
	struct stat st;
	if (!u->has_mode)
		return 0;
	if (lstat(u->address, &st) < 0)
		return ipcx__fail(-errno, "%s: %s", u->address, ipcx_strerror(-errno));
	if (!S_ISSOCK(st.st_mode) || (st.st_mode & 07777) == u->mode)
		return 0;
	/* NOFOLLOW: a symlink swapped in since the lstat is refused, never followed. */
	if (fchmodat(AT_FDCWD, u->address, u->mode, AT_SYMLINK_NOFOLLOW) < 0)
		return ipcx__fail(-errno, "chmod %s: %s", u->address, ipcx_strerror(-errno));
	return 0;
}

static int ipcx__unix_bind(int fd, int type, int flags, const struct ipcx__url *u,
			   const struct ipcx__sockaddr *sa)
{
	bool abstract = ipcx__unix_abstract(sa);
	if (!abstract && fchmod(fd, ipcx__url_mode(u)) < 0)
		return ipcx__errno_fail("fchmod");
	for (int attempt = 0;; attempt++) {
		if (bind(fd, (const struct sockaddr *)&sa->ss, sa->len) == 0)
			break;
		if (errno != EADDRINUSE)
			return ipcx__fail(-errno, "bind %s: %s", u->address, ipcx_strerror(-errno));
		if (flags & IPCX_EXCL)
			return ipcx__fail(-EEXIST, "%s exists (IPCX_EXCL)", u->address);
		if (abstract || attempt > 0)
			return ipcx__fail(-EADDRINUSE, "someone is listening on %s already",
					  u->address);
		int rc = ipcx__unix_stale(u, type, sa);
		if (rc < 0)
			return rc;
	}
	if (type != SOCK_DGRAM && listen(fd, SOMAXCONN) < 0)
		return ipcx__errno_fail("listen");
	if (abstract)
		return 0;
	(void)ipcx__object_register_url(u);
	return ipcx__unix_chmod(u);
}

int ipcx__unix_socket(const struct ipcx__url *u, int type, int flags, struct ipcx__deadline d,
		      int *fd)
{
	struct ipcx__sockaddr sa;
	int rc = ipcx__unix_addr(u, &sa);
	if (rc < 0)
		return rc;
	if (!(flags & IPCX_CREATE))
		return ipcx__sock_connect(&sa, 1, type,
					  type == SOCK_DGRAM ? IPCX__CONNECT_AUTOBIND : 0, d,
					  u->address, fd);
	*fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return ipcx__errno_fail("socket");
	rc = ipcx__unix_bind(*fd, type, flags, u, &sa);
	if (rc < 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

int ipcx__unix_unlink(const struct ipcx__url *u)
{
	struct ipcx__sockaddr sa;
	struct stat st;
	int rc = ipcx__unix_addr(u, &sa);
	if (rc < 0)
		return rc;
	if (ipcx__unix_abstract(&sa))
		return ipcx__fail(-ENOTSUP, "abstract socket %s has no file: it vanishes when its "
					    "socket closes", u->address);
	if (lstat(u->address, &st) < 0)
		return ipcx__fail(-errno, "%s: %s", u->address, ipcx_strerror(-errno));
	if (!S_ISSOCK(st.st_mode))
		return ipcx__fail(-ENOTSOCK, "%s is not a socket; not removing it", u->address);
	if (unlink(u->address) < 0)
		return ipcx__fail(-errno, "unlink %s: %s", u->address, ipcx_strerror(-errno));
	ipcx__object_forget_url(u);
	return 0;
}

/* ipcx__tcp_split cuts "host:port" / "[v6]:port" into host and port strings. */
static int ipcx__tcp_split(const struct ipcx__url *u, char *host, size_t hsize, char *port,
			   size_t psize)
{
	const char *a = u->address;
	const char *colon;
	const char *h = a;
	size_t hlen;
	if (a[0] == '[') {
		const char *rb = strchr(a, ']');
		if (!rb || rb[1] != ':')
			return ipcx__fail(-EINVAL, "tcp address '%s': expected [v6-address]:port", a);
		h = a + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(a, ':');
		if (!colon)
			return ipcx__fail(-EINVAL, "tcp address '%s' has no port (tcp://host:port)", a);
		hlen = (size_t)(colon - a);
		if (memchr(a, ':', hlen))
			return ipcx__fail(-EINVAL, "tcp address '%s': an IPv6 address needs brackets, "
						   "as in tcp://[::1]:port", a);
	}
	char *end;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || p < 1 || p > 65535)
		return ipcx__fail(-EINVAL, "tcp address '%s': bad port '%s' (1 to 65535)", a,
				  colon + 1);
	if (hlen >= hsize)
		return ipcx__fail(-ENAMETOOLONG, "tcp host name in '%s' is too long", a);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	snprintf(port, psize, "%ld", p);
	return 0;
}

int ipcx__tcp_resolve(const struct ipcx__url *u, bool passive, struct ipcx__sockaddr *out,
		      int max)
{
	char host[256], port[8];
	int rc = ipcx__tcp_split(u, host, sizeof(host), port, sizeof(port));
	if (rc < 0)
		return rc;
	if (!host[0] && !passive)
		return ipcx__fail(-EINVAL, "tcp address '%s' names no host to connect to",
				  u->address);
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	struct addrinfo *res;
	int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (gai == EAI_SYSTEM)
		return ipcx__errno_fail("getaddrinfo");
	if (gai == EAI_MEMORY)
		return -ENOMEM;
	if (gai != 0)
		return ipcx__fail(-ENOENT, "tcp host '%s': %s", host, gai_strerror(gai));
	int n = 0;
	for (struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(out[n].ss))
			continue;
		memcpy(&out[n].ss, ai->ai_addr, ai->ai_addrlen);
		out[n].len = ai->ai_addrlen;
		n++;
	}
	freeaddrinfo(res);
	if (n == 0)
		return ipcx__fail(-ENOENT, "tcp host '%s' has no usable address", host);
	return n;
}

/* ipcx__connect_retriable: nobody is there yet, so a later attempt may work. */
static bool ipcx__connect_retriable(int err)
{
	return err == ECONNREFUSED || err == ENOENT || err == EAGAIN;
}

/*
 * ipcx__connect_one makes one attempt: 0 with *fd connected, or a negative
 * errno; a connection in progress is waited for until the deadline.
 */
static int ipcx__connect_one(const struct ipcx__sockaddr *to, int type, int cflags,
			     struct ipcx__deadline d, int *fd)
{
	*fd = socket(to->ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return -errno;
	int rc = 0;
	if (cflags & IPCX__CONNECT_AUTOBIND) {
		struct sockaddr_un un = {.sun_family = AF_UNIX};
		if (bind(*fd, (const struct sockaddr *)&un, sizeof(sa_family_t)) < 0)
			rc = -errno;
	}
	if (rc == 0 && connect(*fd, (const struct sockaddr *)&to->ss, to->len) < 0) {
		rc = -errno;
		if (rc == -EINPROGRESS || rc == -EINTR) {
			int ev = ipcx__wait_fd(*fd, POLLOUT, d);
			int err = 0;
			socklen_t len = sizeof(err);
			if (ev < 0)
				rc = ev;
			else if (getsockopt(*fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				rc = -errno;
			else
				rc = -err;
		}
	}
	if (rc < 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

/* ipcx__connect_fail explains why no address took the connection. */
static int ipcx__connect_fail(int rc, const char *what)
{
	if (rc == -ENOENT)
		return ipcx__fail(rc, "connect %s: no such socket (nobody created it)", what);
	if (rc == -ECONNREFUSED)
		return ipcx__fail(rc, "connect %s: nobody is listening", what);
	if (rc == -EAGAIN)
		return ipcx__fail(rc, "connect %s: not connected without waiting (the listener's "
				      "backlog is full or the connection is in progress)", what);
	return ipcx__fail(rc, "connect %s: %s", what, ipcx_strerror(rc));
}

int ipcx__sock_connect(const struct ipcx__sockaddr *to, int n, int type, int cflags,
		       struct ipcx__deadline d, const char *what, int *fd)
{
	long pause_us = IPCX__BACKOFF_FIRST_US;
	for (;;) {
		int rc = -ENOENT, refused = 0;
		for (int i = 0; i < n; i++) {
			rc = ipcx__connect_one(&to[i], type, cflags, d, fd);
			if (rc == 0)
				return 0;
			if (ipcx__connect_retriable(-rc))
				refused = rc;
		}
		if (!refused)
			return ipcx__connect_fail(rc, what);
		if (d.timeout_ms == 0 || ipcx__backoff_sleep(&pause_us, d) < 0)
			return ipcx__connect_fail(refused, what);
	}
}

int ipcx__sock_cap(const struct ipcx__url *u, int *sndbuf)
{
	*sndbuf = 0;
	if (!u->has_cap)
		return 0;
	if (u->cap == 0 || u->cap == SIZE_MAX)
		return ipcx__fail(-ENOTSUP, "%s:// buffers in the kernel's socket buffer: cap=%s is "
					    "not possible",
				  u->scheme, u->cap ? "unbounded" : "0");
	*sndbuf = u->cap > INT_MAX / 2 ? INT_MAX / 2 : (int)u->cap;
	return 0;
}

int ipcx__sock_sndbuf(int fd, int sndbuf, size_t *granted)
{
	int sz = sndbuf;
	socklen_t len = sizeof(sz);
	if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) < 0)
		return ipcx__errno_fail("SO_SNDBUF");
	if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)) < 0)
		return ipcx__errno_fail("SO_RCVBUF");
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, &len) < 0)
		return ipcx__errno_fail("SO_SNDBUF");
	*granted = (size_t)sz;
	return 0;
}
