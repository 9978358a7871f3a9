/*
 * inventory.c - the snapshot of every IPC object: the kinds, the merge of
 * kernel listings with ipcx's registry, liveness, lookup and removal.
 */
#include "inventory.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct inv_kind *const inv_kinds[] = {
	&inv_sysvmq_kind, &inv_sysvshm_kind, &inv_sysvsem_kind, &inv_mq_kind,
	&inv_shm_kind,    &inv_posixshm_kind, &inv_sem_kind,    &inv_fifo_kind,
	&inv_unix_kind,   &inv_unixseq_kind, &inv_unixdgram_kind, &inv_file_kind,
};
#define INV_NKINDS (sizeof(inv_kinds) / sizeof(inv_kinds[0]))

const struct inv_kind *inv_kind_find(const char *name)
{
	for (size_t i = 0; i < INV_NKINDS; i++)
		if (strcmp(inv_kinds[i]->name, name) == 0)
			return inv_kinds[i];
	return NULL;
}

const struct inv_kind *inv_kind_of(const char *url)
{
	char scheme[16];
	size_t n = strcspn(url, ":");
	if (n >= sizeof(scheme) || strncmp(url + n, "://", 3) != 0)
		return NULL;
	memcpy(scheme, url, n);
	scheme[n] = '\0';
	return inv_kind_find(scheme);
}

void inv_kind_names(char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < INV_NKINDS && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
					 inv_kinds[i]->name);
}

const char *inv_state_name(enum inv_state s)
{
	static const char *const names[] = {"live", "idle", "stale"};
	return names[s];
}

const char *inv_owner_name(uid_t uid, char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];
	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, size, "%s", res->pw_name);
	else
		snprintf(buf, size, "%u", (unsigned)uid);
	return buf;
}

struct inv_obj *inv_add(struct inv_list *l, const struct inv_kind *k)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 32;
		struct inv_obj *nv = realloc(l->v, ncap * sizeof(*nv));
		if (!nv)
			return NULL;
		l->v = nv;
		l->cap = ncap;
	}
	struct inv_obj *o = &l->v[l->n++];
	memset(o, 0, sizeof(*o));
	o->kind = k;
	o->id = -1;
	o->size = o->capacity = o->messages = o->nsems = -1;
	o->attached = o->peers = -1;
	return o;
}

void inv_note(struct inv_list *l, const char *fmt, ...)
{
	if (l->nnotes == sizeof(l->notes) / sizeof(l->notes[0]))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->notes[l->nnotes++], sizeof(l->notes[0]), fmt, ap);
	va_end(ap);
}

int inv_stat_path(struct inv_obj *o, unsigned type)
{
	struct stat st;
	if (lstat(o->path, &st) < 0)
		return -errno;
	if ((st.st_mode & S_IFMT) != type)
		return -ENOENT; /* something else took the name */
	o->has_owner = true;
	o->uid = st.st_uid;
	o->gid = st.st_gid;
	o->mode = st.st_mode & 07777;
	if (S_ISREG(st.st_mode))
		o->size = (long long)st.st_size;
	return 0;
}

/* inv_same_object says whether a registry record names o (a System V URL by key or id). */
static bool inv_same_object(const struct inv_obj *o, const char *url)
{
	if (strcmp(o->url, url) == 0)
		return true;
	if (o->id < 0 || inv_kind_of(url) != o->kind)
		return false;
	const char *addr = strstr(url, "://") + 3;
	char *end;
	errno = 0;
	long long key = strtoll(addr, &end, 0);
	return *addr && !*end && !errno && key != 0 && key == o->key;
}

struct inv_obj *inv_find(struct inv_list *l, const char *url)
{
	char key[IPCX__OBJECT_URL_MAX];
	snprintf(key, sizeof(key), "%.*s", (int)strcspn(url, "?"), url);
	for (size_t i = 0; i < l->n; i++)
		if (inv_same_object(&l->v[i], key))
			return &l->v[i];
	return NULL;
}

