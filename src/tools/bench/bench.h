/*
 * bench.h - the benchmark engine behind `ipcx bench`.
 *
 * One measurement engine (latency ping-pong, one-way throughput, wake-up
 * after an idle pause) drives every mechanism through struct bench_mech, a
 * small table of operations. Each measured cell (one mechanism at one
 * message size) runs in its own forked process group with a time limit; the
 * cell process and its peer are pinned to two different CPUs.
 *
 * Nothing here is part of the ipcx API; the `ipcx` command calls
 * bench_main() and nothing else.
 */
#ifndef IPCX_BENCH_H
#define IPCX_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* The largest message size the benchmark measures. */
#define BENCH_MAX_SIZE ((size_t)4 << 20)
/* The smallest: a message carries its 8-byte sequence number. */
#define BENCH_MIN_SIZE ((size_t)8)
/* The message size of the scaling cells (N senders or N receivers). */
#define BENCH_FAN_SIZE ((size_t)64)
/* The most senders or receivers of a scaling cell, and CPUs the benchmark lists. */
#define BENCH_MAX_FAN 255
#define BENCH_MAX_CPUS 1024

/* The shapes a mechanism can be measured in besides a pair (struct bench_mech.fan). */
#define BENCH_FAN_IN 1u  /* N senders, 1 receiver, each message to the receiver */
#define BENCH_FAN_OUT 2u /* 1 sender, N receivers, each message to all of them */

/*
 * What a mechanism shares between the benchmark's processes: names and
 * kernel ids that the cell creates and that the main process removes after
 * the cell ends, however it ended (also after a timeout or Ctrl-C). It lives
 * in memory mapped MAP_SHARED by the main process before the cell forks.
 */
struct bench_shared {
	char name[2][128]; /* unlinked by the mechanism's teardown */
	int id[2];         /* System V ids, -1 when none */
	pid_t helper;      /* a process setup started for the cell (iceoryx's RouDi), 0 when none */
};

/*
 * One end of a mechanism in one process. The cell fills size, url and
 * shared before setup; setup runs once before the peer is forked, open runs
 * in each process with its side, and every other field is that process's
 * own (file descriptors, mappings, channels).
 */
struct bench_link {
	const struct bench_mech *mech;
	size_t size;                 /* every message has exactly this size */
	int side;                    /* 0: the initiator, 1: the responder */
	bool one_way;                /* a scaling cell: side 0 only sends, side 1 only receives */
	struct bench_shared *shared; /* see struct bench_shared */
	int fd[4];                   /* descriptors; -1 when unused */
	void *p[4];                  /* mappings or library handles */
};

/*
 * A mechanism: one way of moving a message from one process to another.
 * name, group, setup and teardown are required, and send and recv unless
 * the mechanism has solo: then it measures a limit inside one process. A
 * mechanism this build lacks (a peer library not found) has only a check
 * that refuses every size, saying why.
 */
struct bench_mech {
	const char *name;  /* as printed: "pipe", "ipcx shm://" */
	const char *group; /* "limit", "raw", "ipcx" or "peer" */
	const char *scheme; /* the ipcx scheme for group "ipcx", else NULL */
	const void *data;   /* constant data of the mechanism's own */
	/*
	 * BENCH_FAN_IN when N processes may send to one receiver through one
	 * object (the scaling section measures it so); BENCH_FAN_OUT when
	 * every message goes to every receiver: such a mechanism is measured
	 * only in the scaling section, 1 sender to N receivers.
	 */
	unsigned fan;

	/*
	 * check tells whether the mechanism can carry messages of size bytes
	 * on this machine. It returns true, or false with a short reason in
	 * why ("message > kernel.msgmax=8192"). NULL accepts every size.
	 */
	bool (*check)(const struct bench_mech *m, size_t size, char *why, size_t n);
	/*
	 * setup creates what both processes need before the peer is forked
	 * (anonymous descriptors, mappings, named objects), recording names
	 * and ids in l->shared for teardown. Returns 0 or a negative errno
	 * and writes a reason in why.
	 */
	int (*setup)(struct bench_link *l, char *why, size_t n);
	/*
	 * open runs in each process after the fork with l->side set: it
	 * closes what the other side owns and connects this side. NULL when
	 * setup left both sides ready.
	 */
	int (*open)(struct bench_link *l, char *why, size_t n);
	/* send delivers l->size bytes from buf; 0 or a negative errno. */
	int (*send)(struct bench_link *l, const void *buf);
	/*
	 * recv waits for one whole message of l->size bytes into buf; 0, or a
	 * negative errno (-EPIPE when the peer is gone, -EPROTO for a message
	 * of the wrong size).
	 */
	int (*recv)(struct bench_link *l, void *buf);
	/* close releases this process's end; NULL when exit does it. */
	void (*close)(struct bench_link *l);
	/*
	 * teardown removes the named objects recorded in shared. The main
	 * process calls it once after every cell, whatever the cell did, so
	 * it must accept names that were never created.
	 */
	void (*teardown)(const struct bench_shared *s);
	/*
	 * Zero copy, all four or none: loan points *buf at room for l->size
	 * bytes inside the channel and commit publishes what was written
	 * there; recv_loan points *buf at the next message where it lies and
	 * release gives it back. The engine uses them instead of send and
	 * recv when they are set. Each returns 0 or a negative errno.
	 */
	int (*loan)(struct bench_link *l, void **buf);
	int (*commit)(struct bench_link *l);
	int (*recv_loan)(struct bench_link *l, const void **buf);
	int (*release)(struct bench_link *l);
	/*
	 * solo copies l->size bytes from src to dst inside one process: the
	 * bandwidth limit. Only the "memcpy" limit has it.
	 */
	void (*solo)(struct bench_link *l, void *dst, const void *src);
};

