/* test_graded.h - sidecars NAME.gz and NAME.br made so that a file keeps all three variants.
 * cachet keeps a coding only when it is 10% and 64 bytes smaller than the best of identity and
 * the codings adopted before it (cachet_compress_choose: gzip, br, zstd), and zstd level 12
 * rarely beats brotli 9 by that much; tests that need a resource with every variant give it
 * sidecars made with weaker settings (real encodings of the file, which decode to it), each
 * worth keeping over the one before, and let cachet make zstd. */
#ifndef CACHET_TEST_GRADED_H
#define CACHET_TEST_GRADED_H

#include <brotli/encode.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "cachet/compress.h"

/* The smallest size worth keeping beside ref bytes is at most this, with 5% to spare (zstd's
 * output may differ by a few bytes from one library version to the next). */
static inline size_t graded_above(size_t ref)
{
	size_t need = ref + 64 > ref + ref / 9 + 1 ? ref + 64 : ref + ref / 9 + 1;
	return need + need / 20;
}

/* The gzip encoding of data (levels, windows, strategies tried) closest above lo, at most hi. */
static inline size_t graded_gzip(const void *data, size_t len, size_t lo, size_t hi,
                                 unsigned char *out, size_t cap)
{
	static const int strategies[] = {Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE};
	size_t best = 0;
	unsigned char *tmp = malloc(cap);
	for (int s = 0; tmp && s < 4; s++)
		for (int level = 1; level <= 9; level++)
			for (int wbits = 9; wbits <= 15; wbits++) {
				z_stream z = {0};
				if (deflateInit2(&z, level, Z_DEFLATED, 16 + wbits, 8,
				                 strategies[s]) != Z_OK)
					continue;
				z.next_in = (Bytef *)(uintptr_t)data;
				z.avail_in = (uInt)len;
				z.next_out = tmp;
				z.avail_out = (uInt)cap;
				int rc = deflate(&z, Z_FINISH);
				size_t n = z.total_out;
				deflateEnd(&z);
				if (rc == Z_STREAM_END && n >= lo && n <= hi &&
				    (!best || n < best)) {
					best = n;
					memcpy(out, tmp, n);
				}
			}
	free(tmp);
	return best;
}

/* The brotli encoding of data (qualities and windows tried) closest above lo. */
static inline size_t graded_br(const void *data, size_t len, size_t lo, unsigned char *out,
                               size_t cap)
{
	size_t best = 0;
	unsigned char *tmp = malloc(cap);
	for (int q = 0; tmp && q <= 11; q++)
		for (int w = 10; w <= 24; w++) {
			size_t n = cap;
			if (BrotliEncoderCompress(q, w, BROTLI_MODE_GENERIC, len, data, &n, tmp) &&
			    n >= lo && (!best || n < best)) {
				best = n;
				memcpy(out, tmp, n);
			}
		}
	free(tmp);
	return best;
}

static inline int graded_write(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int rc = write(fd, data, len) == (ssize_t)len ? 0 : -1;
	close(fd);
	return rc;
}

/* Writes path.gz and path.br for the file data[0..len) at path, so that with zstd made by cachet
 * all three variants are kept. Returns 0, or -1 when data is too small or incompressible for
 * that (make it larger). From 1 KB up, 10% of the file is more than 64 bytes. */
static inline int graded_sidecars(const char *path, const void *data, size_t len)
{
	unsigned char *zs = NULL;
	size_t zn = 0;
	if (len < 1024 || cachet_compress(CACHET_CODING_ZSTD, data, len, &zs, &zn) < 0)
		return -1;
	free(zs);
	size_t cap = len * 2 + 1024, bn, gn;
	unsigned char *br = malloc(cap), *gz = malloc(cap);
	char name[4096];
	int rc = -1;
	if (br && gz && (bn = graded_br(data, len, graded_above(zn), br, cap)) &&
	    (gn = graded_gzip(data, len, graded_above(bn), len - len / 10, gz, cap))) {
		int n = snprintf(name, sizeof(name), "%s.br", path);
		if (n > 0 && (size_t)n < sizeof(name) && graded_write(name, br, bn) == 0) {
			name[n - 2] = 'g'; /* .br -> .gz */
			name[n - 1] = 'z';
			rc = graded_write(name, gz, gn);
		}
	}
	free(br);
	free(gz);
	return rc;
}

#endif
