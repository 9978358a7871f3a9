/*
 * ls.c - "ipcx ls": every IPC object on the machine in one table (what
 * ipcs, lsipc and ls /dev/shm /dev/mqueue show together, plus FIFOs, socket
 * paths and file logs that ipcx made), with creator and liveness.
 */
#include "cli.h"
#include "inventory.h"

#include <string.h>

enum { LS_OPT_JSON = CLI_OPT_FIRST_FREE };

/* A column of the table: its name for -o, its title, and how to write a cell. */
struct ls_col {
	const char *name;
	const char *title;
	bool right; /* numbers are right-aligned */
	void (*cell)(const struct inv_obj *o, char *buf, size_t size);
};

static void ls_kind(const struct inv_obj *o, char *buf, size_t size)
{
	snprintf(buf, size, "%s", o->kind->name);
}

static void ls_state(const struct inv_obj *o, char *buf, size_t size)
{
	snprintf(buf, size, "%s", inv_state_name(o->state));
}

static void ls_owner(const struct inv_obj *o, char *buf, size_t size)
{
	if (o->has_owner)
		inv_owner_name(o->uid, buf, size);
	else
		snprintf(buf, size, "-");
}

static void ls_mode(const struct inv_obj *o, char *buf, size_t size)
{
	if (o->has_owner)
		snprintf(buf, size, "%04o", o->mode);
	else
		snprintf(buf, size, "-");
}

static void ls_size(const struct inv_obj *o, char *buf, size_t size)
{
	inv_human_size(o->size, buf, size);
}

static void ls_cap(const struct inv_obj *o, char *buf, size_t size)
{
	inv_human_size(o->capacity, buf, size);
}

