/* compress.h - making the gzip, brotli and zstd variants of a file at load time. */
#ifndef CACHET_COMPRESS_H
#define CACHET_COMPRESS_H

#include <stddef.h>

#include "cachet/encoding.h"

/**
 * Compresses in[0..len) with coding (gzip level 6, brotli quality 9, zstd level 12). Measured on
 * 1.8 MB of JS/CSS: gzip 9 and zstd 15 took 5-6x as long as 6 and 12 for 8-17% smaller output,
 * which made a 10,000-file start-up take 15 s; a build pipeline that wants the last percent
 * ships NAME.gz/.br/.zst sidecars, which win over compressing. Off the
 * request path: called while building a generation. On success *out is a malloc'd buffer the
 * caller frees. Returns 0, -ENOMEM, or -EINVAL (identity, or the library refused).
 */
int cachet_compress(enum cachet_coding coding, const void *in, size_t len, unsigned char **out,
                    size_t *out_len);

/** Whether a variant of var_len bytes is worth keeping beside a representation of ref_len bytes
 *  that its clients would get otherwise: at least 10% and 64 bytes smaller, so that clients do
 *  not pay decoding for nothing. */
int cachet_compress_worth_it(size_t ref_len, size_t var_len);

/**
 * Which of a file's variants to keep. lens[c] is the length of coding c's variant for every c in
 * made (a bitmask of 1 << enum cachet_coding; identity's bit and lens[0] are ignored), id_len the
 * identity's. Codings are judged in the order of their adoption, gzip, then br, then zstd, each
 * against the smallest of identity and the variants kept before it (cachet_compress_worth_it):
 * every client that accepts br also accepts gzip, and every one that accepts zstd accepts both,
 * so a later coding is worth its memory only when it saves its clients something over what they
 * would get without it. Whatever the server's --compress order. Returns the kept codings'
 * bitmask (identity's bit not included).
 */
unsigned cachet_compress_choose(size_t id_len, const size_t lens[CACHET_CODING_COUNT],
                                unsigned made);

#endif
