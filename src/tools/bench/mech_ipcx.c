/*
 * mech_ipcx.c - one mechanism for any ipcx transport, found at run time
 * with ipcx_transport_name(), so a transport added to the library appears
 * in the benchmark without a change here. How the two processes connect
 * follows the transport's capabilities:
 *
 *  - an anonymous transport (not IPCX_CAP_NAMED) is made with ipcx_pair()
 *    before the fork: one pair when bidirectional, else one per direction;
 *  - a connected one (IPCX_CAP_CONNECTED) has the responder listen on one
 *    address (IPCX_CREATE) and the initiator connect to it;
 *  - any other named one uses two objects, one per direction: each side
 *    creates the one it receives from and opens the other for sending;
 *    in a scaling cell only the first, which every receiver opens and
 *    every sender sends to.
 *
 * "ipcx shm:// loan" is shm:// through the zero-copy calls (ipcx_loan and
 * ipcx_commit, ipcx_recv_loan and ipcx_release); "ipcx shm:// broadcast"
 * is measured only in the scaling section, one sender to N receivers.
 */
#include "bench.h"
#include "ipcx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* How long a sender waits for the receiver's object or listener to appear. */
#define IPCX_OPEN_WAIT_MS 5000
/* The most transports the benchmark lists. */
#define IPCX_MAX_MECHS 32

/* How a named object's address is made unique. */
enum ipcx_addr {
	IPCX_ADDR_NAME, /* prefix + a unique name */
	IPCX_ADDR_PORT, /* prefix + a free loopback port */
	IPCX_ADDR_KEY,  /* prefix + a System V key from the pid */
	/*
	 * prefix + a number from the receiving process's pid (pid_base | pid):
	 * known only after the fork, so each receiver opens its end, then
	 * publishes the URL in the shared names for the sender to wait for.
	 */
	IPCX_ADDR_PID,
};

/*
 * The addresses of named transports: one mechanism per line, so a scheme
 * may be measured in several variants. sized adds cap= and maxmsg= that
 * fit the message, for transports whose default queue is smaller.
 */
struct ipcx_form {
	const char *scheme;
	const char *variant; /* appended to the mechanism's name */
	const char *prefix;
	enum ipcx_addr addr;
	const char *options; /* URL options, "" for none */
	bool sized;
	unsigned fan;       /* BENCH_FAN_IN or BENCH_FAN_OUT when measured so */
	bool zero_copy;     /* loan and commit, recv_loan and release */
	unsigned pid_base;  /* IPCX_ADDR_PID: or-ed into the pid */
	/*
	 * The library may lack these options (a pattern still being built):
	 * check opens a throwaway object with them, and when that is refused
	 * the mechanism is skipped with missing as the reason.
	 */
	const char *missing;
};

/* A netlink port id above any pid and below the kernel's automatic ones. */
#define IPCX_NETLINK_PORT_BASE 0x40000000u

