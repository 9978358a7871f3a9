/*
 * sem.c - ipcx_sem: System V semaphore sets (seed 001: semget, semctl
 * SETVAL/SETALL, semop P and V, SEM_UNDO, IPC_NOWAIT) and POSIX named
 * semaphores, behind one set of calls.
 *
 * System V waits use semtimedop(2), the kernel's own timed wait, with the
 * time left recomputed from the deadline after each EINTR. Creating a set
 * and giving it its values are two calls (semget, then SETALL), so an
 * opener could act between them; the creator therefore makes one no-op
 * semop after SETALL (which sets sem_otime), and an opener that finds
 * sem_otime still 0 gives the creator up to IPCX__SEM_INIT_WAIT_MS before
 * going on, since a set made by `ipcmk -S` never sees an operation.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <time.h>

#define IPCX__SEM_INIT_WAIT_MS 100
#define IPCX__SEMVMX 32767 /* the kernel's largest System V semaphore value */

union ipcx__semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

struct ipcx_sem {
	int semid;      /* System V; -1 for POSIX */
	unsigned nsems;
	sem_t *psem;    /* POSIX */
};

/* ---- System V -------------------------------------------------------- */

static int ipcx__sem_gone(const ipcx_sem *s)
{
	return ipcx__fail(-EPIPE, "semaphore set id %d was removed", s->semid);
}

static int ipcx__sysvsem_stat(int id, struct semid_ds *ds)
{
	if (semctl(id, 0, IPC_STAT, (union ipcx__semun){.buf = ds}) == 0)
		return 0;
	if (errno == EINVAL || errno == EIDRM)
		return ipcx__fail(-ENOENT, "no semaphore set with id %d", id);
	return ipcx__fail(-errno, "semaphore set id %d: %s", id, ipcx_strerror(-errno));
}

int ipcx__sysvsem_setall(int id, unsigned short *vals)
{
	short step = vals[0] < IPCX__SEMVMX ? 1 : -1;
	struct sembuf touch[2] = {{0, step, IPC_NOWAIT}, {0, (short)-step, IPC_NOWAIT}};
	if (semctl(id, 0, SETALL, (union ipcx__semun){.array = vals}) < 0 || semop(id, touch, 2) < 0)
		return ipcx__errno_fail("initialising the semaphore set");
	return 0;
}

