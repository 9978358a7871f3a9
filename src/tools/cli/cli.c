/*
 * cli.c - the helpers every subcommand of ipcx uses: error lines, option
 * parsing, opening a channel in the right role, waiting that notices
 * signals.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The longest wait in one library call, so that a signal is noticed soon. */
#define CLI_SLICE_MS 100

volatile sig_atomic_t cli_signal;

/* ---- errors ---------------------------------------------------------- */

/* The longest error line; longer ones are cut. */
#define CLI_LINE_MAX 1024

/*
 * cli_vline writes "ipcx: PREFIX TEXT SUFFIX" as one line on stderr. A
 * control character, which a URL or an argument may carry, is written as
 * '?' so that the line stays one line.
 */
static void cli_vline(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
	char text[CLI_LINE_MAX];
	vsnprintf(text, sizeof(text), fmt, ap);
	const char *parts[] = {prefix, text, suffix};
	fputs("ipcx: ", stderr);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		for (const char *c = parts[i]; *c; c++)
			fputc(iscntrl((unsigned char)*c) ? '?' : *c, stderr);
	fputc('\n', stderr);
}

/*
 * cli_unprefixed drops a leading "URL: " from a library message: the line
 * already names the URL (as typed, or as shm://NAME for a bare name).
 */
static const char *cli_unprefixed(const char *why, const char *url)
{
	size_t n = strlen(url);
	if (strncmp(why, url, n) == 0 && strncmp(why + n, ": ", 2) == 0)
		return why + n + 2;
	if (!strstr(url, "://") && strncmp(why, "shm://", 6) == 0)
		return cli_unprefixed(why + 6, url);
	return why;
}

int cli_fail(const char *cmd, const char *url, int err)
{
	const char *why = cli_unprefixed(ipcx_errmsg(), url);
	const char *words = ipcx_strerror(err);
	if (!*why)
		return cli_failf(cmd, url, "%s", words);
	/*
	 * Seed 001's scripts look for "no message of desired type", and a wait
	 * that ran out must say so whatever the transport's own words: always
	 * say these two.
	 */
	if ((err == -ENOMSG || err == -ETIMEDOUT) && !strstr(why, words))
		return cli_failf(cmd, url, "%s (%s)", words, why);
	return cli_failf(cmd, url, "%s", why);
}

