/*
 * conformance.c - one set of behavioural tests run over every transport.
 *
 * Every test body below runs once per fixture (a transport and its URL
 * options), in two or more processes joined by fork(): a child sends, the
 * parent receives, and real bytes are compared. What a test checks depends
 * on the capability flags the opened channel reports (ipcx_caps_of), so a
 * transport is held to exactly what it claims.
 *
 * Adding a transport is ONE line in the fixture table below:
 *
 *     FIXTURE("unix-abstract", "unix://@{name}"),
 *
 * The URL may use {name} (a unique name, "ipcx-conf-<pid>-<n>"), {port} (a
 * free TCP port on 127.0.0.1), {key} (a unique System V key in hex) and
 * {pid} (the receiving process, for sig://).
 * A transport that is not a NAMED one is made with ipcx_pair() before the
 * fork. A named one is opened by the parent with IPCX_RECV|IPCX_CREATE
 * before the fork (for a CONNECTED transport that means listening) and by
 * the child with IPCX_SEND (plus IPCX_CREATE unless CONNECTED), and is
 * removed by the runner with ipcx_unlink() however the test ends.
 * tests/CMakeLists.txt reads the table and registers one CTest test per
 * fixture, "conformance.<fixture>"; a fixture whose scheme is not in this
 * build exits 77 and CTest reports it as skipped, so the table already
 * lists the transports that land later.
 *
 * Which capability gates which test:
 *
 *   every fixture     pollable (ENOTSUP unless POLLABLE), oversize, timeouts,
 *                     eintr_recv, peer_exit, bad_args, typed (selector != 0
 *                     is ENOTSUP unless TYPED)
 *   records kept      ordering, boundaries, empty, maxsize, small_buffer,
 *                     peer_exit_after_send, checksums: every fixture except
 *                     ?frame=raw
 *   TYPED             typed checks msgrcv's 0 / > 0 / < 0 selection
 *   PRIORITY          priority (a higher type overtakes, equal types keep
 *                     their order); elsewhere every test sends type 1, since
 *                     types would reorder what ordering tests expect
 *   UNTYPED           every test sends type 1
 *   FLOW_CONTROL      flow (fill with timeout 0 until EAGAIN, drain exactly
 *                     what was accepted), eintr_send
 *   MANY_SENDERS      many_senders (three children, frames never mix)
 *   BIDIRECTIONAL     pingpong
 *   BYTE_STREAM       garbage (raw bytes into the stream are EPROTO), for
 *                     binary frames on pairs and FIFOs
 *   peer_exit expects -EPIPE from pairs and unconnected byte streams, and
 *   -EPIPE or -ETIMEDOUT (never a hang) from the rest.
 *
 * The pseudo-fixture "urls" checks URL parsing once, not per transport.
 *
 * Run: conformance                  every fixture
 *      conformance FIXTURE [TEST]   one fixture, tests whose name has TEST
 */
#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---- the fixture table ------------------------------------------------ */

struct fixture {
	const char *name;
	const char *url; /* a template: {name}, {port}, {key} are filled in */
};

#define FIXTURE(name, url) {name, url}

/* One line per transport variant; CMake registers a test for each. */
static const struct fixture fixtures[] = {
	FIXTURE("pipe", "pipe://"),
	FIXTURE("pipe-4k", "pipe://?cap=4KiB"),
	FIXTURE("pipe-line", "pipe://?frame=line"),
	FIXTURE("spipe", "spipe://"),
	FIXTURE("fifo", "fifo:///tmp/{name}"),
	FIXTURE("fifo-line", "fifo:///tmp/{name}?frame=line"),
	FIXTURE("fifo-raw", "fifo:///tmp/{name}?frame=raw"),
	FIXTURE("unix", "unix:///tmp/{name}.sock"),
	FIXTURE("unix-abstract", "unix://@{name}"),
	FIXTURE("unixseq", "unixseq:///tmp/{name}.sock"),
	FIXTURE("unixdgram", "unixdgram:///tmp/{name}.sock"),
	/* cap= fixes both socket buffers: without it TCP grows its window, and "full" moves. */
	FIXTURE("tcp", "tcp://127.0.0.1:{port}?cap=64KiB"),
	FIXTURE("shm", "shm://{name}"),
	FIXTURE("shm-spsc", "shm://{name}?pattern=spsc"),
	FIXTURE("shm-mpsc", "shm://{name}?pattern=mpsc"),
	FIXTURE("shm-rendezvous", "shm://{name}?cap=0"),
	FIXTURE("shm-broadcast", "shm://{name}?pattern=broadcast"),
	FIXTURE("shm-overwrite", "shm://{name}?pattern=broadcast&policy=overwrite"),
	FIXTURE("shm-unbounded", "shm://{name}?cap=unbounded"),
	FIXTURE("sysvmq", "sysvmq://{key}"),
	FIXTURE("mq", "mq:///{name}"),
	FIXTURE("sysvshm", "sysvshm://{key}"),
	FIXTURE("sig", "sig://{pid}?signo=SIGRTMIN+5"),
	FIXTURE("netlink", "netlink://{pid}"),
	FIXTURE("file", "file:///tmp/{name}"),
};

#define NFIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

/* The fixture this process runs, and the frame its URL asks for. */
static const struct fixture *fx;
enum frame { FRAME_BINARY, FRAME_LINE, FRAME_RAW };
static enum frame fx_frame;
/* IPCX_CAP_PRIORITY: types reorder messages, so tests on order use one type. */
static bool fx_priority;
/* IPCX_CAP_UNTYPED: the transport carries no type, so every test sends type 1. */
static bool fx_untyped;

/* Generous limits: a broken peer makes a test fail, never hang. */
#define OPEN_MS 10000
#define SEND_MS 10000
#define RECV_MS 10000
/* The largest message a test builds, whatever max_msg allows. */
#define MAX_TEST_MSG ((size_t)4 << 20)
#define MAX_KIDS 4

/* ---- URL templates ---------------------------------------------------- */

/* free_port binds port 0 on 127.0.0.1 and returns the port it got. */
static unsigned free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(getsockname(s, (struct sockaddr *)&a, &len) == 0);
	close(s);
	return ntohs(a.sin_port);
}

/* token_value fills val with what {key} stands for in a fixture URL. */
static void token_value(char *val, size_t size, const char *key, size_t keylen)
{
	static unsigned sysv_counter;
	if (keylen == 4 && strncmp(key, "name", 4) == 0)
		test_unique(val, size, "ipcx-conf");
	else if (keylen == 4 && strncmp(key, "port", 4) == 0)
		snprintf(val, size, "%u", free_port());
	else if (keylen == 3 && strncmp(key, "pid", 3) == 0)
		snprintf(val, size, "%d", (int)getpid()); /* the receiving parent */
	else if (keylen == 3 && strncmp(key, "key", 3) == 0)
		snprintf(val, size, "0x%x", 0x40000000u | ((unsigned)getpid() & 0x3fffff) << 8 |
						    (sysv_counter++ & 0xff));
	else
		test_fail(__FILE__, __LINE__, "unknown token {%.*s} in %s", (int)keylen, key,
			  fx->url);
}