static void ls_count(long long n, char *buf, size_t size)
{
	if (n < 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%lld", n);
}

static void ls_msgs(const struct inv_obj *o, char *buf, size_t size)
{
	ls_count(o->messages, buf, size);
}

static void ls_nsems(const struct inv_obj *o, char *buf, size_t size)
{
	ls_count(o->nsems, buf, size);
}

static void ls_att(const struct inv_obj *o, char *buf, size_t size)
{
	ls_count(o->attached, buf, size);
}

static void ls_creator(const struct inv_obj *o, char *buf, size_t size)
{
	ls_count(o->creator.pid > 0 ? o->creator.pid : -1, buf, size);
}

static void ls_created(const struct inv_obj *o, char *buf, size_t size)
{
	inv_format_time(o->creator.time, buf, size);
}

static void ls_send(const struct inv_obj *o, char *buf, size_t size)
{
	inv_format_peer(&o->last_send, buf, size);
}

static void ls_recv(const struct inv_obj *o, char *buf, size_t size)
{
	inv_format_peer(&o->last_recv, buf, size);
}

static void ls_lastop(const struct inv_obj *o, char *buf, size_t size)
{
	inv_format_peer(&o->last_op, buf, size);
}

static void ls_peers(const struct inv_obj *o, char *buf, size_t size)
{
	ls_count(o->peers, buf, size);
}

static void ls_pattern(const struct inv_obj *o, char *buf, size_t size)
{
	snprintf(buf, size, "%s", o->pattern[0] ? o->pattern : "-");
}

/* ls_caps is blank for kinds that are not transports. */
static void ls_caps(const struct inv_obj *o, char *buf, size_t size)
{
	inv_format_caps(o, buf, size);
}

static void ls_why(const struct inv_obj *o, char *buf, size_t size)
{
	snprintf(buf, size, "%s", o->why);
}

static void ls_url(const struct inv_obj *o, char *buf, size_t size)
{
	snprintf(buf, size, "%s", o->url);
}

static const struct ls_col ls_cols[] = {
	{"kind", "KIND", false, ls_kind},        {"state", "STATE", false, ls_state},
	{"owner", "OWNER", false, ls_owner},     {"mode", "MODE", false, ls_mode},
	{"size", "SIZE", true, ls_size},         {"cap", "CAP", true, ls_cap},
	{"msgs", "MSGS", true, ls_msgs},         {"nsems", "NSEMS", true, ls_nsems},
	{"att", "ATT", true, ls_att},            {"creator", "CREATOR", true, ls_creator},
	{"created", "CREATED", false, ls_created}, {"send", "LAST-SEND", false, ls_send},
	{"recv", "LAST-RECV", false, ls_recv},   {"lastop", "LAST-OP", false, ls_lastop},
	{"peers", "PEERS", true, ls_peers},      {"pattern", "PATTERN", false, ls_pattern},
	{"why", "WHY", false, ls_why},           {"url", "URL", false, ls_url},
	{"caps", "CAPS", false, ls_caps},
};
#define LS_NCOLS (sizeof(ls_cols) / sizeof(ls_cols[0]))
#define LS_MAX_SHOWN 24

#define LS_DEFAULT_COLS "kind,state,owner,mode,size,msgs,url"
#define LS_LONG_COLS                                                                       \
	"kind,state,owner,mode,size,cap,msgs,att,creator,created,send,recv,pattern,url,caps"

struct ls_args {
	struct inv_filter filter;
	const char *cols;
	bool json, long_format;
};

/* ls_pick parses a -o list into the columns to show; false after a usage error. */
static bool ls_pick(const char *list, const struct ls_col **shown, size_t *n)
{
	char names[256];
	snprintf(names, sizeof(names), "%s", list);
	char *save = NULL;
	*n = 0;
	for (char *c = strtok_r(names, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
		size_t i = 0;
		while (i < LS_NCOLS && strcmp(ls_cols[i].name, c) != 0)
			i++;
		if (i == LS_NCOLS) {
			cli_usage("ls", "unknown column '%s' (columns: kind state owner mode size cap "
					"msgs nsems att creator created send recv lastop peers pattern "
					"why url caps)", c);
			return false;
		}
		if (*n < LS_MAX_SHOWN)
			shown[(*n)++] = &ls_cols[i];
	}
	if (*n == 0)
		cli_usage("ls", "-o needs at least one column");
	return *n > 0;
}

/* ls_cell writes one cell: padded to its column (negative width: left-aligned), the last one ends the line. */
static void ls_cell(const char *text, int width, bool last)
{
	if (last)
		printf("%s\n", text);
	else
		printf("%*s  ", width, text);
}

/* ls_table writes the objects that match as a table, columns as wide as their cells. */
static void ls_table(const struct inv_list *l, const struct ls_args *a,
		     const struct ls_col **shown, size_t ncols)
{
	int width[LS_MAX_SHOWN];
	char cell[IPCX__OBJECT_URL_MAX];
	for (size_t c = 0; c < ncols; c++)
		width[c] = (int)strlen(shown[c]->title);
	for (size_t i = 0; i < l->n; i++) {
		for (size_t c = 0; c < ncols && inv_filter_match(&a->filter, &l->v[i]); c++) {
			shown[c]->cell(&l->v[i], cell, sizeof(cell));
			if ((int)strlen(cell) > width[c])
				width[c] = (int)strlen(cell);
		}
	}
	for (size_t c = 0; c < ncols; c++)
		ls_cell(shown[c]->title, shown[c]->right ? width[c] : -width[c], c + 1 == ncols);
	for (size_t i = 0; i < l->n; i++) {
		if (!inv_filter_match(&a->filter, &l->v[i]))
			continue;
		for (size_t c = 0; c < ncols; c++) {
			shown[c]->cell(&l->v[i], cell, sizeof(cell));
			ls_cell(cell, shown[c]->right ? width[c] : -width[c], c + 1 == ncols);
		}
	}
}

static void ls_json(const struct inv_list *l, const struct ls_args *a)
{
	bool first = true;
	printf("{\"schema\": \"ipcx.ls/1\", \"objects\": [");
	for (size_t i = 0; i < l->n; i++) {
		if (!inv_filter_match(&a->filter, &l->v[i]))
			continue;
		fputs(first ? "\n  " : ",\n  ", stdout);
		inv_print_json(stdout, &l->v[i]);
		first = false;
	}
	printf("\n], \"notes\": [");
	for (size_t i = 0; i < l->nnotes; i++) {
		fputs(i ? ", " : "", stdout);
		cli_json_string(stdout, (const unsigned char *)l->notes[i], strlen(l->notes[i]), false);
	}
	printf("]}\n");
}

/* ls_limits writes the limits under the long table. */
static void ls_limits(void)
{
	struct inv_limit lim[INV_MAX_LIMITS];
	size_t n = inv_limits(lim, INV_MAX_LIMITS);
	char value[32];
	printf("\nlimits (ipcx limits explains them):");
	for (size_t i = 0; i < n; i++) {
		inv_limit_value(&lim[i], value, sizeof(value));
		printf("%s%s=%s", i % 4 ? "  " : "\n  ", lim[i].name, value);
	}
	printf("\n");
}

static int ls_parse(struct ls_args *a, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"long", no_argument, NULL, 'l'},
		{"kind", required_argument, NULL, 'k'},
		{"owner", required_argument, NULL, 'u'},
		{"output", required_argument, NULL, 'o'},
		{"json", no_argument, NULL, LS_OPT_JSON},
		CLI_HELP_OPTION,
		{0},
	};
	struct cli_opts o;
	int c;
	cli_opts_init(&o, &cli_ls_command, argc, argv, "lk:u:o:", longopts);
	while ((c = cli_next_opt(&o)) != -1) {
		int rc = 0;
		if (c == CLI_OPTS_EXIT)
			return o.status;
		if (c == 'l')
			a->long_format = true;
		else if (c == 'k')
			rc = inv_filter_kinds(&a->filter, optarg);
		else if (c == 'u')
			rc = inv_filter_owner(&a->filter, optarg);
		else if (c == 'o')
			a->cols = optarg;
		else
			a->json = true;
		if (rc < 0)
			return cli_usage(o.cmd->name, "%s", ipcx_errmsg());
	}
	return cli_no_operands(&o) ? -1 : o.status;
}

