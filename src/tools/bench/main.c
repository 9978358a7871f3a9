/*
 * main.c - bench_main, the `ipcx bench` command: options, the list of
 * mechanisms, the matrix of cells, progress on stderr, and the report.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char bench_usage[] = "[--quick] [--sizes LIST] [--only LIST] [--cpus A,B] [--fan LIST] "
			   "[--repeat N] [--json|--csv] [--plot FILE.svg|FILE.png]";
const char bench_help[] =
	"Measures every IPC mechanism of this machine side by side: each ipcx\n"
	"transport, the raw system calls underneath, ZeroMQ, nng and iceoryx (with\n"
	"a RouDi of its own per cell) when built in, and the physical limits (a\n"
	"spinning cache-line ping-pong, single-core memcpy), with two processes\n"
	"pinned to two CPUs; then the scaling cells, N senders to 1 receiver and\n"
	"1 sender to N receivers (64 B, each process on its own CPU while there\n"
	"are CPUs); then the shm engine's targets, as ratios of this run's cells.\n"
	"Each cell runs in its own process group and is killed after a time\n"
	"limit; every object it creates is removed, also on Ctrl-C. The table goes\n"
	"to standard output, progress to standard error (see docs/performance.md).\n"
	"\n"
	"Options:\n"
	"  -q, --quick         a short run: 5 sizes, 80 ms per phase, N = 1, 2 (< 60 s on\n"
	"                      2 CPUs)\n"
	"      --sizes LIST    message sizes, e.g. 8,4K,1M (8 B to 4 MiB)\n"
	"      --only LIST     mechanisms whose name contains one of the words\n"
	"      --cpus A,B      the initiator's and the responder's CPU\n"
	"      --fan LIST      the N of the scaling cells, e.g. 1,2,8 (0: none; default\n"
	"                      1, 2, 4, ... up to the CPUs - 1; --quick: 1,2)\n"
	"      --phase-ms MS   time per measured phase\n"
	"      --timeout S     seconds before a cell is killed and reported failed\n"
	"      --wake N        round trips after 10 ms idle, at 64 B or the next size\n"
	"                      up (0: none)\n"
	"      --repeat N      run every cell N times, one whole pass after another,\n"
	"                      and report each figure's median (max: the largest)\n"
	"      --json          write JSON to standard output instead of the table\n"
	"      --csv           write CSV to standard output instead of the table\n"
	"      --plot FILE     draw latency and throughput with gnuplot (.svg, .png)\n"
	"      --list          list the mechanisms and why any cannot run, and exit\n";

/* The message sizes of a full run: 8 B to 4 MiB, a factor of 8 apart. */
static const size_t full_sizes[] = {8, 64, 512, 4096, 32768, 262144, 1 << 20, 4 << 20};
static const size_t quick_sizes[] = {8, 64, 4096, 65536, 1 << 20};
#define MAX_SIZES 32
#define MAX_FANS 16
#define MAX_MECHS 64

enum { OPT_SIZES = 0x100, OPT_ONLY, OPT_CPUS, OPT_FAN, OPT_PHASE, OPT_TIMEOUT, OPT_WAKE,
       OPT_REPEAT, OPT_JSON, OPT_CSV, OPT_PLOT, OPT_LIST };

struct options {
	bool quick, json, csv, list;
	const char *only, *plot;
	size_t sizes[MAX_SIZES];
	size_t nsizes;
	int fans[MAX_FANS];
	size_t nfans;
	bool has_fans;
	int cpus[2];
	bool has_cpus;
	long phase_ms, timeout_s, wake, repeat;
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "ipcx bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "; see 'ipcx help bench'\n");
	return 2;
}

/* parse_size reads "4096", "4K", "4KiB", "1M". */
static int parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0)
		end += strlen(end);
	if (*end || v < BENCH_MIN_SIZE || v > BENCH_MAX_SIZE)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int parse_sizes(struct options *o, char *list)
{
	o->nsizes = 0;
	for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
		if (o->nsizes == MAX_SIZES || parse_size(t, &o->sizes[o->nsizes]) < 0)
			return usage_error("bad size '%s' (8 B to 4 MiB, e.g. 8,4K,1M)", t);
		o->nsizes++;
	}
	return o->nsizes ? 0 : usage_error("%sno sizes given", "");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return usage_error("bad number '%s'", s);
	*out = v;
	return 0;
}

