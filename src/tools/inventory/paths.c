/*
 * paths.c - objects that are files in the file system and that only ipcx's
 * registry knows to be IPC: FIFOs, Unix socket paths and file logs.
 */
#include "inventory.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * inv_path_stat sets o->path from a "scheme:///abs/path" URL and fills o
 * from the file there, which must be of type; -ENOENT for any other
 * address or when there is no such file.
 */
static int inv_path_stat(struct inv_obj *o, unsigned type)
{
	const char *addr = strstr(o->url, "://") + 3;
	if (addr[0] != '/')
		return -ENOENT; /* an abstract socket or a host: nothing in the file system */
	snprintf(o->path, sizeof(o->path), "%s", addr);
	return inv_stat_path(o, type);
}

/* inv_opened_probe probes a path of type that is held while a process has it open. */
static int inv_opened_probe(struct inv_obj *o, const struct inv_procs *p, unsigned type)
{
	int rc = inv_path_stat(o, type);
	if (rc == 0)
		inv_procs_holders(p, o);
	return rc;
}

/* A FIFO or a file log is held while a process has it open. */
static int inv_fifo_probe(struct inv_obj *o, const struct inv_procs *p)
{
	return inv_opened_probe(o, p, S_IFIFO);
}

static int inv_file_probe(struct inv_obj *o, const struct inv_procs *p)
{
	return inv_opened_probe(o, p, S_IFREG);
}

/* A Unix socket path is in use while a socket is bound to it. */
static int inv_socket_probe(struct inv_obj *o, const struct inv_procs *p)
{
	int rc = inv_path_stat(o, S_IFSOCK);
	if (rc < 0)
		return rc;
	/* /proc/net/unix names no process, so the holder stays unnamed. */
	o->attached = inv_procs_bound(p, o->path) ? 1 : 0;
	return 0;
}

/* inv_socket_remove unlinks a socket path that no transport of this build removes. */
static int inv_socket_remove(const struct inv_obj *o)
{
	struct stat st;
	if (lstat(o->path, &st) < 0)
		return ipcx__fail(-errno, "%s: %s", o->path, ipcx_strerror(-errno));
	if (!S_ISSOCK(st.st_mode))
		return ipcx__fail(-ENOTTY, "%s is not a socket; not removing it", o->path);
	return unlink(o->path) < 0 ? ipcx__fail(-errno, "unlink %s: %s", o->path, ipcx_strerror(-errno)) : 0;
}

const struct inv_kind inv_fifo_kind = {
	.name = "fifo",
	.what = "named pipe",
	.probe = inv_fifo_probe,
};

const struct inv_kind inv_file_kind = {
	.name = "file",
	.what = "ipcx file log",
	.probe = inv_file_probe,
};

const struct inv_kind inv_unix_kind = {
	.name = "unix",
	.what = "Unix stream socket path",
	.probe = inv_socket_probe,
	.remove = inv_socket_remove,
};

const struct inv_kind inv_unixseq_kind = {
	.name = "unixseq",
	.what = "Unix seqpacket socket path",
	.probe = inv_socket_probe,
	.remove = inv_socket_remove,
};

const struct inv_kind inv_unixdgram_kind = {
	.name = "unixdgram",
	.what = "Unix datagram socket path",
	.probe = inv_socket_probe,
	.remove = inv_socket_remove,
};
