/*
 * mutex.c - ipcx_mutex: a process-shared, robust, error-checking pthread
 * mutex in memory the caller shares (seed 000 §6). Robust means the kernel
 * tracks the owner through the robust-futex list: when the owner dies, the
 * next locker gets the mutex with EOWNERDEAD instead of waiting for ever.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

_Static_assert(sizeof(pthread_mutex_t) <= sizeof(ipcx_mutex),
	       "ipcx_mutex must hold a pthread_mutex_t");
_Static_assert(_Alignof(pthread_mutex_t) <= _Alignof(ipcx_mutex),
	       "ipcx_mutex must be aligned for a pthread_mutex_t");

static pthread_mutex_t *ipcx__pmutex(ipcx_mutex *m)
{
	return (pthread_mutex_t *)(void *)m->opaque;
}

int ipcx_mutex_init(ipcx_mutex *m)
{
	ipcx__clear_errmsg();
	if (!m)
		return ipcx__fail(-EINVAL, "no mutex (NULL)");
	pthread_mutexattr_t a;
	int rc = pthread_mutexattr_init(&a);
	if (rc == 0)
		rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (rc == 0)
		rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (rc == 0)
		rc = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	if (rc == 0)
		rc = pthread_mutex_init(ipcx__pmutex(m), &a);
	pthread_mutexattr_destroy(&a);
	return rc ? ipcx__fail(-rc, "pthread_mutex_init: %s", ipcx_strerror(-rc)) : 0;
}

/* ipcx__mutex_take locks once per the deadline and returns pthread's error number. */
static int ipcx__mutex_take(pthread_mutex_t *pm, struct ipcx__deadline d)
{
	if (d.timeout_ms == 0) {
		int rc = pthread_mutex_trylock(pm);
		return rc == EBUSY ? EAGAIN : rc;
	}
	if (d.at_ns == INT64_MAX)
		return pthread_mutex_lock(pm);
	struct timespec at = {d.at_ns / 1000000000, d.at_ns % 1000000000};
	return pthread_mutex_clocklock(pm, CLOCK_MONOTONIC, &at);
}

int ipcx_mutex_lock(ipcx_mutex *m, int timeout_ms)
{
	ipcx__clear_errmsg();
	if (!m)
		return ipcx__fail(-EINVAL, "no mutex (NULL)");
	struct ipcx__deadline d = ipcx__deadline_in(timeout_ms);
	switch (ipcx__mutex_take(ipcx__pmutex(m), d)) {
	case 0:
		return 0;
	case EOWNERDEAD:
		return ipcx__fail(-EOWNERDEAD, "the owner died holding the mutex: it is yours now; "
					       "repair the data, then call ipcx_mutex_consistent()");
	case ENOTRECOVERABLE:
		return ipcx__fail(-ENOTRECOVERABLE, "the mutex was unlocked after its owner died "
						    "without being marked consistent");
	case EAGAIN:
	case ETIMEDOUT:
		return ipcx__fail(ipcx__deadline_err(d), "the mutex is held by another");
	case EDEADLK:
		return ipcx__fail(-EDEADLK, "this thread already holds the mutex");
	default:
		return ipcx__fail(-EINVAL, "not an initialised ipcx_mutex");
	}
}

int ipcx_mutex_consistent(ipcx_mutex *m)
{
	ipcx__clear_errmsg();
	int rc = m ? pthread_mutex_consistent(ipcx__pmutex(m)) : EINVAL;
	return rc ? ipcx__fail(-rc, "the mutex is not held after its owner died") : 0;
}

int ipcx_mutex_unlock(ipcx_mutex *m)
{
	ipcx__clear_errmsg();
	int rc = m ? pthread_mutex_unlock(ipcx__pmutex(m)) : EINVAL;
	return rc ? ipcx__fail(-rc, "unlock: this thread does not hold the mutex") : 0;
}

int ipcx_mutex_destroy(ipcx_mutex *m)
{
	ipcx__clear_errmsg();
	int rc = m ? pthread_mutex_destroy(ipcx__pmutex(m)) : EINVAL;
	return rc ? ipcx__fail(-rc, "pthread_mutex_destroy: %s", ipcx_strerror(-rc)) : 0;
}
