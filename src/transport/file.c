/*
 * file.c - file:///path : a durable append-only log (seed 000 §2, the file
 * as a lock and its content as data). docs/file-log.md describes the bytes.
 *
 * The log begins with a 32-byte header whose commit field says where the
 * last complete record ends. A writer takes an OFD lock, appends one framed
 * record (a CRC32 over header and payload) at the commit point, then moves
 * the commit point. Bytes past the commit point are the torn tail of a
 * writer that died in the middle of a record: readers never look at them
 * and the next writer overwrites them.
 *
 * Receiving consumes: each consumer (?consumer=NAME, "default" otherwise)
 * keeps the offset of its next record in PATH.ipcx-consumer.NAME, read and
 * moved under the same lock, so every record reaches each consumer once
 * however many processes share it. A reader with nothing to take sleeps on
 * inotify until the log changes.
 */
#include "ipcx_impl.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define IPCX__FILE_CAPS                                                        \
	(IPCX_CAP_MANY_SENDERS | IPCX_CAP_MANY_RECEIVERS | IPCX_CAP_SURVIVES_EXIT | \
	 IPCX_CAP_SURVIVES_REBOOT | IPCX_CAP_POLLABLE | IPCX_CAP_NAMED | IPCX_CAP_RELIABLE)

/* The log header: magic, version, commit offset (little-endian). */
#define IPCX__LOG_MAGIC "IPCXLOG\0"
#define IPCX__LOG_VERSION 1
#define IPCX__LOG_HDR 32
#define IPCX__LOG_COMMIT_AT 16

/* A record: magic, payload length, type, CRC32 of the 16 bytes before it and the payload. */
#define IPCX__REC_MAGIC 0x31525849u /* "IXR1" */
#define IPCX__REC_HDR 20

/* A consumer offset file: magic then the offset of the consumer's next record. */
#define IPCX__OFF_MAGIC "IPCXOFF\0"
#define IPCX__OFF_LEN 16

#define IPCX__CONSUMER_SUFFIX ".ipcx-consumer."
#define IPCX__CONSUMER_MAX 64

/* sync=batch flushes after this many appends, and at close. */
#define IPCX__SYNC_BATCH 64

enum ipcx__sync { IPCX__SYNC_NEVER, IPCX__SYNC_BATCH_MODE, IPCX__SYNC_ALWAYS };

struct ipcx__file_chan {
	struct ipcx_chan base;
	int fd;     /* the log, O_RDWR: the OFD lock needs a writable descriptor */
	int off_fd; /* the consumer's offset file; -1 when not receiving */
	int ino_fd; /* inotify watching the log; -1 when not receiving */
	enum ipcx__sync sync;
	unsigned unsynced; /* appends since the last fdatasync (sync=batch) */
	char *path;
};

/* ---- CRC-32 (IEEE 802.3, reflected) ---------------------------------- */

static uint32_t ipcx__crc_table[256];
static pthread_once_t ipcx__crc_once = PTHREAD_ONCE_INIT;

static void ipcx__crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		ipcx__crc_table[i] = c;
	}
}

