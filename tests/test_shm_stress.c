/*
 * test_shm_stress.c - many sender and receiver processes on one shm://
 * queue: every message carries an id and a checksum, every delivery is
 * counted, and nothing may be lost or delivered twice. The crash variant
 * SIGKILLs senders and receivers at random points (with copy and loan
 * calls in flight) and restarts them; the survivors must carry on, no
 * message may arrive twice, and at most one message may be lost per
 * receiver killed (the one it held when it died).
 */
#include "harness.h"

#include <stdatomic.h>
#include <stdint.h>

#define MAX_IDS 60000
#define MAX_LEN 600

struct board {
	_Atomic unsigned next_id;    /* ids handed to senders */
	_Atomic unsigned received;   /* deliveries */
	_Atomic unsigned bad;        /* checksum or header mismatches */
	_Atomic int senders_done;
	_Atomic unsigned char seen[MAX_IDS];
	_Atomic unsigned char sent[MAX_IDS];
};

static struct board *board;

struct msg {
	uint32_t id, len, sum, pad;
	unsigned char body[MAX_LEN];
};

static uint32_t checksum(const unsigned char *p, size_t n, uint32_t id)
{
	uint32_t h = 2166136261u ^ id;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static size_t make(struct msg *m, uint32_t id)
{
	m->id = id;
	m->len = (id * 2654435761u) % MAX_LEN;
	for (uint32_t i = 0; i < m->len; i++)
		m->body[i] = (unsigned char)(id ^ (i * 31));
	m->sum = checksum(m->body, m->len, id);
	return offsetof(struct msg, body) + m->len;
}

static void record(const struct msg *m, size_t n)
{
	if (n < offsetof(struct msg, body) || m->id >= MAX_IDS ||
	    n != offsetof(struct msg, body) + m->len || m->len > MAX_LEN ||
	    checksum(m->body, m->len, m->id) != m->sum) {
		atomic_fetch_add(&board->bad, 1);
		return;
	}
	atomic_fetch_add(&board->seen[m->id], 1);
	atomic_fetch_add(&board->received, 1);
}

/* Sends ids until total are handed out; odd ids through a loan. With reopen, as receiver() does. */
static void sender(const char *url, unsigned total, unsigned reopen)
{
	ipcx_chan *tx = NULL;
	CHECK_RC(ipcx_open(&tx, url, IPCX_SEND, 1000), 0);
	struct msg m;
	for (unsigned i = 0;; i++) {
		if (reopen && i % reopen == reopen - 1) {
			ipcx_close(tx);
			CHECK_RC(ipcx_open(&tx, url, IPCX_SEND, 1000), 0);
		}
		unsigned id = atomic_fetch_add(&board->next_id, 1);
		if (id >= total)
			break;
		size_t n = make(&m, id);
		long type = 1 + id % 5;
		if (id % 2) {
			void *buf;
			CHECK_RC(ipcx_loan(tx, n, &buf, -1), 0);
			memcpy(buf, &m, n);
			CHECK_RC(ipcx_commit(tx, n, type), 0);
		} else {
			CHECK_RC(ipcx_send(tx, &m, n, type, -1), 0);
		}
		atomic_store(&board->sent[id], 1);
	}
	ipcx_close(tx);
	_exit(0);
}

/*
 * Receives with selector until the senders are done and the queue stays
 * empty; with reopen, closes its channel and opens a new one every reopen
 * receives (so that a queue's sole-receiver lease keeps changing hands).
 */
static void receiver(const char *url, long selector, unsigned reopen)
{
	ipcx_chan *rx = NULL;
	CHECK_RC(ipcx_open(&rx, url, IPCX_RECV, 1000), 0);
	struct msg m;
	for (unsigned i = 0;; i++) {
		if (reopen && i % reopen == reopen - 1) {
			ipcx_close(rx);
			CHECK_RC(ipcx_open(&rx, url, IPCX_RECV, 1000), 0);
		}
		ssize_t n;
		if (i % 3 == 0) {
			const void *buf;
			n = ipcx_recv_loan(rx, &buf, selector, NULL, 50);
			if (n >= 0) {
				memcpy(&m, buf, (size_t)n < sizeof(m) ? (size_t)n : sizeof(m));
				CHECK_RC(ipcx_release(rx), 0);
			}
		} else {
			n = ipcx_recv(rx, &m, sizeof(m), selector, NULL, 50);
		}
		if (n >= 0)
			record(&m, (size_t)n);
		else if (n == -ETIMEDOUT && atomic_load(&board->senders_done))
			break;
		else if (n != -ETIMEDOUT)
			CHECK_RC(n, 0);
	}
	ipcx_close(rx);
	_exit(0);
}

struct role {
	pid_t pid;
	long selector; /* receivers */
	int is_sender;
	unsigned reopen; /* messages between reopening the channel, 0 = never */
};

static pid_t start(const struct role *r, const char *url, unsigned total)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (r->is_sender)
			sender(url, total, r->reopen);
		receiver(url, r->selector, r->reopen);
	}
	CHECK(pid > 0);
	return pid;
}

