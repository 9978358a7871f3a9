/*
 * inventory.h - every IPC object on the machine, as `ipcx ls`, `stat`,
 * `rm` and `mk` see them (docs/inventory.md).
 *
 * The inventory reads what the kernel lists (/proc/sysvipc, /dev/mqueue,
 * /dev/shm) and what ipcx's object registry remembers (FIFOs, Unix socket
 * paths, file logs, and the creator of any object ipcx made), then decides
 * for each object whether it is live, idle or stale. It is a snapshot:
 * objects may come and go while it is taken.
 */
#ifndef IPCX_INVENTORY_H
#define IPCX_INVENTORY_H

#include "ipcx_impl.h"
#include "../../shm/layout.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

/* Liveness of an object. */
enum inv_state {
	INV_LIVE,  /* a live process holds it, or uses it as far as the kernel tells */
	INV_IDLE,  /* nobody holds it now, but its creator lives, is unknown or meant it to last */
	INV_STALE, /* nobody holds it and its creator is gone: left behind */
};

/* A process and a time (seconds since the epoch, 0 when unknown). */
struct inv_pid_time {
	pid_t pid; /* 0 when unknown */
	long long time;
};

#define INV_MAX_HOLDERS 8

/* One object. Numbers are -1 when the kernel does not tell them. */
struct inv_obj {
	const struct inv_kind *kind;
	char url[IPCX__OBJECT_URL_MAX];
	char path[PATH_MAX]; /* the file behind it, or "" */
	int id;              /* System V id, or -1 */
	long long key;       /* System V key (0 is IPC_PRIVATE) */
	bool has_owner;
	uid_t uid;
	gid_t gid;
	unsigned mode;
	long long size;     /* bytes in it (queued bytes for a queue) */
	long long capacity; /* bytes it can hold */
	long long messages; /* messages waiting */
	long long nsems;    /* semaphores in a set */
	struct inv_pid_time creator;
	unsigned long long creator_start; /* 0 when unknown */
	struct inv_pid_time last_send, last_recv;
	struct inv_pid_time last_op; /* last attach/detach or semop, where that is all the kernel tells */
	int attached;                /* processes holding it, -1 when that cannot be seen */
	pid_t holders[INV_MAX_HOLDERS];
	int peers;        /* open channels of an ipcx shm queue (peer slots in use), or -1 */
	char pattern[32]; /* an ipcx shm queue's pattern ("queue", "spsc+rendezvous"), or "" */
	unsigned caps;    /* an ipcx shm queue's own capability flags; 0: its transport's */
	bool registered; /* ipcx's registry knows it */
	bool lasting;    /* made to outlive its creator */
	enum inv_state state;
	char why[96]; /* the reason for state, in a few words */
};

/* A snapshot of the inventory. */
struct inv_list {
	struct inv_obj *v;
	size_t n, cap;
	/* Registry records whose object is gone: `rm --stale` forgets them. */
	char (*orphans)[IPCX__OBJECT_URL_MAX];
	size_t norphans;
	/* Lines to tell the user about what could not be seen ("not mounted"). */
	char notes[4][200];
	size_t nnotes;
};

/* What the inventory gathers for the processes on the machine. */
struct inv_procs;

/*
 * A kind of object. scan adds every object of the kind that the kernel
 * lists (NULL for kinds that only the registry knows); probe fills in an
 * object that a registry record names and returns -ENOENT when it is gone;
 * remove deletes it when no transport of the same scheme does; create
 * makes one for `ipcx mk` when no transport does.
 */
struct inv_kind {
	const char *name;
	const char *what;
	int (*scan)(struct inv_list *l, const struct inv_procs *p);
	int (*probe)(struct inv_obj *o, const struct inv_procs *p);
	int (*remove)(const struct inv_obj *o);
	int (*create)(const char *url, size_t cap, unsigned mode, char *made, size_t size);
};

/* inv_kind_find returns the kind called name ("sysvmq"), or NULL. */
const struct inv_kind *inv_kind_find(const char *name);

/* inv_kind_of returns the kind of url by its scheme, or NULL. */
const struct inv_kind *inv_kind_of(const char *url);

/* inv_kind_names writes the names of every kind, comma-separated. */
void inv_kind_names(char *buf, size_t size);

/* inv_scan fills l with a snapshot of every object; free it with inv_free. */
int inv_scan(struct inv_list *l);
void inv_free(struct inv_list *l);

/*
 * inv_find returns the object url names, or NULL. A System V URL may name
 * the object by id (sysvmq://id=3) or by key (sysvmq://0x1234).
 */
struct inv_obj *inv_find(struct inv_list *l, const char *url);

/*
 * inv_remove deletes o and forgets its record: as its kind says, or through
 * ipcx_unlink() for kinds that only a transport removes (and for System V
 * objects a transport made, by key, so that everything it made goes).
 * Returns 0 or a negative errno, with ipcx_errmsg() saying why.
 */
int inv_remove(const struct inv_obj *o);

/* inv_state_name is "live", "idle" or "stale". */
const char *inv_state_name(enum inv_state s);

/* inv_owner_name writes the user name of uid, or the number. */
const char *inv_owner_name(uid_t uid, char *buf, size_t size);

