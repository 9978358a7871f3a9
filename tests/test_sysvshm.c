/*
 * test_sysvshm.c - sysvshm://: the System V segment + semaphore ring.
 */
#include "testutil.h"

#include <stdint.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

/* ring_key makes a URL for a key unique to this test process and returns the key. */
static unsigned ring_key(char *url, size_t size, const char *opts)
{
	return test_sysv_url(url, size, "sysvshm", 0x5d000000u, opts);
}

static int ipcs_perms(const char *flag, unsigned key, char *perms)
{
	char cmd[128], out[256], k[32], owner[64];
	int id;
	snprintf(cmd, sizeof(cmd), "ipcs %s | grep -i '^0x%08x '", flag, key);
	(void)run_capture(cmd, out, sizeof(out));
	return sscanf(out, "%31s %d %63s %15s", k, &id, owner, perms) == 4 ? 0 : -1;
}

/*
 * A process killed while holding the ring's mutex (taken with SEM_UNDO, as
 * ipcx takes it) does not wedge the others: the kernel gives it back.
 */
static void test_killed_holder(void)
{
	char url[96];
	unsigned key = ring_key(url, sizeof(url), "?maxmsg=64&cap=256");
	ipcx_chan *ch = NULL;
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND | IPCX_RECV | IPCX_CREATE | IPCX_EXCL, 0), 0);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_caps_of(ch, &caps), 0);
	CHECK(caps.max_msg == 64 && caps.capacity == 256);
	int semid = semget((key_t)key, 0, 0);
	CHECK(semid >= 0);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct sembuf take[2] = {{1, -1, SEM_UNDO}, {0, -1, SEM_UNDO}};
		CHECK(semop(semid, take, 2) == 0);
		CHECK(write(ready[1], "x", 1) == 1);
		pause();
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK_RC(ipcx_send(ch, "blocked", 7, 1, 20), -ETIMEDOUT);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	for (int i = 0; i < 4; i++)
		CHECK_RC(ipcx_send(ch, "free", 4, 1 + i, 1000), 0);
	CHECK_RC(ipcx_send(ch, "x", 1, 1, 0), -EAGAIN);
	char buf[64];
	long type;
	for (int i = 0; i < 4; i++) {
		CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, &type, 1000), 4);
		CHECK(type == 1 + i && memcmp(buf, "free", 4) == 0);
	}
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0), -ENOMSG);
	ipcx_close(ch);
}

/* ipcs lists the segment and the semaphore set, both mode 600. */
static void test_ipcs_mode(void)
{
	char url[96], perms[16];
	unsigned key = ring_key(url, sizeof(url), "");
	ipcx_chan *ch = NULL;
	CHECK_RC(ipcx_open(&ch, url, IPCX_RECV | IPCX_CREATE, 0), 0);
	CHECK(ipcs_perms("-m", key, perms) == 0 && strcmp(perms, "600") == 0);
	CHECK(ipcs_perms("-s", key, perms) == 0 && strcmp(perms, "600") == 0);
	ipcx_close(ch);
	CHECK_RC(ipcx_unlink(url), 0);
	CHECK_RC(ipcx_unlink(url), -ENOENT);
}

/* A segment and set under the key that are not an ipcx ring: -EPROTO, no crash. */
static void test_foreign_segment(void)
{
	char url[96];
	unsigned key = ring_key(url, sizeof(url), "");
	int shmid = shmget((key_t)key, 4096, IPC_CREAT | IPC_EXCL | 0600);
	int semid = semget((key_t)key, 3, IPC_CREAT | IPC_EXCL | 0600);
	CHECK(shmid >= 0 && semid >= 0);
	void *p = shmat(shmid, NULL, 0);
	CHECK(p != (void *)-1);
	memset(p, 0xff, 4096);
	shmdt(p);
	ipcx_chan *ch = NULL;
	CHECK_RC(ipcx_open(&ch, url, IPCX_RECV, 0), -EPROTO);
	CHECK_RC(ipcx_open(&ch, url, IPCX_RECV | IPCX_CREATE | IPCX_EXCL, 0), -EEXIST);
}

/*
 * Another process rewrites the header of a ring that is open: the geometry
 * checked at open is what bounds every slot, so a head past the ring or a
 * slot length past the slot size is -EPROTO, never a read out of bounds.
 */
static void test_header_rewritten(void)
{
	char url[96];
	unsigned key = ring_key(url, sizeof(url), "?maxmsg=64&cap=256");
	ipcx_chan *ch = NULL;
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND | IPCX_RECV | IPCX_CREATE | IPCX_EXCL, 0), 0);
	CHECK_RC(ipcx_send(ch, "hello", 5, 3, 0), 0);
	int shmid = shmget((key_t)key, 0, 0);
	CHECK(shmid >= 0);
	uint32_t *h = shmat(shmid, NULL, 0); /* magic version nslots slot_size head tail */
	CHECK(h != (void *)-1);
	h[2] = 32767;
	h[3] = 1u << 30;
	h[4] = 30000; /* head: far past the 4 slots of the segment */
	static char buf[4096];
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0), -EPROTO);
	CHECK_RC(ipcx_send(ch, "x", 1, 1, 0), 0); /* the private nslots bounds the tail */
	h[4] = 0;
	uint64_t *len0 = (uint64_t *)(h + 6);
	*len0 = 200; /* under the forged slot size, over the real one */
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0), -EPROTO);
	*len0 = 5;
	long type = 0;
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, &type, 0), 5);
	CHECK(type == 3 && memcmp(buf, "hello", 5) == 0);
	shmdt(h);
	ipcx_close(ch);
}

static const struct test_case tests[] = {
	{"header_rewritten", test_header_rewritten},
	{"killed_holder", test_killed_holder},
	{"ipcs_mode", test_ipcs_mode},
	{"foreign_segment", test_foreign_segment},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
