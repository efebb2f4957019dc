/* worker.c - one thread, one ring: accept, receive, dispatch to the protocol, send, close.
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
 *  - an HTTP/2 connection's send points at the output buffer and iovec array its cachet_h2 owns;
 *    h2 only appends behind what was handed out, until cachet_h2_sent() in the CQE; each body
 *    iovec holds its own pin (h2_pin/h2_unpin), each stream with a body not yet queued one more.
 *    cachet_h2_free() runs only in conn_maybe_free (no send in flight) or after the ring is gone.
 *
 * Protocols: the first bytes choose (proto_choose): the HTTP/2 preface -> h2 (h2.h, with the
 * glue below: h2_input, h2_sent, h2_after, h2_timeout), anything else -> HTTP/1.1 (h1.c). Both
 * use only what conn.h offers; only this file touches the ring.
 */
#define _GNU_SOURCE
#include "cachet/worker.h"

#include "conn.h"
#include "h1.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cachet/clock.h"
#include "cachet/h2.h"
#include "cachet/h2_frame.h"
#include "cachet/httpdate.h"

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
/* per worker, at most; power of two */
#ifndef RECV_BUF_COUNT
#define RECV_BUF_COUNT 512u
#endif
/* The ring starts with this many buffers and grows by as many whenever a receive finds it empty
 * (ENOBUFS), up to RECV_BUF_COUNT. The kernel takes buffers in ring order, so every buffer in the
 * ring is written to sooner or later: with all 512 in it from the start, a server that never had
 * more than a few receives at once still had 2 MB a worker of resident memory after a few
 * hundred requests (issue 15: +2.4 MB of RSS at two workers after bench/scale's 600 probes;
 * +0.1 MB with 32 to start). A buffer goes back to the ring as soon as its receive is handled,
 * so the ring holds what the largest batch of simultaneous receives needed. */
#ifndef RECV_BUF_STEP
#define RECV_BUF_STEP 32u
#endif
#define BUF_GROUP  0
#define SQ_ENTRIES 1024u
#define CQ_ENTRIES 16384u
#define TICK_NS    250000000L /* timer resolution: timeouts fire 0-250 ms late */
/* Draining, an idle HTTP/1.1 connection is closed once it has been idle this long. */
#define DRAIN_IDLE_MS 2000u
#define STOP_GRACE_NS (4500LL * 1000000) /* finish in-flight responses within this on stop */
/* Out of descriptors (or memory), accept() fails until something closes: accepting stops this
 * long instead of failing at once again and again (nginx pauses the same way). */
#define ACCEPT_BACKOFF_MS 500u
#define ACCEPT_LOG_MS     1000u /* accept errors are logged at most once per this */

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

/* ---- generation pins ---- */

/* HTTP/2 bodies are pinned through these (h2.h): one pin per queued body iovec and one per
 * stream holding a body, released when it has been sent or the stream is gone. */
static void h2_pin(void *worker, struct cachet_store *gen)
{
	gen_pin_at(worker, gen);
}

static void h2_unpin(void *worker, struct cachet_store *gen)
{
	gen_unpin(worker, gen);
}

/* An HTTP/2 connection's output buffer comes from the same pool as HTTP/1.1's. */
static char *h2_buf_get(void *worker)
{
	return pool_get(worker);
}

static void h2_buf_put(void *worker, char *buf)
{
	pool_put(worker, buf);
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
	w->h2env.gen = cur;
	w->h1_memo.len = 0; /* its reply points into the old generation */
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
	cachet_h1_free(w, c);
	cachet_h2_free(c->h2); /* no send in flight: nothing points into its output any more */
	c->h2 = NULL;
	c->out = NULL;
	c->body = NULL;
	c->seq++;
	c->flags = 0;
	cachet_metrics_add(&w->pub->obs.metrics->closed, 1); /* observe */
	c->next = w->free_head;
	w->free_head = conn_slot(w, c);
	w->live--;
}

/* Starts closing: cancels the recv (a multishot recv holds the file open past close()), shuts the
 * socket down if a send is stuck on it, and closes the descriptor. */
