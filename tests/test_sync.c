/*
 * test_sync.c - ipcx_sem, ipcx_mutex, ipcx_lock and ipcx_region across real
 * processes and kernel objects.
 */
#include "testutil.h"

#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* The harness removes channels; these objects are removed here, however the body ends. */
struct sync_cleanup {
	int n;
	char urls[8][128];
	char kind[8]; /* 's' semaphore, 'r' region */
};
static struct sync_cleanup *cleanup;

static void sync_cleanup_add(char kind, const char *url)
{
	CHECK(cleanup && cleanup->n < 8);
	snprintf(cleanup->urls[cleanup->n], sizeof(cleanup->urls[0]), "%s", url);
	cleanup->kind[cleanup->n++] = kind;
}

/*
 * run_body runs fn in a child and removes the registered objects after it,
 * so they go even when a CHECK fails; then reports the child's status.
 */
static void run_body(void (*fn)(void))
{
	cleanup = mmap(NULL, sizeof(*cleanup), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	CHECK(cleanup != MAP_FAILED);
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		_exit(0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	for (int i = 0; i < cleanup->n; i++) {
		if (cleanup->kind[i] == 's')
			ipcx_sem_unlink(cleanup->urls[i]);
		else
			ipcx_region_unlink(cleanup->urls[i]);
	}
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	_exit(1);
}

/* ---- semaphores ------------------------------------------------------ */

static ipcx_sem *sysv_set(char *url, size_t size, unsigned nsems, unsigned value)
{
	snprintf(url, size, "sysvsem://0x%08x", test_sysv_key(0x5f000000u));
	sync_cleanup_add('s', url);
	ipcx_sem *s = NULL;
	CHECK_RC(ipcx_sem_open(&s, url, IPCX_CREATE | IPCX_EXCL, nsems, value), 0);
	return s;
}

/* P and V across processes: the child waits until the parent posts. */
static void sem_pv_body(void)
{
	char url[64];
	ipcx_sem *s = sysv_set(url, sizeof(url), 2, 0);
	CHECK(ipcx_sem_size(s) == 2);
	CHECK_RC(ipcx_sem_wait(s, 0, 1, 0), -EAGAIN);
	CHECK_RC(ipcx_sem_wait(s, 0, 1, 20), -ETIMEDOUT);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_sem *c = NULL;
		CHECK_RC(ipcx_sem_open(&c, url, 0, 0, 0), 0);
		CHECK_RC(ipcx_sem_wait(c, 0, 3, 5000), 0); /* P by 3 */
		CHECK_RC(ipcx_sem_post(c, 1, 1), 0);       /* V the reply */
		ipcx_sem_close(c);
		_exit(0);
	}
	CHECK_RC(ipcx_sem_post(s, 0, 2), 0);
	CHECK_RC(ipcx_sem_post(s, 0, 1), 0);
	CHECK_RC(ipcx_sem_wait(s, 1, 1, 5000), 0);
	wait_child_ok(pid);
	CHECK_RC(ipcx_sem_value(s, 0), 0);
	ipcx_sem_close(s);
}

static void test_sem_pv(void)
{
	run_body(sem_pv_body);
}

/* Several semaphores change in one call, all or nothing. */
static void sem_atomic_body(void)
{
	char url[64];
	ipcx_sem *s = sysv_set(url, sizeof(url), 3, 1);
	struct ipcx_sem_op take_all[] = {{0, -1, 0}, {1, -1, 0}, {2, -2, 0}};
	CHECK_RC(ipcx_sem_change(s, take_all, 3, 0), -EAGAIN); /* sem 2 has only 1 */
	CHECK_RC(ipcx_sem_value(s, 0), 1);                      /* nothing was taken */
	CHECK_RC(ipcx_sem_value(s, 1), 1);
	struct ipcx_sem_op fill[] = {{2, 1, 0}};
	CHECK_RC(ipcx_sem_change(s, fill, 1, 0), 0);
	CHECK_RC(ipcx_sem_change(s, take_all, 3, 0), 0);
	for (unsigned i = 0; i < 3; i++)
		CHECK_RC(ipcx_sem_value(s, i), 0);
	struct ipcx_sem_op wait_zero[] = {{0, 0, 0}};
	CHECK_RC(ipcx_sem_change(s, wait_zero, 1, 0), 0);
	struct ipcx_sem_op bad[] = {{3, 1, 0}};
	CHECK_RC(ipcx_sem_change(s, bad, 1, 0), -EINVAL);
	CHECK_RC(ipcx_sem_post(s, 0, 40000), -ERANGE);
	ipcx_sem_close(s);
}

static void test_sem_atomic(void)
{
	run_body(sem_atomic_body);
}

/* SEM_UNDO: a process killed holding the semaphore gives it back. */
static void sem_undo_body(void)
{
	char url[64];
	ipcx_sem *s = sysv_set(url, sizeof(url), 1, 1);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct ipcx_sem_op p = {0, -1, IPCX_SEM_UNDO};
		CHECK_RC(ipcx_sem_change(s, &p, 1, 1000), 0);
		CHECK(write(ready[1], "x", 1) == 1);
		pause();
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK_RC(ipcx_sem_value(s, 0), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_RC(ipcx_sem_wait(s, 0, 1, 5000), 0);
	ipcx_sem_close(s);
}

static void test_sem_undo(void)
{
	run_body(sem_undo_body);
}

/* A set made by ipcmk -S is usable by id; ipcs shows what ipcx makes as 600. */
static void sem_interop_body(void)
{
	char out[512], url[64], cmd[128];
	int id;
	if (run_capture("ipcmk -S 2 2>/dev/null", out, sizeof(out)) != 0)
		SKIP("ipcmk (util-linux) is not available");
	CHECK(sscanf(out, "Semaphore id: %d", &id) == 1);
	snprintf(url, sizeof(url), "sysvsem://id=%d", id);
	sync_cleanup_add('s', url);
	ipcx_sem *s = NULL;
	CHECK_RC(ipcx_sem_open(&s, url, IPCX_CREATE, 0, 0), 0);
	CHECK(ipcx_sem_size(s) == 2);
	CHECK_RC(ipcx_sem_post(s, 1, 5), 0);
	CHECK(semctl(id, 1, GETVAL) == 5);
	ipcx_sem_close(s);

	ipcx_sem *mine = sysv_set(url, sizeof(url), 1, 0);
	snprintf(cmd, sizeof(cmd), "ipcs -s | grep -i '^%.10s '", url + strlen("sysvsem://"));
	CHECK(run_capture(cmd, out, sizeof(out)) == 0);
	char key[32], owner[64], perms[16];
	CHECK(sscanf(out, "%31s %d %63s %15s", key, &id, owner, perms) == 4);
	CHECK(strcmp(perms, "600") == 0);
	ipcx_sem_close(mine);
}

static void test_sem_interop(void)
{
	run_body(sem_interop_body);
}

static void psem_body(void)
{
	char name[64], url[96];
	snprintf(url, sizeof(url), "sem:///%s", test_unique(name, sizeof(name), "ipcx-psem"));
	sync_cleanup_add('s', url);
	ipcx_sem *s = NULL;
	CHECK_RC(ipcx_sem_open(&s, url, IPCX_CREATE | IPCX_EXCL, 1, 0), 0);
	CHECK_RC(ipcx_sem_wait(s, 0, 1, 0), -EAGAIN);
	CHECK_RC(ipcx_sem_wait(s, 0, 1, 20), -ETIMEDOUT);
	CHECK_RC(ipcx_sem_wait(s, 0, 2, 0), -ENOTSUP);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_sem *c = NULL;
		CHECK_RC(ipcx_sem_open(&c, url, 0, 0, 0), 0);
		CHECK_RC(ipcx_sem_post(c, 0, 2), 0);
		ipcx_sem_close(c);
		_exit(0);
	}
	CHECK_RC(ipcx_sem_wait(s, 0, 1, 5000), 0);
	wait_child_ok(pid);
	CHECK_RC(ipcx_sem_value(s, 0), 1);
	ipcx_sem_close(s);
	CHECK_RC(ipcx_sem_unlink(url), 0);
	CHECK_RC(ipcx_sem_open(&s, url, 0, 0, 0), -ENOENT);
}

static void test_psem(void)
{
	run_body(psem_body);
}

/* ---- robust mutex ------------------------------------------------------ */

/* The owner is SIGKILLed holding the mutex; the next locker gets EOWNERDEAD. */
static void mutex_owner_killed_body(void)
{
	char name[64], url[96];
	snprintf(url, sizeof(url), "posixshm:///%s", test_unique(name, sizeof(name), "ipcx-mtx"));
	sync_cleanup_add('r', url);
	ipcx_region *r = NULL;
	CHECK_RC(ipcx_region_open(&r, url, IPCX_CREATE | IPCX_EXCL, 4096), 0);
	ipcx_mutex *m = ipcx_region_addr(r);
	int *guarded = (int *)(m + 1);
	CHECK_RC(ipcx_mutex_init(m), 0);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_region *cr = NULL;
		CHECK_RC(ipcx_region_open(&cr, url, 0, 0), 0);
		ipcx_mutex *cm = ipcx_region_addr(cr);
		CHECK_RC(ipcx_mutex_lock(cm, 1000), 0);
		*(int *)(cm + 1) = 42; /* half-way through an update */
		CHECK(write(ready[1], "x", 1) == 1);
		pause();
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK_RC(ipcx_mutex_lock(m, 0), -EAGAIN);
	CHECK_RC(ipcx_mutex_lock(m, 20), -ETIMEDOUT);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_RC(ipcx_mutex_lock(m, 5000), -EOWNERDEAD);
	CHECK(*guarded == 42);
	*guarded = 0; /* repaired */
	CHECK_RC(ipcx_mutex_consistent(m), 0);
	CHECK_RC(ipcx_mutex_lock(m, 0), -EDEADLK);
	CHECK_RC(ipcx_mutex_unlock(m), 0);
	CHECK_RC(ipcx_mutex_lock(m, 0), 0);
	CHECK_RC(ipcx_mutex_unlock(m), 0);
	CHECK_RC(ipcx_mutex_unlock(m), -EPERM);
	CHECK_RC(ipcx_mutex_destroy(m), 0);
	ipcx_region_close(r);
}

static void test_mutex_owner_killed(void)
{
	run_body(mutex_owner_killed_body);
}

/* Unlocking after EOWNERDEAD without repair leaves the mutex unrecoverable. */
static void mutex_unrecoverable_body(void)
{
	ipcx_mutex *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			     -1, 0);
	CHECK(m != MAP_FAILED);
	CHECK_RC(ipcx_mutex_init(m), 0);
	pid_t pid = fork();
	if (pid == 0) {
		CHECK_RC(ipcx_mutex_lock(m, 0), 0);
		_exit(0); /* dies holding it */
	}
	wait_child_ok(pid);
	CHECK_RC(ipcx_mutex_lock(m, 1000), -EOWNERDEAD);
	CHECK_RC(ipcx_mutex_unlock(m), 0);
	CHECK_RC(ipcx_mutex_lock(m, 1000), -ENOTRECOVERABLE);
}