/* The mechanisms, each defined in its own file. */
extern const struct bench_mech bench_mech_cacheline;
extern const struct bench_mech bench_mech_memcpy;
extern const struct bench_mech bench_mech_futex;
extern const struct bench_mech bench_mech_pipe;
extern const struct bench_mech bench_mech_socketpair;
extern const struct bench_mech bench_mech_fifo;
extern const struct bench_mech bench_mech_unix_stream;
extern const struct bench_mech bench_mech_unix_dgram;
extern const struct bench_mech bench_mech_tcp;
extern const struct bench_mech bench_mech_sysvmq;
extern const struct bench_mech bench_mech_posixmq;
extern const struct bench_mech bench_mech_sysvshm;
extern const struct bench_mech bench_mech_zmq;
extern const struct bench_mech bench_mech_nng;
extern const struct bench_mech bench_mech_iceoryx;
extern const struct bench_mech bench_mech_iceoryx_loan;
extern const struct bench_mech bench_mech_iceoryx_poll;
extern const struct bench_mech bench_mech_iceoryx_broadcast;

/*
 * bench_ipcx_mechs stores in out (at most max) one mechanism per transport
 * registered in the library, found at run time, and returns how many. They
 * stay valid until the program exits.
 */
size_t bench_ipcx_mechs(const struct bench_mech **out, size_t max);

/* ---- helpers shared by mechanisms (mech_util.c) ----------------------- */

