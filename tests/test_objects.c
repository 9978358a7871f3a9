/*
 * test_objects.c - the object registry (src/core/objects.c) and the
 * inventory behind ipcx ls / stat / rm (src/tools/inventory/).
 *
 * Each test that writes records points XDG_RUNTIME_DIR at a directory of
 * its own, so it never sees or disturbs the records of anything else.
 */
#include "harness.h"
#include "inventory.h"

#include <dirent.h>
#include <fcntl.h>
#include <semaphore.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/stat.h>

/* The private XDG_RUNTIME_DIR of this test; the registry lives in its ipcx/. */
static char runtime[128];

static void private_runtime(void)
{
	snprintf(runtime, sizeof(runtime), "/tmp/ipcx-test-objects-%d", (int)getpid());
	CHECK(mkdir(runtime, 0700) == 0);
	CHECK(setenv("XDG_RUNTIME_DIR", runtime, 1) == 0);
}

/* drop_runtime removes the records and both directories. */
static void drop_runtime(void)
{
	char dir[256], path[600];
	snprintf(dir, sizeof(dir), "%s/ipcx", runtime);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_name[0] != '.')
			unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	rmdir(runtime);
}

static int count_record(const struct ipcx__object_rec *rec, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void test_registry_roundtrip(void)
{
	struct ipcx__object_rec rec;
	unsigned long long start;
	private_runtime();
	CHECK_RC(ipcx__object_register("fifo:///tmp/x?mode=0640", "fifo"), 0);
	CHECK_RC(ipcx__object_find("fifo:///tmp/x", &rec), 0);
	CHECK(strcmp(rec.kind, "fifo") == 0);
	CHECK(strcmp(rec.url, "fifo:///tmp/x") == 0);
	CHECK(rec.pid == getpid());
	CHECK_RC(ipcx__proc_start_time(getpid(), &start), 0);
	CHECK(rec.start == start);
	CHECK(rec.created > 0 && rec.created <= (long long)time(NULL));
	CHECK(!rec.lasting);
	CHECK_RC(ipcx__object_keep("fifo:///tmp/x"), 0);
	CHECK_RC(ipcx__object_find("fifo:///tmp/x", &rec), 0);
	CHECK(rec.lasting);
	CHECK_RC(ipcx__object_register_sysv("sysvmq", 42), 0);
	int n = 0;
	CHECK_RC(ipcx__object_each(count_record, &n), 0);
	CHECK(n == 2);
	ipcx__object_forget("fifo:///tmp/x");
	ipcx__object_forget_sysv("sysvmq", 42);
	ipcx__object_forget("fifo:///never/registered");
	CHECK_RC(ipcx__object_find("fifo:///tmp/x", &rec), -ENOENT);
	CHECK_RC(ipcx__object_keep("fifo:///tmp/x"), -ENOENT);
	n = 0;
	CHECK_RC(ipcx__object_each(count_record, &n), 0);
	CHECK(n == 0);
	drop_runtime();
}

static void test_runtime_dir_is_private(void)
{
	char dir[256], path[512];
	struct stat st;
	private_runtime();
	int dfd = ipcx__runtime_dir(path, sizeof(path));
	CHECK(dfd >= 0);
	close(dfd);
	snprintf(dir, sizeof(dir), "%s/ipcx", runtime);
	CHECK(strcmp(path, dir) == 0);
	CHECK(lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	/* A directory others may enter is refused, and so is a symlink to one. */
	CHECK(chmod(dir, 0755) == 0);
	CHECK_RC(ipcx__object_register("fifo:///tmp/y", "fifo"), -EPERM);
	CHECK(strstr(ipcx_errmsg(), "open to others"));
	CHECK(rmdir(dir) == 0);
	CHECK(symlink("/tmp", dir) == 0);
	CHECK(ipcx__object_register("fifo:///tmp/y", "fifo") < 0);
	CHECK(unlink(dir) == 0);
	drop_runtime();
}

static void test_process_liveness(void)
{
	unsigned long long start;
	CHECK_RC(ipcx__proc_start_time(getpid(), &start), 0);
	/* Field 22, not its neighbour 21 (itrealvalue), which is always 0. */
	CHECK(start != 0);
	CHECK(ipcx__proc_alive(getpid(), start));
	CHECK(ipcx__proc_alive(getpid(), 0));
	/* The same pid with another start time is another process: pid reuse. */
	CHECK(!ipcx__proc_alive(getpid(), start + 1));
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	/* An exited child not yet waited for is a zombie: not alive. */
	for (int i = 0; i < 200 && ipcx__proc_start_time(child, &start) == 0; i++)
		usleep(5000);
	CHECK_RC(ipcx__proc_start_time(child, &start), -ESRCH);
	CHECK(!ipcx__proc_alive(child, 0));
	CHECK(waitpid(child, NULL, 0) == child);
	CHECK(!ipcx__proc_alive(child, 0));
}

static void test_fifo_transport_registers(void)
{
	char name[64], path[128], url[160];
	struct ipcx__object_rec rec;
	ipcx_chan *ch;
	private_runtime();
	snprintf(path, sizeof(path), "/tmp/%s", test_unique(name, sizeof(name), "objects-fifo"));
	snprintf(url, sizeof(url), "fifo://%s", path);
	test_cleanup_path(path);
	CHECK_RC(ipcx_open(&ch, url, IPCX_RECV | IPCX_CREATE | IPCX_EXCL, 0), 0);
	ipcx_close(ch);
	CHECK_RC(ipcx__object_find(url, &rec), 0);
	CHECK(strcmp(rec.kind, "fifo") == 0 && rec.pid == getpid());
	CHECK_RC(ipcx_unlink(url), 0);
	CHECK_RC(ipcx__object_find(url, &rec), -ENOENT);
	drop_runtime();
}

/* scan_find takes a fresh snapshot into l and returns the object at url, or NULL. */
static struct inv_obj *scan_find(struct inv_list *l, const char *url)
{
	CHECK_RC(inv_scan(l), 0);
	return inv_find(l, url);
}

/* hold_fifo forks a child that creates the FIFO at url, holds it open and waits. */
static pid_t hold_fifo(const char *url)
{
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t child = fork();
	if (child == 0) {
		ipcx_chan *ch;
		close(ready[0]);
		if (ipcx_open(&ch, url, IPCX_RECV | IPCX_CREATE, 0) < 0)
			_exit(1);
		CHECK(write(ready[1], "", 1) == 1);
		for (;;)
			pause();
	}
	char c;
	close(ready[1]);
	CHECK(read(ready[0], &c, 1) == 1);
	close(ready[0]);
	return child;
}

static void test_inventory_fifo_states(void)
{
	char name[64], path[128], url[160];
	struct inv_list l;
	private_runtime();
	snprintf(path, sizeof(path), "/tmp/%s", test_unique(name, sizeof(name), "objects-held"));
	snprintf(url, sizeof(url), "fifo://%s", path);
	test_cleanup_path(path);
	pid_t child = hold_fifo(url);
	struct inv_obj *o = scan_find(&l, url);
	CHECK(o && o->state == INV_LIVE && o->attached == 1 && o->holders[0] == child);
	CHECK(o->registered && o->creator.pid == child);
	inv_free(&l);
	/* Killed, the holder and creator leaves the FIFO behind: stale. */
	kill(child, SIGKILL);
	CHECK(waitpid(child, NULL, 0) == child);
	o = scan_find(&l, url);
	CHECK(o && o->state == INV_STALE && o->attached == 0);
	inv_free(&l);
	/* Made to last (ipcx mk), the same FIFO is idle. */
	CHECK_RC(ipcx__object_keep(url), 0);
	o = scan_find(&l, url);
	CHECK(o && o->state == INV_IDLE && o->lasting);
	CHECK_RC(inv_remove(o), 0);
	inv_free(&l);
	CHECK(access(path, F_OK) < 0);
	struct ipcx__object_rec rec;
	CHECK_RC(ipcx__object_find(url, &rec), -ENOENT);
	drop_runtime();
}

static void test_inventory_orphan_records(void)
{
	struct inv_list l;
	private_runtime();
	CHECK_RC(ipcx__object_register("fifo:///tmp/ipcx-objects-gone", "fifo"), 0);
	CHECK(scan_find(&l, "fifo:///tmp/ipcx-objects-gone") == NULL);
	CHECK(l.norphans == 1 && strcmp(l.orphans[0], "fifo:///tmp/ipcx-objects-gone") == 0);
	inv_free(&l);
	drop_runtime();
}

static void test_inventory_sysvmq(void)
{
	char url[64], by_key[64];
	struct inv_list l;
	key_t key = (key_t)(0x1e7b0000 | (getpid() & 0xffff));
	int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0)
		SKIP("msgget: %s", strerror(errno));
	snprintf(url, sizeof(url), "sysvmq://id=%d", id);
	snprintf(by_key, sizeof(by_key), "sysvmq://0x%08x", (unsigned)key);
	test_cleanup_url(url);
	struct {
		long type;
		char text[5];
	} msg = {7, "hello"};
	CHECK(msgsnd(id, &msg, sizeof(msg.text), 0) == 0);
	struct inv_obj *o = scan_find(&l, url);
	CHECK(o && o->kind == &inv_sysvmq_kind && o->id == id && o->key == key);
	CHECK(o->messages == 1 && o->size == 5 && o->capacity > 0 && o->mode == 0600);
	CHECK(o->last_send.pid == getpid() && o->last_send.time > 0);
	CHECK(o->attached == -1 && o->state == INV_LIVE); /* its last sender runs */
	CHECK(inv_find(&l, by_key) == o);
	CHECK_RC(inv_remove(o), 0);
	inv_free(&l);
	CHECK(scan_find(&l, url) == NULL);
	inv_free(&l);
}

static void test_inventory_posix_shm_and_sem(void)
{
	char name[64], shm_name[80], sem_name[80], shm_url[96], sem_url[96];
	struct inv_list l;
	test_unique(name, sizeof(name), "ipcx-objects");
	snprintf(shm_name, sizeof(shm_name), "/%s", name);
	snprintf(sem_name, sizeof(sem_name), "/%s", name);
	snprintf(shm_url, sizeof(shm_url), "posixshm://%s", shm_name);
	snprintf(sem_url, sizeof(sem_url), "sem://%s", sem_name);
	int fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, 12345) == 0);
	close(fd);
	sem_t *s = sem_open(sem_name, O_CREAT | O_EXCL, 0600, 1);
	CHECK(s != SEM_FAILED);
	struct inv_obj *o = scan_find(&l, shm_url);
	CHECK(o && o->kind == &inv_posixshm_kind && o->size == 12345 && o->attached == 0);
	CHECK(o->state == INV_IDLE);
	CHECK_RC(inv_remove(o), 0);
	o = inv_find(&l, sem_url);
	/* Our own mapping is not counted: the inventory leaves itself out. */
	CHECK(o && o->kind == &inv_sem_kind);
	CHECK_RC(inv_remove(o), 0);
	inv_free(&l);
	sem_close(s);
	CHECK(scan_find(&l, shm_url) == NULL && inv_find(&l, sem_url) == NULL);
	inv_free(&l);
}

