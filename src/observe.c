/* observe.c - the per-answer report: metrics always (two adds), the log line when it is on. */
#define _GNU_SOURCE
#include "cachet/observe.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

uint64_t cachet_observe_body_bytes(const struct cachet_reply *r)
{
	return r->multipart ? r->multipart->body_len : r->body_len;
}

/* The Content-Encoding of the answer, or "". */
static const char *encoding_of(const struct cachet_reply *r)
{
	if (!r->rep || (r->status != 200 && r->status != 206) ||
	    r->rep->coding == CACHET_CODING_IDENTITY)
		return "";
	return cachet_encoding_name(r->rep->coding);
}

static const char *const proto_names[CACHET_PROTO_COUNT] = {"HTTP/1.0", "HTTP/1.1", "HTTP/2.0"};

/* Counts the answer and, with the log on, logs it. */
static void observe(struct cachet_observe *o, enum cachet_metrics_proto proto,
                    const struct cachet_request *req, const struct cachet_reply *r,
                    const struct cachet_log_remote *remote, int64_t start_ns, int64_t now_ns)
{
	uint64_t bytes = cachet_observe_body_bytes(r);
	cachet_metrics_request(o->metrics, r->status, proto, bytes);
	if (!o->log)
		return;
	struct cachet_accesslog_entry e = {
	    .remote = remote,
	    .protocol = proto_names[proto],
	    .encoding = encoding_of(r),
	    .status = r->status,
	    .bytes = bytes,
	    .duration_us = now_ns > start_ns && start_ns ? (uint64_t)(now_ns - start_ns) / 1000 : 0,
	};
	if (req) {
		e.method = req->method;
		e.path = req->target;
		e.referer = req->referer;
		e.user_agent = req->user_agent;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	cachet_accesslog_add(o->log, &e, ts.tv_sec);
}

void cachet_observe_h1(struct cachet_observe *o, const struct cachet_request *req,
                       const struct cachet_reply *r, const struct cachet_log_remote *remote,
                       int64_t start_ns, int64_t now_ns)
{
	bool v10 = req && req->minor_version == 0;
	observe(o, v10 ? CACHET_PROTO_HTTP10 : CACHET_PROTO_HTTP11, req, r, remote, start_ns,
	        now_ns);
}

void cachet_observe_h2(struct cachet_observe *o, const struct cachet_request *req,
                       const struct cachet_reply *r, const struct cachet_log_remote *remote,
                       int64_t start_ns, int64_t now_ns)
{
	if (o && o->metrics)
		observe(o, CACHET_PROTO_HTTP2, req, r, remote, start_ns, now_ns);
}

void cachet_observe_remote(int fd, struct cachet_log_remote *out)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} a = {0};
	socklen_t len = sizeof(a);
	memset(out, 0, sizeof(*out));
	if (getpeername(fd, &a.sa, &len) < 0)
		return;
	if (a.sa.sa_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->addr, &a.in.sin_addr, 4);
	} else if (a.sa.sa_family == AF_INET6) {
		out->family = AF_INET6;
		memcpy(out->addr, &a.in6.sin6_addr, 16);
	}
}
