/* service.h - cachet as a service: the access log and metrics threads, systemd's notifications and
 * sockets, and --replace (taking over from the server named by the pid file). main calls these at
 * fixed points of its start and stop, so that main.c keeps only the order of things. */
#ifndef CACHET_SERVICE_H
#define CACHET_SERVICE_H

#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "cachet/accesslog.h"
#include "cachet/config.h"
#include "cachet/metrics.h"
#include "cachet/notify.h"
#include "cachet/worker.h"

struct cachet_service {
	const struct cachet_config *cfg;
	struct cachet_metrics metrics; /* always counted; served only with --metrics */
	struct cachet_accesslog log;
	bool log_on;
	unsigned n_workers;
	pid_t replaced; /* --replace: the running server to take over from; 0: none */
	int inherited[CACHET_NOTIFY_FDS_MAX]; /* listening sockets from systemd */
	unsigned n_inherited;
};

/**
 * Before the listeners: opens the access log, binds the --metrics address, takes systemd's
 * sockets, and with --replace finds the running server. Returns 0, or -errno with a one-line
 * message in err (the caller exits 2).
 */
int cachet_service_open(struct cachet_service *sv, const struct cachet_config *cfg,
                        unsigned n_workers, char *err, size_t errlen);

/** Whether the listeners must skip the busy-port probe: --replace with a server running. */
bool cachet_service_replacing(const struct cachet_service *sv);

/**
 * Gives each worker its observation slots and, when socket-activated, its listening socket (a
 * duplicate of an inherited one, round-robin). Returns 0 or -errno.
 */
int cachet_service_attach(struct cachet_service *sv, struct cachet_worker *workers, unsigned n);

/**
 * Once the workers serve and the pid file names this process: starts the log writer and the
 * metrics listener, records the first generation, tells the replaced server to drain, and tells
 * systemd READY=1. Returns 0 or -errno (err set).
 */
int cachet_service_start(struct cachet_service *sv, const char *where, uint64_t files,
                         uint64_t bytes, char *err, size_t errlen);

/** A signal other than SIGHUP/SIGTERM/SIGINT: SIGUSR1 reopens the access log. */
void cachet_service_signal(struct cachet_service *sv, int sig);

/**
 * A graceful stop begins: /healthz turns 503, systemd hears STOPPING=1. When the stop came from a
 * --replace (si: SIGTERM queued with the new server's worker count), new connections are steered
 * to the new server's listeners first and ours get a moment to empty their queues (listen_fd:
 * any of ours). Returns when the workers may be told to stop.
 */
void cachet_service_drain(struct cachet_service *sv, const siginfo_t *si, int listen_fd);

/** After the workers exited: writes every log line left, stops the threads, frees. */
void cachet_service_close(struct cachet_service *sv);

/** The pid of a cachet still running per pid_file (kill(pid, 0) succeeds), else 0. */
pid_t cachet_service_running_pid(const char *pid_file);

#endif
