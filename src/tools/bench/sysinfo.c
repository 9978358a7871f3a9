/*
 * sysinfo.c - what the report's header says about the machine: CPU model,
 * the two CPUs used and whether they share a core, kernel, clock cost and
 * the kernel limits that decide which cells can run.
 */
#include "bench.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

static void read_cpu_model(char *out, size_t n)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	snprintf(out, n, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && colon) {
			colon += 1 + strspn(colon + 1, " \t");
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(out, n, "%s", colon);
			break;
		}
	}
	fclose(f);
}

/* siblings tells whether CPUs a and b are SMT threads of one core. */
static bool siblings(int a, int b)
{
	char path[128], list[256];
	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", a);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool found = false;
	if (fgets(list, sizeof(list), f)) {
		/* The list is "2,34" or "2-3": ranges and single CPUs. */
		for (char *tok = strtok(list, ",\n"); tok && !found; tok = strtok(NULL, ",\n")) {
			int lo, hi;
			int k = sscanf(tok, "%d-%d", &lo, &hi);
			if (k == 1)
				hi = lo;
			found = k >= 1 && b >= lo && b <= hi;
		}
	}
	fclose(f);
	return found;
}

/* pick_cpus chooses two allowed CPUs, on different cores when there are any. */
static void pick_cpus(const cpu_set_t *set, struct bench_sysinfo *si)
{
	int first = -1, other = -1, sibling = -1;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		if (first < 0)
			first = c;
		else if (siblings(first, c) && sibling < 0)
			sibling = c;
		else if (!siblings(first, c) && other < 0)
			other = c;
	}
	si->cpu[0] = first;
	si->cpu[1] = other >= 0 ? other : sibling >= 0 ? sibling : first;
}

static double clock_cost_ns(void)
{
	enum { N = 100000 };
	int64_t t0 = bench_now_ns();
	for (int i = 0; i < N; i++)
		bench_now_ns();
	return (double)(bench_now_ns() - t0) / N;
}

static void read_limits(struct bench_sysinfo *si)
{
	si->msgmax = bench_sysctl_long("/proc/sys/kernel/msgmax");
	si->msgmnb = bench_sysctl_long("/proc/sys/kernel/msgmnb");
	si->mq_msgsize_max = bench_sysctl_long("/proc/sys/fs/mqueue/msgsize_max");
	si->mq_msg_max = bench_sysctl_long("/proc/sys/fs/mqueue/msg_max");
	si->pipe_max = bench_sysctl_long("/proc/sys/fs/pipe-max-size");
	si->wmem_max = bench_sysctl_long("/proc/sys/net/core/wmem_max");
}

/* order_cpus lists every usable CPU, the pair's two first (the scaling cells' order). */
static void order_cpus(const cpu_set_t *set, struct bench_sysinfo *si)
{
	int k = 0;
	si->order[k++] = si->cpu[0];
	if (si->cpu[1] != si->cpu[0])
		si->order[k++] = si->cpu[1];
	for (int c = 0; c < CPU_SETSIZE && k < BENCH_MAX_CPUS; c++)
		if (CPU_ISSET(c, set) && c != si->cpu[0] && c != si->cpu[1])
			si->order[k++] = c;
}

int bench_sysinfo_read(struct bench_sysinfo *si, const int *cpus, char *why, size_t n)
{
	cpu_set_t set;
	struct utsname u;
	memset(si, 0, sizeof(*si));
	read_cpu_model(si->cpu_model, sizeof(si->cpu_model));
	if (uname(&u) == 0)
		snprintf(si->kernel, sizeof(si->kernel), "%s %s %s", u.sysname, u.release, u.machine);
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return bench_errno_fail(why, n, "sched_getaffinity");
	si->ncpus = CPU_COUNT(&set);
	if (cpus) {
		for (int i = 0; i < 2; i++)
			if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE || !CPU_ISSET(cpus[i], &set))
				return bench_fail(-EINVAL, why, n, "CPU %d is not one this process may use",
						  cpus[i]);
		si->cpu[0] = cpus[0];
		si->cpu[1] = cpus[1];
	} else {
		pick_cpus(&set, si);
	}
	order_cpus(&set, si);
	si->smt_siblings = si->cpu[0] != si->cpu[1] && siblings(si->cpu[0], si->cpu[1]);
	si->clock_ns = clock_cost_ns();
	read_limits(si);
	return 0;
}
