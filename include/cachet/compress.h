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

/** Whether a variant of var_len bytes is worth keeping beside identity of id_len bytes: at least
 *  10% and 64 bytes smaller, so that clients do not pay decoding for nothing. */
int cachet_compress_worth_it(size_t id_len, size_t var_len);

#endif