/* url_expand fills in the tokens of the fixture's URL template. */
static void url_expand(char *out, size_t size, const char *tmpl)
{
	size_t o = 0;
	for (const char *p = tmpl; *p && o + 1 < size;) {
		const char *end = *p == '{' ? strchr(p, '}') : NULL;
		if (!end) {
			out[o++] = *p++;
			continue;
		}
		char val[128];
		token_value(val, sizeof(val), p + 1, (size_t)(end - p - 1));
		o += (size_t)snprintf(out + o, size - o, "%s", val);
		p = end + 1;
	}
	CHECK(o + 1 < size);
	out[o] = '\0';
}

/* ---- payloads ---------------------------------------------------------- */

/* payload_byte is the i-th byte of the message made from seed. */
static unsigned char payload_byte(uint32_t *state)
{
	uint32_t x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	unsigned char b = (unsigned char)(x >> 24);
	/* A line frame cannot carry a newline inside a message. */
	return fx_frame == FRAME_LINE && b == '\n' ? 'n' : b;
}

static uint32_t payload_seed(uint32_t seed)
{
	return seed * 2654435761u + 0x9e3779b9u;
}

static void payload_fill(unsigned char *buf, size_t len, uint32_t seed)
{
	uint32_t s = payload_seed(seed);
	for (size_t i = 0; i < len; i++)
		buf[i] = payload_byte(&s);
}

static bool payload_ok(const unsigned char *buf, size_t len, uint32_t seed)
{
	uint32_t s = payload_seed(seed);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != payload_byte(&s))
			return false;
	return true;
}

/*
 * frame_type is the type a test asks for, or 1 where the frame has no
 * types or where types are priorities that would reorder the messages.
 */
static long frame_type(long type)
{
	return fx_frame == FRAME_BINARY && !fx_priority && !fx_untyped ? type : 1;
}

/* seed_type spreads message types over 1..7 by seed. */
static long seed_type(uint32_t seed)
{
	return frame_type(1 + (long)(seed % 7));
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	CHECK(p != NULL);
	return p;
}

/* send_seed sends len bytes made from seed with the type seed_type(seed). */
static void send_seed(ipcx_chan *ch, uint32_t seed, size_t len)
{
	unsigned char *buf = xmalloc(len);
	payload_fill(buf, len, seed);
	CHECK_RC(ipcx_send(ch, buf, len, seed_type(seed), SEND_MS), 0);
	free(buf);
}

/* recv_seed receives one message and checks it is the one send_seed made. */
static void recv_seed(ipcx_chan *ch, uint32_t seed, size_t len, int timeout_ms)
{
	unsigned char *buf = xmalloc(len + 64);
	long type = 0;
	ssize_t n = ipcx_recv(ch, buf, len + 64, 0, &type, timeout_ms);
	if (n != (ssize_t)len)
		test_fail(__FILE__, __LINE__, "message %u: recv = %zd (%s), want %zu bytes; %s",
			  seed, n, n < 0 ? ipcx_errname((int)n) : "", len, ipcx_errmsg());
	if (!payload_ok(buf, len, seed))
		test_fail(__FILE__, __LINE__, "message %u: the %zu bytes differ from those sent",
			  seed, len);
	if (type != seed_type(seed))
		test_fail(__FILE__, __LINE__, "message %u: type %ld, want %ld", seed, type,
			  seed_type(seed));
	free(buf);
}

/*
 * A stamped message carries its own sequence number, length and checksum
 * as 24 hex digits, then a payload: the receiver checks it knowing nothing
 * but the stamp. Hex keeps the stamp newline-free for line frames.
 */
#define STAMP_LEN 24

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void stamp_fill(unsigned char *buf, size_t len, uint32_t seq)
{
	char stamp[STAMP_LEN + 1];
	payload_fill(buf + STAMP_LEN, len - STAMP_LEN, seq);
	snprintf(stamp, sizeof(stamp), "%08x%08x%08x", seq, (uint32_t)len,
		 fnv1a(buf + STAMP_LEN, len - STAMP_LEN));
	memcpy(buf, stamp, STAMP_LEN);
}

/* stamp_check verifies a received message and returns its sequence number. */
static uint32_t stamp_check(const unsigned char *buf, ssize_t n)
{
	char stamp[STAMP_LEN + 1];
	unsigned seq, len, sum;
	if (n < STAMP_LEN)
		test_fail(__FILE__, __LINE__, "stamped message: recv = %zd (%s); %s", n,
			  n < 0 ? ipcx_errname((int)n) : "short", ipcx_errmsg());
	memcpy(stamp, buf, STAMP_LEN);
	stamp[STAMP_LEN] = '\0';
	CHECK(sscanf(stamp, "%8x%8x%8x", &seq, &len, &sum) == 3);
	if (len != (size_t)n || sum != fnv1a(buf + STAMP_LEN, (size_t)n - STAMP_LEN))
		test_fail(__FILE__, __LINE__, "message %u: %zd bytes with checksum %08x, stamp "
			  "says %u bytes and %08x", seq, n,
			  fnv1a(buf + STAMP_LEN, (size_t)n - STAMP_LEN), len, sum);
	return seq;
}

/* stamp_len varies message sizes over STAMP_LEN..limit by sequence number. */
static size_t stamp_len(uint32_t seq, size_t limit)
{
	uint32_t s = payload_seed(seq ^ 0x5a5a5a5au);
	return STAMP_LEN + (size_t)(payload_byte(&s) | payload_byte(&s) << 8) %
				   (limit - STAMP_LEN + 1);
}

/* ---- links: one receiving parent, sending children -------------------- */

/*
 * A link is the channel a test runs over: rx is the parent's end (it
 * receives), tx a child's end (it sends). ctl is a socketpair beside the
 * channel for the two processes to agree on when to act; it never carries
 * test data.
 */
struct link {
	char url[256];
	bool pair;             /* made with ipcx_pair() before the fork */
	bool connected;        /* IPCX_CAP_CONNECTED: the parent listens */
	bool both;             /* both ends send and receive */
	ipcx_chan *rx;         /* the parent's end */
	ipcx_chan *tx;         /* a child's end */
	struct ipcx_caps caps; /* rx's, read before the fork */
	pid_t kids[MAX_KIDS];
	int nkids;
	int ctl[2]; /* the parent uses ctl[0], the children ctl[1] */
	int me;     /* -1 in the parent, the child's index in a child */
};

