/* notify.h - telling systemd how the service is doing (the sd_notify protocol), and the listening
 * sockets it hands over (socket activation), without libsystemd. Without NOTIFY_SOCKET /
 * LISTEN_FDS, every call is a no-op. */
#ifndef CACHET_NOTIFY_H
#define CACHET_NOTIFY_H

#include <stdbool.h>

/** Most sockets cachet takes over from systemd. */
#define CACHET_NOTIFY_FDS_MAX 16

/** READY=1 with STATUS=status: once listening, and after each rescan. Returns 1 when sent, 0
 *  without NOTIFY_SOCKET, or -errno (-EAFNOSUPPORT: NOTIFY_SOCKET neither "/path" nor "@name"). */
int cachet_notify_ready(const char *status);

/** RELOADING=1 with MONOTONIC_USEC=now (systemd >= 253 wants it): a rescan begins. */
int cachet_notify_reloading(void);

/** STOPPING=1 with STATUS=status: a graceful stop (drain) begins. */
int cachet_notify_stopping(const char *status);

/**
 * The listening sockets systemd passed (LISTEN_FDS, LISTEN_PID; the variables are then unset so
 * that nothing cachet starts inherits them). Each must be a listening SOCK_STREAM socket; they are
 * made close-on-exec. Returns how many were stored in fds (0: not socket-activated, or LISTEN_PID
 * is not this process), or -EINVAL when LISTEN_FDS is not a positive decimal ("0", "1x"), one is
 * not a listening stream socket, or there are more than max.
 */
int cachet_notify_listen_fds(int *fds, unsigned max);

#endif
