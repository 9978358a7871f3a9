/*
 * recv.c - "ipcx recv": messages taken from one channel and printed, one
 * per line or as JSON. Seed 001's receive program (-t TYPE), done properly.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

enum {
	RECV_OPT_JSON = CLI_OPT_FIRST_FREE,
	RECV_OPT_NO_NEWLINE,
};

/* The first receive buffer; it grows up to the channel's max_msg. */
#define RECV_FIRST_BUFFER ((size_t)64 << 10)

struct recv_args {
	const char *url;
	struct cli_chan_opts chan;
	long selector;
	long count; /* 0: until the stream ends */
	bool json;
	bool no_newline;
};

/* A receive buffer that grows when a message does not fit. */
struct recv_buf {
	unsigned char *data;
	size_t size;
	size_t max; /* the channel's max_msg */
};

/* recv_parse fills a from the command line; returns -1 or the exit status. */
static int recv_parse(struct recv_args *a, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"type", required_argument, NULL, 't'},
		{"count", required_argument, NULL, 'n'},
		{"json", no_argument, NULL, RECV_OPT_JSON},
		{"no-newline", no_argument, NULL, RECV_OPT_NO_NEWLINE},
		CLI_CHAN_OPTIONS,
		CLI_HELP_OPTION,
		{0},
	};
	struct cli_opts o;
	int c;
	cli_opts_init(&o, &cli_recv_command, argc, argv, "t:n:", longopts);
	while ((c = cli_next_opt(&o)) != -1) {
		switch (c) {
		case CLI_OPTS_EXIT:
			return o.status;
		case 't':
			if (!cli_parse_long(&o, "-t", optarg, -LONG_MAX, LONG_MAX, &a->selector))
				return o.status;
			break;
		case 'n':
			if (!cli_parse_long(&o, "-n", optarg, 0, LONG_MAX, &a->count))
				return o.status;
			break;
		case RECV_OPT_JSON:
			a->json = true;
			break;
		case RECV_OPT_NO_NEWLINE:
			a->no_newline = true;
			break;
		default:
			if (!cli_chan_option(&o, c, &a->chan))
				return o.status;
		}
	}
	if (a->json && a->no_newline)
		return cli_usage(o.cmd->name,
				 "--no-newline is for plain output: leave out --json");
	a->url = cli_one_operand(&o, "URL");
	return a->url ? -1 : o.status;
}

/* recv_grow doubles the buffer up to max; -EMSGSIZE when it is already there. */
static int recv_grow(struct recv_buf *b)
{
	if (b->size >= b->max)
		return -EMSGSIZE;
	size_t size = b->size > b->max / 2 ? b->max : b->size * 2;
	unsigned char *p = realloc(b->data, size);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->size = size;
	return 0;
}

/*
 * recv_message takes one message into b before the --timeout, growing b
 * when the message does not fit. Returns its length or a negative errno.
 */
static ssize_t recv_message(ipcx_chan *ch, const struct recv_args *a, struct recv_buf *b,
			    long *type)
{
	struct cli_deadline d = cli_deadline_in(a->chan.timeout_ms);
	ssize_t n;
	for (;;) {
		n = ipcx_recv(ch, b->data, b->size, a->selector, type, cli_slice_ms(&d));
		if (n == -EMSGSIZE && recv_grow(b) == 0)
			continue;
		if (!cli_wait_more(&d, n))
			return n;
	}
}

/* recv_print writes one message to standard output, buffered. */
static void recv_print(const struct recv_args *a, const unsigned char *p, size_t len, long type)
{
	if (a->json) {
		bool utf8 = cli_utf8_valid(p, len);
		printf("{\"type\":%ld,\"size\":%zu,\"data\":", type, len);
		cli_json_string(stdout, p, len, !utf8);
		fputs(utf8 ? "}\n" : ",\"encoding\":\"latin1\"}\n", stdout);
	} else {
		fwrite(p, 1, len, stdout);
		if (!a->no_newline)
			putchar('\n');
	}
}

