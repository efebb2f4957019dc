/* reload.h - rescans ROOT on its own thread and swaps the new generation in without a lost request;
 * and the client side of `cachet --reload`. */
#ifndef CACHET_RELOAD_H
#define CACHET_RELOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cachet/config.h"
#include "cachet/metrics.h"
#include "cachet/worker.h"

#define CACHET_RELOAD_HELD_MAX 16

struct cachet_reloader {
	const struct cachet_config *cfg;
	struct cachet_shared *shared;
	struct cachet_worker *workers;
	unsigned n_workers;
	struct cachet_metrics *metrics; /* set before start; NULL: not counted */
	pthread_t thread;
	pthread_mutex_t
	    lock; /* guards the fields below; taken by the main thread and the reloader */
	pthread_cond_t cond;
	bool pending; /* a rescan was asked for; several requests coalesce into one */
	bool stop;
	atomic_bool quit; /* set by cachet_reloader_stop before it locks: ends a wait for acks, and
	                     background compression between two files */

	/* reloader-thread only */
	uint64_t generation; /* of the generation last published (every publication has its own) */
	uint64_t version;    /* the content generation reported: one per rescan, not per variants */
	uint64_t rescans;    /* finished rescans, good or failed */
	char status_path[4096];
	/* generations a worker had not acknowledged leaving (see old_release in reload.c) */
	struct cachet_store *held[CACHET_RELOAD_HELD_MAX];
	unsigned n_held;
};

/** Starts the reload thread. The current generation must be published already. */
int cachet_reloader_start(struct cachet_reloader *r, const struct cachet_config *cfg,
                          struct cachet_shared *shared, struct cachet_worker *workers,
                          unsigned n_workers);

/** Asks for a rescan (from the main thread on SIGHUP, or the --watch thread).
 */
void cachet_reloader_request(struct cachet_reloader *r);

/** Stops the reload thread, waiting for a rescan in progress to finish; a wait for the workers'
 *  acknowledgements in it ends at once (the old generation is then held, see below). */
void cachet_reloader_stop(struct cachet_reloader *r);

/** After the reload thread and every worker have stopped: drops the generations held for a
 *  worker that had not acknowledged a newer one. */
void cachet_reloader_release(struct cachet_reloader *r);

/**
 * Writes text to path atomically and without following symlinks: a fresh temporary file beside
 * it (O_CREAT|O_EXCL), then rename. For the pid file and the status file, which live in
 * directories such as /tmp where others may plant links. Returns 0 or -errno.
 */
int cachet_reload_file_write(const char *path, const char *text, size_t len);

/** The default pid file: /run/cachet.pid when /run is writable, else $XDG_RUNTIME_DIR/cachet.pid,
 *  else /tmp/cachet.pid. The server and `--reload` both use it. */
void cachet_reload_default_pid_file(char *out, size_t outlen);

/** Path of the status file beside a pid file: "<pid_file>.status". */
void cachet_reload_status_path(const char *pid_file, char *out, size_t outlen);

/**
 * `cachet --reload`: sends SIGHUP to the server named by pid_file, waits for the status of a
 * rescan that started after the signal was sent (one that certainly saw the caller's changes,
 * however SIGHUPs were merged or coalesced), prints it. Returns the exit status: 0 reloaded, 1 the
 * rescan failed (the old content keeps serving), 2 no server is running or the pid is not a
 * cachet's (checked through /proc before signalling).
 */
int cachet_reload_client(const char *pid_file);

#endif
