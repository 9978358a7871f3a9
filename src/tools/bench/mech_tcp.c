/*
 * mech_tcp.c - a TCP connection over loopback with TCP_NODELAY (seed 002):
 * the path beyond one machine, measured on one.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static int tcp_setup(struct bench_link *l, char *why, size_t n)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return bench_sock_listen(l, &sin, sizeof(sin), why, n);
}

const struct bench_mech bench_mech_tcp = {
	.name = "tcp loopback",
	.group = "raw",
	.setup = tcp_setup,
	.open = bench_sock_open,
	.send = bench_fd_send,
	.recv = bench_fd_recv,
	.close = bench_fd_close,
	.teardown = bench_unlink_names,
};
