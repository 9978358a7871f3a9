/*
 * test_sockets.c - the socket transports: unix:// (path and abstract),
 * unixseq://, unixdgram:// and tcp://, each between real processes.
 *
 * Most tests run once per kind of address ("unix", "abstract", "unixseq",
 * "unixdgram", "tcp", "tcp6"): the test name ends with the kind. Children
 * are forked and exchange real bytes with the parent; socket files are
 * registered for removal however the test ends.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

/* Long enough never to expire on a slow machine; tests never time them. */
#define OPEN_MS 10000
#define IO_MS 10000

/* ---- addresses -------------------------------------------------------- */

/* free_port returns a TCP port on host (AF_INET or AF_INET6 loopback) nobody uses now. */
static int free_port(int family)
{
	struct sockaddr_storage ss = {.ss_family = (sa_family_t)family};
	socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	if (family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	int fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				       : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/*
 * make_url writes a fresh address of kind into buf, with "?opts" when opts
 * is not NULL, and registers a socket file for removal.
 */
static const char *make_url(char *buf, size_t size, const char *kind, const char *opts)
{
	char name[96];
	test_unique(name, sizeof(name), "ipcx-sock");
	const char *q = opts ? "?" : "", *o = opts ? opts : "";
	if (strcmp(kind, "abstract") == 0) {
		snprintf(buf, size, "unix://@%s%s%s", name, q, o);
	} else if (strncmp(kind, "tcp", 3) == 0) {
		bool v6 = strcmp(kind, "tcp6") == 0;
		int port = free_port(v6 ? AF_INET6 : AF_INET);
		if (port < 0)
			SKIP("no %s loopback here", v6 ? "IPv6" : "IPv4");
		snprintf(buf, size, v6 ? "tcp://[::1]:%d%s%s" : "tcp://127.0.0.1:%d%s%s", port, q, o);
	} else {
		snprintf(buf, size, "%s:///tmp/%s.sock%s%s", kind, name, q, o);
		test_cleanup_url(buf);
	}
	return buf;
}

/* url_path gives the file of a path URL ("unix:///tmp/x.sock?..." -> "/tmp/x.sock"). */
static const char *url_path(const char *url, char *buf, size_t size)
{
	const char *p = strstr(url, ":///") + 3;
	snprintf(buf, size, "%.*s", (int)strcspn(p, "?"), p);
	return buf;
}

/* ---- processes ------------------------------------------------------- */

static const char *child_url; /* the address a forked child works on */
static int child_arg;         /* and a number it is told */

/* spawn forks a child that runs fn and exits 0 when fn returns. */
static pid_t spawn(void (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	return pid;
}

/* reap waits for a child and checks that it succeeded. */
static void reap(pid_t pid)
{
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static ipcx_chan *open_listener(const char *url)
{
	ipcx_chan *ch;
	CHECK_RC(ipcx_open(&ch, url, IPCX_CREATE | IPCX_SEND | IPCX_RECV, 0), 0);
	return ch;
}

static ipcx_chan *open_peer(const char *url)
{
	ipcx_chan *ch;
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND | IPCX_RECV, OPEN_MS), 0);
	return ch;
}

static void send_text(ipcx_chan *ch, const char *text, long type)
{
	CHECK_RC(ipcx_send(ch, text, strlen(text), type, IO_MS), 0);
}

/* expect_text receives one message and checks its bytes and type. */
static void expect_text(ipcx_chan *ch, const char *want, long want_type)
{
	char buf[256];
	long type = 0;
	ssize_t n = ipcx_recv(ch, buf, sizeof(buf), 0, &type, IO_MS);
	CHECK_RC(n, (ssize_t)strlen(want));
	CHECK(memcmp(buf, want, strlen(want)) == 0);
	CHECK(type == want_type);
}

/* ---- both ways between two processes ----------------------------------- */

#define ROUNDS 20

static void roundtrip_child(void)
{
	ipcx_chan *ch = open_peer(child_url);
	char text[64];
	for (int i = 0; i < ROUNDS; i++) {
		snprintf(text, sizeof(text), "ping %d", i);
		send_text(ch, text, i + 1);
		snprintf(text, sizeof(text), "pong %d", i);
		expect_text(ch, text, 100 + i);
	}
	ipcx_close(ch);
}

static void roundtrip(const char *kind)
{
	char url[256], text[64];
	child_url = make_url(url, sizeof(url), kind, NULL);
	ipcx_chan *l = open_listener(url);
	pid_t pid = spawn(roundtrip_child);
	for (int i = 0; i < ROUNDS; i++) {
		snprintf(text, sizeof(text), "ping %d", i);
		expect_text(l, text, i + 1);
		snprintf(text, sizeof(text), "pong %d", i);
		send_text(l, text, 100 + i);
	}
	reap(pid);
	ipcx_close(l);
}

/* ---- a sender that starts before its receiver -------------------------- */

static void early_child(void)
{
	ipcx_chan *ch;
	CHECK_RC(ipcx_open(&ch, child_url, IPCX_SEND, OPEN_MS), 0);
	send_text(ch, "early", 3);
	ipcx_close(ch);
}

static void connect_first(const char *kind)
{
	char url[256];
	child_url = make_url(url, sizeof(url), kind, NULL);
	pid_t pid = spawn(early_child);
	/* Give the child a head start; either order must work. */
	struct timespec ts = {0, 50 * 1000 * 1000};
	nanosleep(&ts, NULL);
	ipcx_chan *l = open_listener(url);
	expect_text(l, "early", 3);
	reap(pid);
	ipcx_close(l);
}

/* ---- three peers at once ------------------------------------------------ */

#define PEERS 3
#define EACH 300

static void peer_child(void)
{
	ipcx_chan *ch = open_peer(child_url);
	char text[64];
	for (int i = 0; i < EACH; i++) {
		snprintf(text, sizeof(text), "%d:%d", child_arg, i);
		send_text(ch, text, child_arg + 1);
	}
	expect_text(ch, "bye", 9);
	ipcx_close(ch);
}

static void three_peers(const char *kind)
{
	char url[256], buf[64];
	int next[PEERS] = {0};
	pid_t pids[PEERS];
	child_url = make_url(url, sizeof(url), kind, NULL);
	ipcx_chan *l = open_listener(url);
	for (int k = 0; k < PEERS; k++) {
		child_arg = k;
		pids[k] = spawn(peer_child);
	}
	for (int i = 0; i < PEERS * EACH; i++) {
		long type;
		ssize_t n = ipcx_recv(l, buf, sizeof(buf) - 1, 0, &type, IO_MS);
		CHECK(n > 0);
		buf[n] = '\0';
		int who, seq;
		CHECK(sscanf(buf, "%d:%d", &who, &seq) == 2);
		CHECK(who >= 0 && who < PEERS && type == who + 1);
		/* Each peer's messages arrive once each, in its order. */
		CHECK(seq == next[who]);
		next[who]++;
		if (next[who] == EACH)
			send_text(l, "bye", 9); /* goes to the peer of the last message */
	}
	for (int k = 0; k < PEERS; k++)
		reap(pids[k]);
	ipcx_close(l);
}

/* ---- a listener with several silent peers cannot guess whom to answer -- */

static int ready_pipe[2];

static void silent_child(void)
{
	ipcx_chan *ch = open_peer(child_url);
	char c = 'r', buf[16];
	CHECK(write(ready_pipe[1], &c, 1) == 1);
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, -1), -EPIPE);
	ipcx_close(ch);
}

