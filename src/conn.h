/* conn.h - the connection record, and what a protocol module may ask of the worker.
 *
 * Private to the worker and the protocol code it dispatches to (h1.c; h2 through its own
 * interface, h2.h). The worker (worker.c) owns the ring, the connections, their buffers, timers
 * and sends; a protocol turns input into output in the connection's buffers and asks for what
 * it needs only through the functions below: keep input (conn_stash), pause receiving
 * (conn_recv_pause), close (conn_close), mark the connection for a send at the end of the batch
 * (flush_mark), set its timer (timer_set), take buffers (pool_get/pool_put/in_release) and pin
 * the generation memory a send will point into (gen_pin/gen_pin_at/gen_unpin). It never touches
 * io_uring itself.
 *
 * Ownership of memory under an in-flight send (the rules h1.c and worker.c both rely on):
 *  - c->out and c->iov/c->msg are referenced by the connection's one send in flight: output is
 *    never appended while SEND_INFLIGHT, and c->out goes back to the pool only once the send's
 *    CQE has come and everything was sent (cachet_h1_sent) or the connection is freed.
 *  - c->body points into store memory pinned by gen_pin() (c->body_gen) from emit() until the
 *    send that carried its last byte completed, or the connection is freed.
 *  - a multipart answer holds its own pin for its plan (c->mp->gen), each part's bytes another.
 *  - HTTP/2 (c->h2) owns its output and iovecs and pins per body iovec and per stream (h2.h).
 */
#ifndef CACHET_CONN_H
#define CACHET_CONN_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cachet/chunked.h"
#include "cachet/h2.h"
#include "cachet/h2_frame.h"
#include "cachet/httpdate.h"
#include "cachet/multipart.h"
#include "cachet/observe.h"
#include "cachet/response.h"
#include "cachet/worker.h"

#define IO_BUF_SIZE 32768u /* a connection's pending-input or output buffer */
#define POOL_KEEP   256u   /* free IO buffers a worker keeps for reuse */
/* bodies up to this are copied next to their head (one send) */
#ifndef COPY_BODY_MAX
#define COPY_BODY_MAX 16384u
#endif
#define PAUSE_INPUT 16384u /* unanswered input beyond this stops receiving until drained */
/* The same for HTTP/2, where one incomplete frame (up to 16 KiB + 9) must always fit below it:
 * beyond, there is a whole frame the output had no room for, and the next send makes room. */
#define H2_PAUSE_INPUT (2u * (CACHET_H2_HEADER_LEN + CACHET_H2_FRAME_MIN))
/* Hard bound on unanswered input. The pause above cancels the recv, but what a multishot recv
 * already delivered in the same batch (up to a few hundred KiB of socket buffer) must be kept. */
#define PIPELINE_MAX (1u << 20)
/* Most bytes one send carries: an SQE's length is 32 bits (a body of 4 GiB left would be sent as
 * 0 bytes) and a CQE's result a signed 32-bit count. */
#define SEND_MAX    (1u << 30)
#define RETIRED_MAX 8u /* old generations still pinned by in-flight sends */
#define NIL         UINT32_MAX

/* Room an answer needs in the out buffer before the next request is parsed: the largest block
 * plus its Connection tail. */
#define HEAD_ROOM (CACHET_BLOCK_MAX + CACHET_RESPONSE_TAIL_MAX)

enum conn_flag {
	RECV_ARMED = 1u << 0,       /* a multishot recv is outstanding */
	SEND_INFLIGHT = 1u << 1,    /* the one send of this connection is outstanding */
	SEND_ZC = 1u << 9,          /* ... and it is a zero-copy send */
	CLOSE_INFLIGHT = 1u << 2,   /* the close is outstanding */
	CLOSING = 1u << 3,          /* closing: free once nothing is outstanding */
	CLOSE_AFTER_SEND = 1u << 4, /* close once the output has gone */
	RECV_PAUSED = 1u << 5,      /* too much unanswered input: recv cancelled */
	NEED_RECV = 1u << 6,        /* (re-)arm the recv at the next flush */
	DIRTY = 1u << 7,            /* on the flush list */
	OPEN = 1u << 8,             /* the slot holds an accepted connection (until freed) */
	SKIP_CHUNKED = 1u << 10,    /* a chunked request body is being skipped (chunk says where) */
	PEER_EOF = 1u << 11,        /* the peer is done sending: answer what it sent, then close */
	ANSWERED = 1u << 12,        /* HTTP/1.1: an answer has been queued on this connection */
};

