/*
 * report.c - the results as a table for people (grouped by size, the best
 * value of each column marked, each row also relative to the physical
 * limit; then the scaling cells, one row per mechanism and one column per
 * N), and as JSON and CSV for programs.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const char *bench_size_str(size_t size, char *buf, size_t n)
{
	if (size >= ((size_t)1 << 20) && size % ((size_t)1 << 20) == 0)
		snprintf(buf, n, "%zu MiB", size >> 20);
	else if (size >= 1024 && size % 1024 == 0)
		snprintf(buf, n, "%zu KiB", size >> 10);
	else
		snprintf(buf, n, "%zu B", size);
	return buf;
}

/* fmt_us prints nanoseconds as microseconds with three significant digits. */
static const char *fmt_us(double ns, char *buf, size_t n)
{
	double us = ns / 1000;
	if (ns <= 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, us < 10 ? "%.2f" : us < 100 ? "%.1f" : "%.0f", us);
	return buf;
}

/* fmt_si prints a rate with a k, M or G suffix. */
static const char *fmt_si(double v, char *buf, size_t n)
{
	if (v <= 0)
		snprintf(buf, n, "-");
	else if (v >= 1e9)
		snprintf(buf, n, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, n, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, n, "%.1fk", v / 1e3);
	else
		snprintf(buf, n, "%.0f", v);
	return buf;
}

static const char *fmt_mb(double v, char *buf, size_t n)
{
	if (v <= 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, v < 10 ? "%.2f" : v < 100 ? "%.1f" : "%.0f", v);
	return buf;
}

static const char *fmt_ratio(double v, char *buf, size_t n)
{
	if (v <= 0 || !isfinite(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, v < 0.1 ? "%.1g" : v < 10 ? "%.1f" : "%.0f", v);
	return buf;
}

/* ---- the table ----------------------------------------------------------- */

/* The columns of a row, as numbers; lower is better where lower is set. */
enum col { C_P50, C_P99, C_P999, C_MAX, C_LATX, C_MSGS, C_MBS, C_BWX, NCOLS };
static const bool col_lower[NCOLS] = {true, true, true, true, true, false, false, true};
static const char *const col_head[NCOLS] = {"p50", "p99", "p99.9", "max", "xlim",
					    "msg/s", "MB/s", "xlim"};

const struct bench_result *bench_find(const struct bench_report *rep, const char *name,
				      size_t size, int fan)
{
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct bench_result *r = &rep->results[i];
		if (strcmp(r->mech->name, name) == 0 && r->size == size && r->fan == fan &&
		    r->status == BENCH_OK)
			return r;
	}
	return NULL;
}

static void row_values(const struct bench_report *rep, const struct bench_result *r,
		       double v[NCOLS])
{
	const struct bench_result *lat = bench_find(rep, bench_mech_cacheline.name, r->size, 0);
	const struct bench_result *bw = bench_find(rep, bench_mech_memcpy.name, r->size, 0);
	v[C_P50] = r->lat.p50;
	v[C_P99] = r->lat.p99;
	v[C_P999] = r->lat.p999;
	v[C_MAX] = r->lat.max;
	v[C_LATX] = lat && lat->lat.p50 > 0 && r->lat.samples ? r->lat.p50 / lat->lat.p50 : 0;
	v[C_MSGS] = r->msgs_per_s;
	v[C_MBS] = r->mb_per_s;
	v[C_BWX] = bw && r->mb_per_s > 0 ? bw->mb_per_s / r->mb_per_s : 0;
}

/* best finds, per column, the best value among the contenders (not limits). */
static void best_of_size(const struct bench_report *rep, size_t size, double best[NCOLS])
{
	for (int c = 0; c < NCOLS; c++)
		best[c] = 0;
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct bench_result *r = &rep->results[i];
		double v[NCOLS];
		if (r->size != size || r->fan > 0 || r->status != BENCH_OK ||
		    strcmp(r->mech->group, "limit") == 0)
			continue;
		row_values(rep, r, v);
		for (int c = 0; c < NCOLS; c++)
			if (v[c] > 0 && (best[c] == 0 || (col_lower[c] ? v[c] < best[c] : v[c] > best[c])))
				best[c] = v[c];
	}
}