/*
 * recv_loop receives and prints a->count messages, or with count 0 until
 * the stream ends. Returns the exit status; a reader that went away from
 * standard output is treated as SIGPIPE, which ends the command.
 */
static int recv_loop(ipcx_chan *ch, const struct recv_args *a, struct recv_buf *b)
{
	const char *name = cli_recv_command.name;
	for (long got = 0; a->count == 0 || got < a->count; got++) {
		long type;
		ssize_t n = recv_message(ch, a, b, &type);
		if (n == -EPIPE && a->count == 0)
			return CLI_EXIT_OK;
		if (n < 0)
			return cli_signal ? CLI_EXIT_FAIL : cli_fail(name, a->url, (int)n);
		recv_print(a, b->data, (size_t)n, type);
		/* Each message goes out at once, so a pipeline sees it as it comes. */
		int status = cli_flush_output(name, a->url);
		if (status != 0)
			return status;
		if (cli_signal)
			return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

/* recv_chan receives on an open channel and closes it. */
static int recv_chan(ipcx_chan *ch, const struct recv_args *a)
{
	struct ipcx_caps caps;
	ipcx_caps_of(ch, &caps);
	struct recv_buf b = {.max = caps.max_msg > 0 ? caps.max_msg : 1};
	b.size = b.max < RECV_FIRST_BUFFER ? b.max : RECV_FIRST_BUFFER;
	b.data = malloc(b.size);
	int status = b.data ? recv_loop(ch, a, &b)
			    : cli_fail(cli_recv_command.name, a->url, -ENOMEM);
	free(b.data);
	ipcx_close(ch);
	return status;
}

static int recv_run(int argc, char **argv)
{
	struct recv_args a = {.chan = CLI_CHAN_OPTS_DEFAULT, .count = 1};
	ipcx_chan *ch;
	int status = recv_parse(&a, argc, argv);
	if (status >= 0)
		return status;
	cli_catch_signals();
	status = cli_open(cli_recv_command.name, a.url, IPCX_RECV, &a.chan, &ch);
	if (status == 0)
		status = recv_chan(ch, &a);
	if (cli_signal)
		cli_signal_exit(cli_signal);
	return status;
}

const struct cli_command cli_recv_command = {
	.name = "recv",
	.summary = "receive messages from a channel and print them",
	.usage = "URL [-t SELECTOR] [-n COUNT] [--json] [--timeout MS] [--no-create]",
	.help = "Receives COUNT messages and prints each one on its own line: the payload\n"
		"as it is, then a newline. The object is created when it does not exist; on\n"
		"a socket transport, recv listens on the address and takes messages from\n"
		"every peer that connects. With -n 0 it receives until the stream ends (every\n"
		"sender has gone), which is a normal end. A --timeout that expires ends it\n"
		"with exit status 1 after printing what it got; --timeout 0 never waits (as\n"
		"IPC_NOWAIT) and fails with \"no message of desired type\" when nothing\n"
		"matches.\n"
		"\n"
		"With --json each message is one line {\"type\":T,\"size\":N,\"data\":\"...\"}.\n"
		"data is the payload as a JSON string; a payload that is not UTF-8 has every\n"
		"byte of 0x80 and above written as \\u00XX and \"encoding\":\"latin1\" added,\n"
		"so that each code point of data is one byte of the payload.\n"
		"\n"
		"Arguments:\n"
		"  URL                 the channel, e.g. fifo:///tmp/q or sysvmq://id=0\n"
		"\n"
		"Options:\n"
		"  -t, --type SELECTOR which message to take, as System V msgrcv: 0 the\n"
		"                      oldest (default), N > 0 the oldest of type N, N < 0 the\n"
		"                      oldest of the lowest type <= |N|; transports that\n"
		"                      cannot select fail a selector other than 0\n"
		"  -n, --count COUNT   receive COUNT messages (default 1); 0 until the end\n"
		"      --json          print each message as one JSON object\n"
		"      --no-newline    print payloads with nothing after them\n"
		CLI_CHAN_OPTIONS_HELP,
	.run = recv_run,
};
