/* response.c - request -> preformatted response. The hot path of cachet: everything here is a
 * lookup, a compare or a memcpy; blocks were formatted when the generation was built. */
#include "cachet/response.h"

#include <errno.h>
#include <string.h>

#include "cachet/conditional.h"
#include "cachet/path.h"

void cachet_response_error(const struct cachet_store *st, int status, bool head_only,
                           struct cachet_reply *r)
{
	const struct cachet_error *e = cachet_store_error(st, status);
	r->head = &e->block;
	r->body = head_only ? NULL : (const unsigned char *)e->body;
	r->body_len = head_only ? 0 : e->body_len;
	r->status = e->status;
	r->close = e->block.closes;
}

static void reply_file(const struct cachet_store *st, const struct cachet_entry *e,
                       const struct cachet_request *req, struct cachet_reply *r)
{
	const struct cachet_repr *rep = &e->identity;
	const struct cachet_validators v = {
	    .etag = rep->etag, .etag_len = rep->etag_len, .last_modified = e->last_modified};
	bool head_only = req->method_id == CACHET_METHOD_HEAD;
	switch (cachet_conditional_evaluate(req, &v)) {
	case CACHET_COND_NOT_MODIFIED:
		*r = (struct cachet_reply){.head = &rep->not_modified, .status = 304};
		return;
	case CACHET_COND_PRECONDITION_FAILED:
		cachet_response_error(st, 412, head_only, r);
		return;
	case CACHET_COND_PROCEED:
		break;
	}
	*r = (struct cachet_reply){.head = &rep->ok,
	                           .status = 200,
	                           .body = head_only ? NULL : rep->body,
	                           .body_len = head_only ? 0 : rep->body_len};
}

void cachet_response_select(const struct cachet_store *st, const struct cachet_request *req,
                            struct cachet_reply *r)
{
	char path[CACHET_PATH_MAX];
	bool head_only = req->method_id == CACHET_METHOD_HEAD;
	if (req->method_id == CACHET_METHOD_UNKNOWN) {
		cachet_response_error(st, 501, head_only, r);
		return;
	}
	if (req->method_id == CACHET_METHOD_OTHER) {
		cachet_response_error(st, 405, head_only, r);
		return;
	}
	int n = cachet_path_normalize(req->target.p, req->target.len, path, sizeof(path));
	if (n < 0) {
		cachet_response_error(st, n == -ENAMETOOLONG ? 414 : 400, head_only, r);
		return;
	}
	const struct cachet_entry *e = cachet_store_lookup(st, path, (size_t)n);
	if (!e) {
		cachet_response_error(st, 404, head_only, r);
		return;
	}
	if (e->kind == CACHET_ENTRY_REDIRECT) {
		*r = (struct cachet_reply){.head = &e->redirect, .status = 301};
		return;
	}
	reply_file(st, e, req, r);
}

size_t cachet_response_write_head(const struct cachet_reply *r, const struct cachet_request *req,
                                  bool force_close, const char date[CACHET_HTTPDATE_LEN], char *dst)
{
	static const char tail_close[] = "Connection: close\r\n\r\n";
	static const char tail_keep10[] = "Connection: keep-alive\r\n\r\n";
	const struct cachet_block *b = r->head;
	memcpy(dst, b->text, b->len);
	memcpy(dst + b->date_off, date, CACHET_HTTPDATE_LEN);
	size_t n = b->len;
	if (r->close || force_close || !req->keep_alive) {
		if (b->closes) { /* the block says it already */
			memcpy(dst + n, "\r\n", 2);
			return n + 2;
		}
		memcpy(dst + n, tail_close, sizeof(tail_close) - 1);
		return n + sizeof(tail_close) - 1;
	}
	if (req->minor_version == 0) {
		memcpy(dst + n, tail_keep10, sizeof(tail_keep10) - 1);
		return n + sizeof(tail_keep10) - 1;
	}
	memcpy(dst + n, "\r\n", 2);
	return n + 2;
}