/* ipcx__crc32 continues crc (0 to start) over len bytes of p. */
static uint32_t ipcx__crc32(uint32_t crc, const void *p, size_t len)
{
	pthread_once(&ipcx__crc_once, ipcx__crc_init);
	const unsigned char *b = p;
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = ipcx__crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- small I/O helpers ------------------------------------------------ */

static uint64_t ipcx__le64_at(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t ipcx__le32_at(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static void ipcx__le64_put(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static void ipcx__le32_put(unsigned char *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

/* ipcx__pread_full reads exactly len bytes at off: 0, -ENODATA when the file is shorter, or -errno. */
static int ipcx__pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ipcx__errno_fail("pread");
		if (n == 0)
			return -ENODATA;
		done += (size_t)n;
	}
	return 0;
}

/* ipcx__pwritev_full writes every byte of iov at off, resuming short writes. */
static int ipcx__pwritev_full(int fd, struct iovec *iov, int iovcnt, off_t off)
{
	while (iovcnt > 0) {
		ssize_t n = pwritev(fd, iov, iovcnt, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ipcx__errno_fail("write to log");
		off += n;
		for (; iovcnt > 0 && (size_t)n >= iov->iov_len; iov++, iovcnt--)
			n -= (ssize_t)iov->iov_len;
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int ipcx__pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	struct iovec iov = {(void *)buf, len};
	return ipcx__pwritev_full(fd, &iov, 1, off);
}

/* ipcx__file_lock takes (F_WRLCK) or drops (F_UNLCK) the log's OFD lock on byte 0. */
static int ipcx__file_lock(int fd, short type)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	while (fcntl(fd, F_OFD_SETLKW, &fl) < 0)
		if (errno != EINTR)
			return ipcx__errno_fail("lock log");
	return 0;
}

/* ---- the log header --------------------------------------------------- */

static void ipcx__log_header_encode(unsigned char hdr[IPCX__LOG_HDR], uint64_t commit)
{
	memset(hdr, 0, IPCX__LOG_HDR);
	memcpy(hdr, IPCX__LOG_MAGIC, 8);
	ipcx__le32_put(hdr + 8, IPCX__LOG_VERSION);
	ipcx__le64_put(hdr + IPCX__LOG_COMMIT_AT, commit);
}

/* ipcx__log_commit reads the commit offset of fd, checking that it is an ipcx log. */
static int ipcx__log_commit(int fd, const char *path, uint64_t *commit)
{
	unsigned char hdr[IPCX__LOG_HDR];
	int rc = ipcx__pread_full(fd, hdr, sizeof(hdr), 0);
	if (rc == -ENODATA || (rc == 0 && memcmp(hdr, IPCX__LOG_MAGIC, 8) != 0))
		return ipcx__fail(-EPROTO, "%s is not an ipcx log", path);
	if (rc < 0)
		return rc;
	if (ipcx__le32_at(hdr + 8) != IPCX__LOG_VERSION)
		return ipcx__fail(-EPROTO, "%s is an ipcx log of version %u; this is version %d",
				  path, ipcx__le32_at(hdr + 8), IPCX__LOG_VERSION);
	*commit = ipcx__le64_at(hdr + IPCX__LOG_COMMIT_AT);
	/* Committed records are all in the file: a commit past its end is a lie. */
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ipcx__errno_fail("fstat");
	if (*commit < IPCX__LOG_HDR || *commit > (uint64_t)st.st_size)
		return ipcx__fail(-EPROTO, "%s has a corrupt header (commit %llu, file size %lld)",
				  path, (unsigned long long)*commit, (long long)st.st_size);
	return 0;
}

/* ---- sync policy ------------------------------------------------------ */

static int ipcx__datasync(int fd)
{
	return fdatasync(fd) < 0 ? ipcx__errno_fail("fdatasync") : 0;
}

/* ipcx__file_flush syncs the log and the consumer offset to disk. */
static int ipcx__file_flush(struct ipcx__file_chan *fc)
{
	fc->unsynced = 0;
	int rc = ipcx__datasync(fc->fd);
	if (rc == 0 && fc->off_fd >= 0)
		rc = ipcx__datasync(fc->off_fd);
	return rc;
}

/*
 * ipcx__file_synced applies the policy after a write to fd that moved a
 * commit point or an offset: always syncs fd now, batch syncs everything
 * every IPCX__SYNC_BATCH such writes, never leaves it to the kernel.
 */
static int ipcx__file_synced(struct ipcx__file_chan *fc, int fd)
{
	if (fc->sync == IPCX__SYNC_ALWAYS)
		return ipcx__datasync(fd);
	if (fc->sync == IPCX__SYNC_BATCH_MODE && ++fc->unsynced >= IPCX__SYNC_BATCH)
		return ipcx__file_flush(fc);
	return 0;
}

/* ---- appending -------------------------------------------------------- */

/* ipcx__file_append writes one record at the commit point and commits it; the lock is held. */
static int ipcx__file_append(struct ipcx__file_chan *fc, const void *data, size_t len,
			     long type)
{
	uint64_t commit;
	int rc = ipcx__log_commit(fc->fd, fc->path, &commit);
	if (rc < 0)
		return rc;
	unsigned char rec[IPCX__REC_HDR];
	ipcx__le32_put(rec, IPCX__REC_MAGIC);
	ipcx__le32_put(rec + 4, (uint32_t)len);
	ipcx__le64_put(rec + 8, (uint64_t)type);
	ipcx__le32_put(rec + 16, ipcx__crc32(ipcx__crc32(0, rec, 16), data, len));
	struct iovec iov[2] = {{rec, sizeof(rec)}, {(void *)data, len}};
	rc = ipcx__pwritev_full(fc->fd, iov, len ? 2 : 1, (off_t)commit);
	/* The record must be on disk before a commit point that names it. */
	if (rc == 0 && fc->sync == IPCX__SYNC_ALWAYS)
		rc = ipcx__datasync(fc->fd);
	if (rc < 0)
		return rc;
	unsigned char c[8];
	ipcx__le64_put(c, commit + IPCX__REC_HDR + len);
	rc = ipcx__pwrite_full(fc->fd, c, sizeof(c), IPCX__LOG_COMMIT_AT);
	return rc < 0 ? rc : ipcx__file_synced(fc, fc->fd);
}

static int ipcx__file_send(ipcx_chan *ch, const void *data, size_t len, long type,
			   struct ipcx__deadline d)
{
	struct ipcx__file_chan *fc = (struct ipcx__file_chan *)ch;
	int rc = ipcx__file_lock(fc->fd, F_WRLCK);
	if (rc < 0)
		return rc;
	rc = ipcx__file_append(fc, data, len, type);
	ipcx__file_lock(fc->fd, F_UNLCK);
	return rc;
}

/* ---- consuming -------------------------------------------------------- */

/* ipcx__offset_get reads the consumer's offset; an empty offset file means the first record. */
static int ipcx__offset_get(const struct ipcx__file_chan *fc, uint64_t *off)
{
	unsigned char b[IPCX__OFF_LEN];
	int rc = ipcx__pread_full(fc->off_fd, b, sizeof(b), 0);
	if (rc == -ENODATA) {
		*off = IPCX__LOG_HDR;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (memcmp(b, IPCX__OFF_MAGIC, 8) != 0)
		return ipcx__fail(-EPROTO, "the consumer offset file of %s is corrupt", fc->path);
	*off = ipcx__le64_at(b + 8);
	return 0;
}

static int ipcx__offset_set(struct ipcx__file_chan *fc, uint64_t off)
{
	unsigned char b[IPCX__OFF_LEN];
	memcpy(b, IPCX__OFF_MAGIC, 8);
	ipcx__le64_put(b + 8, off);
	int rc = ipcx__pwrite_full(fc->off_fd, b, sizeof(b), 0);
	return rc < 0 ? rc : ipcx__file_synced(fc, fc->off_fd);
}

static int ipcx__file_corrupt(const struct ipcx__file_chan *fc, uint64_t off, const char *why)
{
	return ipcx__fail(-EPROTO, "corrupt record at offset %llu of %s: %s", (unsigned long long)off,
			  fc->path, why);
}

/*
 * ipcx__file_read_record checks and copies the record at off, which lies
 * below commit. Returns its payload length, or -EMSGSIZE (nothing copied)
 * when it does not fit in size.
 */
static ssize_t ipcx__file_read_record(const struct ipcx__file_chan *fc, uint64_t off,
				      uint64_t commit, void *buf, size_t size, long *type)
{
	unsigned char rec[IPCX__REC_HDR];
	if (commit - off < IPCX__REC_HDR)
		return ipcx__file_corrupt(fc, off, "header cut short");
	int rc = ipcx__pread_full(fc->fd, rec, sizeof(rec), (off_t)off);
	if (rc < 0)
		return rc == -ENODATA ? ipcx__file_corrupt(fc, off, "file shorter than its commit")
				      : rc;
	size_t len = ipcx__le32_at(rec + 4);
	uint64_t t = ipcx__le64_at(rec + 8);
	if (ipcx__le32_at(rec) != IPCX__REC_MAGIC)
		return ipcx__file_corrupt(fc, off, "bad magic");
	if (len > commit - off - IPCX__REC_HDR || t < 1 || t > LONG_MAX)
		return ipcx__file_corrupt(fc, off, "bad length or type");
	if (len > size)
		return ipcx__fail(-EMSGSIZE, "record of %zu bytes does not fit in %zu", len, size);
	rc = ipcx__pread_full(fc->fd, buf, len, (off_t)(off + IPCX__REC_HDR));
	if (rc < 0)
		return rc == -ENODATA ? ipcx__file_corrupt(fc, off, "file shorter than its commit")
				      : rc;
	if (ipcx__crc32(ipcx__crc32(0, rec, 16), buf, len) != ipcx__le32_at(rec + 16))
		return ipcx__file_corrupt(fc, off, "checksum mismatch");
	*type = (long)t;
	return (ssize_t)len;
}

/* ipcx__file_take consumes the consumer's next record, or -EAGAIN when there is none; lock held. */
static ssize_t ipcx__file_take(struct ipcx__file_chan *fc, void *buf, size_t size, long *type)
{
	uint64_t commit, off = 0;
	int rc = ipcx__log_commit(fc->fd, fc->path, &commit);
	if (rc == 0)
		rc = ipcx__offset_get(fc, &off);
	if (rc < 0)
		return rc;
	if (off == commit)
		return -EAGAIN;
	if (off < IPCX__LOG_HDR || off > commit)
		return ipcx__fail(-EPROTO, "consumer offset %llu is outside %s (commit %llu)",
				  (unsigned long long)off, fc->path, (unsigned long long)commit);
	ssize_t n = ipcx__file_read_record(fc, off, commit, buf, size, type);
	if (n < 0)
		return n;
	rc = ipcx__offset_set(fc, off + IPCX__REC_HDR + (uint64_t)n);
	return rc < 0 ? rc : n;
}

static ssize_t ipcx__file_take_locked(struct ipcx__file_chan *fc, void *buf, size_t size,
				      long *type)
{
	int rc = ipcx__file_lock(fc->fd, F_WRLCK);
	if (rc < 0)
		return rc;
	ssize_t n = ipcx__file_take(fc, buf, size, type);
	ipcx__file_lock(fc->fd, F_UNLCK);
	return n;
}

/* ipcx__inotify_drain empties the queued events, so the next wait sleeps. */
static void ipcx__inotify_drain(int fd)
{
	char evbuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(fd, evbuf, sizeof(evbuf)) > 0)
		;
}

static bool ipcx__file_removed(const struct ipcx__file_chan *fc)
{
	struct stat st;
	return fstat(fc->fd, &st) == 0 && st.st_nlink == 0;
}

static ssize_t ipcx__file_recv(ipcx_chan *ch, void *buf, size_t size, long selector, long *type,
			       struct ipcx__deadline d)
{
	struct ipcx__file_chan *fc = (struct ipcx__file_chan *)ch;
	for (;;) {
		/* Drain first: a change after the take below leaves an event for the wait. */
		ipcx__inotify_drain(fc->ino_fd);
		ssize_t n = ipcx__file_take_locked(fc, buf, size, type);
		if (n != -EAGAIN)
			return n;
		if (ipcx__file_removed(fc))
			return ipcx__fail(-EIDRM, "%s was removed and holds nothing more for this consumer",
					  fc->path);
		int rc = ipcx__wait_fd(fc->ino_fd, POLLIN, d);
		if (rc < 0)
			return rc;
	}
}

/* ---- opening ---------------------------------------------------------- */

static int ipcx__file_path_check(const struct ipcx__url *u)
{
	if (u->address[0] != '/')
		return ipcx__fail(-EINVAL, "file:// needs an absolute path, as in file:///var/tmp/log "
					   "(got '%s')", u->address);
	if (strlen(u->address) + sizeof(IPCX__CONSUMER_SUFFIX) + IPCX__CONSUMER_MAX >= PATH_MAX)
		return ipcx__fail(-ENAMETOOLONG, "file log path is too long");
	return 0;
}

static int ipcx__file_sync_opt(const struct ipcx__url *u, enum ipcx__sync *out)
{
	const char *s = ipcx__url_opt(u, "sync");
	if (!s || strcmp(s, "batch") == 0)
		*out = IPCX__SYNC_BATCH_MODE;
	else if (strcmp(s, "always") == 0)
		*out = IPCX__SYNC_ALWAYS;
	else if (strcmp(s, "never") == 0)
		*out = IPCX__SYNC_NEVER;
	else
		return ipcx__fail(-EINVAL, "bad sync '%s' (always, batch or never)", s);
	return 0;
}

/* A consumer name becomes part of a file name: letters, digits, '_', '-', '.' not first. */
static int ipcx__file_consumer_opt(const struct ipcx__url *u, const char **out)
{
	const char *s = ipcx__url_opt(u, "consumer");
	*out = s ? s : "default";
	size_t n = strlen(*out);
	bool ok = n > 0 && n <= IPCX__CONSUMER_MAX && (*out)[0] != '.';
	for (size_t i = 0; ok && i < n; i++)
		ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.",
			    (*out)[i]) != NULL;
	if (!ok)
		return ipcx__fail(-EINVAL, "bad consumer '%s' (1 to %d of A-Z a-z 0-9 _ - ., not "
					   "starting with '.')", *out, IPCX__CONSUMER_MAX);
	return 0;
}

static int ipcx__file_from_opt(const struct ipcx__url *u, const char **out)
{
	*out = ipcx__url_opt(u, "from");
	if (*out && strcmp(*out, "start") != 0 && strcmp(*out, "end") != 0)
		return ipcx__fail(-EINVAL, "bad from '%s' (start or end)", *out);
	return 0;
}

/*
 * ipcx__file_create makes the log at path with its header already written:
 * the header goes into a private file that link(2) then puts in place, so
 * nobody ever sees a log without one. -EEXIST when path exists.
 */
/*
 * ipcx__file_create_tmp creates the private file beside path under a name
 * nobody can guess (64 random bits), so nobody can plant it in advance.
 */
static int ipcx__file_create_tmp(const struct ipcx__url *u, char *tmp, size_t size)
{
	for (int tries = 0; tries < 4; tries++) {
		unsigned long long nonce = 0;
		if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
			nonce = (unsigned long long)ipcx__now_ns() ^ (unsigned long long)getpid();
		snprintf(tmp, size, "%s.ipcx-new.%016llx", u->address, nonce);
		int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			      ipcx__url_mode(u));
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : ipcx__fail(-errno, "create %s: %s", tmp,
							 ipcx_strerror(-errno));
	}
	return ipcx__fail(-EBUSY, "create %s: every temporary name was taken", tmp);
}

static int ipcx__file_create(const struct ipcx__url *u)
{
	char tmp[PATH_MAX];
	int fd = ipcx__file_create_tmp(u, tmp, sizeof(tmp));
	if (fd < 0)
		return fd;
	unsigned char hdr[IPCX__LOG_HDR];
	ipcx__log_header_encode(hdr, IPCX__LOG_HDR);
	int rc = ipcx__pwrite_full(fd, hdr, sizeof(hdr), 0);
	/* open() applied the umask; a mode asked for is the mode given. */
	if (rc == 0 && u->has_mode && fchmod(fd, u->mode) < 0)
		rc = ipcx__errno_fail("fchmod");
	if (rc == 0 && link(tmp, u->address) < 0)
		rc = errno == EEXIST ? -EEXIST : ipcx__fail(-errno, "link %s: %s", u->address,
							    ipcx_strerror(-errno));
	unlink(tmp);
	close(fd);
	if (rc == 0)
		(void)ipcx__object_register_url(u);
	return rc;
}

static int ipcx__file_open_log(struct ipcx__file_chan *fc, const struct ipcx__url *u, int flags)
{
	if (flags & IPCX_CREATE) {
		int rc = ipcx__file_create(u);
		if (rc == -EEXIST && (flags & IPCX_EXCL))
			return ipcx__fail(-EEXIST, "%s already exists", u->address);
		if (rc < 0 && rc != -EEXIST)
			return rc;
	}
	fc->fd = open(u->address, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fc->fd < 0)
		return ipcx__fail(-errno, "open %s: %s", u->address, ipcx_strerror(-errno));
	struct stat st;
	if (fstat(fc->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return ipcx__fail(-ENOTTY, "%s is not a regular file", u->address);
	uint64_t commit;
	return ipcx__log_commit(fc->fd, fc->path, &commit);
}

/* ipcx__file_from moves the consumer to the first record (start) or past the last (end). */
static int ipcx__file_from(struct ipcx__file_chan *fc, const char *from)
{
	int rc = ipcx__file_lock(fc->fd, F_WRLCK);
	if (rc < 0)
		return rc;
	uint64_t off = IPCX__LOG_HDR;
	if (strcmp(from, "end") == 0)
		rc = ipcx__log_commit(fc->fd, fc->path, &off);
	if (rc == 0)
		rc = ipcx__offset_set(fc, off);
	ipcx__file_lock(fc->fd, F_UNLCK);
	return rc;
}

static int ipcx__file_open_consumer(struct ipcx__file_chan *fc, const struct ipcx__url *u,
				    const char *consumer, const char *from)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s" IPCX__CONSUMER_SUFFIX "%s", u->address, consumer);
	fc->off_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, ipcx__url_mode(u));
	if (fc->off_fd < 0)
		return ipcx__fail(-errno, "open %s: %s", path, ipcx_strerror(-errno));
	/* An offset file someone else planted would let them steer this consumer. */
	struct stat log_st, off_st;
	if (fstat(fc->fd, &log_st) < 0 || fstat(fc->off_fd, &off_st) < 0)
		return ipcx__errno_fail("fstat");
	if (!S_ISREG(off_st.st_mode) ||
	    (off_st.st_uid != log_st.st_uid && off_st.st_uid != geteuid()))
		return ipcx__fail(-EACCES, "%s belongs to uid %u, not to the log's owner or us: "
					   "not trusting its offset", path, (unsigned)off_st.st_uid);
	fc->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fc->ino_fd < 0)
		return ipcx__errno_fail("inotify_init1");
	/* IN_ATTRIB reports the link count dropping, so a removed log wakes its readers. */
	if (inotify_add_watch(fc->ino_fd, u->address, IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF) < 0)
		return ipcx__errno_fail("inotify_add_watch");
	return from ? ipcx__file_from(fc, from) : 0;
}

static void ipcx__file_close(ipcx_chan *ch)
{
	struct ipcx__file_chan *fc = (struct ipcx__file_chan *)ch;
	if (fc->unsynced > 0)
		ipcx__file_flush(fc);
	int fds[] = {fc->fd, fc->off_fd, fc->ino_fd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fc->path);
	free(fc);
}

static int ipcx__file_open(ipcx_chan **out, const struct ipcx__url *u, int flags,
			   struct ipcx__deadline d)
{
	enum ipcx__sync sync;
	const char *consumer, *from;
	size_t max_msg;
	int rc = ipcx__file_path_check(u);
	if (rc == 0)
		rc = ipcx__file_sync_opt(u, &sync);
	if (rc == 0)
		rc = ipcx__file_consumer_opt(u, &consumer);
	if (rc == 0)
		rc = ipcx__file_from_opt(u, &from);
	if (rc == 0)
		rc = ipcx__stream_max_msg(u, IPCX__STREAM_MAX_MSG, &max_msg);
	if (rc < 0)
		return rc;
	struct ipcx__file_chan *fc = ipcx__chan_alloc(sizeof(*fc));
	if (!fc || !(fc->path = strdup(u->address))) {
		free(fc);
		return -ENOMEM;
	}
	fc->fd = fc->off_fd = fc->ino_fd = -1;
	fc->sync = sync;
	fc->base.caps = (struct ipcx_caps){.flags = IPCX__FILE_CAPS, .max_msg = max_msg};
	rc = ipcx__file_open_log(fc, u, flags);
	if (rc == 0 && (flags & IPCX_RECV))
		rc = ipcx__file_open_consumer(fc, u, consumer, from);
	if (rc < 0) {
		ipcx__file_close(&fc->base);
		return rc;
	}
	if (!(flags & IPCX_RECV))
		fc->base.caps.flags &= ~(unsigned)IPCX_CAP_POLLABLE;
	*out = &fc->base;
	return 0;
}

static int ipcx__file_fd(const ipcx_chan *ch)
{
	const struct ipcx__file_chan *fc = (const struct ipcx__file_chan *)ch;
	if (fc->ino_fd < 0)
		return ipcx__fail(-ENOTSUP, "%s is not open for receiving: nothing to poll", fc->path);
	return fc->ino_fd;
}

/* ---- removing --------------------------------------------------------- */

/* ipcx__file_unlink_consumers removes every PATH.ipcx-consumer.* beside the log. */
static void ipcx__file_unlink_consumers(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX], prefix[PATH_MAX];
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	snprintf(prefix, sizeof(prefix), "%s" IPCX__CONSUMER_SUFFIX, slash + 1);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dp = dfd < 0 ? NULL : fdopendir(dfd);
	if (!dp) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	for (struct dirent *de; (de = readdir(dp));)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			unlinkat(dfd, de->d_name, 0);
	closedir(dp);
}

