/*
 * region.c - ipcx_region: shared memory mapped into the process, from POSIX
 * shm_open(3), System V shmget/shmat (seed 001), or an anonymous memfd
 * passed to another process over a Unix socket with SCM_RIGHTS.
 *
 * ipcx_region_send carries, beside the descriptor, a 16-byte header
 * ("IXRG", version, size) so the receiver knows it got a region and its
 * size; the receiver also checks the size against fstat before mapping, so
 * a lying peer cannot make it map past the end of the object.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct ipcx_region {
	void *addr;
	size_t size;
	int fd;    /* posixshm and memfd; -1 for System V */
	bool sysv; /* attached with shmat: detach with shmdt */
};

#define IPCX__REGION_MAGIC "IXRG"
#define IPCX__REGION_VERSION 1

/* ---- descriptor-backed regions: posixshm and memfd -------------------- */

/* ipcx__region_map maps fd whole; size 0 takes the object's size. */
static int ipcx__region_map(ipcx_region *r, int fd, size_t size)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ipcx__errno_fail("fstat");
	if (size == 0)
		size = (size_t)st.st_size;
	if (size == 0 || size > (size_t)st.st_size)
		return ipcx__fail(-EINVAL, "the region has %lld bytes; %zu asked for",
				  (long long)st.st_size, size);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return ipcx__errno_fail("mmap");
	r->addr = p;
	r->size = size;
	r->fd = fd;
	return 0;
}

/* ipcx__region_shape gives a new object its size and mode. */
static int ipcx__region_shape(int fd, const struct ipcx__url *u, size_t size)
{
	if (size == 0)
		return ipcx__fail(-EINVAL, "creating a region needs a size > 0");
	if (size > (size_t)LLONG_MAX || ftruncate(fd, (off_t)size) < 0)
		return ipcx__fail(-errno, "cannot size the region to %zu bytes", size);
	if (u->has_mode && fchmod(fd, (mode_t)u->mode) < 0)
		return ipcx__errno_fail("fchmod");
	return 0;
}

static int ipcx__posixshm_name(const struct ipcx__url *u)
{
	const char *n = u->address;
	if (n[0] != '/' || !n[1] || strchr(n + 1, '/') || strlen(n) > NAME_MAX)
		return ipcx__fail(-EINVAL, "posixshm:// needs one name after a slash, as in "
					   "posixshm:///name (got '%s')", n);
	return 0;
}

static int ipcx__posixshm_open(ipcx_region *r, const struct ipcx__url *u, int flags, size_t size)
{
	int rc = ipcx__posixshm_name(u);
	if (rc < 0)
		return rc;
	int fd = -1;
	if (flags & IPCX_CREATE) {
		fd = shm_open(u->address, O_RDWR | O_CREAT | O_EXCL, (mode_t)ipcx__url_mode(u));
		if (fd >= 0) {
			rc = ipcx__region_shape(fd, u, size);
			if (rc == 0)
				rc = ipcx__region_map(r, fd, size);
			if (rc < 0) {
				close(fd);
				shm_unlink(u->address);
			} else {
				(void)ipcx__object_register_url(u);
			}
			return rc;
		}
		if (errno != EEXIST || (flags & IPCX_EXCL))
			return ipcx__fail(-errno, "shm_open %s: %s", u->address, ipcx_strerror(-errno));
	}
	fd = shm_open(u->address, O_RDWR, 0);
	if (fd < 0)
		return ipcx__fail(-errno, "shm_open %s: %s", u->address, ipcx_strerror(-errno));
	rc = ipcx__region_map(r, fd, size);
	if (rc < 0)
		close(fd);
	return rc;
}

static int ipcx__memfd_open(ipcx_region *r, const struct ipcx__url *u, size_t size)
{
	int fd = memfd_create(*u->address ? u->address : "ipcx-region", MFD_CLOEXEC);
	if (fd < 0)
		return ipcx__errno_fail("memfd_create");
	int rc = ipcx__region_shape(fd, u, size);
	if (rc == 0)
		rc = ipcx__region_map(r, fd, size);
	if (rc < 0)
		close(fd);
	return rc;
}

