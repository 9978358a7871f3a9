/*
 * targets.c - the performance targets of the shm engine (issue 4), each a
 * ratio of two cells of the same run (or, for the scaling target, a rate
 * on a machine with enough CPUs): met, not met, or not measured with the
 * reason. shm:// here is the default queue pattern, "ipcx shm://", but
 * for the one-way stream, which the issue holds against a hand-written
 * single-producer ring (there it is the one-to-one pattern), and for many
 * senders to one receiver, the pattern made for it (mpsc).
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

#define SHM      "ipcx shm://"
#define SHM_LOAN "ipcx shm:// loan"
#define SHM_SPSC "ipcx shm:// spsc"
#define SHM_MPSC "ipcx shm:// mpsc"
/* The scaling target: this many senders, on a machine with one more CPU. */
#define TARGET_FAN 8

enum target_state { TARGET_MET, TARGET_NOT_MET, TARGET_NOT_MEASURED };

struct target {
	const char *what;
	bool at_most; /* the value must be <= bound, else >= bound */
	double bound;
	double value;
	enum target_state state;
	char detail[160]; /* the two numbers, or why the target was not measured */
};

/* One value of a cell: the cell, the number and its unit ("us", "msg/s"). */
struct operand {
	const struct bench_result *r;
	double v;
	const char *unit;
	const char *name; /* named in the reason when the cell is missing */
};

static void judge(struct target *t)
{
	bool met = t->at_most ? t->value <= t->bound : t->value >= t->bound;
	t->state = met ? TARGET_MET : TARGET_NOT_MET;
}

/* ratio fills t with a / b, or leaves it not measured, naming the missing cell. */
static void ratio(struct target *t, struct operand a, struct operand b)
{
	const struct operand *missing = !a.r || a.v <= 0   ? &a
	                                : !b.r || b.v <= 0 ? &b
	                                                   : NULL;
	if (missing) {
		t->state = TARGET_NOT_MEASURED;
		snprintf(t->detail, sizeof(t->detail),
		         "no successful %s cell in this run", missing->name);
		return;
	}
	t->value = a.v / b.v;
	judge(t);
	snprintf(t->detail, sizeof(t->detail), "%.4g %s / %.4g %s", a.v, a.unit, b.v,
	         b.unit);
}

/* woken finds the cell of the mechanism named name that measured the wake-up. */
static const struct bench_result *woken(const struct bench_report *rep, const char *name)
{
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct bench_result *r = &rep->results[i];
		if (strcmp(r->mech->name, name) == 0 && r->fan == 0 &&
		    r->status == BENCH_OK && r->wake.samples > 0)
			return r;
	}
	return NULL;
}

static struct operand lat(const struct bench_report *rep, const char *mech, size_t size,
                          const char *name)
{
	const struct bench_result *r = bench_find(rep, mech, size, 0);
	return (struct operand){r, r ? r->lat.p50 / 1000 : 0, "us", name};
}

static struct operand rate(const struct bench_report *rep, const char *mech, size_t size,
                           const char *name)
{
	const struct bench_result *r = bench_find(rep, mech, size, 0);
	return (struct operand){r, r ? r->msgs_per_s : 0, "msg/s", name};
}

static struct operand bandwidth(const struct bench_report *rep, const char *mech,
                                size_t size, const char *name)
{
	const struct bench_result *r = bench_find(rep, mech, size, 0);
	return (struct operand){r, r ? r->mb_per_s : 0, "MB/s", name};
}

static struct operand wake(const struct bench_report *rep, const char *mech,
                           const char *name)
{
	const struct bench_result *r = woken(rep, mech);
	return (struct operand){r, r ? r->wake.p50 / 1000 : 0, "us", name};
}

/* fan_rate judges the aggregate of TARGET_FAN senders, on a machine with the CPUs for it.
 */
static void fan_rate(struct target *t, const struct bench_report *rep)
{
	const struct bench_result *r = bench_find(rep, SHM_MPSC, BENCH_FAN_SIZE, TARGET_FAN);
	t->state = TARGET_NOT_MEASURED;
	if (rep->si->ncpus < TARGET_FAN + 1)
		snprintf(t->detail, sizeof(t->detail),
		         "needs >= %d CPUs; this machine has %d", TARGET_FAN + 1,
		         rep->si->ncpus);
	else if (!r)
		snprintf(t->detail, sizeof(t->detail),
		         "no successful %s N=%d cell in this run", SHM_MPSC, TARGET_FAN);
	else {
		t->value = r->msgs_per_s;
		judge(t);
		snprintf(t->detail, sizeof(t->detail), "%.4g msg/s from %d senders",
		         t->value, TARGET_FAN);
	}
}

