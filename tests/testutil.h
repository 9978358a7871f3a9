/*
 * testutil.h - helpers the transport and IPC-object tests share, on top of
 * the runner in harness.h: unique names and System V keys that the runner
 * removes, opening a channel or failing, checking one received message,
 * reaping a child that must succeed, and capturing a command's output.
 */
#ifndef IPCX_TEST_UTIL_H
#define IPCX_TEST_UTIL_H

#include "harness.h"

/*
 * test_url_opts writes plain followed by opts ("?a=1&b=2", or "") into url,
 * has the runner remove plain once the test ends, and returns url.
 */
static inline const char *test_url_opts(char *url, size_t size, const char *plain,
					const char *opts)
{
	snprintf(url, size, "%s%s", plain, opts);
	test_cleanup_url(plain);
	return url;
}

/*
 * test_sysv_key returns a System V key unique to this test process: base
 * (its top byte tells one test program's keys from another's) with the
 * pid and a counter, sixteen keys per process.
 */
static inline unsigned test_sysv_key(unsigned base)
{
	static unsigned counter;
	return base | (((unsigned)getpid() & 0xffff) << 4) | (counter++ & 0xf);
}

/*
 * test_sysv_url writes "SCHEME://0xKEY" and opts into url for a new key
 * from test_sysv_key(base), removed when the test ends, and returns the key.
 */
static inline unsigned test_sysv_url(char *url, size_t size, const char *scheme, unsigned base,
				     const char *opts)
{
	unsigned key = test_sysv_key(base);
	char plain[64];
	snprintf(plain, sizeof(plain), "%s://0x%08x", scheme, key);
	test_url_opts(url, size, plain, opts);
	return key;
}

/*
 * open_ok opens url with flags or fails the test. It allows a second for
 * opens that wait for the other side; the rest ignore the timeout.
 */
static inline ipcx_chan *open_ok(const char *url, int flags)
{
	ipcx_chan *ch = NULL;
	CHECK_RC(ipcx_open(&ch, url, flags, 1000), 0);
	return ch;
}

/*
 * expect_msg receives with selector, waiting up to two seconds, and fails
 * the test unless the message is text with type want_type.
 */
static inline void expect_msg(ipcx_chan *ch, long selector, const char *text, long want_type)
{
	char buf[8192];
	long type = 0;
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), selector, &type, 2000), (long)strlen(text));
	CHECK(memcmp(buf, text, strlen(text)) == 0);
	CHECK(type == want_type);
}

/* wait_child_ok reaps pid and fails the test unless it exited with status 0. */
static inline void wait_child_ok(pid_t pid)
{
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * run_capture runs a shell command and puts the start of its standard
 * output in out ("" when it could not run). Returns its exit status, or -1.
 */
static inline int run_capture(const char *cmd, char *out, size_t size)
{
	out[0] = '\0';
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	int rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

#endif /* IPCX_TEST_UTIL_H */
