/*
 * procs.c - which processes hold which objects, from /proc.
 *
 * A FIFO, a POSIX queue or a file log is held while a process has it open;
 * a POSIX shared-memory object or named semaphore while a process has it
 * mapped. One pass over /proc/PID/fd and /proc/PID/maps of every process
 * collects (device, inode, pid) triples, so that each object costs a
 * lookup. A Unix socket path is in use while a socket is bound to it, which
 * /proc/net/unix lists without disturbing the listener (a test connection
 * would wake it with a peer that says nothing). All of it is best effort:
 * processes of other users are invisible without privilege.
 */
#include "inventory.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct inv_hold {
	dev_t dev;
	ino_t ino;
	pid_t pid;
};

struct inv_procs {
	struct inv_hold *v;
	size_t n, cap;
	char **bound; /* paths of bound Unix sockets */
	size_t nbound, capbound;
};

/* inv_grow makes room for one more element of size in *v. */
static bool inv_grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return true;
	size_t ncap = *cap ? *cap * 2 : 64;
	void *nv = realloc(*v, ncap * size);
	if (!nv)
		return false;
	*v = nv;
	*cap = ncap;
	return true;
}

static void inv_hold_add(struct inv_procs *p, dev_t dev, ino_t ino, pid_t pid)
{
	if (!inv_grow((void **)&p->v, &p->cap, p->n, sizeof(p->v[0])))
		return;
	p->v[p->n++] = (struct inv_hold){dev, ino, pid};
}

static void inv_scan_fds(struct inv_procs *p, pid_t pid)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		/* stat follows the link to the open file itself, even one since renamed. */
		if (fstatat(dirfd(d), e->d_name, &st, 0) == 0 && !S_ISSOCK(st.st_mode))
			inv_hold_add(p, st.st_dev, st.st_ino, pid);
	}
	closedir(d);
}

/* inv_scan_maps records the shared-memory files pid maps (the rest is not IPC). */
static void inv_scan_maps(struct inv_procs *p, pid_t pid)
{
	char path[64], line[PATH_MAX + 128];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long long ino;
		int off = 0;
		if (sscanf(line, "%*s %*s %*s %x:%x %llu %n", &maj, &min, &ino, &off) < 3 || !off)
			continue;
		if (ino != 0 && strncmp(line + off, "/dev/shm/", 9) == 0)
			inv_hold_add(p, makedev(maj, min), (ino_t)ino, pid);
	}
	fclose(f);
}

/* inv_scan_unix reads the paths of bound Unix sockets from /proc/net/unix. */
static void inv_scan_unix(struct inv_procs *p)
{
	char line[PATH_MAX + 128];
	FILE *f = fopen("/proc/net/unix", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		int off = 0;
		sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %n", &off);
		if (!off || line[off] != '/')
			continue;
		line[off + strcspn(line + off, "\n")] = '\0';
		char *copy = strdup(line + off);
		if (!copy || !inv_grow((void **)&p->bound, &p->capbound, p->nbound, sizeof(char *))) {
			free(copy);
			break;
		}
		p->bound[p->nbound++] = copy;
	}
	fclose(f);
}

static int inv_hold_cmp(const void *a, const void *b)
{
	const struct inv_hold *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

struct inv_procs *inv_procs_load(void)
{
	struct inv_procs *p = calloc(1, sizeof(*p));
	DIR *d = p ? opendir("/proc") : NULL;
	if (!d)
		return p;
	struct dirent *e;
	pid_t self = getpid();
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self)
			continue;
		inv_scan_fds(p, (pid_t)pid);
		inv_scan_maps(p, (pid_t)pid);
	}
	closedir(d);
	inv_scan_unix(p);
	if (p->n)
		qsort(p->v, p->n, sizeof(p->v[0]), inv_hold_cmp);
	return p;
}

void inv_procs_free(struct inv_procs *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nbound; i++)
		free(p->bound[i]);
	free(p->bound);
	free(p->v);
	free(p);
}

void inv_procs_holders(const struct inv_procs *p, struct inv_obj *o)
{
	struct stat st;
	o->attached = 0;
	if (!p || !o->path[0] || stat(o->path, &st) < 0)
		return;
	/* The triples are sorted, so one object's holders are adjacent, pids ascending. */
	struct inv_hold key = {st.st_dev, st.st_ino, 0};
	size_t lo = 0, hi = p->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (inv_hold_cmp(&p->v[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	pid_t last = 0;
	for (size_t i = lo; i < p->n && p->v[i].dev == st.st_dev && p->v[i].ino == st.st_ino; i++) {
		if (p->v[i].pid == last)
			continue;
		last = p->v[i].pid;
		if (o->attached < INV_MAX_HOLDERS)
			o->holders[o->attached] = last;
		o->attached++;
	}
}

bool inv_procs_bound(const struct inv_procs *p, const char *path)
{
	for (size_t i = 0; p && i < p->nbound; i++)
		if (strcmp(p->bound[i], path) == 0)
			return true;
	return false;
}