#define SMALL    ((size_t)64) /* the small message of the targets */
#define MIB1     ((size_t)1 << 20)
#define NTARGETS 6

/* compute fills the targets from the cells of rep. */
static void compute(const struct bench_report *rep, struct target t[NTARGETS])
{
	t[0] = (struct target){.what = "64 B round trip p50, shm:// / cache-line spin",
	                       .at_most = true,
	                       .bound = 1.5};
	ratio(&t[0], lat(rep, SHM, SMALL, "64 B " SHM),
	      lat(rep, bench_mech_cacheline.name, SMALL, "64 B cache-line spin"));
	/* The hand-written ring has one producer: it is the yardstick of the one-to-one path. */
	t[1] = (struct target){.what = "64 B one way, shm:// spsc / hand-written ring",
	                       .at_most = false,
	                       .bound = 0.7};
	ratio(&t[1], rate(rep, SHM_SPSC, SMALL, "64 B " SHM_SPSC),
	      rate(rep, bench_mech_cacheline.name, SMALL, "64 B cache-line spin"));
	t[2] = (struct target){.what = "1 MiB one way MB/s, shm:// / memcpy",
	                       .at_most = false,
	                       .bound = 0.7};
	ratio(&t[2], bandwidth(rep, SHM, MIB1, "1 MiB " SHM),
	      bandwidth(rep, bench_mech_memcpy.name, MIB1, "1 MiB memcpy"));
	t[3] = (struct target){.what = "zero-copy round trip p50, 1 MiB / 64 B",
	                       .at_most = true,
	                       .bound = 1.5};
	ratio(&t[3], lat(rep, SHM_LOAN, MIB1, "1 MiB " SHM_LOAN),
	      lat(rep, SHM_LOAN, SMALL, "64 B " SHM_LOAN));
	t[4] = (struct target){
	    .what = "wake-up p50, shm:// / futex ring", .at_most = true, .bound = 1.0};
	ratio(&t[4], wake(rep, SHM, "wake-up " SHM),
	      wake(rep, bench_mech_futex.name, "wake-up futex ring"));
	t[5] = (struct target){.what = "8 senders -> 1 receiver, shm:// mpsc msg/s",
	                       .at_most = false,
	                       .bound = 20e6};
	fan_rate(&t[5], rep);
}

static const char *state_name(enum target_state s)
{
	return s == TARGET_MET ? "met" : s == TARGET_NOT_MET ? "not met" : "not measured";
}

static const char *bound_str(const struct target *t, char *buf, size_t n)
{
	snprintf(buf, n, "%s %.3g", t->at_most ? "<=" : ">=", t->bound);
	return buf;
}

void bench_print_targets(FILE *f, const struct bench_report *rep)
{
	struct target t[NTARGETS];
	compute(rep, t);
	fprintf(f,
	        "\ntargets of the shm engine (issue 4), from this run's cells\n"
	        "  %-46s %8s %8s  %s\n",
	        "target", "wanted", "measured", "verdict");
	for (int i = 0; i < NTARGETS; i++) {
		char b[32], v[32] = "-";
		if (t[i].state != TARGET_NOT_MEASURED)
			snprintf(v, sizeof(v), "%.3g", t[i].value);
		fprintf(f, "  %-46s %8s %8s  %s (%s)\n", t[i].what,
		        bound_str(&t[i], b, sizeof(b)), v, state_name(t[i].state),
		        t[i].detail);
	}
}

void bench_json_targets(FILE *f, const struct bench_report *rep)
{
	struct target t[NTARGETS];
	compute(rep, t);
	fprintf(f, "  \"targets\": [\n");
	for (int i = 0; i < NTARGETS; i++) {
		char b[32];
		fprintf(f, "    {\"target\": \"%s\", \"wanted\": \"%s\", ", t[i].what,
		        bound_str(&t[i], b, sizeof(b)));
		if (t[i].state == TARGET_NOT_MEASURED)
			fprintf(f, "\"value\": null, ");
		else
			fprintf(f, "\"value\": %.4g, ", t[i].value);
		fprintf(f, "\"status\": \"%s\", \"detail\": \"%s\"}%s\n",
		        state_name(t[i].state), t[i].detail, i + 1 < NTARGETS ? "," : "");
	}
	fprintf(f, "  ]");
}