static const struct ipcx_form ipcx_forms[] = {
	{"shm", "", "shm://", IPCX_ADDR_NAME, "", true, BENCH_FAN_IN, false, 0, NULL},
	{"shm", " spsc", "shm://", IPCX_ADDR_NAME, "pattern=spsc", true, 0, false, 0, NULL},
	{"shm", " mpsc", "shm://", IPCX_ADDR_NAME, "pattern=mpsc", true, BENCH_FAN_IN, false, 0,
	 NULL},
	{"shm", " loan", "shm://", IPCX_ADDR_NAME, "", true, 0, true, 0, NULL},
	{"shm", " broadcast", "shm://", IPCX_ADDR_NAME, "pattern=broadcast", true, BENCH_FAN_OUT,
	 false, 0, "pattern=broadcast not in this build"},
	{"fifo", "", "fifo:///tmp/", IPCX_ADDR_NAME, "", false, BENCH_FAN_IN, false, 0, NULL},
	{"unix", "", "unix:///tmp/", IPCX_ADDR_NAME, "", false, 0, false, 0, NULL},
	{"unixseq", "", "unixseq:///tmp/", IPCX_ADDR_NAME, "", false, 0, false, 0, NULL},
	{"unixdgram", "", "unixdgram:///tmp/", IPCX_ADDR_NAME, "", false, BENCH_FAN_IN, false, 0,
	 NULL},
	{"tcp", "", "tcp://127.0.0.1:", IPCX_ADDR_PORT, "", false, 0, false, 0, NULL},
	{"sysvmq", "", "sysvmq://", IPCX_ADDR_KEY, "", false, BENCH_FAN_IN, false, 0, NULL},
	{"mq", "", "mq:///", IPCX_ADDR_NAME, "", false, BENCH_FAN_IN, false, 0, NULL},
	{"sysvshm", "", "sysvshm://", IPCX_ADDR_KEY, "", false, 0, false, 0, NULL},
	{"file", "", "file:///tmp/", IPCX_ADDR_NAME, "", false, 0, false, 0, NULL},
	{"sig", "", "sig://", IPCX_ADDR_PID, "", false, 0, false, 0, NULL},
	{"netlink", "", "netlink://", IPCX_ADDR_PID, "", false, 0, false, IPCX_NETLINK_PORT_BASE,
	 NULL},
};

/* The smallest queue a sized URL asks for, and how many messages it holds. */
#define IPCX_MIN_CAP ((size_t)1 << 20)
#define IPCX_CAP_MSGS 4

static unsigned ipcx_flags(const struct bench_mech *m)
{
	struct ipcx_caps caps;
	return ipcx_transport_caps(m->scheme, &caps) == 0 ? caps.flags : 0;
}

static int ipcx_fail(int rc, char *why, size_t n, const char *what)
{
	return bench_fail(rc, why, n, "%s: %s (%s)", what, ipcx_strerror(rc), ipcx_errmsg());
}

/* ipcx_free_port finds a loopback port nobody listens on now. */
static int ipcx_free_port(char *why, size_t n)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return bench_errno_fail(why, n, "socket");
	int rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
			 getsockname(fd, (struct sockaddr *)&sin, &len) < 0
		 ? bench_errno_fail(why, n, "bind")
		 : ntohs(sin.sin_port);
	close(fd);
	return rc;
}

/* ipcx_name writes into url (len bytes) the address of object i (0: side 0 to 1, 1: back). */
static int ipcx_name(struct bench_link *l, int i, char *url, size_t len, char *why, size_t n)
{
	const struct ipcx_form *f = l->mech->data;
	char base[96];
	int port = 0;
	if (f->addr == IPCX_ADDR_PORT && (port = ipcx_free_port(why, n)) < 0)
		return port;
	bench_unique_name(base, sizeof(base), i == 0 ? "a" : "b");
	if (f->addr == IPCX_ADDR_NAME)
		snprintf(url, len, "%s%s", f->prefix, base);
	else if (f->addr == IPCX_ADDR_PORT)
		snprintf(url, len, "%s%d", f->prefix, port);
	else if (f->addr == IPCX_ADDR_PID)
		snprintf(url, len, "%s%u", f->prefix, f->pid_base | (unsigned)getpid());
	else
		snprintf(url, len, "%s0x%x", f->prefix, 0x1b000000u | ((unsigned)getpid() << 1 | (unsigned)i));
	size_t used = strlen(url);
	const char *sep = "?";
	if (f->options[0]) {
		used += (size_t)snprintf(url + used, len - used, "?%s", f->options);
		sep = "&";
	}
	if (f->sized) {
		size_t cap = IPCX_CAP_MSGS * l->size > IPCX_MIN_CAP ? IPCX_CAP_MSGS * l->size : IPCX_MIN_CAP;
		snprintf(url + used, len - used, "%scap=%zu&maxmsg=%zu", sep, cap, l->size);
	}
	return 0;
}

