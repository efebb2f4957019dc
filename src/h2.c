/* h2.c - HTTP/2 on one connection (RFC 9113): frames, streams, flow control, bounds.
 *
 * Why an own frame layer instead of nghttp2_session: answers are preformatted HPACK blocks copied
 * and patched in place (Date), several ready answers leave in one send, and bodies go out as
 * iovecs into pinned store memory. nghttp2_session would copy every body through its callbacks
 * and encode every header block again. Decoding stays libnghttp2's (the HPACK inflater: Huffman,
 * dynamic table, size limits), which is where the hard parts are.
 *
 * Streams live in a fixed table of CACHET_H2_MAX_STREAMS slots, kept dense (a finished stream is
 * replaced by the last one), so the per-frame work never scans more than the open streams.
 * Requests are answered as soon as their header block is complete: a request body (POST to a
 * static server) is read, credited and dropped.
 *
 * Bounds against hostile peers (each checked where it applies):
 *  - frames longer than our SETTINGS_MAX_FRAME_SIZE: GOAWAY FRAME_SIZE_ERROR;
 *  - streams beyond CACHET_H2_MAX_STREAMS: RST_STREAM REFUSED_STREAM (the header block is still
 *    decoded, to keep the HPACK state in step);
 *  - a header list over CACHET_HEADER_BYTES_MAX (RFC 7541 §4.1 sizes): 431 on that stream; a
 *    header block (all its CONTINUATION frames) over BLOCK_MAX, or decoding to more than
 *    DECODED_MAX (an HPACK bomb): GOAWAY ENHANCE_YOUR_CALM;
 *  - streams reset by the peer (rapid reset, CVE-2023-44487) and control frames that cost us
 *    work (PING, SETTINGS, PRIORITY, empty DATA, RST_STREAM) are counted per second: over
 *    FLOOD_MAX, GOAWAY ENHANCE_YOUR_CALM;
 *  - output is bounded by the output buffer: when it is full, input is left unconsumed (the
 *    worker keeps it, stops receiving past its own bound, and its send timeout ends a peer that
 *    does not read).
 */
#include "cachet/h2.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

#include "cachet/h2_frame.h"
#include "cachet/hpack.h"
#include "cachet/http_parse.h"
#include "cachet/observe.h"
#include "cachet/httpdate.h"
#include "cachet/multipart.h"
#include "cachet/response.h"

#define OUT_RESERVE 8192u /* room kept free before a frame is read (one answer's worst) */
#define COPY_MAX    4096u /* bodies up to this are copied into the output (one iovec less) */
/* a head is written into the room reserved for it (answer) */
_Static_assert(OUT_RESERVE >= CACHET_H2_HEADER_LEN + CACHET_RESPONSE_H2_MAX, "room for a head");
#define WINDOW_DEFAULT 65535
#define WINDOW_MAX     0x7fffffffLL
#define BLOCK_MAX      (64u * 1024)                   /* one header block, CONTINUATIONs included */
#define DECODED_MAX    (4u * CACHET_HEADER_BYTES_MAX) /* decoded size before it is a bomb */
#define FLOOD_MAX      1000u                          /* costly control frames per second */
#define FIELDS_BUF     (CACHET_HEADER_BYTES_MAX + 1024u)

/* A multipart/byteranges body sent as DATA: part heads and the close delimiter are made into
 * head[] when their turn comes and copied into the output; the ranges are iovecs. */
struct h2_multipart {
	struct cachet_multipart plan;
	unsigned
	    next; /* the piece to make next: part i's head, then its bytes; plan.set.n: close */
	bool bytes_next;
	char head[CACHET_MULTIPART_PART_HEAD_MAX + 256];
};

struct stream {
	uint32_t id;
	int64_t start_ns;   /* the turn its HEADERS arrived in: the access log's duration */
	bool remote_closed; /* END_STREAM (or a reset) received */
	bool local_closed;  /* END_STREAM sent */
	bool answered;      /* the HEADERS of the answer are queued */
	bool has_cl;        /* the request announced a Content-Length */
	int64_t send_window;
	int32_t recv_window;
	uint64_t content_length, data_seen;
	/* the body left to send: bytes in the pinned generation gen, or (copy) in mp->head */
	const uint8_t *body;
	size_t body_left;
	bool body_copy;
	struct cachet_store *gen; /* pinned while body/mp are set */
	struct h2_multipart *mp;
	uint32_t stalled_since; /* now_ms when the window closed on a pending body; 0: not */
};

struct seg {
	const uint8_t *p;
	uint32_t len;
	struct cachet_store *gen; /* NULL: bytes in obuf; else a pinned body slice */
};

/* A header block being received (HEADERS then CONTINUATION frames). */
struct hblock {
	uint32_t stream; /* 0: none open */
	bool end_stream; /* the HEADERS had END_STREAM */
	bool discard;    /* decode only (refused, ignored or trailers) */
	bool trailers;   /* for an open stream: must hold no pseudo-header */
	bool malformed;  /* answer RST_STREAM PROTOCOL_ERROR */
	bool too_large;  /* answer 431 */
	bool regular_seen;
	uint32_t block_bytes, list_bytes, decoded_bytes;
	unsigned pseudo; /* bitmask of PSEUDO_* seen */
	struct cachet_request req;
	size_t fields_len;
	bool has_cl;
	uint64_t content_length;
};

enum {
	PSEUDO_METHOD = 1,
	PSEUDO_SCHEME = 2,
	PSEUDO_PATH = 4,
	PSEUDO_AUTHORITY = 8,
};

