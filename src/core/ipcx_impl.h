/*
 * ipcx_impl.h - internal interfaces shared by the core and the transports.
 *
 * Nothing here is API. Internal non-static symbols carry the ipcx__ prefix.
 */
#ifndef IPCX_IMPL_H
#define IPCX_IMPL_H

#include "ipcx.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define IPCX__PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- errors ---------------------------------------------------------- */

/*
 * ipcx__fail records a one-line explanation for ipcx_errmsg() and yields
 * err, so a failure site reads "return ipcx__fail(-EINVAL, "...", ...)".
 * It is a macro so that the compiler sees the value returned is err.
 */
void ipcx__set_errmsg(const char *fmt, ...) IPCX__PRINTF(1, 2);
#define ipcx__fail(err, ...) (ipcx__set_errmsg(__VA_ARGS__), (int)(err))

/*
 * ipcx__errno_fail is ipcx__fail(-errno, "what: strerror") for a failed
 * system call (-EIO if errno is not set). ipcx__errno_record records the
 * message and leaves errno as it was.
 */
void ipcx__errno_record(const char *what);
#define ipcx__errno_fail(what) (ipcx__errno_record(what), errno > 0 ? -errno : -EIO)

/* ipcx__clear_errmsg forgets the last explanation; entry points call it. */
void ipcx__clear_errmsg(void);

/* ---- deadlines ------------------------------------------------------- */

/*
 * A deadline turns a timeout in milliseconds, taken once at the start of a
 * call, into an absolute CLOCK_MONOTONIC time, so retries after EINTR or a
 * spurious wake-up never extend the wait.
 */
struct ipcx__deadline {
	int64_t at_ns;  /* INT64_MAX waits for ever */
	int timeout_ms; /* as given: 0 means "never wait" */
	/*
	 * A look before a wait with a deadline (ipcx_chan.try_first): nothing
	 * there is not yet giving up, so what a call does before it gives up
	 * (shm://: walk the release cursor, arm the pollable descriptor) is
	 * left to the call that may wait.
	 */
	bool first_try;
};

int64_t ipcx__now_ns(void);
struct ipcx__deadline ipcx__deadline_in(int timeout_ms);
/*
 * For channels that try first (ipcx_chan.try_first), deadlines made without
 * reading the clock (their at_ns is long past): a call with timeout 0, and
 * the look before a call with a deadline.
 */
#define IPCX__NO_WAIT ((struct ipcx__deadline){.at_ns = 0, .timeout_ms = 0})
#define IPCX__FIRST_TRY ((struct ipcx__deadline){.at_ns = 0, .timeout_ms = 0, .first_try = true})
/* The deadline of a call on ch: one that tries first needs no clock for timeout 0. */
struct ipcx__deadline ipcx__call_deadline(const ipcx_chan *ch, int timeout_ms);

/* Milliseconds left, rounded up, for poll(2): -1 for ever, 0 when past. */
int ipcx__deadline_poll_ms(struct ipcx__deadline d);

/* The absolute time as a CLOCK_REALTIME timespec (for mq_timed* calls). */
struct timespec ipcx__deadline_realtime(struct ipcx__deadline d);

/* The error for an expired wait: -EAGAIN when timeout 0 was asked, else -ETIMEDOUT. */
int ipcx__deadline_err(struct ipcx__deadline d);

/*
 * ipcx__backoff_sleep pauses *us microseconds (shortened to the deadline)
 * and doubles *us up to about 50 ms: for retrying what the kernel tells
 * nobody about when it becomes possible (a listener appearing, room in a
 * full netlink socket or signal queue). Returns 0, or ipcx__deadline_err(d)
 * when the deadline has passed and there is no time left to pause.
 */
int ipcx__backoff_sleep(long *us, struct ipcx__deadline d);

/*
 * ipcx__wait_fd polls fd for events until the deadline, resuming after
 * EINTR. Returns the revents (> 0) or ipcx__deadline_err(d).
 */
int ipcx__wait_fd(int fd, short events, struct ipcx__deadline d);

/*
 * IPCX__INTERRUPT_SIGNAL is the signal ipcx__interruptible() aims at the
 * waiting thread at a deadline (src/core/interrupt.c); nothing else in ipcx
 * may use it. Not SIGRTMAX itself: valgrind keeps that one for its own use,
 * and the tests must run under valgrind.
 */
#define IPCX__INTERRUPT_SIGNAL (SIGRTMAX - 1)