int cli_failf(const char *cmd, const char *url, const char *fmt, ...)
{
	char prefix[CLI_LINE_MAX];
	va_list ap;
	snprintf(prefix, sizeof(prefix), "%s %s: ", cmd, url);
	va_start(ap, fmt);
	cli_vline(prefix, fmt, ap, "");
	va_end(ap);
	return CLI_EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	char prefix[CLI_LINE_MAX], hint[CLI_LINE_MAX];
	va_list ap;
	snprintf(prefix, sizeof(prefix), "%s%s", cmd ? cmd : "", cmd ? ": " : "");
	snprintf(hint, sizeof(hint), " (try 'ipcx help%s%s')", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	cli_vline(prefix, fmt, ap, hint);
	va_end(ap);
	return CLI_EXIT_USAGE;
}

/* ---- options --------------------------------------------------------- */

void cli_opts_init(struct cli_opts *o, const struct cli_command *cmd, int argc, char **argv,
		   const char *shortopts, const struct option *longopts)
{
	*o = (struct cli_opts){.cmd = cmd, .argc = argc, .argv = argv, .longopts = longopts};
	/* ':' first: a missing argument is told apart from an unknown option. */
	snprintf(o->spec, sizeof(o->spec), ":h%s", shortopts);
	optind = 0; /* GNU getopt: start afresh on this argument vector */
	opterr = 0;
}

/*
 * cli_bad_option reports the option getopt_long could not take: c is ':'
 * for a missing argument, '?' for an unknown option. A short option is
 * named by optopt, since it may sit inside a cluster such as "-nx".
 */
static int cli_bad_option(struct cli_opts *o, int c)
{
	char short_name[3] = {'-', (char)optopt, '\0'};
	const char *arg = o->argv[optind - 1];
	bool is_short = optopt > 0 && optopt < CLI_OPT_TIMEOUT && strncmp(arg, "--", 2) != 0;
	const char *name = is_short ? short_name : arg;
	if (c == ':')
		return cli_usage(o->cmd->name, "option '%s' needs an argument", name);
	return cli_usage(o->cmd->name, "unknown option '%s'", name);
}

int cli_next_opt(struct cli_opts *o)
{
	int c = getopt_long(o->argc, o->argv, o->spec, o->longopts, NULL);
	if (c == 'h') {
		cli_print_help(stdout, o->cmd);
		o->status = CLI_EXIT_OK;
		return CLI_OPTS_EXIT;
	}
	if (c == '?' || c == ':') {
		o->status = cli_bad_option(o, c);
		return CLI_OPTS_EXIT;
	}
	return c;
}

/* cli_operands_end reports the operand at i, when there is one, as unexpected. */
static bool cli_operands_end(struct cli_opts *o, int i)
{
	if (i >= o->argc)
		return true;
	o->status = cli_usage(o->cmd->name, "unexpected argument '%s'", o->argv[i]);
	return false;
}

const char *cli_one_operand(struct cli_opts *o, const char *what)
{
	if (optind >= o->argc) {
		o->status = cli_usage(o->cmd->name, "missing %s", what);
		return NULL;
	}
	return cli_operands_end(o, optind + 1) ? o->argv[optind] : NULL;
}

bool cli_no_operands(struct cli_opts *o)
{
	return cli_operands_end(o, optind);
}

bool cli_flag_opts(struct cli_opts *o, const struct cli_command *cmd, int argc, char **argv,
		   const char *name, bool *set)
{
	const struct option longopts[] = {
		{name, no_argument, NULL, CLI_OPT_FIRST_FREE},
		CLI_HELP_OPTION,
		{0},
	};
	int c;
	*set = false;
	cli_opts_init(o, cmd, argc, argv, "", longopts);
	while ((c = cli_next_opt(o)) != -1) {
		if (c == CLI_OPTS_EXIT)
			return false;
		*set = true;
	}
	o->longopts = NULL; /* longopts ends here; only the operands are left */
	return true;
}

bool cli_parse_long(struct cli_opts *o, const char *name, const char *text, long min,
		    long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (!*text || *end || errno || v < min || v > max) {
		o->status = cli_usage(o->cmd->name,
				      "bad value '%s' for %s (a whole number from %ld to %ld)",
				      text, name, min, max);
		return false;
	}
	*out = v;
	return true;
}

/* ---- channels -------------------------------------------------------- */

bool cli_chan_option(struct cli_opts *o, int c, struct cli_chan_opts *co)
{
	long v;
	switch (c) {
	case CLI_OPT_TIMEOUT:
		if (!cli_parse_long(o, "--timeout", optarg, -1, INT_MAX, &v))
			return false;
		co->timeout_ms = (int)v;
		return true;
	case CLI_OPT_CREATE:
	case CLI_OPT_NO_CREATE:
		co->create = c == CLI_OPT_CREATE;
		return true;
	default:
		return false;
	}
}

bool cli_event_opts_parse(struct cli_opts *o, const struct cli_command *cmd, int argc,
			  char **argv, struct cli_event_opts *e)
{
	static const struct option longopts[] = {
		{"count", required_argument, NULL, 'n'},
		{"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},
		{"json", no_argument, NULL, CLI_OPT_FIRST_FREE},
		CLI_HELP_OPTION,
		{0},
	};
	struct cli_chan_opts co = CLI_CHAN_OPTS_DEFAULT;
	int c;
	cli_opts_init(o, cmd, argc, argv, "n:", longopts);
	while ((c = cli_next_opt(o)) != -1) {
		switch (c) {
		case CLI_OPTS_EXIT:
			return false;
		case 'n':
			if (!cli_parse_long(o, "-n", optarg, 0, LONG_MAX, &e->count))
				return false;
			break;
		case CLI_OPT_FIRST_FREE:
			e->json = true;
			break;
		default: /* --timeout, the one channel option these commands have */
			if (!cli_chan_option(o, c, &co))
				return false;
		}
	}
	e->timeout_ms = co.timeout_ms;
	return true;
}

/* cli_should_create decides IPCX_CREATE by the options, the role and the transport. */
static bool cli_should_create(const char *url, int direction, const struct cli_chan_opts *co)
{
	struct ipcx_caps caps;
	if (co->create >= 0)
		return co->create;
	/* Whoever receives on a socket address listens on it; a sender connects. */
	if (ipcx_transport_caps(url, &caps) == 0 && (caps.flags & IPCX_CAP_CONNECTED))
		return direction == IPCX_RECV;
	return true;
}

/*
 * cli_peer_absent tells whether an open failed only because the other side
 * is not there yet within one slice: a FIFO writer without a reader
 * (-ENXIO), or a connecting socket without a listener (-ENOENT,
 * -ECONNREFUSED). Those are tried again until the command's deadline.
 */
static bool cli_peer_absent(const char *url, int rc, int flags)
{
	struct ipcx_caps caps;
	if (rc == -ENXIO)
		return true;
	if (flags & IPCX_CREATE || (rc != -ENOENT && rc != -ECONNREFUSED))
		return false;
	return ipcx_transport_caps(url, &caps) == 0 && (caps.flags & IPCX_CAP_CONNECTED);
}

int cli_open(const char *cmd, const char *url, int direction, const struct cli_chan_opts *co,
	     ipcx_chan **ch)
{
	int flags = direction;
	struct cli_deadline d = cli_deadline_in(co->timeout_ms);
	int rc;
	if (cli_should_create(url, direction, co))
		flags |= IPCX_CREATE;
	do
		rc = ipcx_open(ch, url, flags, cli_slice_ms(&d));
	while (cli_wait_more(&d, cli_peer_absent(url, rc, flags) ? -ETIMEDOUT : rc));
	if (rc == 0)
		return 0;
	return cli_signal ? CLI_EXIT_FAIL : cli_fail(cmd, url, rc);
}

/* ---- waiting and signals --------------------------------------------- */

static void cli_on_signal(int sig)
{
	cli_signal = sig;
}

void cli_catch_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old, sa = {.sa_handler = cli_on_signal};
		sigemptyset(&sa.sa_mask);
		/* No SA_RESTART: a blocked read of standard input returns EINTR. */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
	}
}

