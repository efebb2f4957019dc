/* test_blob.c - loading a file into a blob: which variants are kept (cachet_compress_choose, for
 * made and sidecar variants alike), the same set whether compression is deferred or not, and the
 * kept records and made bytes packed in one allocation. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cachet/blob.h"
#include "cachet/compress.h"
#include "test_graded.h"

#define ID  (1u << CACHET_CODING_IDENTITY)
#define GZ  (1u << CACHET_CODING_GZIP)
#define BR  (1u << CACHET_CODING_BR)
#define ZS  (1u << CACHET_CODING_ZSTD)
#define ALL (GZ | BR | ZS)

static char base[64];
static int dfd = -1;

static void put(const char *name, const void *data, size_t len)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		fail_msg("cannot write %s", name);
	close(fd);
}

/* Writes name with data and, beside it, name.br as cachet compresses it; returns that encoding
 * (the caller frees it) and its length in *br_len. */
static unsigned char *put_with_br(const char *name, const void *data, size_t len, size_t *br_len)
{
	char side[256];
	unsigned char *br = NULL;
	snprintf(side, sizeof(side), "%s.br", name);
	put(name, data, len);
	assert_int_equal(cachet_compress(CACHET_CODING_BR, data, len, &br, br_len), 0);
	put(side, br, *br_len);
	return br;
}

/* Random lowercase letters: gzip saves a third, br and zstd only a few bytes more. */
static size_t letters(char *buf, size_t len)
{
	uint32_t x = 12345;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245 + 12345;
		buf[i] = (char)('a' + (x >> 16) % 26);
	}
	return len;
}

/* JavaScript-like text: every coding saves much. */
static size_t js(char *buf, size_t cap, unsigned lines)
{
	size_t n = 0;
	for (unsigned i = 0; i < lines && n + 100 < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n,
		                      "export function f%u(a, b) { return a * %u + b; }\n", i, i);
	return n;
}

static struct cachet_blob *load(const char *name, unsigned wanted, unsigned sidecars, bool defer)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	assert_true(fd >= 0 && fstat(fd, &st) == 0);
	struct cachet_blob_source src = {.dfd = dfd,
	                                 .name = name,
	                                 .fd = fd,
	                                 .st = &st,
	                                 .wanted = wanted,
	                                 .sidecars = sidecars,
	                                 .defer_compress = defer};
	struct cachet_blob *b = NULL;
	assert_int_equal(cachet_blob_load(&src, &b), 0);
	close(fd);
	return b;
}

static size_t coded_len(enum cachet_coding c, const void *data, size_t len)
{
	unsigned char *out = NULL;
	size_t n = 0;
	assert_int_equal(cachet_compress(c, data, len, &out, &n), 0);
	free(out);
	return n;
}

/* b's kept variants: records in coding order, and the variants made by compressing (not read
 * from a sidecar: sidecar_codings) packed after them, ETag then bytes, in one allocation. */
static void check_packed(const struct cachet_blob *b, unsigned sidecar_codings)
{
	unsigned n = (unsigned)__builtin_popcount(b->available & ALL);
	if (!n) {
		assert_null(b->variants);
		return;
	}
	const char *cursor = (const char *)(b->variants + n);
	for (unsigned c = 1, i = 0; c < CACHET_CODING_COUNT; c++) {
		const struct cachet_variant *v = cachet_blob_variant(b, c);
		if (!(b->available & (1u << c))) {
			assert_null(v);
			continue;
		}
		assert_ptr_equal(v, &b->variants[i++]);
		/* "<identity without its closing quote>-<hex8>-<coding>" */
		assert_int_equal(v->etag_len, b->etag_len + 10 + strlen(cachet_encoding_name(c)));
		assert_memory_equal(v->etag, b->etag, b->etag_len - 1);
		assert_true(v->len > 0 && v->len < b->len);
		if (sidecar_codings & (1u << c))
			continue;
		assert_ptr_equal(v->etag, cursor);
		assert_ptr_equal(v->data, cursor + v->etag_len);
		cursor = (const char *)v->data + v->len;
	}
}

/* Immediate and deferred loads of name keep the same variants, byte for byte. */
static unsigned same_either_way(const char *name, unsigned wanted, unsigned sidecars)
{
	struct cachet_blob *now = load(name, wanted, sidecars, false);
	struct cachet_blob *later = load(name, wanted, sidecars, true);
	assert_int_equal(now->pending, 0);
	assert_int_equal(cachet_blob_compress_pending(later), 0);
	assert_int_equal(later->pending, 0);
	assert_int_equal(later->available, now->available);
	for (unsigned c = 1; c < CACHET_CODING_COUNT; c++) {
		const struct cachet_variant *a = cachet_blob_variant(now, c),
		                            *b = cachet_blob_variant(later, c);
		assert_true((a == NULL) == (b == NULL));
		if (!a)
			continue;
		assert_int_equal(a->len, b->len);
		assert_memory_equal(a->data, b->data, a->len);
		assert_int_equal(a->etag_len, b->etag_len);
		assert_memory_equal(a->etag, b->etag, a->etag_len);
	}
	check_packed(now, sidecars);
	check_packed(later, sidecars);
	unsigned kept = now->available;
	cachet_blob_unref(now);
	cachet_blob_unref(later);
	return kept;
}

/* br saving under 64 bytes (or 10%) over gzip is not kept, though far smaller than the file; zstd
 * then competes with gzip. */
