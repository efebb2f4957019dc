/* h1.c - HTTP/1.1 framing on a connection: requests are parsed where they arrived (or from the
 * kept input), answered with the preformatted blocks of the current generation, and appended to
 * the connection's output; several pipelined answers leave in one send (the worker flushes once
 * per batch). Request bodies are skipped. Moved out of worker.c unchanged in behaviour; the
 * ownership rules it relies on are written in conn.h. */
#include "h1.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cachet/http_parse.h"

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

/* ---- answering ---- */

/* Whether a connection's first line is three tokens with no HTTP version at the end, as
 * "INVALID CONNECTION PREFACE": not HTTP/1.x at all, most likely an HTTP/2 client whose preface
 * went wrong (a connection error for RFC 9113 §3.4, and h2spec 3.5 #2 expects the connection
 * closed without anything an HTTP/2 client would misread as frames). RFC 9112 §3 lets a server
 * not answer an invalid request line; every other malformed request still gets its 400. */
static bool not_http(const char *buf, size_t len)
{
	const char *eol = memchr(buf, '\n', len);
	if (!eol)
		return false;
	size_t n = (size_t)(eol - buf);
	if (n && buf[n - 1] == '\r')
		n--;
	const char *sp1 = memchr(buf, ' ', n);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(buf + n - sp1 - 1)) : NULL;
	if (!sp2 || sp2 == sp1 + 1 || sp1 == buf)
		return false;
	const char *v = sp2 + 1;
	size_t vlen = (size_t)(buf + n - v);
	if (vlen == 0 || memchr(v, ' ', vlen))
		return false; /* not three tokens */
	return vlen < 4 || strncasecmp(v, "HTTP", 4) != 0;
}

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
	c->flags |= ANSWERED;
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

/* Rebases a span of a head parsed at from[0..n) onto the memo's copy; false when it points
 * elsewhere (then the head is not kept). */
static bool memo_span(struct cachet_span *sp, const char *from, size_t n, const char *to)
{
	if (sp->len == 0) {
		sp->p = to; /* never read: any pointer of the copy will do */
		return true;
	}
	if (sp->p < from || sp->p + sp->len > from + n)
		return false;
	sp->p = to + (sp->p - from);
	return true;
}

static bool memo_list(struct cachet_field_list *l, const char *from, size_t n, const char *to)
{
	for (unsigned i = 0; i < l->n; i++)
		if (!memo_span(&l->line[i], from, n, to))
			return false;
	return true;
}

/* Keeps the head buf[0..n), parsed as req and answered with r, as the worker's memo: only a head
 * without a body (nothing after it depends on it) and a reply that is whole in r (a multipart
 * plan lives in w->mp_plan, overwritten by the next one). */
static void memo_keep(struct worker *w, const char *buf, size_t n, const struct cachet_request *req,
                      const struct cachet_reply *r)
{
	struct h1_memo *m = &w->h1_memo;
	m->len = 0;
	if (n > H1_MEMO_MAX || req->has_content_length || req->chunked || r->multipart)
		return;
	m->req = *req;
	struct cachet_request *q = &m->req;
	if (!memo_span(&q->method, buf, n, m->head) || !memo_span(&q->target, buf, n, m->head) ||
	    !memo_span(&q->host, buf, n, m->head) ||
	    !memo_list(&q->if_none_match, buf, n, m->head) ||
	    !memo_list(&q->if_match, buf, n, m->head) ||
	    !memo_list(&q->accept_encoding, buf, n, m->head) ||
	    !memo_span(&q->if_modified_since, buf, n, m->head) ||
	    !memo_span(&q->if_unmodified_since, buf, n, m->head) ||
	    !memo_span(&q->if_range, buf, n, m->head) || !memo_span(&q->range, buf, n, m->head) ||
	    !memo_span(&q->referer, buf, n, m->head) || !memo_span(&q->user_agent, buf, n, m->head))
		return;
	m->reply = *r;
	memcpy(m->head, buf, n);
	m->len = (uint32_t)n;
}

