/* worker.c - one thread, one ring: accept, receive, answer, send, close.
 *
 * The loop (as in liburing's examples/proxy.c): submit and wait, dispatch every CQE on its
 * operation, advance the CQ once per batch, return the batch's receive buffers to the kernel, then
 * flush: every connection that produced output in this batch gets one send. Several pipelined
 * responses that became ready together therefore leave in one send.
 *
 * user_data layout (64 bits):  [63..32] connection sequence | [31..8] connection slot | [7..0] op
 * The sequence is bumped each time a slot is reused, so a late completion can never be taken for
 * an event of the connection that now lives in the slot.
 *
 * Ownership rules for memory an SQE references (each also noted where the SQE is prepared):
 *  - receive buffers belong to the provided-buffer ring; a buffer the kernel filled is ours until
 *    we hand it back, which happens in the same batch: anything not answered is copied out first.
 *  - a connection's out buffer and iovecs are referenced by its one in-flight send; the connection
 *    is freed only after that send's CQE (conn_maybe_free).
 *  - a body sent from store memory is covered by a pin on its generation (gen_pin/gen_unpin):
 *    the worker keeps its reference to that generation until the last such send completes.
 *  - a multipart/byteranges answer (several ranges) holds its own pin on the generation its plan
 *    and ranges point into, from emit() until its close delimiter has been sent or the
 *    connection is freed; each part's bytes go out as an ordinary body with a pin of their own.
 *  - a zero-copy send (--zerocopy-min) carries only a body from store memory (its head goes in a
 *    plain send first, so the out buffer is never referenced past a result CQE). The kernel
 *    holds those pages until the notification CQE, which may come after the result and after
 *    later sends: each connection counts its outstanding notifications (zc_notifs) and holds an
 *    extra pin on their generation (zc_gen) until the last one; the slot is not freed before.
 */
#define _GNU_SOURCE
#include "cachet/worker.h"

#include <errno.h>
#include <liburing.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cachet/chunked.h"
#include "cachet/clock.h"
#include "cachet/http_parse.h"
#include "cachet/httpdate.h"
#include "cachet/response.h"

enum op {
	OP_ACCEPT = 1,
	OP_RECV,
	OP_SEND,
	OP_CLOSE,
	OP_CLOSE_RAW, /* closing a socket that never became a connection */
	OP_CANCEL,
	OP_SHUTDOWN,
	OP_WAKE,
	OP_TICK,
};

/* Tunables. Each may be overridden with -D at build time to measure a variant (bench/ab). */
/* One provided buffer. 4 KiB holds a browser's request head, or a 16-deep pipeline of small
 * ones; measured with bench/ab on 304-1k-p16: 4 KiB used 4.4% less CPU per request than 8 KiB
 * (2 KiB 3.2% less, but splits heads with cookies more often). */
#ifndef RECV_BUF_SIZE
#define RECV_BUF_SIZE 4096u
#endif
/* per worker; power of two */
#ifndef RECV_BUF_COUNT
#define RECV_BUF_COUNT 512u
#endif
#define BUF_GROUP   0
#define IO_BUF_SIZE 32768u /* a connection's pending-input or output buffer */
#define POOL_KEEP   256u   /* free IO buffers a worker keeps for reuse */
/* bodies up to this are copied next to their head (one send) */
#ifndef COPY_BODY_MAX
#define COPY_BODY_MAX 16384u
#endif
#define PAUSE_INPUT 16384u /* unanswered input beyond this stops receiving until drained */
/* Hard bound on unanswered input. The pause above cancels the recv, but what a multishot recv
 * already delivered in the same batch (up to a few hundred KiB of socket buffer) must be kept. */
#define PIPELINE_MAX (1u << 20)
/* Most bytes one send carries: an SQE's length is 32 bits (a body of 4 GiB left would be sent as
 * 0 bytes) and a CQE's result a signed 32-bit count. */
#define SEND_MAX      (1u << 30)
#define SQ_ENTRIES    1024u
#define CQ_ENTRIES    16384u
#define RETIRED_MAX   8u                 /* old generations still pinned by in-flight sends */
#define TICK_NS       250000000L         /* timer resolution: timeouts fire 0-250 ms late */
#define STOP_GRACE_NS (4500LL * 1000000) /* finish in-flight responses within this on stop */
#define NIL           UINT32_MAX
/* Out of descriptors (or memory), accept() fails until something closes: accepting stops this
 * long instead of failing at once again and again (nginx pauses the same way). */
#define ACCEPT_BACKOFF_MS 500u
#define ACCEPT_LOG_MS     1000u /* accept errors are logged at most once per this */

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

struct worker {
	struct cachet_worker *pub;
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	unsigned char *bufs;
	unsigned br_added; /* buffers handed back since the last advance */
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
	bool ring_ok;       /* ring set up: exit it at cleanup (a zeroed one is fd 0) */
	bool accept_armed;  /* the multishot accept is outstanding */
	bool accept_paused; /* backing off after EMFILE & co. until accept_resume_ms */
	bool accept_logged; /* an accept error was logged, at accept_log_ms */
	uint32_t accept_resume_ms, accept_log_ms;
	uint32_t accept_unlogged; /* accept errors since the last one logged */
};

static inline uint64_t ud_make(enum op op, uint32_t slot, uint32_t seq)
{
	return (uint64_t)seq << 32 | (uint64_t)slot << 8 | (uint64_t)op;
}

static inline enum op ud_op(uint64_t ud)
{
	return (enum op)(ud & 0xff);
}