static int ipcx__file_unlink(const struct ipcx__url *u)
{
	int rc = ipcx__file_path_check(u);
	if (rc < 0)
		return rc;
	int fd = open(u->address, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return ipcx__fail(-errno, "%s: %s", u->address, ipcx_strerror(-errno));
	struct stat st;
	uint64_t commit;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		rc = ipcx__fail(-ENOTTY, "%s is not a regular file; not removing it", u->address);
	else
		rc = ipcx__log_commit(fd, u->address, &commit);
	close(fd);
	if (rc < 0)
		return rc == -EPROTO ? ipcx__fail(-ENOTTY, "%s is not an ipcx log; not removing it",
						  u->address)
				     : rc;
	if (unlink(u->address) < 0)
		return ipcx__errno_fail("unlink");
	ipcx__file_unlink_consumers(u->address);
	ipcx__object_forget_url(u);
	return 0;
}

const struct ipcx__transport ipcx__file_transport = {
	.scheme = "file",
	.options = "mode maxmsg sync consumer from",
	.caps = {.flags = IPCX__FILE_CAPS, .max_msg = IPCX__STREAM_DEFAULT_MAX_MSG},
	.open = ipcx__file_open,
	.send = ipcx__file_send,
	.recv = ipcx__file_recv,
	.close = ipcx__file_close,
	.unlink = ipcx__file_unlink,
	.fd = ipcx__file_fd,
};
