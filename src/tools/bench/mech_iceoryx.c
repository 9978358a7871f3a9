/*
 * mech_iceoryx.c - Eclipse iceoryx, the zero-copy shared-memory middleware
 * a user might pick instead of shm:// (issue 4), through its C binding: a
 * publisher and a subscriber per direction. "iceoryx" copies each message
 * into a loaned chunk and out of the received one, as a program whose
 * message lies in a buffer of its own must; "iceoryx loan" writes and
 * reads in place (compare with "ipcx shm:// loan"). Lossless, as a bounded
 * shm:// queue: a full subscriber queue holds the publisher back
 * (QueueFullPolicy_BLOCK_PRODUCER, ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER),
 * and it holds as many messages as the shm:// cells' queues (4, or 1 MiB
 * of them, at most iceoryx's 256).
 *
 * iceoryx needs its broker, RouDi (iox-roudi), running. Each cell starts
 * one of its own, with memory pools that fit the cell's messages, in the
 * cell's process group, and the teardown removes what it leaves in
 * /dev/shm and /tmp. Where a RouDi is already running on this machine the
 * cells are skipped rather than disturb it (a second RouDi would take its
 * shared memory over). A receiver polls for a chunk, and after a spin
 * waits in a WaitSet for the subscriber to have data; a sender whose
 * memory pool is empty (the receiver holds the chunks) spins too. Built
 * only when the C binding was found at build time.
 */
#include "bench.h"

#include <stdio.h>

#ifdef BENCH_HAVE_ICEORYX
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "iceoryx_binding_c/log.h"
#include "iceoryx_binding_c/publisher.h"
#include "iceoryx_binding_c/runtime.h"
#include "iceoryx_binding_c/subscriber.h"
#include "iceoryx_binding_c/wait_set.h"

/* Where RouDi listens, and the files it makes besides the per-user data segment. */
#define ROUDI_SOCKET "/tmp/roudi"
static const char *const roudi_files[] = {ROUDI_SOCKET, "/tmp/roudi.lock",
					  "/tmp/iox-unique-roudi.lock", "/dev/shm/iceoryx_mgmt"};

#define IOX_SERVICE "ipcx-bench"
#define IOX_MAX_QUEUE 256u  /* iceoryx's largest subscriber queue */
#define IOX_QUEUE_BYTES ((size_t)1 << 20)
#define IOX_CHUNK_SLACK 256u /* the chunk header and alignment */
#define IOX_SPINS 20000u     /* polls before a receiver waits in its WaitSet */
#define IOX_READY_MS 5000

static const char poll_only[] = "poll";

/* One process's end: a publisher to the peer and a subscriber from it. */
struct iox_end {
	iox_pub_storage_t pub_storage;
	iox_sub_storage_t sub_storage;
	iox_ws_storage_t ws_storage;
	iox_pub_t pub;
	iox_sub_t sub;
	iox_ws_t ws;
	void *loaned;        /* the chunk loaned for the next send */
	const void *taken;   /* the chunk received and not yet released */
};

/* Does this mechanism only poll (no WaitSet, so no wake-up for publishers to send)? */
static bool polls(const struct bench_link *l)
{
	return l->mech->data == poll_only;
}

static size_t queue_msgs(size_t size)
{
	size_t n = IOX_QUEUE_BYTES / size;
	return n < 4 ? 4 : n > IOX_MAX_QUEUE ? IOX_MAX_QUEUE : n;
}

/* Is a RouDi answering at its socket? */
static bool roudi_running(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", ROUDI_SOCKET);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool up = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return up;
}

/* Is iox-roudi on the PATH? */
static bool roudi_installed(void)
{
	const char *path = getenv("PATH");
	char dirs[4096], file[4200];
	snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(file, sizeof(file), "%s/iox-roudi", d);
		if (access(file, X_OK) == 0)
			return true;
	}
	return false;
}