/* A role that ended before its kill must have ended well: a failed check is not a kill. */
static void ended_well(int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		test_fail(__FILE__, __LINE__, "a role failed (exit status %d) before it was killed",
			  WEXITSTATUS(status));
}

static void wait_ok(pid_t pid)
{
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * Runs the roles on a fresh queue with opts until total ids are sent,
 * killing a random role kills times along the way, and checks the board.
 */
static void run(const char *opts, struct role *roles, int n, unsigned total, int kills)
{
	board = mmap(NULL, sizeof(*board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	CHECK(board != MAP_FAILED);
	char name[96], url[256];
	test_unique(name, sizeof(name), "shmstress");
	snprintf(url, sizeof(url), "shm://%s?%s", name, opts);
	char plain[128];
	snprintf(plain, sizeof(plain), "shm://%s", name);
	test_cleanup_url(plain);
	ipcx_chan *keep = NULL;
	CHECK_RC(ipcx_open(&keep, url, IPCX_SEND | IPCX_CREATE | IPCX_EXCL, 0), 0);
	ipcx_close(keep); /* the queue stays; a one-to-one queue needs the sender role free */
	for (int i = 0; i < n; i++)
		roles[i].pid = start(&roles[i], url, total);
	unsigned seed = (unsigned)getpid(), receiver_kills = 0;
	for (int k = 0; k < kills; k++) {
		nanosleep(&(struct timespec){.tv_nsec = (long)(rand_r(&seed) % 1500 + 100) * 1000},
			  NULL);
		struct role *r = &roles[rand_r(&seed) % (unsigned)n];
		if (!r->pid)
			continue; /* a sender that finished */
		kill(r->pid, SIGKILL);
		int status;
		CHECK(waitpid(r->pid, &status, 0) == r->pid);
		ended_well(status);
		if (!r->is_sender && WIFSIGNALED(status))
			receiver_kills++;
		if (!r->is_sender || atomic_load(&board->next_id) < total)
			r->pid = start(r, url, total);
		else
			r->pid = 0;
	}
	for (int i = 0; i < n; i++)
		if (roles[i].is_sender && roles[i].pid)
			wait_ok(roles[i].pid);
	atomic_store(&board->senders_done, 1);
	for (int i = 0; i < n; i++)
		if (!roles[i].is_sender)
			wait_ok(roles[i].pid);

	unsigned dup = 0, lost = 0, sent = 0;
	for (unsigned id = 0; id < total; id++) {
		dup += board->seen[id] > 1;
		lost += board->sent[id] && !board->seen[id];
		sent += board->sent[id];
	}
	if (dup || board->bad || lost > receiver_kills)
		test_fail(__FILE__, __LINE__,
			  "%u sent, %u received, %u duplicated, %u corrupt, %u lost (%u receivers killed)",
			  sent, board->received, dup, board->bad, lost, receiver_kills);
	CHECK(kills || sent == total);
	printf("  %u sent, %u received, %u lost, %d kills (%u of receivers)\n", sent,
	       board->received, lost, kills, receiver_kills);
}

static void test_many_to_many(void)
{
	struct role roles[] = {{.is_sender = 1}, {.is_sender = 1}, {.is_sender = 1}, {0}, {0}};
	run("cap=16KiB&maxmsg=1KiB", roles, 5, 30000, 0);
}

static void test_typed_mix(void)
{
	struct role roles[] = {{.is_sender = 1}, {.is_sender = 1}, {.selector = 0},
			       {.selector = -3}, {.selector = 5}};
	run("cap=16KiB&maxmsg=1KiB", roles, 5, 20000, 0);
}

static void test_one_to_one(void)
{
	struct role roles[] = {{.is_sender = 1}, {0}};
	run("cap=8KiB&maxmsg=1KiB&pattern=spsc", roles, 2, 30000, 0);
}

/* The one-to-one receiver publishes the room it freed in batches: a killed one must not leave its messages to be read again. */
static void test_one_to_one_kill_at_random(void)
{
	struct role roles[] = {{.is_sender = 1}, {0}};
	run("cap=8KiB&maxmsg=1KiB&pattern=spsc", roles, 2, 40000, 100);
}

/*
 * A queue with one sender and one receiver: both hold their leases (they
 * reserve with plain stores and receive without claims) when they are
 * killed, and their successors take the leases over.
 */
static void test_queue_one_each_kill_at_random(void)
{
	struct role roles[] = {{.is_sender = 1}, {0}};
	run("cap=8KiB&maxmsg=1KiB", roles, 2, 40000, 100);
}

/* Three senders in lanes of their own and one receiver, killed and restarted at random. */
static void test_mpsc_kill_at_random(void)
{
	struct role roles[] = {{.is_sender = 1}, {.is_sender = 1}, {.is_sender = 1}, {0}};
	run("cap=8KiB&maxmsg=1KiB&pattern=mpsc", roles, 4, 40000, 100);
}

/*
 * Two senders and two receivers that keep closing and reopening: the
 * sole-sender and sole-receiver leases move between them, and nothing is
 * read twice or lost.
 */
static void test_lease_churn(void)
{
	struct role roles[] = {{.is_sender = 1, .reopen = 89}, {.is_sender = 1, .reopen = 53},
			       {.reopen = 97}, {.reopen = 61}};
	run("cap=8KiB&maxmsg=1KiB", roles, 4, 40000, 0);
}

static void test_kill_at_random(void)
{
	struct role roles[] = {{.is_sender = 1}, {.is_sender = 1}, {0}, {0}, {.selector = -4}};
	run("cap=8KiB&maxmsg=1KiB", roles, 5, 60000, 150);
}

/*
 * A broadcast subscriber (policy=block): every message from the one it
 * joined at, in order. A gap is allowed only where the sender died before
 * its send returned (sent[] not set), never over a message that was sent.
 */
static void subscriber(const char *url)
{
	ipcx_chan *rx = NULL;
	CHECK_RC(ipcx_open(&rx, url, IPCX_RECV, 1000), 0);
	struct msg m;
	long last = -1;
	for (unsigned i = 0;; i++) {
		ssize_t n;
		if (i % 3 == 0) {
			const void *buf;
			n = ipcx_recv_loan(rx, &buf, 0, NULL, 50);
			if (n >= 0) {
				memcpy(&m, buf, (size_t)n < sizeof(m) ? (size_t)n : sizeof(m));
				CHECK_RC(ipcx_release(rx), 0);
			}
		} else {
			n = ipcx_recv(rx, &m, sizeof(m), 0, NULL, 50);
		}
		if (n == -ETIMEDOUT && atomic_load(&board->senders_done))
			break;
		if (n == -ETIMEDOUT)
			continue;
		CHECK(n >= 0);
		record(&m, (size_t)n);
		if (m.id >= MAX_IDS || (long)m.id <= last) {
			atomic_fetch_add(&board->bad, 1); /* twice, or out of order */
			continue;
		}
		for (long id = last + 1; last >= 0 && id < (long)m.id; id++)
			if (atomic_load(&board->sent[id]))
				atomic_fetch_add(&board->bad, 1); /* a sent message skipped */
		last = m.id;
	}
	ipcx_close(rx);
	_exit(0);
}

/*
 * pattern=broadcast, policy=block: one sender (holding the sole-sender
 * lease) and two subscribers, SIGKILLed at random and restarted. A killed
 * subscriber holds the sender back until it is reaped; a restarted one
 * joins at the tail; no subscriber ever skips a message that was sent or
 * sees one twice.
 */
static void test_broadcast_kill_at_random(void)
{
	enum { SUBS = 2, TOTAL = 30000, KILLS = 100 };
	board = mmap(NULL, sizeof(*board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	CHECK(board != MAP_FAILED);
	char name[96], url[256], plain[128];
	test_unique(name, sizeof(name), "shmstress");
	snprintf(url, sizeof(url), "shm://%s?cap=4KiB&maxmsg=1KiB&pattern=broadcast", name);
	snprintf(plain, sizeof(plain), "shm://%s", name);
	test_cleanup_url(plain);
	ipcx_chan *keep = NULL;
	CHECK_RC(ipcx_open(&keep, url, IPCX_SEND | IPCX_CREATE | IPCX_EXCL, 0), 0);
	ipcx_close(keep);
	pid_t pids[1 + SUBS];
	for (int i = 0; i < 1 + SUBS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			if (i == 0)
				sender(url, TOTAL, 0);
			subscriber(url);
		}
	}
	unsigned seed = (unsigned)getpid();
	for (int k = 0; k < KILLS; k++) {
		nanosleep(&(struct timespec){.tv_nsec = (long)(rand_r(&seed) % 1500 + 100) * 1000},
			  NULL);
		int i = (int)(rand_r(&seed) % (1 + SUBS));
		if (!pids[i])
			continue; /* the sender finished */
		kill(pids[i], SIGKILL);
		int status;
		CHECK(waitpid(pids[i], &status, 0) == pids[i]);
		ended_well(status);
		pids[i] = i > 0 || atomic_load(&board->next_id) < TOTAL ? fork() : 0;
		if (pids[i] == 0 && (i > 0 || atomic_load(&board->next_id) < TOTAL)) {
			if (i == 0)
				sender(url, TOTAL, 0);
			subscriber(url);
		}
	}
	if (pids[0])
		wait_ok(pids[0]);
	atomic_store(&board->senders_done, 1);
	for (int i = 1; i <= SUBS; i++)
		wait_ok(pids[i]);
	if (board->bad)
		test_fail(__FILE__, __LINE__, "%u bad deliveries (skipped, repeated or corrupt)",
			  board->bad);
	CHECK(board->received > 0);
	printf("  %u sent, %u delivered to subscribers, %d kills\n",
	       atomic_load(&board->next_id) < TOTAL ? atomic_load(&board->next_id) : TOTAL,
	       board->received, KILLS);
}

static const struct test_case tests[] = {
	{"many_to_many", test_many_to_many},
	{"typed_mix", test_typed_mix},
	{"one_to_one", test_one_to_one},
	{"kill_at_random", test_kill_at_random},
	{"one_to_one_kill_at_random", test_one_to_one_kill_at_random},
	{"lease_churn", test_lease_churn},
	{"queue_one_each_kill_at_random", test_queue_one_each_kill_at_random},
	{"mpsc_kill_at_random", test_mpsc_kill_at_random},
	{"broadcast_kill_at_random", test_broadcast_kill_at_random},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
