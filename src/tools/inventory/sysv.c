/*
 * sysv.c - System V message queues, shared-memory segments and semaphore
 * sets, as /proc/sysvipc lists them (every one on the machine, whoever
 * made it: ipcx, ipcmk or any program).
 *
 * A System V URL names the object by id (sysvmq://id=3), the form ipcmk
 * prints and the one that finds the object whatever its key.
 */
#include "inventory.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

/* The fields of one /proc/sysvipc line that every table has. */
struct inv_sysv_line {
	long long key;
	int id;
	unsigned perms;
	unsigned uid, gid;
};

/* inv_sysv_each calls parse for every line after the header of /proc/sysvipc/NAME. */
static int inv_sysv_each(struct inv_list *l, const struct inv_kind *k, const char *name,
			 int (*parse)(struct inv_obj *o, const char *line))
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/sysvipc/%s", name);
	FILE *f = fopen(path, "re");
	if (!f) {
		inv_note(l, "%s: cannot read %s: %s", k->what, path, ipcx_strerror(-errno));
		return 0;
	}
	bool header = true;
	while (fgets(line, sizeof(line), f)) {
		if (header) {
			header = false;
			continue;
		}
		struct inv_obj *o = inv_add(l, k);
		if (!o) {
			fclose(f);
			return -ENOMEM;
		}
		if (parse(o, line) < 0) {
			l->n--;
			continue;
		}
		o->has_owner = true;
		snprintf(o->url, sizeof(o->url), "%s://id=%d", k->name, o->id);
	}
	fclose(f);
	return 0;
}

/* "key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime" */
static int inv_msg_parse(struct inv_obj *o, const char *line)
{
	unsigned perms, uid, gid;
	long long cbytes, qnum;
	int spid, rpid;
	long long stime, rtime, ctime;
	if (sscanf(line, "%lld %d %o %lld %lld %d %d %u %u %*u %*u %lld %lld %lld", &o->key,
		   &o->id, &perms, &cbytes, &qnum, &spid, &rpid, &uid, &gid, &stime, &rtime,
		   &ctime) != 12)
		return -EPROTO;
	o->mode = perms & 0777;
	o->uid = uid;
	o->gid = gid;
	o->size = cbytes;
	o->messages = qnum;
	o->last_send = (struct inv_pid_time){spid, stime};
	o->last_recv = (struct inv_pid_time){rpid, rtime};
	o->creator.time = ctime;
	struct msqid_ds ds;
	if (msgctl(o->id, IPC_STAT, &ds) == 0)
		o->capacity = (long long)ds.msg_qbytes;
	return 0;
}

/* "key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime ..." */
static int inv_shm_parse(struct inv_obj *o, const char *line)
{
	unsigned perms, uid, gid;
	long long size, atime, dtime, ctime;
	int cpid, lpid, nattch;
	if (sscanf(line, "%lld %d %o %lld %d %d %d %u %u %*u %*u %lld %lld %lld", &o->key, &o->id,
		   &perms, &size, &cpid, &lpid, &nattch, &uid, &gid, &atime, &dtime, &ctime) != 12)
		return -EPROTO;
	o->mode = perms & 0777;
	o->uid = uid;
	o->gid = gid;
	o->size = o->capacity = size;
	o->creator = (struct inv_pid_time){cpid, ctime};
	o->last_op = (struct inv_pid_time){lpid, atime > dtime ? atime : dtime};
	o->attached = nattch;
	return 0;
}

/* inv_sem_last finds the latest semop pid of a set; the kernel keeps one per semaphore. */
static void inv_sem_last(struct inv_obj *o, long long otime)
{
	o->last_op.time = otime;
	for (int i = 0; i < o->nsems; i++) {
		int pid = semctl(o->id, i, GETPID);
		if (pid > 0)
			o->last_op.pid = pid;
	}
}

/* "key semid perms nsems uid gid cuid cgid otime ctime" */
static int inv_sem_parse(struct inv_obj *o, const char *line)
{
	unsigned perms, uid, gid;
	long long nsems, otime, ctime;
	if (sscanf(line, "%lld %d %o %lld %u %u %*u %*u %lld %lld", &o->key, &o->id, &perms,
		   &nsems, &uid, &gid, &otime, &ctime) != 8)
		return -EPROTO;
	o->mode = perms & 0777;
	o->uid = uid;
	o->gid = gid;
	o->nsems = nsems;
	o->creator.time = ctime;
	inv_sem_last(o, otime);
	return 0;
}

static int inv_sysvmq_scan(struct inv_list *l, const struct inv_procs *p)
{
	return inv_sysv_each(l, &inv_sysvmq_kind, "msg", inv_msg_parse);
}

static int inv_sysvshm_scan(struct inv_list *l, const struct inv_procs *p)
{
	return inv_sysv_each(l, &inv_sysvshm_kind, "shm", inv_shm_parse);
}

static int inv_sysvsem_scan(struct inv_list *l, const struct inv_procs *p)
{
	return inv_sysv_each(l, &inv_sysvsem_kind, "sem", inv_sem_parse);
}

static int inv_rmid_result(int rc, const char *call, const struct inv_obj *o)
{
	return rc < 0 ? ipcx__fail(-errno, "%s IPC_RMID id %d: %s", call, o->id,
				   ipcx_strerror(-errno))
		      : 0;
}

static int inv_sysvmq_remove(const struct inv_obj *o)
{
	return inv_rmid_result(msgctl(o->id, IPC_RMID, NULL), "msgctl", o);
}

static int inv_sysvshm_remove(const struct inv_obj *o)
{
	return inv_rmid_result(shmctl(o->id, IPC_RMID, NULL), "shmctl", o);
}

static int inv_sysvsem_remove(const struct inv_obj *o)
{
	return inv_rmid_result(semctl(o->id, 0, IPC_RMID), "semctl", o);
}

/*
 * inv_sysvsem_create makes a semaphore set of cap semaphores (1 when 0),
 * each 0, as `ipcmk -S` does: by key from the URL, or private.
 */
static int inv_sysvsem_create(const char *url, size_t cap, unsigned mode, char *made,
			      size_t size)
{
	const char *addr = strstr(url, "://") + 3;
	char *end;
	errno = 0;
	long long key = *addr ? strtoll(addr, &end, 0) : IPC_PRIVATE;
	if (*addr && (*end || errno || key == IPC_PRIVATE))
		return ipcx__fail(-EINVAL, "sysvsem:// takes a numeric key such as 0x1234 (got '%s')",
				  addr);
	int nsems = cap ? (int)cap : 1;
	int id = semget((key_t)key, nsems, IPC_CREAT | IPC_EXCL | (int)mode);
	if (id < 0)
		return ipcx__fail(-errno, "semget: %s", ipcx_strerror(-errno));
	snprintf(made, size, "sysvsem://id=%d", id);
	return 0;
}

const struct inv_kind inv_sysvmq_kind = {
	.name = "sysvmq",
	.what = "System V message queue",
	.scan = inv_sysvmq_scan,
	.remove = inv_sysvmq_remove,
};

const struct inv_kind inv_sysvshm_kind = {
	.name = "sysvshm",
	.what = "System V shared memory",
	.scan = inv_sysvshm_scan,
	.remove = inv_sysvshm_remove,
};

const struct inv_kind inv_sysvsem_kind = {
	.name = "sysvsem",
	.what = "System V semaphore set",
	.scan = inv_sysvsem_scan,
	.remove = inv_sysvsem_remove,
	.create = inv_sysvsem_create,
};