/*
 * ipcx__interruptible runs call(arg), a blocking system call without a
 * timeout of its own that returns >= 0 or -errno, until it returns anything
 * but -EINTR or the deadline passes; then it returns ipcx__deadline_err(d).
 * A finite deadline is enforced by a timer signal to this thread, so call
 * must be one that a signal handler interrupts and that is not restarted
 * (msgrcv, msgsnd, fcntl F_OFD_SETLKW). A deadline already past returns the
 * deadline error without calling: try the non-blocking form first.
 */
ssize_t ipcx__interruptible(ssize_t (*call)(void *arg), void *arg, struct ipcx__deadline d);

/* ---- URLs ------------------------------------------------------------ */

enum ipcx__frame {
	IPCX__FRAME_BINARY, /* the ipcx frame of docs/wire.md */
	IPCX__FRAME_LINE,   /* one message per '\n'-terminated line, type 1 */
	IPCX__FRAME_RAW,    /* each receive returns the bytes that arrived */
};

#define IPCX__MAX_OPTS 16

/*
 * A parsed URL: scheme://address?key=value&... The address is whatever
 * follows "://" up to '?', left for the transport to interpret. Common
 * options are decoded here; the rest stay as strings for the transport.
 */
struct ipcx__url {
	char scheme[16];
	char *address; /* points into text */
	size_t nopts;
	struct {
		char *key;
		char *value;
	} opts[IPCX__MAX_OPTS];
	char *text; /* owned copy the pointers above point into */

	/* Common options; has_* tell whether they were given. */
	bool has_cap, has_mode, has_maxmsg;
	size_t cap; /* SIZE_MAX for "unbounded" */
	unsigned mode;
	size_t maxmsg;
	enum ipcx__frame frame;
};

/*
 * ipcx__url_parse parses text against the registered transports: the
 * scheme must exist and every option must be one the transport accepts.
 * A bare name means "shm://name". On success the caller frees with
 * ipcx__url_free().
 */
int ipcx__url_parse(struct ipcx__url *u, const char *text);
void ipcx__url_free(struct ipcx__url *u);

/*
 * ipcx__url_parse_as parses "scheme://address?opts" for objects that are
 * not transports (semaphores, regions): any scheme, options from the
 * space-separated list. The caller checks the scheme.
 */
int ipcx__url_parse_as(struct ipcx__url *u, const char *text, const char *options);

/* ipcx__url_opt returns the value of option key, or NULL. */
const char *ipcx__url_opt(const struct ipcx__url *u, const char *key);

/* ipcx__parse_size reads "4096", "64KiB", "1M", "2G" (binary units). */
int ipcx__parse_size(const char *s, size_t *out);

/* ipcx__url_mode is the object mode to create with: ?mode= or 0600. */
unsigned ipcx__url_mode(const struct ipcx__url *u);

/* ---- transports ------------------------------------------------------ */

/*
 * Every channel begins with this header; a transport allocates its own
 * larger struct with struct ipcx_chan as the first member.
 */
struct ipcx_chan {
	const struct ipcx__transport *tp;
	struct ipcx_caps caps; /* this channel's flags and limits */
	int flags;             /* enum ipcx_open_flag */
	char *url;
	/* What sets caps.max_msg ("kernel.msgmax"), named by -EMSGSIZE; or NULL. */
	const char *max_msg_limit;
	/*
	 * Trying costs next to nothing (shm://: a look at shared memory), so a
	 * send or receive with a timeout > 0 looks once (IPCX__FIRST_TRY)
	 * before it reads the clock for a deadline, and one with timeout 0
	 * reads none: that read (some 20 ns) was a third of a shm:// message's
	 * cost.
	 */
	bool try_first;
};

/*
 * A transport: one kernel mechanism behind the channel contract of ipcx.h.
 * The core validates arguments (flags, type >= 1, len <= caps.max_msg,
 * selector 0 unless IPCX_CAP_TYPED) before calling in, and turns the
 * caller's timeout into a deadline.
 */
struct ipcx__transport {
	const char *scheme;
	/* Space-separated option names this transport accepts in a URL. */
	const char *options;
	/* What every channel of this transport can do. */
	struct ipcx_caps caps;

	/*
	 * open creates a channel for u. It allocates the channel (struct
	 * ipcx_chan first), fills ch->caps, and returns it in *out. NULL for
	 * transports that only come in pairs.
	 */
	int (*open)(ipcx_chan **out, const struct ipcx__url *u, int flags,
		    struct ipcx__deadline d);
	/* pair creates two connected ends; NULL for named-only transports. */
	int (*pair)(ipcx_chan *ends[2], const struct ipcx__url *u);
	/* send delivers the whole message or nothing, before the deadline. */
	int (*send)(ipcx_chan *ch, const void *data, size_t len, long type,
		    struct ipcx__deadline d);
	/*
	 * recv takes one message matching selector into buf and returns its
	 * length. A message larger than size stays queued: -EMSGSIZE.
	 */
	ssize_t (*recv)(ipcx_chan *ch, void *buf, size_t size, long selector,
			long *type, struct ipcx__deadline d);
	/* close flushes what send accepted and frees the channel. */
	void (*close)(ipcx_chan *ch);
	/* unlink removes the named object; NULL when there is none. */
	int (*unlink)(const struct ipcx__url *u);
	/* fd returns a pollable descriptor, or NULL when there is none. */
	int (*fd)(const ipcx_chan *ch);
};

