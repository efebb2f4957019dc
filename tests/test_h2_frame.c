/* test_h2_frame.c - frame parsing, table-driven, with every stream of frames cut at every byte. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/h2_frame.h"

struct frame_case {
	const char *what;
	uint8_t type, flags;
	uint32_t stream;
	uint32_t len;
	int content_rc; /* cachet_h2_frame_content() for DATA/HEADERS */
	uint32_t content_len;
	const uint8_t payload[32];
};

static const struct frame_case cases[] = {
    {"empty settings", CACHET_H2_SETTINGS, 0, 0, 0, 0, 0, {0}},
    {"settings ack", CACHET_H2_SETTINGS, CACHET_H2_ACK, 0, 0, 0, 0, {0}},
    {"ping", CACHET_H2_PING, 0, 0, 8, 0, 0, {1, 2, 3, 4, 5, 6, 7, 8}},
    {"data", CACHET_H2_DATA, CACHET_H2_END_STREAM, 1, 3, 0, 3, {'a', 'b', 'c'}},
    {"padded data", CACHET_H2_DATA, CACHET_H2_PADDED, 3, 5, 0, 2, {2, 'x', 'y', 0, 0}},
    {"pad too long", CACHET_H2_DATA, CACHET_H2_PADDED, 3, 3, -EPROTO, 0, {3, 'x', 0}},
    {"pad length alone", CACHET_H2_DATA, CACHET_H2_PADDED, 3, 1, 0, 0, {0}},
    {"padded no byte", CACHET_H2_DATA, CACHET_H2_PADDED, 3, 0, -EPROTO, 0, {0}},
    {"headers prio",
     CACHET_H2_HEADERS,
     CACHET_H2_PRIORITY_FLAG | CACHET_H2_END_HEADERS,
     5,
     6,
     0,
     1,
     {0x80, 0, 0, 3, 15, 0x82}},
    {"headers prio short", CACHET_H2_HEADERS, CACHET_H2_PRIORITY_FLAG, 5, 4, -EPROTO, 0, {0}},
    {"headers pad+prio",
     CACHET_H2_HEADERS,
     CACHET_H2_PRIORITY_FLAG | CACHET_H2_PADDED,
     7,
     8,
     0,
     1,
     {1, 0, 0, 0, 1, 16, 0x82, 0}},
    {"reserved bit", CACHET_H2_WINDOW_UPDATE, 0, 0x80000009u, 4, 0, 0, {0, 0, 1, 0}},
};

static size_t encode(const struct frame_case *c, uint8_t *dst)
{
	cachet_h2_frame_header(dst, c->len, c->type, c->flags, c->stream);
	memcpy(dst + CACHET_H2_HEADER_LEN, c->payload, c->len);
	return CACHET_H2_HEADER_LEN + c->len;
}

static void check(const struct frame_case *c, const struct cachet_h2_frame *f)
{
	assert_int_equal(f->type, c->type);
	assert_int_equal(f->flags, c->flags);
	assert_int_equal(f->stream, c->stream & 0x7fffffffu);
	assert_int_equal(f->len, c->len);
	assert_memory_equal(f->payload, c->payload, c->len);
	if (c->type != CACHET_H2_DATA && c->type != CACHET_H2_HEADERS)
		return;
	struct cachet_h2_content ct;
	int rc = cachet_h2_frame_content(f, &ct);
	assert_int_equal(rc, c->content_rc);
	if (rc == 0)
		assert_int_equal(ct.len, c->content_len);
}

/* All frames back to back, delivered in two pieces cut at every byte: a reader that keeps the
 * unconsumed rest (as the worker does) must see the same frames for every cut. */
static void test_every_split(void **state)
{
	(void)state;
	uint8_t all[1024];
	size_t n = 0;
	const size_t k = sizeof(cases) / sizeof(cases[0]);
	for (size_t i = 0; i < k; i++)
		n += encode(&cases[i], all + n);
	for (size_t cut = 0; cut <= n; cut++) {
		uint8_t buf[1024];
		size_t have = 0, fed = 0, next = 0;
		while (next < k) {
			size_t lim = fed < cut ? cut : n;
			memcpy(buf + have, all + fed, lim - fed);
			have += lim - fed;
			fed = lim;
			size_t off = 0;
			for (;;) {
				struct cachet_h2_frame f;
				int used = cachet_h2_frame_next(buf + off, have - off, 16384, &f);
				assert_true(used >= 0);
				if (used == 0)
					break;
				check(&cases[next++], &f);
				off += (size_t)used;
			}
			memmove(buf, buf + off, have - off);
			have -= off;
			if (fed == n && next < k)
				fail_msg("frames lost at cut %zu", cut);
		}
		assert_int_equal(have, 0);
	}
}

static void test_too_big(void **state)
{
	(void)state;
	uint8_t b[CACHET_H2_HEADER_LEN];
	struct cachet_h2_frame f;
	cachet_h2_frame_header(b, 16385, CACHET_H2_DATA, 0, 1);
	/* refused from the header alone: no waiting for 16 KiB of a frame that is too long */
	assert_int_equal(cachet_h2_frame_next(b, sizeof(b), 16384, &f), CACHET_H2_FRAME_TOO_BIG);
	assert_int_equal(cachet_h2_frame_next(b, 8, 16384, &f), 0);
	cachet_h2_frame_header(b, 16384, CACHET_H2_DATA, 0, 1);
	assert_int_equal(cachet_h2_frame_next(b, sizeof(b), 16384, &f), 0);
	assert_int_equal(f.len, 16384);
}

static void test_header_bytes(void **state)
{
	(void)state;
	uint8_t b[CACHET_H2_HEADER_LEN];
	cachet_h2_frame_header(b, 0x123456, 0x9, 0x4, 0xffffffffu);
	const uint8_t want[] = {0x12, 0x34, 0x56, 0x09, 0x04, 0x7f, 0xff, 0xff, 0xff};
	assert_memory_equal(b, want, sizeof(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_split),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_header_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
