/*
 * main.c - the ipcx command: picks the subcommand from the table in
 * commands.c and runs it.
 */
#include "cli.h"

#include <string.h>

#ifndef IPCX_CLI_VERSION
#error "IPCX_CLI_VERSION is set by the build"
#endif

int main(int argc, char **argv)
{
	/* The library never raises SIGPIPE; writes to a closed stdout report EPIPE too. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return cli_usage(NULL, "no command given");
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		cli_print_overview(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
		printf("ipcx %s\n", IPCX_CLI_VERSION);
		return CLI_EXIT_OK;
	}
	const struct cli_command *cmd = cli_find_command(name);
	if (!cmd)
		return cli_usage(NULL,
				 name[0] == '-' ? "unknown option '%s'" : "unknown command '%s'",
				 name);
	return cmd->run(argc - 1, argv + 1);
}
