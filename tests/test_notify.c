/* test_notify.c - the sd_notify messages as a service manager receives them (the test binds a
 * datagram socket, in the file system or the abstract namespace, and names it in NOTIFY_SOCKET),
 * and socket activation as systemd hands it over (a listening socket moved onto descriptor 3,
 * LISTEN_PID and LISTEN_FDS set). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cachet/notify.h"

static int sock = -1;
static char dir[64];
static char path[96];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cachet-test-notify-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/notify", dir);
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (sock < 0 || bind(sock, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	setenv("NOTIFY_SOCKET", path, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(sock);
	unlink(path);
	rmdir(dir);
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

/* The next datagram on s, NUL-terminated; fails the test when none is waiting (every message is
 * sent before this is called, so there is nothing to wait for). */
static const char *next_on(int s)
{
	static char buf[1024];
	ssize_t n = recv(s, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
	return buf;
}

static const char *next_message(void)
{
	return next_on(sock);
}

static void ready_with_status(void **state)
{
	(void)state;
	assert_int_equal(cachet_notify_ready("a\nb"), 1);
	assert_string_equal(next_message(), "READY=1\nSTATUS=a b");
	assert_int_equal(cachet_notify_ready("serving 5 files\r\non 127.0.0.1:8080"), 1);
	assert_string_equal(next_message(), "READY=1\nSTATUS=serving 5 files  on 127.0.0.1:8080");
}

static void reloading_has_monotonic_usec(void **state)
{
	(void)state;
	assert_int_equal(cachet_notify_reloading(), 1);
	const char *m = next_message();
	assert_true(strncmp(m, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
	char *end = NULL;
	assert_true(strtoll(m + 27, &end, 10) > 0);
	assert_string_equal(end, "\nSTATUS=rescanning");
}

static void stopping(void **state)
{
	(void)state;
	assert_int_equal(cachet_notify_stopping("draining"), 1);
	assert_string_equal(next_message(), "STOPPING=1\nSTATUS=draining");
	/* the environment stays: a later reload notifies again */
	assert_string_equal(getenv("NOTIFY_SOCKET"), path);
}

/* "@name": the socket is in the abstract namespace, its address the name after a NUL byte. */
static void abstract_socket(void **state)
{
	(void)state;
	char name[64];
	int len = snprintf(name, sizeof(name), "cachet-test-notify-%d", (int)getpid());
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	memcpy(a.sun_path + 1, name, (size_t)len);
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
	assert_int_equal(bind(s, (struct sockaddr *)&a, alen), 0);

	char env[80];
	snprintf(env, sizeof(env), "@%s", name);
	setenv("NOTIFY_SOCKET", env, 1);
	int rc = cachet_notify_stopping("x");
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(rc, 1);
	assert_string_equal(next_on(s), "STOPPING=1\nSTATUS=x");
	close(s);
}

/* Without NOTIFY_SOCKET nothing is sent and nothing fails; an address family cachet does not
 * speak (vsock, a relative path) is an error value, never a crash. */
static void no_socket_is_quiet(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(cachet_notify_ready("x"), 0);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_int_equal(cachet_notify_ready("x"), -EAFNOSUPPORT);
	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	assert_int_equal(cachet_notify_ready("x"), -EAFNOSUPPORT);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_true(recv(sock, (char[8]){0}, 8, MSG_DONTWAIT) < 0);
	int fds[4];
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	assert_int_equal(cachet_notify_listen_fds(fds, 4), 0);
}

/* --- socket activation: systemd's descriptors start at 3 ---------------------------------- */

/* What the test process had at descriptors 3 and 4 (the notify socket, perhaps), moved aside
 * while a test puts systemd's sockets there, with their descriptor flags. */
static int saved[2] = {-1, -1};
static int saved_flags[2] = {-1, -1};

static int free_fds(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		saved_flags[i] = fcntl(3 + i, F_GETFD);
		saved[i] = saved_flags[i] < 0 ? -1 : fcntl(3 + i, F_DUPFD_CLOEXEC, 10);
		if (saved_flags[i] >= 0 && saved[i] < 0)
			return -1;
		close(3 + i);
	}
	return 0;
}

static int restore_fds(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		close(3 + i);
		if (saved[i] >= 0) {
			dup2(saved[i], 3 + i);
			fcntl(3 + i, F_SETFD, saved_flags[i]);
			close(saved[i]);
		}
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 0;
}

/* Moves descriptor s to fd, as systemd's exec leaves it: without FD_CLOEXEC. s may already be
 * fd (the lowest free descriptor). */
static void place_at(int s, int fd)
{
	if (s != fd) {
		assert_int_equal(dup2(s, fd), fd);
		close(s);
	}
	assert_int_equal(fcntl(fd, F_SETFD, 0), 0);
}

/* A TCP socket on 127.0.0.1, port chosen by the kernel, listening or not, placed at fd. */
static void tcp_at(int fd, int type, bool listening)
{
	int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	if (listening)
		assert_int_equal(listen(s, 8), 0);
	place_at(s, fd);
}

static void set_listen_env(long pid, const char *n)
{
	char v[32];
	snprintf(v, sizeof(v), "%ld", pid);
	setenv("LISTEN_PID", v, 1);
	setenv("LISTEN_FDS", n, 1);
	setenv("LISTEN_FDNAMES", "http", 1);
}

static void assert_listen_env_gone(void)
{
	assert_null(getenv("LISTEN_PID"));
	assert_null(getenv("LISTEN_FDS"));
	assert_null(getenv("LISTEN_FDNAMES"));
}

static void listen_fds_taken(void **state)
{
	(void)state;
	tcp_at(3, SOCK_STREAM, true);
	tcp_at(4, SOCK_STREAM, true);
	set_listen_env(getpid(), "2");
	int fds[4] = {-1, -1, -1, -1};
	assert_int_equal(cachet_notify_listen_fds(fds, 4), 2);
	assert_int_equal(fds[0], 3);
	assert_int_equal(fds[1], 4);
	assert_int_equal(fds[2], -1);
	assert_true(fcntl(3, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(4, F_GETFD) & FD_CLOEXEC);
	assert_listen_env_gone();
}

/* LISTEN_PID names another process (cachet's parent was passed them): not ours, 0, and the
 * variables are still removed so nothing cachet starts picks them up. */
static void listen_fds_other_pid(void **state)
{
	(void)state;
	tcp_at(3, SOCK_STREAM, true);
	set_listen_env((long)getpid() + 1, "1");
	int fds[1] = {-1};
	assert_int_equal(cachet_notify_listen_fds(fds, 1), 0);
	assert_int_equal(fds[0], -1);
	assert_false(fcntl(3, F_GETFD) & FD_CLOEXEC);
	assert_listen_env_gone();
	set_listen_env(getpid(), "1");
	setenv("LISTEN_PID", "0x1", 1);
	assert_int_equal(cachet_notify_listen_fds(fds, 1), 0);
}

/* LISTEN_FDS is parsed whole: "1x", "0", "-1", " 1" and an overflow are -EINVAL, not 1 or 0. */
static void listen_fds_strict(void **state)
{
	(void)state;
	tcp_at(3, SOCK_STREAM, true);
	const char *bad[] = {"1x", "0", "-1", " 1", "", "99999999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_listen_env(getpid(), bad[i]);
		int fds[1] = {-1};
		assert_int_equal(cachet_notify_listen_fds(fds, 1), -EINVAL);
		assert_int_equal(fds[0], -1);
		assert_listen_env_gone();
	}
}

/* What cachet cannot accept on is refused at start: a UDP socket, a TCP one not listening, a
 * descriptor that is not a socket, more sockets than cachet takes. */
static void listen_fds_unusable(void **state)
{
	(void)state;
	int fds[4];
	tcp_at(3, SOCK_DGRAM, false);
	set_listen_env(getpid(), "1");
	assert_int_equal(cachet_notify_listen_fds(fds, 4), -EINVAL);
	close(3);
	tcp_at(3, SOCK_STREAM, false);
	set_listen_env(getpid(), "1");
	assert_int_equal(cachet_notify_listen_fds(fds, 4), -EINVAL);
	close(3);
	place_at(open("/dev/null", O_RDONLY | O_CLOEXEC), 3);
	set_listen_env(getpid(), "1");
	assert_int_equal(cachet_notify_listen_fds(fds, 4), -EINVAL);
	close(3);
	tcp_at(3, SOCK_STREAM, true);
	tcp_at(4, SOCK_STREAM, true);
	set_listen_env(getpid(), "2");
	assert_int_equal(cachet_notify_listen_fds(fds, 1), -EINVAL);
	assert_listen_env_gone();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ready_with_status),
	    cmocka_unit_test(reloading_has_monotonic_usec),
	    cmocka_unit_test(stopping),
	    cmocka_unit_test(abstract_socket),
	    cmocka_unit_test(no_socket_is_quiet),
	    cmocka_unit_test_setup_teardown(listen_fds_taken, free_fds, restore_fds),
	    cmocka_unit_test_setup_teardown(listen_fds_other_pid, free_fds, restore_fds),
	    cmocka_unit_test_setup_teardown(listen_fds_strict, free_fds, restore_fds),
	    cmocka_unit_test_setup_teardown(listen_fds_unusable, free_fds, restore_fds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
