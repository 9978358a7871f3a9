/*
 * lock.c - ipcx_lock: whole-file locks (seed 000 §2, "the file as a lock")
 * with open file description locks, fcntl(F_OFD_SETLK/F_OFD_SETLKW).
 *
 * OFD locks belong to the open file, not to the process: unlike classic
 * POSIX record locks they are not dropped when the process closes some
 * other descriptor of the same file, and two ipcx_locks in one process do
 * conflict. F_OFD_SETLKW has no timeout; a finite one is enforced with
 * ipcx__interruptible() (src/core/interrupt.c).
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ipcx_lock {
	int fd;
};

int ipcx_lock_open(ipcx_lock **out, const char *path, int flags)
{
	ipcx__clear_errmsg();
	if (!out || !path)
		return ipcx__fail(-EINVAL, "lock open needs a place for the lock and a path");
	*out = NULL;
	if (flags & ~(IPCX_CREATE | IPCX_EXCL))
		return ipcx__fail(-EINVAL, "locks take IPCX_CREATE and IPCX_EXCL only");
	if (strncmp(path, "file://", 7) == 0)
		path += 7;
	if (path[0] != '/')
		return ipcx__fail(-EINVAL, "a lock file needs an absolute path (got '%s')", path);
	int oflags = O_RDWR | O_CLOEXEC | O_NOFOLLOW;
	if (flags & IPCX_CREATE)
		oflags |= O_CREAT | ((flags & IPCX_EXCL) ? O_EXCL : 0);
	int fd = open(path, oflags, 0600);
	if (fd < 0 && errno == ELOOP)
		return ipcx__fail(-ELOOP, "%s is a symbolic link; refusing to follow it", path);
	if (fd < 0)
		return ipcx__fail(-errno, "open %s: %s", path, ipcx_strerror(-errno));
	ipcx_lock *l = malloc(sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->fd = fd;
	*out = l;
	return 0;
}

struct ipcx__lock_call {
	int fd;
	struct flock fl;
};

static ssize_t ipcx__lock_wait(void *arg)
{
	struct ipcx__lock_call *c = arg;
	return fcntl(c->fd, F_OFD_SETLKW, &c->fl) < 0 ? -errno : 0;
}

int ipcx_lock_acquire(ipcx_lock *l, int mode, int timeout_ms)
{
	ipcx__clear_errmsg();
	if (!l || (mode != IPCX_LOCK_SHARED && mode != IPCX_LOCK_EXCLUSIVE))
		return ipcx__fail(-EINVAL, "lock mode must be IPCX_LOCK_SHARED or IPCX_LOCK_EXCLUSIVE");
	struct ipcx__deadline d = ipcx__deadline_in(timeout_ms);
	struct ipcx__lock_call c = {
		.fd = l->fd,
		.fl = {.l_type = mode == IPCX_LOCK_SHARED ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET},
	};
	ssize_t rc = fcntl(l->fd, F_OFD_SETLK, &c.fl) < 0 ? -errno : 0;
	if ((rc == -EAGAIN || rc == -EACCES) && timeout_ms != 0)
		rc = ipcx__interruptible(ipcx__lock_wait, &c, d);
	if (rc == -EACCES || rc == -EAGAIN || rc == -ETIMEDOUT)
		return ipcx__fail(ipcx__deadline_err(d), "the file is locked by another holder");
	return rc < 0 ? ipcx__fail((int)rc, "fcntl lock: %s", ipcx_strerror((int)rc)) : 0;
}

int ipcx_lock_release(ipcx_lock *l)
{
	ipcx__clear_errmsg();
	if (!l)
		return ipcx__fail(-EINVAL, "no lock (NULL)");
	struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
	return fcntl(l->fd, F_OFD_SETLK, &fl) < 0 ? ipcx__errno_fail("fcntl unlock") : 0;
}

int ipcx_lock_fd(const ipcx_lock *l)
{
	return l ? l->fd : -EINVAL;
}

void ipcx_lock_close(ipcx_lock *l)
{
	if (!l)
		return;
	close(l->fd);
	free(l);
}