static void inv_orphan(struct inv_list *l, const char *url)
{
	void *nv = realloc(l->orphans, (l->norphans + 1) * sizeof(l->orphans[0]));
	if (!nv)
		return;
	l->orphans = nv;
	snprintf(l->orphans[l->norphans++], sizeof(l->orphans[0]), "%s", url);
}

struct inv_merge {
	struct inv_list *l;
	const struct inv_procs *p;
};

/* inv_apply_record gives o what only the registry knows: who made it and when. */
static void inv_apply_record(struct inv_obj *o, const struct ipcx__object_rec *rec)
{
	o->registered = true;
	o->lasting = rec->lasting;
	o->creator.pid = rec->pid;
	o->creator.time = rec->created;
	o->creator_start = rec->start;
}

/*
 * inv_merge_record attaches a registry record to the object the kernel
 * listed, or probes the object a record alone knows; a record whose object
 * is gone becomes an orphan.
 */
static int inv_merge_record(const struct ipcx__object_rec *rec, void *arg)
{
	struct inv_merge *m = arg;
	struct inv_obj *o = inv_find(m->l, rec->url);
	if (o) {
		inv_apply_record(o, rec);
		return 0;
	}
	const struct inv_kind *k = inv_kind_find(rec->kind);
	if (!k || !k->probe) {
		if (k)
			inv_orphan(m->l, rec->url);
		return 0;
	}
	o = inv_add(m->l, k);
	if (!o)
		return -ENOMEM;
	snprintf(o->url, sizeof(o->url), "%s", rec->url);
	inv_apply_record(o, rec);
	if (k->probe(o, m->p) < 0) {
		m->l->n--;
		inv_orphan(m->l, rec->url);
	}
	return 0;
}

/* inv_pid_alive: a pid the kernel reported, with no start time to check. */
static bool inv_pid_alive(const struct inv_pid_time *pt)
{
	return pt->pid > 0 && ipcx__proc_alive(pt->pid, 0);
}

/*
 * inv_judge decides liveness. Holding is the first evidence: attached
 * processes, a bound socket. Where holding cannot be seen (System V queues
 * and semaphores), a living creator or last user counts as live. Stale
 * needs a known creator that is gone, nothing holding the object, no
 * messages waiting in it, and no ipcx mk that made it to last.
 */
static void inv_judge(struct inv_obj *o)
{
	bool creator_known = o->creator.pid > 0;
	bool creator_alive = creator_known && ipcx__proc_alive(o->creator.pid, o->creator_start);
	const char *unseen = o->attached < 0 ? "no live user seen" : "not held";
	if (o->attached > 0) {
		o->state = INV_LIVE;
		if (o->holders[0] > 0)
			snprintf(o->why, sizeof(o->why), "held by pid %d%s", (int)o->holders[0],
				 o->attached > 1 ? " and others" : "");
		else
			snprintf(o->why, sizeof(o->why), "in use (%d attached)", o->attached);
	} else if (o->attached < 0 && (creator_alive || inv_pid_alive(&o->last_send) ||
				       inv_pid_alive(&o->last_recv) || inv_pid_alive(&o->last_op))) {
		o->state = INV_LIVE;
		snprintf(o->why, sizeof(o->why), "its creator or last user runs");
	} else if (creator_alive) {
		o->state = INV_IDLE;
		snprintf(o->why, sizeof(o->why), "%s; creator pid %d runs", unseen, (int)o->creator.pid);
	} else if (o->lasting) {
		o->state = INV_IDLE;
		snprintf(o->why, sizeof(o->why), "made to last (ipcx mk)");
	} else if (o->messages > 0) {
		/* Undelivered messages are data, not debris: a receiver may still come. */
		o->state = INV_IDLE;
		snprintf(o->why, sizeof(o->why), "%s; %lld messages wait for a receiver", unseen,
			 o->messages);
	} else if (creator_known) {
		o->state = INV_STALE;
		snprintf(o->why, sizeof(o->why), "%s; creator pid %d is gone", unseen, (int)o->creator.pid);
	} else {
		o->state = INV_IDLE;
		snprintf(o->why, sizeof(o->why), "%s; creator unknown", unseen);
	}
}

