/*
 * engine.c - the measurement engine: one cell (a mechanism at one size) in
 * a forked process group with a time limit, two pinned processes, and
 * three phases run by both sides in the same order:
 *
 *  1. latency: the initiator sends a message, the responder echoes it, and
 *     the initiator times the round trip; warm-up first.
 *  2. throughput: the initiator streams messages one way; the responder
 *     checks each sequence number, reads every byte, and answers the last
 *     one with the count it verified.
 *  3. wake-up (optional): round trips again, each after the initiator was
 *     idle for plan->idle_ms, so the responder had gone to sleep.
 *
 * Then the initiator sends a last message and keeps its end open until the
 * responder has exited: the responder closes only after everything it sent
 * was received, so no library that drops unsent messages on close (ZeroMQ
 * with a zero linger) can lose one.
 *
 * Every message is exactly l->size bytes and carries its sequence number
 * in its first and last 8 bytes; the top bit marks the last message of a
 * phase, so a phase can end on time without the sides agreeing on a count.
 * A zero-copy mechanism writes those numbers in place into a loaned
 * buffer, and its receiver checks and reads the message where it lies.
 *
 * A scaling cell (plan->fan = N) has a hub and N spokes, each pinned to its
 * own CPU while there are CPUs: N senders streaming to one receiving hub
 * (BENCH_FAN_IN; a sequence number also names its sender, and the hub
 * checks each sender's numbers), or one sending hub streaming to N
 * receivers that each check every message (BENCH_FAN_OUT). All start
 * together after a barrier; the counts meet in the cell's shared memory.
 */
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEQ_LAST ((uint64_t)1 << 63)
/* The most latency samples a phase keeps. */
#define MAX_SAMPLES 200000
/* A phase that has not reached min_samples stops after this many phase times. */
#define PHASE_STRETCH 5
/* How many messages the sender streams between two looks at the clock. */
#define CLOCK_EVERY 16

/* In a scaling cell, a sequence number names its sender in these bits. */
#define SEQ_SENDER_SHIFT 40
#define SEQ_COUNT_MASK (((uint64_t)1 << SEQ_SENDER_SHIFT) - 1)

/* What the main process and a cell share: names to remove and the result. */
struct cell_shm {
	struct bench_shared shared;
	struct bench_result result;
	char peer_why[128];
	/* A scaling cell's barrier, failure flag and per-spoke counts. */
	atomic_int ready;
	atomic_int failed;
	atomic_int peer_died; /* a peer ended the cell without writing peer_why */
	uint64_t count[BENCH_MAX_FAN];
	int64_t end_ns[BENCH_MAX_FAN];
};

/* The process buffers of one side. */
struct side {
	struct bench_link *l;
	const struct bench_plan *plan;
	unsigned char *sbuf, *rbuf;
	int64_t *samples;
	char *why;
	size_t whylen;
};

int64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- messages ---------------------------------------------------------- */

static void stamp(unsigned char *buf, size_t size, uint64_t seq)
{
	memcpy(buf, &seq, sizeof(seq));
	if (size >= 2 * sizeof(seq))
		memcpy(buf + size - sizeof(seq), &seq, sizeof(seq));
}

/* seq_of reads a message's sequence number; a torn message reads as ~0. */
static uint64_t seq_of(const unsigned char *buf, size_t size)
{
	uint64_t head, tail;
	memcpy(&head, buf, sizeof(head));
	if (size < 2 * sizeof(head))
		return head;
	memcpy(&tail, buf + size - sizeof(tail), sizeof(tail));
	return head == tail ? head : ~(uint64_t)0;
}

/* touch reads every byte of a received message, as a real consumer would. */
static uint64_t touch(const unsigned char *buf, size_t size)
{
	uint64_t sum = 0, w;
	size_t i = 0;
	for (; i + sizeof(w) <= size; i += sizeof(w)) {
		memcpy(&w, buf + i, sizeof(w));
		sum += w;
	}
	for (; i < size; i++)
		sum += buf[i];
	return sum;
}

