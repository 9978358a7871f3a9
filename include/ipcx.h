/*
 * ipcx.h - the whole public API of ipcx.
 *
 * ipcx is inter-process communication for Linux behind one message-passing
 * API: every channel is opened from a URL, carries messages (a byte string
 * with a type), and follows the same rules for blocking, timeouts and errors
 * whatever the kernel mechanism underneath.
 *
 * This header is the only API. Everything under src/ is internal and may
 * change without notice; symbols that are not declared here are hidden.
 *
 * Conventions that hold for every function below:
 *  - Functions return 0 (or a byte count) on success and a negative errno on
 *    failure. ipcx_strerror() names every value. A failed call leaves a
 *    one-line explanation for the calling thread in ipcx_errmsg().
 *  - Timeouts are in milliseconds: -1 waits for ever, 0 never waits, > 0
 *    waits at most that long. A wait interrupted by a signal is resumed
 *    against the same deadline.
 *  - The library never prints, never exits and never raises SIGPIPE.
 */
#ifndef IPCX_H
#define IPCX_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(IPCX_BUILDING) && defined(__GNUC__)
#define IPCX_API __attribute__((visibility("default")))
#else
#define IPCX_API
#endif

#define IPCX_VERSION_MAJOR 0
#define IPCX_VERSION_MINOR 1

/* A channel: one end of a communication path, opened from a URL. */
typedef struct ipcx_chan ipcx_chan;

/*
 * Flags for ipcx_open(). At least one of IPCX_SEND and IPCX_RECV is needed.
 *
 * IPCX_CREATE creates the object when it does not exist. For socket
 * transports creating the address means listening on it: a channel opened
 * with IPCX_CREATE binds and accepts peers, one opened without it connects.
 * IPCX_EXCL, with IPCX_CREATE, fails with -EEXIST when the object exists.
 */
enum ipcx_open_flag {
	IPCX_SEND = 1 << 0,
	IPCX_RECV = 1 << 1,
	IPCX_CREATE = 1 << 2,
	IPCX_EXCL = 1 << 3,
};

/* What a transport can do; reported in struct ipcx_caps.flags. */
enum ipcx_cap_flag {
	IPCX_CAP_TYPED = 1 << 0,          /* receive selects by type natively */
	IPCX_CAP_PRIORITY = 1 << 1,       /* higher priority overtakes */
	IPCX_CAP_MANY_SENDERS = 1 << 2,   /* several senders, frames never mix */
	IPCX_CAP_MANY_RECEIVERS = 1 << 3, /* several receivers, each message once */
	IPCX_CAP_BROADCAST = 1 << 4,      /* every receiver gets every message */
	IPCX_CAP_ZERO_COPY = 1 << 5,      /* loan/commit without copying */
	IPCX_CAP_CROSS_HOST = 1 << 6,     /* peers may be on other machines */
	IPCX_CAP_SURVIVES_EXIT = 1 << 7,  /* queued messages outlive the sender */
	IPCX_CAP_SURVIVES_REBOOT = 1 << 8,
	IPCX_CAP_BIDIRECTIONAL = 1 << 9,  /* one channel both sends and receives */
	IPCX_CAP_POLLABLE = 1 << 10,      /* ipcx_fd() gives a pollable fd */
	IPCX_CAP_NAMED = 1 << 11,         /* addressed by a name, not a pair */
	IPCX_CAP_CONNECTED = 1 << 12,     /* a listener accepts connecting peers */
	IPCX_CAP_BYTE_STREAM = 1 << 13,   /* bytes are framed by ipcx (docs/wire.md) */
	IPCX_CAP_RELIABLE = 1 << 14,      /* nothing is dropped silently */
	IPCX_CAP_FLOW_CONTROL = 1 << 15,  /* a full queue makes the sender wait */
	IPCX_CAP_UNTYPED = 1 << 16,       /* no type is carried: every message is type 1, others -ENOTSUP */
	IPCX_CAP_RENDEZVOUS = 1 << 17,    /* cap=0: a send returns once a receiver took the message */
};

