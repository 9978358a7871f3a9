/*
 * url.c - scheme://address?key=value&... parsing and the common options.
 */
#include "ipcx_impl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Options every transport may accept, decoded here when present. */
static int ipcx__decode_common(struct ipcx__url *u, const char *key, const char *value)
{
	if (strcmp(key, "cap") == 0) {
		u->has_cap = true;
		if (strcmp(value, "unbounded") == 0) {
			u->cap = SIZE_MAX;
			return 0;
		}
		if (ipcx__parse_size(value, &u->cap) < 0)
			return ipcx__fail(-EINVAL, "bad size '%s' for option 'cap' (try 64KiB, 1M or unbounded)",
					  value);
	} else if (strcmp(key, "maxmsg") == 0) {
		u->has_maxmsg = true;
		if (ipcx__parse_size(value, &u->maxmsg) < 0)
			return ipcx__fail(-EINVAL, "bad size '%s' for option 'maxmsg'", value);
	} else if (strcmp(key, "mode") == 0) {
		char *end;
		errno = 0;
		unsigned long m = strtoul(value, &end, 8);
		if (!*value || *end || errno || m > 0777)
			return ipcx__fail(-EINVAL, "bad mode '%s' (an octal permission such as 0640)",
					  value);
		u->has_mode = true;
		u->mode = (unsigned)m;
	} else if (strcmp(key, "frame") == 0) {
		if (strcmp(value, "binary") == 0)
			u->frame = IPCX__FRAME_BINARY;
		else if (strcmp(value, "line") == 0)
			u->frame = IPCX__FRAME_LINE;
		else if (strcmp(value, "raw") == 0)
			u->frame = IPCX__FRAME_RAW;
		else
			return ipcx__fail(-EINVAL, "bad frame '%s' (binary, line or raw)", value);
	}
	return 0;
}

int ipcx__parse_size(const char *s, size_t *out)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = {
		{"", 0},   {"B", 0},  {"K", 10},   {"k", 10},   {"KB", 10},  {"KiB", 10},
		{"M", 20}, {"MB", 20}, {"MiB", 20}, {"G", 30},   {"GB", 30},  {"GiB", 30},
	};
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (v > (SIZE_MAX >> units[i].shift))
			return -ERANGE;
		*out = (size_t)v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}

/* Is word one of the space-separated names in list? */
static bool ipcx__word_in(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ' ');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && strncmp(p, word, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

static int ipcx__parse_query(struct ipcx__url *u, char *query, const char *accepted)
{
	for (char *item = query; item && *item;) {
		char *next = strchr(item, '&');
		if (next)
			*next++ = '\0';
		char *eq = strchr(item, '=');
		if (!eq || eq == item)
			return ipcx__fail(-EINVAL, "malformed option '%s' (expected key=value)", item);
		*eq = '\0';
		if (!ipcx__word_in(accepted, item))
			return ipcx__fail(-EINVAL, "unknown option '%s' for %s:// (accepted: %s)", item,
					  u->scheme, accepted && *accepted ? accepted : "none");
		for (size_t i = 0; i < u->nopts; i++)
			if (strcmp(u->opts[i].key, item) == 0)
				return ipcx__fail(-EINVAL, "option '%s' given twice", item);
		if (u->nopts == IPCX__MAX_OPTS)
			return ipcx__fail(-EINVAL, "too many options (at most %d)", IPCX__MAX_OPTS);
		u->opts[u->nopts].key = item;
		u->opts[u->nopts].value = eq + 1;
		u->nopts++;
		int rc = ipcx__decode_common(u, item, eq + 1);
		if (rc < 0)
			return rc;
		item = next;
	}
	return 0;
}

/* ipcx__url_fill copies the address and parses the options after '?'. */
static int ipcx__url_fill(struct ipcx__url *u, const char *rest, const char *options)
{
	u->text = strdup(rest);
	if (!u->text)
		return -ENOMEM;
	u->address = u->text;
	char *q = strchr(u->text, '?');
	if (q) {
		*q = '\0';
		int rc = ipcx__parse_query(u, q + 1, options);
		if (rc < 0) {
			ipcx__url_free(u);
			return rc;
		}
	}
	return 0;
}

int ipcx__url_parse(struct ipcx__url *u, const char *text)
{
	memset(u, 0, sizeof(*u));
	if (!text || !*text)
		return ipcx__fail(-EINVAL, "empty URL");
	for (const char *p = text; *p; p++)
		if (iscntrl((unsigned char)*p) || *p == ' ')
			return ipcx__fail(-EINVAL, "URL '%s' contains a space or control character",
					  text);
	const char *sep = strstr(text, "://");
	const char *rest;
	if (!sep) {
		size_t name_len = strcspn(text, "?");
		if (memchr(text, ':', name_len) || memchr(text, '/', name_len))
			return ipcx__fail(-EINVAL, "malformed URL '%s' (expected scheme://address)",
					  text);
		/* A bare name is a channel of the default engine. */
		strcpy(u->scheme, "shm");
		rest = text;
	} else {
		size_t n = (size_t)(sep - text);
		if (n == 0 || n >= sizeof(u->scheme))
			return ipcx__fail(-EINVAL, "malformed scheme in URL '%s'", text);
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)text[i]))
				return ipcx__fail(-EINVAL, "malformed scheme '%.*s' in URL '%s'", (int)n,
						  text, text);
		memcpy(u->scheme, text, n);
		u->scheme[n] = '\0';
		rest = sep + 3;
	}
	const struct ipcx__transport *tp = ipcx__transport_find(u->scheme);
	if (!tp) {
		if (strcmp(u->scheme, "shm") == 0)
			return ipcx__fail(-ENOTSUP,
					  "the shm:// engine (the default for a bare name) is not in this build yet; "
					  "name a transport, e.g. unix:///tmp/%s",
					  rest);
		return ipcx__fail(-EINVAL, "unknown scheme '%s' in URL '%s'", u->scheme, text);
	}
	return ipcx__url_fill(u, rest, tp->options);
}

int ipcx__url_parse_as(struct ipcx__url *u, const char *text, const char *options)
{
	memset(u, 0, sizeof(*u));
	const char *sep = text ? strstr(text, "://") : NULL;
	size_t n = sep ? (size_t)(sep - text) : 0;
	if (n == 0 || n >= sizeof(u->scheme))
		return ipcx__fail(-EINVAL, "malformed URL '%s' (expected scheme://address)",
				  text ? text : "");
	memcpy(u->scheme, text, n);
	u->scheme[n] = '\0';
	return ipcx__url_fill(u, sep + 3, options);
}

void ipcx__url_free(struct ipcx__url *u)
{
	free(u->text);
	u->text = NULL;
	u->address = NULL;
	u->nopts = 0;
}

const char *ipcx__url_opt(const struct ipcx__url *u, const char *key)
{
	for (size_t i = 0; i < u->nopts; i++)
		if (strcmp(u->opts[i].key, key) == 0)
			return u->opts[i].value;
	return NULL;
}

unsigned ipcx__url_mode(const struct ipcx__url *u)
{
	return u->has_mode ? u->mode : 0600;
}
