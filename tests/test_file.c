/*
 * test_file.c - file:///path, the durable log: records survive their writer,
 * each consumer takes each record once, many writers never mix, a writer
 * killed in the middle of a record leaves nothing a reader would take.
 */
#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/stat.h>

#define LOG_HDR 32 /* docs/file-log.md */
#define REC_HDR 20

struct log_name {
	char path[200];
	char url[256];
};

/* new_log names a fresh log under /tmp and has the runner remove it. */
static void new_log(struct log_name *n, const char *opts)
{
	char uniq[64];
	snprintf(n->path, sizeof(n->path), "/tmp/%s", test_unique(uniq, sizeof(uniq), "ipcx-file"));
	snprintf(n->url, sizeof(n->url), "file://%s%s", n->path, opts);
	char plain[256];
	snprintf(plain, sizeof(plain), "file://%s", n->path);
	test_cleanup_url(plain);
}

/* A record's payload: its writer, its sequence number, then a pattern of both. */
static size_t fill_record(unsigned char *buf, size_t len, unsigned writer, unsigned seq)
{
	memcpy(buf, &writer, 4);
	memcpy(buf + 4, &seq, 4);
	for (size_t i = 8; i < len; i++)
		buf[i] = (unsigned char)(writer * 31 + seq * 7 + i);
	return len;
}

static void check_record(const unsigned char *buf, size_t len, unsigned *writer, unsigned *seq)
{
	CHECK(len >= 8);
	memcpy(writer, buf, 4);
	memcpy(seq, buf + 4, 4);
	for (size_t i = 8; i < len; i++)
		CHECK(buf[i] == (unsigned char)(*writer * 31 + *seq * 7 + i));
}

static void send_str(ipcx_chan *ch, const char *s, long type)
{
	CHECK_RC(ipcx_send(ch, s, strlen(s), type, 0), 0);
}

static void recv_str(ipcx_chan *ch, const char *want, long want_type)
{
	char buf[256];
	long type = 0;
	ssize_t n = ipcx_recv(ch, buf, sizeof(buf), 0, &type, 1000);
	CHECK_RC(n, (ssize_t)strlen(want));
	CHECK(memcmp(buf, want, strlen(want)) == 0);
	CHECK(type == want_type);
}

static void recv_str_once(const char *url, const char *want, long want_type)
{
	ipcx_chan *ch = open_ok(url, IPCX_RECV);
	recv_str(ch, want, want_type);
	ipcx_close(ch);
}

static void expect_empty(ipcx_chan *ch)
{
	char buf[16];
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0), -ENOMSG);
}

/* Messages written by a process that has exited are read with their types. */
static void test_survives_writer(void)
{
	struct log_name n;
	new_log(&n, "");
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_chan *w = open_ok(n.url, IPCX_SEND | IPCX_CREATE);
		send_str(w, "first", 1);
		send_str(w, "", 7);
		send_str(w, "third", 42);
		ipcx_close(w);
		_exit(0);
	}
	wait_child_ok(pid);
	ipcx_chan *r = open_ok(n.url, IPCX_RECV);
	recv_str(r, "first", 1);
	recv_str(r, "", 7);
	recv_str(r, "third", 42);
	expect_empty(r);
	char buf[8];
	CHECK_RC(ipcx_recv(r, buf, sizeof(buf), 0, NULL, 20), -ETIMEDOUT);
	CHECK_RC(ipcx_recv(r, buf, sizeof(buf), 5, NULL, 0), -ENOTSUP);
	ipcx_close(r);
}

/* Successive opens of the default consumer get successive messages, each once. */
static void test_successive_receivers(void)
{
	struct log_name n;
	new_log(&n, "");
	ipcx_chan *w = open_ok(n.url, IPCX_SEND | IPCX_CREATE);
	send_str(w, "one", 1);
	send_str(w, "two", 1);
	send_str(w, "three", 1);
	recv_str_once(n.url, "one", 1);
	recv_str_once(n.url, "two", 1);
	recv_str_once(n.url, "three", 1);
	ipcx_chan *r = open_ok(n.url, IPCX_RECV);
	expect_empty(r);
	ipcx_close(r);
	ipcx_close(w);
}

