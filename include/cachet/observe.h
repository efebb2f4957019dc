/* observe.h - what a worker reports about each answer and connection: the metrics counters and
 * the access-log line. The worker calls one function per answered request; everything about what
 * is counted and logged lives here, not in the request path's code. */
#ifndef CACHET_OBSERVE_H
#define CACHET_OBSERVE_H

#include <stdint.h>

#include "cachet/accesslog.h"
#include "cachet/http_parse.h"
#include "cachet/metrics.h"
#include "cachet/response.h"

/** Where one worker reports. Owned by main; the worker only writes through it. */
struct cachet_observe {
	struct cachet_metrics_worker
	    *metrics;                        /* this worker's counters (never NULL once started) */
	struct cachet_accesslog_worker *log; /* NULL: no access log */
};

/**
 * One answered HTTP/1.x request: counts it, and logs it when the log is on. req NULL: the head
 * could not be parsed (or never completed: a 408). start_ns/now_ns (monotonic) give the
 * duration: from the first byte of the request to its answer being queued.
 */
void cachet_observe_h1(struct cachet_observe *o, const struct cachet_request *req,
                       const struct cachet_reply *r, const struct cachet_log_remote *remote,
                       int64_t start_ns, int64_t now_ns);

/** The same for one answered HTTP/2 stream (protocol "HTTP/2.0"). req NULL: refused (431).
 *  o NULL: not observed (unit tests of h2). Durations are not measured for HTTP/2 yet (0). */
void cachet_observe_h2(struct cachet_observe *o, const struct cachet_request *req,
                       const struct cachet_reply *r, const struct cachet_log_remote *remote,
                       int64_t start_ns, int64_t now_ns);

/** The peer address of a connection, for its log lines (only read when the log is on). */
void cachet_observe_remote(int fd, struct cachet_log_remote *out);

/** Body bytes an answer carries (multipart: the whole multipart body). */
uint64_t cachet_observe_body_bytes(const struct cachet_reply *r);

#endif