/* The capabilities and limits of a transport, or of one open channel. */
struct ipcx_caps {
	unsigned flags;  /* enum ipcx_cap_flag bits */
	size_t max_msg;  /* largest message payload in bytes */
	size_t capacity; /* bytes the channel buffers; 0 when unknown */
};

/*
 * ipcx_open opens the channel named by url (see docs/urls.md) with flags
 * from enum ipcx_open_flag. timeout_ms bounds the wait for the other side
 * when opening needs one (a FIFO writer waiting for a reader, a connect
 * waiting for a listener to appear). On success *out owns the channel until
 * ipcx_close(). A malformed URL or unknown option is -EINVAL and
 * ipcx_errmsg() names the offending part.
 */
IPCX_API int ipcx_open(ipcx_chan **out, const char *url, int flags, int timeout_ms);

/*
 * ipcx_pair creates an anonymous connected pair for use across fork():
 * "pipe://" gives ends[0] for receiving and ends[1] for sending, like
 * pipe(2); "spipe://" gives two bidirectional ends. Each process closes
 * the end it does not use.
 */
IPCX_API int ipcx_pair(const char *url, ipcx_chan *ends[2]);

/*
 * ipcx_send sends len bytes with the given type (>= 1). Returns 0 when the
 * message is accepted whole: a receiver will get all of it or none. Errors:
 * -EMSGSIZE when len exceeds the channel's max_msg, -EINVAL for type < 1,
 * -EAGAIN (timeout 0) or -ETIMEDOUT when there is no room in time, -EPIPE
 * when no receiver can ever read it.
 *
 * On a byte stream a message is never cut short: when the deadline passes
 * after part of its frame was written, the channel keeps the rest, returns
 * 0, and writes the rest during its next send, while its next receive
 * waits, or at ipcx_close().
 */
IPCX_API int ipcx_send(ipcx_chan *ch, const void *data, size_t len, long type,
		       int timeout_ms);

/*
 * ipcx_recv receives one message into buf and returns its length. selector
 * follows System V msgrcv: 0 takes the oldest message, > 0 the oldest of
 * that type, < 0 the oldest of the lowest type <= |selector|. A channel
 * whose transport cannot select fails a selector other than 0 with
 * -ENOTSUP. When type is not NULL it receives the message type.
 *
 * Errors: -ENOMSG when timeout_ms is 0 and no matching message is there,
 * -ETIMEDOUT when none came in time, -EPIPE when every sender is gone and
 * nothing is left, -EPROTO when a peer broke the wire format, and
 * -EMSGSIZE when the message is larger than size: the message is kept and
 * the next call with a large enough buffer gets it.
 */
IPCX_API ssize_t ipcx_recv(ipcx_chan *ch, void *buf, size_t size, long selector,
			   long *type, int timeout_ms);

/*
 * ipcx_close releases the channel and everything it holds, flushing what
 * an earlier send accepted. Named objects stay; see ipcx_unlink(). NULL is
 * ignored.
 */
IPCX_API void ipcx_close(ipcx_chan *ch);

/* ipcx_unlink removes the named object behind url (-ENOENT if absent). */
IPCX_API int ipcx_unlink(const char *url);

/*
 * ipcx_caps_of fills *caps for an open channel: the transport's flags with
 * the limits this channel negotiated.
 */
IPCX_API int ipcx_caps_of(const ipcx_chan *ch, struct ipcx_caps *caps);

/*
 * ipcx_transport_caps fills *caps with what the transport of scheme ("unix",
 * or a whole URL) can do. -ENOENT for an unknown scheme.
 */
IPCX_API int ipcx_transport_caps(const char *scheme, struct ipcx_caps *caps);

/*
 * ipcx_transport_name returns the scheme of the i-th registered transport,
 * or NULL past the last one, so a program can list them all.
 */
IPCX_API const char *ipcx_transport_name(size_t i);

