/*
 * objects.c - the registry of the named objects ipcx created.
 *
 * The kernel lists System V objects and the files under /dev/mqueue and
 * /dev/shm, but nothing lists FIFOs, Unix socket paths or file logs, and
 * nothing remembers which process created an object. ipcx keeps one small
 * record file per object it created in a private runtime directory, so that
 * `ipcx ls` can show every object with its creator and `ipcx rm --stale` can
 * tell the ones a dead process left behind. A record is a hint: the object
 * is the truth, and a record whose object is gone is simply dropped.
 *
 * A record is named by a hash of the object's URL (without options) and
 * holds "key=value" lines; it is written to a temporary name and renamed,
 * so a reader never sees half a record.
 */
#include "ipcx_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IPCX__RECORD_SUFFIX ".obj"

/* The directory records live in, chosen from the environment (see ipcx_impl.h). */
static int ipcx__runtime_path(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char run[64];
	struct stat st;
	int n;
	snprintf(run, sizeof(run), "/run/user/%u", (unsigned)geteuid());
	if (xdg && xdg[0] == '/')
		n = snprintf(buf, size, "%s/ipcx", xdg);
	else if (stat(run, &st) == 0 && S_ISDIR(st.st_mode))
		n = snprintf(buf, size, "%s/ipcx", run);
	else
		n = snprintf(buf, size, "/tmp/ipcx-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= size)
		return ipcx__fail(-ENAMETOOLONG, "runtime directory path is too long");
	return 0;
}

/*
 * ipcx__runtime_check refuses a directory that someone else could have
 * planted or could write into: it must be ours, and only ours.
 */
static int ipcx__runtime_check(int dfd, const char *path)
{
	struct stat st;
	if (fstat(dfd, &st) < 0)
		return ipcx__errno_fail("fstat runtime directory");
	if (st.st_uid != geteuid())
		return ipcx__fail(-EPERM, "runtime directory %s belongs to uid %u, not to us",
				  path, (unsigned)st.st_uid);
	if (st.st_mode & 077)
		return ipcx__fail(-EPERM, "runtime directory %s is open to others (mode %04o)",
				  path, (unsigned)(st.st_mode & 07777));
	return 0;
}

int ipcx__runtime_dir(char *path, size_t size)
{
	int rc = ipcx__runtime_path(path, size);
	if (rc < 0)
		return rc;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return ipcx__fail(-errno, "mkdir %s: %s", path, ipcx_strerror(-errno));
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return ipcx__fail(-errno, "open runtime directory %s: %s", path,
				  ipcx_strerror(-errno));
	rc = ipcx__runtime_check(dfd, path);
	if (rc < 0) {
		close(dfd);
		return rc;
	}
	return dfd;
}

int ipcx__proc_start_time(pid_t pid, unsigned long long *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	/* The command name may hold anything, ')' included: fields follow the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EPROTO;
	char state = p[2];
	/*
	 * After ") " come field 3 (state) and on; the start time is field 22.
	 * p moves to the space before field 3, then one field per step.
	 */
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", start) != 1)
		return -EPROTO;
	/* A zombie has ended; only its exit status is left for its parent. */
	return state == 'Z' || state == 'X' ? -ESRCH : 0;
}

bool ipcx__proc_alive(pid_t pid, unsigned long long start)
{
	unsigned long long now;
	if (pid <= 0 || ipcx__proc_start_time(pid, &now) < 0)
		return false;
	return start == 0 || now == start;
}

/* The URL a record is kept under: the object's URL without options. */
static int ipcx__object_key(const char *url, char *key, size_t size)
{
	size_t n = strcspn(url, "?");
	if (n == 0 || n >= size)
		return ipcx__fail(-EINVAL, "object URL '%s' is empty or too long", url);
	memcpy(key, url, n);
	key[n] = '\0';
	return 0;
}

/* The record file name of key: a 64-bit FNV-1a hash, in hex. */
static void ipcx__record_name(const char *key, char *name, size_t size)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	snprintf(name, size, "%016" PRIx64 IPCX__RECORD_SUFFIX, h);
}