/* ---- System V segments ------------------------------------------------ */

static int ipcx__sysvshm_id(const struct ipcx__sysv_addr *a, const struct ipcx__url *u,
			    int flags, size_t size)
{
	if (a->by_id)
		return a->id;
	int id = -1;
	if (flags & IPCX_CREATE) {
		if (size == 0)
			return ipcx__fail(-EINVAL, "creating a region needs a size > 0");
		id = shmget(a->key, size, IPC_CREAT | IPC_EXCL | (int)ipcx__url_mode(u));
		if (id < 0 && (errno != EEXIST || (flags & IPCX_EXCL)))
			return ipcx__fail(-errno, "shmget key 0x%08x, %zu bytes: %s", (unsigned)a->key,
					  size, ipcx_strerror(-errno));
	}
	if (id < 0)
		id = shmget(a->key, 0, 0);
	if (id < 0)
		return ipcx__fail(errno == ENOENT ? -ENOENT : -errno, "no shared memory segment with "
				  "key 0x%08x (%s)", (unsigned)a->key, ipcx_strerror(-errno));
	return id;
}

static int ipcx__sysvshm_open(ipcx_region *r, const struct ipcx__url *u, int flags, size_t size)
{
	struct ipcx__sysv_addr a;
	int rc = ipcx__sysv_addr_parse(u, true, &a);
	int id = rc < 0 ? rc : ipcx__sysvshm_id(&a, u, flags, size);
	if (id < 0)
		return id;
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0)
		return ipcx__fail(errno == EINVAL || errno == EIDRM ? -ENOENT : -errno,
				  "shared memory segment id %d: %s", id, ipcx_strerror(-errno));
	if (size > ds.shm_segsz)
		return ipcx__fail(-EINVAL, "the segment has %zu bytes; %zu asked for",
				  (size_t)ds.shm_segsz, size);
	void *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		return ipcx__errno_fail("shmat");
	r->addr = p;
	r->size = ds.shm_segsz;
	r->sysv = true;
	return 0;
}

/* ---- the public calls ------------------------------------------------- */