struct cachet_h2 {
	const struct cachet_h2_env *env;
	const struct cachet_log_remote *remote; /* for the access log (observe) */
	nghttp2_hd_inflater *inflater;
	uint32_t preface_seen;
	bool settings_seen;   /* the client's first SETTINGS */
	bool closing;         /* GOAWAY for an error sent: read nothing more */
	bool going_away;      /* GOAWAY NO_ERROR sent: no new streams */
	bool peer_gone;       /* the peer sent GOAWAY */
	uint32_t last_stream; /* highest stream id the peer opened (processed) */
	/* peer settings */
	uint32_t peer_max_frame;
	int64_t peer_initial_window;
	int64_t conn_send_window;
	int32_t conn_recv_window;
	/* counters for the flood bounds */
	uint32_t flood_since;
	uint32_t flood_count;
	/* output */
	uint8_t *obuf;
	uint32_t olen;
	struct seg segs[CACHET_H2_IOV_MAX];
	unsigned nsegs;
	struct iovec iov[CACHET_H2_IOV_MAX]; /* what cachet_h2_iov() hands to a send */
	unsigned sent_seg;                   /* first segment not completely sent */
	uint32_t sent_off;                   /* bytes of it sent */
	struct hblock hb;
	uint8_t memo_len;     /* the last request's table-neutral block (memo_hit); 0: none */
	uint8_t memo_pending; /* the block being decoded qualifies, memo[] holds it */
	uint8_t memo[128];
	/* The answer to the memo'd request, picked from generation reply_gen (pointer and number:
	 * a freed generation's address may come back): a memo hit within that generation answers
	 * with it without normalizing, looking up and comparing again (cachet_response_select
	 * depends only on the generation and the request). reply_ok false: none kept. */
	bool reply_ok;
	bool from_memo; /* the request being answered is the memo'd one, not decoded again */
	const struct cachet_store *reply_gen;
	uint64_t reply_genno;
	struct cachet_reply reply;
	/* reply's header block as written last (head_len 0: none kept, or longer than head[]):
	 * memo hits copy it and put the Date in at head_date, one memcpy as in the days of whole
	 * stored blocks, instead of writing it from its parts again (~5 ns of ~140 an answer) */
	uint16_t head_len, head_date;
	uint8_t head[256];
	unsigned nstreams;
	struct stream streams[CACHET_H2_MAX_STREAMS];
	char
	    fields[FIELDS_BUF]; /* copies of the fields a request keeps (hb.req spans point here) */
};

/* ---- output ---- */

/* The output buffer is one of the worker's pool buffers (env->buf_size bytes), taken when there
 * is something to write and given back once everything has been sent: an idle connection holds
 * none (as HTTP/1.1's out buffer). */
static uint32_t out_room(const struct cachet_h2 *h)
{
	return h->env->buf_size - h->olen;
}

/* Room for n bytes at the end of the output; NULL when there is none (the caller stops). */
static uint8_t *out_reserve(struct cachet_h2 *h, uint32_t n)
{
	if (out_room(h) < n || h->nsegs == CACHET_H2_IOV_MAX)
		return NULL;
	if (!h->obuf && !(h->obuf = (uint8_t *)h->env->buf_get(h->env->worker)))
		return NULL; /* out of memory: as if full */
	return h->obuf + h->olen;
}

/* Gives the output buffer back when nothing in it waits to be sent. */
static void out_release(struct cachet_h2 *h)
{
	if (h->obuf && h->sent_seg == h->nsegs) {
		h->env->buf_put(h->env->worker, (char *)h->obuf);
		h->obuf = NULL;
	}
}

/* The n bytes written at out_reserve()'s pointer become output. */
static void out_commit(struct cachet_h2 *h, uint32_t n)
{
	struct seg *last = h->nsegs ? &h->segs[h->nsegs - 1] : NULL;
	if (last && !last->gen && last->p + last->len == h->obuf + h->olen)
		last->len += n;
	else
		h->segs[h->nsegs++] = (struct seg){.p = h->obuf + h->olen, .len = n};
	h->olen += n;
}

/* A body slice as an iovec of its own, pinned on gen until sent (cachet_h2_sent). */
static void out_slice(struct cachet_h2 *h, const uint8_t *p, uint32_t n, struct cachet_store *gen)
{
	h->env->pin(h->env->worker, gen);
	h->segs[h->nsegs++] = (struct seg){.p = p, .len = n, .gen = gen};
}

/* A small control frame; false when there is no room (callers reserve room first). */
static bool out_frame(struct cachet_h2 *h, uint8_t type, uint8_t flags, uint32_t stream,
                      const void *payload, uint32_t len)
{
	uint8_t *d = out_reserve(h, CACHET_H2_HEADER_LEN + len);
	if (!d)
		return false;
	cachet_h2_frame_header(d, len, type, flags, stream);
	if (len)
		memcpy(d + CACHET_H2_HEADER_LEN, payload, len);
	out_commit(h, CACHET_H2_HEADER_LEN + len);
	return true;
}

static void out_rst(struct cachet_h2 *h, uint32_t stream, uint32_t code)
{
	uint8_t p[4];
	cachet_h2_put32(p, code);
	out_frame(h, CACHET_H2_RST_STREAM, 0, stream, p, 4);
}

static void out_goaway(struct cachet_h2 *h, uint32_t code)
{
	uint8_t p[8];
	cachet_h2_put32(p, h->last_stream);
	cachet_h2_put32(p + 4, code);
	out_frame(h, CACHET_H2_GOAWAY, 0, 0, p, 8);
}

static void out_window_update(struct cachet_h2 *h, uint32_t stream, uint32_t inc)
{
	uint8_t p[4];
	cachet_h2_put32(p, inc);
	out_frame(h, CACHET_H2_WINDOW_UPDATE, 0, stream, p, 4);
}

/* A connection error (§5.4.1): GOAWAY with the code, then nothing more is read. */
static void conn_error(struct cachet_h2 *h, uint32_t code)
{
	if (h->closing)
		return;
	out_goaway(h, code);
	h->closing = true;
}

/* ---- streams ---- */

static struct stream *stream_find(struct cachet_h2 *h, uint32_t id)
{
	for (unsigned i = 0; i < h->nstreams; i++)
		if (h->streams[i].id == id)
			return &h->streams[i];
	return NULL;
}

/* Drops what the stream still holds of a body: its pin and its multipart state. */
static void stream_drop_body(struct cachet_h2 *h, struct stream *s)
{
	if (s->gen)
		h->env->unpin(h->env->worker, s->gen);
	free(s->mp);
	s->mp = NULL;
	s->gen = NULL;
	s->body = NULL;
	s->body_left = 0;
}

static void stream_free(struct cachet_h2 *h, struct stream *s)
{
	stream_drop_body(h, s);
	*s = h->streams[--h->nstreams];
}

/* Frees the stream once both sides are closed (§5.1). */
static void stream_maybe_free(struct cachet_h2 *h, struct stream *s)
{
	if (s->remote_closed && s->local_closed)
		stream_free(h, s);
}

/* A stream error (§5.4.2): RST_STREAM, and the stream is gone. */
static void stream_reset(struct cachet_h2 *h, struct stream *s, uint32_t code)
{
	out_rst(h, s->id, code);
	stream_free(h, s);
}

/* Counts a frame that costs work without serving anything; true when the peer is flooding. */
static bool flood(struct cachet_h2 *h)
{
	if (h->env->now_ms - h->flood_since >= 1000) {
		h->flood_since = h->env->now_ms;
		h->flood_count = 0;
	}
	if (++h->flood_count <= FLOOD_MAX)
		return false;
	conn_error(h, CACHET_H2_ENHANCE_YOUR_CALM);
	return true;
}