static inline uint32_t ud_slot(uint64_t ud)
{
	return (uint32_t)(ud >> 8) & 0xffffff;
}

static inline uint32_t ud_seq(uint64_t ud)
{
	return (uint32_t)(ud >> 32);
}

/* An SQE, submitting what is queued first if the SQ is full. */
static struct io_uring_sqe *sqe_get(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	while (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

/* ---- IO buffers: a worker-local free list, so busy connections do not hit malloc ---- */

static char *pool_get(struct worker *w)
{
	if (w->pool_n)
		return w->pool[--w->pool_n];
	return malloc(IO_BUF_SIZE);
}

static void pool_put(struct worker *w, char *buf)
{
	if (!buf)
		return;
	if (w->pool_n < POOL_KEEP)
		w->pool[w->pool_n++] = buf;
	else
		free(buf);
}

/* Pending input: a pool buffer, or a larger one from malloc during a pipelined burst. */
static void in_release(struct worker *w, struct conn *c)
{
	if (c->in_cap == IO_BUF_SIZE)
		pool_put(w, c->in);
	else
		free(c->in);
	c->in = NULL;
	c->in_cap = 0;
}

/* ---- generation pins ---- */

/* Called when a send is about to reference w->gen's memory. */
static struct cachet_store *gen_pin(struct worker *w)
{
	w->gen_sends++;
	return w->gen;
}

/* The retired slot that still pins gen, or NULL. */
static struct gen_pin *retired_pin(struct worker *w, const struct cachet_store *gen)
{
	for (unsigned i = 0; i < RETIRED_MAX; i++)
		if (w->retired[i].gen == gen)
			return &w->retired[i];
	return NULL;
}

/* An extra pin on gen, which is w->gen or a retired generation still pinned (a body points into
 * it), for memory the kernel holds past the send's completion. */
static void gen_pin_at(struct worker *w, const struct cachet_store *gen)
{
	struct gen_pin *p;

	if (gen == w->gen)
		w->gen_sends++;
	else if ((p = retired_pin(w, gen)))
		p->sends++;
}

/* Called from the send's completion: the memory of gen is no longer referenced by it. */
static void gen_unpin(struct worker *w, const struct cachet_store *gen)
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

/* Called once per loop turn: moves to a newly published generation. The reference is taken before
 * gen_seen is stored; the publisher frees the old generation only after every worker's gen_seen
 * shows the new one, so the pointer loaded here is still referenced by the publisher. */
static void gen_follow(struct worker *w)
{
	struct cachet_store *cur =
	    atomic_load_explicit(&w->pub->shared->current, memory_order_acquire);
	if (cur == w->gen)
		return;
	unsigned slot = RETIRED_MAX;
	if (w->gen_sends) {
		for (slot = 0; slot < RETIRED_MAX && w->retired[slot].gen; slot++)
			;
		if (slot == RETIRED_MAX)
			return; /* every retired slot busy: stay on this generation a little longer
			         */
	}
	cachet_store_ref(cur);
	if (w->gen_sends)
		w->retired[slot] = (struct gen_pin){.gen = w->gen, .sends = w->gen_sends};
	else
		cachet_store_unref(w->gen);
	w->gen = cur;
	w->gen_sends = 0;
	atomic_store_explicit(&w->pub->gen_seen, cur->generation, memory_order_release);
}

/* ---- connections ---- */

static struct conn *conn_alloc(struct worker *w, uint32_t *slot)
{
	if (w->free_head != NIL) {
		*slot = w->free_head;
		w->free_head = w->conns[*slot].next;
	} else if (w->used_conns < w->n_conns) {
		*slot = w->used_conns++; /* slots are touched only when first used */
		w->conns[*slot].seq = 0;
	} else {
		return NULL;
	}
	struct conn *c = &w->conns[*slot];
	uint32_t seq = c->seq;
	memset(c, 0, sizeof(*c));
	c->seq = seq;
	c->next = NIL;
	w->live++;
	return c;
}

static inline uint32_t conn_slot(const struct worker *w, const struct conn *c)
{
	return (uint32_t)(c - w->conns);
}

static void flush_mark(struct worker *w, struct conn *c)
{
	if (c->flags & DIRTY)
		return;
	c->flags |= DIRTY;
	c->next = w->flush_head;
	w->flush_head = conn_slot(w, c);
}

static void timer_unlink(struct worker *w, struct conn *c)
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
static void timer_set(struct worker *w, struct conn *c, enum timer_kind kind)
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

/* ---- multipart/byteranges ---- */

/* Ends a multipart answer (sent, or its connection going away): its generation pin goes. */
static void multipart_end(struct worker *w, struct conn *c)
{
	if (!c->mp)
		return;
	gen_unpin(w, c->mp->gen);
	free(c->mp);
	c->mp = NULL;
}

/* Called when everything queued has been sent: puts the next piece of the multipart answer in
 * place, part i's header in out and its bytes as the body (pinned like any body from store
 * memory), or after the last part the close delimiter. Returns 1 when there is a piece to send,
 * 0 when the answer is complete (and ended), a negative errno when it cannot go on. */
static int multipart_next(struct worker *w, struct conn *c)
{
	struct multipart_send *m = c->mp;
	const struct cachet_multipart *p = &m->plan;
	if (m->next > p->set.n) {
		multipart_end(w, c);
		return 0;
	}
	if (!c->out && !(c->out = pool_get(w)))
		return -ENOMEM;
	if (m->next == p->set.n) {
		c->out_len = (uint32_t)cachet_multipart_close(p, c->out, IO_BUF_SIZE);
	} else {
		/* room: IO_BUF_SIZE is far above a part header (the content type is at most 255) */
		c->out_len = (uint32_t)cachet_multipart_part_head(p, m->next, c->out, IO_BUF_SIZE);
		if (c->out_len == 0)
			return -EINVAL;
		c->body = p->rep->body + p->set.first[m->next];
		c->body_len = p->set.last[m->next] - p->set.first[m->next] + 1;
		c->body_sent = 0;
		c->body_gen = m->gen;
		gen_pin_at(w, m->gen);
	}
	m->next++;
	return 1;
}

/* Frees the slot once no operation of the connection is outstanding. */
static void conn_maybe_free(struct worker *w, struct conn *c)
{
	if (!(c->flags & CLOSING) ||
	    (c->flags & (RECV_ARMED | SEND_INFLIGHT | CLOSE_INFLIGHT | DIRTY)) || c->zc_notifs)
		return;
	in_release(w, c);
	pool_put(w, c->out);
	if (c->body)
		gen_unpin(w, c->body_gen);
	multipart_end(w, c);
	c->out = NULL;
	c->body = NULL;
	c->seq++;
	c->flags = 0;
	c->next = w->free_head;
	w->free_head = conn_slot(w, c);
	w->live--;
}

/* Starts closing: cancels the recv (a multishot recv holds the file open past close()), shuts the
 * socket down if a send is stuck on it, and closes the descriptor. */
static void conn_close(struct worker *w, struct conn *c)
{
	if (c->flags & CLOSING)
		return;
	timer_unlink(w, c);
	c->flags |= CLOSING | CLOSE_INFLIGHT;
	uint32_t slot = conn_slot(w, c);
	struct io_uring_sqe *sqe;
	if (c->flags & RECV_ARMED) {
		sqe = sqe_get(w);
		io_uring_prep_cancel64(sqe, ud_make(OP_RECV, slot, c->seq), 0);
		io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, slot, c->seq));
	}
	if (c->flags & SEND_INFLIGHT) {
		sqe = sqe_get(w);
		io_uring_prep_shutdown(sqe, c->fd, SHUT_RDWR);
		io_uring_sqe_set_data64(sqe, ud_make(OP_SHUTDOWN, slot, c->seq));
	}
	sqe = sqe_get(w);
	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CLOSE, slot, c->seq));
}

