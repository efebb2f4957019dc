/* worker.h - one thread, one io_uring, one SO_REUSEPORT listener, its connections. */
#ifndef CACHET_WORKER_H
#define CACHET_WORKER_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachet/observe.h"
#include "cachet/store.h"

/** State shared by every worker and the main/reload threads. Written rarely, read each loop turn.
 */
struct cachet_shared {
	/* The generation to serve. The publisher keeps a reference on it; see reload.c for how an
	 * old generation is reclaimed once every worker has acknowledged the new one. */
	_Atomic(struct cachet_store *) current;
	atomic_bool stopping; /* graceful stop: no new connections, finish responses in flight */
	size_t max_conns_per_worker;
	uint32_t header_timeout_s;    /* a request head must be complete this long after it began */
	uint32_t keepalive_timeout_s; /* an idle keep-alive connection is closed after this */
	uint32_t send_timeout_s; /* a send making no progress this long closes the connection */
	size_t zerocopy_min;     /* bodies of at least this many bytes go zero-copy; 0: never */
	bool http2;              /* the HTTP/2 preface selects HTTP/2 (--no-http2 clears it) */
};

/** What the main thread knows about a worker; the worker's private state lives in worker.c. */
struct cachet_worker {
	unsigned id;
	int cpu;                   /* pinned to this CPU; -1: not pinned */
	int listen_fd;             /* owned by the worker once started */
	bool listen_shared;        /* a duplicate of a socket systemd passed: never shut it down */
	struct cachet_observe obs; /* where this worker counts and logs (issue 13) */
	int wake_fd; /* eventfd: written by others to make the worker look at cachet_shared;
	              * owned by the worker's start/join, -1 once joined */
	struct cachet_shared *shared;
	/* Generation number the worker serves from, stored after it took its reference. */
	atomic_uint_fast64_t gen_seen;
	atomic_bool exited;
	pthread_t thread;
	sem_t *started; /* posted once the ring is set up (start_rc says how it went) */
	int start_rc;
};

/** Starts the worker's thread. The thread reports through w->started. Returns 0 or -errno. */
int cachet_worker_start(struct cachet_worker *w);

/** Waits for a started worker's thread to end (after cachet_shared.stopping and a wake), then
 *  closes its wake descriptor. Use instead of pthread_join on w->thread. */
void cachet_worker_join(struct cachet_worker *w);

/** Whether this kernel's io_uring has the zero-copy sends --zerocopy-min needs (probed once). */
bool cachet_worker_zerocopy_supported(void);

/** Wakes a worker blocked in its ring wait (after publishing a generation, or on stop). */
void cachet_worker_wake(struct cachet_worker *w);

#endif
