/* compress.c - one-shot compression with zlib, libbrotli and libzstd. */
#include "cachet/compress.h"

#include <brotli/encode.h>
#include <errno.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

#define GZIP_LEVEL 6
#define BR_QUALITY 9
#define ZSTD_LEVEL 12

static int gzip_compress(const void *in, size_t len, unsigned char *out, size_t *out_len)
{
	z_stream z = {0};
	/* windowBits 15 + 16: a gzip wrapper rather than zlib's */
	if (deflateInit2(&z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return -EINVAL;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)*out_len;
	int rc = deflate(&z, Z_FINISH);
	*out_len = z.total_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -EINVAL;
}

int cachet_compress(enum cachet_coding coding, const void *in, size_t len, unsigned char **out,
                    size_t *out_len)
{
	size_t cap;
	switch (coding) {
	case CACHET_CODING_GZIP:
		if (len > UINT32_MAX / 2)
			return -EINVAL; /* zlib's counters are 32-bit */
		cap = compressBound((uLong)len) + 32;
		break;
	case CACHET_CODING_BR:
		cap = BrotliEncoderMaxCompressedSize(len);
		break;
	case CACHET_CODING_ZSTD:
		cap = ZSTD_compressBound(len);
		break;
	default:
		return -EINVAL;
	}
	if (cap == 0)
		return -EINVAL;
	unsigned char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	size_t n = cap;
	int rc = 0;
	if (coding == CACHET_CODING_GZIP) {
		rc = gzip_compress(in, len, buf, &n);
	} else if (coding == CACHET_CODING_BR) {
		if (!BrotliEncoderCompress(BR_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC,
		                           len, in, &n, buf))
			rc = -EINVAL;
	} else {
		n = ZSTD_compress(buf, cap, in, len, ZSTD_LEVEL);
		if (ZSTD_isError(n))
			rc = -EINVAL;
	}
	if (rc < 0) {
		free(buf);
		return rc;
	}
	/* the bound is about the input's size, the output often a third of it: kept for the
	 * generation's whole life, the slack would cost more than the variant itself */
	unsigned char *fit = n < cap ? realloc(buf, n ? n : 1) : NULL;
	if (fit)
		buf = fit;
	*out = buf;
	*out_len = n;
	return 0;
}

int cachet_compress_worth_it(size_t ref_len, size_t var_len)
{
	return var_len + 64 <= ref_len && var_len <= ref_len - ref_len / 10;
}

unsigned cachet_compress_choose(size_t id_len, const size_t lens[CACHET_CODING_COUNT],
                                unsigned made)
{
	/* the order in which clients adopted them: a client that sends a later one sends all the
	 * earlier ones too (every browser) */
	static const enum cachet_coding adoption[] = {CACHET_CODING_GZIP, CACHET_CODING_BR,
	                                              CACHET_CODING_ZSTD};
	_Static_assert(sizeof(adoption) / sizeof(adoption[0]) == CACHET_CODING_COUNT - 1,
	               "every coding has its place in the order of adoption");
	unsigned kept = 0;
	size_t ref = id_len; /* what a client gets without the coding being judged */
	for (size_t i = 0; i < sizeof(adoption) / sizeof(adoption[0]); i++) {
		unsigned c = adoption[i];
		if (!(made & (1u << c)) || !cachet_compress_worth_it(ref, lens[c]))
			continue;
		kept |= 1u << c;
		ref = lens[c];
	}
	return kept;
}