/* bench_fail formats a reason into why and returns err. */
int bench_fail(int err, char *why, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* bench_errno_fail is bench_fail(-errno, "what: strerror(errno)"). */
int bench_errno_fail(char *why, size_t n, const char *what);
/* bench_write_all writes len bytes to a blocking fd: 0 or -errno. */
int bench_write_all(int fd, const void *buf, size_t len);
/* bench_read_all reads exactly len bytes: 0, -EPIPE at end of file, or -errno. */
int bench_read_all(int fd, void *buf, size_t len);
/* bench_unique_name writes "ipcx-bench-PID-SERIAL-TAG" (unique per cell). */
void bench_unique_name(char *out, size_t n, const char *tag);
/* bench_sysctl_long reads a number from a /proc/sys file; -1 when absent. */
long bench_sysctl_long(const char *path);
/*
 * The descriptor mechanisms keep, after open, this side's receiving
 * descriptor in fd[0] and its sending one in fd[1] (the same for a socket).
 * bench_fd_use closes every other descriptor in l->fd and sets those two.
 */
void bench_fd_use(struct bench_link *l, int rfd, int wfd);
/* bench_fd_close closes both; it is the close of every descriptor mechanism. */
void bench_fd_close(struct bench_link *l);
/* bench_fd_send writes l->size bytes to fd[1]; bench_fd_recv reads them from fd[0]. */
int bench_fd_send(struct bench_link *l, const void *buf);
int bench_fd_recv(struct bench_link *l, void *buf);
/* bench_unlink_names unlinks the names in s that are absolute paths. */
void bench_unlink_names(const struct bench_shared *s);
/*
 * bench_sock_listen makes fd[2] a socket of domain listening on addr
 * (port 0 picks one: it is stored in l->shared->port); bench_sock_open
 * then accepts on it (side 1) or connects to it (side 0) and keeps the
 * connection as both fd[0] and fd[1].
 */
int bench_sock_listen(struct bench_link *l, const void *addr, unsigned len, char *why,
		      size_t n);
int bench_sock_open(struct bench_link *l, char *why, size_t n);

/* ---- the measurement engine (engine.c) -------------------------------- */

/* What one cell measures and for how long. */
struct bench_plan {
	int cpu[2];         /* the initiator's and the responder's CPU */
	int64_t phase_ns;   /* time spent on each phase */
	long min_samples;   /* latency samples wanted even past phase_ns */
	long warmup;        /* round trips before measuring */
	long wake_samples;  /* round trips after an idle pause; 0 skips */
	int idle_ms;        /* the idle pause before each wake-up round trip */
	int timeout_s;      /* a cell running longer is killed */
	/*
	 * A scaling cell (fan > 0): fan senders or receivers around one hub,
	 * process k (0: the hub) pinned to cpus[k % ncpus].
	 */
	int fan;
	const int *cpus;
	int ncpus;
};

/* The latency distribution of one phase, in nanoseconds. */
struct bench_lat {
	long samples;
	double p50, p99, p999, max;
};

/* How a cell ended. */
enum bench_status {
	BENCH_OK,
	BENCH_SKIPPED, /* the mechanism cannot carry this size */
	BENCH_FAILED,  /* an error, a wrong message, or the time limit */
};

/* One cell: a mechanism at one size. */
struct bench_result {
	const struct bench_mech *mech;
	size_t size;
	enum bench_status status;
	char why[160];          /* reason when skipped or failed */
	struct bench_lat lat;   /* round trip, busy */
	struct bench_lat wake;  /* round trip after idle_ms of idleness */
	double msgs_per_s;      /* one way */
	double mb_per_s;        /* 1 MB = 10^6 bytes */
	long verified;          /* messages the receiver checked */
	int fan;                /* a scaling cell's N (plan->fan), 0 for a pair */
};

/*
 * bench_run_cell measures m at size according to plan, in a forked process
 * group killed after plan->timeout_s, and fills *r. It never fails: errors
 * become r->status and r->why.
 */
void bench_run_cell(const struct bench_mech *m, size_t size, const struct bench_plan *plan,
		    struct bench_result *r);

/*
 * bench_install_signals makes SIGINT, SIGTERM and SIGHUP end the running
 * cell, remove its objects and exit with 128 + signal number.
 */
void bench_install_signals(void);

/* bench_now_ns reads CLOCK_MONOTONIC. */
int64_t bench_now_ns(void);

/* ---- the machine (sysinfo.c) ------------------------------------------ */

struct bench_sysinfo {
	char cpu_model[128];
	char kernel[200];
	int ncpus;
	int cpu[2];
	int order[BENCH_MAX_CPUS]; /* every usable CPU: cpu[0], cpu[1], then the rest */
	bool smt_siblings;  /* the two CPUs share a core */
	double clock_ns;    /* cost of one clock_gettime */
	long msgmax, msgmnb, mq_msgsize_max, mq_msg_max, pipe_max, wmem_max;
};

/*
 * bench_sysinfo_read describes the machine; when cpus is NULL it picks two
 * CPUs this process may run on, preferring two that are not SMT siblings.
 * Returns 0, or -EINVAL with a reason when cpus names unusable CPUs.
 */
int bench_sysinfo_read(struct bench_sysinfo *si, const int *cpus, char *why, size_t n);

/* ---- output (report.c, plot.c) ---------------------------------------- */

struct bench_report {
	const struct bench_sysinfo *si;
	const struct bench_plan *plan;
	bool quick;
	int passes; /* whole runs of every cell; each figure the median of them */
	const struct bench_result *results;
	size_t nresults;
	double seconds; /* wall time of the whole run */
};

/*
 * bench_combine folds passes runs of the same n cells, laid one run after
 * another in res, into the first n: per figure the median of the runs (the
 * max latency the largest, sample and message counts the sum). A cell that
 * failed in any run failed.
 */
void bench_combine(struct bench_result *res, size_t n, int passes);

void bench_print_table(FILE *f, const struct bench_report *rep);
void bench_print_json(FILE *f, const struct bench_report *rep);
void bench_print_csv(FILE *f, const struct bench_report *rep);

/*
 * The performance targets of the shm engine (issue 4), as ratios of cells
 * of one run (targets.c): bench_print_targets writes them as a table
 * section, bench_json_targets as the JSON member "targets".
 */
void bench_print_targets(FILE *f, const struct bench_report *rep);
void bench_json_targets(FILE *f, const struct bench_report *rep);
/* bench_find returns rep's successful cell of the mechanism named name, or NULL. */
const struct bench_result *bench_find(const struct bench_report *rep, const char *name,
				      size_t size, int fan);
/*
 * bench_plot draws latency and throughput against size with gnuplot into
 * path (.svg or .png). Returns 0, or -1 after printing why to stderr.
 */
int bench_plot(const struct bench_report *rep, const char *path);

/* bench_size_str formats 4096 as "4 KiB" into buf. */
const char *bench_size_str(size_t size, char *buf, size_t n);

/* ---- the command ------------------------------------------------------- */

/*
 * bench_main is `ipcx bench`: argv[0] is the command's name, then its
 * options. It returns the exit status. bench_usage is the synopsis after
 * "ipcx bench" and bench_help describes the options.
 */
int bench_main(int argc, char **argv);
extern const char bench_usage[];
extern const char bench_help[];

#endif /* IPCX_BENCH_H */