/*
 * ipcx_publish stores url as shared name i for the other side, its first
 * byte last, so that ipcx_await never reads half a name.
 */
static void ipcx_publish(struct bench_link *l, int i, const char *url)
{
	char *name = l->shared->name[i];
	snprintf(name + 1, sizeof(l->shared->name[i]) - 1, "%s", url + 1);
	__atomic_store_n(&name[0], url[0], __ATOMIC_RELEASE);
}

/* ipcx_await waits until shared name i is published: 0, or -ETIMEDOUT. */
static int ipcx_await(struct bench_link *l, int i)
{
	int64_t end = bench_now_ns() + (int64_t)IPCX_OPEN_WAIT_MS * 1000000;
	while (!__atomic_load_n(&l->shared->name[i][0], __ATOMIC_ACQUIRE)) {
		if (bench_now_ns() >= end)
			return -ETIMEDOUT;
		nanosleep(&(struct timespec){0, 100000}, NULL);
	}
	return 0;
}

/*
 * ipcx_probe opens and removes a throwaway object with the form's options:
 * false, with the form's reason, when the library refuses them.
 */
static bool ipcx_probe(const struct bench_mech *m, char *why, size_t n)
{
	struct bench_shared shared = {.id = {-1, -1}};
	struct bench_link l = {.mech = m, .size = BENCH_FAN_SIZE, .shared = &shared};
	const struct ipcx_form *f = m->data;
	ipcx_chan *ch = NULL;
	if (ipcx_name(&l, 0, shared.name[0], sizeof(shared.name[0]), why, n) < 0)
		return false;
	int rc = ipcx_open(&ch, shared.name[0], IPCX_RECV | IPCX_CREATE, 0);
	ipcx_close(ch);
	ipcx_unlink(shared.name[0]);
	if (rc == -ENOTSUP || rc == -EINVAL) {
		snprintf(why, n, "%s", f->missing);
		return false;
	}
	return true;
}

static bool ipcx_check(const struct bench_mech *m, size_t size, char *why, size_t n)
{
	struct ipcx_caps caps;
	if (ipcx_transport_caps(m->scheme, &caps) < 0) {
		snprintf(why, n, "%s", ipcx_errmsg());
		return false;
	}
	if ((caps.flags & IPCX_CAP_NAMED) && !m->data) {
		snprintf(why, n, "no benchmark address for %s://", m->scheme);
		return false;
	}
	if (size > caps.max_msg) {
		snprintf(why, n, "%s:// frames <= %zu B", m->scheme, caps.max_msg);
		return false;
	}
	const struct ipcx_form *f = m->data;
	return !f || !f->missing || ipcx_probe(m, why, n);
}

/* p[0] receives and p[1] sends; p[2] and p[3] hold the other pair's ends. */
static int ipcx_setup(struct bench_link *l, char *why, size_t n)
{
	unsigned flags = ipcx_flags(l->mech);
	char url[32];
	snprintf(url, sizeof(url), "%s://", l->mech->scheme);
	if (!(flags & IPCX_CAP_NAMED)) {
		int rc = ipcx_pair(url, (ipcx_chan **)&l->p[0]);
		if (rc == 0 && !(flags & IPCX_CAP_BIDIRECTIONAL))
			rc = ipcx_pair(url, (ipcx_chan **)&l->p[2]);
		return rc < 0 ? ipcx_fail(rc, why, n, "ipcx_pair") : 0;
	}
	const struct ipcx_form *f = l->mech->data;
	int rc = 0;
	for (int i = 0; i < 2 && rc == 0 && f->addr != IPCX_ADDR_PID; i++)
		if (i == 0 || !(flags & IPCX_CAP_CONNECTED))
			rc = ipcx_name(l, i, l->shared->name[i], sizeof(l->shared->name[i]), why, n);
	return rc;
}