static void test_later_coding_judged_against_earlier(void **state)
{
	(void)state;
	static char buf[2000];
	size_t len = letters(buf, sizeof(buf));
	put("letters.txt", buf, len);
	size_t gz = coded_len(CACHET_CODING_GZIP, buf, len),
	       br = coded_len(CACHET_CODING_BR, buf, len),
	       zs = coded_len(CACHET_CODING_ZSTD, buf, len);
	/* the fixture is what the test is about: each variant worth it against the file alone */
	assert_true(cachet_compress_worth_it(len, gz) && cachet_compress_worth_it(len, br) &&
	            cachet_compress_worth_it(len, zs));
	assert_false(cachet_compress_worth_it(gz, br));
	assert_false(cachet_compress_worth_it(gz, zs));
	assert_int_equal(same_either_way("letters.txt", ALL, 0), ID | GZ);
	/* offered alone, br is judged against the file */
	assert_int_equal(same_either_way("letters.txt", BR | ZS, 0), ID | BR);
	assert_int_equal(same_either_way("letters.txt", ZS, 0), ID | ZS);
}

/* Where every coding saves enough over the one before, all three are kept. */
static void test_all_kept_when_each_pays(void **state)
{
	(void)state;
	static char buf[8192];
	size_t len = js(buf, sizeof(buf), 100);
	put("graded.js", buf, len);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/graded.js", base);
	assert_int_equal(graded_sidecars(path, buf, len), 0);
	assert_int_equal(same_either_way("graded.js", ALL, GZ | BR), ID | ALL);
	/* made by cachet alone: as the rule says for their sizes */
	put("plain.js", buf, len);
	size_t lens[CACHET_CODING_COUNT] = {len, coded_len(CACHET_CODING_GZIP, buf, len),
	                                    coded_len(CACHET_CODING_BR, buf, len),
	                                    coded_len(CACHET_CODING_ZSTD, buf, len)};
	unsigned want = ID | cachet_compress_choose(len, lens, ALL);
	assert_true(want & GZ);
	assert_int_equal(same_either_way("plain.js", ALL, 0), want);
}

/* A sidecar follows the same rule: a .br that saves too little over the gzip cachet makes is
 * not served (though it still ties the blob to its path and its state). */
static void test_sidecar_judged_too(void **state)
{
	(void)state;
	static char buf[2000];
	size_t len = letters(buf, sizeof(buf));
	size_t br_len;
	free(put_with_br("side.txt", buf, len, &br_len));
	assert_int_equal(same_either_way("side.txt", ALL, BR), ID | GZ);
	struct cachet_blob *b = load("side.txt", ALL, BR, false);
	assert_true(cachet_blob_from_sidecar(b));
	cachet_blob_unref(b);
}

/* A deferred load serves the sidecars it has (judged among themselves) at once; once compressed,
 * the whole set is judged again, and bytes it already served stay valid until the blob goes. */
static void test_deferred_sidecar_then_judged_again(void **state)
{
	(void)state;
	static char buf[2000];
	size_t len = letters(buf, sizeof(buf));
	size_t br_len;
	unsigned char *br = put_with_br("late.txt", buf, len, &br_len);
	struct cachet_blob *b = load("late.txt", ALL, BR, true);
	assert_int_equal(b->available, ID | BR);
	assert_int_equal(b->pending, GZ | ZS);
	const struct cachet_variant *v = cachet_blob_variant(b, CACHET_CODING_BR);
	const unsigned char *served = v->data;
	char tag[CACHET_ETAG_MAX];
	size_t tag_len = v->etag_len;
	const char *served_tag = v->etag;
	memcpy(tag, v->etag, tag_len);
	assert_int_equal(cachet_blob_compress_pending(b), 0);
	assert_int_equal(b->available, ID | GZ);
	assert_null(cachet_blob_variant(b, CACHET_CODING_BR));
	/* a generation built before may still be sending them (ASan: not freed; compared here,
	 * in instrumented code, not in cmocka's) */
	assert_int_equal(memcmp(served, br, br_len), 0);
	assert_int_equal(memcmp(served_tag, tag, tag_len), 0);
	check_packed(b, 0);
	cachet_blob_unref(b);
	free(br);
}

/* Nothing wanted, or nothing worth it: no records at all. */
static void test_no_variants(void **state)
{
	(void)state;
	put("tiny.txt", "tiny\n", 5);
	assert_int_equal(same_either_way("tiny.txt", ALL, 0), ID);
	struct cachet_blob *b = load("tiny.txt", 0, 0, false);
	assert_int_equal(b->available, ID);
	assert_null(b->variants);
	assert_null(cachet_blob_variant(b, CACHET_CODING_GZIP));
	assert_int_equal(b->etag_len, CACHET_BLOB_ETAG_LEN);
	assert_int_equal(b->etag[CACHET_BLOB_ETAG_LEN], '\0');
	cachet_blob_unref(b);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	(void)state;
	strcpy(base, "/tmp/cachet_test_blob.XXXXXX");
	if (!mkdtemp(base))
		return -1;
	dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return dfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	close(dfd);
	return nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_later_coding_judged_against_earlier),
	    cmocka_unit_test(test_all_kept_when_each_pays),
	    cmocka_unit_test(test_sidecar_judged_too),
	    cmocka_unit_test(test_deferred_sidecar_then_judged_again),
	    cmocka_unit_test(test_no_variants),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