/*
 * post sends message seq: stamped into the send buffer and sent, or, for a
 * zero-copy mechanism, stamped into a loaned buffer and committed.
 */
static int post(struct side *s, uint64_t seq)
{
	struct bench_link *l = s->l;
	if (!l->mech->loan) {
		stamp(s->sbuf, l->size, seq);
		return l->mech->send(l, s->sbuf);
	}
	void *buf;
	int rc = l->mech->loan(l, &buf);
	if (rc < 0)
		return rc;
	stamp(buf, l->size, seq);
	return l->mech->commit(l);
}

/* take receives a message into the receive buffer, or on loan, and points *msg at it. */
static int take(struct side *s, const unsigned char **msg)
{
	struct bench_link *l = s->l;
	if (l->mech->recv_loan)
		return l->mech->recv_loan(l, (const void **)msg);
	*msg = s->rbuf;
	return l->mech->recv(l, s->rbuf);
}

/* done_with gives back the message of the last take (a loan; nothing to do for a copy). */
static int done_with(struct side *s)
{
	return s->l->mech->release ? s->l->mech->release(s->l) : 0;
}

/* take_seq receives a message and returns its sequence number in *seq, touching it when asked. */
static int take_seq(struct side *s, uint64_t *seq, volatile uint64_t *sum)
{
	const unsigned char *msg;
	int rc = take(s, &msg);
	if (rc < 0)
		return rc;
	*seq = seq_of(msg, s->l->size);
	if (sum)
		*sum += touch(msg, s->l->size);
	return done_with(s);
}

static int side_fail(struct side *s, int rc, const char *what)
{
	if (rc == -EPROTO)
		return bench_fail(rc, s->why, s->whylen, "%s: a message of the wrong size", what);
	return bench_fail(rc, s->why, s->whylen, "%s: %s", what, strerror(-rc));
}

static int bad_seq(struct side *s, uint64_t got, uint64_t want)
{
	return bench_fail(-EPROTO, s->why, s->whylen,
			  "message %llu arrived as %llu (lost, reordered or torn)",
			  (unsigned long long)want, (unsigned long long)(got & ~SEQ_LAST));
}

/* ---- the initiator ------------------------------------------------------ */