/* scribble writes len bytes of value at off of the segment behind o. */
static void scribble(const struct inv_obj *o, uint64_t off, const void *value, size_t len)
{
	int fd = open(o->path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0 && pwrite(fd, value, len, (off_t)off) == (ssize_t)len);
	close(fd);
}

/*
 * An shm queue shows its waiting messages, payload bytes, pattern and open
 * channels; a record that breaks the format makes the counts unknown, and
 * a header that does not add up makes the file plain shared memory.
 */
static void test_inventory_shm_queue(void)
{
	char name[64], url[96];
	ipcx_chan *ch;
	struct inv_list l;
	test_unique(name, sizeof(name), "ipcx-objects-shm");
	snprintf(url, sizeof(url), "shm://%s", name);
	test_cleanup_url(url);
	int rc = ipcx_open(&ch, url, IPCX_SEND | IPCX_CREATE, 0);
	if (rc == -ENOTSUP)
		SKIP("no shm transport");
	CHECK_RC(rc, 0);
	for (int i = 0; i < 3; i++)
		CHECK_RC(ipcx_send(ch, "hello", 5, 1, 0), 0);
	struct inv_obj *o = scan_find(&l, url);
	CHECK(o && o->kind == &inv_shm_kind && o->messages == 3 && o->size == 15);
	CHECK(o->peers == 1 && strcmp(o->pattern, "queue") == 0);
	struct inv_shm_peer peers[INV_SHM_MAX_PEERS];
	CHECK(inv_shm_peers(o, peers, INV_SHM_MAX_PEERS) == 1);
	CHECK(peers[0].pid == getpid() && peers[0].alive && peers[0].role == IPCX_SEND);
	CHECK(peers[0].msgs_sent == 3 && peers[0].bytes_sent == 15);
	ipcx_close(ch);
	struct ipcx__shm_hdr h;
	int fd = open(o->path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h));
	close(fd);
	uint32_t bad_span = 3;
	scribble(o, h.ring_off + offsetof(struct ipcx__shm_rec, span), &bad_span, sizeof(bad_span));
	inv_free(&l);
	o = scan_find(&l, url);
	CHECK(o && o->kind == &inv_shm_kind && o->messages == -1 && o->size == -1);
	uint32_t bad_peers = 100000;
	scribble(o, offsetof(struct ipcx__shm_hdr, max_peers), &bad_peers, sizeof(bad_peers));
	inv_free(&l);
	CHECK(scan_find(&l, url) == NULL);
	char as_posix[128];
	snprintf(as_posix, sizeof(as_posix), "posixshm:///ipcx.%s", name);
	CHECK(inv_find(&l, as_posix) != NULL);
	inv_free(&l);
}

