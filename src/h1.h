/* h1.h - HTTP/1.1 on a connection: bytes -> requests (http_parse), answers (response) -> bytes
 * in the connection's output, pipelining, request bodies skipped, the 408. Called by the worker
 * only; uses only conn.h. */
#ifndef CACHET_H1_H
#define CACHET_H1_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"

/** Bytes received on an HTTP/1.1 connection. */
void cachet_h1_input(struct worker *w, struct conn *c, const char *data, size_t len);

/** Everything queued was sent; true when more (a multipart piece) is to be sent at once. */
bool cachet_h1_sent(struct worker *w, struct conn *c);

/** A timer of the connection ran out. */
void cachet_h1_timeout(struct worker *w, struct conn *c, enum timer_kind kind);

/** Graceful stop has begun. */
void cachet_h1_stop(struct worker *w, struct conn *c);

/** The connection is being freed (no send in flight). */
void cachet_h1_free(struct worker *w, struct conn *c);

#endif