/* Named consumers keep their own offsets; from=start replays, from=end skips. */
static void test_named_consumers(void)
{
	struct log_name n;
	new_log(&n, "");
	char a[300], a_start[300], b_end[300];
	snprintf(a, sizeof(a), "%s?consumer=audit", n.url);
	snprintf(a_start, sizeof(a_start), "%s?consumer=audit&from=start", n.url);
	snprintf(b_end, sizeof(b_end), "%s?consumer=late&from=end", n.url);
	ipcx_chan *w = open_ok(n.url, IPCX_SEND | IPCX_CREATE);
	send_str(w, "x", 1);
	send_str(w, "y", 2);
	recv_str_once(n.url, "x", 1);
	recv_str_once(a, "x", 1);
	recv_str_once(a, "y", 2);
	recv_str_once(n.url, "y", 2);
	ipcx_chan *late = open_ok(b_end, IPCX_RECV);
	expect_empty(late);
	ipcx_chan *replay = open_ok(a_start, IPCX_RECV);
	recv_str(replay, "x", 1);
	recv_str(replay, "y", 2);
	send_str(w, "z", 3);
	recv_str(late, "z", 3);
	recv_str(replay, "z", 3);
	ipcx_close(replay);
	ipcx_close(late);
	ipcx_close(w);
}

#define WRITERS 4
#define PER_WRITER 250

/* Writers in four processes append at once; every record arrives whole, once, in each writer's order. */
static void test_many_writers(void)
{
	struct log_name n;
	new_log(&n, "?sync=never");
	ipcx_close(open_ok(n.url, IPCX_SEND | IPCX_CREATE | IPCX_EXCL));
	pid_t pids[WRITERS];
	for (unsigned w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		if (pids[w] == 0) {
			ipcx_chan *ch = open_ok(n.url, IPCX_SEND);
			unsigned char buf[600];
			for (unsigned s = 0; s < PER_WRITER; s++)
				CHECK_RC(ipcx_send(ch, buf, fill_record(buf, 8 + (s * 13) % 590, w, s),
						   w + 1, 0), 0);
			ipcx_close(ch);
			_exit(0);
		}
	}
	ipcx_chan *r = open_ok(n.url, IPCX_RECV);
	unsigned next[WRITERS] = {0};
	for (int i = 0; i < WRITERS * PER_WRITER; i++) {
		unsigned char buf[600];
		long type;
		ssize_t len = ipcx_recv(r, buf, sizeof(buf), 0, &type, 10000);
		CHECK(len >= 8);
		unsigned w, s;
		check_record(buf, (size_t)len, &w, &s);
		CHECK(w < WRITERS && type == (long)w + 1);
		CHECK(s == next[w]);
		CHECK((size_t)len == 8 + (s * 13) % 590);
		next[w]++;
	}
	expect_empty(r);
	for (unsigned w = 0; w < WRITERS; w++)
		wait_child_ok(pids[w]);
	ipcx_close(r);
}

#define SHARED_RECORDS 400

