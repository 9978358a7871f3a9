/*
 * mech_nng.c - nng, the successor of nanomsg: a pair1 socket over ipc://,
 * the responder listening and the initiator dialing. Built only when nng
 * was found at build time.
 */
#include "bench.h"

#include <stdio.h>

#ifdef BENCH_HAVE_NNG
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <stdlib.h>

static int nng_setup(struct bench_link *l, char *why, size_t n)
{
	char base[96];
	bench_unique_name(base, sizeof(base), "nng");
	snprintf(l->shared->name[0], sizeof(l->shared->name[0]), "/tmp/%s", base);
	return 0;
}

static int nng_fail(int rv, char *why, size_t n, const char *what)
{
	return bench_fail(-EPROTO, why, n, "%s: %s", what, nng_strerror(rv));
}

/* p[0] holds this process's nng_socket. */
static int nng_open_side(struct bench_link *l, char *why, size_t n)
{
	char url[160];
	nng_socket *s = calloc(1, sizeof(*s));
	if (!s)
		return bench_fail(-ENOMEM, why, n, "out of memory");
	l->p[0] = s;
	snprintf(url, sizeof(url), "ipc://%s", l->shared->name[0]);
	int rv = nng_pair1_open(s);
	if (rv != 0)
		return nng_fail(rv, why, n, "nng_pair1_open");
	rv = nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, 0);
	if (rv == 0)
		rv = l->side == 1 ? nng_listen(*s, url, NULL, 0) : nng_dial(*s, url, NULL, NNG_FLAG_NONBLOCK);
	return rv != 0 ? nng_fail(rv, why, n, l->side ? "nng_listen" : "nng_dial") : 0;
}

static int nng_bench_send(struct bench_link *l, const void *buf)
{
	int rv = nng_send(*(nng_socket *)l->p[0], (void *)buf, l->size, 0);
	return rv == 0 ? 0 : -EPIPE;
}

static int nng_bench_recv(struct bench_link *l, void *buf)
{
	size_t got = l->size;
	int rv = nng_recv(*(nng_socket *)l->p[0], buf, &got, 0);
	if (rv != 0)
		return -EPIPE;
	return got == l->size ? 0 : -EPROTO;
}

static void nng_close_side(struct bench_link *l)
{
	if (l->p[0])
		nng_close(*(nng_socket *)l->p[0]);
	free(l->p[0]);
	l->p[0] = NULL;
}

const struct bench_mech bench_mech_nng = {
	.name = "nng ipc",
	.group = "peer",
	.setup = nng_setup,
	.open = nng_open_side,
	.send = nng_bench_send,
	.recv = nng_bench_recv,
	.close = nng_close_side,
	.teardown = bench_unlink_names,
};
#else
static bool nng_missing(const struct bench_mech *m, size_t size, char *why, size_t n)
{
	snprintf(why, n, "not built (nng not found at build time)");
	return false;
}

const struct bench_mech bench_mech_nng = {
	.name = "nng ipc",
	.group = "peer",
	.check = nng_missing,
};
#endif