/* Multishot recv into the worker's provided-buffer ring. No buffer is named here: the kernel picks
 * one from the ring per completion and the completion says which (see on_recv). */
static void recv_arm(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get(w);
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BUF_GROUP;
	io_uring_sqe_set_data64(sqe, ud_make(OP_RECV, conn_slot(w, c), c->seq));
	c->flags |= RECV_ARMED;
	c->flags &= ~NEED_RECV;
}

/* Stops receiving while too much input is unanswered (a client pipelining without reading). */
static void recv_pause(struct worker *w, struct conn *c)
{
	uint32_t slot = conn_slot(w, c);
	struct io_uring_sqe *sqe = sqe_get(w);
	io_uring_prep_cancel64(sqe, ud_make(OP_RECV, slot, c->seq), 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, slot, c->seq));
	c->flags |= RECV_PAUSED;
}

/* One send for everything the connection has ready: the out buffer, then a body from store memory.
 * Referenced memory: c->out (released only after this send's CQE), c->iov/c->msg (inside the
 * connection, freed only after the CQE), c->body (pinned generation, unpinned in the CQE). */
static void send_submit(struct worker *w, struct conn *c)
{
	size_t out_left = c->out_len - c->out_sent;
	size_t body_left = c->body ? c->body_len - c->body_sent : 0;
	if (body_left > SEND_MAX)
		body_left = SEND_MAX; /* the rest follows from on_send, as after a short send */
	struct io_uring_sqe *sqe = sqe_get(w);
	bool zc = w->zerocopy_min && body_left >= w->zerocopy_min &&
	          (!c->zc_notifs || c->zc_gen == c->body_gen); /* one pinned generation at a time */
	if (zc && out_left == 0) {
		/* the pages stay referenced until the notification CQE: see the top of this file */
		io_uring_prep_send_zc(sqe, c->fd, c->body + c->body_sent, body_left, MSG_NOSIGNAL,
		                      0);
		if (c->zc_notifs++ == 0) {
			c->zc_gen = c->body_gen;
			gen_pin_at(w, c->zc_gen);
		}
		c->flags |= SEND_ZC;
	} else if (zc || body_left == 0) {
		/* with zc: the head alone, copied; the body follows zero-copy from on_send */
		io_uring_prep_send(sqe, c->fd, c->out + c->out_sent, out_left, MSG_NOSIGNAL);
	} else if (out_left == 0) {
		io_uring_prep_send(sqe, c->fd, c->body + c->body_sent, body_left, MSG_NOSIGNAL);
	} else {
		c->iov[0] = (struct iovec){c->out + c->out_sent, out_left};
		c->iov[1] = (struct iovec){(void *)(c->body + c->body_sent), body_left};
		c->msg = (struct msghdr){.msg_iov = c->iov, .msg_iovlen = 2};
		io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data64(sqe, ud_make(OP_SEND, conn_slot(w, c), c->seq));
	c->flags |= SEND_INFLIGHT;
	/* Started with the first send of a response; on_send restarts it on progress only, so a
	 * client that stops reading is closed send_timeout after its last byte went. */
	if (c->t_kind != T_SEND)
		timer_set(w, c, T_SEND);
}

/* ---- answering ---- */

static bool out_has_room(const struct conn *c)
{
	return !c->body && !c->mp && (!c->out || IO_BUF_SIZE - c->out_len >= HEAD_ROOM);
}

/* Appends one response to the connection's output. Returns false when out of memory. */
static bool emit(struct worker *w, struct conn *c, const struct cachet_reply *r,
                 const struct cachet_request *req)
{
	if (!c->out && !(c->out = pool_get(w)))
		return false;
	c->out_len += (uint32_t)cachet_response_write_head(r, req, w->stopping, w->date.text,
	                                                   c->out + c->out_len);
	if (r->multipart) { /* the parts follow the head, one send each: multipart_next() */
		struct multipart_send *m = malloc(sizeof(*m));
		if (!m)
			return false;
		m->plan = *r->multipart;
		m->gen = gen_pin(w);
		m->next = 0;
		c->mp = m;
	} else if (r->body_len) {
		if (r->body_len <= COPY_BODY_MAX && r->body_len <= IO_BUF_SIZE - c->out_len) {
			memcpy(c->out + c->out_len, r->body, r->body_len);
			c->out_len += (uint32_t)r->body_len;
		} else {
			c->body = r->body;
			c->body_len = r->body_len;
			c->body_sent = 0;
			c->body_gen = gen_pin(w);
		}
	}
	if (r->close || w->stopping || !req->keep_alive)
		c->flags |= CLOSE_AFTER_SEND;
	flush_mark(w, c);
	return true;
}

/* A request body is still arriving: the connection is not idle, and the header timeout (which
 * bounds how long a request may take to arrive) covers it. */
static bool body_pending(const struct conn *c)
{
	return c->discard || (c->flags & SKIP_CHUNKED);
}

/* Answers the complete requests at the start of buf[0..len) while the output has room.
 * Returns how many bytes were consumed; the rest is to be kept for later. */
static size_t answer(struct worker *w, struct conn *c, const char *buf, size_t len)
{
	size_t off = 0;
	while (off < len && !(c->flags & (CLOSE_AFTER_SEND | CLOSING))) {
		if (c->discard) { /* a body announced by Content-Length is skipped, never parsed */
			size_t k = len - off < c->discard ? len - off : (size_t)c->discard;
			off += k;
			c->discard -= k;
			continue;
		}
		if (c->flags & SKIP_CHUNKED) { /* so is a chunked one, up to its final CRLF */
			size_t used = 0;
			int st = cachet_chunked_skip(&c->chunk, buf + off, len - off, &used);
			off += used;
			if (st == CACHET_CHUNKED_MORE)
				continue;
			c->flags &= ~SKIP_CHUNKED;
			if (st == CACHET_CHUNKED_ERROR) {
				/* The request was answered before its body went wrong, and where
				 * the next request starts is unknowable: send what is queued, then
				 * close. */
				c->flags |= CLOSE_AFTER_SEND;
				flush_mark(w, c);
				return len;
			}
			continue;
		}
		if (!out_has_room(c))
			break;
		struct cachet_request req;
		struct cachet_reply r;
		int status = 400;
		int n = cachet_http_parse_request(buf + off, len - off, c->in_seen, &req, &status);
		if (n == CACHET_PARSE_INCOMPLETE) {
			c->in_seen = (uint32_t)(len - off);
			break;
		}
		c->in_seen = 0;
		if (n == CACHET_PARSE_ERROR) {
			req.keep_alive = false;
			req.minor_version = 1;
			cachet_response_error(w->gen, status, false, &r);
			r.close = true;
			off = len; /* nothing after a malformed request can be trusted */
		} else {
			off += (size_t)n;
			c->discard = req.has_content_length ? req.content_length : 0;
			if (req.chunked) {
				cachet_chunked_init(&c->chunk);
				c->flags |= SKIP_CHUNKED;
			}
			cachet_response_select(w->gen, &req, &r, &w->mp_plan);
		}
		if (!emit(w, c, &r, &req)) {
			conn_close(w, c);
			return len;
		}
	}
	return off;
}

/* Keeps unanswered input, growing the buffer past its pool size only for a burst of pipelined
 * requests. Returns false when the bound is hit or memory runs out. */
static bool stash(struct worker *w, struct conn *c, const char *data, size_t len)
{
	size_t need = c->in_len + len;
	if (len == 0)
		return true;
	if (need > PIPELINE_MAX) {
		fprintf(stderr,
		        "cachet: closing a connection with over %u bytes of unanswered "
		        "pipelined input\n",
		        PIPELINE_MAX);
		return false;
	}
	if (need > c->in_cap) {
		size_t cap = IO_BUF_SIZE;
		while (cap < need)
			cap *= 2;
		char *in = cap == IO_BUF_SIZE ? pool_get(w) : malloc(cap);
		if (!in)
			return false;
		if (c->in) {
			memcpy(in, c->in, c->in_len);
			in_release(w, c);
		}
		c->in = in;
		c->in_cap = (uint32_t)cap;
	}
	memcpy(c->in + c->in_len, data, len);
	c->in_len += (uint32_t)len;
	return true;
}

/* Whether the pending input is one request head still arriving and nothing else: the parser saw
 * all of it as incomplete. Such input is bounded by the head limits (414/431 before the head
 * ends, about 24.6 KiB), so it must keep being received whatever its size: only a complete
 * request can be answered, and answering is what resumes a paused recv. */
static bool head_incomplete(const struct conn *c)
{
	return c->in_len && c->in_seen == c->in_len && !body_pending(c);
}

/* Too much unanswered input: complete requests the client sends faster than it reads. */
static bool input_over(const struct conn *c)
{
	return c->in_len > PAUSE_INPUT && !head_incomplete(c);
}

/* Answers what the pending input allows, then keeps only the unanswered rest. */
static void answer_pending(struct worker *w, struct conn *c)
{
	size_t used = answer(w, c, c->in, c->in_len);
	if (c->flags & CLOSING)
		return;
	if (used) {
		c->in_len -= (uint32_t)used;
		memmove(c->in, c->in + used, c->in_len);
	}
	if (c->in_len == 0)
		in_release(w, c);
	if ((c->flags & RECV_PAUSED) && !(c->flags & RECV_ARMED) &&
	    (c->in_len < PAUSE_INPUT / 2 || head_incomplete(c))) {
		c->flags &= ~RECV_PAUSED;
		c->flags |= NEED_RECV;
		flush_mark(w, c);
	}
}

/* Bytes from the peer. The common case, a whole request and nothing pending, is answered straight
 * from the receive buffer; anything else is appended to the pending input first. */
static void conn_input(struct worker *w, struct conn *c, const char *data, size_t len)
{
	if (c->flags & (CLOSING | CLOSE_AFTER_SEND))
		return;
	if (c->in_len == 0 && !(c->flags & SEND_INFLIGHT)) {
		size_t used = answer(w, c, data, len);
		data += used;
		len -= used;
		if (c->flags & (CLOSING | CLOSE_AFTER_SEND))
			return;
	}
	if (!stash(w, c, data, len)) {
		conn_close(w, c);
		return;
	}
	if (!(c->flags & SEND_INFLIGHT) && c->in_len && out_has_room(c) && len)
		answer_pending(w, c);
	if (input_over(c) && (c->flags & RECV_ARMED) && !(c->flags & RECV_PAUSED))
		recv_pause(w, c);
	/* The header timeout covers the whole head from its first byte, not the gap between bytes:
	 * it is started when a partial request appears on an idle connection, never refreshed. */
	if ((c->in_len || body_pending(c)) && c->t_kind == T_IDLE)
		timer_set(w, c, T_HEADER);
}

/* ---- completions ---- */

static void buf_recycle(struct worker *w, uint16_t bid)
{
	io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * RECV_BUF_SIZE, RECV_BUF_SIZE, bid,
	                      io_uring_buf_ring_mask(RECV_BUF_COUNT), (int)w->br_added++);
}