static void no_last_peer(const char *kind)
{
	char url[256], c;
	child_url = make_url(url, sizeof(url), kind, NULL);
	CHECK(pipe(ready_pipe) == 0);
	ipcx_chan *l = open_listener(url);
	pid_t a = spawn(silent_child), b = spawn(silent_child);
	CHECK(read(ready_pipe[0], &c, 1) == 1 && read(ready_pipe[0], &c, 1) == 1);
	CHECK_RC(ipcx_send(l, "x", 1, 1, 0), -ENOTCONN);
	ipcx_close(l); /* both peers see the end */
	reap(a);
	reap(b);
}

/* ---- socket files -------------------------------------------------------- */

/* make_stale leaves a socket file at path that nobody listens on. */
static void make_stale(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	CHECK(snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) < (int)sizeof(sa.sun_path));
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(fd);
}

static void check_mode(const char *path, unsigned mode)
{
	struct stat st;
	CHECK(lstat(path, &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK((st.st_mode & 0777) == mode);
}

static void stale_replaced(const char *kind)
{
	char url[256], path[256];
	make_url(url, sizeof(url), kind, NULL);
	make_stale(url_path(url, path, sizeof(path)));
	ipcx_chan *l = open_listener(url);
	check_mode(path, 0600);
	child_url = url;
	pid_t pid = spawn(early_child);
	expect_text(l, "early", 3);
	reap(pid);
	ipcx_close(l);
}

static void test_mode_option(void)
{
	char url[256], path[256];
	make_url(url, sizeof(url), "unix", "mode=0640");
	ipcx_chan *l = open_listener(url);
	check_mode(url_path(url, path, sizeof(path)), 0640);
	ipcx_close(l);
}

static void live_listener(const char *kind)
{
	char url[256];
	ipcx_chan *second;
	make_url(url, sizeof(url), kind, NULL);
	ipcx_chan *l = open_listener(url);
	CHECK_RC(ipcx_open(&second, url, IPCX_CREATE | IPCX_RECV, 0), -EADDRINUSE);
	CHECK(strstr(ipcx_errmsg(), "listening") != NULL);
	if (strncmp(kind, "tcp", 3) != 0)
		CHECK_RC(ipcx_open(&second, url, IPCX_CREATE | IPCX_EXCL | IPCX_RECV, 0), -EEXIST);
	ipcx_close(l);
}

static void test_not_a_socket(void)
{
	char url[256], path[256];
	ipcx_chan *ch;
	struct stat st;
	make_url(url, sizeof(url), "unix", NULL);
	url_path(url, path, sizeof(path));
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
	test_cleanup_path(path);
	CHECK_RC(ipcx_open(&ch, url, IPCX_CREATE | IPCX_RECV, 0), -EEXIST);
	CHECK_RC(ipcx_unlink(url), -ENOTSOCK);
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
}

static void test_unlink(void)
{
	char url[256], path[256];
	struct stat st;
	make_url(url, sizeof(url), "unixseq", NULL);
	ipcx_close(open_listener(url));
	CHECK(lstat(url_path(url, path, sizeof(path)), &st) == 0); /* closing leaves the name */
	CHECK_RC(ipcx_unlink(url), 0);
	CHECK(lstat(path, &st) < 0 && errno == ENOENT);
	CHECK_RC(ipcx_unlink(url), -ENOENT);
	CHECK_RC(ipcx_unlink(make_url(url, sizeof(url), "abstract", NULL)), -ENOTSUP);
}

/* ---- peers that do not speak ipcx ----------------------------------------- */

/* raw_connect connects a plain socket of type to a unix path or 127.0.0.1 port URL. */
static int raw_connect(const char *url, int type)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int port;
	if (sscanf(url, "tcp://127.0.0.1:%d", &port) == 1) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in);
	} else {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;
		char path[256];
		un->sun_family = AF_UNIX;
		CHECK(snprintf(un->sun_path, sizeof(un->sun_path), "%s",
			       url_path(url, path, sizeof(path))) < (int)sizeof(un->sun_path));
		len = sizeof(*un);
	}
	int fd = socket(ss.ss_family, type, 0);
	CHECK(fd >= 0);
	CHECK(connect(fd, (struct sockaddr *)&ss, len) == 0);
	return fd;
}