/* ipcx__transport_find returns the transport for scheme, or NULL. */
const struct ipcx__transport *ipcx__transport_find(const char *scheme);

/* The transports, each defined in its own file under src/transport/. */
extern const struct ipcx__transport ipcx__shm_transport;
extern const struct ipcx__transport ipcx__pipe_transport;
extern const struct ipcx__transport ipcx__spipe_transport;
extern const struct ipcx__transport ipcx__fifo_transport;
extern const struct ipcx__transport ipcx__sysvmq_transport;
extern const struct ipcx__transport ipcx__mq_transport;
extern const struct ipcx__transport ipcx__sysvshm_transport;
extern const struct ipcx__transport ipcx__unix_transport;
extern const struct ipcx__transport ipcx__unixseq_transport;
extern const struct ipcx__transport ipcx__unixdgram_transport;
extern const struct ipcx__transport ipcx__tcp_transport;
extern const struct ipcx__transport ipcx__file_transport;
extern const struct ipcx__transport ipcx__sig_transport;
extern const struct ipcx__transport ipcx__netlink_transport;

/* ipcx__chan_alloc allocates a zeroed transport channel of size bytes. */
void *ipcx__chan_alloc(size_t size);

/* ---- byte-stream framing (src/core/conn.c) --------------------------- */

/* The binary frame header of docs/wire.md. */
#define IPCX__FRAME_HDR 16
#define IPCX__FRAME_MAGIC0 0x49 /* 'I' */
#define IPCX__FRAME_MAGIC1 0x58 /* 'X' */
#define IPCX__FRAME_VERSION 1
/* The largest max_msg a stream may negotiate. */
#define IPCX__STREAM_MAX_MSG ((size_t)1 << 30)
/* max_msg of a stream when the URL gives no ?maxmsg=. */
#define IPCX__STREAM_DEFAULT_MAX_MSG ((size_t)16 << 20)

/*
 * A framed connection over a non-blocking byte-stream descriptor. It owns
 * fd, a read buffer holding bytes that arrived but were not yet taken, and
 * the unsent tail of a message that send accepted.
 */
struct ipcx__conn {
	int fd;
	enum ipcx__frame frame;
	size_t max_msg;
	unsigned char *rbuf;
	size_t rstart, rend, rcap;
	unsigned char *wbuf;
	size_t wstart, wend;
	bool is_socket;  /* write with MSG_NOSIGNAL rather than masking SIGPIPE */
	bool sigpipe_ignored; /* the process ignored SIGPIPE at open: a plain write is safe */
	bool drained;    /* the last read emptied the kernel's buffer: poll before reading */
	bool poll_first; /* FIFO: read only after poll says so (read is 0 before any writer) */
	/*
	 * FIFO: read no byte past the message being read, so that a reader
	 * that closes between messages leaves the rest to the next reader.
	 */
	bool no_read_ahead;
	bool eof;       /* the peer closed its sending side */
	int broken;  /* sticky -EPROTO once garbage was seen */
};

void ipcx__conn_init(struct ipcx__conn *c, int fd, enum ipcx__frame frame,
		     size_t max_msg);
/* ipcx__conn_fini flushes the unsent tail (waiting while the peer lives) and closes fd. */
void ipcx__conn_fini(struct ipcx__conn *c);
int ipcx__conn_send(struct ipcx__conn *c, const void *data, size_t len, long type,
		    struct ipcx__deadline d);
/*
 * ipcx__conn_take takes one complete message from the bytes already read:
 * its length, -EAGAIN when no whole message is buffered yet, -EPIPE at end
 * of stream, -EPROTO for garbage, -EMSGSIZE when it does not fit in size.
 */
ssize_t ipcx__conn_take(struct ipcx__conn *c, void *buf, size_t size, long *type);
/* ipcx__conn_fill reads once: > 0 bytes read, -EAGAIN, or -EPIPE at end. */
int ipcx__conn_fill(struct ipcx__conn *c);
/* ipcx__conn_recv waits on fd and takes one message before the deadline. */
ssize_t ipcx__conn_recv(struct ipcx__conn *c, void *buf, size_t size, long *type,
			struct ipcx__deadline d);