static void accept_arm(struct worker *w)
{
	struct io_uring_sqe *sqe = sqe_get(w);
	io_uring_prep_multishot_accept(sqe, w->pub->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud_make(OP_ACCEPT, 0, 0));
	w->accept_armed = true;
}

/* (Re-)arms the accept unless it is outstanding, paused, or the worker is stopping. */
static void accept_want(struct worker *w)
{
	if (!w->accept_armed && !w->accept_paused && !w->stopping)
		accept_arm(w);
}

/* A failed accept. Descriptor or memory exhaustion lasts until connections close: accepting
 * pauses for ACCEPT_BACKOFF_MS (resumed by the tick) rather than failing in a loop. Other errors
 * concern one connection (ECONNABORTED...): accepting goes on. Logged once per ACCEPT_LOG_MS. */
static void accept_failed(struct worker *w, int err)
{
	if (!w->accept_logged || w->now_ms - w->accept_log_ms >= ACCEPT_LOG_MS) {
		if (w->accept_unlogged)
			fprintf(stderr, "cachet: worker %u: accept: %s (and %u more errors)\n",
			        w->pub->id, strerror(err), w->accept_unlogged);
		else
			fprintf(stderr, "cachet: worker %u: accept: %s\n", w->pub->id,
			        strerror(err));
		w->accept_logged = true;
		w->accept_log_ms = w->now_ms;
		w->accept_unlogged = 0;
	} else {
		w->accept_unlogged++;
	}
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		accept_want(w);
		return;
	}
	w->accept_paused = true;
	w->accept_resume_ms = w->now_ms + ACCEPT_BACKOFF_MS;
	if (w->accept_armed) { /* a multishot accept that goes on failing: stop it */
		struct io_uring_sqe *sqe = sqe_get(w);
		io_uring_prep_cancel64(sqe, ud_make(OP_ACCEPT, 0, 0), 0);
		io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
	}
}