static int child_type; /* the socket type a raw child uses */

/* hello_child talks like a text client, then waits for the listener to hang up. */
static void hello_child(void)
{
	int fd = raw_connect(child_url, child_type);
	char buf[64];
	CHECK(send(fd, "hello\n", 6, MSG_NOSIGNAL) == 6);
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
}

static void not_ipcx(const char *kind)
{
	char url[256];
	char buf[64];
	child_url = make_url(url, sizeof(url), kind, NULL);
	child_type = strcmp(kind, "unixseq") == 0 ? SOCK_SEQPACKET : SOCK_STREAM;
	ipcx_chan *l = open_listener(url);
	pid_t raw = spawn(hello_child);
	CHECK_RC(ipcx_recv(l, buf, sizeof(buf), 0, NULL, IO_MS), -EPROTO);
	CHECK(strstr(ipcx_errmsg(), "not an ipcx endpoint") != NULL);
	reap(raw); /* it was dropped: it saw the end */
	/* The listener goes on serving real peers. */
	pid_t pid = spawn(early_child);
	expect_text(l, "early", 3);
	reap(pid);
	ipcx_close(l);
}

/* line_child is a plain tool on a frame=line listener: text lines both ways. */
static void line_child(void)
{
	int fd = raw_connect(child_url, SOCK_STREAM);
	char buf[64];
	size_t got = 0;
	CHECK(send(fd, "alpha\nbeta\n", 11, MSG_NOSIGNAL) == 11);
	while (got < 6) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);
		CHECK(n > 0);
		got += (size_t)n;
	}
	CHECK(got == 6 && memcmp(buf, "gamma\n", 6) == 0);
	close(fd);
}

