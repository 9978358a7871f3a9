/*
 * posix.c - POSIX message queues (/dev/mqueue), and what lives in /dev/shm:
 * ipcx's own shared-memory queues (shm://NAME, the file ipcx.NAME with the
 * header of src/shm/layout.h), named semaphores (sem.NAME) and any other
 * POSIX shared-memory object (posixshm:///NAME).
 */
#include "inventory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define INV_MQUEUE_DIR "/dev/mqueue"
#define INV_MQUEUE_MAGIC 0x19800202
#define INV_SHM_DIR "/dev/shm"
#define INV_SEM_PREFIX "sem."
/* The file of an ipcx queue is its segment name without the leading '/'. */
#define INV_IPCX_PREFIX (IPCX__SHM_NAME_PREFIX + 1)

/* inv_url_name returns what follows "scheme://" in url: "/name" for mq://, sem://, posixshm://. */
static const char *inv_url_name(const char *url)
{
	return strstr(url, "://") + 3;
}

/* ---- POSIX message queues -------------------------------------------- */

/*
 * inv_mqueue_mounted makes sure /dev/mqueue shows the queues: mounted
 * already, or mounted now when we may. Without it, only queues the
 * registry names are found.
 */
static bool inv_mqueue_mounted(struct inv_list *l)
{
	struct statfs fs;
	if (statfs(INV_MQUEUE_DIR, &fs) == 0 && fs.f_type == INV_MQUEUE_MAGIC)
		return true;
	if (geteuid() != 0) {
		inv_note(l, "POSIX message queues: %s is not mounted, so only queues ipcx made are "
			    "listed (as root: mount -t mqueue none %s)", INV_MQUEUE_DIR, INV_MQUEUE_DIR);
		return false;
	}
	mkdir(INV_MQUEUE_DIR, 01777);
	if (mount("mqueue", INV_MQUEUE_DIR, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		inv_note(l, "POSIX message queues: %s is not mounted and mounting it failed: %s",
			 INV_MQUEUE_DIR, ipcx_strerror(-errno));
		return false;
	}
	return true;
}

/* inv_mq_fill reads what a queue holds: its attributes, and its file when mounted. */
static int inv_mq_fill(struct inv_obj *o, const struct inv_procs *p)
{
	const char *name = inv_url_name(o->url);
	mqd_t q = mq_open(name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (q == (mqd_t)-1 && errno == ENOENT)
		return -ENOENT;
	if (q != (mqd_t)-1) {
		struct mq_attr a;
		if (mq_getattr(q, &a) == 0) {
			o->messages = a.mq_curmsgs;
			o->capacity = (long long)a.mq_maxmsg * a.mq_msgsize;
		}
		mq_close(q);
	}
	snprintf(o->path, sizeof(o->path), "%s%s", INV_MQUEUE_DIR, name);
	if (inv_stat_path(o, S_IFREG) < 0) {
		o->path[0] = '\0'; /* not mounted: owner and holders stay unknown */
		return 0;
	}
	/* The file reads "QSIZE:129 NOTIFY:0 SIGNO:0 NOTIFY_PID:0"; QSIZE is the bytes queued. */
	char text[128] = "";
	FILE *f = fopen(o->path, "re");
	if (f) {
		if (!fgets(text, sizeof(text), f))
			text[0] = '\0';
		fclose(f);
	}
	long long queued;
	o->size = sscanf(text, "QSIZE:%lld", &queued) == 1 ? queued : -1;
	inv_procs_holders(p, o);
	return 0;
}

static int inv_mq_scan(struct inv_list *l, const struct inv_procs *p)
{
	if (!inv_mqueue_mounted(l))
		return 0;
	DIR *d = opendir(INV_MQUEUE_DIR);
	if (!d)
		return 0;
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		struct inv_obj *o = inv_add(l, &inv_mq_kind);
		if (!o) {
			rc = -ENOMEM;
			break;
		}
		snprintf(o->url, sizeof(o->url), "mq:///%s", e->d_name);
		if (inv_mq_fill(o, p) < 0)
			l->n--; /* removed while we looked */
	}
	closedir(d);
	return rc;
}

/* inv_unlink_result turns the result of an unlink call into 0 or a failure. */
static int inv_unlink_result(int rc, const char *what)
{
	return rc < 0 ? ipcx__fail(-errno, "%s: %s", what, ipcx_strerror(-errno)) : 0;
}

static int inv_mq_remove(const struct inv_obj *o)
{
	return inv_unlink_result(mq_unlink(inv_url_name(o->url)), "mq_unlink");
}

/* ---- /dev/shm ---------------------------------------------------------- */

/*
 * inv_shm_classify names the /dev/shm file name: a semaphore, an ipcx
 * queue (when its header says so) or plain shared memory.
 */
static const struct inv_kind *inv_shm_classify(struct inv_obj *o, const char *name)
{
	size_t sp = strlen(INV_SEM_PREFIX), ip = strlen(INV_IPCX_PREFIX);
	if (strncmp(name, INV_SEM_PREFIX, sp) == 0 && name[sp]) {
		snprintf(o->url, sizeof(o->url), "sem:///%s", name + sp);
		return &inv_sem_kind;
	}
	/* A lane whose master is gone is a plain segment: removed as posixshm. */
	if (strncmp(name, INV_IPCX_PREFIX, ip) == 0 && name[ip] &&
	    !strchr(name, IPCX__SHM_LANE_SEP) && inv_shm_read(o)) {
		snprintf(o->url, sizeof(o->url), "shm://%s", name + ip);
		return &inv_shm_kind;
	}
	snprintf(o->url, sizeof(o->url), "posixshm:///%s", name);
	o->capacity = o->size;
	return &inv_posixshm_kind;
}

/*
 * inv_shm_is_lane tells whether the file name is a lane of an mpsc queue
 * whose master exists: it is listed as part of the master (shmq.c). A lane
 * left without its master is listed on its own, so that it can be removed.
 */
static bool inv_shm_is_lane(const char *name)
{
	const char *sep = strchr(name, IPCX__SHM_LANE_SEP);
	if (strncmp(name, INV_IPCX_PREFIX, strlen(INV_IPCX_PREFIX)) != 0 || !sep)
		return false;
	char master[300];
	snprintf(master, sizeof(master), "%s/%.*s", INV_SHM_DIR, (int)(sep - name), name);
	return access(master, F_OK) == 0;
}

/* inv_shm_scan lists /dev/shm once for the three kinds that live there. */
static int inv_shm_scan(struct inv_list *l, const struct inv_procs *p)
{
	DIR *d = opendir(INV_SHM_DIR);
	if (!d) {
		inv_note(l, "POSIX shared memory: cannot read %s: %s", INV_SHM_DIR, ipcx_strerror(-errno));
		return 0;
	}
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || inv_shm_is_lane(e->d_name))
			continue;
		struct inv_obj *o = inv_add(l, &inv_posixshm_kind);
		if (!o) {
			rc = -ENOMEM;
			break;
		}
		snprintf(o->path, sizeof(o->path), "%s/%s", INV_SHM_DIR, e->d_name);
		if (inv_stat_path(o, S_IFREG) < 0) {
			l->n--;
			continue;
		}
		o->kind = inv_shm_classify(o, e->d_name);
		inv_procs_holders(p, o);
	}
	closedir(d);
	return rc;
}

