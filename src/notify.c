/* notify.c - the sd_notify(3) and sd_listen_fds(3) protocols, spoken directly.
 *
 * Both are documented by systemd as stable interfaces meant for reimplementation (sd_notify(3)
 * NOTES, systemd.io "The sd_notify protocol", sd_listen_fds(3)): one datagram to the socket named
 * in NOTIFY_SOCKET, and descriptors 3.. named by LISTEN_PID/LISTEN_FDS. Linking libsystemd for
 * these two calls cost ~0.9 MB of RSS (it maps libgcrypt, liblzma, liblz4, libcap, libgpg-error)
 * and put those libraries in the server's address space: the 2024 xz backdoor reached sshd
 * through exactly that link. */
#define _GNU_SOURCE
#include "cachet/notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cachet/clock.h"
#include "cachet/span.h"

/* Where sd_listen_fds(3) puts the first passed descriptor (SD_LISTEN_FDS_START). */
#define LISTEN_FDS_START 3

/*
 * Sends msg as one datagram to $NOTIFY_SOCKET. Unset: 0, nothing sent (not under systemd, or
 * not Type=notify). "/path" is a socket in the file system, "@name" one in the abstract
 * namespace; anything else (systemd >= 254 also knows "vsock:") is -EAFNOSUPPORT, which the
 * callers ignore like any other failure: a lost notification must not stop the server.
 * Returns 1 when sent, as sd_notify() does. The environment is left as it is (libsystemd's
 * unset_environment 0), so a reload can notify again.
 */
static int notify_send(const char *msg)
{
	const char *e = getenv("NOTIFY_SOCKET");
	if (!e)
		return 0;
	if (e[0] != '/' && e[0] != '@')
		return -EAFNOSUPPORT;
	/* A path keeps room for its NUL; an abstract name is the bytes after a leading NUL, with no
	 * terminator, and may fill sun_path. */
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t len = strlen(e);
	if (len < 2 || len > sizeof(a.sun_path) - (e[0] == '/'))
		return -EINVAL;
	memcpy(a.sun_path, e, len);
	if (a.sun_path[0] == '@')
		a.sun_path[0] = '\0';
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* No SCM_CREDENTIALS: the kernel attaches ours when the manager asks (SO_PASSCRED), and
	 * cachet never speaks for another pid. MSG_NOSIGNAL: a gone manager is an error value. */
	size_t n = strlen(msg);
	ssize_t sent = sendto(fd, msg, n, MSG_NOSIGNAL, (const struct sockaddr *)&a, alen);
	int rc = sent < 0 ? -errno : (size_t)sent == n ? 1 : -EIO;
	close(fd);
	return rc;
}

/* STATUS= is one line: a newline in it would start another assignment, so it becomes a space. */
static int notify_with_status(const char *head, const char *status)
{
	char msg[560];
	int n = snprintf(msg, sizeof(msg), "%s\nSTATUS=%.511s", head, status ? status : "");
	if (n < 0)
		return -EINVAL;
	for (char *p = msg + strlen(head) + 1; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return notify_send(msg);
}

int cachet_notify_ready(const char *status)
{
	return notify_with_status("READY=1", status);
}

int cachet_notify_reloading(void)
{
	char msg[96];
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=rescanning",
	         (long long)(cachet_clock_mono_ns() / 1000));
	return notify_send(msg);
}

int cachet_notify_stopping(const char *status)
{
	return notify_with_status("STOPPING=1", status);
}

/* A whole environment value as a decimal (no sign, no space, no suffix: "1x" is not 1), in
 * [1, max]; 0 when it is not one. */
static long env_positive(const char *v, long max)
{
	uint64_t x = 0;
	struct cachet_span s = {v, strlen(v)};
	long digits = cachet_span_scan_u64(s, &x);
	if (digits <= 0 || (size_t)digits != s.len || x > (uint64_t)max)
		return 0;
	return (long)x;
}

/* A socket systemd passed is usable when it is a stream socket already listening (a datagram
 * or unbound one would make accept fail in every worker). */
static bool is_listening_stream(int fd)
{
	int type = 0, acc = 0;
	socklen_t l1 = sizeof(type), l2 = sizeof(acc);
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) == 0 && type == SOCK_STREAM &&
	       getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l2) == 0 && acc;
}

/* LISTEN_PID names the process the descriptors are for (a child started by cachet must not
 * take them): another pid, or none, is 0. A LISTEN_FDS that is not a positive decimal is
 * -EINVAL, as in libsystemd. */
static int listen_count(void)
{
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	if (!pid || env_positive(pid, INT32_MAX) != (long)getpid() || !fds)
		return 0;
	long n = env_positive(fds, INT32_MAX - LISTEN_FDS_START);
	return n > 0 ? (int)n : -EINVAL;
}

int cachet_notify_listen_fds(int *fds, unsigned max)
{
	int n = listen_count();
	/* As sd_listen_fds(1), whatever the outcome: nothing cachet starts inherits them. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n <= 0)
		return n;
	if ((unsigned)n > max)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		int fd = LISTEN_FDS_START + i;
		if (!is_listening_stream(fd) || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			return -EINVAL;
		fds[i] = fd;
	}
	return n;
}