/* link_check_caps checks what every channel must report about itself. */
static void link_check_caps(const struct link *l)
{
	size_t n = strcspn(l->url, ":");
	CHECK(l->caps.max_msg > 0);
	CHECK(!(l->caps.flags & IPCX_CAP_NAMED) == l->pair);
	CHECK(!(l->caps.flags & IPCX_CAP_CONNECTED) || (l->caps.flags & IPCX_CAP_NAMED));
	CHECK(ipcx_url(l->rx) && strncmp(ipcx_url(l->rx), l->url, n) == 0);
}

/*
 * link_open makes the channel of this fixture: a pair, or the named object
 * opened for receiving (and sending, with both) and registered for removal.
 */
static void link_open(struct link *l, bool both)
{
	struct ipcx_caps tc;
	memset(l, 0, sizeof(*l));
	l->me = -1;
	l->both = both;
	url_expand(l->url, sizeof(l->url), fx->url);
	CHECK_RC(ipcx_transport_caps(l->url, &tc), 0);
	l->pair = !(tc.flags & IPCX_CAP_NAMED);
	l->connected = tc.flags & IPCX_CAP_CONNECTED;
	if (l->pair) {
		ipcx_chan *ends[2];
		CHECK_RC(ipcx_pair(l->url, ends), 0);
		l->rx = ends[0];
		l->tx = ends[1];
	} else {
		test_cleanup_url(l->url);
		int flags = IPCX_RECV | IPCX_CREATE | (both ? IPCX_SEND : 0);
		CHECK_RC(ipcx_open(&l->rx, l->url, flags, OPEN_MS), 0);
	}
	CHECK_RC(ipcx_caps_of(l->rx, &l->caps), 0);
	link_check_caps(l);
	fx_priority = l->caps.flags & IPCX_CAP_PRIORITY;
	fx_untyped = l->caps.flags & IPCX_CAP_UNTYPED;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, l->ctl) == 0);
}

/* link_child_setup runs in a new child: drop the parent's end, open ours. */
static void link_child_setup(struct link *l, int index)
{
	l->me = index;
	close(l->ctl[0]);
	ipcx_close(l->rx);
	l->rx = NULL;
	if (l->pair)
		return;
	int flags = IPCX_SEND | (l->both ? IPCX_RECV : 0) | (l->connected ? 0 : IPCX_CREATE);
	CHECK_RC(ipcx_open(&l->tx, l->url, flags, OPEN_MS), 0);
}

/*
 * link_fork starts n sending children. It returns the child's index in a
 * child and -1 in the parent, which keeps only its receiving end.
 */
static int link_fork(struct link *l, int n)
{
	CHECK(n >= 1 && n <= MAX_KIDS);
	fflush(NULL);
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			link_child_setup(l, i);
			return i;
		}
		l->kids[l->nkids++] = pid;
	}
	close(l->ctl[1]);
	if (l->pair) {
		ipcx_close(l->tx);
		l->tx = NULL;
	}
	return -1;
}

/* child_exit closes the child's end (flushing what it sent) and ends the child. */
static void __attribute__((noreturn)) child_exit(struct link *l)
{
	ipcx_close(l->tx);
	_exit(0);
}

/* link_finish closes the parent's end and fails unless every child passed. */
static void link_finish(struct link *l)
{
	ipcx_close(l->rx);
	l->rx = NULL;
	for (int i = 0; i < l->nkids; i++) {
		int status;
		while (waitpid(l->kids[i], &status, 0) < 0)
			CHECK(errno == EINTR);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			test_fail(__FILE__, __LINE__, "child %d failed (wait status 0x%x)", i,
				  status);
	}
	close(l->ctl[0]);
}