static void test_mutex_unrecoverable(void)
{
	run_body(mutex_unrecoverable_body);
}

/* ---- file locks -------------------------------------------------------- */

static void test_lock_modes(void)
{
	char path[96];
	test_unique(path, sizeof(path), "/tmp/ipcx-lock");
	test_cleanup_path(path);
	ipcx_lock *a = NULL, *b = NULL;
	CHECK_RC(ipcx_lock_open(&a, path, IPCX_CREATE | IPCX_EXCL), 0);
	CHECK_RC(ipcx_lock_open(&b, path, 0), 0);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* Two shared holders, in one process even: OFD locks belong to the open file. */
	CHECK_RC(ipcx_lock_acquire(a, IPCX_LOCK_SHARED, 0), 0);
	CHECK_RC(ipcx_lock_acquire(b, IPCX_LOCK_SHARED, 0), 0);
	CHECK_RC(ipcx_lock_acquire(b, IPCX_LOCK_EXCLUSIVE, 0), -EAGAIN);
	CHECK_RC(ipcx_lock_acquire(b, IPCX_LOCK_EXCLUSIVE, 20), -ETIMEDOUT);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_lock *c = NULL;
		CHECK_RC(ipcx_lock_open(&c, path, 0), 0);
		CHECK(write(ready[1], "x", 1) == 1);
		CHECK_RC(ipcx_lock_acquire(c, IPCX_LOCK_EXCLUSIVE, 5000), 0); /* waits for a and b */
		CHECK(write(ipcx_lock_fd(c), "child", 5) == 5);
		ipcx_lock_close(c);
		_exit(0);
	}
	char ch;
	CHECK(read(ready[0], &ch, 1) == 1);
	/* The child shares a's and b's open files since fork, so release, not close. */
	CHECK_RC(ipcx_lock_release(b), 0);
	CHECK_RC(ipcx_lock_release(a), 0);
	wait_child_ok(pid);
	char buf[8] = {0};
	CHECK(pread(ipcx_lock_fd(b), buf, 5, 0) == 5 && strcmp(buf, "child") == 0);
	CHECK_RC(ipcx_lock_acquire(a, IPCX_LOCK_EXCLUSIVE, 0), 0);
	CHECK_RC(ipcx_lock_acquire(b, IPCX_LOCK_SHARED, 0), -EAGAIN);
	ipcx_lock_close(a); /* closing the last descriptor drops the lock */
	CHECK_RC(ipcx_lock_acquire(b, IPCX_LOCK_EXCLUSIVE, 0), 0);
	ipcx_lock_close(b);
	char link[112];
	snprintf(link, sizeof(link), "%s.link", path);
	test_cleanup_path(link);
	CHECK(symlink(path, link) == 0);
	CHECK_RC(ipcx_lock_open(&a, link, 0), -ELOOP);
}

