/* test_notify.c - the sd_notify messages as a service manager receives them: the test binds a
 * datagram socket and names it in NOTIFY_SOCKET. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "cachet/notify.h"

static int sock = -1;
static char path[64];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/cachet-test-notify-%d", (int)getpid());
	unlink(path);
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
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

static const char *next_message(void)
{
	static char buf[1024];
	ssize_t n = recv(sock, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
	return buf;
}

static void ready_with_status(void **state)
{
	(void)state;
	assert_true(cachet_notify_ready("serving 5 files\non 127.0.0.1:8080") > 0);
	assert_string_equal(next_message(), "READY=1\nSTATUS=serving 5 files on 127.0.0.1:8080");
}

static void reloading_has_monotonic_usec(void **state)
{
	(void)state;
	assert_true(cachet_notify_reloading() > 0);
	const char *m = next_message();
	assert_true(strncmp(m, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
	assert_true(strtoll(m + 27, NULL, 10) > 0);
}

static void stopping(void **state)
{
	(void)state;
	assert_true(cachet_notify_stopping("draining") > 0);
	assert_string_equal(next_message(), "STOPPING=1\nSTATUS=draining");
}

/* Without NOTIFY_SOCKET nothing is sent and nothing fails. */
static void no_socket_is_quiet(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(cachet_notify_ready("x"), 0);
	setenv("NOTIFY_SOCKET", path, 1);
	int fds[4];
	unsetenv("LISTEN_FDS");
	assert_int_equal(cachet_notify_listen_fds(fds, 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ready_with_status),
	    cmocka_unit_test(reloading_has_monotonic_usec),
	    cmocka_unit_test(stopping),
	    cmocka_unit_test(no_socket_is_quiet),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