struct conn {
	int fd;
	uint32_t seq;
	uint32_t flags;
	uint32_t next;     /* free list or flush list link */
	char *in;          /* pending input (partial or not yet answered requests), or NULL */
	uint32_t in_len;   /* bytes in in[] */
	uint32_t in_cap;   /* size of in[]: IO_BUF_SIZE (a pool buffer) or more (malloc) */
	uint32_t in_seen;  /* of those, how many the parser already saw as incomplete */
	char *out;         /* responses being assembled or sent, or NULL */
	uint32_t out_len;  /* bytes in out[] */
	uint32_t out_sent; /* of those, sent */
	uint64_t discard;  /* request body bytes still to skip (Content-Length) */
	struct cachet_chunked chunk; /* a chunked request body's progress, while SKIP_CHUNKED */
	const unsigned char *body;   /* a large body sent from store memory, or NULL */
	size_t body_len, body_sent;
	struct cachet_store *body_gen; /* the pinned generation body points into */
	struct multipart_send *mp;     /* a multipart/byteranges answer in progress, or NULL */
	struct iovec iov[2];           /* for sendmsg: out then body; lives as long as the send */
	uint32_t zc_notifs;            /* zero-copy notifications still to come */
	struct cachet_store *zc_gen;   /* pinned while zc_notifs > 0: their pages live there */
	struct msghdr msg;
	uint32_t t_prev, t_next; /* links in the timer list of t_kind */
	uint32_t t_deadline;     /* worker milliseconds (compared by signed difference) */
	uint8_t t_kind;          /* enum timer_kind */
	uint8_t proto;           /* enum proto: chosen at the first bytes */
	/* HTTP/2 state (PROTO_H2): owns its output buffer and the iovecs a send of this connection
	 * points at, and pins the generations its bodies live in (see h2.h); freed only in
	 * conn_maybe_free, when no send is in flight. */
	struct cachet_h2 *h2;
	/* issue 13 (observe): for the access log only */
	struct cachet_log_remote remote; /* the peer, read at accept when the log is on */
	int64_t req_start_ns;            /* the current request's first bytes (turn_ns) */
};

/* A connection's protocol, chosen by its first bytes: the HTTP/2 preface (RFC 9113 §3.3, prior
 * knowledge), or anything else HTTP/1.1 exactly as before HTTP/2 existed. */
enum proto {
	PROTO_NEW, /* not chosen yet: the bytes so far are a proper prefix of the preface */
	PROTO_H1,
	PROTO_H2,
};

/* Timers: one list per kind. A kind has one fixed duration, so appending at the tail keeps each
 * list sorted by deadline: setting a timer is O(1) and the tick expires from the heads. */
enum timer_kind {
	T_NONE,
	T_HEADER, /* a request head has started (or the connection is new) and is not complete */
	T_IDLE,   /* keep-alive, waiting for the next request */
	T_SEND,   /* a send is in flight: the client must keep reading */
	T_KINDS,
};

struct timer_list {
	uint32_t head, tail;
};

struct gen_pin {
	struct cachet_store *gen;
	uint32_t sends;
};

/* A multipart/byteranges answer being sent, one piece per send: part headers and the close
 * delimiter are written into the out buffer when the previous piece has gone, each part's bytes
 * are the body of that send. Allocated per answer: several ranges in one request are rare. */
struct multipart_send {
	struct cachet_multipart plan;
	struct cachet_store *gen; /* pinned for the whole answer: plan.rep lives there */
	unsigned next;            /* the part whose header goes next; plan.set.n: the close */
};