/*
 * The connection handshake of docs/wire.md. ipcx__hello_encode writes our
 * hello; ipcx__hello_decode checks a peer's and returns the max_msg both
 * sides accept, or -EPROTO naming what was wrong.
 */
#define IPCX__HELLO_LEN 16
void ipcx__hello_encode(unsigned char out[IPCX__HELLO_LEN], size_t max_msg);
int ipcx__hello_decode(const unsigned char in[IPCX__HELLO_LEN], size_t our_max,
		       size_t *agreed);

/* ipcx__frame_encode writes the 16-byte binary frame header. */
void ipcx__frame_encode(unsigned char hdr[IPCX__FRAME_HDR], size_t len, long type);
/*
 * ipcx__frame_decode checks a frame header: -EPROTO for bad magic,
 * version, check byte, type or a length above max_msg.
 */
int ipcx__frame_decode(const unsigned char hdr[IPCX__FRAME_HDR], size_t max_msg,
		       size_t *len, long *type);

/*
 * A channel that is one framed connection: pipe, spipe, fifo and a
 * connecting socket share these ops.
 */
struct ipcx__stream_chan {
	struct ipcx_chan base;
	struct ipcx__conn conn;
};

/* ipcx__stream_new wraps fd (made non-blocking here) in a stream channel. */
int ipcx__stream_new(ipcx_chan **out, int fd, const struct ipcx__url *u, unsigned cap_flags,
		     size_t max_msg);
/* ipcx__stream_pair_new wraps both fds; on failure both are closed. */
int ipcx__stream_pair_new(ipcx_chan *ends[2], int fds[2], const struct ipcx__url *u,
			  unsigned cap_flags, size_t max_msg);
int ipcx__stream_send(ipcx_chan *ch, const void *data, size_t len, long type,
		      struct ipcx__deadline d);
ssize_t ipcx__stream_recv(ipcx_chan *ch, void *buf, size_t size, long selector, long *type,
			  struct ipcx__deadline d);
void ipcx__stream_close(ipcx_chan *ch);
int ipcx__stream_fd(const ipcx_chan *ch);

/*
 * ipcx__stream_max_msg is the max_msg of a stream channel: ?maxmsg= when
 * given (at most limit), else the smaller of the default and limit.
 */
int ipcx__stream_max_msg(const struct ipcx__url *u, size_t limit, size_t *out);

/* ---- System V and POSIX IPC objects (src/transport/ipc_common.c) ----- */

/* A System V object: by key (a number, 0x number or ftok path) or by id. */
struct ipcx__sysv_addr {
	bool by_id;
	int id;
	key_t key;
};

/*
 * ipcx__sysv_addr_parse reads u->address: "123" or "0x7b" (a key; 0 is
 * refused, it is IPC_PRIVATE), "id=N" (when allow_id) or "/path" with
 * ?proj=N (ftok; proj defaults to 1, ftok keeps its low 8 bits). The
 * transport must accept the "proj" option.
 */
int ipcx__sysv_addr_parse(const struct ipcx__url *u, bool allow_id, struct ipcx__sysv_addr *a);

/* ipcx__sysv_addr_str writes "key 0x0001e240" or "id 3" into buf, for messages. */
const char *ipcx__sysv_addr_str(const struct ipcx__sysv_addr *a, char *buf, size_t size);

/*
 * ipcx__semtimedop applies System V semaphore ops, waiting in semtimedop(2)
 * until the deadline and resuming after EINTR with the time left. With
 * timeout 0 the ops must carry IPC_NOWAIT. Returns 0, ipcx__deadline_err(d)
 * or -errno (src/sync/sem.c).
 */
struct sembuf;
int ipcx__semtimedop(int semid, struct sembuf *ops, size_t nops, struct ipcx__deadline d);

/*
 * ipcx__sysvsem_await fills *ds for the System V semaphore set id, first
 * giving its creator up to 100 ms to make the first semop (sem_otime != 0),
 * which ipcx's creators do right after setting the values (src/sync/sem.c).
 */
struct semid_ds;
int ipcx__sysvsem_await(int id, struct semid_ds *ds);

/*
 * ipcx__sysvsem_setall gives each semaphore of a set just created its
 * value from vals (SETALL), then makes one semop that changes nothing, so that
 * sem_otime tells openers waiting in ipcx__sysvsem_await() the set is
 * ready. Returns 0 or -errno with ipcx_errmsg() set (src/sync/sem.c).
 */
int ipcx__sysvsem_setall(int id, unsigned short *vals);

