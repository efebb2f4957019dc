/* hpack.h - stateless HPACK encoding (RFC 7541) of cachet's preformatted answers.
 *
 * Every block is built only from static-table indexes and literals without indexing (§6.1,
 * §6.2.2), with no Huffman coding: the encoder keeps no dynamic table, so a block is valid on any
 * connection and can be copied as it is. Decoding is not here: requests are decoded with
 * libnghttp2's inflater (see h2.c). */
#ifndef CACHET_HPACK_H
#define CACHET_HPACK_H

#include <stddef.h>
#include <stdint.h>

/** An HPACK header block made at load from an HTTP/1.1 block. The 29-byte Date value (a
 *  literal, never Huffman-coded) starts at date_off, for patching per answer. */
struct cachet_hpack_block {
	unsigned char *data;
	uint32_t len;
	uint32_t date_off; /* UINT32_MAX: the block has no Date */
};

/** Most bytes cachet_hpack_encode() may write for text of len bytes with lines field lines:
 *  room for each line's integers and the encoder's per-line headroom check. */
#define CACHET_HPACK_BOUND(len, lines) ((len) + 18u * (lines) + 8u)

/**
 * Encodes an HTTP/1.1 header block ("HTTP/1.1 NNN reason\r\n" then "Name: value\r\n" lines; the
 * status line is optional) into dst as HPACK: the status as :status, names lowercased,
 * connection-specific fields (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
 * Upgrade: RFC 9113 §8.2.2) left out. *date_off gets where the Date value starts (UINT32_MAX
 * when there is none). Returns the length, -E2BIG when cap is too small, -EINVAL for text that
 * is not such a block. Called at load, and per answer only for rare ones (multipart 206).
 */
int cachet_hpack_encode(const char *text, size_t len, unsigned char *dst, size_t cap,
                        uint32_t *date_off);

/** cachet_hpack_encode() into a block of its own (malloc). Returns 0 or -errno. */
int cachet_hpack_block_build(const char *text, size_t len, struct cachet_hpack_block *b);

/** Frees what cachet_hpack_block_build() allocated; safe on a zeroed block. */
void cachet_hpack_block_free(struct cachet_hpack_block *b);

/** Static-table indexes (RFC 7541 Appendix A) of the names of the fields a file's answer writes
 *  per answer (response.c, which encodes them as cachet_hpack_encode() would). */
enum cachet_hpack_name {
	CACHET_HPACK_ACCEPT_RANGES = 18,
	CACHET_HPACK_CONTENT_ENCODING = 26,
	CACHET_HPACK_CONTENT_LENGTH = 28,
	CACHET_HPACK_DATE = 33,
	CACHET_HPACK_ETAG = 34,
	CACHET_HPACK_LAST_MODIFIED = 44,
	CACHET_HPACK_SERVER = 54,
};

/** Writes an HPACK integer with an n-bit prefix (RFC 7541 §5.1), the first byte's high bits
 *  given in first. Returns the bytes written (at most 6 for a 32-bit value). */
size_t cachet_hpack_int(unsigned char *dst, uint8_t first, unsigned n, uint32_t v);

#endif