static void frame_line(const char *kind)
{
	char url[256];
	child_url = make_url(url, sizeof(url), kind, "frame=line");
	ipcx_chan *l = open_listener(url);
	pid_t pid = spawn(line_child);
	expect_text(l, "alpha", 1);
	expect_text(l, "beta", 1);
	send_text(l, "gamma", 1);
	reap(pid);
	ipcx_close(l);
}

static const char *child_reply; /* what a raw record child expects back */

/* record_child is a plain program on a record socket: one record out, one back. */
static void record_child(void)
{
	int fd = raw_connect(child_url, child_type);
	struct sockaddr_un self = {.sun_family = AF_UNIX};
	char buf[64];
	/* A datagram socket needs a name (autobind) to be answered. */
	if (child_type == SOCK_DGRAM)
		CHECK(bind(fd, (struct sockaddr *)&self, sizeof(sa_family_t)) == 0);
	CHECK(send(fd, "alpha\n", 6, MSG_NOSIGNAL) == 6);
	size_t want = strlen(child_reply);
	CHECK(recv(fd, buf, sizeof(buf), 0) == (ssize_t)want);
	CHECK(memcmp(buf, child_reply, want) == 0);
	close(fd);
}

/* A raw unixseq listener: each record is a message, no handshake, no header. */
static void test_seq_raw(void)
{
	char url[256];
	child_url = make_url(url, sizeof(url), "unixseq", "frame=raw");
	child_type = SOCK_SEQPACKET;
	child_reply = "gamma";
	ipcx_chan *l = open_listener(url);
	pid_t pid = spawn(record_child);
	expect_text(l, "alpha\n", 1);
	CHECK_RC(ipcx_send(l, "", 0, 1, IO_MS), -EINVAL); /* it would read as the end */
	send_text(l, "gamma", 1);
	reap(pid);
	ipcx_close(l);
}

/* A line unixdgram receiver answers a plain datagram socket, as socat's. */
static void test_dgram_line(void)
{
	char url[256];
	child_url = make_url(url, sizeof(url), "unixdgram", "frame=line");
	child_type = SOCK_DGRAM;
	child_reply = "gamma\n";
	ipcx_chan *l = open_listener(url);
	pid_t pid = spawn(record_child);
	expect_text(l, "alpha", 1);
	send_text(l, "gamma", 1);
	reap(pid);
	ipcx_close(l);
}

/* ---- peers that leave ---------------------------------------------------- */

/* one_shot_listener takes one message and exits, closing everything. */
static void one_shot_listener(void)
{
	ipcx_chan *l = open_listener(child_url);
	char c = 'r';
	CHECK(write(ready_pipe[1], &c, 1) == 1);
	expect_text(l, "last words", 2);
	_exit(0);
}

static void listener_exits(const char *kind)
{
	char url[256], buf[64], c;
	child_url = make_url(url, sizeof(url), kind, NULL);
	CHECK(pipe(ready_pipe) == 0);
	pid_t pid = spawn(one_shot_listener);
	CHECK(read(ready_pipe[0], &c, 1) == 1);
	ipcx_chan *ch = open_peer(url);
	send_text(ch, "last words", 2);
	CHECK_RC(ipcx_recv(ch, buf, sizeof(buf), 0, NULL, -1), -EPIPE);
	reap(pid);
	ipcx_close(ch);
}

static void peer_leaves(const char *kind)
{
	char url[256], buf[64];
	child_url = make_url(url, sizeof(url), kind, NULL);
	ipcx_chan *l = open_listener(url);
	pid_t pid = spawn(early_child);
	expect_text(l, "early", 3);
	reap(pid);
	/* One peer leaving is no end for a listener: it waits for others. */
	CHECK_RC(ipcx_recv(l, buf, sizeof(buf), 0, NULL, 100), -ETIMEDOUT);
	ipcx_close(l);
}

/* ---- limits and errors ----------------------------------------------------- */