/* Called from the tick: accepting resumes once the back-off is over. */
static void accept_resume(struct worker *w)
{
	if (w->accept_paused && (int32_t)(w->now_ms - w->accept_resume_ms) >= 0) {
		w->accept_paused = false;
		accept_want(w);
	}
}

static void on_accept(struct worker *w, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		w->accept_armed = false;
	if (cqe->res < 0) {
		if (cqe->res == -ECANCELED)
			accept_want(w); /* cancelled by stop or a pause: stays off; else re-armed */
		else
			accept_failed(w, -cqe->res);
		return;
	}
	accept_want(w);
	uint32_t slot;
	struct conn *c = w->stopping ? NULL : conn_alloc(w, &slot);
	if (!c) { /* over --max-connections, or stopping: refuse cleanly */
		struct io_uring_sqe *sqe = sqe_get(w);
		io_uring_prep_close(sqe, cqe->res);
		io_uring_sqe_set_data64(sqe, ud_make(OP_CLOSE_RAW, 0, 0));
		return;
	}
	c->fd = cqe->res;
	c->flags |= OPEN;
	c->t_prev = c->t_next = NIL;
	timer_set(w, c, T_HEADER);
	recv_arm(w, c);
}

static void on_recv(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->flags &= ~RECV_ARMED;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		if (cqe->res > 0)
			conn_input(w, c, (const char *)w->bufs + (size_t)bid * RECV_BUF_SIZE,
			           (size_t)cqe->res);
		buf_recycle(w, bid); /* nothing still points into it: answered or stashed */
	}
	if (c->flags & CLOSING) {
		conn_maybe_free(w, c);
		return;
	}
	if (cqe->res == 0 || (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED)) {
		/* The peer is done sending: every request it sent before is answered, then the
		 * connection closes (RFC 9112 §9.6). Requests still pending wait for the output to
		 * drain (on_send answers them); an incomplete one will never complete. */
		c->flags |= PEER_EOF;
		if (!(c->flags & SEND_INFLIGHT) && !c->out_len)
			conn_close(w, c);
		return;
	}
	if (!(c->flags & (RECV_ARMED | RECV_PAUSED | CLOSE_AFTER_SEND))) {
		c->flags |= NEED_RECV; /* re-armed at flush, after this batch's buffers are back */
		flush_mark(w, c);
	}
}