static int round_trip(struct side *s, uint64_t seq, int64_t *ns)
{
	int64_t t0 = bench_now_ns();
	int rc = post(s, seq);
	if (rc < 0)
		return side_fail(s, rc, "send");
	uint64_t got;
	rc = take_seq(s, &got, NULL);
	if (rc < 0)
		return side_fail(s, rc, "recv");
	*ns = bench_now_ns() - t0;
	return got == seq ? 0 : bad_seq(s, got, seq);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void summarize(int64_t *v, long n, struct bench_lat *out)
{
	out->samples = n;
	if (n == 0)
		return;
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	out->p50 = (double)v[(n - 1) / 2];
	out->p99 = (double)v[(long)((double)(n - 1) * 0.99)];
	out->p999 = (double)v[(long)((double)(n - 1) * 0.999)];
	out->max = (double)v[n - 1];
}

/* phase_done says whether a latency phase has enough: time and samples. */
static bool phase_done(const struct bench_plan *p, int64_t start, long n)
{
	int64_t el = bench_now_ns() - start;
	if (n >= MAX_SAMPLES || el >= PHASE_STRETCH * p->phase_ns)
		return true;
	return el >= p->phase_ns && n >= p->min_samples;
}

static int measure_latency(struct side *s, struct bench_lat *out)
{
	const struct bench_plan *p = s->plan;
	int64_t start = bench_now_ns(), ns;
	long n = 0;
	uint64_t seq = 0;
	for (;; seq++) {
		bool warm = (long)seq >= p->warmup || bench_now_ns() - start >= p->phase_ns / 10;
		if (warm && n == 0)
			start = bench_now_ns();
		bool last = warm && phase_done(p, start, n + 1);
		int rc = round_trip(s, seq | (last ? SEQ_LAST : 0), &ns);
		if (rc < 0)
			return rc;
		if (warm)
			s->samples[n++] = ns;
		if (last)
			break;
	}
	summarize(s->samples, n, out);
	return 0;
}

static int measure_wakeup(struct side *s, struct bench_lat *out)
{
	const struct bench_plan *p = s->plan;
	struct timespec idle = {p->idle_ms / 1000, (long)(p->idle_ms % 1000) * 1000000};
	int64_t ns;
	for (long i = 0; i < p->wake_samples; i++) {
		nanosleep(&idle, NULL);
		bool last = i + 1 == p->wake_samples;
		int rc = round_trip(s, (uint64_t)i | (last ? SEQ_LAST : 0), &ns);
		if (rc < 0)
			return rc;
		s->samples[i] = ns;
	}
	summarize(s->samples, p->wake_samples, out);
	return 0;
}

/*
 * stream sends messages for plan->phase_ns, numbered from 0 with base in
 * the sender bits, the last one marked, and returns their count in *n.
 */
static int stream(struct side *s, uint64_t base, uint64_t *n)
{
	int64_t end = bench_now_ns() + s->plan->phase_ns;
	uint64_t seq = 0;
	for (bool last = false; !last; seq++) {
		last = seq % CLOCK_EVERY == CLOCK_EVERY - 1 && bench_now_ns() >= end;
		int rc = post(s, base | seq | (last ? SEQ_LAST : 0));
		if (rc < 0)
			return side_fail(s, rc, "send");
	}
	*n = seq;
	return 0;
}

static int measure_throughput(struct side *s, struct bench_result *r)
{
	int64_t t0 = bench_now_ns();
	uint64_t seq;
	int rc = stream(s, 0, &seq);
	if (rc < 0)
		return rc;
	uint64_t count;
	rc = take_seq(s, &count, NULL);
	if (rc < 0)
		return side_fail(s, rc, "recv of the count");
	double secs = (double)(bench_now_ns() - t0) / 1e9;
	r->verified = (long)count;
	if (count != seq)
		return bench_fail(-EPROTO, s->why, s->whylen, "the receiver verified %ld of %llu messages",
				  r->verified, (unsigned long long)seq);
	r->msgs_per_s = (double)seq / secs;
	r->mb_per_s = r->msgs_per_s * (double)s->l->size / 1e6;
	return 0;
}

/* goodbye sends the last message and waits for the responder to exit. */
static int goodbye(struct side *s, pid_t peer)
{
	int rc = post(s, SEQ_LAST);
	if (rc < 0)
		return side_fail(s, rc, "send of the last message");
	int st;
	if (waitpid(peer, &st, 0) < 0)
		return bench_fail(-errno, s->why, s->whylen, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return bench_fail(-EPROTO, s->why, s->whylen, "the responder failed");
	return 0;
}

static int initiator(struct side *s, struct bench_result *r, pid_t peer)
{
	int rc = measure_latency(s, &r->lat);
	if (rc == 0)
		rc = measure_throughput(s, r);
	if (rc == 0 && s->plan->wake_samples > 0)
		rc = measure_wakeup(s, &r->wake);
	return rc == 0 ? goodbye(s, peer) : rc;
}

/* ---- the responder ------------------------------------------------------ */

/* echo answers round trips until the last one of the phase. */
static int echo(struct side *s)
{
	for (uint64_t want = 0;; want++) {
		uint64_t got;
		int rc = take_seq(s, &got, NULL);
		if (rc < 0)
			return side_fail(s, rc, "recv");
		if ((got & ~SEQ_LAST) != want)
			return bad_seq(s, got, want);
		rc = post(s, got);
		if (rc < 0)
			return side_fail(s, rc, "send");
		if (got & SEQ_LAST)
			return 0;
	}
}

/* drain receives one stream up to its last message, checking and reading each; *n counts them. */
static int drain(struct side *s, uint64_t *n)
{
	volatile uint64_t sum = 0;
	for (uint64_t want = 0;; want++) {
		uint64_t got;
		int rc = take_seq(s, &got, &sum);
		if (rc < 0)
			return side_fail(s, rc, "recv");
		if ((got & ~SEQ_LAST) != want)
			return bad_seq(s, got, want);
		if (got & SEQ_LAST) {
			*n = want + 1;
			return 0;
		}
	}
}

/* sink receives the stream, checks and reads it, and answers with the count. */
static int sink(struct side *s)
{
	uint64_t n;
	int rc = drain(s, &n);
	if (rc < 0)
		return rc;
	rc = post(s, n);
	return rc < 0 ? side_fail(s, rc, "send of the count") : 0;
}

static int responder(struct side *s)
{
	int rc = echo(s);
	if (rc == 0)
		rc = sink(s);
	if (rc == 0 && s->plan->wake_samples > 0)
		rc = echo(s);
	if (rc < 0)
		return rc;
	uint64_t last;
	rc = take_seq(s, &last, NULL);
	return rc < 0 ? side_fail(s, rc, "recv of the last message") : 0;
}

/* ---- one process of a cell ---------------------------------------------- */

static int pin(int cpu, char *why, size_t n)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return bench_fail(-errno, why, n, "cannot run on CPU %d: %s", cpu, strerror(errno));
	return 0;
}

static void *buffer(size_t size)
{
	size_t len = (size + 63) / 64 * 64;
	void *p = aligned_alloc(64, len);
	if (p)
		memset(p, 0xa5, len);
	return p;
}

static int side_alloc(struct side *s)
{
	long n = s->plan->wake_samples > MAX_SAMPLES ? s->plan->wake_samples : MAX_SAMPLES;
	s->sbuf = buffer(s->l->size);
	s->rbuf = buffer(s->l->size);
	s->samples = malloc((size_t)n * sizeof(*s->samples));
	if (s->sbuf && s->rbuf && s->samples)
		return 0;
	return bench_fail(-ENOMEM, s->why, s->whylen, "out of memory");
}

static void side_free(struct side *s)
{
	free(s->sbuf);
	free(s->rbuf);
	free(s->samples);
}

/* open_side pins this process to cpu, opens its end and allocates its buffers. */
static int open_side(struct side *s, int cpu)
{
	struct bench_link *l = s->l;
	int rc = pin(cpu, s->why, s->whylen);
	if (rc == 0 && l->mech->open)
		rc = l->mech->open(l, s->why, s->whylen);
	return rc == 0 ? side_alloc(s) : rc;
}

static void close_side(struct side *s)
{
	if (s->l->mech->close)
		s->l->mech->close(s->l);
	side_free(s);
}

/*
 * run_side is one process of a cell: pin, open, measure, close. The
 * initiator (side 0) reaps the responder, whose pid is peer.
 */
static int run_side(struct bench_link *l, const struct bench_plan *plan, struct bench_result *r,
		    char *why, size_t whylen, pid_t peer)
{
	struct side s = {.l = l, .plan = plan, .why = why, .whylen = whylen};
	int rc = open_side(&s, plan->cpu[l->side]);
	if (rc == 0)
		rc = l->side == 0 ? initiator(&s, r, peer) : responder(&s);
	close_side(&s);
	return rc;
}

/* ---- a scaling cell: a hub and plan->fan spokes ---------------------------- */

static bool fan_in(const struct bench_link *l)
{
	return !(l->mech->fan & BENCH_FAN_OUT);
}

/* barrier waits until all n processes of the cell are ready, or one of them failed. */
static int barrier(struct side *s, struct cell_shm *c, int n)
{
	atomic_fetch_add(&c->ready, 1);
	while (atomic_load(&c->ready) < n) {
		if (atomic_load(&c->failed))
			return bench_fail(-ECANCELED, s->why, s->whylen, "another process failed");
		nanosleep(&(struct timespec){0, 50000}, NULL);
	}
	return 0;
}

/* spoke_work is what spoke i does between the barrier and closing. */
static int spoke_work(struct side *s, struct cell_shm *c, int i)
{
	if (fan_in(s->l))
		return stream(s, (uint64_t)i << SEQ_SENDER_SHIFT, &c->count[i]);
	int rc = drain(s, &c->count[i]);
	c->end_ns[i] = bench_now_ns();
	return rc;
}

/* run_spoke is spoke i: a sender to the hub, or a receiver of its broadcast. */
static int run_spoke(struct bench_link *l, const struct bench_plan *plan, struct cell_shm *c,
		     int i)
{
	char why[sizeof(c->peer_why) - 32];
	struct side s = {.l = l, .plan = plan, .why = why, .whylen = sizeof(why)};
	int rc = open_side(&s, plan->cpus[(i + 1) % plan->ncpus]);
	if (rc == 0)
		rc = barrier(&s, c, plan->fan + 1);
	if (rc == 0)
		rc = spoke_work(&s, c, i);
	close_side(&s);
	if (rc < 0 && !atomic_exchange(&c->failed, 1))
		snprintf(c->peer_why, sizeof(c->peer_why), "%s %d: %s",
			 fan_in(l) ? "sender" : "receiver", i, why);
	return rc;
}

/* collect takes every sender's messages, checking each sender's numbers; count[i] gets them. */
static int collect(struct side *s, int n, uint64_t *count)
{
	volatile uint64_t sum = 0;
	for (int left = n; left > 0;) {
		uint64_t got;
		int rc = take_seq(s, &got, &sum);
		if (rc < 0)
			return side_fail(s, rc, "recv");
		uint64_t who = (got & ~SEQ_LAST) >> SEQ_SENDER_SHIFT;
		if (who >= (uint64_t)n || (got & SEQ_COUNT_MASK) != count[who])
			return bench_fail(-EPROTO, s->why, s->whylen,
					  "sender %llu: message %llu arrived as %llu (lost, "
					  "duplicated or torn)", (unsigned long long)who,
					  (unsigned long long)(who < (uint64_t)n ? count[who] : 0),
					  (unsigned long long)(got & SEQ_COUNT_MASK));
		count[who]++;
		left -= (got & SEQ_LAST) != 0;
	}
	return 0;
}

/* reap waits for every spoke; any failure is the cell's. */
static int reap(struct side *s, const pid_t *pids, int n)
{
	int rc = 0;
	for (int i = 0; i < n; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			rc = bench_fail(-EPROTO, s->why, s->whylen, "%s %d failed",
					fan_in(s->l) ? "sender" : "receiver", i);
	}
	return rc;
}

/*
 * hub_work streams to, or collects from, the spokes and fills the result:
 * messages/s received from all senders together, or sent to all receivers.
 */
static int hub_work(struct side *s, struct cell_shm *c, const pid_t *pids)
{
	int n = s->plan->fan;
	bool in = fan_in(s->l);
	uint64_t got[BENCH_MAX_FAN] = {0}, sent = 0, total = 0;
	int64_t t0 = bench_now_ns();
	int rc = in ? collect(s, n, got) : stream(s, 0, &sent);
	int64_t t1 = bench_now_ns();
	if (rc == 0)
		rc = reap(s, pids, n);
	if (rc < 0)
		return rc;
	for (int i = 0; i < n; i++) {
		uint64_t want = in ? c->count[i] : sent, have = in ? got[i] : c->count[i];
		if (have != want)
			return bench_fail(-EPROTO, s->why, s->whylen, "%llu of %llu messages of %s %d",
					  (unsigned long long)have, (unsigned long long)want,
					  in ? "sender" : "receiver", i);
		total += have;
		if (!in && c->end_ns[i] > t1)
			t1 = c->end_ns[i];
	}
	struct bench_result *r = &c->result;
	r->verified = (long)total;
	r->msgs_per_s = (double)(in ? total : sent) / ((double)(t1 - t0) / 1e9);
	r->mb_per_s = r->msgs_per_s * (double)s->l->size / 1e6;
	return 0;
}

/* run_hub is the cell process of a scaling cell: the receiver or the broadcasting sender. */
static int run_hub(struct bench_link *l, const struct bench_plan *plan, struct cell_shm *c,
		   const pid_t *pids)
{
	struct bench_result *r = &c->result;
	struct side s = {.l = l, .plan = plan, .why = r->why, .whylen = sizeof(r->why)};
	int rc = open_side(&s, plan->cpus[0]);
	if (rc == 0)
		rc = barrier(&s, c, plan->fan + 1);
	if (rc == 0)
		rc = hub_work(&s, c, pids);
	close_side(&s);
	if (rc < 0)
		atomic_store(&c->failed, 1);
	return rc;
}

/* run_solo measures a one-process limit (memcpy) for plan->phase_ns. */
static int run_solo(struct bench_link *l, const struct bench_plan *plan, struct bench_result *r)
{
	struct side s = {.l = l, .plan = plan, .why = r->why, .whylen = sizeof(r->why)};
	int rc = pin(plan->cpu[0], r->why, sizeof(r->why));
	if (rc == 0)
		rc = side_alloc(&s);
	if (rc < 0)
		return rc;
	int64_t t0 = bench_now_ns(), end = t0 + plan->phase_ns;
	long n = 0;
	do {
		for (int i = 0; i < CLOCK_EVERY; i++, n++) {
			stamp(s.sbuf, l->size, (uint64_t)n);
			l->mech->solo(l, s.rbuf, s.sbuf);
		}
	} while (bench_now_ns() < end);
	double secs = (double)(bench_now_ns() - t0) / 1e9;
	r->verified = seq_of(s.rbuf, l->size) == (uint64_t)n - 1 ? n : 0;
	r->msgs_per_s = (double)n / secs;
	r->mb_per_s = r->msgs_per_s * (double)l->size / 1e6;
	side_free(&s);
	return 0;
}

/* The cell's other processes (the responder, or the spokes), watched by on_peer_exit. */
static pid_t cell_peers[BENCH_MAX_FAN];
static int cell_npeers;
static struct cell_shm *cell_now;

/*
 * on_peer_exit ends the cell at once when the responder or a spoke fails,
 * rather than leaving this process to wait for a message that will never
 * come. It only peeks (WNOWAIT): the initiator reaps a responder that
 * succeeded, the hub its spokes.
 */
static void on_peer_exit(int sig)
{
	int saved = errno;
	for (int i = 0; i < cell_npeers; i++) {
		siginfo_t si = {0};
		if (waitid(P_PID, (id_t)cell_peers[i], &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == cell_peers[i] && (si.si_code != CLD_EXITED || si.si_status != 0)) {
			atomic_store(&cell_now->peer_died, 1);
			_exit(1);
		}
	}
	errno = saved;
}

static void watch_peers(void)
{
	struct sigaction sa = {.sa_handler = on_peer_exit, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
}

/*
 * setup_cell sets the mechanism up and blocks SIGCHLD until the cell's
 * processes are forked and recorded (*old gets the mask to restore), so a
 * peer that dies at once is never missed.
 */
static int setup_cell(struct bench_link *l, struct bench_result *r, sigset_t *old)
{
	int rc = l->mech->setup(l, r->why, sizeof(r->why));
	if (rc < 0)
		return rc;
	watch_peers();
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, old);
	return 0;
}

/* run_fan sets the mechanism up, forks the spokes and runs the hub. */
static int run_fan(struct bench_link *l, const struct bench_plan *plan, struct cell_shm *c)
{
	struct bench_result *r = &c->result;
	pid_t pids[BENCH_MAX_FAN];
	l->one_way = true;
	sigset_t old;
	int rc = setup_cell(l, r, &old);
	if (rc < 0)
		return rc;
	for (int i = 0; i < plan->fan; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			atomic_store(&c->failed, 1);
			return bench_errno_fail(r->why, sizeof(r->why), "fork");
		}
		if (pids[i] == 0) {
			l->side = fan_in(l) ? 0 : 1;
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(run_spoke(l, plan, c, i) < 0);
		}
		cell_peers[cell_npeers++] = pids[i];
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	l->side = fan_in(l) ? 1 : 0;
	return run_hub(l, plan, c, pids);
}

/* run_pair sets the mechanism up, forks the responder and runs the initiator. */
static int run_pair(struct bench_link *l, const struct bench_plan *plan, struct cell_shm *c)
{
	struct bench_result *r = &c->result;
	sigset_t old;
	int rc = setup_cell(l, r, &old);
	if (rc < 0)
		return rc;
	pid_t peer = fork();
	if (peer < 0)
		return bench_errno_fail(r->why, sizeof(r->why), "fork");
	if (peer == 0) {
		l->side = 1;
		struct bench_result scratch;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(run_side(l, plan, &scratch, c->peer_why, sizeof(c->peer_why), 0) < 0);
	}
	cell_peers[cell_npeers++] = peer;
	sigprocmask(SIG_SETMASK, &old, NULL);
	l->side = 0;
	return run_side(l, plan, r, r->why, sizeof(r->why), peer);
}

/* cell_main is the cell process: it never returns. */
static void cell_main(const struct bench_mech *m, size_t size, const struct bench_plan *plan,
		      struct cell_shm *c)
{
	struct bench_link l = {.mech = m, .size = size, .shared = &c->shared};
	for (size_t i = 0; i < sizeof(l.fd) / sizeof(l.fd[0]); i++)
		l.fd[i] = -1;
	cell_now = c;
	int rc = m->solo	  ? run_solo(&l, plan, &c->result)
		 : plan->fan > 0 ? run_fan(&l, plan, c)
				 : run_pair(&l, plan, c);
	_exit(rc < 0);
}

/* ---- the main process ---------------------------------------------------- */

static const int bench_signals[] = {SIGINT, SIGTERM, SIGHUP};
static volatile sig_atomic_t bench_caught;

static void on_signal(int sig)
{
	bench_caught = sig;
}

void bench_install_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(bench_signals) / sizeof(bench_signals[0]); i++)
		sigaction(bench_signals[i], &sa, NULL);
}

