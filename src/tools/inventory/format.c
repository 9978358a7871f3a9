/*
 * format.c - how the inventory writes sizes, times and peers for people.
 */
#include "inventory.h"

#include <limits.h>
#include <time.h>

const char *inv_human_size(long long bytes, char *buf, size_t size)
{
	static const char units[] = "KMGTPE";
	if (bytes < 0) {
		snprintf(buf, size, "-");
		return buf;
	}
	if (bytes < 1024) {
		snprintf(buf, size, "%lld", bytes);
		return buf;
	}
	double v = (double)bytes;
	int u = -1;
	while (v >= 1024 && u < (int)sizeof(units) - 2) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, v < 10 && v != (long long)v ? "%.1f%c" : "%.0f%c", v, units[u]);
	return buf;
}

const char *inv_format_time(long long t, char *buf, size_t size)
{
	if (t <= 0) {
		snprintf(buf, size, "-");
		return buf;
	}
	time_t when = (time_t)t, now = time(NULL);
	struct tm tw, tn;
	localtime_r(&when, &tw);
	localtime_r(&now, &tn);
	bool today = tw.tm_year == tn.tm_year && tw.tm_yday == tn.tm_yday;
	strftime(buf, size, today ? "%H:%M:%S" : "%Y-%m-%d", &tw);
	return buf;
}

bool inv_format_caps(const struct inv_obj *o, char *buf, size_t size)
{
	struct ipcx_caps caps = {.flags = o->caps};
	size_t used = 0;
	buf[0] = '\0';
	if (!caps.flags && ipcx_transport_caps(o->kind->name, &caps) < 0)
		return false;
	for (unsigned bit = 0; bit < sizeof(caps.flags) * CHAR_BIT; bit++) {
		const char *name = ipcx_cap_name(1u << bit);
		if ((caps.flags & (1u << bit)) && name && used < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "," : "",
						 name);
	}
	return true;
}

const char *inv_format_peer(const struct inv_pid_time *pt, char *buf, size_t size)
{
	char when[32];
	if (pt->pid <= 0)
		snprintf(buf, size, "-");
	else if (pt->time <= 0)
		snprintf(buf, size, "%d", (int)pt->pid);
	else
		snprintf(buf, size, "%d@%s", (int)pt->pid, inv_format_time(pt->time, when, sizeof(when)));
	return buf;
}

void inv_print_notes(FILE *out, const struct inv_list *l)
{
	for (size_t i = 0; i < l->nnotes; i++)
		fprintf(out, "ipcx: note: %s\n", l->notes[i]);
}