static const char *fmt_col(int c, double v, char *buf, size_t n)
{
	switch (c) {
	case C_P50:
	case C_P99:
	case C_P999:
	case C_MAX:
		return fmt_us(v, buf, n);
	case C_MSGS:
		return fmt_si(v, buf, n);
	case C_MBS:
		return fmt_mb(v, buf, n);
	default:
		return fmt_ratio(v, buf, n);
	}
}

static void print_row(FILE *f, const struct bench_report *rep, const struct bench_result *r,
		      const double best[NCOLS])
{
	fprintf(f, "  %-18s", r->mech->name);
	if (r->status != BENCH_OK) {
		fprintf(f, " %s: %s\n", r->status == BENCH_SKIPPED ? "skipped" : "FAILED", r->why);
		return;
	}
	double v[NCOLS];
	row_values(rep, r, v);
	for (int c = 0; c < NCOLS; c++) {
		char num[32];
		bool mark = v[c] > 0 && v[c] == best[c];
		fprintf(f, "%s%8s%c", c == C_MSGS ? " |" : "", fmt_col(c, v[c], num, sizeof(num)),
			mark ? '*' : ' ');
	}
	fputc('\n', f);
}

static void print_size(FILE *f, const struct bench_report *rep, size_t size)
{
	char sz[32];
	double best[NCOLS];
	best_of_size(rep, size, best);
	char title[48];
	snprintf(title, sizeof(title), "%s messages", bench_size_str(size, sz, sizeof(sz)));
	/* The name column, then five latency columns of 9, then the bar. */
	fprintf(f, "\n%-20s%-45s | one way\n", title, "  round trip, us");
	fprintf(f, "  %-18s", "mechanism");
	for (int c = 0; c < NCOLS; c++)
		fprintf(f, "%s%8s ", c == C_MSGS ? " |" : "", col_head[c]);
	fputc('\n', f);
	for (size_t i = 0; i < rep->nresults; i++)
		if (rep->results[i].size == size && rep->results[i].fan == 0)
			print_row(f, rep, &rep->results[i], best);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of field (at byte offset off, a double) over the passes of cell i. */
static double median_of(const struct bench_result *res, size_t i, size_t n, int passes,
			size_t off)
{
	double v[99];
	for (int k = 0; k < passes; k++)
		memcpy(&v[k], (const char *)&res[(size_t)k * n + i] + off, sizeof(double));
	qsort(v, (size_t)passes, sizeof(double), cmp_double);
	return passes % 2 ? v[passes / 2] : (v[passes / 2 - 1] + v[passes / 2]) / 2;
}

/* Folds the latency figures at byte offset off (a struct bench_lat) of cell i's passes. */
static void combine_lat(struct bench_result *res, size_t i, size_t n, int passes, size_t off)
{
	struct bench_lat *out = (struct bench_lat *)((char *)&res[i] + off);
	long samples = 0;
	double max = 0;
	for (int k = 0; k < passes; k++) {
		const struct bench_lat *l =
		    (const struct bench_lat *)((const char *)&res[(size_t)k * n + i] + off);
		samples += l->samples;
		max = l->max > max ? l->max : max;
	}
	out->p50 = median_of(res, i, n, passes, off + offsetof(struct bench_lat, p50));
	out->p99 = median_of(res, i, n, passes, off + offsetof(struct bench_lat, p99));
	out->p999 = median_of(res, i, n, passes, off + offsetof(struct bench_lat, p999));
	out->max = max;
	out->samples = samples;
}

void bench_combine(struct bench_result *res, size_t n, int passes)
{
	for (size_t i = 0; i < n && passes > 1; i++) {
		int bad = -1;
		long verified = 0;
		for (int k = 0; k < passes; k++) {
			const struct bench_result *r = &res[(size_t)k * n + i];
			if (r->status != BENCH_OK && bad < 0)
				bad = k;
			verified += r->verified;
		}
		if (bad >= 0) {
			res[i] = res[(size_t)bad * n + i];
			continue;
		}
		combine_lat(res, i, n, passes, offsetof(struct bench_result, lat));
		combine_lat(res, i, n, passes, offsetof(struct bench_result, wake));
		res[i].msgs_per_s = median_of(res, i, n, passes, offsetof(struct bench_result, msgs_per_s));
		res[i].mb_per_s = median_of(res, i, n, passes, offsetof(struct bench_result, mb_per_s));
		res[i].verified = verified;
	}
}

static void print_header(FILE *f, const struct bench_report *rep)
{
	const struct bench_sysinfo *si = rep->si;
	const struct bench_plan *p = rep->plan;
	fprintf(f, "ipcx bench (%s mode)\n", rep->quick ? "quick" : "full");
	fprintf(f, "cpu:     %s, %d CPUs usable\n", si->cpu_model, si->ncpus);
	fprintf(f, "pair:    initiator on CPU %d, responder on CPU %d (%s)\n", si->cpu[0], si->cpu[1],
		si->cpu[0] == si->cpu[1] ? "the same CPU: only one is usable"
		: si->smt_siblings	 ? "SMT siblings of one core"
					 : "different cores, not SMT siblings");
	fprintf(f, "kernel:  %s; clock_gettime costs %.0f ns\n", si->kernel, si->clock_ns);
	fprintf(f, "limits:  kernel.msgmax=%ld msgmnb=%ld, fs.mqueue.msgsize_max=%ld msg_max=%ld, "
		   "fs.pipe-max-size=%ld, net.core.wmem_max=%ld\n",
		si->msgmax, si->msgmnb, si->mq_msgsize_max, si->mq_msg_max, si->pipe_max, si->wmem_max);
	fprintf(f, "method:  latency = round trip (ping-pong), %.0f ms per cell after warm-up, "
		   "percentiles over every sample;\n"
		   "         one way = a stream, the receiver checks each sequence number and reads "
		   "every byte, %.0f ms per cell;\n"
		   "         waiting: kernel mechanisms block; ipcx shm:// spins briefly, then "
		   "sleeps on a futex; iceoryx spins, then waits in a WaitSet;\n"
		   "         the cache-line limit and iceoryx poll only spin;\n"
		   "         ipcx shm:// loan = the zero-copy calls: the sender writes in place, the "
		   "receiver reads in place (no payload copy in the round trip);\n"
		   "         xlim = times the physical limit (cache-line spin round trip; "
		   "single-core memcpy bandwidth); * = best\n",
		(double)p->phase_ns / 1e6, (double)p->phase_ns / 1e6);
	if (rep->passes > 1)
		fprintf(f, "         every cell ran %d times, one whole pass after another: each "
			   "figure is the median of the passes (max: the largest)\n",
			rep->passes);
}

static void print_wakeup(FILE *f, const struct bench_report *rep)
{
	bool any = false;
	char sz[32], a[32], b[32], c[32];
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct bench_result *r = &rep->results[i];
		if (r->status != BENCH_OK || r->wake.samples == 0)
			continue;
		if (!any)
			fprintf(f, "\nwake-up: round trip of %s after the initiator idled %d ms (us)\n"
				   "  %-18s %8s %8s %8s\n",
				bench_size_str(r->size, sz, sizeof(sz)), rep->plan->idle_ms, "mechanism",
				"p50", "max", "busy p50");
		any = true;
		fprintf(f, "  %-18s %8s %8s %8s\n", r->mech->name, fmt_us(r->wake.p50, a, sizeof(a)),
			fmt_us(r->wake.max, b, sizeof(b)), fmt_us(r->lat.p50, c, sizeof(c)));
	}
}