static void block_signals(sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(bench_signals) / sizeof(bench_signals[0]); i++)
		sigaddset(&set, bench_signals[i]);
	sigprocmask(SIG_BLOCK, &set, old);
}

/* How the wait for a cell ended. */
enum wait_end {
	WAIT_EXITED,
	WAIT_TIMEOUT,
	WAIT_SIGNAL,
	WAIT_ERROR,
};

/*
 * wait_cell waits for the cell until timeout_s, with the signals unblocked
 * only while it sleeps, and reaps it when it exited.
 */
static enum wait_end wait_cell(pid_t pid, int timeout_s, const sigset_t *unblocked, int *st,
			       int *err)
{
	/*
	 * Without pidfd_open (kernels before 5.3, seccomp filters, valgrind)
	 * the cell is looked at every few milliseconds instead.
	 */
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0 && errno != ENOSYS && errno != EPERM) {
		*err = errno;
		return WAIT_ERROR;
	}
	int64_t end = bench_now_ns() + (int64_t)timeout_s * 1000000000;
	enum wait_end how = WAIT_TIMEOUT;
	for (int64_t left; (left = end - bench_now_ns()) > 0;) {
		if (pfd < 0 && left > 5000000)
			left = 5000000;
		struct timespec ts = {left / 1000000000, left % 1000000000};
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		int n = ppoll(pfd < 0 ? NULL : &p, pfd < 0 ? 0 : 1, &ts, unblocked);
		if (n < 0 && bench_caught)
			how = WAIT_SIGNAL;
		else if (pfd >= 0 && n > 0 && waitpid(pid, st, 0) == pid)
			how = WAIT_EXITED;
		else if (pfd < 0 && n >= 0 && waitpid(pid, st, WNOHANG) == pid)
			how = WAIT_EXITED;
		if (how != WAIT_TIMEOUT)
			break;
	}
	if (pfd >= 0)
		close(pfd);
	return how;
}

