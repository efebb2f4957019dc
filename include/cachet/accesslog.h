/* accesslog.h - the access log (--access-log, --log-format): one line per answered request, built
 * by the worker that answered it into the worker's own buffers, written to the file by a writer
 * thread. A worker never blocks on the disk: when the writer falls behind, lines are dropped and
 * counted.
 *
 * Hand-over between a worker and the writer (the only shared state, per buffer):
 *  - each worker owns CACHET_ACCESSLOG_NBUF buffers used in a circle; `full` says who owns one:
 *    0 the worker (it appends lines), 1 the writer (it writes the bytes, then stores 0).
 *  - the worker stores full = 1 (release) after the last byte; the writer loads it (acquire)
 *    before reading, and stores 0 (release) after write() returned; the worker loads it (acquire)
 *    before appending again. Both walk the circle in the same order, so lines keep their order.
 *  - a worker whose next buffer is still the writer's drops lines (and counts them) until the
 *    writer gives it back. */
#ifndef CACHET_ACCESSLOG_H
#define CACHET_ACCESSLOG_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cachet/span.h"

/** Bytes in one buffer; a buffer is handed to the writer when the next line does not fit. */
#define CACHET_ACCESSLOG_BUF (128u * 1024)
/** Buffers per worker: one filling, the others waiting for (or in) a write. */
#define CACHET_ACCESSLOG_NBUF 4u
/** Source bytes logged of the target, and of Referer and User-Agent; longer ones are cut, so that
 *  one line (each byte escaped to at most 6) always fits an empty buffer. */
#define CACHET_ACCESSLOG_PATH_MAX  8192u
#define CACHET_ACCESSLOG_FIELD_MAX 2048u
/** Longest line cachet_accesslog_format() writes. */
#define CACHET_ACCESSLOG_LINE_MAX                                                                  \
	(6u * (CACHET_ACCESSLOG_PATH_MAX + 2u * CACHET_ACCESSLOG_FIELD_MAX + 32u) + 256u)

enum cachet_log_format {
	CACHET_LOG_COMBINED, /* nginx's "combined", byte for byte */
	CACHET_LOG_JSON,     /* one object per line, fixed keys */
};

/** The peer of a connection, as accepted (family 0: unknown). */
struct cachet_log_remote {
	uint16_t family; /* AF_INET, AF_INET6 or 0 */
	uint8_t addr[16];
};

/** What one line says. Spans point into the request; empty method/path: the request could not be
 *  parsed (logged as "-"). */
struct cachet_accesslog_entry {
	const struct cachet_log_remote *remote;
	struct cachet_span method, path, referer, user_agent;
	const char *protocol; /* "HTTP/1.1", "HTTP/1.0", "HTTP/2.0" */
	const char *encoding; /* the Content-Encoding sent, or "" */
	int status;
	uint64_t bytes; /* body bytes of the answer */
	uint64_t duration_us;
};

/** Seconds formatted once per second, per worker: no strftime on the request path. */
struct cachet_accesslog_clock {
	time_t sec;
	char clf[sizeof("27/Nov/2026:14:19:44 +0000")];
	char iso[sizeof("2026-11-27T14:19:44Z")];
};

struct cachet_accesslog_buf {
	atomic_int full; /* 0: the worker's, 1: the writer's (see the top of this file) */
	uint32_t len;
	uint32_t lines;
	char data[CACHET_ACCESSLOG_BUF];
};

struct cachet_accesslog;

/** One worker's side. Only `dropped` is read by other threads (metrics, the writer). Aligned to
 *  a cache line: two workers' sides never share one. */
struct cachet_accesslog_worker {
	alignas(64) atomic_uint_fast64_t dropped; /* lines dropped: the writer fell behind */
	struct cachet_accesslog *log;
	struct cachet_accesslog_buf *bufs; /* CACHET_ACCESSLOG_NBUF, allocated by open */
	struct cachet_accesslog_clock clock;
	unsigned cur;   /* the worker's buffer */
	unsigned wnext; /* the writer's next buffer (writer only) */
};

struct cachet_accesslog {
	const char *path; /* "-": standard output */
	enum cachet_log_format format;
	int fd;
	struct cachet_accesslog_worker *workers;
	unsigned n_workers;
	pthread_t thread;
	pthread_mutex_t lock; /* guards stop */
	pthread_cond_t cond;
	bool stop, started;
	atomic_bool reopen;                 /* SIGUSR1: reopen before the next write */
	atomic_uint_fast64_t write_dropped; /* lines lost to failed writes */
	uint64_t reported;                  /* drops already said on stderr (writer only) */
	int64_t report_ns;                  /* when drops were last said (writer only) */
};

/** Opens path for appending (O_APPEND|O_CREAT, 0644; "-" is standard output) and allocates the
 *  buffers of n_workers workers. Returns 0 or -errno. */
int cachet_accesslog_open(struct cachet_accesslog *l, const char *path,
                          enum cachet_log_format format, unsigned n_workers);

/** Starts the writer thread: it writes full buffers as they come and at least every 250 ms. */
int cachet_accesslog_start(struct cachet_accesslog *l);

/** Asks the writer to reopen the file before its next write (SIGUSR1, after logrotate). */
void cachet_accesslog_reopen(struct cachet_accesslog *l);

/** Stops the writer after writing everything handed over. Call once the workers have exited (each
 *  hands its last buffer over on its way out), so nothing is lost. */
void cachet_accesslog_stop(struct cachet_accesslog *l);

/** Frees the buffers and closes the file. */
void cachet_accesslog_close(struct cachet_accesslog *l);

/** Worker side, once per answered request: formats the line into the worker's buffer (or counts
 *  it dropped). now is the wall-clock second. Hot when the log is on: no allocation, no printf. */
void cachet_accesslog_add(struct cachet_accesslog_worker *lw,
                          const struct cachet_accesslog_entry *e, time_t now);

/** Worker side: hands the current buffer to the writer if it holds lines (from the worker's
 *  timer tick, so a quiet worker's lines are written within a second, and on its way out). */
void cachet_accesslog_seal(struct cachet_accesslog_worker *lw);

/** Writer side, one pass: writes every buffer handed over, in order. Returns lines written. The
 *  thread calls it; tests call it directly. */
size_t cachet_accesslog_write_pending(struct cachet_accesslog *l);

/** Lines dropped so far, all workers and failed writes together. */
uint64_t cachet_accesslog_dropped(const struct cachet_accesslog *l);

/** Formats one line (with its newline) into dst, which holds CACHET_ACCESSLOG_LINE_MAX bytes.
 *  Returns its length. Pure: the unit tests check it byte for byte. */
size_t cachet_accesslog_format(enum cachet_log_format format,
                               const struct cachet_accesslog_entry *e,
                               struct cachet_accesslog_clock *clock, time_t now, char *dst);

#endif