void conn_close(struct worker *w, struct conn *c)
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
void recv_pause(struct worker *w, struct conn *c)
{
	uint32_t slot = conn_slot(w, c);
	struct io_uring_sqe *sqe = sqe_get(w);
	io_uring_prep_cancel64(sqe, ud_make(OP_RECV, slot, c->seq), 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, slot, c->seq));
	c->flags |= RECV_PAUSED;
}

/* One send for everything an HTTP/2 connection has ready: frames and copied bodies in its output
 * buffer, bodies as iovecs into store memory. Referenced memory: the iovec array and the output
 * buffer belong to c->h2 and stay unchanged until cachet_h2_sent() in the CQE; each body iovec
 * holds its own generation pin until then; c->msg lives in the connection, freed after the CQE. */
static void h2_send_submit(struct worker *w, struct conn *c)
{
	unsigned n;
	const struct iovec *iov = cachet_h2_iov(c->h2, &n);
	struct io_uring_sqe *sqe = sqe_get(w);
	if (n == 1) {
		io_uring_prep_send(sqe, c->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
	} else {
		c->msg = (struct msghdr){.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
		io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data64(sqe, ud_make(OP_SEND, conn_slot(w, c), c->seq));
	c->flags |= SEND_INFLIGHT;
	if (c->t_kind != T_SEND)
		timer_set(w, c, T_SEND);
}

/* One send for everything the connection has ready: the out buffer, then a body from store memory.
 * Referenced memory: c->out (released only after this send's CQE), c->iov/c->msg (inside the
 * connection, freed only after the CQE), c->body (pinned generation, unpinned in the CQE). */
static void send_submit(struct worker *w, struct conn *c)
{
	if (c->h2) {
		h2_send_submit(w, c);
		return;
	}
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

/* Keeps unanswered input, growing the buffer past its pool size only for a burst of pipelined
 * requests. Returns false when the bound is hit or memory runs out. */
bool stash(struct worker *w, struct conn *c, const char *data, size_t len)
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

/* ---- HTTP/2 connections: the worker's side of h2.h ---- */

/* After HTTP/2 work: output to send goes on the flush list; a connection that is done closes
 * once its output has gone; otherwise the timer says what the connection waits for: the peer to
 * open a flow-control window (T_SEND: streams are reset when it runs out), or anything (T_IDLE:
 * GOAWAY and close). */
static void h2_after(struct worker *w, struct conn *c)
{
	if (c->flags & CLOSING)
		return;
	bool out = cachet_h2_has_output(c->h2);
	if (out)
		flush_mark(w, c);
	if (cachet_h2_closing(c->h2)) {
		if (out || (c->flags & SEND_INFLIGHT))
			c->flags |= CLOSE_AFTER_SEND;
		else
			conn_close(w, c);
		return;
	}
	if (out || (c->flags & SEND_INFLIGHT))
		return; /* the send timer runs */
	if (!cachet_h2_stalled(c->h2))
		timer_set(w, c, T_IDLE);
	else if (c->t_kind != T_SEND)
		timer_set(w, c, T_SEND);
}

/* Offers the kept input again (after a send made room in the output). */
static void h2_pending(struct worker *w, struct conn *c)
{
	in_consume(w, c, cachet_h2_input(c->h2, (const uint8_t *)c->in, c->in_len));
	/* what is left is at most one incomplete frame: receive the rest of it */
	if (c->in_len <= CACHET_H2_HEADER_LEN + CACHET_H2_FRAME_MIN)
		recv_resume(w, c);
}

/* Bytes for an HTTP/2 connection. While a send is in flight they are kept (h2 appends output
 * only between sends, see h2.h), and offered after its completion. */
static void h2_input(struct worker *w, struct conn *c, const char *data, size_t len)
{
	if (!(c->flags & SEND_INFLIGHT) && c->in_len == 0) {
		size_t used = cachet_h2_input(c->h2, (const uint8_t *)data, len);
		data += used;
		len -= used;
	}
	if (!stash(w, c, data, len)) {
		conn_close(w, c);
		return;
	}
	if (!(c->flags & SEND_INFLIGHT) && c->in_len && len)
		h2_pending(w, c);
	if (c->in_len > H2_PAUSE_INPUT && (c->flags & RECV_ARMED) && !(c->flags & RECV_PAUSED))
		recv_pause(w, c);
	h2_after(w, c);
}

/* A send of an HTTP/2 connection completed with n bytes. Kept input goes first (new requests and
 * WINDOW_UPDATEs must not wait behind a long body: h2 then appends behind what is queued), then
 * the rest of the output, or what the streams have produced since, is sent. */
static void h2_sent(struct worker *w, struct conn *c, size_t n)
{
	cachet_h2_sent(c->h2, n);
	if (c->in_len)
		h2_pending(w, c);
	if (cachet_h2_has_output(c->h2)) {
		send_submit(w, c);
		return;
	}
	if (c->flags & (CLOSE_AFTER_SEND | PEER_EOF)) {
		conn_close(w, c);
		return;
	}
	h2_after(w, c);
}

/* A timer of an HTTP/2 connection ran out: a peer that stopped reading is closed; streams stalled
 * on a closed window past --send-timeout are reset; an idle connection gets GOAWAY and closes. */
static void h2_timeout(struct worker *w, struct conn *c, enum timer_kind kind)
{
	if (c->flags & SEND_INFLIGHT) {
		conn_close(w, c);
		return;
	}
	if (kind == T_SEND) {
		cachet_h2_expire_stalled(c->h2, 0);
		h2_after(w, c);
		return;
	}
	cachet_h2_goaway(c->h2);
	c->flags |= CLOSE_AFTER_SEND;
	flush_mark(w, c);
}

/* "PRI * HTTP/2.0
": a client that sends this line speaks HTTP/2; if the rest of its preface
 * is wrong, that is an HTTP/2 connection error (GOAWAY PROTOCOL_ERROR), not an HTTP/1.1 505. */
#define PREFACE_LINE_LEN 16u

/* Chooses the protocol from the first bytes (kept ones and data): the HTTP/2 preface, or anything
 * else HTTP/1.1. Returns false while they are a proper prefix of its first line: more are
 * needed. */
static bool proto_choose(struct worker *w, struct conn *c, const char *data, size_t len)
{
	char first[CACHET_H2_PREFACE_LEN];
	size_t n = c->in_len < sizeof(first) ? c->in_len : sizeof(first);
	if (n)
		memcpy(first, c->in, n);
	size_t k = len < sizeof(first) - n ? len : sizeof(first) - n;
	memcpy(first + n, data, k);
	n += k;
	if (n > PREFACE_LINE_LEN)
		n = PREFACE_LINE_LEN; /* the request line decides; h2 checks the rest (GOAWAY) */
	if (!w->http2 || memcmp(first, CACHET_H2_PREFACE, n) != 0) {
		c->proto = PROTO_H1; /* with --no-http2 the preface gets HTTP/1.1's 505 */
		return true;
	}
	if (n < PREFACE_LINE_LEN)
		return false;
	c->h2 = cachet_h2_new(&w->h2env);
	if (c->h2)
		cachet_h2_set_remote(c->h2, &c->remote); /* observe: the log lines' peer */
	c->proto = PROTO_H2;
	return true;
}

/* Bytes from the peer. The common case, a whole request and nothing pending, is answered straight
 * from the receive buffer; anything else is appended to the pending input first. */
static void conn_input(struct worker *w, struct conn *c, const char *data, size_t len)
{
	if (c->flags & (CLOSING | CLOSE_AFTER_SEND))
		return;
	if (c->proto != PROTO_H1) {
		if (c->proto == PROTO_NEW && !proto_choose(w, c, data, len)) {
			if (!stash(w, c, data, len))
				conn_close(w, c);
			return;
		}
		if (c->proto == PROTO_H2) {
			if (c->h2)
				h2_input(w, c, data, len);
			else
				conn_close(w, c); /* out of memory */
			return;
		}
	}
	cachet_h1_input(w, c, data, len);
}

/* ---- completions ---- */

static void buf_recycle(struct worker *w, uint16_t bid)
{
	io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * RECV_BUF_SIZE, RECV_BUF_SIZE, bid,
	                      io_uring_buf_ring_mask(RECV_BUF_COUNT), (int)w->br_added++);
}

/* ENOBUFS: the receives of one batch took every buffer; the ring gets RECV_BUF_STEP more, if it
 * has room (advanced with the recycled ones at the end of the batch). */
static void bufs_grow(struct worker *w)
{
	for (unsigned i = 0; i < RECV_BUF_STEP && w->br_given < RECV_BUF_COUNT; i++)
		buf_recycle(w, (uint16_t)w->br_given++);
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

static void conn_adopt(struct worker *w, int fd);

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
	conn_adopt(w, cqe->res);
}

/* A socket accepted (by the multishot accept, or by stop_begin emptying the queue) becomes a
 * connection; over --max-connections it is closed at once. Draining, it still gets its answer
 * (with Connection: close): the client connected before the listener closed. */
static void conn_adopt(struct worker *w, int fd)
{
	uint32_t slot;
	struct conn *c = conn_alloc(w, &slot);
	cachet_metrics_add(c ? &w->pub->obs.metrics->accepted : &w->pub->obs.metrics->rejected,
	                   1); /* observe */
	if (!c) {              /* over --max-connections: refuse cleanly */
		struct io_uring_sqe *sqe = sqe_get(w);
		io_uring_prep_close(sqe, fd);
		io_uring_sqe_set_data64(sqe, ud_make(OP_CLOSE_RAW, 0, 0));
		return;
	}
	c->fd = fd;
	c->flags |= OPEN;
	if (w->pub->obs.log)
		cachet_observe_remote(c->fd, &c->remote); /* observe: for the log lines */
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
	if (cqe->res == -ENOBUFS)
		bufs_grow(w);
	if (cqe->res == 0 || (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED)) {
		/* The peer is done sending: every request it sent before is answered, then the
		 * connection closes (RFC 9112 §9.6). Requests still pending wait for the output to
		 * drain (on_send answers them); an incomplete one will never complete. */
		c->flags |= PEER_EOF;
		if (!(c->flags & SEND_INFLIGHT) && !c->out_len &&
		    !(c->h2 && cachet_h2_has_output(c->h2)))
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
	if (c->h2) {
		h2_sent(w, c, (size_t)cqe->res);
		return;
	}
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
	if (cachet_h1_sent(w, c))
		send_submit(w, c);
}

/* What a timer running out means: a head that did not complete in time gets 408 and a close; an
 * idle keep-alive connection, or one whose client stopped reading, is closed. */
static void timeout_fire(struct worker *w, struct conn *c, enum timer_kind kind)
{
	static const enum cachet_metrics_timeout counted[T_KINDS] = {
	    [T_HEADER] = CACHET_TIMEOUT_HEADER,
	    [T_IDLE] = CACHET_TIMEOUT_IDLE,
	    [T_SEND] = CACHET_TIMEOUT_SEND,
	};
	cachet_metrics_add(&w->pub->obs.metrics->timeouts[counted[kind]], 1); /* observe */
	if (c->h2) {
		h2_timeout(w, c, kind);
		return;
	}
	cachet_h1_timeout(w, c, kind);
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

/* Draining, at each tick: HTTP/1.1 connections idle for DRAIN_IDLE_MS are closed (a keep-alive
 * one since its last answer, a new one since it was accepted). A client that has been quiet this
 * long is unlikely to be sending at that moment; one that sends sooner gets its answer with
 * Connection: close. HTTP/2 connections end with their GOAWAY. */
static void drain_idle(struct worker *w)
{
	for (uint32_t i = 0; i < w->used_conns; i++) {
		struct conn *c = &w->conns[i];
		if (!(c->flags & OPEN) || (c->flags & CLOSING) || c->h2)
			continue;
		bool idle = c->t_kind == T_IDLE ||
		            (c->t_kind == T_HEADER && c->in_len == 0 && !c->discard &&
		             !(c->flags & SKIP_CHUNKED) && !c->out_len);
		/* the timer was set timeout_ms[kind] before its deadline: that is when it went idle
		 */
		uint32_t since = c->t_deadline - w->timeout_ms[c->t_kind];
		if (idle && (int32_t)(w->now_ms - since) >= (int32_t)DRAIN_IDLE_MS)
			conn_close(w, c);
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
		if (w->stopping)
			drain_idle(w);
		if (w->pub->obs.log) /* observe: a quiet worker's lines go out within a second */
			cachet_accesslog_seal(w->pub->obs.log);
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
		bool pending =
		    c->out_len > c->out_sent || c->body || (c->h2 && cachet_h2_has_output(c->h2));
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
	bufs_grow(w); /* the first RECV_BUF_STEP */
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
	w->http2 = pub->shared->http2;
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
	w->h2env = (struct cachet_h2_env){.worker = w,
	                                  .obs = &pub->obs,
	                                  .gen = w->gen,
	                                  .date = w->date.text,
	                                  .now_ms = w->now_ms,
	                                  .pin = h2_pin,
	                                  .unpin = h2_unpin,
	                                  .buf_get = h2_buf_get,
	                                  .buf_put = h2_buf_put,
	                                  .buf_size = IO_BUF_SIZE};
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

/* Graceful stop (drain), first step: no new connections. Each HTTP/1.1 connection closes after
 * its next answer (which carries Connection: close), idle ones after a grace (drain_idle); each
 * HTTP/2 one gets GOAWAY and ends when its streams are done. */
static void stop_begin(struct worker *w)
{
	w->stopping = true;
	w->stop_deadline = cachet_clock_coarse_ns() + STOP_GRACE_NS;
	/* shutdown() takes the socket out of LISTEN at once. Cancelling the multishot accept is not
	 * enough: the ring is torn down asynchronously after exit, and until then the accept's file
	 * reference keeps the socket listening and the kernel keeps completing handshakes. What
	 * the kernel already queued is taken first: closing a listener resets the connections in
	 * its queue (with --replace new ones go to the new server by now: service.c steers them).
	 * A socket systemd passed is left alone: systemd keeps it for the next start. */
	if (!w->pub->listen_shared) {
		int fd, flags = fcntl(w->pub->listen_fd, F_GETFL);
		if (flags >= 0 && fcntl(w->pub->listen_fd, F_SETFL, flags | O_NONBLOCK) == 0)
			for (uint32_t n = 0;
			     n < w->n_conns &&
			     (fd = accept4(w->pub->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0;
			     n++)
				conn_adopt(w, fd);
		shutdown(w->pub->listen_fd, SHUT_RDWR);
	}
	struct io_uring_sqe *sqe = sqe_get(w);
	io_uring_prep_cancel64(sqe, ud_make(OP_ACCEPT, 0, 0), 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
	for (uint32_t i = 0; i < w->used_conns; i++) {
		struct conn *c = &w->conns[i];
		if (!(c->flags & OPEN) || (c->flags & CLOSING))
			continue;
		if (c->h2) { /* GOAWAY with the last stream id; the streams in flight finish */
			cachet_h2_goaway(c->h2);
			h2_after(w, c);
			continue;
		}
		cachet_h1_stop(w, c);
	}
}

static void worker_cleanup(struct worker *w)
{
	if (w->pub->obs.log) /* observe: the last lines, written by the writer's final pass */
		cachet_accesslog_seal(w->pub->obs.log);
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
		cachet_h2_free(c->h2); /* after the ring: no send points into it any more */
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
		w->h2env.now_ms = w->now_ms;
		if (w->pub->obs.log) /* observe: request durations */
			w->h2env.turn_ns = w->turn_ns = cachet_clock_mono_ns();
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
		if (w->stopping && ((w->live == 0 && !w->accept_armed) ||
		                    cachet_clock_coarse_ns() > w->stop_deadline))
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