/* ipcx__proc_limit reads one number from a /proc/sys file into *out. */
int ipcx__proc_limit(const char *path, long *out);

/* ---- the object registry (src/core/objects.c) ----------------------- */

/*
 * ipcx remembers every named object it creates in a private runtime
 * directory: $XDG_RUNTIME_DIR/ipcx, else /run/user/UID/ipcx when that
 * exists, else /tmp/ipcx-UID. The directory is created 0700 and refused
 * unless it is a real directory (not a symlink) owned by us and closed to
 * others. `ipcx ls` reads it to list FIFOs, socket paths and file logs, and
 * to name the creator of any object, so that a dead creator's leftovers can
 * be found. docs/inventory.md describes the records.
 */
#define IPCX__OBJECT_URL_MAX 4200 /* PATH_MAX plus a scheme and some room */

/* One record: what ipcx created, and who. */
struct ipcx__object_rec {
	char kind[16];                  /* the scheme: "fifo", "sysvmq", ... */
	char url[IPCX__OBJECT_URL_MAX]; /* without options */
	pid_t pid;                      /* the creator */
	unsigned long long start;       /* its start time (/proc/PID/stat field 22), 0 unknown */
	long long created;              /* seconds since the epoch */
	bool lasting;                   /* made to outlive its creator (ipcx mk) */
};

/*
 * ipcx__object_register records that this process just created the object
 * at url (options are dropped), replacing an older record of the same URL.
 * A transport calls it after creating a named object; the URL should be
 * the one that finds the object again (sysvmq://id=N rather than a key).
 * Registering is best effort: a transport ignores the result, because the
 * object exists whether or not it could be recorded.
 */
int ipcx__object_register(const char *url, const char *kind);

/* ipcx__object_register_url registers "scheme://address" of u, with the scheme as the kind. */
int ipcx__object_register_url(const struct ipcx__url *u);

/* ipcx__object_forget drops the record of url, if any; a transport's unlink calls it. */
void ipcx__object_forget(const char *url);

/* ipcx__object_forget_url forgets "scheme://address" of u. */
void ipcx__object_forget_url(const struct ipcx__url *u);

/*
 * ipcx__object_register_sysv registers the System V object id of scheme as
 * "scheme://id=N", the URL that finds it whatever key made it;
 * ipcx__object_forget_sysv forgets it.
 */
int ipcx__object_register_sysv(const char *scheme, int id);
void ipcx__object_forget_sysv(const char *scheme, int id);

/* ipcx__object_find reads the record of url: 0, or -ENOENT when there is none. */
int ipcx__object_find(const char *url, struct ipcx__object_rec *rec);

/* ipcx__object_keep marks the record of url lasting: its creator's exit leaves it idle, not stale. */
int ipcx__object_keep(const char *url);

/*
 * ipcx__object_each calls fn for every record, in no particular order,
 * until fn returns non-zero, which it then returns.
 */
int ipcx__object_each(int (*fn)(const struct ipcx__object_rec *rec, void *arg), void *arg);

/*
 * ipcx__runtime_dir creates (when missing) and checks the runtime
 * directory, writes its path into path, and returns an O_DIRECTORY fd on it.
 */
int ipcx__runtime_dir(char *path, size_t size);

/*
 * ipcx__proc_start_time reads when process pid started, in clock ticks
 * since boot: a pid and its start time name one process even after the pid
 * is reused. -ESRCH when the process is gone or a zombie.
 */
int ipcx__proc_start_time(pid_t pid, unsigned long long *start);

/* ipcx__proc_alive says whether pid runs and, when start is not 0, is the process that started then. */
bool ipcx__proc_alive(pid_t pid, unsigned long long start);

/* ---- signals (src/core/signal.c) ------------------------------------ */

/*
 * ipcx__sigqueue queues signo to pid with value, as sigqueue(3) does, but
 * with tag in si_errno (which the kernel passes through), so that sig://
 * can mark its own messages. Returns 0 or -ESRCH, -EAGAIN (the receiver's
 * RLIMIT_SIGPENDING is reached), -EPERM, each with its message recorded.
 */
int ipcx__sigqueue(pid_t pid, int signo, union sigval value, int tag);

/* ipcx__sigset_of fills set with the n signals: -EINVAL for none, SIGKILL, SIGSTOP or a non-signal. */
int ipcx__sigset_of(const int *signos, size_t n, sigset_t *set);

/* ---- helpers --------------------------------------------------------- */

/* ipcx__set_nonblock sets O_NONBLOCK and FD_CLOEXEC. */
int ipcx__set_nonblock(int fd);

#endif /* IPCX_IMPL_H */