/* ---- answers ---- */

/* Next multipart piece into s->body: a part head (copied), the part's bytes (pinned), or the close
 * delimiter. Returns false when the answer is complete. */
static bool multipart_next(struct stream *s)
{
	struct h2_multipart *m = s->mp;
	const struct cachet_multipart *p = &m->plan;
	if (m->bytes_next) {
		s->body = p->rep->body + p->set.first[m->next];
		s->body_left = p->set.last[m->next] - p->set.first[m->next] + 1;
		s->body_copy = false;
		m->bytes_next = false;
		m->next++;
		return true;
	}
	if (m->next > p->set.n)
		return false;
	size_t n;
	if (m->next == p->set.n) {
		n = cachet_multipart_close(p, m->head, sizeof(m->head));
		m->next++;
	} else {
		n = cachet_multipart_part_head(p, m->next, m->head, sizeof(m->head));
		m->bytes_next = true;
	}
	s->body = (const uint8_t *)m->head;
	s->body_left = n;
	s->body_copy = true;
	return n > 0;
}

/* Whether the stream's body (all its pieces) has nothing left after the current one. */
static bool body_last_piece(const struct stream *s)
{
	return !s->mp || (!s->mp->bytes_next && s->mp->next > s->mp->plan.set.n);
}

/* Sends as much of one stream's body as the windows and the output allow, one DATA frame per
 * call. Returns true when it queued a frame. */
static bool stream_pump_one(struct cachet_h2 *h, struct stream *s)
{
	if (s->local_closed || !s->answered)
		return false;
	if (s->body_left == 0 && s->mp && !multipart_next(s)) {
		s->body_left = 0;
	}
	int64_t w = s->send_window < h->conn_send_window ? s->send_window : h->conn_send_window;
	size_t n = s->body_left;
	bool last = body_last_piece(s);
	if (n > h->peer_max_frame)
		n = h->peer_max_frame;
	if ((int64_t)n > w)
		n = w > 0 ? (size_t)w : 0;
	if (n == 0 && s->body_left) {
		if (!s->stalled_since)
			s->stalled_since = h->env->now_ms | 1;
		return false;
	}
	bool copy = s->body_copy || n <= COPY_MAX;
	uint32_t need = CACHET_H2_HEADER_LEN + (copy ? (uint32_t)n : 0);
	uint8_t *d = h->nsegs + 2 > CACHET_H2_IOV_MAX ? NULL : out_reserve(h, need);
	if (!d)
		return false;
	bool end = last && n == s->body_left;
	cachet_h2_frame_header(d, (uint32_t)n, CACHET_H2_DATA, end ? CACHET_H2_END_STREAM : 0,
	                       s->id);
	if (copy) {
		memcpy(d + CACHET_H2_HEADER_LEN, s->body, n);
		out_commit(h, need);
	} else {
		out_commit(h, need);
		out_slice(h, s->body, (uint32_t)n, s->gen);
	}
	s->stalled_since = 0;
	s->body += n;
	s->body_left -= n;
	s->send_window -= (int64_t)n;
	h->conn_send_window -= (int64_t)n;
	if (end) {
		s->local_closed = true;
		stream_drop_body(h, s);
		stream_maybe_free(h, s);
	}
	return true;
}

/* Gives every stream with a body its turn, round after round, until nothing moves. */
static void pump(struct cachet_h2 *h)
{
	bool moved = true;
	while (moved && !h->closing) {
		moved = false;
		for (unsigned i = 0; i < h->nstreams; i++) {
			struct stream *s = &h->streams[i];
			uint32_t id = s->id;
			if (stream_pump_one(h, s)) {
				moved = true;
				if (i < h->nstreams && h->streams[i].id != id)
					i--; /* freed: the last stream moved into this slot */
			}
		}
	}
}

/* The HPACK block of an answer with per-request lines (206) or a replaced Content-Type
 * (multipart): the HTTP/1.1 head is written as usual and encoded again. Rare. */
static int block_per_request(const struct cachet_reply *r, const struct cachet_request *req,
                             const char *date, uint8_t *dst, size_t cap)
{
	char text[CACHET_BLOCK_MAX + CACHET_RESPONSE_TAIL_MAX + CACHET_MULTIPART_TYPE_MAX];
	size_t n = cachet_response_write_head(r, req, false, date, text);
	uint32_t date_off;
	return cachet_hpack_encode(text, n, dst, cap, &date_off);
}

/* Queues the answer to a complete request: HEADERS from the preformatted block (Date patched),
 * then the body as DATA frames as the windows allow. */
static void answer(struct cachet_h2 *h, struct stream *s, const struct cachet_request *req)
{
	struct cachet_reply r;
	struct cachet_multipart mp;
	const struct cachet_h2_env *env = h->env;
	bool memo_hit = req && h->from_memo && h->reply_ok && h->reply_gen == env->gen &&
	                h->reply_genno == env->gen->generation;
	if (memo_hit) {
		r = h->reply;
	} else if (req) {
		cachet_response_select(env->gen, req, &r, &mp);
		/* kept when req is the memo'd request (block_done set memo_len for it); a multipart
		 * plan lives in mp, on this stack: not kept */
		h->reply_ok = h->memo_len && !r.multipart;
		h->head_len = 0;
		if (h->reply_ok) {
			h->reply = r;
			h->reply_gen = env->gen;
			h->reply_genno = env->gen->generation;
		}
	} else {
		cachet_response_error(env->gen, 431, false, &r);
	}
	/* observe: count and log the answer */
	cachet_observe_h2(env->obs, req, &r, h->remote, s->start_ns, env->turn_ns);
	bool has_body = r.body_len || r.multipart;
	uint8_t *d = out_reserve(h, OUT_RESERVE);
	if (!d) { /* cannot happen: room is checked before each frame is read */
		stream_reset(h, s, CACHET_H2_INTERNAL_ERROR);
		return;
	}
	uint8_t *blk = d + CACHET_H2_HEADER_LEN;
	int n;
	if (r.extra_len || r.multipart) {
		struct cachet_request dummy = {.keep_alive = true, .minor_version = 1};
		n = block_per_request(&r, req ? req : &dummy, env->date, blk,
		                      OUT_RESERVE - CACHET_H2_HEADER_LEN);
	} else if (memo_hit && h->head_len) {
		n = h->head_len;
		memcpy(blk, h->head, h->head_len);
		memcpy(blk + h->head_date, env->date, CACHET_HTTPDATE_LEN);
	} else {
		uint32_t date_off;
		n = (int)cachet_response_write_h2(&r, env->date, blk, &date_off);
		if (req && h->reply_ok && (size_t)n <= sizeof(h->head) && date_off < (uint32_t)n) {
			memcpy(h->head, blk, (size_t)n);
			h->head_len = (uint16_t)n;
			h->head_date = (uint16_t)date_off;
		}
	}
	if (n < 0) {
		stream_reset(h, s, CACHET_H2_INTERNAL_ERROR);
		return;
	}
	cachet_h2_frame_header(d, (uint32_t)n, CACHET_H2_HEADERS,
	                       CACHET_H2_END_HEADERS | (has_body ? 0 : CACHET_H2_END_STREAM),
	                       s->id);
	out_commit(h, CACHET_H2_HEADER_LEN + (uint32_t)n);
	s->answered = true;
	if (!has_body) {
		s->local_closed = true;
		stream_maybe_free(h, s);
		return;
	}
	/* the body points into env->gen: pinned for as long as the stream holds it */
	s->gen = env->gen;
	env->pin(env->worker, s->gen);
	if (r.multipart) {
		s->mp = malloc(sizeof(*s->mp));
		if (!s->mp) {
			stream_reset(h, s, CACHET_H2_INTERNAL_ERROR);
			return;
		}
		s->mp->plan = mp;
		s->mp->next = 0;
		s->mp->bytes_next = false;
		s->body_left = 0;
	} else {
		s->body = r.body;
		s->body_left = r.body_len;
		s->body_copy = false;
	}
	uint32_t id = s->id;
	while (stream_pump_one(h, s) && (s = stream_find(h, id)) && s->body_left)
		;
}