static int ls_run(int argc, char **argv)
{
	struct ls_args a = {.cols = NULL};
	int status = ls_parse(&a, argc, argv);
	if (status >= 0)
		return status;
	const struct ls_col *shown[LS_MAX_SHOWN];
	size_t ncols;
	if (!ls_pick(a.cols ? a.cols : a.long_format ? LS_LONG_COLS : LS_DEFAULT_COLS, shown, &ncols))
		return CLI_EXIT_USAGE;
	struct inv_list l;
	int rc = inv_scan(&l);
	if (rc < 0)
		return cli_fail("ls", "inventory", rc);
	inv_sort(&l);
	if (a.json) {
		ls_json(&l, &a);
	} else {
		inv_print_notes(stderr, &l);
		ls_table(&l, &a, shown, ncols);
		if (a.long_format)
			ls_limits();
	}
	inv_free(&l);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

const struct cli_command cli_ls_command = {
	.name = "ls",
	.summary = "list every IPC object on the machine, with creator and liveness",
	.usage = "[-l] [-k KIND[,KIND]] [-u OWNER] [-o COLUMNS] [--json]",
	.help = "Lists System V queues, segments and semaphore sets, POSIX queues, shared\n"
		"memory and named semaphores, and the FIFOs, Unix socket paths, shm queues and\n"
		"file logs that ipcx made. STATE is live (a process holds it), idle (nobody\n"
		"holds it, but its creator runs, is unknown, or made it to last) or stale (nobody\n"
		"holds it and its creator is gone: ipcx rm --stale removes it). See\n"
		"docs/inventory.md.\n"
		"\n"
		"Options:\n"
		"  -l, --long          more columns (capacity, holders, creator, last sender and\n"
		"                      receiver, shm queue pattern, transport capabilities)\n"
		"                      and the system limits\n"
		"  -k, --kind KINDS    only these kinds: sysvmq sysvshm sysvsem mq shm posixshm\n"
		"                      sem fifo unix unixseq unixdgram file\n"
		"  -u, --owner USER    only objects of USER (a name or a uid)\n"
		"  -o, --output COLS   these columns, comma-separated: kind state owner mode\n"
		"                      size cap msgs nsems att creator created send recv lastop\n"
		"                      peers pattern why url caps\n"
		"      --json          one JSON document (schema ipcx.ls/1 in docs/inventory.md)\n",
	.run = ls_run,
};
