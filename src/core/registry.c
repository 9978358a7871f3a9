/*
 * registry.c - the transports this build has, looked up by URL scheme.
 * Adding a transport is one line here and one in src/CMakeLists.txt.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <string.h>

static const struct ipcx__transport *const ipcx__transports[] = {
	&ipcx__shm_transport,
	&ipcx__pipe_transport,
	&ipcx__spipe_transport,
	&ipcx__fifo_transport,
	&ipcx__unix_transport,
	&ipcx__unixseq_transport,
	&ipcx__unixdgram_transport,
	&ipcx__tcp_transport,
	&ipcx__sysvmq_transport,
	&ipcx__mq_transport,
	&ipcx__sysvshm_transport,
	&ipcx__file_transport,
	&ipcx__sig_transport,
	&ipcx__netlink_transport,
};

#define IPCX__NTRANSPORTS (sizeof(ipcx__transports) / sizeof(ipcx__transports[0]))

const struct ipcx__transport *ipcx__transport_find(const char *scheme)
{
	for (size_t i = 0; i < IPCX__NTRANSPORTS; i++)
		if (strcmp(ipcx__transports[i]->scheme, scheme) == 0)
			return ipcx__transports[i];
	return NULL;
}

const char *ipcx_transport_name(size_t i)
{
	return i < IPCX__NTRANSPORTS ? ipcx__transports[i]->scheme : NULL;
}

int ipcx_transport_caps(const char *scheme, struct ipcx_caps *caps)
{
	char name[16];
	size_t n = strcspn(scheme, ":");
	if (n >= sizeof(name))
		return ipcx__fail(-ENOENT, "unknown transport '%s'", scheme);
	memcpy(name, scheme, n);
	name[n] = '\0';
	const struct ipcx__transport *tp = ipcx__transport_find(name);
	if (!tp)
		return ipcx__fail(-ENOENT, "unknown transport '%s'", name);
	*caps = tp->caps;
	return 0;
}