static int ipcx__record_write(int dfd, const char *name, const struct ipcx__object_rec *rec)
{
	char tmp[64], text[IPCX__OBJECT_URL_MAX + 256];
	int len = snprintf(text, sizeof(text),
			   "kind=%s\nurl=%s\npid=%d\nstart=%llu\ncreated=%lld\nlasting=%d\n",
			   rec->kind, rec->url, (int)rec->pid, rec->start, rec->created,
			   rec->lasting ? 1 : 0);
	snprintf(tmp, sizeof(tmp), "tmp.%d.%s", (int)getpid(), name);
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ipcx__errno_fail("create object record");
	bool ok = write(fd, text, (size_t)len) == len;
	int err = ok ? 0 : (errno ? -errno : -EIO);
	close(fd);
	if (ok && renameat(dfd, tmp, dfd, name) < 0)
		err = -errno;
	if (err < 0) {
		unlinkat(dfd, tmp, 0);
		return ipcx__fail(err, "write object record: %s", ipcx_strerror(err));
	}
	return 0;
}

/* ipcx__record_field copies a value into a fixed field; false when it does not fit. */
static bool ipcx__record_field(char *dst, size_t size, const char *value)
{
	if (strlen(value) >= size)
		return false;
	strcpy(dst, value);
	return true;
}

/* ipcx__record_parse fills rec from the text of a record; -EPROTO when malformed. */
static int ipcx__record_parse(char *text, struct ipcx__object_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			return -EPROTO;
		*eq = '\0';
		const char *v = eq + 1;
		if (strcmp(line, "kind") == 0 && !ipcx__record_field(rec->kind, sizeof(rec->kind), v))
			return -EPROTO;
		if (strcmp(line, "url") == 0 && !ipcx__record_field(rec->url, sizeof(rec->url), v))
			return -EPROTO;
		if (strcmp(line, "pid") == 0)
			rec->pid = (pid_t)atoi(v);
		else if (strcmp(line, "start") == 0)
			rec->start = strtoull(v, NULL, 10);
		else if (strcmp(line, "created") == 0)
			rec->created = strtoll(v, NULL, 10);
		else if (strcmp(line, "lasting") == 0)
			rec->lasting = atoi(v) != 0;
	}
	return rec->kind[0] && rec->url[0] ? 0 : -EPROTO;
}

static int ipcx__record_read(int dfd, const char *name, struct ipcx__object_rec *rec)
{
	char text[IPCX__OBJECT_URL_MAX + 256];
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	text[n] = '\0';
	return ipcx__record_parse(text, rec);
}

/* ipcx__record_lookup reads the record file name and checks it is the one of key. */
static int ipcx__record_lookup(int dfd, const char *key, const char *name,
			       struct ipcx__object_rec *rec)
{
	int rc = ipcx__record_read(dfd, name, rec);
	if (rc == 0 && strcmp(rec->url, key) != 0)
		rc = -ENOENT; /* another URL with the same hash */
	return rc;
}

int ipcx__object_register(const char *url, const char *kind)
{
	struct ipcx__object_rec rec = {.pid = getpid(), .created = (long long)time(NULL)};
	char dir[PATH_MAX], name[64];
	int rc = ipcx__object_key(url, rec.url, sizeof(rec.url));
	if (rc < 0)
		return rc;
	if (strlen(kind) >= sizeof(rec.kind))
		return ipcx__fail(-EINVAL, "object kind '%s' is too long", kind);
	strcpy(rec.kind, kind);
	if (ipcx__proc_start_time(rec.pid, &rec.start) < 0)
		rec.start = 0;
	int dfd = ipcx__runtime_dir(dir, sizeof(dir));
	if (dfd < 0)
		return dfd;
	ipcx__record_name(rec.url, name, sizeof(name));
	rc = ipcx__record_write(dfd, name, &rec);
	close(dfd);
	return rc;
}