/* end_cell kills whatever is left of the cell's group and removes its objects. */
static void end_cell(const struct bench_mech *m, pid_t pid, struct cell_shm *c,
		     enum wait_end how)
{
	kill(-pid, SIGKILL);
	if (how != WAIT_EXITED)
		waitpid(pid, NULL, 0);
	m->teardown(&c->shared);
}

static void init_result(struct bench_result *r, const struct bench_mech *m, size_t size,
			int fan)
{
	memset(r, 0, sizeof(*r));
	r->mech = m;
	r->size = size;
	r->fan = fan;
}

/* start_cell forks the cell process, in a process group of its own. */
static pid_t start_cell(const struct bench_mech *m, size_t size, const struct bench_plan *plan,
			struct cell_shm *c, const sigset_t *old)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (size_t i = 0; i < sizeof(bench_signals) / sizeof(bench_signals[0]); i++)
		signal(bench_signals[i], SIG_DFL);
	sigprocmask(SIG_SETMASK, old, NULL);
	cell_main(m, size, plan, c);
	return 0;
}

/* peer_name names the cell's other processes, for a reason. */
static const char *peer_name(const struct bench_result *r)
{
	if (r->fan == 0)
		return "the responder";
	return r->mech->fan & BENCH_FAN_OUT ? "a receiver" : "a sender";
}