/* Two processes share the default consumer: between them each record is taken exactly once. */
static void test_many_receivers(void)
{
	struct log_name n;
	new_log(&n, "?sync=never");
	ipcx_chan *w = open_ok(n.url, IPCX_SEND | IPCX_CREATE);
	unsigned char buf[64];
	for (unsigned s = 0; s < SHARED_RECORDS; s++)
		CHECK_RC(ipcx_send(w, buf, fill_record(buf, 40, 0, s), 1, 0), 0);
	ipcx_close(w);
	unsigned char *seen = mmap(NULL, SHARED_RECORDS, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(seen != MAP_FAILED);
	pid_t pids[2];
	for (int c = 0; c < 2; c++) {
		pids[c] = fork();
		if (pids[c] == 0) {
			ipcx_chan *r = open_ok(n.url, IPCX_RECV);
			ssize_t len;
			while ((len = ipcx_recv(r, buf, sizeof(buf), 0, NULL, 0)) > 0) {
				unsigned wr, s;
				check_record(buf, (size_t)len, &wr, &s);
				CHECK(s < SHARED_RECORDS);
				__atomic_fetch_add(&seen[s], 1, __ATOMIC_SEQ_CST);
			}
			CHECK_RC(len, -ENOMSG);
			ipcx_close(r);
			_exit(0);
		}
	}
	for (int c = 0; c < 2; c++)
		wait_child_ok(pids[c]);
	for (unsigned s = 0; s < SHARED_RECORDS; s++)
		CHECK(seen[s] == 1);
}

/* A blocked receiver wakes when another process appends; its fd polls readable. */
static void test_waits_for_writer(void)
{
	struct log_name n;
	new_log(&n, "");
	ipcx_chan *r = open_ok(n.url, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = {0, 30 * 1000 * 1000};
		nanosleep(&ts, NULL);
		ipcx_chan *w = open_ok(n.url, IPCX_SEND);
		send_str(w, "late news", 1);
		nanosleep(&ts, NULL);
		send_str(w, "polled", 2);
		ipcx_close(w);
		_exit(0);
	}
	recv_str(r, "late news", 1);
	struct pollfd p = {.fd = ipcx_fd(r), .events = POLLIN};
	CHECK(p.fd >= 0);
	char buf[32];
	ssize_t got;
	while ((got = ipcx_recv(r, buf, sizeof(buf), 0, NULL, 0)) == -ENOMSG)
		CHECK(poll(&p, 1, 5000) == 1);
	CHECK_RC(got, 6);
	CHECK(memcmp(buf, "polled", 6) == 0);
	wait_child_ok(pid);
	ipcx_close(r);
}

/* log_with_one makes a fresh log, opens it both ways and appends one record. */
static ipcx_chan *log_with_one(struct log_name *n, const char *text, long type)
{
	new_log(n, "");
	ipcx_chan *ch = open_ok(n->url, IPCX_SEND | IPCX_RECV | IPCX_CREATE);
	send_str(ch, text, type);
	return ch;
}

/* A record larger than the buffer stays for the next call. */
static void test_small_buffer_keeps(void)
{
	struct log_name n;
	ipcx_chan *ch = log_with_one(&n, "a message of some length", 3);
	char small[4];
	CHECK_RC(ipcx_recv(ch, small, sizeof(small), 0, NULL, 0), -EMSGSIZE);
	recv_str(ch, "a message of some length", 3);
	ipcx_close(ch);
}

static off_t file_size(const char *path)
{
	struct stat st;
	CHECK(stat(path, &st) == 0);
	return st.st_size;
}

/* append_raw adds bytes to the end of the file without the lock, as a dying writer would. */
static void append_raw(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, p, len) == (ssize_t)len);
	close(fd);
}

/* Half a record past the commit point is never read, and the next writer replaces it. */
static void test_torn_tail_ignored(void)
{
	struct log_name n;
	new_log(&n, "");
	ipcx_chan *w = open_ok(n.url, IPCX_SEND | IPCX_CREATE);
	send_str(w, "whole", 1);
	off_t committed = file_size(n.path);
	/* A header promising 100 bytes, then 10 of them. */
	unsigned char torn[REC_HDR + 10] = {'I', 'X', 'R', '1', 100};
	append_raw(n.path, torn, sizeof(torn));
	ipcx_chan *r = open_ok(n.url, IPCX_RECV);
	recv_str(r, "whole", 1);
	expect_empty(r);
	send_str(w, "after the crash", 5);
	recv_str(r, "after the crash", 5);
	expect_empty(r);
	CHECK(file_size(n.path) == committed + REC_HDR + 15);
	ipcx_close(r);
	ipcx_close(w);
}

/* A flipped byte in a committed record is -EPROTO, never a message. */
static void test_corruption_detected(void)
{
	struct log_name n;
	ipcx_chan *ch = log_with_one(&n, "precious", 1);
	int fd = open(n.path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "P", 1, LOG_HDR + REC_HDR) == 1);
	close(fd);
	char buf[32];
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0), -EPROTO);
	CHECK(strstr(ipcx_errmsg(), "checksum") != NULL);
	ipcx_close(ch);
}

/* A header whose commit offset points past the end of the file is -EPROTO for both sides. */
static void test_commit_past_end_refused(void)
{
	struct log_name n;
	ipcx_chan *ch = log_with_one(&n, "precious", 1);
	/* ipcx_unlink refuses a log with a corrupt header: remove the files as files. */
	char consumer[256];
	snprintf(consumer, sizeof(consumer), "%s.ipcx-consumer.default", n.path);
	test_cleanup_path(n.path);
	test_cleanup_path(consumer);
	uint64_t lie = (uint64_t)file_size(n.path) + 4096;
	int fd = open(n.path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, &lie, 8, 16) == 8);
	close(fd);
	char buf[32];
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, 0), -EPROTO);
	CHECK_RC(ipcx_send(ch, "x", 1, 1, 0), -EPROTO);
	CHECK(strstr(ipcx_errmsg(), "corrupt header") != NULL);
	CHECK(file_size(n.path) < (off_t)lie);
	ipcx_close(ch);
}