int inv_scan(struct inv_list *l)
{
	memset(l, 0, sizeof(*l));
	struct inv_procs *p = inv_procs_load();
	if (!p)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < INV_NKINDS; i++)
		if (inv_kinds[i]->scan)
			rc = inv_kinds[i]->scan(l, p);
	struct inv_merge m = {l, p};
	if (rc == 0) {
		int err = ipcx__object_each(inv_merge_record, &m);
		if (err == -ENOMEM)
			rc = err;
		else if (err < 0)
			inv_note(l, "object registry: %s", ipcx_errmsg());
	}
	for (size_t i = 0; i < l->n; i++)
		inv_judge(&l->v[i]);
	inv_procs_free(p);
	if (rc < 0)
		inv_free(l);
	return rc;
}

void inv_free(struct inv_list *l)
{
	free(l->v);
	free(l->orphans);
	memset(l, 0, sizeof(*l));
}

/*
 * inv_unlink_by_key removes a System V object that an ipcx transport made,
 * through that transport and by key: a transport may make more than one
 * kernel object under one key (sysvshm:// pairs a segment with a semaphore
 * set) and removes them together.
 */
static int inv_unlink_by_key(const struct inv_obj *o)
{
	char url[64];
	snprintf(url, sizeof(url), "%s://0x%08x", o->kind->name, (unsigned)o->key);
	return ipcx_unlink(url);
}

int inv_remove(const struct inv_obj *o)
{
	struct ipcx_caps caps;
	bool transport = ipcx_transport_caps(o->kind->name, &caps) == 0;
	int rc;
	if (transport && o->registered && o->id >= 0 && o->key != IPC_PRIVATE)
		rc = inv_unlink_by_key(o);
	else if (o->kind->remove)
		rc = o->kind->remove(o);
	else if (transport)
		rc = ipcx_unlink(o->url);
	else
		rc = ipcx__fail(-ENOTSUP, "ipcx cannot remove a %s", o->kind->what);
	if (rc == 0)
		ipcx__object_forget(o->url);
	return rc;
}

/* ---- filters ----------------------------------------------------------- */