int ipcx__object_register_url(const struct ipcx__url *u)
{
	char url[IPCX__OBJECT_URL_MAX];
	int n = snprintf(url, sizeof(url), "%s://%s", u->scheme, u->address);
	if (n < 0 || (size_t)n >= sizeof(url))
		return ipcx__fail(-ENAMETOOLONG, "object URL is too long");
	return ipcx__object_register(url, u->scheme);
}

int ipcx__object_register_sysv(const char *scheme, int id)
{
	char url[64];
	snprintf(url, sizeof(url), "%s://id=%d", scheme, id);
	return ipcx__object_register(url, scheme);
}

void ipcx__object_forget_sysv(const char *scheme, int id)
{
	char url[64];
	snprintf(url, sizeof(url), "%s://id=%d", scheme, id);
	ipcx__object_forget(url);
}

/* ipcx__record_open finds the record of url: its directory fd and file name. */
static int ipcx__record_open(const char *url, char *key, char *name, size_t name_size)
{
	char dir[PATH_MAX];
	int rc = ipcx__object_key(url, key, IPCX__OBJECT_URL_MAX);
	if (rc < 0)
		return rc;
	ipcx__record_name(key, name, name_size);
	return ipcx__runtime_dir(dir, sizeof(dir));
}

int ipcx__object_find(const char *url, struct ipcx__object_rec *rec)
{
	char key[IPCX__OBJECT_URL_MAX], name[64];
	int dfd = ipcx__record_open(url, key, name, sizeof(name));
	if (dfd < 0)
		return dfd;
	int rc = ipcx__record_lookup(dfd, key, name, rec);
	close(dfd);
	return rc;
}

void ipcx__object_forget(const char *url)
{
	char key[IPCX__OBJECT_URL_MAX], name[64];
	struct ipcx__object_rec rec;
	int dfd = ipcx__record_open(url, key, name, sizeof(name));
	if (dfd < 0)
		return;
	if (ipcx__record_lookup(dfd, key, name, &rec) == 0)
		unlinkat(dfd, name, 0);
	close(dfd);
}

void ipcx__object_forget_url(const struct ipcx__url *u)
{
	char url[IPCX__OBJECT_URL_MAX];
	int n = snprintf(url, sizeof(url), "%s://%s", u->scheme, u->address);
	if (n > 0 && (size_t)n < sizeof(url))
		ipcx__object_forget(url);
}

int ipcx__object_keep(const char *url)
{
	char key[IPCX__OBJECT_URL_MAX], name[64];
	struct ipcx__object_rec rec;
	int dfd = ipcx__record_open(url, key, name, sizeof(name));
	if (dfd < 0)
		return dfd;
	int rc = ipcx__record_lookup(dfd, key, name, &rec);
	if (rc == 0) {
		rec.lasting = true;
		rc = ipcx__record_write(dfd, name, &rec);
	} else {
		rc = ipcx__fail(rc, "no record of %s in the object registry", key);
	}
	close(dfd);
	return rc;
}

static bool ipcx__is_record_name(const char *name)
{
	size_t n = strlen(name), s = strlen(IPCX__RECORD_SUFFIX);
	return n > s && strcmp(name + n - s, IPCX__RECORD_SUFFIX) == 0;
}

int ipcx__object_each(int (*fn)(const struct ipcx__object_rec *rec, void *arg), void *arg)
{
	char dir[PATH_MAX];
	int dfd = ipcx__runtime_dir(dir, sizeof(dir));
	if (dfd < 0)
		return dfd;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return ipcx__errno_fail("read runtime directory");
	}
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		struct ipcx__object_rec rec;
		if (ipcx__is_record_name(e->d_name) && ipcx__record_read(dfd, e->d_name, &rec) == 0)
			rc = fn(&rec, arg);
	}
	closedir(d);
	return rc;
}
