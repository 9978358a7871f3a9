/*
 * signal.c - the signal API of ipcx.h (seeds 000 §4, 002, 003): names,
 * sending with a payload, blocking, and waiting without a handler.
 *
 * No user code ever runs in a signal handler here: signals are blocked and
 * then taken synchronously (sigtimedwait here, signalfd in sig://).
 */
#include "ipcx_impl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The standard signals, by the names kill -l prints without "SIG". */
static const struct {
	int signo;
	const char *name;
} ipcx__std_signals[] = {
	{SIGHUP, "SIGHUP"},       {SIGINT, "SIGINT"},     {SIGQUIT, "SIGQUIT"},
	{SIGILL, "SIGILL"},       {SIGTRAP, "SIGTRAP"},   {SIGABRT, "SIGABRT"},
	{SIGBUS, "SIGBUS"},       {SIGFPE, "SIGFPE"},     {SIGKILL, "SIGKILL"},
	{SIGUSR1, "SIGUSR1"},     {SIGSEGV, "SIGSEGV"},   {SIGUSR2, "SIGUSR2"},
	{SIGPIPE, "SIGPIPE"},     {SIGALRM, "SIGALRM"},   {SIGTERM, "SIGTERM"},
#ifdef SIGSTKFLT
	{SIGSTKFLT, "SIGSTKFLT"},
#endif
	{SIGCHLD, "SIGCHLD"},     {SIGCONT, "SIGCONT"},   {SIGSTOP, "SIGSTOP"},
	{SIGTSTP, "SIGTSTP"},     {SIGTTIN, "SIGTTIN"},   {SIGTTOU, "SIGTTOU"},
	{SIGURG, "SIGURG"},       {SIGXCPU, "SIGXCPU"},   {SIGXFSZ, "SIGXFSZ"},
	{SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"},   {SIGWINCH, "SIGWINCH"},
	{SIGIO, "SIGIO"},         {SIGPWR, "SIGPWR"},     {SIGSYS, "SIGSYS"},
};

#define IPCX__NSTD (sizeof(ipcx__std_signals) / sizeof(ipcx__std_signals[0]))

const char *ipcx_signal_name(int signo)
{
	static _Thread_local char rt[16];
	for (size_t i = 0; i < IPCX__NSTD; i++)
		if (ipcx__std_signals[i].signo == signo)
			return ipcx__std_signals[i].name;
	if (signo < SIGRTMIN || signo > SIGRTMAX)
		return NULL;
	if (signo == SIGRTMIN)
		return "SIGRTMIN";
	snprintf(rt, sizeof(rt), "SIGRTMIN+%d", signo - SIGRTMIN);
	return rt;
}

/* ipcx__parse_uint reads all of s as a decimal number below limit; -1 otherwise. */
static int ipcx__parse_uint(const char *s, int limit)
{
	if (!isdigit((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	return *end || errno || v >= limit ? -1 : (int)v;
}

/* ipcx__parse_rt reads "RTMIN", "RTMIN+N", "RTMAX", "RTMAX-N" (no "SIG"). */
static int ipcx__parse_rt(const char *s)
{
	int base, sign;
	if (strncasecmp(s, "RTMIN", 5) == 0) {
		base = SIGRTMIN;
		sign = '+';
	} else if (strncasecmp(s, "RTMAX", 5) == 0) {
		base = SIGRTMAX;
		sign = '-';
	} else {
		return -1;
	}
	if (s[5] == '\0')
		return base;
	int n = s[5] == sign ? ipcx__parse_uint(s + 6, SIGRTMAX - SIGRTMIN + 1) : -1;
	if (n < 0)
		return -1;
	return sign == '+' ? base + n : base - n;
}

int ipcx_signal_parse(const char *name)
{
	ipcx__clear_errmsg();
	if (!name)
		return ipcx__fail(-EINVAL, "no signal name");
	const char *s = strncasecmp(name, "SIG", 3) == 0 ? name + 3 : name;
	int signo = ipcx__parse_uint(s, SIGRTMAX + 1);
	if (signo < 0)
		signo = ipcx__parse_rt(s);
	for (size_t i = 0; signo < 0 && i < IPCX__NSTD; i++)
		if (strcasecmp(s, ipcx__std_signals[i].name + 3) == 0)
			signo = ipcx__std_signals[i].signo;
	if (signo <= 0 || !ipcx_signal_name(signo))
		return ipcx__fail(-EINVAL, "'%s' is not a signal (try SIGUSR1, USR2, 10 or SIGRTMIN+3)",
				  name);
	return signo;
}

int ipcx__sigqueue(pid_t pid, int signo, union sigval value, int tag)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = signo;
	si.si_errno = tag;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value = value;
	if (syscall(SYS_rt_sigqueueinfo, pid, signo, &si) == 0)
		return 0;
	switch (errno) {
	case ESRCH:
		return ipcx__fail(-ESRCH, "no process %d", (int)pid);
	case EAGAIN:
		return ipcx__fail(-EAGAIN, "the signal queue of process %d is full: its user has "
					   "RLIMIT_SIGPENDING signals pending (ulimit -i)", (int)pid);
	case EPERM:
		return ipcx__fail(-EPERM, "not allowed to signal process %d", (int)pid);
	default:
		return ipcx__fail(-errno, "sigqueue %s to %d: %s", ipcx_signal_name(signo),
				  (int)pid, ipcx_strerror(-errno));
	}
}

int ipcx_signal_send(pid_t pid, int signo, long value)
{
	ipcx__clear_errmsg();
	if (signo != 0 && !ipcx_signal_name(signo))
		return ipcx__fail(-EINVAL, "%d is not a signal", signo);
	if (pid <= 0)
		return ipcx__fail(-EINVAL, "pid %d: signals go to one process (pid > 0)", (int)pid);
	union sigval v = {.sival_ptr = (void *)(intptr_t)value};
	int rc = signo == 0 ? (kill(pid, 0) == 0 ? 0 : -errno) : ipcx__sigqueue(pid, signo, v, 0);
	if (rc == -EPERM)
		return ipcx__fail(-EPERM, "not allowed to signal process %d", (int)pid);
	if (rc == -ESRCH)
		return ipcx__fail(-ENOENT, "no process %d", (int)pid);
	return rc;
}

int ipcx__sigset_of(const int *signos, size_t n, sigset_t *set)
{
	sigemptyset(set);
	if (!signos || n == 0)
		return ipcx__fail(-EINVAL, "no signals given");
	for (size_t i = 0; i < n; i++) {
		if (!ipcx_signal_name(signos[i]))
			return ipcx__fail(-EINVAL, "%d is not a signal", signos[i]);
		if (signos[i] == SIGKILL || signos[i] == SIGSTOP)
			return ipcx__fail(-EINVAL, "%s cannot be blocked or waited for",
					  ipcx_signal_name(signos[i]));
		sigaddset(set, signos[i]);
	}
	return 0;
}

int ipcx_signal_block(const int *signos, size_t n)
{
	ipcx__clear_errmsg();
	sigset_t set;
	int rc = ipcx__sigset_of(signos, n, &set);
	if (rc < 0)
		return rc;
	rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
	return rc ? ipcx__fail(-rc, "pthread_sigmask: %s", ipcx_strerror(-rc)) : 0;
}

/* ipcx__sigwait_until is sigtimedwait against a deadline, resumed after EINTR. */
static int ipcx__sigwait_until(const sigset_t *set, siginfo_t *si, struct ipcx__deadline d)
{
	for (;;) {
		int signo;
		if (d.at_ns == INT64_MAX) {
			signo = sigwaitinfo(set, si);
		} else {
			int64_t left = d.at_ns - ipcx__now_ns();
			if (left < 0)
				left = 0;
			struct timespec ts = {left / 1000000000, left % 1000000000};
			signo = sigtimedwait(set, si, &ts);
		}
		if (signo > 0)
			return signo;
		if (errno == EAGAIN)
			return ipcx__deadline_err(d);
		if (errno != EINTR)
			return ipcx__errno_fail("sigtimedwait");
	}
}

int ipcx_signal_wait(const int *signos, size_t n, struct ipcx_siginfo *info, int timeout_ms)
{
	struct ipcx__deadline d = ipcx__deadline_in(timeout_ms);
	sigset_t set;
	int rc = ipcx_signal_block(signos, n);
	if (rc < 0)
		return rc;
	ipcx__sigset_of(signos, n, &set);
	siginfo_t si;
	int signo = ipcx__sigwait_until(&set, &si, d);
	if (signo < 0)
		return signo;
	if (info)
		*info = (struct ipcx_siginfo){.signo = signo, .code = si.si_code, .pid = si.si_pid,
					      .uid = si.si_uid,
					      .value = si.si_code == SI_QUEUE
							       ? (long)(intptr_t)si.si_value.sival_ptr
							       : 0};
	return signo;
}