/*
 * expect_registered checks that the inventory shows the object at url as
 * made by this process, live while we run (or held), with the capability
 * column blank: semaphores and regions are not transports.
 */
static void expect_registered(const char *url, const struct inv_kind *kind)
{
	struct inv_list l;
	struct ipcx__object_rec rec;
	char caps[256];
	CHECK_RC(ipcx__object_find(url, &rec), 0);
	struct inv_obj *o = scan_find(&l, url);
	CHECK(o && o->kind == kind && o->registered && !o->lasting);
	CHECK(o->creator.pid == getpid() && o->creator_start != 0);
	CHECK(o->state != INV_STALE);
	CHECK(!inv_format_caps(o, caps, sizeof(caps)) && caps[0] == '\0');
	inv_free(&l);
}

/* Semaphores and regions that ipcx makes are registered and forgotten. */
static void test_sync_objects_register(void)
{
	char name[64], set_url[64], id_url[64], sem_url[96], region_url[96];
	ipcx_sem *set, *sem;
	ipcx_region *region;
	private_runtime();
	key_t key = (key_t)(0x1e7c0000 | (getpid() & 0xffff));
	snprintf(set_url, sizeof(set_url), "sysvsem://0x%08x", (unsigned)key);
	test_unique(name, sizeof(name), "ipcx-objects-sync");
	snprintf(sem_url, sizeof(sem_url), "sem:///%s", name);
	snprintf(region_url, sizeof(region_url), "posixshm:///%s", name);
	CHECK_RC(ipcx_sem_open(&set, set_url, IPCX_CREATE | IPCX_EXCL, 2, 0), 0);
	snprintf(id_url, sizeof(id_url), "sysvsem://id=%d", semget(key, 0, 0));
	CHECK_RC(ipcx_sem_open(&sem, sem_url, IPCX_CREATE | IPCX_EXCL, 1, 0), 0);
	CHECK_RC(ipcx_region_open(&region, region_url, IPCX_CREATE | IPCX_EXCL, 4096), 0);
	expect_registered(id_url, &inv_sysvsem_kind);
	expect_registered(sem_url, &inv_sem_kind);
	expect_registered(region_url, &inv_posixshm_kind);
	ipcx_sem_close(set);
	ipcx_sem_close(sem);
	ipcx_region_close(region);
	struct ipcx__object_rec rec;
	CHECK_RC(ipcx_sem_unlink(set_url), 0);
	CHECK_RC(ipcx_sem_unlink(sem_url), 0);
	CHECK_RC(ipcx_region_unlink(region_url), 0);
	CHECK_RC(ipcx__object_find(id_url, &rec), -ENOENT);
	CHECK_RC(ipcx__object_find(sem_url, &rec), -ENOENT);
	CHECK_RC(ipcx__object_find(region_url, &rec), -ENOENT);
	drop_runtime();
}