/* ---- the scaling section -------------------------------------------------- */

/* scaling_fans collects the distinct N of the scaling cells, in run order. */
static size_t scaling_fans(const struct bench_report *rep, int *fans, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < rep->nresults; i++) {
		int fan = rep->results[i].fan;
		bool seen = fan == 0;
		for (size_t k = 0; k < n && !seen; k++)
			seen = fans[k] == fan;
		if (!seen && n < max)
			fans[n++] = fan;
	}
	return n;
}

/* first_of says whether results[i] is its mechanism's first scaling cell. */
static bool first_of(const struct bench_report *rep, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (rep->results[j].fan > 0 && rep->results[j].mech == rep->results[i].mech)
			return false;
	return rep->results[i].fan > 0;
}

/*
 * print_scaling_row prints one mechanism's rates, one column per N; a cell
 * that did not run shows "-" and its reason follows below the row (once,
 * when every cell of the row has the same one).
 */
static void print_scaling_row(FILE *f, const struct bench_report *rep, const struct bench_mech *m,
			      const int *fans, size_t nfans)
{
	char num[32];
	const struct bench_result *bad[64];
	size_t nbad = 0;
	fprintf(f, "  %-22s", m->name);
	for (size_t k = 0; k < nfans; k++)
		for (size_t i = 0; i < rep->nresults; i++) {
			const struct bench_result *r = &rep->results[i];
			if (r->mech != m || r->fan != fans[k])
				continue;
			fprintf(f, " %8s", fmt_si(r->status == BENCH_OK ? r->msgs_per_s : 0, num, sizeof(num)));
			if (r->status != BENCH_OK && nbad < sizeof(bad) / sizeof(bad[0]))
				bad[nbad++] = r;
		}
	fputc('\n', f);
	bool same = nbad == nfans;
	for (size_t k = 1; k < nbad && same; k++)
		same = strcmp(bad[k]->why, bad[0]->why) == 0 && bad[k]->status == bad[0]->status;
	for (size_t k = 0; k < (same ? 1 : nbad); k++) {
		fprintf(f, "    %s", bad[k]->status == BENCH_SKIPPED ? "skipped" : "FAILED");
		if (!same)
			fprintf(f, " at N=%d", bad[k]->fan);
		fprintf(f, ": %s\n", bad[k]->why);
	}
}

