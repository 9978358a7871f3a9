/*
 * mech_zmq.c - ZeroMQ, the library a user might pick instead (seed 003):
 * a ZMQ_PAIR socket over ipc://, the responder binding and the initiator
 * connecting. Built only when libzmq was found at build time.
 */
#include "bench.h"

#include <stdio.h>

#ifdef BENCH_HAVE_ZMQ
#include <errno.h>
#include <zmq.h>

static int zmq_setup(struct bench_link *l, char *why, size_t n)
{
	char base[96];
	bench_unique_name(base, sizeof(base), "zmq");
	snprintf(l->shared->name[0], sizeof(l->shared->name[0]), "/tmp/%s", base);
	return 0;
}

/* p[0] is this process's context and p[1] its socket. */
static int zmq_open_side(struct bench_link *l, char *why, size_t n)
{
	char url[160];
	int zero = 0;
	snprintf(url, sizeof(url), "ipc://%s", l->shared->name[0]);
	l->p[0] = zmq_ctx_new();
	l->p[1] = l->p[0] ? zmq_socket(l->p[0], ZMQ_PAIR) : NULL;
	if (!l->p[1])
		return bench_fail(-errno, why, n, "zmq_socket: %s", zmq_strerror(errno));
	zmq_setsockopt(l->p[1], ZMQ_LINGER, &zero, sizeof(zero));
	int rc = l->side == 1 ? zmq_bind(l->p[1], url) : zmq_connect(l->p[1], url);
	if (rc < 0)
		return bench_fail(-errno, why, n, "zmq %s %s: %s", l->side ? "bind" : "connect", url,
				  zmq_strerror(errno));
	return 0;
}

static int zmq_bench_send(struct bench_link *l, const void *buf)
{
	while (zmq_send(l->p[1], buf, l->size, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int zmq_bench_recv(struct bench_link *l, void *buf)
{
	int r;
	while ((r = zmq_recv(l->p[1], buf, l->size, 0)) < 0)
		if (errno != EINTR)
			return -errno;
	return (size_t)r == l->size ? 0 : -EPROTO;
}

static void zmq_close_side(struct bench_link *l)
{
	if (l->p[1])
		zmq_close(l->p[1]);
	if (l->p[0])
		zmq_ctx_term(l->p[0]);
	l->p[0] = l->p[1] = NULL;
}

const struct bench_mech bench_mech_zmq = {
	.name = "zeromq ipc",
	.group = "peer",
	.setup = zmq_setup,
	.open = zmq_open_side,
	.send = zmq_bench_send,
	.recv = zmq_bench_recv,
	.close = zmq_close_side,
	.teardown = bench_unlink_names,
};
#else
static bool zmq_missing(const struct bench_mech *m, size_t size, char *why, size_t n)
{
	snprintf(why, n, "not built (libzmq not found at build time)");
	return false;
}

const struct bench_mech bench_mech_zmq = {
	.name = "zeromq ipc",
	.group = "peer",
	.check = zmq_missing,
};
#endif