static void test_formats_and_limits(void)
{
	char buf[32];
	CHECK(strcmp(inv_human_size(-1, buf, sizeof(buf)), "-") == 0);
	CHECK(strcmp(inv_human_size(512, buf, sizeof(buf)), "512") == 0);
	CHECK(strcmp(inv_human_size(1536, buf, sizeof(buf)), "1.5K") == 0);
	CHECK(strcmp(inv_human_size(16 << 20, buf, sizeof(buf)), "16M") == 0);
	struct inv_limit lim[INV_MAX_LIMITS];
	size_t n = inv_limits(lim, INV_MAX_LIMITS);
	CHECK(n >= 16);
	CHECK(strcmp(lim[0].name, "kernel.msgmax") == 0 && lim[0].known && lim[0].value > 0);
	struct inv_filter f = {0};
	CHECK_RC(inv_filter_kinds(&f, "fifo,sysvmq"), 0);
	CHECK(f.nkinds == 2);
	CHECK_RC(inv_filter_kinds(&f, "fifo,nope"), -EINVAL);
	CHECK(strstr(ipcx_errmsg(), "'nope'"));
}

static const struct test_case tests[] = {
	{"registry_roundtrip", test_registry_roundtrip},
	{"runtime_dir_is_private", test_runtime_dir_is_private},
	{"process_liveness", test_process_liveness},
	{"fifo_transport_registers", test_fifo_transport_registers},
	{"inventory_fifo_states", test_inventory_fifo_states},
	{"inventory_orphan_records", test_inventory_orphan_records},
	{"inventory_sysvmq", test_inventory_sysvmq},
	{"inventory_posix_shm_and_sem", test_inventory_posix_shm_and_sem},
	{"inventory_shm_queue", test_inventory_shm_queue},
	{"sync_objects_register", test_sync_objects_register},
	{"formats_and_limits", test_formats_and_limits},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
