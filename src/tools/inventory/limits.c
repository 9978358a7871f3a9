/*
 * limits.c - the system limits that bite an ipcx user, each with what it
 * means for ipcx (`ipcx limits`, `ipcx ls -l`).
 */
#include "inventory.h"

#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>

/* Where a limit comes from: field index of a /proc/sys file, or a resource limit. */
struct inv_limit_def {
	const char *name;
	const char *proc; /* NULL for a resource limit */
	int field;        /* which number of the file (kernel.sem has four) */
	int rlimit;
	const char *unit;
	const char *meaning;
};

#define INV_PROC(n, path, f, u, m) {n, "/proc/sys/" path, f, 0, u, m}
#define INV_RLIMIT(n, r, u, m) {n, NULL, 0, r, u, m}

static const struct inv_limit_def inv_limit_defs[] = {
	INV_PROC("kernel.msgmax", "kernel/msgmax", 0, "bytes",
		 "largest sysvmq:// message; a larger send fails with EMSGSIZE"),
	INV_PROC("kernel.msgmnb", "kernel/msgmnb", 0, "bytes",
		 "bytes a new sysvmq:// queue holds; when full, senders wait"),
	INV_PROC("kernel.msgmni", "kernel/msgmni", 0, "queues",
		 "System V queues the machine may have; creating one more fails with ENOSPC"),
	INV_PROC("fs.mqueue.msg_max", "fs/mqueue/msg_max", 0, "messages",
		 "most messages an mq:// queue may hold (?cap=); above it creation fails"),
	INV_PROC("fs.mqueue.msgsize_max", "fs/mqueue/msgsize_max", 0, "bytes",
		 "largest mq:// message (?maxmsg=); above it creation fails"),
	INV_PROC("fs.mqueue.queues_max", "fs/mqueue/queues_max", 0, "queues",
		 "POSIX queues the machine may have"),
	INV_PROC("kernel.shmmax", "kernel/shmmax", 0, "bytes",
		 "largest sysvshm:// segment, so the largest ?cap= of one"),
	INV_PROC("kernel.shmall", "kernel/shmall", 0, "pages",
		 "System V shared memory of the whole machine, in pages"),
	INV_PROC("kernel.shmmni", "kernel/shmmni", 0, "segments",
		 "System V segments the machine may have"),
	INV_PROC("kernel.sem.semmsl", "kernel/sem", 0, "semaphores",
		 "semaphores in one System V set (ipcx_sem, ipcx mk sysvsem:// --cap)"),
	INV_PROC("kernel.sem.semmns", "kernel/sem", 1, "semaphores",
		 "System V semaphores of the whole machine"),
	INV_PROC("kernel.sem.semopm", "kernel/sem", 2, "operations",
		 "operations one semop call may do"),
	INV_PROC("kernel.sem.semmni", "kernel/sem", 3, "sets",
		 "System V semaphore sets the machine may have"),
	INV_PROC("fs.pipe-max-size", "fs/pipe-max-size", 0, "bytes",
		 "largest ?cap= of pipe://, spipe:// and fifo:// without privilege"),
	INV_RLIMIT("RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE, "bytes",
		   "bytes of POSIX queues this user may create; a larger mq:// fails with EMFILE"),
	INV_RLIMIT("RLIMIT_SIGPENDING", RLIMIT_SIGPENDING, "signals",
		   "signals queued to this user's processes; sig:// sends fail with EAGAIN beyond"),
};

#define INV_NLIMITS (sizeof(inv_limit_defs) / sizeof(inv_limit_defs[0]))

/* inv_proc_field reads number index of a /proc/sys file. */
static int inv_proc_field(const char *path, int index, long long *out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int rc = -EPROTO;
	for (int i = 0; i <= index; i++) {
		if (fscanf(f, "%lld", out) != 1)
			break;
		if (i == index)
			rc = 0;
	}
	fclose(f);
	return rc;
}

static void inv_limit_read(const struct inv_limit_def *d, struct inv_limit *l)
{
	l->name = d->name;
	l->unit = d->unit;
	l->meaning = d->meaning;
	l->known = true;
	l->unlimited = false;
	if (d->proc) {
		l->known = inv_proc_field(d->proc, d->field, &l->value) == 0;
		return;
	}
	struct rlimit r;
	if (getrlimit(d->rlimit, &r) < 0) {
		l->known = false;
		return;
	}
	l->unlimited = r.rlim_cur == RLIM_INFINITY;
	l->value = l->unlimited ? -1 : (long long)r.rlim_cur;
}

size_t inv_limits(struct inv_limit *out, size_t max)
{
	size_t n = 0;
	for (; n < INV_NLIMITS && n < max; n++)
		inv_limit_read(&inv_limit_defs[n], &out[n]);
	return n;
}

void inv_limit_value(const struct inv_limit *l, char *buf, size_t size)
{
	if (!l->known)
		snprintf(buf, size, "?");
	else if (l->unlimited)
		snprintf(buf, size, "unlimited");
	else
		snprintf(buf, size, "%lld", l->value);
}
