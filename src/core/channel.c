/*
 * channel.c - the public channel calls: argument checks shared by every
 * transport, then dispatch through the transport's ops.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *ipcx__chan_alloc(size_t size)
{
	return calloc(1, size);
}

static int ipcx__canonical_url(ipcx_chan *ch, const struct ipcx__url *u, const char *text)
{
	size_t n = strlen(u->scheme) + 3 + strlen(text) + 1;
	ch->url = malloc(n);
	if (!ch->url)
		return -ENOMEM;
	if (strstr(text, "://"))
		snprintf(ch->url, n, "%s", text);
	else
		snprintf(ch->url, n, "%s://%s", u->scheme, text);
	return 0;
}

int ipcx_open(ipcx_chan **out, const char *url, int flags, int timeout_ms)
{
	ipcx__clear_errmsg();
	if (!out)
		return ipcx__fail(-EINVAL, "no place for the channel (out is NULL)");
	*out = NULL;
	if (flags & ~(IPCX_SEND | IPCX_RECV | IPCX_CREATE | IPCX_EXCL))
		return ipcx__fail(-EINVAL, "unknown open flags 0x%x", flags);
	if (!(flags & (IPCX_SEND | IPCX_RECV)))
		return ipcx__fail(-EINVAL, "open needs IPCX_SEND, IPCX_RECV or both");
	if ((flags & IPCX_EXCL) && !(flags & IPCX_CREATE))
		return ipcx__fail(-EINVAL, "IPCX_EXCL needs IPCX_CREATE");
	struct ipcx__url u;
	int rc = ipcx__url_parse(&u, url);
	if (rc < 0)
		return rc;
	const struct ipcx__transport *tp = ipcx__transport_find(u.scheme);
	ipcx_chan *ch = NULL;
	if (!tp->open)
		rc = ipcx__fail(-ENOTSUP, "%s:// is anonymous: create it with ipcx_pair() before fork()",
				u.scheme);
	else
		rc = tp->open(&ch, &u, flags, ipcx__deadline_in(timeout_ms));
	if (rc == 0) {
		ch->tp = tp;
		ch->flags = flags;
		rc = ipcx__canonical_url(ch, &u, url);
		if (rc < 0)
			tp->close(ch);
		else
			*out = ch;
	}
	ipcx__url_free(&u);
	return rc;
}

int ipcx_pair(const char *url, ipcx_chan *ends[2])
{
	ipcx__clear_errmsg();
	if (!ends)
		return ipcx__fail(-EINVAL, "no place for the ends (ends is NULL)");
	ends[0] = ends[1] = NULL;
	struct ipcx__url u;
	int rc = ipcx__url_parse(&u, url);
	if (rc < 0)
		return rc;
	const struct ipcx__transport *tp = ipcx__transport_find(u.scheme);
	if (!tp->pair) {
		ipcx__url_free(&u);
		return ipcx__fail(-ENOTSUP, "%s:// is named: open it with ipcx_open()", u.scheme);
	}
	rc = tp->pair(ends, &u);
	for (int i = 0; rc == 0 && i < 2; i++) {
		ends[i]->tp = tp;
		rc = ipcx__canonical_url(ends[i], &u, url);
	}
	if (rc < 0 && ends[0]) {
		ipcx_close(ends[0]);
		ipcx_close(ends[1]);
		ends[0] = ends[1] = NULL;
	}
	ipcx__url_free(&u);
	return rc;
}

int ipcx_send(ipcx_chan *ch, const void *data, size_t len, long type, int timeout_ms)
{
	ipcx__clear_errmsg();
	if (!ch || (!data && len))
		return ipcx__fail(-EINVAL, "send needs a channel and data");
	if (!(ch->flags & IPCX_SEND))
		return ipcx__fail(-EBADF, "%s was not opened for sending", ch->url);
	if (type < 1)
		return ipcx__fail(-EINVAL, "message type %ld: types are >= 1", type);
	if (len > ch->caps.max_msg)
		return ipcx__fail(-EMSGSIZE, "message of %zu bytes exceeds the limit of %zu%s%s%s for %s",
				  len, ch->caps.max_msg, ch->max_msg_limit ? " (" : "",
				  ch->max_msg_limit ? ch->max_msg_limit : "",
				  ch->max_msg_limit ? ")" : "", ch->url);
	if (ch->try_first && timeout_ms > 0) {
		int rc = ch->tp->send(ch, data, len, type, IPCX__FIRST_TRY);
		if (rc != -EAGAIN)
			return rc;
		ipcx__clear_errmsg();
	}
	return ch->tp->send(ch, data, len, type, ipcx__call_deadline(ch, timeout_ms));
}

struct ipcx__deadline ipcx__call_deadline(const ipcx_chan *ch, int timeout_ms)
{
	return ch->try_first && timeout_ms == 0 ? IPCX__NO_WAIT : ipcx__deadline_in(timeout_ms);
}

ssize_t ipcx_recv(ipcx_chan *ch, void *buf, size_t size, long selector, long *type,
		  int timeout_ms)
{
	ipcx__clear_errmsg();
	if (!ch || (!buf && size))
		return ipcx__fail(-EINVAL, "recv needs a channel and a buffer");
	if (!(ch->flags & IPCX_RECV))
		return ipcx__fail(-EBADF, "%s was not opened for receiving", ch->url);
	if (selector != 0 && !(ch->caps.flags & IPCX_CAP_TYPED))
		return ipcx__fail(-ENOTSUP, "%s cannot select messages by type (selector %ld)",
				  ch->url, selector);
	long ignored, *t = type ? type : &ignored;
	if (ch->try_first && timeout_ms > 0) {
		ssize_t n = ch->tp->recv(ch, buf, size, selector, t, IPCX__FIRST_TRY);
		if (n != -ENOMSG && n != -EAGAIN)
			return n;
		ipcx__clear_errmsg();
	}
	ssize_t n = ch->tp->recv(ch, buf, size, selector, t, ipcx__call_deadline(ch, timeout_ms));
	/* As msgrcv with IPC_NOWAIT: nothing to take without waiting is ENOMSG. */
	if (n == -EAGAIN && timeout_ms == 0)
		return -ENOMSG;
	return n;
}