static void big_child(void)
{
	ipcx_chan *ch = open_peer(child_url);
	char big[100];
	memset(big, 'b', sizeof(big));
	CHECK_RC(ipcx_send(ch, big, sizeof(big), 4, IO_MS), 0);
	send_text(ch, "after", 5);
	ipcx_close(ch);
}

static void small_buffer(const char *kind)
{
	char url[256], buf[200];
	long type;
	child_url = make_url(url, sizeof(url), kind, NULL);
	ipcx_chan *l = open_listener(url);
	pid_t pid = spawn(big_child);
	CHECK_RC(ipcx_recv(l, buf, 10, 0, &type, IO_MS), -EMSGSIZE);
	/* The message was kept for a large enough buffer. */
	CHECK_RC(ipcx_recv(l, buf, sizeof(buf), 0, &type, IO_MS), 100);
	CHECK(type == 4 && buf[0] == 'b' && buf[99] == 'b');
	expect_text(l, "after", 5);
	reap(pid);
	ipcx_close(l);
}

static void nowait(const char *kind)
{
	char url[256], buf[16];
	make_url(url, sizeof(url), kind, NULL);
	ipcx_chan *l = open_listener(url);
	CHECK_RC(ipcx_recv(l, buf, sizeof(buf), 0, NULL, 0), -ENOMSG);
	CHECK_RC(ipcx_recv(l, buf, sizeof(buf), 5, NULL, 0), -ENOTSUP);
	CHECK(ipcx_fd(l) >= 0);
	ipcx_close(l);
}

/* limit_child learns the listener's smaller limit from the handshake. */
static void limit_child(void)
{
	ipcx_chan *ch = open_peer(child_url);
	struct ipcx_caps caps;
	char big[2000] = {0};
	send_text(ch, "hi", 1);
	expect_text(ch, "ho", 1);
	CHECK_RC(ipcx_caps_of(ch, &caps), 0);
	CHECK(caps.max_msg == 1024);
	CHECK_RC(ipcx_send(ch, big, sizeof(big), 1, IO_MS), -EMSGSIZE);
	ipcx_close(ch);
}

static void handshake_limit(const char *kind)
{
	char url[256];
	make_url(url, sizeof(url), kind, "maxmsg=1024");
	ipcx_chan *l = open_listener(url);
	/* The child opens without ?maxmsg=: it offers the default. */
	char plain[256];
	snprintf(plain, sizeof(plain), "%.*s", (int)strcspn(url, "?"), url);
	child_url = plain;
	pid_t pid = spawn(limit_child);
	expect_text(l, "hi", 1);
	send_text(l, "ho", 1);
	reap(pid);
	ipcx_close(l);
}

static void test_dgram_limits(void)
{
	char url[256];
	struct ipcx_caps caps;
	ipcx_chan *rx, *tx;
	make_url(url, sizeof(url), "unixdgram", NULL);
	rx = open_listener(url);
	CHECK_RC(ipcx_caps_of(rx, &caps), 0);
	CHECK(caps.max_msg == 65536 - 16);
	tx = open_peer(url);
	size_t len = caps.max_msg;
	unsigned char *out = malloc(len), *in = malloc(len + 1);
	CHECK(out && in);
	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(i * 7);
	CHECK_RC(ipcx_send(tx, out, len, 2, IO_MS), 0);
	CHECK_RC(ipcx_send(tx, out, len + 1, 2, IO_MS), -EMSGSIZE);
	CHECK_RC(ipcx_recv(rx, in, len + 1, 0, NULL, IO_MS), (ssize_t)len);
	CHECK(memcmp(in, out, len) == 0);
	/* A reply goes to the sender of the last datagram. */
	CHECK_RC(ipcx_send(rx, out, 3, 6, IO_MS), 0);
	CHECK_RC(ipcx_recv(tx, in, len, 0, NULL, IO_MS), 3);
	free(out);
	free(in);
	ipcx_close(tx);
	ipcx_close(rx);
	make_url(url, sizeof(url), "unixdgram", "maxmsg=1G");
	CHECK_RC(ipcx_open(&rx, url, IPCX_CREATE | IPCX_RECV, 0), -EINVAL);
}