/* parse_fans reads the N of the scaling cells; "0" alone asks for none. */
static int parse_fans(struct options *o, char *list)
{
	o->nfans = 0;
	o->has_fans = true;
	for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
		long v;
		if (o->nfans == MAX_FANS)
			return usage_error("too many --fan values at '%s'", t);
		int rc = parse_long(t, 0, BENCH_MAX_FAN, &v);
		if (rc)
			return rc;
		if (v > 0)
			o->fans[o->nfans++] = (int)v;
	}
	return 0;
}

static int parse_cpus(struct options *o, const char *s)
{
	if (sscanf(s, "%d,%d", &o->cpus[0], &o->cpus[1]) != 2)
		return usage_error("bad --cpus '%s' (want A,B)", s);
	o->has_cpus = true;
	return 0;
}

static const struct option long_options[] = {
	{"quick", no_argument, NULL, 'q'},	{"sizes", required_argument, NULL, OPT_SIZES},
	{"only", required_argument, NULL, OPT_ONLY}, {"cpus", required_argument, NULL, OPT_CPUS},
	{"phase-ms", required_argument, NULL, OPT_PHASE},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"wake", required_argument, NULL, OPT_WAKE},	{"repeat", required_argument, NULL, OPT_REPEAT},
	{"json", no_argument, NULL, OPT_JSON},
	{"fan", required_argument, NULL, OPT_FAN},
	{"csv", no_argument, NULL, OPT_CSV},	{"plot", required_argument, NULL, OPT_PLOT},
	{"list", no_argument, NULL, OPT_LIST},
	{0, 0, 0, 0},
};

/* parse_option applies one option: 0, or 2 for a usage error. */
static int parse_option(struct options *o, int c)
{
	switch (c) {
	case 'q': o->quick = true; return 0;
	case OPT_SIZES: return parse_sizes(o, optarg);
	case OPT_ONLY: o->only = optarg; return 0;
	case OPT_CPUS: return parse_cpus(o, optarg);
	case OPT_FAN: return parse_fans(o, optarg);
	case OPT_PHASE: return parse_long(optarg, 1, 600000, &o->phase_ms);
	case OPT_TIMEOUT: return parse_long(optarg, 1, 86400, &o->timeout_s);
	case OPT_WAKE: return parse_long(optarg, 0, 100000, &o->wake);
	case OPT_REPEAT: return parse_long(optarg, 1, 99, &o->repeat);
	case OPT_JSON: o->json = true; return 0;
	case OPT_CSV: o->csv = true; return 0;
	case OPT_PLOT: o->plot = optarg; return 0;
	case OPT_LIST: o->list = true; return 0;
	default: return 2;
	}
}

