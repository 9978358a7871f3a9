/*
 * sig.c - "ipcx sig send" and "ipcx sig wait": signals from the shell, with
 * the sigqueue payload (seeds 000 §4, 002, 003). sig send is sigqueue(3);
 * sig wait blocks the signals, then takes them one at a time and prints
 * who sent each one and what it carried.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { SIG_OPT_VALUE = CLI_OPT_FIRST_FREE };

/* The longest list of signals "sig wait" names in an error line. */
#define SIG_LIST_MAX 256

struct sig_wait_args {
	int *signos;
	size_t n;
	char list[SIG_LIST_MAX]; /* the signals as given, for error lines */
	struct cli_event_opts ev;
};

/* sig_parse_signal reads one signal name or number, as a usage error when it is none. */
static bool sig_parse_signal(struct cli_opts *o, const char *text, int *signo)
{
	int rc = ipcx_signal_parse(text);
	if (rc < 0) {
		o->status = cli_usage(o->cmd->name, "'%s' is not a signal (a name or number: "
						    "SIGUSR1, usr1, 10, SIGRTMIN+3)", text);
		return false;
	}
	*signo = rc;
	return true;
}

/* sig_send_parse reads "send PID SIG [--value N]"; returns -1 or the exit status. */
static int sig_send_parse(int argc, char **argv, pid_t *pid, int *signo, long *value)
{
	static const struct option longopts[] = {
		{"value", required_argument, NULL, SIG_OPT_VALUE},
		CLI_HELP_OPTION,
		{0},
	};
	struct cli_opts o;
	long v;
	int c;
	cli_opts_init(&o, &cli_sig_command, argc, argv, "", longopts);
	while ((c = cli_next_opt(&o)) != -1) {
		if (c == CLI_OPTS_EXIT)
			return o.status;
		if (!cli_parse_long(&o, "--value", optarg, LONG_MIN, LONG_MAX, value))
			return o.status;
	}
	if (argc - optind != 2)
		return cli_usage(o.cmd->name, "send takes a PID and a SIGNAL (got %d arguments)",
				 argc - optind);
	if (!cli_parse_long(&o, "PID", argv[optind], 1, INT_MAX, &v) ||
	    !sig_parse_signal(&o, argv[optind + 1], signo))
		return o.status;
	*pid = (pid_t)v;
	return -1;
}

static int sig_send(int argc, char **argv)
{
	pid_t pid = 0;
	int signo = 0;
	long value = 0;
	int status = sig_send_parse(argc, argv, &pid, &signo, &value);
	if (status >= 0)
		return status;
	int rc = ipcx_signal_send(pid, signo, value);
	return rc < 0 ? cli_fail("sig send", argv[optind], rc) : CLI_EXIT_OK;
}

/* sig_wait_signals reads the SIGNAL operands into a; returns -1 or the exit status. */
static int sig_wait_signals(struct cli_opts *o, struct sig_wait_args *a)
{
	if (optind >= o->argc)
		return cli_usage(o->cmd->name, "wait needs at least one SIGNAL");
	a->signos = calloc((size_t)(o->argc - optind), sizeof(*a->signos));
	if (!a->signos)
		return cli_fail("sig wait", "", -ENOMEM);
	for (int i = optind; i < o->argc; i++) {
		if (!sig_parse_signal(o, o->argv[i], &a->signos[a->n++]))
			return o->status;
		size_t used = strlen(a->list);
		snprintf(a->list + used, sizeof(a->list) - used, "%s%s", used ? " " : "",
			 o->argv[i]);
	}
	return -1;
}

/* sig_wait_parse reads "wait SIG... [-n COUNT] [--timeout MS] [--json]". */
static int sig_wait_parse(int argc, char **argv, struct sig_wait_args *a)
{
	struct cli_opts o;
	if (!cli_event_opts_parse(&o, &cli_sig_command, argc, argv, &a->ev))
		return o.status;
	return sig_wait_signals(&o, a);
}

/* sig_print writes one received signal as a line of text or of JSON. */
static void sig_print(const struct sig_wait_args *a, const struct ipcx_siginfo *si)
{
	const char *name = ipcx_signal_name(si->signo);
	if (a->ev.json)
		printf("{\"signal\":\"%s\",\"signo\":%d,\"code\":%d,\"pid\":%ld,\"uid\":%lu,"
		       "\"value\":%ld}\n",
		       name, si->signo, si->code, (long)si->pid, (unsigned long)si->uid, si->value);
	else
		printf("%s pid %ld uid %lu value %ld\n", name, (long)si->pid,
		       (unsigned long)si->uid, si->value);
}

