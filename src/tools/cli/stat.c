/*
 * stat.c - "ipcx stat URL": one object in full, as ipcx ls sees it.
 */
#include "cli.h"
#include "inventory.h"

static void stat_count(const char *name, long long n)
{
	if (n >= 0)
		printf("%-10s %lld\n", name, n);
}

static void stat_bytes(const char *name, long long n)
{
	char human[32];
	if (n >= 1024)
		printf("%-10s %lld (%s)\n", name, n, inv_human_size(n, human, sizeof(human)));
	else if (n >= 0)
		printf("%-10s %lld\n", name, n);
}

static void stat_peer(const char *name, const struct inv_pid_time *pt)
{
	char text[64];
	if (pt->pid > 0 || pt->time > 0)
		printf("%-10s %s\n", name, inv_format_peer(pt, text, sizeof(text)));
}

/* stat_role names what a shm queue peer does: "sender", "receiver", "subscriber", ... */
static const char *stat_role(const struct inv_shm_peer *p)
{
	if (p->role == (IPCX_SEND | IPCX_RECV))
		return p->subscriber ? "sender+subscriber" : "sender+receiver";
	if (p->role & IPCX_RECV)
		return p->subscriber ? "subscriber" : "receiver";
	return p->role & IPCX_SEND ? "sender" : "peer";
}

/* stat_shm_peers writes one line per open channel of an ipcx shm queue. */
static void stat_shm_peers(const struct inv_obj *o)
{
	struct inv_shm_peer peers[INV_SHM_MAX_PEERS];
	int n = inv_shm_peers(o, peers, sizeof(peers) / sizeof(peers[0]));
	for (int i = 0; i < n; i++) {
		const struct inv_shm_peer *p = &peers[i];
		printf("%-10s pid %d %s %s: sent %llu (%llu bytes), received %llu (%llu bytes)",
		       "peer", (int)p->pid, stat_role(p), p->alive ? "alive" : "dead", p->msgs_sent,
		       p->bytes_sent, p->msgs_recv, p->bytes_recv);
		if (p->lost)
			printf(", lost %llu", p->lost);
		putchar('\n');
	}
}

/* stat_print writes one "name value" line for everything known about o. */
static void stat_print(const struct inv_obj *o)
{
	char text[512];
	printf("%-10s %s\n", "url", o->url);
	printf("%-10s %s (%s)\n", "kind", o->kind->name, o->kind->what);
	if (o->path[0])
		printf("%-10s %s\n", "path", o->path);
	if (o->id >= 0)
		printf("%-10s %d (key 0x%08x)\n", "id", o->id, (unsigned)o->key);
	if (inv_format_caps(o, text, sizeof(text)))
		printf("%-10s %s\n", "caps", text);
	if (o->has_owner)
		printf("%-10s %s (uid %u, gid %u), mode %04o\n", "owner",
		       inv_owner_name(o->uid, text, sizeof(text)), (unsigned)o->uid,
		       (unsigned)o->gid, o->mode);
	stat_bytes("size", o->size);
	stat_bytes("capacity", o->capacity);
	stat_count("messages", o->messages);
	stat_count("nsems", o->nsems);
	if (o->pattern[0])
		printf("%-10s %s\n", "pattern", o->pattern);
	stat_peer("creator", &o->creator);
	stat_peer("last-send", &o->last_send);
	stat_peer("last-recv", &o->last_recv);
	stat_peer("last-op", &o->last_op);
	if (o->attached >= 0) {
		printf("%-10s %d", "attached", o->attached);
		for (int i = 0; i < o->attached && i < INV_MAX_HOLDERS; i++)
			printf("%s%d", i ? " " : " (pid ", (int)o->holders[i]);
		printf("%s\n", o->attached > 0 && o->holders[0] > 0 ? ")" : "");
	}
	stat_count("peers", o->peers);
	if (o->peers > 0)
		stat_shm_peers(o);
	printf("%-10s %s\n", "registry", o->registered ? o->lasting ? "yes, made to last" : "yes"
							: "no (not made by ipcx)");
	printf("%-10s %s: %s\n", "state", inv_state_name(o->state), o->why);
}

static int stat_run(int argc, char **argv)
{
	struct cli_opts o;
	bool json;
	if (!cli_flag_opts(&o, &cli_stat_command, argc, argv, "json", &json))
		return o.status;
	const char *url = cli_one_operand(&o, "URL");
	if (!url)
		return o.status;
	struct inv_list l;
	int rc = inv_scan(&l);
	if (rc < 0)
		return cli_fail("stat", url, rc);
	struct inv_obj *obj = inv_find(&l, url);
	if (!obj) {
		inv_print_notes(stderr, &l);
		inv_free(&l);
		return cli_failf("stat", url, "no such object");
	}
	if (json) {
		inv_print_json(stdout, obj);
		putchar('\n');
	} else {
		stat_print(obj);
	}
	inv_free(&l);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

const struct cli_command cli_stat_command = {
	.name = "stat",
	.summary = "show one IPC object in full: counters, creator, peers, liveness",
	.usage = "URL [--json]",
	.help = "Shows everything ipcx ls knows about the object at URL: owner and mode,\n"
		"bytes and messages queued, capacity, creator, last sender and receiver,\n"
		"the processes holding it, and why it is live, idle or stale. A System V\n"
		"object is named by id (sysvmq://id=3) or by key (sysvmq://0x1234).\n"
		"\n"
		"Options:\n"
		"      --json          the object as JSON (schema ipcx.ls/1, docs/inventory.md)\n",
	.run = stat_run,
};