/* print_scaling prints the N-to-1 cells, or the 1-to-N broadcast ones. */
static void print_scaling(FILE *f, const struct bench_report *rep, bool broadcast)
{
	int fans[64];
	size_t nfans = scaling_fans(rep, fans, sizeof(fans) / sizeof(fans[0]));
	bool any = false;
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct bench_mech *m = rep->results[i].mech;
		if (!first_of(rep, i) || !(m->fan & BENCH_FAN_OUT) != !broadcast)
			continue;
		if (!any) {
			fprintf(f, broadcast ? "\nscaling: 1 sender -> N receivers (broadcast), 64 B, "
					       "msg/s sent, each received by all N\n"
					     : "\nscaling: N senders -> 1 receiver, 64 B, msg/s "
					       "(aggregate, every message verified)\n");
			fprintf(f, "  %-22s", "mechanism");
			for (size_t k = 0; k < nfans; k++) {
				char head[16];
				snprintf(head, sizeof(head), "N=%d", fans[k]);
				fprintf(f, " %8s", head);
			}
			fputc('\n', f);
		}
		any = true;
		print_scaling_row(f, rep, m, fans, nfans);
	}
}

void bench_print_table(FILE *f, const struct bench_report *rep)
{
	print_header(f, rep);
	for (size_t i = 0; i < rep->nresults; i++) {
		size_t size = rep->results[i].size;
		bool seen = rep->results[i].fan > 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = rep->results[j].size == size && rep->results[j].fan == 0;
		if (!seen)
			print_size(f, rep, size);
	}
	print_wakeup(f, rep);
	print_scaling(f, rep, false);
	print_scaling(f, rep, true);
	bench_print_targets(f, rep);
	fprintf(f, "\n%zu cells in %.1f s\n", rep->nresults, rep->seconds);
}