/* One fewer zero-copy notification outstanding; the last one releases the generation pin. */
static void zc_notif_done(struct worker *w, struct conn *c)
{
	if (c->zc_notifs == 0 || --c->zc_notifs > 0)
		return;
	gen_unpin(w, c->zc_gen);
	c->zc_gen = NULL;
	conn_maybe_free(w, c); /* a closing connection waited for this */
}

static void on_send(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe)
{
	if (cqe->flags & IORING_CQE_F_NOTIF) { /* the kernel let go of a zero-copy send's pages */
		zc_notif_done(w, c);
		return;
	}
	if ((c->flags & SEND_ZC) && !(cqe->flags & IORING_CQE_F_MORE))
		zc_notif_done(w, c); /* no notification will follow this one */
	c->flags &= ~(SEND_INFLIGHT | SEND_ZC);
	if (c->flags & CLOSING) {
		conn_maybe_free(w, c);
		return;
	}
	if (cqe->res < 0) {
		conn_close(w, c);
		return;
	}
	if (cqe->res == 0) {
		/* Every send carries at least one byte: a stream socket that took none cannot be
		 * resumed (resubmitting would spin). */
		conn_close(w, c);
		return;
	}
	timer_set(w, c, T_SEND); /* progress: the client is reading */
	size_t n = (size_t)cqe->res;
	size_t out_left = c->out_len - c->out_sent;
	size_t take = n < out_left ? n : out_left;
	c->out_sent += (uint32_t)take;
	c->body_sent += n - take;
	if (c->out_sent < c->out_len || (c->body && c->body_sent < c->body_len)) {
		send_submit(w, c); /* a short send: resume where it stopped */
		return;
	}
	c->out_len = c->out_sent = 0;
	if (c->body) {
		gen_unpin(w, c->body_gen);
		c->body = NULL;
	}
	if (c->mp) {
		int more = multipart_next(w, c);
		if (more < 0) {
			conn_close(w, c);
			return;
		}
		if (more) {
			send_submit(w, c);
			return;
		}
	}
	if (c->flags & CLOSE_AFTER_SEND) {
		conn_close(w, c);
		return;
	}
	if (c->in_len)
		answer_pending(w, c);
	if (!c->out_len && (c->flags & PEER_EOF)) {
		conn_close(w, c); /* all answered; what is left can never become a request */
		return;
	}
	if (!c->out_len && !(c->flags & CLOSING)) {
		pool_put(w, c->out);
		c->out = NULL;
		timer_set(w, c, c->in_len || body_pending(c) ? T_HEADER : T_IDLE);
	}
}

/* What a timer running out means: a head that did not complete in time gets 408 and a close; an
 * idle keep-alive connection, or one whose client stopped reading, is closed. */
static void timeout_fire(struct worker *w, struct conn *c, enum timer_kind kind)
{
	if (kind == T_HEADER && c->in_len && !(c->flags & SEND_INFLIGHT) && !c->out_len &&
	    !c->body) {
		struct cachet_request req = {.keep_alive = false, .minor_version = 1};
		struct cachet_reply r;
		cachet_response_error(w->gen, 408, false, &r);
		c->in_len = 0;
		in_release(w, c);
		if (emit(w, c, &r, &req))
			return; /* sent at the next flush, closed after it */
	}
	conn_close(w, c);
}

/* Called from the tick: expires timers from the head of each list until one is in the
 * future. Bounded by the number of connections. */
static void timers_expire(struct worker *w)
{
	for (unsigned k = T_HEADER; k < T_KINDS; k++) {
		struct timer_list *l = &w->timers[k];
		for (uint32_t n = 0; l->head != NIL && n < w->n_conns; n++) {
			struct conn *c = &w->conns[l->head];
			if ((int32_t)(c->t_deadline - w->now_ms) > 0)
				break;
			timer_unlink(w, c);
			timeout_fire(w, c, (enum timer_kind)k);
		}
	}
}

static void wake_arm(struct worker *w)
{
	struct io_uring_sqe *sqe = sqe_get(w);
	io_uring_prep_read(sqe, w->pub->wake_fd, &w->wake_value, sizeof(w->wake_value), 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_WAKE, 0, 0));
}

