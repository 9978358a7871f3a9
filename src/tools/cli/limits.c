/*
 * limits.c - "ipcx limits": the system limits that bite, and what each
 * means for ipcx.
 */
#include "cli.h"
#include "inventory.h"

#include <string.h>

static void limits_table(const struct inv_limit *lim, size_t n)
{
	char value[32];
	printf("%-22s %19s %-10s %s\n", "LIMIT", "VALUE", "UNIT", "MEANING FOR IPCX");
	for (size_t i = 0; i < n; i++) {
		inv_limit_value(&lim[i], value, sizeof(value));
		printf("%-22s %19s %-10s %s\n", lim[i].name, value, lim[i].unit, lim[i].meaning);
	}
}

static void limits_json(const struct inv_limit *lim, size_t n)
{
	printf("{\"schema\": \"ipcx.limits/1\", \"limits\": [");
	for (size_t i = 0; i < n; i++) {
		printf("%s{\"name\": \"%s\", \"unit\": \"%s\", ", i ? ",\n  " : "\n  ", lim[i].name,
		       lim[i].unit);
		if (lim[i].known && !lim[i].unlimited)
			printf("\"value\": %lld", lim[i].value);
		else
			printf("\"value\": null");
		printf(", \"unlimited\": %s, \"meaning\": ", lim[i].unlimited ? "true" : "false");
		cli_json_string(stdout, (const unsigned char *)lim[i].meaning, strlen(lim[i].meaning),
				false);
		putchar('}');
	}
	printf("\n]}\n");
}

static int limits_run(int argc, char **argv)
{
	struct cli_opts o;
	bool json;
	if (!cli_flag_opts(&o, &cli_limits_command, argc, argv, "json", &json) ||
	    !cli_no_operands(&o))
		return o.status;
	struct inv_limit lim[INV_MAX_LIMITS];
	size_t n = inv_limits(lim, INV_MAX_LIMITS);
	if (json)
		limits_json(lim, n);
	else
		limits_table(lim, n);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

const struct cli_command cli_limits_command = {
	.name = "limits",
	.summary = "show the system limits that bite, and what each means for ipcx",
	.usage = "[--json]",
	.help = "Prints the System V and POSIX IPC limits of this machine (kernel.msgmax,\n"
		"msgmnb, msgmni, fs.mqueue.*, kernel.shm*, kernel.sem, fs.pipe-max-size) and the\n"
		"resource limits RLIMIT_MSGQUEUE and RLIMIT_SIGPENDING, one line each with what\n"
		"the limit means for ipcx.\n"
		"\n"
		"Options:\n"
		"      --json          one JSON document (schema ipcx.limits/1)\n",
	.run = limits_run,
};