/* ---- JSON and CSV --------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static const char *status_name(enum bench_status s)
{
	return s == BENCH_OK ? "ok" : s == BENCH_SKIPPED ? "skipped" : "failed";
}

/* shape_name says how a cell connects its processes: "pair", "fan-in" or "broadcast". */
static const char *shape_name(const struct bench_result *r)
{
	if (r->fan == 0)
		return "pair";
	return r->mech->fan & BENCH_FAN_OUT ? "broadcast" : "fan-in";
}

static void json_lat(FILE *f, const char *key, const struct bench_lat *l)
{
	fprintf(f, ", \"%s\": {\"samples\": %ld, \"p50\": %.0f, \"p99\": %.0f, \"p999\": %.0f, "
		   "\"max\": %.0f}",
		key, l->samples, l->p50, l->p99, l->p999, l->max);
}

static void json_result(FILE *f, const struct bench_result *r)
{
	fprintf(f, "    {\"mechanism\": ");
	json_str(f, r->mech->name);
	fprintf(f, ", \"group\": \"%s\", \"size\": %zu, \"status\": \"%s\", \"reason\": ",
		r->mech->group, r->size, status_name(r->status));
	json_str(f, r->why);
	json_lat(f, "latency_ns", &r->lat);
	json_lat(f, "wakeup_ns", &r->wake);
	fprintf(f, ", \"msgs_per_s\": %.0f, \"mb_per_s\": %.3f, \"verified\": %ld, \"shape\": \"%s\", "
		   "\"fan\": %d}",
		r->msgs_per_s, r->mb_per_s, r->verified, shape_name(r), r->fan);
}

void bench_print_json(FILE *f, const struct bench_report *rep)
{
	const struct bench_sysinfo *si = rep->si;
	fprintf(f, "{\n  \"mode\": \"%s\",\n  \"cpu_model\": ", rep->quick ? "quick" : "full");
	json_str(f, si->cpu_model);
	fprintf(f, ",\n  \"kernel\": ");
	json_str(f, si->kernel);
	fprintf(f, ",\n  \"cpus\": [%d, %d], \"smt_siblings\": %s, \"ncpus\": %d, \"clock_ns\": %.1f,\n",
		si->cpu[0], si->cpu[1], si->smt_siblings ? "true" : "false", si->ncpus, si->clock_ns);
	fprintf(f, "  \"phase_ms\": %.0f, \"idle_ms\": %d, \"passes\": %d, \"seconds\": %.1f,\n"
		   "  \"results\": [\n",
		(double)rep->plan->phase_ns / 1e6, rep->plan->idle_ms, rep->passes, rep->seconds);
	for (size_t i = 0; i < rep->nresults; i++) {
		json_result(f, &rep->results[i]);
		fprintf(f, "%s\n", i + 1 < rep->nresults ? "," : "");
	}
	fprintf(f, "  ],\n");
	bench_json_targets(f, rep);
	fprintf(f, "\n}\n");
}

void bench_print_csv(FILE *f, const struct bench_report *rep)
{
	fprintf(f, "mechanism,group,size,status,reason,lat_samples,lat_p50_ns,lat_p99_ns,"
		   "lat_p999_ns,lat_max_ns,wake_samples,wake_p50_ns,wake_max_ns,msgs_per_s,"
		   "mb_per_s,verified,shape,fan\n");
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct bench_result *r = &rep->results[i];
		char why[sizeof(r->why)];
		snprintf(why, sizeof(why), "%s", r->why);
		for (char *p = why; *p; p++)
			if (*p == ',' || *p == '"')
				*p = ';';
		fprintf(f, "%s,%s,%zu,%s,%s,%ld,%.0f,%.0f,%.0f,%.0f,%ld,%.0f,%.0f,%.0f,%.3f,%ld,%s,%d\n",
			r->mech->name, r->mech->group, r->size, status_name(r->status), why,
			r->lat.samples, r->lat.p50, r->lat.p99, r->lat.p999, r->lat.max,
			r->wake.samples, r->wake.p50, r->wake.max, r->msgs_per_s, r->mb_per_s,
			r->verified, shape_name(r), r->fan);
	}
}
