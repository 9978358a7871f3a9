/*
 * cli.h - what the subcommands of the ipcx command share.
 *
 * A subcommand is one file defining one struct cli_command and one line in
 * the table of commands.c. Everything a subcommand needs beyond its own
 * logic lives here: the exit statuses, error lines, option parsing,
 * number parsing, deadlines that notice signals, and opening a channel
 * with the right role.
 */
#ifndef IPCX_CLI_H
#define IPCX_CLI_H

#include "ipcx.h"

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses; 128 + N means signal N ended the command. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,  /* the operation failed; one stderr line says why */
	CLI_EXIT_USAGE = 2, /* the command line was wrong */
};

/*
 * A subcommand. run receives the arguments from the subcommand's name on
 * (argv[0] is the name) and returns the exit status. usage is the synopsis
 * after "ipcx NAME"; help describes the arguments and options, one per
 * line, as "ipcx help NAME" prints them.
 */
struct cli_command {
	const char *name;
	const char *summary;
	const char *usage;
	const char *help;
	int (*run)(int argc, char **argv);
};

/* The table of subcommands (commands.c), ending with NULL. */
extern const struct cli_command *const cli_commands[];

/* The subcommands, each defined in the file named after it. */
extern const struct cli_command cli_help_command;
extern const struct cli_command cli_send_command;
extern const struct cli_command cli_recv_command;
extern const struct cli_command cli_transports_command;
extern const struct cli_command cli_ls_command;
extern const struct cli_command cli_stat_command;
extern const struct cli_command cli_mk_command;
extern const struct cli_command cli_rm_command;
extern const struct cli_command cli_limits_command;
extern const struct cli_command cli_bench_command;
extern const struct cli_command cli_sig_command;
extern const struct cli_command cli_watch_command;

/* cli_find_command returns the subcommand called name, or NULL. */
const struct cli_command *cli_find_command(const char *name);

/* cli_print_overview writes the help of the ipcx command as a whole. */
void cli_print_overview(FILE *out);

/* cli_print_help writes the full help of one subcommand. */
void cli_print_help(FILE *out, const struct cli_command *cmd);

/* ---- errors ---------------------------------------------------------- */

/*
 * cli_fail reports a failed library call as one stderr line,
 * "ipcx: CMD URL: why", where why is ipcx_errmsg() or, when that is empty,
 * ipcx_strerror(err). It returns CLI_EXIT_FAIL.
 */
int cli_fail(const char *cmd, const char *url, int err);

