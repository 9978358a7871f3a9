/*
 * deadline.c - timeouts turned into absolute deadlines, and the one place
 * that waits on a descriptor.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>

/* ipcx__backoff_sleep doubles its pause up to this ceiling. */
#define IPCX__BACKOFF_MAX_US 50000L

int64_t ipcx__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct ipcx__deadline ipcx__deadline_in(int timeout_ms)
{
	struct ipcx__deadline d = {.timeout_ms = timeout_ms};
	if (timeout_ms < 0)
		d.at_ns = INT64_MAX;
	else
		d.at_ns = ipcx__now_ns() + (int64_t)timeout_ms * 1000000;
	return d;
}

int ipcx__deadline_poll_ms(struct ipcx__deadline d)
{
	if (d.at_ns == INT64_MAX)
		return -1;
	int64_t left = d.at_ns - ipcx__now_ns();
	if (left <= 0)
		return 0;
	int64_t ms = (left + 999999) / 1000000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

struct timespec ipcx__deadline_realtime(struct ipcx__deadline d)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (d.at_ns == INT64_MAX) {
		now.tv_sec += 100L * 365 * 86400;
		return now;
	}
	int64_t left = d.at_ns - ipcx__now_ns();
	if (left < 0)
		left = 0;
	int64_t ns = (int64_t)now.tv_nsec + left;
	now.tv_sec += ns / 1000000000;
	now.tv_nsec = ns % 1000000000;
	return now;
}

int ipcx__deadline_err(struct ipcx__deadline d)
{
	return d.timeout_ms == 0 ? -EAGAIN : -ETIMEDOUT;
}

int ipcx__backoff_sleep(long *us, struct ipcx__deadline d)
{
	int64_t left_ns = d.at_ns == INT64_MAX ? INT64_MAX : d.at_ns - ipcx__now_ns();
	if (left_ns <= 0)
		return ipcx__deadline_err(d);
	int64_t ns = (int64_t)*us * 1000;
	if (ns > left_ns)
		ns = left_ns;
	struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
	nanosleep(&ts, NULL); /* an interruption only shortens one pause */
	if (*us < IPCX__BACKOFF_MAX_US)
		*us *= 2;
	return 0;
}

int ipcx__wait_fd(int fd, short events, struct ipcx__deadline d)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, ipcx__deadline_poll_ms(d));
		if (n > 0)
			return p.revents;
		if (n == 0)
			return ipcx__deadline_err(d);
		if (errno != EINTR)
			return -errno;
	}
}

int ipcx__set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}