/*
 * ipcx_fd returns a descriptor that polls readable when a message may be
 * waiting (a wake-up, not a promise: drain with timeout 0 until -ENOMSG).
 * -ENOTSUP when the transport has no such descriptor.
 */
IPCX_API int ipcx_fd(const ipcx_chan *ch);

/* ipcx_url returns the canonical URL the channel was opened with. */
IPCX_API const char *ipcx_url(const ipcx_chan *ch);

/* ipcx_strerror names a negative errno value in words. */
IPCX_API const char *ipcx_strerror(int err);

/* ipcx_errname gives the symbolic name of a negative errno ("EMSGSIZE"). */
IPCX_API const char *ipcx_errname(int err);

/*
 * ipcx_errmsg returns a sentence about the last failure in this thread,
 * naming what went wrong ("unknown option 'capp' in ..."), or "" after a
 * call that set none.
 */
IPCX_API const char *ipcx_errmsg(void);

/* Capability flag names, for printing: ipcx_cap_name(IPCX_CAP_TYPED). */
IPCX_API const char *ipcx_cap_name(unsigned flag);

/* ==== Signals (seeds 000 §4, 002, 003; docs/signals.md) =================
 *
 * A signal is the smallest message Linux has: a number, the sender's pid
 * and uid, and with sigqueue(3) a payload of one union sigval. Realtime
 * signals (SIGRTMIN..SIGRTMAX) queue, each one delivered; standard signals
 * sent while one is pending merge into it. The sig:// transport carries
 * messages this way; the calls below are for signals themselves.
 */

/* One received signal, as ipcx_signal_wait() reports it. */
struct ipcx_siginfo {
	int signo;  /* the signal number */
	int code;   /* si_code: SI_QUEUE for sigqueue, SI_USER for kill, > 0 from the kernel */
	pid_t pid;  /* the sending process (0 when the kernel sent it) */
	uid_t uid;  /* the sender's real user id */
	long value; /* the sigqueue payload (sival_ptr as an integer); 0 when code is not SI_QUEUE */
};

/*
 * ipcx_signal_send queues signo to process pid with value as its payload,
 * as sigqueue(3). Returns 0, or -ENOENT when there is no process pid,
 * -EPERM when we may not signal it, -EINVAL for a bad signo, and -EAGAIN
 * when the receiver's queue is full: its owner already has
 * RLIMIT_SIGPENDING signals queued (ipcx_errmsg() says so). signo 0 only
 * checks that pid exists and may be signalled.
 */
IPCX_API int ipcx_signal_send(pid_t pid, int signo, long value);

/*
 * ipcx_signal_block blocks the n signals in the calling thread, so that
 * from now on they stay pending for ipcx_signal_wait() (or a sig:// channel)
 * instead of running a handler or their default action. Block before the
 * signal can be sent: before fork(), before telling a sender our pid, and
 * before creating threads, since a process-directed signal goes to any
 * thread that does not block it. -EINVAL for SIGKILL, SIGSTOP or a number
 * that is no signal.
 */
IPCX_API int ipcx_signal_block(const int *signos, size_t n);

/*
 * ipcx_signal_wait takes one pending signal among the n in signos and
 * returns its number, filling *info when info is not NULL. The signals are
 * blocked first (they stay blocked afterwards; see ipcx_signal_block for
 * why that must happen earlier when one may already be on its way).
 * timeout_ms as everywhere: -EAGAIN when timeout 0 finds none pending,
 * -ETIMEDOUT when none came in time. Signals outside signos are not taken.
 */
IPCX_API int ipcx_signal_wait(const int *signos, size_t n, struct ipcx_siginfo *info,
			      int timeout_ms);

/*
 * ipcx_signal_name names a signal: "SIGUSR1", "SIGRTMIN+3" (every realtime
 * signal by its distance from SIGRTMIN). Returns NULL for a number that is
 * no signal. The string is constant, or for realtime signals lives in
 * thread-local storage until this thread's next call.
 */
IPCX_API const char *ipcx_signal_name(int signo);

