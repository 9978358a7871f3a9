/*
 * bench.c - "ipcx bench": every IPC mechanism of this machine measured side
 * by side. The engine is src/tools/bench/; this is its entry in the table.
 */
#include "bench.h"
#include "cli.h"

#include <string.h>

static int bench_run(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			cli_print_help(stdout, &cli_bench_command);
			return CLI_EXIT_OK;
		}
	return bench_main(argc, argv);
}

const struct cli_command cli_bench_command = {
	.name = "bench",
	.summary = "measure every IPC mechanism side by side",
	.usage = bench_usage,
	.help = bench_help,
	.run = bench_run,
};