static int parse_options(struct options *o, int argc, char **argv)
{
	int c;
	optind = 1;
	opterr = 1;
	o->phase_ms = o->timeout_s = o->wake = -1;
	o->repeat = 1;
	while ((c = getopt_long(argc, argv, "q", long_options, NULL)) != -1) {
		int rc = parse_option(o, c);
		if (rc)
			return rc;
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (o->json && o->csv)
		return usage_error("%s--json and --csv exclude each other", "");
	if (o->nsizes == 0) {
		const size_t *s = o->quick ? quick_sizes : full_sizes;
		o->nsizes = o->quick ? sizeof(quick_sizes) / sizeof(*s) : sizeof(full_sizes) / sizeof(*s);
		memcpy(o->sizes, s, o->nsizes * sizeof(*s));
	}
	return 0;
}

/* make_plan turns the options into what each cell does. */
static struct bench_plan make_plan(const struct options *o, const struct bench_sysinfo *si)
{
	struct bench_plan p = {
		.cpu = {si->cpu[0], si->cpu[1]},
		.phase_ns = (int64_t)(o->quick ? 80 : 500) * 1000000,
		.min_samples = o->quick ? 0 : 10000,
		.warmup = o->quick ? 100 : 1000,
		.wake_samples = o->quick ? 10 : 100,
		.idle_ms = 10,
		.timeout_s = o->quick ? 10 : 120,
		.cpus = si->order,
		.ncpus = si->ncpus < BENCH_MAX_CPUS ? si->ncpus : BENCH_MAX_CPUS,
	};
	if (o->phase_ms > 0)
		p.phase_ns = (int64_t)o->phase_ms * 1000000;
	if (o->timeout_s > 0)
		p.timeout_s = (int)o->timeout_s;
	if (o->wake >= 0)
		p.wake_samples = o->wake;
	return p;
}

/*
 * default_fans sets the N of the scaling cells when --fan did not: 1 and 2
 * for --quick, else 1, 2, 4, ... and the number of CPUs - 1 (each process
 * on its own CPU).
 */
static void default_fans(struct options *o, int ncpus)
{
	if (o->has_fans)
		return;
	int top = o->quick ? 2 : ncpus - 1 < 1 ? 1 : ncpus - 1;
	if (top > BENCH_MAX_FAN)
		top = BENCH_MAX_FAN;
	for (int n = 1; n <= top && o->nfans < MAX_FANS - 1; n *= 2)
		o->fans[o->nfans++] = n;
	if (o->fans[o->nfans - 1] != top)
		o->fans[o->nfans++] = top;
}

/* wanted says whether --only selects the mechanism (any word in its name). */
static bool wanted(const char *only, const char *name)
{
	if (!only)
		return true;
	char list[256];
	snprintf(list, sizeof(list), "%s", only);
	for (char *save, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (strstr(name, t))
			return true;
	return false;
}

/* mechanisms lists, in report order, the limits, raw calls, ipcx transports and peers. */
static size_t mechanisms(const char *only, const struct bench_mech **out)
{
	static const struct bench_mech *const before[] = {
		&bench_mech_cacheline, &bench_mech_memcpy, &bench_mech_pipe, &bench_mech_socketpair,
		&bench_mech_fifo, &bench_mech_unix_stream, &bench_mech_unix_dgram, &bench_mech_tcp,
		&bench_mech_sysvmq, &bench_mech_posixmq, &bench_mech_sysvshm, &bench_mech_futex,
	};
	static const struct bench_mech *const after[] = {&bench_mech_zmq, &bench_mech_nng,
							 &bench_mech_iceoryx, &bench_mech_iceoryx_loan,
							 &bench_mech_iceoryx_poll, &bench_mech_iceoryx_broadcast};
	const struct bench_mech *all[MAX_MECHS];
	size_t n = 0, k = 0;
	for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++)
		all[n++] = before[i];
	n += bench_ipcx_mechs(all + n, MAX_MECHS - n - sizeof(after) / sizeof(after[0]));
	for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++)
		all[n++] = after[i];
	for (size_t i = 0; i < n; i++)
		if (wanted(only, all[i]->name))
			out[k++] = all[i];
	return k;
}

static void progress(size_t done, size_t total, const struct bench_result *r)
{
	char sz[32];
	if (!isatty(STDERR_FILENO))
		return;
	if (!r) {
		fprintf(stderr, "\r%-78s\r", "");
		return;
	}
	if (r->fan > 0)
		snprintf(sz, sizeof(sz), "N=%d", r->fan);
	else
		bench_size_str(r->size, sz, sizeof(sz));
	fprintf(stderr, "\r[%3zu/%zu] %-22s %-8s", done, total, r->mech->name, sz);
	fflush(stderr);
}

/* The wake-up is measured at one size: the first of at least this many bytes. */
#define WAKE_SIZE 64

static size_t wake_index(const struct options *o)
{
	for (size_t s = 0; s < o->nsizes; s++)
		if (o->sizes[s] >= WAKE_SIZE)
			return s;
	return o->nsizes - 1;
}

/* run_matrix measures every mechanism at every size, and the wake-up at one. */
static size_t run_matrix(const struct options *o, const struct bench_plan *plan,
			 const struct bench_mech **mechs, size_t nm, struct bench_result *res)
{
	size_t n = 0, total = nm * o->nsizes, wake = wake_index(o);
	for (size_t s = 0; s < o->nsizes; s++) {
		struct bench_plan p = *plan;
		if (s != wake)
			p.wake_samples = 0;
		for (size_t m = 0; m < nm; m++) {
			res[n] = (struct bench_result){.mech = mechs[m], .size = o->sizes[s]};
			progress(n + 1, total, &res[n]);
			bench_run_cell(mechs[m], o->sizes[s], &p, &res[n]);
			n++;
		}
	}
	progress(0, 0, NULL);
	return n;
}