/* ---- request header blocks ---- */

static bool name_is(const nghttp2_nv *nv, const char *lit, size_t len)
{
	return nv->namelen == len && memcmp(nv->name, lit, len) == 0;
}
#define NAME_IS(nv, lit) name_is(nv, lit, sizeof(lit) - 1)

/* Copies a value the request keeps into the connection's field buffer; the span points there.
 * Nothing is copied once the header list is over its cap (the answer is 431 then). */
static struct cachet_span keep(struct cachet_h2 *h, const nghttp2_nv *nv)
{
	struct hblock *b = &h->hb;
	if (b->fields_len + nv->valuelen > sizeof(h->fields))
		return (struct cachet_span){0};
	char *p = h->fields + b->fields_len;
	memcpy(p, nv->value, nv->valuelen);
	b->fields_len += nv->valuelen;
	return (struct cachet_span){p, nv->valuelen};
}

/* A pseudo-header (§8.3.1): known, once each, before every regular field, not in trailers. */
static void field_pseudo(struct cachet_h2 *h, const nghttp2_nv *nv)
{
	struct hblock *b = &h->hb;
	unsigned bit = 0;
	if (NAME_IS(nv, ":method"))
		bit = PSEUDO_METHOD;
	else if (NAME_IS(nv, ":scheme"))
		bit = PSEUDO_SCHEME;
	else if (NAME_IS(nv, ":path"))
		bit = PSEUDO_PATH;
	else if (NAME_IS(nv, ":authority"))
		bit = PSEUDO_AUTHORITY;
	if (!bit || (b->pseudo & bit) || b->regular_seen || b->trailers) {
		b->malformed = true;
		return;
	}
	b->pseudo |= bit;
	if (bit == PSEUDO_METHOD) {
		b->req.method = keep(h, nv);
		b->req.method_id = cachet_http_method_id(b->req.method);
	} else if (bit == PSEUDO_PATH) {
		if (nv->valuelen == 0)
			b->malformed = true;
		b->req.target = keep(h, nv);
	} else if (bit == PSEUDO_AUTHORITY) {
		b->req.host = keep(h, nv);
	}
}

/* A regular field: connection-specific ones make the request malformed (§8.2.2); those the
 * answer depends on are kept, as http_parse.c keeps them for HTTP/1.1. */
static void field_regular(struct cachet_h2 *h, const nghttp2_nv *nv)
{
	struct hblock *b = &h->hb;
	struct cachet_request *req = &b->req;
	b->regular_seen = true;
	if (NAME_IS(nv, "connection") || NAME_IS(nv, "keep-alive") ||
	    NAME_IS(nv, "proxy-connection") || NAME_IS(nv, "transfer-encoding") ||
	    NAME_IS(nv, "upgrade") ||
	    (NAME_IS(nv, "te") && !(nv->valuelen == 8 && memcmp(nv->value, "trailers", 8) == 0))) {
		b->malformed = true;
		return;
	}
	if (b->trailers)
		return;
	if (NAME_IS(nv, "content-length")) {
		uint64_t v = 0;
		struct cachet_span cl = {(const char *)nv->value, nv->valuelen};
		if (cachet_span_scan_u64(cl, &v) != (long)cl.len || cl.len == 0 ||
		    (b->has_cl && v != b->content_length))
			b->malformed = true;
		b->has_cl = true;
		b->content_length = v;
	} else if (NAME_IS(nv, "host")) {
		if (!req->host.len)
			req->host = keep(h, nv);
	} else if (NAME_IS(nv, "user-agent") && h->env->obs && !req->user_agent.len) {
		req->user_agent = keep(h, nv); /* for the access log (observe) */
	} else if (NAME_IS(nv, "referer") && h->env->obs && !req->referer.len) {
		req->referer = keep(h, nv);
	} else if (NAME_IS(nv, "if-none-match")) {
		cachet_field_list_add(&req->if_none_match, keep(h, nv));
	} else if (NAME_IS(nv, "if-match")) {
		cachet_field_list_add(&req->if_match, keep(h, nv));
	} else if (NAME_IS(nv, "accept-encoding")) {
		cachet_field_list_add(&req->accept_encoding, keep(h, nv));
	} else if (NAME_IS(nv, "if-modified-since")) {
		cachet_field_set_single(&req->if_modified_since, &req->n_if_modified_since,
		                        keep(h, nv));
	} else if (NAME_IS(nv, "if-unmodified-since")) {
		cachet_field_set_single(&req->if_unmodified_since, &req->n_if_unmodified_since,
		                        keep(h, nv));
	} else if (NAME_IS(nv, "if-range")) {
		cachet_field_set_single(&req->if_range, &req->n_if_range, keep(h, nv));
	} else if (NAME_IS(nv, "range")) {
		cachet_field_set_single(&req->range, &req->n_range, keep(h, nv));
	}
}

/* One decoded field: sized against the caps, validated (§8.2.1: lowercase, no forbidden
 * characters), then recorded. */