static bool iox_check(const struct bench_mech *m, size_t size, char *why, size_t n)
{
	if (!roudi_installed())
		snprintf(why, n, "iox-roudi not found on the PATH (Debian: apt-get install iceoryx)");
	else if (roudi_running())
		snprintf(why, n, "a RouDi is already running here: not disturbing it");
	else
		return true;
	return false;
}

/* Writes RouDi's config, memory pools fitting two directions of messages of size bytes, to fd. */
static int write_config(int fd, size_t size)
{
	size_t chunk = size + IOX_CHUNK_SLACK, count = 2 * (queue_msgs(size) + 4) + 8;
	char text[256];
	int len = snprintf(text, sizeof(text),
			   "[general]\nversion = 1\n\n[[segment]]\n\n[[segment.mempool]]\n"
			   "size = %zu\ncount = %zu\n",
			   (chunk + 31) / 32 * 32, count);
	return write(fd, text, (size_t)len) == len ? 0 : -errno;
}

/* Waits until RouDi answers, or its process ended. */
static int roudi_wait_ready(pid_t pid, char *why, size_t n)
{
	for (int ms = 0; ms < IOX_READY_MS; ms += 5) {
		if (roudi_running())
			return 0;
		if (kill(pid, 0) < 0)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
	}
	return bench_fail(-ETIMEDOUT, why, n, "iox-roudi did not come up");
}

/*
 * setup starts the cell's RouDi, in the cell's process group (killed with
 * it), with a config in a temporary file (shared name[0], removed by the
 * teardown); name[1] is the cell's instance name.
 */
static int iox_setup(struct bench_link *l, char *why, size_t n)
{
	char base[96];
	bench_unique_name(base, sizeof(base), "iox");
	snprintf(l->shared->name[1], sizeof(l->shared->name[1]), "%s", base);
	snprintf(l->shared->name[0], sizeof(l->shared->name[0]), "/tmp/%s.toml", base);
	int fd = open(l->shared->name[0], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      0600);
	if (fd < 0)
		return bench_errno_fail(why, n, "creating the RouDi config");
	int rc = write_config(fd, l->size);
	close(fd);
	if (rc < 0)
		return bench_fail(rc, why, n, "writing the RouDi config: %s", strerror(-rc));
	pid_t pid = fork();
	if (pid < 0)
		return bench_errno_fail(why, n, "fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) { /* it prints what it reserves, whatever the log level */
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("iox-roudi", "iox-roudi", "-c", l->shared->name[0], "-l", "off", (char *)NULL);
		_exit(127);
	}
	l->shared->helper = pid;
	return roudi_wait_ready(pid, why, n);
}

/* The topic of the messages side from sends. */
static const char *topic(int from)
{
	return from == 0 ? "0to1" : "1to0";
}

/* Waits until cond(h) holds, polling, for at most IOX_READY_MS. */
static bool wait_until(bool (*cond)(void *), void *h)
{
	for (int ms = 0; ms < IOX_READY_MS; ms++) {
		if (cond(h))
			return true;
		nanosleep(&(struct timespec){.tv_nsec = 1000 * 1000}, NULL);
	}
	return false;
}

static bool pub_heard(void *h)
{
	return iox_pub_has_subscribers(h);
}

static bool sub_connected(void *h)
{
	return iox_sub_get_subscription_state(h) == SubscribeState_SUBSCRIBED;
}

static int open_pub(struct bench_link *l, struct iox_end *e, char *why, size_t n)
{
	iox_pub_options_t o;
	iox_pub_options_init(&o);
	o.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
	e->pub = iox_pub_init(&e->pub_storage, IOX_SERVICE, l->shared->name[1], topic(l->side), &o);
	if (!e->pub)
		return bench_fail(-EPROTO, why, n, "iox_pub_init failed");
	return 0;
}

