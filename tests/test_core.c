/*
 * test_core.c - URL parsing, errors and the frame codec, without a peer.
 */
#include "harness.h"
#include "../src/core/ipcx_impl.h"

#include <stdint.h>

static void parse_ok(struct ipcx__url *u, const char *text)
{
	int rc = ipcx__url_parse(u, text);
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "parse '%s' = %s: %s", text, ipcx_errname(rc),
			  ipcx_errmsg());
}

static void parse_fails(const char *text, int want, const char *named)
{
	struct ipcx__url u;
	int rc = ipcx__url_parse(&u, text);
	if (rc != want)
		test_fail(__FILE__, __LINE__, "parse '%s' = %d (%s), want %s", text, rc,
			  ipcx_errname(rc), ipcx_errname(want));
	if (named && !strstr(ipcx_errmsg(), named))
		test_fail(__FILE__, __LINE__, "errmsg '%s' does not name '%s'", ipcx_errmsg(),
			  named);
}

static void test_url_options(void)
{
	struct ipcx__url u;
	parse_ok(&u, "fifo:///tmp/x?mode=0640&maxmsg=1KiB&frame=line");
	CHECK(strcmp(u.scheme, "fifo") == 0);
	CHECK(strcmp(u.address, "/tmp/x") == 0);
	CHECK(u.has_mode && u.mode == 0640);
	CHECK(u.has_maxmsg && u.maxmsg == 1024);
	CHECK(u.frame == IPCX__FRAME_LINE);
	CHECK(strcmp(ipcx__url_opt(&u, "mode"), "0640") == 0);
	CHECK(ipcx__url_opt(&u, "cap") == NULL);
	ipcx__url_free(&u);
	parse_ok(&u, "pipe://?cap=64KiB");
	CHECK(u.has_cap && u.cap == 65536);
	CHECK(ipcx__url_mode(&u) == 0600);
	ipcx__url_free(&u);
	parse_ok(&u, "pipe://?cap=unbounded");
	CHECK(u.cap == SIZE_MAX);
	ipcx__url_free(&u);
}

static void test_url_sizes(void)
{
	size_t v;
	CHECK_RC(ipcx__parse_size("4096", &v), 0);
	CHECK(v == 4096);
	CHECK_RC(ipcx__parse_size("2M", &v), 0);
	CHECK(v == 2u << 20);
	CHECK_RC(ipcx__parse_size("1GiB", &v), 0);
	CHECK(v == 1u << 30);
	CHECK_RC(ipcx__parse_size("12Q", &v), -EINVAL);
	CHECK_RC(ipcx__parse_size("", &v), -EINVAL);
	CHECK_RC(ipcx__parse_size("-1", &v), -EINVAL);
	CHECK_RC(ipcx__parse_size("99999999999999999999999", &v), -EINVAL);
}

static void test_url_errors_name_the_part(void)
{
	parse_fails("fifo:///tmp/x?capp=1", -EINVAL, "capp");
	parse_fails("fifo:///tmp/x?mode=0999", -EINVAL, "0999");
	parse_fails("fifo:///tmp/x?mode", -EINVAL, "mode");
	parse_fails("fifo:///tmp/x?mode=0600&mode=0644", -EINVAL, "twice");
	parse_fails("pipe://?cap=lots", -EINVAL, "lots");
	parse_fails("pipe://?frame=xml", -EINVAL, "xml");
	parse_fails("bogus:///x", -EINVAL, "bogus");
	parse_fails("://x", -EINVAL, "scheme");
	parse_fails("a b", -EINVAL, "space");
	parse_fails("", -EINVAL, "empty");
	parse_fails("host:1234", -EINVAL, "host:1234");
}

static void test_bare_name_is_shm(void)
{
	struct ipcx__url u;
	int rc = ipcx__url_parse(&u, "orders");
	if (ipcx__transport_find("shm")) {
		CHECK_RC(rc, 0);
		CHECK(strcmp(u.scheme, "shm") == 0 && strcmp(u.address, "orders") == 0);
		ipcx__url_free(&u);
	} else {
		CHECK_RC(rc, -ENOTSUP);
		CHECK(strstr(ipcx_errmsg(), "shm://"));
	}
}

static void test_errors_from_one_list(void)
{
	CHECK(strcmp(ipcx_strerror(-ENOMSG), "no message of desired type") == 0);
	CHECK(strcmp(ipcx_errname(-EMSGSIZE), "EMSGSIZE") == 0);
	CHECK(strcmp(ipcx_errname(-EOWNERDEAD), "EOWNERDEAD") == 0);
	CHECK(strcmp(ipcx_strerror(0), "success") == 0);
	CHECK(strcmp(ipcx_strerror(-4095), "unknown error") == 0);
	CHECK(strcmp(ipcx_cap_name(IPCX_CAP_TYPED), "typed") == 0);
	CHECK(ipcx_cap_name(3) == NULL);
}

static void test_frame_codec(void)
{
	unsigned char hdr[IPCX__FRAME_HDR];
	size_t len;
	long type;
	ipcx__frame_encode(hdr, 12345, 77);
	CHECK_RC(ipcx__frame_decode(hdr, 1 << 20, &len, &type), 0);
	CHECK(len == 12345 && type == 77);
	CHECK_RC(ipcx__frame_decode(hdr, 100, &len, &type), -EPROTO);
	for (int i = 0; i < IPCX__FRAME_HDR; i++) {
		unsigned char bad[IPCX__FRAME_HDR];
		memcpy(bad, hdr, sizeof(bad));
		bad[i] ^= 0x10;
		CHECK_RC(ipcx__frame_decode(bad, 1 << 20, &len, &type), -EPROTO);
	}
	ipcx__frame_encode(hdr, 0, 0);
	CHECK_RC(ipcx__frame_decode(hdr, 1 << 20, &len, &type), -EPROTO);
}