static void test_dgram_reply_unknown(void)
{
	char url[256];
	make_url(url, sizeof(url), "unixdgram", NULL);
	ipcx_chan *rx = open_listener(url);
	CHECK_RC(ipcx_send(rx, "x", 1, 1, 0), -ENOTCONN);
	ipcx_close(rx);
}

static void test_connect_refused(void)
{
	char url[256];
	ipcx_chan *ch;
	make_url(url, sizeof(url), "unix", NULL);
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND, 0), -ENOENT);
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND, 30), -ENOENT);
	make_url(url, sizeof(url), "abstract", NULL);
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND, 0), -ECONNREFUSED);
	make_url(url, sizeof(url), "tcp", NULL);
	CHECK_RC(ipcx_open(&ch, url, IPCX_SEND, 30), -ECONNREFUSED);
}

static void test_bad_urls(void)
{
	static const struct {
		const char *url;
		int err;
	} cases[] = {
		{"unix://relative/path", -EINVAL},
		{"unix://@", -EINVAL},
		{"unixseq://tmp", -EINVAL},
		{"tcp://127.0.0.1", -EINVAL},
		{"tcp://::1:80", -EINVAL},
		{"tcp://127.0.0.1:99999", -EINVAL},
		{"tcp://127.0.0.1:0", -EINVAL},
		{"tcp://[::1:80", -EINVAL},
		{"tcp://:80", -EINVAL},
		{"tcp://127.0.0.1:80?mode=0600", -EINVAL},
		{"unix:///tmp/x.sock?cap=0", -ENOTSUP},
		{"unix:///tmp/x.sock?cap=unbounded", -ENOTSUP},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ipcx_chan *ch;
		int rc = ipcx_open(&ch, cases[i].url, IPCX_SEND, 0);
		if (rc != cases[i].err)
			test_fail(__FILE__, __LINE__, "%s: %s, want %s (%s)", cases[i].url,
				  ipcx_errname(rc), ipcx_errname(cases[i].err), ipcx_errmsg());
	}
}

