/*
 * plot.c - latency and throughput against message size, one line per
 * mechanism, log scales: this file writes a data file and a gnuplot script
 * and runs gnuplot on them; gnuplot does all the drawing.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The two panels: which column of the data file each draws. */
static const struct {
	int column;
	const char *ylabel;
} panels[] = {
	{2, "round trip, median (us)"},
	{3, "one-way throughput (MB/s)"},
};

/* has_value says whether mechanism m has any point for column col. */
static bool has_value(const struct bench_report *rep, const struct bench_mech *m, int col)
{
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct bench_result *r = &rep->results[i];
		if (r->mech == m && r->status == BENCH_OK && r->fan == 0 &&
		    (col == 2 ? r->lat.samples > 0 : r->mb_per_s > 0))
			return true;
	}
	return false;
}

/*
 * write_data writes one block per mechanism that has a result ("size
 * latency_us mb_per_s", "NaN" where there is no value) and records the
 * mechanisms in order: block k is gnuplot's index k, since empty blocks
 * would not count.
 */
static size_t write_data(FILE *f, const struct bench_report *rep, const struct bench_mech **mechs)
{
	size_t nm = 0;
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct bench_mech *m = rep->results[i].mech;
		bool seen = false;
		for (size_t k = 0; k < nm && !seen; k++)
			seen = mechs[k] == m;
		if (seen || !(has_value(rep, m, 2) || has_value(rep, m, 3)))
			continue;
		mechs[nm++] = m;
		for (size_t j = i; j < rep->nresults; j++) {
			const struct bench_result *r = &rep->results[j];
			if (r->mech != m || r->status != BENCH_OK || r->fan > 0)
				continue;
			fprintf(f, "%zu ", r->size);
			fprintf(f, r->lat.samples > 0 ? "%.4f " : "NaN ", r->lat.p50 / 1000);
			fprintf(f, r->mb_per_s > 0 ? "%.3f\n" : "NaN\n", r->mb_per_s);
		}
		fprintf(f, "\n\n");
	}
	return nm;
}

/* line_style tells the groups apart: limits thick, raw calls dashed, peers dotted. */
static const char *line_style(const struct bench_mech *m)
{
	if (strcmp(m->group, "limit") == 0)
		return "lw 3 lc rgb 'black'";
	if (strcmp(m->group, "raw") == 0)
		return "dt 2";
	if (strcmp(m->group, "peer") == 0)
		return "dt 3 lw 2";
	return "lw 2";
}

static void write_panel(FILE *f, const struct bench_report *rep, const char *data,
			const struct bench_mech **mechs, size_t nm, size_t p)
{
	const char *sep = "plot ";
	fprintf(f, "set ylabel '%s'\n", panels[p].ylabel);
	for (size_t k = 0; k < nm; k++) {
		if (!has_value(rep, mechs[k], panels[p].column))
			continue;
		fprintf(f, "%s'%s' index %zu using 1:%d with linespoints %s title '%s'", sep, data, k,
			panels[p].column, line_style(mechs[k]), mechs[k]->name);
		sep = ", \\\n     ";
	}
	fprintf(f, "\n");
}

static void write_script(FILE *f, const struct bench_report *rep, const char *out,
			 const char *data, const struct bench_mech **mechs, size_t nm)
{
	size_t len = strlen(out);
	bool png = len > 4 && strcmp(out + len - 4, ".png") == 0;
	fprintf(f, "set terminal %s size 1400,600 %s\n", png ? "pngcairo" : "svg",
		png ? "" : "dynamic background rgb 'white'");
	fprintf(f, "set output '%s'\n", out);
	fprintf(f, "set termoption noenhanced\n");
	fprintf(f, "set multiplot layout 1,2 title 'ipcx bench: %s, CPUs %d and %d, %s'\n",
		rep->si->cpu_model, rep->si->cpu[0], rep->si->cpu[1], rep->si->kernel);
	fprintf(f, "set logscale xy\nset grid\nset xlabel 'message size (bytes)'\n"
		   "set format x '%%.0s%%cB'\nset key outside right top font ',9'\n");
	for (size_t p = 0; p < sizeof(panels) / sizeof(panels[0]); p++)
		write_panel(f, rep, data, mechs, nm, p);
	fprintf(f, "unset multiplot\n");
}

/* run_gnuplot runs "gnuplot script" and waits for it. */
static int run_gnuplot(const char *script)
{
	pid_t pid = fork();
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		fprintf(stderr, "ipcx bench: cannot run gnuplot: %s\n", strerror(errno));
		_exit(127);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int bench_plot(const struct bench_report *rep, const char *path)
{
	char dir[] = "/tmp/ipcx-bench-plot-XXXXXX", data[64], script[64];
	if (strchr(path, '\'') || !mkdtemp(dir)) {
		fprintf(stderr, "ipcx bench: cannot plot to %s\n", path);
		return -1;
	}
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(script, sizeof(script), "%s/plot.gp", dir);
	const struct bench_mech **mechs = calloc(rep->nresults + 1, sizeof(*mechs));
	FILE *fd = fopen(data, "w"), *fs = fopen(script, "w");
	int rc = -1;
	if (mechs && fd && fs) {
		size_t nm = write_data(fd, rep, mechs);
		write_script(fs, rep, path, data, mechs, nm);
		rc = 0;
	}
	if (fd && fclose(fd) != 0)
		rc = -1;
	if (fs && fclose(fs) != 0)
		rc = -1;
	if (rc == 0)
		rc = run_gnuplot(script);
	if (rc < 0)
		fprintf(stderr, "ipcx bench: plotting %s failed\n", path);
	unlink(data);
	unlink(script);
	rmdir(dir);
	free(mechs);
	return rc;
}
