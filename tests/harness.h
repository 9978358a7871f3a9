/*
 * harness.h - the test runner every C test program uses.
 *
 * Each test body runs in its own forked process group with a time limit,
 * so a crash, a hang or a failed check ends only that test. Objects a test
 * registers with test_cleanup_url()/test_cleanup_path() are removed by the
 * runner after the body ends, whatever way it ended.
 *
 *   static void test_roundtrip(void) { CHECK(ipcx_send(...) == 0); }
 *   static const struct test_case tests[] = { {"roundtrip", test_roundtrip}, };
 *   int main(int argc, char **argv) { return test_main(argc, argv, tests, N); }
 *
 * Run one test: ./prog NAME; several: ./prog SUBSTRING.
 */
#ifndef IPCX_TEST_HARNESS_H
#define IPCX_TEST_HARNESS_H

#include "ipcx.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct test_case {
	const char *name;
	void (*fn)(void);
};

/* Exit status of a test that skips itself: the runner reports the reason. */
#define TEST_SKIP_STATUS 77

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);     \
	} while (0)

/* CHECK_RC: an ipcx call must return want; prints both names and errmsg. */
#define CHECK_RC(expr, want)                                                   \
	do {                                                                   \
		long long got_ = (long long)(expr);                            \
		long long want_ = (long long)(want);                           \
		if (got_ != want_)                                             \
			test_fail(__FILE__, __LINE__, "%s = %lld (%s), want %lld (%s); %s", \
				  #expr, got_, got_ < 0 ? ipcx_errname((int)got_) : "", \
				  want_, want_ < 0 ? ipcx_errname((int)want_) : "", \
				  ipcx_errmsg());                              \
	} while (0)

#define SKIP(...) test_skip(__VA_ARGS__)

static inline void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
static inline void test_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* What the runner removes after the body ends (shared with the child). */
struct test_cleanup {
	int n;
	struct {
		char is_url;
		char name[256];
	} items[32];
};
static struct test_cleanup *test_cleanups;
static int test_timeout_s = 30;

static inline void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "  %s:%d: ", file, line);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	_exit(1);
}

static inline void test_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "  skipped: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	_exit(TEST_SKIP_STATUS);
}

static inline void test_cleanup_add(int is_url, const char *name)
{
	struct test_cleanup *c = test_cleanups;
	if (!c || c->n == (int)(sizeof(c->items) / sizeof(c->items[0])))
		return;
	c->items[c->n].is_url = (char)is_url;
	snprintf(c->items[c->n].name, sizeof(c->items[0].name), "%s", name);
	c->n++;
}

/* test_cleanup_url: ipcx_unlink(url) once the test ends, however it ends. */
static inline void test_cleanup_url(const char *url)
{
	test_cleanup_add(1, url);
}

/* test_cleanup_path: unlink(path) once the test ends, however it ends. */
static inline void test_cleanup_path(const char *path)
{
	test_cleanup_add(0, path);
}

/* test_unique fills buf with prefix + "-<pid>-<counter>", unique on this machine. */
static inline const char *test_unique(char *buf, size_t size, const char *prefix)
{
	static unsigned counter;
	snprintf(buf, size, "%s-%d-%u", prefix, (int)getpid(), counter++);
	return buf;
}

/* Last registered, first removed: an object may need what was made before it (an ftok path). */
static inline void test_run_cleanups(void)
{
	for (int i = test_cleanups->n - 1; i >= 0; i--) {
		if (test_cleanups->items[i].is_url)
			ipcx_unlink(test_cleanups->items[i].name);
		else
			unlink(test_cleanups->items[i].name);
	}
	test_cleanups->n = 0;
}

/* test_run_one forks the body, enforces the time limit, and reports. */
static inline int test_run_one(const struct test_case *t)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		t->fn();
		fflush(NULL);
		_exit(0);
	}
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	int status = 0;
	struct timespec tick = {0, 5 * 1000 * 1000};
	long waited_ms = 0;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (waited_ms >= test_timeout_s * 1000L) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "  timed out after %d s\n", test_timeout_s);
			status = -1;
			break;
		}
		nanosleep(&tick, NULL);
		waited_ms += 5;
	}
	kill(-pid, SIGKILL); /* leftover grandchildren */
	test_run_cleanups();
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("ok   %s\n", t->name);
		return 0;
	}
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP_STATUS) {
		printf("skip %s\n", t->name);
		return 0;
	}
	if (status != -1 && WIFSIGNALED(status))
		fprintf(stderr, "  killed by signal %d\n", WTERMSIG(status));
	printf("FAIL %s\n", t->name);
	return 1;
}

/*
 * test_main runs every test whose name contains argv[1] (all without it)
 * and returns non-zero when any failed. IPCX_TEST_TIMEOUT sets the per-test
 * limit in seconds (default 30).
 */
static inline int test_main(int argc, char **argv, const struct test_case *tests, size_t n)
{
	const char *filter = argc > 1 ? argv[1] : "";
	const char *limit = getenv("IPCX_TEST_TIMEOUT");
	if (limit && atoi(limit) > 0)
		test_timeout_s = atoi(limit);
	test_cleanups = mmap(NULL, sizeof(*test_cleanups), PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (test_cleanups == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	int failed = 0, ran = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strstr(tests[i].name, filter))
			continue;
		ran++;
		failed += test_run_one(&tests[i]);
	}
	printf("%d of %d tests failed\n", failed, ran);
	return failed || ran == 0;
}

#endif /* IPCX_TEST_HARNESS_H */