static void field(struct cachet_h2 *h, const nghttp2_nv *nv)
{
	struct hblock *b = &h->hb;
	uint32_t size = (uint32_t)(nv->namelen + nv->valuelen + 32); /* RFC 7541 §4.1 */
	b->decoded_bytes += size;
	if (b->too_large || b->discard)
		return;
	b->list_bytes += size;
	if (b->list_bytes > CACHET_HEADER_BYTES_MAX) {
		b->too_large = true;
		return;
	}
	const uint8_t *name = nv->name;
	size_t nlen = nv->namelen;
	if (nlen && name[0] == ':') {
		name++;
		nlen--;
	}
	if (!nghttp2_check_header_name(name, nlen) ||
	    !nghttp2_check_header_value_rfc9113(nv->value, nv->valuelen)) {
		b->malformed = true;
		return;
	}
	for (size_t i = 0; i < nlen; i++)
		if (name[i] >= 'A' && name[i] <= 'Z') {
			b->malformed = true; /* §8.2.1: uppercase names are malformed */
			return;
		}
	if (nv->name[0] == ':')
		field_pseudo(h, nv);
	else
		field_regular(h, nv);
}

/* Feeds one fragment of a header block to the inflater. Returns false on a connection error. */
static bool inflate(struct cachet_h2 *h, const uint8_t *in, size_t len, bool final)
{
	struct hblock *b = &h->hb;
	b->block_bytes += (uint32_t)len;
	if (b->block_bytes > BLOCK_MAX) {
		conn_error(h, CACHET_H2_ENHANCE_YOUR_CALM); /* CVE-2024-27316: bounded */
		return false;
	}
	for (;;) {
		nghttp2_nv nv;
		int flags = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(h->inflater, &nv, &flags, in, len, final);
		if (rv < 0) {
			conn_error(h, CACHET_H2_COMPRESSION_ERROR);
			return false;
		}
		in += rv;
		len -= (size_t)rv;
		if (flags & NGHTTP2_HD_INFLATE_EMIT) {
			field(h, &nv);
			if (b->decoded_bytes > DECODED_MAX) {
				conn_error(h, CACHET_H2_ENHANCE_YOUR_CALM); /* an HPACK bomb */
				return false;
			}
		}
		if (flags & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(h->inflater);
			return true;
		}
		if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && len == 0)
			return true;
	}
}

/* A complete header block: the request is validated (§8.3.1) and answered, or the stream reset. */
static void block_done(struct cachet_h2 *h)
{
	struct hblock *b = &h->hb;
	uint32_t id = b->stream;
	b->stream = 0;
	if (b->discard)
		return;
	struct stream *s = stream_find(h, id);
	if (!s)
		return;
	if (b->trailers) {
		if (b->malformed || !b->end_stream) {
			stream_reset(h, s, CACHET_H2_PROTOCOL_ERROR);
			return;
		}
		s->remote_closed = true;
		if (s->has_cl && s->data_seen != s->content_length) {
			stream_reset(h, s, CACHET_H2_PROTOCOL_ERROR);
			return;
		}
		stream_maybe_free(h, s);
		return;
	}
	bool connect = b->req.method.len == 7 && memcmp(b->req.method.p, "CONNECT", 7) == 0;
	unsigned need = connect ? PSEUDO_METHOD | PSEUDO_AUTHORITY
	                        : PSEUDO_METHOD | PSEUDO_SCHEME | PSEUDO_PATH;
	if (!b->too_large && (b->malformed || (b->pseudo & need) != need ||
	                      (connect && (b->pseudo & (PSEUDO_SCHEME | PSEUDO_PATH))) ||
	                      (b->end_stream && b->has_cl && b->content_length != 0))) {
		stream_reset(h, s, CACHET_H2_PROTOCOL_ERROR);
		return;
	}
	if (!b->too_large)
		h->memo_len = h->memo_pending; /* a valid request: its block may be reused */
	s->has_cl = b->has_cl;
	s->content_length = b->content_length;
	if (b->end_stream)
		s->remote_closed = true;
	if (connect)
		b->req.target = (struct cachet_span){"/", 1}; /* answered 405 like any other */
	answer(h, s, b->too_large ? NULL : &b->req);
}

/* Opens the header block of a HEADERS frame (§6.2) on stream id. */
static void block_begin(struct cachet_h2 *h, const struct cachet_h2_frame *f)
{
	struct hblock *b = &h->hb;
	memset(b, 0, offsetof(struct hblock, req));
	memset(&b->req, 0, offsetof(struct cachet_request, if_none_match));
	b->req.if_none_match.n = b->req.if_match.n = b->req.accept_encoding.n = 0;
	b->req.if_none_match.dropped = b->req.if_match.dropped = 0;
	b->req.accept_encoding.dropped = 0;
	memset((char *)&b->req + offsetof(struct cachet_request, if_modified_since), 0,
	       sizeof(b->req) - offsetof(struct cachet_request, if_modified_since));
	b->req.keep_alive = true;
	b->req.minor_version = 1;
	b->fields_len = 0;
	b->has_cl = false;
	b->content_length = 0;
	b->stream = f->stream;
	b->end_stream = f->flags & CACHET_H2_END_STREAM;
}

/* Continues with the fragment: decodes it, and when it ends the block, finishes the request. */
static void block_fragment(struct cachet_h2 *h, const uint8_t *p, size_t len, bool end)
{
	if (!inflate(h, p, len, end))
		return;
	if (end)
		block_done(h);
}

/* ---- frames ---- */

/* Skips an HPACK integer with an n-bit prefix (RFC 7541 §5.1) at p[*i]; false when truncated or
 * over 28 bits. *v gets its value. */
static bool skip_int(const uint8_t *p, uint32_t len, uint32_t *i, unsigned n, uint32_t *v)
{
	uint32_t max = (1u << n) - 1, val = p[(*i)++] & max;
	if (val == max) {
		unsigned shift = 0;
		uint8_t b;
		do {
			if (*i >= len || shift > 21)
				return false;
			b = p[(*i)++];
			val += (uint32_t)(b & 0x7f) << shift;
			shift += 7;
		} while (b & 0x80);
	}
	*v = val;
	return true;
}

static bool skip_string(const uint8_t *p, uint32_t len, uint32_t *i)
{
	uint32_t n;
	if (*i >= len || !skip_int(p, len, i, 7, &n) || n > len - *i)
		return false;
	*i += n;
	return true;
}

/* Whether a header block leaves the HPACK dynamic table as it is: only indexed fields and
 * literals without indexing or never indexed (RFC 7541 §6.1, §6.2.2, §6.2.3), no table size
 * update. The same bytes then decode to the same fields as long as no other block came between.
 * Browsers and load generators send exactly that for repeated requests. */
