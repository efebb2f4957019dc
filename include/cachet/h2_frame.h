/* h2_frame.h - HTTP/2 frame headers and payload framing (RFC 9113 §4, §6): parsing and writing,
 * nothing else. Pure functions over caller-owned bytes; the connection logic is in h2.c. */
#ifndef CACHET_H2_FRAME_H
#define CACHET_H2_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Frame header length. */
#define CACHET_H2_HEADER_LEN 9
/** The connection preface a client sends first (§3.4). */
#define CACHET_H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define CACHET_H2_PREFACE_LEN 24
/** SETTINGS_MAX_FRAME_SIZE bounds (§6.5.2). */
#define CACHET_H2_FRAME_MIN 16384u
#define CACHET_H2_FRAME_MAX 16777215u

enum cachet_h2_type {
	CACHET_H2_DATA = 0,
	CACHET_H2_HEADERS = 1,
	CACHET_H2_PRIORITY = 2,
	CACHET_H2_RST_STREAM = 3,
	CACHET_H2_SETTINGS = 4,
	CACHET_H2_PUSH_PROMISE = 5,
	CACHET_H2_PING = 6,
	CACHET_H2_GOAWAY = 7,
	CACHET_H2_WINDOW_UPDATE = 8,
	CACHET_H2_CONTINUATION = 9,
};

enum cachet_h2_flag {
	CACHET_H2_END_STREAM = 0x1, /* DATA, HEADERS */
	CACHET_H2_ACK = 0x1,        /* SETTINGS, PING */
	CACHET_H2_END_HEADERS = 0x4,
	CACHET_H2_PADDED = 0x8,
	CACHET_H2_PRIORITY_FLAG = 0x20,
};

/** Error codes (§7). */
enum cachet_h2_error {
	CACHET_H2_NO_ERROR = 0x0,
	CACHET_H2_PROTOCOL_ERROR = 0x1,
	CACHET_H2_INTERNAL_ERROR = 0x2,
	CACHET_H2_FLOW_CONTROL_ERROR = 0x3,
	CACHET_H2_SETTINGS_TIMEOUT = 0x4,
	CACHET_H2_STREAM_CLOSED = 0x5,
	CACHET_H2_FRAME_SIZE_ERROR = 0x6,
	CACHET_H2_REFUSED_STREAM = 0x7,
	CACHET_H2_CANCEL = 0x8,
	CACHET_H2_COMPRESSION_ERROR = 0x9,
	CACHET_H2_CONNECT_ERROR = 0xa,
	CACHET_H2_ENHANCE_YOUR_CALM = 0xb,
	CACHET_H2_INADEQUATE_SECURITY = 0xc,
	CACHET_H2_HTTP_1_1_REQUIRED = 0xd,
};

/** A frame as read: its header and, once whole, where its payload is. */
struct cachet_h2_frame {
	uint32_t len; /* payload length from the header */
	uint8_t type;
	uint8_t flags;
	uint32_t stream; /* the reserved bit cleared */
	const uint8_t *payload;
};

/** Returned by cachet_h2_frame_next() for a frame longer than the receiver's maximum. */
#define CACHET_H2_FRAME_TOO_BIG (-90) /* -EMSGSIZE */

/**
 * Reads the frame at the start of buf[0..len) whose payload may be at most max_payload bytes.
 * Returns the bytes the whole frame occupies (header and payload) and fills f; 0 when more bytes
 * are needed; CACHET_H2_FRAME_TOO_BIG as soon as the header announces too long a payload (the
 * connection is then to be closed with FRAME_SIZE_ERROR, §4.2).
 */
int cachet_h2_frame_next(const uint8_t *buf, size_t len, uint32_t max_payload,
                         struct cachet_h2_frame *f);

/** Writes a frame header into dst (CACHET_H2_HEADER_LEN bytes). */
void cachet_h2_frame_header(uint8_t *dst, uint32_t len, uint8_t type, uint8_t flags,
                            uint32_t stream);

/** The part of a DATA or HEADERS payload that carries content: padding and the HEADERS priority
 *  fields taken off. */
struct cachet_h2_content {
	const uint8_t *p;
	uint32_t len;
	bool has_priority;
	uint32_t dependency; /* reserved bit cleared */
	bool exclusive;
};

/**
 * Takes the padding (PADDED) and, for HEADERS, the priority fields (PRIORITY flag) off f's
 * payload. Returns 0, or -EPROTO when the pad length or priority fields do not fit (a
 * PROTOCOL_ERROR, §6.1, §6.2).
 */
int cachet_h2_frame_content(const struct cachet_h2_frame *f, struct cachet_h2_content *c);

/** Big-endian 32-bit read with the high (reserved) bit cleared. */
static inline uint32_t cachet_h2_u31(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]) &
	       0x7fffffffu;
}

/** Big-endian 32-bit read. */
static inline uint32_t cachet_h2_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/** Big-endian 32-bit write. */
static inline void cachet_h2_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