/* ctl_post tells the other process a number; it is gone if this fails. */
static void ctl_post(const struct link *l, uint32_t v)
{
	int fd = l->me < 0 ? l->ctl[0] : l->ctl[1];
	ssize_t n;
	while ((n = send(fd, &v, sizeof(v), MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(v))
		test_fail(__FILE__, __LINE__, "the other process is gone (control send)");
}

/* ctl_wait waits for the other process to post a number and returns it. */
static uint32_t ctl_wait(const struct link *l)
{
	int fd = l->me < 0 ? l->ctl[0] : l->ctl[1];
	uint32_t v;
	ssize_t n;
	while ((n = recv(fd, &v, sizeof(v), MSG_WAITALL)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(v))
		test_fail(__FILE__, __LINE__, "the other process is gone (control recv)");
	return v;
}

/* The peer going away must end a receive with -EPIPE on these links. */
static bool link_eof_is_epipe(const struct link *l)
{
	return l->pair || ((l->caps.flags & IPCX_CAP_BYTE_STREAM) && !l->connected);
}

/*
 * expect_end checks that nothing but the end comes once every child is
 * gone: -EPIPE where link_eof_is_epipe, else -EPIPE or -ETIMEDOUT.
 */
static void expect_end(struct link *l)
{
	unsigned char buf[64];
	long type;
	siginfo_t si;
	for (int i = 0; i < l->nkids; i++)
		while (waitid(P_PID, (id_t)l->kids[i], &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
			;
	ssize_t n = ipcx_recv(l->rx, buf, sizeof(buf), 0, &type,
			      link_eof_is_epipe(l) ? RECV_MS : 300);
	if (link_eof_is_epipe(l))
		CHECK_RC(n, -EPIPE);
	else if (n != -EPIPE)
		CHECK_RC(n, -ETIMEDOUT);
}

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static void skip_unless_records(void)
{
	if (fx_frame == FRAME_RAW)
		SKIP("frame=raw keeps no record boundaries");
}

/*
 * skip_unless_reliable skips tests that need every message of a sender
 * running far ahead: a transport without IPCX_CAP_RELIABLE may drop the
 * oldest (shm:// policy=overwrite reports it as -EOVERFLOW; test_shm.c
 * checks that accounting).
 */
static void skip_unless_reliable(const struct link *l)
{
	if (!(l->caps.flags & IPCX_CAP_RELIABLE))
		SKIP("no IPCX_CAP_RELIABLE: a sender that runs ahead may overwrite messages");
}

/* skip_if_rendezvous skips tests whose sender must run ahead of its receiver. */
static void skip_if_rendezvous(const struct link *l)
{
	if (l->caps.flags & IPCX_CAP_RENDEZVOUS)
		SKIP("IPCX_CAP_RENDEZVOUS: a send waits for its receiver, nothing is queued");
}

/* ---- the tests --------------------------------------------------------- */

/* 1000 messages arrive in the order they were sent, each intact. */
static void test_ordering(void)
{
	struct link l;
	link_open(&l, false);
	skip_unless_records();
	size_t max = min_size(l.caps.max_msg, 32);
	if (link_fork(&l, 1) >= 0) {
		for (uint32_t i = 0; i < 1000; i++)
			send_seed(l.tx, i, 1 + i % max);
		child_exit(&l);
	}
	for (uint32_t i = 0; i < 1000; i++)
		recv_seed(l.rx, i, 1 + i % max, RECV_MS);
	expect_end(&l);
	link_finish(&l);
}

/* Messages of sizes 1, 2, 3, ... N arrive with exactly those sizes. */
static void test_boundaries(void)
{
	struct link l;
	link_open(&l, false);
	skip_unless_records();
	size_t n = min_size(l.caps.max_msg, 1024);
	if (link_fork(&l, 1) >= 0) {
		for (size_t len = 1; len <= n; len++)
			send_seed(l.tx, (uint32_t)len, len);
		child_exit(&l);
	}
	for (size_t len = 1; len <= n; len++)
		recv_seed(l.rx, (uint32_t)len, len, RECV_MS);
	expect_end(&l);
	link_finish(&l);
}

/* A 0-byte message is a message: it arrives, with its type, between others. */
static void test_empty(void)
{
	struct link l;
	link_open(&l, false);
	skip_unless_records();
	if (link_fork(&l, 1) >= 0) {
		send_seed(l.tx, 1, 0);
		send_seed(l.tx, 2, 1);
		send_seed(l.tx, 3, 0);
		child_exit(&l);
	}
	recv_seed(l.rx, 1, 0, RECV_MS);
	recv_seed(l.rx, 2, 1, RECV_MS);
	recv_seed(l.rx, 3, 0, RECV_MS);
	expect_end(&l);
	link_finish(&l);
}

/* A message of max_msg bytes (at most MAX_TEST_MSG) arrives whole. */
static void test_maxsize(void)
{
	struct link l;
	link_open(&l, false);
	skip_unless_records();
	size_t len = min_size(l.caps.max_msg, MAX_TEST_MSG);
	if (link_fork(&l, 1) >= 0) {
		struct ipcx_caps c;
		CHECK_RC(ipcx_caps_of(l.tx, &c), 0);
		CHECK(c.max_msg >= len);
		send_seed(l.tx, 7, len);
		send_seed(l.tx, 8, 1);
		child_exit(&l);
	}
	unsigned char *buf = xmalloc(len);
	long type;
	CHECK_RC(ipcx_recv(l.rx, buf, len, 0, &type, RECV_MS), (ssize_t)len);
	CHECK(payload_ok(buf, len, 7));
	CHECK(type == seed_type(7));
	free(buf);
	recv_seed(l.rx, 8, 1, RECV_MS);
	expect_end(&l);
	link_finish(&l);
}

/* One byte past max_msg is -EMSGSIZE, sends nothing, and the channel goes on. */
static void test_oversize(void)
{
	struct link l;
	link_open(&l, false);
	if (link_fork(&l, 1) >= 0) {
		struct ipcx_caps c;
		CHECK_RC(ipcx_caps_of(l.tx, &c), 0);
		if (c.max_msg < SIZE_MAX / 2) {
			/* Untouched zero pages: a 1 GiB limit costs no memory. */
			size_t len = c.max_msg + 1;
			void *big = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
				MAP_NORESERVE, -1, 0);
			CHECK(big != MAP_FAILED);
			CHECK_RC(ipcx_send(l.tx, big, len, 1, 0), -EMSGSIZE);
			CHECK_RC(ipcx_send(l.tx, big, len, 1, SEND_MS), -EMSGSIZE);
			munmap(big, len);
		}
		send_seed(l.tx, 9, min_size(c.max_msg, 5));
		child_exit(&l);
	}
	recv_seed(l.rx, 9, min_size(l.caps.max_msg, 5), RECV_MS);
	expect_end(&l);
	link_finish(&l);
}

/* A buffer too small is -EMSGSIZE and keeps the message for the next call. */
static void test_small_buffer(void)
{
	struct link l;
	link_open(&l, false);
	skip_unless_records();
	size_t len = min_size(l.caps.max_msg, 100);
	if (len < 2)
		SKIP("max_msg %zu leaves no message a buffer can be too small for", len);
	if (link_fork(&l, 1) >= 0) {
		send_seed(l.tx, 3, len);
		send_seed(l.tx, 4, 1);
		child_exit(&l);
	}
	unsigned char small[100];
	CHECK_RC(ipcx_recv(l.rx, small, len / 2, 0, NULL, RECV_MS), -EMSGSIZE);
	CHECK_RC(ipcx_recv(l.rx, small, len - 1, 0, NULL, 0), -EMSGSIZE);
	CHECK_RC(ipcx_recv(l.rx, NULL, 0, 0, NULL, RECV_MS), -EMSGSIZE);
	recv_seed(l.rx, 3, len, RECV_MS);
	recv_seed(l.rx, 4, 1, RECV_MS);
	expect_end(&l);
	link_finish(&l);
}

/* The messages of the typed test: their types and (as seeds) their order. */
static const long typed_types[] = {3, 1, 2, 5, 1, 4};
#define NTYPED (sizeof(typed_types) / sizeof(typed_types[0]))

/* recv_typed takes the message selector picks and checks it is message want. */
static void recv_typed(ipcx_chan *ch, long selector, unsigned want)
{
	unsigned char buf[64];
	long type = 0;
	ssize_t n = ipcx_recv(ch, buf, sizeof(buf), selector, &type, RECV_MS);
	if (n != (ssize_t)(8 + want) || !payload_ok(buf, 8 + want, want) ||
	    type != typed_types[want])
		test_fail(__FILE__, __LINE__, "selector %ld: got %zd bytes of type %ld, want "
			  "message %u (type %ld); %s", selector, n, type, want,
			  typed_types[want], ipcx_errmsg());
}

/* typed_select checks System V selection: 0 oldest, > 0 that type, < 0 lowest <= |t|. */
static void typed_select(ipcx_chan *rx)
{
	recv_typed(rx, 2, 2);
	recv_typed(rx, -3, 1);
	recv_typed(rx, 0, 0);
	CHECK_RC(ipcx_recv(rx, NULL, 0, 9, NULL, 0), -ENOMSG);
	CHECK_RC(ipcx_recv(rx, NULL, 0, 2, NULL, 20), -ETIMEDOUT);
	recv_typed(rx, -5, 4);
	recv_typed(rx, 5, 3);
	recv_typed(rx, 0, 5);
	CHECK_RC(ipcx_recv(rx, NULL, 0, 0, NULL, 0), -ENOMSG);
}

/* Typed receive follows msgrcv where the transport can; elsewhere it is -ENOTSUP. */
static void test_typed(void)
{
	struct link l;
	link_open(&l, false);
	skip_if_rendezvous(&l);
	bool typed = l.caps.flags & IPCX_CAP_TYPED;
	if (typed && fx_frame != FRAME_BINARY)
		SKIP("a typed transport with an untyped frame");
	if (l.caps.max_msg < 8 + NTYPED)
		SKIP("max_msg %zu is below the typed test's %zu-byte messages", l.caps.max_msg,
		     8 + NTYPED);
	if (link_fork(&l, 1) >= 0) {
		for (unsigned i = 0; i < NTYPED; i++) {
			unsigned char buf[64];
			payload_fill(buf, 8 + i, i);
			CHECK_RC(ipcx_send(l.tx, buf, 8 + i, frame_type(typed_types[i]), SEND_MS),
				 0);
		}
		ctl_post(&l, 1);
		ctl_wait(&l);
		child_exit(&l);
	}
	ctl_wait(&l);
	if (typed) {
		typed_select(l.rx);
	} else {
		unsigned char buf[64];
		CHECK_RC(ipcx_recv(l.rx, buf, sizeof(buf), 5, NULL, RECV_MS), -ENOTSUP);
		CHECK_RC(ipcx_recv(l.rx, buf, sizeof(buf), -5, NULL, 0), -ENOTSUP);
		for (uint32_t i = 0; fx_frame != FRAME_RAW && i < NTYPED; i++) {
			long type;
			CHECK_RC(ipcx_recv(l.rx, buf, sizeof(buf), 0, &type, RECV_MS), 8 + i);
			CHECK(payload_ok(buf, 8 + i, i) && type == frame_type(typed_types[i]));
		}
	}
	ctl_post(&l, 1);
	link_finish(&l);
}

/* The messages of the priority test, in the order they are sent. */
static const long prio_types[] = {1, 3, 2, 3, 1};
/* The order they must arrive in: highest type first, oldest first within one. */
static const unsigned prio_order[] = {1, 3, 2, 0, 4};

/* Where types are priorities, a higher type overtakes; equal types keep their order. */
static void test_priority(void)
{
	struct link l;
	link_open(&l, false);
	if (!fx_priority)
		SKIP("no IPCX_CAP_PRIORITY");
	if (fx_frame != FRAME_BINARY)
		SKIP("the frame carries no types");
	if (link_fork(&l, 1) >= 0) {
		for (unsigned i = 0; i < sizeof(prio_types) / sizeof(prio_types[0]); i++) {
			unsigned char buf[16];
			payload_fill(buf, 1 + i, i);
			CHECK_RC(ipcx_send(l.tx, buf, 1 + i, prio_types[i], SEND_MS), 0);
		}
		ctl_post(&l, 1);
		child_exit(&l);
	}
	ctl_wait(&l);
	for (unsigned i = 0; i < sizeof(prio_order) / sizeof(prio_order[0]); i++) {
		unsigned want = prio_order[i];
		unsigned char buf[16];
		long type = 0;
		ssize_t n = ipcx_recv(l.rx, buf, sizeof(buf), 0, &type, RECV_MS);
		if (n != (ssize_t)(1 + want) || !payload_ok(buf, 1 + want, want) ||
		    type != prio_types[want])
			test_fail(__FILE__, __LINE__, "receive %u: %zd bytes of type %ld, want "
				  "message %u (type %ld); %s", i, n, type, want, prio_types[want],
				  ipcx_errmsg());
	}
	link_finish(&l);
}

/* Timeouts: 0 on empty is -ENOMSG, N ms is -ETIMEDOUT, -1 waits for a later message. */
static void test_timeouts(void)
{
	struct link l;
	link_open(&l, false);
	if (link_fork(&l, 1) >= 0) {
		ctl_post(&l, 1);
		ctl_wait(&l);
		send_seed(l.tx, 1, min_size(l.caps.max_msg, 10));
		ctl_wait(&l);
		send_seed(l.tx, 2, min_size(l.caps.max_msg, 10));
		child_exit(&l);
	}
	unsigned char buf[64];
	ctl_wait(&l);
	CHECK_RC(ipcx_recv(l.rx, buf, sizeof(buf), 0, NULL, 0), -ENOMSG);
	CHECK_RC(ipcx_recv(l.rx, buf, sizeof(buf), 0, NULL, 30), -ETIMEDOUT);
	CHECK_RC(ipcx_recv(l.rx, buf, sizeof(buf), 0, NULL, 0), -ENOMSG);
	ctl_post(&l, 1);
	recv_seed(l.rx, 1, min_size(l.caps.max_msg, 10), -1);
	ctl_post(&l, 2);
	recv_seed(l.rx, 2, min_size(l.caps.max_msg, 10), RECV_MS);
	link_finish(&l);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* catch_alarm counts SIGALRM with a handler that does not restart system calls. */
static void catch_alarm(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: the library must resume the wait itself */
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
}

/* alarm_burst sends pid a few SIGALRMs, spaced so they are not merged. */
static void alarm_burst(pid_t pid)
{
	for (int i = 0; i < 3; i++) {
		CHECK(kill(pid, SIGALRM) == 0);
		nap_ms(20);
	}
}

/* Signals during a waiting receive neither end it nor lose the message. */
static void test_eintr_recv(void)
{
	struct link l;
	link_open(&l, false);
	size_t len = min_size(l.caps.max_msg, 10);
	if (link_fork(&l, 1) >= 0) {
		for (uint32_t i = 1; i <= 2; i++) {
			ctl_wait(&l);
			alarm_burst(getppid());
			send_seed(l.tx, i, len);
		}
		child_exit(&l);
	}
	catch_alarm();
	ctl_post(&l, 1);
	recv_seed(l.rx, 1, len, -1);
	CHECK(alarms >= 1);
	alarms = 0;
	ctl_post(&l, 2);
	recv_seed(l.rx, 2, len, RECV_MS);
	CHECK(alarms >= 1);
	link_finish(&l);
}

/*
 * fill_until_full sends len-byte messages with timeout 0 until the channel
 * is full (-EAGAIN) and returns how many it accepted.
 */
static uint32_t fill_until_full(ipcx_chan *tx, size_t len)
{
	unsigned char *buf = xmalloc(len);
	uint32_t count = 0;
	for (;;) {
		payload_fill(buf, len, count);
		int rc = ipcx_send(tx, buf, len, seed_type(count), 0);
		if (rc == -EAGAIN)
			break;
		CHECK_RC(rc, 0);
		if (++count == 1000000)
			test_fail(__FILE__, __LINE__, "a million messages and no -EAGAIN");
	}
	/* Still full: a bounded wait expires without sending. */
	CHECK_RC(ipcx_send(tx, buf, len, seed_type(count), 20), -ETIMEDOUT);
	free(buf);
	return count;
}

#define END_SEED 0xe0d
#define END_LEN 3

/* drain receives count filler messages and then the end marker: nothing lost or added. */
static void drain(struct link *l, uint32_t count, size_t len)
{
	for (uint32_t i = 0; i < count; i++)
		recv_seed(l->rx, i, len, RECV_MS);
	recv_seed(l->rx, END_SEED, min_size(END_LEN, l->caps.max_msg), RECV_MS);
}

static size_t flow_len(const struct link *l)
{
	skip_if_rendezvous(l);
	if (!(l->caps.flags & IPCX_CAP_FLOW_CONTROL))
		SKIP("no IPCX_CAP_FLOW_CONTROL");
	skip_unless_records();
	/* Three pages and more: a stream may take part of a message, keeping the rest. */
	return min_size(l->caps.max_msg, 3 * 4096 + 100);
}

/* A full channel: timeout 0 is -EAGAIN, and exactly what was accepted arrives. */
static void test_flow(void)
{
	struct link l;
	link_open(&l, false);
	size_t len = flow_len(&l);
	if (link_fork(&l, 1) >= 0) {
		ctl_post(&l, fill_until_full(l.tx, len));
		send_seed(l.tx, END_SEED, min_size(END_LEN, l.caps.max_msg));
		child_exit(&l);
	}
	uint32_t count = ctl_wait(&l);
	CHECK(count > 0);
	drain(&l, count, len);
	link_finish(&l);
}

/* Signals during a send waiting for room neither end it nor lose the message. */
static void test_eintr_send(void)
{
	struct link l;
	link_open(&l, false);
	size_t len = flow_len(&l);
	if (link_fork(&l, 1) >= 0) {
		catch_alarm();
		uint32_t count = fill_until_full(l.tx, len);
		ctl_post(&l, count);
		/* As large as the one refused: it waits until the parent drains. */
		send_seed(l.tx, count, len);
		CHECK(alarms >= 1);
		send_seed(l.tx, END_SEED, min_size(END_LEN, l.caps.max_msg));
		child_exit(&l);
	}
	uint32_t count = ctl_wait(&l);
	alarm_burst(l.kids[0]);
	drain(&l, count + 1, len);
	link_finish(&l);
}

/* A sender that dies without a word ends a waiting receive: no hang. */
static void test_peer_exit(void)
{
	struct link l;
	link_open(&l, false);
	if (link_fork(&l, 1) >= 0) {
		ctl_post(&l, 1);
		_exit(0); /* as a crash would: nothing closed, nothing sent */
	}
	ctl_wait(&l);
	expect_end(&l);
	expect_end(&l);
	link_finish(&l);
}

/* Messages sent before the sender exits are all delivered after it is gone. */
static void test_peer_exit_after_send(void)
{
	struct link l;
	link_open(&l, false);
	skip_unless_records();
	skip_if_rendezvous(&l);
	size_t len = min_size(l.caps.max_msg, 10);
	if (link_fork(&l, 1) >= 0) {
		for (uint32_t i = 0; i < 3; i++)
			send_seed(l.tx, i, len);
		child_exit(&l);
	}
	int status;
	CHECK(waitpid(l.kids[0], &status, 0) == l.kids[0]);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	l.nkids = 0;
	for (uint32_t i = 0; i < 3; i++)
		recv_seed(l.rx, i, len, RECV_MS);
	expect_end(&l);
	link_finish(&l);
}

/* send_stamped sends count stamped messages numbered from first. */
static void send_stamped(ipcx_chan *tx, uint32_t first, uint32_t count, size_t limit)
{
	unsigned char *buf = xmalloc(limit);
	for (uint32_t seq = first; seq < first + count; seq++) {
		size_t len = stamp_len(seq, limit);
		stamp_fill(buf, len, seq);
		CHECK_RC(ipcx_send(tx, buf, len, seed_type(seq), SEND_MS), 0);
	}
	free(buf);
}

/* recv_stamped receives one stamped message, checks it and returns its sequence number. */
static uint32_t recv_stamped(ipcx_chan *rx, unsigned char *buf, size_t limit)
{
	long type = 0;
	ssize_t n = ipcx_recv(rx, buf, limit, 0, &type, RECV_MS);
	uint32_t seq = stamp_check(buf, n);
	if (type != seed_type(seq))
		test_fail(__FILE__, __LINE__, "message %u: type %ld, want %ld", seq, type,
			  seed_type(seq));
	return seq;
}

/*
 * recv_in_order receives count stamped messages from each of senders
 * (sender k numbers its messages from k << 24) and fails the test unless
 * every sender's messages arrive in the order it sent them.
 */
static void recv_in_order(ipcx_chan *rx, uint32_t senders, uint32_t count, size_t limit)
{
	uint32_t next[256] = {0};
	unsigned char *buf = xmalloc(limit);
	for (uint32_t i = 0; i < senders * count; i++) {
		uint32_t seq = recv_stamped(rx, buf, limit);
		uint32_t kid = seq >> 24;
		CHECK(kid < senders);
		if ((seq & 0xffffff) != next[kid])
			test_fail(__FILE__, __LINE__, "sender %u: message %u arrived where %u was due",
				  kid, seq & 0xffffff, next[kid]);
		next[kid]++;
	}
	free(buf);
}

static size_t stamp_limit(const struct link *l)
{
	skip_unless_records();
	if (l->caps.max_msg < STAMP_LEN)
		SKIP("max_msg %zu is below a %d-byte stamp", l->caps.max_msg, STAMP_LEN);
	return min_size(l->caps.max_msg, 1500);
}

/* 20000 messages of varying sizes, each verified by its own checksum, in order. */
static void test_checksums(void)
{
	enum { COUNT = 20000 };
	struct link l;
	link_open(&l, false);
	skip_unless_reliable(&l);
	size_t limit = stamp_limit(&l);
	if (link_fork(&l, 1) >= 0) {
		send_stamped(l.tx, 0, COUNT, limit);
		child_exit(&l);
	}
	recv_in_order(l.rx, 1, COUNT, limit);
	expect_end(&l);
	link_finish(&l);
}

/* Several senders at once: every message arrives whole, each sender's in order. */
static void test_many_senders(void)
{
	enum { KIDS = 3, EACH = 1000 };
	struct link l;
	link_open(&l, false);
	if (!(l.caps.flags & IPCX_CAP_MANY_SENDERS))
		SKIP("no IPCX_CAP_MANY_SENDERS");
	skip_unless_reliable(&l);
	size_t limit = stamp_limit(&l);
	int me = link_fork(&l, KIDS);
	if (me >= 0) {
		/* Start together: a FIFO whose only writer left reads as ended. */
		ctl_post(&l, 1);
		ctl_wait(&l);
		send_stamped(l.tx, (uint32_t)me << 24, EACH, limit);
		child_exit(&l);
	}
	for (int i = 0; i < KIDS; i++)
		ctl_wait(&l);
	for (int i = 0; i < KIDS; i++)
		ctl_post(&l, 1);
	recv_in_order(l.rx, KIDS, EACH, limit);
	expect_end(&l);
	link_finish(&l);
}

/* Both ends send and receive: 200 round trips, each reply checked. */
static void test_pingpong(void)
{
	enum { ROUNDS = 200, REPLY = 100000 };
	struct link l;
	link_open(&l, true);
	if (!(l.caps.flags & IPCX_CAP_BIDIRECTIONAL))
		SKIP("no IPCX_CAP_BIDIRECTIONAL");
	skip_unless_records();
	size_t max = min_size(l.caps.max_msg, 50);
	if (link_fork(&l, 1) >= 0) {
		for (uint32_t i = 0; i < ROUNDS; i++) {
			send_seed(l.tx, i, 1 + i % max);
			recv_seed(l.tx, REPLY + i, i % max, RECV_MS);
		}
		child_exit(&l);
	}
	for (uint32_t i = 0; i < ROUNDS; i++) {
		recv_seed(l.rx, i, 1 + i % max, RECV_MS);
		send_seed(l.rx, REPLY + i, i % max);
	}
	link_finish(&l);
}

/* Misused calls fail with -EINVAL or -EBADF and leave the channel working. */
static void test_bad_args(void)
{
	struct link l;
	link_open(&l, false);
	bool bidi = l.caps.flags & IPCX_CAP_BIDIRECTIONAL;
	if (link_fork(&l, 1) >= 0) {
		CHECK_RC(ipcx_send(l.tx, "x", 1, 0, 0), -EINVAL);
		CHECK_RC(ipcx_send(l.tx, "x", 1, -7, 0), -EINVAL);
		CHECK_RC(ipcx_send(l.tx, NULL, 1, 1, 0), -EINVAL);
		if (!bidi)
			CHECK_RC(ipcx_recv(l.tx, (char[4]){0}, 4, 0, NULL, 0), -EBADF);
		send_seed(l.tx, 1, 1);
		child_exit(&l);
	}
	CHECK_RC(ipcx_recv(l.rx, NULL, 4, 0, NULL, 0), -EINVAL);
	if (!bidi)
		CHECK_RC(ipcx_send(l.rx, "x", 1, 1, 0), -EBADF);
	recv_seed(l.rx, 1, 1, RECV_MS);
	link_finish(&l);
}

/* ipcx_fd polls readable once a message is there; -ENOTSUP without POLLABLE. */
static void test_pollable(void)
{
	struct link l;
	link_open(&l, false);
	size_t len = min_size(l.caps.max_msg, 10);
	bool pollable = l.caps.flags & IPCX_CAP_POLLABLE;
	if (link_fork(&l, 1) >= 0) {
		ctl_wait(&l);
		send_seed(l.tx, 1, len);
		child_exit(&l);
	}
	if (!pollable) {
		CHECK_RC(ipcx_fd(l.rx), -ENOTSUP);
		ctl_post(&l, 1);
		recv_seed(l.rx, 1, len, RECV_MS);
		link_finish(&l);
		return;
	}
	int fd = ipcx_fd(l.rx);
	CHECK(fd >= 0);
	ctl_post(&l, 1);
	unsigned char buf[64];
	ssize_t n = -ENOMSG;
	/* A wake-up, not a promise: poll, then take with timeout 0 until it comes. */
	for (int spins = 0; n == -ENOMSG && spins < 1000; spins++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		CHECK(poll(&p, 1, RECV_MS) == 1);
		n = ipcx_recv(l.rx, buf, sizeof(buf), 0, NULL, 0);
	}
	CHECK_RC(n, (ssize_t)len);
	CHECK(payload_ok(buf, len, 1));
	link_finish(&l);
}

/* Bytes written past ipcx into the stream, as a hostile or confused peer would. */
struct garbage {
	const char *what;
	unsigned char bytes[32];
	size_t len;
};

static const struct garbage garbages[] = {
	{"text", "this is not an ipcx frame at all", 32},
	{"bad version", {'I', 'X', 99, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, 16},
	{"zeros", {0}, 16},
	/* A frame header whose check byte (0x4c) was made for length 8, not 4. */
	{"bad check byte",
	 {'I', 'X', 1, 0x4c, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'},
	 24},
};

/* garbage_fd gives a child a descriptor that writes straight into the stream. */
static int garbage_fd(const struct link *l)
{
	if (l->pair)
		return ipcx_fd(l->tx);
	/* A named, unconnected byte stream is a FIFO: its address is its path. */
	char path[256];
	snprintf(path, sizeof(path), "%s", strstr(l->url, "://") + 3);
	path[strcspn(path, "?")] = '\0';
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	return fd;
}

static void garbage_once(const struct garbage *g)
{
	struct link l;
	link_open(&l, false);
	if (!(l.caps.flags & IPCX_CAP_BYTE_STREAM) || l.connected || fx_frame != FRAME_BINARY)
		SKIP("needs binary frames on a pair or a FIFO");
	if (link_fork(&l, 1) >= 0) {
		send_seed(l.tx, 1, 10);
		int fd = garbage_fd(&l);
		CHECK(write(fd, g->bytes, g->len) == (ssize_t)g->len);
		/* Hold the stream open so the receiver meets the garbage, not the end. */
		ctl_wait(&l);
		child_exit(&l);
	}
	recv_seed(l.rx, 1, 10, RECV_MS);
	unsigned char buf[64];
	ssize_t n = ipcx_recv(l.rx, buf, sizeof(buf), 0, NULL, RECV_MS);
	if (n != -EPROTO)
		test_fail(__FILE__, __LINE__, "garbage '%s': recv = %zd (%s), want EPROTO", g->what,
			  n, n < 0 ? ipcx_errname((int)n) : "");
	CHECK_RC(ipcx_recv(l.rx, buf, sizeof(buf), 0, NULL, 0), -EPROTO);
	ctl_post(&l, 1);
	link_finish(&l);
}

/* Garbage on a byte stream is -EPROTO, and stays so: the stream is lost. */
static void test_garbage(void)
{
	for (size_t i = 0; i < sizeof(garbages) / sizeof(garbages[0]); i++)
		garbage_once(&garbages[i]);
}

static const struct test_case fixture_tests[] = {
	{"ordering", test_ordering},
	{"boundaries", test_boundaries},
	{"empty", test_empty},
	{"maxsize", test_maxsize},
	{"oversize", test_oversize},
	{"small_buffer", test_small_buffer},
	{"typed", test_typed},
	{"priority", test_priority},
	{"timeouts", test_timeouts},
	{"eintr_recv", test_eintr_recv},
	{"flow", test_flow},
	{"eintr_send", test_eintr_send},
	{"peer_exit", test_peer_exit},
	{"peer_exit_after_send", test_peer_exit_after_send},
	{"checksums", test_checksums},
	{"many_senders", test_many_senders},
	{"pingpong", test_pingpong},
	{"bad_args", test_bad_args},
	{"pollable", test_pollable},
	{"garbage", test_garbage},
};

/* ---- URL checks, once for the library --------------------------------- */

/* expect_einval opens url and wants -EINVAL with an errmsg that names part. */
static void expect_einval(const char *url, const char *part)
{
	ipcx_chan *ch = NULL;
	int rc = ipcx_open(&ch, url, IPCX_SEND | IPCX_RECV | IPCX_CREATE, 0);
	if (rc != -EINVAL || ch != NULL)
		test_fail(__FILE__, __LINE__, "open '%s' = %d (%s), want EINVAL; %s", url, rc,
			  ipcx_errname(rc), ipcx_errmsg());
	if (!strstr(ipcx_errmsg(), part))
		test_fail(__FILE__, __LINE__, "open '%s': errmsg \"%s\" does not name '%s'", url,
			  ipcx_errmsg(), part);
}

/* An unknown option is -EINVAL naming it, on every registered transport. */
static void test_url_unknown_option(void)
{
	const char *scheme;
	for (size_t i = 0; (scheme = ipcx_transport_name(i)); i++) {
		char url[128];
		ipcx_chan *ends[2];
		snprintf(url, sizeof(url), "%s:///ipcx-conf-never?nosuchopt=1", scheme);
		expect_einval(url, "nosuchopt");
		CHECK_RC(ipcx_pair(url, ends), -EINVAL);
		CHECK(strstr(ipcx_errmsg(), "nosuchopt"));
	}
}

/* An unknown scheme is -EINVAL naming it; asking for its caps is -ENOENT. */
static void test_url_unknown_scheme(void)
{
	struct ipcx_caps c;
	expect_einval("nosuchscheme://x", "nosuchscheme");
	CHECK_RC(ipcx_unlink("nosuchscheme://x"), -EINVAL);
	CHECK_RC(ipcx_transport_caps("nosuchscheme", &c), -ENOENT);
	expect_einval("://x", "://x");
	expect_einval("bad_scheme://x", "bad_scheme");
}

/* A mode that is not an octal permission is -EINVAL, and nothing is created. */
static void test_url_bad_mode(void)
{
	static const char *const modes[] = {"0999", "rw", "12345", "8", "-1"};
	struct ipcx_caps c;
	if (ipcx_transport_caps("fifo", &c) < 0)
		SKIP("fifo:// is not in this build");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char name[64], url[128];
		snprintf(url, sizeof(url), "fifo:///tmp/%s?mode=%s",
			 test_unique(name, sizeof(name), "ipcx-conf"), modes[i]);
		test_cleanup_path(url + strlen("fifo://"));
		expect_einval(url, modes[i]);
		CHECK(access(url + strlen("fifo://"), F_OK) < 0 && errno == ENOENT);
	}
	expect_einval("fifo:///tmp/ipcx-conf-never?mode=", "mode");
}

/* Malformed values and options are -EINVAL naming the bad part. */
static void test_url_bad_values(void)
{
	static const struct {
		const char *url, *part;
	} bad[] = {
		{"pipe://?cap=12Q", "12Q"},        {"pipe://?cap=", "cap"},
		{"pipe://?maxmsg=-1", "-1"},       {"pipe://?frame=xml", "xml"},
		{"pipe://?cap", "cap"},            {"pipe://?=1", "=1"},
		{"pipe://?cap=1&cap=2", "cap"},    {"pipe://?cap=99999999999G", "99999999999G"},
		{"", "empty"},                     {"a/b", "a/b"},
		{"pipe://?frame=line&x=1", "'x'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_einval(bad[i].url, bad[i].part);
}

/* A bare name is shm://name: -ENOTSUP saying so until shm:// is built in. */
static void test_url_bare_name(void)
{
	char name[64], url[128];
	struct ipcx_caps c;
	ipcx_chan *ch = NULL;
	test_unique(name, sizeof(name), "ipcx-conf-bare");
	snprintf(url, sizeof(url), "shm://%s", name);
	if (ipcx_transport_caps("shm", &c) == -ENOENT) {
		CHECK_RC(ipcx_open(&ch, name, IPCX_RECV | IPCX_CREATE, 0), -ENOTSUP);
		CHECK(ch == NULL);
		CHECK(strstr(ipcx_errmsg(), "shm"));
		return;
	}
	test_cleanup_url(url);
	CHECK_RC(ipcx_open(&ch, name, IPCX_RECV | IPCX_CREATE, 0), 0);
	CHECK(strcmp(ipcx_url(ch), url) == 0);
	ipcx_close(ch);
}

static const struct test_case url_tests[] = {
	{"unknown_option", test_url_unknown_option},
	{"unknown_scheme", test_url_unknown_scheme},
	{"bad_mode", test_url_bad_mode},
	{"bad_values", test_url_bad_values},
	{"bare_name", test_url_bare_name},
};

/* ---- main -------------------------------------------------------------- */

static enum frame frame_of(const char *url)
{
	if (strstr(url, "frame=line"))
		return FRAME_LINE;
	if (strstr(url, "frame=raw"))
		return FRAME_RAW;
	return FRAME_BINARY;
}

/* run_fixture runs the suite over one fixture: 0 passed, 1 failed, 77 skipped. */
static int run_fixture(const struct fixture *f, const char *filter)
{
	struct ipcx_caps c;
	char *argv[] = {"conformance", (char *)filter, NULL};
	fx = f;
	fx_frame = frame_of(f->url);
	if (ipcx_transport_caps(f->url, &c) == -ENOENT) {
		printf("skip conformance.%s: %.*s:// is not in this build\n", f->name,
		       (int)strcspn(f->url, ":"), f->url);
		return TEST_SKIP_STATUS;
	}
	printf("-- conformance.%s (%s)\n", f->name, f->url);
	return test_main(2, argv, fixture_tests, sizeof(fixture_tests) / sizeof(fixture_tests[0]))
		       ? 1 : 0;
}

static int run_urls(const char *filter)
{
	char *argv[] = {"conformance", (char *)filter, NULL};
	printf("-- conformance.urls\n");
	return test_main(2, argv, url_tests, sizeof(url_tests) / sizeof(url_tests[0])) ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *filter = argc > 2 ? argv[2] : "";
	if (argc > 1 && strcmp(argv[1], "urls") == 0)
		return run_urls(filter);
	for (size_t i = 0; argc > 1 && i < NFIXTURES; i++)
		if (strcmp(argv[1], fixtures[i].name) == 0)
			return run_fixture(&fixtures[i], filter);
	if (argc > 1) {
		fprintf(stderr, "conformance: no fixture '%s' (urls", argv[1]);
		for (size_t i = 0; i < NFIXTURES; i++)
			fprintf(stderr, ", %s", fixtures[i].name);
		fprintf(stderr, ")\n");
		return 2;
	}
	int failed = run_urls("");
	for (size_t i = 0; i < NFIXTURES; i++)
		failed |= run_fixture(&fixtures[i], "") == 1;
	return failed;
}
