/*
 * errors.c - the one list of errors ipcx returns, and the per-thread
 * explanation of the last failure.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * Every errno value ipcx returns, with the words ipcx_strerror() gives it.
 * ipcx_strerror, ipcx_errname and the docs/errors.md table come from here.
 */
#define IPCX__ERRORS(X)                                                        \
	X(EPERM, "operation not permitted")                                    \
	X(ENOENT, "no such object")                                            \
	X(EINTR, "interrupted by a signal")                                    \
	X(EIO, "input/output error")                                           \
	X(ENXIO, "no reader on the other end")                                 \
	X(E2BIG, "argument list too long")                                     \
	X(EBADF, "bad file descriptor")                                        \
	X(EAGAIN, "would block (timeout 0)")                                   \
	X(ENOMEM, "out of memory")                                             \
	X(EACCES, "permission denied")                                         \
	X(EFAULT, "bad address")                                               \
	X(EBUSY, "object is busy")                                             \
	X(EEXIST, "object already exists")                                     \
	X(ENODEV, "no such device")                                            \
	X(ENOTDIR, "not a directory")                                          \
	X(EISDIR, "is a directory")                                            \
	X(EINVAL, "invalid argument")                                          \
	X(ENFILE, "too many open files in system")                             \
	X(EMFILE, "too many open files")                                       \
	X(ENOSPC, "no space left")                                             \
	X(ENOTTY, "wrong kind of object")                                      \
	X(EFBIG, "object too large")                                           \
	X(EPIPE, "peer is gone")                                               \
	X(ERANGE, "value out of range")                                        \
	X(EDEADLK, "deadlock would occur")                                     \
	X(ENAMETOOLONG, "name too long")                                       \
	X(ENOLCK, "no locks available")                                        \
	X(ENOSYS, "function not implemented by the kernel")                    \
	X(ELOOP, "refusing to follow a symbolic link")                         \
	X(ENOMSG, "no message of desired type")                                \
	X(EIDRM, "object was removed")                                         \
	X(ENOSTR, "not a stream")                                              \
	X(ENODATA, "no data available")                                        \
	X(ETIME, "timer expired")                                              \
	X(EPROTO, "peer broke the protocol")                                   \
	X(EBADMSG, "bad message")                                              \
	X(EOVERFLOW, "value too large for its type")                           \
	X(EILSEQ, "invalid byte sequence")                                     \
	X(ENOTSOCK, "not a socket")                                            \
	X(EDESTADDRREQ, "destination address required")                        \
	X(EMSGSIZE, "message too long")                                        \
	X(EPROTOTYPE, "wrong protocol type for socket")                        \
	X(ENOPROTOOPT, "protocol option not available")                        \
	X(EPROTONOSUPPORT, "protocol not supported")                           \
	X(ENOTSUP, "operation not supported by this transport")                \
	X(EAFNOSUPPORT, "address family not supported")                        \
	X(EADDRINUSE, "address already in use")                                \
	X(EADDRNOTAVAIL, "address not available")                              \
	X(ENETDOWN, "network is down")                                         \
	X(ENETUNREACH, "network is unreachable")                               \
	X(ECONNABORTED, "connection aborted")                                  \
	X(ECONNRESET, "connection reset by peer")                              \
	X(ENOBUFS, "no buffer space available")                                \
	X(EISCONN, "already connected")                                        \
	X(ENOTCONN, "not connected to a peer")                                 \
	X(ETIMEDOUT, "timed out")                                              \
	X(ECONNREFUSED, "connection refused (nobody listening)")               \
	X(EHOSTUNREACH, "host is unreachable")                                 \
	X(EALREADY, "operation already in progress")                           \
	X(EINPROGRESS, "operation in progress")                                \
	X(ESTALE, "stale object")                                              \
	X(EDQUOT, "quota exceeded")                                            \
	X(ECANCELED, "operation canceled")                                     \
	X(EOWNERDEAD, "previous owner died")                                   \
	X(ENOTRECOVERABLE, "state not recoverable")

const char *ipcx_strerror(int err)
{
	switch (-err) {
	case 0:
		return "success";
#define IPCX__STR(name, text)                                                  \
	case name:                                                             \
		return text;
		IPCX__ERRORS(IPCX__STR)
#undef IPCX__STR
	default:
		return "unknown error";
	}
}

const char *ipcx_errname(int err)
{
	switch (-err) {
	case 0:
		return "OK";
#define IPCX__NAME(name, text)                                                 \
	case name:                                                             \
		return #name;
		IPCX__ERRORS(IPCX__NAME)
#undef IPCX__NAME
	default:
		return "EUNKNOWN";
	}
}

static _Thread_local char ipcx__errmsg_buf[512];

const char *ipcx_errmsg(void)
{
	return ipcx__errmsg_buf;
}

void ipcx__clear_errmsg(void)
{
	ipcx__errmsg_buf[0] = '\0';
}

void ipcx__set_errmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ipcx__errmsg_buf, sizeof(ipcx__errmsg_buf), fmt, ap);
	va_end(ap);
}

void ipcx__errno_record(const char *what)
{
	int saved = errno;
	int err = saved > 0 ? -saved : -EIO;
	ipcx__set_errmsg("%s: %s", what, ipcx_strerror(err));
	errno = saved;
}