static void test_hello_codec(void)
{
	unsigned char h[IPCX__HELLO_LEN];
	size_t agreed;
	ipcx__hello_encode(h, 4096);
	CHECK_RC(ipcx__hello_decode(h, 1 << 20, &agreed), 0);
	CHECK(agreed == 4096);
	CHECK_RC(ipcx__hello_decode(h, 100, &agreed), 0);
	CHECK(agreed == 100);
	memcpy(h, "hell", 4);
	CHECK_RC(ipcx__hello_decode(h, 100, &agreed), -EPROTO);
	CHECK(strstr(ipcx_errmsg(), "not an ipcx endpoint"));
}

static void test_registry(void)
{
	size_t n = 0;
	for (const char *name; (name = ipcx_transport_name(n)); n++) {
		const struct ipcx__transport *tp = ipcx__transport_find(name);
		CHECK(tp && tp->send && tp->recv && tp->close);
		CHECK(tp->open || tp->pair);
		struct ipcx_caps caps;
		CHECK_RC(ipcx_transport_caps(name, &caps), 0);
		CHECK(caps.max_msg > 0);
	}
	CHECK(n >= 3);
	struct ipcx_caps caps;
	CHECK_RC(ipcx_transport_caps("nosuch", &caps), -ENOENT);
	CHECK_RC(ipcx_transport_caps("fifo:///tmp/x", &caps), 0);
}

static void test_open_flags(void)
{
	ipcx_chan *ch;
	CHECK_RC(ipcx_open(&ch, "fifo:///tmp/x", 0, 0), -EINVAL);
	CHECK_RC(ipcx_open(&ch, "fifo:///tmp/x", IPCX_SEND | IPCX_EXCL, 0), -EINVAL);
	CHECK_RC(ipcx_open(&ch, "pipe://", IPCX_SEND, 0), -ENOTSUP);
	CHECK_RC(ipcx_open(&ch, "fifo://relative", IPCX_RECV, 0), -EINVAL);
	ipcx_chan *ends[2];
	CHECK_RC(ipcx_pair("fifo:///tmp/x", ends), -ENOTSUP);
}

/* send_to_gone_reader sends on a pipe whose reader is closed: -EPIPE, alive. */
static void send_to_gone_reader(void)
{
	ipcx_chan *ends[2];
	CHECK_RC(ipcx_pair("pipe://", ends), 0);
	ipcx_close(ends[0]);
	CHECK_RC(ipcx_send(ends[1], "x", 1, 1, 0), -EPIPE);
	CHECK_RC(ipcx_send(ends[1], "x", 1, 1, -1), -EPIPE);
	ipcx_close(ends[1]);
}

/* A pipe send never raises SIGPIPE, whether the process ignores it or not. */
static void test_pipe_never_raises_sigpipe(void)
{
	sigset_t pending;
	signal(SIGPIPE, SIG_DFL);
	send_to_gone_reader();
	sigpending(&pending);
	CHECK(!sigismember(&pending, SIGPIPE));
	signal(SIGPIPE, SIG_IGN);
	send_to_gone_reader();
}

/*
 * A send whose deadline passes after part of a frame is written returns 0
 * and keeps the rest; a receive waiting for the reply writes it, so
 * request/reply over a small buffer never deadlocks.
 */
static void test_partial_send_finished_by_recv(void)
{
	enum { LEN = 12000 };
	static unsigned char msg[LEN], got[LEN];
	ipcx_chan *ends[2];
	CHECK_RC(ipcx_pair("spipe://?cap=4KiB", ends), 0);
	for (int i = 0; i < LEN; i++)
		msg[i] = (unsigned char)(i * 7);
	pid_t pid = fork();
	if (pid == 0) {
		ipcx_close(ends[0]);
		ssize_t n = ipcx_recv(ends[1], got, sizeof(got), 0, NULL, 5000);
		CHECK_RC(n, LEN);
		CHECK(memcmp(got, msg, LEN) == 0);
		CHECK_RC(ipcx_send(ends[1], "ok", 2, 1, 5000), 0);
		ipcx_close(ends[1]);
		_exit(0);
	}
	ipcx_close(ends[1]);
	CHECK_RC(ipcx_send(ends[0], msg, LEN, 1, 0), 0);
	CHECK_RC(ipcx_recv(ends[0], got, sizeof(got), 0, NULL, 5000), 2);
	CHECK(memcmp(got, "ok", 2) == 0);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ipcx_close(ends[0]);
}

static const struct test_case tests[] = {
	{"partial_send_finished_by_recv", test_partial_send_finished_by_recv},
	{"pipe_never_raises_sigpipe", test_pipe_never_raises_sigpipe},
	{"url_options", test_url_options},
	{"url_sizes", test_url_sizes},
	{"url_errors_name_the_part", test_url_errors_name_the_part},
	{"bare_name_is_shm", test_bare_name_is_shm},
	{"errors_from_one_list", test_errors_from_one_list},
	{"frame_codec", test_frame_codec},
	{"hello_codec", test_hello_codec},
	{"registry", test_registry},
	{"open_flags", test_open_flags},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