/* ---- regions ----------------------------------------------------------- */

/* A System V segment made by ipcmk -M, attached by id; writes seen across processes. */
static void region_sysv_body(void)
{
	char out[256], url[64];
	int id;
	if (run_capture("ipcmk -M 8192 2>/dev/null", out, sizeof(out)) != 0)
		SKIP("ipcmk (util-linux) is not available");
	CHECK(sscanf(out, "Shared memory id: %d", &id) == 1);
	snprintf(url, sizeof(url), "sysvshm://id=%d", id);
	sync_cleanup_add('r', url);
	ipcx_region *r = NULL;
	CHECK_RC(ipcx_region_open(&r, url, 0, 0), 0);
	CHECK(ipcx_region_size(r) == 8192);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_region *cr = NULL;
		CHECK_RC(ipcx_region_open(&cr, url, 0, 0), 0);
		strcpy(ipcx_region_addr(cr), "written by the child");
		ipcx_region_close(cr);
		_exit(0);
	}
	wait_child_ok(pid);
	CHECK(strcmp(ipcx_region_addr(r), "written by the child") == 0);
	ipcx_region_close(r);

	snprintf(url, sizeof(url), "sysvshm://0x%08x", test_sysv_key(0x5f000000u));
	sync_cleanup_add('r', url);
	CHECK_RC(ipcx_region_open(&r, url, IPCX_CREATE | IPCX_EXCL, 4096), 0);
	char cmd[128], key[32], owner[64], perms[16];
	snprintf(cmd, sizeof(cmd), "ipcs -m | grep -i '^%.10s '", url + strlen("sysvshm://"));
	CHECK(run_capture(cmd, out, sizeof(out)) == 0);
	CHECK(sscanf(out, "%31s %d %63s %15s", key, &id, owner, perms) == 4);
	CHECK(strcmp(perms, "600") == 0);
	ipcx_region_close(r);
}

