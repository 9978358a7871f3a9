/*
 * ipc_common.c - what the System V and POSIX IPC objects share: System V
 * addresses (key, 0x key, id=N, ftok path) and the kernel's IPC limits.
 */
#include "ipcx_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>

/* The ftok project id: ?proj=N, default 1; ftok keeps its low 8 bits. */
static int ipcx__sysv_proj(const struct ipcx__url *u, int *proj)
{
	const char *s = ipcx__url_opt(u, "proj");
	if (!s) {
		*proj = 1;
		return 0;
	}
	char *end;
	errno = 0;
	long v = strtol(s, &end, 0);
	if (!*s || *end || errno || v < 0 || v > INT_MAX)
		return ipcx__fail(-EINVAL, "bad ftok project id '%s' (a number >= 0)", s);
	*proj = (int)v;
	return 0;
}

static int ipcx__sysv_ftok(const struct ipcx__url *u, struct ipcx__sysv_addr *a)
{
	int proj;
	int rc = ipcx__sysv_proj(u, &proj);
	if (rc < 0)
		return rc;
	a->key = ftok(u->address, proj);
	if (a->key == -1)
		return ipcx__fail(-errno, "ftok %s: %s (the file must exist for the key's lifetime)",
				  u->address, ipcx_strerror(-errno));
	return 0;
}

/* A number in [lo, hi], decimal or 0x; what names it in the error. */
static int ipcx__sysv_number(const char *s, const char *what, long long lo, long long hi,
			     long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (!*s || *end || errno || v < lo || v > hi)
		return ipcx__fail(-EINVAL, "bad System V %s '%s'", what, s);
	*out = v;
	return 0;
}

int ipcx__sysv_addr_parse(const struct ipcx__url *u, bool allow_id, struct ipcx__sysv_addr *a)
{
	memset(a, 0, sizeof(*a));
	const char *s = u->address;
	long long v;
	if (s[0] == '/')
		return ipcx__sysv_ftok(u, a);
	if (ipcx__url_opt(u, "proj"))
		return ipcx__fail(-EINVAL, "?proj= goes with an ftok path, as in %s:///file?proj=1",
				  u->scheme);
	if (strncmp(s, "id=", 3) == 0) {
		if (!allow_id)
			return ipcx__fail(-EINVAL, "%s:// is addressed by key or ftok path, not id=",
					  u->scheme);
		int rc = ipcx__sysv_number(s + 3, "id", 0, INT_MAX, &v);
		if (rc < 0)
			return rc;
		a->by_id = true;
		a->id = (int)v;
		return 0;
	}
	if (!*s)
		return ipcx__fail(-EINVAL, "%s:// needs a key (123, 0x7b), id=N or an ftok path",
				  u->scheme);
	bool hex = strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0;
	int rc = ipcx__sysv_number(s, "key", hex ? 0 : INT_MIN, hex ? UINT_MAX : INT_MAX, &v);
	if (rc < 0)
		return rc;
	if (v == IPC_PRIVATE)
		return ipcx__fail(-EINVAL, "key 0 is IPC_PRIVATE and names no object; pick another");
	a->key = (key_t)(unsigned)v;
	return 0;
}

const char *ipcx__sysv_addr_str(const struct ipcx__sysv_addr *a, char *buf, size_t size)
{
	if (a->by_id)
		snprintf(buf, size, "id %d", a->id);
	else
		snprintf(buf, size, "key 0x%08x", (unsigned)a->key);
	return buf;
}

int ipcx__proc_limit(const char *path, long *out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return ipcx__fail(-errno, "cannot read the kernel limit %s: %s", path,
				  ipcx_strerror(-errno));
	int n = fscanf(f, "%ld", out);
	fclose(f);
	if (n != 1 || *out < 0)
		return ipcx__fail(-EIO, "cannot parse the kernel limit in %s", path);
	return 0;
}