static bool table_neutral(const uint8_t *p, uint32_t len)
{
	uint32_t i = 0, v;
	while (i < len) {
		uint8_t b = p[i];
		if (b & 0x80) {
			if (!skip_int(p, len, &i, 7, &v) || v == 0)
				return false;
		} else if ((b & 0xe0) == 0) {
			if (!skip_int(p, len, &i, 4, &v) || (v == 0 && !skip_string(p, len, &i)) ||
			    !skip_string(p, len, &i))
				return false;
		} else {
			return false; /* incremental indexing or a size update: the table changes */
		}
	}
	return len > 0;
}

/* The last request's block, when it was table-neutral and valid: hb.req (and h->fields) still hold
 * what it decoded to. Hot path: a repeated request costs no HPACK decoding at all. */
static bool memo_hit(const struct cachet_h2 *h, const uint8_t *p, uint32_t len)
{
	return h->memo_len && h->memo_len == len && memcmp(h->memo, p, len) == 0;
}

static void on_headers(struct cachet_h2 *h, const struct cachet_h2_frame *f)
{
	struct cachet_h2_content c;
	if (f->stream == 0 || (f->stream & 1) == 0 || cachet_h2_frame_content(f, &c) < 0) {
		conn_error(h, CACHET_H2_PROTOCOL_ERROR);
		return;
	}
	bool end = f->flags & CACHET_H2_END_HEADERS, trailers = false, discard = false;
	struct stream *s = stream_find(h, f->stream);
	if (s) { /* trailers (§8.1), only while the peer's side is open */
		if (s->remote_closed) {
			conn_error(h, CACHET_H2_STREAM_CLOSED);
			return;
		}
		trailers = true;
	} else if (f->stream <= h->last_stream) {
		conn_error(h, CACHET_H2_STREAM_CLOSED); /* a closed stream (§5.1) */
		return;
	} else {
		h->last_stream = f->stream;
		if (c.has_priority && c.dependency == f->stream) {
			discard = true; /* a stream depending on itself (§5.3.1) */
			out_rst(h, f->stream, CACHET_H2_PROTOCOL_ERROR);
		} else if (h->going_away) {
			discard = true; /* after our GOAWAY: ignored (§6.8) */
		} else if (h->nstreams == CACHET_H2_MAX_STREAMS) {
			discard = true;
			out_rst(h, f->stream, CACHET_H2_REFUSED_STREAM);
		} else {
			s = &h->streams[h->nstreams++];
			*s = (struct stream){.id = f->stream,
			                     .start_ns = h->env->turn_ns,
			                     .send_window = h->peer_initial_window,
			                     .recv_window = WINDOW_DEFAULT};
		}
	}
	if (s && !trailers && end && memo_hit(h, c.p, c.len)) {
		h->hb.stream = f->stream;
		h->hb.end_stream = f->flags & CACHET_H2_END_STREAM;
		h->from_memo = true;
		block_done(h);
		h->from_memo = false;
		return;
	}
	block_begin(h, f);
	h->hb.trailers = trailers;
	h->hb.discard = discard;
	/* any other block may change the HPACK table: the memo holds only if this one replaces it
	 */
	h->memo_len = 0;
	h->memo_pending = 0;
	h->reply_ok = false;
	h->head_len = 0;
	if (end && c.len <= sizeof(h->memo) && table_neutral(c.p, c.len)) {
		memcpy(h->memo, c.p, c.len);
		h->memo_pending = (uint8_t)c.len;
	}
	block_fragment(h, c.p, c.len, end);
}

static void on_continuation(struct cachet_h2 *h, const struct cachet_h2_frame *f)
{
	if (h->hb.stream == 0 || f->stream != h->hb.stream) {
		conn_error(h, CACHET_H2_PROTOCOL_ERROR);
		return;
	}
	block_fragment(h, f->payload, f->len, f->flags & CACHET_H2_END_HEADERS);
}

/* Credits received DATA back to the peer in large steps, so that a request body never blocks
 * the connection and WINDOW_UPDATEs stay few. */
static void credit(struct cachet_h2 *h, struct stream *s, uint32_t len)
{
	h->conn_recv_window -= (int32_t)len;
	if (h->conn_recv_window < WINDOW_DEFAULT / 2) {
		out_window_update(h, 0, (uint32_t)(WINDOW_DEFAULT - h->conn_recv_window));
		h->conn_recv_window = WINDOW_DEFAULT;
	}
	if (!s)
		return;
	s->recv_window -= (int32_t)len;
	if (s->recv_window < WINDOW_DEFAULT / 2 && !s->remote_closed) {
		out_window_update(h, s->id, (uint32_t)(WINDOW_DEFAULT - s->recv_window));
		s->recv_window = WINDOW_DEFAULT;
	}
}

static void on_data(struct cachet_h2 *h, const struct cachet_h2_frame *f)
{
	struct cachet_h2_content c;
	if (f->stream == 0 || cachet_h2_frame_content(f, &c) < 0) {
		conn_error(h, CACHET_H2_PROTOCOL_ERROR);
		return;
	}
	if (f->stream > h->last_stream) {
		conn_error(h, CACHET_H2_PROTOCOL_ERROR); /* DATA on an idle stream (§5.1) */
		return;
	}
	struct stream *s = stream_find(h, f->stream);
	if ((int64_t)f->len > h->conn_recv_window ||
	    (s && !s->remote_closed && (int64_t)f->len > s->recv_window)) {
		conn_error(h, CACHET_H2_FLOW_CONTROL_ERROR);
		return;
	}
	if (!s || s->remote_closed) {
		credit(h, NULL, f->len);
		if (s)
			stream_reset(h, s, CACHET_H2_STREAM_CLOSED);
		else
			out_rst(h, f->stream, CACHET_H2_STREAM_CLOSED);
		return;
	}
	if (f->len == 0 && !(f->flags & CACHET_H2_END_STREAM) && flood(h))
		return;
	credit(h, s, f->len);
	s->data_seen += c.len;
	if (s->has_cl && s->data_seen > s->content_length) {
		stream_reset(h, s, CACHET_H2_PROTOCOL_ERROR);
		return;
	}
	if (f->flags & CACHET_H2_END_STREAM) {
		s->remote_closed = true;
		if (s->has_cl && s->data_seen != s->content_length) {
			stream_reset(h, s, CACHET_H2_PROTOCOL_ERROR);
			return;
		}
		stream_maybe_free(h, s);
	}
}