/* run_scaling measures every scaling mechanism at every N, after the n cells in res. */
static size_t run_scaling(const struct options *o, const struct bench_plan *plan,
			  const struct bench_mech **mechs, size_t nm, struct bench_result *res, size_t n)
{
	size_t total = n + nm * o->nfans;
	for (size_t f = 0; f < o->nfans; f++) {
		struct bench_plan p = *plan;
		p.fan = o->fans[f];
		p.wake_samples = 0;
		for (size_t m = 0; m < nm; m++) {
			res[n] = (struct bench_result){.mech = mechs[m], .size = BENCH_FAN_SIZE, .fan = p.fan};
			progress(n + 1, total, &res[n]);
			bench_run_cell(mechs[m], BENCH_FAN_SIZE, &p, &res[n]);
			n++;
		}
	}
	progress(0, 0, NULL);
	return n;
}

static int list_mechanisms(const struct bench_mech **mechs, size_t nm)
{
	for (size_t i = 0; i < nm; i++) {
		char why[160] = "";
		bool ok = !mechs[i]->check || mechs[i]->check(mechs[i], BENCH_MIN_SIZE, why, sizeof(why));
		printf("%-18s %-6s %s\n", mechs[i]->name, mechs[i]->group, ok ? "" : why);
	}
	return 0;
}

static int report(const struct options *o, const struct bench_report *rep)
{
	int failed = 0;
	if (o->json)
		bench_print_json(stdout, rep);
	else if (o->csv)
		bench_print_csv(stdout, rep);
	else
		bench_print_table(stdout, rep);
	fflush(stdout);
	for (size_t i = 0; i < rep->nresults; i++)
		failed += rep->results[i].status == BENCH_FAILED;
	if (failed)
		fprintf(stderr, "ipcx bench: %d cell%s failed\n", failed, failed == 1 ? "" : "s");
	if (o->plot && bench_plot(rep, o->plot) < 0)
		return 1;
	return failed ? 1 : 0;
}

int bench_main(int argc, char **argv)
{
	struct options o = {0};
	int rc = parse_options(&o, argc, argv);
	if (rc)
		return rc;
	const struct bench_mech *all[MAX_MECHS], *mechs[MAX_MECHS], *fans[MAX_MECHS];
	size_t na = mechanisms(o.only, all), nm = 0, nf = 0;
	if (o.list)
		return list_mechanisms(all, na);
	for (size_t i = 0; i < na; i++) {
		if (!(all[i]->fan & BENCH_FAN_OUT))
			mechs[nm++] = all[i];
		if (all[i]->fan)
			fans[nf++] = all[i];
	}
	struct bench_sysinfo si;
	char why[160];
	if (bench_sysinfo_read(&si, o.has_cpus ? o.cpus : NULL, why, sizeof(why)) < 0) {
		fprintf(stderr, "ipcx bench: %s\n", why);
		return 2;
	}
	struct bench_plan plan = make_plan(&o, &si);
	default_fans(&o, si.ncpus);
	size_t ncells = nm * o.nsizes + nf * o.nfans;
	struct bench_result *res = calloc((size_t)o.repeat * ncells + 1, sizeof(*res));
	if (!res) {
		fprintf(stderr, "ipcx bench: out of memory\n");
		return 1;
	}
	bench_install_signals();
	int64_t t0 = bench_now_ns();
	struct bench_report rep = {
	    .si = &si, .plan = &plan, .quick = o.quick, .passes = (int)o.repeat, .results = res};
	for (long k = 0; k < o.repeat; k++) {
		struct bench_result *pass = res + (size_t)k * ncells;
		rep.nresults = run_scaling(&o, &plan, fans, nf, pass,
					   run_matrix(&o, &plan, mechs, nm, pass));
	}
	bench_combine(res, rep.nresults, rep.passes);
	rep.seconds = (double)(bench_now_ns() - t0) / 1e9;
	rc = report(&o, &rep);
	free(res);
	return rc;
}
