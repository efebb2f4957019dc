/* h2.h - HTTP/2 on one connection (RFC 9113): bytes in, frames out.
 *
 * The module never touches io_uring. The worker hands it the bytes it received (cachet_h2_input)
 * and sends what it produced (cachet_h2_iov) in one send, then reports how much went
 * (cachet_h2_sent). Answers come from the store's preformatted HPACK blocks (hpack.h) through
 * cachet_response_select(), so HTTP/2 has exactly HTTP/1.1's semantics; request header blocks are
 * decoded with libnghttp2's HPACK inflater.
 *
 * Output ownership: the produced bytes live in the connection's own output buffer, and bodies are
 * iovecs into store memory, each covered by a pin on its generation (env->pin/unpin) from the
 * moment it is queued until cachet_h2_sent() says it went, or cachet_h2_free(). Bytes and
 * iovecs handed out by cachet_h2_iov() are never changed or moved until the matching
 * cachet_h2_sent(): new output is only appended behind them (the output buffer never moves or
 * grows), and it is reset, and given back to the worker, only when everything has been sent. */
#ifndef CACHET_H2_H
#define CACHET_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cachet/store.h"

/** SETTINGS_MAX_CONCURRENT_STREAMS cachet announces and enforces. */
#define CACHET_H2_MAX_STREAMS 100
/** Most iovecs one send of an HTTP/2 connection uses. */
#define CACHET_H2_IOV_MAX 64

/** What a worker lends every HTTP/2 connection it serves: the transport side of the interface.
 *  One per worker, updated by it each loop turn; connections keep a pointer to it. */
struct cachet_observe;
struct cachet_log_remote;

struct cachet_h2_env {
	void *worker;
	struct cachet_observe *obs; /* where answers are counted and logged; NULL: nowhere */
	struct cachet_store *gen;   /* the generation answers come from (the worker holds a ref) */
	const char *date;           /* the current Date value, CACHET_HTTPDATE_LEN bytes */
	uint32_t now_ms;            /* the worker's monotonic milliseconds */
	int64_t turn_ns; /* monotonic ns of this loop turn, kept only with the access log on */
	/* Another pin on gen (the current generation or one already pinned), released with unpin:
	 * taken for each body iovec from queueing until it has been sent. */
	void (*pin)(void *worker, struct cachet_store *gen);
	void (*unpin)(void *worker, struct cachet_store *gen);
	/* Output buffers of buf_size bytes (at least 16 KiB), taken while there is output and given
	 * back when it has all been sent; buf_get returns NULL when out of memory. */
	char *(*buf_get)(void *worker);
	void (*buf_put)(void *worker, char *buf);
	uint32_t buf_size;
};

struct cachet_h2;

/** The peer address the connection's access-log lines name (it must outlive the connection's
 *  state: the worker's connection record). */
void cachet_h2_set_remote(struct cachet_h2 *h, const struct cachet_log_remote *remote);

/** Starts HTTP/2 on a connection whose first bytes are the preface (not yet consumed): queues
 *  the server's SETTINGS. Returns NULL when out of memory. */
struct cachet_h2 *cachet_h2_new(const struct cachet_h2_env *env);

/** Releases the connection's state and every pin it still holds. Call once no send that
 *  references its output is in flight. */
void cachet_h2_free(struct cachet_h2 *h);

/**
 * Consumes received bytes: the preface, then whole frames. Stops early when the output is full
 * (the caller keeps the rest and offers it again after the next send) and after a connection
 * error (GOAWAY queued; see cachet_h2_closing()). Returns the bytes consumed.
 */
size_t cachet_h2_input(struct cachet_h2 *h, const uint8_t *p, size_t len);

/** The output not sent yet, as *n iovecs (at most CACHET_H2_IOV_MAX) in an array the
 *  connection owns: it stays valid and unchanged until the next cachet_h2_sent() or
 *  cachet_h2_free(), so a send in flight may point at it. Call it once per send. */
const struct iovec *cachet_h2_iov(struct cachet_h2 *h, unsigned *n);

/** Whether there is output to send. */
bool cachet_h2_has_output(const struct cachet_h2 *h);

/** A send took n bytes of what cachet_h2_iov() gave: sent bodies are unpinned, and once
 *  everything has gone the streams waiting for room produce their next frames. */
void cachet_h2_sent(struct cachet_h2 *h, size_t n);

/** The connection is to be closed once its output has been sent (after a GOAWAY, or when the
 *  peer went away and nothing is left to answer). */
bool cachet_h2_closing(const struct cachet_h2 *h);

/** Streams not yet finished (the connection is not idle while there are any). */
unsigned cachet_h2_streams(const struct cachet_h2 *h);

/** Whether a stream waits for the peer to open its flow-control window (nothing else to send). */
bool cachet_h2_stalled(const struct cachet_h2 *h);

/** Graceful stop or idle timeout: GOAWAY with the last stream id; the streams in flight finish,
 *  new ones are refused, then the connection closes. */
void cachet_h2_goaway(struct cachet_h2 *h);

/** Resets (RST_STREAM CANCEL) every stream stalled on a closed window for at least timeout_ms. */
void cachet_h2_expire_stalled(struct cachet_h2 *h, uint32_t timeout_ms);

#endif