static void on_priority(struct cachet_h2 *h, const struct cachet_h2_frame *f)
{
	if (f->stream == 0) {
		conn_error(h, CACHET_H2_PROTOCOL_ERROR);
		return;
	}
	if (f->len != 5) { /* §6.3: a stream error */
		struct stream *s = stream_find(h, f->stream);
		if (s)
			stream_reset(h, s, CACHET_H2_FRAME_SIZE_ERROR);
		else
			out_rst(h, f->stream, CACHET_H2_FRAME_SIZE_ERROR);
		return;
	}
	if (flood(h))
		return;
	if (cachet_h2_u31(f->payload) == f->stream) { /* depends on itself (§5.3.1) */
		struct stream *s = stream_find(h, f->stream);
		if (s)
			stream_reset(h, s, CACHET_H2_PROTOCOL_ERROR);
		else
			out_rst(h, f->stream, CACHET_H2_PROTOCOL_ERROR);
	}
	/* otherwise ignored: RFC 9113 deprecates the priority scheme */
}

static void on_rst_stream(struct cachet_h2 *h, const struct cachet_h2_frame *f)
{
	if (f->stream == 0 || f->stream > h->last_stream) {
		conn_error(h, CACHET_H2_PROTOCOL_ERROR);
		return;
	}
	if (f->len != 4) {
		conn_error(h, CACHET_H2_FRAME_SIZE_ERROR);
		return;
	}
	if (flood(h)) /* rapid reset: opened-and-reset streams are counted */
		return;
	struct stream *s = stream_find(h, f->stream);
	if (s)
		stream_free(h, s);
}

/* SETTINGS_INITIAL_WINDOW_SIZE changed: every stream's window moves by the difference
 * (§6.9.2). */
static bool window_resize(struct cachet_h2 *h, int64_t v)
{
	int64_t delta = v - h->peer_initial_window;
	for (unsigned i = 0; i < h->nstreams; i++) {
		h->streams[i].send_window += delta;
		if (h->streams[i].send_window > WINDOW_MAX)
			return false;
	}
	h->peer_initial_window = v;
	return true;
}

static void on_settings(struct cachet_h2 *h, const struct cachet_h2_frame *f)
{
	if (f->stream != 0) {
		conn_error(h, CACHET_H2_PROTOCOL_ERROR);
		return;
	}
	if (f->flags & CACHET_H2_ACK) {
		if (f->len != 0)
			conn_error(h, CACHET_H2_FRAME_SIZE_ERROR);
		return;
	}
	if (f->len % 6) {
		conn_error(h, CACHET_H2_FRAME_SIZE_ERROR);
		return;
	}
	if (h->settings_seen && flood(h))
		return;
	h->settings_seen = true;
	for (uint32_t i = 0; i < f->len; i += 6) {
		const uint8_t *p = f->payload + i;
		uint16_t id = (uint16_t)(p[0] << 8 | p[1]);
		uint32_t v = cachet_h2_u32(p + 2);
		switch (id) {
		case 0x2: /* ENABLE_PUSH */
			if (v > 1) {
				conn_error(h, CACHET_H2_PROTOCOL_ERROR);
				return;
			}
			break;
		case 0x4: /* INITIAL_WINDOW_SIZE */
			if (v > WINDOW_MAX || !window_resize(h, v)) {
				conn_error(h, CACHET_H2_FLOW_CONTROL_ERROR);
				return;
			}
			break;
		case 0x5: /* MAX_FRAME_SIZE */
			if (v < CACHET_H2_FRAME_MIN || v > CACHET_H2_FRAME_MAX) {
				conn_error(h, CACHET_H2_PROTOCOL_ERROR);
				return;
			}
			h->peer_max_frame = v;
			break;
		default: /* HEADER_TABLE_SIZE: our blocks use no dynamic table; others: advisory */
			break;
		}
	}
	out_frame(h, CACHET_H2_SETTINGS, CACHET_H2_ACK, 0, NULL, 0);
}

static void on_ping(struct cachet_h2 *h, const struct cachet_h2_frame *f)
{
	if (f->stream != 0) {
		conn_error(h, CACHET_H2_PROTOCOL_ERROR);
		return;
	}
	if (f->len != 8) {
		conn_error(h, CACHET_H2_FRAME_SIZE_ERROR);
		return;
	}
	if ((f->flags & CACHET_H2_ACK) || flood(h))
		return;
	out_frame(h, CACHET_H2_PING, CACHET_H2_ACK, 0, f->payload, 8);
}

static void on_goaway(struct cachet_h2 *h, const struct cachet_h2_frame *f)
{
	if (f->stream != 0) {
		conn_error(h, CACHET_H2_PROTOCOL_ERROR);
		return;
	}
	if (f->len < 8) {
		conn_error(h, CACHET_H2_FRAME_SIZE_ERROR);
		return;
	}
	h->peer_gone = true;
}

static void on_window_update(struct cachet_h2 *h, const struct cachet_h2_frame *f)
{
	if (f->len != 4) {
		conn_error(h, CACHET_H2_FRAME_SIZE_ERROR);
		return;
	}
	uint32_t inc = cachet_h2_u31(f->payload);
	if (f->stream == 0) {
		if (inc == 0 || h->conn_send_window + inc > WINDOW_MAX) {
			conn_error(h,
			           inc ? CACHET_H2_FLOW_CONTROL_ERROR : CACHET_H2_PROTOCOL_ERROR);
			return;
		}
		h->conn_send_window += inc;
		return;
	}
	if (f->stream > h->last_stream) {
		conn_error(h, CACHET_H2_PROTOCOL_ERROR); /* an idle stream */
		return;
	}
	struct stream *s = stream_find(h, f->stream);
	if (!s)
		return; /* a closed stream: WINDOW_UPDATE may still arrive (§5.1) */
	if (inc == 0) {
		stream_reset(h, s, CACHET_H2_PROTOCOL_ERROR);
		return;
	}
	if (s->send_window + inc > WINDOW_MAX) {
		stream_reset(h, s, CACHET_H2_FLOW_CONTROL_ERROR);
		return;
	}
	s->send_window += inc;
}