/* ipcx__sysvsem_init gives every semaphore of a new set the same value. */
static int ipcx__sysvsem_init(int id, unsigned nsems, unsigned value)
{
	unsigned short *vals = malloc(nsems * sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (unsigned i = 0; i < nsems; i++)
		vals[i] = (unsigned short)value;
	int rc = ipcx__sysvsem_setall(id, vals);
	free(vals);
	return rc;
}

int ipcx__sysvsem_await(int id, struct semid_ds *ds)
{
	for (int i = 0;; i++) {
		int rc = ipcx__sysvsem_stat(id, ds);
		if (rc < 0 || ds->sem_otime != 0 || i == IPCX__SEM_INIT_WAIT_MS)
			return rc;
		struct timespec ms = {0, 1000 * 1000};
		nanosleep(&ms, NULL);
	}
}

static int ipcx__sysvsem_create(const struct ipcx__sysv_addr *a, const struct ipcx__url *u,
				int flags, unsigned nsems, unsigned value)
{
	if (nsems == 0)
		return ipcx__fail(-EINVAL, "creating a semaphore set needs nsems >= 1");
	if (value > IPCX__SEMVMX)
		return ipcx__fail(-ERANGE, "initial value %u exceeds SEMVMX (%d)", value,
				  IPCX__SEMVMX);
	int id = semget(a->key, (int)nsems, IPC_CREAT | IPC_EXCL | (int)ipcx__url_mode(u));
	if (id < 0) {
		if (errno == EEXIST && !(flags & IPCX_EXCL))
			return -EEXIST; /* open the existing one instead */
		return ipcx__fail(-errno, "semget key 0x%08x, %u semaphores: %s", (unsigned)a->key,
				  nsems, ipcx_strerror(-errno));
	}
	int rc = ipcx__sysvsem_init(id, nsems, value);
	if (rc < 0) {
		semctl(id, 0, IPC_RMID);
		return rc;
	}
	(void)ipcx__object_register_sysv("sysvsem", id);
	return id;
}

/* ipcx__sysvsem_find returns the id of an existing set. */
static int ipcx__sysvsem_find(const struct ipcx__sysv_addr *a, int flags)
{
	if (a->by_id) {
		struct semid_ds ds;
		int rc = ipcx__sysvsem_stat(a->id, &ds);
		if (rc == 0 && (flags & IPCX_EXCL))
			return ipcx__fail(-EEXIST, "semaphore set id %d exists (IPCX_EXCL)", a->id);
		return rc < 0 ? rc : a->id;
	}
	int id = semget(a->key, 0, 0);
	if (id < 0 && errno == ENOENT)
		return ipcx__fail(-ENOENT, "no semaphore set with key 0x%08x", (unsigned)a->key);
	if (id < 0)
		return ipcx__fail(-errno, "semget key 0x%08x: %s", (unsigned)a->key,
				  ipcx_strerror(-errno));
	return id;
}

static int ipcx__sysvsem_open(ipcx_sem *s, const struct ipcx__url *u, int flags, unsigned nsems,
			      unsigned value)
{
	struct ipcx__sysv_addr a;
	int rc = ipcx__sysv_addr_parse(u, true, &a);
	if (rc < 0)
		return rc;
	int id = -EEXIST;
	if ((flags & IPCX_CREATE) && !a.by_id)
		id = ipcx__sysvsem_create(&a, u, flags, nsems, value);
	if (id == -EEXIST)
		id = ipcx__sysvsem_find(&a, flags);
	if (id < 0)
		return id;
	struct semid_ds ds;
	rc = ipcx__sysvsem_await(id, &ds);
	if (rc < 0)
		return rc;
	if (nsems > ds.sem_nsems)
		return ipcx__fail(-EINVAL, "the set has %lu semaphores, fewer than the %u asked for",
				  (unsigned long)ds.sem_nsems, nsems);
	s->semid = id;
	s->nsems = (unsigned)ds.sem_nsems;
	return 0;
}

/* ipcx__sysvsem_ops converts the changes, checking index and range. */
static int ipcx__sysvsem_ops(const ipcx_sem *s, const struct ipcx_sem_op *ops, size_t nops,
			     bool nowait, struct sembuf *out)
{
	for (size_t i = 0; i < nops; i++) {
		if (ops[i].index >= s->nsems)
			return ipcx__fail(-EINVAL, "semaphore %u is outside the set of %u",
					  ops[i].index, s->nsems);
		if (ops[i].delta < -IPCX__SEMVMX || ops[i].delta > IPCX__SEMVMX)
			return ipcx__fail(-ERANGE, "change %d exceeds SEMVMX (%d)", ops[i].delta,
					  IPCX__SEMVMX);
		if (ops[i].flags & ~IPCX_SEM_UNDO)
			return ipcx__fail(-EINVAL, "unknown semaphore flags 0x%x", ops[i].flags);
		out[i].sem_num = (unsigned short)ops[i].index;
		out[i].sem_op = (short)ops[i].delta;
		out[i].sem_flg = (short)(((ops[i].flags & IPCX_SEM_UNDO) ? SEM_UNDO : 0) |
					 (nowait ? IPC_NOWAIT : 0));
	}
	return 0;
}

int ipcx__semtimedop(int semid, struct sembuf *ops, size_t nops, struct ipcx__deadline d)
{
	for (;;) {
		struct timespec left, *tp = NULL;
		if (d.at_ns != INT64_MAX && d.timeout_ms != 0) {
			int64_t ns = d.at_ns - ipcx__now_ns();
			if (ns <= 0)
				return -ETIMEDOUT;
			left = (struct timespec){ns / 1000000000, ns % 1000000000};
			tp = &left;
		}
		if (semtimedop(semid, ops, nops, tp) == 0)
			return 0;
		if (errno == EAGAIN)
			return ipcx__deadline_err(d);
		if (errno != EINTR)
			return -errno;
	}
}

static int ipcx__sysvsem_change(ipcx_sem *s, const struct ipcx_sem_op *ops, size_t nops,
				struct ipcx__deadline d)
{
	struct sembuf *sb = malloc(nops * sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	int rc = ipcx__sysvsem_ops(s, ops, nops, d.timeout_ms == 0, sb);
	if (rc < 0) {
		free(sb);
		return rc;
	}
	rc = ipcx__semtimedop(s->semid, sb, nops, d);
	free(sb);
	if (rc == -EIDRM || rc == -EINVAL)
		return ipcx__sem_gone(s);
	if (rc == -ERANGE)
		return ipcx__fail(-ERANGE, "a semaphore value would exceed SEMVMX (%d)",
				  IPCX__SEMVMX);
	if (rc == -E2BIG)
		return ipcx__fail(-E2BIG, "%zu changes exceed the kernel's SEMOPM", nops);
	if (rc == -EAGAIN || rc == -ETIMEDOUT)
		return ipcx__fail(rc, "semaphore set id %d: not available in time", s->semid);
	return rc < 0 ? ipcx__fail(rc, "semop: %s", ipcx_strerror(rc)) : 0;
}

static int ipcx__sysvsem_remove(const struct ipcx__url *u)
{
	struct ipcx__sysv_addr a;
	int rc = ipcx__sysv_addr_parse(u, true, &a);
	int id = rc < 0 ? rc : ipcx__sysvsem_find(&a, 0);
	if (id < 0)
		return id;
	if (semctl(id, 0, IPC_RMID) < 0)
		return ipcx__errno_fail("semctl IPC_RMID");
	ipcx__object_forget_sysv("sysvsem", id);
	return 0;
}

/* ---- POSIX ----------------------------------------------------------- */

static int ipcx__psem_name(const struct ipcx__url *u)
{
	const char *n = u->address;
	if (n[0] != '/' || !n[1] || strchr(n + 1, '/') || strlen(n) > NAME_MAX - 4)
		return ipcx__fail(-EINVAL, "sem:// needs one short name after a slash, as in "
					   "sem:///name (got '%s')", n);
	return 0;
}

/* sem_open applies the umask; glibc keeps the semaphore at /dev/shm/sem.NAME. */
/*
 * ipcx__psem_chmod gives a semaphore we just created the ?mode= asked for
 * (sem_open applied the umask). On failure the new semaphore is removed.
 */
static int ipcx__psem_chmod(ipcx_sem *s, const struct ipcx__url *u)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "/dev/shm/sem.%s", u->address + 1);
	if (chmod(path, (mode_t)u->mode) == 0)
		return 0;
	int rc = ipcx__fail(-errno, "chmod %s: %s", path, ipcx_strerror(-errno));
	sem_close(s->psem);
	s->psem = NULL;
	sem_unlink(u->address);
	return rc;
}

