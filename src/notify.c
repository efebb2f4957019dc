/* notify.c - sd_notify(3) messages and sd_listen_fds(3) sockets, through libsystemd. */
#define _GNU_SOURCE
#include "cachet/notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "cachet/clock.h"

/* STATUS= is one line: a newline in it would start another assignment, so it becomes a space. */
static int notify_with_status(const char *head, const char *status)
{
	char line[512];
	snprintf(line, sizeof(line), "%s", status ? status : "");
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return sd_notifyf(0, "%s\nSTATUS=%s", head, line);
}

int cachet_notify_ready(const char *status)
{
	return notify_with_status("READY=1", status);
}

int cachet_notify_reloading(void)
{
	return sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=rescanning",
	                  (long long)(cachet_clock_mono_ns() / 1000));
}

int cachet_notify_stopping(const char *status)
{
	return notify_with_status("STOPPING=1", status);
}

int cachet_notify_listen_fds(int *fds, unsigned max)
{
	int n = sd_listen_fds(1);
	if (n <= 0)
		return n < 0 ? n : 0;
	if ((unsigned)n > max)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
			return -EINVAL;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fds[i] = fd;
	}
	return n;
}