static void on_frame(struct cachet_h2 *h, const struct cachet_h2_frame *f)
{
	if (h->hb.stream && f->type != CACHET_H2_CONTINUATION) {
		conn_error(h, CACHET_H2_PROTOCOL_ERROR); /* §6.10: nothing between fragments */
		return;
	}
	if (!h->settings_seen && f->type != CACHET_H2_SETTINGS) {
		conn_error(h, CACHET_H2_PROTOCOL_ERROR); /* §3.4: the preface ends with SETTINGS */
		return;
	}
	switch (f->type) {
	case CACHET_H2_DATA:
		on_data(h, f);
		break;
	case CACHET_H2_HEADERS:
		on_headers(h, f);
		break;
	case CACHET_H2_PRIORITY:
		on_priority(h, f);
		break;
	case CACHET_H2_RST_STREAM:
		on_rst_stream(h, f);
		break;
	case CACHET_H2_SETTINGS:
		on_settings(h, f);
		break;
	case CACHET_H2_PUSH_PROMISE: /* a client cannot push (§8.4) */
		conn_error(h, CACHET_H2_PROTOCOL_ERROR);
		break;
	case CACHET_H2_PING:
		on_ping(h, f);
		break;
	case CACHET_H2_GOAWAY:
		on_goaway(h, f);
		break;
	case CACHET_H2_WINDOW_UPDATE:
		on_window_update(h, f);
		break;
	case CACHET_H2_CONTINUATION:
		on_continuation(h, f);
		break;
	default: /* unknown types are ignored (§5.5) */
		break;
	}
}

/* ---- the interface ---- */

void cachet_h2_set_remote(struct cachet_h2 *h, const struct cachet_log_remote *remote)
{
	h->remote = remote;
}

struct cachet_h2 *cachet_h2_new(const struct cachet_h2_env *env)
{
	struct cachet_h2 *h = malloc(sizeof(*h));
	if (!h)
		return NULL;
	memset(h, 0, offsetof(struct cachet_h2, streams));
	h->env = env;
	if (nghttp2_hd_inflate_new(&h->inflater) != 0) {
		free(h);
		return NULL;
	}
	h->peer_max_frame = CACHET_H2_FRAME_MIN;
	h->peer_initial_window = WINDOW_DEFAULT;
	h->conn_send_window = WINDOW_DEFAULT;
	h->conn_recv_window = WINDOW_DEFAULT;
	h->flood_since = env->now_ms;
	/* our SETTINGS: MAX_CONCURRENT_STREAMS, MAX_HEADER_LIST_SIZE (advisory) */
	uint8_t p[12] = {0, 3, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0};
	cachet_h2_put32(p + 2, CACHET_H2_MAX_STREAMS);
	cachet_h2_put32(p + 8, CACHET_HEADER_BYTES_MAX);
	out_frame(h, CACHET_H2_SETTINGS, 0, 0, p, sizeof(p));
	return h;
}

void cachet_h2_free(struct cachet_h2 *h)
{
	if (!h)
		return;
	for (unsigned i = h->sent_seg; i < h->nsegs; i++)
		if (h->segs[i].gen)
			h->env->unpin(h->env->worker, h->segs[i].gen);
	while (h->nstreams)
		stream_free(h, &h->streams[0]);
	nghttp2_hd_inflate_del(h->inflater);
	if (h->obuf)
		h->env->buf_put(h->env->worker, (char *)h->obuf);
	free(h);
}

size_t cachet_h2_input(struct cachet_h2 *h, const uint8_t *p, size_t len)
{
	size_t off = 0;
	if (h->closing)
		return len;
	if (h->preface_seen < CACHET_H2_PREFACE_LEN) {
		size_t k = CACHET_H2_PREFACE_LEN - h->preface_seen;
		if (k > len)
			k = len;
		if (memcmp(p, &CACHET_H2_PREFACE[h->preface_seen], k) != 0) {
			conn_error(h, CACHET_H2_PROTOCOL_ERROR);
			return len;
		}
		h->preface_seen += (uint32_t)k;
		off = k;
	}
	while (off < len && !h->closing) {
		if (out_room(h) < OUT_RESERVE || h->nsegs + 4 > CACHET_H2_IOV_MAX)
			break; /* the output is full: the rest waits for the next send */
		struct cachet_h2_frame f;
		int n = cachet_h2_frame_next(p + off, len - off, CACHET_H2_FRAME_MIN, &f);
		if (n == 0)
			break;
		if (n < 0) {
			conn_error(h, CACHET_H2_FRAME_SIZE_ERROR);
			break;
		}
		on_frame(h, &f);
		off += (size_t)n;
	}
	if (h->closing)
		return len;
	pump(h);
	return off;
}

const struct iovec *cachet_h2_iov(struct cachet_h2 *h, unsigned *n)
{
	unsigned k = 0;
	for (unsigned i = h->sent_seg; i < h->nsegs; i++) {
		uint32_t skip = i == h->sent_seg ? h->sent_off : 0;
		h->iov[k++] = (struct iovec){(void *)(h->segs[i].p + skip), h->segs[i].len - skip};
	}
	*n = k;
	return h->iov;
}

bool cachet_h2_has_output(const struct cachet_h2 *h)
{
	return h->sent_seg < h->nsegs;
}

void cachet_h2_sent(struct cachet_h2 *h, size_t n)
{
	while (n && h->sent_seg < h->nsegs) {
		struct seg *s = &h->segs[h->sent_seg];
		size_t left = s->len - h->sent_off;
		if (n < left) {
			h->sent_off += (uint32_t)n;
			return;
		}
		n -= left;
		if (s->gen)
			h->env->unpin(h->env->worker, s->gen);
		h->sent_seg++;
		h->sent_off = 0;
	}
	if (h->sent_seg < h->nsegs)
		return;
	h->sent_seg = h->nsegs = 0;
	h->sent_off = 0;
	h->olen = 0;
	if (!h->closing)
		pump(h);
	out_release(h);
}

bool cachet_h2_closing(const struct cachet_h2 *h)
{
	return h->closing || ((h->peer_gone || h->going_away) && h->nstreams == 0);
}

unsigned cachet_h2_streams(const struct cachet_h2 *h)
{
	return h->nstreams;
}

bool cachet_h2_stalled(const struct cachet_h2 *h)
{
	for (unsigned i = 0; i < h->nstreams; i++)
		if (h->streams[i].stalled_since)
			return true;
	return false;
}

void cachet_h2_goaway(struct cachet_h2 *h)
{
	if (h->going_away || h->closing)
		return;
	h->going_away = true;
	out_goaway(h, CACHET_H2_NO_ERROR);
}

void cachet_h2_expire_stalled(struct cachet_h2 *h, uint32_t timeout_ms)
{
	for (unsigned i = 0; i < h->nstreams; i++) {
		struct stream *s = &h->streams[i];
		if (s->stalled_since && h->env->now_ms - s->stalled_since >= timeout_ms) {
			stream_reset(h, s, CACHET_H2_CANCEL);
			i--; /* the last stream moved here */
		}
	}
}