/*
 * ipcx_signal_parse reads a signal name or number: "SIGUSR1", "usr1",
 * "10", "SIGRTMIN", "RTMIN+3", "SIGRTMAX-1". Returns the signal number,
 * or -EINVAL naming the bad text in ipcx_errmsg().
 */
IPCX_API int ipcx_signal_parse(const char *name);

/* ==== Synchronisation and shared memory (seeds 000 §2, §6, 001; docs/sync.md)
 *
 * Semaphores, a robust mutex, file locks and shared memory regions: the
 * tools the seeds pair with shared memory. Each is named by a URL like a
 * channel and follows the same rules for timeouts and errors. The open
 * flags are IPCX_CREATE and IPCX_EXCL from enum ipcx_open_flag.
 */

/* A set of counting semaphores. */
typedef struct ipcx_sem ipcx_sem;

/* Flags of one semaphore change. */
enum ipcx_sem_flag {
	/* The kernel reverts the change when the process exits (System V SEM_UNDO). */
	IPCX_SEM_UNDO = 1 << 0,
};

/* One change to one semaphore of a set, for ipcx_sem_change(). */
struct ipcx_sem_op {
	unsigned index; /* which semaphore of the set, from 0 */
	int delta;      /* > 0 releases (V), < 0 takes (P, waits for enough), 0 waits for zero */
	int flags;      /* enum ipcx_sem_flag */
};

/*
 * ipcx_sem_open opens a semaphore set. url is "sysvsem://KEY" (also 0xKEY,
 * id=N as ipcmk -S prints it, or /path?proj=N for ftok) for a System V set,
 * or "sem:///name" for a POSIX named semaphore (a set of one). When flags
 * has IPCX_CREATE and the set does not exist it is created with nsems
 * semaphores, each set to value, mode 0600 unless ?mode=. Opening an
 * existing set, nsems is 0 or at most its size. -ENOENT when it does not
 * exist, -EEXIST with IPCX_EXCL when it does.
 */
IPCX_API int ipcx_sem_open(ipcx_sem **out, const char *url, int flags, unsigned nsems,
			   unsigned value);

/*
 * ipcx_sem_change applies the nops changes all at once or not at all, as
 * semop(2): it waits until every take can be satisfied together. timeout 0
 * never waits (-EAGAIN), > 0 waits at most that long (-ETIMEDOUT). A POSIX
 * semaphore takes one change of delta +n or -1 without IPCX_SEM_UNDO, and
 * anything else is -ENOTSUP. -ERANGE when a value would pass the kernel's
 * limit (SEMVMX, SEM_VALUE_MAX); -EPIPE when the set was removed.
 */
IPCX_API int ipcx_sem_change(ipcx_sem *s, const struct ipcx_sem_op *ops, size_t nops,
			     int timeout_ms);

/* ipcx_sem_wait is P: take n from semaphore index, waiting per timeout_ms. */
IPCX_API int ipcx_sem_wait(ipcx_sem *s, unsigned index, unsigned n, int timeout_ms);

/* ipcx_sem_post is V: add n to semaphore index, waking whoever can now proceed. */
IPCX_API int ipcx_sem_post(ipcx_sem *s, unsigned index, unsigned n);

/* ipcx_sem_value returns the current value of semaphore index (>= 0). */
IPCX_API int ipcx_sem_value(const ipcx_sem *s, unsigned index);

/* ipcx_sem_size returns how many semaphores the set has. */
IPCX_API unsigned ipcx_sem_size(const ipcx_sem *s);

/* ipcx_sem_close forgets the set in this process; it stays. NULL is ignored. */
IPCX_API void ipcx_sem_close(ipcx_sem *s);

/* ipcx_sem_unlink removes the set behind url (-ENOENT if absent). */
IPCX_API int ipcx_sem_unlink(const char *url);

/*
 * A process-shared robust mutex. Place it in memory every process maps (an
 * ipcx_region), initialise it once with ipcx_mutex_init(), and never copy
 * it. The bytes are opaque.
 */
