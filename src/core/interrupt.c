/*
 * interrupt.c - deadlines for system calls that block without a timeout of
 * their own: msgrcv(2), msgsnd(2), fcntl(F_OFD_SETLKW).
 *
 * The choice, and why. Polling with IPC_NOWAIT and a growing sleep either
 * burns a core or answers late (the sleep is the latency). A helper thread
 * costs a thread per waiter. So the calling thread blocks in the real
 * system call, and a POSIX timer aimed at this thread alone
 * (SIGEV_THREAD_ID) delivers IPCX__INTERRUPT_SIGNAL at the deadline. The
 * System V calls and fcntl locks are never restarted after a signal handler
 * runs (signal(7)), so the call fails with EINTR and we report the timeout.
 *
 * The race: the signal may land after we checked the clock but before the
 * call went to sleep, and would be lost. The timer therefore keeps firing
 * every IPCX__INTERRUPT_REPEAT_NS after the deadline until it is deleted,
 * so a lost first shot costs at most that much extra wait, never a hang.
 *
 * The cost to the program: the signal gets a no-op handler, installed once,
 * but only while its disposition is SIG_DFL or SIG_IGN; a program that has
 * its own handler there keeps it (any handler interrupts the call). The
 * signal is unblocked in the calling thread for the duration of the call.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define IPCX__INTERRUPT_REPEAT_NS (2 * 1000 * 1000)

static void ipcx__interrupt_handler(int sig)
{
	(void)sig; /* its only job is to make the blocked call return EINTR */
}

static void ipcx__interrupt_install(void)
{
	struct sigaction old;
	if (sigaction(IPCX__INTERRUPT_SIGNAL, NULL, &old) < 0)
		return;
	if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
		return;
	struct sigaction sa = {.sa_handler = ipcx__interrupt_handler};
	sigemptyset(&sa.sa_mask);
	sigaction(IPCX__INTERRUPT_SIGNAL, &sa, NULL); /* no SA_RESTART */
}

/* A timer that signals this thread at d and every few ms after it. */
struct ipcx__interrupt {
	timer_t timer;
	sigset_t saved_mask;
};

static int ipcx__interrupt_arm(struct ipcx__interrupt *it, struct ipcx__deadline d)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, ipcx__interrupt_install);
	struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID,
			       .sigev_signo = IPCX__INTERRUPT_SIGNAL};
	sev.sigev_notify_thread_id = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &it->timer) < 0)
		return ipcx__errno_fail("timer_create");
	struct itimerspec when = {
		.it_value = {d.at_ns / 1000000000, d.at_ns % 1000000000},
		.it_interval = {0, IPCX__INTERRUPT_REPEAT_NS},
	};
	if (timer_settime(it->timer, TIMER_ABSTIME, &when, NULL) < 0) {
		int rc = ipcx__errno_fail("timer_settime");
		timer_delete(it->timer);
		return rc;
	}
	sigset_t ours;
	sigemptyset(&ours);
	sigaddset(&ours, IPCX__INTERRUPT_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &ours, &it->saved_mask); /* cannot fail: valid how and set */
	return 0;
}

static void ipcx__interrupt_disarm(struct ipcx__interrupt *it)
{
	timer_delete(it->timer);
	pthread_sigmask(SIG_SETMASK, &it->saved_mask, NULL);
}

ssize_t ipcx__interruptible(ssize_t (*call)(void *arg), void *arg, struct ipcx__deadline d)
{
	ssize_t rc;
	if (d.at_ns == INT64_MAX) {
		while ((rc = call(arg)) == -EINTR)
			;
		return rc;
	}
	struct ipcx__interrupt it;
	if (ipcx__now_ns() < d.at_ns) {
		rc = ipcx__interrupt_arm(&it, d);
		if (rc < 0)
			return rc;
		do
			rc = call(arg);
		while (rc == -EINTR && ipcx__now_ns() < d.at_ns);
		ipcx__interrupt_disarm(&it);
		if (rc != -EINTR)
			return rc;
	}
	return ipcx__deadline_err(d);
}
