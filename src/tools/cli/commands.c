/*
 * commands.c - the table of subcommands. A new subcommand is a file that
 * defines its struct cli_command, one line here, one declaration in cli.h
 * and one source in CMakeLists.txt.
 */
#include "cli.h"

#include <string.h>

const struct cli_command *const cli_commands[] = {
	&cli_help_command,
	&cli_send_command,
	&cli_recv_command,
	&cli_transports_command,
	&cli_ls_command,
	&cli_stat_command,
	&cli_mk_command,
	&cli_rm_command,
	&cli_limits_command,
	&cli_bench_command,
	&cli_sig_command,
	&cli_watch_command,
	NULL,
};

const struct cli_command *cli_find_command(const char *name)
{
	for (size_t i = 0; cli_commands[i]; i++)
		if (strcmp(cli_commands[i]->name, name) == 0)
			return cli_commands[i];
	return NULL;
}