static int ipcx__psem_open(ipcx_sem *s, const struct ipcx__url *u, int flags, unsigned nsems,
			   unsigned value)
{
	int rc = ipcx__psem_name(u);
	if (rc < 0)
		return rc;
	if (nsems > 1)
		return ipcx__fail(-EINVAL, "a POSIX semaphore is a set of one (asked for %u)", nsems);
	s->semid = -1;
	s->nsems = 1;
	s->psem = SEM_FAILED;
	if (flags & IPCX_CREATE) {
		s->psem = sem_open(u->address, O_CREAT | O_EXCL, (mode_t)ipcx__url_mode(u), value);
		if (s->psem != SEM_FAILED) {
			rc = u->has_mode ? ipcx__psem_chmod(s, u) : 0;
			if (rc == 0)
				(void)ipcx__object_register_url(u);
			return rc;
		}
		if (errno != EEXIST || (flags & IPCX_EXCL))
			return ipcx__fail(-errno, "sem_open %s: %s", u->address,
					  ipcx_strerror(-errno));
	}
	s->psem = sem_open(u->address, 0);
	if (s->psem == SEM_FAILED)
		return ipcx__fail(-errno, "sem_open %s: %s", u->address, ipcx_strerror(-errno));
	return 0;
}

static int ipcx__psem_wait(ipcx_sem *s, struct ipcx__deadline d)
{
	struct timespec at = {d.at_ns / 1000000000, d.at_ns % 1000000000};
	for (;;) {
		int rc;
		if (d.timeout_ms == 0)
			rc = sem_trywait(s->psem);
		else if (d.at_ns == INT64_MAX)
			rc = sem_wait(s->psem);
		else
			rc = sem_clockwait(s->psem, CLOCK_MONOTONIC, &at);
		if (rc == 0)
			return 0;
		if (errno == EAGAIN || errno == ETIMEDOUT)
			return ipcx__fail(ipcx__deadline_err(d), "semaphore not available in time");
		if (errno != EINTR)
			return ipcx__errno_fail("sem_wait");
	}
}

static int ipcx__psem_change(ipcx_sem *s, const struct ipcx_sem_op *op, size_t nops,
			     struct ipcx__deadline d)
{
	if (nops != 1 || op->index != 0 || op->flags || op->delta == 0 || op->delta < -1)
		return ipcx__fail(-ENOTSUP, "a POSIX semaphore takes one change at a time: +n or -1, "
					    "without IPCX_SEM_UNDO");
	if (op->delta == -1)
		return ipcx__psem_wait(s, d);
	for (int i = 0; i < op->delta; i++)
		if (sem_post(s->psem) < 0)
			return errno == EOVERFLOW
				       ? ipcx__fail(-ERANGE, "the value would exceed SEM_VALUE_MAX")
				       : ipcx__errno_fail("sem_post");
	return 0;
}