/* HTTP/1.1: the last request head answered without a body, as bytes, as parsed (every span
 * pointing into head[]) and the reply picked for it from the worker's generation (h1.c). The next
 * head with the same bytes parses the same and gets the same reply: a client repeating a request,
 * pipelined or on several connections, is answered after one memcmp. len 0: none (cleared when
 * the worker moves to another generation, since reply points into it). */
#define H1_MEMO_MAX 512u
struct h1_memo {
	uint32_t len;
	struct cachet_request req;
	struct cachet_reply reply;
	char head[H1_MEMO_MAX];
};

struct worker {
	struct cachet_worker *pub;
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	unsigned char *bufs;
	unsigned br_added; /* buffers handed back since the last advance */
	unsigned br_given; /* buffers put in the ring so far: grows on ENOBUFS (worker.c) */
	struct conn *conns;
	uint32_t n_conns, used_conns, free_head, live;
	uint32_t flush_head;
	char **pool;
	uint32_t pool_n;
	struct cachet_httpdate_cache date;
	struct cachet_store *gen; /* the generation answers come from; one reference held */
	uint32_t gen_sends;       /* in-flight sends pinning gen */
	struct gen_pin retired[RETIRED_MAX];
	bool stopping;
	int64_t stop_deadline;
	struct timer_list timers[T_KINDS];
	uint32_t timeout_ms[T_KINDS];
	size_t zerocopy_min;           /* bodies from this size are sent zero-copy; 0: never */
	uint32_t now_ms;               /* monotonic milliseconds, read once per loop turn; wraps */
	uint64_t wake_value;           /* eventfd read target; lives as long as the worker */
	struct __kernel_timespec tick; /* timeout SQE target; lives as long as the worker */
	struct cachet_multipart mp_plan; /* where a multipart answer is planned, copied by emit() */
	struct h1_memo h1_memo;          /* the last plain request head and its reply (h1.c) */
	struct cachet_h2_env h2env;      /* what HTTP/2 connections see of the worker (h2.h) */
	bool http2;                      /* the preface selects HTTP/2 (not --no-http2) */
	bool ring_ok;       /* ring set up: exit it at cleanup (a zeroed one is fd 0) */
	bool accept_armed;  /* the multishot accept is outstanding (a stopping worker waits for its
	                     * last CQE: a connection it accepted must not be left unanswered) */
	bool accept_paused; /* backing off after EMFILE & co. until accept_resume_ms */
	bool accept_logged; /* an accept error was logged, at accept_log_ms */
	uint32_t accept_resume_ms, accept_log_ms;
	uint32_t accept_unlogged; /* accept errors since the last one logged */
	int64_t turn_ns; /* precise monotonic time of this loop turn; read only when logging */
};

/* What a protocol may ask of the worker (worker.c). */

/** Keeps unanswered input, growing the buffer past its pool size only for a burst of pipelined
 *  requests. Returns false when the bound is hit or memory runs out (then close). */
bool stash(struct worker *w, struct conn *c, const char *data, size_t len);

/** Starts closing; the slot is freed once nothing is outstanding. */
void conn_close(struct worker *w, struct conn *c);

/** Stops receiving while too much input is unanswered (a peer sending without reading). */
void recv_pause(struct worker *w, struct conn *c);

/* ---- IO buffers: a worker-local free list, so busy connections do not hit malloc ---- */

static inline char *pool_get(struct worker *w)
{
	if (w->pool_n)
		return w->pool[--w->pool_n];
	return malloc(IO_BUF_SIZE);
}

static inline void pool_put(struct worker *w, char *buf)
{
	if (!buf)
		return;
	if (w->pool_n < POOL_KEEP)
		w->pool[w->pool_n++] = buf;
	else
		free(buf);
}

/* Pending input: a pool buffer, or a larger one from malloc during a pipelined burst. */
static inline void in_release(struct worker *w, struct conn *c)
{
	if (c->in_cap == IO_BUF_SIZE)
		pool_put(w, c->in);
	else
		free(c->in);
	c->in = NULL;
	c->in_cap = 0;
}