int ipcx_region_open(ipcx_region **out, const char *url, int flags, size_t size)
{
	ipcx__clear_errmsg();
	if (!out)
		return ipcx__fail(-EINVAL, "no place for the region (out is NULL)");
	*out = NULL;
	if (flags & ~(IPCX_CREATE | IPCX_EXCL))
		return ipcx__fail(-EINVAL, "regions take IPCX_CREATE and IPCX_EXCL only");
	struct ipcx__url u;
	int rc = ipcx__url_parse_as(&u, url, "mode proj");
	if (rc < 0)
		return rc;
	ipcx_region *r = calloc(1, sizeof(*r));
	if (!r) {
		ipcx__url_free(&u);
		return -ENOMEM;
	}
	r->fd = -1;
	if (strcmp(u.scheme, "posixshm") == 0)
		rc = ipcx__posixshm_open(r, &u, flags, size);
	else if (strcmp(u.scheme, "sysvshm") == 0)
		rc = ipcx__sysvshm_open(r, &u, flags, size);
	else if (strcmp(u.scheme, "memfd") == 0)
		rc = ipcx__memfd_open(r, &u, size);
	else
		rc = ipcx__fail(-EINVAL, "unknown region scheme '%s' (posixshm, sysvshm or memfd)",
				u.scheme);
	ipcx__url_free(&u);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void *ipcx_region_addr(const ipcx_region *r)
{
	return r ? r->addr : NULL;
}

size_t ipcx_region_size(const ipcx_region *r)
{
	return r ? r->size : 0;
}

void ipcx_region_close(ipcx_region *r)
{
	if (!r)
		return;
	if (r->sysv)
		shmdt(r->addr);
	else
		munmap(r->addr, r->size);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

int ipcx_region_unlink(const char *url)
{
	ipcx__clear_errmsg();
	struct ipcx__url u;
	int rc = ipcx__url_parse_as(&u, url, "mode proj");
	if (rc < 0)
		return rc;
	struct ipcx__sysv_addr a;
	if (strcmp(u.scheme, "posixshm") == 0) {
		rc = ipcx__posixshm_name(&u);
		if (rc == 0 && shm_unlink(u.address) < 0)
			rc = ipcx__fail(-errno, "shm_unlink %s: %s", u.address, ipcx_strerror(-errno));
		if (rc == 0)
			ipcx__object_forget_url(&u);
	} else if (strcmp(u.scheme, "sysvshm") == 0) {
		rc = ipcx__sysv_addr_parse(&u, true, &a);
		int id = rc < 0 ? rc : ipcx__sysvshm_id(&a, &u, 0, 0);
		if (id < 0)
			rc = id;
		else if (shmctl(id, IPC_RMID, NULL) < 0)
			rc = ipcx__errno_fail("shmctl IPC_RMID");
	} else {
		rc = ipcx__fail(-ENOTSUP, "%s:// regions have no name to remove", u.scheme);
	}
	ipcx__url_free(&u);
	return rc;
}

/* ---- handing a region to another process ------------------------------ */

struct ipcx__region_hdr {
	char magic[4];
	uint32_t version;
	uint64_t size;
};

int ipcx_region_send(const ipcx_region *r, int sock)
{
	ipcx__clear_errmsg();
	if (!r)
		return ipcx__fail(-EINVAL, "no region (NULL)");
	if (r->fd < 0)
		return ipcx__fail(-ENOTSUP, "a System V region has no descriptor; share its key");
	struct ipcx__region_hdr h = {.version = IPCX__REGION_VERSION, .size = r->size};
	memcpy(h.magic, IPCX__REGION_MAGIC, 4);
	struct iovec iov = {&h, sizeof(h)};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &r->fd, sizeof(int));
	ssize_t n;
	while ((n = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return ipcx__fail(errno == ECONNRESET ? -EPIPE : -errno, "sendmsg: %s",
				  ipcx_strerror(-errno));
	return n == (ssize_t)sizeof(h) ? 0 : ipcx__fail(-EIO, "short sendmsg of a region");
}

/* ipcx__region_take reads one header and descriptor; *fd is -1 when none came. */
static int ipcx__region_take(int sock, struct ipcx__region_hdr *h, int *fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {h, sizeof(*h)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf)};
	*fd = -1;
	ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -errno;
	if (n < 0)
		return ipcx__fail(-errno, "recvmsg: %s", ipcx_strerror(-errno));
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n == 0)
		return ipcx__fail(-EPIPE, "the peer closed the socket before sending a region");
	if (n != (ssize_t)sizeof(*h) || *fd < 0 || (msg.msg_flags & MSG_CTRUNC) ||
	    memcmp(h->magic, IPCX__REGION_MAGIC, 4) != 0 || h->version != IPCX__REGION_VERSION ||
	    h->size == 0)
		return ipcx__fail(-EPROTO, "what arrived on the socket is not an ipcx region");
	return 0;
}

int ipcx_region_recv(ipcx_region **out, int sock, int timeout_ms)
{
	ipcx__clear_errmsg();
	if (!out)
		return ipcx__fail(-EINVAL, "no place for the region (out is NULL)");
	*out = NULL;
	struct ipcx__deadline d = ipcx__deadline_in(timeout_ms);
	struct ipcx__region_hdr h;
	int fd, rc;
	while ((rc = ipcx__region_take(sock, &h, &fd)) == -EAGAIN || rc == -EINTR) {
		int ev = ipcx__wait_fd(sock, POLLIN, d);
		if (ev < 0)
			return ipcx__fail(ev, "no region arrived in time");
	}
	ipcx_region *r = rc < 0 ? NULL : calloc(1, sizeof(*r));
	if (rc == 0 && !r)
		rc = -ENOMEM;
	if (rc == 0)
		rc = ipcx__region_map(r, fd, (size_t)h.size);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}