typedef union ipcx_mutex {
	unsigned char opaque[64];
	long long align_;
} ipcx_mutex;

/* ipcx_mutex_init makes *m an unlocked process-shared robust mutex. */
IPCX_API int ipcx_mutex_init(ipcx_mutex *m);

/*
 * ipcx_mutex_lock takes the mutex, waiting per timeout_ms (-EAGAIN for
 * timeout 0, -ETIMEDOUT). When the previous owner died holding it, the
 * caller now holds it and gets -EOWNERDEAD: repair the data it guards, then
 * call ipcx_mutex_consistent() before unlocking; unlocking without that
 * makes the mutex unusable, and every later lock is -ENOTRECOVERABLE.
 * -EDEADLK when the caller already holds it.
 */
IPCX_API int ipcx_mutex_lock(ipcx_mutex *m, int timeout_ms);

/* ipcx_mutex_consistent marks a mutex taken with -EOWNERDEAD as repaired. */
IPCX_API int ipcx_mutex_consistent(ipcx_mutex *m);

/* ipcx_mutex_unlock releases a mutex the caller holds (-EPERM otherwise). */
IPCX_API int ipcx_mutex_unlock(ipcx_mutex *m);

/* ipcx_mutex_destroy ends an unlocked mutex; init it again to reuse the bytes. */
IPCX_API int ipcx_mutex_destroy(ipcx_mutex *m);

/*
 * A lock on a whole file (seed 000 §2, "the file as a lock"): an open file
 * description lock (fcntl F_OFD_SETLK), owned by this ipcx_lock rather than
 * by the process, so two ipcx_locks conflict even within one process, and
 * the lock goes when the ipcx_lock is closed or its process dies. A child
 * forked while the ipcx_lock is open shares its open file, and so the lock:
 * it goes when the last of them closes it, or on ipcx_lock_release().
 */
typedef struct ipcx_lock ipcx_lock;

/* Lock modes for ipcx_lock_acquire(). */
enum ipcx_lock_mode {
	IPCX_LOCK_SHARED = 1,    /* many holders, no exclusive one (readers) */
	IPCX_LOCK_EXCLUSIVE = 2, /* one holder (a writer) */
};

/*
 * ipcx_lock_open opens the file at path (an absolute path, or file:///path)
 * for locking, creating it with mode 0600 when flags has IPCX_CREATE.
 * A symbolic link is refused (-ELOOP).
 */
IPCX_API int ipcx_lock_open(ipcx_lock **out, const char *path, int flags);

/*
 * ipcx_lock_acquire takes the lock in mode (enum ipcx_lock_mode), waiting
 * per timeout_ms while another holder conflicts: -EAGAIN for timeout 0,
 * -ETIMEDOUT. Acquiring again converts the mode held (atomically, as
 * fcntl does; a conversion that must wait may lose the lock held).
 */
IPCX_API int ipcx_lock_acquire(ipcx_lock *l, int mode, int timeout_ms);

/* ipcx_lock_release drops the lock, if held. */
IPCX_API int ipcx_lock_release(ipcx_lock *l);

/* ipcx_lock_fd returns the open file, to read and write the data it guards. */
IPCX_API int ipcx_lock_fd(const ipcx_lock *l);

/* ipcx_lock_close releases the lock and closes the file. NULL is ignored. */
IPCX_API void ipcx_lock_close(ipcx_lock *l);

/* A shared memory region mapped into this process. */
typedef struct ipcx_region ipcx_region;

/*
 * ipcx_region_open attaches a shared memory region:
 *   "posixshm:///name"  POSIX shm_open(3);
 *   "sysvshm://KEY"     System V shmget/shmat (also 0xKEY, id=N as ipcmk -M
 *                       prints it, /path?proj=N for ftok);
 *   "memfd://label"     an anonymous memfd, always created, to hand to
 *                       another process with ipcx_region_send().
 * With IPCX_CREATE a region that does not exist is created with size bytes,
 * zero-filled, mode 0600 unless ?mode=; size 0 opens an existing region at
 * its own size. -ENOENT when it does not exist, -EEXIST with IPCX_EXCL.
 */