/* A consumer offset file another user planted beside the log is refused, not trusted. */
static void test_planted_offset_refused(void)
{
	if (geteuid() != 0)
		SKIP("needs root to plant a file owned by another user");
	struct log_name n;
	new_log(&n, "");
	ipcx_chan *w = open_ok(n.url, IPCX_SEND | IPCX_CREATE);
	send_str(w, "precious", 1);
	char planted[256];
	snprintf(planted, sizeof(planted), "%s.ipcx-consumer.default", n.path);
	int fd = open(planted, O_WRONLY | O_CREAT | O_EXCL, 0666);
	CHECK(fd >= 0);
	CHECK(fchown(fd, 65534, 65534) == 0);
	close(fd);
	ipcx_chan *r;
	CHECK_RC(ipcx_open(&r, n.url, IPCX_RECV, 0), -EACCES);
	CHECK(strstr(ipcx_errmsg(), "not trusting") != NULL);
	ipcx_close(w);
}

/* log_commit reads the commit offset from the log header (docs/file-log.md). */
static off_t log_commit(const char *path)
{
	uint64_t commit = 0;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK(pread(fd, &commit, 8, 16) == 8);
	close(fd);
	return (off_t)commit;
}

#define BIG_RECORD ((size_t)512 * 1024)

/* kill_writer_child appends big numbered records until it is killed. */
static void kill_writer_child(const char *url)
{
	ipcx_chan *w = open_ok(url, IPCX_SEND);
	unsigned char *buf = malloc(BIG_RECORD);
	CHECK(buf != NULL);
	for (unsigned s = 0;; s++)
		CHECK_RC(ipcx_send(w, buf, fill_record(buf, BIG_RECORD - (s % 3), 0, s), 1, -1), 0);
}

/*
 * A writer SIGKILLed while appending big records (most of its time is spent
 * inside the write of one): every record it completed is read back exactly
 * once, in order, followed by what a later writer appended.
 */
static void test_writer_killed_mid_record(void)
{
	struct log_name n;
	new_log(&n, "?sync=never");
	char watch_url[300];
	snprintf(watch_url, sizeof(watch_url), "%s&consumer=watch", n.url);
	ipcx_chan *watch = open_ok(watch_url, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0)
		kill_writer_child(n.url);
	unsigned char *buf = malloc(BIG_RECORD);
	CHECK(buf != NULL);
	for (int i = 0; i < 3; i++)
		CHECK(ipcx_recv(watch, buf, BIG_RECORD, 0, NULL, 10000) > 0);
	kill(pid, SIGKILL);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
	ipcx_close(watch);
	fprintf(stderr, "  the killed writer left a torn tail of %lld bytes\n",
		(long long)(file_size(n.path) - log_commit(n.path)));
	ipcx_chan *w = open_ok(n.url, IPCX_SEND);
	send_str(w, "after", 9);
	ipcx_close(w);
	ipcx_chan *r = open_ok(n.url, IPCX_RECV);
	unsigned expect = 0;
	for (;;) {
		long type;
		ssize_t len = ipcx_recv(r, buf, BIG_RECORD, 0, &type, 0);
		CHECK(len > 0);
		if (type == 9) {
			CHECK(len == 5 && memcmp(buf, "after", 5) == 0);
			break;
		}
		unsigned wr, s;
		CHECK((size_t)len == BIG_RECORD - (expect % 3));
		check_record(buf, (size_t)len, &wr, &s);
		CHECK(s == expect);
		expect++;
	}
	CHECK(expect >= 3);
	expect_empty(r);
	ipcx_close(r);
	free(buf);
}

