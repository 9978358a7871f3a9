/*
 * rm.c - "ipcx rm": remove objects by URL, every stale one, or every one of
 * a kind. An object that a live process holds is kept unless --force.
 */
#include "cli.h"
#include "inventory.h"

#include <errno.h>
#include <string.h>

enum { RM_OPT_STALE = CLI_OPT_FIRST_FREE, RM_OPT_ALL, RM_OPT_YES };

struct rm_args {
	bool stale, all, yes, force, dry_run;
	struct inv_filter filter;
	const char *all_kinds;
};

/*
 * rm_one removes o unless a live process holds it and --force was not
 * given; returns 0 or 1 for the exit status. verbose says what it did.
 */
static int rm_one(const struct rm_args *a, const struct inv_obj *o, bool verbose)
{
	if (o->state == INV_LIVE && !a->force) {
		cli_failf("rm", o->url, "%s; not removed (--force removes it anyway)", o->why);
		return 1;
	}
	if (a->dry_run) {
		printf("would remove %s (%s: %s)\n", o->url, inv_state_name(o->state), o->why);
		return 0;
	}
	int rc = inv_remove(o);
	if (rc < 0) {
		cli_fail("rm", o->url, rc);
		return 1;
	}
	if (verbose)
		printf("removed %s\n", o->url);
	return 0;
}

/*
 * rm_unseen handles a URL the inventory does not show (a queue while
 * /dev/mqueue is not mounted): the transport may still find and remove it.
 */
static int rm_unseen(const struct rm_args *a, const char *url)
{
	struct ipcx_caps caps;
	bool owned = strstr(url, "://") && ipcx_transport_caps(url, &caps) == 0;
	int rc = owned && !a->dry_run ? ipcx_unlink(url) : -ENOENT;
	if (rc == -ENOENT)
		return cli_failf("rm", url, "no such object");
	return rc < 0 ? cli_fail("rm", url, rc) : 0;
}

/* rm_urls removes each object named on the command line. */
static int rm_urls(const struct rm_args *a, struct inv_list *l, int n, char **urls)
{
	int failed = 0;
	for (int i = 0; i < n; i++) {
		const struct inv_obj *o = inv_find(l, urls[i]);
		failed |= o ? rm_one(a, o, a->dry_run) : rm_unseen(a, urls[i]);
	}
	return failed;
}

/* rm_stale removes every stale object that matches, and forgets records of vanished ones. */
static int rm_stale(const struct rm_args *a, struct inv_list *l)
{
	int failed = 0;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].state == INV_STALE && inv_filter_match(&a->filter, &l->v[i]))
			failed |= rm_one(a, &l->v[i], true);
	for (size_t i = 0; a->filter.nkinds == 0 && i < l->norphans; i++) {
		if (!a->dry_run)
			ipcx__object_forget(l->orphans[i]);
		printf("%s %s (its object is gone)\n", a->dry_run ? "would forget" : "forgot",
		       l->orphans[i]);
	}
	return failed;
}

static int rm_all(const struct rm_args *a, struct inv_list *l)
{
	int failed = 0;
	for (size_t i = 0; i < l->n; i++)
		if (inv_filter_match(&a->filter, &l->v[i]))
			failed |= rm_one(a, &l->v[i], true);
	return failed;
}

static int rm_parse(struct rm_args *a, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"stale", no_argument, NULL, RM_OPT_STALE},
		{"all", required_argument, NULL, RM_OPT_ALL},
		{"yes", no_argument, NULL, RM_OPT_YES},
		{"force", no_argument, NULL, 'f'},
		{"dry-run", no_argument, NULL, 'n'},
		{"kind", required_argument, NULL, 'k'},
		{"owner", required_argument, NULL, 'u'},
		CLI_HELP_OPTION,
		{0},
	};
	struct cli_opts o;
	int c;
	cli_opts_init(&o, &cli_rm_command, argc, argv, "fnk:u:", longopts);
	while ((c = cli_next_opt(&o)) != -1) {
		int rc = 0;
		if (c == CLI_OPTS_EXIT)
			return o.status;
		a->all |= c == RM_OPT_ALL;
		if (c == RM_OPT_STALE)
			a->stale = true;
		else if (c == RM_OPT_ALL)
			rc = inv_filter_kinds(&a->filter, optarg);
		else if (c == RM_OPT_YES)
			a->yes = true;
		else if (c == 'f')
			a->force = true;
		else if (c == 'n')
			a->dry_run = true;
		else if (c == 'k')
			rc = inv_filter_kinds(&a->filter, optarg);
		else
			rc = inv_filter_owner(&a->filter, optarg);
		if (rc < 0)
			return cli_usage(o.cmd->name, "%s", ipcx_errmsg());
	}
	bool urls = optind < argc;
	if (a->stale + a->all + urls != 1)
		return cli_usage(o.cmd->name, "give URLs, --stale or --all KIND (one of them)");
	if (a->all && !a->yes && !a->dry_run)
		return cli_usage(o.cmd->name, "--all removes every object of a kind: add --yes "
					      "to confirm, or -n to see what it would remove");
	return -1;
}

static int rm_run(int argc, char **argv)
{
	struct rm_args a = {0};
	int status = rm_parse(&a, argc, argv);
	if (status >= 0)
		return status;
	struct inv_list l;
	int rc = inv_scan(&l);
	if (rc < 0)
		return cli_fail("rm", "inventory", rc);
	int failed;
	if (a.stale)
		failed = rm_stale(&a, &l);
	else if (a.all)
		failed = rm_all(&a, &l);
	else
		failed = rm_urls(&a, &l, argc - optind, argv + optind);
	inv_free(&l);
	return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

const struct cli_command cli_rm_command = {
	.name = "rm",
	.summary = "remove IPC objects: by URL, every stale one, or every one of a kind",
	.usage = "[-f] URL... | --stale [-n] [-k KIND] [-u USER] | --all KIND --yes [-f] [-n]",
	.help = "Removes the objects named by URL (sysvmq://id=3, mq:///name, fifo:///path,\n"
		"...). An object that a live process holds is kept, with a line saying who\n"
		"holds it, unless --force. --stale removes every stale object (nobody holds\n"
		"it and its creator is gone, see ipcx ls) and forgets registry records whose\n"
		"object vanished; --all KIND removes every object of KIND. Exits non-zero when\n"
		"any object could not be removed.\n"
		"\n"
		"Options:\n"
		"  -f, --force         remove objects that a live process holds\n"
		"  -n, --dry-run       say what would be removed, remove nothing\n"
		"      --stale         remove every stale object\n"
		"      --all KINDS     remove every object of these kinds (needs --yes)\n"
		"      --yes           confirm --all\n"
		"  -k, --kind KINDS    with --stale: only these kinds\n"
		"  -u, --owner USER    with --stale or --all: only objects of USER\n",
	.run = rm_run,
};
