/*
 * mech_fifo.c - two named pipes (mkfifo), one per direction, opened with
 * the classic blocking open(2) that waits for the other end.
 */
#include "bench.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* name[0] carries side 0 to side 1, name[1] side 1 to side 0. */
static int fifo_setup(struct bench_link *l, char *why, size_t n)
{
	for (int i = 0; i < 2; i++) {
		char base[96];
		bench_unique_name(base, sizeof(base), i == 0 ? "fifo-a" : "fifo-b");
		snprintf(l->shared->name[i], sizeof(l->shared->name[i]), "/tmp/%s", base);
		if (mkfifo(l->shared->name[i], 0600) < 0)
			return bench_errno_fail(why, n, "mkfifo");
	}
	return 0;
}

/*
 * Both sides open name[0] first and name[1] second, so each blocking open
 * finds its partner without a deadlock.
 */
static int fifo_open(struct bench_link *l, char *why, size_t n)
{
	int first = open(l->shared->name[0], (l->side == 0 ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (first < 0)
		return bench_errno_fail(why, n, "open fifo");
	int second = open(l->shared->name[1], (l->side == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
	if (second < 0) {
		close(first);
		return bench_errno_fail(why, n, "open fifo");
	}
	if (l->side == 0)
		bench_fd_use(l, second, first);
	else
		bench_fd_use(l, first, second);
	return 0;
}

const struct bench_mech bench_mech_fifo = {
	.name = "fifo",
	.group = "raw",
	.setup = fifo_setup,
	.open = fifo_open,
	.send = bench_fd_send,
	.recv = bench_fd_recv,
	.close = bench_fd_close,
	.teardown = bench_unlink_names,
};
