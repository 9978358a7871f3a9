/*
 * transports.c - "ipcx transports": the transports of this build and what
 * each can do, as a list or as the Markdown table of the README.
 */
#include "cli.h"

#include <stdint.h>

/* The number of bits a capability flag may use. */
#define TRANSPORTS_FLAG_BITS 32

/* transports_size writes a byte count exactly, in the largest binary unit that divides it. */
static void transports_size(FILE *out, size_t n, int width)
{
	static const char *const units[] = {"", "KiB", "MiB", "GiB"};
	size_t u = 0;
	while (u + 1 < sizeof(units) / sizeof(units[0]) && n >= 1024 && n % 1024 == 0) {
		n /= 1024;
		u++;
	}
	char text[32];
	snprintf(text, sizeof(text), "%zu%s", n, units[u]);
	fprintf(out, "%-*s", width, text);
}

/* transports_list writes one line per transport: scheme, max message, flags. */
static void transports_list(FILE *out)
{
	fprintf(out, "%-10s %-10s %s\n", "SCHEME", "MAX-MSG", "CAPABILITIES");
	for (size_t i = 0; ipcx_transport_name(i); i++) {
		struct ipcx_caps caps;
		const char *scheme = ipcx_transport_name(i);
		ipcx_transport_caps(scheme, &caps);
		fprintf(out, "%-10s ", scheme);
		transports_size(out, caps.max_msg, 10);
		for (unsigned bit = 0; bit < TRANSPORTS_FLAG_BITS; bit++)
			if ((caps.flags & (1u << bit)) && ipcx_cap_name(1u << bit))
				fprintf(out, " %s", ipcx_cap_name(1u << bit));
		fputc('\n', out);
	}
}

/* transports_markdown writes the capability table: a row per transport, a column per flag. */
static void transports_markdown(FILE *out)
{
	fputs("| transport | max message |", out);
	for (unsigned bit = 0; bit < TRANSPORTS_FLAG_BITS; bit++)
		if (ipcx_cap_name(1u << bit))
			fprintf(out, " %s |", ipcx_cap_name(1u << bit));
	fputs("\n|---|---|", out);
	for (unsigned bit = 0; bit < TRANSPORTS_FLAG_BITS; bit++)
		if (ipcx_cap_name(1u << bit))
			fputs(":-:|", out);
	fputc('\n', out);
	for (size_t i = 0; ipcx_transport_name(i); i++) {
		struct ipcx_caps caps;
		const char *scheme = ipcx_transport_name(i);
		ipcx_transport_caps(scheme, &caps);
		fprintf(out, "| `%s://` | ", scheme);
		transports_size(out, caps.max_msg, 0);
		fputs(" |", out);
		for (unsigned bit = 0; bit < TRANSPORTS_FLAG_BITS; bit++)
			if (ipcx_cap_name(1u << bit))
				fputs(caps.flags & (1u << bit) ? " ✓ |" : "   |", out);
		fputc('\n', out);
	}
}

static int transports_run(int argc, char **argv)
{
	struct cli_opts o;
	bool markdown;
	if (!cli_flag_opts(&o, &cli_transports_command, argc, argv, "markdown", &markdown) ||
	    !cli_no_operands(&o))
		return o.status;
	if (markdown)
		transports_markdown(stdout);
	else
		transports_list(stdout);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

const struct cli_command cli_transports_command = {
	.name = "transports",
	.summary = "list the transports of this build and what each can do",
	.usage = "[--markdown]",
	.help = "Prints one line per transport: its URL scheme, the largest message it\n"
		"carries by default, and its capability flags (see docs/cli.md).\n"
		"\n"
		"Options:\n"
		"      --markdown      print the capability table as Markdown, a column per\n"
		"                      flag, as the README shows it\n",
	.run = transports_run,
};