/* cli_failf is cli_fail with the reason given as a format. */
int cli_failf(const char *cmd, const char *url, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * cli_usage reports a wrong command line as one stderr line that ends with
 * a hint where to find the usage, and returns CLI_EXIT_USAGE. cmd may be
 * NULL for a mistake before any subcommand.
 */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- options --------------------------------------------------------- */

/* Long-only option codes, above every short option character. */
enum cli_long_opt {
	CLI_OPT_TIMEOUT = 0x100,
	CLI_OPT_CREATE,
	CLI_OPT_NO_CREATE,
	CLI_OPT_FIRST_FREE, /* where a subcommand's own long-only codes begin */
};

/* The option every subcommand has. */
#define CLI_HELP_OPTION {"help", no_argument, NULL, 'h'}

/* The options of every subcommand that opens a channel. */
#define CLI_CHAN_OPTIONS                                                       \
	{"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},                 \
	{"create", no_argument, NULL, CLI_OPT_CREATE},                         \
	{"no-create", no_argument, NULL, CLI_OPT_NO_CREATE}

/* Help lines for CLI_CHAN_OPTIONS. */
#define CLI_CHAN_OPTIONS_HELP                                                  \
	"      --timeout MS    wait at most MS milliseconds for the channel to open\n"  \
	"                      and for each message: -1 waits for ever (default), 0\n" \
	"                      never waits\n"                                           \
	"      --create        create the object when it does not exist (on a\n"       \
	"                      socket: listen on the address)\n"                        \
	"      --no-create     fail when the object does not exist (on a socket:\n"     \
	"                      connect to a listener)\n"

/*
 * The state of parsing one subcommand's options with getopt_long. shortopts
 * lists the subcommand's short options as getopt does, without 'h';
 * longopts ends with a zero entry and includes CLI_HELP_OPTION.
 */
struct cli_opts {
	const struct cli_command *cmd;
	int argc;
	char **argv;
	const struct option *longopts;
	char spec[64];
	int status; /* the exit status when cli_next_opt returned CLI_OPTS_EXIT */
};

/* cli_next_opt returns this when the command must end with o->status. */
#define CLI_OPTS_EXIT (-2)

void cli_opts_init(struct cli_opts *o, const struct cli_command *cmd, int argc, char **argv,
		   const char *shortopts, const struct option *longopts);

/*
 * cli_next_opt returns the next option as getopt_long does (the argument
 * in optarg), -1 after the last one, or CLI_OPTS_EXIT after it printed the
 * help (status 0) or reported an unknown option or a missing argument
 * (status CLI_EXIT_USAGE).
 */
int cli_next_opt(struct cli_opts *o);

/*
 * cli_one_operand returns the single operand left after the options,
 * named what in the error, or NULL after reporting that it is missing or
 * that there are more (o->status is then CLI_EXIT_USAGE).
 */
const char *cli_one_operand(struct cli_opts *o, const char *what);

/*
 * cli_no_operands returns true when nothing is left after the options, or
 * false after reporting the first operand (o->status is then
 * CLI_EXIT_USAGE).
 */
bool cli_no_operands(struct cli_opts *o);

/*
 * cli_flag_opts parses the options of a subcommand whose one option is
 * the long flag --NAME (such as "json"): *set tells whether it was given.
 * Returns true, or false with the exit status in o->status (after --help
 * or a usage error). o is then done with options; its operands remain.
 */
bool cli_flag_opts(struct cli_opts *o, const struct cli_command *cmd, int argc, char **argv,
		   const char *name, bool *set);

/*
 * cli_parse_long reads a whole decimal number in [min, max] for option
 * name, reporting a usage error and returning false when it is not one.
 */
bool cli_parse_long(struct cli_opts *o, const char *name, const char *text, long min,
		    long max, long *out);

/* ---- channels -------------------------------------------------------- */

/* How a subcommand opens its channel: the options of CLI_CHAN_OPTIONS. */
struct cli_chan_opts {
	int timeout_ms; /* -1 waits for ever */
	int create;     /* 1 --create, 0 --no-create, -1 the default of the role */
};

#define CLI_CHAN_OPTS_DEFAULT {.timeout_ms = -1, .create = -1}

/*
 * cli_chan_option takes option c when it is one of CLI_CHAN_OPTIONS and
 * returns true; false means c is not one of them, or its argument was bad
 * (then o->status is CLI_EXIT_USAGE).
 */
bool cli_chan_option(struct cli_opts *o, int c, struct cli_chan_opts *co);

/* What a subcommand that waits for events takes: -n COUNT, --timeout MS, --json. */
struct cli_event_opts {
	int timeout_ms; /* for each event; -1 waits for ever */
	long count;     /* 0: until the timeout or a signal that ends the command */
	bool json;
};

/*
 * cli_event_opts_parse parses -n COUNT, --timeout MS and --json into e
 * (count keeps its value when -n is not given). Returns true, or false
 * with the exit status in o->status; o's operands remain.
 */
bool cli_event_opts_parse(struct cli_opts *o, const struct cli_command *cmd, int argc,
			  char **argv, struct cli_event_opts *e);

/*
 * cli_open opens url for direction (IPCX_SEND or IPCX_RECV). Unless the
 * options say otherwise the object is created when missing, except on
 * transports with IPCX_CAP_CONNECTED, where the receiver listens (creates)
 * and the sender connects. An open that waits for a peer waits in slices,
 * so call cli_catch_signals() first. Returns 0, or the exit status after
 * reporting the failure (nothing is reported when a signal ended the wait).
 */
int cli_open(const char *cmd, const char *url, int direction, const struct cli_chan_opts *co,
	     ipcx_chan **ch);

/* ---- waiting and signals --------------------------------------------- */

/* The signal that asked the command to stop, or 0. */
extern volatile sig_atomic_t cli_signal;

/*
 * cli_catch_signals makes SIGINT, SIGTERM and SIGHUP set cli_signal, so
 * that a command closes its channel before it ends. A signal that the
 * command was started with ignored stays ignored.
 */
void cli_catch_signals(void);

/*
 * cli_signal_exit ends the process by signal sig with the default action,
 * as the caller of the command expects of a program that was interrupted
 * (a shell reports 128 + sig). Call it after cleaning up.
 */
_Noreturn void cli_signal_exit(int sig);

/*
 * A deadline for a series of library calls. The library resumes a wait that
 * a signal interrupted, so the command waits in slices short enough to
 * notice cli_signal, against one deadline for the whole wait.
 */
struct cli_deadline {
	int timeout_ms; /* as given: -1 for ever, 0 never */
	int64_t at_ms;  /* CLOCK_MONOTONIC, when timeout_ms > 0 */
};

struct cli_deadline cli_deadline_in(int timeout_ms);

/* cli_slice_ms is the timeout for the next call: 0, or 1 up to a short slice. */
int cli_slice_ms(const struct cli_deadline *d);

/*
 * cli_wait_more says whether a call that returned rc should be made again:
 * it ran out of its slice, the deadline has not passed and no signal came.
 */
bool cli_wait_more(const struct cli_deadline *d, long rc);

/* ---- output ---------------------------------------------------------- */

/*
 * cli_flush_output writes out what the command printed on standard output,
 * so that a pipeline sees each line as it comes. A reader that went away is
 * treated as SIGPIPE: cli_signal is set and nothing is reported. Returns 0,
 * or CLI_EXIT_FAIL after that or after reporting another write error as
 * "ipcx: CMD WHAT: writing standard output: why".
 */
int cli_flush_output(const char *cmd, const char *what);

/* cli_utf8_valid says whether the len bytes at p are well-formed UTF-8. */
bool cli_utf8_valid(const unsigned char *p, size_t len);

/*
 * cli_json_string writes the len bytes at p as a JSON string literal.
 * Quotes, backslashes and control bytes are escaped. With latin1 every byte
 * of 0x80 and above is written as \u00XX, one code point per byte, so that
 * data that is not UTF-8 survives exactly; without it those bytes are
 * copied as they are and must be valid UTF-8.
 */
void cli_json_string(FILE *out, const unsigned char *p, size_t len, bool latin1);

#endif /* IPCX_CLI_H */