static void test_region_sysv(void)
{
	run_body(region_sysv_body);
}

/* A memfd region passed with SCM_RIGHTS: both sides see the same bytes. */
static void test_region_memfd(void)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		ipcx_region *r = NULL;
		CHECK_RC(ipcx_region_recv(&r, sv[1], 5000), 0);
		CHECK(ipcx_region_size(r) == 65536);
		CHECK(strcmp(ipcx_region_addr(r), "from the parent") == 0);
		strcpy((char *)ipcx_region_addr(r) + 4096, "from the child");
		ipcx_region_close(r);
		CHECK(write(sv[1], "k", 1) == 1);
		_exit(0);
	}
	close(sv[1]);
	ipcx_region *r = NULL;
	CHECK_RC(ipcx_region_open(&r, "memfd://ipcx-test", IPCX_CREATE, 65536), 0);
	strcpy(ipcx_region_addr(r), "from the parent");
	CHECK_RC(ipcx_region_send(r, sv[0]), 0);
	char c;
	CHECK(read(sv[0], &c, 1) == 1);
	CHECK(strcmp((char *)ipcx_region_addr(r) + 4096, "from the child") == 0);
	wait_child_ok(pid);
	ipcx_region_close(r);
	/* Plain bytes are not a region. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(write(sv[0], "0123456789abcdef", 16) == 16);
	CHECK_RC(ipcx_region_recv(&r, sv[1], 1000), -EPROTO);
	CHECK_RC(ipcx_region_recv(&r, sv[1], 0), -EAGAIN);
}

static void region_posix_body(void)
{
	char name[64], url[112];
	snprintf(url, sizeof(url), "posixshm:///%s?mode=0640",
		 test_unique(name, sizeof(name), "ipcx-region"));
	char plain[96];
	snprintf(plain, sizeof(plain), "posixshm:///%s", name);
	sync_cleanup_add('r', plain);
	ipcx_region *r = NULL, *again = NULL;
	CHECK_RC(ipcx_region_open(&r, plain, 0, 0), -ENOENT);
	CHECK_RC(ipcx_region_open(&r, url, IPCX_CREATE | IPCX_EXCL, 10000), 0);
	CHECK_RC(ipcx_region_open(&again, url, IPCX_CREATE | IPCX_EXCL, 10000), -EEXIST);
	CHECK_RC(ipcx_region_open(&again, plain, 0, 20000), -EINVAL);
	char path[128];
	struct stat st;
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	CHECK_RC(ipcx_region_open(&again, plain, 0, 0), 0);
	CHECK(ipcx_region_size(again) == 10000);
	((char *)ipcx_region_addr(r))[9999] = 'z';
	CHECK(((char *)ipcx_region_addr(again))[9999] == 'z');
	ipcx_region_close(again);
	ipcx_region_close(r);
	CHECK_RC(ipcx_region_unlink(plain), 0);
	CHECK_RC(ipcx_region_unlink(plain), -ENOENT);
}

static void test_region_posix(void)
{
	run_body(region_posix_body);
}

static const struct test_case tests[] = {
	{"sem_pv", test_sem_pv},
	{"sem_atomic", test_sem_atomic},
	{"sem_undo", test_sem_undo},
	{"sem_interop", test_sem_interop},
	{"psem", test_psem},
	{"mutex_owner_killed", test_mutex_owner_killed},
	{"mutex_unrecoverable", test_mutex_unrecoverable},
	{"lock_modes", test_lock_modes},
	{"region_sysv", test_region_sysv},
	{"region_memfd", test_region_memfd},
	{"region_posix", test_region_posix},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
