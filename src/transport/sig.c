/*
 * sig.c - sig://PID?signo=SIGRTMIN+N : messages carried by signals (seeds
 * 000 §4, 002, 003). docs/signals.md has the details.
 *
 * A message is the payload of one queued signal: up to sizeof(union sigval)
 * bytes, copied into si_value. Its length rides in si_errno beside a tag,
 * which the kernel passes through untouched; a signal without the tag is a
 * message too (a plain sigqueue gives the whole sigval, a kill gives no
 * bytes), so ipcx talks to kill(1) and to any sigqueue program. The type is
 * not carried: every message is type 1, and sending another is -ENOTSUP.
 *
 * The receiver is the process itself (PID must be ours, or "self"): opening
 * blocks the signal in the calling thread and reads it from a signalfd, so
 * no user code runs in a handler. Blocking at open, before anyone can send,
 * closes the classic race: open, then fork or publish the pid. The signal
 * stays blocked after close, so a late one cannot kill the process.
 *
 * Realtime signals queue, each one delivered, in order; a standard signal
 * sent while one is pending merges into it, so only realtime channels are
 * IPCX_CAP_RELIABLE. The queue is bounded by RLIMIT_SIGPENDING of the
 * receiver's user: a full queue makes send wait, or fail -EAGAIN. That
 * bound counts every signal pending for any process of that user, so its
 * room changes under the channel's feet: no IPCX_CAP_FLOW_CONTROL.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define IPCX__SIG_CAPS                                                         \
	(IPCX_CAP_NAMED | IPCX_CAP_MANY_SENDERS | IPCX_CAP_SURVIVES_EXIT | IPCX_CAP_UNTYPED)
#define IPCX__SIG_MAX_MSG sizeof(union sigval)

/* si_errno of an ipcx message: this tag in the high bits, the length in the low byte. */
#define IPCX__SIG_TAG 0x49580000
#define IPCX__SIG_TAG_MASK 0x7fffff00

struct ipcx__sig_chan {
	struct ipcx_chan base;
	pid_t pid;  /* where sends go */
	int signo;
	int sfd;    /* signalfd; -1 when not receiving */
	bool held;  /* a message read but too big for the last buffer */
	struct signalfd_siginfo held_si;
};

static int ipcx__sig_pid(const struct ipcx__url *u, int flags, pid_t *pid)
{
	const char *a = u->address;
	char *end;
	long v = strtol(a, &end, 10);
	if (strcmp(a, "self") == 0)
		*pid = getpid();
	else if (*a >= '1' && *a <= '9' && !*end && v <= INT32_MAX)
		*pid = (pid_t)v;
	else
		return ipcx__fail(-EINVAL, "sig:// needs a process id or 'self', as in "
					   "sig://1234?signo=SIGRTMIN+1 (got '%s')", a);
	if ((flags & IPCX_RECV) && *pid != getpid())
		return ipcx__fail(-EINVAL, "a sig:// receiver is the process itself: open sig://%d "
					   "or sig://self, not sig://%d", (int)getpid(), (int)*pid);
	return 0;
}

static int ipcx__sig_signo(const struct ipcx__url *u, int *signo)
{
	const char *s = ipcx__url_opt(u, "signo");
	*signo = s ? ipcx_signal_parse(s) : SIGRTMIN;
	if (*signo < 0)
		return *signo;
	sigset_t set;
	return ipcx__sigset_of(signo, 1, &set);
}

/* ipcx__sig_listen blocks the signal and opens the signalfd that receives it. */
static int ipcx__sig_listen(struct ipcx__sig_chan *sc)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sc->signo);
	int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (rc)
		return ipcx__fail(-rc, "pthread_sigmask: %s", ipcx_strerror(-rc));
	sc->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return sc->sfd < 0 ? ipcx__errno_fail("signalfd") : 0;
}

static void ipcx__sig_close(ipcx_chan *ch)
{
	struct ipcx__sig_chan *sc = (struct ipcx__sig_chan *)ch;
	if (sc->sfd >= 0)
		close(sc->sfd);
	free(sc);
}