static void tick_arm(struct worker *w)
{
	struct io_uring_sqe *sqe = sqe_get(w);
	w->tick = (struct __kernel_timespec){.tv_nsec = TICK_NS};
	io_uring_prep_timeout(sqe, &w->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_TICK, 0, 0));
}

static void dispatch(struct worker *w, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	enum op op = ud_op(ud);
	switch (op) {
	case OP_ACCEPT:
		on_accept(w, cqe);
		return;
	case OP_WAKE:
		wake_arm(w);
		return;
	case OP_TICK:
		tick_arm(w);
		timers_expire(w);
		accept_resume(w);
		return;
	case OP_CLOSE_RAW:
	case OP_CANCEL:
	case OP_SHUTDOWN:
		return;
	default:
		break;
	}
	uint32_t slot = ud_slot(ud);
	if (slot >= w->used_conns || w->conns[slot].seq != ud_seq(ud)) {
		/* cannot happen while slots are freed only when idle; keep buffers safe regardless
		 */
		if (op == OP_RECV && (cqe->flags & IORING_CQE_F_BUFFER))
			buf_recycle(w, (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
		return;
	}
	struct conn *c = &w->conns[slot];
	if (op == OP_RECV)
		on_recv(w, c, cqe);
	else if (op == OP_SEND)
		on_send(w, c, cqe);
	else if (op == OP_CLOSE) {
		c->flags &= ~CLOSE_INFLIGHT;
		conn_maybe_free(w, c);
	}
}

/* After a batch: one send per connection with output, recvs re-armed, idle closes done. */
static void flush(struct worker *w)
{
	while (w->flush_head != NIL) {
		struct conn *c = &w->conns[w->flush_head];
		w->flush_head = c->next;
		c->flags &= ~DIRTY;
		if (c->flags & CLOSING) {
			conn_maybe_free(w, c);
			continue;
		}
		if ((c->flags & NEED_RECV) && !(c->flags & (RECV_ARMED | RECV_PAUSED | PEER_EOF)))
			recv_arm(w, c);
		bool pending = c->out_len > c->out_sent || c->body;
		if (pending && !(c->flags & SEND_INFLIGHT))
			send_submit(w, c);
		else if (!pending && !(c->flags & SEND_INFLIGHT) && (c->flags & CLOSE_AFTER_SEND))
			conn_close(w, c);
	}
}

/* ---- set-up, stop, the loop ---- */

static int ring_setup(struct worker *w)
{
	struct io_uring_params p = {
	    .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
	             IORING_SETUP_SUBMIT_ALL,
	    .cq_entries = CQ_ENTRIES,
	};
	int rc = io_uring_queue_init_params(SQ_ENTRIES, &w->ring, &p);
	if (rc == -EINVAL) { /* kernels before 6.1: completions run as cooperative task work */
		p = (struct io_uring_params){.flags =
		                                 IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE,
		                             .cq_entries = CQ_ENTRIES};
		rc = io_uring_queue_init_params(SQ_ENTRIES, &w->ring, &p);
	}
	if (rc < 0)
		return rc;
	w->ring_ok = true; /* from here on worker_cleanup must exit the ring */
#ifndef CACHET_NO_RING_FD
	/* A registered ring fd spares io_uring_enter() its file-table lookup on every call
	 * (bench/ab, 304-1k: without it, 2.4% more CPU per request). Optional: old kernels work
	 * without it. */
	io_uring_register_ring_fd(&w->ring);
#endif
	/* liburing 2.3 has no io_uring_setup_buf_ring(): map a page-aligned ring and register it.
	 */
	size_t ring_bytes = RECV_BUF_COUNT * sizeof(struct io_uring_buf);
	void *mem =
	    mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	w->br = mem;
	struct io_uring_buf_reg reg = {
	    .ring_addr = (uintptr_t)mem, .ring_entries = RECV_BUF_COUNT, .bgid = BUF_GROUP};
	rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (rc < 0)
		return rc;
	io_uring_buf_ring_init(w->br);
	w->bufs = malloc((size_t)RECV_BUF_COUNT * RECV_BUF_SIZE);
	if (!w->bufs)
		return -ENOMEM;
	for (unsigned i = 0; i < RECV_BUF_COUNT; i++)
		buf_recycle(w, (uint16_t)i);
	io_uring_buf_ring_advance(w->br, (int)w->br_added);
	w->br_added = 0;
	return 0;
}

static int worker_init(struct worker *w, struct cachet_worker *pub)
{
	w->pub = pub;
	w->free_head = w->flush_head = NIL;
	for (unsigned k = 0; k < T_KINDS; k++)
		w->timers[k].head = w->timers[k].tail = NIL;
	w->timeout_ms[T_HEADER] = pub->shared->header_timeout_s * 1000;
	w->timeout_ms[T_IDLE] = pub->shared->keepalive_timeout_s * 1000;
	w->timeout_ms[T_SEND] = pub->shared->send_timeout_s * 1000;
	w->zerocopy_min = pub->shared->zerocopy_min;
	w->now_ms = (uint32_t)(cachet_clock_coarse_ns() / 1000000);
	w->n_conns = (uint32_t)pub->shared->max_conns_per_worker;
	w->conns = calloc(w->n_conns, sizeof(*w->conns));
	w->pool = calloc(POOL_KEEP, sizeof(*w->pool));
	if (!w->conns || !w->pool)
		return -ENOMEM;
	int rc = ring_setup(w);
	if (rc < 0)
		return rc;
	w->gen = atomic_load_explicit(&pub->shared->current, memory_order_acquire);
	cachet_store_ref(w->gen);
	atomic_store_explicit(&pub->gen_seen, w->gen->generation, memory_order_release);
	cachet_httpdate_cache_refresh(&w->date);
	accept_arm(w);
	wake_arm(w);
	tick_arm(w);
	return 0;
}

bool cachet_worker_zerocopy_supported(void)
{
	struct io_uring_probe *probe = io_uring_get_probe();
	if (!probe)
		return false;
	bool ok = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC); /* the only one used */
	io_uring_free_probe(probe);
	return ok;
}

/* Graceful stop, first step: no new connections; idle ones close now, busy ones after their
 * response (emit() adds Connection: close while stopping). */
static void stop_begin(struct worker *w)
{
	w->stopping = true;
	w->stop_deadline = cachet_clock_coarse_ns() + STOP_GRACE_NS;
	/* shutdown() takes the socket out of LISTEN at once. Cancelling the multishot accept is not
	 * enough: the ring is torn down asynchronously after exit, and until then the accept's file
	 * reference keeps the socket listening and the kernel keeps completing handshakes. */
	shutdown(w->pub->listen_fd, SHUT_RDWR);
	struct io_uring_sqe *sqe = sqe_get(w);
	io_uring_prep_cancel64(sqe, ud_make(OP_ACCEPT, 0, 0), 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
	for (uint32_t i = 0; i < w->used_conns; i++) {
		struct conn *c = &w->conns[i];
		if (!(c->flags & OPEN) || (c->flags & CLOSING))
			continue;
		if (!(c->flags & SEND_INFLIGHT) && c->out_len == 0 && c->in_len == 0 &&
		    !body_pending(c))
			conn_close(w, c);
		else
			c->flags |= CLOSE_AFTER_SEND;
	}
}

static void worker_cleanup(struct worker *w)
{
	for (uint32_t i = 0; i < w->used_conns; i++) {
		struct conn *c = &w->conns[i];
		if ((c->flags & OPEN) && !(c->flags & CLOSING))
			close(c->fd);
	}
	/* The ring goes first: it cancels what is still outstanding, and only then is the memory
	 * those SQEs referenced (connection buffers, receive buffers, iovecs) freed. */
	if (w->ring_ok)
		io_uring_queue_exit(&w->ring);
	for (uint32_t i = 0; w->conns && i < w->used_conns; i++) {
		struct conn *c = &w->conns[i];
		free(c->in);
		free(c->out);
		free(c->mp);
	}
	for (uint32_t i = 0; i < w->pool_n; i++)
		free(w->pool[i]);
	for (unsigned i = 0; i < RETIRED_MAX; i++)
		if (w->retired[i].gen)
			cachet_store_unref(w->retired[i].gen);
	if (w->gen)
		cachet_store_unref(w->gen);
	if (w->br)
		munmap(w->br, RECV_BUF_COUNT * sizeof(struct io_uring_buf));
	free(w->bufs);
	free(w->pool);
	free(w->conns);
	close(w->pub->listen_fd);
}

static void worker_loop(struct worker *w)
{
	struct cachet_shared *sh = w->pub->shared;
	for (;;) {
		int rc = io_uring_submit_and_wait(&w->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
			fprintf(stderr, "cachet: worker %u: io_uring_enter: %s\n", w->pub->id,
			        strerror(-rc));
			return;
		}
		cachet_httpdate_cache_refresh(&w->date);
		w->now_ms = (uint32_t)(cachet_clock_coarse_ns() / 1000000);
		unsigned head, n = 0;
		struct io_uring_cqe *cqe;
		io_uring_for_each_cqe(&w->ring, head, cqe)
		{
			dispatch(w, cqe);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
		if (w->br_added) {
			io_uring_buf_ring_advance(w->br, (int)w->br_added);
			w->br_added = 0;
		}
		flush(w);
		gen_follow(w);
		if (!w->stopping && atomic_load_explicit(&sh->stopping, memory_order_relaxed))
			stop_begin(w);
		if (w->stopping && (w->live == 0 || cachet_clock_coarse_ns() > w->stop_deadline))
			return;
	}
}

static void *worker_main(void *arg)
{
	struct cachet_worker *pub = arg;
	struct worker *w = calloc(1, sizeof(*w));
	if (pub->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(pub->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	pub->start_rc = w ? worker_init(w, pub) : -ENOMEM;
	int rc = pub->start_rc;
	sem_post(pub->started);
	if (rc == 0)
		worker_loop(w);
	if (w) {
		w->pub = pub;
		worker_cleanup(w);
		free(w);
	}
	atomic_store(&pub->exited, true);
	return NULL;
}

int cachet_worker_start(struct cachet_worker *w)
{
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->wake_fd < 0)
		return -errno;
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc) {
		close(w->wake_fd);
		w->wake_fd = -1;
	}
	return -rc;
}

void cachet_worker_join(struct cachet_worker *w)
{
	pthread_join(w->thread, NULL);
	/* Closed only now: until the join others may still wake the worker (a worker that failed
	 * or exited early included), and a descriptor closed sooner could be reused by then. */
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	w->wake_fd = -1;
}

void cachet_worker_wake(struct cachet_worker *w)
{
	uint64_t one = 1;
	if (w->wake_fd < 0)
		return; /* joined */
	ssize_t r = write(w->wake_fd, &one, sizeof(one));
	(void)r; /* EAGAIN means a wake is already pending: as good */
}