static int open_sub(struct bench_link *l, struct iox_end *e, char *why, size_t n)
{
	iox_sub_options_t o;
	iox_sub_options_init(&o);
	o.queueCapacity = queue_msgs(l->size);
	o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
	e->sub = iox_sub_init(&e->sub_storage, IOX_SERVICE, l->shared->name[1], topic(!l->side),
			      &o);
	if (!e->sub)
		return bench_fail(-EPROTO, why, n, "iox_sub_init failed");
	if (polls(l))
		return 0;
	e->ws = iox_ws_init(&e->ws_storage);
	if (iox_ws_attach_subscriber_state(e->ws, e->sub, SubscriberState_HAS_DATA, 0, NULL) !=
	    WaitSetResult_SUCCESS)
		return bench_fail(-EPROTO, why, n, "iox_ws_attach_subscriber_state failed");
	return 0;
}

/*
 * open registers this process with RouDi (a runtime name of its own) and
 * makes the ends it uses: a one-way cell's sender only publishes and its
 * receiver only subscribes. It returns once each end is connected, so
 * that no message goes to a topic nobody hears yet.
 */
static int iox_open_side(struct bench_link *l, char *why, size_t n)
{
	char name[160];
	snprintf(name, sizeof(name), "%s-%d", l->shared->name[1], (int)getpid());
	iox_set_loglevel(Iceoryx_LogLevel_Error); /* not the segments it registers */
	iox_runtime_init(name);
	struct iox_end *e = calloc(1, sizeof(*e));
	if (!e)
		return bench_fail(-ENOMEM, why, n, "out of memory");
	l->p[0] = e;
	bool sends = l->side == 0 || !l->one_way, receives = l->side == 1 || !l->one_way;
	int rc = sends ? open_pub(l, e, why, n) : 0;
	if (rc == 0 && receives)
		rc = open_sub(l, e, why, n);
	if (rc < 0)
		return rc;
	if ((e->sub && !wait_until(sub_connected, e->sub)) ||
	    (e->pub && !wait_until(pub_heard, e->pub)))
		return bench_fail(-ETIMEDOUT, why, n, "iceoryx: the peer's end never connected");
	return 0;
}

static int iox_loan(struct bench_link *l, void **buf)
{
	struct iox_end *e = l->p[0];
	enum iox_AllocationResult r;
	while ((r = iox_pub_loan_chunk(e->pub, &e->loaned, (uint32_t)l->size)) !=
	       AllocationResult_SUCCESS)
		if (r != AllocationResult_RUNNING_OUT_OF_CHUNKS)
			return -ENOMEM; /* too large for the pools, or too many loans */
	*buf = e->loaned;
	return 0;
}

static int iox_commit(struct bench_link *l)
{
	struct iox_end *e = l->p[0];
	iox_pub_publish_chunk(e->pub, e->loaned);
	e->loaned = NULL;
	return 0;
}

static int iox_recv_loan(struct bench_link *l, const void **buf)
{
	struct iox_end *e = l->p[0];
	for (unsigned spins = 0;; spins++) {
		enum iox_ChunkReceiveResult r = iox_sub_take_chunk(e->sub, &e->taken);
		if (r == ChunkReceiveResult_SUCCESS)
			break;
		if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE)
			return -EPROTO;
		if (e->ws && spins >= IOX_SPINS) {
			iox_notification_info_t info[1];
			uint64_t missed;
			iox_ws_wait(e->ws, info, 1, &missed);
		}
	}
	*buf = e->taken;
	return 0;
}

static int iox_release(struct bench_link *l)
{
	struct iox_end *e = l->p[0];
	iox_sub_release_chunk(e->sub, e->taken);
	e->taken = NULL;
	return 0;
}

/* The copying use: into a loaned chunk, out of a received one. */
static int iox_send(struct bench_link *l, const void *buf)
{
	void *chunk;
	int rc = iox_loan(l, &chunk);
	if (rc < 0)
		return rc;
	memcpy(chunk, buf, l->size);
	return iox_commit(l);
}

static int iox_recv(struct bench_link *l, void *buf)
{
	const void *chunk;
	int rc = iox_recv_loan(l, &chunk);
	if (rc < 0)
		return rc;
	memcpy(buf, chunk, l->size);
	return iox_release(l);
}