static int inv_posixshm_remove(const struct inv_obj *o)
{
	return inv_unlink_result(shm_unlink(inv_url_name(o->url)), "shm_unlink");
}

static int inv_sem_remove(const struct inv_obj *o)
{
	return inv_unlink_result(sem_unlink(inv_url_name(o->url)), "sem_unlink");
}

/* inv_posix_name checks the "/name" of a POSIX object URL: one component. */
static int inv_posix_name(const char *url, const char **name)
{
	*name = inv_url_name(url);
	if ((*name)[0] != '/' || !(*name)[1] || strchr(*name + 1, '/'))
		return ipcx__fail(-EINVAL, "a POSIX object URL is scheme:///name, one name without "
					   "'/' (got '%s')", url);
	return 0;
}

/* inv_posixshm_create makes a shared-memory object of cap bytes, as shm_open(3) does. */
static int inv_posixshm_create(const char *url, size_t cap, unsigned mode, char *made,
			       size_t size)
{
	const char *name;
	int rc = inv_posix_name(url, &name);
	if (rc < 0)
		return rc;
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return ipcx__fail(-errno, "shm_open %s: %s", name, ipcx_strerror(-errno));
	rc = fchmod(fd, mode) < 0 || ftruncate(fd, (off_t)cap) < 0 ? -errno : 0;
	close(fd);
	if (rc < 0) {
		shm_unlink(name);
		return ipcx__fail(rc, "size %s: %s", name, ipcx_strerror(rc));
	}
	snprintf(made, size, "posixshm://%s", name);
	return 0;
}

/* inv_sem_create makes a named semaphore with value cap, as sem_open(3) does. */
static int inv_sem_create(const char *url, size_t cap, unsigned mode, char *made, size_t size)
{
	const char *name;
	int rc = inv_posix_name(url, &name);
	if (rc < 0)
		return rc;
	if (cap > SEM_VALUE_MAX)
		return ipcx__fail(-EINVAL, "semaphore value %zu exceeds SEM_VALUE_MAX", cap);
	sem_t *s = sem_open(name, O_CREAT | O_EXCL, mode, (unsigned)cap);
	if (s == SEM_FAILED)
		return ipcx__fail(-errno, "sem_open %s: %s", name, ipcx_strerror(-errno));
	sem_close(s);
	snprintf(made, size, "sem://%s", name);
	return 0;
}

const struct inv_kind inv_mq_kind = {
	.name = "mq",
	.what = "POSIX message queue",
	.scan = inv_mq_scan,
	.probe = inv_mq_fill,
	.remove = inv_mq_remove,
};

const struct inv_kind inv_shm_kind = {
	.name = "shm",
	.what = "ipcx shared-memory queue",
	.scan = inv_shm_scan,
};

const struct inv_kind inv_posixshm_kind = {
	.name = "posixshm",
	.what = "POSIX shared memory",
	.remove = inv_posixshm_remove,
	.create = inv_posixshm_create,
};

const struct inv_kind inv_sem_kind = {
	.name = "sem",
	.what = "POSIX named semaphore",
	.remove = inv_sem_remove,
	.create = inv_sem_create,
};
