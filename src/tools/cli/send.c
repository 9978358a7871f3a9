/*
 * send.c - "ipcx send": messages from -m or from standard input, sent to
 * one channel. Seed 001's send program (-t TYPE -m TEXT), done properly.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { SEND_OPT_WHOLE = CLI_OPT_FIRST_FREE };

struct send_args {
	const char *url;
	struct cli_chan_opts chan;
	long type;
	const char **texts; /* the -m texts in order; NULL when none */
	size_t ntexts;
	bool whole; /* all of standard input is one message */
};

/* send_parse fills a from the command line; returns -1 or the exit status. */
static int send_parse(struct send_args *a, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"type", required_argument, NULL, 't'},
		{"message", required_argument, NULL, 'm'},
		{"whole", no_argument, NULL, SEND_OPT_WHOLE},
		CLI_CHAN_OPTIONS,
		CLI_HELP_OPTION,
		{0},
	};
	struct cli_opts o;
	int c;
	cli_opts_init(&o, &cli_send_command, argc, argv, "t:m:", longopts);
	a->texts = calloc((size_t)argc, sizeof(*a->texts));
	if (!a->texts) {
		fputs("ipcx: send: out of memory\n", stderr);
		return CLI_EXIT_FAIL;
	}
	while ((c = cli_next_opt(&o)) != -1) {
		switch (c) {
		case CLI_OPTS_EXIT:
			return o.status;
		case 't':
			if (!cli_parse_long(&o, "-t", optarg, 1, LONG_MAX, &a->type))
				return o.status;
			break;
		case 'm':
			a->texts[a->ntexts++] = optarg;
			break;
		case SEND_OPT_WHOLE:
			a->whole = true;
			break;
		default:
			if (!cli_chan_option(&o, c, &a->chan))
				return o.status;
		}
	}
	if (a->whole && a->ntexts)
		return cli_usage(o.cmd->name, "--whole reads standard input: leave out -m");
	a->url = cli_one_operand(&o, "URL");
	return a->url ? -1 : o.status;
}

/*
 * send_report turns the result of one step into the exit status: a failure
 * caused by a signal is not reported, the signal ends the command.
 */
static int send_report(const struct send_args *a, int rc)
{
	if (rc == 0)
		return CLI_EXIT_OK;
	return cli_signal ? CLI_EXIT_FAIL : cli_fail(cli_send_command.name, a->url, rc);
}

/* send_message sends one message before the --timeout, as a status. */
static int send_message(ipcx_chan *ch, const struct send_args *a, const void *data, size_t len)
{
	struct cli_deadline d = cli_deadline_in(a->chan.timeout_ms);
	int rc;
	do
		rc = ipcx_send(ch, data, len, a->type, cli_slice_ms(&d));
	while (cli_wait_more(&d, rc));
	return send_report(a, rc);
}

/* send_stdin_failed reports a failed read of standard input. */
static int send_stdin_failed(const struct send_args *a, int err)
{
	if (cli_signal)
		return CLI_EXIT_FAIL;
	return cli_failf(cli_send_command.name, a->url, "reading standard input: %s",
			 ipcx_strerror(err));
}

/* send_lines sends each line of standard input, without its '\n', as one message. */
static int send_lines(ipcx_chan *ch, const struct send_args *a)
{
	char *line = NULL;
	size_t cap = 0;
	int status = CLI_EXIT_OK;
	while (status == CLI_EXIT_OK && !cli_signal) {
		errno = 0;
		ssize_t n = getline(&line, &cap, stdin);
		if (n < 0) {
			if (ferror(stdin))
				status = send_stdin_failed(a, errno ? -errno : -EIO);
			break;
		}
		if (n > 0 && line[n - 1] == '\n')
			n--;
		status = send_message(ch, a, line, (size_t)n);
	}
	free(line);
	return status;
}

/*
 * send_read_all reads standard input into *out (the caller frees it),
 * stopping once it holds more than limit bytes. Returns 0 or a negative
 * errno.
 */
static int send_read_all(char **out, size_t *out_len, size_t limit)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	do {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *p = realloc(buf, ncap);
			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
			cap = ncap;
		}
		errno = 0;
		len += fread(buf + len, 1, cap - len, stdin);
	} while (!feof(stdin) && !ferror(stdin) && len <= limit);
	if (ferror(stdin)) {
		int err = errno ? -errno : -EIO;
		free(buf);
		return err;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

/* send_whole sends all of standard input as one message. */
static int send_whole(ipcx_chan *ch, const struct send_args *a)
{
	struct ipcx_caps caps;
	char *buf = NULL;
	size_t len = 0;
	ipcx_caps_of(ch, &caps);
	int rc = send_read_all(&buf, &len, caps.max_msg);
	if (rc < 0)
		return send_stdin_failed(a, rc);
	int status;
	if (len > caps.max_msg)
		status = cli_failf(cli_send_command.name, a->url,
				   "standard input is larger than the %zu-byte message limit",
				   caps.max_msg);
	else
		status = send_message(ch, a, buf, len);
	free(buf);
	return status;
}

/* send_texts sends the -m texts in order. */
static int send_texts(ipcx_chan *ch, const struct send_args *a)
{
	int status = CLI_EXIT_OK;
	for (size_t i = 0; i < a->ntexts && status == CLI_EXIT_OK; i++)
		status = send_message(ch, a, a->texts[i], strlen(a->texts[i]));
	return status;
}

static int send_run(int argc, char **argv)
{
	struct send_args a = {.chan = CLI_CHAN_OPTS_DEFAULT, .type = 1};
	ipcx_chan *ch = NULL;
	int status = send_parse(&a, argc, argv);
	if (status < 0) {
		cli_catch_signals();
		status = cli_open(cli_send_command.name, a.url, IPCX_SEND, &a.chan, &ch);
	}
	if (ch) {
		if (a.ntexts)
			status = send_texts(ch, &a);
		else if (a.whole)
			status = send_whole(ch, &a);
		else
			status = send_lines(ch, &a);
		ipcx_close(ch);
	}
	free(a.texts);
	if (cli_signal)
		cli_signal_exit(cli_signal);
	return status;
}

const struct cli_command cli_send_command = {
	.name = "send",
	.summary = "send messages to a channel",
	.usage = "URL [-t TYPE] [-m TEXT]... [--whole] [--timeout MS] [--no-create]",
	.help = "Sends each -m TEXT as one message. Without -m, each line of standard input\n"
		"is one message (without its newline); with --whole, all of standard input\n"
		"is one message. The object is created when it does not exist, except on a\n"
		"socket transport, where send connects to the listener.\n"
		"\n"
		"Arguments:\n"
		"  URL                 the channel, e.g. fifo:///tmp/q or sysvmq://id=0\n"
		"\n"
		"Options:\n"
		"  -t, --type TYPE     the message type, 1 or more (default 1)\n"
		"  -m, --message TEXT  send TEXT as one message; may be given several times\n"
		"      --whole         send all of standard input as one message\n"
		CLI_CHAN_OPTIONS_HELP,
	.run = send_run,
};