/* ---- the public calls ------------------------------------------------ */

int ipcx_sem_open(ipcx_sem **out, const char *url, int flags, unsigned nsems, unsigned value)
{
	ipcx__clear_errmsg();
	if (!out)
		return ipcx__fail(-EINVAL, "no place for the semaphore (out is NULL)");
	*out = NULL;
	if (flags & ~(IPCX_CREATE | IPCX_EXCL))
		return ipcx__fail(-EINVAL, "semaphores take IPCX_CREATE and IPCX_EXCL only");
	struct ipcx__url u;
	int rc = ipcx__url_parse_as(&u, url, "mode proj");
	if (rc < 0)
		return rc;
	ipcx_sem *s = calloc(1, sizeof(*s));
	if (!s)
		rc = -ENOMEM;
	else if (strcmp(u.scheme, "sysvsem") == 0)
		rc = ipcx__sysvsem_open(s, &u, flags, nsems, value);
	else if (strcmp(u.scheme, "sem") == 0)
		rc = ipcx__psem_open(s, &u, flags, nsems, value);
	else
		rc = ipcx__fail(-EINVAL, "unknown semaphore scheme '%s' (sysvsem or sem)", u.scheme);
	ipcx__url_free(&u);
	if (rc < 0) {
		ipcx_sem_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

int ipcx_sem_change(ipcx_sem *s, const struct ipcx_sem_op *ops, size_t nops, int timeout_ms)
{
	ipcx__clear_errmsg();
	if (!s || !ops || nops == 0)
		return ipcx__fail(-EINVAL, "a semaphore change needs a set and at least one op");
	struct ipcx__deadline d = ipcx__deadline_in(timeout_ms);
	return s->psem ? ipcx__psem_change(s, ops, nops, d)
		       : ipcx__sysvsem_change(s, ops, nops, d);
}

int ipcx_sem_wait(ipcx_sem *s, unsigned index, unsigned n, int timeout_ms)
{
	if (n == 0 || n > INT_MAX)
		return ipcx__fail(-EINVAL, "take at least 1 (asked for %u)", n);
	struct ipcx_sem_op op = {.index = index, .delta = -(int)n};
	return ipcx_sem_change(s, &op, 1, timeout_ms);
}

int ipcx_sem_post(ipcx_sem *s, unsigned index, unsigned n)
{
	if (n == 0 || n > INT_MAX)
		return ipcx__fail(-EINVAL, "add at least 1 (asked for %u)", n);
	struct ipcx_sem_op op = {.index = index, .delta = (int)n};
	return ipcx_sem_change(s, &op, 1, 0);
}

int ipcx_sem_value(const ipcx_sem *s, unsigned index)
{
	ipcx__clear_errmsg();
	if (!s || index >= s->nsems)
		return ipcx__fail(-EINVAL, "no semaphore %u in this set", index);
	int v;
	if (s->psem)
		return sem_getvalue(s->psem, &v) < 0 ? ipcx__errno_fail("sem_getvalue") : v;
	v = semctl(s->semid, (int)index, GETVAL);
	if (v < 0 && (errno == EIDRM || errno == EINVAL))
		return ipcx__sem_gone(s);
	return v < 0 ? ipcx__errno_fail("semctl GETVAL") : v;
}

unsigned ipcx_sem_size(const ipcx_sem *s)
{
	return s ? s->nsems : 0;
}

void ipcx_sem_close(ipcx_sem *s)
{
	if (!s)
		return;
	if (s->psem && s->psem != SEM_FAILED)
		sem_close(s->psem);
	free(s);
}

int ipcx_sem_unlink(const char *url)
{
	ipcx__clear_errmsg();
	struct ipcx__url u;
	int rc = ipcx__url_parse_as(&u, url, "mode proj");
	if (rc < 0)
		return rc;
	if (strcmp(u.scheme, "sem") == 0) {
		rc = ipcx__psem_name(&u);
		if (rc == 0 && sem_unlink(u.address) < 0)
			rc = ipcx__fail(-errno, "sem_unlink %s: %s", u.address, ipcx_strerror(-errno));
		if (rc == 0)
			ipcx__object_forget_url(&u);
	} else if (strcmp(u.scheme, "sysvsem") == 0) {
		rc = ipcx__sysvsem_remove(&u);
	} else {
		rc = ipcx__fail(-EINVAL, "unknown semaphore scheme '%s' (sysvsem or sem)", u.scheme);
	}
	ipcx__url_free(&u);
	return rc;
}