static void test_caps(void)
{
	static const struct {
		const char *scheme;
		unsigned want, absent;
	} cases[] = {
		{"unix", IPCX_CAP_CONNECTED | IPCX_CAP_BYTE_STREAM | IPCX_CAP_MANY_SENDERS,
		 IPCX_CAP_TYPED | IPCX_CAP_CROSS_HOST},
		{"unixseq", IPCX_CAP_CONNECTED | IPCX_CAP_MANY_SENDERS,
		 IPCX_CAP_TYPED | IPCX_CAP_BYTE_STREAM},
		{"unixdgram", IPCX_CAP_MANY_SENDERS | IPCX_CAP_FLOW_CONTROL,
		 IPCX_CAP_TYPED | IPCX_CAP_BYTE_STREAM},
		{"tcp", IPCX_CAP_CROSS_HOST | IPCX_CAP_BYTE_STREAM, IPCX_CAP_TYPED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ipcx_caps caps;
		CHECK_RC(ipcx_transport_caps(cases[i].scheme, &caps), 0);
		CHECK((caps.flags & cases[i].want) == cases[i].want);
		CHECK((caps.flags & cases[i].absent) == 0);
	}
}

/* The listener's descriptor polls readable when a peer has sent. */
static void pollable(const char *kind)
{
	char url[256];
	child_url = make_url(url, sizeof(url), kind, NULL);
	ipcx_chan *l = open_listener(url);
	pid_t pid = spawn(early_child);
	struct pollfd p = {.fd = ipcx_fd(l), .events = POLLIN};
	char buf[16];
	ssize_t n;
	/* A wake-up is not a promise: the first may be the connection itself. */
	while ((n = ipcx_recv(l, buf, sizeof(buf), 0, NULL, 0)) == -ENOMSG)
		CHECK(poll(&p, 1, IO_MS) == 1);
	CHECK_RC(n, 5);
	CHECK(memcmp(buf, "early", 5) == 0);
	reap(pid);
	ipcx_close(l);
}

/* ---- the table ------------------------------------------------------------ */

#define VARIANT(body, kind)                                                    \
	static void body##_##kind(void)                                        \
	{                                                                      \
		body(#kind);                                                   \
	}
#define CASE(body, kind) {#body "_" #kind, body##_##kind}

VARIANT(roundtrip, unix)
VARIANT(roundtrip, abstract)
VARIANT(roundtrip, unixseq)
VARIANT(roundtrip, unixdgram)
VARIANT(roundtrip, tcp)
VARIANT(roundtrip, tcp6)
VARIANT(connect_first, unix)
VARIANT(connect_first, unixseq)
VARIANT(connect_first, unixdgram)
VARIANT(connect_first, tcp)
VARIANT(three_peers, unix)
VARIANT(three_peers, unixseq)
VARIANT(three_peers, unixdgram)
VARIANT(three_peers, tcp)
VARIANT(no_last_peer, unix)
VARIANT(no_last_peer, tcp)
VARIANT(stale_replaced, unix)
VARIANT(stale_replaced, unixseq)
VARIANT(stale_replaced, unixdgram)
VARIANT(live_listener, unix)
VARIANT(live_listener, abstract)
VARIANT(live_listener, unixdgram)
VARIANT(live_listener, tcp)
VARIANT(not_ipcx, unix)
VARIANT(not_ipcx, unixseq)
VARIANT(not_ipcx, tcp)
VARIANT(frame_line, unix)
VARIANT(frame_line, tcp)
VARIANT(listener_exits, unix)
VARIANT(listener_exits, unixseq)
VARIANT(listener_exits, tcp)
VARIANT(peer_leaves, unix)
VARIANT(peer_leaves, unixseq)
VARIANT(peer_leaves, tcp)
VARIANT(small_buffer, unix)
VARIANT(small_buffer, unixseq)
VARIANT(small_buffer, unixdgram)
VARIANT(small_buffer, tcp)
VARIANT(nowait, unix)
VARIANT(nowait, unixseq)
VARIANT(nowait, unixdgram)
VARIANT(nowait, tcp)
VARIANT(handshake_limit, unix)
VARIANT(handshake_limit, unixseq)
VARIANT(handshake_limit, tcp)
VARIANT(pollable, unix)
VARIANT(pollable, unixseq)
VARIANT(pollable, unixdgram)
VARIANT(pollable, tcp)

static const struct test_case tests[] = {
	CASE(roundtrip, unix),
	CASE(roundtrip, abstract),
	CASE(roundtrip, unixseq),
	CASE(roundtrip, unixdgram),
	CASE(roundtrip, tcp),
	CASE(roundtrip, tcp6),
	CASE(connect_first, unix),
	CASE(connect_first, unixseq),
	CASE(connect_first, unixdgram),
	CASE(connect_first, tcp),
	CASE(three_peers, unix),
	CASE(three_peers, unixseq),
	CASE(three_peers, unixdgram),
	CASE(three_peers, tcp),
	CASE(no_last_peer, unix),
	CASE(no_last_peer, tcp),
	CASE(stale_replaced, unix),
	CASE(stale_replaced, unixseq),
	CASE(stale_replaced, unixdgram),
	{"mode_option", test_mode_option},
	CASE(live_listener, unix),
	CASE(live_listener, abstract),
	CASE(live_listener, unixdgram),
	CASE(live_listener, tcp),
	{"not_a_socket", test_not_a_socket},
	{"unlink", test_unlink},
	CASE(not_ipcx, unix),
	CASE(not_ipcx, unixseq),
	CASE(not_ipcx, tcp),
	CASE(frame_line, unix),
	CASE(frame_line, tcp),
	CASE(listener_exits, unix),
	CASE(listener_exits, unixseq),
	CASE(listener_exits, tcp),
	CASE(peer_leaves, unix),
	CASE(peer_leaves, unixseq),
	CASE(peer_leaves, tcp),
	CASE(small_buffer, unix),
	CASE(small_buffer, unixseq),
	CASE(small_buffer, unixdgram),
	CASE(small_buffer, tcp),
	CASE(nowait, unix),
	CASE(nowait, unixseq),
	CASE(nowait, unixdgram),
	CASE(nowait, tcp),
	CASE(handshake_limit, unix),
	CASE(handshake_limit, unixseq),
	CASE(handshake_limit, tcp),
	CASE(pollable, unix),
	CASE(pollable, unixseq),
	CASE(pollable, unixdgram),
	CASE(pollable, tcp),
	{"seq_raw", test_seq_raw},
	{"dgram_line", test_dgram_line},
	{"dgram_limits", test_dgram_limits},
	{"dgram_reply_unknown", test_dgram_reply_unknown},
	{"connect_refused", test_connect_refused},
	{"bad_urls", test_bad_urls},
	{"caps", test_caps},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