IPCX_API int ipcx_region_open(ipcx_region **out, const char *url, int flags, size_t size);

/* ipcx_region_addr returns where the region is mapped in this process. */
IPCX_API void *ipcx_region_addr(const ipcx_region *r);

/* ipcx_region_size returns the region's size in bytes. */
IPCX_API size_t ipcx_region_size(const ipcx_region *r);

/*
 * ipcx_region_send hands a region backed by a descriptor (posixshm, memfd)
 * to the process at the other end of the Unix socket sock, with SCM_RIGHTS.
 * -ENOTSUP for a System V region (share its key instead).
 */
IPCX_API int ipcx_region_send(const ipcx_region *r, int sock);

/*
 * ipcx_region_recv attaches a region that the peer on the Unix socket sock
 * sent with ipcx_region_send(), waiting per timeout_ms. -EPROTO when what
 * arrives is not a region.
 */
IPCX_API int ipcx_region_recv(ipcx_region **out, int sock, int timeout_ms);

/* ipcx_region_close detaches the region; it stays unless unlinked. NULL is ignored. */
IPCX_API void ipcx_region_close(ipcx_region *r);

/* ipcx_region_unlink removes the named region behind url (-ENOENT if absent). */
IPCX_API int ipcx_region_unlink(const char *url);

/* ==== shm engine: zero-copy loans (shm:// only; docs/shm.md) ============
 *
 * A shm:// channel can hand out its shared memory directly: a sender
 * writes a message in place instead of copying it in, a receiver reads it
 * where it lies instead of copying it out. Each call returns -ENOTSUP on a
 * channel of another transport and -EBADF on one not opened for its
 * direction. One loan of each kind per channel at a time.
 */

/*
 * ipcx_loan reserves room for a message of up to len bytes, waiting for
 * room as ipcx_send() does (-EAGAIN, -ETIMEDOUT, -EMSGSIZE above the
 * channel's max_msg), and points *buf at it in shared memory. Write the
 * message there and publish it with ipcx_commit(). Until then ipcx_send()
 * and ipcx_loan() on this channel fail with -EBUSY, and receivers of a
 * queue with many senders wait at this message; closing the channel (or
 * dying) drops it and they move on.
 */
IPCX_API int ipcx_loan(ipcx_chan *ch, size_t len, void **buf, int timeout_ms);

/*
 * ipcx_commit publishes the first len bytes of the loaned buffer (len at
 * most the length loaned, else -EMSGSIZE) as one message of type >= 1.
 * The buffer belongs to the queue again afterwards: do not touch it.
 */
IPCX_API int ipcx_commit(ipcx_chan *ch, size_t len, long type);

/*
 * ipcx_recv_loan takes the message selector picks, with the rules and
 * errors of ipcx_recv() (but never -EMSGSIZE), without copying it: *buf
 * points at the payload in shared memory and the length is returned. The
 * message is ours alone until ipcx_release(); its room is not reused
 * before. A second ipcx_recv_loan() before the release fails with -EBUSY.
 * A receiver that dies holding a loan loses that message, never another.
 * A broadcast subscriber (pattern=broadcast) stays on the message it holds:
 * under policy=block it holds senders back as an unread message does;
 * under policy=overwrite senders never wait, and when one overwrote the
 * message during the loan, ipcx_release() fails with -EOVERFLOW (what was
 * read may be torn; the message counts among the losses the next receive
 * reports).
 */
IPCX_API ssize_t ipcx_recv_loan(ipcx_chan *ch, const void **buf, long selector, long *type,
				int timeout_ms);

/*
 * ipcx_release gives back the message of the last ipcx_recv_loan(); *buf
 * must not be used after. -EINVAL when no message is on loan.
 */
IPCX_API int ipcx_release(ipcx_chan *ch);

#ifdef __cplusplus
}
#endif
#endif /* IPCX_H */