static int ipcx__sig_open(ipcx_chan **out, const struct ipcx__url *u, int flags,
			  struct ipcx__deadline d)
{
	pid_t pid;
	int signo;
	int rc = ipcx__sig_pid(u, flags, &pid);
	if (rc == 0)
		rc = ipcx__sig_signo(u, &signo);
	if (rc < 0)
		return rc;
	if ((flags & IPCX_SEND) && kill(pid, 0) < 0)
		return errno == ESRCH ? ipcx__fail(-ENOENT, "no process %d", (int)pid)
				      : ipcx__fail(-errno, "signal %d: %s", (int)pid,
						   ipcx_strerror(-errno));
	struct ipcx__sig_chan *sc = ipcx__chan_alloc(sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	sc->pid = pid;
	sc->signo = signo;
	sc->sfd = -1;
	sc->base.caps.max_msg = IPCX__SIG_MAX_MSG;
	sc->base.caps.flags = IPCX__SIG_CAPS;
	if (signo >= SIGRTMIN)
		sc->base.caps.flags |= IPCX_CAP_RELIABLE;
	if (flags & IPCX_RECV) {
		sc->base.caps.flags |= IPCX_CAP_POLLABLE;
		rc = ipcx__sig_listen(sc);
	}
	if (rc < 0) {
		ipcx__sig_close(&sc->base);
		return rc;
	}
	*out = &sc->base;
	return 0;
}

static int ipcx__sig_send(ipcx_chan *ch, const void *data, size_t len, long type,
			  struct ipcx__deadline d)
{
	struct ipcx__sig_chan *sc = (struct ipcx__sig_chan *)ch;
	if (type != 1)
		return ipcx__fail(-ENOTSUP, "sig:// carries no message type: only type 1 (got %ld)",
				  type);
	union sigval v;
	memset(&v, 0, sizeof(v));
	if (len)
		memcpy(&v, data, len);
	long backoff_us = 100;
	for (;;) {
		int rc = ipcx__sigqueue(sc->pid, sc->signo, v, IPCX__SIG_TAG | (int)len);
		if (rc == -ESRCH)
			return ipcx__fail(-EPIPE, "process %d is gone", (int)sc->pid);
		if (rc != -EAGAIN)
			return rc;
		/* The receiver's queue is full (RLIMIT_SIGPENDING): wait for it to drain. */
		if (ipcx__deadline_poll_ms(d) == 0)
			return ipcx__deadline_err(d);
		(void)ipcx__backoff_sleep(&backoff_us, d);
	}
}

/* ipcx__sig_len is how many payload bytes a received signal carries. */
static size_t ipcx__sig_len(const struct signalfd_siginfo *si)
{
	int tag = (int)si->ssi_errno;
	if ((tag & IPCX__SIG_TAG_MASK) == IPCX__SIG_TAG && (tag & 0xff) <= (int)IPCX__SIG_MAX_MSG)
		return (size_t)(tag & 0xff);
	return si->ssi_code == SI_QUEUE ? IPCX__SIG_MAX_MSG : 0;
}

/* ipcx__sig_next reads the next signal, or -EAGAIN when none is pending. */
static int ipcx__sig_next(struct ipcx__sig_chan *sc, struct signalfd_siginfo *si)
{
	if (sc->held) {
		sc->held = false;
		*si = sc->held_si;
		return 0;
	}
	ssize_t n = read(sc->sfd, si, sizeof(*si));
	if (n == (ssize_t)sizeof(*si))
		return 0;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -EAGAIN;
	return n < 0 ? ipcx__errno_fail("read signalfd")
		     : ipcx__fail(-EIO, "short read from signalfd");
}

static ssize_t ipcx__sig_recv(ipcx_chan *ch, void *buf, size_t size, long selector, long *type,
			      struct ipcx__deadline d)
{
	struct ipcx__sig_chan *sc = (struct ipcx__sig_chan *)ch;
	struct signalfd_siginfo si;
	int rc;
	while ((rc = ipcx__sig_next(sc, &si)) == -EAGAIN) {
		rc = ipcx__wait_fd(sc->sfd, POLLIN, d);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	size_t len = ipcx__sig_len(&si);
	if (len > size) {
		sc->held = true;
		sc->held_si = si;
		return ipcx__fail(-EMSGSIZE, "message of %zu bytes does not fit in %zu", len, size);
	}
	union sigval v = {.sival_ptr = (void *)(uintptr_t)si.ssi_ptr};
	memcpy(buf, &v, len);
	*type = 1;
	return (ssize_t)len;
}

static int ipcx__sig_fd(const ipcx_chan *ch)
{
	const struct ipcx__sig_chan *sc = (const struct ipcx__sig_chan *)ch;
	if (sc->sfd < 0)
		return ipcx__fail(-ENOTSUP, "sig:// is pollable only where it receives");
	return sc->sfd;
}

const struct ipcx__transport ipcx__sig_transport = {
	.scheme = "sig",
	.options = "signo",
	.caps = {.flags = IPCX__SIG_CAPS | IPCX_CAP_RELIABLE | IPCX_CAP_POLLABLE,
		 .max_msg = IPCX__SIG_MAX_MSG},
	.open = ipcx__sig_open,
	.send = ipcx__sig_send,
	.recv = ipcx__sig_recv,
	.close = ipcx__sig_close,
	.fd = ipcx__sig_fd,
};
