/*
 * help.c - "ipcx help [COMMAND]", and the help texts of the command as a
 * whole and of each subcommand.
 */
#include "cli.h"

#include <ctype.h>

/* Printed at the end of every help: the same for every subcommand. */
static const char cli_exit_help[] =
	"Exit status:\n"
	"  0      success\n"
	"  1      the operation failed; one line on standard error says why\n"
	"  2      the command line was wrong\n"
	"  128+N  ended by signal N: 130 after Ctrl-C, 143 after SIGTERM\n";

void cli_print_overview(FILE *out)
{
	fputs("Usage: ipcx COMMAND [ARGUMENTS]\n"
	      "       ipcx help [COMMAND] | --help | --version\n"
	      "\n"
	      "Inter-process communication from the shell. A channel is a URL such as\n"
	      "fifo:///tmp/q, unix:///tmp/s.sock or sysvmq://id=0 (see docs/urls.md);\n"
	      "'ipcx transports' lists the kinds this build has.\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (size_t i = 0; cli_commands[i]; i++)
		fprintf(out, "  %-11s %s\n", cli_commands[i]->name, cli_commands[i]->summary);
	fprintf(out, "\nRun 'ipcx help COMMAND' for the options of one command.\n\n%s",
		cli_exit_help);
}

void cli_print_help(FILE *out, const struct cli_command *cmd)
{
	/* The summary, written for the list of commands, begins a sentence here. */
	fprintf(out, "Usage: ipcx %s %s\n\n%c%s.\n\n%s  -h, --help          show this help\n\n%s",
		cmd->name, cmd->usage, toupper((unsigned char)cmd->summary[0]), cmd->summary + 1,
		cmd->help, cli_exit_help);
}

static int cli_help_run(int argc, char **argv)
{
	static const struct option longopts[] = {CLI_HELP_OPTION, {0}};
	struct cli_opts o;
	cli_opts_init(&o, &cli_help_command, argc, argv, "", longopts);
	if (cli_next_opt(&o) != -1)
		return o.status;
	if (optind == argc) {
		cli_print_overview(stdout);
		return CLI_EXIT_OK;
	}
	const char *name = cli_one_operand(&o, "command");
	if (!name)
		return o.status;
	const struct cli_command *cmd = cli_find_command(name);
	if (!cmd)
		return cli_usage(NULL, "unknown command '%s'", name);
	cli_print_help(stdout, cmd);
	return CLI_EXIT_OK;
}

const struct cli_command cli_help_command = {
	.name = "help",
	.summary = "show the help of ipcx or of one command",
	.usage = "[COMMAND]",
	.help = "Arguments:\n"
		"  COMMAND             the command to explain; without it, list them all\n"
		"\n"
		"Options:\n",
	.run = cli_help_run,
};