/* ipcx_keep keeps recv and send as this side's channels and closes the rest. */
static void ipcx_keep(struct bench_link *l, void *recv, void *send)
{
	for (int i = 0; i < 4; i++)
		if (l->p[i] && l->p[i] != recv && l->p[i] != send)
			ipcx_close(l->p[i]);
	l->p[0] = recv;
	l->p[1] = send;
	l->p[2] = l->p[3] = NULL;
}

/*
 * ipcx_open_retry opens for sending, waiting for the receiver's object or
 * listener to appear when the transport does not wait by itself.
 */
static int ipcx_open_retry(ipcx_chan **ch, const char *url, int flags)
{
	int64_t end = bench_now_ns() + (int64_t)IPCX_OPEN_WAIT_MS * 1000000;
	for (;;) {
		int rc = ipcx_open(ch, url, flags, IPCX_OPEN_WAIT_MS);
		if (rc != -ENOENT && rc != -ECONNREFUSED && rc != -ENXIO)
			return rc;
		if (bench_now_ns() >= end)
			return rc;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
}

/*
 * ipcx_open_recv opens this side's receiving end, object i, creating it;
 * an address made from the pid is made now and then published.
 */
static int ipcx_open_recv(struct bench_link *l, ipcx_chan **ch, int i, char *why, size_t n)
{
	const struct ipcx_form *f = l->mech->data;
	if (f->addr != IPCX_ADDR_PID)
		return ipcx_open(ch, l->shared->name[i], IPCX_RECV | IPCX_CREATE, IPCX_OPEN_WAIT_MS);
	char url[sizeof(l->shared->name[i])];
	int rc = ipcx_name(l, i, url, sizeof(url), why, n);
	if (rc == 0)
		rc = ipcx_open(ch, url, IPCX_RECV, IPCX_OPEN_WAIT_MS);
	if (rc == 0)
		ipcx_publish(l, i, url);
	return rc;
}

/* ipcx_open_send opens object i for sending, once it has a name and exists. */
static int ipcx_open_send(struct bench_link *l, ipcx_chan **ch, int i)
{
	int rc = ipcx_await(l, i);
	return rc < 0 ? rc : ipcx_open_retry(ch, l->shared->name[i], IPCX_SEND);
}

/*
 * ipcx_open_named connects this side: through the one address of a
 * connected transport, else through object 0 alone in a scaling cell
 * (side 0 sends, side 1 receives), else through both objects.
 */
static int ipcx_open_named(struct bench_link *l, unsigned flags, char *why, size_t n)
{
	ipcx_chan *recv = NULL, *send = NULL;
	int rc;
	if (flags & IPCX_CAP_CONNECTED) {
		const char *name = l->shared->name[0];
		int both = IPCX_SEND | IPCX_RECV;
		rc = l->side == 1 ? ipcx_open(&recv, name, both | IPCX_CREATE, IPCX_OPEN_WAIT_MS)
				  : ipcx_open_retry(&recv, name, both);
		send = recv;
	} else if (l->one_way) {
		rc = l->side == 1 ? ipcx_open_recv(l, &recv, 0, why, n) : ipcx_open_send(l, &send, 0);
	} else {
		rc = ipcx_open_recv(l, &recv, 1 - l->side, why, n);
		if (rc == 0)
			rc = ipcx_open_send(l, &send, l->side);
	}
	if (rc < 0) {
		ipcx_close(recv);
		return ipcx_fail(rc, why, n, "ipcx_open");
	}
	l->p[0] = recv;
	l->p[1] = send;
	return 0;
}

static int ipcx_open_side(struct bench_link *l, char *why, size_t n)
{
	unsigned flags = ipcx_flags(l->mech);
	if (flags & IPCX_CAP_NAMED)
		return ipcx_open_named(l, flags, why, n);
	if (flags & IPCX_CAP_BIDIRECTIONAL)
		ipcx_keep(l, l->p[l->side], l->p[l->side]);
	else if (l->side == 0)
		ipcx_keep(l, l->p[2], l->p[1]);
	else
		ipcx_keep(l, l->p[0], l->p[3]);
	return 0;
}

static int ipcx_bench_send(struct bench_link *l, const void *buf)
{
	return ipcx_send(l->p[1], buf, l->size, 1, -1);
}

static int ipcx_bench_recv(struct bench_link *l, void *buf)
{
	ssize_t r = ipcx_recv(l->p[0], buf, l->size, 0, NULL, -1);
	if (r < 0)
		return (int)r;
	return (size_t)r == l->size ? 0 : -EPROTO;
}

static int ipcx_bench_loan(struct bench_link *l, void **buf)
{
	return ipcx_loan(l->p[1], l->size, buf, -1);
}

static int ipcx_bench_commit(struct bench_link *l)
{
	return ipcx_commit(l->p[1], l->size, 1);
}

static int ipcx_bench_recv_loan(struct bench_link *l, const void **buf)
{
	ssize_t r = ipcx_recv_loan(l->p[0], buf, 0, NULL, -1);
	if (r < 0)
		return (int)r;
	if ((size_t)r == l->size)
		return 0;
	ipcx_release(l->p[0]);
	return -EPROTO;
}

static int ipcx_bench_release(struct bench_link *l)
{
	return ipcx_release(l->p[0]);
}

static void ipcx_bench_close(struct bench_link *l)
{
	if (l->p[1] != l->p[0])
		ipcx_close(l->p[1]);
	ipcx_close(l->p[0]);
	l->p[0] = l->p[1] = NULL;
}

static void ipcx_teardown(const struct bench_shared *s)
{
	for (int i = 0; i < 2; i++)
		if (s->name[i][0])
			ipcx_unlink(s->name[i]);
}

static struct bench_mech ipcx_mechs[IPCX_MAX_MECHS];
static char ipcx_names[IPCX_MAX_MECHS][32];

/* ipcx_add appends the mechanism of scheme measured with form f (or none). */
static void ipcx_add(const struct bench_mech **out, size_t *n, const char *scheme,
		     const struct ipcx_form *f)
{
	snprintf(ipcx_names[*n], sizeof(ipcx_names[*n]), "ipcx %s://%s", scheme, f ? f->variant : "");
	bool zero_copy = f && f->zero_copy;
	ipcx_mechs[*n] = (struct bench_mech){
		.name = ipcx_names[*n],
		.group = "ipcx",
		.scheme = scheme,
		.data = f,
		.fan = f ? f->fan : 0,
		.loan = zero_copy ? ipcx_bench_loan : NULL,
		.commit = zero_copy ? ipcx_bench_commit : NULL,
		.recv_loan = zero_copy ? ipcx_bench_recv_loan : NULL,
		.release = zero_copy ? ipcx_bench_release : NULL,
		.check = ipcx_check,
		.setup = ipcx_setup,
		.open = ipcx_open_side,
		.send = ipcx_bench_send,
		.recv = ipcx_bench_recv,
		.close = ipcx_bench_close,
		.teardown = ipcx_teardown,
	};
	out[*n] = &ipcx_mechs[*n];
	(*n)++;
}

size_t bench_ipcx_mechs(const struct bench_mech **out, size_t max)
{
	size_t n = 0;
	if (max > IPCX_MAX_MECHS)
		max = IPCX_MAX_MECHS;
	const char *scheme;
	for (size_t t = 0; (scheme = ipcx_transport_name(t)) && n < max; t++) {
		size_t before = n;
		for (size_t i = 0; i < sizeof(ipcx_forms) / sizeof(ipcx_forms[0]) && n < max; i++)
			if (strcmp(ipcx_forms[i].scheme, scheme) == 0)
				ipcx_add(out, &n, scheme, &ipcx_forms[i]);
		if (n == before)
			ipcx_add(out, &n, scheme, NULL);
	}
	return n;
}