/* sig_take waits for one of the signals within the --timeout, in slices. */
static int sig_take(const struct sig_wait_args *a, struct ipcx_siginfo *si)
{
	struct cli_deadline d = cli_deadline_in(a->ev.timeout_ms);
	int rc;
	do
		rc = ipcx_signal_wait(a->signos, a->n, si, cli_slice_ms(&d));
	while (cli_wait_more(&d, rc));
	return rc;
}

/* sig_wait_loop takes and prints a->ev.count signals; returns the exit status. */
static int sig_wait_loop(const struct sig_wait_args *a)
{
	for (long got = 0; a->ev.count == 0 || got < a->ev.count; got++) {
		struct ipcx_siginfo si;
		int rc = sig_take(a, &si);
		if (rc == -EAGAIN)
			return cli_failf("sig wait", a->list, "no such signal is pending");
		if (rc < 0)
			return cli_signal ? CLI_EXIT_FAIL : cli_fail("sig wait", a->list, rc);
		sig_print(a, &si);
		int status = cli_flush_output("sig wait", a->list);
		if (status || cli_signal)
			return status ? status : CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static int sig_wait(int argc, char **argv)
{
	struct sig_wait_args a = {.ev.count = 1};
	int status = sig_wait_parse(argc, argv, &a);
	if (status < 0) {
		cli_catch_signals();
		/*
		 * Blocked from here on, before the first wait: a sender that sees
		 * the signals blocked (SigBlk in /proc/PID/status) cannot kill us.
		 */
		int rc = ipcx_signal_block(a.signos, a.n);
		status = rc < 0 ? cli_fail("sig wait", a.list, rc) : sig_wait_loop(&a);
	}
	free(a.signos);
	if (cli_signal)
		cli_signal_exit(cli_signal);
	return status;
}

static int sig_run(int argc, char **argv)
{
	static const struct option longopts[] = {CLI_HELP_OPTION, {0}};
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return sig_send(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "wait") == 0)
		return sig_wait(argc - 1, argv + 1);
	struct cli_opts o;
	cli_opts_init(&o, &cli_sig_command, argc, argv, "", longopts);
	if (cli_next_opt(&o) != -1)
		return o.status;
	if (optind >= argc)
		return cli_usage(o.cmd->name, "missing action (send or wait)");
	return cli_usage(o.cmd->name, "unknown action '%s' (send or wait)", argv[optind]);
}

const struct cli_command cli_sig_command = {
	.name = "sig",
	.summary = "send a signal with a payload, or wait for signals and print them",
	.usage = "send PID SIGNAL [--value N]\n"
		 "       ipcx sig wait SIGNAL... [-n COUNT] [--json] [--timeout MS]",
	.help = "sig send queues SIGNAL to process PID as sigqueue(3) does, with N (default\n"
		"0) as its payload. Realtime signals queue, up to the receiver's\n"
		"RLIMIT_SIGPENDING (ulimit -i); a full queue fails.\n"
		"\n"
		"sig wait blocks the SIGNALs, so that none of them can end it, then takes\n"
		"COUNT of them and prints each one as it comes on its own line:\n"
		"  SIGRTMIN+1 pid 1234 uid 1000 value 7\n"
		"the signal, the sending process (0 when the kernel sent it), its user id\n"
		"and the payload (0 when it came without one, from kill). Realtime signals\n"
		"sent while blocked arrive one each, in order; a standard signal sent again\n"
		"before it was taken merges into the one pending. A --timeout that expires\n"
		"ends it with exit status 1 after printing what it got; --timeout 0 never\n"
		"waits and fails when none of the SIGNALs is pending.\n"
		"\n"
		"With --json each signal is one line {\"signal\":\"SIGRTMIN+1\",\"signo\":35,\n"
		"\"code\":-1,\"pid\":1234,\"uid\":1000,\"value\":7}; code is si_code (-1 from\n"
		"sigqueue, 0 from kill, > 0 from the kernel).\n"
		"\n"
		"Arguments:\n"
		"  PID                 the process to signal\n"
		"  SIGNAL              a name or number: SIGUSR1, usr1, 10, SIGRTMIN+3,\n"
		"                      RTMAX-1\n"
		"\n"
		"Options:\n"
		"      --value N       (send) the payload, a whole number (default 0)\n"
		"  -n, --count COUNT   (wait) take COUNT signals (default 1); 0 until the\n"
		"                      timeout or Ctrl-C\n"
		"      --json          (wait) print each signal as one JSON object\n"
		"      --timeout MS    (wait) wait at most MS milliseconds for each signal:\n"
		"                      -1 waits for ever (default), 0 never waits\n",
	.run = sig_run,
};