/* Whether buf[0..len) starts with the memo's head: then it is that request, complete. */
static bool memo_hit(const struct worker *w, const char *buf, size_t len)
{
	const struct h1_memo *m = &w->h1_memo;
	return m->len && len >= m->len && memcmp(buf, m->head, m->len) == 0;
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
		if (memo_hit(w, buf + off, len - off)) {
			const struct h1_memo *m = &w->h1_memo;
			c->in_seen = 0;
			off += m->len;
			if (!emit(w, c, &m->reply, &m->req)) {
				conn_close(w, c);
				return len;
			}
			cachet_observe_h1(&w->pub->obs, &m->req, &m->reply, &c->remote,
			                  c->req_start_ns, w->turn_ns);
			c->req_start_ns = w->turn_ns;
			continue;
		}
		struct cachet_request req;
		struct cachet_reply r;
		int status = 400;
		int n = cachet_http_parse_request(buf + off, len - off, c->in_seen, &req, &status);
		if (n == CACHET_PARSE_INCOMPLETE) {
			c->in_seen = (uint32_t)(len - off);
			break;
		}
		c->in_seen = 0;
		if (n == CACHET_PARSE_ERROR && !(c->flags & ANSWERED) &&
		    not_http(buf + off, len - off)) {
			conn_close(w, c); /* not HTTP/1.x: no answer it could read */
			return len;
		}
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
			memo_keep(w, buf + off - (size_t)n, (size_t)n, &req, &r);
		}
		if (!emit(w, c, &r, &req)) {
			conn_close(w, c);
			return len;
		}
		/* observe: count and log the answer; the next pipelined request starts now */
		cachet_observe_h1(&w->pub->obs, n == CACHET_PARSE_ERROR ? NULL : &req, &r,
		                  &c->remote, c->req_start_ns, w->turn_ns);
		c->req_start_ns = w->turn_ns;
	}
	return off;
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
	in_consume(w, c, used);
	if (c->in_len < PAUSE_INPUT / 2 || head_incomplete(c))
		recv_resume(w, c);
}

/* Bytes from the peer. The common case, a whole request and nothing pending, is answered straight
 * from the receive buffer; anything else is appended to the pending input first. */
void cachet_h1_input(struct worker *w, struct conn *c, const char *data, size_t len)
{
	if (c->in_len == 0 && !body_pending(c))
		c->req_start_ns = w->turn_ns; /* observe: a request's first bytes */
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

/* Everything queued has been sent (the body unpinned). Returns true when the next piece of a
 * multipart answer is in place and is to be sent at once; otherwise answers what is pending,
 * closes, or arms the keep-alive or header timer. */
bool cachet_h1_sent(struct worker *w, struct conn *c)
{
	if (c->mp) {
		int more = multipart_next(w, c);
		if (more < 0) {
			conn_close(w, c);
			return false;
		}
		if (more)
			return true;
	}
	if (c->flags & CLOSE_AFTER_SEND) {
		conn_close(w, c);
		return false;
	}
	if (c->in_len)
		answer_pending(w, c);
	if (!c->out_len && (c->flags & PEER_EOF)) {
		conn_close(w, c); /* all answered; what is left can never become a request */
		return false;
	}
	if (!c->out_len && !(c->flags & CLOSING)) {
		pool_put(w, c->out);
		c->out = NULL;
		timer_set(w, c, c->in_len || body_pending(c) ? T_HEADER : T_IDLE);
	}
	return false;
}

/* What a timer running out means: a head that did not complete in time gets 408 and a close; an
 * idle keep-alive connection, or one whose client stopped reading, is closed. */
void cachet_h1_timeout(struct worker *w, struct conn *c, enum timer_kind kind)
{
	if (kind == T_HEADER && c->in_len && !(c->flags & SEND_INFLIGHT) && !c->out_len &&
	    !c->body) {
		struct cachet_request req = {.keep_alive = false, .minor_version = 1};
		struct cachet_reply r;
		cachet_response_error(w->gen, 408, false, &r);
		c->in_len = 0;
		in_release(w, c);
		if (emit(w, c, &r, &req)) {
			cachet_observe_h1(&w->pub->obs, NULL, &r, &c->remote, c->req_start_ns,
			                  w->turn_ns); /* observe: the 408 */
			return;                        /* sent at the next flush, closed after it */
		}
	}
	conn_close(w, c);
}

/* Graceful stop (drain). Nothing is closed here: an answer already on its way says keep-alive,
 * and its client may be sending the next request. That next answer carries Connection: close
 * (emit() adds it while stopping) and the connection closes after it; connections that stay
 * idle are closed by the worker after a grace (drain_idle in worker.c). */
void cachet_h1_stop(struct worker *w, struct conn *c)
{
	(void)w;
	(void)c;
}

/* The connection is being freed: a multipart answer in progress lets go of its generation. */
void cachet_h1_free(struct worker *w, struct conn *c)
{
	multipart_end(w, c);
}