_Noreturn void cli_signal_exit(int sig)
{
	sigset_t set;
	fflush(stdout);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	/* Only reached for a signal whose default action is not to end. */
	exit(128 + sig);
}

static int64_t cli_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct cli_deadline cli_deadline_in(int timeout_ms)
{
	struct cli_deadline d = {.timeout_ms = timeout_ms};
	if (timeout_ms > 0)
		d.at_ms = cli_now_ms() + timeout_ms;
	return d;
}

int cli_slice_ms(const struct cli_deadline *d)
{
	if (d->timeout_ms <= 0)
		return d->timeout_ms == 0 ? 0 : CLI_SLICE_MS;
	int64_t left = d->at_ms - cli_now_ms();
	if (left < 1)
		return 1;
	return left < CLI_SLICE_MS ? (int)left : CLI_SLICE_MS;
}

bool cli_wait_more(const struct cli_deadline *d, long rc)
{
	if (rc != -ETIMEDOUT || cli_signal || d->timeout_ms == 0)
		return false;
	return d->timeout_ms < 0 || cli_now_ms() < d->at_ms;
}

/* ---- output ---------------------------------------------------------- */

int cli_flush_output(const char *cmd, const char *what)
{
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	if (errno == EPIPE) {
		cli_signal = SIGPIPE;
		return CLI_EXIT_FAIL;
	}
	return cli_failf(cmd, what, "writing standard output: %s",
			 ipcx_strerror(errno ? -errno : -EIO));
}
