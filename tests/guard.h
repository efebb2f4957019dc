/* guard.h - unit-test inputs that end right before an unreadable page, so code that reads one
 * byte past what it was given crashes instead of passing by luck (cmocka's test_malloc pads
 * inside the same block, and ASan cannot see a read that stays inside it). Include after
 * <cmocka.h>, with _DEFAULT_SOURCE or _GNU_SOURCE defined (MAP_ANONYMOUS under -std=c17). */
#ifndef CACHET_TESTS_GUARD_H
#define CACHET_TESTS_GUARD_H

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* An input placed right before an unreadable page. */
struct guarded {
	char *map;
	size_t map_len;
	char *data;
	size_t len;
};

/** Copies s[0..n) so that its last byte is the last readable one; fails the test on mmap error. */
static inline struct guarded guard(const char *s, size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t readable = (n + page - 1) / page * page;
	struct guarded g;

	if (readable == 0)
		readable = page;
	g.map_len = readable + page;
	g.map = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g.map != MAP_FAILED);
	assert_int_equal(mprotect(g.map + readable, page, PROT_NONE), 0);
	g.data = g.map + readable - n;
	g.len = n;
	if (n)
		memcpy(g.data, s, n);
	return g;
}

static inline void unguard(struct guarded *g)
{
	munmap(g->map, g->map_len);
}

#endif
