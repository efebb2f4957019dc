/* metrics.h - counters for Prometheus (--metrics HOST:PORT): per-worker counters that only their
 * worker writes (no shared read-modify-write on the request path), summed when scraped; the
 * process-wide values the main and reload threads set; and a small listener thread answering
 * GET /metrics (text format 0.0.4) and GET /healthz on its own address. */
#ifndef CACHET_METRICS_H
#define CACHET_METRICS_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/** Protocols a request is counted under (label protocol). */
enum cachet_metrics_proto {
	CACHET_PROTO_HTTP10,
	CACHET_PROTO_HTTP11,
	CACHET_PROTO_HTTP2,
	CACHET_PROTO_COUNT,
};

/** Timer kinds that close connections (label kind). */
enum cachet_metrics_timeout {
	CACHET_TIMEOUT_HEADER,
	CACHET_TIMEOUT_IDLE,
	CACHET_TIMEOUT_SEND,
	CACHET_TIMEOUT_COUNT,
};

/** Statuses counted one by one (label code); any other status is counted under "other". */
#define CACHET_METRICS_CODES                                                                       \
	200, 206, 301, 304, 400, 404, 405, 408, 412, 414, 416, 431, 500, 501, 503, 505
#define CACHET_METRICS_N_CODES 17 /* the list above and "other" */

/**
 * One worker's counters. Only that worker writes them (a relaxed load and store: a plain add on
 * x86, no lock prefix); the scrape reads them. Aligned and padded to cache lines, so two workers'
 * counters never share one.
 */
struct cachet_metrics_worker {
	alignas(64) atomic_uint_fast64_t requests[CACHET_METRICS_N_CODES][CACHET_PROTO_COUNT];
	atomic_uint_fast64_t body_bytes;
	atomic_uint_fast64_t accepted; /* connections accepted and served */
	atomic_uint_fast64_t rejected; /* accepted and closed at once: over the cap, or draining */
	atomic_uint_fast64_t closed;   /* of the accepted, freed again */
	atomic_uint_fast64_t timeouts[CACHET_TIMEOUT_COUNT];
};

/** Adds n to a counter only the calling thread writes. */
static inline void cachet_metrics_add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

/** Index of status in CACHET_METRICS_CODES, or of "other". */
unsigned cachet_metrics_code_index(int status);

/** Worker side, once per answered request. Hot: two adds. */
static inline void cachet_metrics_request(struct cachet_metrics_worker *m, int status,
                                          enum cachet_metrics_proto proto, uint64_t body_bytes)
{
	cachet_metrics_add(&m->requests[cachet_metrics_code_index(status)][proto], 1);
	cachet_metrics_add(&m->body_bytes, body_bytes);
}

/** What the process itself measures, read at scrape time (split out so tests can fix it). */
struct cachet_process_stats {
	uint64_t resident_bytes;
	double cpu_seconds;
	uint64_t open_fds;
	double start_time; /* seconds since the epoch */
};

/** The whole process's metrics and the listener that serves them. */
struct cachet_metrics {
	struct cachet_metrics_worker *workers; /* n_workers, allocated by init */
	unsigned n_workers;
	/* set by the reload thread (and main, for the first generation) */
	atomic_uint_fast64_t store_files, store_bytes, store_generation;
	atomic_uint_fast64_t reloads_ok, reloads_failed;
	atomic_uint_fast64_t reload_duration_ns; /* of the last rescan */
	/* lines the access log dropped; NULL-safe: 0 when the log is off */
	uint64_t (*log_dropped)(const void *arg);
	const void *log_dropped_arg;
	atomic_bool draining; /* /healthz answers 503 */
	double start_time;
	int listen_fd;
	pthread_t thread;
	atomic_bool stop;
	bool started;
};

/** Allocates the per-worker counters and records the start time. Returns 0 or -ENOMEM. */
int cachet_metrics_init(struct cachet_metrics *m, unsigned n_workers);

/** Frees what init allocated (after cachet_metrics_stop). */
void cachet_metrics_free(struct cachet_metrics *m);

/** Records a generation now serving (files, bytes, number). */
void cachet_metrics_store(struct cachet_metrics *m, uint64_t generation, uint64_t files,
                          uint64_t bytes);

/** Records a finished rescan: ok or failed, and how long it took. */
void cachet_metrics_reload(struct cachet_metrics *m, bool ok, int64_t duration_ns);

/** Reads resident memory, CPU time and open descriptors of this process from /proc. */
void cachet_metrics_process_stats(const struct cachet_metrics *m, struct cachet_process_stats *ps);

/**
 * Writes every series in Prometheus text format 0.0.4 into dst (cap bytes). Returns the length,
 * or 0 when cap is too small. Counters are summed over the workers when called.
 */
size_t cachet_metrics_render(const struct cachet_metrics *m, const struct cachet_process_stats *ps,
                             char *dst, size_t cap);

/**
 * Answers one request head (what arrived, up to its blank line) into dst: the whole response,
 * Connection: close. GET /metrics, GET /healthz (200 "ok", or 503 "draining"), else 404.
 * Returns the length, 0 when cap is too small.
 */
size_t cachet_metrics_answer(const struct cachet_metrics *m, const char *req, size_t len, char *dst,
                             size_t cap);

/** Binds and listens on addr (before privileges are dropped). Returns 0 or -errno. */
int cachet_metrics_listen(struct cachet_metrics *m, const struct sockaddr *addr, socklen_t len);

/** Starts the listener thread (one connection at a time: scrapes are rare). 0 or -errno. */
int cachet_metrics_start(struct cachet_metrics *m);

/** Stops the listener thread and closes its socket. */
void cachet_metrics_stop(struct cachet_metrics *m);

#endif