/* Objects: 0600 unless ?mode=, O_EXCL, no symlinks, only ipcx logs opened or removed. */
static void test_objects(void)
{
	struct log_name n, m;
	new_log(&n, "");
	new_log(&m, "?mode=0640");
	ipcx_chan *ch = NULL;
	CHECK_RC(ipcx_open(&ch, n.url, IPCX_RECV, 0), -ENOENT);
	ipcx_close(open_ok(n.url, IPCX_SEND | IPCX_RECV | IPCX_CREATE));
	ipcx_close(open_ok(m.url, IPCX_SEND | IPCX_CREATE));
	struct stat st;
	CHECK(stat(n.path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(m.path, &st) == 0 && (st.st_mode & 0777) == 0640);
	CHECK_RC(ipcx_open(&ch, n.url, IPCX_SEND | IPCX_CREATE | IPCX_EXCL, 0), -EEXIST);

	char link_path[256], link_url[300];
	snprintf(link_path, sizeof(link_path), "%s.link", n.path);
	test_cleanup_path(link_path);
	CHECK(symlink(n.path, link_path) == 0);
	snprintf(link_url, sizeof(link_url), "file://%s", link_path);
	CHECK_RC(ipcx_open(&ch, link_url, IPCX_SEND | IPCX_CREATE, 0), -ELOOP);

	char plain_path[256], plain_url[300];
	snprintf(plain_path, sizeof(plain_path), "%s.txt", n.path);
	test_cleanup_path(plain_path);
	append_raw(plain_path, "just some text, not a log\n", 26);
	snprintf(plain_url, sizeof(plain_url), "file://%s", plain_path);
	CHECK_RC(ipcx_open(&ch, plain_url, IPCX_RECV, 0), -EPROTO);
	CHECK_RC(ipcx_unlink(plain_url), -ENOTTY);
	CHECK(access(plain_path, F_OK) == 0);

	char consumer_file[300];
	snprintf(consumer_file, sizeof(consumer_file), "%s.ipcx-consumer.default", n.path);
	CHECK(access(consumer_file, F_OK) == 0);
	CHECK_RC(ipcx_unlink(n.url), 0);
	CHECK(access(n.path, F_OK) < 0 && access(consumer_file, F_OK) < 0);
	CHECK_RC(ipcx_unlink(n.url), -ENOENT);
}

/* Bad options are -EINVAL naming the option; every sync policy works. */
static void test_options(void)
{
	static const char *const bad[] = {"?sync=sometimes", "?consumer=../x", "?consumer=.hidden",
					  "?from=middle", "?colour=red"};
	struct log_name n;
	new_log(&n, "");
	ipcx_chan *ch = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char url[300];
		snprintf(url, sizeof(url), "%s%s", n.url, bad[i]);
		CHECK_RC(ipcx_open(&ch, url, IPCX_RECV | IPCX_CREATE, 0), -EINVAL);
	}
	CHECK_RC(ipcx_open(&ch, "file://relative/path", IPCX_RECV | IPCX_CREATE, 0), -EINVAL);
	static const char *const syncs[] = {"?sync=always", "?sync=batch", "?sync=never"};
	for (size_t i = 0; i < sizeof(syncs) / sizeof(syncs[0]); i++) {
		char url[300];
		snprintf(url, sizeof(url), "%s%s", n.url, syncs[i]);
		ch = open_ok(url, IPCX_SEND | IPCX_RECV | IPCX_CREATE);
		send_str(ch, syncs[i], 1);
		recv_str(ch, syncs[i], 1);
		ipcx_close(ch);
	}
	struct ipcx_caps caps;
	CHECK_RC(ipcx_transport_caps("file", &caps), 0);
	CHECK(caps.flags & IPCX_CAP_SURVIVES_REBOOT);
	CHECK(!(caps.flags & IPCX_CAP_TYPED));
}

/* A receiver waiting on a log that is removed gets -EIDRM, not a hang. */
static void test_removed_while_waiting(void)
{
	struct log_name n;
	new_log(&n, "");
	ipcx_chan *r = open_ok(n.url, IPCX_RECV | IPCX_CREATE);
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = {0, 30 * 1000 * 1000};
		nanosleep(&ts, NULL);
		CHECK_RC(ipcx_unlink(n.url), 0);
		_exit(0);
	}
	char buf[8];
	CHECK_RC(ipcx_recv(r, buf, sizeof(buf), 0, NULL, -1), -EIDRM);
	wait_child_ok(pid);
	ipcx_close(r);
}

static const struct test_case tests[] = {
	{"survives_writer", test_survives_writer},
	{"successive_receivers", test_successive_receivers},
	{"named_consumers", test_named_consumers},
	{"many_writers", test_many_writers},
	{"many_receivers", test_many_receivers},
	{"waits_for_writer", test_waits_for_writer},
	{"small_buffer_keeps", test_small_buffer_keeps},
	{"torn_tail_ignored", test_torn_tail_ignored},
	{"corruption_detected", test_corruption_detected},
	{"commit_past_end_refused", test_commit_past_end_refused},
	{"planted_offset_refused", test_planted_offset_refused},
	{"writer_killed_mid_record", test_writer_killed_mid_record},
	{"objects", test_objects},
	{"options", test_options},
	{"removed_while_waiting", test_removed_while_waiting},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