/* finish copies the cell's result and turns how it ended into a status. */
static void finish(struct bench_result *r, const struct cell_shm *c, enum wait_end how, int st,
		   int err, int timeout_s)
{
	*r = c->result;
	if (how == WAIT_TIMEOUT)
		snprintf(r->why, sizeof(r->why), "timed out after %d s; killed", timeout_s);
	else if (how == WAIT_ERROR)
		snprintf(r->why, sizeof(r->why), "pidfd_open: %s", strerror(err));
	else if (WIFSIGNALED(st))
		snprintf(r->why, sizeof(r->why), "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else if (WEXITSTATUS(st) == 0)
		return;
	else if (c->peer_why[0] && (r->fan > 0 || !r->why[0]))
		snprintf(r->why, sizeof(r->why), "%s%s", r->fan > 0 ? "" : "responder: ", c->peer_why);
	else if (!r->why[0] && atomic_load(&c->peer_died))
		snprintf(r->why, sizeof(r->why), "%s died without saying why (a signal, or a "
			 "sanitizer's report on stderr)", peer_name(r));
	else if (!r->why[0])
		snprintf(r->why, sizeof(r->why), "failed with exit status %d", WEXITSTATUS(st));
	r->status = BENCH_FAILED;
}

/* run_forked runs the cell process and cleans up after it, signals blocked. */
static void run_forked(const struct bench_mech *m, size_t size, const struct bench_plan *plan,
		       struct cell_shm *c, struct bench_result *r)
{
	sigset_t old;
	block_signals(&old);
	pid_t pid = start_cell(m, size, plan, c, &old);
	if (pid < 0) {
		r->status = BENCH_FAILED;
		bench_errno_fail(r->why, sizeof(r->why), "fork");
		sigprocmask(SIG_SETMASK, &old, NULL);
		return;
	}
	int st = 0, err = 0;
	enum wait_end how = wait_cell(pid, plan->timeout_s, &old, &st, &err);
	end_cell(m, pid, c, how);
	if (how == WAIT_SIGNAL) {
		/* Every object is gone: die of the signal, as the user asked. */
		signal(bench_caught, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		raise(bench_caught);
	}
	finish(r, c, how, st, err, plan->timeout_s);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

void bench_run_cell(const struct bench_mech *m, size_t size, const struct bench_plan *plan,
		    struct bench_result *r)
{
	init_result(r, m, size, plan->fan);
	if (m->check && !m->check(m, size, r->why, sizeof(r->why))) {
		r->status = BENCH_SKIPPED;
		return;
	}
	struct cell_shm *c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED) {
		r->status = BENCH_FAILED;
		bench_errno_fail(r->why, sizeof(r->why), "mmap");
		return;
	}
	init_result(&c->result, m, size, plan->fan);
	c->shared.id[0] = c->shared.id[1] = -1;
	run_forked(m, size, plan, c, r);
	munmap(c, sizeof(*c));
}