/* inv_print_json writes o as one JSON object (the schema of docs/inventory.md). */
void inv_print_json(FILE *out, const struct inv_obj *o);

/* ---- used by the kinds (inventory.c, procs.c) ------------------------- */

/* inv_add appends a zeroed object of kind k (numbers -1) and returns it, or NULL. */
struct inv_obj *inv_add(struct inv_list *l, const struct inv_kind *k);

/* inv_note adds a line for the user. */
void inv_note(struct inv_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* inv_stat_path fills owner, mode and size of o from its path; -ENOENT when absent. */
int inv_stat_path(struct inv_obj *o, unsigned type);

/* inv_procs_load gathers the open files, mappings and bound sockets of every process. */
struct inv_procs *inv_procs_load(void);
void inv_procs_free(struct inv_procs *p);

/* inv_procs_holders fills o->attached and o->holders with the processes that have path open or mapped. */
void inv_procs_holders(const struct inv_procs *p, struct inv_obj *o);

/* inv_procs_bound says whether a Unix socket is bound at path (someone listens). */
bool inv_procs_bound(const struct inv_procs *p, const char *path);

/* ---- ipcx shm queues (shmq.c) ---------------------------------------- */

/* The most peer slots a queue's header may declare: a record state names a slot in 8 bits. */
#define INV_SHM_MAX_PEERS (1u << IPCX__ST_SLOT_BITS)

/* One open channel of an ipcx shm queue, from its peer slot. */
struct inv_shm_peer {
	pid_t pid;
	unsigned role;   /* IPCX_SEND | IPCX_RECV */
	bool subscriber; /* a receiver of a broadcast queue */
	bool alive;      /* the process that opened it runs (pid and start time) */
	unsigned long long msgs_sent, bytes_sent, msgs_recv, bytes_recv;
	unsigned long long lost; /* broadcast overwrite: messages it missed */
};

/*
 * inv_shm_read fills o from the ipcx queue whose segment is at o->path:
 * messages waiting and their payload bytes, capacity, pattern, peers,
 * creator, last sender and receiver. False when the file is not a valid
 * queue of the layout this ipcx reads.
 */
bool inv_shm_read(struct inv_obj *o);

/* inv_shm_peers reads up to max open channels of the queue o; how many, or -ENOENT. */
int inv_shm_peers(const struct inv_obj *o, struct inv_shm_peer *out, size_t max);

/* ---- filters ---------------------------------------------------------- */

/* Which objects a command looks at: some kinds (all when none), one owner. */
struct inv_filter {
	const struct inv_kind *kinds[16];
	size_t nkinds;
	bool by_owner;
	uid_t uid;
};

/* inv_filter_kinds adds the comma-separated kinds of list; -EINVAL naming an unknown one. */
int inv_filter_kinds(struct inv_filter *f, const char *list);

/* inv_filter_owner keeps objects of owner, a user name or uid; -EINVAL when unknown. */
int inv_filter_owner(struct inv_filter *f, const char *owner);

bool inv_filter_match(const struct inv_filter *f, const struct inv_obj *o);

/* inv_sort orders the objects by kind, then URL. */
void inv_sort(struct inv_list *l);

/* ---- limits (limits.c) ------------------------------------------------ */

/* One system limit that bites an ipcx user. */
struct inv_limit {
	const char *name;    /* the sysctl or resource limit, "kernel.msgmax" */
	const char *unit;    /* "bytes", "messages", ... */
	const char *meaning; /* what it means for ipcx, one line */
	bool known;          /* it could be read */
	bool unlimited;
	long long value;
};

#define INV_MAX_LIMITS 32

/* inv_limits reads every limit into out (at most max) and returns how many. */
size_t inv_limits(struct inv_limit *out, size_t max);

/* inv_limit_value writes the value as text: a number, "unlimited" or "?". */
void inv_limit_value(const struct inv_limit *l, char *buf, size_t size);

/* ---- formatting (format.c) ---------------------------------------------- */

/* inv_human_size writes bytes as "512", "1.5K", "16M"; "-" when unknown. */
const char *inv_human_size(long long bytes, char *buf, size_t size);

/* inv_format_time writes an epoch time as "14:03:05" today, else "2024-05-01"; "-" when unknown. */
const char *inv_format_time(long long t, char *buf, size_t size);

/*
 * inv_format_caps writes the capability flags of o's transport, comma-separated
 * ("typed,many-senders"); false, with buf empty, for kinds that are not transports.
 */
bool inv_format_caps(const struct inv_obj *o, char *buf, size_t size);

/* inv_format_peer writes "PID@TIME", "PID" or "-". */
const char *inv_format_peer(const struct inv_pid_time *pt, char *buf, size_t size);

/* inv_print_notes writes the notes to out, one "ipcx: note: ..." line each. */
void inv_print_notes(FILE *out, const struct inv_list *l);

/* The kinds, each defined beside the code that reads it. */
extern const struct inv_kind inv_sysvmq_kind, inv_sysvshm_kind, inv_sysvsem_kind;
extern const struct inv_kind inv_mq_kind, inv_shm_kind, inv_posixshm_kind, inv_sem_kind;
extern const struct inv_kind inv_fifo_kind, inv_unix_kind, inv_unixseq_kind,
	inv_unixdgram_kind, inv_file_kind;

#endif /* IPCX_INVENTORY_H */