static void iox_close_side(struct bench_link *l)
{
	struct iox_end *e = l->p[0];
	if (e) {
		if (e->ws)
			iox_ws_deinit(e->ws);
		if (e->sub)
			iox_sub_deinit(e->sub);
		if (e->pub)
			iox_pub_deinit(e->pub);
		free(e);
		l->p[0] = NULL;
	}
	iox_runtime_shutdown();
}

/* Removes the files under dir whose names start with prefix (this cell's runtimes' sockets). */
static void remove_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	size_t len = strlen(prefix);
	for (struct dirent *de; (de = readdir(d));)
		if (strncmp(de->d_name, prefix, len) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

/*
 * Has process pid ended (gone, or a zombie nobody reaped yet)? It was the
 * cell's child, not ours: kill(2) and /proc tell.
 */
static bool ended(pid_t pid)
{
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	char path[64], stat[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	ssize_t n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return true;
	stat[n] = '\0';
	const char *paren = strrchr(stat, ')');
	return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/*
 * teardown stops the cell's RouDi (killed with the cell's group already,
 * unless the cell failed to start) and, once it has ended and let go of
 * its lock files, removes what it and the cell's processes left.
 */
static void iox_teardown(const struct bench_shared *s)
{
	bench_unlink_names(s);
	if (s->helper <= 0)
		return;
	kill(s->helper, SIGKILL);
	for (int ms = 0; ms < 2000 && !ended(s->helper); ms++)
		nanosleep(&(struct timespec){.tv_nsec = 1000 * 1000}, NULL);
	for (size_t i = 0; i < sizeof(roudi_files) / sizeof(roudi_files[0]); i++)
		unlink(roudi_files[i]);
	struct passwd *pw = getpwuid(geteuid());
	if (pw) {
		char seg[300];
		snprintf(seg, sizeof(seg), "/dev/shm/%s", pw->pw_name);
		unlink(seg);
	}
	if (s->name[1][0])
		remove_prefixed("/tmp", s->name[1]);
}

/* What every iceoryx cell does, and the zero-copy calls of those that lend. */
#define IOX_CELL                                                                           \
	.group = "peer", .check = iox_check, .setup = iox_setup, .open = iox_open_side,    \
	.send = iox_send, .recv = iox_recv, .close = iox_close_side, .teardown = iox_teardown
#define IOX_LOANS                                                                          \
	.loan = iox_loan, .commit = iox_commit, .recv_loan = iox_recv_loan, .release = iox_release

const struct bench_mech bench_mech_iceoryx = {.name = "iceoryx", .fan = BENCH_FAN_IN, IOX_CELL};
const struct bench_mech bench_mech_iceoryx_loan = {.name = "iceoryx loan", IOX_CELL, IOX_LOANS};
/* Zero copy, polling only: no WaitSet, so no wake-up for a publisher to send. */
const struct bench_mech bench_mech_iceoryx_poll = {
    .name = "iceoryx poll", .data = poll_only, IOX_CELL, IOX_LOANS};
/* Publish-subscribe, as "ipcx shm:// broadcast": one publisher, N subscribers, each gets all. */
const struct bench_mech bench_mech_iceoryx_broadcast = {
    .name = "iceoryx broadcast", .fan = BENCH_FAN_OUT, IOX_CELL};
#else
static bool iox_missing(const struct bench_mech *m, size_t size, char *why, size_t n)
{
	snprintf(why, n, "not built (the iceoryx C binding was not found at build time)");
	return false;
}

#define IOX_CELL .group = "peer", .check = iox_missing
const struct bench_mech bench_mech_iceoryx = {.name = "iceoryx", .fan = BENCH_FAN_IN, IOX_CELL};
const struct bench_mech bench_mech_iceoryx_loan = {.name = "iceoryx loan", IOX_CELL};
const struct bench_mech bench_mech_iceoryx_poll = {.name = "iceoryx poll", IOX_CELL};
const struct bench_mech bench_mech_iceoryx_broadcast = {
    .name = "iceoryx broadcast", .fan = BENCH_FAN_OUT, IOX_CELL};
#endif
