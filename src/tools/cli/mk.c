/*
 * mk.c - "ipcx mk URL": create a lasting object of any kind, as ipcmk does
 * for System V, and print the URL that finds it again.
 *
 * Objects a transport owns are created through ipcx_open() with
 * IPCX_CREATE | IPCX_EXCL, so that they are exactly what the transport
 * makes; the transport records them in the object registry, and mk marks
 * those records lasting, so that mk's own exit does not leave them stale.
 * Semaphores and plain shared memory, which no transport owns, are made by
 * the inventory.
 */
#include "cli.h"
#include "inventory.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MK_OPT_CAP = CLI_OPT_FIRST_FREE, MK_OPT_MODE };

struct mk_args {
	const char *url;
	const char *cap_text;
	size_t cap;
	unsigned mode;
	const char *mode_text;
};

/* The records this process made: what the transport registered while creating. */
struct mk_made {
	unsigned long long start;
	int count;
};

static int mk_keep_own(const struct ipcx__object_rec *rec, void *arg)
{
	struct mk_made *m = arg;
	if (rec->pid != getpid() || rec->start != m->start)
		return 0;
	if (ipcx__object_keep(rec->url) == 0) {
		printf("%s\n", rec->url);
		m->count++;
	}
	return 0;
}

/* mk_with_options appends ?cap= and ?mode= to the URL, for the transport to read. */
static char *mk_with_options(const struct mk_args *a)
{
	size_t n = strlen(a->url) + 64 + (a->cap_text ? strlen(a->cap_text) : 0);
	char *full = malloc(n);
	if (!full)
		return NULL;
	char sep = strchr(a->url, '?') ? '&' : '?';
	int used = snprintf(full, n, "%s", a->url);
	if (a->cap_text) {
		used += snprintf(full + used, n - (size_t)used, "%ccap=%s", sep, a->cap_text);
		sep = '&';
	}
	if (a->mode_text)
		snprintf(full + used, n - (size_t)used, "%cmode=%s", sep, a->mode_text);
	return full;
}

static int mk_by_transport(const struct mk_args *a, const struct ipcx_caps *caps)
{
	if (!(caps->flags & IPCX_CAP_NAMED) || (caps->flags & IPCX_CAP_CONNECTED))
		return cli_failf("mk", a->url, "this transport makes no lasting object (a socket "
					       "exists while a process listens: use ipcx recv)");
	char *full = mk_with_options(a);
	if (!full)
		return cli_failf("mk", a->url, "out of memory");
	ipcx_chan *ch;
	int rc = ipcx_open(&ch, full, IPCX_RECV | IPCX_CREATE | IPCX_EXCL, 0);
	free(full);
	if (rc < 0)
		return cli_fail("mk", a->url, rc);
	struct mk_made m = {0};
	if (ipcx__proc_start_time(getpid(), &m.start) == 0)
		ipcx__object_each(mk_keep_own, &m);
	if (m.count == 0)
		printf("%.*s\n", (int)strcspn(ipcx_url(ch), "?"), ipcx_url(ch));
	ipcx_close(ch);
	return CLI_EXIT_OK;
}

static int mk_by_inventory(const struct mk_args *a, const struct inv_kind *k)
{
	char made[IPCX__OBJECT_URL_MAX];
	int rc = k->create(a->url, a->cap, a->mode, made, sizeof(made));
	if (rc < 0)
		return cli_fail("mk", a->url, rc);
	if (ipcx__object_register(made, k->name) == 0)
		ipcx__object_keep(made);
	printf("%s\n", made);
	return CLI_EXIT_OK;
}

static int mk_parse(struct mk_args *a, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"cap", required_argument, NULL, MK_OPT_CAP},
		{"mode", required_argument, NULL, MK_OPT_MODE},
		CLI_HELP_OPTION,
		{0},
	};
	struct cli_opts o;
	int c;
	cli_opts_init(&o, &cli_mk_command, argc, argv, "", longopts);
	while ((c = cli_next_opt(&o)) != -1) {
		char *end;
		if (c == CLI_OPTS_EXIT)
			return o.status;
		if (c == MK_OPT_CAP) {
			a->cap_text = optarg;
			if (ipcx__parse_size(optarg, &a->cap) < 0)
				return cli_usage(o.cmd->name, "bad --cap '%s' (a count or a size "
							      "such as 64KiB)", optarg);
			continue;
		}
		a->mode_text = optarg;
		errno = 0;
		unsigned long m = strtoul(optarg, &end, 8);
		if (!*optarg || *end || errno || m > 0777)
			return cli_usage(o.cmd->name, "bad --mode '%s' (octal, such as 0640)", optarg);
		a->mode = (unsigned)m;
	}
	a->url = cli_one_operand(&o, "URL");
	return a->url ? -1 : o.status;
}

static int mk_run(int argc, char **argv)
{
	struct mk_args a = {.mode = 0600};
	int status = mk_parse(&a, argc, argv);
	if (status >= 0)
		return status;
	struct ipcx_caps caps;
	const struct inv_kind *k = inv_kind_of(a.url);
	if (ipcx_transport_caps(a.url, &caps) == 0 && strstr(a.url, "://"))
		return mk_by_transport(&a, &caps);
	if (k && k->create)
		return mk_by_inventory(&a, k);
	return cli_failf("mk", a.url, "cannot create this kind of object (kinds: a named "
				      "transport's scheme, sysvsem://, sem:///NAME, posixshm:///NAME)");
}

const struct cli_command cli_mk_command = {
	.name = "mk",
	.summary = "create a lasting IPC object of any kind and print its URL",
	.usage = "URL [--cap N] [--mode MODE]",
	.help = "Creates the object at URL, failing when it exists, and prints the URL that\n"
		"finds it again: sysvmq://id=N for a System V queue made by key, as ipcmk\n"
		"prints its id. Works for every named transport that leaves an object behind\n"
		"(sysvmq, mq, shm, sysvshm, fifo, file) and for sysvsem://[KEY] (a semaphore\n"
		"set, --cap semaphores), sem:///NAME (a POSIX named semaphore, --cap its value)\n"
		"and posixshm:///NAME (POSIX shared memory of --cap bytes). The object is\n"
		"recorded as made to last, so ipcx rm --stale leaves it alone.\n"
		"\n"
		"Options:\n"
		"      --cap N         capacity: ?cap= of the transport (bytes or messages),\n"
		"                      or the count, value or size named above\n"
		"      --mode MODE     permissions, octal (default 0600)\n",
	.run = mk_run,
};