int inv_filter_kinds(struct inv_filter *f, const char *list)
{
	char names[256];
	snprintf(names, sizeof(names), "%s", list);
	char *save = NULL;
	for (char *k = strtok_r(names, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
		const struct inv_kind *kind = inv_kind_find(k);
		if (!kind) {
			char all[256];
			inv_kind_names(all, sizeof(all));
			return ipcx__fail(-EINVAL, "unknown kind '%s' (kinds: %s)", k, all);
		}
		if (f->nkinds == sizeof(f->kinds) / sizeof(f->kinds[0]))
			return ipcx__fail(-EINVAL, "too many kinds");
		f->kinds[f->nkinds++] = kind;
	}
	return 0;
}

int inv_filter_owner(struct inv_filter *f, const char *owner)
{
	struct passwd pw, *res = NULL;
	char tmp[1024], *end;
	f->by_owner = true;
	if (getpwnam_r(owner, &pw, tmp, sizeof(tmp), &res) == 0 && res) {
		f->uid = res->pw_uid;
		return 0;
	}
	errno = 0;
	unsigned long uid = strtoul(owner, &end, 10);
	if (!*owner || *end || errno)
		return ipcx__fail(-EINVAL, "unknown user '%s'", owner);
	f->uid = (uid_t)uid;
	return 0;
}

bool inv_filter_match(const struct inv_filter *f, const struct inv_obj *o)
{
	if (f->by_owner && (!o->has_owner || o->uid != f->uid))
		return false;
	for (size_t i = 0; i < f->nkinds; i++)
		if (f->kinds[i] == o->kind)
			return true;
	return f->nkinds == 0;
}

static int inv_cmp(const void *a, const void *b)
{
	const struct inv_obj *x = a, *y = b;
	int c = strcmp(x->kind->name, y->kind->name);
	return c ? c : strcmp(x->url, y->url);
}

void inv_sort(struct inv_list *l)
{
	if (l->n)
		qsort(l->v, l->n, sizeof(l->v[0]), inv_cmp);
}

/* ---- JSON ------------------------------------------------------------ */

static void inv_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void inv_json_num(FILE *out, const char *name, long long v)
{
	if (v < 0)
		fprintf(out, ", \"%s\": null", name);
	else
		fprintf(out, ", \"%s\": %lld", name, v);
}

/* inv_json_text writes a string field, null when empty. */
static void inv_json_text(FILE *out, const char *name, const char *s)
{
	fprintf(out, ", \"%s\": ", name);
	if (s[0])
		inv_json_str(out, s);
	else
		fprintf(out, "null");
}

/* inv_json_caps writes the transport's capability flags as a list of names, or null. */
static void inv_json_caps(FILE *out, const struct inv_obj *o)
{
	char caps[512];
	if (!inv_format_caps(o, caps, sizeof(caps))) {
		fprintf(out, ", \"caps\": null");
		return;
	}
	fprintf(out, ", \"caps\": [");
	char *save = NULL;
	int i = 0;
	for (char *c = strtok_r(caps, ",", &save); c; c = strtok_r(NULL, ",", &save))
		fprintf(out, "%s\"%s\"", i++ ? ", " : "", c);
	fputc(']', out);
}

static void inv_json_peer(FILE *out, const char *name, const struct inv_pid_time *pt)
{
	if (pt->pid <= 0 && pt->time <= 0) {
		fprintf(out, ", \"%s\": null", name);
		return;
	}
	fprintf(out, ", \"%s\": {\"pid\": ", name);
	fprintf(out, pt->pid > 0 ? "%d" : "null", (int)pt->pid);
	fprintf(out, ", \"time\": ");
	fprintf(out, pt->time > 0 ? "%lld}" : "null}", pt->time);
}

void inv_print_json(FILE *out, const struct inv_obj *o)
{
	char owner[64];
	fprintf(out, "{\"kind\": ");
	inv_json_str(out, o->kind->name);
	fprintf(out, ", \"url\": ");
	inv_json_str(out, o->url);
	inv_json_text(out, "path", o->path);
	inv_json_num(out, "id", o->id);
	if (o->id >= 0)
		fprintf(out, ", \"key\": \"0x%08llx\"", (unsigned long long)(unsigned)o->key);
	else
		fprintf(out, ", \"key\": null");
	if (o->has_owner) {
		fprintf(out, ", \"owner\": ");
		inv_json_str(out, inv_owner_name(o->uid, owner, sizeof(owner)));
		fprintf(out, ", \"uid\": %u, \"gid\": %u, \"mode\": \"%04o\"", (unsigned)o->uid,
			(unsigned)o->gid, o->mode);
	} else {
		fprintf(out, ", \"owner\": null, \"uid\": null, \"gid\": null, \"mode\": null");
	}
	inv_json_num(out, "size", o->size);
	inv_json_num(out, "capacity", o->capacity);
	inv_json_num(out, "messages", o->messages);
	inv_json_num(out, "nsems", o->nsems);
	inv_json_num(out, "attached", o->attached);
	fprintf(out, ", \"holders\": [");
	for (int i = 0; i < o->attached && i < INV_MAX_HOLDERS; i++)
		fprintf(out, "%s%d", i ? ", " : "", (int)o->holders[i]);
	fprintf(out, "]");
	inv_json_num(out, "peers", o->peers);
	inv_json_text(out, "pattern", o->pattern);
	inv_json_caps(out, o);
	inv_json_peer(out, "creator", &o->creator);
	inv_json_peer(out, "last_send", &o->last_send);
	inv_json_peer(out, "last_recv", &o->last_recv);
	inv_json_peer(out, "last_op", &o->last_op);
	fprintf(out, ", \"registered\": %s, \"lasting\": %s, \"state\": \"%s\", \"why\": ",
		o->registered ? "true" : "false", o->lasting ? "true" : "false",
		inv_state_name(o->state));
	inv_json_str(out, o->why);
	fputc('}', out);
}