void ipcx_close(ipcx_chan *ch)
{
	if (!ch)
		return;
	free(ch->url);
	ch->url = NULL;
	ch->tp->close(ch);
}

int ipcx_unlink(const char *url)
{
	ipcx__clear_errmsg();
	struct ipcx__url u;
	int rc = ipcx__url_parse(&u, url);
	if (rc < 0)
		return rc;
	const struct ipcx__transport *tp = ipcx__transport_find(u.scheme);
	rc = tp->unlink ? tp->unlink(&u)
			: ipcx__fail(-ENOTSUP, "%s:// has no named object to remove", u.scheme);
	ipcx__url_free(&u);
	return rc;
}

int ipcx_caps_of(const ipcx_chan *ch, struct ipcx_caps *caps)
{
	if (!ch || !caps)
		return -EINVAL;
	*caps = ch->caps;
	return 0;
}

int ipcx_fd(const ipcx_chan *ch)
{
	if (!ch)
		return -EINVAL;
	if (!ch->tp->fd)
		return ipcx__fail(-ENOTSUP, "%s has no pollable descriptor", ch->url);
	return ch->tp->fd(ch);
}

const char *ipcx_url(const ipcx_chan *ch)
{
	return ch ? ch->url : NULL;
}

const char *ipcx_cap_name(unsigned flag)
{
	static const char *const names[] = {
		"typed",        "priority",       "many-senders", "many-receivers",
		"broadcast",    "zero-copy",      "cross-host",   "survives-exit",
		"survives-reboot", "bidirectional", "pollable",   "named",
		"connected",    "byte-stream",    "reliable",     "flow-control",
		"untyped",        "rendezvous",
	};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (flag == 1u << i)
			return names[i];
	return NULL;
}