/* A protocol consumed the first used bytes of the kept input: keep only the rest, and give the
 * buffer back once nothing is left. */
static inline void in_consume(struct worker *w, struct conn *c, size_t used)
{
	if (used) {
		c->in_len -= (uint32_t)used;
		memmove(c->in, c->in + used, c->in_len);
	}
	if (c->in_len == 0)
		in_release(w, c);
}

/* Called when a send is about to reference w->gen's memory. */
static inline struct cachet_store *gen_pin(struct worker *w)
{
	w->gen_sends++;
	return w->gen;
}

/* The retired slot that still pins gen, or NULL. */
static inline struct gen_pin *retired_pin(struct worker *w, const struct cachet_store *gen)
{
	for (unsigned i = 0; i < RETIRED_MAX; i++)
		if (w->retired[i].gen == gen)
			return &w->retired[i];
	return NULL;
}

/* An extra pin on gen, which is w->gen or a retired generation still pinned (a body points into
 * it), for memory the kernel holds past the send's completion. */
static inline void gen_pin_at(struct worker *w, const struct cachet_store *gen)
{
	struct gen_pin *p;

	if (gen == w->gen)
		w->gen_sends++;
	else if ((p = retired_pin(w, gen)))
		p->sends++;
}

/* Called from the send's completion: the memory of gen is no longer referenced by it. */
static inline void gen_unpin(struct worker *w, const struct cachet_store *gen)
{
	struct gen_pin *p;

	if (gen == w->gen) {
		w->gen_sends--;
	} else if ((p = retired_pin(w, gen)) && --p->sends == 0) {
		/* the last send into a retired generation: let it go */
		cachet_store_unref(p->gen);
		p->gen = NULL;
	}
}

static inline uint32_t conn_slot(const struct worker *w, const struct conn *c)
{
	return (uint32_t)(c - w->conns);
}

static inline void flush_mark(struct worker *w, struct conn *c)
{
	if (c->flags & DIRTY)
		return;
	c->flags |= DIRTY;
	c->next = w->flush_head;
	w->flush_head = conn_slot(w, c);
}

/* Receiving was paused (recv_pause) and the protocol says it may go on: the recv is armed again at
 * the end of the batch, unless the cancelled one has not completed yet: then its last CQE re-arms
 * (on_recv), which it does only if the pause is over by then. The pause must end here either
 * way: a resume that waited for that CQE was lost, and the connection never received again
 * (a 4 MiB chunked body stalled under load; issue 15's smaller receive ring made it frequent). */
static inline void recv_resume(struct worker *w, struct conn *c)
{
	if (!(c->flags & RECV_PAUSED))
		return;
	c->flags &= ~RECV_PAUSED;
	if (c->flags & RECV_ARMED)
		return;
	c->flags |= NEED_RECV;
	flush_mark(w, c);
}

static inline void timer_unlink(struct worker *w, struct conn *c)
{
	if (c->t_kind == T_NONE)
		return;
	struct timer_list *l = &w->timers[c->t_kind];
	if (c->t_prev != NIL)
		w->conns[c->t_prev].t_next = c->t_next;
	else
		l->head = c->t_next;
	if (c->t_next != NIL)
		w->conns[c->t_next].t_prev = c->t_prev;
	else
		l->tail = c->t_prev;
	c->t_kind = T_NONE;
}

/* (Re)starts the connection's timer of the given kind: it expires timeout_ms[kind] from now. */
static inline void timer_set(struct worker *w, struct conn *c, enum timer_kind kind)
{
	timer_unlink(w, c);
	struct timer_list *l = &w->timers[kind];
	uint32_t slot = conn_slot(w, c);
	c->t_kind = (uint8_t)kind;
	c->t_deadline = w->now_ms + w->timeout_ms[kind];
	c->t_next = NIL;
	c->t_prev = l->tail;
	if (l->tail != NIL)
		w->conns[l->tail].t_next = slot;
	else
		l->head = slot;
	l->tail = slot;
}

#endif
